#!/usr/bin/env bash
# imgstash video --codec copy: the JPEG bytes as MJPEG packets, repeats folded into one
# packet's duration, natural name order; ffmpeg/ffprobe judge the result.
source "$(dirname "$0")/video_common.bash"

S="$T/src"; mkdir -p "$S/frames"
ffmpeg -v error -f lavfi -i testsrc=size=320x240:rate=10 -frames:v 20 -pix_fmt yuvj420p -q:v 3 \
  -start_number 1 "$S/frames/frame%d.jpg" || { echo "ffmpeg could not make frames"; exit 1; }
# frame5 is shown 3 times, frame12 twice (natural order: frame5.jpg, frame5_again*, frame6.jpg)
cp "$S/frames/frame5.jpg" "$S/frames/frame5_again1.jpg"
cp "$S/frames/frame5.jpg" "$S/frames/frame5_again2.jpg"
cp "$S/frames/frame12.jpg" "$S/frames/frame12_again.jpg"
echo "not an image" > "$S/frames/notes.txt"
(cd "$S" && "$IMGSTASH" pack -q -o "$T/set.ims" frames) || { echo "FAIL: pack"; exit 1; }

out="$T/out.mkv"
"$IMGSTASH" video "$T/set.ims" -o "$out" >"$T/stdout" 2>"$T/stderr"
rc=$?
[ $rc -eq 0 ] || fail "video exited $rc: $(cat "$T/stderr")"
grep -q "frames/notes.txt: not a JPEG or PNG image: skipped" "$T/stderr" || fail "no note for the text file: $(cat "$T/stderr")"
grep -q "20 frames written (3 repeats folded)" "$T/stdout" || fail "summary: $(cat "$T/stdout")"

[ "$(probe "$out" codec_name)" = mjpeg ] || fail "codec is $(probe "$out" codec_name), not mjpeg"
n=$(probe "$out" nb_read_packets)
[ "$n" = 20 ] && ok "20 packets for 23 frames" || fail "$n packets, want 20 (distinct frames)"
d=$(probe_duration "$out")
near "$d" "$(awk 'BEGIN{print 23/25}')" 0.04 && ok "duration $d = 23 frames at 25 fps" || fail "duration $d, want 0.92 (23 frames at 25 fps)"

# packets extracted by ffmpeg are the original files, in natural order
mkdir -p "$T/x"
ffmpeg -v error -i "$out" -c copy -f image2 "$T/x/%05d.jpg" || fail "ffmpeg could not extract packets"
i=1
for k in $(seq 1 20); do
  x=$(printf '%s/x/%05d.jpg' "$T" $i)
  cmp -s "$S/frames/frame$k.jpg" "$x" || fail "packet $i differs from frame$k.jpg"
  i=$((i + 1))
done
[ "$(ls "$T/x" | wc -l)" = 20 ] || fail "ffmpeg extracted $(ls "$T/x" | wc -l) packets, want 20"
ok "packets are byte-identical to the distinct JPEG files"

# the decoded video equals the decoded distinct images
a=$(framemd5 -i "$out")
b=$(framemd5 -i "$S/frames/frame%d.jpg")
[ -n "$a" ] && [ "$a" = "$b" ] && ok "framemd5 of the video = framemd5 of frame%d.jpg" || fail "framemd5 differs"

# play-out timing: frame5 lasts 3 frames (pts of the next packet), at 25 fps
pts=$(ffprobe -v error -show_entries packet=pts_time -of csv=p=0 "$out" | sed -n '5p;6p' | tr '\n' ' ')
[ "$pts" = "0.160000 0.280000 " ] || fail "packets 5 and 6 at '$pts', want 0.16 and 0.28"

# --keep-repeats: every frame; --fps
"$IMGSTASH" video -q "$T/set.ims" -o "$T/all.mkv" --keep-repeats --fps 10 || fail "--keep-repeats exited $?"
n=$(probe "$T/all.mkv" nb_read_packets)
[ "$n" = 23 ] && ok "--keep-repeats: 23 packets" || fail "--keep-repeats: $n packets, want 23"
near "$(probe_duration "$T/all.mkv")" 2.3 0.1 || fail "--fps 10: duration $(probe_duration "$T/all.mkv"), want 2.3"

# --select: a glob on the file name
"$IMGSTASH" video -q "$T/set.ims" -o "$T/sel.mkv" --select 'frame1?.jpg' || fail "--select exited $?"
n=$(probe "$T/sel.mkv" nb_read_packets)
[ "$n" = 10 ] && ok "--select 'frame1?.jpg': 10 packets" || fail "--select: $n packets, want 10 (frame10..frame19)"

# same archive, same options: the same bytes
"$IMGSTASH" video -q "$T/set.ims" -o "$T/again.mkv" || fail "second export"
cmp -s "$out" "$T/again.mkv" && ok "deterministic output" || fail "two exports differ"
finish
