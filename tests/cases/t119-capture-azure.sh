#!/usr/bin/env bash
# vm:azure: captures a page blob holding a fixed VHD (as Azure keeps every disk) from
# Azurite (tests/azure.sh: Microsoft's storage emulator, which checks Shared Key
# signatures and SAS tokens), reading only its allocated page ranges; the blob is
# written by an independent client (tests/tools/azblob.py) from a qemu-img VHD, and
# the capture judged by qemu-img, Azurite's access log (each answer's size) and a
# migration to the gcp: target on s3rver (tests/s3.sh, as t96 does); faults through
# tests/tools/s3_fault.py.
#   envpack pack|backup ... vm:azure:CONTAINER/BLOB            (account from AZURE_STORAGE_*)
#   envpack pack|backup ... vm:azure:https://HOST/C/B?SAS      (a SAS URL)
. "$(dirname "$0")/../lib.sh"
. "$HERE/azure.sh"

az_test_start
noaz() { env -u AZURE_STORAGE_CONNECTION_STRING -u AZURE_STORAGE_ACCOUNT -u AZURE_STORAGE_KEY -u AZURE_STORAGE_SAS_TOKEN "$@"; }
ep() { noaz AZURE_STORAGE_CONNECTION_STRING="$CONN" timeout -k 5 300 "$ENVPACK" "$@"; }
# a JSON field of the one disk pack --json reported
disk_field() { jq_ "d['disks'][0]['$1']" "$2"; }
nsnaps() { "$ENVPACK" snapshots --json "$S" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'; }
nothing_left() { test -z "$(find "$T" -maxdepth 1 \( -name 'x*' -o -name '.x*' \) -print -quit)"; }

"$ENVPACK" keygen -o "$T/k" >/dev/null
# a 64 MiB disk with data at 0, 3, 17, 40 and 60 MiB, as a fixed VHD in a page blob with holes
make_disk "$T/web.raw" 64M
qemu-img convert -O vpc -o subformat=fixed "$T/web.raw" "$T/web.vhd" || not_ok "qemu-img: a fixed VHD"
azblob a pageblob "$C" vms/web.vhd "$T/web.vhd" || not_ok "upload the VHD as a page blob"
azblob a ranges "$C" vms/web.vhd >"$T/ranges"
alloc=$(awk '{ s += $2 - $1 + 1 } END { print s }' "$T/ranges")
bsize=$(stat -c %s "$T/web.vhd")
check "the blob has holes: $(wc -l <"$T/ranges") ranges, $alloc of $bsize bytes allocated" test "$alloc" -lt $((bsize / 4))
URL=$AZ_A_ENDPOINT/$C/vms/web.vhd

# 1. pack vm:azure:CONTAINER/BLOB, restored to dir: and compared
m=$(az_mark a)
expect_exit 0 "pack vm:azure:$C/vms/web.vhd --json" ep pack --json -k "$T/k.key" -o "$T/web.envpack" "vm:azure:$C/vms/web.vhd"
cp "$T/out" "$T/p1.json"
az_since a "$m" >"$T/log1"
check "the report names the blob's URL (no credential) and a full read" \
	test "$(disk_field from "$T/p1.json") $(disk_field mode "$T/p1.json")" = "$URL full"
check "the bytes read are the allocated bytes ($(disk_field bytes_read "$T/p1.json") of $alloc)" \
	test "$(disk_field bytes_read "$T/p1.json")" = "$alloc"
got=$(awk '$(NF-1) == 206 { s += $NF } END { print s + 0 }' "$T/log1")
check "Azurite sent exactly the allocated bytes in ranged GETs ($got): no hole was read, no full GET" test "$got" = "$alloc"
check "no GET was answered whole (200 without comp=)" bash -c '! grep -E "\"GET [^?]*web.vhd HTTP/1.1\" 200" "$1"' _ "$T/log1"
n=$(wc -l <"$T/log1")
check "the requests reported are those Azurite logged ($n)" test "$(disk_field requests "$T/p1.json")" = "$n"
check "one HEAD, one Get Page Ranges, the footer and one GET per allocated range of at most 4 MiB" \
	test "$(grep -c '"HEAD ' "$T/log1") $(grep -c 'comp=pagelist' "$T/log1")" = "1 1" -a "$n" = $(( 3 + $(wc -l <"$T/ranges") - 1 ))
expect_exit 0 "restore the capture to dir:" "$ENVPACK" restore -p "$T/k.pub" "$T/web.envpack" --to "dir:$T/r1"
check "qemu-img: the capture is the blob's disk" qemu-img compare -q -f raw "$T/r1/web.raw" -F vpc "$T/web.vhd"
check "and the original disk" qemu-img compare -q -f raw "$T/r1/web.raw" -F raw "$T/web.raw"
expect_exit 0 "pack without --json" ep pack -k "$T/k.key" -o "$T/web2.envpack" "vm:azure:$C/vms/web.vhd"
check "prints the capture's one-line summary" grep -qE "^captured web from $URL: .* read in $n requests$" "$T/out"
expect_exit 0 "a bare disk takes --vcpus and --memory" ep pack -q -k "$T/k.key" -o "$T/vm.envpack" --vm-name web \
	--vcpus 2 --memory 2048 "vm:azure:$C/vms/web.vhd"
"$ENVPACK" inspect --json "$T/vm.envpack" >"$T/vm.json" 2>/dev/null
check "the machine has them" test "$(jq_ '[(m["vcpus"], m["memory_mib"]) for m in d["machines"]]' "$T/vm.json")" = "[(2, 2048)]"

# 2. a SAS URL (a service SAS reading this blob alone, as a managed disk's grant access gives)
sas=$(azblob a blobsas "$C" vms/web.vhd)
sig=$(sed -n 's/.*sig=\([^&]*\).*/\1/p' <<<"$sas")
expect_exit 0 "pack from the SAS URL, no account in the environment" noaz timeout -k 5 300 "$ENVPACK" pack --json \
	-k "$T/k.key" -o "$T/sas.envpack" "vm:azure:$URL?$sas"
check "its report names the URL without the SAS" test "$(disk_field from "$T/out")" = "$URL"
check "the signature is printed nowhere" bash -c '! grep -qF -- "$1" "$2/out" "$2/err"' _ "$sig" "$T"
expect_exit 0 "restore it" "$ENVPACK" restore -p "$T/k.pub" "$T/sas.envpack" --to "dir:$T/r2"
check "qemu-img: the SAS capture is the disk" qemu-img compare -q -f raw "$T/r2/web.raw" -F raw "$T/web.raw"
expect_exit 1 "a SAS URL of another blob is refused" noaz "$ENVPACK" pack -k "$T/k.key" -o "$T/xsas.envpack" \
	"vm:azure:$AZ_A_ENDPOINT/$C/vms/other.vhd?$sas"
expect_err 'Get Blob Properties.*403' "naming the call and the refusal"
check "without printing the signature" bash -c '! grep -qF -- "$1" "$2/err"' _ "$sig" "$T"
check "nor writing a bundle" nothing_left
expect_exit 2 "a blob URL without a SAS is refused" noaz "$ENVPACK" pack -o "$T/xnosas.envpack" "vm:azure:$URL"
expect_err 'no SAS token' "and says what it lacks"

# 3. --dry-run: what would be sent, credentials masked, nothing sent
start_az_fault watch a pass || not_ok "start the logging proxy"
expect_exit 0 "pack --dry-run from a SAS URL" noaz "$ENVPACK" pack --dry-run -k "$T/k.key" -o "$T/xdry.envpack" \
	"vm:azure:$AZ_WATCH_ENDPOINT/$C/vms/web.vhd?$sas"
check "it shows Get Page Ranges" grep -qE "^GET $AZ_WATCH_ENDPOINT/$C/vms/web.vhd\?comp=pagelist&maxresults=[0-9]+&sv=.*sig=\*\*\*\*$" "$T/out"
check "and a ranged GET" grep -q '^x-ms-range: bytes=0-4194303$' "$T/out"
check "the SAS signature is masked" bash -c '! grep -qF -- "$1" "$2/out" "$2/err"' _ "$sig" "$T"
expect_exit 0 "backup --dry-run with the account key" ep backup --dry-run -k "$T/k.key" "$T/xdrystore" \
	"vm:azure:$C/vms/web.vhd" --input-option "endpoint=$AZ_WATCH_ENDPOINT"
check "shows the HEAD, Authorization masked" bash -c 'grep -q "^HEAD $2/$3/vms/web.vhd$" "$1" && grep -q "^Authorization: SharedKey \*\*\*\*$" "$1"' _ "$T/out" "$AZ_WATCH_ENDPOINT" "$C"
check "no key printed" bash -c '! grep -qF -- "$1" "$2/out" "$2/err"' _ "$AZ_KEY" "$T"
check "nothing was sent (the proxy saw no request)" test "$(az_requests watch . | wc -l)" = 0
check "nor written" nothing_left

# 4. backups of the blob into a store: the same again adds no chunk; one page range changed adds about that
S=$T/store
expect_exit 0 "first backup of the blob (--init)" ep backup --init -k "$T/k.key" --json "$S" "vm:azure:$C/vms/web.vhd"
cp "$T/out" "$T/b1.json"
check "it reports the capture" test "$(jq_ 'd["disks"][0]["from"]' "$T/b1.json")" = "$URL"
expect_exit 0 "second backup, the blob unchanged" ep backup -k "$T/k.key" --json "$S" "vm:azure:$C/vms/web.vhd"
check "adds no chunk" test "$(jq_ 'd["added_chunks"]' "$T/out")" = 0
check "yet reads the blob again (no files cache for a cloud disk): $alloc bytes" test "$(jq_ 'd["disks"][0]["bytes_read"]' "$T/out")" = "$alloc"
python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(19).randbytes(64 << 10))' >"$T/page"
azblob a putpage "$C" vms/web.vhd $((17 * 1048576 + 65536)) "$T/page" || not_ok "write one page range"
dd if="$T/page" of="$T/web.raw" bs=64K seek=$((17 * 16 + 1)) conv=notrunc status=none
expect_exit 0 "third backup, one page range changed" ep backup -k "$T/k.key" --json "$S" "vm:azure:$C/vms/web.vhd"
cp "$T/out" "$T/b3.json"
check "adds only the chunks around it ($(jq_ 'd["added_chunks"], d["added_bytes"]' "$T/b3.json"))" \
	test "$(jq_ 'd["added_chunks"] <= 3 and 0 < d["added_bytes"] < 3 * 1048576' "$T/b3.json")" = True
