#!/usr/bin/env bash
# vm:azure: through Azure Resource Manager: a managed disk's resource id (or a VM's, whose
# size, firmware and OS disk it reads) has ARM grant a read SAS, the page blob is read
# through it from Azurite (real, tests/azure.sh), and the grant is revoked at the end,
# whatever happened. Azure AD and ARM cannot run here: tests/tools/arm_fake.py stands in
# for both (the token endpoint, beginGetAccess/endGetAccess as long-running operations,
# the VM and its sizes; a bad bearer gets 401, a missing role 403 AuthorizationFailed),
# handing out SAS URLs of real blobs in Azurite. Also: a fragmented blob's neighbouring
# page ranges read in one GET each, counted in Azurite's access log.
#   envpack pack ... vm:azure:/subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/disks/D
#   envpack pack ... vm:azure:/subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/virtualMachines/V
#     [--input-option arm-endpoint=URL] [--input-option access-seconds=N]
. "$(dirname "$0")/../lib.sh"
. "$HERE/azure.sh"
. "$HERE/arm.sh"

az_test_start
"$ENVPACK" keygen -o "$T/k" >/dev/null

# 1. a fragmented disk: 4 KiB of data every 8 KiB over its first 6 MiB (768 ranges), 64 KiB
# at 10 and 11 MiB, at 12 MiB and 256 KiB after it, and at 13 MiB. Neighbouring ranges up to
# 256 KiB apart share a GET of at most 4 MiB: [0,4M-4K) [4M,6M-4K) 10M 11M [12M,12M+384K) 13M.
python3 - "$T/frag.raw" <<'PY'
import os, random, sys
r = random.Random(123)
with open(sys.argv[1], "wb") as f:
    f.truncate(16 << 20)
    for off in range(0, 6 << 20, 8 << 10):
        f.seek(off); f.write(r.randbytes(4 << 10))
    for off in (10 << 20, 11 << 20, 12 << 20, (12 << 20) + (320 << 10), 13 << 20):
        f.seek(off); f.write(r.randbytes(64 << 10))
PY
qemu-img convert -O vpc -o subformat=fixed "$T/frag.raw" "$T/frag.vhd" || not_ok "qemu-img: a fixed VHD"
azblob a pageblob "$C" vms/frag.vhd "$T/frag.vhd" || not_ok "upload the fragmented VHD"
azblob a ranges "$C" vms/frag.vhd >"$T/franges"
check "Azure keeps it as $(wc -l <"$T/franges") page ranges" test "$(wc -l <"$T/franges")" -ge 773
m=$(az_mark a)
expect_exit 0 "pack the fragmented blob" noaz AZURE_STORAGE_CONNECTION_STRING="$CONN" timeout -k 5 300 "$ENVPACK" pack \
	--json -k "$T/k.key" -o "$T/frag.envpack" "vm:azure:$C/vms/frag.vhd"
az_since a "$m" >"$T/flog"
check "6 ranged GETs for the data, 1 for the footer ($(grep -c '" 206 ' "$T/flog"))" test "$(grep -c '" 206 ' "$T/flog")" = 7
check "and 9 requests in all, as reported ($(wc -l <"$T/flog"))" \
	test "$(wc -l <"$T/flog") $(jq_ 'd["disks"][0]["requests"]' "$T/out")" = "9 9"
want=$(( (6 << 20) - 8192 + 2 * 65536 + (320 << 10) + 65536 + 65536 + 512 ))
got=$(awk '$(NF-1) == 206 { s += $NF } END { print s + 0 }' "$T/flog")
check "the GETs read the holes between neighbours only ($got bytes, $want expected)" test "$got" = "$want"
expect_exit 0 "restore it" "$ENVPACK" restore -q -p "$T/k.pub" "$T/frag.envpack" --to "dir:$T/rf"
check "qemu-img: the holes read through are zeros, the disk is whole" qemu-img compare -q -f raw "$T/rf/frag.raw" -F raw "$T/frag.raw"

# the managed disks' blobs: web-os (the VM's OS disk), and bad-os read through a proxy failing every GET
make_disk "$T/web.raw" 64M
qemu-img convert -O vpc -o subformat=fixed "$T/web.raw" "$T/web.vhd" || not_ok "qemu-img: a fixed VHD"
azblob a pageblob "$C" md/web-os.vhd "$T/web.vhd" || not_ok "upload the disk's VHD"
sas=$(azblob a blobsas "$C" md/web-os.vhd)
sig=$(sed -n 's/.*sig=\([^&]*\).*/\1/p' <<<"$sas")
# (the ranged GETs' query is the SAS alone; Get Page Ranges' starts comp=pagelist)
start_az_fault down a 503 100000 --match '^GET [^?]*/md/web-os.vhd[?]sv=' || not_ok "start the failing proxy"
start_az_fault slow a slow 4 --match '^GET [^?]*/md/web-os.vhd[?]sv=' || not_ok "start the slow proxy"

