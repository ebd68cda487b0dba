#!/usr/bin/env bash
# Scenario 28 (issue 29, part 2): backup and restore. Variant bk
# (`--backup daily --backup-keep 2 --migrate`, no celery):
# - the package ships demo-bk-backup.timer and .service (root, `demo-bk
#   backup --keep 2`), enabled; `scale backup=0` turns it off on a host;
# - a note with an upload, then `demo-bk backup` while a load loop runs on
#   the home page (which writes a visit row a request): every request
#   succeeds; the backup holds database.dump, files.tar, secrets.env (0600)
#   and a manifest naming the site, the release and each file's sha256;
# - a backup onto a full disk fails with exit 1 and leaves nothing;
# - the service the timer starts makes a backup too, and --keep prunes;
# - the notes table dropped and the upload deleted, `demo-bk restore DIR`
#   brings back the row count and the upload's sha256, and the site
#   serves (online) again;
# - a backup with one byte changed is refused before the site goes
#   offline; so is another site's backup (without --as-this-site).
# On bookworm only: the trixie lane is CI's longest (scenarios 23, 25
# and 26 run there only); nothing here depends on the suite.
# acc-suites: bookworm
# acc-container: site
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/site.sh"

boot_container site
djdd_setup

[ -e "$DJDD_DIR/variants/demo/bk.toml" ] ||
    "$DJDD" variant demo bk --domain bk.example.org --migrate --backup daily --backup-keep 2 ||
    fail "djdd variant demo bk failed"
grep -qx 'backup = "daily"' "$DJDD_DIR/variants/demo/bk.toml" || fail "bk.toml lacks backup = \"daily\": $(cat "$DJDD_DIR/variants/demo/bk.toml")"
out="$("$DJDD" variant demo bk --backup 'daily; rm -rf /' 2>&1)" && fail "--backup 'daily; rm -rf /' was accepted"
assert_contains "$out" "--backup" "the error of a bad --backup"
out="$("$DJDD" variant demo bk --backup-keep 0 2>&1)" && fail "--backup-keep 0 was accepted"
assert_contains "$out" "1 to 1000" "the error of --backup-keep 0"

step "bk installed with its backup timer"
ensure_site bk v1
in_ct test -f /lib/systemd/system/demo-bk-backup.timer || fail "no demo-bk-backup.timer"
unit="$(in_ct cat /lib/systemd/system/demo-bk-backup.service)"
assert_contains "$unit" "ExecStart=/usr/bin/demo-bk backup --keep 2" "demo-bk-backup.service"
assert_not_contains "$unit" "User=" "demo-bk-backup.service (runs as root)"
assert_unit_active demo-bk-backup.timer
assert_contains "$(in_ct demo-bk scale 2>&1)" "backup" "demo-bk scale"
assert_http 200 http://127.0.0.1/ bk.example.org

step "a note with an upload"
in_ct_sh 'printf "backup upload %s\n" "$(date +%s%N)" > /tmp/acc-bk-upload.txt'
code="$(in_ct curl -sS -o /dev/null -w '%{http_code}' -H 'Host: bk.example.org' \
    -F text=scenario-28 -F attachment=@/tmp/acc-bk-upload.txt http://127.0.0.1/notes/ 2>&1 || true)"
case $code in 200 | 302 | 303) ;; *) fail "POST /notes/ with an upload: HTTP $code" ;; esac
stored="$(in_ct find /var/lib/demo-site/bk/media/uploads -type f -name 'acc-bk-upload*.txt' | head -n1)"
[ -n "$stored" ] || fail "no uploaded file in bk's media"
sum_before="$(in_ct sha256sum "$stored" | cut -d' ' -f1)"
notes_before="$(ct_psql 'select count(*) from notes_note' demo-bk)"
[ "$notes_before" -ge 1 ] || fail "no note in demo-bk's database"
in_ct_sh 'echo data-file > /var/lib/demo-site/bk/data/acc-data.txt'

step "demo-bk backup while a load loop runs"
load_start bk bk.example.org http://127.0.0.1/ 300 6
sleep 1
out="$(in_ct demo-bk backup 2>&1)" || fail "demo-bk backup failed: $out"
sleep 1
load_stop bk
assert_load 300 6 v1
dir="$(printf '%s\n' "$out" | sed -n 's/.* written to \(\/[^ ]*\) .*/\1/p' | tail -n1)"
[ -n "$dir" ] || fail "demo-bk backup named no directory: $out"
acc_log "backup: $dir; $LOAD_TOTAL requests during it, $LOAD_FAILED failed"
case $dir in /var/backups/demo-site/bk/20[0-9][0-9][01][0-9][0-3][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z) ;; *) fail "backup directory $dir is not /var/backups/demo-site/bk/STAMP" ;; esac
assert_eq "700" "$(in_ct stat -c %a "$dir")" "mode of $dir"
assert_eq "600" "$(in_ct stat -c %a "$dir/secrets.env")" "mode of the backup's secrets.env"
manifest="$(in_ct cat "$dir/manifest")"
assert_contains "$manifest" "site=demo-bk" "the manifest"
assert_contains "$manifest" "version=$(site_version bk)" "the manifest"
for f in database.dump files.tar secrets.env; do
    assert_contains "$manifest" "sha256 $(in_ct sha256sum "$dir/$f" | cut -d' ' -f1) $f" "the manifest"
