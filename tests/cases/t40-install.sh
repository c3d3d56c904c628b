# make install puts the binary and the man page under DESTDIR/PREFIX; the man page renders cleanly.
source "$(dirname "$0")/../lib.sh"
top=$(cd "$HERE/.." && pwd)
expect_exit 0 "make install" make -s -C "$top" install DESTDIR="$T/root" PREFIX=/opt/ep
check "the binary is installed and runs" "$T/root/opt/ep/bin/envpack" --version
check "the man page is installed" test -s "$T/root/opt/ep/share/man/man1/envpack.1"
if command -v groff >/dev/null; then
	groff -man -Tutf8 -ww -P-cbou "$top/man/envpack.1" >"$T/man.txt" 2>"$T/man.err"
	check "the man page renders without warnings" test ! -s "$T/man.err"
	check "the man page documents every command and the exit codes" \
		sh -c "for w in keygen pack inspect verify restore 'EXIT STATUS' SOURCE_DATE_EPOCH ENVPACK_TRUSTED_KEYS; do grep -q \"\$w\" '$T/man.txt' || exit 1; done"
fi
finish
