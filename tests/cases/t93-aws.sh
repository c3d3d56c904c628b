#!/usr/bin/env bash
# restore --to aws:BUCKET[/PREFIX]: disks converted, uploaded to a real S3 server
# (tests/s3.sh: s3rver checking SigV4), then imported through EC2's Query API,
# here tests/tools/ec2_fake.py, which checks every request against botocore (its
# signer and its EC2 model) and that the objects named exist. awscli and
# qemu-img judge what was uploaded.
#   envpack restore BUNDLE --to aws:BUCKET/PREFIX [-o import=snapshot] [-o format=vhd|raw]
#     [-o poll-seconds=N] [-o timeout-minutes=N] [-o keep-objects=true] [-o tag=K=V] [--dry-run] [--json]
# S3 from AWS_ENDPOINT_URL_S3 (or --endpoint), EC2 from AWS_ENDPOINT_URL_EC2.
. "$(dirname "$0")/../lib.sh"
. "$HERE/s3.sh"
. "$HERE/ec2.sh"

start_s3 s || { not_ok "start the S3 server"; finish; exit 0; }
B=$S3_S_BUCKET
E=$S3_S_ENDPOINT

absent() { ! aws_s3 s s3api head-object --bucket "$B" --key "$1" >/dev/null 2>&1; }
present() { aws_s3 s s3api head-object --bucket "$B" --key "$1" >/dev/null 2>&1; }
no_secret() { ! grep -qF -- "$S3_SECRET_KEY" "$T/out" "$T/err"; }

# a machine of two disks (boot first) and a disk alone
make_disk "$T/boot.raw" 64M
make_disk "$T/data.raw" 64M
"$ENVPACK" keygen -o "$T/k" >/dev/null
"$ENVPACK" pack -q -k "$T/k.key" -n web -o "$T/vm.envpack" --vcpus 2 --memory 1024 --firmware uefi --os linux \
	--vm-name web "disk:$T/boot.raw" "disk:$T/data.raw" || not_ok "pack the machine"
"$ENVPACK" pack -q -k "$T/k.key" -o "$T/one.envpack" "disk:$T/data.raw" || not_ok "pack the disk"
R=(restore -p "$T/k.pub")
FAST=(-o poll-seconds=1 -o timeout-minutes=2)

start_ec2 ec2 --polls 2 || { not_ok "start the EC2 fake"; finish; exit 0; }
ok "EC2 fake at $EC2_EC2"

# 1. --dry-run: the exact requests, credentials masked, nothing sent, no credentials needed
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_PROFILE AWS_SHARED_CREDENTIALS_FILE=/dev/null \
	AWS_REGION=us-east-1 AWS_ENDPOINT_URL_S3="$E" AWS_ENDPOINT_URL_EC2="$EC2_EC2" timeout 60 \
	"$ENVPACK" "${R[@]}" "$T/vm.envpack" --to "aws:$B/dry" --dry-run -o tag=team=ops >"$T/out" 2>"$T/err"
