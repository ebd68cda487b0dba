#!/usr/bin/env bash
# Scenario 20 (issue 13): a project shaped like real ones deploys as it is.
# fixtures/pulse: default branch `master`, requirements chained with -r and
# pinned with ranges, uWSGI (not gunicorn) compiled from its sdist, an ASGI
# application with an `async def` view, a long-running management command
# (two copies), celery beat as a process, a celery worker, and a
# management command on a timer. Checked on the booted host:
#   - `djdd variant` records `master`; --plan and `djdd check` say that
#     djdd provides gunicorn (and uvicorn's worker);
#   - apt-get install serves the site (the async view answers through
#     nginx), every unit is active, `systemd-analyze verify` passes on
#     each generated unit, `systemd-analyze security` scores each <= 2.0
#     (issue 19: the strict sandbox runs uvicorn, celery and the jobs);
#   - the heartbeat process advances, the timer's job runs, celery beat's
#     periodic task runs in the worker; `pulse-blue timers` shows the job;
#   - after an upgrade to v2, the heartbeats come from v2's code;
#   - one copy instead of two: the second copy and the target stop;
#   - remove stops every unit; purge removes the units and their state,
#     keeps DATA_DIR;
#   - lintian --fail-on error,warning and piuparts pass on the packages.
# And (issue 26) per-host counts (`pulse-blue scale`, scale.env):
#   - scale.env placed before install with heartbeat=0: no heartbeat
#     instance ever starts, `status` exits 0 and says "off"; a name the
#     release does not have is warned about, kept, ignored;
#   - `scale heartbeat=2` runs two instances; `scale unknown=1` and a
#     timer at 2 are refused, nothing written;
#   - an upgrade keeps the host's count (3, the package's is 2);
#   - `scale heartbeat=0 sweep=0`: nothing of them runs, status exits 0;
#   - a reboot keeps the counts (heartbeat=1, the timer off);
#   - `scale heartbeat=default` and a package count of 1: the second
#     instance stops.
# And (issue 20) Redis: the project declares it (djdd.toml `redis = true`)
# and blue uses it as celery's broker (`--broker redis`) and its cache:
#   - each site gets its own redis-server@ instance on a unix socket only
#     its user can open (no TCP port), with a password;
#   - a value cached before the upgrade is there after it;
#   - red cannot connect to blue's instance (permission denied);
#   - an instance of that name djdd did not make is refused, untouched;
#   - purge removes the instance's configuration, keeps its data.
source "$(dirname "$0")/lib.sh"

acc_need_host_packages lintian piuparts
boot_container pulse
ACC_SRC_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
(cd "$ACC_SRC_ROOT" && cargo build --quiet --bin djdd) || fail "cargo build of djdd failed"
DJDD="${CARGO_TARGET_DIR:-$ACC_SRC_ROOT/target}/debug/djdd"
export DJDD_DIR="$CT_DIR/djdd"
chmod 0755 "$CT_DIR"
on_exit "[ ! -d '$DJDD_DIR/gnupg' ] || gpgconf --homedir '$DJDD_DIR/gnupg' --kill gpg-agent 2>/dev/null || true"
repo="$CT_DIR/pulse-repo"
apt_repo="$CT_DIR/apt"

step "djdd init, src (branch master), variant blue with two heartbeats"
"$DJDD" init --suite "$ACC_SUITE" >"$CT_DIR/init.log" 2>&1 || { tail -n 30 "$CT_DIR/init.log" >&2; fail "djdd init failed"; }
seed_build_caches "$DJDD_DIR"
sh "$ACC_SRC_ROOT/fixtures/make-repo.sh" "$repo" pulse >/dev/null || fail "fixtures/make-repo.sh pulse failed"
"$DJDD" src pulse --clone "$repo" >/dev/null 2>&1 || fail "djdd src pulse failed"
"$DJDD" variant pulse blue --domain pulse.example.org --celery --broker redis --migrate --process heartbeat=2 ||
    fail "djdd variant pulse blue failed"
