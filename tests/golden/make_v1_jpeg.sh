#!/usr/bin/env bash
# How tests/golden/v1_jpeg.* were made (run once, by hand; the files are committed and must
# never be remade: a build that cannot read them has broken the format). Needs a release
# build (`make`: build/imgstash, build/mkdemo) and jpegtran/djpeg/cjpeg (libjpeg-turbo-progs).
#   bash tests/golden/make_v1_jpeg.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=$root/build
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
"$B/mkdemo" -n 12 -W 160 -H 128 "$w/demo" >/dev/null
s=$w/set
mkdir -p "$s/jpeg"
cp "$w"/demo/timelapse/frame_000*.jpg "$s/jpeg/"        # a chain: inter-coded frames
jpegtran -progressive -copy all "$w/demo/timelapse/frame_00000.jpg" >"$s/jpeg/progressive.jpg"
djpeg "$w/demo/timelapse/frame_00005.jpg" | cjpeg -grayscale -quality 75 -restart 2 >"$s/jpeg/gray_restart.jpg"
{ cat "$w/demo/timelapse/frame_00007.jpg"; printf 'data after EOI\n'; } >"$s/jpeg/trailing.jpg"
head -c 3000 "$w/demo/timelapse/frame_00009.jpg" >"$s/jpeg/truncated.jpg" # fallback codec
chmod 644 "$s"/jpeg/*
find "$s" -exec touch -h -d '2026-11-21 06:00:00.5 UTC' {} +
(cd "$w" && "$B/imgstash" pack -q -j2 -o "$root/tests/golden/v1_jpeg.ims" set)
"$B/imgstash" list --json "$root/tests/golden/v1_jpeg.ims" >"$root/tests/golden/v1_jpeg.list.json"
(cd "$w" && find set -type f | sort | xargs sha256sum) >"$root/tests/golden/v1_jpeg.sha256"
"$B/imgstash" list -l "$root/tests/golden/v1_jpeg.ims"
