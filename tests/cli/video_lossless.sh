#!/usr/bin/env bash
# imgstash video --codec ffv1 / x264 (lossless) / x264 --crf / x265: the decoded video has the
# pixels of the source images (framemd5 in the same pixel format, by ffmpeg), and lossless is
# refused where the codec cannot hold the samples (16-bit gray with x264).
source "$(dirname "$0")/video_common.bash"

S="$T/src"; mkdir -p "$S/jpg" "$S/png16"
ffmpeg -v error -f lavfi -i testsrc=size=320x240:rate=10 -frames:v 12 -pix_fmt yuvj420p -q:v 3 "$S/jpg/f%05d.jpg" || exit 1
cp "$S/jpg/f00003.jpg" "$S/jpg/f00003r.jpg"
ffmpeg -v error -f lavfi -i "testsrc2=size=96x64:rate=10" -frames:v 6 -pix_fmt gray16be "$S/png16/g%03d.png" || exit 1
(cd "$S" && "$IMGSTASH" pack -q -o "$T/jpg.ims" jpg && "$IMGSTASH" pack -q -o "$T/png16.ims" png16) || { echo "FAIL: pack"; exit 1; }

src_md5=$(framemd5 -i "$S/jpg/f%05d.jpg")
for codec in ffv1 x264; do
  out="$T/$codec.mkv"
  "$IMGSTASH" video "$T/jpg.ims" -o "$out" --codec $codec >"$T/stdout" 2>"$T/stderr" || fail "$codec exited $?: $(cat "$T/stderr")"
  grep -q ", lossless" "$T/stdout" || fail "$codec: summary does not say lossless: $(cat "$T/stdout")"
  want=$([ $codec = x264 ] && echo h264 || echo ffv1)
  [ "$(probe "$out" codec_name)" = "$want" ] || fail "$codec: codec is $(probe "$out" codec_name)"
  n=$(probe "$out" nb_read_packets)
  [ "$n" = 12 ] || fail "$codec: $n frames, want 12 distinct"
  near "$(probe_duration "$out")" 0.52 0.04 || fail "$codec: duration $(probe_duration "$out"), want 0.52 (13 frames)"
  got=$(framemd5 -i "$out")
  [ -n "$got" ] && [ "$got" = "$src_md5" ] && ok "$codec lossless: framemd5 = source (yuv420p)" || fail "$codec: framemd5 differs from the JPEGs"
done

# 16-bit gray PNG: ffv1 keeps it (gray16le), x264 cannot and says so
"$IMGSTASH" video -q "$T/png16.ims" -o "$T/g16.mkv" || fail "png16 auto (ffv1) exited $?"
[ "$(probe "$T/g16.mkv" pix_fmt)" = gray16le ] || fail "png16: pix_fmt $(probe "$T/g16.mkv" pix_fmt), want gray16le"
got=$(framemd5 -i "$T/g16.mkv")
want=$(framemd5 -i "$S/png16/g%03d.png" -pix_fmt gray16le)
[ -n "$got" ] && [ "$got" = "$want" ] && ok "ffv1 gray16: framemd5 = source" || fail "ffv1 gray16: framemd5 differs"
"$IMGSTASH" video "$T/png16.ims" -o "$T/g16x.mkv" --codec x264 2>"$T/stderr"
rc=$?
[ $rc -eq 1 ] || fail "x264 on 16-bit gray exited $rc, want 1"
grep -q "x264 cannot hold them losslessly" "$T/stderr" && ok "x264 refuses 16-bit lossless: $(head -1 "$T/stderr")" \
  || fail "x264 16-bit message: $(cat "$T/stderr")"
[ ! -e "$T/g16x.mkv" ] || fail "x264 16-bit left a file"
no_leftovers "$T" g16x.mkv

# lossy viewing copies: smaller, not called lossless
"$IMGSTASH" video "$T/jpg.ims" -o "$T/crf.mkv" --codec x264 --crf 30 >"$T/stdout" || fail "x264 --crf exited $?"
grep -q ", lossless" "$T/stdout" && fail "x264 --crf claims lossless: $(cat "$T/stdout")"
[ "$(stat -c %s "$T/crf.mkv")" -lt "$(stat -c %s "$T/x264.mkv")" ] && ok "x264 --crf 30 is smaller than lossless" || fail "crf copy not smaller"
# libx265 keeps a few bytes to process exit: not our leak
ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" "$IMGSTASH" video -q "$T/jpg.ims" -o "$T/x265.mkv" --codec x265 --crf 28 || fail "x265 exited $?"
[ "$(probe "$T/x265.mkv" codec_name)" = hevc ] && ok "x265 --crf: hevc" || fail "x265: codec $(probe "$T/x265.mkv" codec_name)"
finish
