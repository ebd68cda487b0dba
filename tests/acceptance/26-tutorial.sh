#!/usr/bin/env bash
# Scenario 26 (issue 31): docs/tutorial.md, followed as written, on its
# project (fixtures/adopt/tutorial: a Procfile with uWSGI, a celery worker
# and beat, a release line that migrates; manage.py in backend/). Every
# fenced block the page marks `<!-- tutorial: build -->` runs in bash on
# the build host, in the project's checkout (a repository made by
# fixtures/make-repo.sh), with djdd on PATH; every block marked
# `<!-- tutorial: target -->` runs in the booted container. The one
# change to the text: the page's /srv/apt is this run's own directory.
# The page's "add the repository" block (https, curl) is what
# ct_use_repo does with the published directory. Then it checks what the
# page promises: the home page through nginx, the static file, an order
# placed by the celery worker in PostgreSQL, beat running, and that
# `djdd adopt` run again changes nothing.
# ACC_ADOPT_SHAPES="src-layout settings-package asgi" (not set in CI, to
# keep its time) then adopts, builds, checks, installs and requests each
# of those fixtures/adopt shapes on the same host, with the commands
# adopt prints (tests/adopt.rs checks them all with `djdd check` in CI).
# acc-suites: trixie
# (the page targets Debian 13, trixie; its djdd commands, the adopted
# files and the packages are the same on bookworm, which the other
# scenarios cover.)
source "$(dirname "$0")/lib.sh"

ACC_SRC_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
page="$ACC_SRC_ROOT/docs/tutorial.md"
boot_container tutorial
(cd "$ACC_SRC_ROOT" && cargo build --quiet --bin djdd) || fail "cargo build of djdd failed"
mkdir -p "$CT_DIR/bin"
ln -sf "${CARGO_TARGET_DIR:-$ACC_SRC_ROOT/target}/debug/djdd" "$CT_DIR/bin/djdd"
export DJDD_DIR="$CT_DIR/djdd"
chmod 0755 "$CT_DIR"
on_exit "[ ! -d '$DJDD_DIR/gnupg' ] || gpgconf --homedir '$DJDD_DIR/gnupg' --kill gpg-agent 2>/dev/null || true"

# as_the_user: in a subshell, what a user on the build host has: djdd on
# PATH, git with an identity and nobody's configuration.
as_the_user() {
    export PATH="$CT_DIR/bin:$PATH" GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 \
        GIT_AUTHOR_NAME='djdd tutorial' GIT_AUTHOR_EMAIL='tutorial@djdd.invalid' \
        GIT_COMMITTER_NAME='djdd tutorial' GIT_COMMITTER_EMAIL='tutorial@djdd.invalid'
}

checkout="$CT_DIR/shop"
sh "$ACC_SRC_ROOT/fixtures/make-repo.sh" "$checkout" adopt/tutorial >/dev/null || fail "fixtures/make-repo.sh adopt/tutorial failed"

# tutorial_blocks: the page's marked blocks, in order, each as
# "KIND<TAB>LINE<TAB>TEXT" with the text's newlines as \n (KIND: build or
# target). An unmarked block is prose's, not run.
tutorial_blocks() {
    awk '
        /^<!-- tutorial: (build|target) -->$/ { kind = $3; next }
        /^```sh$/ && kind != "" { inblock = 1; start = NR; text = ""; next }
        /^```$/ && inblock { printf "%s\t%d\t%s\n", kind, start, text; inblock = 0; kind = ""; next }
        inblock { line = $0; gsub(/\\/, "\\\\", line); text = text line "\\n"; next }
        { kind = "" }
    ' "$page"
}
mapfile -t blocks < <(tutorial_blocks)
[ "${#blocks[@]}" -ge 6 ] || fail "docs/tutorial.md: only ${#blocks[@]} marked blocks"

repo_added=0
for b in "${blocks[@]}"; do
    IFS=$'\t' read -r kind line text <<<"$b"
    script="$(printf '%b' "$text" | sed "s#/srv/apt#$CT_DIR/apt#g")"
    step "docs/tutorial.md:$line ($kind): $(printf '%s' "$script" | head -n1)..."
    if [ "$kind" = build ]; then
        (
            cd "$checkout"
            as_the_user
            bash -euo pipefail -c "$script"
        ) >"$CT_DIR/block-$line.log" 2>&1 || {
            tail -n 60 "$CT_DIR/block-$line.log" >&2
            fail "docs/tutorial.md:$line: the build host's block failed (its output above)"
        }
        cat "$CT_DIR/block-$line.log" >&2
    else
        if [ "$repo_added" = 0 ]; then
            ct_use_repo "$CT_DIR/apt" "$CT_DIR/apt/KEY.asc"
            repo_added=1
        fi
        in_ct_sh "$script" >"$CT_DIR/block-$line.log" 2>&1 || {
            tail -n 60 "$CT_DIR/block-$line.log" >&2
            fail "docs/tutorial.md:$line: the target's block failed (its output above)"
        }
        cat "$CT_DIR/block-$line.log" >&2
    fi
