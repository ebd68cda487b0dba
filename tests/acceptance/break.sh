#!/usr/bin/env bash
# tests/acceptance/break.sh [NAME...]: shows that a scenario fails when the
# feature it covers is broken on purpose (issue 7). Not part of `make
# acceptance` (each break runs a whole scenario: 3–5 min).
#
# For each break (all, or those NAMEd): a scratch git worktree of HEAD,
# the break applied there (one edit to the templates or maintainer
# scripts), the scenario that covers the feature run from it, and a line
#   BROKEN NAME: scenario NN failed as it should: <its first FAIL line>
# or
#   MISSED NAME: scenario NN passed with the feature broken
# Exits 1 when any break was missed. Logs: $DJDD_ACC_RUNDIR/break/NAME.out.
# The worktree builds into target/break (CARGO_TARGET_DIR, started from a
# copy of target/debug), so the checkout's own build is not touched. It
# breaks HEAD: commit first.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
rundir="${DJDD_ACC_RUNDIR:-/var/tmp/djdd-acc}-break"
mkdir -p "$rundir/break"

# NAME SCENARIO FILE OLD NEW: replace the line OLD by NEW in FILE.
breaks=(
    "static 10 debian-templates/nginx.conf|    location ^~ {{ static_url | nginx_token }} {|    location ^~ /static-broken-on-purpose/ {"
    "switch 12 debian-templates/switch.inc|    if systemctl --quiet is-active \"\$SERVICE_UNIT\" && [ \"\$(serving_socket)\" != \"\$NEXT_SOCKET\" ]; then|    if false; then"
    "purge 16 maintainer-scripts/postrm|    rm -rf \"\$ETC_DIR\" \"\$LOG_DIR\" \"\$SRV_DIR\" \"\$RUN_DIR\" \"\$RELEASES_DIR\"|    rm -rf \"\$ETC_DIR\" \"\$LOG_DIR\" \"\$SRV_DIR\" \"\$RUN_DIR\" \"\$RELEASES_DIR\" \"\$STATE_DIR\""
    "check 18 maintainer-scripts/postinst|    if ! in_release \"\$rel\" 300 check; then|    if false; then"
    "switch-first 18 maintainer-scripts/postinst|    log \"checking release \$VERSION (imports the WSGI application, runs Django's checks)\"|    switch_to \"\$VERSION\"; deb-systemd-invoke restart \"\$SERVICE_UNIT\" >/dev/null || true"
    "state-open 21 maintainer-scripts/postinst|    install -d -m 0711 -o root -g root \"\$STATE_DIR\"|    install -d -m 0755 -o root -g root \"\$STATE_DIR\""
    "revoke 21 maintainer-scripts/postinst|REVOKE CONNECT, TEMPORARY ON DATABASE :\"db\" FROM PUBLIC;|SELECT 1;"
)
# What each break does, for the report.
declare -A what=(
    [static]="nginx no longer serves /static/ (scenario 1: install)"
    [switch]="the switch restarts gunicorn in place instead of starting the new release beside the running one (scenario 12: upgrade under load)"
    [purge]="purge deletes the state directory with the media files (scenario 7: remove and purge)"
    [check]="the postinst skips the release check before the switch (scenario 9: a bad release)"
    [switch-first]="the postinst switches to the new release and restarts gunicorn before checking it (scenario 9: a bad release)"
    [state-open]="the site's state directory is 0755 again: other sites list it (scenario 21: isolation)"
    [revoke]="the postinst no longer revokes CONNECT on the site's database from PUBLIC (scenario 21: isolation)"
)

# Start target/break from the checkout's debug build: only djdd recompiles.
if [ ! -d "$root/target/break/debug" ] && [ -d "$root/target/debug" ]; then
    mkdir -p "$root/target/break"
    cp -a "$root/target/debug" "$root/target/break/"
fi

missed=0
for b in "${breaks[@]}"; do
    spec="${b%%|*}" rest="${b#*|}"
    old="${rest%%|*}" new="${rest#*|}"
    read -r name scenario file <<<"$spec"
    if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then continue; fi
    wt="$rundir/wt-$name"
    git -C "$root" worktree remove --force "$wt" 2>/dev/null || rm -rf "$wt"
    git -C "$root" worktree add -q --detach "$wt" HEAD || exit 1
    OLD="$old" NEW="$new" python3 - "$wt/$file" <<'PY' || { echo "break $name: the line to break is not in $file" >&2; exit 1; }
import os, sys
p = sys.argv[1]
s = open(p).read()
old, new = os.environ["OLD"], os.environ["NEW"]
if old not in s:
    sys.exit(1)
open(p, "w").write(s.replace(old, new))
PY
    echo "break $name: ${what[$name]}" >&2
    out="$rundir/break/$name.out"
    rc=0
    CARGO_TARGET_DIR="$root/target/break" DJDD_ACC_RUNDIR="$rundir" \
        bash "$wt/tests/acceptance/run.sh" "$scenario" >"$out" 2>&1 || rc=$?
    git -C "$root" worktree remove --force "$wt"
    if [ "$rc" = 0 ]; then
        echo "MISSED $name: scenario $scenario passed with the feature broken (log $out)"
        missed=1
    else
        echo "BROKEN $name: scenario $scenario failed as it should: $(grep -E '^FAIL: ' "$out" | grep -v 'command failed' | head -n1)"
    fi
done
exit "$missed"
