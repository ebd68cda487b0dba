#!/usr/bin/env python3
"""Times `djdd pack` against `dpkg-deb --root-owner-group -b`, nfpm and the
raw compressors on the benchmark tree prepared by bench/setup.sh, and writes
the medians, ratios and sizes to BENCHMARKS.md.

Runs alternate between tools (the order rotates every round) so that load
from other processes on the machine spreads over all of them. Standard
library only."""

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

LEVELS = {"zstd": 3, "xz": 6, "gzip": 9}
RAW = {
    "zstd": [["zstd", "-q", "-T2", "-3", "-c"]],
    "xz": [["xz", "-T2", "-6", "-c"]],
    "gzip": [["gzip", "-9", "-n", "-c"], ["pigz", "-p2", "-9", "-n", "-c"]],
}
EXT = {"zstd": "zst", "xz": "xz", "gzip": "gz"}
# targets from issue 2: djdd time <= factor x dpkg-deb's
TIME_TARGET = {"zstd": 0.8, "xz": 0.5, "gzip": 0.5}


def nfpm_config(cache, comp):
    path = os.path.join(cache, f"nfpm-{comp}.yaml")
    with open(path, "w") as f:
        f.write(f"""name: djdd-bench-env
arch: amd64
platform: linux
version: "1.0"
maintainer: djdd benchmarks <bench@example.org>
description: virtualenv used by djdd's pack benchmark
deb:
  compression: {comp}
contents:
  - src: {cache}/tree/usr
    dst: /usr
    type: tree
""")
    return path


