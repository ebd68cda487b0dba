#!/usr/bin/env bash
# tests/acceptance/suites.sh "SUITE..." [SCENARIO...]: the acceptance
# scenarios (run.sh) on each Debian suite named in the first argument.
#
# ACC_SUITE_JOBS=1 (the default): one suite after the other, output live.
# ACC_SUITE_JOBS=2 (or more): all suites side by side (.ci/run: one
# suite's scenarios leave a 2-core machine about half idle); each line of
# their output is prefixed with "[SUITE] ", and each suite's summary is
# printed again at the end. They share nothing but the host: each suite has
# its containers under $DJDD_ACC_RUNDIR/SUITE and its logs under
# $DJDD_ACC_RUNDIR/logs/SUITE; a scenario whose header says
# "# acc-quiet: WHY" runs alone on the host (run.sh's lock), so that a timed
# load loop does not share the cores with the other suite's builds.
#
# Exits 1 when any suite failed, naming them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ $# -ge 1 ] || { echo "usage: $0 \"SUITE...\" [SCENARIO...]" >&2; exit 2; }
read -r -a suites <<<"$1"
shift
[ "${#suites[@]}" -gt 0 ] || { echo "$0: no suite given" >&2; exit 2; }
jobs="${ACC_SUITE_JOBS:-1}"
case "$jobs" in '' | *[!0-9]* | 0) echo "$0: ACC_SUITE_JOBS must be a positive number, not '$jobs'" >&2; exit 2 ;; esac
rundir="${DJDD_ACC_RUNDIR:-/var/tmp/djdd-acc}"

failed=()
if [ "$jobs" = 1 ] || [ "${#suites[@]}" = 1 ]; then
    for s in "${suites[@]}"; do
        echo "=== acceptance on $s"
        SUITE="$s" bash "$here/run.sh" "$@" || failed+=("$s")
    done
else
    # Every suite's base first, one after the other (run.sh would build a
    # missing one itself, but two debootstraps at once only compete).
    for s in "${suites[@]}"; do
        SUITE="$s" bash -c 'source "$1/lib.sh"; ensure_base' _ "$here"
    done
    mkdir -p "$rundir/logs"
    declare -A pids=()
    for s in "${suites[@]}"; do
        echo "=== acceptance on $s (side by side; its output also in $rundir/logs/$s.out)"
        (
            set -o pipefail
            SUITE="$s" bash "$here/run.sh" "$@" 2>&1 | tee "$rundir/logs/$s.out" |
                sed -u "s/^/[$s] /"
        ) &
        pids[$s]=$!
    done
    for s in "${suites[@]}"; do
        wait "${pids[$s]}" || failed+=("$s")
    done
    for s in "${suites[@]}"; do
        echo
        echo "=== summary of $s"
        # run.sh ends with its results after a blank line.
        awk 'BEGIN { RS = ""; last = "" } { last = $0 } END { print last }' "$rundir/logs/$s.out"
    done
fi
if [ "${#failed[@]}" -gt 0 ]; then
    echo "acceptance failed on: ${failed[*]}"
    exit 1
fi
