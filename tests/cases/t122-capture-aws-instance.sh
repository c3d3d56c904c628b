#!/usr/bin/env bash
# vm:aws:INSTANCE_ID captures an EC2 instance: DescribeInstances (its type, boot mode,
# Name tag, platform) and DescribeInstanceTypes (the type's default vCPUs and memory)
# make the machine; CreateInstanceExportTask exports its disk to S3, DescribeExportTasks
# is polled until the task completes, and the object AWS wrote (PREFIX + task id +
# .vmdk|.vhd) is read where it lies and removed afterwards (unless --keep-export).
# tests/tools/ec2_fake.py checks every request against botocore's signer and EC2 model
# and reads every answer back through botocore's parser (no real EC2 runs here); the
# export lands in s3rver; qemu-img compare judges what restores.
#   envpack pack -o OUT vm:aws:i-ID --input-option bucket=B [--input-option format=VMDK|RAW|VHD] ...
. "$(dirname "$0")/../lib.sh"
. "$HERE/s3.sh"
. "$HERE/ec2.sh"

start_s3 s || { not_ok "start the S3 server"; finish; exit 0; }
B=$S3_S_BUCKET
E=$S3_S_ENDPOINT
DB=i-0123456789abcdef0  # Windows, m5.xlarge, booted legacy BIOS though its AMI prefers UEFI
WEB=i-0fedcba9876543210 # Linux, t3.large, UEFI, no Name tag

make_disk "$T/web.raw" 64M
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$T/web.raw" "$T/web.vmdk" || not_ok "qemu-img convert"
qemu-img convert -f raw -O vpc "$T/web.raw" "$T/web.vhd" || not_ok "qemu-img convert to VHD"
"$ENVPACK" keygen -o "$T/k" >/dev/null
FAST=(--input-option poll-seconds=1 --input-option timeout-minutes=2)
DESCRIBE=(--export-instance "$DB=$T/web.vmdk" --export-instance "$WEB=$T/web.vhd"
	--describe "$DB="'{"instanceType": "m5.xlarge", "tags": {"Name": "db 1", "team": "ops"}, "bootMode": "uefi-preferred",
	  "currentInstanceBootMode": "legacy-bios", "platform": "windows", "platformDetails": "Windows"}'
	--describe "$WEB="'{"instanceType": "t3.large", "bootMode": "uefi", "currentInstanceBootMode": "uefi",
	  "platformDetails": "Linux/UNIX"}')
actions() { log_q "$1" '" ".join("%s:%s:%s" % (e["action"], e["status"], e["auth"]) for e in L)'; }

start_ec2 ec2 "${DESCRIBE[@]}" --polls 2 || { not_ok "start the EC2 fake"; finish; exit 0; }
ok "EC2 fake at $EC2_EC2"

# 1. --dry-run: the describe calls, CreateInstanceExportTask, the poll, a note of the reads; nothing sent
expect_exit 0 "a dry run" ea "$EC2_EC2" pack -o "$T/dry.envpack" "vm:aws:$DB" --input-option "bucket=$B" --dry-run
check "it lists the requests in order" test "$(grep -oE '^ *Action=[A-Za-z]+' "$T/out" | tr -d ' ' | tr '\n' ' ')" = \
	"Action=DescribeInstances Action=DescribeInstanceTypes Action=CreateInstanceExportTask Action=DescribeExportTasks Action=CancelExportTask "
check "DescribeInstances names the instance" grep -qE "^ *Action=DescribeInstances&Version=2016-11-15&InstanceId.1=$DB$" "$T/out"
check "CreateInstanceExportTask's body: ExportToS3, VMDK for vmware, no ContainerFormat" grep -qE \
	"^ *Action=CreateInstanceExportTask&Version=2016-11-15&ExportToS3.DiskImageFormat=VMDK&ExportToS3.S3Bucket=$B&ExportToS3.S3Prefix=envpack-export%2F&InstanceId=$DB&TargetEnvironment=vmware$" "$T/out"
