#!/usr/bin/env bash
# A backup costs what changed, not what the store holds (formats/STORE.md,
# section 12): it never lists chunks/; the chunks the environment's last
# snapshot names and those of the host's chunk cache are taken as there, the
# store is asked (stat, HEAD) about the rest alone. The cache is dropped once a
# prune removed chunks (the store's generation moved), or the store was rolled
# back: a chunk a prune removed is written again, never taken on trust.
# --check-chunks asks about every chunk and writes back one lost by hand.
# Readers of a snapshot (restore, export, verify) list no chunk either: they
# fetch the chunks it names, a missing one failing with exit 3.
# On S3 (s3rver), an unchanged backup of a disk whose extents are in list
# chunks sends as many LISTs into a store of 1100 more chunks as into one of
# its own, and no HEAD: the chunk cache's snapshot is found among those listed,
# the list chunk is fetched without asking its size (--json: 4 PUTs: lock
# record, sequence claim, manifest, the lock's release, no signature; 5 LISTs;
# GETs of config.json, generation, and each snapshot's manifest, signature and
# list chunk); a restore sends a GET for each chunk it reads, no LIST, no HEAD.
# verify (without --deep) and inspect of the snapshot, and import of its bundle,
# ask of each distinct chunk one HEAD, several in flight at once (at most 8), none
# listed; a chunk removed from the bucket fails verify (exit 3, naming it and the
# snapshot), and import writes back that one chunk alone.
. "$(dirname "$0")/../lib.sh"
. "$HERE/s3.sh"

ep() { timeout -k 5 300 "$ENVPACK" "$@"; }
S=$T/store
seeded() { python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(int(sys.argv[1])).randbytes(int(sys.argv[2])))' "$@"; }
truncate -s 32M "$T/a.raw" "$T/b.raw"
seeded 1 $((8 << 20)) | dd of="$T/a.raw" bs=1M seek=2 conv=notrunc status=none
seeded 2 $((4 << 20)) | dd of="$T/b.raw" bs=1M seek=1 conv=notrunc status=none
look() { jq_ 'd["lookups"]["previous"] > 0, d["lookups"]["chunk_cache"], d["lookups"]["asked"], d["added_chunks"]' "$T/out"; }
chunks_of() { jq_ 'd["chunks"]' "$T/out"; }
# dirs_listed LOG: the directories under chunks/ that strace saw opened (a listing of them)
dirs_listed() { grep -cE '"chunks/([0-9a-f]{2}/)?", [^)]*O_DIRECTORY' "$1"; }
# placeholders DIR N: N objects with chunk names in a dir: store (1 byte each: valid names, no chunk)
placeholders() {
	python3 - "$1" "$2" <<'PY'
import os, random, sys
r = random.Random(5)
for _ in range(int(sys.argv[2])):
    h = r.randbytes(32).hex()
    os.makedirs(f"{sys.argv[1]}/chunks/{h[:2]}", exist_ok=True)
    open(f"{sys.argv[1]}/chunks/{h[:2]}/{h}.zst", "wb").write(b"x")
PY
}

