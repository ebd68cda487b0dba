#!/usr/bin/env bash
# make test: builds every test target once, then runs the test binaries
# JOBS at a time (default: the number of cores), longest first.
#
# `cargo test` runs one test binary after another; most of ours spend
# their time in one single-threaded program (pip, debootstrap's unpack,
# dpkg), so two binaries side by side use a 2-core machine twice as well.
# Each binary's output goes to target/test-logs/NAME.log and is printed
# whole when it ends (FAIL) or summed up in one line (PASS). The order
# comes from the last run's times (target/test-logs/times), else the
# binaries that make build roots (tests/build_support) go first.
#
#   scripts/test.sh [ARG...]      ARGs: given to every binary (a test name filter, --nocapture)
#   DJDD_TEST_JOBS=N              binaries at a time
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${DJDD_TEST_JOBS:-$(nproc)}
logs=${CARGO_TARGET_DIR:-target}/test-logs
mkdir -p "$logs"

# Build everything (all targets, as `cargo test --all-targets`), and list
# the test executables: NAME PATH per line.
list=$(cargo test --all-targets --no-run --message-format=json-render-diagnostics \
    | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        kind = m["target"]["kind"][0]
        name = m["target"]["name"] if kind == "test" else kind + "-" + m["target"]["name"]
        print(name, m["executable"])
')

# weight NAME: the last run's seconds, else 1000 for a binary that makes
# build roots (tests/build_support), 500 for one that runs debootstrap's
# roots, lintian or `djdd init` otherwise, else 0.
weight() {
    local t
    t=$(awk -v n="$1" '$1 == n { print $2 }' "$logs/times" 2>/dev/null | tail -n 1)
    if [ -n "$t" ]; then
        echo "$t"
    elif [ -f "tests/$1.rs" ] && grep -q '^mod build_support;' "tests/$1.rs"; then
        echo 1000
    elif [ -f "tests/$1.rs" ] && grep -qE 'debootstrap|lintian|"init"' "tests/$1.rs"; then
        echo 500
    else
        echo 0
    fi
}

order=$(while read -r name exe; do
    echo "$(weight "$name") $name $exe"
done <<<"$list" | sort -k1,1nr -k2,2 | cut -d' ' -f2-)

# run NAME EXE: one binary, its log, its line; exit status 0 or 1.
run() {
    local name=$1 exe=$2 t0=$SECONDS rc=0
    # shellcheck disable=SC2086 # TEST_ARGS: words, as given to scripts/test.sh
    "$exe" $TEST_ARGS >"$logs/$name.log" 2>&1 || rc=$?
    local took=$((SECONDS - t0))
    echo "$name $took" >>"$logs/times.new"
    if [ "$rc" -eq 0 ]; then
        echo "PASS $name ($took s): $(grep -h '^test result:' "$logs/$name.log" | tail -n 1)"
    else
        echo "FAIL $name ($took s, exit $rc): its output:"
        sed 's/^/  | /' "$logs/$name.log"
        return 1
    fi
}
export -f run
TEST_ARGS="$*"
export logs TEST_ARGS

rm -f "$logs/times.new"
t0=$SECONDS
echo "test: $(wc -l <<<"$order") binaries, $jobs at a time"
rc=0
# xargs runs `run NAME EXE` for each line; exit 123 when one failed.
printf '%s\n' "$order" | xargs -P "$jobs" -L 1 bash -c 'run "$@"' run || rc=$?
# A filtered run's times say nothing of the next full run's.
if [ -z "$TEST_ARGS" ] && [ -f "$logs/times.new" ]; then
    mv "$logs/times.new" "$logs/times"
fi
rm -f "$logs/times.new"
echo "test: done in $((SECONDS - t0)) s"
if [ "$rc" -ne 0 ]; then
    echo "test: failed (FAIL lines above)"
    exit 1
fi
