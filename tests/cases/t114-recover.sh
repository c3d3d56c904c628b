#!/usr/bin/env bash
# Recovery after an attack (issue #17, item 4; formats/STORE.md section 11) judged by Ceph's
# radosgw (tests/radosgw.sh): a bucket made with Object Lock (so versioned), a store in it with
# --object-lock 1 in governance mode (ENVPACK_OBJECT_LOCK_DAY_SECONDS: 20 s), backups by an
# append-only user "ao" (may get, put, list objects and their versions, and set retentions, as a
# backup into a versioned bucket needs; s3:DeleteObject* denied).
#   1. three backups of different disks; TIME noted; a fourth after it
#   2. the attack: ao puts garbage over a snapshot's manifest and over chunks, its deletes are
#      refused; the admin deletes another snapshot (manifest and signature) and chunks (delete
#      markers, as a plain DELETE leaves under retention)
#   3. snapshots shows the damage; snapshots --as-of TIME shows the three of then
#   4. recover --dry-run changes nothing (botocore's ListObjectVersions before and after); ao's
#      recover (no s3:GetBucketVersioning) fails at once (exit 1), changing nothing; a bad TIME,
#      one in the future, none: exit 2, naming the problem
#   5. recover --as-of TIME: what it restored by folder, the later snapshot named and kept, what
#      it restored retained by the policy (botocore's GetObjectRetention); check --read-data
#      passes, every snapshot restores byte for byte; recover again restores nothing
#   6. refusals, exit 2, naming the problem, nothing written: a dir: store, a bucket without
#      versioning
. "$(dirname "$0")/../lib.sh"
. "$HERE/radosgw.sh"

start_radosgw g || { not_ok "start radosgw"; finish; exit 0; }
ok "radosgw at $S3_G_ENDPOINT, started in $RGW_START_SECONDS s"
E=$S3_G_ENDPOINT
P=$S3_G_BUCKET # a plain bucket: no versioning
L=locked       # made with Object Lock: versioned
S=s3://$L/dr
export ENVPACK_OBJECT_LOCK_DAY_SECONDS=10
ep() { radosgw_envpack g "$@"; } # ep UID ARGS...: envpack with UID's keys, nothing from ~/.aws
# ops UID OP...: many botocore calls in one process (python starts slowly on a busy machine), each
# OP one of put:KEY:FILE, delete:KEY, versions (every version and delete marker under dr/ but
# the lock records, "KEY VERSION"), keys:PREFIX, retention:KEY ("MODE UNTIL"), policy:FILE, create-locked (the bucket, with
# Object Lock); each a line: its output, or
# "ERROR STATUS CODE"
cat >"$T/ops.py" <<'PY'
import json, os, sys
import botocore.config, botocore.exceptions, botocore.session
c = botocore.session.get_session().create_client(
    's3', region_name='us-east-1', endpoint_url=os.environ['AWS_ENDPOINT_URL'],
    aws_access_key_id=os.environ['AWS_ACCESS_KEY_ID'], aws_secret_access_key=os.environ['AWS_SECRET_ACCESS_KEY'],
    config=botocore.config.Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 1}))
b = sys.argv[1]
for op in sys.argv[2:]:
    kind, _, arg = op.partition(':')
    try:
        if kind == 'create-locked':
            c.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
        elif kind == 'put':
            key, path = arg.rsplit(':', 1)
            c.put_object(Bucket=b, Key=key, Body=open(path, 'rb').read())
        elif kind == 'delete':
            c.delete_object(Bucket=b, Key=arg)
        elif kind == 'retention':
            r = c.get_object_retention(Bucket=b, Key=arg)['Retention']
            print(r['Mode'], int(r['RetainUntilDate'].timestamp()))
        elif kind == 'policy':
            c.put_bucket_policy(Bucket=b, Policy=open(arg).read())
        elif kind == 'keys':
            for page in c.get_paginator('list_objects_v2').paginate(Bucket=b, Prefix=arg):
                for o in page.get('Contents', []):
                    print(o['Key'])
        elif kind == 'versions':
            out = []
            for page in c.get_paginator('list_object_versions').paginate(Bucket=b, Prefix='dr/'):
                out += ['%s %s' % (e['Key'], e['VersionId']) for e in page.get('Versions', []) + page.get('DeleteMarkers', [])
                        if '/locks/' not in e['Key']]
            print('\n'.join(sorted(out)))
    except botocore.exceptions.ClientError as e:
        print('ERROR %s %s' % (e.response['ResponseMetadata'].get('HTTPStatusCode'), e.response['Error'].get('Code')))
PY
ops() {
	local envs
	envs=$(radosgw_env g "$1") || return 2
	shift
	# shellcheck disable=SC2046 # one word a line, no spaces
	env $envs timeout -k 5 120 python3 "$T/ops.py" "$@"
}
versions() { ops admin "$L" versions; }
seeded() { python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(int(sys.argv[1])).randbytes(int(sys.argv[2])))' "$@"; }

