#!/usr/bin/env bash
# Builds the probed .deb with dpkg-buildpackage -us -uc -b.
#   packaging/build-deb.sh [OUTDIR]      (default: dist/)
# dpkg-buildpackage wants debian/ at the top of the source tree, while the
# project keeps it in packaging/debian/. So the sources (as git sees them,
# including uncommitted changes) are copied into a scratch tree with
# packaging/debian/ as its debian/, built there, and the .deb files moved
# to OUTDIR. The work tree is never touched.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$src/dist}" && cd "${1:-$src/dist}" && pwd)
scratch=$(mktemp -d /tmp/probed-deb.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
tree="$scratch/probed-0.1.0"
mkdir -p "$tree"
cd "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf - | tar -xf - -C "$tree"
else
    tar --exclude='./build*' --exclude=./dist -cf - . | tar -xf - -C "$tree"
fi
cp -a packaging/debian "$tree/debian"
cd "$tree"
DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=2}" dpkg-buildpackage -us -uc -b
mv "$scratch"/*.deb "$out"/
ls "$out"/*.deb
