#!/usr/bin/env bash
# Scenario 21 (issue 19): hardened units and isolated tenants. blue and red
# (both with celery, RabbitMQ) on one host:
#   - `systemd-analyze security` scores every unit of both sites <= 2.0
#     (each score printed), and the check fails for a unit whose sandbox
#     a drop-in weakens;
#   - uploads and logs are not readable by others: media is
#     demo-blue:www-data 2750, an upload 0640 in group www-data, served by
#     nginx; the log file 0640; a file written in the sandbox (UMask 0027)
#     is not world-readable;
#   - as red's user, and inside red's service sandbox (systemd-run with
#     the properties of demo-red.service), every read of blue's media,
#     logs, secrets, state, releases and source link fails, and blue's
#     gunicorn socket, database and RabbitMQ vhost refuse red, while red
#     reaches its own (so the refusals are not a broken client);
#   - postinst configure corrects what an older djdd made (0755 state,
#     releases and media, 0644 uploads in the site's group, directories
#     without setgid) and follows no symlink planted in media;
#   - blue still serves its own upload through nginx.
# acc-container: site
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/site.sh"

boot_container site
djdd_setup

step "blue v1 and red v1 installed"
ensure_site blue v1
ensure_site red v1
assert_unit_active demo-blue.service demo-blue-celery.service demo-red.service demo-red-celery.service

step "systemd-analyze security: every unit of both sites <= 2.0"
assert_unit_scores 2.0 demo-blue.service demo-blue-celery.service demo-red.service demo-red-celery.service

step "the score check fails for a unit whose sandbox is weakened"
in_ct_sh 'mkdir -p /run/systemd/system/demo-blue.service.d && printf "[Service]\nSystemCallFilter=\nSystemCallArchitectures=\nMemoryDenyWriteExecute=no\nProtectProc=default\nProcSubset=all\nLockPersonality=no\nPrivateDevices=no\nProtectSystem=no\nProtectHome=no\nRestrictNamespaces=no\nProtectKernelTunables=no\nProtectKernelModules=no\nPrivateTmp=no\nRestrictAddressFamilies=\n" > /run/systemd/system/demo-blue.service.d/weak.conf && systemctl daemon-reload'
weak="$(unit_exposure demo-blue.service)"
rc=0
(assert_unit_scores 2.0 demo-blue.service) 2>/dev/null || rc=$?
in_ct_sh 'rm -r /run/systemd/system/demo-blue.service.d && systemctl daemon-reload'
acc_log "demo-blue.service with the weakening drop-in: $weak"
[ "$rc" != 0 ] || fail "assert_unit_scores passed a weakened unit (score $weak)"
assert_unit_scores 2.0 demo-blue.service

step "an upload to blue, served by nginx"
in_ct_sh 'printf "blue private upload %s\n" "$(date +%s%N)" > /tmp/acc-private.txt'
upload="$(in_ct cat /tmp/acc-private.txt)"
code="$(in_ct curl -sS -o /dev/null -w '%{http_code}' -H 'Host: blue.example.org' \
    -F text=scenario-21 -F attachment=@/tmp/acc-private.txt http://127.0.0.1/notes/ 2>&1 || true)"
assert_eq 302 "$code" "POST /notes/ with an upload on blue"
stored="$(in_ct find /var/lib/demo-site/blue/media/uploads -type f -name 'acc-private*.txt' | head -n1)"
[ -n "$stored" ] || fail "no uploaded file in blue's media: $(in_ct find /var/lib/demo-site/blue/media 2>&1)"
assert_http 200 "http://127.0.0.1/media/${stored#/var/lib/demo-site/blue/media/}" blue.example.org
assert_eq "$upload" "$HTTP_BODY" "blue's upload served by nginx"
log="$(in_ct sh -c 'ls /var/log/demo-site/blue/*.log | head -n1')" || true
[ -n "$log" ] || fail "blue wrote no log file in LOG_DIR: $(in_ct ls -la /var/log/demo-site/blue 2>&1)"

# What red must not reach of blue's, as one shell script: each probe that
# succeeds prints "LEAK: what"; "probes done" at the end shows it ran
# through. $1 is the uploaded file, $2 blue's log, $3 red's password in
# the database, $4 red's RabbitMQ password.
# shellcheck disable=SC2016
probes='
leak() { echo "LEAK: $*"; }
for f in "$1" "$2" /etc/demo-site/blue/secrets.env /etc/demo-site/blue/local.env \
    /var/lib/demo-site/blue/current/site.env /srv/demo-site/blue/src/manage.py \
    /srv/demo-site/blue/logs/demo.log /srv/demo-site/blue/config/secrets.env; do
    if cat "$f" >/dev/null 2>&1; then leak "read $f"; fi
done
for d in /var/lib/demo-site/blue /var/lib/demo-site/blue/media /var/lib/demo-site/blue/media/uploads \
    /var/lib/demo-site/blue/releases /var/lib/demo-site/blue/data /var/log/demo-site/blue \
    /etc/demo-site/blue /srv/demo-site/blue/src/ /run/demo-blue/gunicorn; do
    if ls "$d" >/dev/null 2>&1; then leak "listed $d"; fi
