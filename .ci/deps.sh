#!/usr/bin/env bash
# Installs the Debian packages listed in .ci/apt-packages that are missing,
# and Debian's cargo where no cargo is on PATH and Debian's is new enough.
# Runs `apt-get update` only when something has to be installed.
set -euo pipefail
cd "$(dirname "$0")"
mapfile -t want < <(grep -v '^\s*#' apt-packages | grep -v '^\s*$')
# djdd needs Rust >= 1.85 (Cargo.toml's rust-version): Debian 13 (trixie)
# ships it; Debian 12 (bookworm) ships 1.63, too old: rustup there.
no_rust=""
if ! command -v cargo >/dev/null; then
    # shellcheck source=/dev/null
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
    case "$codename" in
    trixie | forky | sid) want+=(cargo) ;;
    *) no_rust="$codename" ;;
    esac
fi
missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ -n "$no_rust" ]; then
    case "$no_rust" in
    bookworm) why="Debian 12's Rust is 1.63, too old" ;;
    *) why="Debian's cargo is used only from Debian 13 (trixie) on" ;;
    esac
    echo "deps: no cargo on PATH, and djdd needs Rust >= 1.85 ($why): install it with rustup (https://rustup.rs)," >&2
    echo "deps: or put the ~/.cargo/bin of an installed rustup on PATH" >&2
    exit 1
fi
