#!/usr/bin/env bash
# Scenario 16 (issue 7, 7): remove and purge. `apt-get remove` stops the
# site and keeps configuration, secrets, database and media; a reinstall
# serves the same data with the same secrets. `apt-get purge` removes
# configuration, secrets, logs and units; the database and the media files
# are still there afterwards.
# acc-container: site
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/site.sh"

boot_container site
djdd_setup

step "blue installed, with a note and an upload"
[ "$(ct_pkg_status demo-site-blue)" = ii ] || ensure_site blue v1
tag="keep-me-$RANDOM$RANDOM"
in_ct_sh 'printf "%s\n" "$1" > /tmp/acc-keep.txt' "$tag"
code="$(in_ct curl -sS -o /dev/null -w '%{http_code}' -H 'Host: blue.example.org' \
    -F "text=$tag" -F attachment=@/tmp/acc-keep.txt http://127.0.0.1/notes/ 2>&1 || true)"
assert_eq 302 "$code" "POST /notes/ with an attachment"
media_file="$(in_ct find /var/lib/demo-site/blue/media/uploads -type f -name 'acc-keep*.txt' -newer /tmp/acc-keep.txt | head -n1)"
[ -n "$media_file" ] || fail "the upload is not under /var/lib/demo-site/blue/media/uploads"
secret_before="$(in_ct sed -n 's/^SECRET_KEY=//p' /etc/demo-site/blue/secrets.env)"
[ -n "$secret_before" ] || fail "no SECRET_KEY in /etc/demo-site/blue/secrets.env"
in_ct_sh 'echo "# scenario 16 was here" >> /etc/demo-site/blue/local.env'

step "apt-get remove: the site stops, configuration and data stay"
ct_apt remove demo-site-blue || fail "apt-get remove demo-site-blue failed: $APT_OUT"
assert_eq rc "$(ct_pkg_status demo-site-blue)" "dpkg status after remove"
for u in demo-blue.service demo-blue.socket demo-blue-celery.service; do
    s="$(in_ct systemctl is-active "$u" 2>&1 || true)"
    [ "$s" != active ] || fail "$u is still active after apt-get remove"
done
http_get http://127.0.0.1/ blue.example.org
assert_not_contains "$HTTP_BODY" "$tag" "answer for blue.example.org after remove"
in_ct test ! -e /etc/nginx/sites-enabled/demo-blue.conf || fail "the nginx site link is still there after remove"
assert_eq "$secret_before" "$(in_ct sed -n 's/^SECRET_KEY=//p' /etc/demo-site/blue/secrets.env)" "SECRET_KEY after remove"
in_ct grep -q "scenario 16 was here" /etc/demo-site/blue/local.env || fail "local.env lost the admin's line after remove"
assert_eq 1 "$(ct_psql "select count(*) from notes_note where text = '$tag'" demo-blue)" "the note in database demo-blue after remove"
assert_eq "$tag" "$(in_ct cat "$media_file")" "the uploaded file after remove"

step "reinstall serves the same data with the same secrets"
ct_apt install demo-site-blue || fail "apt-get install demo-site-blue (after remove) failed: $APT_OUT"
assert_eq ii "$(ct_pkg_status demo-site-blue)" "dpkg status after reinstall"
assert_unit_active demo-blue.socket demo-blue.service demo-blue-celery.service
assert_http 200 http://127.0.0.1/ blue.example.org
assert_contains "$HTTP_BODY" "$tag" "home page after reinstall"
assert_http 200 "http://127.0.0.1/media/${media_file#/var/lib/demo-site/blue/media/}" blue.example.org
assert_eq "$tag" "$HTTP_BODY" "the upload served after reinstall"
assert_eq "$secret_before" "$(in_ct sed -n 's/^SECRET_KEY=//p' /etc/demo-site/blue/secrets.env)" "SECRET_KEY after reinstall"
in_ct grep -q "scenario 16 was here" /etc/demo-site/blue/local.env || fail "local.env lost the admin's line after reinstall"

step "apt-get purge: configuration, secrets, logs and units go; database and media stay"
ct_apt purge demo-site-blue || fail "apt-get purge demo-site-blue failed: $APT_OUT"
assert_eq "" "$(ct_pkg_status demo-site-blue | sed 's/^pn$//')" "dpkg status after purge"
for p in /etc/demo-site/blue /var/log/demo-site/blue /srv/demo-site/blue /var/lib/demo-site/blue/current \
    /etc/nginx/sites-enabled/demo-blue.conf /lib/systemd/system/demo-blue.service \
    /lib/systemd/system/demo-blue.socket /lib/systemd/system/demo-blue-celery.service /usr/bin/demo-blue; do
    in_ct test ! -e "$p" -a ! -L "$p" || fail "$p is still there after purge"
done
left="$(in_ct find /etc/systemd/system -name 'demo-blue*' 2>&1)"
assert_eq "" "$left" "demo-blue units or links left under /etc/systemd/system after purge"
s="$(in_ct systemctl is-active demo-blue.service 2>&1 || true)"
[ "$s" != active ] || fail "demo-blue.service is active after purge"
http_get http://127.0.0.1/ blue.example.org
assert_not_contains "$HTTP_BODY" "$tag" "answer for blue.example.org after purge"
assert_eq 1 "$(ct_psql "select count(*) from notes_note where text = '$tag'" demo-blue)" "the note in database demo-blue after purge"
assert_eq "$tag" "$(in_ct cat "$media_file")" "the uploaded file after purge"
acc_log "scenario 16 passed"
