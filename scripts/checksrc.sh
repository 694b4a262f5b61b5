#!/usr/bin/env bash
# Fails on calls our C must not make (../shared/STYLE.md §2.10): unbounded string functions,
# atoi/atol, alloca, setjmp outside the libjpeg adapters, exit outside cli/main.c, and any
# printing from the library (lib/ never prints).
set -u
cd "$(dirname "$0")/.."
fail=0
report() { echo "checksrc: $1"; fail=1; }

files=$(git ls-files 'lib/*.c' 'lib/*.h' 'cli/*.c' 'cli/*.h' 2>/dev/null)
[ -n "$files" ] || files=$(find lib cli -name '*.[ch]')
strip() { sed -e 's://.*$::' -e 's:/\*.*\*/::g' "$1"; }  # drop one-line comments

for f in $files; do
  body=$(strip "$f")
  for bad in 'sprintf' 'vsprintf' 'strcpy' 'strcat' 'strncat' 'gets' 'atoi' 'atol' 'atoll' 'alloca'; do
    if grep -nE "(^|[^_a-zA-Z0-9])${bad}[[:space:]]*\(" <<<"$body" >/dev/null; then
      report "$f: calls $bad()"
    fi
  done
  case "$f" in
    lib/image/*|lib/jpeg/ljt_*) ;;
    *) grep -nE '(^|[^_a-zA-Z0-9])(setjmp|longjmp)[[:space:]]*\(' <<<"$body" >/dev/null && report "$f: setjmp/longjmp outside the libjpeg adapters" ;;
  esac
  case "$f" in
    cli/main.c) ;;
    *) grep -nE '(^|[^_a-zA-Z0-9.>])(exit|abort)[[:space:]]*\(' <<<"$body" >/dev/null && report "$f: calls exit()/abort() (only cli/main.c exits)" ;;
  esac
  case "$f" in
    lib/*) grep -nE '(^|[^_a-zA-Z0-9])(printf|fprintf|puts|fputs|perror|putchar)[[:space:]]*\(' <<<"$body" >/dev/null && report "$f: prints (the library never prints)" ;;
  esac
done
if [ "$fail" = 0 ]; then echo "checksrc: 1 passed, 0 failed"; else echo "checksrc: 0 passed, 1 failed"; fi
exit $fail
