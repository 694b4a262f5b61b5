#!/usr/bin/env bash
# Per-image JPEG sizes: imgstash against Lepton, file by file (issue 3).
#
#   bench/jpeg_per_image.sh [FOLDER]     (default ../shared/corpus/photos)
#
# Packs FOLDER with imgstash (-j 1) and reads each entry's stored bytes from
# `imgstash list --json` (the "stored" field: archive bytes of its content), compresses
# each JPEG alone with Lepton, and prints per file: original bytes, imgstash stored bytes
# and codec, Lepton bytes, and the saving of each (1 - bytes / original), then the
# min / median / max of the savings. Every Lepton file is decoded back and compared; an
# imgstash archive is checked with `imgstash verify ARCHIVE FOLDER`.
# A file stored as a duplicate of an earlier one (stored 0) is listed but left out of
# the statistics; so is a file Lepton refuses (named as such).
#
# Lepton is optional (see bench/common.sh: $PEERS_DIR/bin/lepton, default /tmp/peers, or
# PATH); without it only the imgstash columns are filled.
# The output is also written to bench/results/<date>-<commit>-jpeg-per-image-<folder>.txt
# (BENCH_SAVE=0: not).
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

src=${1:-$bench_root/../shared/corpus/photos}
src=$(cd "$src" && pwd)
LEPTON=$(find_peer lepton)
[ -x "$IMGSTASH" ] || { echo "jpeg_per_image.sh: $IMGSTASH is missing; build it with 'make'" >&2; exit 1; }

if [ "${BENCH_SAVE:-1}" = 1 ]; then
  mkdir -p "$bench_root/bench/results"
  exec > >(tee "$bench_root/bench/results/$(date -u +%Y-%m-%d)-$(bench_commit)-jpeg-per-image-$(basename "$src").txt")
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ims-perimg.XXXXXX")
trap 'rm -rf "$work"' EXIT

bench_header "imgstash per-image JPEG sizes (bench/jpeg_per_image.sh)"
echo "# lepton    ${LEPTON:-not found (set PEERS_DIR or put lepton on PATH)}"
echo "# folder    $src"
echo

(cd "$(dirname "$src")" && "$IMGSTASH" pack -q -j 1 -o "$work/a.ims" "$(basename "$src")")
"$IMGSTASH" verify -q "$work/a.ims" "$(dirname "$src")"
# One JSON object per line: pull out path, size, stored and codec of the files.
"$IMGSTASH" list --json "$work/a.ims" | grep '"type":"file"' |
  sed -E 's/.*"path":"(([^"\\]|\\.)*)".*"size":([0-9]+).*"stored":([0-9]+).*"codec":"([^"]*)".*/\1\t\3\t\4\t\5/' \
    >"$work/ims.tsv"

printf '%-48s %10s %10s %7s %-6s %10s %7s\n' file original imgstash saving codec lepton saving
while IFS=$'\t' read -r path size stored codec; do
  f=$(dirname "$src")/$path
  if [ "$(head -c 3 "$f" | od -An -tx1 | tr -d ' \n')" != ffd8ff ]; then continue; fi
  lep=-
  if [ -n "$LEPTON" ]; then
    rm -f "$work/x.lep" "$work/x.jpg"
    if "$LEPTON" "$f" "$work/x.lep" >/dev/null 2>&1 && [ -s "$work/x.lep" ] &&
      "$LEPTON" "$work/x.lep" "$work/x.jpg" >/dev/null 2>&1 && cmp -s "$f" "$work/x.jpg"; then
      lep=$(stat -c %s "$work/x.lep")
    else
      lep=refused
    fi
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$path" "$size" "$stored" "$codec" "$lep"
done <"$work/ims.tsv" | awk -F'\t' '
  function pct(a, b) { return 100 * (1 - a / b) }
  {
    name = $1; sub(/^[^\/]*\//, "", name)
    if (length(name) > 48) name = substr(name, 1, 45) "..."
    is = ($3 == 0 && $2 > 0) ? "dup" : sprintf("%6.1f%%", pct($3, $2))
    ls = ($5 ~ /^[0-9]+$/) ? sprintf("%6.1f%%", pct($5, $2)) : "-"
    printf "%-48s %10d %10d %7s %-6s %10s %7s\n", name, $2, $3, is, $4, $5, ls
    if ($3 > 0 || $2 == 0) { ni++; si[ni] = pct($3, $2); tio += $2; tis += $3 } else dups++
    if ($5 ~ /^[0-9]+$/) { nl++; sl[nl] = pct($5, $2); tlo += $2; tls += $5 } else if ($5 == "refused") refused++
    if ($5 ~ /^[0-9]+$/ && $3 > 0) { nb++; bo += $2; bi += $3; bl += $5; if ($3 < $5) wins++ }
  }
  function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t } }
  function med(a, n) { return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  END {
    print ""
    sort(si, ni); sort(sl, nl)
    if (ni) printf "imgstash  %3d files: saving min %6.1f%%  median %6.1f%%  max %6.1f%%  total %6.1f%% (%d -> %d bytes)%s\n",
      ni, si[1], med(si, ni), si[ni], pct(tis, tio), tio, tis, dups ? sprintf("; %d duplicates left out", dups) : ""
    if (nl) printf "lepton    %3d files: saving min %6.1f%%  median %6.1f%%  max %6.1f%%  total %6.1f%% (%d -> %d bytes)%s\n",
      nl, sl[1], med(sl, nl), sl[nl], pct(tls, tlo), tlo, tls, refused ? sprintf("; %d refused, left out", refused) : ""
    if (nb) printf "on the %d files both hold: imgstash %d bytes, lepton %d bytes (imgstash/lepton %.3f); imgstash smaller on %d\n",
      nb, bi, bl, bi / bl, wins
  }'
