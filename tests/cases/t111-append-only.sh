#!/usr/bin/env bash
# Append-only backup hosts (#17, item 1; formats/STORE.md sections 1, 4, 5) judged by a real
# S3 server enforcing a bucket policy: Ceph's radosgw (tests/radosgw.sh), a user "ao" that may
# get, put and list but is denied s3:DeleteObject*.
#   1. as ao: backup --init, a second backup (incremental), three at once (sequence claims
#      racing), a slow one (its chunk PUTs held by a proxy) holding the store while its lock
#      record is refreshed, snapshots, restore byte for byte, verify, inspect, diff, export,
#      check --read-data, a drill record (drill-put, as `envpack drill` stores it):
#      radosgw's log shows not one DELETE from it
#   2. the lock still excludes with records only added: the admin's prune while ao's slow
#      backup holds the store is refused, naming it; with --lock-wait it waits, then runs
#   3. forget, forget --prune, forget --drill, prune as ao: exit 1 at once, the message, the
#      same objects before and after, only the probe DELETEs (refused) sent; forget --dry-run,
#      forget --prune --dry-run and prune --dry-run as ao run, print their plan and warn once
#      that this credential cannot delete, removing nothing
#   4. the admin's prune removes the lock records and the losing claims ao left; the store
#      checks clean and restores
. "$(dirname "$0")/../lib.sh"
. "$HERE/radosgw.sh"
PUT=${DRILL_PUT:-${BUILD:-$HERE/../build/release}/drill-put}

start_radosgw g || { not_ok "start radosgw"; finish; exit 0; }
ok "radosgw at $S3_G_ENDPOINT, started in $RGW_START_SECONDS s"
B=$S3_G_BUCKET
E=$S3_G_ENDPOINT
A=s3://$B/ao/store
radosgw_append_only g ao || not_ok "make the append-only user"
# as UID CMD ARGS...: CMD with UID's keys (admin: the bucket's owner), nothing from ~/.aws
as() {
	local envs
	envs=$(radosgw_env g "$1") || return 2
	shift
	# shellcheck disable=SC2046 # one word a line, no spaces
	env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL_S3 $envs AWS_CONFIG_FILE=/dev/null \
		AWS_SHARED_CREDENTIALS_FILE=/dev/null "$@"
}
ep() { local u=$1; shift; as "$u" timeout -k 5 300 "$ENVPACK" "$@"; }
keys() { rgw_call g admin --keys "$B" "$1"; } # keys PREFIX: as botocore lists them, one a line
nkeys() { keys "$1" | grep -cE "${2:-.}"; }
# DELETEs radosgw was sent under ao/ so far, but the admin's probes (allowed: 204)
deletes() { s3_requests g " DELETE /$B/ao/" | grep -vc '/\.envpack-delete-probe 204$'; }
# live_locks: how many lock holders have not released (their newest record no release)
live_locks() { keys ao/store/locks/ | python3 "$HERE/tools/live_locks.py"; }

"$ENVPACK" keygen -o "$T/k" >/dev/null
seeded() { python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(int(sys.argv[1])).randbytes(int(sys.argv[2])))' "$@"; }
truncate -s 48M "$T/d.raw"
seeded 21 $((16 << 20)) | dd of="$T/d.raw" bs=1M seek=2 conv=notrunc status=none
mkdir -p "$T/tree/sub" && echo one >"$T/tree/sub/a.txt"

# 0. the policy holds: radosgw refuses ao's DELETE even of a key that is no object (what the probe asks)
check "radosgw refuses ao's DeleteObject of a key that is no object (403 AccessDenied)" \
	test "$(rgw_call g ao DeleteObject "{\"Bucket\": \"$B\", \"Key\": \"ao/nothing\"}")" = "ERROR 403 AccessDenied"
check "and lets the admin's through (204)" rgw_call g admin DeleteObject "{\"Bucket\": \"$B\", \"Key\": \"ao/nothing\"}"
base=$(deletes)

