#!/usr/bin/env bash
# `make bench`: prepare the cached tree and tools, build djdd in release
# mode, time the tools and write BENCHMARKS.md. Extra arguments go to
# bench/bench.py (e.g. --runs 3 --only zstd).
set -euo pipefail
cd "$(dirname "$0")/.."
bash bench/setup.sh
cargo build --release --quiet
/usr/bin/python3 bench/bench.py --djdd target/release/djdd --out BENCHMARKS.md "$@"
