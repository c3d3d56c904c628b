#!/usr/bin/env bash
# html_dom.sh FILE: the DOM headless Chromium builds from the page FILE, serialised, on
# stdout; on stderr, and nothing else there, each message the page logged to its console
# (script errors, blocked loads and CSP violations, SVG attributes Chromium cannot use),
# so that a page judged clean leaves stderr empty. Exits 1 when Chromium gives no DOM.
set -u
[ $# = 1 ] && [ -f "$1" ] || { echo "usage: html_dom.sh FILE" >&2; exit 2; }
url=$(python3 -c 'import pathlib, sys; print(pathlib.Path(sys.argv[1]).resolve().as_uri())' "$1") || exit 2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/html_dom.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
# --no-sandbox: Chromium's sandbox will not start as root, and the tests run as root.
# A profile of its own: nothing from an earlier run, nothing left behind.
timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$tmp/profile" \
	--enable-logging=stderr --v=0 --dump-dom "$url" >"$tmp/dom" 2>"$tmp/log"
status=$?
# Chromium's own noise (D-Bus, GPU) is not the page's; its console lines are.
grep -a ':CONSOLE' "$tmp/log" | sed 's/^\[[^]]*\] //' >&2
if [ "$status" != 0 ] || ! grep -q '<html' "$tmp/dom"; then
	echo "html_dom.sh: chromium gave no DOM for $1 (exit $status): $(grep -av ':CONSOLE' "$tmp/log" | tail -n 3)" >&2
	exit 1
fi
cat "$tmp/dom"
