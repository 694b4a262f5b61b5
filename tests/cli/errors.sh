# Exit codes and exact messages of the CLI's error paths (STYLE.md §2.4, §2.8):
# usage errors (exit 2, 'imgstash: ...' then a 'hint:' line), inputs that cannot be read
# (named, skipped, counted, exit 1, the rest archived), a pack that cannot be written (exit 1,
# no temporary file left), the archive inside its own input folder, archives that are not
# archives, and damaged archives (a flipped payload byte, a truncation, a broken footer):
# verify and unpack name the affected entries, unpack restores every intact entry, exit 1.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 2
mkdir -p in/d
printf 'hello\n' >in/a.txt
printf 'world\n' >in/d/b.txt

# ---------------------------------------------------------------- usage errors: exit 2
usage() { # usage "LINE" ARGS...: exit 2, exactly LINE then the hint of the command
  local line=$1 hint
  shift
  ims "$@"
  expect_rc 2 "imgstash $*"
  case "${1:-}" in
  pack | unpack | list | cat | verify | stats) hint="hint: 'imgstash $1 --help' shows the options" ;;
  *) hint="hint: 'imgstash --help' shows the commands" ;;
  esac
  expect_err_exact "$line" "$hint"
  if [ -s "$OUT" ]; then fail "imgstash $*: wrote to stdout"; else ok; fi
}
usage "imgstash: 'bogus' is not a command" bogus
usage "imgstash: no archive given (-o ARCHIVE)" pack in
usage "imgstash: no input given" pack -o x.ims
usage "imgstash: -o needs an argument" pack -o
usage "imgstash: unknown option '--frob'" pack --frob -o x.ims in
usage "imgstash: --threads: 'x' is not a whole number" pack -j x -o x.ims in
usage "imgstash: --threads: '999' is out of range (0 to 256)" pack -j 999 -o x.ims in
usage "imgstash: --threads: '-1' is not a whole number" pack -j -1 -o x.ims in
usage "imgstash: --level: '0' is out of range (1 to 22)" pack -l 0 -o x.ims in
usage "imgstash: -m: unknown mode 'foo' (exact, pixel, visual)" pack -m foo -o x.ims in
usage "imgstash: -m: mode 'pixel' is not implemented in this version (only 'exact')" pack -m pixel -o x.ims in
usage "imgstash: in: is a folder" pack -o in in/a.txt
usage "imgstash: no archive given" unpack
usage "imgstash: too many arguments" unpack a.ims b.ims
usage "imgstash: -C needs an argument" unpack a.ims -C
usage "imgstash: no archive given" list
usage "imgstash: unknown option '--frob'" list --frob x.ims
usage "imgstash: cat takes an archive and one path" cat x.ims
usage "imgstash: cat takes an archive and one path" cat x.ims a b
usage "imgstash: verify takes an archive and an optional DIR" verify
usage "imgstash: verify takes an archive and an optional DIR" verify x.ims a b
usage "imgstash: no archive given" stats
check "no archive was written by a usage error" [ ! -e x.ims ]
ims
expect_rc 2 "imgstash without a command"
check "imgstash without a command prints the usage on stderr" grep -q '^Usage: imgstash COMMAND' "$ERR"
check "imgstash without a command prints nothing on stdout" [ ! -s "$OUT" ]
for c in pack unpack list cat verify stats; do
  ims "$c" --help
  expect_rc 0 "$c --help"
  expect_no_err
  check "$c --help prints its usage on stdout" grep -q "^Usage: imgstash $c" "$OUT"
done
ims --help
expect_rc 0 "--help"
check "--help on stdout" grep -q '^Commands:' "$OUT"
ims --version
expect_rc 0 "--version"
check "--version" grep -qE '^imgstash [0-9]+\.[0-9]+\.[0-9]+$' "$OUT"

# ---------------------------------------------------------------- inputs that cannot be read
# Tests run as root, who can read any file: use inputs that fail for root too, a path that
# does not exist and FIFOs (not regular files), given directly and met inside a folder.
mkfifo in/fifo top.fifo
ims pack -q -o u.ims missing top.fifo in "no such dir/x"
expect_rc 1 "pack with unreadable inputs"
expect_err_exact \
  "imgstash: missing: No such file or directory" \
  "imgstash: top.fifo: not a regular file, directory or symlink" \
  "imgstash: in/fifo: not a regular file, directory or symlink" \
  "imgstash: no such dir/x: No such file or directory" \
  "imgstash: u.ims: 4 input(s) could not be archived (named above)"
