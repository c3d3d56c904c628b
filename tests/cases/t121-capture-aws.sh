#!/usr/bin/env bash
# vm:aws:AMI_ID captures an AMI through EC2's ExportImage: DescribeImages first (the
# AMI's name, boot mode and platform become the machine), the export task polled to
# completion, then the object AWS wrote (PREFIX + task id + .vmdk) read where it lies
# through disk:s3://'s ranged reads and removed afterwards (unless --keep-export).
# tests/tools/ec2_fake.py (every request checked against botocore's signer and EC2
# model, every answer read back through botocore's parser) answers DescribeImages and
# ExportImage and, once the task completes, PUTs the "export" (a
# streamOptimized VMDK qemu-img made) into s3rver (tests/s3.sh, SigV4 checked);
# qemu-img compare judges what restores; the migration goes on to Azurite. Instances:
# t122-capture-aws-instance.sh.
#   envpack pack -o OUT vm:aws:AMI_ID --input-option bucket=B [--input-option prefix=P]
#     [--input-option format=VMDK|RAW|VHD] [--input-option poll-seconds=N] [--keep-export] [--dry-run]
# Given up on (timeout-minutes=, SIGINT) the task is cancelled (CancelExportTask), unless --keep-export.
. "$(dirname "$0")/../lib.sh"
. "$HERE/s3.sh"
. "$HERE/ec2.sh"
. "$HERE/azure.sh"

start_s3 s || { not_ok "start the S3 server"; finish; exit 0; }
B=$S3_S_BUCKET
E=$S3_S_ENDPOINT
AMI=ami-0123456789abcdef0

# the AMI's disk: data with holes, its export a streamOptimized VMDK
make_disk "$T/web.raw" 64M
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$T/web.raw" "$T/web.vmdk" || not_ok "qemu-img convert"

az_same() { rm -f "$T/dl.vhd" && azblob a get "$AZ_CONTAINER" "$1" "$T/dl.vhd" && qemu-img compare -q -f vpc "$T/dl.vhd" -F raw "$T/web.raw"; }
no_secret() { ! grep -qF -- "$S3_SECRET_KEY" "$T/out" "$T/err"; }
"$ENVPACK" keygen -o "$T/k" >/dev/null
FAST=(--input-option poll-seconds=1 --input-option timeout-minutes=2)

ARM=ami-0aaaaaaaaaaaaaaaa
start_ec2 ec2 --export-image "$AMI=$T/web.vmdk" --export-image "$ARM=$T/web.vmdk" --polls 2 \
	--describe "$AMI="'{"name": "web server (prod)", "bootMode": "uefi", "architecture": "x86_64", "platformDetails": "Linux/UNIX"}' \
	--describe "$ARM="'{"name": "graviton", "architecture": "arm64", "platformDetails": "Linux/UNIX"}' ||
	{ not_ok "start the EC2 fake"; finish; exit 0; }
ok "EC2 fake at $EC2_EC2"

# 1. --dry-run: DescribeImages' and ExportImage's requests, the poll and a note of the reads; nothing sent
expect_exit 0 "a dry run" ea "$EC2_EC2" pack -o "$T/dry.envpack" "vm:aws:$AMI" --input-option "bucket=$B" --dry-run
check "it shows DescribeImages' body first" bash -c 'grep -E "^ *Action=" "$1" | head -1 | grep -qE "^ *Action=DescribeImages&Version=2016-11-15&ImageId.1=$2$"' _ "$T/out" "$AMI"
check "it shows ExportImage's body" grep -qE "^ *Action=ExportImage&Version=2016-11-15&DiskImageFormat=VMDK&ImageId=$AMI&S3ExportLocation.S3Bucket=$B&S3ExportLocation.S3Prefix=envpack-export%2F$" "$T/out"
check "it shows the poll" grep -qE "^ *Action=DescribeExportImageTasks&Version=2016-11-15&ExportImageTaskId.1=EXPORT-TASK-ID$" "$T/out"
check "it shows the CancelExportTask sent if given up on" grep -qE "^ *Action=CancelExportTask&Version=2016-11-15&ExportTaskId=EXPORT-TASK-ID$" "$T/out"
check "and notes when" grep -qF "(given up on, at the timeout or on Ctrl-C: CancelExportTask, unless --keep-export)" "$T/out"
check "and notes the reads that follow" grep -qF "ranged GETs of s3://$B/envpack-export/EXPORT-TASK-ID.vmdk" "$T/out"
check "to the EC2 endpoint, Authorization masked" bash -c 'grep -qE "^ *POST $1/$" "$2" && grep -qE "Authorization: AWS4-HMAC-SHA256 \*\*\*\*$" "$2" && ! grep -q Credential= "$2"' _ "$EC2_EC2" "$T/out"
check "the secret is not printed" no_secret
check "the EC2 fake saw nothing" test ! -s "$T/ec2.log"
check "nothing written (dry run)" test ! -e "$T/dry.envpack"

