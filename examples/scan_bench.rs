#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Scan benchmark: a generated portal of 10,000 archived rooms (50,000 share
//! entries and links, 5,000 users) served by the fake portal in a child
//! process with 20 ms latency per request, audited in report mode at
//! concurrency 16. Prints wall time, requests, requests per second, the
//! auditor's peak memory and CPU time, and the ratio of wall time to the
//! concurrency bound (requests × latency ÷ concurrency).
//!
//! ```sh
//! cargo run --release --example scan_bench              # full size
//! cargo run --release --example scan_bench -- 1000      # smaller portal
//! cargo run --release --example scan_bench -- 10000 5   # five runs, median
//! ```
//! Each run audits the same portal with a fresh state store. On a shared or
//! virtual machine the CPU figure moves by several percent from run to run
//! (the portal process competes for the same cores), hence the median.
//! The portal runs in its own process so the memory and CPU figures are
//! the auditor's alone.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use docspace_auditor::audit::{Auditor, RunRequest};
use docspace_auditor::clock::SystemClock;
use docspace_auditor::config::Config;
use docspace_fake_portal::{FakePortal, Faults, GenerateSpec, Scenario};

const LATENCY_MS: u64 = 20;
const CONCURRENCY: usize = 16;

/// `BENCH_LATENCY_MS` overrides the latency (0 shows the fixed overhead).
fn latency_ms() -> u64 {
    std::env::var("BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(LATENCY_MS)
}

fn spec(rooms: usize) -> GenerateSpec {
    GenerateSpec {
        archived_rooms: rooms,
        active_rooms: rooms / 10,
        // 50,000 share entries and links for 10,000 rooms.
        share_entries: rooms * 4,
        links: rooms,
        users: rooms / 2,
        guests: rooms / 10,
    }
}

/// Child mode: serve the generated portal and print `URL TOKEN`.
async fn serve(rooms: usize) {
    let scenario = Scenario::generate(spec(rooms), 42);
    let portal = match FakePortal::start(scenario).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cannot start the fake portal: {e}");
            std::process::exit(1);
        }
    };
    portal.set_faults(Faults {
        latency_ms: latency_ms(),
        ..Faults::default()
    });
    println!("{} {}", portal.base_url(), portal.token());
    // Serve until the parent closes our stdin.
    let _ = tokio::task::spawn_blocking(|| {
        let mut s = String::new();
        let _ = std::io::stdin().read_line(&mut s);
    })
    .await;
    portal.shutdown().await;
}

/// (peak resident set in KiB, CPU seconds user+system) of this process.
fn resources() -> (u64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of /proc/self/stat (11 and 12
    // after the name); the kernel's USER_HZ is 100 on Linux.
    (hwm, (ticks(11) + ticks(12)) / 100.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--serve") {
        let rooms = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(10_000);
        // The portal as a server would run: on every core.
        tokio::runtime::Runtime::new()
            .expect("portal runtime")
            .block_on(serve(rooms));
        return;
    }
    // The auditor on the runtime the binary uses.
    docspace_auditor::runtime::build()
        .expect("runtime")
        .block_on(audit(args));
}

async fn audit(args: Vec<String>) {
    let rooms: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .args(["--serve", &rooms.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the portal process");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("child stdout"))
        .read_line(&mut line)
        .expect("portal address");
    let mut parts = line.split_whitespace();
    let (url, token) = (
        parts.next().expect("url").to_string(),
        parts.next().expect("token").to_string(),
    );

    let runs: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1).max(1);
    let latency = latency_ms();
    println!(
        "portal: {rooms} archived rooms, {latency} ms latency, concurrency {CONCURRENCY}, report mode"
    );
    let mut cpu_shares = Vec::new();
    for run in 1..=runs {
        if runs > 1 {
            println!("-- run {run} of {runs}");
        }
        cpu_shares.push(audit_once(&url, &token, latency).await);
    }
    if runs > 1 {
        cpu_shares.sort_by(f64::total_cmp);
        println!(
            "CPU share over {runs} runs: median {:.1}%, lowest {:.1}%, highest {:.1}% (target < 10%)",
            cpu_shares[runs / 2],
            cpu_shares[0],
            cpu_shares[runs - 1]
        );
    }
    drop(child.stdin.take());
    let _ = child.wait();
}

/// One full audit in a fresh state store; prints its figures and returns
/// its CPU time as a percentage of its wall time.
async fn audit_once(url: &str, token: &str, latency: u64) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = format!(
        r#"
[portal]
base_url = "{url}"
token_env = "BENCH_TOKEN"
max_concurrency = {CONCURRENCY}
request_timeout_secs = 60
[policy]
dry_run = true
[reports]
dir = "reports"
[state]
path = "state/bench.sqlite"
[notify]
enabled = false
"#
    );
    let config = Config::from_toml(&text, &dir.path().join("bench.toml"), &|n| {
        (n == "BENCH_TOKEN").then(|| token.to_string())
    })
    .expect("bench config");
    let auditor = Auditor::new(
        Arc::new(config),
        Arc::new(SystemClock),
        tokio_util::sync::CancellationToken::new(),
    )
    .expect("auditor");
    let (_, cpu_before) = resources();
    let started = Instant::now();
    let outcome = auditor.run(RunRequest::default()).await.expect("audit run");
    let wall = started.elapsed();
    let (peak_kib, cpu_after) = resources();
    let requests = auditor.client().stats().requests();
    let bound = Duration::from_millis(latency).mul_f64(requests as f64 / CONCURRENCY as f64);
    let cpu = cpu_after - cpu_before;
    let share = 100.0 * cpu / wall.as_secs_f64();
    println!("rooms audited:      {}", outcome.rooms_audited);
    println!("findings:           {}", outcome.findings.len());
    println!("wall time:          {:.2} s", wall.as_secs_f64());
    println!("requests:           {requests}");
    println!(
        "requests/second:    {:.0}",
        requests as f64 / wall.as_secs_f64()
    );
    println!(
        "concurrency bound:  {:.2} s (requests × latency ÷ concurrency)",
        bound.as_secs_f64()
    );
    println!(
        "wall / bound:       {:.3} (target ≤ 1.10)",
        wall.as_secs_f64() / bound.as_secs_f64()
    );
    println!(
        "peak RSS:           {:.1} MB (target < 64 MB)",
        peak_kib as f64 / 1024.0
    );
    println!("CPU time:           {cpu:.2} s = {share:.1}% of wall (target < 10%)");
    share
}