snap=$(jq_ 'd["snapshot"]' "$T/b3.json")
expect_exit 0 "restore the third snapshot" "$ENVPACK" restore -p "$T/k.pub" "$S@$snap" --to "dir:$T/r3"
check "qemu-img: it is the changed disk" qemu-img compare -q -f raw "$T/r3/web.raw" -F raw "$T/web.raw"
check "no snapshot records the account's key" bash -c '! grep -rqF -- "$1" "$2"' _ "$AZ_KEY" "$S"
expect_exit 0 "a backup from the SAS URL" noaz timeout -k 5 300 "$ENVPACK" backup -k "$T/k.key" --json "$S" "vm:azure:$URL?$sas"
check "adds no chunk either" test "$(jq_ 'd["added_chunks"]' "$T/out")" = 0
check "and the store keeps no SAS signature" bash -c '! grep -rqF -- "$1" "$2"' _ "$sig" "$S"
"$ENVPACK" snapshots --json "$S" >"$T/snaps.json" 2>/dev/null
check "the snapshot records the URL without its SAS" test "$(jq_ 'd[-1]["sources"]' "$T/snaps.json")" = "['vm:azure:$URL']"

# 5. migration: the Azure capture restored to Google Cloud (the gcp: target on s3rver, as t96)
. "$HERE/s3.sh"
if start_s3 g; then
	expect_exit 0 "restore the capture to gcp:" env GCS_HMAC_ACCESS_ID="$S3_ACCESS_KEY" GCS_HMAC_SECRET="$S3_SECRET_KEY" \
		BOTO_CONFIG=/dev/null timeout -k 5 300 "$ENVPACK" restore -p "$T/k.pub" "$T/web.envpack" \
		--to "gcp:$S3_G_BUCKET/from-azure" -o project=envpack-test --endpoint "$S3_G_ENDPOINT"
	mkdir -p "$T/g"
	check "awscli fetches the image archive" aws_s3 g s3api get-object --bucket "$S3_G_BUCKET" --key from-azure/web.tar.gz "$T/g/web.tar.gz"
	check "tar extracts disk.raw" tar -xzf "$T/g/web.tar.gz" -C "$T/g"
	check "qemu-img: Google's disk.raw is the Azure disk" qemu-img compare -q -f raw "$T/g/disk.raw" -F vpc "$T/web.vhd"
	rm -rf "$T/g"
