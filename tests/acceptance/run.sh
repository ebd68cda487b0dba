#!/usr/bin/env bash
# tests/acceptance/run.sh [SCENARIO...]: run the acceptance scenarios.
#
# Runs every tests/acceptance/NN-*.sh in order (or those named: a file name,
# a path, or its NN prefix), each as its own bash process, prints PASS/FAIL
# with the time of each, and ends with the line "N passed, M failed". Exits
# 1 when any scenario failed.
#
# A scenario boots its own container unless its header says
# "# acc-container: NAME" with NAME other than "own": consecutive scenarios
# naming the same container share one, booted here before the first of them
# and stopped after the last (they attach to it through ACC_ATTACH=NAME).
# A scenario whose header says "# acc-suites: SUITE..." runs on those
# suites only (prints "SKIP NAME" on the others).
# A scenario whose header says "# acc-quiet: WHY" runs alone on the host:
# it waits until every other run.sh on it (another suite's, side by side:
# suites.sh) is between scenarios, and they wait for it (the lock file
# $ACC_QUIET_LOCK, taken shared by every other scenario).
# Output of each scenario: shown live and kept in $DJDD_ACC_RUNDIR/logs/SUITE/.
# The suite is SUITE (default bookworm); `make acceptance` runs this once
# per suite of SUITES.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tests/acceptance/lib.sh
source "$here/lib.sh"

[ "$(id -u)" = 0 ] || fail "the acceptance scenarios need root (systemd-nspawn, nsenter, debootstrap)"

scenarios=()
if [ $# -eq 0 ]; then
    for f in "$here"/[0-9][0-9]-*.sh; do scenarios+=("$f"); done
else
    for a in "$@"; do
        if [ -f "$a" ]; then
            scenarios+=("$(cd "$(dirname "$a")" && pwd)/$(basename "$a")")
        elif [ -f "$here/$a" ]; then
            scenarios+=("$here/$a")
        else
            m=("$here/$a"-*.sh)
            [ -f "${m[0]}" ] || fail "no scenario matches '$a' in $here"
            scenarios+=("${m[@]}")
        fi
    done
fi

logs="$ACC_LOGS"
mkdir -p "$logs"
t_all=$SECONDS
# Build (or find) the base first, so its time is not charged to a scenario.
t0=$SECONDS
ensure_base
acc_log "base ready: $(basename "$ACC_BASE") ($((SECONDS - t0)) s)"
acc_log "suite $ACC_SUITE: ${#scenarios[@]} scenario(s), logs in $logs"

passed=0 failed=0 skipped=0
results=()
shared=""
for i in "${!scenarios[@]}"; do
    f="${scenarios[$i]}"
    name="$(basename "$f" .sh)"
    # "# acc-suites: SUITE..." limits a scenario to those suites (its
    # header says why); on the others it is skipped, and said so.
    only="$(sed -n 's/^# acc-suites: *//p' "$f" | head -n1)"
    if [ -n "$only" ] && [[ " $only " != *" $ACC_SUITE "* ]]; then
        skipped=$((skipped + 1))
        results+=("SKIP $name (only on: $only)")
        printf '%s\n' "${results[-1]}"
        continue
    fi
    ctname="$(sed -n 's/^# acc-container: *\([a-z0-9-]*\).*/\1/p' "$f" | head -n1)"
    [ -n "$ctname" ] || ctname=own
    # Host-wide: a quiet scenario waits until no other run.sh's scenario
    # (another suite's, side by side) runs, and holds the others off.
    exec {lock_fd}>>"$ACC_QUIET_LOCK"
    mode=-s
    if grep -q '^# acc-quiet:' "$f"; then
        mode=-x
        flock -n -x "$lock_fd" || acc_log "$name runs alone on the host: waiting for the other runs' scenarios to end"
    fi
    flock "$mode" "$lock_fd"
    if [ "$ctname" != own ]; then
        if [ "$shared" != "$ctname" ]; then
            [ -z "$shared" ] || stop_container
            boot_container "$ctname"
            shared="$ctname"
        fi
        export ACC_ATTACH="$ctname"
    else
        [ -z "$shared" ] || { stop_container; shared=""; }
        unset ACC_ATTACH
    fi
    acc_log "=== $name"
    t0=$SECONDS
    rc=0
    bash "$f" 2>&1 | tee "$logs/$name.log" || rc=$?
    dt=$((SECONDS - t0))
    # A scenario may have rebooted the shared container (reboot_container).
    if [ -n "$shared" ]; then
        CT_PID="$(cat "$CT_DIR/pid1")" CT_NSPAWN="$(cat "$CT_DIR/nspawn.pid")"
    fi
    if [ "$rc" = 0 ]; then
        passed=$((passed + 1))
        results+=("PASS $name (${dt} s)")
    else
        failed=$((failed + 1))
        results+=("FAIL $name (${dt} s; exit $rc; log $logs/$name.log)")
    fi
    printf '%s\n' "${results[-1]}"
    flock -u "$lock_fd"
    exec {lock_fd}>&-
done
[ -z "$shared" ] || stop_container
unset ACC_ATTACH

printf '\n'
printf '%s\n' "${results[@]}"
printf 'total %s s (suite %s)\n' "$((SECONDS - t_all))" "$ACC_SUITE"
[ "$skipped" = 0 ] || printf '%s skipped (not for suite %s)\n' "$skipped" "$ACC_SUITE"
printf '%s passed, %s failed\n' "$passed" "$failed"
if [ "$failed" != 0 ]; then exit 1; fi
