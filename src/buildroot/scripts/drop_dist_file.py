# drop_dist_file.py ENV_DIR FILE NAME...: removes FILE from the .dist-info
# directory of each distribution named (PEP 503 names; `*`: every
# distribution) in ENV_DIR, and its row from that distribution's RECORD.
# Rows are rewritten the way the installer wrote them (csv, its line
# terminator); other rows are untouched. Used for pip's REQUESTED mark
# (PEP 376) after `pip install --no-deps -r requirements.lock`, where every
# distribution was a line of the file and so got the mark: those the
# project's requirements do not ask for lose it, as a resolution of those
# requirements leaves them (what venv installed, pip and setuptools, is not
# named and keeps its mark); and for uv's `uv_cache.json`, which records
# when uv installed a wheel from a local file (a time: no two builds alike).
import csv
import glob
import io
import os
import re
import sys

env_dir, file_name, drop = sys.argv[1], sys.argv[2], set(sys.argv[3:])
pattern = os.path.join(env_dir, "lib", "python*", "site-packages", "*.dist-info")
for info in sorted(glob.glob(pattern)):
    target = os.path.join(info, file_name)
    if not os.path.exists(target):
        continue
    name = ""
    with open(os.path.join(info, "METADATA"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("Name:"):
                name = re.sub(r"[-_.]+", "-", line[5:].strip()).lower()
                break
            if not line.strip():
                break
    if "*" not in drop and name not in drop:
        continue
    os.remove(target)
    record = os.path.join(info, "RECORD")
    with open(record, "r", encoding="utf-8", newline="") as f:
        text = f.read()
    terminator = "\r\n" if "\r\n" in text else "\n"
    row_path = os.path.basename(info) + "/" + file_name
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if not r or r[0] != row_path]
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator=terminator).writerows(rows)
    with open(record, "w", encoding="utf-8", newline="") as f:
        f.write(out.getvalue())
