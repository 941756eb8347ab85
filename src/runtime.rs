//! The async runtime the binary runs on (and the benchmark measures).

/// One thread drives everything. The auditor waits on the network almost
/// all the time, its concurrency is bounded by the portal's limits rather
/// than by cores, and a single thread spends markedly less CPU per request
/// than a work-stealing pool, which moves tasks and wakes threads across
/// cores (measured with `examples/scan_bench`; README, Benchmark).
pub fn build() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
