#!/usr/bin/env bash
# Scenario 24 (issue 26): one app host of a site whose database lives
# elsewhere. Variant ext: `--external database --uid 640 --migrate`, its
# database made by hand as the db host's admin would (role ext-app,
# database ext-db, password authentication over TCP). On this host:
# - the package does not Recommend postgresql and its site.env carries no
#   DATABASE_HOST;
# - with uid 640 taken by another user, the install stops in preinst with
#   the uid and what to do, before anything is unpacked;
# - without DATABASE_URL, configure fails naming the variable and the
#   command that sets it, and nothing serves;
# - `demo-ext secrets set DATABASE_URL` (stdin), then `dpkg --configure -a`:
#   the site serves, its user has uid and gid 640, the migration ran in the
#   external database, and `secrets list` shows names and states, never a
#   value;
# - `secrets export` writes every secret (0600); a bad `secrets import`
#   changes nothing;
# - the upgrade to v3 (migration 0002) waits for the site's advisory lock
#   while another host holds it (a psql session here stands in), then
#   migrates once.
# acc-container: site
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/site.sh"

boot_container site
djdd_setup

DB_URL="postgres://ext-app:ext-pw-0123@127.0.0.1:5432/ext-db"

[ -e "$DJDD_DIR/variants/demo/ext.toml" ] ||
    "$DJDD" variant demo ext --domain ext.example.org --external database --uid 640 \
        --migrate --health-url /health/ || fail "djdd variant demo ext failed"
grep -q '^external = \["database"\]' "$DJDD_DIR/variants/demo/ext.toml" || fail "ext.toml lacks external = [\"database\"]"
grep -qx 'uid = 640' "$DJDD_DIR/variants/demo/ext.toml" || fail "ext.toml lacks uid = 640"

# A rerun in the same container: start again from no site and no database.
if [ -n "$(ct_pkg_status demo-site-ext | sed 's/^pn$//')" ]; then
    step "purging demo-site-ext (left by an earlier run)"
    ct_apt purge demo-site-ext || fail "apt-get purge demo-site-ext failed: $APT_OUT"
fi
in_ct sh -c 'userdel demo-ext 2>/dev/null; groupdel demo-ext 2>/dev/null; userdel squatter 2>/dev/null; true'
ct_psql 'drop database if exists "ext-db"' >/dev/null
ct_psql 'drop role if exists "ext-app"' >/dev/null

step "the db host's admin makes the role and the database"
ct_psql "create role \"ext-app\" login password 'ext-pw-0123'" >/dev/null
ct_psql 'create database "ext-db" owner "ext-app"' >/dev/null

step "ext at v2: no Recommends of postgresql, no database variables in site.env"
djdd_build ext v2
djdd_publish
deb="$(ls "$DJDD_DIR"/packages/demo-site-ext_*.deb | head -n1)"
[ -f "$deb" ] || fail "no demo-site-ext .deb in $DJDD_DIR/packages"
recommends="$(dpkg-deb -f "$deb" Recommends)"
assert_not_contains "$recommends" "postgresql" "Recommends of demo-site-ext"
site_env="$(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./usr/lib/demo-site/ext/site.env)"
assert_not_contains "$site_env" "DATABASE_HOST" "demo-site-ext's site.env"
assert_not_contains "$site_env" "DATABASE_URL" "demo-site-ext's site.env"

step "uid 640 taken: the install stops in preinst"
in_ct useradd --system --uid 640 --no-create-home squatter || fail "useradd squatter failed"
ver="$(in_ct apt-cache madison demo-site-ext | awk '{print $3}' | sort -V | head -n1)"
if ct_apt install "demo-site-ext=$ver"; then
    fail "demo-site-ext installed although uid 640 is taken"
fi
assert_contains "$APT_OUT" "uid 640" "apt's output with uid 640 taken"
assert_contains "$APT_OUT" "taken by user squatter" "apt's output with uid 640 taken"
in_ct test ! -e /var/lib/demo-site/ext/current || fail "a release is current although the install failed"
in_ct userdel squatter || fail "userdel squatter failed"
# The failed unpack leaves the package to be removed or installed again.
ct_apt install -f >/dev/null 2>&1 || true

step "no DATABASE_URL: configure fails, naming it and the command"
if ct_apt install "demo-site-ext=$ver"; then
    fail "demo-site-ext configured without DATABASE_URL"
fi
assert_contains "$APT_OUT" "DATABASE_URL is not set" "apt's output without DATABASE_URL"
assert_contains "$APT_OUT" "demo-ext secrets set DATABASE_URL" "apt's output without DATABASE_URL"
in_ct test ! -e /var/lib/demo-site/ext/current || fail "a release is current although configure failed"

step "secrets set DATABASE_URL (stdin), dpkg --configure -a"
printf '%s\n' "$DB_URL" | in_ct demo-ext secrets set DATABASE_URL >"$CT_DIR/secrets-set.log" 2>&1 ||
    fail "demo-ext secrets set failed: $(cat "$CT_DIR/secrets-set.log")"
