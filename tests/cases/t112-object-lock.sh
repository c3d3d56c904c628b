#!/usr/bin/env bash
# S3 Object Lock (issue #17, items 2 and 5) judged by Ceph's radosgw (tests/radosgw.sh): a
# bucket made with Object Lock keeps every version of an object until its retain-until date.
# ENVPACK_OBJECT_LOCK_DAY_SECONDS makes a policy's day 15 s: --object-lock 3 retains for 3 days and
# a day of slack (60 s), a backup reuses chunks untouched for the slack (15 s: an unchanged backup
# "at once" must start within it, under ASan and a loaded machine too), and --object-lock 1 retains
# for 30 s, so the case sees an extension and a retention pass within about a minute.
#   1. --init --object-lock refused, naming why, writing nothing: a bucket without Object Lock,
#      a dir: store, the flag without --init, a bad --lock-mode
#   2. a backup into a compliance store, and an unchanged one at once: every object retained
#      (botocore's GetObjectRetention), in compliance mode until the snapshot's floor or later,
#      lock records and claims an hour's governance
#   3. the unchanged backup sent no PutObjectRetention at all (--json, radosgw's log)
#   4. governance (while the slack passes): forget refuses, --bypass-governance removes every
#      version; prune keeps the chunks still retained and says until when
#   5. once the floor is less than the policy's days away: the reused chunks are extended, once
#   6. no one removes a retained snapshot: the admin's DeleteObject of its version is refused
#      (AccessDenied), envpack forget refuses (exit 1) and changes nothing; restore and check pass
#   7. check warns of a snapshot whose manifest lost its retention (a version put over it)
#   8. once the governance store's chunks are past their retention, prune removes them; the
#      probes of forget and prune (a DELETE of .envpack-delete-probe in each folder) left no
#      delete marker in the versioned bucket (botocore's ListObjectVersions)
#   9. an append-only user (tests/radosgw.sh: radosgw_append_only --object-lock) backs up into
#      an Object Lock store the admin made: retained as the admin's backups are, nothing sent
#      for an unchanged backup, extended once the slack has passed; forget, prune and forget
#      --bypass-governance as it fail at once (exit 1), changing nothing; every snapshot restores
#  10. a host holding only an encrypted store's public key: an unchanged backup looks at no chunk,
#      its chunk cache recording its last snapshot's floor; without the cache, at every one
. "$(dirname "$0")/../lib.sh"
. "$HERE/radosgw.sh"

start_radosgw g || { not_ok "start radosgw"; finish; exit 0; }
ok "radosgw at $S3_G_ENDPOINT, started in $RGW_START_SECONDS s"
E=$S3_G_ENDPOINT
P=$S3_G_BUCKET # a plain bucket
L=locked       # made with Object Lock
S=s3://$L/dr/prod
export ENVPACK_OBJECT_LOCK_DAY_SECONDS=15
DAY=15
ep() { radosgw_envpack g "$@"; } # ep UID ARGS...: envpack with UID's keys, nothing from ~/.aws
keys() { rgw_call g admin --keys "$1" "$2"; } # keys BUCKET PREFIX
# boto_admin ARGS... <SCRIPT: a Python script run with c, botocore's S3 client with the admin's
# keys (sys.argv[1:]: ARGS)
boto_admin() {
	local envs
	envs=$(radosgw_env g admin)
	# shellcheck disable=SC2046 # one word a line, no spaces
	env $envs python3 -c "import os, sys
import botocore.config, botocore.exceptions, botocore.session
c = botocore.session.get_session().create_client(
    's3', region_name='us-east-1', endpoint_url=os.environ['AWS_ENDPOINT_URL'],
    aws_access_key_id=os.environ['AWS_ACCESS_KEY_ID'], aws_secret_access_key=os.environ['AWS_SECRET_ACCESS_KEY'],
    config=botocore.config.Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 1}))