ARM_ARGS=(--disk "web-os=$AZ_A_ENDPOINT/$C/md/web-os.vhd?$sas" --disk "bad-os=$AZ_DOWN_ENDPOINT/$C/md/web-os.vhd?$sas"
	--disk "slow-os=$AZ_SLOW_ENDPOINT/$C/md/web-os.vhd?$sas"
	--vm web=web-os:Standard_D2s_v5:westeurope:Linux:trusted --vm old=web-os:Standard_B1s:westeurope:Windows:none)
start_arm a || { not_ok "start the ARM fake"; finish; exit 0; }
start_arm deny --deny beginGetAccess || not_ok "start the ARM fake that denies beginGetAccess"
secret_nowhere() { bash -c '! grep -qF -e "$1" -e "$2" "$3/out" "$3/err"' _ "$SECRET" "$sig" "$T"; }

# 2. --dry-run: the token request (secret masked), the grant, its poll, the reads, the revocation
touch "$T/arm-a.log"
expect_exit 0 "pack --dry-run of a managed disk's id" arm "$ARM_A" pack --dry-run -k "$T/k.key" -o "$T/xdry.envpack" \
	"vm:azure:$RG/disks/web-os"
check "shows the token request" grep -qx "POST $ARM_A/$TENANT/oauth2/v2.0/token" "$T/out"
check "with the client's id, its secret masked" grep -q "grant_type=client_credentials&client_id=$CLIENT&client_secret=\*\*\*\*&scope=" "$T/out"
check "the grant, with its body" bash -c 'grep -qx "POST $2$3/disks/web-os/beginGetAccess?api-version=[0-9-]*" "$1" && grep -q "\"durationInSeconds\": 14400" "$1"' _ "$T/out" "$ARM_A" "$RG"
check "the bearer masked" grep -qx 'Authorization: Bearer \*\*\*\*' "$T/out"
check "how the operation is polled" grep -q 'Azure-AsyncOperation' "$T/out"
check "the reads" grep -q 'Get Page Ranges and ranged GETs' "$T/out"
check "and the revocation" grep -qx "POST $ARM_A$RG/disks/web-os/endGetAccess?api-version=[0-9-]*" "$T/out"
check "no secret printed" secret_nowhere
check "nothing sent to ARM" test ! -s "$T/arm-a.log"
check "nor written" nothing_left

# 3. a managed disk captured: token, grant, polls, reads, revocation
m=$(az_mark a)
expect_exit 0 "pack a managed disk by its resource id" arm "$ARM_A" pack --json -k "$T/k.key" -o "$T/md.envpack" \
	"vm:azure:$RG/disks/web-os"
cp "$T/out" "$T/md.json"
check "no secret or SAS signature printed" secret_nowhere
check "one token, one beginGetAccess, one endGetAccess" \
	test "$(log_q a '[sum(1 for l in L if l["path"].endswith(s)) for s in ("/token", "/beginGetAccess?api-version=2023-10-02", "/endGetAccess?api-version=2023-10-02")]')" = "[1, 1, 1]"
check "each operation polled until done (2 InProgress, then Succeeded: $(log_q a 'sum(1 for l in L if "DiskOperations" in l["path"])') GETs)" \
	test "$(log_q a 'sum(1 for l in L if "DiskOperations" in l["path"])')" = 6
check "every ARM request carried the token" test "$(log_q a 'all(l["auth"] == "ok" for l in L)')" = True
check "the grant was revoked" test "$(state "$ARM_A" web-os)" = revoked
check "the revocation is the last POST" test "$(log_q a '[l["path"].split("?")[0].rsplit("/", 1)[-1] for l in L if l["method"] == "POST"][-1]')" = endGetAccess
check "the report names the disk's id" test "$(jq_ 'd["disks"][0]["from"]' "$T/md.json")" = "$RG/disks/web-os"
n=$(( $(az_since a "$m" | wc -l) + $(log_q a 'len(L)') ))
check "and counts Azurite's and ARM's requests ($n: $(jq_ 'd["disks"][0]["requests"]' "$T/md.json") reported)" test "$(jq_ 'd["disks"][0]["requests"]' "$T/md.json")" = "$n"
expect_exit 0 "restore it" "$ENVPACK" restore -q -p "$T/k.pub" "$T/md.envpack" --to "dir:$T/r1"
check "the component is named after the disk" test -f "$T/r1/web-os.raw"
check "qemu-img: it is the managed disk" qemu-img compare -q -f raw "$T/r1/web-os.raw" -F vpc "$T/web.vhd"