else
	not_ok "start the S3 server (standing in for the GCS XML API)"
fi

# 6. what is no fixed VHD in a page blob
expect_exit 2 "a blob that is not there" ep pack -o "$T/xmissing.envpack" "vm:azure:$C/vms/missing.vhd"
expect_err "no blob $AZ_A_ENDPOINT/$C/vms/missing.vhd" "is named"
check "and nothing written" nothing_left
truncate -s 8M "$T/plain.raw"
head -c 300000 /dev/urandom | dd of="$T/plain.raw" bs=1M seek=2 conv=notrunc status=none
azblob a pageblob "$C" raw/plain.raw "$T/plain.raw" || not_ok "upload a raw page blob"
expect_exit 2 "a page blob without a VHD footer is refused" ep pack -o "$T/xraw.envpack" "vm:azure:$C/raw/plain.raw"
expect_err "no footer.*$C/raw/plain.raw.*--format raw" "naming the blob and --format raw"
check "and nothing written" nothing_left
expect_exit 0 "with --format raw it is the disk" ep pack -q --format raw -k "$T/k.key" -o "$T/plain.envpack" "vm:azure:$C/raw/plain.raw"
"$ENVPACK" restore -q -p "$T/k.pub" "$T/plain.envpack" --to "dir:$T/r4" || not_ok "restore the raw capture"
check "byte for byte" cmp "$T/r4/plain.raw" "$T/plain.raw"
python3 - "$T/web.vhd" "$T/big.vhd" <<'PY' # the footer claims more cylinders than the blob holds
import sys
f = bytearray(open(sys.argv[1], "rb").read())
t = f[-512:]
t[56:58] = (int.from_bytes(t[56:58], "big") + 100).to_bytes(2, "big")
t[64:68] = bytes(4)
t[64:68] = ((~sum(t)) & 0xFFFFFFFF).to_bytes(4, "big")
f[-512:] = t
open(sys.argv[2], "wb").write(f)
PY
azblob a pageblob "$C" vms/big.vhd "$T/big.vhd" || not_ok "upload the VHD whose footer lies"
expect_exit 2 "a footer larger than its blob is refused" ep pack -o "$T/xbig.envpack" "vm:azure:$C/vms/big.vhd"
expect_err "$C/vms/big.vhd: its VHD footer says the disk is [0-9]+ bytes" "naming the blob and the sizes"
check "and nothing written" nothing_left
qemu-img convert -O vpc -o subformat=dynamic "$T/plain.raw" "$T/dyn.vhd"
truncate -s $(( ($(stat -c %s "$T/dyn.vhd") + 511) / 512 * 512 )) "$T/dyn.vhd"
azblob a pageblob "$C" vms/dyn.vhd "$T/dyn.vhd" || not_ok "upload a dynamic VHD"
expect_exit 2 "a dynamic VHD is refused" ep pack -o "$T/xdyn.envpack" "vm:azure:$C/vms/dyn.vhd"
expect_err "not a fixed one" "and says why"
azblob a pageblob "$C" vms/half.vhd "$T/web.vhd" envpack_state=uploading || not_ok "upload a blob marked uploading"
expect_exit 2 "an azure: upload that never completed is refused" ep pack -o "$T/xhalf.envpack" "vm:azure:$C/vms/half.vhd"
expect_err "$C/vms/half.vhd is an upload .* never completed" "and named"
echo block >"$T/blk"
azblob a put "$C" vms/block.vhd "$T/blk" || not_ok "put a block blob"
expect_exit 2 "a block blob is refused" ep pack -o "$T/xblk.envpack" "vm:azure:$C/vms/block.vhd"
expect_err "is a BlockBlob, not a page blob" "and named"
expect_exit 2 "a bad container name is refused" ep pack -o "$T/xbad.envpack" "vm:azure:Bad_Name/web.vhd"
check "nothing written by any of them" nothing_left

