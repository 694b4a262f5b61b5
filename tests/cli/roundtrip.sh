# Round trip of a generated tree through pack / list / unpack / cat / verify / stats:
# zero-byte files, names with spaces, newlines, tabs, backslashes and non-UTF-8 bytes, a
# 300-deep folder tree, symlinks (relative, absolute, dangling), identical files, an empty
# folder, odd modes and sub-second mtimes. The unpacked tree must equal the original
# (diff -r, type, mode, mtime, link targets), -j 1 and -j 2 must give the same archive
# bytes, and stats must show the deduplicated bytes.
. "$(dirname "$0")/lib.sh"

src="$W/src"
t="$src/tree"
mkdir -p "$t/sub" "$t/empty folder"
: >"$t/zero"
: >"$t/sub/zero too"
printf 'x' >"$t/one byte"
printf 'spaces' >"$t/ name with  spaces "
printf 'newline' >"$t/new"$'\n'"line"
printf 'tab' >"$t/tab"$'\t'"name"
printf 'backslash' >"$t/back\\slash"
printf 'not utf-8' >"$t/"$'\xff\xfe'" bytes"
printf 'cr' >"$t/cr"$'\r'
mkdir "$t/"$'\xc3\xa9t\xc3\xa9'
printf 'utf-8' >"$t/"$'\xc3\xa9t\xc3\xa9'"/caf"$'\xc3\xa9'
# a compressible file (zstd) and an incompressible one (stored raw), 2 MB each
yes 'a line of text that compresses well' | head -c 2000000 >"$t/sub/text"
head -c 2000000 /dev/urandom >"$t/sub/random"
# identical files: 3 copies of 300000 random bytes, one deep down
head -c 300000 /dev/urandom >"$t/dup1"
cp "$t/dup1" "$t/sub/dup2"
# a 300-deep tree
d="$t/deep"
for _ in $(seq 300); do d="$d/d"; done
mkdir -p "$d"
printf 'bottom' >"$d/file"
cp "$t/dup1" "$d/dup3"
# symlinks: relative, absolute, dangling, to a folder, one pointing up and out
ln -s 'one byte' "$t/rel link"
ln -s /etc/hostname "$t/abs link"
ln -s 'no/such/target' "$t/dangling"
ln -s sub "$t/link to folder"
ln -s '../../outside' "$t/sub/up"
# similar JPEGs (the JPEG codec and its references must not depend on the thread count either)
if command -v ffmpeg >/dev/null; then
  mkdir "$t/jpg"
  ffmpeg -v error -f lavfi -i testsrc=size=160x120:rate=5 -frames:v 4 -q:v 3 "$t/jpg/f%d.jpg" ||
    fail "ffmpeg could not make test JPEGs"
else
  fail "ffmpeg is missing (scripts/install-deps.sh installs it)"
fi
# modes
chmod 0600 "$t/one byte"
chmod 0755 "$t/sub/text"
chmod 0444 "$t/zero"
chmod 4711 "$t/dup1"
chmod 0700 "$t/sub"
chmod 1777 "$t/empty folder"
# mtimes: everything at one time with nanoseconds, a few others; folders last (deepest first)
find "$t" -depth -print0 | xargs -0 touch -h -d '2021-06-07 08:09:10.123456789'
touch -h -d '1999-12-31 23:59:59.999999999' "$t/rel link" "$t/zero"
touch -h -d '2038-01-19 03:14:08' "$t/sub/random"
touch -h -d '1970-01-01 00:00:01' "$t/tab"$'\t'"name"
touch -h -d '2021-06-07 08:09:10.5' "$t/sub" "$t"
n_entries=$(cd "$src" && find . -mindepth 1 -print0 | tr -cd '\0' | wc -c)

cd "$src" || exit 2