"$ENVPACK" keygen -o "$T/k" >/dev/null
radosgw_user g ao || not_ok "make the user ao"
cat >"$T/policy.json" <<J
{"Version": "2012-10-17", "Statement": [
 {"Sid": "owner", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam:::user/admin"]},
  "Action": ["s3:*"], "Resource": ["arn:aws:s3:::$L", "arn:aws:s3:::$L/*"]},
 {"Sid": "append", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam:::user/ao"]},
  "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:GetBucketLocation", "s3:PutObjectRetention",
   "s3:ListBucketVersions", "s3:GetObjectVersion",
   "s3:GetObjectRetention", "s3:GetBucketObjectLockConfiguration"],
  "Resource": ["arn:aws:s3:::$L", "arn:aws:s3:::$L/*"]},
 {"Sid": "nodelete", "Effect": "Deny", "Principal": {"AWS": ["arn:aws:iam:::user/ao"]},
  "Action": ["s3:DeleteObject*"], "Resource": ["arn:aws:s3:::$L/*"]}]}
J
test -z "$(ops admin "$L" create-locked "policy:$T/policy.json")" ||
	not_ok "make a bucket with Object Lock, and the append-only policy"

# 1. three backups of different disks, then TIME, then a fourth
for i in 1 2 3; do
	seeded "$i" $((3 << 20)) >"$T/d$i.raw"
	init=
	[ "$i" = 1 ] && init="--init --object-lock 1"
	# shellcheck disable=SC2086 # two flags or none
	expect_exit 0 "backup $i as ao" ep ao backup $init -k "$T/k.key" --json --endpoint "$E" "$S" "disk:$T/d$i.raw"
	id[i]=$(jq_ 'd["snapshot"]' "$T/out")
done
expect_exit 0 "snapshots (the three)" ep admin snapshots --json --endpoint "$E" "$S"
jq_ '" ".join(sorted(s["id"] for s in d))' "$T/out" >"$T/ids-then"
ops admin "$L" keys:dr/chunks/ >"$T/chunks" # those of TIME
sleep 1
TIME=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 1.2 # what follows is in a later second than TIME
seeded 4 $((1 << 20)) >"$T/d4.raw"
expect_exit 0 "backup 4 as ao, after TIME" ep ao backup -k "$T/k.key" --json --endpoint "$E" "$S" "disk:$T/d4.raw"
id4=$(jq_ 'd["snapshot"]' "$T/out")

# 2. the attack
seeded 9 4096 >"$T/garbage"
ops ao "$L" "put:dr/snapshots/${id[1]}.json:$T/garbage" $(sed -n "1,3s|\$|:$T/garbage|; 1,3s|^|put:|p" "$T/chunks") \
	"delete:dr/snapshots/${id[2]}.json" "delete:$(sed -n 4p "$T/chunks")" >"$T/ao-attack"
check "ao puts garbage over a manifest and 3 chunks; its DeleteObjects are refused (AccessDenied)" \
	test "$(tr '\n' ' ' <"$T/ao-attack")" = "ERROR 403 AccessDenied ERROR 403 AccessDenied "
check "the admin's DeleteObjects of a snapshot's manifest, signature and 3 chunks leave delete markers" \
	test -z "$(ops admin "$L" "delete:dr/snapshots/${id[2]}.json" "delete:dr/snapshots/${id[2]}.sig" \
		$(sed -n '4,6s/^/delete:/p' "$T/chunks"))"

# 3. the damage, and the store as of TIME
expect_exit 0 "snapshots after the attack" ep admin snapshots --json --endpoint "$E" "$S"
check "shows the damage: ${id[2]:0:8} gone, ${id[1]:0:8} cannot be used" \
	test "$(jq_ '" ".join(sorted(s["id"] for s in d))' "$T/out")" = "$(printf '%s\n' "${id[3]}" "$id4" | sort | xargs)"
expect_err "${id[1]:0:8}" "warning of the garbage manifest"
expect_exit 3 "check --read-data fails" ep admin check -q --read-data -p "$T/k.pub" --endpoint "$E" "$S"
expect_exit 0 "snapshots --as-of TIME" ep admin snapshots --json --as-of "$TIME" --endpoint "$E" "$S"
check "lists the three of then, as before the attack" \
	test "$(jq_ '" ".join(sorted(s["id"] for s in d))' "$T/out")" = "$(cat "$T/ids-then")"
expect_exit 0 "snapshots --as-of @SECONDS" ep admin snapshots --json --as-of "@$(date -d "$TIME" +%s)" --endpoint "$E" "$S"
check "the same" test "$(jq_ '" ".join(sorted(s["id"] for s in d))' "$T/out")" = "$(cat "$T/ids-then")"

# 4. --dry-run and ao change nothing
versions >"$T/v0"
expect_exit 0 "recover --dry-run" ep admin recover --dry-run --json --as-of "$TIME" --endpoint "$E" "$S"
cp "$T/out" "$T/dry.json"
versions >"$T/v1"
check "changes nothing (ListObjectVersions before and after, $(wc -l <"$T/v0") entries)" cmp "$T/v0" "$T/v1"
check "says what it would restore: 3 snapshot objects, 6 chunks ($(jq_ 'd["restored"]' "$T/dry.json"))" \
	test "$(jq_ 'd["restored"]["snapshots"], d["restored"]["chunks"], d["dry_run"]' "$T/dry.json")" = "3 6 True"