$(cat)" "$@"
}
# retentions PREFIX: each current object under PREFIX in the locked bucket as botocore's
# GetObjectRetention reads it, "KEY MODE UNTIL" (seconds since the epoch; "- 0" when none)
retentions() {
	boto_admin "$L" "$1" <<'PY'
for page in c.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[1], Prefix=sys.argv[2]):
    for o in page.get('Contents', []):
        try:
            r = c.get_object_retention(Bucket=sys.argv[1], Key=o['Key'])['Retention']
            print(o['Key'], r['Mode'], int(r['RetainUntilDate'].timestamp()))
        except botocore.exceptions.ClientError:
            print(o['Key'], '-', 0)
PY
}
# probe_markers PREFIX: the delete markers under PREFIX in the locked bucket named
# .envpack-delete-probe, every page of botocore's ListObjectVersions
probe_markers() {
	boto_admin "$L" "$1" <<'PY'
n = 0
for page in c.get_paginator('list_object_versions').paginate(Bucket=sys.argv[1], Prefix=sys.argv[2]):
    n += sum(m['Key'].endswith('/.envpack-delete-probe') for m in page.get('DeleteMarkers', []))
print(n)
PY
}
retention_puts() { s3_requests g " PUT /$L/[^ ]*\?retention 200\$" | wc -l; } # PutObjectRetention radosgw took
sleep_until() { local now; now=$(date +%s); [ "$1" -le "$now" ] || sleep $(($1 - now)); }
seeded() { python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(int(sys.argv[1])).randbytes(int(sys.argv[2])))' "$@"; }

"$ENVPACK" keygen -o "$T/k" >/dev/null
truncate -s 24M "$T/d.raw"
seeded 1 $((6 << 20)) | dd of="$T/d.raw" bs=1M seek=2 conv=notrunc status=none
mkdir -p "$T/tree" && echo one >"$T/tree/a.txt"
rgw_call g admin CreateBucket "{\"Bucket\": \"$L\", \"ObjectLockEnabledForBucket\": true}" >/dev/null ||
	not_ok "make a bucket with Object Lock"

# 1. refusals: exit 2, naming the bucket or the store, nothing written
expect_exit 2 "--init --object-lock into a bucket without Object Lock is refused (exit 2)" \
	ep admin backup --init --object-lock 1 -k "$T/k.key" --endpoint "$E" "s3://$P/nolock" "disk:$T/d.raw"
expect_err "bucket '$P' has no Object Lock .*ObjectLockConfigurationNotFoundError" "naming the bucket and radosgw's answer"
check "nothing under nolock/" test -z "$(keys "$P" nolock/)"
expect_exit 2 "--init --object-lock into dir: is refused (exit 2)" \
	ep admin backup --init --object-lock 1 -k "$T/k.key" "dir:$T/dirstore" "disk:$T/d.raw"
expect_err "store 'dir:$T/dirstore': Object Lock needs an s3:// store" "naming the store"
check "no directory made" test ! -e "$T/dirstore"
expect_exit 2 "--object-lock without --init is refused" ep admin backup --object-lock 1 --endpoint "$E" "$S" "disk:$T/d.raw"
expect_err "object-lock is given with --init" "saying it goes with --init"
expect_exit 2 "--lock-mode takes governance or compliance" \
	ep admin backup --init --object-lock 1 --lock-mode forever --endpoint "$E" "$S" "disk:$T/d.raw"
expect_err "lock-mode takes governance or compliance" "saying which"
check "nothing under dr/ in the locked bucket" test -z "$(keys "$L" dr/)"

# 2. the first backup into a compliance store, and (3.) an unchanged one at once, within the slack
t0=$(date +%s)
expect_exit 0 "backup --init --object-lock 3 --lock-mode compliance" ep admin backup --init --object-lock 3 \
	--lock-mode compliance -k "$T/k.key" --json --endpoint "$E" "$S" "disk:$T/d.raw" "iac:$T/tree"
