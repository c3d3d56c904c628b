# VMware .vmx machines, and machines described by hand around bare disks.
source "$(dirname "$0")/../lib.sh"
cd "$T" || exit 1
E=$ENVPACK
"$E" keygen -o k >/dev/null
mkdir vm
make_disk vm/src.raw 70M
qemu-img convert -O vmdk -o subformat=monolithicSparse vm/src.raw vm/web.vmdk
qemu-img convert -O vmdk -o subformat=twoGbMaxExtentSparse vm/src.raw vm/logs.vmdk
cat >vm/web.vmx <<'EOF'
.encoding = "UTF-8"
config.version = "8"
virtualHW.version = "19"
displayName = "Web Server 1"
guestOS = "ubuntu-64"
firmware = "efi"
numvcpus = "2"
memsize = "2048"
scsi0.present = "TRUE"
scsi0.virtualDev = "pvscsi"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "web.vmdk"
scsi0:1.present = "TRUE"
scsi0:1.fileName = "logs.vmdk"
sata0.present = "TRUE"
sata0:1.present = "TRUE"
sata0:1.deviceType = "cdrom-image"
sata0:1.fileName = "/iso/ubuntu.iso"
ethernet0.present = "TRUE"
ethernet0.virtualDev = "vmxnet3"
ethernet0.networkName = "VM-Network"
ethernet0.addressType = "generated"
ethernet0.generatedAddress = "00:0C:29:AB:CD:EF"
ethernet1.present = "FALSE"
EOF
expect_exit 0 "pack a .vmx machine with its disks" "$E" pack -q -k k.key -o vmx.envpack vm:vmx:vm/web.vmx
expect_exit 0 "inspect --json" "$E" inspect --json vmx.envpack
check "the machine model is the .vmx's" python3 -c '
import json, sys; m = json.load(open(sys.argv[1]))["machines"][0]
assert (m["name"], m["vcpus"], m["memory_mib"], m["firmware"], m["os"]) == ("Web-Server-1", 2, 2048, "uefi", "linux"), m
assert m["secure_boot"] is False, m # no uefi.secureBoot.enabled: VMware runs it without
assert [(d["component"], d["bus"], d["boot"]) for d in m["disks"]] == [("web", "scsi", 1), ("logs", "scsi", 0)], m["disks"]
assert m["nics"] == [{"model": "vmxnet3", "mac": "00:0c:29:ab:cd:ef", "network": "VM-Network"}], m["nics"]' "$T/out"
expect_exit 0 "restore it to libvirt:" "$E" restore -q -p k.pub vmx.envpack --to libvirt:lv
check "the domain validates" virt-xml-validate lv/Web-Server-1.xml domain
check "the disks are the source's (a sparse and a split VMDK)" sh -c 'qemu-img compare -q vm/web.vmdk lv/web.qcow2 && qemu-img compare -q vm/logs.vmdk lv/logs.qcow2'
check "VMware's vmxnet3 becomes virtio for a Linux guest on KVM" grep -q '<model type="virtio"/>' lv/Web-Server-1.xml
expect_exit 0 "restore it to ova: for VMware again" "$E" restore -q -p k.pub vmx.envpack --to ova:web.ova
check "the OVA keeps the vmxnet3 NIC" sh -c "tar xOf web.ova Web-Server-1.ovf | grep -q '<rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>'"
check "and says Secure Boot is off, as VMware reads it" sh -c "tar xOf web.ova Web-Server-1.ovf | grep -q 'vmw:key=\"uefi.secureBoot.enabled\" vmw:value=\"false\"'"
check "the domain asks libvirt for firmware without Secure Boot" grep -q '<feature enabled="no" name="secure-boot"/>' lv/Web-Server-1.xml
# uefi.secureBoot.enabled = "TRUE": on, restored to libvirt asking for it (on q35, which it needs)
sed 's/^firmware = "efi"$/&\nuefi.secureBoot.enabled = "TRUE"/' vm/web.vmx >vm/sb.vmx
expect_exit 0 "pack a .vmx machine with Secure Boot" "$E" pack -q -k k.key -o sb.envpack vm:vmx:vm/sb.vmx
expect_exit 0 "inspect it" "$E" inspect sb.envpack
check "it says Secure Boot" grep -q "Web-Server-1 .*uefi (Secure Boot)" "$T/out"
expect_exit 0 "restore it to libvirt:" "$E" restore -q -p k.pub sb.envpack --to libvirt:lvsb
check "the domain asks for Secure Boot on q35" sh -c "grep -q '<feature enabled=\"yes\" name=\"secure-boot\"/>' lvsb/Web-Server-1.xml && grep -q 'machine=\"q35\"' lvsb/Web-Server-1.xml"
check "and validates" virt-xml-validate lvsb/Web-Server-1.xml domain