check "a dry run needs no credentials (exit $?)" test -s "$T/out"
check "it shows the uploads" grep -qE "^    PUT $E/$B/dry/boot.vmdk" "$T/out"
check "it shows ImportImage's body, boot disk first" grep -qE "^    Action=ImportImage&Version=2016-11-15&ClientToken=envpack-[0-9a-f]+&.*DiskContainer.1.Description=boot&DiskContainer.1.Format=VMDK&DiskContainer.1.UserBucket.S3Bucket=$B&DiskContainer.1.UserBucket.S3Key=dry%2Fboot.vmdk&DiskContainer.2.Description=data.*&BootMode=uefi&Platform=Linux&TagSpecification.1.ResourceType=import-image-task&TagSpecification.1.Tag.1.Key=team&TagSpecification.1.Tag.1.Value=ops$" "$T/out"
check "it shows the polling request" grep -qE "^    Action=DescribeImportImageTasks&Version=2016-11-15&ImportTaskId.1=IMPORT-TASK-ID$" "$T/out"
check "to the EC2 endpoint, Authorization masked" bash -c 'grep -qE "^    POST $1/$" "$2" && grep -qE "^    Authorization: AWS4-HMAC-SHA256 \*\*\*\*$" "$2" && ! grep -q Credential= "$2"' _ "$EC2_EC2" "$T/out"
check "the EC2 fake saw nothing" test ! -s "$T/ec2.log"
check "the S3 server saw nothing" test -z "$(s3_requests s "dry/")"
expect_exit 0 "a dry run with real credentials" ea "$EC2_EC2" "${R[@]}" "$T/vm.envpack" --to "aws:$B/dry" --dry-run --json
check "the secret is not printed" no_secret
check "--json carries the requests under each item" python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
m = [c for c in j["components"] if c.get("machine") == "web"][0]
assert any("Action=ImportImage" in r for r in m["requests"]), m
assert any(r.startswith("PUT ") for c in j["components"] if c.get("component") for r in c["requests"]), j' "$T/out"
check "still nothing sent" test ! -s "$T/ec2.log" -a -z "$(s3_requests s "dry/")"
# EC2's endpoint: AWS_ENDPOINT_URL_EC2, else AWS_ENDPOINT_URL, else AWS's for the region
env -u AWS_ENDPOINT_URL_EC2 AWS_ENDPOINT_URL=http://127.0.0.1:9 AWS_ENDPOINT_URL_S3="$E" AWS_REGION=eu-west-1 timeout 60 \
	"$ENVPACK" "${R[@]}" "$T/one.envpack" --to "aws:$B/dry" --dry-run >"$T/out" 2>&1
check "AWS_ENDPOINT_URL serves EC2 when AWS_ENDPOINT_URL_EC2 is not set" grep -qE "^    POST http://127.0.0.1:9/$" "$T/out"
env -u AWS_ENDPOINT_URL_EC2 -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_S3 AWS_REGION=eu-west-1 timeout 60 \
	"$ENVPACK" "${R[@]}" "$T/one.envpack" --to "aws:$B/dry" --dry-run >"$T/out" 2>&1
check "else AWS's own endpoints for the region" bash -c 'grep -qE "^    POST https://ec2.eu-west-1.amazonaws.com/$" "$1" && grep -qE "^    PUT https://$2.s3.eu-west-1.amazonaws.com/dry/data.vmdk$" "$1"' _ "$T/out" "$B"

# 2. what is refused before anything is sent (exit 2)
expect_exit 2 "an unknown -o key is refused" ea "$EC2_EC2" "${R[@]}" "$T/vm.envpack" --to "aws:$B/x" -o colour=blue
expect_err "unknown option -o colour" "and named"
expect_exit 2 "-o format=qcow2 is refused" ea "$EC2_EC2" "${R[@]}" "$T/vm.envpack" --to "aws:$B/x" -o format=qcow2
expect_exit 2 "-o import=ami is refused" ea "$EC2_EC2" "${R[@]}" "$T/vm.envpack" --to "aws:$B/x" -o import=ami
expect_exit 2 "a bad bucket name is refused" ea "$EC2_EC2" "${R[@]}" "$T/vm.envpack" --to "aws:Bad_Bucket/x"
env -u AWS_REGION -u AWS_DEFAULT_REGION AWS_ENDPOINT_URL_S3="$E" timeout 60 "$ENVPACK" "${R[@]}" "$T/vm.envpack" \
	--to "aws:$B/x" --dry-run >"$T/out" 2>"$T/err"
check "no region: exit 2 (got $?)" test $? = 2
expect_err "region" "it asks for the region"
check "nothing reached EC2" test ! -s "$T/ec2.log"

