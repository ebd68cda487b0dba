# verify.py ENV_DIR: checks every file the RECORD of each distribution in
# ENV_DIR lists with a hash against that hash (PEP 376, PEP 627: urlsafe
# base64 sha256 without padding) and prints one line a file that differs
# or is missing: NAME TAB PATH (NAME normalised). Run by djdd with the
# env's python right after the installer wrote the env, so that a damaged
# cache entry never ends up in a package.
import base64
import csv
import glob
import hashlib
import os
import re
import sys

env_dir = sys.argv[1]
for record in sorted(glob.glob(os.path.join(env_dir, "lib", "python*", "site-packages", "*.dist-info", "RECORD"))):
    info = os.path.dirname(record)
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
            print(f"{name}\t{path}")
            continue
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        if row[1] != f"sha256={digest}":
            print(f"{name}\t{path}")
