#!/usr/bin/env bash
# Scenario 23 (issue 26): several hosts. Four booted containers on a
# bridge of the harness's own (multihost.sh: no uplink, no route off the
# machine, checked): db1 (PostgreSQL and Redis, on the test network,
# passwords required), app1 and app2 (the site, external database and
# Redis, the same uid from --uid, one media directory of the host
# bind-mounted into both at MEDIA_ROOT, standing in for NFS) and lb1
# (haproxy, health-checking each app host's site). Ansible is the engine:
# the host runs contrib/ansible's site.yml and rolling-upgrade.yml, and
# reaches the containers without ssh (community.docker.nsenter, PID 1 of
# each). The project is built here from fixtures/demo
# (tests/acceptance/multihost/README.md): v1, v2 (a data migration
# incrementing a counter), v3 (its health page fails).
#
# Under 8 concurrent clients through haproxy: rolling-upgrade.yml takes v1
# to v2 with no failed request, every request after it is answered by v2,
# and the data migration ran once (the counter reads 1); a login made on
# app1 is accepted by app2 (one SECRET_KEY), a file uploaded through app1
# is served by app2, the singleton process runs on app1 only (djdd_scale);
# v3 stops the rollout at app1: no failed request, app2 still serves v2,
# haproxy sends app1 nothing; powering app2 off loses no GET. Prints
# `rolling upgrade A -> B on N hosts: R requests, F failed, worst W s,
# steady p99 P s` and whether W <= 2P + 0.05 s (printed, not asserted).
#
# acc-suites: trixie
# Why one suite: it tests how the hosts work together (network, haproxy,
# the Ansible roles), not what differs between Debian releases, which
# scenarios 10-22 cover on each suite; four hosts cost minutes a suite.
# acc-quiet: it measures latency through haproxy during the rollout
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/multihost.sh"

ACC_SRC_ROOT="$(cd "$ACC_HERE/../.." && pwd)"
ANSIBLE_DIR="${ACC_ANSIBLE_DIR:-$ACC_SRC_ROOT/contrib/ansible}"
[ -f "$ANSIBLE_DIR/rolling-upgrade.yml" ] || fail "no Ansible playbooks in $ANSIBLE_DIR (contrib/ansible)"
acc_need_host_packages ansible
export LOAD_VERSION_RE='release (v[0-9]+)'
DOMAIN=fleet.example.org
VARIANT=fleet
SITE="demo-$VARIANT"
SITE_UID=950
WORK="$ACC_CTS/23-multi-host"
MEDIA_ROOT="/var/lib/demo-site/$VARIANT/media"
APPS=(app1 app2)

# ------------------------------------------------------------ hosts

step "network and hosts"
rm -rf --one-file-system "$WORK"
mkdir -p "$WORK/media" "$WORK/apt" "$WORK/inventory/group_vars" "$WORK/inventory/host_vars"
# Runs after the hosts are stopped (on_exit: last registered runs first).
on_exit "rm -rf --one-file-system '$WORK'"
mh_net_up
no_db="postgresql.service postgresql@.service"
mh_add db1 10 "" "postgresql redis-server" "nginx.service memcached.service rabbitmq-server.service"
for app in "${APPS[@]}"; do
    mh_add "$app" "$((10 + ${app#app}))" "--bind=$WORK/media:$MEDIA_ROOT --bind-ro=$WORK/apt:/srv/djdd-apt" \
        "nginx" "$no_db redis-server.service rabbitmq-server.service"
done
mh_add lb1 20 "" "" "$no_db redis-server.service rabbitmq-server.service nginx.service memcached.service"
mh_boot_all
# The hosts have no route to a Debian mirror: apt knows only the djdd
# repository (the roles' apt tasks update the cache of every source).
for h in "${MH_HOSTS[@]}"; do
    on "$h" in_ct rm -f /etc/apt/sources.list /etc/apt/sources.list.d/debian.sources
