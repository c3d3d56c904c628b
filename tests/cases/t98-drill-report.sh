# once: Chromium judges the drill report pages; the renderer itself runs in both passes (unit tests)
# The drill report (#16) as a browser reads it: the unit test drill_report_samples
# writes its sample pages (one drill, 100 drills, all failed, equal times, hostile
# records, no drill, no snapshot), headless Chromium builds each one's DOM
# (tests/tools/html_dom.sh), and the DOM must hold the expected rows, series and
# markers, no script, no event handler, no link out, while the page logs nothing to
# Chromium's console (a blocked load, a CSP violation, an SVG attribute it cannot use).
source "$(dirname "$0")/../lib.sh"
cd "$T" || exit 1
UNIT=${UNIT_TESTS:-${BUILD:-$HERE/../build/release}/unit-tests}
DOM=$HERE/tools/html_dom.sh
Q=$HERE/tools/dom_query.py

check "chromium is there to judge" command -v chromium
mkdir samples
EP_DRILL_SAMPLES=$T/samples "$UNIT" drill_report_samples >unit.out 2>&1
check "the unit test drill_report_samples passes, writing the samples" grep -q '^ok   - drill_report_samples$' unit.out
grep -o 'many.html: [0-9]* bytes' unit.out

# is SAMPLE SELECTOR N: N elements of SAMPLE's DOM match SELECTOR
is() {
	local got
	got=$(python3 "$Q" "$1.dom" count "$2")
	if [ "$got" = "$3" ]; then ok "$1: $3 of $2"; else not_ok "$1: $got of $2, wanted $3"; fi
}
# has SAMPLE SELECTOR TEXT: some element matching SELECTOR has exactly TEXT
has() {
	if python3 "$Q" "$1.dom" text "$2" | grep -qxF -- "$3"; then ok "$1: $2 says $3"; else
		not_ok "$1: no $2 says $3: $(python3 "$Q" "$1.dom" text "$2" | head -c 300)"
	fi
}

for s in one many allfail equal hostile empty nothing; do
	expect_exit 0 "$s: chromium builds its DOM" "$DOM" "samples/$s.html"
	cp "$T/out" "$s.dom"
	if [ -s "$T/err" ]; then not_ok "$s: the page logs to the console: $(head -c 400 "$T/err")"; else
		ok "$s: the page logs nothing to the console"
	fi
	is "$s" script 0
	check "$s: no event handler attribute" test "$(python3 "$Q" "$s.dom" handlers)" = 0
	check "$s: no link out of the page" test "$(python3 "$Q" "$s.dom" links)" = 0
	has "$s" "head title" "</title><script>alert(0)</script>"
done

is one "table#drills tbody tr.pass" 1
is one "table#drills tbody tr.fail" 0
is one "svg#rto-chart polyline" 1
is one "svg#rto-chart circle.fail" 0
is one "svg#timeline line.snap" 6

is many "table#drills tbody tr" 200
is many "table#drills tbody tr.fail" 10
is many "svg#rto-chart polyline" 2
is many "svg#rto-chart circle.fail" 10
is many "#consoles pre" 10
is many "svg#timeline line.snap.pass" 90
is many "svg#timeline line.snap.fail" 10
has many "#summary span.fail" "db FAILED"
has many "#summary span.pass" "web passed (RTO 7.00 s)"

is allfail "table#drills tbody tr.fail" 5
is allfail "table#drills tbody tr.pass" 0
is allfail "svg#rto-chart polyline" 1
is allfail "svg#rto-chart circle.fail" 5
is allfail "#consoles pre" 5

is equal "table#drills tbody tr" 6
is equal "svg#rto-chart polyline" 2
is equal "svg#rto-chart circle.fail" 1
is equal "svg#rto-chart text" 6 # 0 to 8 s by 2, and one time under the axis

# hostile: every string of the record comes back as the text it was, none as markup
is hostile "table#drills tbody tr" 2
is hostile "img" 0
is hostile "style" 1
has hostile "table#drills td" "<script>alert(1)</script>"
has hostile "table#drills td code" "'><svg onload=alert(3)>"
has hostile "table#drills li.fail" "✗ http '><svg onload=alert(3)> 1.50 s: <b>\"quoted\" & 'single'</b>"
has hostile "#consoles pre" "</pre><script>alert(2)</script>���� x �"
has hostile "#summary span.pass" "x\" onmouseover=\"alert(4) passed (RTO 3.00 s)"

has empty "p#no-drills" "No drill has run yet."
is empty "table" 0
is empty "svg#rto-chart" 0
is empty "svg#timeline line.snap" 6
has nothing "p#no-snapshots" "The store has no snapshots."

# the judge can fail: a page with a script, a handler and a bad SVG attribute
printf '<!DOCTYPE html><title>x</title><svg><polyline points="1,x"/></svg><img src=data:, onerror=1><script>1</script>\n' >bad.html
"$DOM" bad.html >bad.dom 2>bad.err
check "the judge hears a bad SVG attribute" grep -q 'attribute points' bad.err
check "the judge sees a script and a handler" test "$(python3 "$Q" bad.dom count script)$(python3 "$Q" bad.dom handlers)" = 11
finish
