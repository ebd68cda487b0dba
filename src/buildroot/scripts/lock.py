# lock.py REPORT ENV_DIR: requirements.lock from pip's installation report
# (pip install --report, format 1), on stdout. Run by djdd with the build
# root's python after the env's pip install. A wheel djdd built from an
# sdist is locked as that sdist.
import json
import re
import sys

report, env_dir = sys.argv[1], sys.argv[2]
with open(report, encoding="utf-8") as f:
    data = json.load(f)
lines = []
for item in data.get("install", []):
    meta = item.get("metadata", {})
    name = re.sub(r"[-_.]+", "-", meta.get("name", "")).lower()
    version = meta.get("version", "")
    info = item.get("download_info", {})
    digest = info.get("archive_info", {}).get("hash", "")
    # A wheel djdd built from an sdist at its fixed path, offered from the
    # build dir's cache (file:///djdd/cache/wheels/env-format-N/pythonX.Y/SHA/...):
    # the lock names the sdist, whose sha256 names the wheel's directory.
    kept = re.search(r"/wheels/env-format-[0-9]+/python[0-9.]+/([0-9a-f]{64})/[^/]+[.]whl$", info.get("url", ""))
    if kept and info.get("url", "").startswith("file://"):
        lines.append((name, f"{name}=={version} --hash=sha256:{kept.group(1)}"))
        continue
    if digest.startswith("sha256=") and item.get("is_direct"):
        # A direct URL (`name @ https://.../x.whl`): the index may not have
        # it, so the lock names the URL, and the version after a comment.
        url = info.get("url", "")
        lines.append((name, f"{name} @ {url} --hash=sha256:{digest[7:]}  # {version}"))
    elif digest.startswith("sha256="):
        lines.append((name, f"{name}=={version} --hash=sha256:{digest[7:]}"))
    else:
        url = info.get("url", "")
        lines.append((name, f"{name}=={version}  # no archive hash: from {url}"))
lines.sort()
print(f"# What pip installed into {env_dir}: one distribution a line, with the")
print("# sha256 of the archive it came from (the wheel, or the sdist it built).")
print("# Written by djdd from `pip install --report`; install exactly this with")
print("# pip install --no-deps --require-hashes -r requirements.lock")
for _, line in lines:
    print(line)