assert_contains "$(cat "$DJDD_DIR/variants/pulse/blue.toml")" 'branch = "master"' "the variant file (no --branch: the source's default branch)"

build() { # TAG
    "$DJDD" build pulse blue --version "$1" -Z xz >"$CT_DIR/build-$1.log" 2>&1 || {
        tail -n 40 "$CT_DIR/build-$1.log" >&2
        fail "djdd build pulse blue --version $1 failed (log above)"
    }
}
publish() {
    "$DJDD" publish --init-key --repo "$apt_repo" >"$CT_DIR/publish.log" 2>&1 || {
        cat "$CT_DIR/publish.log" >&2
        fail "djdd publish failed"
    }
    ct_use_repo "$apt_repo" "$apt_repo/KEY.asc"
}

step "the plan names the app server djdd provides"
plan="$("$DJDD" build pulse blue --version v1 --plan 2>&1)" || fail "djdd build --plan failed: $plan"
printf '%s\n' "$plan" >&2
assert_contains "$plan" "djdd adds gunicorn==" "the plan"
assert_contains "$plan" "uvicorn-worker==" "the plan (ASGI)"

step "build v1 (uWSGI compiled, gunicorn added), check, publish, install"
t0=$SECONDS
build v1
acc_log "build v1: $((SECONDS - t0)) s"
check="$("$DJDD" check pulse blue 2>&1)" || { printf '%s\n' "$check" >&2; fail "djdd check pulse blue found problems"; }
assert_contains "$check" "djdd adds gunicorn==" "djdd check"
assert_contains "$check" "checked heartbeat, sweep" "djdd check (the processes' and timers' manage.py commands)"
publish
# The rollout places this host's counts before the package is installed.
in_ct mkdir -p /etc/pulse-site/blue
printf '# placed by the rollout before install\nheartbeat=0\noldjob=1\n' |
    in_ct sh -c 'umask 077 && cat >/etc/pulse-site/blue/scale.env'
ct_apt install pulse-site-blue || fail "apt-get install pulse-site-blue failed: $APT_OUT"
assert_eq ii "$(ct_pkg_status pulse-site-blue)" "dpkg status of pulse-site-blue"
assert_contains "$APT_OUT" "scale.env names oldjob: release " "postinst's warning about a name the release does not have"
assert_contains "$APT_OUT" "has no such process or timer (kept in the file, ignored)" "postinst's warning about a name the release does not have"

units=(redis-server@pulse-blue.service pulse-blue.socket pulse-blue.service pulse-blue-celery.service
    pulse-blue-beat@1.service pulse-blue-beat.target pulse-blue-sweep.timer)
assert_unit_active "${units[@]}"

step "heartbeat at 0 in scale.env before install: never started, not enabled, status exit 0 says off"
assert_unit_inactive pulse-blue-heartbeat@1.service pulse-blue-heartbeat@2.service pulse-blue-heartbeat.target
# (journalctl says "Failed to add filter for units" on stderr when no
# unit of the pattern ever logged.)
out="$(in_ct journalctl -q --no-pager -u 'pulse-blue-heartbeat@*.service' 2>/dev/null || true)"
[ -z "$out" ] || fail "a heartbeat instance was started (journal): $out"
in_ct test ! -e /etc/systemd/system/pulse-blue-heartbeat.target.wants ||
    fail "heartbeat instances are enabled: $(in_ct ls -l /etc/systemd/system/pulse-blue-heartbeat.target.wants 2>&1)"
in_ct test ! -e /etc/systemd/system/multi-user.target.wants/pulse-blue-heartbeat.target || fail "the heartbeat target is enabled at 0"
assert_eq "root root 644" "$(in_ct stat -c '%U %G %a' /etc/pulse-site/blue/scale.env)" "scale.env's owner and mode (postinst)"
status="$(in_ct pulse-blue status 2>&1)" || fail "pulse-blue status fails with heartbeat scaled to 0: $status"
grep -Eq '^ +pulse-blue-heartbeat.target +off \(scaled to 0 on this host\)$' <<<"$status" ||
    fail "pulse-blue status does not say heartbeat is off: $status"
