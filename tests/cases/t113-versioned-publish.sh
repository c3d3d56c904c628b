#!/usr/bin/env bash
# Create-only publication on a versioned bucket (issue #17, item 3), judged by Ceph's radosgw
# (tests/radosgw.sh), which takes If-None-Match: * there as if it were absent: a second PUT adds
# a version. Two writers are made to race for certain: a proxy (tests/tools/s3_fault.py gate 2)
# holds the PUTs of the key until both came, so each had looked and found it free, then lets
# them through one after the other.
#   1. two `backup --init` of one store, each encrypting to its own key: one wins (exit 0), the
#      other exits 2 naming config.json; the current config.json is the winner's, the loser's
#      version is gone, and the winner's backup restores byte for byte
#   2. the same with an append-only credential, which may not remove its version, and in a
#      store with Object Lock, which retains it: the winner's bytes are current again (put
#      once more by the loser)
#   3. two `push` of different bundles to one key, in one PUT and in parts: one wins, the
#      object is its bundle; the loser's version is gone
#   4. a plain bucket: no ListObjectVersions is sent (radosgw's log); a versioned one costs a
#      LIST per create-only PUT (backup --json)
. "$(dirname "$0")/../lib.sh"
. "$HERE/radosgw.sh"

start_radosgw g || { not_ok "start radosgw"; finish; exit 0; }
ok "radosgw at $S3_G_ENDPOINT, started in $RGW_START_SECONDS s"
B=$S3_G_BUCKET # versioned below (its bucket policy is radosgw_append_only's)
E=$S3_G_ENDPOINT
P=plain
rgw_call g admin PutBucketVersioning "{\"Bucket\": \"$B\", \"VersioningConfiguration\": {\"Status\": \"Enabled\"}}" >/dev/null &&
	rgw_call g admin CreateBucket "{\"Bucket\": \"$P\"}" >/dev/null || not_ok "make the buckets"
radosgw_append_only g ao || not_ok "make the append-only user"
ep() { radosgw_envpack g "$@"; } # ep UID ARGS...: envpack with UID's keys, nothing from ~/.aws
# versions KEY: how many versions KEY has in $B (delete markers apart), as botocore lists them
versions() {
	rgw_call g admin ListObjectVersions "{\"Bucket\": \"$B\", \"Prefix\": \"$1\"}" >"$T/versions.json" &&
		python3 -c 'import json, sys; print(sum(v["Key"] == sys.argv[2] for v in json.load(open(sys.argv[1])).get("Versions", [])))' \
			"$T/versions.json" "$1"
}
current() { rm -f "$T/cur" && rgw_call g admin GetObject "{\"Bucket\": \"$B\", \"Key\": \"$1\"}" --out "$T/cur" >/dev/null; }
keyid() { openssl pkey -pubin -in "$1" -outform DER | tail -c 32 | sha256sum | cut -c1-16; }
seeded() { python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(int(sys.argv[1])).randbytes(int(sys.argv[2])))' "$@"; }

"$ENVPACK" keygen -o "$T/k" >/dev/null
"$ENVPACK" keygen --x25519 -o "$T/ka" >/dev/null
"$ENVPACK" keygen --x25519 -o "$T/kb" >/dev/null
truncate -s 8M "$T/d.raw"
seeded 1 $((3 << 20)) | dd of="$T/d.raw" bs=1M seek=2 conv=notrunc status=none

# race NAME REGEX CMD_A -- CMD_B: both at once through proxy NAME, which holds the requests
# matching REGEX until both sent theirs; sets WIN and LOSE (a or b) when exactly one exited 0
# and the other 2 (its stderr in $T/err), else fails the check
race() {
	local name=$1 match=$2 a=() pa pb
	shift 2
	while [ "$1" != -- ]; do a+=("$1"); shift; done
	shift
	start_s3_fault "$name" g gate 2 --match "$match" || { not_ok "start the proxy $name"; return 1; }
	local end=S3_${name^^}_ENDPOINT
	"${a[@]/@PROXY@/${!end}}" >"$T/out.a" 2>"$T/err.a" &
	pa=$!
	"${@/@PROXY@/${!end}}" >"$T/out.b" 2>"$T/err.b" &
	pb=$!
	wait "$pa"; local ca=$?
	wait "$pb"; local cb=$?
	WIN= LOSE=
	[ "$ca $cb" = "0 2" ] && WIN=a LOSE=b
	[ "$ca $cb" = "2 0" ] && WIN=b LOSE=a
	check "$name: exactly one writer wins (exit 0), the other exits 2 (exits: $ca $cb)" test -n "$WIN"
	cp "$T/err.${LOSE:-b}" "$T/err"
	echo "# $name: the loser said: $(head -c 400 "$T/err")"
	stop_s3 "$name"
}

