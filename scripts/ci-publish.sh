#!/usr/bin/env bash
# What a CI job runs: build one variant of a Django project with djdd on a
# fresh runner and publish it to the apt repository on a server, over ssh
# with rsync. See docs/ci.md (GitHub Actions and GitLab CI examples).
#
# Required:
#   DJDD_NAME         the project name (`djdd src NAME`)
#   DJDD_VARIANT      the variant to build
#   DJDD_CLONE        the project's git URL (or path)
#   DJDD_REMOTE       the repository on the server, as rsync names it:
#                     user@host:/srv/apt (its directory must exist)
#   DJDD_CACHE        a directory the CI system keeps between jobs: the base
#                     tarball, the installers' caches and the env packages live there
#   DJDD_SIGNING_KEY  the armored secret signing key (a masked CI secret);
#                     never printed, written only into the build dir's gnupg
#                     home (mode 0700) and removed when the job ends
# Optional:
#   DJDD_VERSION      the revision to build (default: the variant's branch)
#   DJDD_VARIANT_ARGS arguments of `djdd variant` (e.g. "--domain shop.example.org")
#   DJDD_INIT_ARGS    arguments of `djdd init` (e.g. "--suite trixie")
#   DJDD_SUITE        the repository suite (default: the build root's
#                     codename, bookworm or trixie: djdd publish refuses to
#                     put packages of one Debian release into another's suite)
#   DJDD_KEEP         prune to this many site versions per variant (default: no pruning)
#   DJDD_SSH          the ssh command rsync uses (default: ssh -o BatchMode=yes)
#   DJDD_DIR          the build dir (default: $PWD/.djdd-ci); a fresh runner has none
#   DJDD              the djdd program (default: djdd)
# stdout: one line per phase (`ci-publish: ...`); djdd's progress is on stderr.
set -euo pipefail
set +x # the signing key must never reach a trace

die() {
    echo "ci-publish: error: $*" >&2
    exit 1
}
phase() { echo "ci-publish: $*"; }

for v in DJDD_NAME DJDD_VARIANT DJDD_CLONE DJDD_REMOTE DJDD_CACHE DJDD_SIGNING_KEY; do
    [ -n "${!v:-}" ] || die "$v is not set (see the top of $0 or docs/ci.md)"
