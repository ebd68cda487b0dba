#!/usr/bin/env bash
# Scenario 18 (issue 7, 9): a bad release. On a branch of the fixture
# repository made here, v4 is v3 with a urls.py that raises at import, and
# v5 is v4 fixed. red runs v3; while a load loop (at least 1,000 requests
# over at least 10 s, each checked) runs against it, v4 is published and
# `apt-get install --only-upgrade demo-site-red` run: the upgrade fails with
# the package's message (the release fails its checks, the running one is
# not touched), dpkg leaves v4 half-configured, and every request is
# answered 200 by v3. Then v6, which passes its checks but whose health
# page answers 500 (issue 16): under a load of 8 concurrent clients the
# upgrade fails ("does not answer ... beside the running release"), no
# request fails and none is answered by v6 (it ran beside v3 and was
# stopped), `current` is v3 again. Then v5 installs and serves.
# acc-container: site
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/site.sh"

boot_container site
djdd_setup

step "red at v3"
ensure_site red v3
assert_http 200 http://127.0.0.1/ red.example.org
assert_contains "$HTTP_BODY" "release v3" "red's home page before v4"

step "v4 (raises at import) and v5 (fixed) on branch bad-release of the fixture repository"
fx() {
    git -C "$ACC_FIXTURE" -c user.name='djdd acceptance' -c user.email='acc@djdd.invalid' \
        -c commit.gpgSign=false -c tag.gpgSign=false "$@"
}
if ! fx rev-parse -q --verify refs/tags/v5 >/dev/null; then
    fx checkout -q -B bad-release v3
    sed -i 's/^RELEASE = "v3"$/RELEASE = "v4"/' "$ACC_FIXTURE/demo/__init__.py"
    printf '\nraise RuntimeError("v4 is broken on purpose (acceptance scenario 18)")\n' >>"$ACC_FIXTURE/demo/urls.py"
    fx commit -q -am 'v4: urls.py raises at import'
    fx tag -f v4
    sed -i 's/^RELEASE = "v4"$/RELEASE = "v5"/' "$ACC_FIXTURE/demo/__init__.py"
    fx checkout -q v3 -- demo/urls.py
    fx commit -q -am 'v5: urls.py fixed'
    fx tag -f v5
    fx checkout -q main
fi
if ! fx rev-parse -q --verify refs/tags/v6 >/dev/null; then
    fx checkout -q -B bad-health v5
    sed -i 's/^RELEASE = "v5"$/RELEASE = "v6"/' "$ACC_FIXTURE/demo/__init__.py"
    python3 - "$ACC_FIXTURE/notes/views.py" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("def health(request):\n", "def health(request):\n    raise RuntimeError('v6 fails its health check on purpose (acceptance scenario 18)')\n", 1)
open(p, "w").write(s)
PY
    fx commit -q -am 'v6: the health page fails'
    fx tag -f v6
    fx checkout -q main
fi
fx show v6:notes/views.py | grep 'health check on purpose' >/dev/null || fail "v6's health view does not fail"
fx show v4:demo/urls.py | grep 'broken on purpose' >/dev/null || fail "v4's urls.py does not raise"
fx show v5:demo/__init__.py | grep -x 'RELEASE = "v5"' >/dev/null || fail "v5 does not say release v5"
djdd_build red v4

step "publish v4 and upgrade under load: the upgrade fails, v3 keeps serving"
upgrade_fails_under_load bad red 1000 10 "v3" "v4, raises at import"
printf '%s\n' "$APT_OUT" >"$CT_DIR/upgrade-v4.log"
acc_log "bad upgrade v3 -> v4: $LOAD_TOTAL requests in $LOAD_SECONDS s, $LOAD_FAILED failed, worst latency $LOAD_WORST s"
assert_contains "$APT_OUT" "fails its checks" \
    "apt's output of the failed upgrade (v4 must be refused by the release check before the switch, not rolled back after it)"
assert_contains "$APT_OUT" "demo-site-red: error: release" "apt's output of the failed upgrade"
assert_contains "$APT_OUT" "broken on purpose" "apt's output of the failed upgrade (the import error)"
acc_log "the failed postinst said: $(grep 'demo-site-red: error' "$CT_DIR/upgrade-v4.log" | head -n1)"
assert_eq iF "$(ct_pkg_status demo-site-red)" "dpkg status of demo-site-red after the failed upgrade"
in_ct grep -qx 'RELEASE = "v3"' /var/lib/demo-site/red/current/src/demo/__init__.py ||
    fail "red's current release is not v3 after the failed upgrade"
assert_unit_active demo-red.socket demo-red.service
assert_http 200 http://127.0.0.1/ red.example.org
assert_contains "$HTTP_BODY" "release v3" "red's home page after the failed upgrade"

step "publish v6 (its health page fails) and upgrade under load: it never serves"
djdd_build red v6
upgrade_fails_under_load bad-health red 1000 10 "v3" "v6, health page fails"
acc_log "bad upgrade v3 -> v6 (health check): $LOAD_TOTAL requests in $LOAD_SECONDS s, $LOAD_FAILED failed, worst latency $LOAD_WORST s"
assert_contains "$APT_OUT" "beside the running release" "apt's output of the upgrade to v6 (the health check must fail beside v3)"
assert_eq iF "$(ct_pkg_status demo-site-red)" "dpkg status of demo-site-red after the failed upgrade to v6"
in_ct grep -qx 'RELEASE = "v3"' /var/lib/demo-site/red/current/src/demo/__init__.py ||
    fail "red's current release is not v3 after the failed upgrade to v6"
assert_unit_active demo-red.socket demo-red.service
assert_unit_inactive demo-red-next.service demo-red-next.socket
assert_eq "server unix:/run/demo-red/gunicorn.sock fail_timeout=0;" "$(in_ct tail -n 1 /var/lib/demo-site/red/upstream.conf)" \
    "nginx's upstream after the failed upgrade to v6"

step "v5 (fixed) installs and serves"
djdd_build red v5
djdd_publish
ct_apt install --only-upgrade demo-site-red || fail "apt-get install --only-upgrade demo-site-red (v5) failed: $APT_OUT"
assert_eq ii "$(ct_pkg_status demo-site-red)" "dpkg status of demo-site-red after v5"
assert_unit_active demo-red.socket demo-red.service demo-red-celery.service
assert_http 200 http://127.0.0.1/ red.example.org
assert_contains "$HTTP_BODY" "release v5" "red's home page after v5"
acc_log "scenario 18 passed"
