#!/usr/bin/env bash
# Runs every test: the C unit tests, each tests/cases/*.sh, and a short run of
# each fuzz target when clang's libFuzzer is installed. Ends with one line
# "N passed, N failed"; exits non-zero when anything failed.
#
# TEST_JOBS cases run at once (default 2: most wait on servers, guests and disks
# more than they compute; each case has its own directory and ports). A case's
# output is printed whole when it ends, with its seconds; the largest scripts
# start first, so that the long cases do not end the run alone.
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

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
running=0
declare -A pending # the cases launched and not yet reported

launch() { # launch NAME CMD...: runs it in the background, its log and status under $results
	local name=$1
	shift
	(
		start=$EPOCHREALTIME
		"$@" >"$results/$name.log" 2>&1
		status=$?
		awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", b - a }' >"$results/$name.seconds"
		echo "$status" >"$results/$name.status.tmp" && mv "$results/$name.status.tmp" "$results/$name.status"
	) &
	pending[$name]=1
	running=$((running + 1))
}

report_ended() { # prints and tallies every case that has ended (CI has a time limit: its seconds too)
	local f name
	for f in "$results"/*.status; do
		[ -e "$f" ] || continue
		name=$(basename "$f" .status)
		echo "== $name"
		grep -v '^RESULT ' "$results/$name.log"
		tally "$name" "$results/$name.log" "$(cat "$f")"
		echo "== $name: $(cat "$results/$name.seconds") s"
		rm -f "$f" "$results/$name.log" "$results/$name.seconds"
		unset "pending[$name]"
		running=$((running - 1))
	done
}

wait_one() { # waits for a case to end; one killed before it wrote its status is a failure
	local name
	wait -n && return
	[ $? = 127 ] || return 0
	for name in "${!pending[@]}"; do # no child left, yet these never reported
		[ -e "$results/$name.status" ] && continue
		echo "FAIL - $name was killed before it ended"
		failed=$((failed + 1))
		unset "pending[$name]"
		running=$((running - 1))
	done
}

run() { # run NAME CMD...: waits for a free slot, then launches it
	while [ "$running" -ge "${TEST_JOBS:-2}" ]; do
		wait_one
		report_ended
	done
	launch "$@"
}

drain() { # waits for every case launched, reporting each
	while [ "$running" -gt 0 ]; do
		wait_one
		report_ended
	done
}

# The sanitizer pass (an ASan build) skips cases that test no envpack code of their own
# ("# once:" in their first lines: slow guest boots), and cases may skip such parts.
case $ENVPACK in */asan/*) export EP_SANITIZER_PASS=1 ;; esac
run unit "$UNIT_TESTS"
for t in $(ls -S tests/cases/*.sh); do
	if [ -n "${EP_SANITIZER_PASS:-}" ] && head -n 5 "$t" | grep -q '^# once:'; then
		echo "== $(basename "$t" .sh): runs in the release pass only ($(head -n 5 "$t" | sed -n 's/^# once: //p'))"
		continue
	fi
	run "$(basename "$t" .sh)" bash "$t"
done
drain
if [ "${FUZZ_SECONDS:-10}" != 0 ]; then # alone: each target uses every core
	run fuzz bash tests/fuzz/run.sh "${FUZZ_SECONDS:-10}"
	drain
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
