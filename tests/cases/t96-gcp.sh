#!/usr/bin/env bash
# The gcp: target: disks as Compute Engine image archives (disk.raw, a whole
# number of GiB, in a gzip-compressed GNU tar) uploaded through the Cloud
# Storage XML API, and the images.insert request. No GCS emulator speaks the
# XML API here, so s3rver (tests/s3.sh, SigV4 checked) stands in for it;
# awscli fetches what was stored, GNU tar, gzip, python3 and qemu-img judge it.
#   envpack restore BUNDLE --to gcp:BUCKET[/PREFIX] -o project=P [-o image=NAME] --endpoint URL [--dry-run]
# HMAC keys only from GCS_HMAC_ACCESS_ID / GCS_HMAC_SECRET or the boto file.
. "$(dirname "$0")/../lib.sh"
. "$HERE/s3.sh"

start_s3 g || { not_ok "start the S3 server (standing in for the GCS XML API)"; finish; exit 0; }
ok "S3 server at $S3_G_ENDPOINT"
B=$S3_G_BUCKET
E=$S3_G_ENDPOINT
# envpack with the test HMAC key, nothing from AWS's variables or files, nor ~/.boto
gp() { env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL \
	GCS_HMAC_ACCESS_ID="$S3_ACCESS_KEY" GCS_HMAC_SECRET="$S3_SECRET_KEY" BOTO_CONFIG=/dev/null HOME="$T/home" \
	timeout -k 5 300 "$ENVPACK" "$@"; }
nokeys() { env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u GCS_HMAC_ACCESS_ID -u GCS_HMAC_SECRET \
	-u AWS_PROFILE -u AWS_ENDPOINT_URL HOME="$T/home" timeout -k 5 300 "$ENVPACK" "$@"; }
botokeys() { BOTO_CONFIG="$T/boto" nokeys "$@"; }
absent() { ! aws_s3 g s3api head-object --bucket "$B" --key "$1" >/dev/null 2>&1; }
mkdir -p "$T/home"

# a sparse 1.5 GiB disk of a UEFI machine (data at 0, 3, 17, 40, 60 MiB), and a BIOS one
make_disk "$T/web.raw" 1536M
"$ENVPACK" keygen -o "$T/k" >/dev/null
"$ENVPACK" pack -q -k "$T/k.key" -o "$T/web.envpack" "disk:$T/web.raw" --firmware uefi --vcpus 2 || not_ok "pack web"
make_disk "$T/db.raw" 64M
"$ENVPACK" pack -q -k "$T/k.key" -o "$T/db.envpack" "disk:$T/db.raw" || not_ok "pack db"

# 1. --dry-run: the upload and images.insert, credentials masked, nothing sent, no keys needed
expect_exit 0 "dry run without HMAC keys" nokeys restore -p "$T/k.pub" "$T/web.envpack" --to "gcp:$B/images" \
	-o project=envpack-test --endpoint "$E" --dry-run
check "it shows the PUT of the archive" grep -q "PUT $E/$B/images/web.tar.gz" "$T/out"
check "with the Authorization masked" grep -q 'Authorization: AWS4-HMAC-SHA256 \*\*\*\*$' "$T/out"
check "no signature or key id printed" bash -c '! grep -qE "Signature=|Credential=|GOOG1|EXAMPLE-HMAC" "$1"' _ "$T/out"
check "it shows images.insert" grep -q "POST https://compute.googleapis.com/compute/v1/projects/envpack-test/global/images" "$T/out"
check "the OAuth2 token masked" grep -q 'Authorization: Bearer \*\*\*\*$' "$T/out"
expect_exit 0 "dry run --json" nokeys restore -p "$T/k.pub" "$T/web.envpack" --to "gcp:$B/images" \
	-o project=envpack-test --endpoint "$E" --dry-run --json
