# requested.py ENV_DIR NAME...: after `pip install --no-deps -r
# requirements.lock`, where every distribution was a line of the file and
# so got pip's REQUESTED mark (PEP 376), the distributions named (PEP 503
# names: those of the lock the project's requirements do not ask for)
# lose it, as a resolution of those requirements leaves them: their
# REQUESTED file and its RECORD row go. Rows are rewritten the way pip
# wrote them (csv, its line terminator); other rows are untouched. What
# venv installed (pip, setuptools) is not named and keeps its mark.
import csv
import glob
import io
import os
import re
import sys

env_dir, drop = sys.argv[1], set(sys.argv[2:])
pattern = os.path.join(env_dir, "lib", "python*", "site-packages", "*.dist-info")
for info in sorted(glob.glob(pattern)):
    requested = os.path.join(info, "REQUESTED")
    if not os.path.exists(requested):
        continue
    name = ""
    with open(os.path.join(info, "METADATA"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("Name:"):
                name = re.sub(r"[-_.]+", "-", line[5:].strip()).lower()
                break
            if not line.strip():
                break
    if name not in drop:
        continue
    os.remove(requested)
    record = os.path.join(info, "RECORD")
    with open(record, "r", encoding="utf-8", newline="") as f:
        text = f.read()
    terminator = "\r\n" if "\r\n" in text else "\n"
    row_path = os.path.basename(info) + "/REQUESTED"
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if not r or r[0] != row_path]
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator=terminator).writerows(rows)
    with open(record, "w", encoding="utf-8", newline="") as f:
        f.write(out.getvalue())
