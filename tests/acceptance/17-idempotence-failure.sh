#!/usr/bin/env bash
# Scenario 17 (issue 7, 8): idempotence and failure. Running red's postinst
# `configure` a second time changes nothing: every file, directory and link
# under /etc/demo-site/red, /var/lib/demo-site/red, /srv/demo-site/red, the
# units, the nginx site and the control utility keep their type, mode,
# owner, mtime, size, content hash and target, and the services keep their
# PIDs. Then a postinst that fails half-way: with PostgreSQL stopped,
# `apt-get install --reinstall demo-site-red` fails, dpkg leaves the package
# half-configured (iF) and the postinst says what to do; once PostgreSQL
# runs again, `dpkg --configure -a` completes it and red serves.
# acc-container: site
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/site.sh"

boot_container site
djdd_setup
on_exit 'in_ct systemctl start postgresql >/dev/null 2>&1 || true'

step "red installed"
[ "$(ct_pkg_status demo-site-red)" = ii ] || ensure_site red v1
ver="$(site_version red)"
[ -n "$ver" ] || fail "no version of demo-site-red installed"
assert_http 200 http://127.0.0.1/ red.example.org

# snapshot: one line per path that the postinst makes or may touch.
snapshot() {
    in_ct_sh '
        { find /etc/demo-site/red /var/lib/demo-site/red /srv/demo-site/red /var/log/demo-site/red /usr/bin/demo-red \
              /etc/nginx/sites-available /etc/nginx/sites-enabled 2>/dev/null
          find /lib/systemd/system /etc/systemd/system -name "demo-red*" 2>/dev/null
        } | sort -u | while IFS= read -r p; do
            # the logs grow with every request; only their presence counts
            case "$p" in /var/log/demo-site/red/*) printf "%s\n" "$p"; continue ;; esac
            if [ -f "$p" ] && [ ! -L "$p" ]; then h=$(sha256sum "$p" | cut -c1-16); else h=-; fi
            printf "%s\t%s\t%s\t%s\n" "$(stat -c "%n %F %a %U:%G %s %.9Y" "$p")" "$h" "$(readlink "$p" || true)" ""
        done
        for u in demo-red.socket demo-red.service demo-red-celery.service; do
            printf "%s pid %s enabled %s\n" "$u" "$(systemctl show -p MainPID --value "$u")" "$(systemctl is-enabled "$u" 2>&1 || true)"
        done'
}

step "postinst configure, twice: the second run changes nothing"
in_ct /var/lib/dpkg/info/demo-site-red.postinst configure "$ver" >"$CT_DIR/postinst-1.log" 2>&1 ||
    fail "postinst configure (first run) failed: $(cat "$CT_DIR/postinst-1.log")"
snapshot >"$CT_DIR/snap-1.txt"
[ "$(wc -l <"$CT_DIR/snap-1.txt")" -ge 20 ] || fail "the snapshot lists too little: $(cat "$CT_DIR/snap-1.txt")"
sleep 1.1 # a rewrite in the same second could keep an mtime
in_ct /var/lib/dpkg/info/demo-site-red.postinst configure "$ver" >"$CT_DIR/postinst-2.log" 2>&1 ||
    fail "postinst configure (second run) failed: $(cat "$CT_DIR/postinst-2.log")"
snapshot >"$CT_DIR/snap-2.txt"
if ! diff -u "$CT_DIR/snap-1.txt" "$CT_DIR/snap-2.txt" >"$CT_DIR/snap.diff"; then
    cat "$CT_DIR/snap.diff" >&2
    fail "the second postinst configure changed files, links or services (diff above)"
fi
acc_log "postinst configure twice: $(wc -l <"$CT_DIR/snap-1.txt") entries unchanged"
assert_contains "$(cat "$CT_DIR/postinst-2.log")" "is already running" "output of the second postinst configure"
assert_eq ii "$(ct_pkg_status demo-site-red)" "dpkg status after two postinst runs"
assert_http 200 http://127.0.0.1/ red.example.org

step "PostgreSQL stopped: the postinst fails half-way, the package is half-configured"
# postgresql.service only groups the clusters' units (postgresql@15-main):
# `systemctl stop postgresql` returns before the cluster's stop job ends.
in_ct systemctl stop postgresql
wait_for "PostgreSQL to stop answering after systemctl stop postgresql" 60 \
    in_ct_sh '! runuser -u postgres -- psql -XqAt -c "select 1" >/dev/null 2>&1'
if ct_apt install --reinstall demo-site-red; then
    fail "apt-get install --reinstall demo-site-red succeeded with PostgreSQL stopped: $APT_OUT"
fi
printf '%s\n' "$APT_OUT" >"$CT_DIR/reinstall-fail.log"
assert_eq iF "$(ct_pkg_status demo-site-red)" "dpkg status after the failed postinst"
assert_contains "$(in_ct dpkg-query -W -f '${Status}' demo-site-red)" "half-configured" "dpkg -s demo-site-red status"
assert_contains "$APT_OUT" "demo-site-red: error: PostgreSQL is installed but does not answer" "apt's output of the failed reinstall"
assert_contains "$APT_OUT" "dpkg --configure -a" "apt's output of the failed reinstall (what to do)"
acc_log "the failed postinst said: $(grep 'demo-site-red: error' "$CT_DIR/reinstall-fail.log" | head -n1)"

step "PostgreSQL started again: dpkg --configure -a completes it"
in_ct systemctl start postgresql
wait_for "PostgreSQL to answer" 60 in_ct runuser -u postgres -- psql -XqAt -c "select 1"
in_ct dpkg --configure -a >"$CT_DIR/configure-a.log" 2>&1 || fail "dpkg --configure -a failed: $(cat "$CT_DIR/configure-a.log")"
assert_eq ii "$(ct_pkg_status demo-site-red)" "dpkg status after dpkg --configure -a"
assert_unit_active demo-red.socket demo-red.service demo-red-celery.service
assert_http 200 http://127.0.0.1/ red.example.org
in_ct demo-red status >/dev/null || fail "demo-red status after dpkg --configure -a: $(in_ct demo-red status 2>&1)"
acc_log "scenario 17 passed"
