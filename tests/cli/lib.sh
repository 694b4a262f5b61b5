# Helpers for the CLI tests, sourced by each tests/cli/*.sh. Each test gets a fresh work
# folder $W below $IMS_TMP. Run on its own (ctest does, as cli.lib), it tests its own checks:
# each must pass on equal data and fail on a difference.
#
#   ims ARGS...              runs $IMGSTASH; stdout in $OUT, stderr in $ERR, exit code in $RC
#   run CMD...               the same for any command
#   expect_rc N WHAT         the last exit code was N
#   expect_err_line LINE     some line of stderr is exactly LINE
#   expect_err_exact L...    stderr is exactly these lines
#   expect_no_err            stderr is empty
#   expect_err_grep RE WHAT  some line of stderr matches the extended regex RE
#   expect_not_err_grep RE   no line of stderr matches RE
#   same_tree A B            diff -r, then type, mode, mtime (ns) and link target of every path
#   finish                   summary; exit 1 if any check failed (the work folder is kept then)
set -u

if [ -z "${IMGSTASH:-}" ] || [ -z "${IMS_TMP:-}" ]; then
  echo "IMGSTASH and IMS_TMP must be set (ctest sets them)" >&2
  exit 2
fi

T_NAME=$(basename "$0" .sh)
W="$IMS_TMP/cli.$T_NAME"
rm -rf "$W"
mkdir -p "$W" || exit 2
OUT="$W/.stdout"
ERR="$W/.stderr"
RC=0
T_FAILS=0
T_CHECKS=0
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

fail() {
  T_FAILS=$((T_FAILS + 1))
  echo "FAIL [${BASH_LINENO[1]:-?}]: $*" >&2
}
ok() { T_CHECKS=$((T_CHECKS + 1)); }
check() { # check WHAT CMD...: the command succeeds
  local what=$1
  shift
  if "$@"; then ok; else fail "$what"; fi
}

run() {
  "$@" >"$OUT" 2>"$ERR"
  RC=$?
  # A sanitizer report is always a failure, whatever the exit code says.
  if grep -qE '^(==[0-9]+==ERROR|.*runtime error:)' "$ERR"; then
    fail "sanitizer report from: $*"
    sed 's/^/    /' "$ERR" | head -40 >&2
  fi
  return 0
}
ims() { run "$IMGSTASH" "$@"; }

show_err() { sed 's/^/    stderr: /' "$ERR" | head -20 >&2; }

expect_rc() {
  local want=$1 what=${2:-command}
  if [ "$RC" = "$want" ]; then
    ok
  else
    fail "$what: exit code $RC, expected $want"
    show_err
  fi
}

expect_err_line() {
  if grep -qxF -- "$1" "$ERR"; then
    ok
  else
    fail "stderr has no line '$1'"
    show_err
  fi
}

expect_err_exact() {
  local want
  want=$(printf '%s\n' "$@")
  if [ "$want" = "$(cat "$ERR")" ]; then
    ok
  else
    fail "stderr differs from the expected lines"
    printf '%s\n' "$@" | sed 's/^/    want:   /' >&2
    show_err
  fi
}

expect_no_err() {
  if [ ! -s "$ERR" ]; then
    ok
  else
    fail "stderr is not empty"
    show_err
  fi
}

expect_err_grep() {
  if grep -qE -- "$1" "$ERR"; then
    ok
  else
    fail "${2:-stderr}: no line matches /$1/"
    show_err
  fi
}

expect_not_err_grep() {
  if ! grep -qE -- "$1" "$ERR"; then
    ok
  else
    fail "${2:-stderr}: a line matches /$1/"
    show_err
  fi
}

# The number of lines of stderr that match RE.
err_count() { grep -cE -- "$1" "$ERR"; }

same_tree() {
  local a=$1 b=$2 p sa sb la lb n=0
  if diff -r --no-dereference -- "$a" "$b" >"$W/.diff" 2>&1; then
    ok
  else
    fail "diff -r $a $b"
    head -10 "$W/.diff" | sed 's/^/    /' >&2
  fi
  (cd "$a" && find . -print0 | LC_ALL=C sort -z) >"$W/.paths_a"
  (cd "$b" && find . -print0 | LC_ALL=C sort -z) >"$W/.paths_b"
  if cmp -s "$W/.paths_a" "$W/.paths_b"; then ok; else fail "$a and $b do not hold the same paths"; fi
  while IFS= read -r -d '' p; do
    n=$((n + 1))
    sa=$(stat -c '%F %a %.9Y' -- "$a/$p" 2>&1)
    sb=$(stat -c '%F %a %.9Y' -- "$b/$p" 2>&1)
    if [ "$sa" != "$sb" ]; then
      fail "$p: '$sa' in $a, '$sb' in $b"
      continue
    fi
    if [ -L "$a/$p" ]; then
      la=$(readlink -- "$a/$p"; echo x)
      lb=$(readlink -- "$b/$p"; echo x)
      if [ "$la" != "$lb" ]; then fail "$p: link target differs"; fi
    fi
  done <"$W/.paths_a"
  if [ "$n" -gt 0 ]; then ok; else fail "same_tree: no path compared in $a"; fi
}

