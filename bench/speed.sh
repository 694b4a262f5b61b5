#!/usr/bin/env bash
# Speed ratios behind the speed targets of issues #3 and #4, side by side in one run on the
# same files, rounds interleaved so that a noisy machine slows both sides alike.
#
#   bench/speed.sh lepton [FOLDER]   imgstash pack / unpack -j J against Lepton per file
#                                    (default FOLDER: ../shared/corpus/photos)
#   bench/speed.sh refs [FOLDER]     imgstash with references (default options) against the
#                                    per-image codec (--key-interval 1)
#                                    (default FOLDER: ../shared/corpus/timelapse)
#
# Environment: ROUNDS (default 5), J (imgstash -j, default 2), IMGSTASH, PEERS_DIR
# (bench/common.sh). Lepton runs per file with its default threads, as in bench/peers.sh; a
# file it refuses is left out of its byte count, and the lepton row gives both ratios: of
# the whole folder's MB/s, and of the MB/s over the files it coded. Every restored tree is
# compared with the originals once (diff -r) before the timed rounds.
# Prints per side the median wall time, user+sys CPU time and MB/s of original bytes, and
# the ratio of MB/s (> 1: imgstash faster, or references faster).
set -euo pipefail

{
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

mode=${1:-}
ROUNDS=${ROUNDS:-5}
J=${J:-2}
case $mode in
lepton) src=${2:-$bench_root/../shared/corpus/photos} ;;
refs) src=${2:-$bench_root/../shared/corpus/timelapse} ;;
*)
  echo "usage: bench/speed.sh lepton|refs [FOLDER]" >&2
  exit 2
  ;;
esac
[ -x "$IMGSTASH" ] || { echo "speed.sh: $IMGSTASH is missing; build it with 'make'" >&2; exit 1; }
[ -d "$src" ] || { echo "speed.sh: $src: no such folder" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "speed.sh: /usr/bin/time is missing; run 'make deps'" >&2; exit 1; }
LEPTON=$(find_peer lepton)
if [ "$mode" = lepton ] && [ -z "$LEPTON" ]; then
  echo "speed.sh: lepton not found in $PEERS_DIR/bin or on PATH (it is not a Debian package: build it under /tmp)" >&2
  exit 1
fi

src=$(cd "$src" && pwd)
orig=$(tree_bytes "$src")
work=$(mktemp -d "${TMPDIR:-/tmp}/ims-speed.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$src" && find . -type f -printf '%P\0' | sort -z) >"$work/files"
nfiles=$(tr -cd '\0' <"$work/files" | wc -c)

# run NAME CMD...: times CMD, appends "wall cpu" (cpu = user + sys) to $work/NAME.t.
run() {
  local name=$1
  shift
  /usr/bin/time -f '%e %U %S' -o "$work/t" "$@" >/dev/null 2>"$work/err" || {
    echo "speed.sh: $name failed:" >&2
    cat "$work/err" >&2
    exit 1
  }
  awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$work/t" >>"$work/$name.t"
}

ims_pack() { # ARCHIVE [OPTIONS...]
  local a=$1
  shift
  cd "$(dirname "$src")" && "$IMGSTASH" pack -q -j "$J" "$@" -o "$a" "$(basename "$src")"
}
ims_unpack() { rm -rf "$2" && "$IMGSTASH" unpack -q -j "$J" "$1" -C "$2"; }
# Lepton per file, as bench/peers.sh runs it; a file it refuses gets no .lep.
lep_enc() {
  local f
  rm -rf "$work/lep" && mkdir -p "$work/lep"
  while IFS= read -r -d '' f; do
    mkdir -p "$work/lep/$(dirname "$f")"
    "$LEPTON" "$src/$f" "$work/lep/$f.lep" >/dev/null 2>&1 || rm -f "$work/lep/$f.lep"
  done <"$work/files"
}
lep_dec() {
  local f
  rm -rf "$work/lepout" && mkdir -p "$work/lepout"
  while IFS= read -r -d '' f; do
    [ -s "$work/lep/$f.lep" ] || continue
    mkdir -p "$work/lepout/$(dirname "$f")"
    "$LEPTON" "$work/lep/$f.lep" "$work/lepout/$f" >/dev/null 2>&1
  done <"$work/files"
}
export -f ims_pack ims_unpack lep_enc lep_dec
export IMGSTASH LEPTON J src work

# Median of column COL of NAME.t.
med() { median $(awk -v c="$2" '{ print $c }' "$work/$1.t"); }
mbs() { awk -v b="$1" -v t="$2" 'BEGIN { printf "%.2f", b / 1e6 / t }'; }
row() { # LABEL NAME BYTES
  local w c
  w=$(med "$2" 1)
  c=$(med "$2" 2)
  printf '%-34s %8s s %8s s %9s MB/s\n' "$1" "$w" "$c" "$(mbs "$3" "$w")"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; } # time a vs time b: MB/s ratio a over b

