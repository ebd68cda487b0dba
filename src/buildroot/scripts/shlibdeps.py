# Run inside the build root by djdd with /usr/bin/python3: finds the Debian
# packages that provide the shared libraries the compiled modules of a
# virtualenv link to (like dpkg-shlibdeps, by asking ldd and dpkg -S).
# Prints one line per library: "PACKAGE<TAB>LIBRARY-PATH", sorted.
import os
import subprocess
import sys

venv = os.path.realpath(sys.argv[1])
objects = []
for top, dirs, files in os.walk(venv):
    dirs.sort()
    for f in sorted(files):
        if ".so" in f:
            p = os.path.join(top, f)
            if os.path.isfile(p) and not os.path.islink(p):
                objects.append(p)

def needed(obj):
    """The object's own NEEDED entries (as dpkg-shlibdeps, not ldd's
    transitive closure); None when readelf is missing."""
    try:
        r = subprocess.run(["readelf", "-d", obj], capture_output=True, text=True)
    except FileNotFoundError:
        return None
    names = set()
    for line in r.stdout.splitlines():
        if "(NEEDED)" in line and "[" in line:
            names.add(line.rsplit("[", 1)[1].rstrip("]"))
    return names


libs = set()
for obj in objects:
    r = subprocess.run(["ldd", obj], capture_output=True, text=True)
    if r.returncode != 0:
        continue
    direct = needed(obj)
    for line in r.stdout.splitlines():
        if "=>" not in line:
            continue
        soname = line.split("=>", 1)[0].strip()
        if direct is not None and soname not in direct:
            continue
        target = line.split("=>", 1)[1].strip().split(" (", 1)[0].strip()
        if not target.startswith("/"):
            continue
        real = os.path.realpath(target)
        if real.startswith(venv + "/"):
            continue
        libs.add(target)

out = set()
for lib in sorted(libs):
    candidates = [lib, os.path.realpath(lib)]
    for c in list(candidates):
        # merged /usr: dpkg knows a file under one of the two spellings.
        if c.startswith("/usr/lib/"):
            candidates.append(c[len("/usr"):])
        elif c.startswith("/lib/"):
            candidates.append("/usr" + c)
    for c in candidates:
        r = subprocess.run(["dpkg", "-S", c], capture_output=True, text=True)
        if r.returncode == 0:
            pkg = r.stdout.split(":", 1)[0].strip()
            out.add((pkg, lib))
            break
    else:
        print("unowned\t" + lib)

for pkg, lib in sorted(out):
    print(pkg + "\t" + lib)