ims list u.ims
expect_rc 0 "list of the archive made despite bad inputs"
check "everything readable was archived" [ "$(cat "$OUT")" = "$(printf '0 in/\n6 in/a.txt\n0 in/d/\n6 in/d/b.txt')" ]
rm in/fifo
# only bad inputs: an archive with nothing in it, exit 1
ims pack -q -o empty.ims missing
expect_rc 1 "pack with only a missing input"
expect_err_exact "imgstash: missing: No such file or directory" "imgstash: empty.ims: 1 input(s) could not be archived (named above)"
ims list empty.ims
expect_rc 0 "list of an empty archive"
check "an empty archive lists nothing" [ ! -s "$OUT" ]

# ---------------------------------------------------------------- a pack that cannot be written
ims pack -q -o "nodir/x.ims" in
expect_rc 1 "pack into a missing folder"
expect_err_exact "imgstash: nodir/x.ims: cannot create: No such file or directory"
check "no folder was made" [ ! -e nodir ]
# a write that fails halfway (file size limit, SIGXFSZ ignored: write returns EFBIG)
head -c 300000 /dev/urandom >big.bin
(ulimit -f 100 && trap '' XFSZ && exec "$IMGSTASH" pack -q -o fsize.ims big.bin in) >"$OUT" 2>"$ERR"
RC=$?
expect_rc 1 "pack whose archive cannot be written"
expect_err_grep '^imgstash: fsize\.ims: fsize\.ims: write failed: File too large$' "write failure message"
check "no archive after a failed pack" [ ! -e fsize.ims ]
check "no temporary file left after a failed pack" [ -z "$(ls -A | grep -F 'fsize.ims')" ]

# ---------------------------------------------------------------- the archive inside its input folder
ims pack -q -o in/self.ims in
expect_rc 0 "pack into the input folder"
ims list in/self.ims
check "the archive being written is not packed into itself" [ "$(grep -c self "$OUT")" -eq 0 ]
ims pack -q -o in/self.ims in
expect_rc 0 "pack again over the archive in the input folder"
ims list in/self.ims
check "the old archive is not packed into the new one either" [ "$(grep -c self "$OUT")" -eq 0 ]
check "nothing but the archive is left in the folder" [ "$(ls in | tr '\n' ' ')" = "a.txt d self.ims " ]
rm in/self.ims

# ---------------------------------------------------------------- not archives
ims list nothere.ims
expect_rc 1 "list of a missing archive"
expect_err_exact "imgstash: nothere.ims: cannot open: No such file or directory"
ims list in/a.txt
expect_rc 1 "list of a short text file"
expect_err_exact "imgstash: in/a.txt: not an imgstash archive (only 6 bytes)"
head -c 1000 /dev/zero >zeros
for c in list verify stats unpack; do
  ims "$c" zeros
  expect_rc 1 "$c of a file of zeros"
  expect_err_exact "imgstash: zeros: not an imgstash archive"
done
ims list in
expect_rc 1 "list of a folder"
expect_err_exact "imgstash: in: not a regular file"
: >zero.ims
ims verify zero.ims
expect_rc 1 "verify of an empty file"
expect_err_exact "imgstash: zero.ims: not an imgstash archive (only 0 bytes)"

# ---------------------------------------------------------------- cat errors
ims pack -q -o ok.ims in
ims cat ok.ims in/nope
expect_rc 1 "cat of a missing entry"
expect_err_exact "imgstash: in/nope: not in ok.ims"
ims cat ok.ims in/d
expect_rc 1 "cat of a folder"
expect_err_exact "imgstash: in/d: is a folder"
ims cat ok.ims in/d/b.txt
expect_rc 0 "cat"
check "cat output" [ "$(cat "$OUT")" = world ]

# ---------------------------------------------------------------- damaged archives
# 5 incompressible files (stored as is, so their bytes can be found in the archive by a
# marker), a duplicate of f3, and a compressible file.
mkdir -p dm/d
for i in 1 2 3 4 5; do { printf "MARKER-F$i"; head -c 20000 /dev/urandom; } >"dm/d/f$i"; done
cp dm/d/f3 dm/d/f3copy
yes 'some text' | head -c 50000 >dm/d/text
(cd dm && "$IMGSTASH" pack -q -o ../dm.ims d) || fail "pack dm"
o3=$(offset_of dm.ims MARKER-F3)
o4=$(offset_of dm.ims MARKER-F4)
check "the markers are in the archive" [ "$o3" -gt 0 ]
check "the markers are in the archive" [ "$o4" -gt "$o3" ]
restored_intact() { # restored_intact DIR NAME...: each file equals the original
  local f
  for f in "${@:2}"; do check "$f restored intact" cmp -s "dm/d/$f" "$1/d/$f"; done
}
absent() { # absent DIR NAME...: nothing left behind for these
  local f
  for f in "${@:2}"; do check "damaged $f not left behind" [ ! -e "$1/d/$f" ]; done
}

