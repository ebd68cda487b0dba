#!/usr/bin/env bash
# Scenario 11 (issue 7, 2): two variants. red (red.example.org, celery,
# migrate) installed beside blue: a different domain, user, database,
# RabbitMQ vhost and secrets; both serve their own data; removing red
# leaves blue serving.
# acc-container: site
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/site.sh"

boot_container site
djdd_setup

step "blue v1 and red v1 installed"
ensure_site blue v1
ensure_site red v1
assert_eq ii "$(ct_pkg_status demo-site-red)" "dpkg status of demo-site-red"
assert_eq ii "$(ct_pkg_status demo-site-blue)" "dpkg status of demo-site-blue"
assert_unit_active demo-red.socket demo-red.service demo-red-celery.service \
    demo-blue.socket demo-blue.service demo-blue-celery.service
in_ct demo-red status >/dev/null || fail "demo-red status: $(in_ct demo-red status 2>&1)"

step "both serve, each its own data"
assert_http 200 http://127.0.0.1/ blue.example.org
assert_contains "$HTTP_BODY" "release v1" "blue's home page"
assert_http 200 http://127.0.0.1/ red.example.org
assert_contains "$HTTP_BODY" "release v1" "red's home page"
tag="only-on-red-$RANDOM$RANDOM"
code="$(in_ct curl -sS -o /dev/null -w '%{http_code}' -H 'Host: red.example.org' -F "text=$tag" http://127.0.0.1/notes/ 2>&1 || true)"
assert_eq 302 "$code" "POST /notes/ on red"
assert_http 200 http://127.0.0.1/ red.example.org
assert_contains "$HTTP_BODY" "$tag" "red's home page after the note"
assert_http 200 http://127.0.0.1/ blue.example.org
assert_not_contains "$HTTP_BODY" "$tag" "blue's home page (the note was posted to red)"
assert_eq 1 "$(ct_psql "select count(*) from notes_note where text = '$tag'" demo-red)" "the note in database demo-red"
assert_eq 0 "$(ct_psql "select count(*) from notes_note where text = '$tag'" demo-blue)" "the note in database demo-blue"

step "different users, databases, vhosts and secrets"
uid_blue="$(in_ct id -u demo-blue)" || fail "no user demo-blue"
uid_red="$(in_ct id -u demo-red)" || fail "no user demo-red"
[ "$uid_blue" != "$uid_red" ] || fail "demo-blue and demo-red have the same uid $uid_blue"
assert_eq "demo-blue" "$(in_ct systemctl show -P User demo-blue.service)" "User= of demo-blue.service"
assert_eq "demo-red" "$(in_ct systemctl show -P User demo-red.service)" "User= of demo-red.service"
assert_eq "demo-red" "$(in_ct ps -o user= -p "$(in_ct systemctl show -P MainPID demo-red.service)" | tr -d ' ')" \
    "owner of red's gunicorn process"
assert_eq "demo-blue
demo-red" "$(ct_psql "select datname from pg_database where datname like 'demo-%' order by 1")" "databases"
assert_eq "demo-red" "$(ct_psql "select pg_get_userbyid(datdba) from pg_database where datname = 'demo-red'")" "owner of database demo-red"
vhosts="$(in_ct rabbitmqctl -q list_vhosts 2>&1)"
assert_contains "$vhosts" "demo-blue" "RabbitMQ vhosts"
assert_contains "$vhosts" "demo-red" "RabbitMQ vhosts"
secret() { in_ct sed -n "s/^$2=//p" "/etc/demo-site/$1/secrets.env"; }
for key in SECRET_KEY DATABASE_URL CELERY_BROKER_URL; do
    b="$(secret blue "$key")" r="$(secret red "$key")"
    [ -n "$b" ] && [ -n "$r" ] || fail "$key missing in a secrets.env (blue: '${b:+set}', red: '${r:+set}')"
    [ "$b" != "$r" ] || fail "$key is the same in blue's and red's secrets.env"
done
assert_eq "root:demo-red 640" "$(in_ct stat -c '%U:%G %a' /etc/demo-site/red/secrets.env)" "owner and mode of red's secrets.env"
# The red user cannot read blue's secrets.
if in_ct runuser -u demo-red -- cat /etc/demo-site/blue/secrets.env >/dev/null 2>&1; then
    fail "demo-red can read /etc/demo-site/blue/secrets.env"
fi

step "systemd-analyze security: each unit of both sites <= 2.0 (issue 19)"
assert_unit_scores 2.0 demo-blue.service demo-blue-celery.service demo-red.service demo-red-celery.service

step "removing red leaves blue serving"
ct_apt remove demo-site-red || fail "apt-get remove demo-site-red failed: $APT_OUT"
assert_eq rc "$(ct_pkg_status demo-site-red)" "dpkg status of demo-site-red after remove"
for u in demo-red.service demo-red.socket demo-red-celery.service; do
    s="$(in_ct systemctl is-active "$u" 2>&1 || true)"
    [ "$s" != active ] || fail "$u is still active after removing demo-site-red"
done
http_get http://127.0.0.1/ red.example.org
assert_not_contains "$HTTP_BODY" "release v1" "answer for red.example.org after removing red"
assert_unit_active demo-blue.socket demo-blue.service demo-blue-celery.service
assert_http 200 http://127.0.0.1/ blue.example.org
assert_contains "$HTTP_BODY" "release v1" "blue's home page after removing red"
assert_http 200 http://127.0.0.1/static/notes/style.css blue.example.org
acc_log "scenario 11 passed"
