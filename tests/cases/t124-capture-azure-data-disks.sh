#!/usr/bin/env bash
# vm:azure: a VM's data disks (#19): .../virtualMachines/V captures the OS disk, then each
# data disk by lun, into one machine, each granted (beginGetAccess), read and revoked
# (endGetAccess) before the next is granted; every grant revoked whatever happens (a
# failed read, Ctrl-C); --input-option data-disks=none takes the OS disk alone; an
# unmanaged data disk (vhd.uri) is exit 2 naming it. Azure AD and ARM cannot run here:
# tests/tools/arm_fake.py stands in (tests/arm.sh), its SAS URLs those of real page blobs
# in Azurite (tests/azure.sh).
#   envpack pack ... vm:azure:/subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/virtualMachines/V
#     [--input-option data-disks=all|none]
. "$(dirname "$0")/../lib.sh"
. "$HERE/azure.sh"
. "$HERE/arm.sh"

az_test_start
"$ENVPACK" keygen -o "$T/k" >/dev/null

# three disks, each its own bytes: the OS disk and two data disks of other sizes
python3 - "$T" <<'PY'
import random, sys
for name, size, seed in (("os", 24, 1), ("zero", 8, 2), ("one", 16, 3)):
    r = random.Random(seed)
    with open("%s/%s.raw" % (sys.argv[1], name), "wb") as f:
        f.truncate(size << 20)
        for off in range(0, size << 20, 3 << 20):
            f.seek(off + (seed << 12)); f.write(r.randbytes(200 << 10))
PY
declare -A SAS
for d in os zero one; do
	qemu-img convert -O vpc -o subformat=fixed "$T/$d.raw" "$T/$d.vhd" || not_ok "qemu-img: $d as a fixed VHD"
	azblob a pageblob "$C" "md/$d.vhd" "$T/$d.vhd" || not_ok "upload $d's VHD"
	SAS[$d]=$(azblob a blobsas "$C" "md/$d.vhd")
done
# the ranged GETs' query is the SAS alone: the data disk lun 1 read through these fails or crawls
start_az_fault down a 503 100000 --match '^GET [^?]*/md/one.vhd[?]sv=' || not_ok "start the failing proxy"
start_az_fault slow a slow 4 --match '^GET [^?]*/md/one.vhd[?]sv=' || not_ok "start the slow proxy"

# ARM lists a VM's data disks in the order they were attached, not by lun: lun 1 first here
ARM_ARGS=(--disk "web-os=$AZ_A_ENDPOINT/$C/md/os.vhd?${SAS[os]}" --disk "data-zero=$AZ_A_ENDPOINT/$C/md/zero.vhd?${SAS[zero]}"
	--disk "data-one=$AZ_A_ENDPOINT/$C/md/one.vhd?${SAS[one]}" --disk "bad-one=$AZ_DOWN_ENDPOINT/$C/md/one.vhd?${SAS[one]}"
	--disk "slow-one=$AZ_SLOW_ENDPOINT/$C/md/one.vhd?${SAS[one]}"
	--vm multi=web-os:Standard_D2s_v5:westeurope:Linux:trusted:1=data-one,0=data-zero
	--vm faulty=web-os:Standard_D2s_v5:westeurope:Linux:none:0=data-zero,1=bad-one
	--vm slowvm=web-os:Standard_D2s_v5:westeurope:Linux:none:0=data-zero,1=slow-one
	--vm legacy=web-os:Standard_B1s:westeurope:Windows:none:0=data-zero,2=vhd:legacy-data)