# 2. the capture: exported, polled, read from S3, restored to dir: as the original
expect_exit 0 "capture of the AMI" ea "$EC2_EC2" pack -k "$T/k.key" -o "$T/ami.envpack" "vm:aws:$AMI" \
	--input-option "bucket=$B" "${FAST[@]}"
task=$(log_q ec2 '[e["task"] for e in L if e["action"] == "ExportImage" and "task" in e][0]')
check "DescribeImages, ExportImage, then DescribeExportImageTasks until completed, all signed as botocore signs" test \
	"$(log_q ec2 '" ".join("%s:%s:%s" % (e["action"], e["status"], e["auth"]) for e in L)')" = \
	"DescribeImages:200:ok ExportImage:200:ok DescribeExportImageTasks:200:ok DescribeExportImageTasks:200:ok DescribeExportImageTasks:200:ok"
check "the summary line: the AMI, from it via the export's object" grep -qE "^captured $AMI from ec2:$AMI via s3://$B/envpack-export/$task.vmdk: .* read in [0-9]+ requests$" "$T/out"
check "restored to dir:, qemu-img compare finds the original" same_disk "$T/ami.envpack"
check "the export is removed afterwards" test -z "$(exports envpack-export/)"
check "the S3 server saw ranged GETs of it" test -n "$(s3_requests s "GET /[^ ]*envpack-export/$task.vmdk")"
check "the manifest's machine: the AMI's Name made a name, UEFI from its boot mode, linux from its platform" \
	machine_is "$T/ami.envpack" "$AMI" '{"name": "web-server--prod-", "firmware": "uefi", "os": "linux", "vcpus": 1, "memory_mib": 1024}'
rm -rf "$T/lv"
expect_exit 0 "restored to libvirt:DIR" "$ENVPACK" restore -q -p "$T/k.pub" "$T/ami.envpack" --to "libvirt:$T/lv"
check "the domain boots UEFI (<os firmware='efi'>)" python3 -c '
import sys, xml.etree.ElementTree as ET
assert ET.parse(sys.argv[1]).getroot().find("os").get("firmware") == "efi"' "$T/lv/web-server--prod-.xml"

# 3. --keep-export, another prefix, --json from and requests (EC2's 1 + 3 polls and S3's)
expect_exit 0 "capture with --keep-export --json" ea "$EC2_EC2" pack -q -k "$T/k.key" -o "$T/kept.envpack" \
	"vm:aws:$AMI" --input-option "bucket=$B" --input-option prefix=kept/ "${FAST[@]}" --keep-export --json \
	--vm-name web --firmware bios --memory 2048
