#!/usr/bin/env bash
# A store in S3 (s3://BUCKET/PREFIX) against a real S3 server (tests/s3.sh:
# s3rver with SigV4 checks), judged by the AWS CLI: the same objects as a dir:
# store under PREFIX/ (formats/STORE.md), dedup, restore, verify, export and
# import, check finding a chunk deleted behind its back, bad snapshot objects
# set aside (snapshots, restore, check, prune, forget), forget --prune,
# locks by records (shared, exclusive, named, waited for, stale ones released:
# a dead pid's, or any host's left unrefreshed past its "stale"; refreshed while
# a slow backup holds the store; a backup stopped past it loses its lock and
# publishes nothing; records only ever added, prune removing the old ones),
# kill -9 mid-backup, a wrong secret, no DELETE sent but by forget and prune, and
# an append-only credential (DELETE denied by a proxy) serving every command but
# forget and prune, which it refuses at once, changing nothing.
#   envpack backup --init s3://BUCKET/PREFIX --endpoint URL SOURCE...
# Credentials only from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
. "$(dirname "$0")/../lib.sh"
. "$HERE/s3.sh"

start_s3 s || { not_ok "start the S3 server"; finish; exit 0; }
ok "S3 server at $S3_S_ENDPOINT"
B=$S3_S_BUCKET
E=$S3_S_ENDPOINT
S=s3://$B/dr/prod
ep() { env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_S3 AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" \
	AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null \
	AWS_SHARED_CREDENTIALS_FILE=/dev/null timeout -k 5 300 "$ENVPACK" "$@"; }
# the same, for a background run whose pid must be envpack's own (env execs it)
CREDS=(env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_S3 AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY"
	AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null)
# keys PREFIX: every key under PREFIX, one a line, as awscli lists them
keys() { aws_s3 s s3api list-objects-v2 --bucket "$B" --prefix "$1" --query 'Contents[].Key' --output text | tr '\t' '\n' | grep -v '^None$' | sort; }
nkeys() { keys "$1" | grep -cE "${2:-.}"; }
# live_locks PREFIX: how many lock holders under PREFIX/locks/ have not released (their newest record no release)
live_locks() { keys "$1/locks/" | python3 "$HERE/tools/live_locks.py"; }

"$ENVPACK" keygen -o "$T/k" >/dev/null
truncate -s 64M "$T/d.raw"
# seeded, so that where chunks are cut, and so what a change adds, is the same every run
seeded() { python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(int(sys.argv[1])).randbytes(int(sys.argv[2])))' "$@"; }
seeded 11 $((12 << 20)) | dd of="$T/d.raw" bs=1M seek=4 conv=notrunc status=none
dd if=/usr/bin/env of="$T/d.raw" bs=1M seek=40 conv=notrunc status=none
mkdir -p "$T/tree/sub" && echo 'resource "null_resource" "x" {}' >"$T/tree/main.tf" && echo one >"$T/tree/sub/a.txt"

# 1. the first backup makes the store under the prefix; a second adds nothing; a change adds a few chunks
expect_exit 2 "a backup to an empty prefix is refused without --init" ep backup -q --endpoint "$E" "$S" "disk:$T/d.raw"
expect_err "not an envpack store.*--init" "and says to use --init"
check "and nothing was written" test "$(nkeys dr/)" = 0
echo x >"$T/x" && aws_s3 s s3api put-object --bucket "$B" --key other/thing --body "$T/x" >/dev/null
expect_exit 2 "--init on a prefix that holds objects is refused" ep backup --init -q --endpoint "$E" "s3://$B/other" "iac:$T/tree"
expect_err "holds objects already.*empty" "and says why"
expect_exit 0 "first backup (--init) to $S" ep backup --init -k "$T/k.key" --tag nightly --json --endpoint "$E" "$S" "disk:$T/d.raw" "iac:$T/tree"
cp "$T/out" "$T/b1.json"
check "it names the store, the snapshot, sequence 1" test "$(jq_ 'd["store"], d["sequence"], len(d["snapshot"])' "$T/b1.json")" = "$S 1 64"
expect_exit 0 "--init again on the store backs up into it" ep backup --init -k "$T/k.key" --json --endpoint "$E" "$S" "disk:$T/d.raw" "iac:$T/tree"
cp "$T/out" "$T/b2.json"
check "adding no chunk ($(jq_ 'd["added_bytes"]' "$T/b2.json") bytes)" test "$(jq_ 'd["added_chunks"], d["reused_chunks"] == d["chunks"]' "$T/b2.json")" = "0 True"
seeded 12 $((300 << 10)) | dd of="$T/d.raw" bs=100K seek=100 conv=notrunc status=none
echo two >"$T/tree/sub/b.txt"
expect_exit 0 "third backup, a little changed" ep backup -k "$T/k.key" --json --endpoint "$E" "$S" "disk:$T/d.raw" "iac:$T/tree"
cp "$T/out" "$T/b3.json"
# content-defined chunks (1 MiB on average): a 300 KiB change and a new file touch a few
check "it adds a few chunks ($(jq_ 'd["added_chunks"]' "$T/b3.json"))" test "$(jq_ '0 < d["added_chunks"] <= 8 and d["added_bytes"] < d["data_bytes"] / 2' "$T/b3.json")" = True
check "chunks went up several at once (PUTs overlapping in time)" python3 - "$S3_S_DIR/requests.log" <<'PY'
import re, sys
puts = [tuple(map(float, l.split()[:2])) for l in open(sys.argv[1]) if re.search(r" PUT /[^ ]*/dr/prod/chunks/[^ ]* 200$", l)]
assert len(puts) >= 10, len(puts)
most = max(sum(1 for s, e in puts if s <= t < e) for t, _ in puts)
assert most >= 2, most
PY

# 2. the objects are STORE.md's names under the prefix, as awscli sees them
keys dr/ >"$T/keys"
check "every key is config.json, chunks/xx/<hex>.zst, snapshots/<id>.json|.sig, claims/<n>-<random> or locks/<host>-<pid>-<holder>-<n>[-released].json" \
	bash -c '! grep -vE "^dr/prod/(config\.json|chunks/([0-9a-f]{2})/\2[0-9a-f]{62}\.zst|snapshots/[0-9a-f]{64}\.(json|sig)|claims/[0-9]{20}-[0-9a-f]{12}|locks/.+-[0-9]+-[0-9a-f]{16}-[0-9]{6}(-released)?\.json)$" "$1"' _ "$T/keys"
check "one config.json, three snapshots, each signed, no lock held" test "$(grep -c config.json "$T/keys") $(grep -c 'snapshots/.*\.json$' "$T/keys") $(grep -c '\.sig$' "$T/keys") $(live_locks dr/prod)" = "1 3 3 0"
check "each of the three backups released its lock by a record, removing none" test "$(grep -c '/locks/.*-released\.json$' "$T/keys") $(grep -c /locks/ "$T/keys")" = "3 6"
check "and no DELETE was sent" test "$(s3_requests s ' DELETE ' | wc -l)" = 0
check "each chunk once: as many as the backups added" test "$(grep -c '/chunks/' "$T/keys")" = $(($(jq_ 'd["added_chunks"]' "$T/b1.json") + $(jq_ 'd["added_chunks"]' "$T/b3.json")))
key=$(grep /chunks/ "$T/keys" | head -n 1)
aws_s3 s s3api get-object --bucket "$B" --key "$key" "$T/chunk.zst" >/dev/null
check "a chunk awscli downloads decompresses to bytes whose SHA-256 is its name" \
	test "$(zstd -qdc "$T/chunk.zst" | sha256sum | cut -c1-64)" = "$(basename "$key" .zst)"
aws_s3 s s3api get-object --bucket "$B" --key dr/prod/config.json "$T/config.json" >/dev/null
check "config.json is an envpack store's" test "$(jq_ 'd["format"], d["version"]' "$T/config.json")" = "envpack-store 1"

# 3. snapshots, restore, verify, diff, inspect of s3://...@SNAPSHOT
expect_exit 0 "snapshots --json" ep snapshots --json --endpoint "$E" "$S"
cp "$T/out" "$T/snaps.json"
check "three snapshots, oldest first, signed" test "$(jq_ '[x["sequence"] for x in d], all(x["signed"] for x in d)' "$T/snaps.json")" = "[1, 2, 3] True"
first=$(jq_ 'd[0]["id"]' "$T/snaps.json")
# ListObjectsV2 by pages: 1001 other objects listed before the snapshots ("0-" sorts before any id)
mkdir -p "$T/junk" && for i in $(seq 1001); do echo "$i" >"$T/junk/0-junk-$i"; done
aws_s3 s s3 cp --quiet --recursive "$T/junk" "s3://$B/dr/prod/snapshots/" || not_ok "awscli put the 1001 objects"
check "awscli sees the 1001 other objects" test "$(nkeys dr/prod/snapshots/0-junk-)" = 1001
expect_exit 0 "snapshots past a page of 1000 other objects" ep snapshots --json --endpoint "$E" "$S"
check "lists the same three" cmp "$T/out" "$T/snaps.json"
check "asking for the next page with a continuation token" test "$(s3_requests s 'GET /[^ ]*[?&]continuation-token=' | wc -l)" -ge 1
aws_s3 s s3 rm --quiet --recursive "s3://$B/dr/prod/snapshots/" --exclude '*' --include '0-junk-*' || not_ok "awscli removes them"
check "and they are gone" test "$(nkeys dr/prod/snapshots/0-junk-)" = 0
expect_exit 0 "AWS_ENDPOINT_URL stands for --endpoint" "${CREDS[@]}" AWS_ENDPOINT_URL="$E" "$ENVPACK" snapshots --json "$S"
check "the same snapshots" cmp "$T/out" "$T/snaps.json"
expect_exit 0 "restore $S@latest" ep restore -q -p "$T/k.pub" --endpoint "$E" "$S@latest" --to "dir:$T/r3"
check "the disk restored from S3 is the source's" cmp "$T/d.raw" "$T/r3/d.raw"
check "so is the tree" diff -r "$T/tree" "$T/r3/tree"
expect_exit 0 "restore the first snapshot by an id prefix" ep restore -q -p "$T/k.pub" --endpoint "$E" "$S@${first:0:8}" --to "dir:$T/r1"
check "it is the first version" bash -c '! cmp -s "$1" "$2" && test ! -e "$3"' _ "$T/d.raw" "$T/r1/d.raw" "$T/r1/tree/sub/b.txt"
expect_exit 0 "verify --deep $S@latest" ep verify -p "$T/k.pub" --deep --endpoint "$E" "$S@latest"
expect_exit 0 "inspect $S@first" ep inspect --json --endpoint "$E" "$S@${first:0:8}"
expect_exit 0 "diff first latest" ep diff --json --endpoint "$E" "$S@${first:0:8}" "$S@latest"
check "diff: a file added" grep -q '"sub/b.txt"' "$T/out"

# 4. export to a bundle, import into a dir: store
expect_exit 0 "export $S@latest" ep export -q -p "$T/k.pub" --endpoint "$E" "$S@latest" -o "$T/e.envpack"
expect_exit 0 "the export verifies --deep on its own" ep verify -p "$T/k.pub" --deep "$T/e.envpack"
expect_exit 0 "import it into a dir: store" ep import --init -q -p "$T/k.pub" "$T/e.envpack" "dir:$T/local"
expect_exit 0 "which exports the same bundle" ep export -q -p "$T/k.pub" "dir:$T/local@latest" -o "$T/e2.envpack"
check "byte for byte" cmp "$T/e.envpack" "$T/e2.envpack"
expect_exit 0 "and import from a bundle into the S3 store" ep import -q -p "$T/k.pub" --endpoint "$E" "$T/e.envpack" "$S"
expect_exit 0 "check --read-data -p" ep check --read-data -p "$T/k.pub" --endpoint "$E" "$S"
check "snapshots, restore, verify, inspect, diff, export, import and check sent no DELETE (awscli's aside)" \
	test "$(s3_requests s ' DELETE ' | grep -vc '/0-junk-')" = 0

# 4b. a bad snapshot object does not block the store: garbage, and a good manifest under another id
printf 'garbage, not a manifest\n' >"$T/garbage"
garb=$(sha256sum <"$T/garbage" | cut -c1-64) # named by its digest: it fails as a manifest, not as an id
wrong=$(printf 'another id' | sha256sum | cut -c1-64)
aws_s3 s s3api put-object --bucket "$B" --key "dr/prod/snapshots/$garb.json" --body "$T/garbage" >/dev/null
aws_s3 s s3api get-object --bucket "$B" --key "dr/prod/snapshots/$first.json" "$T/first.json" >/dev/null
aws_s3 s s3api put-object --bucket "$B" --key "dr/prod/snapshots/$wrong.json" --body "$T/first.json" >/dev/null
expect_exit 0 "snapshots beside a garbage object and a manifest under another id" ep snapshots --json --endpoint "$E" "$S"
expect_err "warning: snapshot file '$S/snapshots/$garb.json' cannot be used: .*not valid JSON" "warns of the garbage, naming it"
expect_err "warning: snapshot file '$S/snapshots/$wrong.json' cannot be used: .*does not match its id" "and of the other"
check "--json: the good snapshots as before, and only those" python3 -c 'import json, sys; assert json.load(open(sys.argv[1])) == json.load(open(sys.argv[2]))' "$T/out" "$T/snaps.json"
expect_exit 0 "restore $S@latest passes over them" ep restore -p "$T/k.pub" --endpoint "$E" "$S@latest" --to "dir:$T/rbl"
expect_err "warning: snapshot file '$S/snapshots/$wrong.json'" "with a warning"
check "the latest good one, byte for byte" bash -c 'cmp "$1/d.raw" "$2/d.raw" && diff -r "$1/tree" "$2/tree"' _ "$T" "$T/rbl"
expect_exit 0 "restore the first snapshot by its id" ep restore -q -p "$T/k.pub" --endpoint "$E" "$S@${first:0:8}" --to "dir:$T/rbf"
check "byte for byte" diff -r "$T/r1" "$T/rbf"
expect_exit 3 "restore of the one under another id fails" ep restore -q -p "$T/k.pub" --endpoint "$E" "$S@${wrong:0:8}" --to "dir:$T/rbb"
expect_err "snapshot file '$S/snapshots/$wrong.json' cannot be used: .*does not match its id" "naming the object and the problem"
check "restoring nothing" test ! -e "$T/rbb"
expect_exit 3 "check fails on them" ep check --endpoint "$E" "$S"
expect_err "check: snapshot file '$S/snapshots/$garb.json' cannot be used" "naming the garbage"
expect_err "check: snapshot file '$S/snapshots/$wrong.json' cannot be used" "and the other"
expect_err "2 problems found" "two problems, no more"
before=$(keys dr/prod/ | grep -vc /locks/)
expect_exit 3 "prune refuses" ep prune --endpoint "$E" "$S"
expect_err "prune removes nothing while snapshot file '$S/snapshots/[0-9a-f]{64}\.json' \(and 1 more\) cannot be used.*repair it, or remove it" "naming one and what to do"
check "removing no object (its lock's aside)" test "$(keys dr/prod/ | grep -vc /locks/)" = "$before"
expect_exit 0 "forget removes the bad ones named by id" ep forget -q --endpoint "$E" "$S" "${garb:0:8}" "${wrong:0:8}"
check "both gone" test "$(nkeys dr/prod/snapshots/ "$garb|$wrong")" = 0
expect_exit 0 "and the store checks clean" ep check -q --endpoint "$E" "$S"
rm -rf "$T/rbl" "$T/rbf"

# 5. locks by records under locks/
H1=0123456789abcdef
printf '{"host":"%s","pid":999999,"command":"backup","exclusive":false,"time":%s}' "$(hostname)" "$(date +%s)" >"$T/dead.json"
aws_s3 s s3api put-object --bucket "$B" --key "dr/prod/locks/$(hostname)-999999-$H1-000000.json" --body "$T/dead.json" >/dev/null
expect_exit 0 "a backup beside a dead process's lock record" ep backup -k "$T/k.key" --endpoint "$E" "$S" "iac:$T/tree"
expect_err "released a stale lock of backup \(pid 999999, no longer running\)" "warns that it released it"
check "its release written beside it" test "$(nkeys dr/prod/locks/ "999999-$H1-000000(-released)?\.json")" = 2
check "no holder left" test "$(live_locks dr/prod)" = 0
expect_exit 0 "the next backup" ep backup -q -k "$T/k.key" --endpoint "$E" "$S" "iac:$T/tree"
check "passes over it in silence" bash -c '! grep -q "stale lock" "$1"' _ "$T/err"
sleep 60 &
holder=$!
printf '{"host":"%s","pid":%s,"command":"backup","exclusive":false,"time":%s}' "$(hostname)" "$holder" "$(date +%s)" >"$T/live.json"
aws_s3 s s3api put-object --bucket "$B" --key "dr/prod/locks/$(hostname)-$holder-live.json" --body "$T/live.json" >/dev/null
expect_exit 1 "prune while a backup's record is there fails at once" ep prune --endpoint "$E" "$S"
expect_err "locked by backup \(pid $holder on $(hostname)" "naming the holder"
expect_exit 1 "so does forget" ep forget --endpoint "$E" "$S" --keep-last 1
check "the live record is still there" test "$(nkeys dr/prod/locks/ live)" = 1
expect_exit 0 "a backup shares the lock with it" ep backup -q -k "$T/k.key" --endpoint "$E" "$S" "iac:$T/tree"
( sleep 4; aws_s3 s s3api delete-object --bucket "$B" --key "dr/prod/locks/$(hostname)-$holder-live.json" >/dev/null ) &
remover=$!
start=$(date +%s)
expect_exit 0 "prune --lock-wait 60 waits for the record to go, then runs" ep prune -q --lock-wait 60 --endpoint "$E" "$S"
check "it waited ($(($(date +%s) - start)) s)" test $(($(date +%s) - start)) -ge 3
wait "$remover"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
ep backup -q -k "$T/k.key" --endpoint "$E" "$S" "disk:$T/d.raw" "iac:$T/tree" || not_ok "a backup of what is there"
ep backup -q --endpoint "$E" "$S" "disk:$T/d.raw" "iac:$T/tree" & b1=$!
ep backup -q --endpoint "$E" "$S" "iac:$T/tree" & b2=$!
wait "$b1"; r1=$?
wait "$b2"; r2=$?
check "two backups at once both succeed ($r1, $r2)" test "$r1" = 0 -a "$r2" = 0
check "and leave no lock held" test "$(live_locks dr/prod)" = 0

# 5b. a held lock's record is refreshed (ENVPACK_LOCK_REFRESH_SECONDS), and a holder whose
# newest record was left unrefreshed past its "stale" seconds is released with a warning,
# whoever's it was
now=$(date +%s)
rec() { # rec HOST PID EXCLUSIVE TIME [STALE]: a lock record as another run writes it
	printf '{"host":"%s","pid":%s,"command":"prune","exclusive":%s,"time":%s%s}' "$1" "$2" "$3" "$4" "${5:+,\"since\":$4,\"stale\":$5}"
}
put_rec() { aws_s3 s s3api put-object --bucket "$B" --key "dr/prod/locks/$1.json" --body "$2" >/dev/null; }
rec other-host 4343 true "$now" 1800 >"$T/fresh.json" && put_rec other-host-4343-fresh "$T/fresh.json"
expect_exit 1 "a backup beside another host's exclusive record, refreshed a moment ago, is refused" \
	ep backup -q --endpoint "$E" "$S" "iac:$T/tree"
expect_err "locked by prune \(pid 4343 on other-host" "naming it"
aws_s3 s s3api delete-object --bucket "$B" --key dr/prod/locks/other-host-4343-fresh.json >/dev/null
rec gone-host 4242 true $((now - 7200)) 1800 >"$T/gone.json" && put_rec "gone-host-4242-$H1-000007" "$T/gone.json"
expect_exit 0 "a backup beside another host's exclusive record unrefreshed for 2 h (stale after 30 min) runs" \
	ep backup -k "$T/k.key" --endpoint "$E" "$S" "iac:$T/tree"
expect_err "released a stale lock of prune \(pid 4242 on gone-host, not refreshed since " "warning that it released it"
check "its release is there, no holder left" test "$(nkeys dr/prod/locks/ "gone-host-4242-$H1-000007-released")$(live_locks dr/prod)" = 10
# a newer record of the same holder, refreshed: the holder holds the store again (its newest counts)
rec gone-host 4242 true "$now" 1800 >"$T/gone.json" && put_rec "gone-host-4242-$H1-000008" "$T/gone.json"
expect_exit 1 "a backup beside that holder's newer, fresh record is refused" ep backup -q --endpoint "$E" "$S" "iac:$T/tree"
expect_err "locked by prune \(pid 4242 on gone-host" "naming it"
aws_s3 s s3api delete-object --bucket "$B" --key "dr/prod/locks/gone-host-4242-$H1-000008.json" >/dev/null
# a record without "stale" is an older envpack's, which never refreshed: stale only after a day
rec old-host 4444 true $((now - 7200)) >"$T/old.json" && put_rec old-host-4444-old "$T/old.json"
expect_exit 1 "an older envpack's record (no \"stale\") 2 h old still holds the store" ep backup -q --endpoint "$E" "$S" "iac:$T/tree"
rec old-host 4444 true $((now - 2 * 86400)) >"$T/old.json" && put_rec old-host-4444-old "$T/old.json"
expect_exit 0 "two days old, it is passed over (its name has no holder: no release can be written for it)" \
	ep backup --endpoint "$E" "$S" "iac:$T/tree"
expect_err "passed over a stale lock of prune \(pid 4444 on old-host" "with a warning"
n=$(nkeys dr/prod/locks/)
expect_exit 0 "prune removes the records of every holder released or gone" ep prune --json --endpoint "$E" "$S"
check "($(jq_ 'd["prune"]["lock_records_removed"]' "$T/out") of $n), leaving its own record and release" \
	test "$(jq_ 'd["prune"]["lock_records_removed"]' "$T/out") $(nkeys dr/prod/locks/) $(live_locks dr/prod)" = "$n 2 0"

# a long backup: its chunk PUTs held 2 s each by a proxy; the record, polled from the server
# itself, gets a new record every second (the old ones left), a newer time, the same "since"
L=s3://$B/slow
ep backup --init -q --endpoint "$E" "$L" "iac:$T/tree" || not_ok "make the slow store"
# locks_seen OUT STOP: every record under slow/locks/ (anonymous S3 requests) until STOP exists
locks_seen() {
	python3 - "$E" "$B" slow/locks/ "$1" "$2" <<'PY'
import json, os, re, sys, time, urllib.parse, urllib.request
end, bucket, prefix, out, stop = sys.argv[1:6]
seen, most = {}, 0
while not os.path.exists(stop):
    try:
        q = urllib.parse.urlencode({"list-type": "2", "prefix": prefix})
        keys = re.findall(r"<Key>([^<]+)</Key>", urllib.request.urlopen(f"{end}/{bucket}?{q}", timeout=5).read().decode())
        most = max(most, len(keys))
        for k in keys:
            if k not in seen:
                seen[k] = json.loads(urllib.request.urlopen(f"{end}/{bucket}/{urllib.parse.quote(k)}", timeout=5).read())
    except Exception:
        pass  # a record removed between the listing and its GET
    time.sleep(0.2)
json.dump({"records": list(seen.values()), "most": most}, open(out, "w"))
PY
}
if start_s3_fault w s slow 2 --match 'PUT /[^ ]*/slow/chunks/'; then
	head -c 16M /dev/urandom >"$T/slow1.raw"
	rm -f "$T/stop"
	locks_seen "$T/seen1.json" "$T/stop" &
	poller=$!
	start=$(date +%s)
	expect_exit 0 "a backup whose chunk PUTs take 2 s each (refresh every 1 s)" env ENVPACK_LOCK_REFRESH_SECONDS=1 \
		ENVPACK_LOCK_STALE_SECONDS=8 "${CREDS[@]}" timeout -k 5 300 "$ENVPACK" backup -q --endpoint "$S3_W_ENDPOINT" "$L" "disk:$T/slow1.raw"
	took=$(($(date +%s) - start))
	touch "$T/stop" && wait "$poller"
	check "its record was refreshed while it ran ${took} s: new records, newer times, one since, one holder, stale 8" python3 - "$T/seen1.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
holders = {x["holder"] for x in d["records"] if x["stale"] == 8}  # the slow backup's (the store's first: 1800)
assert len(holders) == 1, d
r = [x for x in d["records"] if x["holder"] in holders and not x.get("released")]
times = sorted(x["time"] for x in r)
assert len(r) >= 3, r
assert times[-1] - times[0] >= 2, times
assert len({x["since"] for x in r}) == 1 and r[0]["since"] <= times[0], r
assert d["most"] == len(d["records"]), d  # none removed: each refresh adds one
PY
	check "and it released the lock" test "$(live_locks slow)" = 0

	# stopped (as a suspended host is) past its stale time: another run removes its record as
	# stale and prunes; woken, the backup must not publish a snapshot naming what prune removed
	head -c 16M /dev/urandom >"$T/slow2.raw"
	snaps=$(nkeys slow/snapshots/ '\.json$')
	puts=$(s3_requests w ' PUT /[^ ]*/slow/chunks/[^ ]* 200$' | wc -l)
	ENVPACK_LOCK_REFRESH_SECONDS=1 ENVPACK_LOCK_STALE_SECONDS=8 "${CREDS[@]}" "$ENVPACK" backup -q --endpoint "$S3_W_ENDPOINT" \
		"$L" "disk:$T/slow2.raw" 2>"$T/stopped.err" &
	pid=$!
	for _ in $(seq 100); do # two of its chunks are in
		[ "$(s3_requests w ' PUT /[^ ]*/slow/chunks/[^ ]* 200$' | wc -l)" -ge $((puts + 2)) ] && break
		sleep 0.1
	done
	kill -STOP "$pid"
	sleep 11
	expect_exit 0 "meanwhile, prune runs" ep prune --json --endpoint "$E" "$L"
	expect_err "released a stale lock of backup \(pid $pid on $(hostname), not refreshed since " "releasing the stopped backup's lock as stale"
	check "and removes its records (prune: $(jq_ 'd["prune"]["lock_records_removed"]' "$T/out") lock records)" \
		test "$(nkeys slow/locks/ "[-]$pid-")" = 0
	check "and removes the chunks it had put" test "$(jq_ 'd["prune"]["chunks_removed"] > 0' "$T/out")" = True
	kill -CONT "$pid"
	wait "$pid"
	got=$?
	check "woken, the backup fails ($got)" test "$got" = 1
	check "saying it lost its lock" grep -q "lost its lock (its record was not refreshed since" "$T/stopped.err"
	check "and published no snapshot" test "$(nkeys slow/snapshots/ '\.json$')" = "$snaps"
	check "nor holds a lock" test "$(live_locks slow)" = 0
	expect_exit 0 "the store checks clean with --read-data" ep check -q --read-data --endpoint "$E" "$L"
	stop_s3 w
else
	not_ok "start the slow proxy"
fi

# 5c. a backup that waited for the lock lists the chunks again: prune (here: awscli, while a
# live process's exclusive record keeps the lock) removes chunks the backup had listed
R=s3://$B/race
cp "$T/d.raw" "$T/race.raw"
ep backup --init -q --endpoint "$E" "$R" "disk:$T/race.raw" || not_ok "make the race store"
ep forget -q --endpoint "$E" "$R" "$(keys race/snapshots/ | head -n 1 | sed 's|.*/||' | head -c 12)" || not_ok "forget its snapshot"
sleep 120 &
holder=$!
printf '{"host":"%s","pid":%s,"command":"prune","exclusive":true,"time":%s}' "$(hostname)" "$holder" "$(date +%s)" >"$T/ex.json"
aws_s3 s s3api put-object --bucket "$B" --key "race/locks/$(hostname)-$holder-ex.json" --body "$T/ex.json" >/dev/null
"${CREDS[@]}" "$ENVPACK" backup -q --lock-wait 120 --endpoint "$E" "$R" "disk:$T/race.raw" &
b=$!
sleep 3 # it lists the chunks, then finds the record and waits
check "the backup waits for the lock" kill -0 "$b"
n=$(nkeys race/chunks/)
aws_s3 s s3 rm --quiet --recursive "s3://$B/race/chunks/" >/dev/null
check "awscli removed the $n chunks it had listed" test "$(nkeys race/chunks/)" = 0
kill "$holder"
wait "$holder" 2>/dev/null
wait "$b"
check "the backup that waited succeeds ($?)" test $? = 0
expect_exit 0 "and its snapshot's chunks are all there (check --read-data)" ep check -q --read-data --endpoint "$E" "$R"
expect_exit 0 "it restores" ep restore -q --insecure-skip-verify --endpoint "$E" "$R@latest" --to "dir:$T/rrace"
check "byte for byte" cmp "$T/race.raw" "$T/rrace/race.raw"
pids=()
for i in 1 2 3; do
	"${CREDS[@]}" "$ENVPACK" backup -q --json --endpoint "$E" "$R" "iac:$T/tree" >"$T/seq$i.json" &
	pids+=($!)
done
wait "${pids[@]}"
check "three backups at once take three sequence numbers" \
	test "$(cat "$T"/seq[1-3].json | python3 -c 'import json, sys; print(len({json.loads(l)["sequence"] for l in sys.stdin}))')" = 3
# backups and forget --prune side by side, the disk alternating between two contents so that
# each backup needs the chunks of the snapshot the forget beside it drops
head -c 3M /dev/urandom >"$T/alt0"
head -c 3M /dev/urandom >"$T/alt1"
for i in 1 2 3 4; do
	dd if="$T/alt$((i % 2))" of="$T/race.raw" bs=1M seek=1 conv=notrunc status=none
	"${CREDS[@]}" "$ENVPACK" backup -q --lock-wait 120 --endpoint "$E" "$R" "disk:$T/race.raw" &
	b=$!
	"${CREDS[@]}" "$ENVPACK" forget -q --lock-wait 120 --endpoint "$E" "$R" --keep-last 1 --prune &
	f=$!
	wait "$b"
	rb=$?
	wait "$f"
	check "round $i: backup ($rb) and forget --prune ($?) both succeed" test "$rb" = 0 -a "$?" = 0
done
expect_exit 0 "the store checks clean (--read-data)" ep check -q --read-data --endpoint "$E" "$R"
expect_exit 0 "and the newest snapshot restores" ep restore -q --insecure-skip-verify --endpoint "$E" "$R@latest" --to "dir:$T/rrace2"
check "to the last data backed up" cmp "$T/race.raw" "$T/rrace2/race.raw"

# 6. forget --prune removes objects
ep backup -q --endpoint "$E" "$S" "disk:$T/d.raw" "iac:$T/tree" || not_ok "the last backup, of both"
before=$(nkeys dr/prod/)
expect_exit 0 "forget --keep-last 1 --prune" ep forget --json --endpoint "$E" "$S" --keep-last 1 --prune
check "it removed chunks" test "$(jq_ 'd["prune"]["chunks_removed"] > 0' "$T/out")" = True
check "awscli sees fewer objects ($before before, $(nkeys dr/prod/) after)" test "$(nkeys dr/prod/)" -lt "$before"
expect_exit 0 "check --read-data after prune" ep check -q --read-data --endpoint "$E" "$S"
expect_exit 0 "the kept snapshot restores" ep restore -q --insecure-skip-verify --endpoint "$E" "$S@latest" --to "dir:$T/r4"
check "to the latest data" cmp "$T/d.raw" "$T/r4/d.raw"

# 7. kill -9 during a backup to S3: check passes, no snapshot appears, the next backup completes
K=s3://$B/kill
head -c 48M /dev/urandom >"$T/big.raw"
ep backup --init -q --endpoint "$E" "$K" "iac:$T/tree" || not_ok "make the kill store"
for wait_chunks in 2 12; do
	puts=$(s3_requests s ' PUT /[^ ]*/kill/chunks/[^ ]* 200$' | wc -l)
	"${CREDS[@]}" "$ENVPACK" backup -q -j 1 --endpoint "$E" "$K" "disk:$T/big.raw" 2>/dev/null &
	pid=$!
	for _ in $(seq 400); do
		[ $(($(s3_requests s ' PUT /[^ ]*/kill/chunks/[^ ]* 200$' | wc -l) - puts)) -ge "$wait_chunks" ] && break
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	check "killed mid-backup (its lock left held: $(live_locks kill))" test "$(live_locks kill)" = 1
	expect_exit 0 "after kill -9 (at ~$wait_chunks chunks), check passes" ep check --endpoint "$E" "$K"
	expect_err "released a stale lock of backup \(pid $pid, no longer running\)" "releasing the killed backup's lock, with a warning"
	check "no lock held" test "$(live_locks kill)" = 0
	check "and no snapshot of the killed backup appeared" test "$(nkeys kill/snapshots/ '\.json$')" = 1
done
expect_exit 0 "the next backup completes" ep backup --json -j 1 --endpoint "$E" "$K" "disk:$T/big.raw"
check "reusing the chunks the killed ones wrote" test "$(jq_ 'd["reused_chunks"] > 0' "$T/out")" = True
expect_exit 0 "the store checks clean with --read-data" ep check -q --read-data --endpoint "$E" "$K"
expect_exit 0 "and restores it" ep restore -q --insecure-skip-verify --endpoint "$E" "$K@latest" --to "dir:$T/rk"
check "byte for byte" cmp "$T/big.raw" "$T/rk/big.raw"

# 8. chunk uploads that fail (the fault proxy answers 500): the backup fails naming one, publishes nothing
F=s3://$B/fail
ep backup --init -q --endpoint "$E" "$F" "iac:$T/tree" || not_ok "make the failing store"
if start_s3_fault f s 500 1000 --match 'PUT /[^ ]*/fail/chunks/'; then
	expect_exit 1 "a backup whose chunks cannot be put fails" ep backup --retries 1 --endpoint "$S3_F_ENDPOINT" "$F" "disk:$T/d.raw"
	expect_err "PUT s3://$B/fail/chunks/[0-9a-f]{2}/[0-9a-f]{64}\.zst: 500" "naming a chunk and the answer"
	check "no snapshot of it appeared" test "$(nkeys fail/snapshots/ '\.json$')" = 1
	check "and it released its lock" test "$(live_locks fail)" = 0
	expect_exit 0 "the store checks clean" ep check -q --read-data --endpoint "$E" "$F"
else
	not_ok "start the fault proxy"
fi

# 9. a chunk deleted behind the store's back: check fails (3) and names it
victim=$(keys dr/prod/chunks/ | head -n 1)
aws_s3 s s3api delete-object --bucket "$B" --key "$victim" >/dev/null
expect_exit 3 "a missing chunk fails check" ep check --endpoint "$E" "$S"
expect_err "chunk $(basename "$victim" .zst) of snapshot [0-9a-f]{8} is missing" "and is named"

# 10. a wrong secret: refused, and never printed
secret=wrong-$RANDOM-secret
env -u AWS_PROFILE -u AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$secret" \
	AWS_SHARED_CREDENTIALS_FILE=/dev/null timeout 120 "$ENVPACK" snapshots --endpoint "$E" "$S" >"$T/out" 2>"$T/err"
got=$?
check "a wrong secret fails with exit 1 ($got) naming the refusal" bash -c 'test "$1" = 1 && grep -q "SignatureDoesNotMatch\|403" "$2"' _ "$got" "$T/err"
check "and the secret is nowhere in the output" bash -c '! grep -q "$1" "$2" "$3"' _ "$secret" "$T/out" "$T/err"
env -u AWS_PROFILE -u AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$secret" \
	AWS_SHARED_CREDENTIALS_FILE=/dev/null timeout 120 "$ENVPACK" backup -q --init --endpoint "$E" "s3://$B/new" "iac:$T/tree" >"$T/out" 2>"$T/err"
got=$?
check "backup --init with it fails too ($got), writing nothing" bash -c 'test "$1" = 1 -o "$1" = 2 && ! grep -q "$2" "$3" "$4"' _ "$got" "$secret" "$T/out" "$T/err"
check "nothing under new/" test "$(nkeys new/)" = 0

# 11. an append-only credential: a proxy answers every DELETE 403 AccessDenied, as a bucket
# policy denying s3:DeleteObject* does (tests/cases/t111 has a real one, on radosgw)
AO=s3://$B/ao
if start_s3_fault d s deny --match '^DELETE '; then
	D=$S3_D_ENDPOINT
	expect_exit 0 "backup --init through it" ep backup --init -q -k "$T/k.key" --endpoint "$D" "$AO" "disk:$T/d.raw" "iac:$T/tree"
	seeded 14 $((200 << 10)) | dd of="$T/d.raw" bs=100K seek=30 conv=notrunc status=none
	pids=()
	for i in 1 2 3; do # at once: claims may race and lose, and stay
		"${CREDS[@]}" "$ENVPACK" backup -q --json -k "$T/k.key" --endpoint "$D" "$AO" "disk:$T/d.raw" >"$T/ao$i.json" &
		pids+=($!)
	done
	wait "${pids[@]}"
	check "three backups at once through it, each incremental" \
		test "$(cat "$T"/ao[1-3].json | python3 -c 'import json, sys; r = [json.loads(l) for l in sys.stdin]; print(len(r), len({x["sequence"] for x in r}), all(x["reused_chunks"] > 0 for x in r))')" = "3 3 True"
	expect_exit 0 "snapshots" ep snapshots --json --endpoint "$D" "$AO"
	expect_exit 0 "restore" ep restore -q -p "$T/k.pub" --endpoint "$D" "$AO@latest" --to "dir:$T/rao"
	check "byte for byte" cmp "$T/d.raw" "$T/rao/d.raw"
	expect_exit 0 "verify --deep, inspect, diff, export, check --read-data" bash -c 'for c in "verify -p $1 --deep $3@latest" \
		"inspect $3@latest" "diff $3@latest $3@latest" "export -q -p $1 $3@latest -o $4" "check -q --read-data $3"; do
		"${@:5}" $c --endpoint "$2" || exit 1; done' _ "$T/k.pub" "$D" "$AO" "$T/ao.envpack" "${CREDS[@]}" "$ENVPACK"
	check "not one DELETE was sent" test "$(s3_requests d '^[^ ]+ [^ ]+ DELETE ' | wc -l)" = 0
	keys ao/ >"$T/ao-before"
	expect_exit 1 "forget with it fails at once" ep forget --endpoint "$D" "$AO" --keep-last 1
	expect_err "store '$AO': this credential cannot delete objects \(s3: DELETE s3://$B/ao/snapshots/\.envpack-delete-probe: 403 AccessDenied: Access Denied\), and forget removes them: run it with a credential that can" \
		"saying this credential cannot delete, and to run forget with one that can"
	expect_exit 1 "so does prune" ep prune --endpoint "$D" "$AO"
	expect_err "cannot delete objects .*, and prune removes them.*Nothing was changed" "likewise"
	expect_exit 1 "even waiting for a lock (--lock-wait 30: it does not wait)" timeout 10 "${CREDS[@]}" "$ENVPACK" forget --lock-wait 30 --endpoint "$D" "$AO" --keep-last 1
	keys ao/ >"$T/ao-after"
	check "nothing changed: the same objects before and after" cmp "$T/ao-before" "$T/ao-after"
	expect_exit 0 "prune --dry-run runs (it removes nothing)" ep prune --dry-run --endpoint "$D" "$AO"
	expect_err "this credential cannot delete objects .*prune without --dry-run would fail with it" "warning that prune would fail with it"
	check "their only DELETEs were the probes, of names that are no object" test "$(s3_requests d ' DELETE ' | grep -vc '/\.envpack-delete-probe ')" = 0
	expect_exit 0 "forget --prune with the server's own credential" ep forget -q --endpoint "$E" "$AO" --keep-last 1 --prune
	check "leaves no lock record but its own and its release, one claim" test "$(nkeys ao/locks/) $(live_locks ao) $(nkeys ao/claims/)" = "2 0 1"
	stop_s3 d
else
	not_ok "start the denying proxy"
fi

finish
