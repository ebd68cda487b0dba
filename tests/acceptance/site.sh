# shellcheck shell=bash
# tests/acceptance/site.sh: helpers for the scenarios that deploy the demo
# fixture with djdd (source it after lib.sh, once boot_container has run).
#
# The djdd build directory lives in $CT_DIR/djdd, so scenarios sharing a
# container (run.sh, "# acc-container: site") share the builds and the
# repository too; every helper is idempotent, so a scenario run alone sets
# up what it needs itself. Variants: blue (blue.example.org, celery) and red
# (red.example.org, celery, migrate).

ACC_SRC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# The home page shows "release vN" (fixtures/demo/templates/base.html).
export LOAD_VERSION_RE='release (v[0-9]+)'

# djdd_setup: sets DJDD (the binary), DJDD_DIR, ACC_FIXTURE (the fixture
# repository), ACC_REPO and ACC_REPO_KEY (the published apt repository and
# its public key); makes the build root, the source and the variants when
# missing.
djdd_setup() {
    # Always the binary of this checkout's sources (a stale release build
    # would test old templates): cargo rebuilds only what changed.
    # ACC_DJDD_SRC: another checkout's djdd (bench/upgrade.sh measures the
    # commit before the switch with these scenarios).
    local src="${ACC_DJDD_SRC:-$ACC_SRC_ROOT}"
    (cd "$src" && cargo build --quiet --bin djdd) || fail "cargo build of djdd in $src failed"
    DJDD="${CARGO_TARGET_DIR:-$src/target}/debug/djdd"
    export DJDD_DIR="$CT_DIR/djdd"
    ACC_FIXTURE="$CT_DIR/demo-repo"
    ACC_REPO="$CT_DIR/apt"
    ACC_REPO_KEY="$ACC_REPO/KEY.asc"
    mkdir -p "$DJDD_DIR"
    # djdd publish signs with gpg, which leaves an agent running for
    # DJDD_DIR/gnupg: end it with the scenario (it restarts on demand).
    on_exit "[ ! -d '$DJDD_DIR/gnupg' ] || gpgconf --homedir '$DJDD_DIR/gnupg' --kill gpg-agent 2>/dev/null || true"
    chmod 0755 "$CT_DIR"
    if [ ! -e "$DJDD_DIR/state/init.toml" ]; then
        step "djdd init --suite $ACC_SUITE"
        "$DJDD" init --suite "$ACC_SUITE" || fail "djdd init --suite $ACC_SUITE failed"
        seed_build_caches "$DJDD_DIR"
    fi
    if [ ! -d "$ACC_FIXTURE/.git" ]; then
        sh "$ACC_SRC_ROOT/fixtures/make-repo.sh" "$ACC_FIXTURE" >/dev/null || fail "fixtures/make-repo.sh failed"
    fi
    if [ ! -d "$DJDD_DIR/src/demo.git" ]; then
        "$DJDD" src demo --clone "$ACC_FIXTURE" || fail "djdd src demo failed"
    fi
    # blue's switches warm each new gunicorn worker up with its home page,
    # which reads the database (red keeps the health URL); a djdd from
    # before --warm-url (bench/upgrade.sh's base commit) has none.
    local warm=()
    if "$DJDD" variant --help 2>/dev/null | grep -- '--warm-url' >/dev/null; then
        warm=(--warm-url /)
    fi
    [ -e "$DJDD_DIR/variants/demo/blue.toml" ] ||
        "$DJDD" variant demo blue --domain blue.example.org --celery "${warm[@]}" || fail "djdd variant demo blue failed"
    [ -e "$DJDD_DIR/variants/demo/red.toml" ] ||
        "$DJDD" variant demo red --domain red.example.org --celery --migrate || fail "djdd variant demo red failed"
}