check "the poll" grep -qE "^ *Action=DescribeExportTasks&Version=2016-11-15&ExportTaskId.1=EXPORT-TASK-ID$" "$T/out"
check "and the reads that follow" grep -qF "ranged GETs of s3://$B/envpack-export/EXPORT-TASK-ID.vmdk, removed afterwards" "$T/out"
check "the signature masked, the secret not printed" bash -c 'grep -qE "Authorization: AWS4-HMAC-SHA256 \*\*\*\*$" "$1" && ! grep -qF -- "$2" "$1" "$3"' _ "$T/out" "$S3_SECRET_KEY" "$T/err"
check "the EC2 fake saw nothing" test ! -s "$T/ec2.log"
check "nothing written (dry run)" test ! -e "$T/dry.envpack"

# 2. the capture: described, exported, polled, read from S3, removed; restored as the original
expect_exit 0 "capture of the Windows instance" ea "$EC2_EC2" pack -k "$T/k.key" -o "$T/db.envpack" "vm:aws:$DB" \
	--input-option "bucket=$B" "${FAST[@]}"
task=$(log_q ec2 '[e["task"] for e in L if e["action"] == "CreateInstanceExportTask" and "task" in e][0]')
check "the calls, in order, each signed as botocore signs and each answered" test "$(actions ec2)" = \
	"DescribeInstances:200:ok DescribeInstanceTypes:200:ok CreateInstanceExportTask:200:ok DescribeExportTasks:200:ok DescribeExportTasks:200:ok DescribeExportTasks:200:ok"
check "DescribeInstanceTypes asked for the instance's type" test \
	"$(log_q ec2 '[e["params"].get("InstanceType.1") for e in L if e["action"] == "DescribeInstanceTypes"]')" = "['m5.xlarge']"
check "the summary line: from the instance via the export's object" \
	grep -qE "^captured $DB from ec2:$DB via s3://$B/envpack-export/$task.vmdk: .* read in [0-9]+ requests$" "$T/out"
check "restored to dir:, qemu-img compare finds the original" same_disk "$T/db.envpack"
check "the machine: the Name tag, the type's 4 vCPUs and 16 GiB, BIOS as it booted, Windows" machine_is "$T/db.envpack" "$DB" \
	'{"name": "db-1", "vcpus": 4, "memory_mib": 16384, "firmware": "bios", "os": "windows"}'
check "the export is removed afterwards" test -z "$(exports envpack-export/)"

# 3. VHD (microsoft), --keep-export, a machine option by hand, no Name tag
n=$(log_q ec2 'len(L)')
expect_exit 0 "capture of the Linux instance as VHD, kept" ea "$EC2_EC2" pack -q -k "$T/k.key" -o "$T/web.envpack" \
	"vm:aws:$WEB" --input-option "bucket=$B" --input-option prefix=kept/ --input-option format=VHD "${FAST[@]}" \
	--keep-export --vcpus 3
task2=$(log_q ec2 '[e["task"] for e in L if e["action"] == "CreateInstanceExportTask" and "task" in e][-1]')
check "CreateInstanceExportTask asked VHD for microsoft" test \
	"$(log_q ec2 '[(e["params"]["ExportToS3.DiskImageFormat"], e["params"]["TargetEnvironment"]) for e in L['"$n"':] if e["action"] == "CreateInstanceExportTask"]')" = \
	"[('VHD', 'microsoft')]"
check "the export stays where AWS wrote it" test "$(exports kept/)" = "kept/$task2.vhd"
check "it restores as the original" same_disk "$T/web.envpack"
check "the machine: named after the instance, --vcpus by hand, the type's 8 GiB, UEFI, linux" machine_is "$T/web.envpack" \
	"$WEB" "{'name': '$WEB', 'vcpus': 3, 'memory_mib': 8192, 'firmware': 'uefi', 'os': 'linux'}"

# 4. faults: nothing written in each
n=$(log_q ec2 'len(L)')
expect_exit 2 "an instance EC2 does not know is exit 2" ea "$EC2_EC2" pack -q -k "$T/k.key" -o "$T/unknown.envpack" \
	"vm:aws:i-0aaaaaaaaaaaaaaaa" --input-option "bucket=$B" "${FAST[@]}"
