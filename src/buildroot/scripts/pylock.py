# pylock.py PYLOCK [LOCK]: the archive each package of a pylock.toml
# (PEP 751, as `uv pip compile --format pylock.toml` writes it) installs
# from on this interpreter, one a line, tab-separated: KIND NAME VERSION
# SHA256 URL DIRECT. KIND is `wheel` (the compatible wheel installers
# prefer: the best-ranked of the interpreter's tags), `sdist` (no wheel
# fits), `none` (no archive with a sha256: a VCS checkout or a local
# directory) or, given LOCK (a requirements.lock), `mismatch` (no archive
# of the package has the sha256 LOCK records for it; otherwise the archive
# named is the one with that sha256). DIRECT is 1 for an archive named by
# its URL. A package whose `marker` does not hold on this interpreter is
# left out. Exit 3, saying why on stderr, when the lock's
# `requires-python` excludes this interpreter; 4 on a marker that does
# not parse. Run by djdd with the env's python (its pip's packaging), or
# with the build root's, the Debian pip wheel named by DJDD_PIP_WHEEL on
# the path.
import os
import platform
import re
import sys
import tomllib

if os.environ.get("DJDD_PIP_WHEEL"):
    sys.path.insert(0, os.environ["DJDD_PIP_WHEEL"])

from pip._vendor.packaging.markers import Marker
from pip._vendor.packaging.specifiers import SpecifierSet
from pip._vendor.packaging.tags import sys_tags
from pip._vendor.packaging.utils import parse_wheel_filename


def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256(entry):
    return (entry.get("hashes") or {}).get("sha256", "")


def file_name(entry):
    return entry.get("name") or entry.get("url", "").split("#")[0].rsplit("/", 1)[-1]


rank = {}
for i, tag in enumerate(sys_tags()):
    rank.setdefault(tag, i)

with open(sys.argv[1], "rb") as f:
    data = tomllib.load(f)
requires = data.get("requires-python")
if requires and not SpecifierSet(requires).contains(platform.python_version(), prereleases=True):
    print(f"requires-python {requires}", file=sys.stderr)
    sys.exit(3)
wanted = None
if len(sys.argv) > 2:
    wanted = {}
    with open(sys.argv[2], encoding="utf-8") as f:
        for line in f:
            m = re.match(
                r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==|@)[^#]*?--hash=sha256:([0-9a-f]{64})",
                line,
            )
            if m:
                wanted[norm(m.group(1))] = m.group(2)

for p in data.get("packages", []):
    name, version = norm(p.get("name", "")), p.get("version", "")
    if p.get("marker"):
        try:
            holds = Marker(p["marker"]).evaluate({"extra": ""})
        except Exception as e:
            print(f"{name}: marker {p['marker']!r}: {e}", file=sys.stderr)
            sys.exit(4)
        if not holds:
            continue
    found = []  # (kind, rank, sha256, url, direct)
    for w in p.get("wheels", []):
        try:
            tags = parse_wheel_filename(file_name(w))[3]
        except Exception:
            continue
        ranks = [rank[t] for t in tags if t in rank]
        # A wheel for another interpreter still counts when the lock names it.
        found.append(("wheel", min(ranks) if ranks else None, sha256(w), w.get("url", ""), "0"))
    if p.get("sdist"):
        s = p["sdist"]
        found.append(("sdist", 1 << 30, sha256(s), s.get("url", ""), "0"))
    if p.get("archive"):
        a = p["archive"]
        kind = "wheel" if file_name(a).endswith(".whl") else "sdist"
        found.append((kind, 0, sha256(a), a.get("url", ""), "1"))
    found = [f for f in found if f[2]]
    if wanted is not None:
        match = [f for f in found if f[2] == wanted.get(name)]
        pick = match[0] if match else ("mismatch", 0, "", "", "0")
    else:
        usable = sorted((f for f in found if f[1] is not None), key=lambda f: f[1])
        pick = usable[0] if usable else ("none", 0, "", "", "0")
    kind, _, digest, url, direct = pick
    print(f"{kind}\t{name}\t{version}\t{digest}\t{url}\t{direct}")
