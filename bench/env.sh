#!/usr/bin/env bash
# Env builds, pip against uv, side by side in one run (DJDD_INSTALLER=pip,
# DJDD_INSTALLER=uv), on the demo project with bench/env/requirements.txt
# (104 distributions, psycopg2 from its sdist), in a SUITE (default trixie)
# build root:
#   cold    fresh build dir, every cache empty: `djdd build` of commit A;
#   change  one line added to requirements.txt (commit B), caches warm;
#   repack  B's env package removed, its tree in the build root intact:
#           packed again from the tree (checked against the sha256 the
#           build recorded), nothing installed;
#   lock    B's env package removed and its tree's mark too (a new build
#           root): rebuilt from the lock the build dir recorded (`build
#           --repo` impossible), caches warm.
# Each row: the whole `djdd build` and its phases, read off the build's own
# log lines (timestamped here): prep (start to venv); venv + resolve +
# install (to the first of "stripping" and "compiled bytecode": uv's RECORD
# check runs beside the bytecode compile); the rest before packing (strip,
# compile, RECORD rewrite); packing the env (its shared libraries'
# packages, the .deb); the rest (src, site); and the time before packing.
# Writes the "env" section of BENCHMARKS.md. Needs root and the package
# index; RUNS (default 1) repeats each and keeps the median.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
djdd="$PWD/target/release/djdd"
suite="${SUITE:-trixie}"
runs="${RUNS:-1}"
work=/var/cache/djdd/bench/env
rm -rf "$work"
mkdir -p "$work"

# The repository: the demo fixture, its requirements replaced (A), then one
# line more (B).
repo="$work/repo"
sh fixtures/make-repo.sh "$repo" >/dev/null
g() { git -C "$repo" -c user.name=bench -c user.email=bench@example.org -c commit.gpgSign=false "$@"; }
g checkout -q main
cp bench/env/requirements.txt "$repo/requirements.txt"
g add requirements.txt
GIT_AUTHOR_DATE='2025-06-01T12:00:00+0000' GIT_COMMITTER_DATE='2025-06-01T12:00:00+0000' g commit -q -m 'bench: large requirements'
g tag bench-a
echo 'itsdangerous==2.2.0' >>"$repo/requirements.txt"
g add requirements.txt
GIT_AUTHOR_DATE='2025-06-02T12:00:00+0000' GIT_COMMITTER_DATE='2025-06-02T12:00:00+0000' g commit -q -m 'bench: one line more'
g tag bench-b

# timed LOG ARGS...: runs djdd with each stderr line prefixed by the seconds
# since the start; prints the phases: total prep install post rest.
timed() {
    local log="$1"
    shift
    python3 - "$log" "$@" <<'PY'
import re, subprocess, sys, time
log, argv = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
marks = {}
with open(log, "w") as out:
    p = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    for line in p.stderr:
        t = time.monotonic() - t0
        out.write(f"{t:8.2f} {line}")
        if "creating the virtualenv" in line:
            marks.setdefault("venv", t)
        elif "stripping" in line or "compiled bytecode" in line:
            marks.setdefault("post", t)
        elif re.search(r"INFO packing /usr/lib/", line):
            marks.setdefault("packing", t)
        elif re.search(r"wrote \S+-env-", line):
            marks.setdefault("packed", t)
    rc = p.wait()
total = time.monotonic() - t0
if rc != 0:
    sys.exit(f"{' '.join(argv)} failed ({rc}); its log: {log}")
venv = marks.get("venv", 0.0)
post = marks.get("post", venv)
packing = marks.get("packing", post)
packed = marks.get("packed", packing)
print(f"{total:.1f} {venv:.1f} {post - venv:.1f} {packing - post:.1f} {packed - packing:.1f} {total - packed:.1f} {packing:.1f}")
PY
}

declare -A result
for inst in pip uv; do
    for run in $(seq "$runs"); do
        export DJDD_DIR="$work/$inst-$run"
        export DJDD_INSTALLER="$inst"
        "$djdd" init --suite "$suite" >/dev/null 2>&1
        "$djdd" src demo --clone "$repo" >/dev/null 2>&1
        "$djdd" variant demo blue --domain blue.example.org >/dev/null 2>&1
        result[$inst-cold-$run]=$(timed "$work/$inst-$run-cold.log" "$djdd" build demo blue --version bench-a)
        result[$inst-change-$run]=$(timed "$work/$inst-$run-change.log" "$djdd" build demo blue --version bench-b)
        rm -f "$DJDD_DIR"/packages/demo-env-*
        result[$inst-repack-$run]=$(timed "$work/$inst-$run-repack.log" "$djdd" build demo blue --version bench-b)
        rm -f "$DJDD_DIR"/packages/demo-env-* "$DJDD_DIR"/state/envs/*
        result[$inst-lock-$run]=$(timed "$work/$inst-$run-lock.log" "$djdd" build demo blue --version bench-b)
        echo "$inst run $run: cold ${result[$inst-cold-$run]%% *} s, change ${result[$inst-change-$run]%% *} s, repack ${result[$inst-repack-$run]%% *} s, lock ${result[$inst-lock-$run]%% *} s" >&2
    done
done

# median ROWKEY: the run with the median total.
median() {
    local key="$1"
    for run in $(seq "$runs"); do echo "${result[$key-$run]}"; done | sort -n | sed -n "$(((runs + 1) / 2))p"
}

body="$work/section.md"
{
    echo "## Env builds: pip against uv (bench/env.sh)"
    echo
    echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores, a $suite build root, the demo project with"
    echo "bench/env/requirements.txt (104 distributions, psycopg2 built from its sdist);"
    echo "median of $runs run(s). Seconds; the phases are read off the build's log lines."
    echo
    echo "| case | installer | djdd build | prep | venv + resolve + install (+ RECORD check, bytecode) | the rest before packing | packing the env | src, site | before packing | uv / pip |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    for case in cold change repack lock; do
        p=$(median "pip-$case")
        u=$(median "uv-$case")
        ratio=$(python3 -c "import sys; print(f'{float(sys.argv[2]) / float(sys.argv[1]):.2f}')" "${p%% *}" "${u%% *}")
        for inst in pip uv; do
            row=$p
            [ "$inst" = uv ] && row=$u
            read -r total prep install post pack rest before <<<"$row"
            r=""
            [ "$inst" = uv ] && r="$ratio"
            echo "| $case | $inst | $total | $prep | $install | $post | $pack | $rest | $before | $r |"
        done
    done
    echo
    echo "cold: fresh build dir, every cache empty. change: one line added to"
    echo "requirements.txt, caches warm (a new env HASH). repack: the env package"
    echo "removed, its tree in the build root intact: packed again from it (the"
    echo "sha256 the build recorded must match), nothing installed. lock: the env"
    echo "package and its tree's mark removed (as in a new build root): rebuilt from"
    echo "the lock the build dir recorded."
    echo "Goals (issue 30): change <= 15 s for the whole build; cold <= 0.6 x pip's;"
    echo "lock <= 5 s before packing (the \"before packing\" column: from the start to"
    echo "the log's \"packing /usr/lib/NAME-env/HASH\", which looks up the shared"
    echo "libraries' packages and writes the .deb). uv's RECORD check and strip run"
    echo "while the bytecode is compiled: its install column ends when both are done"
    echo "(the first of \"stripping\" and \"compiled bytecode\")."
} >"$body"
bash bench/section.sh env "$body"
cat "$body"