task2=$(log_q ec2 '[e["task"] for e in L if e["action"] == "ExportImage" and "task" in e][-1]')
check "the export stays where AWS wrote it" test "$(exports kept/)" = "kept/$task2.vmdk"
gets=$(s3_requests s "(GET|HEAD) /[^ ]*kept/$task2.vmdk" | wc -l)
check "--json: from and requests (EC2's and S3's)" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["disks"]
assert len(d) == 1 and d[0]["from"] == "ec2:%s via s3://%s/kept/%s.vmdk" % tuple(sys.argv[2:5]), d
assert d[0]["requests"] == 5 + int(sys.argv[5]), (d, sys.argv[5])' "$T/out" "$AMI" "$B" "$task2" "$gets"
check "it restores as the original" same_disk "$T/kept.envpack"
check "--vm-name, --firmware and --memory by hand win over what EC2 says; the OS stays EC2's" \
	machine_is "$T/kept.envpack" "$AMI" '{"name": "web", "firmware": "bios", "os": "linux", "vcpus": 1, "memory_mib": 2048}'

# 4. into a store: the second capture adds no chunk
S=$T/store
expect_exit 0 "backup of the capture into a store" ea "$EC2_EC2" backup --init -q -k "$T/k.key" "$S" "vm:aws:$AMI" \
	--input-option "bucket=$B" "${FAST[@]}"
before=$(find "$S" -type f | sort)
expect_exit 0 "a second backup of the same AMI" ea "$EC2_EC2" backup -q -k "$T/k.key" "$S" "vm:aws:$AMI" \
	--input-option "bucket=$B" "${FAST[@]}"
check "it added no chunk" test -z "$(comm -13 <(echo "$before" | grep /chunks/) <(find "$S" -type f | sort | grep /chunks/))"

# 5. the migration: AWS -> Azure (Azurite), the page blob compared with the original
if start_azurite a; then
	CONN=$(az_conn a)
	expect_exit 0 "the capture restored to azure:" env AZURE_STORAGE_CONNECTION_STRING="$CONN" timeout -k 5 300 \
		"$ENVPACK" restore -q -p "$T/k.pub" "$T/ami.envpack" --to "azure:$AZ_CONTAINER/from-aws"
	check "the page blob holds the original disk" az_same "from-aws/$AMI.vhd"
else
	not_ok "start Azurite"
fi

# 6. faults: nothing written in each
expect_exit 2 "an AMI EC2 does not know is exit 2" ea "$EC2_EC2" pack -q -k "$T/k.key" -o "$T/unknown.envpack" \
	"vm:aws:ami-0fedcba9876543210" --input-option "bucket=$B" "${FAST[@]}"
expect_err "DescribeImages.*InvalidAMIID.NotFound" "the message names DescribeImages and EC2's code"
check "nothing written (unknown AMI)" test ! -e "$T/unknown.envpack"
n=$(log_q ec2 'len(L)')
expect_exit 2 "no bucket is exit 2" ea "$EC2_EC2" pack -q -k "$T/k.key" -o "$T/nobucket.envpack" "vm:aws:$AMI"
expect_err "bucket=BUCKET" "the message names the missing option"
check "nothing written (no bucket)" test ! -e "$T/nobucket.envpack"
check "nothing sent (no bucket)" test "$(log_q ec2 'len(L)')" = "$n"
expect_exit 2 "an id that is neither an AMI's nor an instance's is exit 2" ea "$EC2_EC2" pack -q -o "$T/addr.envpack" \
	"vm:aws:vol-0123456789abcdef0" --input-option "bucket=$B"
expect_err "takes an AMI id \(ami-\) or an instance id \(i-\)" "and says what it takes"
check "nothing sent (no such id)" test "$(log_q ec2 'len(L)')" = "$n"
expect_exit 2 "an arm64 AMI is exit 2" ea "$EC2_EC2" pack -q -k "$T/k.key" -o "$T/arm.envpack" "vm:aws:$ARM" \
	--input-option "bucket=$B" "${FAST[@]}"