bad() { # bad NAME PATTERN SED-EXPRESSION
	sed "$3" vm/web.vmx >vm/bad.vmx
	expect_exit 2 "$1" "$E" pack -q -o bad.envpack vm:vmx:vm/bad.vmx
	expect_err "$2" "$1: the message says why"
	check "$1: no bundle is left" test ! -e bad.envpack
}
mkdir -p outside && cp vm/web.vmdk outside/
bad "a disk outside the .vmx's directory" "outside its own directory" 's|"web.vmdk"|"../outside/web.vmdk"|'
bad "an absolute disk path" "absolute path" 's|"web.vmdk"|"/etc/passwd"|'
bad "a line that is not key = value" "line 5 is not key" '5s/.*/guestOS ubuntu-64/'
bad "an unterminated value" "unterminated" 's/^numvcpus = "2"$/numvcpus = "2/'
bad "no memory size" "memsize" '/^memsize/d'
bad "a missing disk" "missing.vmdk" 's|"logs.vmdk"|"missing.vmdk"|'

# a machine described by hand around bare disks
truncate -s 16M vm/data.raw
expect_exit 0 "pack disks with --vcpus, --memory, --firmware, --os, --network" "$E" pack -q -k k.key -o hand.envpack -n app \
	--vcpus 4 --memory 3072 --firmware uefi --os linux --network lan disk:vm/src.raw disk:vm/data.raw
expect_exit 0 "inspect --json" "$E" inspect --json hand.envpack
check "one machine named after the environment, the first disk booting" python3 -c '
import json, sys; m = json.load(open(sys.argv[1]))["machines"][0]
assert (m["name"], m["vcpus"], m["memory_mib"], m["firmware"]) == ("app", 4, 3072, "uefi"), m
assert [(d["component"], d["bus"], d["boot"]) for d in m["disks"]] == [("src", "virtio", 1), ("data", "virtio", 0)], m
assert m["nics"] == [{"model": "virtio", "mac": None, "network": "lan"}] or m["nics"] == [{"model": "virtio", "network": "lan"}], m' "$T/out"
expect_exit 0 "it restores as a VM" "$E" restore -q -p k.pub hand.envpack --to libvirt:lh
check "whose domain validates" virt-xml-validate lh/app.xml domain
expect_exit 0 "--vm-name names it" "$E" pack -q -o named.envpack --vm-name db1 --memory 512 disk:vm/data.raw
check "as asked" sh -c "'$E' inspect named.envpack | grep -q 'vm    db1  *1 vCPU, 512 MiB, bios'"
mkdir -p tree && echo x >tree/a
expect_exit 2 "a machine needs a disk" "$E" pack -q -o nodisk.envpack --vcpus 2 iac:tree
expect_err "name one" "the message says so"
check "and no bundle is left" test ! -e nodisk.envpack
expect_exit 2 "--firmware takes bios or uefi" "$E" pack -q -o x.envpack --firmware coreboot disk:vm/data.raw
finish
