#!/usr/bin/env bash
# A pack that is killed (SIGTERM) leaves no temporary file behind, and an archive that
# already had the name is left exactly as it was (the new one only replaces it when
# complete).
set -u
: "${IMGSTASH:?}" "${IMS_TMP:=/tmp}"
mkdir -p "$IMS_TMP" && W=$(mktemp -d "$IMS_TMP/interrupt.XXXXXX") || exit 1
trap 'rm -rf "$W"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }
mkdir "$W/in"
echo "old archive content" > "$W/in/small.txt"
"$IMGSTASH" pack -q -o "$W/a.ims" "$W/in/small.txt" || bad "first pack failed"
cp "$W/a.ims" "$W/old.ims"
# Compressible but slow at level 19: base64 text, two 32 MiB chunks.
head -c 50000000 /dev/urandom | base64 > "$W/in/big.txt"
"$IMGSTASH" pack -q -j 1 -l 19 -o "$W/a.ims" "$W/in" &
pid=$!
for _ in $(seq 1 200); do
  ls "$W"/a.ims.tmp.* >/dev/null 2>&1 && break
  sleep 0.1
done
ls "$W"/a.ims.tmp.* >/dev/null 2>&1 || bad "no temporary file appeared while packing"
sleep 0.5
kill -TERM "$pid"
wait "$pid"
rc=$?
[ "$rc" = 143 ] || bad "exit status $rc after SIGTERM, expected 143 (killed by the signal)"
if ls "$W"/a.ims.tmp.* >/dev/null 2>&1; then bad "temporary file left behind: $(ls "$W"/a.ims.tmp.*)"; fi
cmp -s "$W/a.ims" "$W/old.ims" || bad "the existing archive was changed by the killed pack"
"$IMGSTASH" verify -q "$W/a.ims" || bad "the existing archive does not verify"
if [ "$fail" = 0 ]; then echo "interrupt: 1 passed, 0 failed"; else echo "interrupt: 0 passed, 1 failed"; fi
exit $fail
