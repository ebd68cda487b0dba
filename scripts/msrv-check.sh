#!/usr/bin/env bash
# scripts/msrv-check.sh [CARGO_ARG...]: `cargo check --locked --all-targets`
# of this checkout with Debian 13's own cargo and rustc (1.85, the
# rust-version of Cargo.toml), so that an API or a dependency newer than
# that fails here, as it would for someone building djdd with trixie's
# toolchain. Root only (debootstrap, chroot, mount). .ci/run runs it right
# after clippy. Arguments replace `check --locked --all-targets` (by hand:
# `scripts/msrv-check.sh build --release --locked`). The dependencies are
# compiled at opt-level 0 (Cargo.toml's 2 is for the tests' run time, and a
# check runs nothing; their build scripts compile zstd and xz in C): a cold
# check takes about half the time.
#
# Cached under DJDD_MSRV_CACHE (default /var/cache/djdd/msrv), kept between
# runs:
#   trixie-cargo-KEY.tar.zst  a trixie root with Debian's cargo and
#                             ca-certificates (KEY: the hash of the recipe
#                             below; made when missing, under root.lock,
#                             renamed into place when complete; roots of
#                             other recipes are left for another checkout:
#                             remove them by hand when no run is going)
#   cargo-home/               CARGO_HOME: the crates.io index and crates
#   target/                   the target dir (the checkout is always /src
#                             in the root, so it stays warm across clones)
# Each run unpacks the root into a temp dir under DJDD_MSRV_TMP (default
# /var/tmp), bind-mounts the checkout read-only at /src, the caches, /proc
# and /dev in a mount namespace of its own (they go with its processes),
# and runs cargo there with the host's resolv.conf and CA bundle. An EXIT
# trap ends what still runs (on a signal too) and removes the temp dir.
# The mirror is DJDD_MIRROR (default http://deb.debian.org/debian), as for
# the acceptance bases.
set -euo pipefail
cd "$(dirname "$0")/.."
src="$(pwd)"
[ "$(id -u)" = 0 ] || { echo "msrv-check: needs root (debootstrap, chroot, mount)" >&2; exit 1; }