# 1. two inits of one store at once, each to its own encryption key
S=s3://$B/race/store
init() { echo "ep admin backup --init -q -k $T/k.key --encrypt-to $T/k$1.pub --endpoint @PROXY@ $S disk:$T/d.raw"; }
# shellcheck disable=SC2046 # the words of init's line
race init "^PUT /$B/race/store/config\.json" $(init a) -- $(init b)
expect_err "race/store': config\.json exists \(another writer's version [^ ]+ came first; this one's was removed\)" \
	"the loser names config.json, says it exists and that its own version was removed"
current race/store/config.json
check "the current config.json is the winner's (botocore: encrypted to its key)" grep -q "\"recipient\":\"$(keyid "$T/k$WIN.pub")\"" "$T/cur"
check "the loser's version is gone: config.json has one version" test "$(versions race/store/config.json)" = 1
check "both PUTs of config.json reached radosgw (200)" test "$(grep -c " PUT /$B/race/store/config\.json 200\$" "$T/init/requests.log")" = 2
expect_exit 0 "the winner's backup restores" ep admin restore -q -p "$T/k.pub" --decrypt-key "$T/k$WIN.key" --endpoint "$E" "$S@latest" --to "dir:$T/r1"
check "byte for byte" cmp "$T/d.raw" "$T/r1/d.raw"

# 2. an append-only credential cannot remove its version: it puts the winner's bytes again
S=s3://$B/race/ao
aoinit() { echo "ep ao backup --init -q -k $T/k.key --encrypt-to $T/k$1.pub --endpoint @PROXY@ $S disk:$T/d.raw"; }
# shellcheck disable=SC2046
race aorace "^PUT /$B/race/ao/config\.json" $(aoinit a) -- $(aoinit b)
expect_err "config\.json exists \(another writer's version [^ ]+ came first and is current again; .*S3 refused its removal" \
	"the loser names config.json, says it exists and that the winner's version is current again"
check "its DELETE of its version was refused (403)" grep -qE " DELETE /$B/race/ao/config\.json\?versionId=[^ ]* 403\$" "$T/aorace/requests.log"
current race/ao/config.json
check "the current config.json is the winner's all the same" grep -q "\"recipient\":\"$(keyid "$T/k$WIN.pub")\"" "$T/cur"
check "three versions: the winner's, the loser's, the winner's put again" test "$(versions race/ao/config.json)" = 3
expect_exit 0 "the winner's backup restores" ep ao restore -q -p "$T/k.pub" --decrypt-key "$T/k$WIN.key" --endpoint "$E" "$S@latest" --to "dir:$T/r2"
check "byte for byte" cmp "$T/d.raw" "$T/r2/d.raw"

# ... nor may anyone remove a version Object Lock retains: the same in a store with Object Lock
rgw_call g admin CreateBucket '{"Bucket": "locked", "ObjectLockEnabledForBucket": true}' >/dev/null || not_ok "make a bucket with Object Lock"
S=s3://locked/store
lockinit() { echo "ep admin backup --init -q --object-lock 1 -k $T/k.key --encrypt-to $T/k$1.pub --endpoint @PROXY@ $S disk:$T/d.raw"; }
# shellcheck disable=SC2046
race lockrace "^PUT /locked/store/config\.json" $(lockinit a) -- $(lockinit b)
expect_err "config\.json exists \(another writer's version [^ ]+ came first and is current again" \
	"the loser names config.json, says it exists and that the winner's version is current again"