done

# ------------------------------------------------------------ the build

step "the project (v1, v2, v3) and djdd's build of v1"
(cd "$ACC_SRC_ROOT" && cargo build --quiet --bin djdd) || fail "cargo build of djdd failed"
DJDD="${CARGO_TARGET_DIR:-$ACC_SRC_ROOT/target}/debug/djdd"
export DJDD_DIR="$WORK/djdd"
on_exit "[ ! -d '$DJDD_DIR/gnupg' ] || gpgconf --homedir '$DJDD_DIR/gnupg' --kill gpg-agent 2>/dev/null || true"
mh_make_project "$WORK/project"
"$DJDD" init --suite "$ACC_SUITE" >"$WORK/init.log" 2>&1 || { tail -n 30 "$WORK/init.log" >&2; fail "djdd init failed"; }
seed_build_caches "$DJDD_DIR"
"$DJDD" src demo --clone "$WORK/project" >/dev/null || fail "djdd src demo failed"
vopts=(--domain "$DOMAIN" --migrate --external database --external redis --uid "$SITE_UID")
"$DJDD" variant demo "$VARIANT" "${vopts[@]}" || fail "djdd variant demo $VARIANT ${vopts[*]} failed"

build_publish() {
    local tag="$1" t0=$SECONDS
    "$DJDD" build demo "$VARIANT" --version "$tag" >"$WORK/build-$tag.log" 2>&1 || {
        tail -n 40 "$WORK/build-$tag.log" >&2
        fail "djdd build demo $VARIANT --version $tag failed (log above)"
    }
    "$DJDD" publish --init-key --repo "$WORK/apt/repo" >"$WORK/publish.log" 2>&1 || {
        cat "$WORK/publish.log" >&2
        fail "djdd publish failed"
    }
    [ -s "$WORK/apt/repo/dists/$ACC_SUITE/InRelease" ] || fail "djdd publish wrote no dists/$ACC_SUITE/InRelease"
    chmod -R a+rX "$WORK/apt"
    acc_log "djdd build + publish of $tag: $((SECONDS - t0)) s"
}
build_publish v1

# ------------------------------------------------------------ the inventory

step "inventory and secrets"
rand() { openssl rand -hex "$1"; }
DB_PASSWORD="$(rand 16)" REDIS_PASSWORD="$(rand 16)"
SECRET_KEY="$(rand 32)" FLEET_TOKEN="$(rand 12)"
DATABASE_URL="postgres://demo_fleet:$DB_PASSWORD@db1:5432/demo_fleet"
REDIS_URL="redis://:$REDIS_PASSWORD@db1:6379/0"
mh_inventory "$WORK/inventory/hosts" "db:db1" "app:app1,app2" "lb:lb1"
cat >"$WORK/inventory/group_vars/all.yml" <<EOF
djdd_name: demo
djdd_variant: $VARIANT
djdd_domain: $DOMAIN
djdd_health_path: /health/
djdd_health_retries: 30
djdd_health_delay: 1
djdd_lb_backend: demo_$VARIANT
djdd_lb_socket: /run/haproxy/admin.sock
# The hosts reach no mirror: everything is in the container base.
djdd_lb_install_package: false
djdd_db_install_packages: false
djdd_apt_url: file:/srv/djdd-apt/repo
djdd_apt_suite: $ACC_SUITE
djdd_apt_key_file: $WORK/apt/repo/KEY.asc
djdd_lb_check_inter: 1s
EOF
# The secrets in a vars file of their own (Vault's place in real life).
cat >"$WORK/inventory/group_vars/all-secrets.yml" <<EOF
djdd_secrets:
  SECRET_KEY: "$SECRET_KEY"
  DATABASE_URL: "$DATABASE_URL"
  REDIS_URL: "$REDIS_URL"
  FLEET_TOKEN: "$FLEET_TOKEN"