# a token that expires mid-capture (after 5 ARM requests: the grant, its 3 polls and the revocation) is renewed once
start_arm exp --expire-after 5 || not_ok "start the ARM fake whose tokens expire"
expect_exit 0 "pack with a token expiring before the revocation is polled" arm "$ARM_EXP" pack -q -k "$T/k.key" -o "$T/exp.envpack" \
	"vm:azure:$RG/disks/web-os"
check "a 401 ExpiredAuthenticationToken, then a second token" \
	test "$(log_q exp '[sum(1 for l in L if l["auth"] == "expired"), sum(1 for l in L if l["path"].endswith("/token"))]')" = "[1, 2]"
check "and the grant revoked with it" test "$(state "$ARM_EXP" web-os)" = revoked

# 4. a read failing for ever: exit 1, nothing written, the grant revoked all the same
expect_exit 1 "pack a disk whose blob answers 503" arm "$ARM_A" pack --retries 2 -k "$T/k.key" -o "$T/xbad.envpack" \
	"vm:azure:$RG/disks/bad-os"
expect_err '503' "says why"
check "nothing written" nothing_left
check "the grant was revoked after the failure" test "$(state "$ARM_A" bad-os)" = revoked

# 5. interrupted (SIGINT) mid-read: the grant is revoked on the way out
(
	unset AZURE_STORAGE_CONNECTION_STRING AZURE_STORAGE_ACCOUNT AZURE_STORAGE_KEY AZURE_STORAGE_SAS_TOKEN
	export AZURE_TENANT_ID="$TENANT" AZURE_CLIENT_ID="$CLIENT" AZURE_CLIENT_SECRET="$SECRET" AZURE_AUTHORITY_HOST="$ARM_A"
	exec "$ENVPACK" pack -q -k "$T/k.key" -o "$T/xint.envpack" "vm:azure:$RG/disks/slow-os" --input-option "arm-endpoint=$ARM_A"
) >"$T/int.out" 2>"$T/int.err" &
pid=$!
for i in $(seq 100); do [ "$(state "$ARM_A" slow-os)" = granted ] && break; sleep 0.1; done
sleep 1
kill -INT "$pid"
wait "$pid"
rc=$?
why=$(head -c 200 "$T/int.err")
check "an interrupted capture fails with exit 1, not killed ($rc: $why)" test "$rc" = 1
check "and revokes its grant" test "$(state "$ARM_A" slow-os)" = revoked
check "nothing written" nothing_left

# 6. refusals
expect_exit 1 "a service principal without the role: 403 on the grant" arm "$ARM_DENY" pack -o "$T/xdeny.envpack" \
	"vm:azure:$RG/disks/web-os"
expect_err 'beginGetAccess of .*/disks/web-os: 403 AuthorizationFailed' "exit 1 naming beginGetAccess"
check "nothing granted, nothing to revoke" test "$(state "$ARM_DENY" web-os) $(log_q deny 'sum(1 for l in L if "endGetAccess" in l["path"])')" = "none 0"
check "nothing written" nothing_left
expect_exit 1 "a wrong client secret" noaz AZURE_TENANT_ID="$TENANT" AZURE_CLIENT_ID="$CLIENT" AZURE_CLIENT_SECRET=wrong-secret \
	AZURE_AUTHORITY_HOST="$ARM_A" "$ENVPACK" pack -o "$T/xwrong.envpack" "vm:azure:$RG/disks/web-os" \
	--input-option "arm-endpoint=$ARM_A"
expect_err 'Azure AD token for client envpack-sp .*401 invalid_client: AADSTS7000215' "names the token request and Azure AD's answer"
check "the secret is not printed" bash -c '! grep -qF wrong-secret "$1/err"' _ "$T"
expect_exit 1 "a token ARM does not take (another tenant's fake): 401" noaz AZURE_TENANT_ID="$TENANT" AZURE_CLIENT_ID="$CLIENT" \
	AZURE_CLIENT_SECRET="$SECRET" AZURE_AUTHORITY_HOST="$ARM_DENY" "$ENVPACK" pack -o "$T/xtok.envpack" \
	"vm:azure:$RG/disks/web-os" --input-option "arm-endpoint=$ARM_A"
