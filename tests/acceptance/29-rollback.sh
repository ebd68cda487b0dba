#!/usr/bin/env bash
# Scenario 29 (issue 29, 3): `demo-red rollback`. red (celery, migrate) is
# built at v2, then at v3 (a higher site version: it adds migration 0002),
# both published; v3 is installed and applies 0002. Files a newer release
# may write are set (a secret the older package does not know, a count in
# scale.env of a process it does not have, a line in local.env). While 8
# concurrent clients load red's home page, `demo-red rollback` installs v2
# through apt (--allow-downgrades): it prints what it will do, no request
# fails, the release served changes from v3 to v2 once (the switch: v2's
# gunicorn starts beside v3 and answers before nginx moves), and the
# output says migrations are not reversed and names notes 0002_note_pinned,
# which v2 does not know, with the command that reverses it. dpkg says
# `ii` at v2's version; the secret, scale.env and local.env are as v3 left
# them; 0002 is still applied. Then `rollback 99` (apt offers no 99) and
# `rollback V3` (not lower) are refused with exit 2, and `rollback` with no
# lower version (a container of its own) with exit 1 naming `djdd publish
# --prune --keep N`; nothing changes.
# On bookworm only: the trixie lane is CI's longest (scenarios 23, 25
# and 26 run there only); nothing here depends on the suite.
# acc-suites: bookworm
# acc-container: site
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/site.sh"

boot_container site
djdd_setup

# built_version VARIANT: the version of the newest site package built.
built_version() {
    local deb
    deb="$(ls -t "$DJDD_DIR"/packages/demo-site-"$1"_*.deb | head -n1)"
    dpkg-deb -f "$deb" Version
}

step "red: v2 built, then v3 (higher), both published; v3 installed"
djdd_build red v2
v2="$(built_version red)"
djdd_build red v3
v3="$(built_version red)"
dpkg --compare-versions "$v2" lt "$v3" || fail "red's v2 ($v2) is not lower than its v3 ($v3)"
djdd_publish
ct_apt install "demo-site-red=$v3" || fail "apt-get install demo-site-red=$v3 failed: $APT_OUT"
assert_eq ii "$(ct_pkg_status demo-site-red)" "dpkg status of demo-site-red at v3"
assert_http 200 http://127.0.0.1/ red.example.org
assert_contains "$HTTP_BODY" "release v3" "red's home page before the rollback"
assert_eq 1 "$(ct_psql "select count(*) from django_migrations where app = 'notes' and name = '0002_note_pinned'" demo-red)" \
    "migration 0002 applied in demo-red by v3"

step "state a newer release wrote: a secret, scale.env, local.env"
in_ct_sh 'printf "%s\n" "NEWER_ONLY=\"kept by the rollback\"" >>/etc/demo-site/red/secrets.env
printf "%s\n" "# written while v3 ran (scenario 29)" >>/etc/demo-site/red/local.env
printf "%s\n" "# scenario 29" "newer-process=2" >/etc/demo-site/red/scale.env'
sums_before="$(in_ct sha256sum /etc/demo-site/red/local.env /etc/demo-site/red/scale.env)"

step "demo-red rollback under 8 concurrent clients"
LOAD_CLIENTS=8 load_start rollback red.example.org http://127.0.0.1/ 1000 10
sleep 3
load_mark rollback
t0=$SECONDS
rc=0
out="$(in_ct demo-red rollback 2>&1)" || rc=$?
acc_log "demo-red rollback ($v3 -> $v2): $((SECONDS - t0)) s, exit status $rc"
printf '%s\n' "$out" >"$CT_DIR/rollback.log"
if mkdir -p "$ACC_LOGS"; then cp "$CT_DIR/rollback.log" "$ACC_LOGS/29-rollback-output.log" || true; fi
if [ "$rc" != 0 ]; then
    load_stop rollback || true
    fail "demo-red rollback failed (exit $rc): $out"
fi
sleep 2
load_stop rollback
assert_load 1000 10 "v3 -> v2"
upgrade_line v3 v2
[ "$LOAD_FAILED" = 0 ] || fail "$UPGRADE_LINE: requests failed"
printf '%s\n' "$out" | grep -E '^demo-red: |^  ' | while IFS= read -r line; do acc_log "  | $line"; done