out="$(in_ct pulse-blue scale 2>&1)" || fail "pulse-blue scale failed: $out"
printf '%s\n' "$out" >&2
grep -Eq '^ +heartbeat +process +0  this host \(package: 2\)$' <<<"$out" || fail "pulse-blue scale: $out"
grep -Eq '^ +beat +process +1  package default$' <<<"$out" || fail "pulse-blue scale: $out"
grep -Eq '^ +sweep +timer +on  package default$' <<<"$out" || fail "pulse-blue scale: $out"
grep -Eq '^ +oldjob +ignored' <<<"$out" || fail "pulse-blue scale: $out"

step "refused: an unknown name, a timer at 2 (nothing written); scale heartbeat=2 runs two instances"
sum="$(in_ct sha256sum /etc/pulse-site/blue/scale.env)"
rc=0
out="$(in_ct pulse-blue scale unknown=1 2>&1)" || rc=$?
assert_eq 2 "$rc" "exit status of scale unknown=1"
assert_contains "$out" "no process or timer 'unknown'" "scale unknown=1"
rc=0
out="$(in_ct pulse-blue scale heartbeat=2 sweep=2 2>&1)" || rc=$?
assert_eq 2 "$rc" "exit status of scale heartbeat=2 sweep=2"
assert_contains "$out" "sweep=2: a timer is 0 (off) or 1 (on)" "scale sweep=2"
assert_eq "$sum" "$(in_ct sha256sum /etc/pulse-site/blue/scale.env)" "scale.env after refused scale commands"
assert_unit_inactive pulse-blue-heartbeat@1.service
out="$(in_ct pulse-blue scale heartbeat=2 2>&1)" || fail "pulse-blue scale heartbeat=2 failed: $out"
assert_unit_active pulse-blue-heartbeat.target pulse-blue-heartbeat@1.service pulse-blue-heartbeat@2.service
assert_eq "$(printf '# placed by the rollout before install\nheartbeat=2\noldjob=1')" "$(in_ct cat /etc/pulse-site/blue/scale.env)" "scale.env after scale heartbeat=2"
assert_eq "root root 644" "$(in_ct stat -c '%U %G %a' /etc/pulse-site/blue/scale.env)" "scale.env's owner and mode (scale)"
in_ct sh -c 'ls /usr/lib/pulse-env/*/bin/gunicorn /usr/lib/pulse-env/*/bin/uwsgi' >/dev/null ||
    fail "the env has no gunicorn (djdd's) or no uwsgi (the project's)"

step "blue's Redis: a unix socket of its own, a password, no TCP port"
assert_eq "pulse-blue 700" "$(in_ct stat -c '%U %a' /run/redis-pulse-blue/redis.sock)" "owner and mode of blue's Redis socket"
# redis_cli USER SOCKET ARGS...: redis-cli as USER with blue's password.
redis_cli() {
    local user="$1" sock="$2"
    shift 2
    in_ct sh -c '. /etc/pulse-site/blue/secrets.env && exec runuser -u "$0" -- redis-cli --no-auth-warning -a "$REDIS_PASSWORD" -s "$@"' "$user" "$sock" "$@" 2>&1
}
assert_eq PONG "$(redis_cli pulse-blue /run/redis-pulse-blue/redis.sock ping)" "blue's Redis, as pulse-blue with its password"
assert_contains "$(redis_cli pulse-blue /run/redis-pulse-blue/redis.sock config get port)" $'port\n0' "blue's Redis listens on no TCP port"
out="$(in_ct runuser -u pulse-blue -- redis-cli -s /run/redis-pulse-blue/redis.sock ping 2>&1 || true)"
assert_contains "$out" "NOAUTH" "blue's Redis without the password"

step "systemd-analyze verify on every generated unit"
out="$(in_ct sh -c 'systemd-analyze verify /lib/systemd/system/pulse-blue*.service /lib/systemd/system/pulse-blue*.socket /lib/systemd/system/pulse-blue*.timer /lib/systemd/system/pulse-blue*.target 2>&1')" ||
    fail "systemd-analyze verify failed: $out"