start_arm a || { not_ok "start the ARM fake"; finish; exit 0; }
# since N URL: the grants and revocations the fake took after the first N, as "begin:DISK end:DISK ..."
since() { grants "$2" | python3 -c 'import json, sys; print(" ".join("%s:%s" % (a[:-9].replace("GetAccess", ""), d) for a, d in json.load(sys.stdin)[int(sys.argv[1]):]))' "$1"; }
ngrants() { grants "$1" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'; }

# 1. --dry-run: the OS disk's grant, reads and revocation, then the same for DATA_DISK_ID
touch "$T/arm-a.log"
expect_exit 0 "pack --dry-run of a VM" arm "$ARM_A" pack --dry-run -k "$T/k.key" -o "$T/xdry.envpack" \
	"vm:azure:$RG/virtualMachines/multi"
check "the OS disk's grant and revocation" bash -c 'grep -qx "POST $2OS_DISK_ID/beginGetAccess?api-version=[0-9-]*" "$1" && grep -qx "POST $2OS_DISK_ID/endGetAccess?api-version=[0-9-]*" "$1"' _ "$T/out" "$ARM_A"
check "then a data disk's, after the OS disk's revocation" python3 - "$T/out" "$ARM_A" <<'PY'
import sys
L = open(sys.argv[1]).read().splitlines()
u = sys.argv[2]
at = [L.index("POST %s%s/%s?api-version=2023-10-02" % (u, d, a)) for d, a in
      (("OS_DISK_ID", "beginGetAccess"), ("OS_DISK_ID", "endGetAccess"), ("DATA_DISK_ID", "beginGetAccess"),
       ("DATA_DISK_ID", "endGetAccess"))]
assert at == sorted(at), at
PY
check "saying DATA_DISK_ID stands for each of storageProfile.dataDisks" grep -q 'each of storageProfile.dataDisks by lun.*DATA_DISK_ID' "$T/out"
check "the reads of each between its grant and revocation" test "$(grep -c 'Get Page Ranges and ranged GETs' "$T/out")" = 2
expect_exit 0 "pack --dry-run with data-disks=none" arm "$ARM_A" pack --dry-run -k "$T/k.key" -o "$T/xdry.envpack" \
	"vm:azure:$RG/virtualMachines/multi" --input-option data-disks=none
check "no data disk's grant then" bash -c 'grep -q OS_DISK_ID/beginGetAccess "$1" && ! grep -q DATA_DISK_ID "$1"' _ "$T/out"
check "nothing sent to ARM" test ! -s "$T/arm-a.log"
check "nor written" nothing_left

# 2. a VM with two data disks, luns 1 and 0 as ARM lists them
n=$(ngrants "$ARM_A")
m=$(az_mark a)
expect_exit 0 "pack a VM with two data disks" arm "$ARM_A" pack --json -k "$T/k.key" -o "$T/multi.envpack" \
	"vm:azure:$RG/virtualMachines/multi"
cp "$T/out" "$T/multi.out"
check "each disk granted, read and revoked before the next is granted ($(since "$n" "$ARM_A"))" \
	test "$(since "$n" "$ARM_A")" = "begin:web-os end:web-os begin:data-zero end:data-zero begin:data-one end:data-one"
check "every grant revoked" test "$(state "$ARM_A" web-os) $(state "$ARM_A" data-zero) $(state "$ARM_A" data-one)" = "revoked revoked revoked"
"$ENVPACK" inspect --json "$T/multi.envpack" >"$T/multi.json" 2>/dev/null
check "one machine of 3 disks: the OS disk, then the data disks by lun" \
	test "$(jq_ '[(x["component"], x["boot"]) for x in d["machines"][0]["disks"]]' "$T/multi.json")" = "[('web-os', 1), ('data-zero', 0), ('data-one', 0)]"
check "the data disks on the OS disk's bus (Linux: virtio)" \
	test "$(jq_ '[x["bus"] for x in d["machines"][0]["disks"]]' "$T/multi.json")" = "['virtio', 'virtio', 'virtio']"
check "3 disk components, in that order" \
	test "$(jq_ '[c["name"] for c in d["components"] if c["type"] == "disk"]' "$T/multi.json")" = "['web-os', 'data-zero', 'data-one']"
check "the report names each disk's id, in order" \
	test "$(jq_ '[x["from"].rsplit("/", 1)[-1] for x in d["disks"]]' "$T/multi.out")" = "['web-os', 'data-zero', 'data-one']"
reqs=$(( $(az_since a "$m" | wc -l) + $(log_q a 'len(L)') ))
check "and the requests each cost add up to Azurite's and ARM's ($reqs)" \
	test "$(jq_ 'sum(x["requests"] for x in d["disks"])' "$T/multi.out")" = "$reqs"
expect_exit 0 "restore the VM to dir:" "$ENVPACK" restore -q -p "$T/k.pub" "$T/multi.envpack" --to "dir:$T/r1"
for p in "web-os os" "data-zero zero" "data-one one"; do
	set -- $p
	check "qemu-img: $1 is its managed disk's VHD" qemu-img compare -q -f raw "$T/r1/$1.raw" -F vpc "$T/$2.vhd"
done
expect_exit 0 "restore it to libvirt:" "$ENVPACK" restore -q -p "$T/k.pub" "$T/multi.envpack" --to "libvirt:$T/lv"
check "the domain has the three disks, the OS disk first, the data disks as further disks" python3 -c '
import os, sys, xml.etree.ElementTree as ET
disks = ET.parse(sys.argv[1]).getroot().find("devices").findall("disk")
names = [os.path.basename(d.find("source").get("file")).split(".")[0] for d in disks if d.get("device") == "disk"]
assert names == ["web-os", "data-zero", "data-one"], names
targets = [d.find("target").get("dev") for d in disks]
assert len(set(targets)) == 3, targets' "$T/lv/multi.xml"

# 3. the OS disk alone
n=$(ngrants "$ARM_A")
expect_exit 0 "pack with data-disks=none" arm "$ARM_A" pack -q -k "$T/k.key" -o "$T/none.envpack" \
	"vm:azure:$RG/virtualMachines/multi" --input-option data-disks=none
"$ENVPACK" inspect --json "$T/none.envpack" >"$T/none.json" 2>/dev/null
check "one disk: the OS disk's" test "$(jq_ '[x["component"] for x in d["machines"][0]["disks"]]' "$T/none.json")" = "['web-os']"
check "only it granted and revoked ($(since "$n" "$ARM_A"))" test "$(since "$n" "$ARM_A")" = "begin:web-os end:web-os"

# 4. the second data disk's reads fail: exit 1 naming it, all three grants revoked, nothing published
n=$(ngrants "$ARM_A")
expect_exit 1 "pack a VM whose data disk lun 1 answers 503" arm "$ARM_A" pack --retries 2 -k "$T/k.key" -o "$T/xfault.envpack" \
	"vm:azure:$RG/virtualMachines/faulty"
expect_err 'data disk bad-one [(]lun 1[)] of VM faulty: .*503' "names the disk and why"
check "all three granted and revoked, in turn ($(since "$n" "$ARM_A"))" \
	test "$(since "$n" "$ARM_A")" = "begin:web-os end:web-os begin:data-zero end:data-zero begin:bad-one end:bad-one"
check "nothing written" nothing_left

# 5. Ctrl-C while the data disk lun 1 is read (its blob opened, its GETs held by the slow proxy):
# its grant revoked on the way out, as the others were
n=$(ngrants "$ARM_A")
(
	unset AZURE_STORAGE_CONNECTION_STRING AZURE_STORAGE_ACCOUNT AZURE_STORAGE_KEY AZURE_STORAGE_SAS_TOKEN
	export AZURE_TENANT_ID="$TENANT" AZURE_CLIENT_ID="$CLIENT" AZURE_CLIENT_SECRET="$SECRET" AZURE_AUTHORITY_HOST="$ARM_A"
	exec "$ENVPACK" pack -q -k "$T/k.key" -o "$T/xint.envpack" "vm:azure:$RG/virtualMachines/slowvm" \
		--input-option "arm-endpoint=$ARM_A"
) >"$T/int.out" 2>"$T/int.err" &
pid=$!
for i in $(seq 600); do grep -q 'comp=pagelist' "$AZ_SLOW_DIR/requests.log" 2>/dev/null && break; sleep 0.1; done
kill -INT "$pid"
wait "$pid"
rc=$?
why=$(head -c 300 "$T/int.err")
check "an interrupted capture fails with exit 1 ($rc: $why)" test "$rc" = 1
check "in the data disk's read, not its grant" bash -c 'grep -q "data disk slow-one (lun 1) of VM slowvm: .*interrupted" "$1" && ! grep -q beginGetAccess "$1"' _ "$T/int.err"
check "every grant revoked ($(since "$n" "$ARM_A"))" \
	test "$(since "$n" "$ARM_A")" = "begin:web-os end:web-os begin:data-zero end:data-zero begin:slow-one end:slow-one"
check "nothing written" nothing_left

# 6. an unmanaged data disk: exit 2 naming it, before any grant; data-disks=none takes the OS disk
n=$(ngrants "$ARM_A")
expect_exit 2 "a VM with an unmanaged data disk" arm "$ARM_A" pack -o "$T/xlegacy.envpack" "vm:azure:$RG/virtualMachines/legacy"
expect_err "virtualMachines/legacy: its data disk 'legacy-data' [(]lun 2[)] is not a managed disk" "names it"
check "nothing granted" test "$(ngrants "$ARM_A")" = "$n"
expect_exit 0 "the same VM with data-disks=none" arm "$ARM_A" pack -q -k "$T/k.key" -o "$T/legacy.envpack" \
	"vm:azure:$RG/virtualMachines/legacy" --input-option data-disks=none
"$ENVPACK" inspect --json "$T/legacy.envpack" >"$T/legacy.json" 2>/dev/null
check "its OS disk alone, on SATA (Windows)" \
	test "$(jq_ '[(x["component"], x["bus"]) for x in d["machines"][0]["disks"]]' "$T/legacy.json")" = "[('web-os', 'sata')]"

# 7. the setting's refusals
expect_exit 2 "data-disks=some" arm "$ARM_A" pack -o "$T/xsome.envpack" "vm:azure:$RG/virtualMachines/multi" \
	--input-option data-disks=some
expect_err "data-disks= takes all or none, not 'some'" "says what it takes"
expect_exit 2 "data-disks= for a disk's id" arm "$ARM_A" pack -o "$T/xdisk.envpack" "vm:azure:$RG/disks/web-os" \
	--input-option data-disks=none
expect_err "data-disks= is a VM's" "says whose it is"
check "nothing written by either" nothing_left
check "and no grant left standing anywhere" test "$(curl -s "$ARM_A/_state" | python3 -c 'import json, sys; print("granted" in json.load(sys.stdin).values())')" = False

finish