# 1. one byte of f3's payload flipped: f3 and its duplicate are named, nothing else
cp dm.ims flip.ims
flip_byte flip.ims $((o3 + 1000))
ims verify flip.ims
expect_rc 1 "verify with a flipped payload byte"
expect_err_grep '^imgstash: d/f3: block at offset 0x[0-9a-f]+: checksum mismatch$'
expect_err_grep '^imgstash: d/f3copy: block at offset 0x[0-9a-f]+: checksum mismatch$'
expect_err_line "imgstash: flip.ims: 8 entries checked, 2 bad"
check "verify names only f3 and f3copy" [ "$(wc -l <"$ERR")" -eq 3 ]
ims unpack flip.ims -C u1
expect_rc 1 "unpack with a flipped payload byte"
expect_err_grep '^imgstash: d/f3: block at offset 0x[0-9a-f]+: checksum mismatch$'
expect_err_grep '^imgstash: d/f3copy: block at offset 0x[0-9a-f]+: checksum mismatch$'
expect_err_line "imgstash: flip.ims: 2 of 8 entries could not be restored"
check "unpack names only f3 and f3copy" [ "$(wc -l <"$ERR")" -eq 3 ]
restored_intact u1 f1 f2 f4 f5 text
absent u1 f3 f3copy
ims cat flip.ims d/f3
expect_rc 1 "cat of a damaged entry"
expect_err_grep '^imgstash: d/f3: block at offset 0x[0-9a-f]+: checksum mismatch$'
ims cat flip.ims d/f4
expect_rc 0 "cat of an intact entry of a damaged archive"
check "cat of an intact entry" cmp -s "$OUT" dm/d/f4

# 2. truncated in the middle of f4: the index is gone; the manifest at the start still names
#    every entry, the blocks before the cut are found by the recovery scan
head -c $((o4 + 500)) dm.ims >cut.ims
damaged_cut="imgstash: cut.ims: damaged or missing footer (truncated archive?): no footer at the end; the archive is damaged, reading what can be recovered"
ims list cut.ims
expect_rc 1 "list of a truncated archive"
expect_err_exact "$damaged_cut" "hint: 'imgstash verify cut.ims' lists every entry that can still be recovered"
check "list of a truncated archive marks what is lost" [ "$(grep -c '\[damaged\]$' "$OUT")" -eq 3 ]
check "list of a truncated archive names every entry" [ "$(wc -l <"$OUT")" -eq 8 ]
ims verify -q cut.ims
expect_rc 1 "verify of a truncated archive"
expect_err_exact "$damaged_cut" "hint: 'imgstash verify cut.ims' lists every entry that can still be recovered" \
  "imgstash: d/f4: data is missing from the damaged archive" \
  "imgstash: d/f5: data is missing from the damaged archive" \
  "imgstash: d/text: data is missing from the damaged archive"
ims unpack -q cut.ims -C u2
expect_rc 1 "unpack of a truncated archive"
expect_err_line "imgstash: d/f4: data is missing from the damaged archive"
expect_err_line "imgstash: cut.ims: 3 of 8 entries could not be restored"
restored_intact u2 f1 f2 f3 f3copy
absent u2 f4 f5 text
ims stats --json cut.ims
expect_rc 1 "stats of a truncated archive"
check "stats --json says damaged" grep -qF '"damaged":true' "$OUT"

# 3. a broken footer (one byte of its offsets changed, checksum not): recovered from the
#    intact index block, every entry restored, still exit 1 and the damage named
cp dm.ims foot.ims
size=$(stat -c %s foot.ims)
flip_byte foot.ims $((size - 64 + 2))
ims unpack -q foot.ims -C u3
expect_rc 1 "unpack with a broken footer"
expect_err_exact "imgstash: foot.ims: damaged or missing footer (truncated archive?): footer checksum mismatch; the archive is damaged, reading what can be recovered" \
  "hint: 'imgstash verify foot.ims' lists every entry that can still be recovered"
restored_intact u3 f1 f2 f3 f3copy f4 f5 text
# the footer magic gone
cp dm.ims foot2.ims
flip_byte foot2.ims $((size - 1))
ims verify -q foot2.ims
expect_rc 1 "verify with no footer magic"
expect_err_grep '^imgstash: foot2\.ims: damaged or missing footer \(truncated archive\?\): no footer at the end; '
check "verify with no footer magic names no entry" [ "$(grep -c '^imgstash: d/' "$ERR")" -eq 0 ]

# 4. the header destroyed: not an archive at all
cp dm.ims head.ims
flip_byte head.ims 1
ims unpack head.ims -C u4
expect_rc 1 "unpack of an archive without its header"
expect_err_exact "imgstash: head.ims: not an imgstash archive"
check "nothing unpacked from a file that is not an archive" [ ! -e u4/d ]

finish