# 1. every command a backup host runs, as ao
expect_exit 0 "backup --init as ao" ep ao backup --init -k "$T/k.key" --json --endpoint "$E" "$A" "disk:$T/d.raw" "iac:$T/tree"
cp "$T/out" "$T/b1.json"
cp "$T/d.raw" "$T/d1.raw"
seeded 22 $((300 << 10)) | dd of="$T/d.raw" bs=100K seek=90 conv=notrunc status=none
echo two >"$T/tree/sub/b.txt"
expect_exit 0 "a second backup as ao" ep ao backup -k "$T/k.key" --json --endpoint "$E" "$A" "disk:$T/d.raw" "iac:$T/tree"
check "incremental: a few chunks added ($(jq_ 'd["added_chunks"]' "$T/out")), the rest reused" \
	test "$(jq_ '0 < d["added_chunks"] <= 8 and d["reused_chunks"] > 0' "$T/out")" = True
pids=()
for i in 1 2 3; do
	ep ao backup -q --json -k "$T/k.key" --endpoint "$E" "$A" "iac:$T/tree" >"$T/seq$i.json" &
	pids+=($!)
done
wait "${pids[@]}"
check "three backups at once as ao take three sequence numbers" \
	test "$(cat "$T"/seq[1-3].json | python3 -c 'import json, sys; print(len({json.loads(l)["sequence"] for l in sys.stdin}))')" = 3
# a slow one: its chunk PUTs held 2 s each by a proxy (tests/tools/s3_fault.py), its record
# refreshed every second while it holds the store
seeded 23 $((16 << 20)) | dd of="$T/d.raw" bs=1M seek=24 conv=notrunc status=none
if start_s3_fault w g slow 2 --match 'PUT /[^ ]*/ao/store/chunks/'; then
	# shellcheck disable=SC2046 # one word a line, no spaces; env execs envpack: $! is its pid
	env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL $(radosgw_env g ao | grep -v ENDPOINT) AWS_CONFIG_FILE=/dev/null \
		AWS_SHARED_CREDENTIALS_FILE=/dev/null ENVPACK_LOCK_REFRESH_SECONDS=1 ENVPACK_LOCK_STALE_SECONDS=60 \
		"$ENVPACK" backup -q -k "$T/k.key" --endpoint "$S3_W_ENDPOINT" "$A" "disk:$T/d.raw" "iac:$T/tree" 2>"$T/held.err" &
	held=$!
	for _ in $(seq 100); do # its first record is there: it holds the store
		[ "$(nkeys ao/store/locks/ "[-]$held-[0-9a-f]{16}-000000\.json")" = 1 ] && break
		sleep 0.2
	done

	# 2. the lock still excludes, with records only added
	expect_exit 1 "the admin's prune while ao's backup holds the store is refused" ep admin prune --endpoint "$E" "$A"
	expect_err "is locked by backup \(pid $held on $(hostname)" "naming the holder"
	expect_exit 0 "prune --lock-wait waits for it, then runs" ep admin prune -q --dry-run --lock-wait 120 --endpoint "$E" "$A"
	check "the backup it waited for had finished by then" bash -c '! kill -0 "$1" 2>/dev/null' _ "$held"
	wait "$held"
	check "and succeeded ($?)" test $? = 0
	check "its record was refreshed: $(nkeys ao/store/locks/ "[-]$held-[0-9a-f]{16}-[0-9]{6}\.json") records of one holder, none removed" \
		test "$(nkeys ao/store/locks/ "[-]$held-[0-9a-f]{16}-[0-9]{6}\.json")" -ge 3
	check "and released" test "$(nkeys ao/store/locks/ "[-]$held-[0-9a-f]{16}-[0-9]{6}-released\.json")" = 1
	stop_s3 w
else
	not_ok "start the slow proxy"
fi

