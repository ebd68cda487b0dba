#!/usr/bin/env bash
# `make deb`: djdd itself as a Debian package, written by `djdd pack`.
# Ships the binary (stripped), scripts/ci-publish.sh (docs/ci.md), the
# Ansible roles and playbooks of contrib/ansible in /usr/share/djdd/ansible
# (docs/multi-host.md), one man page per command (`djdd manpages`,
# from the clap definitions), bash, zsh and fish completions (`djdd
# completions`), README, CHANGELOG and docs/, a copyright file and a
# Debian changelog; Depends are the shared libraries the binary links
# (dpkg-shlibdeps) and the programs djdd runs. Then lintian must pass with
# --fail-on error,warning.
#   OUT            where the .deb goes (default target/deb)
#   DEB_MAINTAINER the Maintainer field (default: DEBFULLNAME <DEBEMAIL>,
#                  else the author of the last commit)
#   CARGO          cargo (default cargo)
#   DJDD_BIN       package this binary instead of building target/release/djdd
#                  (the test uses its own build)
# Prints the path of the .deb on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-$PWD/target/deb}"
cargo="${CARGO:-cargo}"

for p in dpkg-shlibdeps lintian strip gzip; do
    command -v "$p" >/dev/null || {
        echo "make-deb: $p is missing (make deps installs it)" >&2
        exit 1
    }
done

if [ -n "${DJDD_BIN:-}" ]; then
    bin="$DJDD_BIN"
else
    "$cargo" build --release --quiet
    bin="$PWD/target/release/djdd"
fi
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
arch="$(dpkg --print-architecture)"
if [ -n "${DEB_MAINTAINER:-}" ]; then
    maintainer="$DEB_MAINTAINER"
elif [ -n "${DEBEMAIL:-}" ]; then
    maintainer="${DEBFULLNAME:-djdd maintainers} <$DEBEMAIL>"
else
    maintainer="$(git log -1 --format='%an <%ae>')"
fi
# Reproducible: every date is the last commit's.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}"

mkdir -p "$out"
work="$(mktemp -d "$out/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/djdd"
doc="$root/usr/share/doc/djdd"
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/djdd" "$root/usr/share/man/man1" "$doc/docs" \
    "$root/usr/share/bash-completion/completions" \
    "$root/usr/share/zsh/vendor-completions" \
    "$root/usr/share/fish/vendor_completions.d"

install -m 0755 "$bin" "$root/usr/bin/djdd"
install -m 0755 scripts/ci-publish.sh "$root/usr/share/djdd/ci-publish.sh"
# The Ansible content, as plain data files (0644; directories 0755).
(cd contrib/ansible && find . -name __pycache__ -prune -o -type d -print) | LC_ALL=C sort |
    while read -r d; do install -d -m 0755 "$root/usr/share/djdd/ansible/$d"; done
(cd contrib/ansible && find . -name __pycache__ -prune -o -type f -print) | LC_ALL=C sort |
    while read -r f; do install -m 0644 "contrib/ansible/$f" "$root/usr/share/djdd/ansible/$f"; done
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/djdd"

"$bin" manpages "$work/man" >/dev/null
for page in "$work"/man/*.1; do
    name="$(basename "$page")"
    gzip -9n <"$page" >"$root/usr/share/man/man1/$name.gz"
done
"$bin" completions bash >"$root/usr/share/bash-completion/completions/djdd"
"$bin" completions zsh >"$root/usr/share/zsh/vendor-completions/_djdd"
"$bin" completions fish >"$root/usr/share/fish/vendor_completions.d/djdd.fish"

# Documentation, compressed as dh_compress does (files over 4 KiB).
install -m 0644 README.md "$doc/README.md"
install -m 0644 docs/*.md "$doc/docs/"
gzip -9n <CHANGELOG.md >"$doc/CHANGELOG.md.gz"
find "$doc" -name '*.md' -size +4k -exec gzip -9n {} +
date_r="$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
{
    echo "djdd ($version) unstable; urgency=medium"
    echo
    echo "  * Built from $(git describe --always --dirty 2>/dev/null || echo 'a source tree')"
    echo "    by scripts/make-deb.sh; the changes are in CHANGELOG.md.gz."
    echo
    echo " -- $maintainer  $date_r"
} | gzip -9n >"$doc/changelog.gz"
cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: djdd

Files: *
Copyright: $(date -u -d "@$SOURCE_DATE_EPOCH" +%Y) djdd developers
License: MIT

License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a
 copy of this software and associated documentation files (the "Software"),
 to deal in the Software without restriction, including without limitation
 the rights to use, copy, modify, merge, publish, distribute, sublicense,
 and/or sell copies of the Software, and to permit persons to whom the
 Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included
 in all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS
 OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
 MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN
 NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
 DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
 OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE
 USE OR OTHER DEALINGS IN THE SOFTWARE.
EOF
chmod 0644 "$doc/copyright"

# The shared libraries the binary links, as dpkg-shlibdeps finds them.
mkdir -p "$work/debian"
printf 'Source: djdd\n\nPackage: djdd\nArchitecture: any\n' >"$work/debian/control"
shlibs="$(cd "$work" && dpkg-shlibdeps -O djdd/usr/bin/djdd 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
[ -n "$shlibs" ] || { echo "make-deb: dpkg-shlibdeps found no libraries" >&2; exit 1; }

# What djdd runs: debootstrap and schroot (the build root), git (sources),
# gnupg (publish signs with gpg), mount (umount of a
# killed build's mounts); coreutils, dpkg, tar and util-linux are essential.
cat >"$root/DEBIAN/control" <<EOF
Package: djdd
Version: $version
Architecture: $arch
Maintainer: $maintainer
Section: admin
Priority: optional
Depends: $shlibs, debootstrap, schroot, git, gnupg, mount
Recommends: openssh-client, ca-certificates
Suggests: lintian, piuparts
Description: Debian package factory for Django applications
 djdd keeps a Debian build root (debootstrap and schroot), the git
 repositories of Django projects and one file per deployment, and turns
 one commit into .deb packages: the virtualenv, the source, and a site
 package with nginx, gunicorn and celery units and maintainer scripts that
 switch a running site to the new version without dropping requests.
 .
 It publishes them into a signed apt repository and includes a
 deterministic .deb writer (djdd pack).
EOF

deb="$out/djdd_${version}_${arch}.deb"
"$bin" -q pack "$root" "$deb"
lintian --fail-on error,warning --suppress-tags-from-file /dev/null "$deb" >&2
echo "$deb"
