#!/usr/bin/env bash
# Scenario 10 (issue 7, 1): install. djdd builds the demo fixture's v1 for
# variant blue (with celery) and publishes it (signed); `apt-get install
# demo-site-blue` from that repository gives active units, a `demo-blue
# status` that says so, and through nginx (Host: blue.example.org): a home
# page read from and written to PostgreSQL, static files served by nginx
# itself, an upload stored in media and served back, and a celery task's
# result.
# acc-container: site
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/site.sh"

boot_container site
djdd_setup

step "build v1, publish, apt-get install demo-site-blue"
ensure_site blue v1
assert_eq ii "$(ct_pkg_status demo-site-blue)" "dpkg status of demo-site-blue"
v1_short="$(git -C "$ACC_FIXTURE" rev-parse 'v1^{commit}' | cut -c1-12)"
assert_contains "$(site_version blue)" "+g$v1_short" "installed version of demo-site-blue (commit of v1)"

step "units and the control utility"
assert_unit_active demo-blue.socket demo-blue.service demo-blue-celery.service nginx.service
rc=0
status="$(in_ct demo-blue status 2>&1)" || rc=$?
printf '%s\n' "$status" >&2
assert_eq 0 "$rc" "exit status of 'demo-blue status'"
assert_contains "$status" "mode: online" "demo-blue status"
for u in demo-blue.socket demo-blue.service demo-blue-celery.service nginx.service; do
    grep -Eq "^ +$u +active\$" <<<"$status" || fail "demo-blue status does not say $u is active: $status"
done
assert_contains "$(in_ct demo-blue version)" "$v1_short" "demo-blue version"

step "the home page through nginx, with data in PostgreSQL"
assert_http 200 http://127.0.0.1/ blue.example.org
assert_contains "$HTTP_BODY" "release v1" "home page of blue"
v1="$(home_visits blue)"
v2="$(home_visits blue)"
[ -n "$v1" ] && [ -n "$v2" ] || fail "the home page shows no visit count: $HTTP_BODY"
[ "$v2" -gt "$v1" ] || fail "visit count did not increase: $v1 then $v2"
db_visits="$(ct_psql 'select count(*) from notes_visit' demo-blue)"
[ "$db_visits" -ge "$v2" ] || fail "PostgreSQL database demo-blue has $db_visits visits, the page showed $v2"
assert_eq demo-blue "$(ct_psql "select tableowner from pg_tables where tablename = 'notes_visit'" demo-blue)" \
    "owner of notes_visit in database demo-blue"
# Another host name is refused (ALLOWED_HOSTS / nginx server_name).
http_get http://127.0.0.1/ other.example.org
assert_not_contains "$HTTP_BODY" "release v1" "answer for an unknown Host"

step "static files come from nginx, not gunicorn"
assert_http 200 http://127.0.0.1/static/notes/style.css blue.example.org
css="$HTTP_BODY"
assert_eq "$(cat "$ACC_SRC_ROOT/fixtures/demo/notes/static/notes/style.css")" "$css" "style.css served"
in_ct demo-blue stop || fail "demo-blue stop failed"
state="$(in_ct systemctl is-active demo-blue.service demo-blue.socket 2>&1 | tr '\n' ' ' || true)"
assert_contains "$state" "inactive inactive" "demo-blue.service and .socket after 'demo-blue stop'"
assert_http 200 http://127.0.0.1/static/notes/style.css blue.example.org
assert_eq "$css" "$HTTP_BODY" "style.css with gunicorn stopped"
http_get http://127.0.0.1/ blue.example.org
[ "$HTTP_STATUS" != 200 ] || fail "the home page answered 200 with gunicorn stopped: is it gunicorn at all?"
in_ct demo-blue start || fail "demo-blue start failed"
assert_unit_active demo-blue.socket demo-blue.service
assert_http 200 http://127.0.0.1/ blue.example.org

step "an upload lands in media and is served back"
in_ct_sh 'printf "upload from scenario 10 %s\n" "$(date +%s%N)" > /tmp/acc-upload.txt'
upload="$(in_ct cat /tmp/acc-upload.txt)"
code="$(in_ct curl -sS -o /dev/null -w '%{http_code}' -H 'Host: blue.example.org' \
    -F text=scenario-10 -F attachment=@/tmp/acc-upload.txt http://127.0.0.1/notes/ 2>&1 || true)"
assert_eq 302 "$code" "POST /notes/ with an attachment"
stored="$(in_ct find /var/lib/demo-site/blue/media/uploads -type f -name 'acc-upload*.txt' | head -n1)"
[ -n "$stored" ] || fail "no uploaded file under /var/lib/demo-site/blue/media/uploads: $(in_ct find /var/lib/demo-site/blue/media 2>&1)"
assert_eq demo-blue "$(in_ct stat -c %U "$stored")" "owner of $stored"
assert_http 200 http://127.0.0.1/ blue.example.org
assert_contains "$HTTP_BODY" "scenario-10" "home page lists the note"
assert_http 200 "http://127.0.0.1/media/${stored#/var/lib/demo-site/blue/media/}" blue.example.org
assert_eq "$upload" "$HTTP_BODY" "uploaded file served back from /media/"

step "a celery task's result appears"
x=$((RANDOM % 1000)) y=$((RANDOM % 1000))
code="$(in_ct curl -sS -o /dev/null -w '%{http_code}' -H 'Host: blue.example.org' \
    -d "x=$x" -d "y=$y" http://127.0.0.1/tasks/add/ 2>&1 || true)"
assert_eq 302 "$code" "POST /tasks/add/"
task_done() {
    http_get http://127.0.0.1/tasks/ blue.example.org
    [ "$HTTP_STATUS" = 200 ] && grep -qx "$x + $y = $((x + y))" <<<"$HTTP_BODY"
}
deadline=$((SECONDS + 60))
until task_done; do
    [ "$SECONDS" -lt "$deadline" ] || {
        ct_logs demo-blue-celery.service
        fail "no result '$x + $y = $((x + y))' on /tasks/ after 60 s: $HTTP_BODY"
    }
    sleep 1
done
acc_log "scenario 10 passed"
