#!/usr/bin/env bash
# Banned C calls: strcpy, strcat, sprintf, vsprintf, strtok and atoi (unbounded
# copies, hidden state, no error report). Prints FILE:LINE for each call found
# in the *.c and *.h files under the given files or directories (default: every
# folder of the repository but build/) and exits 1 when there is one, 0 when
# there is none.
# Comments, string and character literals are skipped, and so are names that
# merely contain a banned one (ep_sprintf_x, strtok_r) and struct fields
# (s.atoi, p->strcpy).
set -u
if [ $# = 0 ]; then
	cd "$(dirname "$0")/.." || exit 2
	for d in */; do
		[ "$d" = build/ ] || set -- "$@" "${d%/}"
	done
fi

files=$(find "$@" -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort) || exit 2
[ -n "$files" ] || exit 0
# shellcheck disable=SC2086 # one file name a line, none with blanks
LC_ALL=C awk -v q="'" '
FNR == 1 { incomment = 0 }
{
	# the line with comments and literals blanked out, then fields renamed
	line = $0; out = ""; n = length(line)
	for (i = 1; i <= n; i++) {
		c = substr(line, i, 1); two = substr(line, i, 2)
		if (incomment) {
			if (two == "*/") { incomment = 0; i++ }
			continue
		}
		if (two == "/*") { incomment = 1; out = out " "; i++; continue }
		if (two == "//") break
		if (c == "\"" || c == q) {
			for (i++; i <= n && substr(line, i, 1) != c; i++)
				if (substr(line, i, 1) == "\\") i++
			out = out " 0 "
			continue
		}
		out = out c
	}
	gsub(/(->|\.)[ \t]*[A-Za-z_][A-Za-z0-9_]*/, " .field", out)
	rest = out
	while (match(rest, /(^|[^A-Za-z0-9_])(strcpy|strcat|sprintf|vsprintf|strtok|atoi)[ \t]*\(/)) {
		call = substr(rest, RSTART, RLENGTH)
		sub(/^[^a-z]/, "", call); sub(/[ \t]*\($/, "", call)
		printf "%s:%d: %s() is banned (use snprintf, memcpy with a checked length, strsep or strtol)\n", FILENAME, FNR, call
		found = 1
		rest = substr(rest, RSTART + RLENGTH)
	}
}
END { exit found ? 1 : 0 }
' $files
