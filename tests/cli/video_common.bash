# Shared by tests/cli/video_*.sh (sourced; not a test itself: ctest runs *.sh only).
# The judges are the real ffmpeg and ffprobe binaries, never our own code.
set -u
: "${IMGSTASH:?IMGSTASH must point at the imgstash binary}"
for tool in ffmpeg ffprobe cmp md5sum; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (scripts/install-deps.sh)"; exit 77; }
done
T="${IMS_TMP:-/tmp}/$(basename "$0" .sh).$$"
rm -rf "$T" && mkdir -p "$T" || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
finish() { if [ "$fails" -ne 0 ]; then echo "$fails check(s) failed" >&2; exit 1; fi; echo "all checks passed"; exit 0; }

# ffprobe fields of the first video stream / the container
probe() { ffprobe -v error -select_streams v:0 -count_packets -show_entries "stream=$2" -of default=nw=1:nk=1 "$1"; }
probe_duration() { ffprobe -v error -show_entries format=duration -of default=nw=1:nk=1 "$1"; }
# the md5 column of a framemd5 listing (time stamps differ by design: repeats are folded)
framemd5() { ffmpeg -v error "$@" -f framemd5 - | grep -v '^#' | awk -F', *' '{print $6}'; }
# |a - b| <= tol, as decimals
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }
# no file named like the output or its temporary siblings is left
no_leftovers() { # dir name
  local left
  left=$(ls -A "$1" | grep -F "$2" || true)
  [ -z "$left" ] || fail "files left behind in $1: $left"
}