cp "$T/out" "$T/b1.json"
t1=$(date +%s)
expect_exit 0 "an unchanged backup at once" ep admin backup -k "$T/k.key" --json --endpoint "$E" "$S" "disk:$T/d.raw" "iac:$T/tree"
cp "$T/out" "$T/b2.json"
floor1=$(jq_ 'd["object_lock"]["retain_until"]' "$T/b1.json")
f1=$(date -d "$floor1" +%s)
check "the first snapshot's floor ($floor1) is 3 days and a day's slack after the start" \
	test "$f1" -ge $((t0 + 4 * DAY)) -a "$f1" -le $((t1 + 4 * DAY))
retentions dr/prod/ >"$T/ret1"
check "every chunk and snapshot object is retained in compliance mode from the floor on, per botocore ($(grep -c -e /chunks/ -e /snapshots/ "$T/ret1") objects)" \
	awk -v f="$f1" -v e=$((t1 + 4 * DAY + 1)) '$1 ~ /\/(chunks|snapshots)\// { n++; if ($2 != "COMPLIANCE" || $3 < f || $3 > e) bad++ }
		END { exit !(n >= 8 && !bad) }' "$T/ret1"
check "the snapshots' objects exactly until their floor" \
	test "$(awk '$1 ~ /\/snapshots\// { print $2, $3 }' "$T/ret1" | sort | uniq -c | tr -s ' ')" = " 4 COMPLIANCE $f1"
check "config.json from its writing on, a day and its slack past the policy's 3 days" \
	awk -v t="$t0" -v d="$DAY" -v e=$((t1 + 4 * DAY + 1)) '$1 ~ /\/config.json$/ { n++; if ($2 != "COMPLIANCE" || $3 < t + 4 * d || $3 > e) bad++ } END { exit !(n == 1 && !bad) }' "$T/ret1"
check "its lock records and sequence claims an hour's governance ($(grep -c -e /locks/ -e /claims/ "$T/ret1"))" \
	awk -v t="$t0" '$1 ~ /\/(locks|claims)\// { n++; c += $1 ~ /claims/; if ($2 != "GOVERNANCE" || $3 < t + 3500 || $3 > t + 3700) bad++ }
		END { exit !(c == 2 && n >= 4 && !bad) }' "$T/ret1"
expect_exit 0 "snapshots --json" ep admin snapshots --json --endpoint "$E" "$S"
check "shows each snapshot's lock mode and retain-until" \
	test "$(jq_ 'd[0]["object_lock"] == d[1]["object_lock"], d[0]["object_lock"]' "$T/out")" = "True {'mode': 'compliance', 'retain_until': '$floor1'}"

# 3. the unchanged backup: the chunks are the last snapshot's, retained past the policy's days
check "sends no PutObjectRetention (--json: $(jq_ 'd["requests"]' "$T/b2.json"))" \
	test "$(jq_ 'd["requests"]["retention"], d["object_lock"]["extended"]' "$T/b2.json")" = "0 0"
check "radosgw logged none but the first backup's ($(jq_ 'd["requests"]["retention"]' "$T/b1.json"))" \
	test "$(retention_puts)" = "$(jq_ 'd["requests"]["retention"]' "$T/b1.json")"
check "every chunk it names is covered by the last snapshot's floor ($(jq_ 'd["object_lock"]["covered"]' "$T/b2.json"))" \
	test "$(jq_ 'd["object_lock"]["covered"] == d["chunks"]' "$T/b2.json")" = True
check "its floor is the last one's" test "$(jq_ 'd["object_lock"]["retain_until"]' "$T/b2.json")" = "$floor1"

# 4. governance, while the slack of 3 passes: --bypass-governance removes for good; prune keeps
# the chunks still retained (--object-lock 1: 30 s), and removes them at the end
G=s3://$L/dr/gov
seeded 2 $((4 << 20)) >"$T/g.raw"
expect_exit 0 "backup --init --object-lock 1 (governance)" \
	ep admin backup -q --init --object-lock 1 -k "$T/k.key" --endpoint "$E" "$G" "disk:$T/g.raw"