# 7. a wrong key: exit 1 naming the call, nothing written, no key printed
wrong=$(head -c 64 /dev/urandom | base64 -w0)
expect_exit 1 "a wrong account key fails" noaz AZURE_STORAGE_CONNECTION_STRING="${CONN/$AZ_KEY/$wrong}" \
	timeout -k 5 120 "$ENVPACK" pack -o "$T/xwrong.envpack" "vm:azure:$C/vms/web.vhd"
expect_err 'Get Blob Properties of .*403' "naming the call"
check "neither key is printed" bash -c '! grep -qF -e "$1" -e "$2" "$3/out" "$3/err"' _ "$wrong" "$AZ_KEY" "$T"
check "nothing written" nothing_left
expect_exit 1 "a wrong key fails a backup too" noaz AZURE_STORAGE_CONNECTION_STRING="${CONN/$AZ_KEY/$wrong}" \
	timeout -k 5 120 "$ENVPACK" backup -k "$T/k.key" "$S" "vm:azure:$C/vms/web.vhd"
check "and the store gained no snapshot" test "$(nsnaps)" = 4

# 8. a connection cut mid-read is retried; failures for ever leave nothing
start_az_fault cut a cut 100000 --match '^GET [^?]*/vms/web.vhd$' || not_ok "start the cutting proxy"
expect_exit 0 "pack through a GET cut after 100000 bytes" ep pack --json -k "$T/k.key" -o "$T/cut.envpack" \
	"vm:azure:$C/vms/web.vhd" --input-option "endpoint=$AZ_CUT_ENDPOINT"