SUITE=trixie
MIRROR="${DJDD_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${DJDD_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
CACHE="${DJDD_MSRV_CACHE:-/var/cache/djdd/msrv}"
TMP="${DJDD_MSRV_TMP:-/var/tmp}"
PACKAGES="cargo ca-certificates"
PATH_IN="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
if [ $# -eq 0 ]; then set -- check --locked --all-targets; fi

log() { printf '[msrv %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The script run in the new root after debootstrap.
setup_script() {
    cat <<EOF
set -eu
export DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
cat > /etc/apt/sources.list <<SOURCES
deb ${MIRROR} ${SUITE} main
deb ${MIRROR} ${SUITE}-updates main
deb ${SECURITY_MIRROR} ${SUITE}-security main
SOURCES
apt-get update -qq
apt-get install -y -qq --no-install-recommends ${PACKAGES} >/dev/null
apt-get upgrade -y -qq >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/*
EOF
}

# Everything that decides the root's contents; its hash names the tarball.
recipe() {
    printf 'recipe 1\nsuite %s\nmirror %s\n' "$SUITE" "$MIRROR"
    setup_script
}

# run CMD...: CMD (a program) in a process group of its own, waited for in
# the background: bash runs a signal's trap only once a foreground command
# has ended, so a killed run would leave CMD writing into the temp dir
# after the EXIT trap removed it; this way the trap runs at once and ends
# CMD's whole group (cleanup) before removing anything.
child=""
run() {
    local rc=0
    setsid "$@" &
    child=$!
    wait "$child" || rc=$?
    child=""
    return "$rc"
}

# in_root DIR CMD...: CMD chrooted into DIR, with /proc, /dev and the binds
# of BINDS ("HOST:PATH[:ro]" words) mounted in a mount namespace of its own
# (they go when its last process ends).
in_root() {
    local root="$1"
    shift
    # shellcheck disable=SC2016 # expanded by the inner bash
    run unshare --mount --propagation private -- bash -euc '
        root="$1"; shift
        mount -t proc proc "$root/proc"
        mount --rbind /dev "$root/dev"
        for b in $BINDS; do
            IFS=: read -r from to mode <<<"$b"
            mkdir -p "$root$to"
            mount --bind "$from" "$root$to"
            [ "$mode" != ro ] || mount -o remount,bind,ro "$root$to"
        done
        exec chroot "$root" "$@"
    ' in_root "$root" "$@"
}

work="" partial=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local rc=$?
    if [ -n "$child" ]; then
        kill -TERM -- "-$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    [ -z "$partial" ] || rm -f "$partial"
    if [ -n "$work" ] && [ -d "$work" ]; then
        # The mounts were in the namespace of the processes, gone now:
        # from here the root's /src, /dev and /proc are empty directories.
        rm -rf --one-file-system "$work"
    fi
    return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$SECONDS
mkdir -p "$CACHE" "$CACHE/cargo-home" "$CACHE/target" "$TMP"
key="$(recipe | sha256sum | cut -c1-12)"
tarball="$CACHE/$SUITE-cargo-$key.tar.zst"

# The root: made once (under the lock; a second run waits, then uses it).
if [ ! -s "$tarball" ]; then
    exec {lock_fd}>"$CACHE/root.lock"
    log "waiting for the lock $CACHE/root.lock"
    flock "$lock_fd"
    if [ ! -s "$tarball" ]; then
        for p in debootstrap zstd; do
            command -v "$p" >/dev/null || { echo "msrv-check: $p is missing (make deps installs it)" >&2; exit 1; }
        done
        work="$(mktemp -d "$TMP/djdd-msrv-root.XXXXXX")"
        log "making the $SUITE root with Debian's cargo in $work (debootstrap from $MIRROR)"
        if ! run debootstrap --variant=minbase "$SUITE" "$work/root" "$MIRROR" >"$work/debootstrap.log" 2>&1; then
            tail -n 30 "$work/debootstrap.log" >&2
            echo "msrv-check: debootstrap of $SUITE from $MIRROR failed (log above)" >&2
            exit 1
        fi
        setup_script >"$work/root/root/setup.sh"
        cp -L /etc/resolv.conf "$work/root/etc/resolv.conf"
        if ! BINDS="" in_root "$work/root" /bin/sh /root/setup.sh >"$work/setup.log" 2>&1; then
            tail -n 30 "$work/setup.log" >&2
            echo "msrv-check: installing $PACKAGES in the $SUITE root failed (log above)" >&2
            exit 1
        fi
        rm -f "$work/root/root/setup.sh" "$work/root/etc/resolv.conf"
        partial="$(mktemp "$CACHE/.$SUITE-cargo-$key.XXXXXX")"
        run bash -euo pipefail -c 'tar --numeric-owner -C "$1" -cf - . | zstd -q -f -T0 -3 -o "$2"' pack "$work/root" "$partial"
        mv "$partial" "$tarball"
        partial=""
        rm -rf --one-file-system "$work"
        work=""
        log "root $tarball ready after $((SECONDS - t0)) s ($(du -h "$tarball" | cut -f1))"
    fi
    exec {lock_fd}>&-
fi

tu=$SECONDS
work="$(mktemp -d "$TMP/djdd-msrv.XXXXXX")"
mkdir "$work/root"
run bash -euo pipefail -c 'zstd -q -dc "$1" | tar --numeric-owner -xpf - -C "$2"' unpack "$tarball" "$work/root"
cp -L /etc/resolv.conf "$work/root/etc/resolv.conf"
# The host's CA bundle, when it has one: the root trusts what the host
# trusts (a local CA that signs the way out to crates.io included).
host_ca=/etc/ssl/certs/ca-certificates.crt
[ ! -s "$host_ca" ] || cp -L "$host_ca" "$work/root/etc/ssl/certs/ca-certificates.crt"
t1=$SECONDS
log "$(BINDS="" in_root "$work/root" rustc --version), $(BINDS="" in_root "$work/root" cargo --version); root unpacked in $((t1 - tu)) s"
rc=0
BINDS="$src:/src:ro $CACHE/cargo-home:/cargo-home $CACHE/target:/target" \
    in_root "$work/root" /usr/bin/env -i PATH="$PATH_IN" HOME=/root LANG=C.UTF-8 \
    CARGO_HOME=/cargo-home CARGO_TARGET_DIR=/target CARGO_TERM_COLOR=never \
    sh -c 'cd /src && exec cargo --config "profile.dev.package.\"*\".opt-level=0" "$@"' cargo "$@" || rc=$?
if [ "$rc" = 0 ]; then
    log "cargo $* with Debian $SUITE's cargo passed in $((SECONDS - t1)) s (all: $((SECONDS - t0)) s)"
else
    log "cargo $* with Debian $SUITE's cargo FAILED (exit $rc) after $((SECONDS - t1)) s: djdd must build with Rust 1.85 (Cargo.toml rust-version)"
fi
exit "$rc"
