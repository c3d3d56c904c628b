#!/usr/bin/env bash
# Runs every test: the C unit tests, each tests/cases/*.sh, and a short run of
# each fuzz target when clang's libFuzzer is installed. Ends with one line
# "N passed, N failed"; exits non-zero when anything failed.
set -u
cd "$(dirname "$0")/.."
: "${ENVPACK:=$PWD/envpack}" "${UNIT_TESTS:=$PWD/build/release/unit-tests}"
export ENVPACK
passed=0
failed=0

tally() { # tally NAME LOGFILE STATUS
	local line p f
	line=$(grep -E '^RESULT [0-9]+ [0-9]+$' "$2" | tail -n 1)
	if [ -z "$line" ]; then
		echo "FAIL - $1 ended without a result (exit $3)"
		failed=$((failed + 1))
		return
	fi
	read -r _ p f <<<"$line"
	passed=$((passed + p))
	failed=$((failed + f))
}

run() { # run NAME CMD...: its checks, then how long it took (CI has a time limit)
	local name=$1 log status start
	shift
	log=$(mktemp)
	echo "== $name"
	start=$EPOCHREALTIME
	"$@" 2>&1 | tee "$log" | grep -v '^RESULT '
	status=${PIPESTATUS[0]}
	tally "$name" "$log" "$status"
	awk -v n="$name" -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "== %s: %.1f s\n", n, b - a }'
	rm -f "$log"
}

# The sanitizer pass (an ASan build) skips cases that test no envpack code of their own
# ("# once:" in their first lines: slow guest boots), and cases may skip such parts.
case $ENVPACK in */asan/*) export EP_SANITIZER_PASS=1 ;; esac
run unit "$UNIT_TESTS"
for t in tests/cases/*.sh; do
	if [ -n "${EP_SANITIZER_PASS:-}" ] && head -n 5 "$t" | grep -q '^# once:'; then
		echo "== $(basename "$t" .sh): runs in the release pass only ($(head -n 5 "$t" | sed -n 's/^# once: //p'))"
		continue
	fi
	run "$(basename "$t" .sh)" bash "$t"
done
if [ "${FUZZ_SECONDS:-10}" != 0 ]; then
	run fuzz bash tests/fuzz/run.sh "${FUZZ_SECONDS:-10}"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
