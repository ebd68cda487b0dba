# shellcheck shell=bash disable=SC2016,SC2034
# tests/acceptance/multihost.sh: several booted containers on a network of
# their own, for scenario 23 (issue 26: app hosts behind haproxy, one
# database host). Source it after lib.sh.
#
# Responsible for: a Linux bridge of the harness's own (no uplink, no NAT,
# no default route; addresses from RFC 2544's benchmarking block
# 198.18.0.0/15, which is never routed), containers booted on it with
# `systemd-nspawn --network-bridge`, their addresses and /etc/hosts, the
# check that no container has a route off the machine, an Ansible
# inventory that reaches them without ssh (community.docker.nsenter), and
# removing all of it at exit (even on failure).
# Must never: add a route, NAT rule or address outside its bridge, or leave
# the bridge or a container behind.
#
# lib.sh's functions work on one container, the one in CT_*: `mh_use
# HOST` makes HOST that one, `on HOST CMD...` runs CMD (any harness
# function: in_ct, http_get, load_start...) with HOST selected (it stays
# selected after).

declare -A MH_ADDR=() MH_PID=() MH_NSPAWN=() MH_DIR=()
MH_HOSTS=()
MH_BRIDGE=""
MH_NET=""    # 198.18.X (the /24 without its last byte)
MH_UP=0

# mh_net_up: the bridge (name and /24 derived from the run directory and
# the suite, so parallel run directories do not collide), the host's .1
# on it. Fails when that /24 is already routed on the host.
mh_net_up() {
    local h
    h="$(printf '%s/%s' "$ACC_RUNDIR" "$ACC_SUITE" | sha256sum | cut -c1-8)"
    MH_BRIDGE="djddmh-${h:0:6}"
    MH_NET="198.18.$((16#${h:6:2}))"
    if ip link show "$MH_BRIDGE" >/dev/null 2>&1; then
        acc_log "removing the stale bridge $MH_BRIDGE"
        ip link del "$MH_BRIDGE"
    fi
    if ip -4 route show to "$MH_NET.0/24" | grep -q .; then
        fail "the test network $MH_NET.0/24 is already routed on this host: $(ip -4 route show to "$MH_NET.0/24")"
    fi
    ip link add "$MH_BRIDGE" type bridge
    MH_UP=1
    on_exit mh_net_down
    ip addr add "$MH_NET.1/24" dev "$MH_BRIDGE"
    ip link set "$MH_BRIDGE" up
    acc_log "bridge $MH_BRIDGE: $MH_NET.0/24 (host $MH_NET.1), no uplink"
}

mh_net_down() {
    [ "$MH_UP" = 1 ] || return 0
    mh_stop_all
    ip link del "$MH_BRIDGE" 2>/dev/null || true
    MH_UP=0
}

# mh_boot HOST LAST_BYTE [nspawn options] -- services to wait for -- units to mask:
# see mh_boot_all; boots one container in a subshell (run in the
# background), which leaves it running (CT_OWNED=0) for the parent.
mh_boot_one() {
    local host="$1" opts="$2" services="$3" mask="$4"
    (
        ACC_NSPAWN_OPTS="--network-bridge=$MH_BRIDGE --hostname=$host $opts" ACC_HOSTNAME="$host" ACC_BOOT_SERVICES="$services" ACC_MASK_UNITS="$mask" \
            boot_container "$host"
        # The parent stops it (mh_stop_all), not this subshell's EXIT trap.
        CT_OWNED=0 CT_NAME=""
    ) >"$ACC_LOGS/boot-$host.log" 2>&1
}

# mh_add HOST LAST_BYTE OPTS SERVICES MASK: declare a host (booted by
# mh_boot_all): its address MH_NET.LAST_BYTE, extra nspawn options, the
# units its boot waits for, the units masked before it boots.
declare -A MH_OPTS=() MH_SERVICES=() MH_MASK=()
mh_add() {
    MH_HOSTS+=("$1")
    MH_ADDR[$1]="$MH_NET.$2"
    MH_OPTS[$1]="$3"
    MH_SERVICES[$1]="$4"
    MH_MASK[$1]="$5"
}