expect_exit 0 "snapshots as ao" ep ao snapshots --json --endpoint "$E" "$A"
check "six snapshots" test "$(jq_ 'len(d)' "$T/out")" = 6
first=$(jq_ 'd[0]["id"]' "$T/out")
expect_exit 0 "restore the latest as ao" ep ao restore -q -p "$T/k.pub" --endpoint "$E" "$A@latest" --to "dir:$T/r2"
check "the disk byte for byte" cmp "$T/d.raw" "$T/r2/d.raw"
check "and the tree" diff -r "$T/tree" "$T/r2/tree"
expect_exit 0 "restore the first as ao" ep ao restore -q -p "$T/k.pub" --endpoint "$E" "$A@${first:0:8}" --to "dir:$T/r1"
check "the first disk byte for byte" cmp "$T/d1.raw" "$T/r1/d.raw"
expect_exit 0 "verify --deep as ao" ep ao verify -p "$T/k.pub" --deep --endpoint "$E" "$A@latest"
expect_exit 0 "inspect as ao" ep ao inspect --json --endpoint "$E" "$A@latest"
expect_exit 0 "diff as ao" ep ao diff --json --endpoint "$E" "$A@${first:0:8}" "$A@latest"
check "diff: the file added" grep -q '"sub/b.txt"' "$T/out"
expect_exit 0 "export as ao" ep ao export -q -p "$T/k.pub" --endpoint "$E" "$A@latest" -o "$T/e.envpack"
expect_exit 0 "the export verifies --deep" "$ENVPACK" verify -p "$T/k.pub" --deep "$T/e.envpack"
if [ -x "$PUT" ]; then
	latest=$(ep ao snapshots --json --endpoint "$E" "$A" | python3 -c 'import json, sys; print(json.load(sys.stdin)[-1]["id"])')
	python3 - "$latest" >"$T/drill.json" <<'PY'
import json, sys
print(json.dumps({"kind": "envpack-drill", "version": 1, "snapshot": sys.argv[1], "snapshot_time": "2026-12-07T03:00:00Z",
                  "snapshot_name": "env", "started": "2026-12-07T04:00:00Z", "host": "dr1", "passed": True,
                  "machines": [{"name": "web", "passed": True, "rto_seconds": 7.5, "checks": []}]}))
PY
	expect_exit 0 "a drill record as ao (drill-put: its lock, the signature, the record)" \
		as ao env AWS_ENDPOINT_URL="$E" "$PUT" "$A" "$T/k.key" "$T/drill.json"
	check "drills/ holds the record and its signature" test "$(nkeys ao/store/drills/)" = 2
else
	not_ok "no drill-put tool at $PUT (make $PUT)"
fi
expect_exit 0 "check --read-data as ao" ep ao check --read-data -p "$T/k.pub" --json --endpoint "$E" "$A"
check "clean, the drill record counted" test "$(jq_ 'd["ok"], d["snapshots"], d["drills"], d["problems"]' "$T/out")" = "True 6 1 []"
check "not one DELETE was sent to radosgw for all of it" test "$(($(deletes) - base))" = 0
check "no lock held" test "$(live_locks)" = 0
claims=$(nkeys ao/store/claims/)
locks=$(nkeys ao/store/locks/)
echo "# append-only: after section 1, $locks lock records and $claims claims (six snapshots)"

# 3. what removes refuses ao at once, changing nothing
keys ao/ >"$T/before"
base=$(deletes)
s3_requests g " DELETE /$B/ao/" >"$T/deletes-before"
msg="store '$A': this credential cannot delete objects \(s3: DELETE s3://$B/ao/store/snapshots/\.envpack-delete-probe: 403 AccessDenied[^)]*\), and %s removes them: run it with a credential that can; an append-only one serves backup, restore, check and the other commands, not forget or prune\. Nothing was changed"
expect_exit 1 "forget as ao fails at once" ep ao forget --endpoint "$E" "$A" --keep-last 1
expect_err "$(printf "$msg" forget)" "saying the credential cannot delete, and to run forget with one that can"
expect_exit 1 "forget --prune as ao" ep ao forget --prune --endpoint "$E" "$A" --keep-last 1
expect_err "$(printf "$msg" forget)" "likewise"
expect_exit 1 "forget of a snapshot by id as ao" ep ao forget --endpoint "$E" "$A" "${first:0:8}"
expect_exit 1 "forget --drill as ao" ep ao forget --drill --endpoint "$E" "$A" "$(keys ao/store/drills/ | head -n 1 | sed 's|.*/||' | cut -c1-8)"
expect_err "$(printf "$msg" forget)" "likewise"
expect_exit 1 "prune as ao" ep ao prune --endpoint "$E" "$A"
expect_err "$(printf "$msg" prune)" "saying the credential cannot delete, and to run prune with one that can"
start=$(date +%s)
expect_exit 1 "prune --lock-wait 60 as ao fails at once too" ep ao prune --lock-wait 60 --endpoint "$E" "$A"
check "not waiting ($(($(date +%s) - start)) s)" test $(($(date +%s) - start)) -le 10
keys ao/ >"$T/after"
check "the same objects before and after: no lock record, nothing removed" cmp "$T/before" "$T/after"
check "the only DELETEs sent were the probes ($(($(deletes) - base)), one a run), each refused" \
	test "$(s3_requests g " DELETE /$B/ao/" | tail -n +$(($(wc -l <"$T/deletes-before") + 1)) | grep -vcE " DELETE /$B/ao/store/snapshots/\.envpack-delete-probe 403$")" = 0
