#!/usr/bin/env bash
# Scenario 12 (issue 7, 3; issue 16): upgrades nobody notices. While a load
# loop of 8 concurrent clients (at least 1,000 requests over at least 10 s,
# each checked: status 200 and the release the page shows) runs against
# blue's home page, and a second loop sends one 5-second request after
# another (/slow/?s=5), v2 is published and `apt-get install --only-upgrade
# demo-site-blue` run: no request fails, the release served changes from v1
# to v2 exactly once, every 5-second request (one is in flight when nginx
# moves) completes with 200, and no request takes 0.5 s (a restart in
# place stalls them 2 to 4 s under this load); each upgrade prints its line
# `upgrade A -> B: N requests, F failed, worst W s, steady p99 P s` and
# whether the switch met the issue's goal, 2 x p99 + 0.05 s, which
# `make bench` measures (assert_upgrade_goal). Then the same for v3, whose env hash is new
# (requirements changed) and which adds migration 0002: blue is switched
# to migrate = true first, so the postinst applies the (additive)
# migration before it switches. Then the same for `demo-blue restart`.
# Last, the container reboots: requests sent as soon as nginx is up are
# all answered 200 by v3 (gunicorn boots behind its socket), and the
# switch's second unit stays down.
# acc-container: site
# acc-quiet: no request may take 0.5 s, and the switch prints its latency goal
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/site.sh"

boot_container site
djdd_setup

step "blue at v1"
ensure_site blue v1
assert_http 200 http://127.0.0.1/ blue.example.org
assert_contains "$HTTP_BODY" "release v1" "blue's home page before the upgrade"
env_v1="$(in_ct readlink /var/lib/demo-site/blue/current/env)"

LOAD_CLIENTS=8
# The 5-second requests: one after another, on the release they started on.
SLOW_RE='release=(v[0-9]+)'

# under_load NAME FROM TO COMMAND...: the two load loops run, steady state
# for 3 s, then COMMAND (the upgrade or the restart) under load_mark; then
# both loops stop and are checked; prints and checks the upgrade line.
under_load() {
    local name="$1" from="$2" to="$3"
    shift 3
    load_start "$name" blue.example.org http://127.0.0.1/ 1000 10
    LOAD_CLIENTS=1 LOAD_VERSION_RE="$SLOW_RE" load_start "$name-slow" blue.example.org \
        "http://127.0.0.1/slow/?s=5" 1 1
    sleep 3
    load_mark "$name"
    load_mark "$name-slow"
    local t0=$SECONDS
    "$@" || {
        load_stop "$name-slow" || true
        load_stop "$name" || true
        fail "$* failed: ${APT_OUT:-}"
    }
    acc_log "$* ($from -> $to): $((SECONDS - t0)) s"
    sleep 2
    load_stop "$name-slow"
    assert_load 1 1
    local slow_versions="$LOAD_VERSIONS"
    acc_log "5-second requests: $LOAD_TOTAL, $LOAD_FAILED failed, releases $slow_versions"
    load_stop "$name"
    local versions="$from -> $to"
    [ "$from" != "$to" ] || versions="$from"
    assert_load 1000 10 "$versions"
    assert_eq "$versions" "$slow_versions" "releases that answered the 5-second requests"
    upgrade_line "$from" "$to"
    assert_upgrade_goal
    # nginx reloads twice from the next gunicorn's start on: to next, back
    # to the restarted main one; the postinst's own reload is skipped when
    # the switch has loaded the site's files as they are.
    local journal reloads
    journal="$ACC_LOGS/load-$(basename "$0" .sh)-$from-$to.journal"
    reloads="$(awk '/Starting .*-next\.socket/ { on = 1 } on && /Reloading nginx/ { n++ } END { print n + 0 }' "$journal")"
    if grep -q 'Starting .*-next\.socket' "$journal"; then
        assert_eq 2 "$reloads" "nginx reloads from the next gunicorn's start to the end of the upgrade ($journal)"
    fi
}

