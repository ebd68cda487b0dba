#!/usr/bin/env bash
# Scenario 15 (issue 7, 6): migrate. Two variants of their own, both at v2:
# teal (migrate = true) and green (migrate off, the default; its health
# check is /health/, which needs no database). Upgraded to v3, which adds
# migration notes 0002: teal's postinst applies it (django_migrations in
# database demo-teal has it, the home page answers 200 at once); green's
# does not (demo-green lacks it, the v3 home page fails on the missing
# column) until the control utility's `demo-green manage migrate` applies it
# by hand, after which green serves v3.
# Issue 29: green's postinst warns about the unapplied migration and names
# `demo-green manage migrate`; `demo-green status` (root or not) lists it
# and exits 1 (degraded) until it is applied, then exits 0.
# acc-container: site
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/site.sh"

boot_container site
djdd_setup

[ -e "$DJDD_DIR/variants/demo/green.toml" ] ||
    "$DJDD" variant demo green --domain green.example.org --health-url /health/ || fail "djdd variant demo green failed"
[ -e "$DJDD_DIR/variants/demo/teal.toml" ] ||
    "$DJDD" variant demo teal --domain teal.example.org --migrate || fail "djdd variant demo teal failed"
grep -qx 'migrate = true' "$DJDD_DIR/variants/demo/green.toml" && fail "green.toml has migrate = true"
grep -qx 'migrate = true' "$DJDD_DIR/variants/demo/teal.toml" || fail "teal.toml lacks migrate = true"

migration_applied() { # VARIANT: 1 when notes 0002 is in django_migrations, else 0
    ct_psql "select count(*) from django_migrations where app = 'notes' and name = '0002_note_pinned'" "demo-$1"
}

# A rerun in the same container: start again from no site and no database.
for v in green teal; do
    if [ -n "$(ct_pkg_status "demo-site-$v" | sed 's/^pn$//')" ]; then
        step "purging demo-site-$v and its database (left by an earlier run)"
        ct_apt purge "demo-site-$v" || fail "apt-get purge demo-site-$v failed: $APT_OUT"
        ct_psql "drop database if exists \"demo-$v\"" >/dev/null
    fi
done

step "green and teal at v2"
djdd_build green v2
djdd_build teal v2
djdd_publish
for v in green teal; do
    # The first build of the variant is v2 (v3 may be in the repository from
    # an earlier run): install that version.
    ver="$(in_ct apt-cache madison "demo-site-$v" | awk '{print $3}' | sort -V | head -n1)"
    [ -n "$ver" ] || fail "demo-site-$v is not in the repository"
    ct_apt install --allow-downgrades "demo-site-$v=$ver" || fail "apt-get install demo-site-$v=$ver failed: $APT_OUT"
done
# green does not migrate by itself: its schema (0001) by hand, as an admin would.
in_ct demo-green manage migrate --noinput >"$CT_DIR/migrate-green-v2.log" 2>&1 ||
    fail "demo-green manage migrate (v2) failed: $(cat "$CT_DIR/migrate-green-v2.log")"
for v in green teal; do
    assert_http 200 http://127.0.0.1/ "$v.example.org"
    assert_contains "$HTTP_BODY" "release v2" "$v's home page at v2"
    assert_eq 0 "$(migration_applied "$v")" "migration 0002 in demo-$v at v2"
done

step "upgrade both to v3"
djdd_build green v3
djdd_build teal v3
djdd_publish
ct_apt install --only-upgrade demo-site-green demo-site-teal ||
    fail "apt-get install --only-upgrade demo-site-green demo-site-teal (v3) failed: $APT_OUT"
assert_eq ii "$(ct_pkg_status demo-site-teal)" "dpkg status of demo-site-teal after the upgrade"
assert_eq ii "$(ct_pkg_status demo-site-green)" "dpkg status of demo-site-green after the upgrade"
assert_contains "$APT_OUT" "migrating the database" "apt's output of the upgrade (teal's postinst)"

step "teal (migrate = true) applied 0002 during the upgrade"
assert_eq 1 "$(migration_applied teal)" "migration 0002 in demo-teal after the upgrade"
assert_http 200 http://127.0.0.1/ teal.example.org
assert_contains "$HTTP_BODY" "release v3" "teal's home page after the upgrade"

step "green (migrate off) did not; manage migrate applies it"
in_ct grep -qx 'RELEASE = "v3"' /var/lib/demo-site/green/current/src/demo/__init__.py ||
    fail "green's current release is not v3 after the upgrade"
assert_eq 0 "$(migration_applied green)" "migration 0002 in demo-green after the upgrade (migrate off)"
http_get http://127.0.0.1/ green.example.org
acc_log "green's v3 home page before manage migrate: HTTP $HTTP_STATUS"
[ "$HTTP_STATUS" != 200 ] || fail "green's v3 home page answers 200 before 0002 is applied (it reads the new column)"
in_ct demo-green manage showmigrations notes >"$CT_DIR/showmigrations-green.log" 2>&1 ||
    fail "demo-green manage showmigrations failed: $(cat "$CT_DIR/showmigrations-green.log")"
assert_contains "$(cat "$CT_DIR/showmigrations-green.log")" "[ ] 0002_note_pinned" "demo-green manage showmigrations notes"
assert_contains "$APT_OUT" "has 1 unapplied migration(s): notes.0002_note_pinned" "apt's output of the upgrade (green's postinst)"
assert_contains "$APT_OUT" "demo-green manage migrate" "apt's output of the upgrade (green's postinst)"
rc=0
st="$(in_ct demo-green status 2>&1)" || rc=$?
printf '%s\n' "$st" >&2
assert_eq 1 "$rc" "exit status of 'demo-green status' with 0002 unapplied"
assert_contains "$st" "migrations: 1 UNAPPLIED" "demo-green status"
assert_contains "$st" "notes.0002_note_pinned" "demo-green status"
assert_contains "$st" "DEGRADED: migrations" "demo-green status"
rc=0
t0=$(date +%s%N)
st="$(in_ct runuser -u nobody -- demo-green status 2>&1)" || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
acc_log "demo-green status as nobody: exit $rc in $ms ms"
assert_eq 1 "$rc" "exit status of 'demo-green status' as nobody"
assert_contains "$st" "notes.0002_note_pinned" "demo-green status as nobody"
in_ct demo-green manage migrate --noinput >"$CT_DIR/migrate-green-v3.log" 2>&1 ||
    fail "demo-green manage migrate (v3) failed: $(cat "$CT_DIR/migrate-green-v3.log")"
assert_contains "$(cat "$CT_DIR/migrate-green-v3.log")" "Applying notes.0002_note_pinned" "output of demo-green manage migrate"
assert_eq 1 "$(migration_applied green)" "migration 0002 in demo-green after manage migrate"
assert_http 200 http://127.0.0.1/ green.example.org
assert_contains "$HTTP_BODY" "release v3" "green's home page after manage migrate"
st="$(in_ct demo-green status 2>&1)" || fail "demo-green status fails after manage migrate: $st"
assert_contains "$st" "migrations: all applied" "demo-green status after manage migrate"
acc_log "scenario 15 passed"
