#!/usr/bin/env bash
# Times `djdd build` on the example project: a cold build of v1 (fresh build
# dir, empty pip cache), a warm build of v2 (code-only change: env reused),
# and a no-op rebuild of v2 (up to date). Writes the "build" section of
# BENCHMARKS.md. Needs root and the network (debootstrap tarball cached).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
djdd="$PWD/target/release/djdd"
work=/var/cache/djdd/bench/build
rm -rf "$work"
mkdir -p "$work"
export DJDD_DIR="$work/dir"
"$djdd" init >/dev/null 2>&1
sh fixtures/make-repo.sh "$work/demo-repo" >/dev/null
"$djdd" src demo --clone "$work/demo-repo" >/dev/null 2>&1
"$djdd" variant demo blue --domain blue.example.org >/dev/null 2>&1

now() { date +%s.%N; }
secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }

t0=$(now); "$djdd" build demo blue --version v1 2>/dev/null; t1=$(now)
cold=$(secs "$t0" "$t1")
t0=$(now); "$djdd" build demo blue --version v2 2>/dev/null; t1=$(now)
warm=$(secs "$t0" "$t1")
hyperfine --runs 10 --warmup 1 --export-json "$work/noop.json" \
    "'$djdd' build demo blue --version v2" >/dev/null 2>&1
noop=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print(f\"{r['median']:.3f}\")" "$work/noop.json")

body="$work/section.md"
cat >"$body" <<MD
## djdd build (example project, bench/build.sh)

Measured $(date -u +%Y-%m-%d) on $(nproc) cores; targets from the build issue.

| build | what it does | seconds | target |
|---|---|---|---|
| cold v1 | fresh build dir, empty pip cache: env (pip, psycopg2 compiled), src, site | $cold | — |
| warm v2 | code-only change: env reused; new src and site | $warm | < 3 |
| no-op v2 | inputs unchanged: says up to date (median of 10) | $noop | < 0.3 |
MD
bash bench/section.sh build "$body"
cat "$body"
