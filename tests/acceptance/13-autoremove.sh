#!/usr/bin/env bash
# Scenario 13 (issue 7, 4): old packages. Once blue and red run v3, the env
# and src packages of v1 and v2 (installed as dependencies of the older site
# packages) are no longer needed: apt lists them as autoremovable,
# `apt-get autoremove` removes them (and nothing v3 needs), and both sites
# still serve v3.
# acc-container: site
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/site.sh"

boot_container site
djdd_setup

step "blue went v1 -> v2 -> v3, red runs v3"
# Alone (a fresh container), walk blue through the releases so the old env
# and src packages get installed; in the shared container scenario 12 did.
if [ "$(ct_pkg_status demo-site-blue)" != ii ] ||
    ! in_ct grep -qx 'RELEASE = "v3"' /var/lib/demo-site/blue/current/src/demo/__init__.py 2>/dev/null; then
    [ "$(ct_pkg_status demo-site-blue)" = ii ] || ensure_site blue v1
    ensure_site blue v2
    ensure_site blue v3
fi
ensure_site red v3

# What v3 needs: the env and src packages the two site packages depend on.
needed="$(in_ct dpkg-query -W -f '${Depends}\n' demo-site-blue demo-site-red |
    tr ',' '\n' | sed -n 's/^ *\(demo-\(env\|src\)-[a-z0-9.+-]*\).*/\1/p' | sort -u)"
[ "$(printf '%s\n' "$needed" | grep -c '^demo-env-')" -ge 1 ] || fail "demo-site-blue/red depend on no demo-env package: $needed"
[ "$(printf '%s\n' "$needed" | grep -c '^demo-src-')" -ge 1 ] || fail "demo-site-blue/red depend on no demo-src package: $needed"
# Every env and src package the repository has (v1, v2, v3).
published="$(in_ct_sh "apt-cache pkgnames demo-env-; apt-cache pkgnames demo-src-" | sort -u)"
old="$(comm -23 <(printf '%s\n' "$published") <(printf '%s\n' "$needed"))"
# v1 and v2 share an env (same requirements) but not a src: at least 1 + 2.
[ "$(printf '%s\n' "$old" | grep -c '^demo-env-')" -ge 1 ] || fail "no env package older than v3's in the repository: $published"
[ "$(printf '%s\n' "$old" | grep -c '^demo-src-')" -ge 2 ] || fail "fewer than two src packages older than v3's in the repository: $published"
acc_log "v3 needs: $(echo $needed); older: $(echo $old)"

# A rerun in a container where they are already gone: put them back as
# automatically installed (what apt did when they came as dependencies).
missing=()
for p in $old; do [ "$(ct_pkg_status "$p")" = ii ] || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
    step "reinstalling ${missing[*]} (removed by an earlier run)"
    ct_apt install "${missing[@]}" || fail "apt-get install ${missing[*]} failed: $APT_OUT"
    in_ct apt-mark auto "${missing[@]}" >/dev/null
fi

step "the old env and src packages are autoremovable"
auto="$(in_ct apt-mark showauto)"
for p in $old; do
    assert_eq ii "$(ct_pkg_status "$p")" "dpkg status of $p before autoremove"
    grep -qx "$p" <<<"$auto" || fail "$p is not marked automatically installed (apt-mark showauto)"
done
in_ct apt-get autoremove --dry-run >"$CT_DIR/autoremove-dry.txt" 2>&1 || fail "apt-get autoremove --dry-run failed: $(cat "$CT_DIR/autoremove-dry.txt")"
dry="$(sed -n 's/^Remv \([^ ]*\) .*/\1/p' "$CT_DIR/autoremove-dry.txt" | sort)"
for p in $old; do
    grep -qx "$p" <<<"$dry" || fail "apt-get autoremove --dry-run does not list $p: $(cat "$CT_DIR/autoremove-dry.txt")"
done
for p in $needed demo-site-blue demo-site-red; do
    if grep -qx "$p" <<<"$dry"; then fail "apt-get autoremove --dry-run would remove $p, which v3 needs"; fi
done

step "apt-get autoremove removes them"
ct_apt autoremove || fail "apt-get autoremove failed: $APT_OUT"
for p in $old; do
    s="$(ct_pkg_status "$p")"
    case "$s" in "" | rc | un | pn) ;; *) fail "$p is still installed after apt-get autoremove (status $s)" ;; esac
    in_ct test ! -e "/usr/lib/${p%-*}/${p##*-}" || fail "/usr/lib/${p%-*}/${p##*-} is still there after apt-get autoremove"
done
for p in $needed demo-site-blue demo-site-red; do
    assert_eq ii "$(ct_pkg_status "$p")" "dpkg status of $p after autoremove"
done

step "both sites still serve v3"
for v in blue red; do
    assert_unit_active "demo-$v.socket" "demo-$v.service" "demo-$v-celery.service"
    assert_http 200 http://127.0.0.1/ "$v.example.org"
    assert_contains "$HTTP_BODY" "release v3" "$v's home page after autoremove"
    assert_http 200 http://127.0.0.1/static/notes/style.css "$v.example.org"
done
acc_log "scenario 13 passed"
