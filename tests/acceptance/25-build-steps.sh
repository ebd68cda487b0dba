#!/usr/bin/env bash
# Scenario 25 (issue 28): the steps real projects run around a deploy.
# Branch `steps` of the demo fixture (fixtures/steps over v3: djdd.toml
# with [[build.steps]] and [release] commands) for variant green (migrate
# on). Checked:
#   - `djdd build --plan` lists the build steps and the release commands;
#     `djdd check` passes although the directories the steps make are
#     not in git (staticfiles.W004 for them does not count);
#   - a docs build with a program of the env and an npm-built CSS bundle
#     (Debian's nodejs and npm in the build root, npm's cache in the build
#     dir) before collectstatic: nginx serves both from the site package;
#   - the site package is byte-identical when built in a second build dir;
#   - the release commands ran on install and again on the upgrade to v8
#     (a row per version), and `status` lists them with the last result;
#   - v9, whose second release command fails, fails its upgrade under 8
#     concurrent clients with 0 failed requests: v8 keeps serving, the new
#     release never gets a request, and `status` names the failed command.
# Node on trixie only (bookworm's Node 18 works too, but CI's time).
# acc-suites: trixie
# acc-container: site
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/site.sh"

boot_container site
djdd_setup

step "branch steps of the fixture: v7 (steps, two release commands), v8, v9 (a release command fails)"
fx() {
    git -C "$ACC_FIXTURE" -c user.name='djdd acceptance' -c user.email='acc@djdd.invalid' \
        -c commit.gpgSign=false -c tag.gpgSign=false "$@"
}
# (Made again when the fixture changed since a run that kept the container.)
if ! fx rev-parse -q --verify refs/tags/v9 >/dev/null ||
    ! fx show v7:djdd.toml | cmp -s - "$ACC_SRC_ROOT/fixtures/steps/djdd.toml"; then
    fx checkout -q -B steps v3
    cp -R "$ACC_SRC_ROOT/fixtures/steps/." "$ACC_FIXTURE/"
    sed -i 's/^RELEASE = "v3"$/RELEASE = "v7"/' "$ACC_FIXTURE/demo/__init__.py"
    fx add -A
    fx commit -q -m 'v7: docs and a CSS bundle built before collectstatic, release commands'
    fx tag -f v7
    sed -i 's/^RELEASE = "v7"$/RELEASE = "v8"/' "$ACC_FIXTURE/demo/__init__.py"
    fx commit -q -am 'v8'
    fx tag -f v8
    sed -i 's/^RELEASE = "v8"$/RELEASE = "v9"/' "$ACC_FIXTURE/demo/__init__.py"
    sed -i 's/^    \["manage.py", "remove_stale_contenttypes", "--no-input"\],$/    ["manage.py", "record_release", "v9", "--fail"],/' "$ACC_FIXTURE/djdd.toml"
    fx commit -q -am 'v9: its second release command fails'
    fx tag -f v9
    fx checkout -q main
fi
fx show v9:djdd.toml | grep -- '"--fail"' >/dev/null || fail "v9's djdd.toml has no failing release command"
[ -e "$DJDD_DIR/variants/demo/green.toml" ] ||
    "$DJDD" variant demo green --domain green.example.org --migrate || fail "djdd variant demo green failed"

step "the plan lists the build steps and the release commands"
plan="$("$DJDD" build demo green --version v7 --plan 2>&1)" || fail "djdd build --plan failed: $plan"
printf '%s\n' "$plan" >&2
assert_contains "$plan" "build steps  1. before-collectstatic in .: python docs/build.py build/docs" "the plan"
assert_contains "$plan" "3. before-collectstatic in frontend: npm run build" "the plan"
# shellcheck disable=SC2016 # the words as written
assert_contains "$plan" 'on release   1. manage.py record_release ${DJDD_VERSION}' "the plan"
assert_contains "$plan" "2. manage.py remove_stale_contenttypes --no-input" "the plan"
assert_contains "$plan" "nodejs npm" "the plan (the build root needs Debian's Node)"

step "build v7 (docs, npm ci, npm run build, collectstatic)"
t0=$SECONDS
djdd_build green v7
acc_log "build green v7 with its steps: $((SECONDS - t0)) s"
log="$(cat "$CT_DIR/build-green-v7.log")"
assert_contains "$log" "build step 2: npm ci" "the build's output"
deb="$(ls "$DJDD_DIR"/packages/demo-site-green_*.deb)"
[ "$(printf '%s\n' "$deb" | wc -l)" = 1 ] || fail "more than one site package of green: $deb"
contents="$(dpkg-deb -c "$deb")"
assert_contains "$contents" "static/docs/index.html" "the site package's files"
assert_contains "$contents" "static/dist/bundle.css" "the site package's files"
assert_not_contains "$contents" "node_modules" "the site package's files"
src_deb="$(ls -t "$DJDD_DIR"/packages/demo-src-*.deb | head -n1)"
src_contents="$(dpkg-deb -c "$src_deb")"
assert_contains "$src_contents" "frontend/package.json" "the src package of v7 ($src_deb)"
assert_not_contains "$src_contents" "build/dist" "the src package (nothing a step writes is shipped in it)"
assert_not_contains "$src_contents" "node_modules" "the src package"
[ -n "$(ls -A "$DJDD_DIR/cache/npm" 2>/dev/null)" ] || fail "npm's cache in the build dir ($DJDD_DIR/cache/npm) is empty"

