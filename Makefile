# `make ci` runs exactly what CI runs.
.PHONY: ci test demo bench
ci:
	bash .ci/run
test:
	cargo test --workspace --all-features
demo:
	cargo run --features demo -- demo
bench:
	cargo run --release --features demo --example scan_bench
