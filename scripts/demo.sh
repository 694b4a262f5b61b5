#!/usr/bin/env bash
# The demo behind `make demo`: makes a synthetic webcam time-lapse with the project's own
# generator (tests/tools/mkdemo.c: 300 JPEG frames with runs of repeated frames, 4 PNGs,
# a text file), packs it, unpacks it into another folder, checks that every byte came back
# (`imgstash verify` and `diff -r`) and prints a short summary and `imgstash stats`.
#
#   bash scripts/demo.sh [OUTDIR]      (default ./demo-out, which is gitignored)
#
# Uses build/imgstash and build/mkdemo (the release build `make` writes); set IMGSTASH,
# MKDEMO or BUILD to use others. DEMO_SEED and DEMO_FRAMES change the generated set.
# Needs nothing from the corpus. Exit status 0 only when the round trip is exact.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-$here/build}
imgstash=${IMGSTASH:-$build/imgstash}
mkdemo=${MKDEMO:-$build/mkdemo}
out=${1:-demo-out}
seed=${DEMO_SEED:-2024}
frames=${DEMO_FRAMES:-300}

for tool in "$imgstash" "$mkdemo"; do
  if [ ! -x "$tool" ]; then
    echo "demo: $tool is missing; build it first with 'make'" >&2
    exit 1
  fi
done

now() { echo "$EPOCHREALTIME"; }
# seconds between two $EPOCHREALTIME stamps, and MB/s (decimal MB) for a byte count
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
mbps() { awk -v n="$1" -v s="$2" 'BEGIN { if (s <= 0) s = 0.001; printf "%.1f", n / 1e6 / s }'; }
mb() { awk -v n="$1" 'BEGIN { printf "%.1f MB", n / 1e6 }'; }

rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
set_dir=webcam # the folder name the archive records

echo "== 1. make the demo set ($frames frames, seed $seed)"
t0=$(now)
"$mkdemo" -s "$seed" -n "$frames" "$out/$set_dir"
t1=$(now)
files=$(find "$out/$set_dir" -type f | wc -l)
orig=$(find "$out/$set_dir" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
jpegs=$(find "$out/$set_dir" -type f -name '*.jpg' | wc -l)
distinct=$(find "$out/$set_dir" -type f -name '*.jpg' -exec md5sum {} + | awk '{ print $1 }' | sort -u | wc -l)
echo "   $files files, $(mb "$orig") in $out/$set_dir ($(secs "$t0" "$t1") s)"

echo "== 2. pack"
archive=$out/demo.ims
t0=$(now)
(cd "$out" && "$imgstash" pack -q -o "$archive" "$set_dir")
t1=$(now)
pack_s=$(secs "$t0" "$t1")
echo "   $imgstash pack -o $archive $set_dir  (in $out)"

echo "== 3. unpack into another folder"
restored=$out/restored
t0=$(now)
"$imgstash" unpack -q "$archive" -C "$restored"
t1=$(now)
unpack_s=$(secs "$t0" "$t1")
echo "   $imgstash unpack $archive -C $restored"

echo "== 4. check"
fail() {
  echo "demo: FAILED: $*" >&2
  exit 1
}
t0=$(now)
"$imgstash" verify -q "$archive" "$out" || fail "imgstash verify $archive $out"
t1=$(now)
echo "   imgstash verify $archive $out: every entry decodes and matches the original ($(secs "$t0" "$t1") s)"
diff -r "$out/$set_dir" "$restored/$set_dir" >&2 || fail "the unpacked files differ from the originals (diff -r)"
echo "   diff -r $set_dir restored/$set_dir: no difference, every byte is back"

arc=$(stat -c %s "$archive")
ratio=$(awk -v o="$orig" -v a="$arc" 'BEGIN { printf "%.2f", o / a }')
pct=$(awk -v o="$orig" -v a="$arc" 'BEGIN { printf "%.1f", 100 * a / o }')

echo
echo "== summary"
printf '  %-10s %s (%s JPEG frames, %s distinct; 4 PNGs; 1 text file)\n' files "$files" "$jpegs" "$distinct"
printf '  %-10s %s (%s bytes)\n' original "$(mb "$orig")" "$orig"
printf '  %-10s %s (%s bytes), %s%% of the original, ratio %s:1\n' archive "$(mb "$arc")" "$arc" "$pct" "$ratio"
printf '  %-10s %s s, %s MB/s\n' pack "$pack_s" "$(mbps "$orig" "$pack_s")"
printf '  %-10s %s s, %s MB/s\n' unpack "$unpack_s" "$(mbps "$orig" "$unpack_s")"
printf '  %-10s %s\n' check "exact: imgstash verify and diff -r agree"
echo
echo "== imgstash stats $archive"
"$imgstash" stats "$archive"