upgrade() {
    ct_apt install --only-upgrade demo-site-blue
}

# upgrade_under_load FROM TO: build TO, publish it, upgrade under load.
upgrade_under_load() {
    local from="$1" to="$2"
    step "build $to"
    djdd_build blue "$to"
    djdd_publish
    step "upgrade $from -> $to under load"
    under_load "up-$to" "$from" "$to" upgrade
    # blue's warm_url (site.sh): the new workers' database connections
    # open before nginx moves, not with the first visitors' requests.
    if grep -qx 'warm_url = "/"' "$DJDD_DIR/variants/demo/blue.toml"; then
        assert_contains "$APT_OUT" "requests to / (slowest answer" "the switch's warm-up with blue's warm_url /"
    fi
    assert_http 200 http://127.0.0.1/ blue.example.org
    assert_contains "$HTTP_BODY" "release $to" "blue's home page after the upgrade"
    assert_unit_active demo-blue.socket demo-blue.service demo-blue-celery.service
    assert_unit_inactive demo-blue-next.service
}

upgrade_under_load v1 v2
env_v2="$(in_ct readlink /var/lib/demo-site/blue/current/env)"
assert_eq "$env_v1" "$env_v2" "env of v2 (same requirements as v1)"

# v3 adds migration 0002, which its home page needs: let the postinst
# migrate (before the switch; v2's code keeps working on the new column).
# (The variant file records only chosen values: migrate = false, the
# default, is not in it to edit by hand.)
"$DJDD" variant demo blue --migrate >/dev/null || fail "djdd variant demo blue --migrate failed"
grep -qx 'migrate = true' "$DJDD_DIR/variants/demo/blue.toml" || fail "could not turn migrate on in blue.toml"
upgrade_under_load v2 v3
env_v3="$(in_ct readlink /var/lib/demo-site/blue/current/env)"
[ "$env_v3" != "$env_v2" ] || fail "v3 runs on the same env as v2 ($env_v2): its requirements changed"
assert_eq 1 "$(ct_psql "select count(*) from django_migrations where app = 'notes' and name = '0002_note_pinned'" demo-blue)" \
    "migration 0002 applied in demo-blue"

step "demo-blue restart under load"
pid_before="$(in_ct systemctl show -P MainPID demo-blue.service)"
under_load restart v3 v3 in_ct demo-blue restart
pid_after="$(in_ct systemctl show -P MainPID demo-blue.service)"
[ "$pid_after" != "$pid_before" ] || fail "demo-blue restart left gunicorn's MainPID at $pid_before"
assert_unit_inactive demo-blue-next.service

# bench/upgrade.sh also runs this scenario with the djdd before the switch.
if [ -n "${UPGRADE_BENCH:-}" ]; then
    acc_log "scenario 12 passed (bench: figures only)"
    exit 0
fi

step "after the switches: what a boot starts serves"
# At boot systemd starts the enabled socket and gunicorn, and nginx reads
# upstream.conf: it must name that socket, and the next unit stays static.
assert_eq "enabled enabled" "$(in_ct systemctl is-enabled demo-blue.socket demo-blue.service | tr '\n' ' ' | sed 's/ $//')" \
    "enable state of demo-blue's socket and gunicorn"
assert_eq "static static" "$(in_ct systemctl is-enabled demo-blue-next.socket demo-blue-next.service | tr '\n' ' ' | sed 's/ $//')" \
    "enable state of demo-blue-next's socket and gunicorn"
