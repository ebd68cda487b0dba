# sdists.py REPORT: the distributions of pip's installation report (pip
# install --dry-run --report, format 1) that pip would build from an sdist
# downloaded from an index or an http(s) URL, one a line, tab-separated:
# NAME VERSION SHA256 REQUIREMENT (NAME normalised, REQUIREMENT what `pip
# download` is given before the hash). Run by djdd with the build root's
# python before the env's pip install; djdd builds each at a fixed path.
import json
import re
import sys

with open(sys.argv[1], encoding="utf-8") as f:
    data = json.load(f)
for item in data.get("install", []):
    meta = item.get("metadata", {})
    name = re.sub(r"[-_.]+", "-", meta.get("name", "")).lower()
    version = meta.get("version", "")
    info = item.get("download_info", {})
    url = info.get("url", "")
    digest = info.get("archive_info", {}).get("hash", "")
    if not digest.startswith("sha256=") or url.split("#")[0].endswith(".whl"):
        continue
    if not url.startswith(("https://", "http://")):
        continue
    requirement = f"{name} @ {url}" if item.get("is_direct") else f"{name}=={version}"
    print(f"{name}\t{version}\t{digest[7:]}\t{requirement}")