EOF
mkdir -p "$WORK/inventory/group_vars/all"
mv "$WORK/inventory/group_vars/all.yml" "$WORK/inventory/group_vars/all-secrets.yml" "$WORK/inventory/group_vars/all/"
chmod 0600 "$WORK/inventory/group_vars/all/all-secrets.yml"
printf 'djdd_scale:\n  singleton: 1\n' >"$WORK/inventory/host_vars/app1.yml"
printf 'djdd_scale:\n  singleton: 0\n' >"$WORK/inventory/host_vars/app2.yml"

# playbook NAME [ARGS...]: ansible-playbook from contrib/ansible (its
# ansible.cfg) with the scenario's inventory; output in $WORK/ansible-NAME.log
# (kept in the logs directory too).
PLAYBOOK_RUNS=0
playbook() {
    local pb="$1" log="$WORK/ansible-$1.log" rc=0
    shift
    PLAYBOOK_RUNS=$((PLAYBOOK_RUNS + 1))
    (cd "$ANSIBLE_DIR" && ANSIBLE_NOCOLOR=1 ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks ansible-playbook -i "$WORK/inventory" "$pb" "$@") >"$log" 2>&1 || rc=$?
    mkdir -p "$ACC_LOGS"
    cp "$log" "$ACC_LOGS/ansible-23-$PLAYBOOK_RUNS-$pb.log" 2>/dev/null || true
    return "$rc"
}

# playbook_failure NAME: what went wrong in its log (failed tasks, cut,
# and the recap), to stderr.
playbook_failure() {
    local log="$WORK/ansible-$1.log"
    if grep -qE '^(fatal|failed):' "$log"; then
        grep -E -B2 '^(fatal|failed):' "$log" | cut -c1-1500 >&2
        sed -n '/^PLAY RECAP/,$p' "$log" >&2
    else
        # Failed before any task (a missing file, a syntax error).
        tail -n 20 "$log" | cut -c1-1500 >&2
    fi
}

step "ansible-playbook site.yml (db1, then app1 and app2, then lb1)"
t0=$SECONDS
playbook site.yml || { playbook_failure site.yml; fail "ansible-playbook site.yml failed (log above)"; }
acc_log "site.yml: $((SECONDS - t0)) s; $(grep -E '^(db1|app1|app2|lb1) +:' "$WORK/ansible-site.yml.log" | tr -s ' ' | tr '\n' ';')"

# PostgreSQL and Redis listen on the test network and want a password.
on db1 wait_for "PostgreSQL on db1's address" 30 in_ct pg_isready -q -h db1
if on app1 in_ct env PGCONNECT_TIMEOUT=5 psql "postgres://demo_fleet:wrong@db1:5432/demo_fleet" -c 'select 1' >/dev/null 2>&1; then
    fail "PostgreSQL on db1 accepted a wrong password"
fi
assert_eq 1 "$(on app1 in_ct psql -tAq "$DATABASE_URL" -c 'select 1')" "app1's connection to db1's PostgreSQL with the site's password"

# http_on HOST URL: GET on HOST with the site's Host header (lb1 sends it).
http_on() { on lb1 http_get "http://$1$2" "$DOMAIN"; }
for app in "${APPS[@]}"; do
    http_on "$app" /fleet/info/
    assert_eq 200 "$HTTP_STATUS" "GET /fleet/info/ on $app: $HTTP_BODY"
    assert_contains "$HTTP_BODY" "host=$app release=v1" "/fleet/info/ on $app"
    want="$(printf '%s' "$FLEET_TOKEN" | sha256sum | cut -c1-16)"
    assert_contains "$HTTP_BODY" "token=$want" "/fleet/info/ on $app (the declared secret FLEET_TOKEN, set through the role)"
    http_on "$app" /fleet/redis/
    assert_eq 200 "$HTTP_STATUS" "GET /fleet/redis/ on $app (the external Redis): $HTTP_BODY"
    # The same uid on every host (--uid), so the shared media is theirs.
    assert_eq "$SITE_UID" "$(on "$app" in_ct id -u "$SITE")" "uid of $SITE on $app"
    # External: site.env carries none of their variables (secrets.env does).
    assert_eq "" "$(on "$app" in_ct sh -c "grep -E '^(DATABASE_URL|REDIS_URL)=' /usr/lib/demo-site/$VARIANT/site.env || true")" \
        "DATABASE_URL or REDIS_URL in site.env on $app"
