#!/usr/bin/env bash
# The azure: restore target against Azurite (tests/azure.sh: Microsoft's storage
# emulator, which checks Shared Key signatures and SAS tokens), judged by an
# independent client (tests/tools/azblob.py: the Blob REST API with its own
# Shared Key signing), cmp, qemu-img; faults through tests/tools/s3_fault.py.
#   envpack restore -p KEY.pub BUNDLE --to azure:CONTAINER[/PREFIX] [-o endpoint=URL] [-n]
# Credentials only from AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with
# AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN.
. "$(dirname "$0")/../lib.sh"
. "$HERE/azure.sh"

az_test_start
ep() { env -u AZURE_STORAGE_ACCOUNT -u AZURE_STORAGE_KEY -u AZURE_STORAGE_SAS_TOKEN \
	AZURE_STORAGE_CONNECTION_STRING="$CONN" timeout -k 5 300 "$ENVPACK" "$@"; }
absent() { ! azblob a head "$C" "$1" >/dev/null 2>&1; }
blobs() { azblob a list "$C"; }
puts() { az_requests "$1" "$2" | wc -l; } # puts SERVER REGEX: how many logged requests match
# same_as_source BLOB: the independent client's download of BLOB is the source disk, to qemu-img
same_as_source() { rm -f "$T/dl.vhd" && azblob a get "$C" "$1" "$T/dl.vhd" && qemu-img compare -q -f vpc "$T/dl.vhd" -F raw "$T/web.raw"; }
blob_md5() { rm -f "$T/dl.vhd" && azblob a get "$C" "$1" "$T/dl.vhd" && md5sum <"$T/dl.vhd"; }
meta_of() { azblob a head "$C" "$1"; }

# a sparse disk of 64 MiB + 1 KiB (not a whole MiB: the VHD is padded to 65 MiB)
vsize=$((64 * 1048576 + 1024))
make_disk "$T/web.raw" "$vsize"
"$ENVPACK" keygen -o "$T/k" >/dev/null
"$ENVPACK" pack -q -k "$T/k.key" -o "$T/web.envpack" "disk:$T/web.raw" || not_ok "pack"
"$ENVPACK" convert -O vhd -o subformat=fixed "$T/web.raw" "$T/ref.vhd" || not_ok "convert to a fixed VHD"
ref_size=$(stat -c %s "$T/ref.vhd")
check "the fixed VHD is 65 MiB and a footer ($ref_size)" test "$ref_size" = $((65 * 1048576 + 512))

# 1. the page blob holds the fixed VHD envpack convert makes
expect_exit 0 "restore to azure:" ep restore -p "$T/k.pub" "$T/web.envpack" --to "azure:$C/vms/web"
check "the plan names the blob" grep -q "$AZ_A_ENDPOINT/$C/vms/web/web.vhd (page blob, fixed VHD of $ref_size bytes)" "$T/out"
check "the independent client reads the blob back" azblob a get "$C" vms/web/web.vhd "$T/got.vhd"
check "its data is the fixed VHD's, byte for byte" cmp -n $((65 * 1048576)) "$T/got.vhd" "$T/ref.vhd"
check "its footer is the fixed VHD's (but for the time stamp, checksum and unique id)" python3 - "$T/got.vhd" "$T/ref.vhd" <<'PY'
import sys
a, b = (open(p, "rb").read() for p in sys.argv[1:3])
assert len(a) == len(b), (len(a), len(b))
fa, fb = a[-512:], b[-512:]
keep = lambda f: f[:24] + f[28:64] + f[84:]
assert fa[:8] == b"conectix" and int.from_bytes(fa[60:64], "big") == 2, "not a fixed VHD footer"
assert keep(fa) == keep(fb)
assert (~sum(fa[:64] + bytes(4) + fa[68:]) & 0xFFFFFFFF) == int.from_bytes(fa[64:68], "big"), "footer checksum"
PY
check "qemu-img: the blob is the source disk" qemu-img compare -q -f vpc "$T/got.vhd" -F raw "$T/web.raw"
props=$(azblob a head "$C" vms/web/web.vhd)
check "a page blob of $ref_size bytes, marked complete ($props)" python3 -c '
import json, sys; p = json.loads(sys.argv[1])
assert p["type"] == "PageBlob" and p["length"] == int(sys.argv[2]) and p["metadata"] == {"envpack_state": "complete"}, p' "$props" "$ref_size"
# holes are not uploaded: every valid range lies in data of the VHD, and they add up to little
azblob a ranges "$C" vms/web/web.vhd >"$T/ranges"
check "Get Page Ranges: only allocated ranges were written" python3 - "$T/ref.vhd" "$T/ranges" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
data, off = [], 0
while off < size:
    try:
        s = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    e = os.lseek(fd, s, os.SEEK_HOLE)
    data.append((s, e))
    off = e