if grep -q 'pulse-blue' <<<"$out"; then fail "systemd-analyze verify complains: $out"; fi

step "systemd-analyze security: every unit <= 2.0 (issue 19)"
# The web, worker, process and timer services djdd generates, and the
# site's Redis (Debian's unit with djdd's drop-in).
assert_unit_scores 2.0 pulse-blue.service pulse-blue-celery.service pulse-blue-heartbeat@1.service \
    pulse-blue-heartbeat@2.service pulse-blue-beat@1.service pulse-blue-sweep.service redis-server@pulse-blue.service

step "the site answers through nginx, the async view too"
assert_http 200 http://127.0.0.1/ pulse.example.org
assert_contains "$HTTP_BODY" "pulse release v1" "home page"
assert_http 200 http://127.0.0.1/async/ pulse.example.org
assert_contains "$HTTP_BODY" "async ok release=v1 loop=" "the async view"

# counter NAME: sets COUNTER_VALUE and COUNTER_RELEASE (the release that
# last bumped it) from /status/; both "" when it is absent.
counter() {
    http_get http://127.0.0.1/status/ pulse.example.org
    local line
    line="$(printf '%s\n' "$HTTP_BODY" | awk -v n="$1" '$1 == n {print $2, $3}')"
    COUNTER_VALUE="${line%% *}"
    COUNTER_RELEASE="${line#* }"
}
# wait_counter NAME MIN RELEASE SECONDS: until counter NAME >= MIN, bumped
# by RELEASE; sets WAITED to its value.
wait_counter() {
    local name="$1" min="$2" release="$3" secs="$4" deadline=$((SECONDS + $4))
    while :; do
        counter "$name"
        if [ -n "$COUNTER_VALUE" ] && [ "$COUNTER_VALUE" -ge "$min" ] && [ "$COUNTER_RELEASE" = "$release" ]; then
            WAITED="$COUNTER_VALUE"
            return 0
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            ct_logs pulse-blue-celery.service 30
            ct_logs pulse-blue-beat.service 20
            ct_logs redis-server@pulse-blue.service 10
        fi
        [ "$SECONDS" -lt "$deadline" ] || fail "counter $name did not reach $min from $release in $secs s (last: '${COUNTER_VALUE:-none}' from '${COUNTER_RELEASE:-}'); /status/: $HTTP_BODY"
        sleep 1
    done
}

step "a value in the cache (Redis)"
probe="kept-$RANDOM$RANDOM"
assert_http 200 "http://127.0.0.1/cache/?set=$probe" pulse.example.org
assert_http 200 http://127.0.0.1/cache/ pulse.example.org
assert_eq "cache $probe" "$HTTP_BODY" "the cached value"

step "the heartbeats advance, the timer's job runs, beat's task runs in the worker (broker: Redis)"
wait_counter heartbeat-1 1 v1 30
wait_counter heartbeat-1 $((WAITED + 2)) v1 20
wait_counter heartbeat-2 1 v1 30
wait_counter heartbeat-2 $((WAITED + 2)) v1 20
wait_counter sweep 1 v1 40
wait_counter sweep $((WAITED + 1)) v1 20
wait_counter tick 1 v1 60
wait_counter tick $((WAITED + 1)) v1 20
timers="$(in_ct pulse-blue timers 2>&1)" || fail "pulse-blue timers failed: $timers"
printf '%s\n' "$timers" >&2
assert_contains "$timers" "pulse-blue-sweep.timer (*:*:0/5)" "pulse-blue timers"
assert_contains "$timers" "result: success (exit status 0)" "pulse-blue timers (the last run)"
status="$(in_ct pulse-blue status 2>&1)" || fail "pulse-blue status says something is not running: $status"
for u in pulse-blue-heartbeat@1.service pulse-blue-heartbeat@2.service pulse-blue-beat@1.service pulse-blue-sweep.timer; do
    grep -Eq "^ +$u +active\$" <<<"$status" || fail "pulse-blue status does not show $u active: $status"