# djdd_build VARIANT TAG: djdd build demo VARIANT --version TAG (djdd itself
# reuses what is already built); prints the time it took.
djdd_build() {
    local variant="$1" tag="$2" t0=$SECONDS
    "$DJDD" build demo "$variant" --version "$tag" >"$CT_DIR/build-$variant-$tag.log" 2>&1 || {
        tail -n 40 "$CT_DIR/build-$variant-$tag.log" >&2
        fail "djdd build demo $variant --version $tag failed (log above)"
    }
    acc_log "djdd build demo $variant $tag: $((SECONDS - t0)) s"
}

# djdd_publish: publish what was built (signed; the key made once), then
# point the container's apt at the repository.
djdd_publish() {
    local t0=$SECONDS
    "$DJDD" publish --init-key --repo "$ACC_REPO" >"$CT_DIR/publish.log" 2>&1 || {
        cat "$CT_DIR/publish.log" >&2
        fail "djdd publish failed (log above)"
    }
    # The suite is the build root's codename, the suite the container runs.
    [ -s "$ACC_REPO/dists/$ACC_SUITE/InRelease" ] || fail "djdd publish wrote no signed dists/$ACC_SUITE/InRelease"
    ct_use_repo "$ACC_REPO" "$ACC_REPO_KEY"
    acc_log "djdd publish + apt update: $((SECONDS - t0)) s"
}

# site_version VARIANT: the installed version of demo-site-VARIANT.
site_version() {
    in_ct dpkg-query -W -f '${Version}' "demo-site-$1" 2>/dev/null || true
}

# ensure_site VARIANT TAG: demo-site-VARIANT built at TAG, published and
# installed (nothing done when that release already serves).
ensure_site() {
    local variant="$1" tag="$2"
    if [ "$(ct_pkg_status "demo-site-$variant")" = ii ] &&
        in_ct grep -qx "RELEASE = \"$tag\"" "/var/lib/demo-site/$variant/current/src/demo/__init__.py" 2>/dev/null; then
        return 0
    fi
    djdd_build "$variant" "$tag"
    djdd_publish
    local t0=$SECONDS
    ct_apt install "demo-site-$variant" || fail "apt-get install demo-site-$variant failed: $APT_OUT"
    acc_log "apt-get install demo-site-$variant ($tag): $((SECONDS - t0)) s"
    # blue has migrate off (the default): the admin migrates by hand, as
    # docs/site-package.md says.
    if ! grep -qx 'migrate = true' "$DJDD_DIR/variants/demo/$variant.toml"; then
        in_ct "demo-$variant" manage migrate --noinput >"$CT_DIR/migrate-$variant.log" 2>&1 || {
            cat "$CT_DIR/migrate-$variant.log" >&2
            fail "demo-$variant manage migrate failed (output above)"
        }
    fi
}

# upgrade_fails_under_load NAME VARIANT N SECS VERSIONS WHY: publishes what
# was built and upgrades demo-site-VARIANT while 8 clients load
# VARIANT.example.org (load loop NAME, at least N requests over SECS s):
# the upgrade must fail (WHY: why it should), no request fail, and the
# versions served be exactly VERSIONS. APT_OUT keeps apt's output.
upgrade_fails_under_load() {
    local name="$1" variant="$2" n="$3" secs="$4" versions="$5" why="$6"
    LOAD_CLIENTS=8 load_start "$name" "$variant.example.org" http://127.0.0.1/ "$n" "$secs"
    sleep 2
    djdd_publish
    if ct_apt install --only-upgrade "demo-site-$variant"; then
        load_stop "$name" || true
        fail "apt-get install --only-upgrade demo-site-$variant ($why) succeeded: $APT_OUT"
    fi
    sleep 2
    load_stop "$name"
    assert_load "$n" "$secs" "$versions"
}

# home_visits VARIANT: GET / through nginx; prints the visit count the page shows.
home_visits() {
    http_get http://127.0.0.1/ "$1.example.org"
    printf '%s\n' "$HTTP_BODY" | sed -n 's/.*class="visits">\([0-9]*\) visit.*/\1/p' | head -n1
}