ranges = [tuple(int(x) for x in l.split()) for l in open(sys.argv[2])]
assert ranges, "no page ranges"
for a, b in ranges:
    assert a % 512 == 0 and (b + 1) % 512 == 0, (a, b)
    assert any(s <= a and b < e for s, e in data), ("range %d-%d is not data in the VHD" % (a, b), data)
written = sum(b - a + 1 for a, b in ranges)
assert written < size // 4, (written, size)
assert ranges[-1] == (size - 512, size - 1), "the footer is the last range"
PY
n=$(puts a 'PUT /devstoreaccount1/[^ ]*vms/web/web.vhd\?comp=page HTTP/1.1" 201')
check "one Put Page per allocated range of at most 4 MiB ($n)" test "$n" -ge 5 -a "$n" -le 8

# 2. never overwrites
sum1=$(md5sum <"$T/got.vhd")
expect_exit 2 "a second restore to the same blob is refused" ep restore -p "$T/k.pub" "$T/web.envpack" --to "azure:$C/vms/web"
expect_err 'exists; restore never overwrites' "and says so"
check "the blob is unchanged" test "$(blob_md5 vms/web/web.vhd)" = "$sum1"
echo other >"$T/other"
azblob a put "$C" taken/web.vhd "$T/other" || not_ok "put a block blob in the way"
expect_exit 2 "a blob of another kind in the way is refused too" ep restore -p "$T/k.pub" "$T/web.envpack" --to "azure:$C/taken"
check "and left as it was" grep -q '"length": 6,' <<<"$(meta_of taken/web.vhd)"

# 3. a wrong key: exit 1, said, no secret printed, nothing created
wrong=$(head -c 64 /dev/urandom | base64 -w0)
env -u AZURE_STORAGE_ACCOUNT -u AZURE_STORAGE_KEY AZURE_STORAGE_CONNECTION_STRING="${CONN/$AZ_KEY/$wrong}" timeout -k 5 120 \
	"$ENVPACK" restore -p "$T/k.pub" "$T/web.envpack" --to "azure:$C/wrong" >"$T/out" 2>"$T/err"
got=$?
check "a wrong key fails with exit 1 (got $got)" test "$got" = 1
expect_err '403|AuthenticationFailed|key' "it says the key was refused"
check "neither key is printed" bash -c '! grep -qF -e "$1" -e "$2" "$3/out" "$3/err"' _ "$wrong" "$AZ_KEY" "$T"
check "nothing was created" absent wrong/web.vhd
env -u AZURE_STORAGE_CONNECTION_STRING -u AZURE_STORAGE_ACCOUNT -u AZURE_STORAGE_KEY -u AZURE_STORAGE_SAS_TOKEN \
	timeout -k 5 60 "$ENVPACK" restore -p "$T/k.pub" "$T/web.envpack" --to "azure:$C/none" >"$T/out" 2>"$T/err"
got=$?
check "no credentials: exit 2 (got $got)" test "$got" = 2
expect_err 'AZURE_STORAGE_CONNECTION_STRING' "it names the variables to set"
expect_exit 2 "an unknown -o key is refused" ep restore -p "$T/k.pub" "$T/web.envpack" --to "azure:$C/x" -o account-key=x
expect_err 'unknown option -o account-key' "and named"
expect_exit 2 "a container that does not exist is refused" ep restore -p "$T/k.pub" "$T/web.envpack" --to "azure:no-such-container/x"
expect_err 'ContainerNotFound' "and named"
expect_exit 2 "a bad container name is refused" ep restore -p "$T/k.pub" "$T/web.envpack" --to "azure:Bad_Name/x"

# 4. SAS: account and token from the environment, the endpoint from -o endpoint=
sas=$(azblob a sas)
sig=$(sed -n 's/.*sig=\([^&]*\).*/\1/p' <<<"$sas")
sasrun() { env -u AZURE_STORAGE_CONNECTION_STRING -u AZURE_STORAGE_KEY AZURE_STORAGE_ACCOUNT=$AZ_ACCOUNT \
	AZURE_STORAGE_SAS_TOKEN="?$sas" timeout -k 5 300 "$ENVPACK" "$@"; }