expect_exit 1 "recover as ao (no s3:GetBucketVersioning) fails" ep ao recover --as-of "$TIME" --endpoint "$E" "$S"
expect_err "GetBucketVersioning of bucket '$L': 403 AccessDenied" "saying radosgw denied it"
expect_exit 2 "a bad TIME is refused" ep admin recover --as-of yesterday --endpoint "$E" "$S"
expect_err "--as-of 'yesterday' is not a time" "naming it"
expect_exit 2 "a TIME in the future is refused" ep admin recover --as-of 2099-01-01T00:00:00Z --endpoint "$E" "$S"
expect_err "--as-of '2099-01-01T00:00:00Z' is in the future" "saying so"
expect_exit 2 "recover without --as-of" ep admin recover --endpoint "$E" "$S"
expect_err "as-of TIME" "asking for it"
versions >"$T/v2"
check "neither ao's recover nor these changed anything" cmp "$T/v0" "$T/v2"

# 5. recover
t_rec=$(date +%s)
expect_exit 0 "recover --as-of TIME" ep admin recover --json --as-of "$TIME" --endpoint "$E" "$S"
cp "$T/out" "$T/rec.json"
check "restored 3 snapshot objects and 6 chunks, as the dry run said ($(jq_ 'd["restored"], d["bytes"]' "$T/rec.json"))" \
	test "$(jq_ 'd["restored"] == {"snapshots": 3, "chunks": 6, "other": 0}, d["bytes"]' "$T/rec.json")" = "True $(jq_ 'd["bytes"]' "$T/dry.json")"
check "names the snapshot made after TIME (${id4:0:8}), kept" \
	test "$(jq_ 'd["later_snapshots"]' "$T/rec.json")" = "['$id4']"
check "counts its requests: a PUT (CopyObject) a restored object, and its lock record's ($(jq_ 'd["requests"]' "$T/rec.json"))" \
	test "$(jq_ 'd["requests"]["put"] - 9 in (1, 2)' "$T/rec.json")" = True
ops admin "$L" "retention:dr/snapshots/${id[2]}.json" "retention:$(sed -n 4p "$T/chunks")" >"$T/ret"
check "what it restored is retained as the store's policy says (governance, 20 s from the copy: $(xargs <"$T/ret"))" \
	awk -v t="$t_rec" -v e="$(date +%s)" '$1 == "GOVERNANCE" && $2 >= t + 20 && $2 <= e + 20 { n++ } END { exit n != 2 }' "$T/ret"
expect_exit 0 "snapshots: all four" ep admin snapshots --json --endpoint "$E" "$S"
check "the three of then and the later one" \
	test "$(jq_ '" ".join(sorted(s["id"] for s in d))' "$T/out")" = "$(printf '%s\n' "${id[@]}" "$id4" | sort | xargs)"
expect_exit 0 "check --read-data passes" ep admin check -q --read-data -p "$T/k.pub" --endpoint "$E" "$S"
for i in 1 2 3; do
	expect_exit 0 "restore snapshot $i" ep admin restore -q -p "$T/k.pub" --endpoint "$E" "$S@${id[i]}" --to "dir:$T/r$i"
	check "byte for byte" cmp "$T/d$i.raw" "$T/r$i/d$i.raw"
done
expect_exit 0 "recover again: nothing to do" ep admin recover --json --as-of "$TIME" --endpoint "$E" "$S"
check "restores nothing" test "$(jq_ 'sum(d["restored"].values())' "$T/out")" = 0

# 6. refusals
expect_exit 0 "a store in a bucket without versioning" \
	ep admin backup -q --init -k "$T/k.key" --endpoint "$E" "s3://$P/plain" "disk:$T/d4.raw"
ops admin "$P" keys:plain/ | grep -v /locks/ >"$T/p0"
expect_exit 2 "recover there is refused (exit 2)" ep admin recover --as-of "$TIME" --endpoint "$E" "s3://$P/plain"
expect_err "store 's3://$P/plain': bucket '$P' keeps no versions" "naming the store and the bucket"
expect_exit 2 "so is snapshots --as-of" ep admin snapshots --as-of "$TIME" --endpoint "$E" "s3://$P/plain"
ops admin "$P" keys:plain/ | grep -v /locks/ >"$T/p1"
check "nothing written there" cmp "$T/p0" "$T/p1"
"$ENVPACK" backup -q --init -k "$T/k.key" "dir:$T/ds" "disk:$T/d4.raw" >/dev/null 2>&1 || not_ok "a dir: store"
find "$T/ds" | sort >"$T/ds0"
expect_exit 2 "recover of a dir: store is refused (exit 2)" "$ENVPACK" recover --as-of "$TIME" "dir:$T/ds"
expect_err "store '(dir:)?$T/ds': only an s3:// store in a versioned bucket" "naming the store and why"
find "$T/ds" | sort >"$T/ds1"
check "nothing written there" cmp "$T/ds0" "$T/ds1"

echo "# radosgw: $SECONDS s in all"
finish