step "djdd check: W004 for the directories the steps make does not count"
check="$("$DJDD" check demo green --rev v7 2>&1)" || { printf '%s\n' "$check" >&2; fail "djdd check demo green --rev v7 found problems"; }
printf '%s\n' "$check" >&2
assert_contains "$check" "build/docs" "djdd check's note on the directories the build steps make"
assert_contains "$check" "npm" "djdd check's note on the steps' programs"

step "the same site package from a second build dir"
dir2="$CT_DIR/djdd-second"
(
    export DJDD_DIR="$dir2"
    "$DJDD" init --suite "$ACC_SUITE" >"$CT_DIR/init-second.log" 2>&1 || { tail -n 30 "$CT_DIR/init-second.log" >&2; exit 1; }
    seed_build_caches "$dir2"
    "$DJDD" src demo --clone "$ACC_FIXTURE" >/dev/null &&
        "$DJDD" variant demo green --domain green.example.org --migrate >/dev/null &&
        "$DJDD" build demo green --version v7 >"$CT_DIR/build-second.log" 2>&1 || { tail -n 30 "$CT_DIR/build-second.log" >&2; exit 1; }
) || fail "building green v7 in a second build dir failed (output above)"
deb2="$dir2/packages/$(basename "$deb")"
[ -f "$deb2" ] || fail "the second build dir has no $(basename "$deb"): $(ls "$dir2/packages")"
cmp "$deb" "$deb2" || fail "the site package of green v7 differs between two build dirs ($deb, $deb2)"
acc_log "green v7's site package is byte-identical in two build dirs: $(sha256sum <"$deb" | cut -c1-16)"
rm -rf "$dir2"

step "install v7: the docs and the bundle are served by nginx, the release commands ran"
djdd_publish
ct_apt install demo-site-green || fail "apt-get install demo-site-green failed: $APT_OUT"
assert_contains "$APT_OUT" "release command 1/2: manage.py record_release" "postinst's output"
assert_contains "$APT_OUT" "release commands ran for " "postinst's output (record_release)"
assert_http 200 http://127.0.0.1/static/docs/index.html green.example.org
assert_contains "$HTTP_BODY" "<h1>Demo documentation</h1>" "the docs page"
assert_http 200 http://127.0.0.1/static/dist/bundle.css green.example.org
assert_eq "body{margin:0 auto;max-width:48rem}.bundle-marker{color:#0a7d3b}" "$HTTP_BODY" "the CSS bundle npm built"
v7_version="$(site_version green)"
assert_eq 1 "$(ct_psql "select count(*) from notes_note where text = 'release commands ran for $v7_version'" demo-green)" \
    "notes the release commands wrote for $v7_version"
status="$(in_ct demo-green status 2>&1)" || fail "demo-green status failed: $status"
printf '%s\n' "$status" >&2
assert_contains "$status" "release commands (last run " "demo-green status"
grep -Eq '^ +2\. manage\.py remove_stale_contenttypes --no-input +ok$' <<<"$status" ||
    fail "demo-green status does not list remove_stale_contenttypes as ok: $status"

step "upgrade to v8: the release commands run again, for v8"
djdd_build green v8
djdd_publish
ct_apt install --only-upgrade demo-site-green || fail "apt-get install --only-upgrade demo-site-green (v8) failed: $APT_OUT"
v8_version="$(site_version green)"
[ "$v8_version" != "$v7_version" ] || fail "green's version did not change on the upgrade to v8"
assert_eq 1 "$(ct_psql "select count(*) from notes_note where text = 'release commands ran for $v8_version'" demo-green)" \
    "notes the release commands wrote for $v8_version"
assert_http 200 http://127.0.0.1/ green.example.org
assert_contains "$HTTP_BODY" "release commands ran for $v8_version" "green's home page (the notes)"

step "v9's release command fails under load: 0 failed requests, v8 keeps serving"
djdd_build green v9
upgrade_fails_under_load bad-release green 600 8 "v8" "v9, a release command fails"
acc_log "failed release command v8 -> v9: $LOAD_TOTAL requests in $LOAD_SECONDS s, $LOAD_FAILED failed, worst latency $LOAD_WORST s"
assert_contains "$APT_OUT" "record_release fails on purpose" "apt's output (the command's error)"
assert_contains "$APT_OUT" "a release command of " "apt's output (postinst's message)"
assert_eq iF "$(ct_pkg_status demo-site-green)" "dpkg status of demo-site-green after the failed upgrade"
in_ct grep -qx 'RELEASE = "v8"' /var/lib/demo-site/green/current/src/demo/__init__.py ||
    fail "green's current release is not v8 after the failed upgrade"
assert_http 200 http://127.0.0.1/ green.example.org
assert_contains "$HTTP_BODY" "release v8" "green's home page after the failed upgrade"
status="$(in_ct demo-green status 2>&1)" || true
printf '%s\n' "$status" >&2
grep -Eq '^ +2\. manage\.py record_release v9 --fail +FAILED$' <<<"$status" ||
    fail "demo-green status does not name the failed release command: $status"
assert_contains "$status" ": failed:2)" "demo-green status (the last run's result)"

step "clean up: green removed and purged"
ct_apt purge demo-site-green || fail "apt-get purge demo-site-green failed: $APT_OUT"
acc_log "scenario 25 passed"