seeded 3 $((4 << 20)) >"$T/g.raw"
expect_exit 0 "a changed backup" ep admin backup -q -k "$T/k.key" --endpoint "$E" "$G" "disk:$T/g.raw"
expect_exit 1 "forget --keep-last 1 is refused" ep admin forget --endpoint "$E" "$G" --keep-last 1
expect_err "\(governance mode\) until .*: wait until then, or give --bypass-governance" "pointing at --bypass-governance"
expect_exit 0 "forget --keep-last 1 --bypass-governance" ep admin forget --json --bypass-governance --endpoint "$E" "$G" --keep-last 1
gone=$(jq_ 'd["remove"][0]["id"]' "$T/out")
check "no version of its manifest is left (ListObjectVersions)" bash -c '! grep -q "$1" <<<"$2"' _ "$gone" \
	"$(rgw_call g admin ListObjectVersions "{\"Bucket\": \"$L\", \"Prefix\": \"dr/gov/snapshots/\"}")"
expect_exit 0 "prune" ep admin prune --json --endpoint "$E" "$G"
cp "$T/out" "$T/prune1.json"
locked=$(jq_ 'd["prune"]["chunks_locked"]' "$T/out")
check "keeps the chunks only it named, still retained ($locked), and says until when" \
	test "$(jq_ 'd["prune"]["chunks_removed"], d["prune"]["chunks_locked"] > 0, d["prune"]["locked_until"] is not None' "$T/out")" = "0 True True"
# 5. once the floor is less than the policy's days away (after the slack), a backup extends
# what it reuses, each once
sleep_until $((f1 - 3 * DAY + 1)) # the floor is now less than the policy's 3 days away
puts=$(retention_puts)
t3=$(date +%s)
expect_exit 0 "a backup past the slack" ep admin backup -k "$T/k.key" --json --endpoint "$E" "$S" "disk:$T/d.raw" "iac:$T/tree"
cp "$T/out" "$T/b3.json"
extended=$(jq_ 'd["object_lock"]["extended"]' "$T/b3.json")
check "extends every chunk it names and config.json ($extended), a HEAD for config.json alone" \
	test "$(jq_ 'd["object_lock"]["extended"] == d["chunks"] + 1 == d["requests"]["retention"], d["object_lock"]["checked"]' "$T/b3.json")" = "True 1"
check "radosgw took as many PutObjectRetention" test "$(($(retention_puts) - puts))" = "$extended"
f3=$(date -d "$(jq_ 'd["object_lock"]["retain_until"]' "$T/b3.json")" +%s)
check "its floor is 3 days and a day's slack from now" test "$f3" -ge $((t3 + 4 * DAY))
retentions dr/prod/chunks/ >"$T/ret3"
check "botocore reads every chunk retained until that floor or later" awk -v f="$f3" '$3 < f { bad++ } END { exit bad || NR < 4 }' "$T/ret3"