insert_json() { # the images.insert body out of restore --json's requests
	python3 - "$1" <<'PY'
import json, sys
out = json.load(open(sys.argv[1]))
reqs = [r for c in out["components"] for r in c.get("requests", []) if r.startswith("POST https://compute.googleapis.com/")]
assert len(reqs) == 1, reqs
print(json.dumps(json.loads(reqs[0].split("\n\n", 1)[1])))
PY
}
insert_json "$T/out" >"$T/insert.json" || not_ok "the dry run's images.insert body is JSON"
check "images.insert: name, rawDisk.source, UEFI_COMPATIBLE" python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["name"] == "web", j
assert j["rawDisk"]["source"] == "https://storage.googleapis.com/" + sys.argv[2] + "/images/web.tar.gz", j
assert {"type": "UEFI_COMPATIBLE"} in j["guestOsFeatures"], j' "$T/insert.json" "$B"
check "the dry run sent nothing (no request for images/)" test -z "$(s3_requests g 'images/')"
check "and stored nothing" absent images/web.tar.gz
expect_exit 0 "dry run of a BIOS disk with family, labels and a name" nokeys restore -p "$T/k.pub" "$T/db.envpack" \
	--to "gcp:$B" -o project=envpack-test -o image=db-2 -o family=db -o labels=env=test,team=ops --endpoint "$E" --dry-run --json
insert_json "$T/out" >"$T/insert2.json" || not_ok "its images.insert body is JSON"
check "no UEFI_COMPATIBLE for a BIOS disk; family, labels, object at the bucket's top" python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert "guestOsFeatures" not in j and j["name"] == "db-2" and j["family"] == "db", j
assert j["labels"] == {"env": "test", "team": "ops"}, j
assert j["rawDisk"]["source"].endswith("/" + sys.argv[2] + "/db-2.tar.gz"), j' "$T/insert2.json" "$B"

# 2. the real run: one object, a gzip-compressed GNU tar holding disk.raw alone
s=$(date +%s%N)
expect_exit 0 "restore to gcp:" gp restore -p "$T/k.pub" "$T/web.envpack" --to "gcp:$B/images" -o project=envpack-test --endpoint "$E"
echo "# restore of a 1.5 GiB sparse disk to gcp: took $(( ($(date +%s%N) - s) / 1000000 )) ms"
check "it names images.insert as the step left" grep -q "^left to send" "$T/out"
check "the request left is images.insert of the object" python3 -c '
import json, sys
text = open(sys.argv[1]).read().split("left to send", 1)[1]
assert "    POST https://compute.googleapis.com/compute/v1/projects/envpack-test/global/images" in text, text
assert "Authorization: Bearer ****" in text, text
lines = text.splitlines()
blank = [i for i, l in enumerate(lines) if i and not l.strip()][0]
body = json.loads("\n".join(l[4:] for l in lines[blank + 1:]))
assert body["rawDisk"]["source"] == "https://storage.googleapis.com/" + sys.argv[2] + "/images/web.tar.gz", body
assert {"type": "UEFI_COMPATIBLE"} in body["guestOsFeatures"], body' "$T/out" "$B"
check "the request log shows the conditional PUT" test -n "$(s3_requests g 'PUT /[^ ]*images/web.tar.gz 200')"
rm -f "$T/web.tar.gz"
check "awscli fetches images/web.tar.gz" aws_s3 g s3api get-object --bucket "$B" --key images/web.tar.gz "$T/web.tar.gz"
check "gzip finds the stream sound" gzip -t "$T/web.tar.gz"
tar -tvzf "$T/web.tar.gz" >"$T/list" 2>&1
check "tar lists one member, disk.raw ($(tr '\n' ' ' <"$T/list"))" test "$(wc -l <"$T/list")" = 1 -a "$(awk '{print $NF}' "$T/list")" = disk.raw
check "the header is GNU format (magic 'ustar  \\0' at 257)" test "$(gzip -dc "$T/web.tar.gz" | head -c 265 | tail -c 8 | od -An -tx1 | tr -d ' \n')" = 7573746172202000
mkdir -p "$T/x"
check "tar extracts it" tar -xzf "$T/web.tar.gz" -C "$T/x"
size=$(stat -c %s "$T/x/disk.raw")
check "disk.raw is the source rounded up to whole GiB ($size bytes)" test "$size" = $((2 << 30))
check "qemu-img compare: disk.raw is the source disk (the rest zeros)" qemu-img compare -f raw -F raw "$T/web.raw" "$T/x/disk.raw"
rm -rf "$T/x"

