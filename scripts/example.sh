#!/usr/bin/env bash
# The README's first command: the whole job on the bundled example project.
# Builds djdd, makes a build dir (debootstrap build root), clones the
# fixture Django project's git history, records a variant, builds its env,
# src and site packages, and publishes them to a signed apt repository.
#   DJDD_DIR   build dir (default /var/lib/djdd-example)
#   OUT        where the example repository goes (default target/example)
set -euo pipefail
cd "$(dirname "$0")/.."
export DJDD_DIR="${DJDD_DIR:-/var/lib/djdd-example}"
out="${OUT:-$PWD/target/example}"
djdd="$PWD/target/release/djdd"

cargo build --release --quiet
mkdir -p "$out"
"$djdd" init
rm -rf "$out/demo-repo"
sh fixtures/make-repo.sh "$out/demo-repo"
"$djdd" src demo --clone "$out/demo-repo"
"$djdd" variant demo blue --domain blue.example.org
"$djdd" build demo blue --version v1
if [ ! -e "$DJDD_DIR/gnupg" ]; then
    "$djdd" publish --init-key --repo "$out/repo"
fi
"$djdd" publish --repo "$out/repo"
"$djdd" status demo
echo
echo "packages:   $DJDD_DIR/packages"
ls -l "$DJDD_DIR/packages"
echo "repository: $out/repo (key: $out/repo/KEY.gpg); see docs/publish.md to add it on a target host"
