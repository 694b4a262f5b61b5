#!/usr/bin/env bash
# imgstash video --order mtime | exif: the packets come out in that order (checked on the
# bytes ffmpeg extracts). EXIF DateTimeOriginal is spliced into ffmpeg's JPEGs by hand.
source "$(dirname "$0")/video_common.bash"

S="$T/src"; mkdir -p "$S/raw" "$S/set"
ffmpeg -v error -f lavfi -i testsrc=size=160x120:rate=5 -frames:v 4 -q:v 3 -start_number 1 "$S/raw/a%d.jpg" || exit 1
# with_exif IN OUT DATE: IN with an APP1 Exif segment (TIFF LE: IFD0 -> Exif IFD -> 0x9003)
with_exif() {
  { head -c 2 "$1"
    printf '\xff\xe1\x00\x54Exif\x00\x00'
    printf 'II\x2a\x00\x08\x00\x00\x00\x02\x00\x0f\x01\x02\x00\x04\x00\x00\x00Cam\x00'
    printf '\x69\x87\x04\x00\x01\x00\x00\x00\x26\x00\x00\x00\x00\x00\x00\x00'
    printf '\x01\x00\x03\x90\x02\x00\x14\x00\x00\x00\x38\x00\x00\x00\x00\x00\x00\x00'
    printf '%s\x00' "$3"
    tail -c +3 "$1"; } > "$2"
}
with_exif "$S/raw/a1.jpg" "$S/set/a1.jpg" "2021:05:06 10:00:00"
with_exif "$S/raw/a2.jpg" "$S/set/a2.jpg" "2021:05:06 09:00:00"
cp "$S/raw/a3.jpg" "$S/set/a3.jpg"                        # no EXIF: last
with_exif "$S/raw/a4.jpg" "$S/set/a4.jpg" "2020:01:01 00:00:00"
touch -d '2024-01-04 00:00' "$S/set/a1.jpg"; touch -d '2024-01-03 00:00' "$S/set/a2.jpg"
touch -d '2024-01-02 00:00' "$S/set/a3.jpg"; touch -d '2024-01-01 00:00' "$S/set/a4.jpg"
(cd "$S" && "$IMGSTASH" pack -q -o "$T/set.ims" set) || { echo "FAIL: pack"; exit 1; }

# check_order ORDER NAMES...: the packets of --order ORDER are these files, in this order
check_order() {
  local order=$1; shift
  local out="$T/$order.mkv" i=1
  "$IMGSTASH" video "$T/set.ims" -o "$out" --order "$order" >"$T/stdout" 2>"$T/stderr" || { fail "--order $order exited $?: $(cat "$T/stderr")"; return; }
  rm -rf "$T/x" && mkdir "$T/x"
  ffmpeg -v error -i "$out" -c copy -f image2 "$T/x/%02d.jpg" || { fail "--order $order: ffmpeg could not extract"; return; }
  for name in "$@"; do
    cmp -s "$S/set/$name" "$T/x/$(printf %02d $i).jpg" || { fail "--order $order: packet $i is not $name"; return; }
    i=$((i + 1))
  done
  ok "--order $order: $*"
}
check_order name a1.jpg a2.jpg a3.jpg a4.jpg
check_order mtime a4.jpg a3.jpg a2.jpg a1.jpg
check_order exif a4.jpg a2.jpg a1.jpg a3.jpg
grep -q "1 of 4 frames have no EXIF DateTimeOriginal" "$T/stderr" && ok "note about the frame without a date" \
  || fail "no note about the frame without EXIF: $(cat "$T/stderr")"
finish
