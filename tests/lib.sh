# Sourced by every tests/cases/*.sh. Each check prints "ok - NAME" or "FAIL - NAME";
# `finish` prints "RESULT passed failed" for tests/run.sh to add up.
set -u
: "${ENVPACK:?ENVPACK must point at the envpack binary}"
PASS=0
FAIL=0
T=$(mktemp -d "${TMPDIR:-/tmp}/envpack-test.XXXXXX")
trap 'chmod -R u+rwx "$T" 2>/dev/null; rm -rf "$T"' EXIT
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export ENVPACK_STATE_DIR=$T/state # what envpack remembers of stores (rollback protection), per test

ok() { PASS=$((PASS + 1)); echo "ok   - $*"; }
not_ok() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }

# check NAME CMD...: passes when CMD succeeds.
check() {
	local name=$1
	shift
	if "$@" >"$T/check.out" 2>&1; then ok "$name"; else not_ok "$name: $(head -c 400 "$T/check.out")"; fi
}

# expect_exit CODE NAME CMD...: passes when CMD exits with CODE; its stdout and
# stderr stay in $T/out and $T/err for further checks.
expect_exit() {
	local want=$1 name=$2
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	local got=$?
	if [ "$got" = "$want" ]; then ok "$name"; else not_ok "$name (exit $got, wanted $want): $(head -c 400 "$T/err")"; fi
}

# expect_err PATTERN NAME: the last expect_exit's stderr matches PATTERN (grep -E).
expect_err() {
	if grep -qE -- "$1" "$T/err"; then ok "$2"; else not_ok "$2: stderr was: $(head -c 400 "$T/err")"; fi
}

# A sparse raw disk with data at scattered offsets: make_disk PATH SIZE
make_disk() {
	truncate -s "$2" "$1"
	local off
	for off in 0 3 17 40; do
		head -c 1500000 /dev/urandom | dd of="$1" bs=1M seek="$off" conv=notrunc status=none
	done
	dd if=/usr/bin/env of="$1" bs=1M seek=60 conv=notrunc status=none
}

# flip_byte FILE OFFSET: inverts one byte in place (writing a given byte could leave it as it was)
flip_byte() {
	python3 -c 'import sys; f = open(sys.argv[1], "r+b"); o = int(sys.argv[2]); f.seek(o); b = f.read(1); assert b, "past the end"; f.seek(o); f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}

finish() { echo "RESULT $PASS $FAIL"; }

# jq_ EXPR FILE: a Python expression over the JSON in FILE (as d), printed
jq_() { python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print($1)" "$2"; }