check "one a run (6 runs)" test "$(($(deletes) - base))" = 6
# a dry run removes nothing: it runs, and says once that the real one would fail
warned="warning: store '$A': this credential cannot delete objects \(s3: DELETE s3://$B/ao/store/snapshots/\.envpack-delete-probe: 403 AccessDenied[^)]*\): %s without --dry-run would fail with it; run that with a credential that can"
expect_exit 0 "forget --dry-run as ao runs" ep ao forget --dry-run --json --endpoint "$E" "$A" --keep-last 1
check "giving its plan: $(jq_ 'len(d["remove"])' "$T/out") would be removed, $(jq_ 'len(d["keep"])' "$T/out") kept" \
	test "$(jq_ 'd["dry_run"], len(d["remove"]) > 0, len(d["keep"]) > 0' "$T/out")" = "True True True"
expect_err "$(printf "$warned" forget)" "warning that forget without --dry-run would fail with this credential"
check "once" test "$(grep -c 'cannot delete' "$T/err")" = 1
expect_exit 0 "forget --prune --dry-run as ao runs" ep ao forget --prune --dry-run --json --endpoint "$E" "$A" --keep-last 1
check "giving what prune would remove too" test "$(jq_ 'd["prune"]["dry_run"], len(d["remove"]) > 0' "$T/out")" = "True True"
check "warning once" test "$(grep -c 'cannot delete' "$T/err")" = 1
expect_exit 0 "prune --dry-run --json as ao runs" ep ao prune --dry-run --json --endpoint "$E" "$A"
check "its plan: nothing to remove but what the admin's prune would (the lock records are left to it)" \
	test "$(jq_ 'd["prune"]["dry_run"], d["prune"]["chunks_removed"], d["prune"]["chunks_kept"] > 0' "$T/out")" = "True 0 True"
expect_err "$(printf "$warned" prune)" "warning that prune without --dry-run would fail with this credential"
check "once" test "$(grep -c 'cannot delete' "$T/err")" = 1
keys ao/ | grep -v /locks/ >"$T/after-dry"
check "the dry runs removed nothing, and added nothing but their lock records" \
	cmp <(grep -v /locks/ "$T/before") "$T/after-dry"
check "which are released" test "$(live_locks)" = 0
check "the only DELETEs sent were their probes, each refused (3)" test "$(($(deletes) - base))" = 9

# 4. the admin's prune removes what ao left behind
locks=$(nkeys ao/store/locks/) # the dry runs' too
expect_exit 0 "the admin's prune" ep admin prune --json --endpoint "$E" "$A"
check "removes the lock records of every released holder ($(jq_ 'd["prune"]["lock_records_removed"]' "$T/out") of $locks)" \
	test "$(jq_ 'd["prune"]["lock_records_removed"]' "$T/out")" = "$locks"
check "leaving its own record and release" test "$(nkeys ao/store/locks/) $(live_locks)" = "2 0"
check "and one claim, the highest, of the $claims" test "$(nkeys ao/store/claims/)" = 1
expect_exit 0 "the admin's forget --keep-last 1 --prune" ep admin forget -q --endpoint "$E" "$A" --keep-last 1 --prune
expect_exit 0 "a backup as ao after it" ep ao backup -q -k "$T/k.key" --endpoint "$E" "$A" "disk:$T/d.raw" "iac:$T/tree"
expect_exit 0 "check --read-data as ao" ep ao check -q --read-data -p "$T/k.pub" --endpoint "$E" "$A"
expect_exit 0 "restore as ao" ep ao restore -q -p "$T/k.pub" --endpoint "$E" "$A@latest" --to "dir:$T/r3"
check "byte for byte" cmp "$T/d.raw" "$T/r3/d.raw"

finish
