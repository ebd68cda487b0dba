# unpack.py ARCHIVE DEST: unpacks an sdist (.tar.gz, .tar.bz2, .tar.xz,
# .zip) to DEST, a directory that must not exist, without the archive's
# top directory. Members that would land outside DEST, links and devices
# are refused. Run by djdd with the build root's python as the build user.
import os
import shutil
import sys
import tarfile
import zipfile

archive, dest = sys.argv[1], sys.argv[2]
tmp = dest + ".unpack"
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(tmp)


def safe(name):
    parts = name.replace("\\", "/").split("/")
    if name.startswith("/") or ".." in parts:
        sys.exit(f"{archive}: member {name!r} would land outside {dest}")


if archive.endswith(".zip"):
    with zipfile.ZipFile(archive) as z:
        for n in z.namelist():
            safe(n)
        z.extractall(tmp)
else:
    with tarfile.open(archive) as t:
        members = []
        for m in t.getmembers():
            safe(m.name)
            if m.issym() or m.islnk():
                if m.linkname.startswith("/") or ".." in m.linkname.split("/"):
                    sys.exit(f"{archive}: link {m.name!r} points outside {dest}")
            elif not (m.isfile() or m.isdir()):
                continue
            members.append(m)
        # Python >= 3.12 (and security updates of older ones) filter too.
        kw = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        t.extractall(tmp, members=members, **kw)
entries = os.listdir(tmp)
top = tmp
if len(entries) == 1 and os.path.isdir(os.path.join(tmp, entries[0])):
    top = os.path.join(tmp, entries[0])
os.rename(top, dest)
shutil.rmtree(tmp, ignore_errors=True)