# -- pack, twice with different thread counts: same bytes
ims pack -q -j 1 -o "$W/a1.ims" tree
expect_rc 0 "pack -j 1"
expect_no_err
ims pack -q -j 2 -o "$W/a2.ims" tree
expect_rc 0 "pack -j 2"
check "-j 1 and -j 2 give byte-identical archives" cmp -s "$W/a1.ims" "$W/a2.ims"
A="$W/a1.ims"
# default verbosity: one summary line, nothing else
ims pack -o "$W/a3.ims" tree
expect_rc 0 "pack (normal verbosity)"
check "pack prints one summary line" [ "$(wc -l <"$ERR")" -eq 1 ]
expect_err_grep "^imgstash: $W/a3.ims: $n_entries entries, " "pack summary"
check "same archive at default settings" cmp -s "$W/a1.ims" "$W/a3.ims"

# -- list: one line per entry, escaped names, sizes
ims list "$A"
expect_rc 0 list
expect_no_err
check "list prints one line per entry" [ "$(wc -l <"$OUT")" -eq "$n_entries" ]
check "list escapes a newline in a name" grep -qxF '7 tree/new\nline' "$OUT"
check "list escapes a tab in a name" grep -qxF '3 tree/tab\tname' "$OUT"
check "list escapes a backslash" grep -qxF '9 tree/back\\slash' "$OUT"
check "list escapes a carriage return" grep -qxF '2 tree/cr\x0d' "$OUT"
check "list keeps non-UTF-8 bytes" grep -qxF "9 tree/"$'\xff\xfe'" bytes" "$OUT"
check "list shows a folder with /" grep -qxF '0 tree/empty folder/' "$OUT"
check "list shows a symlink target" grep -qxF '13 tree/abs link -> /etc/hostname' "$OUT"
check "list shows a zero-byte file" grep -qxF '0 tree/zero' "$OUT"
ims list -l "$A"
expect_rc 0 "list -l"
check "list -l shows the mode of a setuid file" grep -qE '^-rws--x--x .* tree/dup1$' "$OUT"
check "list -l shows the sticky bit of a folder" grep -qE '^drwxrwxrwt .* tree/empty folder/$' "$OUT"
# of the 3 identical files, exactly 2 are stored in 0 bytes
check "list -l: duplicates take no stored bytes" [ "$(grep -E ' (tree/dup1|tree/sub/dup2|tree/deep/.*/dup3)$' "$OUT" | awk '$5 == 0' | wc -l)" -eq 2 ]
ims list --json "$A"
expect_rc 0 "list --json"
check "list --json: one object per entry" [ "$(grep -c '"path":' "$OUT")" -eq "$n_entries" ]
check "list --json escapes a newline" grep -qF '"path":"tree/new\u000aline"' "$OUT"
check "list --json: non-UTF-8 bytes as code points" grep -qF '"path":"tree/\u00ff\u00fe bytes"' "$OUT"

# -- unpack: the same tree, twice into the same folder (files are replaced)
ims unpack "$A" -C "$W/out"
expect_rc 0 unpack
expect_no_err
same_tree "$t" "$W/out/tree"
ims unpack -q "$A" -C "$W/out"
expect_rc 0 "unpack over an existing tree"
expect_no_err
same_tree "$t" "$W/out/tree"
check "an absolute symlink is restored as a link, not followed" [ "$(readlink "$W/out/tree/abs link")" = /etc/hostname ]
# unpack into the current folder (no -C)
mkdir "$W/here" && (cd "$W/here" && "$IMGSTASH" unpack -q "$A") >"$OUT" 2>"$ERR"
RC=$?
expect_rc 0 "unpack into the current folder"
same_tree "$t" "$W/here/tree"

# -- cat: every regular file, byte for byte; a symlink gives its target
bad=0 n=0
while IFS= read -r -d '' f; do
  n=$((n + 1))
  "$IMGSTASH" cat "$A" "$f" >"$W/cat.out" 2>"$W/cat.err" || { bad=$((bad + 1)); continue; }
  cmp -s "$W/cat.out" "$f" || bad=$((bad + 1))
  [ -s "$W/cat.err" ] && bad=$((bad + 1))
done < <(find tree -type f -print0)
check "cat gives every file back ($n files, $bad bad)" [ "$bad" -eq 0 ]
check "cat gives every file back ($n files, $bad bad)" [ "$n" -ge 15 ]
ims cat "$A" "tree/abs link"
expect_rc 0 "cat of a symlink"
check "cat of a symlink writes its target" [ "$(cat "$OUT")" = /etc/hostname ]
ims cat "$A" "./tree//sub/text"
expect_rc 0 "cat of an unnormalised path"
check "cat normalises the path it is given" cmp -s "$OUT" tree/sub/text

