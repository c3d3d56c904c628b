#!/usr/bin/env bash
# Drill records in a store (#16; formats/STORE.md, section 9), written as `envpack drill -k KEY`
# will write them, through tests/tools/drill-put (built by the Makefile, never installed):
# `snapshots` shows each snapshot's latest drill by its start (text and --json) from records
# whose signature holds, warning once of the others; `check` fails (exit 3) on a record with a
# changed byte, another key's signature or the wrong shape, naming its file and the command
# that removes it, but without -p only notes a record whose signer this host does not trust;
# `forget --drill ID` removes a record whatever its state; `forget` leaves the records of what
# it removes, `prune` removes them (and a signature whose record never appeared), counted; the
# same on an encrypted store and on s3://.
. "$(dirname "$0")/../lib.sh"
PUT=${DRILL_PUT:-${BUILD:-$HERE/../build/release}/drill-put}
[ -x "$PUT" ] || { not_ok "no drill-put tool at $PUT (make $PUT)"; finish; exit 0; }
cd "$T" || exit 1
ep() { "$ENVPACK" "$@"; }
# py EXPR FILE: a Python expression over d, the JSON in FILE
py() { python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print($1)" "$2"; }
# rec SNAPSHOT STARTED PASSED [WEB_RTO DB_RTO]: a record as `envpack drill` writes it; a
# failed drill's db machine did not come up (no RTO)
rec() {
	python3 - "$@" <<'PY'
import json, sys
snap, started, passed = sys.argv[1], sys.argv[2], sys.argv[3] == "true"
web, db = (float(sys.argv[4]), float(sys.argv[5])) if len(sys.argv) > 5 else (7.42, 3.0)
dbm = {"name": "db", "passed": passed, "checks": [{"kind": "tcp", "target": "5432", "passed": passed, "seconds": 2.5,
       "detail": "" if passed else "connection refused"}], "console_tail": "db login:" if passed else "<script>panic</script>"}
if passed:
    dbm["rto_seconds"] = db
print(json.dumps({"kind": "envpack-drill", "version": 1, "snapshot": snap, "snapshot_time": "2026-12-07T03:00:00Z",
                  "snapshot_name": "web-env", "started": started, "host": "dr1", "passed": passed,
                  "integrity_failure": False,
                  "machines": [{"name": "web", "passed": True, "rto_seconds": web, "bytes_read": 123456,
                                "checks": [{"kind": "serial", "target": "ENVPACK-BOOT-OK", "passed": True,
                                            "seconds": 3.1, "detail": ""}], "console_tail": "login:"}, dbm]}))
PY
}
ndrills() { find "$1/drills" -type f 2>/dev/null | wc -l; }
# row PREFIX FILE: the table row of the snapshot whose id starts with PREFIX
row() { grep "^${1:0:8} " "$2"; }
export -f row

ep keygen -o k >/dev/null && ep keygen -o other >/dev/null
mkdir -p trusted empty && cp k.pub trusted/
head -c 3000000 /dev/urandom >d.raw
S=$T/st
ep backup --init -q -k k.key "$S" disk:d.raw && head -c 100000 /dev/urandom >>d.raw && ep backup -q -k k.key "$S" disk:d.raw ||
	not_ok "two backups"
ep snapshots --json "$S" >snaps.json
A=$(py 'd[0]["id"]' snaps.json)
B=$(py 'd[1]["id"]' snaps.json)

# 1. no drill yet
check "before any drill, every snapshot's last_drill is null" test "$(py '[s["last_drill"] for s in d]' snaps.json)" = "[None, None]"
expect_exit 0 "snapshots (table)" ep snapshots -p k.pub "$S"
check "has a DRILL column, '-' for each" bash -c 'head -1 "$1" | grep -q "  DRILL  " && row "$2" "$1" | grep -q "  -  " && row "$3" "$1" | grep -q "  -  "' _ "$T/out" "$A" "$B"

# 2. records put out of order: A's latest (by start) failed, B's passed with its slowest machine's RTO
rec "$A" 2026-12-07T06:00:00Z false >a-late.json
rec "$A" 2026-12-07T04:00:00Z true >a-early.json
rec "$A" 2026-12-07T05:00:00Z true 5 4 >a-mid.json
rec "$B" 2026-12-07T05:30:00Z true 2 12.3 >b.json
ok=1
for r in a-late a-early a-mid b; do
	"$PUT" "$S" k.key "$r.json" >"$r.id" 2>"$T/err" || ok=0
done
check "drill-put stores four records (eight objects)" test "$ok $(ndrills "$S")" = "1 8"
IDB=$(cat b.id)
IDL=$(cat a-late.id)
check "a record is drills/<id>.json, <id> the SHA-256 of its bytes, with drills/<id>.sig" \
	bash -c 'test "$(sha256sum <"$1/drills/$2.json" | cut -c1-64)" = "$2" && test -s "$1/drills/$2.sig"' _ "$S" "$IDB"
check "the record's bytes are what was put (compact, numbers as written)" python3 -c '
import json, sys
assert json.load(open(sys.argv[1])) == json.load(open(sys.argv[2]))
assert b"\"rto_seconds\":12.3}" in open(sys.argv[1], "rb").read()' "$S/drills/$IDB.json" b.json
# formats/STORE.md, section 7, by hand: each record answers to its name and openssl verifies its signature
check "sha256sum and openssl check every record as STORE.md says" bash -c 'cd "$1" && for r in drills/*.json; do
	[ "drills/$(sha256sum <"$r" | cut -c1-64).json" = "$r" ] || exit 1
	python3 -c "import json, base64, sys; sys.stdout.buffer.write(base64.b64decode(json.load(open(sys.argv[1]))[\"signature\"]))" \
		"${r%.json}.sig" >"$2/sig.bin"
	openssl pkeyutl -verify -pubin -inkey "$2/k.pub" -rawin -in "$r" -sigfile "$2/sig.bin" >/dev/null || exit 1
done' _ "$S" "$T"
expect_exit 0 "snapshots --json -p KEY" ep snapshots --json -p k.pub "$S"
cp "$T/out" drilled.json
check "A's last_drill is its latest by start: failed" test "$(py 'd[0]["last_drill"]' drilled.json)" = \
	"{'id': '$IDL', 'started': '2026-12-07T06:00:00Z', 'passed': False, 'rto_seconds': 7.42}"
check "B's passed, its RTO the slowest machine's" test "$(py 'd[1]["last_drill"]' drilled.json)" = \
	"{'id': '$IDB', 'started': '2026-12-07T05:30:00Z', 'passed': True, 'rto_seconds': 12.3}"
check "and nothing is warned of" test ! -s "$T/err"
expect_exit 0 "snapshots -p KEY (table)" ep snapshots -p k.pub "$S"
check "A: FAILED, B: ok 12.3s" bash -c 'row "$2" "$1" | grep -q "  FAILED  " && row "$3" "$1" | grep -q "  ok 12.3s  "' _ "$T/out" "$A" "$B"
expect_exit 0 "snapshots without -p, the key in the trusted-keys directory" env ENVPACK_TRUSTED_KEYS="$T/trusted" "$ENVPACK" snapshots --json "$S"
check "shows the same" python3 -c 'import json, sys; assert json.load(open(sys.argv[1])) == json.load(open(sys.argv[2]))' "$T/out" drilled.json
expect_exit 0 "snapshots with no trusted key" env ENVPACK_TRUSTED_KEYS="$T/empty" "$ENVPACK" snapshots "$S"
check "shows no drill result" bash -c 'row "$2" "$1" | grep -q "  -  " && row "$3" "$1" | grep -q "  -  "' _ "$T/out" "$A" "$B"
check "and warns once, counting them" bash -c 'test "$(grep -c warning "$1")" = 1 && grep -q "4 drill records cannot be verified.*drills/[0-9a-f]\{64\}\.json.*no trusted key" "$1"' _ "$T/err"
expect_exit 0 "snapshots -q with no trusted key" env ENVPACK_TRUSTED_KEYS="$T/empty" "$ENVPACK" snapshots -q "$S"
check "warns of nothing" test ! -s "$T/err"

# 3. check: every record verified
expect_exit 0 "check -p KEY" ep check -p k.pub --json "$S"
check "--json counts 4 drill records, none bad, none without its snapshot" \
	test "$(py 'd["ok"], d["drills"], d["bad_drills"], d["drills_without_snapshot"]' "$T/out")" = "True 4 0 0"
# without -p on a host that trusts no key (HOME and XDG_CONFIG_HOME empty): as snapshots'
# signatures are not checked then, the records are not verified, and that is no problem
mkdir -p "$T/nokeys"
notrust() { env -u ENVPACK_TRUSTED_KEYS HOME="$T/nokeys" XDG_CONFIG_HOME="$T/nokeys" "$ENVPACK" "$@"; }
expect_exit 0 "check without -p, no trusted key: the records are not verified, no problem (exit 0)" notrust check "$S"
expect_err "^envpack: check: note: 4 drill records signed by a key this host does not trust: not verified \(give -p KEY.pub, or add the key to $T/nokeys/envpack/trusted-keys\)$" \
	"a note says so, counting them, and how to trust their key"
check "once, and names no record as a problem" test "$(wc -l <"$T/err")" = 1
expect_exit 0 "check --json without -p, no trusted key" notrust check --json "$S"
check "--json counts them as drills_unverified, none bad" \
	test "$(py 'd["ok"], d["drills"], d["drills_unverified"], d["bad_drills"], d["problems"]' "$T/out")" = "True 4 4 0 []"
expect_exit 0 "check -q without -p, no trusted key" notrust check -q "$S"
check "says nothing" test ! -s "$T/err"

# 4. a record signed by another key, the newest of B's: not shown, a problem for check
rec "$B" 2026-12-07T07:00:00Z false >b-forged.json
IDF=$("$PUT" "$S" other.key b-forged.json)
expect_exit 0 "snapshots with a record another key signed" ep snapshots -p k.pub "$S"
check "B still shows its last verified drill" bash -c 'row "$2" "$1" | grep -q "  ok 12.3s  "' _ "$T/out" "$B"
expect_err "warning: 1 drill record cannot be verified, so it is not shown: '$S/drills/$IDF.json'" "warns, naming its file"
# locks/ changes with every run that takes the lock; the objects must not
listing() { find "$1" -path "$1/locks" -prune -o -type f -printf '%P %s %T@\n' | sort; }
export -f listing
listing "$S" >before.ls
expect_exit 3 "check fails on it (exit 3)" ep check -p k.pub "$S"
expect_err "drill record file '$S/drills/$IDF.json' cannot be used: .*signed by key [0-9a-f]{16}, checked against key" "naming its file and why"
expect_err "drills/$IDF.json' cannot be used: .* \(remove it with 'envpack forget $S --drill ${IDF:0:8}'\)$" "and the command that removes it"
check "and writes nothing" bash -c 'listing "$1" | diff -q - "$2"' _ "$S" before.ls
expect_exit 0 "check without -p, trusting k only: the other key's record is not verified, no problem" \
	env ENVPACK_TRUSTED_KEYS="$T/trusted" "$ENVPACK" check --json "$S"
check "--json: 5 drill records, 1 not verified, none bad" \
	test "$(py 'd["ok"], d["drills"], d["drills_unverified"], d["bad_drills"]' "$T/out")" = "True 5 1 0"
expect_err "^envpack: check: note: 1 drill record signed by a key this host does not trust: not verified \(give -p KEY.pub, or add the key to $T/trusted\)$" "a note counts it"
# its signer trusted, its signature changed: a problem, with or without -p
mkdir -p both && cp k.pub other.pub both/
python3 -c 'import json, sys
d = json.load(open(sys.argv[1])); v = d["signature"]
d["signature"] = v[:20] + ("B" if v[20] != "B" else "C") + v[21:]
json.dump(d, open(sys.argv[1], "w"))' "$S/drills/$IDF.sig"
objects() { ls -lR --full-time "$S/chunks" "$S/snapshots" "$S/drills"; } # not locks/: each run writes its record there
objects >objects.ls
expect_exit 3 "check without -p, its signer trusted, its signature changed: a problem (exit 3)" \
	env ENVPACK_TRUSTED_KEYS="$T/both" "$ENVPACK" check "$S"
expect_err "drill record file '$S/drills/$IDF.json' cannot be used: .*the signature does not match key .* \(remove it with 'envpack forget $S --drill ${IDF:0:8}'\)$" \
	"naming its file, why, and the command that removes it"
check "and no note: its signer is trusted" bash -c '! grep -q "note:" "$1"' _ "$T/err"
# forget --drill: the record removed whatever its state, under the exclusive lock
expect_exit 0 "forget --drill ID --dry-run" ep forget "$S" --drill "${IDF:0:8}" --dry-run --json
check "--json says it would remove it, naming its file" \
	test "$(py 'd["dry_run"], d["remove"]' "$T/out")" = "True [{'id': '$IDF', 'file': '$S/drills/$IDF.json'}]"
check "and removes nothing" bash -c 'diff -q - "$1" <<<"$2"' _ objects.ls "$(objects)"
expect_exit 2 "forget --drill with an id the store has no record of (exit 2)" ep forget "$S" --drill "${IDF:0:8}" 0123abcd
expect_err "store '$S' has no drill record 0123abcd" "naming the id"
check "and removes nothing, not even the record named before it" bash -c 'diff -q - "$1" <<<"$2"' _ objects.ls "$(objects)"
expect_exit 2 "forget --drill with no id is a usage error" ep forget "$S" --drill
expect_err "forget: --drill takes drill record ids alone" "saying so"
expect_exit 2 "forget --drill with a policy is a usage error" ep forget "$S" --drill "${IDF:0:8}" --keep-last 1
expect_err "forget: --drill takes drill record ids alone \(no policy, no --prune\)" "saying so"
check "and removes nothing" bash -c 'diff -q - "$1" <<<"$2"' _ objects.ls "$(objects)"
flock -o -s "$S/lock" sleep 20 &
holder=$!
sleep 0.5
expect_exit 1 "forget --drill while another run shares the store fails at once (the exclusive lock)" ep forget "$S" --drill "${IDF:0:8}"
expect_err "locked" "saying it is locked"
kill "$holder" && wait "$holder" 2>/dev/null
check "and removes nothing" test -e "$S/drills/$IDF.json" -a -e "$S/drills/$IDF.sig"
expect_exit 0 "forget --drill ID" ep forget "$S" --drill "${IDF:0:8}" --json
check "--json lists it" test "$(py 'd["dry_run"], [r["id"] for r in d["remove"]]' "$T/out")" = "False ['$IDF']"
check "removes the record and its signature, and nothing else" test ! -e "$S/drills/$IDF.json" -a ! -e "$S/drills/$IDF.sig" -a "$(ndrills "$S")" = 8
expect_exit 0 "check passes after (-p KEY)" ep check -p k.pub "$S"
expect_exit 0 "check passes after (without -p, both keys trusted)" env ENVPACK_TRUSTED_KEYS="$T/both" "$ENVPACK" check "$S"
check "with no note" test ! -s "$T/err"
cp "$S/drills/$IDB.sig" b.sig
expect_exit 2 "the same record put again signed by another key is refused (exit 2)" "$PUT" "$S" other.key b.json
expect_err "drills/$IDB.sig is there already with another signature" "saying so"
check "and its signature is not replaced (create-only)" cmp b.sig "$S/drills/$IDB.sig"
expect_exit 0 "the same record put again by the same key is no failure" "$PUT" "$S" k.key b.json
check "the same object" test "$(cat "$T/out") $(ndrills "$S")" = "$IDB 8"

# 5. a byte changed in a record, then in its signature
flip_byte "$S/drills/$IDB.json" 30
expect_exit 3 "check: a record with a changed byte fails (exit 3)" ep check -p k.pub "$S"
expect_err "drill record file '$S/drills/$IDB.json' cannot be used: .*does not match its id" "naming its file"
expect_exit 0 "snapshots passes over it" ep snapshots -p k.pub "$S"
check "B shows no drill" bash -c 'row "$2" "$1" | grep -q "  -  "' _ "$T/out" "$B"
expect_err "1 drill record cannot be verified.*drills/$IDB\.json" "and warns naming it"
flip_byte "$S/drills/$IDB.json" 30
flip_byte "$S/drills/$IDB.sig" 60
expect_exit 3 "check: a changed byte in its signature fails (exit 3)" ep check -p k.pub "$S"
expect_err "drill record file '$S/drills/$IDB.json' cannot be used: .*signature" "naming the record"
expect_exit 3 "check without -p, no trusted key: a malformed signature is a problem all the same (exit 3)" notrust check "$S"
expect_err "drill record file '$S/drills/$IDB.json' cannot be used: .*the signature file is malformed \(remove it with 'envpack forget $S --drill ${IDB:0:8}'\)" "naming the record"
check "the others only noted" grep -q "note: 3 drill records signed by a key this host does not trust" "$T/err"
flip_byte "$S/drills/$IDB.sig" 60
mv "$S/drills/$IDB.sig" b-moved.sig
expect_exit 3 "check without -p, no trusted key: a record without its signature is a problem (exit 3)" notrust check "$S"
expect_err "drill record file '$S/drills/$IDB.json' cannot be used: .*is not signed" "naming the record"
mv b-moved.sig "$S/drills/$IDB.sig"
expect_exit 0 "check passes again once repaired" ep check -p k.pub "$S"

# 6. the shape: drill-put refuses a wrong one; one signed all the same fails check
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); del d["started"]; json.dump(d, open(sys.argv[2], "w"))' b.json nostart.json
expect_exit 2 "drill-put refuses a record without \"started\" (exit 2)" "$PUT" "$S" k.key nostart.json
expect_err '"started" is not a UTC time' "naming the field"
check "and writes nothing" test "$(ndrills "$S")" = 8
IDN=$("$PUT" -u "$S" k.key nostart.json)
expect_exit 3 "check: a signed record of the wrong shape fails (exit 3)" ep check -p k.pub "$S"
expect_err "drill record file '$S/drills/$IDN.json' cannot be used: .*\"started\" is not a UTC time" "naming its file and the field"
expect_exit 3 "check without -p, its signer trusted: the wrong shape is a problem all the same (exit 3)" \
	env ENVPACK_TRUSTED_KEYS="$T/trusted" "$ENVPACK" check "$S"