done

step "logs: gunicorn's and a process's lines, merged in time order, each with its unit"
logs="$(in_ct pulse-blue logs gunicorn heartbeat 2>&1)" || fail "pulse-blue logs failed: $logs"
grep -Eq ' pulse-blue\.service\[[0-9]+\]: .*Booting worker' <<<"$logs" ||
    fail "pulse-blue logs shows no line of gunicorn (pulse-blue.service): $logs"
grep -Eq ' pulse-blue-heartbeat@1\.service\[[0-9]+\]: heartbeat-1: beating every' <<<"$logs" ||
    fail "pulse-blue logs shows no line of the process (pulse-blue-heartbeat@1.service): $logs"
grep -q 'pulse-blue-sweep' <<<"$logs" && fail "pulse-blue logs gunicorn heartbeat shows the timer's lines: $logs"
# In time order: no line's time is before the line above it.
printf '%s\n' "$logs" | awk '/^-- /{next} {t = $2 " " $3; if (p != "" && t < p) {print "out of order: " $0; bad = 1} p = t} END {exit bad}' ||
    fail "pulse-blue logs is not in time order: $logs"
all="$(in_ct pulse-blue logs 2>&1)" || fail "pulse-blue logs (every unit) failed"
assert_contains "$all" "swept" "pulse-blue logs (the timer's job)"
rc=0
out="$(in_ct pulse-blue logs nosuch 2>&1)" || rc=$?
assert_eq 2 "$rc" "exit status of pulse-blue logs nosuch"
assert_contains "$out" "has no unit 'nosuch'" "pulse-blue logs nosuch"
# shelve names its files after the dbm module it finds (celerybeat-schedule,
# or .dat/.dir with dbm.dumb).
in_ct sh -c 'ls /var/lib/pulse-site/blue/data/celerybeat-schedule*' >/dev/null 2>&1 ||
    fail "celery beat's schedule is not in DATA_DIR: $(in_ct ls -la /var/lib/pulse-site/blue/data 2>&1)"

step "upgrade to v2: the processes run the new release's code, the host's count (3) stays"
out="$(in_ct pulse-blue scale heartbeat=3 2>&1)" || fail "pulse-blue scale heartbeat=3 failed: $out"
assert_unit_active pulse-blue-heartbeat@3.service
build v2
publish
ct_apt install pulse-site-blue || fail "apt-get install pulse-site-blue (v2) failed: $APT_OUT"
assert_unit_active pulse-blue-heartbeat@1.service pulse-blue-heartbeat@2.service pulse-blue-heartbeat@3.service
wait_counter heartbeat-3 1 v2 30
assert_contains "$(in_ct cat /etc/pulse-site/blue/scale.env)" "heartbeat=3" "scale.env after the upgrade"
assert_http 200 http://127.0.0.1/async/ pulse.example.org
assert_contains "$HTTP_BODY" "release=v2" "the async view after the upgrade"
wait_counter heartbeat-1 1 v2 30
wait_counter heartbeat-1 $((WAITED + 2)) v2 20
wait_counter heartbeat-2 1 v2 30
wait_counter tick 1 v2 60
wait_counter sweep 1 v2 40
assert_http 200 http://127.0.0.1/cache/ pulse.example.org
assert_eq "cache $probe" "$HTTP_BODY" "the cached value after the upgrade"

step "scale heartbeat=0 sweep=0: nothing of them runs, status exits 0 and says off"
out="$(in_ct pulse-blue scale heartbeat=0 sweep=0 2>&1)" || fail "pulse-blue scale heartbeat=0 sweep=0 failed: $out"
assert_unit_inactive pulse-blue-heartbeat@1.service pulse-blue-heartbeat@2.service pulse-blue-heartbeat@3.service \
    pulse-blue-heartbeat.target pulse-blue-sweep.timer
