#!/usr/bin/env bash
# The timelapse corpus (373 frames, 32 byte-identical repeats): the copy export is at most the
# distinct JPEG bytes + 1%, folds the 32 repeats, lasts 373 frames, and gives the files back.
source "$(dirname "$0")/video_common.bash"
C="${IMS_CORPUS:-}/timelapse"
[ -d "$C" ] || { echo "SKIP: no corpus at $C"; exit 77; }

(cd "$C/.." && "$IMGSTASH" pack -q -o "$T/tl.ims" timelapse) || { echo "FAIL: pack"; exit 1; }
out="$T/tl.mkv"
start=$(date +%s.%N)
"$IMGSTASH" video "$T/tl.ims" -o "$out" >"$T/stdout" 2>"$T/stderr" || fail "video exited $?: $(cat "$T/stderr")"
end=$(date +%s.%N)
cat "$T/stdout"
grep -q "341 frames written (32 repeats folded)" "$T/stdout" || fail "summary: $(cat "$T/stdout")"

# the distinct files: each file that differs from the one before it (name order)
distinct=0; distinct_bytes=0; prev=""
mkdir -p "$T/distinct"
for f in $(ls "$C" | sort); do
  h=$(md5sum < "$C/$f" | cut -c1-32)
  if [ "$h" != "$prev" ]; then
    distinct=$((distinct + 1))
    distinct_bytes=$((distinct_bytes + $(stat -c %s "$C/$f")))
    ln -s "$C/$f" "$T/distinct/$(printf %05d $distinct).jpg"
  fi
  prev=$h
done
size=$(stat -c %s "$out")
limit=$((distinct_bytes + distinct_bytes / 100))
echo "video $size bytes, distinct JPEGs $distinct_bytes bytes ($distinct files), limit $limit, export $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.2f", b - a}') s"
[ "$size" -le "$limit" ] && ok "size $size <= $limit" || fail "size $size > distinct bytes + 1% ($limit)"
n=$(probe "$out" nb_read_packets)
[ "$n" = "$distinct" ] && [ "$n" = 341 ] && ok "341 packets: 32 repeats folded" || fail "$n packets, want 341 ($distinct distinct)"
d=$(probe_duration "$out")
near "$d" 14.92 0.04 && ok "duration $d = 373 / 25" || fail "duration $d, want 14.92"

mkdir -p "$T/x"
ffmpeg -v error -i "$out" -c copy -f image2 "$T/x/%05d.jpg" || fail "ffmpeg could not extract"
bad=0
for i in $(seq 1 "$distinct"); do
  p=$(printf %05d.jpg "$i")
  cmp -s "$T/distinct/$p" "$T/x/$p" || bad=$((bad + 1))
done
[ $bad -eq 0 ] && ok "every packet byte-identical to its distinct JPEG" || fail "$bad packets differ"
a=$(framemd5 -i "$out")
b=$(framemd5 -i "$T/distinct/%05d.jpg")
[ -n "$a" ] && [ "$a" = "$b" ] && ok "framemd5 = distinct JPEGs" || fail "framemd5 differs"
finish
