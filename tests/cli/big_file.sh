# cli.big_file: a file over 2 GiB round-trips and is streamed, never loaded whole.
# A sparse 2200 MiB file with random bytes at a few offsets (start, across the 2^31 and
# 2^32-ish boundaries of 32-bit lengths, the end) -> pack -> list -> verify -> cat | cmp,
# with the peak RSS of pack, verify and cat each below 1 GiB (/usr/bin/time -f %M).
# Slow under ASan: one test, level 1 and 2 threads.
. "$(dirname "$0")/lib.sh"

TIME=/usr/bin/time
if [ ! -x "$TIME" ]; then
  bash "${IMS_SRC:-.}/scripts/install-deps.sh" >/dev/null 2>&1
fi
if [ ! -x "$TIME" ]; then
  echo "SKIP: /usr/bin/time is missing (scripts/install-deps.sh installs it)"
  exit 77
fi
avail_kb=$(df -Pk "$W" | awk 'NR == 2 { print $4 }')
if [ "${avail_kb:-0}" -lt 1048576 ]; then
  echo "SKIP: less than 1 GiB free in $W"
  exit 77
fi
# ASan keeps freed memory in quarantine (256 MiB by default), which is not the program's own
# working set: keep it small so that the RSS measured is the program's.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}:quarantine_size_mb=16"
LIMIT_KB=$((1024 * 1024))

cd "$W" || exit 2
size=$((2200 * 1024 * 1024))
truncate -s "$size" big
for off in 0 1000000 2147483000 2147483648 2200000000 $((size - 4096)); do
  head -c 4096 /dev/urandom | dd of=big bs=1 seek="$off" conv=notrunc status=none
done
check "the input is the expected size" [ "$(stat -c %s big)" -eq "$size" ]
touch -d '2022-02-22 22:22:22.222' big

peak() { # peak NAME: the kB in time's output file, checked against the limit
  local kb
  kb=$(tail -1 "$W/$1.mem")
  echo "$1: peak RSS ${kb} kB"
  if [ "${kb:-0}" -gt 0 ] && [ "$kb" -lt "$LIMIT_KB" ]; then ok; else fail "$1: peak RSS ${kb:-?} kB, limit $LIMIT_KB kB"; fi
}

start=$(date +%s)
run "$TIME" -f %M -o "$W/pack.mem" "$IMGSTASH" pack -q -l 1 -j 2 -o big.ims big
expect_rc 0 "pack of a 2200 MiB file"
expect_no_err
peak pack
echo "pack: $(($(date +%s) - start)) s, archive $(stat -c %s big.ims) bytes"

ims list big.ims
expect_rc 0 list
check "list shows the full size" [ "$(cat "$OUT")" = "$size big" ]

start=$(date +%s)
run "$TIME" -f %M -o "$W/verify.mem" "$IMGSTASH" verify -q big.ims
expect_rc 0 "verify of a 2200 MiB file"
expect_no_err
peak verify
echo "verify: $(($(date +%s) - start)) s"

start=$(date +%s)
# cat | cmp: cmp reads the pipe as it comes, so nothing of 2.2 GB lands on disk
set -o pipefail
"$TIME" -f %M -o "$W/cat.mem" "$IMGSTASH" cat big.ims big 2>"$ERR" | cmp - big >"$OUT" 2>&1
RC=$?
set +o pipefail
expect_rc 0 "cat big | cmp - big"
expect_no_err
peak cat
echo "cat | cmp: $(($(date +%s) - start)) s"

rm -f big big.ims
finish