# -- verify, alone and against the source and the unpacked tree
ims verify "$A"
expect_rc 0 verify
expect_err_exact "imgstash: $A: $n_entries entries checked, 0 bad, all OK"
ims verify -q "$A" "$src"
expect_rc 0 "verify DIR"
expect_no_err
ims verify -q "$A" "$W/out"
expect_rc 0 "verify against the unpacked tree"
# a changed byte, a removed file and a changed link target in DIR are each named
printf 'X' | dd of="$W/out/tree/sub/text" bs=1 seek=1000 conv=notrunc status=none
rm "$W/out/tree/one byte"
rm "$W/out/tree/rel link" && ln -s elsewhere "$W/out/tree/rel link"
ims verify -q "$A" "$W/out"
expect_rc 1 "verify DIR with differences"
expect_err_line "imgstash: tree/sub/text: content differs from the file on disk"
expect_err_line "imgstash: tree/one byte: missing from $W/out: No such file or directory"
expect_err_line "imgstash: tree/rel link: symlink target differs"
check "verify DIR names exactly the 3 differences" [ "$(wc -l <"$ERR")" -eq 3 ]

# -- stats: dedup shows 2 x 300000 bytes saved, counts match the tree
ims stats --json "$A"
expect_rc 0 "stats --json"
j=$(cat "$OUT")
count() { find tree "$@" -print0 | tr -cd '\0' | wc -c; }
n_files=$(count -type f)
n_dirs=$(count -type d)
n_links=$(count -type l)
check "stats: dedup_saved_bytes is 600000" grep -qF '"dedup_saved_bytes":600000,' <<<"$j"
check "stats: files" grep -qF "\"files\":$n_files," <<<"$j"
check "stats: dirs" grep -qF "\"dirs\":$n_dirs," <<<"$j"
check "stats: symlinks" grep -qF "\"symlinks\":$n_links," <<<"$j"
check "stats: contents (3 identical files count once, the 2 zero-byte files too)" grep -qF "\"contents\":$((n_files - 3)),\"input_bytes\":" <<<"$j"
check "stats: archive_bytes is the file size" grep -qF "\"archive_bytes\":$(stat -c %s "$A")," <<<"$j"
check "stats: not damaged" grep -qF '"damaged":false' <<<"$j"
check "stats: the random file is stored raw" grep -qF '"raw":{"contents":' <<<"$j"
check "stats: the text is stored with zstd" grep -qF '"zstd":{"contents":' <<<"$j"
check "stats: 4 JPEG contents" grep -qF '"jpeg":{"contents":4,' <<<"$j"
ims stats "$A"
expect_rc 0 stats
check "stats: identical files line" grep -qE '^identical +3 files stored once, 600.0 kB saved$' "$OUT"

# -- small inputs: an empty folder alone, a zero-byte file alone, a symlink alone
mkdir "$W/e" && touch -d '2020-02-02 02:02:02.2' "$W/e"
(cd "$W" && "$IMGSTASH" pack -q -o e.ims e) >"$OUT" 2>"$ERR"
RC=$?
expect_rc 0 "pack of an empty folder"
ims list "$W/e.ims"
check "an empty folder is one entry" [ "$(cat "$OUT")" = "0 e/" ]
ims unpack -q "$W/e.ims" -C "$W/e_out"
expect_rc 0 "unpack of an empty folder"
same_tree "$W/e" "$W/e_out/e"
: >"$W/z"
ims pack -q -o "$W/z.ims" "$W/z"
expect_rc 0 "pack of one zero-byte file"
ims cat "$W/z.ims" "${W#/}/z"
expect_rc 0 "cat of a zero-byte file"
check "a zero-byte file comes back empty" [ ! -s "$OUT" ]
ims verify -q "$W/z.ims"
expect_rc 0 "verify of a zero-byte file"

finish