expect_exit 0 "restore with a SAS token" sasrun restore -p "$T/k.pub" "$T/web.envpack" --to "azure:$C/sas" -o "endpoint=$AZ_A_ENDPOINT"
check "the SAS-written blob is the source disk" same_as_source sas/web.vhd
check "the signature is not printed" bash -c '! grep -qF -- "$1" "$2/out" "$2/err"' _ "$sig" "$T"
expect_exit 1 "a SAS token with a wrong signature is refused" env -u AZURE_STORAGE_CONNECTION_STRING -u AZURE_STORAGE_KEY \
	AZURE_STORAGE_ACCOUNT=$AZ_ACCOUNT AZURE_STORAGE_SAS_TOKEN="${sas/sig=/sig=AAAA}" timeout -k 5 120 \
	"$ENVPACK" restore -p "$T/k.pub" "$T/web.envpack" --to "azure:$C/badsas" -o "endpoint=$AZ_A_ENDPOINT"
check "nothing was created with it" absent badsas/web.vhd

# 5. a dry run prints the requests, credentials masked, and sends nothing
start_az_fault watch a pass || not_ok "start the logging proxy"
"$ENVPACK" pack -q -k "$T/k.key" -o "$T/vm.envpack" --vm-name vm1 --firmware uefi --os linux "disk:$T/web.raw" ||
	not_ok "pack a UEFI machine"
expect_exit 0 "restore --dry-run" ep restore -n -p "$T/k.pub" "$T/vm.envpack" --to "azure:$C/dry" \
	-o "endpoint=$AZ_WATCH_ENDPOINT" -o subscription=00000000-1111-2222-3333-444444444444 -o resource-group=rg1 -o location=westeurope
cp "$T/out" "$T/dry.out"
check "it shows the Put Blob" grep -qE '^    PUT http://127.0.0.1:[0-9]+/devstoreaccount1/'"$C"'/dry/web.vhd$' "$T/dry.out"
check "as a page blob of the VHD's size, only if absent" bash -c 'grep -q "x-ms-blob-type: PageBlob" "$1" && grep -q "x-ms-blob-content-length: $2" "$1" && grep -q "If-None-Match: \*" "$1"' _ "$T/dry.out" "$ref_size"
check "it shows a Put Page and the footer's" bash -c 'grep -q "web.vhd?comp=page" "$1" && grep -q "x-ms-range: bytes=0-4194303" "$1" && grep -q "x-ms-range: bytes=$(($2 - 512))-$(($2 - 1))" "$1"' _ "$T/dry.out" "$ref_size"
check "it shows the metadata set last" grep -q 'x-ms-meta-envpack_state: complete' "$T/dry.out"
check "Authorization is masked" bash -c 'grep -q "Authorization: SharedKey \*\*\*\*$" "$1" && ! grep -q "SharedKey devstoreaccount1:" "$1"' _ "$T/dry.out"
check "no key in the output" bash -c '! grep -qF -- "$1" "$2"' _ "$AZ_KEY" "$T/dry.out"
check "it shows the managed disk request" grep -q 'PUT https://management.azure.com/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg1/providers/Microsoft.Compute/disks/web?api-version=' "$T/dry.out"
check "imported from the blob" bash -c 'grep -q "\"createOption\": \"Import\"" "$1" && grep -q "\"sourceUri\": \"http://127.0.0.1:[0-9]*/devstoreaccount1/$2/dry/web.vhd\"" "$1" && grep -q "storageAccounts/devstoreaccount1\"" "$1"' _ "$T/dry.out" "$C"
check "and the image of the UEFI machine, generation 2" bash -c 'grep -q "Microsoft.Compute/images/vm1?api-version=" "$1" && grep -q "\"hyperVGeneration\": \"V2\"" "$1" && grep -q "\"osType\": \"Linux\"" "$1"' _ "$T/dry.out"
check "the ARM token is masked" grep -q 'Authorization: Bearer \*\*\*\*$' "$T/dry.out"
check "nothing was sent (the proxy saw no request)" test "$(puts watch .)" = 0
check "Azurite has no blob of it" bash -c '! grep -q "^dry/" <<<"$1"' _ "$(blobs)"
expect_exit 0 "a dry run with a SAS token" sasrun restore -n -p "$T/k.pub" "$T/web.envpack" --to "azure:$C/dry" -o "endpoint=$AZ_WATCH_ENDPOINT"
check "shows the SAS with its signature masked" bash -c 'grep -q "web.vhd?sv=2019-02-02&.*sig=\*\*\*\*" "$1/out" && ! grep -qF -- "$2" "$1/out"' _ "$T" "$sig"
check "and still sends nothing" test "$(puts watch .)" = 0