# mh_boot_all: boot every declared host at once, then give each its
# address on host0 (no default route) and /etc/hosts naming all of them,
# then check that none has a route off the machine.
mh_boot_all() {
    ensure_base
    acc_base_tree
    mkdir -p "$ACC_CTS" "$ACC_LOGS"
    local host rc=0
    local -A pids=()
    for host in "${MH_HOSTS[@]}"; do
        mh_boot_one "$host" "${MH_OPTS[$host]}" "${MH_SERVICES[$host]}" "${MH_MASK[$host]}" &
        pids[$host]=$!
    done
    for host in "${MH_HOSTS[@]}"; do
        if ! wait "${pids[$host]}"; then
            rc=1
            cat "$ACC_LOGS/boot-$host.log" >&2
        fi
        # Even a failed boot may have left a container: registered so that
        # mh_stop_all stops it.
        if [ -s "$ACC_CTS/$host/pid1" ]; then
            MH_DIR[$host]="$ACC_CTS/$host"
            MH_PID[$host]="$(cat "$ACC_CTS/$host/pid1")"
            MH_NSPAWN[$host]="$(cat "$ACC_CTS/$host/nspawn.pid")"
        fi
        grep -h 'container .* up:' "$ACC_LOGS/boot-$host.log" >&2 || true
    done
    [ "$rc" = 0 ] || fail "booting the hosts failed (boot logs above)"
    local hosts_file
    hosts_file="$(printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n'
        for host in "${MH_HOSTS[@]}"; do printf '%s %s\n' "${MH_ADDR[$host]}" "$host"; done)"
    for host in "${MH_HOSTS[@]}"; do
        on "$host" in_ct_sh '
            ip addr add "$1/24" dev host0
            ip link set host0 up
            printf "%s\n" "$2" > /etc/hosts' "${MH_ADDR[$host]}" "$hosts_file"
    done
    mh_assert_isolated
}

# mh_assert_isolated: no container has a default route or any route to
# an address off the machine (192.0.2.1, TEST-NET-1, stands for any).
mh_assert_isolated() {
    local host routes
    for host in "${MH_HOSTS[@]}"; do
        routes="$(on "$host" in_ct ip -4 route show default)$(on "$host" in_ct ip -6 route show default 2>/dev/null)"
        [ -z "$routes" ] || fail "host $host has a default route: $routes"
        if on "$host" in_ct ip route get 192.0.2.1 >/dev/null 2>&1; then
            fail "host $host has a route off the machine: $(on "$host" in_ct ip route get 192.0.2.1 2>&1)"
        fi
    done
    acc_log "no host has a route off the machine (ip route get 192.0.2.1 fails on ${MH_HOSTS[*]})"
}

# mh_use HOST: HOST is the container lib.sh's functions work on.
mh_use() {
    local host="$1"
    [ -n "${MH_PID[$host]:-}" ] || fail "mh_use: no host $host"
    CT_NAME="$host" CT_DIR="${MH_DIR[$host]}" CT_ROOT="${MH_DIR[$host]}/root"
    CT_PID="${MH_PID[$host]}" CT_NSPAWN="${MH_NSPAWN[$host]}" CT_OWNED=0
}

# on HOST CMD...: run CMD with HOST selected.
on() {
    mh_use "$1"
    shift
    "$@"
}

# mh_poweroff HOST: power HOST off (a host that fails); its root stays
# until mh_stop_all.
mh_poweroff() {
    mh_use "$1"
    ct_poweroff
    MH_PID[$1]="" MH_NSPAWN[$1]=""
    CT_NAME=""
}

# mh_stop_all: stop and remove every host (run at exit by mh_net_down).
mh_stop_all() {
    local host
    for host in "${MH_HOSTS[@]}"; do
        [ -n "${MH_DIR[$host]:-}" ] || continue
        CT_NAME="$host" CT_DIR="${MH_DIR[$host]}" CT_ROOT="${MH_DIR[$host]}/root"
        CT_PID="${MH_PID[$host]:-}" CT_NSPAWN="${MH_NSPAWN[$host]:-}" CT_OWNED=1
        stop_container
        MH_DIR[$host]=""
    done
    CT_NAME="" CT_OWNED=0
}