# assert_upstream_main WHEN: nginx's upstream names demo-blue's own socket.
assert_upstream_main() {
    assert_eq "server unix:/run/demo-blue/gunicorn.sock fail_timeout=0;" "$(in_ct tail -n 1 /var/lib/demo-site/blue/upstream.conf)" \
        "nginx's upstream after $1"
}
assert_upstream_main "the switches"
in_ct test ! -e /run/demo-blue/next.sock || fail "/run/demo-blue/next.sock is left after the switches"
# The switch boots a gunicorn at niceness 10 (its processes and its
# session's autogroup) and puts it back to 0 before it serves; the
# celery worker boots at 10 too (quiet_boot), and runs at 0 once idle.
for unit in demo-blue.service demo-blue-celery.service; do
    main_pid="$(in_ct systemctl show -P MainPID "$unit")"
    nices="$(in_ct ps -o ni= --ppid "$main_pid" -p "$main_pid" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')"
    [ -n "$nices" ] || fail "no process of $unit (MainPID $main_pid)"
    for n in $nices; do
        [ "$n" = 0 ] || fail "$unit runs at niceness '$nices' after the switches (0 expected)"
    done
    autogroup="$(in_ct cat "/proc/$main_pid/autogroup" 2>/dev/null || echo "none")"
    case "$autogroup" in
    none | *" nice 0") ;;
    *) fail "$unit's autogroup after the switches: '$autogroup' (nice 0 expected)" ;;
    esac
    acc_log "$unit after the switches: niceness $nices, autogroup '$autogroup'"
done

step "a reboot after the switches: blue serves v3 from nginx's first moment"
# A probe unit ordered after nginx sends 40 requests to blue one after
# another as soon as nginx is up, while gunicorn may still be booting
# behind its socket: each must be answered 200 by v3 (none refused, none
# from nginx alone). Its log is on /var/lib (kept across the reboot).
in_ct_sh 'mkdir -p /usr/local/lib/djdd-acc
cat >/usr/local/lib/djdd-acc/boot-probe.sh <<"PROBE"
#!/bin/sh
# One line per request: status, seconds, the release the page shows.
for i in $(seq 1 40); do
    code="$(curl -s -m 60 -o /run/acc-boot-probe.body -w "%{http_code} %{time_total}" -H "Host: blue.example.org" http://127.0.0.1/)" || true
    echo "${code:-000 -} $(grep -o "release v[0-9]*" /run/acc-boot-probe.body 2>/dev/null | head -n1)"
done >/var/lib/acc-boot-probe.log
PROBE
cat >/etc/systemd/system/acc-boot-probe.service <<"UNIT"
[Unit]
Description=Acceptance: requests to blue from the moment nginx is up
After=nginx.service
Wants=nginx.service

[Service]
Type=oneshot
ExecStart=/bin/sh /usr/local/lib/djdd-acc/boot-probe.sh

[Install]
WantedBy=multi-user.target
UNIT
rm -f /var/lib/acc-boot-probe.log
systemctl enable -q acc-boot-probe.service'
reboot_container
probe="$(in_ct cat /var/lib/acc-boot-probe.log 2>/dev/null || true)"
lines="$(printf '%s\n' "$probe" | grep -c . || true)"
[ "$lines" = 40 ] || fail "the boot probe wrote $lines of 40 lines: $probe"
bad="$(printf '%s\n' "$probe" | grep -v '^200 [0-9.]* release v3$' || true)"
[ -z "$bad" ] || fail "after the reboot, requests to blue as soon as nginx was up were not all answered 200 by v3: $(echo $bad)"
acc_log "after the reboot, the first request to blue took $(printf '%s\n' "$probe" | head -n1 | cut -d' ' -f2) s (gunicorn booting behind its socket), the 40 took $(printf '%s\n' "$probe" | awk '{ t += $2 } END { print t }') s"
in_ct systemctl disable -q acc-boot-probe.service
failed_units="$(in_ct systemctl --failed --plain --no-legend 'demo-*' 'nginx*' 'postgresql*' 'rabbitmq*' 2>/dev/null || true)"
[ -z "$failed_units" ] || fail "units failed during the reboot: $failed_units"
assert_unit_active demo-blue.socket demo-blue.service demo-blue-celery.service
assert_unit_inactive demo-blue-next.service
assert_upstream_main "the reboot"
status="$(in_ct demo-blue status 2>&1)" || fail "demo-blue status fails after the reboot: $status"
acc_log "scenario 12 passed"