done
case "$DJDD_REMOTE" in
*:/*) ;;
*) die "DJDD_REMOTE=$DJDD_REMOTE: give user@host:/absolute/path" ;;
esac
for p in rsync ssh gpg gpgconf; do
    command -v "$p" >/dev/null || die "$p is missing (apt-get install rsync openssh-client gnupg)"
done
# The key stays in an unexported shell variable: no process djdd starts
# (gpg, the project's code at build time) inherits it.
signing_key="$DJDD_SIGNING_KEY"
unset DJDD_SIGNING_KEY
djdd="${DJDD:-djdd}"
command -v "$djdd" >/dev/null || die "$djdd is missing (install the djdd package: make deb)"
suite="${DJDD_SUITE:-}"
ssh_cmd="${DJDD_SSH:-ssh -o BatchMode=yes}"
remote="${DJDD_REMOTE%/}"
export DJDD_DIR="${DJDD_DIR:-$PWD/.djdd-ci}"
cache="$DJDD_CACHE"
mirror="$DJDD_DIR/ci/repo"          # the local copy of the repository
gnupg="$DJDD_DIR/state/gnupg"       # where djdd publish imports --sign-key
keyfile="$gnupg/ci-signing-key.asc"

# The secret key's files go when the job ends, whatever happens.
cleanup() {
    local rc=$?
    if [ -d "$gnupg" ]; then
        gpgconf --homedir "$gnupg" --kill gpg-agent 2>/dev/null || true
        rm -rf "$gnupg"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The slow parts from the CI cache: the debootstrap base tarball (init
#    takes seconds instead of minutes), the installers' caches (uv's, the
#    uv wheel, pip's, the wheels djdd built from sdists), and the env
#    packages (an unchanged env is reused, no installer runs).
build_caches="uv tools pip wheels"
phase "restoring the cache from $cache"
mkdir -p "$cache/base" "$cache/packages" "$DJDD_DIR"
export DJDD_BASE_CACHE="$cache/base"
# shellcheck disable=SC2086 # DJDD_INIT_ARGS is a list of arguments
"$djdd" init ${DJDD_INIT_ARGS:-}
mkdir -p "$DJDD_DIR/packages"
for c in $build_caches; do
    mkdir -p "$cache/$c" "$DJDD_DIR/cache/$c"
    rsync -a "$cache/$c/" "$DJDD_DIR/cache/$c/"
done
find "$cache/packages" -maxdepth 1 -name '*-env-*.deb' -exec cp -p {} "$DJDD_DIR/packages/" \;

# 2. Build.
phase "building $DJDD_NAME $DJDD_VARIANT ${DJDD_VERSION:-}"
"$djdd" src "$DJDD_NAME" --clone "$DJDD_CLONE"
# shellcheck disable=SC2086 # DJDD_VARIANT_ARGS is a list of arguments
"$djdd" variant "$DJDD_NAME" "$DJDD_VARIANT" ${DJDD_VARIANT_ARGS:-}
"$djdd" build "$DJDD_NAME" "$DJDD_VARIANT" ${DJDD_VERSION:+--version "$DJDD_VERSION"}

# 3. Save the slow parts for the next job (before publishing: a failed
#    publish still leaves a warm cache).
phase "saving the cache"
for c in $build_caches; do
    rsync -a --delete "$DJDD_DIR/cache/$c/" "$cache/$c/"
done
find "$DJDD_DIR/packages" -maxdepth 1 -name '*-env-*.deb' -exec cp -p {} "$cache/packages/" \;

# The suite: the build root's codename unless DJDD_SUITE names one.
if [ -z "$suite" ]; then
    suite="$(sed -n 's/^suite = "\([a-z0-9-]*\)"$/\1/p' "$DJDD_DIR/state/init.toml" | head -n1)"
    [ -n "$suite" ] || die "cannot read the build root's suite from $DJDD_DIR/state/init.toml; set DJDD_SUITE"
fi

# 4. The repository as the server has it now.
phase "fetching $remote"
mkdir -p "$mirror"
rsync -a --delete --exclude=/.djdd/ -e "$ssh_cmd" "$remote/" "$mirror/"
seen="$DJDD_DIR/ci/InRelease.fetched"
rm -f "$seen"
if [ -f "$mirror/dists/$suite/InRelease" ]; then
    cp "$mirror/dists/$suite/InRelease" "$seen"
fi

# 5. Publish into the local copy, signed with the key from the environment.
#    printf is a shell builtin: the key is in no process's arguments.
phase "publishing into the local copy"
(
    umask 077
    mkdir -p "$gnupg"
    chmod 0700 "$gnupg"
    printf '%s\n' "$signing_key" >"$keyfile"
)
prune=()
if [ -n "${DJDD_KEEP:-}" ]; then
    prune=(--prune --keep "$DJDD_KEEP")
fi
"$djdd" publish --repo "$mirror" --suite "$suite" --sign-key "$keyfile"
if [ "${#prune[@]}" -gt 0 ]; then
    "$djdd" publish --repo "$mirror" --suite "$suite" --sign-key "$keyfile" "${prune[@]}"
fi
gpgconf --homedir "$gnupg" --kill gpg-agent 2>/dev/null || true
rm -rf "$gnupg"

# 6. Nobody published meanwhile (CI serialises the jobs, see docs/ci.md;
#    this catches a job that was not).
now="$DJDD_DIR/ci/InRelease.now"
rm -f "$now"
rsync -a -e "$ssh_cmd" "$remote/dists/$suite/InRelease" "$now" 2>/dev/null || true
if [ -f "$seen" ] || [ -f "$now" ]; then
    cmp -s "$seen" "$now" 2>/dev/null ||
        die "the repository on $remote changed while this job ran: run the publish jobs one at a time (docs/ci.md) and rerun this one"
fi

# 7. Upload in the order that keeps the repository consistent for an apt
#    client at every moment (rsync writes each file under a temporary name
#    and renames it): the pool, then the indices' by-hash copies, then the
#    indices, then Release and Release.gpg, and InRelease last; only then
#    are old files removed.
up() { rsync -a -e "$ssh_cmd" "$@"; }
phase "uploading pool"
up "$mirror/pool" "$remote/"
phase "uploading by-hash indices"
up --include='*/' --include='by-hash/**' --exclude='*' "$mirror/dists" "$remote/"
phase "uploading indices"
up --exclude='Release' --exclude='Release.gpg' --exclude='InRelease' "$mirror/dists" "$remote/"
phase "uploading Release"
up --include='*/' --include='Release' --include='Release.gpg' --exclude='*' "$mirror/dists" "$remote/"
phase "uploading InRelease"
up --include='*/' --include='InRelease' --exclude='*' "$mirror/dists" "$remote/"
up --exclude='/pool/' --exclude='/dists/' --exclude=/.djdd/ "$mirror/" "$remote/"
phase "removing old files"
up --delete --exclude=/.djdd/ "$mirror/" "$remote/"
phase "published to $remote ($suite)"
