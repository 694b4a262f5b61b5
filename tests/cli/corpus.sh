# The corpus round trip: every folder of $IMS_CORPUS (photos, timelapse, stack16, stack8)
# packed into one archive (-j 2), listed, unpacked, compared with diff -r plus modes and
# mtimes, verified alone and against the corpus itself; timelapse's repeated frames must be
# stored once. Skipped (exit 77) when the corpus is absent.
. "$(dirname "$0")/lib.sh"

C="${IMS_CORPUS:-}"
folders=(photos timelapse stack16 stack8)
for f in "${folders[@]}"; do
  if [ -z "$C" ] || [ ! -d "$C/$f" ]; then
    echo "SKIP: the test corpus is absent (no folder '$f' in IMS_CORPUS='$C'); see ../shared/corpus/README.txt"
    exit 77
  fi
done

n_files=$(cd "$C" && find "${folders[@]}" -type f | wc -l)
bytes=$(cd "$C" && find "${folders[@]}" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
echo "corpus: $n_files files, $bytes bytes"

start=$(date +%s)
(cd "$C" && "$IMGSTASH" pack -q -j 2 -o "$W/corpus.ims" "${folders[@]}") >"$OUT" 2>"$ERR"
RC=$?
expect_rc 0 "pack of the corpus"
expect_no_err
echo "pack: $(($(date +%s) - start)) s, archive $(stat -c %s "$W/corpus.ims") bytes"

ims list "$W/corpus.ims"
expect_rc 0 list
check "list: one line per file and folder" [ "$(wc -l <"$OUT")" -eq "$(cd "$C" && find "${folders[@]}" | wc -l)" ]

ims stats --json "$W/corpus.ims"
expect_rc 0 stats
check "stats: every file" grep -qF "\"files\":$n_files," "$OUT"
check "stats: every byte" grep -qF "\"input_bytes\":$bytes," "$OUT"
# timelapse: 373 frames, 341 distinct (README.txt): 32 repeats stored once
distinct=$(cd "$C" && find "${folders[@]}" -type f -exec sha256sum {} + | awk '{ print $1 }' | sort -u | wc -l)
check "stats: identical files stored once ($distinct distinct of $n_files)" grep -qF "\"contents\":$distinct," "$OUT"
check "the archive is smaller than the corpus" [ "$(stat -c %s "$W/corpus.ims")" -lt "$bytes" ]

start=$(date +%s)
ims unpack -q "$W/corpus.ims" -C "$W/out"
expect_rc 0 unpack
expect_no_err
echo "unpack: $(($(date +%s) - start)) s"
for f in "${folders[@]}"; do same_tree "$C/$f" "$W/out/$f"; done

start=$(date +%s)
ims verify -q "$W/corpus.ims" "$C"
expect_rc 0 "verify against the corpus"
expect_no_err
echo "verify DIR: $(($(date +%s) - start)) s"

# one frame through cat, to be sure single-file access reads the right bytes
ims cat "$W/corpus.ims" timelapse/00200.jpg
expect_rc 0 "cat of one frame"
check "cat of one frame" cmp -s "$OUT" "$C/timelapse/00200.jpg"

finish