done
assert_eq "$(stat -c %u "$WORK/media")" "$(on app1 in_ct id -u "$SITE")" "owner of the shared media directory"

http_on lb1 /
assert_eq 200 "$HTTP_STATUS" "GET / through haproxy"
assert_contains "$HTTP_BODY" "release v1" "the home page through haproxy"

# haproxy_stat SERVER FIELD: a field of lb1's `show stat` for the site's
# backend (status: UP, DOWN, DRAIN, MAINT; stot: sessions so far).
haproxy_stat() {
    on lb1 in_ct python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect("/run/haproxy/admin.sock"); s.sendall(b"show stat\n")
data = b""
while True:
    c = s.recv(65536)
    if not c: break
    data += c
lines = data.decode().splitlines()
head = lines[0].lstrip("# ").split(",")
for l in lines[1:]:
    r = dict(zip(head, l.split(",")))
    if r.get("pxname") == sys.argv[1] and r.get("svname") == sys.argv[2]:
        print(r[sys.argv[3]]); sys.exit(0)
sys.exit("not in show stat: %s/%s" % (sys.argv[1], sys.argv[2]))' "demo_$VARIANT" "$1" "$2"
}
# wait_haproxy SERVER STATUS SECONDS: until lb1's haproxy says so.
wait_haproxy() {
    local deadline=$((SECONDS + $3)) st=""
    while [ "$SECONDS" -lt "$deadline" ]; do
        st="$(haproxy_stat "$1" status 2>/dev/null || true)"
        [ "$st" != "$2" ] || return 0
        sleep 0.5
    done
    fail "haproxy on lb1: $1 is '$st' after $3 s, expected $2"
}
for app in "${APPS[@]}"; do wait_haproxy "$app" UP 30; done

# ------------------------------------------------------------ rolling upgrade v1 -> v2

LOAD_CLIENTS=8
step "v2, and rolling-upgrade.yml under load through haproxy"
build_publish v2
# Every gunicorn worker's first request opens its database connection:
# not the steady state.
on lb1 in_ct_sh 'for i in $(seq 60); do curl -sS -o /dev/null -H "Host: $1" http://127.0.0.1/; done' "$DOMAIN"
on lb1 load_start roll-v2 "$DOMAIN" http://127.0.0.1/ 1000 10
sleep 5
on lb1 load_mark roll-v2
t0=$SECONDS rc=0
playbook rolling-upgrade.yml || rc=$?
end_wall="$(date +%s.%N)"
acc_log "rolling-upgrade.yml v1 -> v2: $((SECONDS - t0)) s, exit $rc"
sleep 3
on lb1 load_stop roll-v2
[ "$rc" = 0 ] || { playbook_failure rolling-upgrade.yml; fail "rolling-upgrade.yml v1 -> v2 failed (log above)"; }
ROLL_LINE="rolling upgrade v1 -> v2 on ${#APPS[@]} hosts: $LOAD_TOTAL requests, $LOAD_FAILED failed, worst $LOAD_UPGRADE_WORST s, steady p99 $LOAD_P99 s"
acc_log "$ROLL_LINE"
printf '%s\n' "$ROLL_LINE"
if awk -v w="$LOAD_UPGRADE_WORST" -v p="$LOAD_P99" 'BEGIN { exit !(w <= 2 * p + 0.05) }'; then
    acc_log "  goal met: worst $LOAD_UPGRADE_WORST s <= 2 x p99 + 0.05 s"
