# pyc.py ENV_DIR CACHE_DIR: compiles the bytecode of every module below
# ENV_DIR exactly as `python -m compileall -q -f -j 0 --invalidation-mode
# checked-hash ENV_DIR` does (compileall's own walk and compile_file, one
# worker a CPU), except that a .pyc found in CACHE_DIR is copied instead of
# compiled. Run by djdd with the env's python, as the build user.
#
# A .pyc depends on its source's bytes, the interpreter and the path it is
# compiled at: the source's path is in it once (co_filename, written once
# and referenced by every nested code object). Env paths differ only in
# their HASH, so an entry compiled in one env serves the same file of
# another env once that path is swapped for one of the same length:
# byte for byte what compiling it there writes (checked over every .pyc of
# a 104-distribution env, Python 3.11 and 3.13). An entry's key is the
# sha256 of the interpreter's full version, the env path's length, the
# file's path below ENV_DIR and its bytes; the entry holds the sha256 of
# the .pyc and the env path it was compiled at, then the .pyc. An entry
# whose sha256 does not match, or whose path is not in it exactly once, is
# compiled again; a source holding ENV_DIR's path is never cached. Entries
# are written whole (a temporary file renamed), and a cache that cannot be
# written (a full disk) only stops caching: the env's own .pyc files are
# written as compileall writes them, and their errors fail the build.
#
# Prints one line at the end: "pyc: N from the cache, M compiled".
import compileall
import concurrent.futures
import functools
import hashlib
import importlib.util
import multiprocessing
import os
import py_compile
import sys
from importlib import _bootstrap_external

env_dir, cache_dir = sys.argv[1], sys.argv[2]
prefix = env_dir.encode()
head = b"djdd-pyc 1\0" + sys.version.encode() + b"\0%d\0" % len(prefix)
compile_one = functools.partial(
    compileall.compile_file,
    force=True,
    quiet=1,
    invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
)


def entry_path(rel, source):
    h = hashlib.sha256(head)
    h.update(rel.encode("utf-8", "surrogateescape") + b"\0")
    h.update(source)
    k = h.hexdigest()
    return os.path.join(cache_dir, k[:2], k)


def cached(path):
    """The entry's .pyc with this env's path, or None."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    first, sep, pyc = data.partition(b"\n")
    fields = first.split(b" ")
    if not sep or len(fields) != 2:
        return None
    digest, old = fields
    if hashlib.sha256(pyc).hexdigest().encode() != digest:
        return None
    if len(old) != len(prefix) or pyc.count(old) != 1:
        return None
    return pyc.replace(old, prefix)


def store(path, pyc):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        with open(tmp, "wb") as f:
            f.write(b"%s %s\n" % (hashlib.sha256(pyc).hexdigest().encode(), prefix))
            f.write(pyc)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def main():
    hits = 0
    misses = []
    for fullname in compileall._walk_dir(env_dir, maxlevels=sys.getrecursionlimit(), quiet=1):
        if not fullname.endswith(".py") or not os.path.isfile(fullname):
            continue
        with open(fullname, "rb") as f:
            source = f.read()
        if prefix in source:
            misses.append((fullname, None))
            continue
        entry = entry_path(os.path.relpath(fullname, env_dir), source)
        pyc = cached(entry)
        if pyc is None:
            misses.append((fullname, entry))
            continue
        cfile = importlib.util.cache_from_source(fullname)
        os.makedirs(os.path.dirname(cfile), exist_ok=True)
        # As py_compile writes it: whole, with the source's mode.
        _bootstrap_external._write_atomic(cfile, pyc, _bootstrap_external._calc_mode(fullname))
        hits += 1

    names = [m[0] for m in misses]
    success = True
    if len(names) > 1:
        ctx = None
        if multiprocessing.get_start_method() == "fork":
            ctx = multiprocessing.get_context("forkserver")
        with concurrent.futures.ProcessPoolExecutor(mp_context=ctx) as pool:
            success = min(pool.map(compile_one, names, chunksize=4), default=True)
    else:
        success = min(map(compile_one, names), default=True)

    caching = True
    for fullname, entry in misses:
        if entry is None or not caching:
            continue
        try:
            with open(importlib.util.cache_from_source(fullname), "rb") as f:
                pyc = f.read()
        except OSError:
            continue  # not compiled (its error is printed)
        if pyc.count(prefix) != 1:
            continue
        try:
            store(entry, pyc)
        except OSError as e:
            print("pyc: not caching (%s)" % e, file=sys.stderr)
            caching = False

    print("pyc: %d from the cache, %d compiled" % (hits, len(misses)))
    sys.exit(0 if success else 1)


if __name__ == "__main__":
    main()