# 3. the machine: uploaded, imported, polled; the AMI reported (--json too)
expect_exit 0 "restore the machine to aws:" ea "$EC2_EC2" "${R[@]}" "$T/vm.envpack" --to "aws:$B/vm" "${FAST[@]}" \
	-o keep-objects=true -o tag=team=ops --json
check "the secret is not printed" no_secret
ami=$(python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); c = j["created"]; assert j["ok"] and len(c) == 1 and c[0]["item"] == "web" and c[0]["kind"] == "image", j; print(c[0]["id"])' "$T/out")
check "--json reports the AMI ($ami)" grep -qE '^ami-[0-9a-f]{17}$' <<<"$ami"
check "EC2 saw one ImportImage, signed right, with both disks, boot first" test "$(log_q ec2 '[(e["auth"], e["params"]["DiskContainer.1.UserBucket.S3Key"], e["params"]["DiskContainer.2.UserBucket.S3Key"], e["params"]["BootMode"], e["params"]["Platform"]) for e in L if e["action"] == "ImportImage" and e["status"] == 200]')" = "[('ok', 'vm/boot.vmdk', 'vm/data.vmdk', 'uefi', 'Linux')]"
check "and polled until completed" test "$(log_q ec2 '[e.get("answered") for e in L if e["action"] == "DescribeImportImageTasks"]')" = "['active', 'active', 'completed']"
check "every request was judged right" test "$(log_q ec2 'sorted(set((e["status"], e["auth"]) for e in L))')" = "[(200, 'ok')]"
check "the description names the machine" test "$(log_q ec2 '[e["params"]["Description"] for e in L if e["action"] == "ImportImage"]')" = "['envpack: machine web (2 vCPU, 1024 MiB) of web']"
for d in boot data; do
	rm -f "$T/got.vmdk"
	check "awscli downloads vm/$d.vmdk" aws_s3 s s3api get-object --bucket "$B" --key "vm/$d.vmdk" "$T/got.vmdk"
	check "qemu-img: $d.vmdk is a streamOptimized VMDK" bash -c 'qemu-img info --output=json "$1" | python3 -c "import json, sys; j = json.load(sys.stdin); assert j[\"format\"] == \"vmdk\" and j[\"format-specific\"][\"data\"][\"create-type\"] == \"streamOptimized\", j"' _ "$T/got.vmdk"
	check "qemu-img compare: $d.vmdk holds the source disk" qemu-img compare -q "$T/got.vmdk" "$T/$d.raw"
done
expect_exit 0 "without --json it says what it made" ea "$EC2_EC2" "${R[@]}" "$T/one.envpack" --to "aws:$B/plain" "${FAST[@]}"
check "created image ami-... for data" grep -qE '^created image ami-[0-9a-f]{17} for data$' "$T/out"
first_ami=$(grep '^created image' "$T/out")
check "a disk alone: its own ImportImage, no BootMode" test "$(log_q ec2 '[sorted(k for k in e["params"] if "Boot" in k or "Platform" in k) for e in L if e["action"] == "ImportImage" and e["params"]["DiskContainer.1.UserBucket.S3Key"] == "plain/data.vmdk"]')" = "[[]]"
check "its object is removed once imported (no -o keep-objects)" absent plain/data.vmdk

expect_exit 0 "--only a disk of the machine: imported alone" ea "$EC2_EC2" "${R[@]}" "$T/vm.envpack" --to "aws:$B/only" "${FAST[@]}" --only data
check "its ImportImage holds that disk only, no BootMode" test "$(log_q ec2 '[(e["params"]["DiskContainer.1.UserBucket.S3Key"], "DiskContainer.2.Format" in e["params"], "BootMode" in e["params"]) for e in L if e["action"] == "ImportImage" and "only/" in e["params"]["DiskContainer.1.UserBucket.S3Key"]]')" = "[('only/data.vmdk', False, False)]"
check "and only it went up" test -z "$(s3_requests s "only/boot")"

