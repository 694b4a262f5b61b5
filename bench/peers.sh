#!/usr/bin/env bash
# imgstash against its peers, on the same files in the same run (docs: STYLE.md 2.9).
#
#   bench/peers.sh [FOLDER...]     (default: every folder of ../shared/corpus; `make bench`)
#
# For each folder, each tool compresses the whole folder and restores it; every restored
# tree is compared byte for byte with the originals (diff -r), after every run, so a tool
# whose round trip fails shows as FAILED and never as fast. Tools:
#   imgstash pack / unpack, once per thread count in BENCH_JOBS (default "1 2")
#   tar | zstd -19 --long=27 -T1      tar | xz -9e -T1
#   cjxl --lossless_jpeg=1 / djxl     (libjxl-tools; per file; JPEG-only folders)
#   lepton                            (per file; JPEG-only folders; optional, see below)
#   packJPG                           (all files in one call; JPEG-only folders; optional)
# Lepton and packJPG are optional: they are not Debian packages and the project neither
# ships nor builds them. The script looks for $PEERS_DIR/bin/lepton and
# $PEERS_DIR/bin/packJPG (PEERS_DIR defaults to /tmp/peers), then for lepton / packJPG on
# PATH; a missing one is named and left out. A file a per-file peer refuses is kept as is
# (its original bytes count) and the row says how many.
#
# Each measurement is one warm-up run and BENCH_REPS timed runs (default: 5 for folders
# under 16 MB, 3 for larger ones); the median time is reported. xz -9e, cjxl, lepton and
# packJPG are slow (0.3 to 1 MB/s on a busy 2-core machine), so to keep the default run
# under about 30 minutes they get BENCH_SLOW_REPS timed runs (default 1) and no warm-up
# (the files are in the page cache by then); the row says so.
# Columns: bytes of the compressed output, ratio (bytes / original bytes, lower is better),
# vs imgstash (bytes / bytes of imgstash -j1), compress and decompress speed in MB/s of
# original bytes (1 MB = 10^6 bytes), peak RSS (max over runs, /usr/bin/time %M) of
# compression / decompression in MB. Times are wall clock (bash $EPOCHREALTIME).
#
# The output is also written to bench/results/<date>-<commit>.txt (BENCH_SAVE=0: not).
set -euo pipefail

{ # the whole script is one group, so bash parses it all before running (safe to edit meanwhile)

. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

BENCH_JOBS=${BENCH_JOBS:-"1 2"}
BENCH_SLOW_REPS=${BENCH_SLOW_REPS:-1}
BENCH_SAVE=${BENCH_SAVE:-1}
LEPTON=$(find_peer lepton)
PACKJPG=$(find_peer packJPG)

if [ ! -x "$IMGSTASH" ]; then
  echo "peers.sh: $IMGSTASH is missing; build it with 'make' (or set IMGSTASH)" >&2
  exit 1
fi
for t in tar zstd xz cjxl djxl /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "peers.sh: $t is missing; run 'make deps'" >&2; exit 1; }
done