# mh_inventory FILE VARS_FILE: an Ansible inventory (INI) of the hosts
# reached through community.docker.nsenter (no ssh: the controller
# enters each container's namespaces by its PID 1), groups given as
# "GROUP:HOST,HOST" arguments after the files.
mh_inventory() {
    local file="$1"
    shift
    local spec group members host
    {
        for spec in "$@"; do
            group="${spec%%:*}" members="${spec#*:}"
            printf '[%s]\n' "$group"
            for host in ${members//,/ }; do
                printf '%s ansible_connection=community.docker.nsenter ansible_nsenter_pid=%s ansible_host=%s ansible_python_interpreter=/usr/bin/python3\n' \
                    "$host" "${MH_PID[$host]}" "${MH_ADDR[$host]}"
            done
            printf '\n'
        done
    } >"$file"
}

# mh_make_project DEST: scenario 23's project as a git repository at
# DEST, tags v1, v2, v3 (tests/acceptance/multihost/README.md):
# fixtures/demo plus the app fleet (v1), a data migration (v2), a failing
# health page (v3).
mh_make_project() {
    local dest="$1" src="$ACC_HERE/multihost"
    rm -rf "$dest"
    mkdir -p "$dest"
    cp -R "$ACC_HERE/../../fixtures/demo/." "$dest/"
    cp -R "$src/fleet" "$dest/"
    find "$dest" -name __pycache__ -type d -prune -exec rm -rf {} +
    python3 - "$dest" <<'PY'
import pathlib, sys
d = pathlib.Path(sys.argv[1])
def edit(rel, old, new):
    p = d / rel
    s = p.read_text()
    assert old in s, (rel, old)
    p.write_text(s.replace(old, new, 1))
edit("demo/settings.py", '    "notes",\n', '    "notes",\n    "fleet",\n')
edit("demo/urls.py", '    path("", include("notes.urls")),\n',
     '    path("fleet/", include("fleet.urls")),\n    path("", include("notes.urls")),\n')
toml = d / "djdd.toml"
extra = """
# Scenario 23: the site's Redis (external on app hosts), a process that
# must run on one host only, and a secret of the project's own.
redis = true
"""
s = toml.read_text()
# redis is a top-level key: before the first table.
s = s.replace("\n[health]", extra + "\n[health]", 1)
s += """
[processes.singleton]
command = ["manage.py", "fleetbeat"]
"""
s += """
[secrets]
FLEET_TOKEN = "the token /fleet/info/ shows a digest of"
"""
toml.write_text(s)
PY
    local -a g=(git -C "$dest" -c user.name='djdd acceptance' -c user.email='acc@djdd.invalid'
        -c commit.gpgSign=false -c tag.gpgSign=false -c init.defaultBranch=main)
    "${g[@]}" init -q
    "${g[@]}" add -A
    "${g[@]}" commit -q -m 'v1: the demo with the fleet app (scenario 23)'
    "${g[@]}" tag v1
    cp -R "$src/v2/." "$dest/"
    sed -i 's/^RELEASE = "v1"$/RELEASE = "v2"/' "$dest/demo/__init__.py"
    "${g[@]}" add -A
    "${g[@]}" commit -q -m 'v2: a data migration increments the counter'
    "${g[@]}" tag v2
    sed -i 's/^RELEASE = "v2"$/RELEASE = "v3"/' "$dest/demo/__init__.py"
    python3 - "$dest/notes/views.py" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
old = "def health(request):\n"
assert old in s
s = s.replace(old, old + "    raise RuntimeError('v3 fails its health check on purpose (acceptance scenario 23)')\n", 1)
open(p, "w").write(s)
PY
    "${g[@]}" commit -q -am 'v3: the health page fails'
    "${g[@]}" tag v3
    grep -qx 'RELEASE = "v3"' "$dest/demo/__init__.py" || fail "mh_make_project: v3 does not say release v3"
}