bench_header "imgstash speed ratios (bench/speed.sh $mode)"
echo "# folder    $src: $nfiles files, $orig bytes"
echo "# rounds    $ROUNDS, interleaved, after one checked warm-up round; medians; imgstash -j$J"

if [ "$mode" = lepton ]; then
  echo "# lepton    $LEPTON (per file, its default threads)"
  # Warm-up and check.
  bash -c 'ims_pack "$work/a.ims"'
  bash -c 'ims_unpack "$work/a.ims" "$work/out"'
  diff -r "$src" "$work/out/$(basename "$src")" >/dev/null || { echo "speed.sh: imgstash round trip differs" >&2; exit 1; }
  bash -c lep_enc
  bash -c lep_dec
  lep_bytes=0 lep_n=0
  while IFS= read -r -d '' f; do
    if [ -s "$work/lep/$f.lep" ]; then
      cmp -s "$src/$f" "$work/lepout/$f" || { echo "speed.sh: lepton round trip of $f differs" >&2; exit 1; }
      lep_bytes=$((lep_bytes + $(stat -c %s "$src/$f")))
      lep_n=$((lep_n + 1))
    fi
  done <"$work/files"
  echo "# lepton coded $lep_n of $nfiles files ($lep_bytes of $orig bytes)"
  for r in $(seq "$ROUNDS"); do
    run ims_pack bash -c 'ims_pack "$work/a.ims"'
    run lep_enc bash -c lep_enc
    run ims_unpack bash -c 'ims_unpack "$work/a.ims" "$work/out"'
    run lep_dec bash -c lep_dec
  done
  echo
  printf '%-34s %10s %10s %14s\n' "" wall "cpu" "MB/s (wall)"
  row "imgstash pack -j$J" ims_pack "$orig"
  row "lepton encode" lep_enc "$lep_bytes"
  row "imgstash unpack -j$J" ims_unpack "$orig"
  row "lepton decode" lep_dec "$lep_bytes"
  echo
  pw=$(med ims_pack 1) lw=$(med lep_enc 1) uw=$(med ims_unpack 1) dw=$(med lep_dec 1)
  echo "pack:   imgstash/lepton MB/s = $(ratio "$pw" "$lw") (whole folder vs whole folder)," \
    "$(awk -v o="$orig" -v l="$lep_bytes" -v a="$pw" -v b="$lw" 'BEGIN { printf "%.2f", (o / a) / (l / b) }') (vs lepton's MB/s over the files it coded)"
  echo "unpack: imgstash/lepton MB/s = $(ratio "$uw" "$dw") (whole folder vs whole folder)," \
    "$(awk -v o="$orig" -v l="$lep_bytes" -v a="$uw" -v b="$dw" 'BEGIN { printf "%.2f", (o / a) / (l / b) }') (vs lepton's MB/s over the files it coded)"
else
  bash -c 'ims_pack "$work/r.ims"'
  bash -c 'ims_pack "$work/k1.ims" --key-interval 1'
  for a in r k1; do
    bash -c "ims_unpack \"\$work/$a.ims\" \"\$work/out\""
    diff -r "$src" "$work/out/$(basename "$src")" >/dev/null || { echo "speed.sh: imgstash round trip ($a) differs" >&2; exit 1; }
  done
  echo "# archives  with references $(stat -c %s "$work/r.ims") bytes, --key-interval 1 $(stat -c %s "$work/k1.ims") bytes"
  for r in $(seq "$ROUNDS"); do
    run pack_r bash -c 'ims_pack "$work/r.ims"'
    run pack_k1 bash -c 'ims_pack "$work/k1.ims" --key-interval 1'
    run unpack_r bash -c 'ims_unpack "$work/r.ims" "$work/out"'
    run unpack_k1 bash -c 'ims_unpack "$work/k1.ims" "$work/out"'
  done
  echo
  printf '%-34s %10s %10s %14s\n' "" wall "cpu" "MB/s (wall)"
  row "pack, references" pack_r "$orig"
  row "pack, --key-interval 1" pack_k1 "$orig"
  row "unpack, references" unpack_r "$orig"
  row "unpack, --key-interval 1" unpack_k1 "$orig"
  echo
  echo "pack:   references/per-image MB/s = $(ratio "$(med pack_r 1)" "$(med pack_k1 1)") (wall), $(ratio "$(med pack_r 2)" "$(med pack_k1 2)") (cpu)"
  echo "unpack: references/per-image MB/s = $(ratio "$(med unpack_r 1)" "$(med unpack_k1 1)") (wall), $(ratio "$(med unpack_r 2)" "$(med unpack_k1 2)") (cpu)"
fi
echo "# done $(date -u '+%Y-%m-%d %H:%M:%S UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
exit 0
}
