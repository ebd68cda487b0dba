#!/usr/bin/env bash
# Benchmark: upgrades and a restart under load (issue 16), the switch
# against the method before it, side by side in one run on this machine.
#
# Runs acceptance scenario 12 (tests/acceptance/12-upgrade-under-load.sh:
# 8 concurrent clients on the home page, one 5-second request after
# another, v1 -> v2, v2 -> v3 with a new env and a migration, then
# `demo-blue restart`) twice in a booted container of SUITE (default
# trixie): with djdd built from BENCH_UPGRADE_BASE (default 7d94228, the
# commit before the switch: gunicorn restarts in place behind its socket)
# and with this checkout's djdd. The scenario's script, fixture and load
# generator are this checkout's for both. Writes the "upgrade" section of
# BENCHMARKS.md. Needs root (systemd-nspawn), like the acceptance tests.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
base="${BENCH_UPGRADE_BASE:-7d94228}"
suite="${SUITE:-trixie}"
work=/var/tmp/djdd-bench-upgrade
mkdir -p "$work"
base_commit=$(git rev-parse --short "$base^{commit}")
head_commit=$(git rev-parse --short HEAD)
dirty=""
[ -z "$(git status --porcelain)" ] || dirty=" (with uncommitted changes)"

# The base commit's djdd, from a worktree of its own (its own target dir).
wt="$work/base-$base_commit"
if [ ! -d "$wt" ]; then
    git worktree add --detach "$wt" "$base_commit" >/dev/null
fi

lines="$work/lines.tsv"
: >"$lines"
run() { # LABEL DJDD-SOURCE TARGET-DIR
    local label="$1" src="$2" target="$3" out="$work/$1.out" figures="$work/$1.tsv"
    : >"$figures"
    echo "bench: scenario 12 with djdd of $label ..." >&2
    if ! SUITE="$suite" DJDD_ACC_RUNDIR="$work/run-$label" ACC_DJDD_SRC="$src" CARGO_TARGET_DIR="$target" \
        UPGRADE_BENCH="$figures" bash tests/acceptance/run.sh 12 >"$out" 2>&1; then
        tail -n 30 "$out" >&2
        echo "bench: scenario 12 failed with djdd of $label (log $out)" >&2
        exit 1
    fi
    sed "s/^BENCH/$label/" "$figures" >>"$lines"
}
load_before=$(cut -d' ' -f1 /proc/loadavg)
run "before-$base_commit" "$wt" "$wt/target"
run "switch-$head_commit" "$root" "$root/target"
load_after=$(cut -d' ' -f1 /proc/loadavg)

section="$work/section.md"
python3 - "$lines" "$base_commit" "$head_commit$dirty" "$suite" "$load_before" "$load_after" >"$section" <<'PY'
import re, sys, datetime, os
path, base, head, suite, lb, la = sys.argv[1:]
rows = []
for line in open(path):
    label, text, switch = line.rstrip("\n").split("\t")
    m = re.match(r"upgrade (\S+) -> (\S+): (\d+) requests, (\d+) failed, worst ([0-9.]+) s, steady p99 ([0-9.]+) s", text)
    a, b, n, f, w, p = m.groups()
    rows.append((label, a, b, int(n), int(f), float(w), float(p), switch, text))
print("## Upgrades under load (bench/upgrade.sh)\n")
print("Written by `make bench` (bench/upgrade.sh); do not edit by hand.\n")
print(f"- date: {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC; machine: {os.cpu_count()} CPUs, load average {lb} before, {la} after")
print(f"- acceptance scenario 12 in a booted {suite} container, run twice: djdd of {base} (the commit before the switch: gunicorn restarts in place behind its systemd socket) and djdd of {head} (the switch: the new release's gunicorn starts beside the old one, nginx moves to it)")
print("- load: 8 concurrent clients on the home page (a database write each), 100 requests/s together, through nginx; beside them one 5-second request after another (/slow/?s=5); P is the p99 latency of the 3+ s before the upgrade starts, W the worst latency of a request started after; goal: F = 0 and W <= 2 x P + 0.05 s")
print("- `switch W`: the worst latency of a request started once the next gunicorn started (the switch itself, after the package's unpack, checks and migration)\n")
print("| method | upgrade | requests N | failed F | worst W s | steady p99 P s | 2P + 0.05 s | goal | switch W s |")
print("|---|---|---:|---:|---:|---:|---:|---|---:|")
for label, a, b, n, f, w, p, sw, _ in rows:
    bound = 2 * p + 0.05
    met = "met" if f == 0 and w <= bound else "missed"
    what = "restart" if a == b else f"{a} -> {b}"
    print(f"| {label} | {what} | {n} | {f} | {w:.3f} | {p:.4f} | {bound:.3f} | {met} | {sw} |")
print("\nThe lines the scenario printed:\n")
print("```")
for label, *_, text in rows:
    print(f"{label}: {text}")
print("```")
PY
cat "$section"
bash bench/section.sh upgrade "$section"