# 1. a new store is asked nothing; the next backup of the environment takes its last snapshot's chunks
expect_exit 0 "first backup (--init)" ep backup --init -q --json "$S" "disk:$T/a.raw"
check "asks the new store about no chunk ($(look))" test "$(look)" = "False none 0 $(chunks_of)"
NA=$(chunks_of)
expect_exit 0 "the same disk again (--force: read, not taken from the files cache)" ep backup --force -q --json "$S" "disk:$T/a.raw"
check "its chunks known from the last snapshot and the cache, none asked, none added ($(look))" test "$(look)" = "True used 0 0"
check "the chunk cache names the store and its generation (none yet)" \
	grep -q "^envpack-chunk-cache 2 $(jq_ 'd["id"]' "$S/config.json") none " "$ENVPACK_STATE_DIR"/stores/*.chunks

# 2. a store of 1100 more chunks: still not listed (strace: no chunks/ directory opened)
placeholders "$S" 1100
expect_exit 0 "a backup into the grown store" ep backup --force -q --json "$S" "disk:$T/a.raw"
check "asks about nothing ($(look))" test "$(look)" = "True used 0 0"
if command -v strace >/dev/null; then
	strace -f -e trace=openat,open -o "$T/strace.log" "$ENVPACK" backup --force -q "$S" "disk:$T/a.raw" >/dev/null 2>&1
	check "opens no directory under chunks/ ($(dirs_listed "$T/strace.log") opens)" test "$(dirs_listed "$T/strace.log")" = 0
fi

# 2b. readers of the grown store fetch what the snapshot names and list nothing
NCH=$(chunks_of)
# traced NAME CMD...: CMD under strace (its log $T/NAME.log), its exit code in RC (an ASan
# build's leak check cannot run under ptrace: off there)
traced() {
	local name=$1
	shift
	if command -v strace >/dev/null; then
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -e trace=openat,open -o "$T/$name.log" "$@" >"$T/out" 2>"$T/err"
	else
		"$@" >"$T/out" 2>"$T/err"
	fi
	RC=$?
}
# listed_none NAME: the traced run opened no directory under chunks/
listed_none() { test ! -e "$T/$1.log" || test "$(dirs_listed "$T/$1.log")" = 0; }
fetched() { grep -cE '"chunks/../[0-9a-f]{64}\.zst"' "$T/$1.log" 2>/dev/null; }
traced restore "$ENVPACK" restore -q --insecure-skip-verify "$S@latest" --to "dir:$T/r1"
check "restore of the grown store's snapshot (exit $RC)" test "$RC" = 0
check "is the disk, byte for byte" cmp "$T/a.raw" "$T/r1/a.raw"
check "opening no directory under chunks/ ($(dirs_listed "$T/restore.log" 2>/dev/null))" listed_none restore
check "but each of the $NCH chunks it names ($(fetched restore) opened)" \
	bash -c '! command -v strace >/dev/null || test "$1" -ge "$2"' _ "$(fetched restore)" "$NCH"
traced export "$ENVPACK" export -q --insecure-skip-verify "$S@latest" -o "$T/e.envpack"
check "export of it (exit $RC)" test "$RC" = 0
check "lists no chunk ($(dirs_listed "$T/export.log" 2>/dev/null))" listed_none export
expect_exit 0 "the exported bundle restores" ep restore -q --insecure-skip-verify "$T/e.envpack" --to "dir:$T/r2"
check "byte for byte" cmp "$T/a.raw" "$T/r2/a.raw"
traced deep "$ENVPACK" verify --deep --insecure-skip-verify "$S@latest"
check "verify --deep of it (exit $RC)" test "$RC" = 0
check "lists no chunk ($(dirs_listed "$T/deep.log" 2>/dev/null))" listed_none deep
traced shallow "$ENVPACK" verify --insecure-skip-verify "$S@latest"
check "verify without --deep (exit $RC), each chunk asked, none listed" listed_none shallow
VICTIM=$(find "$S/chunks" -name '*.zst' -size +1c | head -n 1)
mv "$VICTIM" "$T/victim"
expect_exit 3 "restore with a chunk missing fails" ep restore -q --insecure-skip-verify "$S@latest" --to "dir:$T/r3"
expect_err "'$S@[0-9a-f]{8}': chunk $(basename "$VICTIM" .zst) (of 'a' )?is missing" "naming the chunk and the snapshot"
check "and restores nothing" test ! -e "$T/r3"
expect_exit 3 "restore --dry-run, which reads no chunk, still asks each and finds it missing" \
	ep restore -q --dry-run --insecure-skip-verify "$S@latest" --to "dir:$T/r3"
expect_exit 3 "verify without --deep finds it missing" ep verify --insecure-skip-verify "$S@latest"
expect_err "chunk $(basename "$VICTIM" .zst) of 'a' is missing" "naming it and its disk"
mv "$T/victim" "$VICTIM"
expect_exit 0 "check still lists every chunk" ep check --json "$S"
check "counting the placeholders too ($(jq_ 'd["chunks"]' "$T/out"))" test "$(jq_ 'd["chunks"] >= 1100' "$T/out")" = True
# a dir: store listed by name alone: check stats the chunks the snapshot names, not the 1100 others
if command -v strace >/dev/null; then
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -e trace=/stat -o "$T/check.log" "$ENVPACK" check "$S" >/dev/null 2>&1
	STATS=$(grep -cE '[0-9a-f]{64}\.zst"' "$T/check.log")
	check "stat(2) of the $NCH named chunks alone ($STATS)" test "$STATS" -ge 1 -a "$STATS" -le "$NCH"
fi
cp "$VICTIM" "$T/victim"
: >"$VICTIM"
expect_exit 3 "an empty chunk file is no chunk: check fails" ep check "$S"
expect_err "chunk $(basename "$VICTIM" .zst) of snapshot [0-9a-f]{8} is missing" "naming it"
cp "$T/victim" "$VICTIM"
find "$S/chunks" -size 1c -delete

# 3. another environment of the host: the chunk cache answers; without it, the store is asked
expect_exit 0 "the disk under another name" ep backup --force -q --json -n other "$S" "disk:$T/a.raw"
check "no last snapshot of its own, the cache knows every chunk ($(look))" test "$(look)" = "False used 0 0"
mv "$ENVPACK_STATE_DIR"/stores/*.chunks "$T/cache.bak"
expect_exit 0 "a third name, the chunk cache gone" ep backup --force -q --json -n third "$S" "disk:$T/a.raw"
check "asks about each distinct chunk, adds none ($(look))" test "$(look)" = "False none $NA 0"
check "and makes the cache anew" test -s "$(ls "$ENVPACK_STATE_DIR"/stores/*.chunks)"

# 4. a prune that removes chunks moves the generation: caches made before are not trusted
expect_exit 0 "disk b under name gone" ep backup -q --json -n gone "$S" "disk:$T/b.raw"
NB=$(chunks_of)
GONE=$(jq_ 'd["snapshot"]' "$T/out")
cp "$(ls "$ENVPACK_STATE_DIR"/stores/*.chunks)" "$T/cache-with-b"
expect_exit 0 "forget it" ep forget -q "$S" "$GONE"
check "forget alone moves no generation" test ! -e "$S/generation"
expect_exit 0 "prune removes its chunks" ep prune --json "$S"
check "removed $NB chunks ($(jq_ 'd["prune"]["chunks_removed"]' "$T/out"))" test "$(jq_ 'd["prune"]["chunks_removed"]' "$T/out")" = "$NB"
check "and wrote a new generation" grep -qE '^[0-9a-f]{32}$' "$S/generation"
cp "$T/cache-with-b" "$(ls "$ENVPACK_STATE_DIR"/stores/*.chunks)" # the cache that still names b's chunks
expect_exit 0 "disk b again, under a new name" ep backup --force -q --json -n back "$S" "disk:$T/b.raw"
check "the cache is stale: every chunk asked, all written again ($(look))" test "$(look)" = "False stale $NB $NB"
expect_exit 0 "check --read-data after" ep check --read-data "$S"
expect_exit 0 "the next backup of it" ep backup --force -q --json -n back "$S" "disk:$T/b.raw"
check "uses the new cache and the last snapshot ($(look))" test "$(look)" = "True used 0 0"
G1=$(cat "$S/generation")
expect_exit 0 "a prune with nothing to remove" ep prune -q "$S"
check "leaves the generation as it was" test "$(cat "$S/generation")" = "$G1"

# 5. a store rolled back (restored from a copy) is not the store the cache describes
cp -a "$S" "$T/store-copy"
seeded 3 $((2 << 20)) | dd of="$T/b.raw" bs=1M seek=20 conv=notrunc status=none
expect_exit 0 "b changed, backed up" ep backup -q --json -n back "$S" "disk:$T/b.raw"
NEW=$(jq_ 'd["added_chunks"]' "$T/out")
rm -rf "$S" && mv "$T/store-copy" "$S"
expect_exit 0 "the store rolled back, b backed up under another name" ep backup -q --json --force -n back2 "$S" "disk:$T/b.raw"
check "the cache names a snapshot the store lacks: stale, the $NEW new chunks written again ($(look))" \
	test "$(jq_ 'd["lookups"]["chunk_cache"], d["added_chunks"]' "$T/out")" = "stale $NEW"
expect_exit 0 "check --read-data after the rollback" ep check --read-data "$S"

# 6. a chunk lost by hand: backups trust the snapshots naming it; --check-chunks writes it back
LOST=$(find "$S/chunks" -name '*.zst' | head -n 1)
rm "$LOST"
expect_exit 3 "check finds the chunk missing" ep check "$S"
expect_exit 0 "backup --check-chunks of the disks" ep backup --check-chunks -q --json -n back2 "$S" "disk:$T/b.raw" "disk:$T/a.raw"
check "asks about every chunk, trusting no cache ($(jq_ 'd["lookups"]' "$T/out"))" \
	test "$(jq_ 'd["lookups"]["chunk_cache"], d["lookups"]["previous"], d["lookups"]["asked"] > 0' "$T/out")" = "ignored 0 True"
check "and writes the lost chunk again" test -s "$LOST"
expect_exit 0 "check --read-data passes again" ep check --read-data "$S"

# 7. S3: an unchanged backup's requests do not grow with the store
start_s3 s || { not_ok "start the S3 server"; finish; exit 0; }
E=$S3_S_ENDPOINT
U=s3://$S3_S_BUCKET/big
eps() { env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" \
	AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null \
	AWS_SHARED_CREDENTIALS_FILE=/dev/null timeout -k 5 300 "$ENVPACK" "$@" --endpoint "$E"; }
# c: more than 32 chunks, so its extents go into a list chunk (BUNDLE.md, extent_lists)
truncate -s 64M "$T/c.raw"
seeded 4 $((40 << 20)) | dd of="$T/c.raw" bs=1M seek=4 conv=notrunc status=none
expect_exit 0 "backup --init into $U" eps backup --init -q --json "$U" "disk:$T/c.raw"
check "its extents are in a list chunk ($(jq_ 'd["chunks"]' "$T/out") chunks)" test "$(jq_ 'd["chunks"] > 32' "$T/out")" = True
heads() { s3_requests s ' HEAD ' | wc -l; }
H0=$(heads)
expect_exit 0 "again, unchanged" eps backup --force -q --json "$U" "disk:$T/c.raw"
cp "$T/out" "$T/s1.json"
req() { jq_ '" ".join(f"{k}={v}" for k, v in sorted(d["requests"].items()))' "$1"; }
EXACT="delete=0 get=5 head=0 list=5 other=0 put=4 retention=0"
check "exactly $EXACT: no HEAD of the cache's snapshot or of the list chunk ($(req "$T/s1.json"))" \
	test "$(req "$T/s1.json")" = "$EXACT"
check "and s3rver logged no HEAD during it ($(($(heads) - H0)))" test "$(heads)" = "$H0"
mkdir -p "$T/ph" && placeholders "$T/ph" 1100
aws_s3 s s3 cp --quiet --recursive "$T/ph/chunks" "s3://$S3_S_BUCKET/big/chunks" >"$T/aws.log" 2>&1
check "1100 placeholder chunks went up ($(head -c 300 "$T/aws.log"))" test "$(aws_s3 s s3 ls --recursive "s3://$S3_S_BUCKET/big/chunks/" | wc -l)" -ge 1100
expect_exit 0 "unchanged, into the grown store" eps backup --force -q --json "$U" "disk:$T/c.raw"
cp "$T/out" "$T/s2.json"
EXACT2="delete=0 get=8 head=0 list=5 other=0 put=4 retention=0" # a second snapshot read: 3 GETs more
check "the same but for the second snapshot's GETs: $EXACT2 ($(req "$T/s2.json"))" test "$(req "$T/s2.json")" = "$EXACT2"
check "as many LISTs as before ($(jq_ 'd["requests"]["list"]' "$T/s1.json") then $(jq_ 'd["requests"]["list"]' "$T/s2.json"))" \
	test "$(jq_ 'd["requests"]["list"]' "$T/s2.json")" = "$(jq_ 'd["requests"]["list"]' "$T/s1.json")"
check "no HEAD of a chunk, no chunk PUT ($(jq_ 'd["requests"]' "$T/s2.json"))" \
	test "$(jq_ 'd["lookups"]["asked"], d["added_chunks"]' "$T/s2.json")" = "0 0"

# a restore from it: a GET for each chunk the snapshot names (and its list chunk), no LIST of chunks/, no HEAD
N0=$(s3_requests s | wc -l)
expect_exit 0 "restore from the grown store" eps restore -q --insecure-skip-verify "$U@latest" --to "dir:$T/rs"
check "byte for byte" cmp "$T/c.raw" "$T/rs/c.raw"
sleep 1 # s3rver logs a request once answered
s3_requests s | tail -n +$((N0 + 1)) >"$T/restore-requests.log"
check "no LIST of chunks/ ($(grep -c 'prefix=big%2Fchunks' "$T/restore-requests.log"))" \
	test "$(grep -c 'prefix=big%2Fchunks' "$T/restore-requests.log")" = 0
check "no HEAD ($(grep -c ' HEAD ' "$T/restore-requests.log"))" test "$(grep -c ' HEAD ' "$T/restore-requests.log")" = 0
# (latest: the list chunk read too with each snapshot's manifest to find which is latest)
got() { grep -o ' GET /[^ ]*/big/chunks/[^ ]*' "$T/restore-requests.log" | sort -u | wc -l; }
check "GETs of the $(jq_ 'd["chunks"]' "$T/s2.json") chunks and the list chunk alone ($(got) distinct)" \
	test "$(got)" = "$(($(jq_ 'd["chunks"]' "$T/s2.json") + 1))"