done
assert_contains "$(in_ct tar -tf "$dir/files.tar")" "media/uploads/acc-bk-upload" "the list of files.tar"
assert_contains "$(in_ct tar -tf "$dir/files.tar")" "data/acc-data.txt" "the list of files.tar"

step "a full disk: the backup fails, leaves nothing, the site serves on"
in_ct mkdir -p /mnt/acc-full
in_ct mount -t tmpfs -o size=16k tmpfs /mnt/acc-full || fail "mounting a small tmpfs failed"
on_exit "in_ct umount /mnt/acc-full 2>/dev/null || true"
out="$(in_ct demo-bk backup /mnt/acc-full/b 2>&1)" && fail "a backup onto a full disk succeeded: $out"
assert_contains "$out" "no backup was written" "a backup onto a full disk"
assert_eq "" "$(in_ct ls -A /mnt/acc-full)" "what the failed backup left on the full disk"
in_ct umount /mnt/acc-full
in_ct test ! -e /var/lib/demo-site/bk/offline || fail "a failed backup took the site offline"
assert_http 200 http://127.0.0.1/ bk.example.org

step "the timer's service backs up too, and keeps 2"
in_ct systemctl start demo-bk-backup.service || { ct_logs demo-bk-backup.service; fail "demo-bk-backup.service failed"; }
sleep 1
in_ct systemctl start demo-bk-backup.service || { ct_logs demo-bk-backup.service; fail "demo-bk-backup.service failed (second run)"; }
n="$(in_ct find /var/backups/demo-site/bk -mindepth 1 -maxdepth 1 -type d -name '20*Z' | wc -l)"
assert_eq 2 "$n" "backups kept with --keep 2"
in_ct test -d "$dir" && fail "the oldest backup $dir was not pruned"
# The newest one is the one restored below.
dir="$(in_ct find /var/backups/demo-site/bk -mindepth 1 -maxdepth 1 -type d -name '20*Z' | sort | tail -n1)"

step "the data goes: a table dropped, the upload deleted"
ct_psql 'drop table notes_note' demo-bk >/dev/null || fail "drop table notes_note failed"
in_ct rm -f "$stored" /var/lib/demo-site/bk/data/acc-data.txt

step "a tampered backup is refused before the site goes offline"
in_ct rm -rf /var/tmp/acc-bad && in_ct cp -a "$dir" /var/tmp/acc-bad
in_ct_sh 'printf "\\001" | dd of=/var/tmp/acc-bad/files.tar bs=1 seek=700 conv=notrunc status=none'
out="$(in_ct demo-bk restore /var/tmp/acc-bad 2>&1)" && fail "a tampered backup was restored: $out"
assert_contains "$out" "files.tar does not match its sha256" "restore of a tampered backup"
assert_contains "$out" "nothing was changed" "restore of a tampered backup"
in_ct test ! -e /var/lib/demo-site/bk/offline || fail "the site went offline for a tampered backup"
in_ct_sh 'cp -a "$1"/files.tar /var/tmp/acc-bad/files.tar && sed -i "s/^site=demo-bk/site=demo-other/" /var/tmp/acc-bad/manifest' "$dir"
out="$(in_ct demo-bk restore /var/tmp/acc-bad 2>&1)" && fail "another site's backup was restored: $out"
assert_contains "$out" "backup of demo-other, not of demo-bk" "restore of another site's backup"
assert_contains "$out" "--as-this-site" "restore of another site's backup"
in_ct test ! -e /var/lib/demo-site/bk/offline || fail "the site went offline for another site's backup"

step "demo-bk restore"
out="$(in_ct demo-bk restore "$dir" 2>&1)" || fail "demo-bk restore failed: $out"
printf '%s\n' "$out" | sed 's/^/  | /' >&2
assert_contains "$out" "offline" "restore's steps"
assert_contains "$out" "is online" "restore's steps"
assert_eq "$notes_before" "$(ct_psql 'select count(*) from notes_note' demo-bk)" "notes after the restore"
assert_eq "$sum_before" "$(in_ct sha256sum "$stored" | cut -d' ' -f1)" "sha256 of the upload after the restore"
assert_eq "data-file" "$(in_ct cat /var/lib/demo-site/bk/data/acc-data.txt)" "the data file after the restore"
assert_eq "demo-bk:www-data" "$(in_ct stat -c %U:%G "$stored")" "owner of the restored upload"
in_ct test ! -e /var/lib/demo-site/bk/offline || fail "the site is still offline after the restore"
assert_http 200 http://127.0.0.1/ bk.example.org
assert_contains "$HTTP_BODY" "scenario-28" "the home page after the restore"
assert_http 200 "http://127.0.0.1/media/${stored#/var/lib/demo-site/bk/media/}" bk.example.org
assert_unit_active demo-bk.service demo-bk-backup.timer

step "scale backup=0 turns the timer off on this host"
in_ct demo-bk scale backup=0 >/dev/null || fail "demo-bk scale backup=0 failed"
assert_unit_inactive demo-bk-backup.timer
in_ct demo-bk scale backup=default >/dev/null || fail "demo-bk scale backup=default failed"
assert_unit_active demo-bk-backup.timer
acc_log "scenario 28 passed"