expect_err "DescribeInstances.*InvalidInstanceID.NotFound" "the message names DescribeInstances and EC2's code"
check "nothing exported (DescribeInstances alone)" test "$(log_q ec2 '[e["action"] for e in L['"$n"':]]')" = "['DescribeInstances']"
check "nothing written (unknown instance)" test ! -e "$T/unknown.envpack"
n=$(log_q ec2 'len(L)')
expect_exit 2 "role-name= for an instance is exit 2" ea "$EC2_EC2" pack -q -k "$T/k.key" -o "$T/role.envpack" \
	"vm:aws:$DB" --input-option "bucket=$B" --input-option role-name=vmimport
expect_err "role-name= is ExportImage's" "the message says whose option it is"
check "nothing sent (role-name)" test "$(log_q ec2 'len(L)')" = "$n"
expect_exit 2 "an instance id of 9 hex digits is exit 2" ea "$EC2_EC2" pack -q -o "$T/short.envpack" "vm:aws:i-012345678" \
	--input-option "bucket=$B"
start_ec2 deny "${DESCRIBE[@]}" --deny CreateInstanceExportTask || not_ok "start the refusing EC2 fake"
expect_exit 1 "UnauthorizedOperation on CreateInstanceExportTask is exit 1" ea "$EC2_DENY" pack -q -k "$T/k.key" \
	-o "$T/denied.envpack" "vm:aws:$DB" --input-option "bucket=$B" --input-option prefix=denied/ "${FAST[@]}"
expect_err "CreateInstanceExportTask at .*UnauthorizedOperation.*IAM policy" "the message names the call, AWS's code and the fix"
check "nothing written (refused)" test ! -e "$T/denied.envpack"
check "it stopped at the refusal" test "$(actions deny)" = \
	"DescribeInstances:200:ok DescribeInstanceTypes:200:ok CreateInstanceExportTask:403:ok"
start_ec2 bad "${DESCRIBE[@]}" --polls 1 --end deleted || not_ok "start the failing EC2 fake"
expect_exit 1 "a cancelled export task is exit 1" ea "$EC2_BAD" pack -q -k "$T/k.key" -o "$T/failed.envpack" \
	"vm:aws:$DB" --input-option "bucket=$B" --input-option prefix=failed/ "${FAST[@]}"
expect_err "export of $DB failed \(task export-i-[0-9a-f]+ cancelled\): ClientError: Unknown OS" "the message gives the task's StatusMessage"
check "nothing written (failed task)" test ! -e "$T/failed.envpack"
check "no export left behind" test -z "$(exports failed/)"
# a timeout cancels the instance's export task (CancelExportTask takes export-i- ids too)
start_ec2 slow "${DESCRIBE[@]}" --polls 100 || not_ok "start the slow EC2 fake"
expect_exit 1 "an instance's export that does not finish in time is exit 1" ea "$EC2_SLOW" pack -q -k "$T/k.key" \
	-o "$T/slow.envpack" "vm:aws:$DB" --input-option "bucket=$B" --input-option poll-seconds=61 --input-option timeout-minutes=1
task=$(log_q slow '[e["task"] for e in L if e["action"] == "CreateInstanceExportTask" and "task" in e][-1]')
expect_err "export of $DB did not finish within 1 min: task $task cancelled$" "the message names the task, cancelled"
check "CancelExportTask of the export-i- task, after one poll" test "$(actions slow)" = \
	"DescribeInstances:200:ok DescribeInstanceTypes:200:ok CreateInstanceExportTask:200:ok DescribeExportTasks:200:ok CancelExportTask:200:ok"
check "it named that task" test "$(log_q slow '[e["params"]["ExportTaskId"] for e in L if e["action"] == "CancelExportTask"]')" = "['$task']"
check "nothing written (timeout)" test ! -e "$T/slow.envpack"

finish