# 6. 500 and 503 answers are retried
start_az_fault busy a 503 2 --match 'comp=page' || not_ok "start the 503 proxy"
expect_exit 0 "restore through two 503s on Put Page" ep restore -p "$T/k.pub" "$T/web.envpack" --to "azure:$C/busy" \
	--retries 4 -o "endpoint=$AZ_BUSY_ENDPOINT"
check "the 503s were seen and retried" test "$(puts busy ' 503$')" = 2 -a "$(puts busy 'comp=page 201$')" -ge 5
check "the retried blob is the source disk" same_as_source busy/web.vhd
start_az_fault ise a 500 1 --match '^PUT [^?]*/ise/web.vhd$' || not_ok "start the 500 proxy"
expect_exit 0 "restore through a 500 on Put Blob" ep restore -p "$T/k.pub" "$T/web.envpack" --to "azure:$C/ise" \
	--retries 3 -o "endpoint=$AZ_ISE_ENDPOINT"
check "the 500 was seen and the Put Blob retried" test "$(puts ise ' 500$')" = 1 -a "$(puts ise 'PUT [^?]*/ise/web.vhd 201$')" = 1
check "the blob is complete" grep -q '"envpack_state": "complete"' <<<"$(meta_of ise/web.vhd)"
start_az_fault lost a lose 1 --match '^PUT [^?]*/lost/web.vhd$' || not_ok "start the answer-losing proxy"
expect_exit 0 "a Put Blob whose answer was lost is retried and found to be ours" ep restore -p "$T/k.pub" "$T/web.envpack" \
	--to "azure:$C/lost" --retries 3 -o "endpoint=$AZ_LOST_ENDPOINT"
check "(created by the first try: 201 replaced by 500, then 409 on the retry)" test "$(puts lost ' 500$')" = 1 -a "$(puts lost 'PUT [^?]*/lost/web.vhd 409$')" = 1
check "that blob is the source disk" same_as_source lost/web.vhd
start_az_fault down a 503 1000 --match 'comp=page' || not_ok "start the failing proxy"
expect_exit 1 "503 for ever on Put Page: gives up after --retries" ep restore -p "$T/k.pub" "$T/web.envpack" \
	--to "azure:$C/down" --retries 1 -o "endpoint=$AZ_DOWN_ENDPOINT"
expect_err '503' "and says why"
check "the failed upload deleted its blob" absent down/web.vhd
check "(it was created, then deleted)" test "$(puts down 'PUT [^?]*/down/web.vhd 201$')" = 1 -a "$(puts down 'DELETE [^?]*/down/web.vhd 202$')" = 1

# 7. a killed upload leaves no blob: SIGTERM while Put Page requests are held
start_az_fault slow a slow 3 --match 'comp=page' || not_ok "start the slow proxy"
env AZURE_STORAGE_CONNECTION_STRING="$CONN" "$ENVPACK" restore -q -p "$T/k.pub" "$T/web.envpack" \
	--to "azure:$C/killed" -o "endpoint=$AZ_SLOW_ENDPOINT" >"$T/out" 2>"$T/err" &
pid=$!
for i in $(seq 100); do
	[ "$(puts slow 'PUT [^?]*/killed/web.vhd 201$')" = 1 ] && break
	sleep 0.1
done
check "the upload started (its blob was created)" test "$(puts slow 'PUT [^?]*/killed/web.vhd 201$')" = 1
kill -TERM "$pid" 2>/dev/null
wait "$pid"
got=$?
check "the killed restore failed (exit $got)" test "$got" != 0
check "it said it was interrupted" grep -q 'interrupted' "$T/err"
check "the killed upload left no blob" absent killed/web.vhd
check "(deleted, not left behind)" test "$(puts slow 'DELETE [^?]*/killed/web.vhd 202$')" = 1

finish