done
if curl -sS -o /dev/null --max-time 5 --unix-socket /run/demo-blue/gunicorn.sock -H "Host: blue.example.org" http://localhost/ 2>/dev/null; then
    leak "connected to blue gunicorn socket"
fi
curl -sS -o /dev/null --max-time 5 --unix-socket /run/demo-red/gunicorn.sock -H "Host: red.example.org" http://localhost/ 2>/dev/null &&
    leak "connected to red own gunicorn socket (only nginx may)"
if PGPASSWORD=$3 psql -X -q -h 127.0.0.1 -U demo-red -d demo-blue -c "select 1" >/dev/null 2>&1; then
    leak "connected to database demo-blue with red password"
fi
PGPASSWORD=$3 psql -X -qtA -h 127.0.0.1 -U demo-red -d demo-red -c "select 1" 2>&1 | grep -qx 1 ||
    echo "BROKEN: red cannot reach its own database"
py=/var/lib/demo-site/red/current/env/bin/python
amqp() { "$py" -c "import kombu, sys; kombu.Connection(sys.argv[1], connect_timeout=5).connect()" "$1" >/dev/null 2>&1; }
if amqp "amqp://demo-red:$4@127.0.0.1:5672/demo-blue"; then leak "opened RabbitMQ vhost demo-blue"; fi
amqp "amqp://demo-red:$4@127.0.0.1:5672/demo-red" || echo "BROKEN: red cannot open its own vhost"
echo "probes done"
'
red_db_pw="$(in_ct sed -n 's/^DATABASE_PASSWORD="\(.*\)"$/\1/p' /etc/demo-site/red/secrets.env)"
red_mq_pw="$(in_ct sed -n 's/^BROKER_PASSWORD="\(.*\)"$/\1/p' /etc/demo-site/red/secrets.env)"
if [ -z "$red_db_pw" ] || [ -z "$red_mq_pw" ]; then
    fail "no DATABASE_PASSWORD or BROKER_PASSWORD in red's secrets.env"
fi

# check_probes OUTPUT WHERE: the probes ran to the end, found no leak, and
# red's own services answered.
check_probes() {
    printf '%s\n' "$1" >&2
    assert_contains "$1" "probes done" "the probes $2"
    assert_not_contains "$1" "LEAK:" "the probes $2"
    assert_not_contains "$1" "BROKEN:" "the probes $2"
}

step "as red's user: blue's data unreadable, blue's services refuse red"
out="$(in_ct runuser -u demo-red -- bash -c "$probes" probes "$stored" "$log" "$red_db_pw" "$red_mq_pw" 2>&1)"
check_probes "$out" "as demo-red"
# Peer authentication over PostgreSQL's socket: red's role exists, but
# only blue's role may connect to blue's database.
out="$(in_ct runuser -u demo-red -- psql -X -q -d demo-blue -c 'select 1' 2>&1 || true)"
assert_contains "$out" "permission denied for database" "psql -d demo-blue as demo-red (peer)"
out="$(in_ct runuser -u demo-red -- psql -X -qtA -d demo-red -c 'select 1' 2>&1 || true)"
assert_eq 1 "$out" "psql -d demo-red as demo-red (peer)"

step "inside red's service sandbox (systemd-run with demo-red.service's properties)"
assert_contains "$(ct_sandbox_of demo-red.service | tr '\n' ' ')" "-p User=demo-red -p Group=demo-red" "red's sandbox"
out="$(in_sandbox_of demo-red.service bash -c "$probes" probes "$stored" "$log" "$red_db_pw" "$red_mq_pw" 2>&1)" || true
check_probes "$out" "in red's sandbox"
out="$(in_sandbox_of demo-red.service sh -c 'id -un; cat /proc/1/cmdline >/dev/null 2>&1 && echo "pid 1 visible"; touch /usr/lib/demo-site/red/x 2>/dev/null && echo "wrote /usr"; echo ok' 2>&1)" || true
assert_eq "demo-red
ok" "$out" "red's sandbox: its user, no other process visible, /usr read-only"

step "the sandbox's network: name resolution works without AF_NETLINK, a netlink socket is refused"
# glibc's getaddrinfo asks netlink which families are configured
# (AI_ADDRCONFIG) and falls back when it may not: no --allow needed.
# shellcheck disable=SC2016
out="$(in_sandbox_of demo-blue.service /usr/bin/python3 -c '
import errno, socket
print(sorted({a[4][0] for a in socket.getaddrinfo("localhost", 80, flags=socket.AI_ADDRCONFIG)}))
try:
    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    print("netlink open")
except OSError as e:
    print("netlink refused:", errno.errorcode[e.errno])
' 2>&1)" || fail "python in blue's sandbox failed: $out"
assert_contains "$out" "127.0.0.1" "getaddrinfo(localhost, AI_ADDRCONFIG) in blue's sandbox"
assert_contains "$out" "netlink refused: EAFNOSUPPORT" "socket(AF_NETLINK) in blue's sandbox"