folders=("$@")
if [ ${#folders[@]} -eq 0 ]; then
  corpus=$bench_root/../shared/corpus
  for d in "$corpus"/*/; do [ -d "$d" ] && folders+=("${d%/}"); done
  [ ${#folders[@]} -gt 0 ] || { echo "peers.sh: no folders in $corpus" >&2; exit 1; }
fi

if [ "$BENCH_SAVE" = 1 ]; then
  mkdir -p "$bench_root/bench/results"
  result_file=$bench_root/bench/results/$(date -u +%Y-%m-%d)-$(bench_commit).txt
  exec > >(tee "$result_file")
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ims-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# ------------------------------------------------------------------ the tools
# enc_X SRC OUT: compress the folder SRC into the empty folder OUT.
# dec_X OUT DST: restore it so that DST/$(basename SRC) is the folder again.
# prep_X / post_X (optional, untimed) run before / after each timed command.

enc_imgstash() { (cd "$(dirname "$1")" && "$IMGSTASH" pack -q -j "$IMS_J" -o "$2/a.ims" "$(basename "$1")"); }
dec_imgstash() { "$IMGSTASH" unpack -q -j "$IMS_J" "$1/a.ims" -C "$2"; }

enc_zstd() { tar -cf - -C "$(dirname "$1")" "$(basename "$1")" | zstd -q -19 --long=27 -T1 -o "$2/a.tar.zst"; }
dec_zstd() { zstd -q -d --long=27 -c "$1/a.tar.zst" | tar -xf - -C "$2"; }

enc_xz() { tar -cf - -C "$(dirname "$1")" "$(basename "$1")" | xz -9e -T1 -c >"$2/a.tar.xz"; }
dec_xz() { xz -d -c "$1/a.tar.xz" | tar -xf - -C "$2"; }

# Per-file peers: OUT/<name>.<ext> per input, or OUT/<name>.raw for a file the tool refused.
per_file_enc() { # SRC OUT EXT COMMAND...
  local src=$1 out=$2 ext=$3 f
  shift 3
  while IFS= read -r -d '' f; do
    mkdir -p "$out/$(dirname "$f")"
    if ! "$@" "$src/$f" "$out/$f.$ext" >/dev/null 2>&1 || [ ! -s "$out/$f.$ext" ]; then
      rm -f "$out/$f.$ext"
      cp "$src/$f" "$out/$f.raw"
    fi
  done < <(cd "$src" && find . -type f -printf '%P\0')
}
per_file_dec() { # OUT DST/NAME EXT COMMAND...
  local out=$1 dst=$2 ext=$3 f
  shift 3
  while IFS= read -r -d '' f; do
    mkdir -p "$dst/$(dirname "$f")"
    case $f in
    *."$ext") "$@" "$out/$f" "$dst/${f%."$ext"}" >/dev/null 2>&1 || true ;;
    *.raw) cp "$out/$f" "$dst/${f%.raw}" ;;
    esac
  done < <(cd "$out" && find . -type f -printf '%P\0')
}

enc_cjxl() { per_file_enc "$1" "$2" jxl cjxl_one; }
dec_cjxl() { per_file_dec "$1" "$2/$NAME" jxl djxl_one; }
cjxl_one() { cjxl "$1" "$2" --lossless_jpeg=1 --quiet; }
djxl_one() { djxl "$1" "$2" --quiet; }

enc_lepton() { per_file_enc "$1" "$2" lep "$LEPTON"; }
dec_lepton() { per_file_dec "$1" "$2/$NAME" lep "$LEPTON"; }

# packJPG writes NAME.pjg beside NAME.jpg and takes many files in one call, so the
# originals are copied into OUT first (untimed) and the call runs there.
prep_enc_packjpg() { cp -r "$1/." "$2/"; }
enc_packjpg() { (cd "$2" && find . -type f -print0 | xargs -0 "$PACKJPG" -np -o >/dev/null 2>&1) || true; }
post_enc_packjpg() { # keep FILE.pjg, or FILE.raw when packJPG refused FILE
  local f
  while IFS= read -r -d '' f; do
    if [ -s "${f%.*}.pjg" ]; then rm -f "$f"; else mv "$f" "$f.raw"; fi
  done < <(find "$2" -type f ! -name '*.pjg' ! -name '*.raw' -print0)
}
prep_dec_packjpg() { mkdir -p "$2/$NAME" && cp -r "$1/." "$2/$NAME/"; }
dec_packjpg() { (cd "$2/$NAME" && find . -type f -name '*.pjg' -print0 | xargs -0 -r "$PACKJPG" -np -o >/dev/null 2>&1) || true; }
post_dec_packjpg() {
  local f
  find "$2/$NAME" -type f -name '*.pjg' -delete
  while IFS= read -r -d '' f; do mv "$f" "${f%.raw}"; done < <(find "$2/$NAME" -type f -name '*.raw' -print0)
}
# packJPG names its output after the input with the extension replaced: only .jpg/.jpeg
# inputs map back to the same name, which holds for the JPEG-only folders it runs on.

export IMGSTASH LEPTON PACKJPG
export -f enc_imgstash dec_imgstash enc_zstd dec_zstd enc_xz dec_xz per_file_enc per_file_dec enc_cjxl dec_cjxl \
  cjxl_one djxl_one enc_lepton dec_lepton enc_packjpg dec_packjpg

# ------------------------------------------------------------------ measuring

# Runs "$@" timed (bash -c so that shell functions and pipelines count as one command);
# sets T (seconds) and RSS (peak kB of the largest process).
timed() {
  local t0 t1 rc=0
  t0=$(now)
  /usr/bin/time -f %M -o "$work/rss" bash -c "$*" >/dev/null 2>"$work/err" || rc=$?
  t1=$(now)
  T=$(secs "$t0" "$t1")
  RSS=$(tail -1 "$work/rss")
  [[ $RSS =~ ^[0-9]+$ ]] || RSS=0
  return $rc
}

# measure LABEL TOOL REPS WARMUP: fills a row of the table for one tool.
measure() {
  local label=$1 tool=$2 reps=$3 warm=$4
  local c="$work/c" d="$work/d" run ctimes=() dtimes=() crss=0 drss=0 bytes=0 status=ok note=""
  export NAME
  NAME=$(basename "$src")
  for ((run = 1 - warm; run <= reps; run++)); do
    rm -rf "$c" "$d"
    mkdir -p "$c" "$d"
    if declare -F "prep_enc_$tool" >/dev/null; then "prep_enc_$tool" "$src" "$c"; fi
    if ! timed "enc_$tool '$src' '$c'"; then status="FAILED (compress: $(head -c 120 "$work/err" | tr '\n' ' '))"; break; fi
    ctimes+=("$T")
    ((RSS > crss)) && crss=$RSS
    if declare -F "post_enc_$tool" >/dev/null; then "post_enc_$tool" "$src" "$c"; fi
    bytes=$(tree_bytes "$c")
    if declare -F "prep_dec_$tool" >/dev/null; then "prep_dec_$tool" "$c" "$d"; fi
    if ! timed "dec_$tool '$c' '$d'"; then status="FAILED (decompress: $(head -c 120 "$work/err" | tr '\n' ' '))"; break; fi
    dtimes+=("$T")
    ((RSS > drss)) && drss=$RSS
    if declare -F "post_dec_$tool" >/dev/null; then "post_dec_$tool" "$c" "$d"; fi
    if ! diff -r -q "$src" "$d/$NAME" >"$work/diff" 2>&1; then
      status="FAILED (round trip: $(wc -l <"$work/diff") differences, e.g. $(head -1 "$work/diff" | cut -c1-100))"
      break
    fi
    if [ "$tool" = imgstash ] && [ "$run" -eq 1 ]; then cp "$c/a.ims" "$work/ims-j$IMS_J.ims"; fi
  done
  local raw
  raw=$(find "$c" -type f -name '*.raw' | wc -l)
  [ "$raw" -gt 0 ] && note="$raw files refused, kept as is; "
  if [ "$warm" -eq 1 ]; then note+="1+$reps runs"; else note+="$reps run(s), no warm-up"; fi
  if [ "$status" != ok ]; then
    printf '%-22s %s\n' "$label" "$status"
    return
  fi
  # drop the warm-up
  [ "$warm" -eq 1 ] && ctimes=("${ctimes[@]:1}") && dtimes=("${dtimes[@]:1}")
  local ct dt
  ct=$(median "${ctimes[@]}")
  dt=$(median "${dtimes[@]}")
  [ "$tool" = imgstash ] && [ "$IMS_J" = "${BENCH_JOBS%% *}" ] && ims_bytes=$bytes
  awk -v l="$label" -v b="$bytes" -v o="$orig" -v ib="${ims_bytes:-0}" -v ct="$ct" -v dt="$dt" \
    -v cr="$crss" -v dr="$drss" -v n="$note" 'BEGIN {
      vs = ib > 0 ? sprintf("%.3f", b / ib) : "-"
      printf "%-22s %12d %7.4f %8s %9.2f %9.2f %6.0f/%-6.0f %s\n", l, b, b / o, vs, o / 1e6 / ct, o / 1e6 / dt, cr / 1024, dr / 1024, n
    }'
}

# ------------------------------------------------------------------ the run

bench_header "imgstash peer benchmark (bench/peers.sh)"
echo "# peers     $(zstd -V | sed 's/.*\(v[0-9.]*\).*/zstd \1/'), $(xz -V | head -1), $(cjxl --version 2>&1 | head -1 | cut -d' ' -f1-2)," \
  "lepton: ${LEPTON:-not found}, packJPG: ${PACKJPG:-not found}"
echo "# threads   imgstash -j as in the row; zstd and xz -T1; cjxl, djxl and lepton use their default (all cores)"
echo "# runs      1 warm-up + ${BENCH_REPS:-5 (folders < 16 MB) or 3} timed runs, median; xz -9e, cjxl, lepton, packJPG: $BENCH_SLOW_REPS timed run(s), no warm-up (slow)"
echo "# columns   ratio = bytes / original bytes; vs imgstash = bytes / imgstash -j${BENCH_JOBS%% *} bytes; MB/s of original bytes; peak RSS MB compress/decompress"
if [ -z "$LEPTON" ]; then echo "# note      lepton not found in $PEERS_DIR/bin or PATH: left out"; fi
if [ -z "$PACKJPG" ]; then echo "# note      packJPG not found in $PEERS_DIR/bin or PATH: left out"; fi

for src in "${folders[@]}"; do
  src=$(cd "$src" && pwd)
  orig=$(tree_bytes "$src")
  nfiles=$(find "$src" -type f | wc -l)
  jpeg=$(all_jpeg "$src")
  reps=${BENCH_REPS:-$((orig < 16000000 ? 5 : 3))}
  ims_bytes=0
  echo
  echo "== $(basename "$src"): $nfiles files, $orig bytes$([ "$jpeg" = 1 ] && echo ", all JPEG") ($src)"
  printf '%-22s %12s %7s %8s %9s %9s %13s %s\n' tool bytes ratio "vs ims" "comp MB/s" "dec MB/s" "RSS MB c/d" runs
  for j in $BENCH_JOBS; do
    export IMS_J=$j
    measure "imgstash -j$j" imgstash "$reps" 1
  done
  first=${BENCH_JOBS%% *}
  for j in $BENCH_JOBS; do
    if [ -f "$work/ims-j$j.ims" ] && [ -f "$work/ims-j$first.ims" ] && ! cmp -s "$work/ims-j$j.ims" "$work/ims-j$first.ims"; then
      echo "imgstash: the -j$j archive differs from the -j$first one (output must not depend on the thread count)"
    fi
  done
  measure "tar+zstd -19 --long=27" zstd "$reps" 1
  measure "tar+xz -9e" xz "$BENCH_SLOW_REPS" 0
  if [ "$jpeg" = 1 ]; then
    measure "cjxl (lossless JPEG)" cjxl "$BENCH_SLOW_REPS" 0
    if [ -n "$LEPTON" ]; then measure "lepton" lepton "$BENCH_SLOW_REPS" 0; fi
    if [ -n "$PACKJPG" ]; then measure "packJPG" packjpg "$BENCH_SLOW_REPS" 0; fi
  fi
  if [ -f "$work/ims-j$first.ims" ]; then
    echo "imgstash stats of the -j$first archive:"
    "$IMGSTASH" stats "$work/ims-j$first.ims" | sed 's/^/    /'
  fi
  rm -f "$work"/ims-j*.ims
done
echo
echo "# done $(date -u '+%Y-%m-%d %H:%M:%S UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$BENCH_SAVE" = 1 ]; then echo "# saved to bench/results/$(basename "$result_file")"; fi
exit 0
}
