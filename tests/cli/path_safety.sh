# No entry is ever written outside DIR. Hostile archives are made with tests/tools/mkevil
# (entries exactly as given): '..' components, absolute paths, 'a/b' where 'a' is a symlink
# stored earlier in the same archive (pointing outside, absolute or relative), a folder
# entry over such a symlink, a file over a symlink that already sits in DIR. unpack must
# refuse each with a message naming the path, write nothing outside DIR, restore every safe
# entry, and exit 1.
. "$(dirname "$0")/lib.sh"

MKEVIL="${IMS_BIN:-$(dirname "$IMGSTASH")}/mkevil"
if [ ! -x "$MKEVIL" ]; then
  echo "mkevil not built at $MKEVIL" >&2
  exit 1
fi

D="$W/dest"          # the unpack folder
X="$W/outside"       # must stay empty
mkdir -p "$X"
touch -d '2001-01-01' "$X"
before=$(stat -c '%.9Y' "$X")

evil() { # evil ARCHIVE SPEC...
  if ! "$MKEVIL" "$@"; then
    fail "mkevil $*"
    exit 1
  fi
}

# -- 1: '..' and absolute paths
evil "$W/dots.ims" f:good:hello f:../evil1:x f:sub/../../evil2:x f:..:x "f:$X/abs:x" f:/abs2:x f:ok/./../evil3:x f:a//b:x f:trailing/:x f:.:x f:good2:world
ims unpack "$W/dots.ims" -C "$D"
expect_rc 1 "unpack with '..' and absolute paths"
for p in ../evil1 sub/../../evil2 .. "$X/abs" /abs2 ok/./../evil3 a//b trailing/ .; do
  expect_err_line "imgstash: $p: unsafe path (absolute or with '..'): refused"
done
expect_err_line "imgstash: $W/dots.ims: 9 of 11 entries could not be restored"
check "no other message" [ "$(wc -l <"$ERR")" -eq 10 ]
check "the safe entries are restored" [ "$(cat "$D/good")" = hello ]
check "the safe entries are restored" [ "$(cat "$D/good2")" = world ]
check "nothing written next to DIR" [ ! -e "$W/evil1" ]
check "nothing written next to DIR" [ ! -e "$W/evil2" ]
check "nothing written next to DIR" [ ! -e "$W/evil3" ]
check "nothing written at the absolute paths" [ ! -e "$X/abs" ]
check "nothing written at the absolute paths" [ ! -e /abs2 ]
check "DIR holds only the safe entries" [ "$(cd "$D" && find . -mindepth 1 | LC_ALL=C sort | tr '\n' ' ')" = "./good ./good2 " ]

# -- 2: through a symlink stored earlier in the same archive
rm -rf "$D"
evil "$W/links.ims" f:first:1 "l:abs:$X" f:abs/pwned:x l:rel:../outside f:rel/pwned2:x l:deep:. f:deep/deep/ok:x l:dirlink:../outside d:dirlink f:dirlink/pwned3:x l:f:/etc/passwd f:f:replaced f:last:2
ims unpack "$W/links.ims" -C "$D"
expect_rc 1 "unpack through stored symlinks"
expect_err_line "imgstash: abs/pwned: 'abs' on the way is a symlink or not a folder: refused"
expect_err_line "imgstash: rel/pwned2: 'rel' on the way is a symlink or not a folder: refused"
expect_err_line "imgstash: deep/deep/ok: 'deep' on the way is a symlink or not a folder: refused"
expect_err_line "imgstash: dirlink: exists and is not a folder: refused"
expect_err_line "imgstash: dirlink/pwned3: 'dirlink' on the way is a symlink or not a folder: refused"
expect_err_line "imgstash: $W/links.ims: 5 of 13 entries could not be restored"
check "no other message" [ "$(wc -l <"$ERR")" -eq 6 ]
check "nothing written outside DIR" [ -z "$(ls -A "$X")" ]
check "nothing written outside DIR" [ "$(stat -c '%.9Y' "$X")" = "$before" ]
check "the symlinks themselves are restored, not followed" [ "$(readlink "$D/abs")" = "$X" ]
check "the symlinks themselves are restored, not followed" [ "$(readlink "$D/rel")" = ../outside ]
check "the symlinks themselves are restored, not followed" [ "$(readlink "$D/dirlink")" = ../outside ]
check "a file entry replaces a symlink of the same name (never writes through it)" [ -f "$D/f" ]
check "a file entry replaces a symlink of the same name (never writes through it)" [ ! -L "$D/f" ]
check "a file entry replaces a symlink of the same name (never writes through it)" [ "$(cat "$D/f")" = replaced ]
check "/etc/passwd untouched" grep -q '^root:' /etc/passwd
check "the safe files are restored" [ "$(cat "$D/first")" = 1 ]
check "the safe files are restored" [ "$(cat "$D/last")" = 2 ]

# -- 3: symlinks already in DIR (from an earlier unpack or planted) are never followed
rm -rf "$D"
mkdir -p "$D"
ln -s "$X" "$D/planted"
ln -s "$X/leaf" "$D/leaf"
evil "$W/planted.ims" f:planted/pwned:x f:leaf:safe
ims unpack "$W/planted.ims" -C "$D"
expect_rc 1 "unpack below a planted symlink"
expect_err_line "imgstash: planted/pwned: 'planted' on the way is a symlink or not a folder: refused"
check "nothing written outside DIR" [ -z "$(ls -A "$X")" ]
check "the leaf symlink was replaced by the file" [ -f "$D/leaf" ]
check "the leaf symlink was replaced by the file" [ ! -L "$D/leaf" ]
check "the leaf symlink was replaced by the file" [ "$(cat "$D/leaf")" = safe ]

# -- 4: names that are unusual but safe are restored (control)
rm -rf "$D"
evil "$W/odd.ims" "f:..a:1" "f:b..:2" "f:...:3" "f:.hidden:4" "f:sp ace/"$'\n'"nl:5" "f:"$'\xff'":6"
ims unpack -q "$W/odd.ims" -C "$D"
expect_rc 0 "unpack of odd but safe names"
expect_no_err
check "odd names restored" [ "$(cat "$D/..a" "$D/b.." "$D/..." "$D/.hidden" "$D/sp ace/"$'\n'"nl" "$D/"$'\xff')" = 123456 ]

# -- the reading commands do not choke on these archives
for a in dots links planted; do
  ims list "$W/$a.ims"
  expect_rc 0 "list $a.ims"
  ims verify -q "$W/$a.ims"
  expect_rc 0 "verify $a.ims (contents are intact)"
done
ims cat "$W/dots.ims" ../evil1
expect_rc 1 "cat of a '..' path"
expect_err_line "imgstash: ../evil1: not in $W/dots.ims"

finish
