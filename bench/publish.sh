#!/usr/bin/env bash
# Benchmark: `djdd publish` of 3 new packages (env, src, site, as one build
# makes) into a signed repository that already holds 300. Target: < 0.5 s.
# Uses the release binary; hyperfine restores the repository and the publish
# record before each run so every run adds the same 3 packages.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
DJDD=$PWD/target/release/djdd
W=$(mktemp -d /tmp/djdd-bench-publish.XXXXXX)
trap 'gpgconf --homedir "$W/d/gnupg" --kill gpg-agent 2>/dev/null || true; rm -rf "$W"' EXIT

mkdeb() { # NAME VERSION OUTDIR [PAYLOAD_BYTES]
    local t="$W/tree/$1"
    mkdir -p "$t/DEBIAN" "$t/usr/share/doc/$1"
    printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: bench <b@example.org>\nDescription: benchmark package %s\n' \
        "$1" "$2" "$1" >"$t/DEBIAN/control"
    head -c "${4:-2000}" /dev/urandom >"$t/usr/share/doc/$1/payload"
    dpkg-deb --build --root-owner-group -Zgzip -z1 "$t" "$3/$1_$2_all.deb" >/dev/null
    rm -rf "$t"
}

echo "bench: making 300 packages..." >&2
mkdir -p "$W/d/packages" "$W/new"
for i in $(seq 1 100); do
    h=$(printf '%06x' "$i")
    mkdeb "demo-env-$h" 1 "$W/d/packages"
    mkdeb "demo-src-$h" 1 "$W/d/packages"
    mkdeb "demo-site-v$((i % 10))" "0.$i" "$W/d/packages"
done
"$DJDD" --dir "$W/d" publish --suite stable --init-key --repo "$W/repo" >/dev/null
count=$(grep -c '^Package:' "$W/repo/dists/stable/main/binary-amd64/Packages")
echo "bench: repository holds $count packages" >&2
cp -a "$W/repo" "$W/repo0"
cp -a "$W/d/state" "$W/state0"

# One more build: a 2 MB env, a src and a site version.
mkdeb demo-env-ffffff 1 "$W/d/packages" 2000000
mkdeb demo-src-ffffff 1 "$W/d/packages"
mkdeb demo-site-v0 0.999 "$W/d/packages"

hyperfine --warmup 1 --runs 10 --export-json "$W/h.json" \
    --prepare "rm -rf '$W/repo' '$W/d/state' && cp -a '$W/repo0' '$W/repo' && cp -a '$W/state0' '$W/d/state'" \
    "'$DJDD' --dir '$W/d' publish --suite stable --repo '$W/repo'"
"$DJDD" --dir "$W/d" publish --suite stable --repo "$W/repo" >/dev/null
after=$(grep -c '^Package:' "$W/repo/dists/stable/main/binary-amd64/Packages")
python3 - "$W/h.json" "$after" >"$W/section.md" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("## djdd publish (bench/publish.sh)\n")
print("| what | mean | median | min | target |\n|---|---|---|---|---|")
print(f"| 3 new packages into a signed repository of 300 (repository then lists {sys.argv[2]}) "
      f"| {r['mean']:.3f} s | {r['median']:.3f} s | {r['min']:.3f} s | < 0.5 s |")
PY
cat "$W/section.md"
bash "$(dirname "$0")/section.sh" publish "$W/section.md"
