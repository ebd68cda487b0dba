#!/usr/bin/env bash
# Scenario 30 (issue 30): a project without requirements.txt, its
# dependencies in pyproject.toml and locked by uv (fixtures/uvlock, the
# demo with pyproject.toml and uv.lock), deploys as it is, as project
# `lockdemo`, variant blue (migrate on). Checked:
#   - the plan says the env installs exactly what uv.lock selects for the
#     build root's Python and architecture (22 distributions: not the dev
#     group, not the Windows-only package, not the project itself);
#   - the env package ships uv.lock, pyproject.toml and requirements.lock,
#     and holds no pytest and no colorama; psycopg2 is compiled from its
#     sdist;
#   - v2 (a dev dependency added: uv.lock changed) keeps the env HASH;
#   - `djdd check lockdemo blue` passes, run in the build root with the
#     env the build made, and notes what the lock holds and what a build
#     installs from it there;
#   - `apt-get install lockdemo-site-blue` serves the home page through
#     nginx, its visits counted in PostgreSQL through psycopg2.
# acc-container: site
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/site.sh"

boot_container site
djdd_setup

lock_repo="$CT_DIR/lockdemo-repo"
if [ ! -d "$lock_repo/.git" ]; then
    sh "$ACC_SRC_ROOT/fixtures/make-repo.sh" "$lock_repo" uvlock >/dev/null || fail "fixtures/make-repo.sh uvlock failed"
fi
[ -e "$lock_repo/requirements.txt" ] && fail "the uvlock fixture has a requirements.txt"
[ -d "$DJDD_DIR/src/lockdemo.git" ] || "$DJDD" src lockdemo --clone "$lock_repo" || fail "djdd src lockdemo failed"
[ -e "$DJDD_DIR/variants/lockdemo/blue.toml" ] ||
    "$DJDD" variant lockdemo blue --domain lock.example.org --migrate || fail "djdd variant lockdemo blue failed"

step "the plan: the env from uv.lock"
plan="$("$DJDD" build lockdemo blue --version v1 --plan 2>&1)" || fail "djdd build --plan failed: $plan"
printf '%s\n' "$plan" >&2
assert_contains "$plan" "installs exactly the 22 distributions the project's uv.lock selects for python" "the plan"
env_hash="$(sed -n 's/^  env HASH     \([0-9a-f]*\) .*/\1/p' <<<"$plan")"
[ -n "$env_hash" ] || fail "no env HASH in the plan"

step "build v1"
t0=$SECONDS
"$DJDD" build lockdemo blue --version v1 >"$CT_DIR/build-lockdemo.log" 2>&1 || {
    tail -n 40 "$CT_DIR/build-lockdemo.log" >&2
    fail "djdd build lockdemo blue --version v1 failed (log above)"
}
acc_log "djdd build lockdemo blue v1: $((SECONDS - t0)) s"
env_deb="$DJDD_DIR/packages/lockdemo-env-${env_hash}_1_$(dpkg --print-architecture).deb"
[ -f "$env_deb" ] || fail "no $env_deb: $(ls "$DJDD_DIR/packages")"
listing="$(dpkg-deb -c "$env_deb")"
for f in uv.lock pyproject.toml requirements.lock; do
    assert_contains "$listing" "./usr/share/lockdemo-env/$env_hash/$f" "the env package's files"
done
assert_not_contains "$listing" "site-packages/pytest-" "the env package (the dev group)"
assert_not_contains "$listing" "site-packages/colorama-" "the env package (a Windows-only package)"
cmp -s <(dpkg-deb --fsys-tarfile "$env_deb" | tar -xO "./usr/share/lockdemo-env/$env_hash/uv.lock") <(git -C "$lock_repo" show v1:uv.lock) ||
    fail "the env package's uv.lock is not v1's"

step "v2 changes uv.lock, not what it installs: the same env"
plan2="$("$DJDD" build lockdemo blue --version v2 --plan 2>&1)" || fail "djdd build --plan v2 failed: $plan2"
grep -Eq "^  env  lockdemo-env-$env_hash .* reuse " <<<"$plan2" || fail "v2 does not reuse lockdemo-env-$env_hash: $plan2"

step "djdd check in the build root"
check="$("$DJDD" check lockdemo blue --rev v1 2>&1)" || { printf '%s\n' "$check" >&2; fail "djdd check lockdemo blue found problems"; }
printf '%s\n' "$check" >&2
assert_contains "$check" "env: from uv.lock (extras: none; groups: none)" "djdd check's note"
assert_contains "$check" "installs 22 distributions from uv.lock: amqp==" "djdd check's note on what a build installs here"
assert_contains "$check" "/usr/lib/lockdemo-env/$env_hash/bin/python" "djdd check (the env the build made)"

step "apt-get install lockdemo-site-blue"
djdd_publish
ct_apt install lockdemo-site-blue || fail "apt-get install lockdemo-site-blue failed: $APT_OUT"
assert_unit_active lockdemo-blue.socket nginx.service
assert_http 200 http://127.0.0.1/ lock.example.org
assert_http 200 http://127.0.0.1/ lock.example.org
visits="$(ct_psql 'select count(*) from notes_visit' lockdemo-blue)"
[ "$visits" -ge 2 ] || fail "lockdemo-blue counted $visits visits in PostgreSQL, not 2"
in_ct sh -c "ls /usr/lib/lockdemo-env/$env_hash/lib/python3*/site-packages/psycopg2/_psycopg*.so" >/dev/null ||
    fail "psycopg2's compiled module is not in the installed env"
acc_log "lockdemo-blue serves from the env of uv.lock ($env_hash), $visits visits in PostgreSQL"