# readers that ask (verify without --deep, inspect) and import: a HEAD a distinct chunk, many at once
NC=$(jq_ 'd["chunks"]' "$T/s2.json")
# in_flight FROM: the most HEADs of chunks the server held at once, among its requests after line FROM
in_flight() {
	sleep 1
	s3_requests s | tail -n +$(($1 + 1)) | awk '$3 == "HEAD" && $4 ~ /\/chunks\// { print $1, 1; print $2, -1 }' |
		sort -k1,1n -k2,2n | awk '{ n += $2; if (n > m) m = n } END { print m + 0 }'
}
N0=$(s3_requests s | wc -l)
expect_exit 0 "verify without --deep of it" eps verify --json --insecure-skip-verify "$U@latest"
# GETs: config.json, each of the 3 snapshots' manifest, signature and list chunk (latest), then
# the one named again (manifest, signature, list chunk); one LIST: snapshots/
EXACTV="delete=0 get=13 head=$NC list=1 other=0 put=0 retention=0"
check "sends exactly $EXACTV: a HEAD a chunk, no LIST of chunks/ ($(req "$T/out"))" test "$(req "$T/out")" = "$EXACTV"
V=$(in_flight "$N0")
check "several HEADs in flight at once, at most 8 ($V)" test "$V" -ge 2 -a "$V" -le 8
N0=$(s3_requests s | wc -l)
expect_exit 0 "inspect of it" eps inspect --json "$U@latest"
check "sends exactly $EXACTV too ($(req "$T/out"))" test "$(req "$T/out")" = "$EXACTV"
check "its stored bytes are the chunks' ($(jq_ 'd["stored_bytes"] > 0' "$T/out"))" test "$(jq_ 'd["stored_bytes"] > 0' "$T/out")" = True
V=$(in_flight "$N0")
check "several HEADs in flight at once, at most 8 ($V)" test "$V" -ge 2 -a "$V" -le 8
expect_exit 0 "export of it" eps export -q --insecure-skip-verify "$U@latest" -o "$T/c.envpack"
N0=$(s3_requests s | wc -l)
expect_exit 0 "import of that bundle into the store that holds it" eps import --json --insecure-skip-verify "$T/c.envpack" "$U"
# the list chunk is one of the bundle's chunks too: a HEAD more; config.json, locks/ listed twice,
# the lock record, the manifest (there already: refused) and the release
EXACTI="delete=0 get=1 head=$((NC + 1)) list=2 other=0 put=3 retention=0"
check "sends exactly $EXACTI: a HEAD a chunk, no chunk put ($(req "$T/out"))" test "$(req "$T/out")" = "$EXACTI"
V=$(in_flight "$N0")
check "several HEADs in flight at once, at most 8 ($V)" test "$V" -ge 2 -a "$V" -le 8
# the largest: a chunk of the disk's data (not the small list chunk, nor a 1-byte placeholder)
GONE_KEY=$(aws_s3 s s3 ls --recursive "s3://$S3_S_BUCKET/big/chunks/" | sort -k3,3n | awk 'END { print $4 }')
aws_s3 s s3 rm --quiet "s3://$S3_S_BUCKET/$GONE_KEY"
expect_exit 3 "verify with a chunk removed from the bucket" eps verify --insecure-skip-verify "$U@latest"
expect_err "'$U@[0-9a-f]{8}': chunk $(basename "$GONE_KEY" .zst) of 'c' is missing" "naming the chunk and the snapshot"
expect_exit 0 "import of the bundle again" eps import --json --insecure-skip-verify "$T/c.envpack" "$U"
EXACTI1="delete=0 get=1 head=$((NC + 1)) list=2 other=0 put=4 retention=0"
check "asks about each chunk and puts the missing one alone: $EXACTI1 ($(req "$T/out"))" test "$(req "$T/out")" = "$EXACTI1"
expect_exit 0 "verify passes again" eps verify --insecure-skip-verify "$U@latest"
finish