expect_err "drill record file '$S/drills/$IDN.json' cannot be used: .*\"started\" is not a UTC time .* \(remove it with 'envpack forget $S --drill ${IDN:0:8}'\)" "naming its file, the field and the command"
expect_exit 0 "forget --drill with the whole id" ep forget -q "$S" --drill "$IDN"
check "removes it" test ! -e "$S/drills/$IDN.json" -a ! -e "$S/drills/$IDN.sig" -a "$(ndrills "$S")" = 8

# 7. forget leaves the records; check says so in --json only; prune removes them
expect_exit 0 "forget A" ep forget -q "$S" "${A:0:8}"
check "A's three records are still there" test "$(ndrills "$S")" = 8
expect_exit 0 "check is fine with records of a forgotten snapshot" ep check -p k.pub --json "$S"
check "--json: 3 drills without their snapshot" test "$(py 'd["ok"], d["drills"], d["drills_without_snapshot"]' "$T/out")" = "True 4 3"
expect_exit 0 "check (text)" ep check -p k.pub "$S"
check "says nothing of them" test ! -s "$T/err"
expect_exit 0 "prune --dry-run" ep prune --dry-run --json "$S"
check "would remove 3 drill records, keep 1" test "$(py 'd["prune"]["drills_removed"], d["prune"]["drills_kept"]' "$T/out")" = "3 1"
check "and removes nothing" test "$(ndrills "$S")" = 8
# what writers that died left: a signature whose record never appeared, a hidden temporary
cp "$S/drills/$IDB.sig" "$S/drills/$(printf '%064d' 7).sig"
echo '{"kind":' >"$S/drills/.tmp-4242-abc"
expect_exit 0 "prune" ep prune --json "$S"
check "removes A's 3 records" test "$(py 'd["prune"]["drills_removed"], d["prune"]["drills_kept"]' "$T/out")" = "3 1"
check "and the signature without its record and the temporary, counted as left half-written" \
	test "$(py 'd["prune"]["partial_files_removed"]' "$T/out") $(ndrills "$S")" = "2 2"