# 4. never over an existing object; a re-run starts no second import
n_before=$(log_q ec2 'len([e for e in L if e["action"] == "ImportImage"])')
etag=$(aws_s3 s s3api head-object --bucket "$B" --key vm/boot.vmdk --query ETag --output text)
expect_exit 2 "a second run onto the same objects is refused" ea "$EC2_EC2" "${R[@]}" "$T/vm.envpack" --to "aws:$B/vm" "${FAST[@]}"
expect_err "exists.*never overwrites" "and says why"
check "the object is unchanged" test "$(aws_s3 s s3api head-object --bucket "$B" --key vm/boot.vmdk --query ETag --output text)" = "$etag"
check "no ImportImage was sent" test "$(log_q ec2 'len([e for e in L if e["action"] == "ImportImage"])')" = "$n_before"
expect_exit 0 "the disk restored again (its object gone)" ea "$EC2_EC2" "${R[@]}" "$T/one.envpack" --to "aws:$B/plain" "${FAST[@]}"
check "the same ClientToken: EC2 found the task, no second import" test "$(log_q ec2 '[e.get("reused") is not None for e in L if e["action"] == "ImportImage" and e["params"]["DiskContainer.1.UserBucket.S3Key"] == "plain/data.vmdk"]')" = "[False, True]"
check "the same AMI reported" test "$(grep '^created image' "$T/out")" = "$first_ami"

# 5. the task ends deleted: exit 1 with AWS's StatusMessage; the objects this run uploaded removed
start_ec2 bad --end deleted --polls 1 || not_ok "start the failing EC2 fake"
expect_exit 1 "a deleted import task fails the restore" ea "$EC2_BAD" "${R[@]}" "$T/vm.envpack" --to "aws:$B/bad" "${FAST[@]}"
expect_err "import of 'web' failed \(task import-ami-[0-9a-f]+ deleted\): ClientError: Unknown OS / Missing OS files" "with AWS's StatusMessage"
check "its boot.vmdk is removed" absent bad/boot.vmdk
check "its data.vmdk is removed" absent bad/data.vmdk

# a task still running when the time is up: exit 1 naming it; its objects stay (the task reads them)
start_ec2 slow --polls 1000 || not_ok "start the slow EC2 fake"
expect_exit 1 "an import not done in time fails" ea "$EC2_SLOW" "${R[@]}" "$T/one.envpack" --to "aws:$B/slow" -o poll-seconds=61 -o timeout-minutes=1
expect_err "did not finish within 1 min; still running: import-ami-[0-9a-f]+ \(data\)" "naming the task still running"
check "its object stays" present slow/data.vmdk

# 6. 503 and 500 answers are retried; the ClientToken keeps it one task
start_ec2 busy --fail-first 2 --fail-status 503 || not_ok "start the busy EC2 fake"
expect_exit 0 "two 503s, then success" ea "$EC2_BUSY" "${R[@]}" "$T/one.envpack" --to "aws:$B/busy" "${FAST[@]}"
check "the 503s were answered and the request sent again" test "$(log_q busy '[(e["action"], e["status"]) for e in L][:3]')" = "[('ImportImage', 503), ('ImportImage', 503), ('ImportImage', 200)]"
start_ec2 err500 --fail-first 1 --fail-status 500 || not_ok "start the 500 EC2 fake"
expect_exit 0 "a 500, then success" ea "$EC2_ERR500" "${R[@]}" "$T/one.envpack" --to "aws:$B/err500" "${FAST[@]}" -o format=vhd
check "and a VHD went up" test "$(log_q err500 '[e["params"]["DiskContainer.1.Format"] for e in L if e["status"] == 200 and e["action"] == "ImportImage"]')" = "['VHD']"
start_ec2 down --fail-first 100 --fail-status 503 || not_ok "start the unavailable EC2 fake"
expect_exit 1 "503 for ever: gives up (exit 1)" ea "$EC2_DOWN" "${R[@]}" "$T/one.envpack" --to "aws:$B/down" "${FAST[@]}" --retries 2
expect_err "ImportImage.*503" "and says why"
check "the object it uploaded is removed" absent down/data.vmdk