expect_exit 0 "the same bundle again, elsewhere" gp restore -q -p "$T/k.pub" "$T/web.envpack" --to "gcp:$B/again" -o project=envpack-test --endpoint "$E"
check "makes the same archive, byte for byte (so a cut upload resumes)" test \
	"$(aws_s3 g s3api head-object --bucket "$B" --key again/web.tar.gz --query ETag --output text)" = \
	"$(aws_s3 g s3api head-object --bucket "$B" --key images/web.tar.gz --query ETag --output text)"

# 3. an existing object is refused, not overwritten
etag=$(aws_s3 g s3api head-object --bucket "$B" --key images/web.tar.gz --query ETag --output text)
expect_exit 2 "a second restore to the same object is refused" gp restore -q -p "$T/k.pub" "$T/web.envpack" --to "gcp:$B/images" \
	-o project=envpack-test --endpoint "$E"
expect_err "exists" "and says it exists"
check "the object is unchanged" test "$(aws_s3 g s3api head-object --bucket "$B" --key images/web.tar.gz --query ETag --output text)" = "$etag"

# 4. keys: none is a clear error (exit 2); the boto file must be 0600; a wrong secret is refused unprinted
expect_exit 2 "no HMAC keys: exit 2" nokeys restore -q -p "$T/k.pub" "$T/db.envpack" --to "gcp:$B/keys" -o project=envpack-test --endpoint "$E"
expect_err "GCS_HMAC_ACCESS_ID.*GCS_HMAC_SECRET" "it names the variables to set"
printf '[Credentials]\ngs_access_key_id = %s\ngs_secret_access_key = %s\n' "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >"$T/boto"
chmod 644 "$T/boto"
expect_exit 2 "a boto file others can read is refused" botokeys restore -q \
	-p "$T/k.pub" "$T/db.envpack" --to "gcp:$B/keys" -o project=envpack-test --endpoint "$E"
expect_err "chmod 600" "and says how to fix it"
chmod 600 "$T/boto"
expect_exit 0 "keys from a 0600 boto file" botokeys restore -q \
	-p "$T/k.pub" "$T/db.envpack" --to "gcp:$B/keys" -o project=envpack-test --endpoint "$E"
check "it stored keys/db.tar.gz" aws_s3 g s3api head-object --bucket "$B" --key keys/db.tar.gz
wrong=not-the-secret-$RANDOM
env GCS_HMAC_ACCESS_ID="$S3_ACCESS_KEY" GCS_HMAC_SECRET="$wrong" HOME="$T/home" timeout -k 5 120 "$ENVPACK" restore -q \
	-p "$T/k.pub" "$T/db.envpack" --to "gcp:$B/wrong" -o project=envpack-test --endpoint "$E" >"$T/out" 2>"$T/err"
got=$?
check "a wrong secret fails with exit 1 (got $got)" test "$got" = 1
check "the secret is not printed" bash -c '! grep -qF -- "$1" "$2/out" "$2/err"' _ "$wrong" "$T"
check "nothing stored with it" absent wrong/db.tar.gz

# 5. settings: an invalid image name, an unknown key, no project: exit 2, nothing sent
for bad in Bad_Name 1web web- "$(printf 'a%.0s' $(seq 64))"; do
	expect_exit 2 "image name '${bad:0:12}' refused" gp restore -q -p "$T/k.pub" "$T/db.envpack" --to "gcp:$B/bad" \
		-o project=envpack-test -o "image=$bad" --endpoint "$E"
done
expect_err "must match" "and the rule is named"
cp "$T/db.raw" "$T/DB_1.raw"
"$ENVPACK" pack -q -k "$T/k.key" -o "$T/db1.envpack" "disk:$T/DB_1.raw" || not_ok "pack DB_1"
expect_exit 2 "a disk whose name is no image name needs -o image=" gp restore -q -p "$T/k.pub" "$T/db1.envpack" --to "gcp:$B/bad" \
	-o project=envpack-test --endpoint "$E" --dry-run
expect_err "-o image=" "and says so"
expect_exit 2 "an unknown -o key refused" gp restore -q -p "$T/k.pub" "$T/db.envpack" --to "gcp:$B/bad" \
	-o project=envpack-test -o zone=us-east1-b --endpoint "$E"