# 6. no one removes a retained snapshot in compliance mode: the latest, retained the longest
keys "$L" dr/prod/ | grep -v /locks/ | sort >"$T/before"
id=$(jq_ 'd["snapshot"]' "$T/b3.json")
victim=dr/prod/snapshots/$id.json
version=$(rgw_call g admin HeadObject "{\"Bucket\": \"$L\", \"Key\": \"$victim\"}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["VersionId"])')
check "radosgw refuses the admin's DeleteObject of its version (AccessDenied)" \
	test "$(rgw_call g admin DeleteObject "{\"Bucket\": \"$L\", \"Key\": \"$victim\", \"VersionId\": \"$version\"}")" = "ERROR 403 AccessDenied"
expect_exit 1 "envpack forget of it is refused (exit 1)" ep admin forget --endpoint "$E" "$S" "$id"
expect_err "snapshot ${id:0:8} is retained by Object Lock \(compliance mode\) until .*: no one may remove it before then; nothing was removed" \
	"saying until when, and that nothing was removed"
expect_exit 1 "so is forget --bypass-governance (compliance)" ep admin forget --bypass-governance --endpoint "$E" "$S" "$id"
keys "$L" dr/prod/ | grep -v /locks/ | sort >"$T/after"
check "nothing was removed" cmp "$T/before" "$T/after"
expect_exit 0 "restore it" ep admin restore -q -p "$T/k.pub" --endpoint "$E" "$S@${id:0:8}" --to "dir:$T/r1"
check "byte for byte" cmp "$T/d.raw" "$T/r1/d.raw"
expect_exit 0 "check --read-data -p" ep admin check --json --read-data -p "$T/k.pub" --endpoint "$E" "$S"
check "no snapshot is retained for less than the policy" test "$(jq_ 'd["ok"], d["retention_short"], d["warnings"]' "$T/out")" = "True 0 []"

# 7. a version put over a snapshot's manifest (its bytes, without retention): check warns
rgw_call g admin GetObject "{\"Bucket\": \"$L\", \"Key\": \"$victim\"}" --out "$T/m.json" >/dev/null &&
	rgw_call g admin PutObject "{\"Bucket\": \"$L\", \"Key\": \"$victim\"}" --body "$T/m.json" >/dev/null ||
	not_ok "put a version over the manifest"
expect_exit 0 "check warns, no problem (exit 0)" ep admin check --json --endpoint "$E" "$S"
check "retention_short 1" test "$(jq_ 'd["retention_short"]' "$T/out")" = 1
expect_err "warning: snapshot ${id:0:8} .* is not retained by Object Lock" "naming the snapshot"

# 8. the governance store's chunks once their retention has passed
until_=$(date -d "$(jq_ 'd["prune"]["locked_until"]' "$T/prune1.json")" +%s)
sleep_until $((until_ + 1))
expect_exit 0 "prune once that has passed" ep admin prune --json --endpoint "$E" "$G"
check "removes them" test "$(jq_ 'd["prune"]["chunks_removed"], d["prune"]["chunks_locked"]' "$T/out")" = "$locked 0"
expect_exit 0 "the store checks --read-data" ep admin check -q --read-data -p "$T/k.pub" --endpoint "$E" "$G"
check "the probes of the admin's forget and prune (allowed) left no delete marker ($(probe_markers dr/))" \
	test "$(probe_markers dr/)" = 0
check "they were sent: radosgw logged $(s3_requests g " DELETE /$L/dr/gov/snapshots/\.envpack-delete-probe 204\$" | wc -l) of them in snapshots/ of the governance store" \
	test "$(s3_requests g " DELETE /$L/dr/gov/snapshots/\.envpack-delete-probe 204\$" | wc -l)" -ge 3

# 9. an append-only user into an Object Lock store the admin made (governance, 3 days)
A=s3://$L/dr/ao
radosgw_append_only g ao --bucket "$L" --object-lock || not_ok "make the append-only user, with retentions"
ta=$(date +%s)
expect_exit 0 "the admin's backup --init --object-lock 3" \
	ep admin backup -q --init --object-lock 3 -k "$T/k.key" --endpoint "$E" "$A" "iac:$T/tree"
keys "$L" dr/ao/ >"$T/admin-keys"
seeded 4 $((4 << 20)) >"$T/a.raw"
expect_exit 0 "a backup as ao" ep ao backup -k "$T/k.key" --json --endpoint "$E" "$A" "disk:$T/a.raw" "iac:$T/tree"
cp "$T/out" "$T/a1.json"
expect_exit 0 "an unchanged backup as ao at once" ep ao backup -k "$T/k.key" --json --endpoint "$E" "$A" "disk:$T/a.raw" "iac:$T/tree"
check "sends no PutObjectRetention" test "$(jq_ 'd["requests"]["retention"], d["object_lock"]["extended"]' "$T/out")" = "0 0"
fa=$(date -d "$(jq_ 'd["object_lock"]["retain_until"]' "$T/a1.json")" +%s)
check "its first backup's floor is 3 days and a day's slack after the start" test "$fa" -ge $((ta + 4 * DAY))
retentions dr/ao/ | grep -vFf "$T/admin-keys" >"$T/reta"
check "every chunk and snapshot object it wrote is retained in governance mode until that floor or later ($(grep -c -e /chunks/ -e /snapshots/ "$T/reta"))" \
	awk -v f="$fa" '$1 ~ /\/(chunks|snapshots)\// { n++; if ($2 != "GOVERNANCE" || $3 < f) bad++ } END { exit !(n >= 6 && !bad) }' "$T/reta"
sleep_until $((fa - 3 * DAY + 1))
t9=$(date +%s)
expect_exit 0 "an unchanged backup as ao past the slack" ep ao backup -k "$T/k.key" --json --endpoint "$E" "$A" "disk:$T/a.raw" "iac:$T/tree"
cp "$T/out" "$T/a3.json"
check "extends every chunk it names and config.json, the admin's ($(jq_ 'd["object_lock"]["extended"]' "$T/a3.json"))" \
	test "$(jq_ 'd["object_lock"]["extended"] == d["chunks"] + 1 == d["requests"]["retention"]' "$T/a3.json")" = True
f9=$(date -d "$(jq_ 'd["object_lock"]["retain_until"]' "$T/a3.json")" +%s)
retentions dr/ao/chunks/ >"$T/reta3"
check "botocore reads every chunk retained until its new floor or later, 3 days and a day's slack from then" \
	awk -v f="$f9" -v t="$t9" -v d="$DAY" '$3 < f || f < t + 4 * d { bad++ } END { exit bad || NR < 4 }' "$T/reta3"
keys "$L" dr/ao/ | sort >"$T/before"
rgw_call g admin ListObjectVersions "{\"Bucket\": \"$L\", \"Prefix\": \"dr/ao/\"}" >"$T/versions-before"
msg="store '$A': this credential cannot delete objects \(s3: DELETE s3://$L/dr/ao/snapshots/\.envpack-delete-probe: 403 AccessDenied[^)]*\), and %s removes them: run it with a credential that can"
expect_exit 1 "forget --keep-last 1 as ao fails at once" ep ao forget --endpoint "$E" "$A" --keep-last 1
expect_err "$(printf "$msg" forget)" "saying the credential cannot delete, and to run forget with one that can"
expect_exit 1 "forget --bypass-governance as ao" ep ao forget --bypass-governance --endpoint "$E" "$A" --keep-last 1
expect_err "$(printf "$msg" forget)" "likewise"
expect_exit 1 "prune as ao" ep ao prune --endpoint "$E" "$A"
expect_err "$(printf "$msg" prune)" "saying to run prune with one that can"
keys "$L" dr/ao/ | sort >"$T/after"
check "the same objects before and after: no lock record, nothing removed" cmp "$T/before" "$T/after"
rgw_call g admin ListObjectVersions "{\"Bucket\": \"$L\", \"Prefix\": \"dr/ao/\"}" >"$T/versions-after"
check "the same versions, no delete marker (ListObjectVersions)" cmp "$T/versions-before" "$T/versions-after"
expect_exit 0 "snapshots as ao" ep ao snapshots --json --endpoint "$E" "$A"
cp "$T/out" "$T/snaps-ao.json"
check "four snapshots, the admin's and ao's" test "$(jq_ 'len(d)' "$T/snaps-ao.json")" = 4
for i in 1 2 3; do
	id=$(jq_ "d[$i][\"id\"]" "$T/snaps-ao.json")
	expect_exit 0 "restore ao's snapshot $i as ao" ep ao restore -q -p "$T/k.pub" --endpoint "$E" "$A@${id:0:8}" --to "dir:$T/ra$i"
	check "byte for byte" cmp "$T/a.raw" "$T/ra$i/a.raw"
	check "and the tree" diff -r "$T/tree" "$T/ra$i/tree"
done
expect_exit 0 "check --read-data as ao" ep ao check --json --read-data -p "$T/k.pub" --endpoint "$E" "$A"
check "clean, no snapshot retained for less than the policy" test "$(jq_ 'd["ok"], d["retention_short"]' "$T/out")" = "True 0"
check "ao's probes (refused) left no delete marker either" test "$(probe_markers dr/ao/)" = 0

# 10. a host holding only an encrypted store's public key cannot read the snapshots: its unchanged
# backup takes what its chunk cache says its last snapshot named as retained until that
# snapshot's floor (the cache records it), and looks at no chunk (HEAD), config.json alone
X=s3://$L/dr/sealed
"$ENVPACK" keygen --x25519 -o "$T/rcpt" >/dev/null
expect_exit 0 "backup --init --object-lock 3 --encrypt-to (its public key only)" ep admin backup --init --object-lock 3 \
	-k "$T/k.key" --encrypt-to "$T/rcpt.pub" --json --endpoint "$E" "$X" "disk:$T/d.raw"
cp "$T/out" "$T/x1.json"
expect_exit 0 "an unchanged backup at once, the whole disk read again" ep admin backup --force -k "$T/k.key" \
	--encrypt-to "$T/rcpt.pub" --json --endpoint "$E" "$X" "disk:$T/d.raw"
cp "$T/out" "$T/x2.json"
check "no chunk looked at, none extended, config.json alone ($(jq_ 'd["object_lock"]' "$T/x2.json"))" \
	test "$(jq_ 'd["object_lock"]["checked"], d["object_lock"]["extended"], d["requests"]["retention"]' "$T/x2.json")" = "1 0 0"
check "every chunk it names covered by the floor the chunk cache recorded ($(jq_ 'd["object_lock"]["covered"]' "$T/x2.json") of $(jq_ 'd["chunks"]' "$T/x2.json"))" \
	test "$(jq_ 'd["object_lock"]["covered"] == d["chunks"] > 0, d["lookups"]["chunk_cache"]' "$T/x2.json")" = "True used"
check "its floor is the first snapshot's" \
	test "$(jq_ 'd["object_lock"]["retain_until"]' "$T/x2.json")" = "$(jq_ 'd["object_lock"]["retain_until"]' "$T/x1.json")"
retentions dr/sealed/chunks/ >"$T/retx"
fx=$(date -d "$(jq_ 'd["object_lock"]["retain_until"]' "$T/x2.json")" +%s)
check "botocore reads every chunk retained until that floor or later" awk -v f="$fx" '$3 < f { bad++ } END { exit bad || NR < 4 }' "$T/retx"
rm -f "$ENVPACK_STATE_DIR"/stores/*.chunks
expect_exit 0 "without its chunk cache" ep admin backup --force -k "$T/k.key" --encrypt-to "$T/rcpt.pub" --json \
	--endpoint "$E" "$X" "disk:$T/d.raw"
check "it looks at every chunk it names and config.json ($(jq_ 'd["object_lock"]["checked"]' "$T/out"))" \
	test "$(jq_ 'd["object_lock"]["checked"] == d["chunks"] + 1, d["object_lock"]["covered"]' "$T/out")" = "True 0"
expect_exit 0 "the latest restores with the private key" ep admin restore -q --decrypt-key "$T/rcpt.key" -p "$T/k.pub" \
	--endpoint "$E" "$X@latest" --to "dir:$T/rx"
check "byte for byte" cmp "$T/d.raw" "$T/rx/d.raw"

echo "# radosgw: $SECONDS s in all"
finish
