#!/usr/bin/env bash
# Scenario 14 (issue 7, 5): offline/online, restart, reload. `demo-blue
# offline` gives the 503 maintenance page on every path but the static
# files; `online` gives 200 again; `restart` and `reload` under a load loop
# (1,000 requests over at least 10 s) lose no request.
# Issue 29: `logrotate -f` with the package's /etc/logrotate.d file rotates
# the project's log (LOG_DIR/demo.log) and the next request writes to the
# new file; `man demo-blue` lists the subcommands.
# acc-container: site
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/site.sh"

boot_container site
djdd_setup

step "blue installed and serving"
[ "$(ct_pkg_status demo-site-blue)" = ii ] || ensure_site blue v1
assert_http 200 http://127.0.0.1/ blue.example.org
release="$(printf '%s\n' "$HTTP_BODY" | sed -n 's/.*release \(v[0-9]*\).*/\1/p' | head -n1)"
[ -n "$release" ] || fail "blue's home page shows no release: $HTTP_BODY"
# A file in media to check that media is offline too.
in_ct_sh 'install -d -o demo-blue /var/lib/demo-site/blue/media/acc && echo media-file > /var/lib/demo-site/blue/media/acc/m.txt'
assert_http 200 http://127.0.0.1/media/acc/m.txt blue.example.org

step "offline: 503 maintenance page everywhere but the static files"
on_exit "in_ct demo-blue online >/dev/null 2>&1 || true"
out="$(in_ct demo-blue offline 2>&1)" || fail "demo-blue offline failed: $out"
st="$(in_ct demo-blue status 2>&1 || true)"
assert_contains "$st" "OFFLINE" "demo-blue status while offline"
for path in / /health/ /tasks/ /notes/ /no/such/page /media/acc/m.txt /admin/; do
    assert_http 503 "http://127.0.0.1$path" blue.example.org
    assert_contains "$HTTP_BODY" "Down for maintenance" "maintenance page for $path"
done
code="$(in_ct curl -sS -o /dev/null -w '%{http_code}' -H 'Host: blue.example.org' -F text=while-offline http://127.0.0.1/notes/ 2>&1 || true)"
assert_eq 503 "$code" "POST /notes/ while offline"
assert_http 200 http://127.0.0.1/static/notes/style.css blue.example.org
code="$(in_ct curl -sS -o /dev/null -w '%{http_code}' -H 'Host: blue.example.org' http://127.0.0.1/static/notes/logo.png 2>&1 || true)"
assert_eq 200 "$code" "GET /static/notes/logo.png while offline"
assert_unit_active demo-blue.service demo-blue.socket

step "online: 200 again"
out="$(in_ct demo-blue online 2>&1)" || fail "demo-blue online failed: $out"
assert_http 200 http://127.0.0.1/ blue.example.org
assert_contains "$HTTP_BODY" "release $release" "home page after online"
assert_http 200 http://127.0.0.1/media/acc/m.txt blue.example.org
assert_contains "$(in_ct demo-blue status 2>&1 || true)" "mode: online" "demo-blue status after online"

step "restart and reload under load"
pid_before="$(in_ct systemctl show -P MainPID demo-blue.service)"
load_start rr blue.example.org http://127.0.0.1/ 1000 10
sleep 2
in_ct demo-blue restart || fail "demo-blue restart failed"
pid_after="$(in_ct systemctl show -P MainPID demo-blue.service)"
[ "$pid_after" != "$pid_before" ] && [ "$pid_after" != 0 ] || fail "demo-blue restart did not restart gunicorn (MainPID $pid_before -> $pid_after)"
sleep 3
in_ct demo-blue reload || fail "demo-blue reload failed"
sleep 3
in_ct demo-blue restart || fail "demo-blue restart (second) failed"
sleep 2
load_stop rr
assert_load 1000 10 "$release"
acc_log "restart/reload: $LOAD_TOTAL requests in $LOAD_SECONDS s, $LOAD_FAILED failed, worst latency $LOAD_WORST s"
assert_unit_active demo-blue.socket demo-blue.service demo-blue-celery.service

step "logrotate: the project's log rotates, the next request writes to the new file"
# A 404 is logged by django.request (WARNING) to LOG_DIR/demo.log.
probe="acc-rotate-$RANDOM$RANDOM"
http_get "http://127.0.0.1/$probe-before/" blue.example.org
assert_eq 404 "$HTTP_STATUS" "GET /$probe-before/"
wait_for "demo.log has /$probe-before/" 10 in_ct grep -q "$probe-before" /var/log/demo-site/blue/demo.log
assert_eq "root root 644" "$(in_ct stat -c '%U %G %a' /etc/logrotate.d/demo-site-blue)" "the logrotate file's owner and mode"
assert_contains "$(in_ct cat /var/lib/dpkg/info/demo-site-blue.conffiles)" "/etc/logrotate.d/demo-site-blue" "demo-site-blue's conffiles"
out="$(in_ct logrotate -f /etc/logrotate.d/demo-site-blue 2>&1)" || fail "logrotate -f failed: $out"
in_ct grep -q "$probe-before" /var/log/demo-site/blue/demo.log.1 ||
    fail "demo.log.1 lacks the line logged before the rotation: $(in_ct ls -la /var/log/demo-site/blue/ 2>&1)"
in_ct grep -q "$probe-before" /var/log/demo-site/blue/demo.log && fail "demo.log still holds the line logged before the rotation"
http_get "http://127.0.0.1/$probe-after/" blue.example.org
wait_for "demo.log has /$probe-after/" 10 in_ct grep -q "$probe-after" /var/log/demo-site/blue/demo.log
in_ct grep -q "$probe-after" /var/log/demo-site/blue/demo.log.1 && fail "the line logged after the rotation went to demo.log.1"

step "man demo-blue lists the subcommands"
man="$(in_ct env MANPAGER=cat MANWIDTH=100 man demo-blue 2>&1)" || fail "man demo-blue failed: $man"
for c in status logs "start, stop" restart reload switch timers scale "offline, online" "tls status" version rollback "secrets list" manage shell; do
    grep -Eq "^ +$c( |\$|,)" <<<"$man" || fail "man demo-blue does not list '$c': $man"
done
assert_contains "$man" "EXIT STATUS" "man demo-blue"
acc_log "scenario 14 passed"