expect_err "$ARM is arm64, and envpack's machines are x86" "the message names the AMI and its architecture"
check "nothing exported (DescribeImages alone)" test "$(log_q ec2 '[e["action"] for e in L['"$n"':]]')" = "['DescribeImages']"
check "nothing written (arm64)" test ! -e "$T/arm.envpack"
start_ec2 bad --export-image "$AMI=$T/web.vmdk" --polls 1 --end deleted || not_ok "start the failing EC2 fake"
expect_exit 1 "a failed export task is exit 1" ea "$EC2_BAD" pack -q -k "$T/k.key" -o "$T/failed.envpack" \
	"vm:aws:$AMI" --input-option "bucket=$B" --input-option prefix=failed/ "${FAST[@]}"
expect_err "export of $AMI failed \(task export-ami-[0-9a-f]+ deleted\): ClientError: Unknown OS" "the message gives the task's status message"
check "nothing written (failed task)" test ! -e "$T/failed.envpack"
check "no export left behind" test -z "$(exports failed/)"
# given up on (timeout, SIGINT): the task envpack started is cancelled, unless --keep-export
start_ec2 slow --export-image "$AMI=$T/web.vmdk" --polls 100 || not_ok "start the slow EC2 fake"
SLOW=(--input-option poll-seconds=61 --input-option timeout-minutes=1)
cancels() { log_q slow '" ".join("%s:%s" % (e["params"]["ExportTaskId"], e["status"]) for e in L if e["action"] == "CancelExportTask")'; }
last_task() { log_q "$1" '[e["task"] for e in L if e["action"] == "ExportImage" and "task" in e][-1]'; }
expect_exit 1 "an export that does not finish in time is exit 1" ea "$EC2_SLOW" pack -q -k "$T/k.key" -o "$T/slow.envpack" \
	"vm:aws:$AMI" --input-option "bucket=$B" "${SLOW[@]}"
t1=$(last_task slow)
expect_err "did not finish within 1 min: task $t1 cancelled$" "the message names the task, cancelled"
check "CancelExportTask of that task was sent (botocore-checked) and answered 200" test "$(cancels)" = "$t1:200"
check "nothing written (timeout)" test ! -e "$T/slow.envpack"
expect_exit 1 "with --keep-export, a timeout is exit 1 too" ea "$EC2_SLOW" pack -q -k "$T/k.key" -o "$T/slowk.envpack" \
	"vm:aws:$AMI" --input-option "bucket=$B" "${SLOW[@]}" --keep-export
expect_err "did not finish within 1 min: task $(last_task slow) left running \(--keep-export; look with aws ec2 describe-export-image-tasks; its object will land in s3://$B/envpack-export/\)" "and says the task is left running"
check "and sends no CancelExportTask" test "$(cancels)" = "$t1:200"
start_ec2 nocancel --export-image "$AMI=$T/web.vmdk" --polls 100 --deny CancelExportTask || not_ok "start the EC2 fake that denies CancelExportTask"
expect_exit 1 "a timeout whose cancel EC2 refuses is exit 1 too" ea "$EC2_NOCANCEL" pack -k "$T/k.key" -o "$T/nocancel.envpack" \
	"vm:aws:$AMI" --input-option "bucket=$B" "${SLOW[@]}"
t2=$(last_task nocancel)
expect_err "could not cancel export task $t2 \(aws ec2 cancel-export-task --export-task-id $t2\): .*403 .*UnauthorizedOperation" "a warning names the task and EC2's refusal"
expect_err "did not finish within 1 min: task $t2 still running \(look with aws ec2 describe-export-image-tasks" "the error says it is still running"
check "the cancel was sent and refused" test "$(log_q nocancel '[e["status"] for e in L if e["action"] == "CancelExportTask"]')" = "[403]"
# a task that completes as it is given up on cannot be cancelled: its object goes as on any failure
start_ec2 late --export-image "$AMI=$T/web.vmdk" --polls 1 || not_ok "start the EC2 fake whose task completes late"
expect_exit 1 "a task that completed meanwhile: the timeout is exit 1" ea "$EC2_LATE" pack -q -k "$T/k.key" -o "$T/late.envpack" \
	"vm:aws:$AMI" --input-option "bucket=$B" --input-option prefix=late/ "${SLOW[@]}"