# 7. a signature EC2 does not accept: 401 AuthFailure, exit 1, no secret shown
start_ec2 auth --secret-key "not-$S3_SECRET_KEY" || not_ok "start the EC2 fake with another secret"
expect_exit 1 "AuthFailure fails the restore with 1" ea "$EC2_AUTH" "${R[@]}" "$T/one.envpack" --to "aws:$B/auth" "${FAST[@]}"
expect_err "ImportImage.*401 AuthFailure.*credentials" "it names the problem"
check "the secret is not printed" no_secret
check "the fake judged the signature bad" test "$(log_q auth '[e["auth"] for e in L]')" = "['bad']"
check "the object uploaded for it is removed" absent auth/data.vmdk

# 8. -o import=snapshot: ImportSnapshot per disk, the snapshot ids reported
expect_exit 0 "snapshots of the machine's disks" ea "$EC2_EC2" "${R[@]}" "$T/vm.envpack" --to "aws:$B/snap" "${FAST[@]}" --json -o import=snapshot -o format=raw
check "two snapshots reported" python3 -c 'import json, re, sys; c = json.load(open(sys.argv[1]))["created"]; assert sorted(x["item"] for x in c) == ["boot", "data"] and all(x["kind"] == "snapshot" and re.fullmatch("snap-[0-9a-f]{17}", x["id"]) for x in c), c' "$T/out"
check "EC2 saw ImportSnapshot of raw disks" test "$(log_q ec2 'sorted(e["params"]["DiskContainer.UserBucket.S3Key"] + ":" + e["params"]["DiskContainer.Format"] for e in L if e["action"] == "ImportSnapshot")')" = "['snap/boot.raw:RAW', 'snap/data.raw:RAW']"

# a session token (temporary credentials) is signed along and never shown
tok=FQoGZXIvYXdzEXAMPLETOKEN$RANDOM
et() { env -u AWS_PROFILE -u AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" \
	AWS_SESSION_TOKEN="$tok" AWS_REGION=us-east-1 AWS_ENDPOINT_URL_S3="$E" AWS_ENDPOINT_URL_EC2="$EC2_EC2" \
	AWS_SHARED_CREDENTIALS_FILE=/dev/null timeout -k 5 300 "$ENVPACK" "$@"; }
expect_exit 0 "with a session token" et "${R[@]}" "$T/one.envpack" --to "aws:$B/token" "${FAST[@]}"
check "EC2 got it, signed (botocore agrees)" test "$(log_q ec2 'sorted(set((e["auth"], e["token"]) for e in L if e["action"] == "ImportImage" and "token/" in e["params"]["DiskContainer.1.UserBucket.S3Key"]))')" = "[('ok', True)]"
check "the token is not printed" bash -c '! grep -qF -- "$1" "$2/out" "$2/err"' _ "$tok" "$T"

# 9. credentials from ~/.aws/credentials, which only its owner may read
mkdir -p "$T/home/.aws"
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >"$T/home/.aws/credentials"
chmod 600 "$T/home/.aws/credentials"
hc() { env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_PROFILE -u AWS_SHARED_CREDENTIALS_FILE HOME="$T/home" \
	AWS_REGION=us-east-1 AWS_ENDPOINT_URL_S3="$E" AWS_ENDPOINT_URL_EC2="$EC2_EC2" timeout 300 "$ENVPACK" "$@"; }
expect_exit 0 "credentials from ~/.aws/credentials" hc "${R[@]}" "$T/one.envpack" --to "aws:$B/home" "${FAST[@]}"
chmod 644 "$T/home/.aws/credentials"
expect_exit 2 "a credentials file others can read is refused" hc "${R[@]}" "$T/one.envpack" --to "aws:$B/home2" "${FAST[@]}"
expect_err "chmod 600" "and says how to fix it"

finish