status="$(in_ct pulse-blue status 2>&1)" || fail "pulse-blue status fails with heartbeat and sweep at 0: $status"
printf '%s\n' "$status" >&2
for u in pulse-blue-heartbeat.target pulse-blue-sweep.timer; do
    grep -Eq "^ +$u +off \(scaled to 0 on this host\)\$" <<<"$status" || fail "pulse-blue status does not say $u is off: $status"
done
in_ct test ! -e /etc/systemd/system/timers.target.wants/pulse-blue-sweep.timer || fail "the timer is still enabled at 0"

step "a reboot keeps the counts: one heartbeat, the timer off"
out="$(in_ct pulse-blue scale heartbeat=1 2>&1)" || fail "pulse-blue scale heartbeat=1 failed: $out"
reboot_container
wait_for "the site answers after the reboot" 60 in_ct curl -fsS -o /dev/null -H 'Host: pulse.example.org' http://127.0.0.1/
assert_unit_active pulse-blue-heartbeat.target pulse-blue-heartbeat@1.service pulse-blue-beat@1.service
assert_unit_inactive pulse-blue-heartbeat@2.service pulse-blue-heartbeat@3.service pulse-blue-sweep.timer
status="$(in_ct pulse-blue status 2>&1)" || fail "pulse-blue status after the reboot: $status"
out="$(in_ct pulse-blue scale sweep=1 2>&1)" || fail "pulse-blue scale sweep=1 failed: $out"
assert_unit_active pulse-blue-sweep.timer

step "red: its own Redis; it cannot open blue's"
"$DJDD" variant pulse red --domain red.pulse.example.org --process heartbeat=0 --process beat=0 >/dev/null ||
    fail "djdd variant pulse red failed"
"$DJDD" build pulse red --version v2 -Z xz >"$CT_DIR/build-red.log" 2>&1 || { tail -n 30 "$CT_DIR/build-red.log" >&2; fail "djdd build pulse red failed"; }
publish
ct_apt install pulse-site-red || fail "apt-get install pulse-site-red failed: $APT_OUT"
assert_unit_active redis-server@pulse-red.service pulse-red.service
assert_http 200 http://127.0.0.1/cache/ red.pulse.example.org
assert_eq "cache None" "$HTTP_BODY" "red's cache is not blue's"
out="$(in_ct runuser -u pulse-red -- redis-cli -s /run/redis-pulse-blue/redis.sock ping 2>&1 || true)"
assert_contains "$out" "Permission denied" "red opening blue's Redis socket"
out="$(in_ct runuser -u pulse-blue -- redis-cli -s /run/redis-pulse-red/redis.sock ping 2>&1 || true)"
assert_contains "$out" "Permission denied" "blue opening red's Redis socket"

step "an instance of that name that djdd did not make is refused and left alone"
printf '# an admin'"'"'s own instance\nport 0\n' | in_ct sh -c 'cat > /etc/redis/redis-pulse-green.conf'
"$DJDD" variant pulse green --domain green.pulse.example.org --process heartbeat=0 --process beat=0 >/dev/null ||
    fail "djdd variant pulse green failed"
"$DJDD" build pulse green --version v2 -Z xz >"$CT_DIR/build-green.log" 2>&1 || { tail -n 30 "$CT_DIR/build-green.log" >&2; fail "djdd build pulse green failed"; }
publish
if ct_apt install pulse-site-green; then fail "pulse-site-green installed over an instance it did not make"; fi
assert_contains "$APT_OUT" "redis-server instance pulse-green exists already" "postinst's refusal"
assert_eq "# an admin's own instance" "$(in_ct head -n1 /etc/redis/redis-pulse-green.conf)" "the other instance's configuration"
ct_apt purge pulse-site-green || fail "apt-get purge pulse-site-green failed: $APT_OUT"
in_ct test -f /etc/redis/redis-pulse-green.conf || fail "purge of pulse-site-green removed a configuration it did not write"

