#!/usr/bin/env bash
# Installs the Debian packages listed in .ci/apt-packages that are missing.
# Runs `apt-get update` only when something has to be installed.
set -euo pipefail
cd "$(dirname "$0")"
mapfile -t want < <(grep -v '^\s*#' apt-packages | grep -v '^\s*$')
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
