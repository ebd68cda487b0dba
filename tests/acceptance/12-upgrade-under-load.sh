#!/usr/bin/env bash
# Scenario 12 (issue 7, 3): upgrade with no failed request. While a load
# loop (at least 1,000 requests over at least 10 s, each checked: status
# 200 and the release the page shows) runs against blue's home page, v2 is
# published and `apt-get install --only-upgrade demo-site-blue` run: no
# request fails and the release served changes from v1 to v2 exactly once.
# Then the same for v3, whose env hash is new (requirements changed) and
# which adds migration 0002: blue is switched to migrate = true first, so
# the postinst applies the (additive) migration before it switches.
# acc-container: site
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/site.sh"

boot_container site
djdd_setup

step "blue at v1"
ensure_site blue v1
assert_http 200 http://127.0.0.1/ blue.example.org
assert_contains "$HTTP_BODY" "release v1" "blue's home page before the upgrade"
env_v1="$(in_ct readlink /var/lib/demo-site/blue/current/env)"

# upgrade_under_load FROM TO: build TO, start the load loop, publish,
# apt-get install --only-upgrade, stop the loop, check it.
upgrade_under_load() {
    local from="$1" to="$2"
    step "build $to"
    djdd_build blue "$to"
    step "upgrade $from -> $to under load"
    load_start "up-$to" blue.example.org http://127.0.0.1/ 1000 10
    sleep 2
    djdd_publish
    local t0=$SECONDS
    ct_apt install --only-upgrade demo-site-blue || {
        load_stop "up-$to" || true
        fail "apt-get install --only-upgrade demo-site-blue ($to) failed: $APT_OUT"
    }
    acc_log "apt-get install --only-upgrade demo-site-blue ($from -> $to): $((SECONDS - t0)) s"
    sleep 2
    load_stop "up-$to"
    assert_load 1000 10 "$from -> $to"
    acc_log "upgrade $from -> $to: $LOAD_TOTAL requests in $LOAD_SECONDS s, $LOAD_FAILED failed, worst latency $LOAD_WORST s"
    assert_http 200 http://127.0.0.1/ blue.example.org
    assert_contains "$HTTP_BODY" "release $to" "blue's home page after the upgrade"
    assert_unit_active demo-blue.socket demo-blue.service demo-blue-celery.service
}

upgrade_under_load v1 v2
env_v2="$(in_ct readlink /var/lib/demo-site/blue/current/env)"
assert_eq "$env_v1" "$env_v2" "env of v2 (same requirements as v1)"

# v3 adds migration 0002, which its home page needs: let the postinst
# migrate (before the switch; v2's code keeps working on the new column).
sed -i 's/^migrate = false$/migrate = true/' "$DJDD_DIR/variants/demo/blue.toml"
grep -qx 'migrate = true' "$DJDD_DIR/variants/demo/blue.toml" || fail "could not turn migrate on in blue.toml"
upgrade_under_load v2 v3
env_v3="$(in_ct readlink /var/lib/demo-site/blue/current/env)"
[ "$env_v3" != "$env_v2" ] || fail "v3 runs on the same env as v2 ($env_v2): its requirements changed"
assert_eq 1 "$(ct_psql "select count(*) from django_migrations where app = 'notes' and name = '0002_note_pinned'" demo-blue)" \
    "migration 0002 applied in demo-blue"
acc_log "scenario 12 passed"