step "back to the package's count (2), then a package of one heartbeat: the second instance stops"
out="$(in_ct pulse-blue scale heartbeat=default 2>&1)" || fail "pulse-blue scale heartbeat=default failed: $out"
assert_not_contains "$(in_ct cat /etc/pulse-site/blue/scale.env)" "heartbeat=" "scale.env after heartbeat=default"
assert_unit_active pulse-blue-heartbeat@1.service pulse-blue-heartbeat@2.service
"$DJDD" variant pulse blue --process heartbeat=1 >/dev/null || fail "djdd variant --process heartbeat=1 failed"
build v2
publish
ct_apt install pulse-site-blue || fail "apt-get install pulse-site-blue (one heartbeat) failed: $APT_OUT"
printf '%s\n' "$APT_OUT" >&2
assert_unit_active pulse-blue-heartbeat.target pulse-blue-heartbeat@1.service
assert_unit_inactive pulse-blue-heartbeat@2.service
in_ct test ! -e /etc/systemd/system/pulse-blue-heartbeat.target.wants/pulse-blue-heartbeat@2.service ||
    fail "the second instance is still enabled"
in_ct test -L /etc/systemd/system/multi-user.target.wants/pulse-blue-heartbeat.target ||
    fail "the heartbeat target is not enabled"

step "lintian on the packages, piuparts on the site"
debs=("$DJDD_DIR"/packages/pulse-env-*.deb)
debs+=("$(ls -t "$DJDD_DIR"/packages/pulse-src-*.deb | head -n1)" "$(ls -t "$DJDD_DIR"/packages/pulse-site-blue_*.deb | head -n1)")
for deb in "${debs[@]}"; do
    rc=0
    out="$(lintian --fail-on error,warning --tag-display-limit 0 "$deb" 2>&1)" || rc=$?
    [ "$rc" = 0 ] || fail "lintian --fail-on error,warning fails for $(basename "$deb"): $(printf '%s\n' "$out" | grep -E '^[EW]: ')"
done
mapfile -t leftovers < <(piuparts_systemd_leftovers)
run_piuparts --repo "$apt_repo" "$apt_repo/KEY.asc" --log "$ACC_LOGS/20-piuparts-site.log" \
    --no-upgrade-test "${leftovers[@]}" "${debs[2]}" "${debs[1]}"

step "remove stops every unit"
ct_apt remove pulse-site-blue || fail "apt-get remove pulse-site-blue failed: $APT_OUT"
for u in pulse-blue.service pulse-blue-celery.service pulse-blue-heartbeat@1.service pulse-blue-heartbeat.target pulse-blue-beat@1.service pulse-blue-beat.target pulse-blue-sweep.timer pulse-blue-sweep.service redis-server@pulse-blue.service; do
    s="$(in_ct systemctl is-active "$u" 2>&1 || true)"
    case $s in active | activating) fail "$u is $s after remove" ;; esac
done

step "purge removes the units and their state, keeps DATA_DIR"
ct_apt purge pulse-site-blue || fail "apt-get purge pulse-site-blue failed: $APT_OUT"
left="$(in_ct sh -c 'ls -d /lib/systemd/system/pulse-blue* /etc/systemd/system/*/pulse-blue* /etc/systemd/system/pulse-blue* /var/lib/systemd/deb-systemd-helper-enabled/pulse-blue* /var/lib/systemd/deb-systemd-helper-enabled/*/pulse-blue* 2>/dev/null || true')"
[ -z "$left" ] || fail "purge left unit files or their state: $left"
in_ct sh -c 'ls /var/lib/pulse-site/blue/data/celerybeat-schedule*' >/dev/null 2>&1 || fail "purge removed DATA_DIR (data is the user's)"
in_ct test -s /var/lib/pulse-site/blue/redis/dump.rdb || fail "purge removed the Redis data (or Redis saved none on stop)"
in_ct test ! -e /etc/pulse-site/blue/redis.conf || fail "purge left blue's Redis configuration"
in_ct test -f /etc/pulse-site/red/redis.conf || fail "purging blue removed red's Redis configuration"
assert_unit_active redis-server@pulse-red.service
acc_log "scenario 20 passed"
