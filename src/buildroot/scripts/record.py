# record.py ENV_DIR FILE...: after djdd stripped FILEs (paths inside the
# build root) below ENV_DIR, make the RECORD of each installed distribution
# that lists one of them carry its new sha256 and size again (PEP 376,
# PEP 627: urlsafe base64 without padding), so that the env's metadata
# matches its files and is the same on every build. Rows are rewritten the
# way pip wrote them (csv, its line terminator); other rows are untouched.
import base64
import csv
import glob
import hashlib
import io
import os
import sys

env_dir, changed = sys.argv[1], {os.path.normpath(p) for p in sys.argv[2:]}
for record in sorted(glob.glob(os.path.join(env_dir, "lib", "python*", "site-packages", "*.dist-info", "RECORD"))):
    site = os.path.dirname(os.path.dirname(record))
    with open(record, "r", encoding="utf-8", newline="") as f:
        text = f.read()
    terminator = "\r\n" if "\r\n" in text else "\n"
    rows = list(csv.reader(io.StringIO(text, newline="")))
    touched = False
    for row in rows:
        if len(row) < 3 or not row[1]:
            continue
        path = os.path.normpath(os.path.join(site, row[0]))
        if path not in changed:
            continue
        with open(path, "rb") as f:
            data = f.read()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        new = [row[0], f"sha256={digest}", str(len(data))]
        if row[:3] != new:
            row[:3] = new
            touched = True
    if touched:
        out = io.StringIO(newline="")
        csv.writer(out, lineterminator=terminator).writerows(rows)
        with open(record, "w", encoding="utf-8", newline="") as f:
            f.write(out.getvalue())
        print(f"rewrote {record}")