expect_err "unknown option -o zone" "and named"
expect_exit 2 "no project refused" gp restore -q -p "$T/k.pub" "$T/db.envpack" --to "gcp:$B/bad" --endpoint "$E"
expect_err "project=" "and says how to give it"
expect_exit 2 "a bad bucket name refused" gp restore -q -p "$T/k.pub" "$T/db.envpack" --to "gcp:Bad_Bucket" -o project=envpack-test --endpoint "$E"
check "nothing stored under bad/" test -z "$(s3_requests g 'bad/')"

# 6. a 4 GiB disk, nearly empty: holes cost next to nothing
truncate -s 4G "$T/big.raw"
head -c 8M /dev/urandom | dd of="$T/big.raw" bs=1M seek=1000 conv=notrunc status=none
"$ENVPACK" pack -q -k "$T/k.key" -o "$T/big.envpack" "disk:$T/big.raw" || not_ok "pack big"
s=$(date +%s%N)
expect_exit 0 "restore a 4 GiB sparse disk (in 5 MiB parts)" gp restore -q --json --part-size 5 -p "$T/k.pub" "$T/big.envpack" \
	--to "gcp:$B/big" -o project=envpack-test --endpoint "$E"
took=$(( ($(date +%s%N) - s) / 1000000 ))
echo "# restore of a 4 GiB disk holding 8 MiB to gcp: took $took ms"
check "it took under 30 s ($took ms)" test "$took" -lt 30000
check "--json carries images.insert in next_requests" python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["ok"] and len(j["next_requests"]) == 1 and "/global/images" in j["next_requests"][0], j' "$T/out"
check "it went up in parts" test "$(s3_requests g 'PUT /[^ ]*big/big.tar.gz\?partNumber=[^ ]* 200' | wc -l)" -ge 2
check "awscli fetches big/big.tar.gz" aws_s3 g s3api get-object --bucket "$B" --key big/big.tar.gz "$T/big.tar.gz"
check "its archive is small: the data and ~1 KiB a MiB of zeros ($(stat -c %s "$T/big.tar.gz") bytes)" test "$(stat -c %s "$T/big.tar.gz")" -lt $((14 << 20))
check "it holds the disk byte for byte (cmp of the stream, 4 GiB)" bash -c 'gzip -dc "$1" | tail -c +513 | head -c $((4 << 30)) | cmp - "$2"' _ "$T/big.tar.gz" "$T/big.raw"

# 7. an upload cut half-way: nothing published, and the re-run (the same archive) resumes from the parts there
start_s3_fault cut g drop-part 2 || not_ok "start the fault proxy"
gp restore -q --part-size 5 --retries 1 -p "$T/k.pub" "$T/big.envpack" --to "gcp:$B/cut" -o project=envpack-test \
	--endpoint "$S3_CUT_ENDPOINT" >"$T/out" 2>"$T/err"
got=$?
check "the cut restore failed (exit $got)" test "$got" != 0
check "nothing published by it" absent cut/big.tar.gz
stop_s3 cut
start_s3_fault again g pass || not_ok "start the pass-through proxy"
expect_exit 0 "the re-run succeeds" gp restore -q --part-size 5 -p "$T/k.pub" "$T/big.envpack" --to "gcp:$B/cut" \
	-o project=envpack-test --endpoint "$S3_AGAIN_ENDPOINT"
sent=$(s3_requests again 'PUT /[^ ]*cut/big.tar.gz\?partNumber=[^ ]* 200' | wc -l)
check "it sent fewer parts than the archive has ($sent of 3)" test "$sent" -ge 1 -a "$sent" -lt 3
check "the resumed object is the archive a whole run made" test \
	"$(aws_s3 g s3api head-object --bucket "$B" --key cut/big.tar.gz --query '[ContentLength]' --output text)" = "$(stat -c %s "$T/big.tar.gz")"
rm -f "$T/cut.tar.gz"
aws_s3 g s3api get-object --bucket "$B" --key cut/big.tar.gz "$T/cut.tar.gz" >/dev/null
check "byte for byte" cmp "$T/cut.tar.gz" "$T/big.tar.gz"

finish