step "what the rollback said"
assert_contains "$out" "rolling demo-site-red back from $v3 to $v2:" "the rollback's plan"
assert_contains "$out" "apt-get install --allow-downgrades -y demo-site-red=$v2" "the rollback's plan"
assert_contains "$out" "migrations are not reversed" "the rollback's plan"
assert_contains "$out" "demo-red-next.service:" "the switch through the next gunicorn (its warm-up line)"
assert_contains "$out" "applied migrations release $v2 does not know" "the unknown migrations' heading"
assert_contains "$out" "  notes 0002_note_pinned" "the migration v2 does not know"
assert_contains "$out" "demo-red manage migrate notes 0001_initial" "how to reverse it"
assert_not_contains "$out" "  notes 0001_initial
" "v2 knows 0001"

step "red at v2: dpkg, the page, the state kept"
assert_eq ii "$(ct_pkg_status demo-site-red)" "dpkg status of demo-site-red after the rollback"
assert_eq "$v2" "$(site_version red)" "installed version of demo-site-red after the rollback"
assert_eq "releases/$v2" "$(in_ct readlink /var/lib/demo-site/red/current)" "red's current release"
assert_http 200 http://127.0.0.1/ red.example.org
assert_contains "$HTTP_BODY" "release v2" "red's home page after the rollback"
assert_unit_active demo-red.socket demo-red.service demo-red-celery.service
assert_unit_inactive demo-red-next.service
assert_eq "server unix:/run/demo-red/gunicorn.sock fail_timeout=0;" "$(in_ct tail -n 1 /var/lib/demo-site/red/upstream.conf)" \
    "nginx's upstream after the rollback"
assert_eq 1 "$(ct_psql "select count(*) from django_migrations where app = 'notes' and name = '0002_note_pinned'" demo-red)" \
    "migration 0002 still applied after the rollback"
in_ct grep -qx 'NEWER_ONLY="kept by the rollback"' /etc/demo-site/red/secrets.env ||
    fail "v2's postinst dropped the secret NEWER_ONLY that v3's time wrote"
assert_eq "$sums_before" "$(in_ct sha256sum /etc/demo-site/red/local.env /etc/demo-site/red/scale.env)" \
    "local.env and scale.env after the rollback"
assert_contains "$out" "newer-process" "v2's postinst names the scale.env entry it does not know"

step "refusals: nothing changes"
rc=0
out="$(in_ct demo-red rollback 99 2>&1)" || rc=$?
assert_eq 2 "$rc" "exit status of 'demo-red rollback 99' ($out)"
assert_contains "$out" "apt offers no version 99 of demo-site-red" "'rollback 99'"
rc=0
out="$(in_ct demo-red rollback "$v3" 2>&1)" || rc=$?
assert_eq 2 "$rc" "exit status of 'demo-red rollback $v3' ($out)"
assert_contains "$out" "$v3 is not lower than the installed $v2" "'rollback $v3'"
lower="$(in_ct apt-cache madison demo-site-red | awk -F '|' '{ gsub(/ /, "", $2); print $2 }' |
    while read -r v; do if dpkg --compare-versions "$v" lt "$v2"; then echo "$v"; fi; done)"
if [ -z "$lower" ]; then
    rc=0
    out="$(in_ct demo-red rollback 2>&1)" || rc=$?
    assert_eq 1 "$rc" "exit status of 'demo-red rollback' with no lower version ($out)"
    assert_contains "$out" "apt offers no version of demo-site-red lower than the installed $v2" "'rollback' with nothing lower"
    assert_contains "$out" "djdd publish --prune --keep N" "'rollback' with nothing lower"
else
    acc_log "the repository holds red versions below v2 (earlier scenarios in this container: $(printf '%s ' $lower)): the no-lower refusal is not checked here"
fi
assert_eq ii "$(ct_pkg_status demo-site-red)" "dpkg status of demo-site-red after the refusals"
assert_eq "$v2" "$(site_version red)" "installed version after the refusals"

in_ct_sh 'sed -i "/^NEWER_ONLY=/d" /etc/demo-site/red/secrets.env; rm -f /etc/demo-site/red/scale.env
sed -i "/scenario 29/d" /etc/demo-site/red/local.env'
acc_log "scenario 29 passed"
