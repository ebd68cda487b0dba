#!/usr/bin/env bash
# tests/acceptance/prepare.sh [SUITE...]: make the cached bases the
# scenarios need for each SUITE (default: $SUITES, else trixie bookworm):
# the container base (debootstrap + services, packed and unpacked once) and
# the piuparts base. Nothing is booted; a base already cached is kept.
#
# CI runs it in the background while the Rust checks and `make test` run:
# building a base is mostly downloading and unpacking, so both suites' bases
# are ready when `make acceptance` starts. Each suite's bases are made in a
# process of their own (lib.sh reads SUITE when sourced), under the same
# locks as a scenario run, so a run started meanwhile waits for them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
read -r -a suites <<<"${*:-${SUITES:-trixie bookworm}}"
[ "$(id -u)" = 0 ] || { echo "prepare.sh: needs root (debootstrap, systemd-nspawn)" >&2; exit 1; }
for s in "${suites[@]}"; do
    SUITE="$s" bash -c '
        source "$1/lib.sh"
        t0=$SECONDS
        ensure_base
        acc_base_tree
        t1=$SECONDS
        ensure_piuparts_base
        acc_log "suite $ACC_SUITE ready: container base $((t1 - t0)) s, piuparts base $((SECONDS - t1)) s"
    ' prepare "$here"
done
