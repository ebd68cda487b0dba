#!/usr/bin/env bash
# Scenario 01: piuparts on the harness's cached base tarball. The hello
# package passes install/purge, and the upgrade test from the previous
# version found in a signed local repository (--repo); a package that
# leaves a file behind after purge makes run_piuparts fail.
# acc-container: own (boots none)
source "$(dirname "$0")/lib.sh"

work="$ACC_RUNDIR/piuparts-$$"
mkdir -p "$work"
chmod 0755 "$work"
on_exit "rm -rf --one-file-system '$work'"

deb1="$(make_hello_deb "$work" 1.0)"
deb2="$(make_hello_deb "$work" 2.0)"
make_repo_by_hand "$work" acc "$deb1"

step "piuparts: install/purge of 2.0, and upgrade 1.0 (from the repository) -> 2.0"
run_piuparts --repo "$work/repo" "$work/key.asc" --log "$ACC_LOGS/01-piuparts-ok.log" "$deb2"
log="$(cat "$ACC_LOGS/01-piuparts-ok.log")"
assert_contains "$log" "Setting up djdd-acc-hello (1.0)" "piuparts log: the upgrade test installs 1.0 from the repository"
assert_contains "$log" "PASS: Installation, upgrade and purging tests." "piuparts log"
assert_contains "$log" "PASS: All tests." "piuparts log"

step "piuparts: a package that leaves a file in /etc after purge must fail"
bad="$work/bad"
mkdir -p "$bad/DEBIAN"
cat >"$bad/DEBIAN/control" <<'CONTROL'
Package: djdd-acc-leaky
Version: 1.0
Architecture: all
Maintainer: djdd acceptance <acc@djdd.invalid>
Description: leaves a file behind on purge
 Used to prove that run_piuparts fails.
CONTROL
printf '#!/bin/sh\nset -e\necho x > /etc/djdd-acc-leaky.conf\n' >"$bad/DEBIAN/postinst"
chmod 0755 "$bad/DEBIAN/postinst"
dpkg-deb --root-owner-group -b "$bad" "$work/djdd-acc-leaky_1.0_all.deb" >/dev/null
if (run_piuparts --log "$ACC_LOGS/01-piuparts-bad.log" "$work/djdd-acc-leaky_1.0_all.deb") 2>/dev/null; then
    fail "run_piuparts passed a package that leaves /etc/djdd-acc-leaky.conf behind after purge"
fi
assert_contains "$(cat "$ACC_LOGS/01-piuparts-bad.log")" "/etc/djdd-acc-leaky.conf" "piuparts log of the leaky package"