# flip_byte FILE OFFSET: xor one byte with 0xff, in place.
flip_byte() {
  local f=$1 off=$2 b
  b=$(od -An -tu1 -j "$off" -N1 -- "$f" | tr -d ' ')
  printf "$(printf '\\%03o' $((b ^ 255)))" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}

# Offset of the first occurrence of the ASCII string S in FILE (-1 if absent).
offset_of() {
  local o
  o=$(grep -obaF -- "$2" "$1" | head -1 | cut -d: -f1)
  echo "${o:--1}"
}

finish() {
  echo "$T_NAME: $T_CHECKS checks, $T_FAILS failed"
  if [ "$T_CHECKS" -eq 0 ]; then
    echo "$T_NAME: no check ran" >&2
    exit 1
  fi
  if [ "$T_FAILS" -ne 0 ]; then
    echo "$T_NAME: work folder kept: $W" >&2
    exit 1
  fi
  chmod -R u+rwx "$W" 2>/dev/null
  rm -rf "$W"
  exit 0
}

# ---------------------------------------------------------------- self-test (run directly)
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  # Every check must count a failure on wrong data: run each on a wrong case, check that
  # T_FAILS went up, then restore the count (and the same check must pass on good data).
  must_fail() {
    local before=$T_FAILS
    "$@" 2>/dev/null
    if [ "$T_FAILS" -gt "$before" ]; then T_FAILS=$before; ok; else fail "check did not fail: $*"; fi
  }
  must_pass() {
    local before=$T_FAILS
    "$@"
    if [ "$T_FAILS" -eq "$before" ]; then ok; else fail "check failed on good data: $*"; fi
  }
  run sh -c 'echo "imgstash: x: problem" >&2; echo "hint: do y" >&2; exit 3'
  must_pass expect_rc 3
  must_fail expect_rc 0
  must_pass expect_err_line "hint: do y"
  must_fail expect_err_line "hint: do"
  must_pass expect_err_exact "imgstash: x: problem" "hint: do y"
  must_fail expect_err_exact "imgstash: x: problem"
  must_pass expect_err_grep '^imgstash: '
  must_fail expect_not_err_grep '^imgstash: '
  must_fail expect_no_err
  run true
  must_pass expect_no_err
  must_fail expect_err_grep .

  a="$W/a" b="$W/b"
  mkdir -p "$a/d/e" && printf 'one' >"$a/d/f" && printf 'two' >"$a/g h" && ln -s 'd/f' "$a/l"
  touch -h -d '2001-01-01 00:00:00.5' "$a/d/f" "$a/g h" "$a/l" "$a/d/e" "$a/d" "$a"
  cp -a "$a" "$b"
  must_pass same_tree "$a" "$b"
  touch -h -d '2001-01-01 00:00:00.6' "$b/d/f"
  must_fail same_tree "$a" "$b"
  touch -h -d '2001-01-01 00:00:00.5' "$b/d/f" "$b/d"
  chmod 600 "$b/g h" && touch -h -d '2001-01-01 00:00:00.5' "$b/g h"
  must_fail same_tree "$a" "$b"
  chmod --reference="$a/g h" "$b/g h"
  rm "$b/l" && ln -s 'd/e' "$b/l" && touch -h -d '2001-01-01 00:00:00.5' "$b/l" "$b"
  must_fail same_tree "$a" "$b"
  rm "$b/l" && ln -s 'd/f' "$b/l" && touch -h -d '2001-01-01 00:00:00.5' "$b/l" "$b"
  must_pass same_tree "$a" "$b"
  printf 'oNe' >"$b/d/f" && touch -h -d '2001-01-01 00:00:00.5' "$b/d/f" "$b/d"
  must_fail same_tree "$a" "$b"

  printf 'abcdef' >"$W/f"
  flip_byte "$W/f" 2
  check "flip_byte flips one byte" [ "$(od -An -tx1 "$W/f" | tr -d ' \n')" = "61629c646566" ]
  check "offset_of finds a string" [ "$(offset_of "$W/f" def)" = 3 ]
  check "offset_of of a missing string is -1" [ "$(offset_of "$W/f" xyz)" = -1 ]
  finish
fi
