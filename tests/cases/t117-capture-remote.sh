#!/usr/bin/env bash
# Disk images captured where they lie: disk:s3://BUCKET/KEY and disk:http://URL read
# through ranged GETs (cloud/remote.c) under every disk format reader, no local copy.
# Images made by qemu-img from a disk with holes sit in s3rver (tests/s3.sh), which also
# serves them over plain http:// (anonymous GETs, honouring Range: t92 reads bundles so);
# each is packed from there, restored to dir: and compared with `qemu-img compare`.
# Requests are counted twice: by envpack's capture line and in the server's log.
. "$(dirname "$0")/../lib.sh"
. "$HERE/s3.sh"

command -v qemu-img >/dev/null || { not_ok "qemu-img is needed"; finish; exit 0; }
start_s3 s || { not_ok "start the S3 server"; finish; exit 0; }
ok "S3 server at $S3_S_ENDPOINT"
B=$S3_S_BUCKET
E=$S3_S_ENDPOINT
ep() { env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL_S3 AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" \
	AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL="$E" \
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null timeout -k 5 300 "$ENVPACK" "$@"; }
put() { aws_s3 s s3api put-object --bucket "$B" --key "$1" --body "$2" >/dev/null; }
# served KEY: the requests the server saw for KEY
served() { s3_requests s " [A-Z]+ /$B/$1( |\?)" | wc -l; }
# restored DIR: the one disk file a dir: restore made
restored() { find "$1" -maxdepth 1 -type f \( -name '*.raw' -o -name '*.qcow2' -o -name '*.vmdk' -o -name '*.vhd' -o -name '*.vhdx' \) | head -n 1; }

# a 64 MiB disk with holes: data at 0, 3, 17, 40 and 60 MiB (lib.sh's make_disk)
make_disk "$T/disk.raw" 64M
"$ENVPACK" keygen -o "$T/k" >/dev/null
declare -A MAKE=([raw]="-O raw" [qcow2]="-O qcow2" [stream.vmdk]="-O vmdk -o subformat=streamOptimized"
	[sparse.vmdk]="-O vmdk -o subformat=monolithicSparse" [vhd]="-O vpc -o subformat=dynamic" [vhdx]="-O vhdx")
FORMATS="raw qcow2 stream.vmdk sparse.vmdk vhd vhdx"
for f in $FORMATS; do
	# shellcheck disable=SC2086 # the options are words
	qemu-img convert ${MAKE[$f]} "$T/disk.raw" "$T/img.$f" && put "img/disk.$f" "$T/img.$f" ||
		not_ok "make and upload img.$f"
done

# 1. every format packed from s3:// and restored equal; requests few, and as the server counts them.
# A reader asking 4 KiB at a time would need over 1500 requests for the ~7 MiB of data.
for f in $FORMATS; do
	rm -f "$T/s.envpack"
	before=$(served "img/disk.$f")
	expect_exit 0 "pack disk:s3:// of $f" ep pack -k "$T/k.key" -o "$T/s.envpack" "disk:s3://$B/img/disk.$f"
	line=$(grep '^captured ' "$T/out")
	n=$(sed -n 's/.* in \([0-9]*\) requests$/\1/p' <<<"$line")
	seen=$(($(served "img/disk.$f") - before))
	check "$f: one capture line naming the URL ($line)" grep -q "^captured [^ ]* from s3://$B/img/disk.$f: .* read in [0-9]* requests$" "$T/out"
	check "$f: the requests said ($n) are those the server saw ($seen)" test "${n:-x}" = "$seen"
	check "$f: at most 24 requests ($n)" test "${n:-99}" -le 24
	rm -rf "$T/r"
	expect_exit 0 "$f: restore to dir:" "$ENVPACK" restore -q -p "$T/k.pub" "$T/s.envpack" --to "dir:$T/r"
	check "$f: qemu-img compare: the restored disk is the original" qemu-img compare -q "$T/disk.raw" "$(restored "$T/r")"
done

# 2. over plain http:// (s3rver's anonymous GETs with Range), and --json says where and how many
for f in raw qcow2 stream.vmdk; do
	rm -f "$T/h.envpack"
	expect_exit 0 "pack disk:http:// of $f" "$ENVPACK" pack --json -k "$T/k.key" -o "$T/h.envpack" "disk:$E/$B/img/disk.$f"
	check "$f over http: --json has from and requests" test "$(jq_ 'd["disks"][0]["from"], 0 < d["disks"][0]["requests"] <= 24' "$T/out")" = "$E/$B/img/disk.$f True"
	rm -rf "$T/r"
	"$ENVPACK" restore -q -p "$T/k.pub" "$T/h.envpack" --to "dir:$T/r" || not_ok "$f over http: restore"
	check "$f over http: qemu-img compare" qemu-img compare -q "$T/disk.raw" "$(restored "$T/r")"
done
check "the http:// reads were ranges (206), never a whole GET (200)" \
	test -n "$(s3_requests s "GET /$B/img/disk.qcow2 206")" -a -z "$(s3_requests s "GET /$B/img/disk.qcow2 200")"

# 3. a second backup of the same remote disk into a store adds no chunk
S=$T/store
expect_exit 0 "backup disk:s3:// (--init)" ep backup --init -k "$T/k.key" --json "$S" "disk:s3://$B/img/disk.qcow2"
check "the first backup added chunks" test "$(jq_ 'd["added_chunks"] > 0' "$T/out")" = True
expect_exit 0 "backup the same remote disk again" ep backup -k "$T/k.key" --json "$S" "disk:s3://$B/img/disk.qcow2"
check "the second adds no chunk" test "$(jq_ 'd["added_chunks"]' "$T/out")" = 0
check "and its report names where the disk was read" test "$(jq_ 'd["disks"][0]["from"]' "$T/out")" = "s3://$B/img/disk.qcow2"

# 4. --dry-run: the requests shown, credentials masked, nothing sent
before=$(served img/disk.vhd)
expect_exit 0 "pack --dry-run disk:s3://" ep pack --dry-run -k "$T/k.key" -o "$T/dry.envpack" "disk:s3://$B/img/disk.vhd"
check "it shows the HEAD and the first ranged GET" grep -qE "^GET $E/$B/img/disk.vhd" "$T/out"
check "the signature is masked" grep -q "Authorization: AWS4-HMAC-SHA256 \*\*\*\*" "$T/out"
check "no secret is shown" sh -c '! grep -q "$1" "$2"' _ "$S3_SECRET_KEY" "$T/out"
check "nothing was sent" test "$(served img/disk.vhd)" = "$before"
check "nothing was written" test ! -e "$T/dry.envpack"
H=${E#http://}
expect_exit 0 "pack --dry-run of an http:// URL with a password and a signed query" "$ENVPACK" pack --dry-run -k "$T/k.key" \
	-o "$T/dry.envpack" "disk:http://ops:hunter2@$H/$B/img/disk.vhd?X-Amz-Signature=SIGSECRET&x=1"
check "the password and the signature are masked" sh -c 'grep -q "^HEAD http://ops:\*\*\*\*@$1/$2/img/disk.vhd?X-Amz-Signature=\*\*\*\*&x=1$" "$3" && ! grep -qE "hunter2|SIGSECRET" "$3"' _ "$H" "$B" "$T/out"
check "nothing was sent over http either" test "$(served img/disk.vhd)" = "$before"

# 5. faults: each refused with its exit code, the URL named, nothing written
head -c $(($(stat -c %s "$T/img.qcow2") / 2)) "$T/img.qcow2" >"$T/cut.qcow2"
put img/cut.qcow2 "$T/cut.qcow2"
expect_exit 2 "a truncated object is bad input" ep pack -k "$T/k.key" -o "$T/f.envpack" "disk:s3://$B/img/cut.qcow2"
expect_err "s3://$B/img/cut.qcow2.*past the end|past the end.*s3://$B/img/cut.qcow2" "the message names the URL and says its data lies past the end"
check "nothing was written (truncated)" test ! -e "$T/f.envpack"
# qemu's streamOptimized images keep their tables at the start: cut, they open, and the
# grains past the cut fail the pack midway
head -c $(($(stat -c %s "$T/img.stream.vmdk") / 2)) "$T/img.stream.vmdk" >"$T/cut.vmdk"
put img/cut.vmdk "$T/cut.vmdk"
rm -f "$T/f.envpack"
expect_exit 2 "a streamOptimized object cut in half fails midway as bad input" ep pack -k "$T/k.key" -o "$T/f.envpack" "disk:s3://$B/img/cut.vmdk"
expect_err "'s3://$B/img/cut.vmdk'" "the message names the URL"
check "nothing was written, not even a partial file beside it (truncated stream)" sh -c '! ls -d "$1"* 2>/dev/null' _ "$T/f.envpack"
# a missing object is the user's bad input, as a missing local file is: exit 2
rm -f "$T/f.envpack"
expect_exit 2 "a missing object is refused" ep pack -k "$T/k.key" -o "$T/f.envpack" "disk:s3://$B/img/none.qcow2"
expect_err "s3://$B/img/none.qcow2.*does not exist" "the message names it"
check "nothing was written (missing)" test ! -e "$T/f.envpack"
rm -f "$T/f.envpack"
expect_exit 2 "a missing http:// object is refused" "$ENVPACK" pack -k "$T/k.key" -o "$T/f.envpack" "disk:$E/$B/img/none.qcow2"
expect_err "$B/img/none.qcow2.*404" "the message names it and says 404"
check "nothing was written (missing over http)" test ! -e "$T/f.envpack"
rm -f "$T/f.envpack"
expect_exit 1 "a wrong secret is a runtime failure" env AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY=wrong \
	AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL="$E" AWS_SHARED_CREDENTIALS_FILE=/dev/null \
	"$ENVPACK" pack -k "$T/k.key" -o "$T/f.envpack" "disk:s3://$B/img/disk.qcow2"
expect_err "s3: HEAD s3://$B/img/disk.qcow2: 403" "the message names the call and the refusal"
check "nothing was written (wrong secret)" test ! -e "$T/f.envpack"
# a remote image has no directory: its references (a backing file here) are refused
qemu-img create -q -f qcow2 -b img.qcow2 -F qcow2 "$T/overlay.qcow2"
put img/overlay.qcow2 "$T/overlay.qcow2"
rm -f "$T/f.envpack"
expect_exit 2 "a remote image's backing file is refused" ep pack -k "$T/k.key" -o "$T/f.envpack" "disk:s3://$B/img/overlay.qcow2"
expect_err "s3://$B/img/overlay.qcow2' refers to 'img.qcow2'.*no directory" "the message names the image and its reference"
check "nothing was written (reference)" test ! -e "$T/f.envpack"
finish
