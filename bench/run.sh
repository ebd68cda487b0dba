#!/usr/bin/env bash
# `make bench`: prepare the cached tree and tools, build djdd in release
# mode, time the tools and write BENCHMARKS.md. Extra arguments go to
# bench/bench.py (e.g. --runs 3 --only zstd).
set -euo pipefail
cd "$(dirname "$0")/.."
bash bench/setup.sh
cargo build --release --quiet
out=$(mktemp)
/usr/bin/python3 bench/bench.py --djdd target/release/djdd --out "$out" "$@"
# The report's headings move one level down inside BENCHMARKS.md.
sed -e 's/^## /### /' -e 's/^# Benchmarks: `djdd pack`/## djdd pack (bench\/run.sh, bench\/bench.py)/' "$out" >"$out.section"
bash bench/section.sh pack "$out.section"
rm -f "$out" "$out.section"