check "B's record stays" test -s "$S/drills/$IDB.json"
expect_exit 0 "snapshots after prune" ep snapshots -p k.pub "$S"
check "B still shows ok 12.3s" bash -c 'row "$2" "$1" | grep -q "  ok 12.3s  "' _ "$T/out" "$B"
expect_exit 0 "forget --prune B" ep forget --prune --json "$S" "${B:0:8}"
check "removes its record with it" test "$(py 'd["prune"]["drills_removed"]' "$T/out") $(ndrills "$S")" = "1 0"

# 8. an encrypted store: records sealed, named by the keyed hash
ep keygen --x25519 -o r >/dev/null
X=$T/enc
ep backup --init -q -k k.key --encrypt-to r.pub "$X" disk:d.raw || not_ok "an encrypted backup"
XS=$(ep snapshots --decrypt-key r.key --json "$X" | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')
rec "$XS" 2026-12-07T08:00:00Z true 1.5 2.5 >x.json
expect_exit 0 "drill-put into an encrypted store" "$PUT" -d r.key "$X" k.key x.json
IDX=$(cat "$T/out")
check "the record and its signature are sealed" bash -c '[ "$(head -c 4 "$1/drills/$2.json")" = EPE1 ] && [ "$(head -c 4 "$1/drills/$2.sig")" = EPE1 ] && ! grep -q envpack-drill "$1/drills/$2.json"' _ "$X" "$IDX"
check "named by the keyed hash, not its digest" bash -c 'python3 -c "import json, sys; sys.stdout.write(json.dumps(json.load(open(sys.argv[1])), separators=(\",\", \":\")))" "$1" | sha256sum | grep -vq "^$2"' _ x.json "$IDX"
expect_exit 0 "snapshots --decrypt-key" ep snapshots --decrypt-key r.key -p k.pub "$X"
check "shows its drill" bash -c 'row "$2" "$1" | grep -q "  ok 2.5s  "' _ "$T/out" "$XS"
expect_exit 0 "check --decrypt-key" ep check --decrypt-key r.key -p k.pub --json "$X"
check "--json: 1 drill record, none bad" test "$(py 'd["drills"], d["bad_drills"]' "$T/out")" = "1 0"
flip_byte "$X/drills/$IDX.json" 100
expect_exit 3 "check: a changed byte in a sealed record fails (exit 3)" ep check --decrypt-key r.key -p k.pub "$X"
expect_err "drill record file '$X/drills/$IDX.json' cannot be used" "naming it"

# 9. s3://: the same objects under the prefix, through the backend's create-only puts
if . "$HERE/s3.sh" && start_s3 s; then
	E=$S3_S_ENDPOINT
	S3=s3://$S3_S_BUCKET/dr
	eps3() { env -u AWS_PROFILE -u AWS_SESSION_TOKEN $(s3_env s) AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null "$@"; }
	eps3 "$ENVPACK" backup --init -q -k k.key --endpoint "$E" "$S3" disk:d.raw || not_ok "a backup to $S3"
	S3S=$(eps3 "$ENVPACK" snapshots --endpoint "$E" --json "$S3" | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')
	rec "$S3S" 2026-12-07T09:00:00Z true 4.4 1 >s3.json
	expect_exit 0 "drill-put into $S3" eps3 "$PUT" "$S3" k.key s3.json
	IDS=$(cat "$T/out")
	keys=$(aws_s3 s s3api list-objects-v2 --bucket "$S3_S_BUCKET" --prefix dr/drills/ --query 'Contents[].Key' --output text | tr '\t' '\n' | sort | tr '\n' ' ')
	check "the objects are dr/drills/<id>.json and .sig" test "$keys" = "dr/drills/$IDS.json dr/drills/$IDS.sig "
	aws_s3 s s3api get-object --bucket "$S3_S_BUCKET" --key "dr/drills/$IDS.sig" s3.sig >/dev/null
	expect_exit 2 "the same record signed by another key is refused: the signature is put create-only" eps3 "$PUT" "$S3" other.key s3.json
	expect_err "drills/$IDS.sig is there already with another signature" "saying so"
	aws_s3 s s3api get-object --bucket "$S3_S_BUCKET" --key "dr/drills/$IDS.sig" s3-after.sig >/dev/null
	check "and the signature object is not replaced" cmp s3.sig s3-after.sig
	expect_exit 0 "snapshots on s3://" eps3 "$ENVPACK" snapshots --endpoint "$E" -p k.pub "$S3"
	check "shows its drill" bash -c 'row "$2" "$1" | grep -q "  ok 4.4s  "' _ "$T/out" "$S3S"
	expect_exit 0 "check on s3://" eps3 "$ENVPACK" check --endpoint "$E" -p k.pub --json "$S3"
	check "--json: 1 drill record" test "$(py 'd["drills"], d["bad_drills"]' "$T/out")" = "1 0"
	# a record another key signed: noted without -p where that key is not trusted, a problem with -p,
	# removed with forget --drill
	rec "$S3S" 2026-12-07T10:00:00Z true 1 1 >s3-other.json
	expect_exit 0 "drill-put another key's record into $S3" eps3 "$PUT" "$S3" other.key s3-other.json
	IDO=$(cat "$T/out")
	expect_exit 0 "check on s3:// without -p, trusting k only: the other key's record noted" \
		eps3 env ENVPACK_TRUSTED_KEYS="$T/trusted" "$ENVPACK" check --endpoint "$E" --json "$S3"
	check "--json: 2 drill records, 1 not verified" test "$(py 'd["ok"], d["drills"], d["drills_unverified"]' "$T/out")" = "True 2 1"
	expect_exit 3 "check -p on s3://: the other key's record is a problem" eps3 "$ENVPACK" check --endpoint "$E" -p k.pub "$S3"
	expect_err "drill record file '$S3/drills/$IDO.json' cannot be used: .* \(remove it with 'envpack forget $S3 --drill ${IDO:0:8}'\)" "naming it and the command"
	expect_exit 0 "forget --drill --dry-run on s3://" eps3 "$ENVPACK" forget --endpoint "$E" "$S3" --drill "${IDO:0:8}" --dry-run
	keys=$(aws_s3 s s3api list-objects-v2 --bucket "$S3_S_BUCKET" --prefix dr/drills/ --query 'Contents[].Key' --output text | tr '\t' '\n' | sort | tr '\n' ' ')
	check "removes nothing" test "$keys" = "$(printf 'dr/drills/%s\n' "$IDO.json" "$IDO.sig" "$IDS.json" "$IDS.sig" | sort | tr '\n' ' ')"
	expect_exit 0 "forget --drill on s3://" eps3 "$ENVPACK" forget --endpoint "$E" "$S3" --drill "${IDO:0:8}" --json
	check "--json lists it" test "$(py '[r["id"] for r in d["remove"]]' "$T/out")" = "['$IDO']"
	keys=$(aws_s3 s s3api list-objects-v2 --bucket "$S3_S_BUCKET" --prefix dr/drills/ --query 'Contents[].Key' --output text | tr '\t' '\n' | sort | tr '\n' ' ')
	check "removes its two objects, and only those" test "$keys" = "dr/drills/$IDS.json dr/drills/$IDS.sig "
	expect_exit 0 "check -p on s3:// passes after" eps3 "$ENVPACK" check --endpoint "$E" -p k.pub "$S3"
	expect_exit 0 "forget --prune on s3://" eps3 "$ENVPACK" forget --prune --endpoint "$E" --json "$S3" "${S3S:0:8}"
	check "removes the record" test "$(py 'd["prune"]["drills_removed"]' "$T/out")" = 1
	keys=$(aws_s3 s s3api list-objects-v2 --bucket "$S3_S_BUCKET" --prefix dr/drills/ --query 'Contents[].Key' --output text | grep -v '^None$')
	check "no object is left under dr/drills/" test -z "$keys"
else
	not_ok "start the S3 server"
fi
finish