check "radosgw refused the DELETE of its retained version (403)" grep -qE " DELETE /locked/store/config\.json\?versionId=[^ ]* 403\$" "$T/lockrace/requests.log"
rm -f "$T/cur" && rgw_call g admin GetObject '{"Bucket": "locked", "Key": "store/config.json"}' --out "$T/cur" >/dev/null
check "the current config.json is the winner's" grep -q "\"recipient\":\"$(keyid "$T/k$WIN.pub")\"" "$T/cur"
check "and retained (botocore's GetObjectRetention)" bash -c 'grep -q GOVERNANCE <<<"$1"' _ "$(rgw_call g admin GetObjectRetention '{"Bucket": "locked", "Key": "store/config.json"}')"

# 3. two pushes of different bundles to one key: in one PUT, then in parts
"$ENVPACK" pack -q -k "$T/k.key" -o "$T/a.envpack" "disk:$T/d.raw" && cp "$T/d.raw" "$T/d2.raw" &&
	seeded 2 $((1 << 20)) | dd of="$T/d2.raw" bs=1M seek=1 conv=notrunc status=none &&
	"$ENVPACK" pack -q -k "$T/k.key" -o "$T/b.envpack" "disk:$T/d2.raw" || not_ok "pack two bundles"
push() { echo "ep admin push -q $2 $T/$1.envpack s3://$B/race/$3 --endpoint @PROXY@"; }
# shellcheck disable=SC2046
race push "^PUT /$B/race/x\.envpack" $(push a '' x.envpack) -- $(push b '' x.envpack)
expect_err "race/x\.envpack exists \(another writer's version [^ ]+ came first; this one's was removed\)" \
	"the loser names the key, says it exists and that its version was removed"
current race/x.envpack
check "the object is the winner's bundle" cmp "$T/cur" "$T/$WIN.envpack"
check "the loser's version is gone" test "$(versions race/x.envpack)" = 1
head -c 6M /dev/urandom >"$T/big.raw" # two parts of 5 MiB at most
"$ENVPACK" pack -q -k "$T/k.key" -o "$T/c.envpack" "disk:$T/big.raw" && head -c 6M /dev/urandom >"$T/big.raw" &&
	"$ENVPACK" pack -q -k "$T/k.key" -o "$T/d.envpack" "disk:$T/big.raw" || not_ok "pack two big bundles"
# shellcheck disable=SC2046
race multi "^POST /$B/race/big\.envpack\?uploadId=" $(push c '--part-size 5' big.envpack) -- $(push d '--part-size 5' big.envpack)
WIN=${WIN/a/c} LOSE=${LOSE/a/c}
WIN=${WIN/b/d} LOSE=${LOSE/b/d}
expect_err "race/big\.envpack exists" "in parts: the loser names the key and says it exists"
current race/big.envpack
check "the object is the winner's bundle" cmp "$T/cur" "$T/$WIN.envpack"
check "the loser's version is gone" test "$(versions race/big.envpack)" = 1

# 4. a plain bucket costs nothing more: no ListObjectVersions
listed() { s3_requests g " GET /$1(/)?\?[^ ]*versions" | wc -l; }
check "on the versioned bucket each create-only PUT was judged by ListObjectVersions ($(listed "$B"))" test "$(listed "$B")" -ge 10
expect_exit 0 "push into it" ep admin push -q "$T/a.envpack" "s3://$P/a.envpack" --endpoint "$E"
expect_exit 0 "backup --init into the plain bucket" ep admin backup --init --json -k "$T/k.key" --endpoint "$E" "s3://$P/store" "disk:$T/d.raw"
check "radosgw was sent no ListObjectVersions on it" test "$(listed "$P")" = 0
cp "$T/out" "$T/plain.json"
expect_exit 0 "the same backup --init into the versioned bucket, alone" ep admin backup --init --json -k "$T/k.key" --endpoint "$E" "s3://$B/calm" "disk:$T/d.raw"
more=$(($(jq_ 'd["requests"]["list"]' "$T/out") - $(jq_ 'd["requests"]["list"]' "$T/plain.json")))
check "it cost a LIST more per create-only PUT ($more), and nothing else more" \
	test "$more" -ge 3 -a "$more" -le 8 -a "$(jq_ '[v for k, v in d["requests"].items() if k != "list"]' "$T/out")" = "$(jq_ '[v for k, v in d["requests"].items() if k != "list"]' "$T/plain.json")"
echo "# requests of a first backup: plain bucket $(jq_ 'd["requests"]' "$T/plain.json"), versioned $(jq_ 'd["requests"]' "$T/out")"
finish