expect_err "task $(last_task late) completed meanwhile: its object is removed$" "says so"
check "the cancel was refused (IncorrectState), the task polled once more" test \
	"$(log_q late '" ".join("%s:%s" % (e["action"], e["status"]) for e in L)')" = \
	"DescribeImages:200 ExportImage:200 DescribeExportImageTasks:200 CancelExportTask:400 DescribeExportImageTasks:200"
check "its object, written meanwhile, is removed" test -z "$(exports late/)"
check "no warning about the cancel" bash -c '! grep -q "could not cancel" "$1/err"' _ "$T"
# SIGINT while polling: the task is cancelled on the way out
int_pack() { # int_pack OUT ARGS...: pack vm:aws:$AMI on the slow fake, SIGINT once its task is polled; rc in $rc
	local out=$1 n
	shift
	n=$(log_q slow 'len(L)')
	# ea's environment, envpack itself the process signalled (not timeout's shell)
	env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL -u AWS_REGION AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" \
		AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL_S3="$E" \
		AWS_ENDPOINT_URL_EC2="$EC2_SLOW" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
		"$ENVPACK" pack -q -k "$T/k.key" -o "$out" "vm:aws:$AMI" --input-option "bucket=$B" \
		--input-option poll-seconds=30 "$@" >"$T/int.out" 2>"$T/int.err" &
	local pid=$!
	for i in $(seq 100); do
		[ "$(log_q slow "sum(1 for e in L[$n:] if e['action'] == 'DescribeExportImageTasks')")" = 1 ] && break
		sleep 0.1
	done
	sleep 0.5
	kill -INT "$pid"
	wait "$pid"
	rc=$?
}
int_pack "$T/int.envpack"
t3=$(last_task slow)
check "an interrupted capture fails with exit 1, not killed ($rc: $(head -c 200 "$T/int.err"))" test "$rc" = 1
check "the message says so" grep -q "export of $AMI was interrupted: task $t3 cancelled" "$T/int.err"
check "and cancels its task" test "$(cancels)" = "$t1:200 $t3:200"
check "nothing written (interrupted)" test ! -e "$T/int.envpack"
int_pack "$T/intk.envpack" --keep-export
check "with --keep-export, an interrupted capture fails with exit 1 ($rc)" test "$rc" = 1
check "its task left running, said" grep -q "was interrupted: task $(last_task slow) left running (--keep-export" "$T/int.err"
check "no CancelExportTask sent" test "$(cancels)" = "$t1:200 $t3:200"
# a pack that fails once the export is there still removes it: a format the object is not
expect_exit 2 "an export read as the wrong format fails" ea "$EC2_EC2" pack -q -k "$T/k.key" -o "$T/fmt.envpack" \
	--format qcow2 "vm:aws:$AMI" --input-option "bucket=$B" --input-option prefix=fmt/ "${FAST[@]}"
check "nothing written (wrong format)" test ! -e "$T/fmt.envpack"
check "the export is removed even so" test -z "$(exports fmt/)"
# the export cannot be removed (S3 refuses the DELETE): said, naming it, and the capture stands
start_s3_fault nodel s deny-delete || not_ok "start the fault proxy"
S3_URL=$S3_NODEL_ENDPOINT expect_exit 0 "a capture whose export cannot be removed succeeds" ea "$EC2_EC2" pack \
	-k "$T/k.key" -o "$T/nodel.envpack" "vm:aws:$AMI" --input-option "bucket=$B" --input-option prefix=nodel/ "${FAST[@]}"
task3=$(log_q ec2 '[e["task"] for e in L if e["action"] == "ExportImage" and "task" in e][-1]')
expect_err "could not remove the export s3://$B/nodel/$task3.vmdk" "a warning names the object left"
check "the object is still there" test "$(exports nodel/)" = "nodel/$task3.vmdk"
check "the capture restores as the original" same_disk "$T/nodel.envpack"
stop_s3 nodel

finish
