# Shared by the bench/*.sh scripts (sourced, not run): where things are, the run header,
# timing and small number helpers.
#
# Environment:
#   IMGSTASH   the binary to measure (default: build/imgstash, the release build of `make`)
#   PEERS_DIR  where the optional peers Lepton and packJPG live (default /tmp/peers; the
#              scripts look for $PEERS_DIR/bin/lepton and $PEERS_DIR/bin/packJPG, or for
#              lepton / packJPG on PATH). They are not Debian packages and the project does
#              not build them; without them their rows are left out.

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMGSTASH=${IMGSTASH:-$bench_root/build/imgstash}
PEERS_DIR=${PEERS_DIR:-/tmp/peers}

# Path of an optional peer binary, or empty.
find_peer() {
  local name=$1
  if [ -x "$PEERS_DIR/bin/$name" ]; then
    echo "$PEERS_DIR/bin/$name"
  else
    command -v "$name" || true
  fi
}

# Wall-clock stamps (microseconds) and differences in seconds.
now() { echo "$EPOCHREALTIME"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# Median of the numbers given as arguments.
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Total bytes of the regular files under a folder.
tree_bytes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d\n", s }'; }

# 1 when every regular file under the folder is a JPEG (by its first three bytes).
all_jpeg() {
  local f
  while IFS= read -r -d '' f; do
    [ "$(head -c 3 "$f" | od -An -tx1 | tr -d ' \n')" = ffd8ff ] || { echo 0; return; }
  done < <(find "$1" -type f -print0)
  echo 1
}

# The source tree the measured binary was built from (CMake's source folder, found through
# the CMakeCache.txt beside the binary), else this repository; and its short commit.
bench_src_tree() {
  local cache home=""
  cache=$(dirname "$IMGSTASH")/CMakeCache.txt
  if [ -f "$cache" ]; then home=$(sed -n 's/^CMAKE_HOME_DIRECTORY:[A-Z]*=//p' "$cache"); fi
  if [ -n "$home" ] && [ -d "$home" ]; then echo "$home"; else echo "$bench_root"; fi
}
bench_commit() { git -C "$(bench_src_tree)" rev-parse --short HEAD 2>/dev/null || echo unknown; }

# The header every result file starts with: machine, commit, compiler, tools.
bench_header() {
  local title=$1 cache=$bench_root/build/CMakeCache.txt cc=unknown flags=unknown commit dirty=""
  local bin_dir
  bin_dir=$(dirname "$IMGSTASH")
  [ -f "$bin_dir/CMakeCache.txt" ] && cache=$bin_dir/CMakeCache.txt
  if [ -f "$cache" ]; then
    cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$cache")
    local bt
    bt=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache")
    flags="$bt: $(sed -n 's/^CMAKE_C_FLAGS:[A-Z]*=//p' "$cache") $(sed -n "s/^CMAKE_C_FLAGS_${bt^^}:[A-Z]*=//p" "$cache")"
    cc="$cc ($("$cc" --version 2>/dev/null | head -1))"
  fi
  local srcdir
  srcdir=$(bench_src_tree)
  commit=$(bench_commit)
  if [ -n "$(git -C "$srcdir" status --porcelain --untracked-files=no -- lib include cli 2>/dev/null)" ]; then
    dirty=" (+ uncommitted changes in lib/, include/ or cli/)"
  fi
  echo "# $title"
  echo "# date      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "# commit    $commit$dirty  $(git -C "$srcdir" log -1 --format=%s 2>/dev/null | cut -c1-70)"
  echo "# imgstash  $IMGSTASH ($("$IMGSTASH" --version 2>/dev/null || echo '?'))"
  echo "# compiler  $cc"
  echo "# flags     $flags"
  echo "# machine   $(uname -srm), $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores," \
    "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
  echo "# load      $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start; the machine is shared, so times are noisy"
}