assert_not_contains "$(cat "$CT_DIR/secrets-set.log")" "ext-pw-0123" "output of secrets set"
in_ct dpkg --configure -a >"$CT_DIR/configure.log" 2>&1 || fail "dpkg --configure -a failed: $(cat "$CT_DIR/configure.log")"
assert_eq ii "$(ct_pkg_status demo-site-ext)" "dpkg status of demo-site-ext"
assert_http 200 http://127.0.0.1/ ext.example.org
assert_contains "$HTTP_BODY" "release v2" "ext's home page at v2"
assert_eq "640 640" "$(in_ct sh -c 'echo "$(id -u demo-ext) $(id -g demo-ext)"')" "uid and gid of demo-ext"
assert_eq 1 "$(ct_psql "select count(*) from django_migrations where app = 'notes' and name = '0001_initial'" ext-db)" \
    "migration 0001 in the external database"
assert_eq 0 "$(ct_psql "select count(*) from pg_database where datname = 'demo-ext'")" "a local database demo-ext"
list="$(in_ct demo-ext secrets list)" || fail "demo-ext secrets list failed: $list"
assert_contains "$list" "DATABASE_URL" "secrets list"
assert_not_contains "$list" "ext-pw-0123" "secrets list"
grep -q '^  DATABASE_URL  *set ' <<<"$list" || fail "secrets list does not show DATABASE_URL set: $list"
grep -q '^  SECRET_KEY  *set ' <<<"$list" || fail "secrets list does not show SECRET_KEY set: $list"

step "secrets export (0600, every value); a bad import changes nothing"
in_ct rm -f /root/ext-secrets.env
in_ct demo-ext secrets export /root/ext-secrets.env >/dev/null || fail "demo-ext secrets export failed"
assert_eq 600 "$(in_ct stat -c %a /root/ext-secrets.env)" "mode of the exported file"
exported="$(in_ct cat /root/ext-secrets.env)"
assert_contains "$exported" "DATABASE_URL=\"$DB_URL\"" "the exported file"
assert_contains "$exported" "SECRET_KEY=" "the exported file"
before="$(in_ct sha256sum /etc/demo-site/ext/secrets.env)"
in_ct sh -c 'printf "SECRET_KEY=\"new\"\nnot an assignment\n" >/root/bad.env'
if in_ct demo-ext secrets import /root/bad.env >/dev/null 2>&1; then
    fail "secrets import of a file with a bad line succeeded"
fi
assert_eq "$before" "$(in_ct sha256sum /etc/demo-site/ext/secrets.env)" "secrets.env after a bad import"

step "upgrade to v3 while another host holds the migration lock"
djdd_build ext v3
djdd_publish
key="$(python3 -c 'import zlib; print(zlib.crc32(b"djdd-migrate:demo-ext"))')"
# advisory_locks GRANTED: how many sessions hold (true) or wait for (false) the site's lock.
advisory_locks() {
    ct_psql "select count(*) from pg_locks where locktype = 'advisory' and objid::bigint = $key and granted = $1" ext-db
}
lock_held() { [ "$(advisory_locks true)" = 1 ]; }
upgrade_waits() { [ "$(advisory_locks false)" = 1 ]; }
# Another host migrating: holds the site's lock until it is ended below.
in_ct runuser -u postgres -- psql -X -q -d ext-db \
    -c "select pg_advisory_lock($key)" -c "select pg_sleep(300)" >/dev/null 2>&1 &
holder=$!
wait_for "the other host's lock" 20 lock_held
( ct_apt install --only-upgrade demo-site-ext; rc=$?; printf '%s\n' "$APT_OUT" >"$CT_DIR/upgrade-v3.log"; exit "$rc" ) &
upgrade=$!
wait_for "the upgrade's migration to wait for the lock" 240 upgrade_waits
assert_eq 0 "$(ct_psql "select count(*) from django_migrations where app = 'notes' and name = '0002_note_pinned'" ext-db)" \
    "migration 0002 while the other host holds the lock"
step "the other host is done: the lock is released"
ct_psql "select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and objid::bigint = $key and granted" ext-db >/dev/null
wait "$holder" 2>/dev/null || true
wait "$upgrade" || fail "the upgrade of demo-site-ext to v3 failed: $(cat "$CT_DIR/upgrade-v3.log")"
assert_contains "$(cat "$CT_DIR/upgrade-v3.log")" "waiting for another host of demo-ext to finish migrating" "apt's output of the upgrade"
assert_eq 1 "$(ct_psql "select count(*) from django_migrations where app = 'notes' and name = '0002_note_pinned'" ext-db)" \
    "migration 0002 in the external database"
assert_http 200 http://127.0.0.1/ ext.example.org
assert_contains "$HTTP_BODY" "release v3" "ext's home page at v3"
acc_log "scenario 24 passed"