else
    acc_log "  goal missed on this run: worst $LOAD_UPGRADE_WORST s > 2 x p99 + 0.05 s"
fi
[ "$LOAD_FAILED" = 0 ] || fail "$ROLL_LINE: requests failed"
assert_eq "v1 -> v2" "$LOAD_VERSIONS" "releases served through haproxy during the rolling upgrade"
late="$(awk -F '\t' -v t="$end_wall" '$8 + 0 > t + 0 && $5 != "v2"' "$LOAD_LOG" | wc -l)"
after="$(awk -F '\t' -v t="$end_wall" '$8 + 0 > t + 0' "$LOAD_LOG" | wc -l)"
[ "$after" -gt 0 ] || fail "no request started after the rolling upgrade ended"
assert_eq 0 "$late" "requests started after the rolling upgrade not answered by v2 (of $after)"

step "after the upgrade: the migration once, one session key, one media, one singleton"
http_on app2 /fleet/counter/
assert_eq "counter=1" "$HTTP_BODY" "the counter v2's data migration increments (it ran once for both hosts)"
for app in "${APPS[@]}"; do
    http_on "$app" /fleet/info/
    assert_contains "$HTTP_BODY" "host=$app release=v2" "/fleet/info/ on $app after the rolling upgrade"
done

# A login made on app1 is accepted by app2 (signed-cookie sessions: the
# same SECRET_KEY on both).
cookie="$(on lb1 in_ct curl -sS -o /dev/null -D - -H "Host: $DOMAIN" "http://app1/fleet/login/?user=alice" |
    sed -n 's/^[Ss]et-[Cc]ookie: *\(sessionid=[^;]*\).*/\1/p' | tr -d '\r')"
[ -n "$cookie" ] || fail "the login on app1 set no session cookie"
whoami="$(on lb1 in_ct curl -sS -H "Host: $DOMAIN" -H "Cookie: $cookie" http://app2/fleet/whoami/)"
assert_eq "user=alice host=app2" "$whoami" "app2's view of app1's session"
forged="$(on lb1 in_ct curl -sS -H "Host: $DOMAIN" -H "Cookie: ${cookie%?}x" http://app2/fleet/whoami/)"
assert_eq "user=- host=app2" "$forged" "app2's view of a tampered session cookie"

# A file uploaded through app1 is served by app2 (one media directory).
upload="mh-$(rand 6).txt"
printf 'shared %s\n' "$upload" >"$WORK/$upload"
on lb1 ct_copy_in "$WORK/$upload" "/tmp/$upload"
code="$(on lb1 in_ct curl -sS -o /dev/null -w '%{http_code}' -H "Host: $DOMAIN" -F text=shared -F "attachment=@/tmp/$upload" http://app1/notes/)"
assert_eq 302 "$code" "POST /notes/ with a file on app1"
http_on app2 "/media/uploads/$upload"
assert_eq 200 "$HTTP_STATUS" "GET /media/uploads/$upload on app2"
assert_eq "shared $upload" "$HTTP_BODY" "the file app1 stored, served by app2"
[ -f "$WORK/media/uploads/$upload" ] || fail "the upload is not in the shared media directory $WORK/media/uploads/"

# The singleton runs on app1 only (djdd_scale: singleton 1 on app1, 0 on
# app2, placed in scale.env before the first install by the role).
sleep 3
http_on app2 "/fleet/beats/?s=3"
assert_eq "beats=app1" "$HTTP_BODY" "hosts the singleton process wrote from in the last 3 s"
# Its units (one instance a copy: demo-fleet-singleton@K.service).
running() { on "$1" in_ct systemctl list-units --no-legend --plain --state=active "$SITE-singleton*.service" | grep -c . || true; }
assert_eq 1 "$(running app1)" "singleton units active on app1"
assert_eq 0 "$(running app2)" "singleton units active on app2"
assert_contains "$(on app2 in_ct "$SITE" scale)" "singleton" "$SITE scale on app2"

