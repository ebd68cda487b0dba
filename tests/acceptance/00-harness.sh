#!/usr/bin/env bash
# shellcheck disable=SC2016 # dpkg-query formats are literal
# Scenario 00: the harness itself. A booted container runs systemd with
# PostgreSQL, nginx, RabbitMQ and memcached answering; a package installed
# with apt from a signed local repository starts its unit, upgrades, and
# purges cleanly; the load loop counts requests, failures and versions.
# acc-container: own
source "$(dirname "$0")/lib.sh"

boot_container harness

step "systemd and the services"
assert_eq running "$(in_ct systemctl is-system-running || true)" "systemctl is-system-running"
assert_eq 1 "$(ct_psql 'select 1')" "psql -c 'select 1' as postgres"
assert_http 200 http://127.0.0.1/ localhost
assert_contains "$HTTP_BODY" "Welcome to nginx" "nginx's default page"
status="$(in_ct rabbitmqctl status 2>&1)" || fail "rabbitmqctl status failed: $status"
assert_contains "$status" "RabbitMQ version" "rabbitmqctl status"
stats="$(in_ct bash -c 'exec 3<>/dev/tcp/127.0.0.1/11211; printf "stats\r\nquit\r\n" >&3; cat <&3')"
assert_contains "$stats" "STAT curr_connections" "memcached stats"
# Private network: the container has only its own loopback.
assert_eq "lo" "$(in_ct ls /sys/class/net | tr '\n' ' ' | sed 's/ $//')" "network interfaces in the container"

step "a package from a signed local repository: install, upgrade, purge"
work="$CT_DIR/work"
mkdir -p "$work"
chmod 0755 "$work"
deb1="$(make_hello_deb "$work" 1.0)"
make_repo_by_hand "$work" acc "$deb1"
ct_use_repo "$work/repo" "$work/key.asc"
ct_apt install djdd-acc-hello || fail "apt-get install djdd-acc-hello failed: $APT_OUT"
assert_unit_active djdd-acc-hello.service
wait_for "djdd-acc-hello to answer on 127.0.0.1:8081" 20 in_ct curl -sf http://127.0.0.1:8081/
assert_http 200 http://127.0.0.1:8081/
assert_eq "hello 1.0" "$HTTP_BODY" "the hello page after install"
assert_eq "$(in_ct cat /etc/apt/keyrings/djdd.asc)" "$(cat "$work/key.asc")" "the repository key in the container"

step "upgrade to 2.0 from the republished repository"
deb2="$(make_hello_deb "$work" 2.0)"
make_repo_by_hand "$work" acc "$deb2"
ct_use_repo "$work/repo" "$work/key.asc"
ct_apt install --only-upgrade djdd-acc-hello || fail "apt-get upgrade of djdd-acc-hello failed: $APT_OUT"
assert_eq "2.0" "$(in_ct dpkg-query -W -f '${Version}' djdd-acc-hello)" "installed version after upgrade"
assert_eq ii "$(ct_pkg_status djdd-acc-hello)" "dpkg status after upgrade"
wait_for "djdd-acc-hello 2.0 to answer" 20 in_ct sh -c 'curl -sf http://127.0.0.1:8081/ | grep -qx "hello 2.0"'

step "purge"
ct_apt purge djdd-acc-hello || fail "apt-get purge djdd-acc-hello failed: $APT_OUT"
assert_eq "" "$(ct_pkg_status djdd-acc-hello)" "dpkg status after purge"
assert_eq "inactive" "$(in_ct systemctl is-active djdd-acc-hello.service || true)" "unit after purge"
http_get http://127.0.0.1:8081/
assert_eq 000 "$HTTP_STATUS" "port 8081 after purge"
assert_eq "" "$(in_ct find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled -name 'djdd-acc-hello*')" "unit links left after purge"

step "the load loop: counts, pacing, versions, and it sees failures"
in_ct sh -c 'echo "version: 1" > /var/www/html/index.html'
load_loop "$CT_DIR/load-plain.log" localhost http://127.0.0.1/ 1000 10
assert_load 1000 10 "1"

load_start switch localhost http://127.0.0.1/ 1000 10
sleep 5
in_ct sh -c 'echo "version: 2" > /var/www/html/index.new && mv /var/www/html/index.new /var/www/html/index.html'
load_stop switch
assert_load 1000 10 "1 -> 2"
assert_eq 1 "$LOAD_CHANGES" "version changes seen by the load loop"

in_ct systemctl stop nginx
load_loop "$CT_DIR/load-down.log" localhost http://127.0.0.1/ 20 1
assert_eq 20 "$LOAD_FAILED" "failed requests counted with nginx stopped"
# A start of nginx right after its stop failed in two CI runs on trixie
# with result "resources"; the second printed the container's systemd
# 257 saying "Failed to spawn executor: No such file or directory"
# (systemd-executor, not nginx; cause not found). The harness retries
# once, printing nginx's journal; the retry started it.
if ! in_ct systemctl start nginx; then
    acc_log "nginx did not start ($(in_ct systemctl show -P Result nginx.service)); once more"
    in_ct journalctl -u nginx.service -n 5 --no-pager -o cat >&2 || true
    in_ct systemctl reset-failed nginx.service || true
    in_ct systemctl start nginx || fail "nginx does not start again: $(in_ct systemctl status nginx.service 2>&1 | tail -n 5)"
fi
assert_http 200 http://127.0.0.1/ localhost
