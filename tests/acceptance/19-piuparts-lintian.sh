#!/usr/bin/env bash
# Scenario 19 (issue 7, 10): piuparts and lintian on the real packages.
# djdd builds the demo fixture's v1 for blue (-Z xz: bookworm's lintian
# cannot read zstd members) and publishes it, signed, to a repository of
# its own; then builds v2 (same env, new src, new site). On those real
# packages:
#   - lintian --fail-on error,warning passes for the env, the src and the
#     site (djdd's overrides: docs/build.md, each with its reason);
#   - piuparts (install, purge, and the upgrade test from the previous
#     build in the repository) passes for the site (v1 -> v2, with its new
#     src), for the src alone and for the env alone.
# An env or src package has one name per content (NAME-env-HASH,
# NAME-src-HASH) and never upgrades in place: piuparts' upgrade test for
# them installs the same package from the repository, which is what a
# site upgrade does when the env did not change.
# Runs on every suite (SUITE): the build root, the repository's suite and
# piuparts' base are that suite's; lintian is the host's. The packages of
# both suites meet the same lintian expectations: where a suite differed
# (trixie's venv writes ENV/.gitignore), djdd's build makes them alike.
# acc-container: own (boots none)
source "$(dirname "$0")/lib.sh"

acc_need_host_packages lintian piuparts
ACC_SRC_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
work="$ACC_RUNDIR/s19-$$"
mkdir -p "$work" "$ACC_LOGS"
chmod 0755 "$work"
on_exit "rm -rf --one-file-system '$work'"

(cd "$ACC_SRC_ROOT" && cargo build --quiet --bin djdd) || fail "cargo build of djdd failed"
DJDD="${CARGO_TARGET_DIR:-$ACC_SRC_ROOT/target}/debug/djdd"
export DJDD_DIR="$work/djdd"
on_exit "[ ! -d '$DJDD_DIR/gnupg' ] || gpgconf --homedir '$DJDD_DIR/gnupg' --kill gpg-agent 2>/dev/null || true"

step "djdd init --suite $ACC_SUITE, src, variant blue (own build dir)"
"$DJDD" init --suite "$ACC_SUITE" >"$work/init.log" 2>&1 || { tail -n 30 "$work/init.log" >&2; fail "djdd init --suite $ACC_SUITE failed"; }
# The downloads and wheels the cargo tests cached (psycopg2 compiled once
# per machine and Python); a missing cache only makes the env build slower.
seed_build_caches "$DJDD_DIR"
sh "$ACC_SRC_ROOT/fixtures/make-repo.sh" "$work/demo-repo" >/dev/null || fail "fixtures/make-repo.sh failed"
"$DJDD" src demo --clone "$work/demo-repo" >/dev/null 2>&1 || fail "djdd src demo failed"
"$DJDD" variant demo blue --domain blue.example.org --celery >/dev/null 2>&1 || fail "djdd variant demo blue failed"

build() {
    "$DJDD" build demo blue --version "$1" -Z xz >"$work/build-$1.log" 2>&1 || {
        tail -n 40 "$work/build-$1.log" >&2
        fail "djdd build demo blue --version $1 -Z xz failed (log above)"
    }
}
# one GLOB: the one file of packages/ that GLOB matches.
one() {
    local m
    m="$(find "$DJDD_DIR/packages" -maxdepth 1 -type f -name "$1")"
    if [ -z "$m" ] || [ "$(printf '%s\n' "$m" | wc -l)" != 1 ]; then
        fail "expected one package $1 in $DJDD_DIR/packages, found: ${m:-none}"
    fi
    printf '%s\n' "$m"
}

step "build v1, publish it (signed), build v2"
build v1
site1="$(one 'demo-site-blue_*.deb')"
"$DJDD" publish --init-key --repo "$work/apt" >"$work/publish.log" 2>&1 || {
    cat "$work/publish.log" >&2
    fail "djdd publish failed"
}
[ -s "$work/apt/dists/$ACC_SUITE/InRelease" ] ||
    fail "djdd publish did not publish into the build root's suite $ACC_SUITE (no dists/$ACC_SUITE/InRelease)"
assert_eq "$ACC_SUITE" "$(dpkg-deb -f "$site1" X-Djdd-Suite)" "X-Djdd-Suite of $site1"
build v2
v2="$(git -C "$work/demo-repo" rev-parse 'v2^{commit}' | cut -c1-12)"
env="$(one 'demo-env-*.deb')"
src2="$(one "demo-src-${v2}_*.deb")"
site2="$(one "demo-site-blue_*+g${v2}_*.deb")"
[ "$site1" != "$site2" ] || fail "v2 did not make a new site package"

step "lintian --fail-on error,warning: env, src, site"
for deb in "$env" "$src2" "$site2"; do
    pkg="$(dpkg-deb -f "$deb" Package)"
    # grep without -q reads the whole listing: an early exit would kill
    # dpkg-deb with SIGPIPE and fail the pipeline (pipefail).
    dpkg-deb -c "$deb" | grep "usr/share/lintian/overrides/$pkg\$" >/dev/null ||
        fail "$pkg has no lintian overrides file"
    rc=0
    out="$(lintian --fail-on error,warning --tag-display-limit 0 "$deb" 2>&1)" || rc=$?
    printf '%s\n' "$out" >"$ACC_LOGS/19-lintian-$pkg.log"
    if [ "$rc" != 0 ]; then
        printf '%s\n' "$out" | grep -E '^[EW]: ' >&2 || printf '%s\n' "$out" >&2
        fail "lintian --fail-on error,warning fails for $pkg (exit $rc; tags above; overrides: docs/build.md)"
    fi
    acc_log "lintian: $pkg clean"
done

mapfile -t systemd_leftovers < <(piuparts_systemd_leftovers)

step "piuparts: site v2 + its src, install/purge and upgrade from v1 in the repository"
log="$ACC_LOGS/19-piuparts-site.log"
run_piuparts --repo "$work/apt" "$work/apt/KEY.asc" --log "$log" "${systemd_leftovers[@]}" "$site2" "$src2"
text="$(cat "$log")"
assert_contains "$text" "apt-cache knows about the following packages: demo-site-blue" "piuparts log: the upgrade test finds v1 in the repository"
assert_contains "$text" "Setting up demo-site-blue ($(dpkg-deb -f "$site1" Version))" "piuparts log: the upgrade test installs v1"
assert_contains "$text" "PASS: Installation, upgrade and purging tests." "piuparts log of the site"

step "piuparts: the src alone"
log="$ACC_LOGS/19-piuparts-src.log"
run_piuparts --repo "$work/apt" "$work/apt/KEY.asc" --log "$log" "$src2"
assert_contains "$(cat "$log")" "PASS: All tests." "piuparts log of the src"

step "piuparts: the env alone"
log="$ACC_LOGS/19-piuparts-env.log"
run_piuparts --repo "$work/apt" "$work/apt/KEY.asc" --log "$log" "$env"
assert_contains "$(cat "$log")" "PASS: All tests." "piuparts log of the env"