def ar_member(path, prefix):
    """The bytes of the first ar member whose name starts with prefix."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 8
    while pos + 60 <= len(data):
        name = data[pos:pos + 16].decode().strip().rstrip("/")
        size = int(data[pos + 48:pos + 58])
        if name.startswith(prefix):
            return data[pos + 60:pos + 60 + size]
        pos += 60 + size + size % 2
    return None


def run(cmd, stdout_path):
    with open(stdout_path, "wb") as out:
        t = time.perf_counter()
        subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, check=True)
        return time.perf_counter() - t


def version(cmd, grep=None):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "not installed"
    lines = [l for l in out.splitlines() if grep is None or grep in l]
    return lines[0].strip() if lines else "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default="/var/cache/djdd/bench")
    ap.add_argument("--djdd", required=True)
    ap.add_argument("--out", default="BENCHMARKS.md")
    ap.add_argument("--runs", type=int, default=5, help="rounds for zstd and gzip")
    ap.add_argument("--runs-xz", type=int, default=3, help="rounds for xz")
    ap.add_argument("--only", default="zstd,gzip,xz")
    args = ap.parse_args()
    cache = args.cache
    tree = os.path.join(cache, "tree")
    tar = os.path.join(cache, "tree.tar")
    nfpm = os.path.join(cache, "nfpm", "bin", "nfpm")
    outdir = os.path.join(cache, "out")
    os.makedirs(outdir, exist_ok=True)
    env = dict(os.environ)
    env.pop("SOURCE_DATE_EPOCH", None)

    files = entries = 0
    for top, dirs, fs in os.walk(os.path.join(tree, "usr")):
        entries += len(dirs) + len(fs)
        files += sum(1 for f in fs if os.path.isfile(os.path.join(top, f))
                     and not os.path.islink(os.path.join(top, f)))
    tar_bytes = os.path.getsize(tar)
    # warm the page cache once
    subprocess.run(["tar", "-cf", "/dev/null", "-C", tree, "."], check=True)
    load_before = os.getloadavg()

    results = {}
    for comp in args.only.split(","):
        lvl = LEVELS[comp]
        ext = EXT[comp]
        tools = {
            "djdd pack": [args.djdd, "pack", "-Z", comp, "-z", str(lvl), tree,
                          os.path.join(outdir, f"djdd.deb")],
            "dpkg-deb": ["dpkg-deb", "--root-owner-group", "-Z", comp, "-z", str(lvl),
                         "--build", tree, os.path.join(outdir, "dpkg.deb")],
        }
        if os.access(nfpm, os.X_OK):
            tools["nfpm"] = [nfpm, "package", "-f", nfpm_config(cache, comp), "-p", "deb",
                             "-t", os.path.join(outdir, "nfpm.deb")]
        for raw in RAW[comp]:
            if shutil.which(raw[0]):
                tools[f"raw `{' '.join(raw)}`"] = raw + [tar]
        outputs = {
            "djdd pack": os.path.join(outdir, "djdd.deb"),
            "dpkg-deb": os.path.join(outdir, "dpkg.deb"),
            "nfpm": os.path.join(outdir, "nfpm.deb"),
        }
        times = {name: [] for name in tools}
        sizes = {}
        names = list(tools)
        runs = args.runs_xz if comp == "xz" else args.runs
        for r in range(runs):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                sink = os.path.join(outdir, "raw." + ext) if name.startswith("raw") else os.devnull
                t = run(tools[name], sink)
                times[name].append(t)
                path = outputs.get(name, sink)
                if path != os.devnull:
                    sizes[name] = os.path.getsize(path)
                print(f"bench: {comp} round {r + 1}/{runs} {name}: {t:.2f} s", file=sys.stderr)
        same_data = ar_member(outputs["djdd pack"], "data.tar") == \
            ar_member(outputs["dpkg-deb"], "data.tar")
        control = {k: len(ar_member(outputs[k], "control.tar") or b"")
                   for k in ("djdd pack", "dpkg-deb")}
        results[comp] = (lvl, times, sizes, same_data, control)

    load_after = os.getloadavg()
    write_report(args, results, files, entries, tar_bytes, load_before, load_after, nfpm)


def write_report(args, results, files, entries, tar_bytes, load_before, load_after, nfpm):
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    lines = []
    w = lines.append
    w("# Benchmarks: `djdd pack`")
    w("")
    w("Written by `make bench` (bench/run.sh, bench/bench.py); do not edit by hand.")
    w("")
    w(f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, djdd {rev}")
    w(f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, load average "
      f"{load_before[0]:.1f} before and {load_after[0]:.1f} after "
      "(the machine is shared: other builds run at the same time)")
    w(f"- tree: a Python virtualenv (Django, gunicorn, psycopg2-binary, celery, redis, pillow, "
      f"djangorestframework, whitenoise): {entries} entries ({files} regular files), "
      f"data tar {tar_bytes / 1e6:.1f} MB")
    w(f"- {version(['dpkg-deb', '--version'])}; nfpm {version([nfpm, '--version'], 'GitVersion').split()[-1] if os.access(nfpm, os.X_OK) else 'not installed'}; "
      f"{version(['xz', '--version'])}; {version(['zstd', '--version'])}")
    w("- each tool packs the same tree (page cache warm); rounds alternate tools, "
      "rotating their order; times are wall-clock medians (min in brackets)")
    w("- nfpm has no level option here: it uses its own default level for each compressor")
    w("")
    for comp, (lvl, times, sizes, same_data, control) in results.items():
        w(f"## {comp} (level {lvl})")
        w("")
        w("| tool | median s | (min s) | output bytes | time vs dpkg-deb | size vs dpkg-deb |")
        w("|---|---:|---:|---:|---:|---:|")
        med = {k: statistics.median(v) for k, v in times.items()}
        dpkg_t = med.get("dpkg-deb")
        dpkg_s = sizes.get("dpkg-deb")
        for name, v in times.items():
            size = sizes.get(name)
            tr = f"{med[name] / dpkg_t:.2f}x" if dpkg_t else ""
            sr = f"{size / dpkg_s:.3f}x" if size and dpkg_s else ""
            w(f"| {name} | {med[name]:.2f} | ({min(v):.2f}) | {size if size else ''} | {tr} | {sr} |")
        w("")
        d = med["djdd pack"]
        target = TIME_TARGET[comp]
        ok_t = d <= target * dpkg_t
        ok_s = sizes["djdd pack"] <= 1.02 * dpkg_s
        w(f"- djdd / dpkg-deb time: **{d / dpkg_t:.2f}** (target <= {target}): "
          f"{'met' if ok_t else 'MISSED'}")
        w(f"- djdd / dpkg-deb size: **{sizes['djdd pack'] / dpkg_s:.3f}** (target <= 1.02): "
          f"{'met' if ok_s else 'MISSED'}")
        w(f"- djdd's data.tar.{EXT[comp]} is {'byte-identical to' if same_data else 'different from'} "
          f"dpkg-deb's; control members: djdd {control['djdd pack']} bytes (with md5sums), "
          f"dpkg-deb {control['dpkg-deb']} bytes (dpkg-deb writes no md5sums)")
        for name in times:
            if name.startswith("raw"):
                r = d / med[name]
                w(f"- djdd / {name} on the tar: **{r:.2f}** (target <= 1.5): "
                  f"{'met' if r <= 1.5 else 'MISSED'}")
        w("")
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print(f"bench: wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
