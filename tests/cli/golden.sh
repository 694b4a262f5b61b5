#!/usr/bin/env bash
# Golden archives (tests/golden/): every archive written by a frozen format version must
# list, verify, cat and unpack to exactly what it held when it was written.
set -u
: "${IMGSTASH:?}" "${IMS_SRC:?}" "${IMS_TMP:=/tmp}"
fail=0
bad() { echo "FAIL: $*"; fail=1; }
G="$IMS_SRC/tests/golden"
mkdir -p "$IMS_TMP" && W=$(mktemp -d "$IMS_TMP/golden.XXXXXX") || exit 1
trap 'rm -rf "$W"' EXIT
n=0
for arc in "$G"/*.ims; do
  name=$(basename "$arc" .ims)
  n=$((n + 1))
  # The listing is byte-identical (paths, sizes, modes, mtimes, hashes, codecs).
  if ! "$IMGSTASH" list --json "$arc" > "$W/$name.list" 2> "$W/$name.err"; then bad "$name: list failed: $(cat "$W/$name.err")"; fi
  cmp -s "$W/$name.list" "$G/$name.list.json" || bad "$name: list --json differs from $name.list.json"
  "$IMGSTASH" verify -q "$arc" || bad "$name: verify failed"
  # Unpacked files have the recorded sha256 (computed outside imgstash) and cat agrees.
  mkdir -p "$W/$name.out"
  "$IMGSTASH" unpack -q "$arc" -C "$W/$name.out" || bad "$name: unpack failed"
  (cd "$W/$name.out" && sha256sum -c --quiet "$G/$name.sha256") || bad "$name: unpacked content differs"
  while read -r sum path; do
    got=$("$IMGSTASH" cat "$arc" "$path" | sha256sum | cut -d' ' -f1)
    [ "$got" = "$sum" ] || bad "$name: cat $path differs"
  done < "$G/$name.sha256"
done
# v1_basic specifics: metadata that the listing alone does not prove was restored.
O="$W/v1_basic.out/set"
[ "$(readlink "$O/link")" = "readme.txt" ] || bad "v1_basic: symlink target"
[ "$(stat -c %a "$O/noise.bin")" = 600 ] || bad "v1_basic: mode of noise.bin"
[ "$(stat -c %Y "$O/readme.txt")" = 1767323045 ] || bad "v1_basic: mtime of readme.txt"
[ "$(TZ=UTC stat -c %y "$O/readme.txt")" = "2026-01-02 03:04:05.123456789 +0000" ] || bad "v1_basic: nanoseconds of readme.txt"
[ "$(stat -c %Y "$O/sub")" = 1767323045 ] || bad "v1_basic: mtime of folder sub"
if [ "$fail" = 0 ]; then echo "golden: $n archives, 1 passed, 0 failed"; else echo "golden: 0 passed, 1 failed"; fi
exit $fail