# ------------------------------------------------------------ v3: a failing health check

step "v3 (health check fails): the rollout stops at app1, nothing is lost"
build_publish v3
on lb1 load_start roll-v3 "$DOMAIN" http://127.0.0.1/ 1000 10
sleep 3
on lb1 load_mark roll-v3
rc=0
playbook rolling-upgrade.yml || rc=$?
[ "$rc" != 0 ] || fail "rolling-upgrade.yml to v3 succeeded although v3's health check fails"
stot_after_fail="$(haproxy_stat app1 stot)"
status_app1="$(haproxy_stat app1 status)"
sleep 4
stot_later="$(haproxy_stat app1 stot)"
on lb1 load_stop roll-v3
acc_log "rolling upgrade to v3: exit $rc; app1 in haproxy: $status_app1, sessions $stot_after_fail then $stot_later; requests: $LOAD_TOTAL, $LOAD_FAILED failed, versions $LOAD_VERSIONS"
[ "$LOAD_FAILED" = 0 ] || fail "rolling upgrade to v3: $LOAD_FAILED of $LOAD_TOTAL requests failed"
assert_eq "v2" "$LOAD_VERSIONS" "releases served through haproxy while v3's rollout failed"
case "$status_app1" in DRAIN | MAINT | "DOWN"*) ;; *) fail "haproxy: app1 is '$status_app1' after its failed upgrade (expected drained)" ;; esac
assert_eq "$stot_after_fail" "$stot_later" "sessions haproxy sent app1 after its failed upgrade"
# It stopped at app1, for v3's health: app2 was not touched (no task of
# the upgrade play ran there; the first play is the inventory check).
v3log="$WORK/ansible-rolling-upgrade.yml.log"
grep -q '^fatal: \[app1\]' "$v3log" || { playbook_failure rolling-upgrade.yml; fail "the rollout of v3 did not fail on app1"; }
assert_contains "$(grep -o 'never got a request' "$v3log" | head -n1)" "never got a request" "app1's postinst on v3 (the running release kept, v3 never served)"
touched="$(awk '/^PLAY \[/ { plays++ } plays >= 2 && /\[app2\]/' "$v3log")"
assert_eq "" "$touched" "tasks of the upgrade play that ran on app2"
http_on app2 /fleet/info/
assert_contains "$HTTP_BODY" "host=app2 release=v2" "app2 after the stopped rollout"
http_on app1 /fleet/info/
assert_contains "$HTTP_BODY" "release=v2" "app1 after its failed upgrade (the running release was kept)"

# ------------------------------------------------------------ an app host fails

step "app2 powered off under load: haproxy retries and redispatches"
# app1 still runs v2 (its failed v3 was not switched to): an admin takes
# it back; then app2 dies.
on lb1 in_ct_sh 'printf "set server %s/app1 state ready\n" "$1" | python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(\"/run/haproxy/admin.sock\"); s.sendall(sys.stdin.buffer.read()); print(s.recv(4096).decode())"' "demo_$VARIANT"
wait_haproxy app1 UP 30
on lb1 load_start down "$DOMAIN" http://127.0.0.1/ 1000 10
sleep 3
on lb1 load_mark down
mh_poweroff app2
sleep 5
on lb1 load_stop down
acc_log "app2 powered off: $LOAD_TOTAL requests, $LOAD_FAILED failed, worst $LOAD_WORST s; haproxy says app2 is $(haproxy_stat app2 status)"
[ "$LOAD_FAILED" = 0 ] || fail "with app2 powered off, $LOAD_FAILED of $LOAD_TOTAL GET requests failed"
assert_eq "v2" "$LOAD_VERSIONS" "releases served while app2 went down"

printf '%s\n' "$ROLL_LINE"