done
[ "$repo_added" = 1 ] || fail "docs/tutorial.md has no target block"

step "what the page promises"
adopted="$(cat "$CT_DIR"/block-*.log)"
assert_contains "$adopted" "djdd serves the site with gunicorn, which djdd provides" "djdd adopt's report"
assert_contains "$adopted" "ok: the project meets the deploy contract" "djdd check after the build"
assert_not_contains "$adopted" "error[" "djdd check's reports"
assert_unit_active shop-live.socket shop-live.service shop-live-celery.service shop-live-beat.target nginx.service
assert_http 200 http://127.0.0.1/ shop.example.org
assert_contains "$HTTP_BODY" "The shop" "the home page"
assert_contains "$HTTP_BODY" "0 orders" "the home page before an order"
assert_http 200 http://127.0.0.1/static/orders/style.css shop.example.org
assert_eq "$(cat "$checkout/backend/orders/static/orders/style.css")" "$HTTP_BODY" "style.css through nginx"
code="$(in_ct curl -sS -o /dev/null -w '%{http_code}' -H 'Host: shop.example.org' -d item=bread http://127.0.0.1/orders/ 2>&1 || true)"
assert_eq 302 "$code" "POST /orders/"
placed() {
    http_get http://127.0.0.1/ shop.example.org
    grep -q '<li>bread</li>' <<<"$HTTP_BODY"
}
wait_for "the worker to place the order" 60 placed
assert_eq 1 "$(ct_psql 'select count(*) from orders_order' shop-live)" "orders in database shop-live"
assert_contains "$(in_ct cat /var/lib/shop-site/live/release-commands)" " ok" "the release commands' last run (clearsessions, from the Procfile)"
in_ct test -s /var/lib/shop-site/live/data/celerybeat-schedule ||
    wait_for "beat's schedule file in DATA_DIR" 30 in_ct test -s /var/lib/shop-site/live/data/celerybeat-schedule

step "djdd adopt again: nothing to do"
again="$(cd "$checkout" && "$CT_DIR/bin/djdd" adopt 2>&1)" || fail "djdd adopt, run again, failed: $again"
assert_contains "$again" "nothing to do" "djdd adopt run again"
assert_eq "" "$(git -C "$checkout" status --porcelain)" "git status after adopt ran again"

# The other shapes, when asked for: what each one's home page says.
declare -A shape_page=(
    [src-layout]="the blog, from a src/ layout"
    [settings-package]="a site with its settings in a package"
    [asgi]="an ASGI chat, served async"
)
for shape in ${ACC_ADOPT_SHAPES:-}; do
    [ -n "${shape_page[$shape]:-}" ] || fail "ACC_ADOPT_SHAPES: no shape $shape"
    step "fixtures/adopt/$shape: adopt, build, check, install"
    dir="$CT_DIR/$shape"
    sh "$ACC_SRC_ROOT/fixtures/make-repo.sh" "$dir" "adopt/$shape" >/dev/null || fail "make-repo.sh adopt/$shape failed"
    (
        cd "$dir"
        as_the_user
        djdd adopt >"$CT_DIR/adopt-$shape.log"
        # The flags of the variant command adopt prints (--celery, --migrate).
        flags="$(sed -n 's/^  djdd variant [^ ]* VARIANT --domain DOMAIN//p' "$CT_DIR/adopt-$shape.log")"
        git add -A && git commit -qm "Deploy with djdd"
        djdd src "$shape" --clone "$PWD"
        # shellcheck disable=SC2086 # the flags, one word each
        djdd variant "$shape" live --domain "$shape.example.org" $flags
        djdd build "$shape" live
        djdd check "$shape" live
        djdd publish --repo "$CT_DIR/apt"
    ) >"$CT_DIR/shape-$shape.log" 2>&1 || {
        tail -n 60 "$CT_DIR/shape-$shape.log" >&2
        fail "fixtures/adopt/$shape: adopt, build, check or publish failed (output above)"
    }
    assert_contains "$(cat "$CT_DIR/shape-$shape.log")" "ok: the project meets the deploy contract" "djdd check $shape live"
    ct_use_repo "$CT_DIR/apt" "$CT_DIR/apt/KEY.asc"
    ct_apt install "$shape-site-live" || fail "apt-get install $shape-site-live failed: $APT_OUT"
    assert_http 200 http://127.0.0.1/ "$shape.example.org"
    assert_contains "$HTTP_BODY" "${shape_page[$shape]}" "the home page of $shape"
done
acc_log "scenario 26 passed"
