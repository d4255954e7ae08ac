#!/bin/sh
# Splits a binary the way distributions ship it: a stripped executable, and
# its symbols in DEBUGROOT/.build-id/xx/rest.debug, found by build-id.
# Usage: split_debuginfo.sh INPUT STRIPPED_OUTPUT DEBUGROOT [OBJCOPY]
# (OBJCOPY: the host's objcopy, which a cross build names in its cross file)
set -eu
in=$1 out=$2 root=$3 objcopy=${4:-objcopy}
id=$(readelf -n "$in" | sed -n 's/.*Build ID: *\([0-9a-f]*\).*/\1/p' | head -n1)
[ -n "$id" ] || { echo "split_debuginfo: $in has no build-id" >&2; exit 1; }
dir=$root/.build-id/$(echo "$id" | cut -c1-2)
mkdir -p "$dir"
"$objcopy" --only-keep-debug "$in" "$dir/$(echo "$id" | cut -c3-).debug"
"$objcopy" --strip-all "$in" "$out"
