#!/usr/bin/env bash
# bench/section.sh NAME FILE: replaces the section NAME of BENCHMARKS.md
# (between <!-- BEGIN NAME --> and <!-- END NAME -->, appended when absent)
# with the contents of FILE.
set -euo pipefail
name="$1"; body="$2"
cd "$(dirname "$0")/.."
touch BENCHMARKS.md
python3 - "$name" "$body" <<'PY'
import sys
name, body = sys.argv[1], open(sys.argv[2]).read()
begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
text = open("BENCHMARKS.md").read()
block = f"{begin}\n{body.rstrip()}\n{end}"
if begin in text and end in text:
    i, j = text.index(begin), text.index(end) + len(end)
    text = text[:i] + block + text[j:]
else:
    text = text.rstrip() + "\n\n" + block + "\n"
open("BENCHMARKS.md.tmp", "w").write(text)
PY
mv BENCHMARKS.md.tmp BENCHMARKS.md