step "what blue writes: media www-data 2750, upload and log 0640, UMask 0027 in the sandbox"
assert_eq "demo-blue:www-data 2750" "$(in_ct stat -c '%U:%G %a' /var/lib/demo-site/blue/media)" "owner and mode of blue's media"
assert_eq "demo-blue:www-data 640" "$(in_ct stat -c '%U:%G %a' "$stored")" "owner and mode of blue's upload"
assert_eq "www-data 2750" "$(in_ct stat -c '%G %a' "$(dirname "$stored")")" "group and mode of the upload's directory"
assert_eq "root:root 711" "$(in_ct stat -c '%U:%G %a' /var/lib/demo-site/blue)" "blue's state directory"
assert_eq "root:demo-blue 750" "$(in_ct stat -c '%U:%G %a' /var/lib/demo-site/blue/releases)" "blue's releases"
assert_eq "demo-blue 640" "$(in_ct stat -c '%U %a' "$log")" "owner and mode of blue's log $log"
out="$(in_sandbox_of demo-blue.service sh -c 'echo x > "$LOG_DIR/sandbox-probe" && stat -c %a "$LOG_DIR/sandbox-probe" && rm "$LOG_DIR/sandbox-probe"' 2>&1)" ||
    fail "writing to LOG_DIR in blue's sandbox failed: $out"
assert_eq 640 "$out" "mode of a file written in blue's sandbox (UMask=0027)"

step "configure corrects what an older version made"
# As djdd before issue 19 left them: state and releases 0755, media 0755
# in the site's group, an upload 0644 in a directory without the setgid
# bit; and a symlink in media to a file of root's, which the fix must not
# follow.
# shellcheck disable=SC2016
in_ct_sh '
m=/var/lib/demo-site/blue/media
runuser -u demo-blue -- sh -c "umask 022 && mkdir -p $m/old/sub && echo old-upload > $m/old/sub/f.txt &&
    chgrp demo-blue $m/old $m/old/sub $m/old/sub/f.txt && chmod 0755 $m/old $m/old/sub && chmod 0644 $m/old/sub/f.txt &&
    ln -s /etc/hostname $m/old/link"
chmod 0755 /var/lib/demo-site/blue /var/lib/demo-site/blue/releases $m
chgrp root /var/lib/demo-site/blue/releases
chgrp demo-blue $m'
hostname_before="$(in_ct stat -c '%U:%G %a' /etc/hostname)"
assert_eq "demo-blue:demo-blue 644" "$(in_ct stat -c '%U:%G %a' /var/lib/demo-site/blue/media/old/sub/f.txt)" "the old upload before configure"
in_ct /var/lib/dpkg/info/demo-site-blue.postinst configure "$(site_version blue)" >"$CT_DIR/postinst-fix.log" 2>&1 ||
    fail "postinst configure failed: $(cat "$CT_DIR/postinst-fix.log")"
assert_eq "root:root 711" "$(in_ct stat -c '%U:%G %a' /var/lib/demo-site/blue)" "blue's state directory after configure"
assert_eq "root:demo-blue 750" "$(in_ct stat -c '%U:%G %a' /var/lib/demo-site/blue/releases)" "blue's releases after configure"
assert_eq "demo-blue:www-data 2750" "$(in_ct stat -c '%U:%G %a' /var/lib/demo-site/blue/media)" "blue's media after configure"
for d in old old/sub; do
    assert_eq "demo-blue:www-data 2750" "$(in_ct stat -c '%U:%G %a' "/var/lib/demo-site/blue/media/$d")" "media/$d after configure"
done
assert_eq "demo-blue:www-data 640" "$(in_ct stat -c '%U:%G %a' /var/lib/demo-site/blue/media/old/sub/f.txt)" "the old upload after configure"
assert_eq "$hostname_before" "$(in_ct stat -c '%U:%G %a' /etc/hostname)" "/etc/hostname (a symlink in media points to it)"
in_ct test -L /var/lib/demo-site/blue/media/old/link || fail "configure replaced the symlink in media"
assert_http 200 http://127.0.0.1/media/old/sub/f.txt blue.example.org
assert_eq old-upload "$HTTP_BODY" "the old upload served by nginx"
if in_ct runuser -u demo-red -- cat /var/lib/demo-site/blue/media/old/sub/f.txt >/dev/null 2>&1; then
    fail "demo-red reads blue's old upload after configure"
fi

step "blue still serves its own upload and pages; red its own"
assert_http 200 "http://127.0.0.1/media/${stored#/var/lib/demo-site/blue/media/}" blue.example.org
assert_eq "$upload" "$HTTP_BODY" "blue's upload after the probes"
assert_http 200 http://127.0.0.1/ blue.example.org
assert_http 200 http://127.0.0.1/ red.example.org
assert_http 404 "http://127.0.0.1/media/${stored#/var/lib/demo-site/blue/media/}" red.example.org
acc_log "scenario 21 passed"