check "the proxy cut one answer ($(az_requests cut ' cut$' | wc -l))" test "$(az_requests cut ' cut$' | wc -l)" = 1
check "and the GET was sent again: $(az_requests cut '^[0-9. ]+GET [^?]*web.vhd 206$' | wc -l) answered" \
	test "$(az_requests cut '^[0-9. ]+GET [^?]*web.vhd 206$' | wc -l)" = "$(wc -l <"$T/ranges")"
"$ENVPACK" restore -q -p "$T/k.pub" "$T/cut.envpack" --to "dir:$T/r5" || not_ok "restore the cut capture"
check "qemu-img: the capture read through the cut is the disk" qemu-img compare -q -f raw "$T/r5/web.raw" -F raw "$T/web.raw"
start_az_fault down a 503 1000 --match '^GET [^?]*/vms/web.vhd$' || not_ok "start the failing proxy"
# --format raw: no footer is read first, so the GETs that fail are the readers' ahead of the pipeline
expect_exit 1 "503 for ever on the ranged GETs: gives up after --retries" ep pack --retries 2 --format raw -k "$T/k.key" \
	-o "$T/xdown.envpack" "vm:azure:$C/vms/web.vhd" --input-option "endpoint=$AZ_DOWN_ENDPOINT"
expect_err 'Get Blob .*503' "and says why"
check "no partial bundle" nothing_left
expect_exit 1 "a backup through it fails too" ep backup --retries 2 -k "$T/k.key" "$S" "vm:azure:$C/vms/web.vhd" \
	--input-option "endpoint=$AZ_DOWN_ENDPOINT"
check "and publishes no snapshot" test "$(nsnaps)" = 4
expect_exit 0 "the store checks out" "$ENVPACK" check "$S"

finish