expect_err 'beginGetAccess .*401 InvalidAuthenticationToken' "and says so"
expect_exit 2 "no service principal in the environment" noaz "$ENVPACK" pack -o "$T/xnosp.envpack" "vm:azure:$RG/disks/web-os"
expect_err 'AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET' "names what to set"
expect_exit 2 "a disk ARM does not know: 404" arm "$ARM_A" pack -o "$T/xnone.envpack" "vm:azure:$RG/disks/nodisk"
expect_err 'beginGetAccess of .*/disks/nodisk: 404 ResourceNotFound' "named"
expect_exit 2 "an id of another resource type" arm "$ARM_A" pack -o "$T/xtype.envpack" "vm:azure:${RG/Compute/Storage}/disks/web-os"
expect_err 'not the resource id of a managed disk or a VM' "says what it takes"
expect_exit 2 "a bad access-seconds" arm "$ARM_A" pack -o "$T/xsec.envpack" "vm:azure:$RG/disks/web-os" --input-option access-seconds=5
check "nothing written by any of them" nothing_left

# 7. a VM: its size's vCPUs and memory, its firmware, its OS disk captured
expect_exit 0 "pack a VM by its resource id" arm "$ARM_A" pack -q -k "$T/k.key" -o "$T/vm.envpack" "vm:azure:$RG/virtualMachines/web"
"$ENVPACK" inspect --json "$T/vm.envpack" >"$T/vm.json" 2>/dev/null
check "the machine is named after the VM, Standard_D2s_v5's 2 vCPUs and 8192 MiB" \
	test "$(jq_ '[(m["name"], m["vcpus"], m["memory_mib"]) for m in d["machines"]]' "$T/vm.json")" = "[('web', 2, 8192)]"
check "Trusted launch: UEFI with secure boot, Linux" \
	test "$(jq_ '[(m["firmware"], m.get("secure_boot"), m["os"]) for m in d["machines"]]' "$T/vm.json")" = "[('uefi', True, 'linux')]"
check "its disk is the OS disk's component" test "$(jq_ '[x["component"] for x in d["machines"][0]["disks"]]' "$T/vm.json")" = "['web-os']"
check "the VM and its sizes were read" test "$(log_q a 'sum(1 for l in L if "/virtualMachines/web?" in l["path"] or "/vmSizes?" in l["path"])')" = 2
check "the OS disk's grant was revoked" test "$(state "$ARM_A" web-os)" = revoked
expect_exit 0 "restore the VM's disk" "$ENVPACK" restore -q -p "$T/k.pub" "$T/vm.envpack" --to "dir:$T/r2"
check "qemu-img: it is the OS disk" qemu-img compare -q -f raw "$T/r2/web-os.raw" -F raw "$T/web.raw"
expect_exit 0 "an older VM, pack's --vcpus by hand" arm "$ARM_A" pack -q -k "$T/k.key" -o "$T/old.envpack" --vcpus 3 \
	"vm:azure:$RG/virtualMachines/old"
"$ENVPACK" inspect --json "$T/old.envpack" >"$T/old.json" 2>/dev/null
check "BIOS, Windows, Standard_B1s's 1024 MiB and the 3 vCPUs given" \
	test "$(jq_ '[(m["name"], m["vcpus"], m["memory_mib"], m["firmware"], m["os"]) for m in d["machines"]]' "$T/old.json")" = "[('old', 3, 1024, 'bios', 'windows')]"
expect_exit 0 "a VM's --dry-run" arm "$ARM_A" pack --dry-run -k "$T/k.key" -o "$T/xvmdry.envpack" "vm:azure:$RG/virtualMachines/web"
check "shows the VM's GET and the sizes' before the grant" bash -c 'grep -q "^GET .*/virtualMachines/web?api-version=" "$1" && grep -q "^GET .*/locations/LOCATION/vmSizes?api-version=" "$1" && grep -q "OS_DISK_ID/beginGetAccess" "$1"' _ "$T/out"
expect_exit 2 "a VM ARM does not know" arm "$ARM_A" pack -o "$T/xnovm.envpack" "vm:azure:$RG/virtualMachines/novm"
expect_err 'VM .*/virtualMachines/novm: 404 ResourceNotFound' "named"
check "nothing written" nothing_left

finish
