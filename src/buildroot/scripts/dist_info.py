# dist_info.py drop ENV_DIR FILE NAMES [FILE NAMES]...
# dist_info.py verify ENV_DIR [FILE NAMES]...
#
# drop: removes each FILE from the .dist-info directory of the
# distributions NAMES names (comma-separated PEP 503 names; `*`: every
# distribution; empty: none) in ENV_DIR, and its row from that
# distribution's RECORD, which is rewritten once for all the files dropped
# from it. Rows are rewritten the way the installer wrote them (csv, its
# line terminator); other rows are untouched. Used for pip's REQUESTED mark
# (PEP 376) after `pip install --no-deps -r requirements.lock`, where every
# distribution was a line of the file and so got the mark: those the
# project's requirements do not ask for lose it, as a resolution of those
# requirements leaves them (what venv installed, pip and setuptools, is not
# named and keeps its mark); for uv's `uv_cache.json`, which records when
# uv installed a wheel from a local file (a time: no two builds alike); and
# for the project's `direct_url.json` (a path of the build root).
#
# verify: checks every file the RECORD of each distribution in ENV_DIR
# lists with a hash against that hash (PEP 376, PEP 627: urlsafe base64
# sha256 without padding) and prints one line a file that differs or is
# missing: NAME TAB PATH (NAME normalised). When none does, it then drops
# the FILEs as `drop` does, in the same run. Run by djdd with the env's
# python right after the installer wrote the env, so that a damaged cache
# entry never ends up in a package.
import base64
import csv
import glob
import hashlib
import io
import os
import re
import sys


def infos(env_dir):
    pattern = os.path.join(env_dir, "lib", "python*", "site-packages", "*.dist-info")
    return sorted(glob.glob(pattern))


def differing(env_dir):
    """(NAME, PATH) of each file that differs from its RECORD row."""
    out = []
    for info in infos(env_dir):
        record = os.path.join(info, "RECORD")
        if not os.path.isfile(record):
            continue
        site = os.path.dirname(info)
        stem = os.path.basename(info)[: -len(".dist-info")]
        name = re.sub(r"[-_.]+", "-", stem.rsplit("-", 1)[0]).lower()
        with open(record, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        for row in rows:
            if len(row) < 2 or not row[1].startswith("sha256="):
                continue
            path = os.path.normpath(os.path.join(site, row[0]))
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                out.append((name, path))
                continue
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            if row[1] != f"sha256={digest}":
                out.append((name, path))
    return out


def metadata_name(info):
    with open(os.path.join(info, "METADATA"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("Name:"):
                return re.sub(r"[-_.]+", "-", line[5:].strip()).lower()
            if not line.strip():
                break
    return ""


def drop(env_dir, drops):
    """drops: [(FILE, set of NAMES)]."""
    for info in infos(env_dir):
        present = [f for f, _ in drops if os.path.exists(os.path.join(info, f))]
        if not present:
            continue
        name = metadata_name(info)
        gone = [f for f, names in drops if f in present and ("*" in names or name in names)]
        if not gone:
            continue
        for f in gone:
            os.remove(os.path.join(info, f))
        record = os.path.join(info, "RECORD")
        with open(record, "r", encoding="utf-8", newline="") as f:
            text = f.read()
        terminator = "\r\n" if "\r\n" in text else "\n"
        row_paths = {os.path.basename(info) + "/" + f for f in gone}
        rows = [r for r in csv.reader(io.StringIO(text, newline="")) if not r or r[0] not in row_paths]
        out = io.StringIO(newline="")
        csv.writer(out, lineterminator=terminator).writerows(rows)
        with open(record, "w", encoding="utf-8", newline="") as f:
            f.write(out.getvalue())


def pairs(args):
    if len(args) % 2:
        sys.exit("dist_info.py: FILE without NAMES")
    return [(args[i], {n for n in args[i + 1].split(",") if n}) for i in range(0, len(args), 2)]


def main():
    command, env_dir, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    drops = pairs(rest)
    if command == "drop":
        drop(env_dir, drops)
    elif command == "verify":
        bad = differing(env_dir)
        for name, path in bad:
            print(f"{name}\t{path}")
        if not bad:
            drop(env_dir, drops)
    else:
        sys.exit(f"dist_info.py: unknown command {command!r}")


main()
