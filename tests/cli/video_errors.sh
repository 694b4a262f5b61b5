#!/usr/bin/env bash
# imgstash video on bad input: a clear message, exit 1 (2 for usage), and never a file,
# whole or half, at the output path.
source "$(dirname "$0")/video_common.bash"

S="$T/src"; mkdir -p "$S/text" "$S/mixed"
echo one > "$S/text/a.txt"; echo two > "$S/text/b.txt"
ffmpeg -v error -f lavfi -i testsrc=size=320x240:rate=10 -frames:v 4 -q:v 3 "$S/mixed/a%02d.jpg" || exit 1
ffmpeg -v error -f lavfi -i testsrc=size=160x90:rate=10 -frames:v 2 -q:v 3 "$S/mixed/b%02d.jpg" || exit 1
(cd "$S" && "$IMGSTASH" pack -q -o "$T/text.ims" text && "$IMGSTASH" pack -q -o "$T/mixed.ims" mixed) || { echo "FAIL: pack"; exit 1; }

# expect RC MESSAGE-SUBSTRING OUTPUT ARGS...: exit code, message, nothing left at OUTPUT
expect() {
  local want_rc=$1 want_msg=$2 out=$3; shift 3
  "$IMGSTASH" video "$@" >"$T/stdout" 2>"$T/stderr"
  local rc=$?
  if [ $rc -ne "$want_rc" ]; then fail "video $*: exit $rc, want $want_rc: $(cat "$T/stderr")"; return; fi
  grep -qF -- "$want_msg" "$T/stderr" || { fail "video $*: message '$(cat "$T/stderr")' lacks '$want_msg'"; return; }
  [ -z "$out" ] || [ ! -e "$out" ] || fail "video $*: left $out"
  [ -z "$out" ] || no_leftovers "$(dirname "$out")" "$(basename "$out").tmp"
  ok "exit $rc: $(head -1 "$T/stderr")"
}

expect 1 "no images in $T/text.ims" "$T/o1.mkv" "$T/text.ims" -o "$T/o1.mkv"
expect 1 "no images in $T/mixed.ims match --select 'c*'" "$T/o2.mkv" "$T/mixed.ims" -o "$T/o2.mkv" --select 'c*'
expect 1 "frames differ in size" "$T/o3.mkv" "$T/mixed.ims" -o "$T/o3.mkv"
grep -q "^hint: --scale WxH" "$T/stderr" || fail "no --scale hint: $(cat "$T/stderr")"
expect 1 "copy needs one size" "$T/o4.mkv" "$T/mixed.ims" -o "$T/o4.mkv" --codec copy
touch "$T/afile"
expect 1 "afile/o5.mkv: cannot create the output: Not a directory" "" "$T/mixed.ims" -o "$T/afile/o5.mkv" --select 'a*'
expect 1 "no-such.ims" "$T/o6.mkv" "$T/no-such.ims" -o "$T/o6.mkv"

# a write that fails half-way (file size limit): the partial file is removed
(trap '' XFSZ; ulimit -f 40; "$IMGSTASH" video "$T/mixed.ims" -o "$T/o7.mkv" --select 'a*' --codec ffv1 >"$T/stdout" 2>"$T/stderr")
rc=$?
[ $rc -eq 1 ] || fail "write failure: exit $rc, want 1: $(cat "$T/stderr")"
grep -q "o7.mkv: .*File too large" "$T/stderr" && ok "write failure: $(cat "$T/stderr")" || fail "write failure message: $(cat "$T/stderr")"
no_leftovers "$T" o7.mkv

# --scale makes mixed sizes one video
"$IMGSTASH" video -q "$T/mixed.ims" -o "$T/scaled.mkv" --scale 320x240 || fail "--scale exited $?"
[ "$(probe "$T/scaled.mkv" width)x$(probe "$T/scaled.mkv" height)" = 320x240 ] && ok "--scale 320x240" \
  || fail "--scale: $(probe "$T/scaled.mkv" width)x$(probe "$T/scaled.mkv" height)"
[ "$(probe "$T/scaled.mkv" nb_read_packets)" = 6 ] || fail "--scale: $(probe "$T/scaled.mkv" nb_read_packets) frames, want 6"

# usage errors: exit 2, a hint, nothing written
expect 2 "no output file" "" "$T/mixed.ims"
expect 2 "--codec: 'vp9' is not copy, ffv1, x264 or x265" "$T/o8.mkv" "$T/mixed.ims" -o "$T/o8.mkv" --codec vp9
expect 2 "--crf needs --codec x264 or x265" "$T/o9.mkv" "$T/mixed.ims" -o "$T/o9.mkv" --crf 20
expect 2 "--crf: '99' is out of range" "$T/o9.mkv" "$T/mixed.ims" -o "$T/o9.mkv" --codec x264 --crf 99
expect 2 "--fps: 'fast' is not a frame rate" "$T/o9.mkv" "$T/mixed.ims" -o "$T/o9.mkv" --fps fast
expect 2 "--scale needs decoding" "$T/o9.mkv" "$T/mixed.ims" -o "$T/o9.mkv" --codec copy --scale 64x64
expect 2 "--order: 'size' is not name, mtime or exif" "$T/o9.mkv" "$T/mixed.ims" -o "$T/o9.mkv" --order size
grep -q "^hint: 'imgstash video --help'" "$T/stderr" || fail "usage error without a hint"
"$IMGSTASH" video --help >"$T/stdout" 2>"$T/stderr" && grep -q "^Usage: imgstash video" "$T/stdout" && [ ! -s "$T/stderr" ] \
  && ok "--help on stdout" || fail "--help"
finish
