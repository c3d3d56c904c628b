# Virtual machines from libvirt domain XML: the machine model packed with its
# disks, restored as a domain that virt-xml-validate accepts with qcow2 disks
# that qemu-img judges equal to the source's; hostile definitions refused.
source "$(dirname "$0")/../lib.sh"
cd "$T" || exit 1
E=$ENVPACK
"$E" keygen -o k >/dev/null
mkdir vm
make_disk vm/web.raw 80M
qemu-img convert -O qcow2 vm/web.raw vm/web.qcow2 && rm vm/web.raw
truncate -s 32M vm/data.raw
printf 'data disk' | dd of=vm/data.raw bs=1M seek=5 conv=notrunc status=none
domain() { # domain NAME OS-ID [extra devices]
	cat <<EOF
<domain type='kvm'>
  <name>$1</name>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="$2"/>
    </libosinfo:libosinfo>
  </metadata>
  <memory unit='GiB'>2</memory>
  <vcpu placement='static'>3</vcpu>
  <cputune><shares>1536</shares><period>100000</period><quota>50000</quota></cputune>
  <memtune><hard_limit unit='MiB'>3072</hard_limit></memtune>
  <os firmware='efi'><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='web.qcow2'/><target dev='vda' bus='virtio'/><boot order='1'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='data.raw'/><target dev='vdb' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><target dev='sda' bus='sata'/><readonly/></disk>
    <interface type='network'><mac address='52:54:00:AB:CD:EF'/><source network='prod'/><model type='virtio'/></interface>
    ${3:-}
  </devices>
</domain>
EOF
}
domain web http://debian.org/debian/12 >vm/web.xml
xml() { python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); print(eval(sys.argv[2]))' "$@"; }

expect_exit 0 "pack a libvirt domain with its disks" "$E" pack -q -k k.key -o vm.envpack vm:libvirt:vm/web.xml
expect_exit 0 "inspect shows the machine" "$E" inspect vm.envpack
check "vCPUs, memory, firmware and OS" grep -q "web  *3 vCPU, 2048 MiB, uefi, machine pc-q35-7.2, os linux" "$T/out"
check "both disks, the cdrom left out" test "$(grep -c '        disk ' "$T/out")" = 2
expect_exit 0 "inspect --json has the machine model" "$E" inspect --json vm.envpack
check "the model holds the limits, boot order and MAC" python3 -c '
import json, sys; m = json.load(open(sys.argv[1]))["machines"][0]
assert m["limits"] == {"cpu_shares": 1536, "cpu_period_us": 100000, "cpu_quota_us": 50000, "memory_limit_mib": 3072}, m["limits"]
assert [d["boot"] for d in m["disks"]] == [1, 0] and m["nics"][0] == {"model": "virtio", "mac": "52:54:00:ab:cd:ef", "network": "prod"}, m' "$T/out"

expect_exit 0 "restore --dry-run plans the machine" "$E" restore -p k.pub --dry-run vm.envpack --to libvirt:lv
check "the plan names the domain XML" grep -q "would restore machine web -> lv/web.xml (3 vCPU, 2048 MiB, uefi, 2 disks, 1 NIC)" "$T/out"
check "a dry run writes nothing" test ! -e lv
expect_exit 0 "restore to libvirt:" "$E" restore -q -p k.pub vm.envpack --to libvirt:lv
check "virt-xml-validate accepts the domain" virt-xml-validate lv/web.xml domain
check "the disks are qcow2, identical to the source's" sh -c 'qemu-img compare -q vm/web.qcow2 lv/web.qcow2 && qemu-img compare -q -f raw -F qcow2 vm/data.raw lv/data.qcow2'
check "qemu-img check passes on each" sh -c 'qemu-img check -q lv/web.qcow2 && qemu-img check -q lv/data.qcow2'
check "the domain names its disks where they are, on virtio, boot order kept" test "$(xml lv/web.xml '[(d.find("source").get("file"), d.find("target").get("bus"), d.find("boot") is not None) for d in r.iter("disk")]')" = "[('$T/lv/web.qcow2', 'virtio', True), ('$T/lv/data.qcow2', 'virtio', False)]"
check "UEFI, q35, memory, vCPUs and limits" test "$(xml lv/web.xml '(r.find("os").get("firmware"), r.find("os/type").get("machine"), r.find("memory").text, r.find("memory").get("unit"), r.find("vcpu").text, r.find("cputune/shares").text, r.find("memtune/hard_limit").text)')" = "('efi', 'q35', '2048', 'MiB', '3', '1536', '3072')"
check "the NIC keeps its MAC and network" test "$(xml lv/web.xml '[(i.find("mac").get("address"), i.find("source").get("network"), i.find("model").get("type")) for i in r.iter("interface")]')" = "[('52:54:00:ab:cd:ef', 'prod', 'virtio')]"
# The domain type: kvm where /dev/kvm can be opened for reading and writing and emulates SMM, else qemu (emulation);
# --set domain_type= either way. virt-xml-validate judges the schema, libvirt's own parser (virsh
# on its test driver, no daemon) the definition.
host_type=$(python3 -c '
import fcntl, os, stat
try:
    fd = os.open("/dev/kvm", os.O_RDWR)  # never created: no O_CREAT
    # KVM_GET_API_VERSION; KVM_CHECK_EXTENSION of KVM_CAP_X86_SMM (a nested KVM without SMM cannot run OVMF)
    print("kvm" if stat.S_ISCHR(os.fstat(fd).st_mode) and fcntl.ioctl(fd, 0xAE00) == 12 and fcntl.ioctl(fd, 0xAE03, 117) > 0 else "qemu")
except OSError:
    print("qemu")')
define() { HOME=$T virsh -q -c test:///default define "$1" >/dev/null; }
check "the default domain type is the host's ($host_type)" test "$(xml lv/web.xml 'r.get("type")')" = "$host_type"
expect_exit 0 "restore to libvirt: with --json" "$E" restore -p k.pub --json vm.envpack --to libvirt:ld
expect_err "^envpack: machine web: domain type $host_type \(/dev/kvm" "a line on stderr says which domain type and why"
check "--json says it on the machine" test "$(python3 -c 'import json, sys; print([c["domain_type"] for c in json.load(open(sys.argv[1]))["components"] if c["type"] == "machine"])' "$T/out")" = "['$host_type']"
check "and the domain is of it" test "$(xml ld/web.xml 'r.get("type")')" = "$host_type"
expect_exit 0 "-q says nothing" "$E" restore -q -p k.pub vm.envpack --to libvirt:lq
check "stderr is empty" test ! -s "$T/err"
for ty in qemu kvm; do
	expect_exit 0 "--set domain_type=$ty" "$E" restore -p k.pub vm.envpack --set domain_type=$ty --to libvirt:l$ty
	expect_err "^envpack: machine web: domain type $ty \(as --set domain_type asked\)" "domain_type=$ty: stderr says so"
	check "domain_type=$ty: the domain says type='$ty'" test "$(xml l$ty/web.xml 'r.get("type")')" = $ty
	check "domain_type=$ty: virt-xml-validate accepts it" virt-xml-validate l$ty/web.xml domain
	check "domain_type=$ty: libvirt's parser defines it (virsh, test driver)" define l$ty/web.xml
done
expect_exit 2 "--set domain_type= takes kvm or qemu only" "$E" restore -q -p k.pub vm.envpack --set domain_type=xen --to libvirt:lx
expect_err "domain_type=xen: kvm or qemu" "the message says which values"
expect_exit 2 "a target that writes no domain type refuses one" "$E" restore -q -p k.pub vm.envpack --set domain_type=qemu --to hyperv:hx
expect_err "--set domain_type: target 'hyperv:hx' writes no domain type" "the message names the target"
check "neither writes anything" sh -c 'test ! -e lx && test ! -e hx'
expect_exit 2 "restore never overwrites a domain" "$E" restore -q -p k.pub vm.envpack --to libvirt:lv
expect_err "exists" "the message says so"

# an OS without virtio drivers gets SATA disks and an e1000 NIC
domain win http://microsoft.com/win/10 >vm/win.xml
expect_exit 0 "pack a Windows domain" "$E" pack -q -k k.key -o win.envpack vm:libvirt:vm/win.xml
expect_exit 0 "restore it to libvirt:" "$E" restore -q -p k.pub win.envpack --to libvirt:lw
check "its disks are on SATA, its NIC an e1000" test "$(xml lw/win.xml '([d.find("target").get("bus") for d in r.iter("disk")], [i.find("model").get("type") for i in r.iter("interface")])')" = "(['sata', 'sata'], ['e1000'])"
check "virt-xml-validate accepts it" virt-xml-validate lw/win.xml domain
expect_exit 0 "restore to dir: keeps the model as JSON" "$E" restore -q -p k.pub vm.envpack --to dir:d
check "dir: wrote web.vm.json beside the disks" python3 -c '
import json, sys; m = json.load(open(sys.argv[1])); assert m["name"] == "web" and m["vcpus"] == 3, m' d/web.vm.json
check "and the disks as raw" qemu-img compare -q vm/web.qcow2 d/web.raw

# Hyper-V: VHDX disks and a script that creates the machine (it can't run here: its content is checked)
expect_exit 0 "restore to hyperv:" "$E" restore -q -p k.pub vm.envpack --to hyperv:hv
check "the disks are VHDX, identical to the source's" sh -c 'qemu-img compare -q vm/web.qcow2 hv/web.vhdx && qemu-img check -q hv/web.vhdx && qemu-img compare -q -f raw vm/data.raw hv/data.vhdx'
check "UEFI makes a generation 2 machine with 2048 MB and 3 vCPUs" grep -qx "\$vm = New-VM -Name 'web' -Generation 2 -MemoryStartupBytes 2048MB -NoVHD" hv/web.ps1
check "CPU weight and cap come from the limits" grep -qx "Set-VMProcessor -VM \$vm -Count 3 -RelativeWeight 150 -Maximum 16" hv/web.ps1
check "both disks attach, boot disk first, on SCSI" test "$(grep -c '^Add-VMHardDiskDrive -VM \$vm -ControllerType SCSI' hv/web.ps1)" = 2 -a "$(grep -m1 -o "'[a-z]*.vhdx'" hv/web.ps1)" = "'web.vhdx'"
check "the NIC keeps its switch and MAC" grep -qx "Add-VMNetworkAdapter -VM \$vm -SwitchName 'prod' -StaticMacAddress '525400ABCDEF'" hv/web.ps1
domain bios http://debian.org/debian/12 | sed "s/ firmware='efi'//" >vm/bios.xml
"$E" pack -q -k k.key -o bios.envpack vm:libvirt:vm/bios.xml
check "a BIOS machine is generation 1 with IDE disks" sh -c "'$E' restore -q -p k.pub bios.envpack --to hyperv:hb && grep -q -- '-Generation 1 ' hb/bios.ps1 && test \$(grep -c 'ControllerType IDE' hb/bios.ps1) = 2"

# A bare disk (disk:, no machine described) on a machine target becomes a machine built from
# defaults, decided at plan time and said in a warning, the same on every machine target
expect_exit 0 "pack a bare disk" "$E" pack -q -k k.key -o bare.envpack disk:vm/web.qcow2
for to in libvirt:bl hyperv:bh ova:bare.ova ovf:bo vagrant:bare.box; do
	expect_exit 0 "$to: a dry run plans a machine for the bare disk" "$E" restore -p k.pub --dry-run bare.envpack --to "$to"
	check "$to: the plan names machine web (1 vCPU, 1024 MiB, 1 disk, 1 NIC)" grep -q "would restore machine web -> .*(1 vCPU, 1024 MiB, bios, 1 disk, 1 NIC)" "$T/out"
	expect_err "warning: disk 'web' belongs to no machine: ${to//./\\.} restores it as machine 'web' built from defaults: 1 vCPU, 1024 MiB, BIOS" \
		"$to: a warning names the defaults"
	expect_exit 0 "$to: restore the bare disk" "$E" restore -q -p k.pub bare.envpack --to "$to"
done
check "libvirt: the domain validates" virt-xml-validate bl/web.xml domain
check "libvirt: the domain boots its one disk, with one NIC on the default network" test "$(xml bl/web.xml '(r.find("name").text, r.find("vcpu").text, r.find("memory").text, [(d.find("source").get("file"), d.find("boot").get("order")) for d in r.iter("disk")], [i.find("source").get("network") for i in r.iter("interface")])')" = "('web', '1', '1024', [('$T/bl/web.qcow2', '1')], ['default'])"
check "libvirt: the disk is the source's" qemu-img compare -q vm/web.qcow2 bl/web.qcow2
check "hyperv: the script makes machine web of its disk" sh -c "grep -qx \"\\\$vm = New-VM -Name 'web' -Generation 1 -MemoryStartupBytes 1024MB -NoVHD\" bh/web.ps1 && grep -q \"^Add-VMHardDiskDrive .*'web.vhdx'\" bh/web.ps1 && qemu-img compare -q vm/web.qcow2 bh/web.vhdx"
check "ova: the package holds the descriptor, its manifest and the disk" test "$(tar tf bare.ova | tr '\n' ' ')" = "web.ovf web.mf web.vmdk "
check "ovf: so does the directory" test "$(ls bo | tr '\n' ' ')" = "web.mf web.ovf web.vmdk "
check "vagrant: the box holds the disk as box.img" test "$(tar tf bare.box | sort | tr '\n' ' ')" = "Vagrantfile box.img metadata.json "
check "vagrant: the box's libvirt driver is the host's domain type ($host_type)" sh -c "tar xOf bare.box Vagrantfile | grep -qx '    libvirt.driver = \"$host_type\"'"
for ty in qemu kvm; do
	expect_exit 0 "vagrant: --set domain_type=$ty" "$E" restore -p k.pub bare.envpack --set domain_type=$ty --to vagrant:$ty.box
	expect_err "^envpack: machine web: domain type $ty \(as --set domain_type asked\)" "vagrant: domain_type=$ty: stderr says so"
	check "vagrant: domain_type=$ty: the Vagrantfile's libvirt driver is $ty" sh -c "tar xOf $ty.box Vagrantfile | grep -qx '    libvirt.driver = \"$ty\"'"
done
expect_exit 0 "--set sizes the machine built from defaults" "$E" restore -q -p k.pub bare.envpack --set vcpus=2 --set memory_mib=2048 --to libvirt:bs
check "the domain has 2 vCPUs and 2048 MiB" test "$(xml bs/web.xml '(r.find("vcpu").text, r.find("memory").text)')" = "('2', '2048')"
expect_exit 0 "dir: keeps a bare disk bare" "$E" restore -p k.pub bare.envpack --to dir:bare-dir
check "no machine and no warning" sh -c "test \"\$(ls bare-dir)\" = web.raw && ! grep -q warning '$T/err'"
cp vm/web.qcow2 vm/db.qcow2
expect_exit 0 "pack two bare disks" "$E" pack -q -k k.key -o two.envpack disk:vm/web.qcow2 disk:vm/db.qcow2
expect_exit 2 "ova: two bare disks are two machines, refused by the plan" "$E" restore -q -p k.pub --dry-run two.envpack --to ova:two.ova
expect_err "ova: one package holds one machine \('db' is a second; pick one with --only\)" "the message says why and how"
expect_exit 2 "and so is the real restore, before any disk is converted" "$E" restore -q -p k.pub two.envpack --to ova:two.ova
check "nothing is written" sh -c "test ! -e two.ova && ! ls -a | grep -q '^.envpack-ova-'"
expect_exit 0 "--only picks one of them" "$E" restore -q -p k.pub two.envpack --only db --to ova:two.ova
check "as machine db" test "$(tar tf two.ova | tr '\n' ' ')" = "db.ovf db.mf db.vmdk "
expect_exit 2 "libvirt: a disk without the machine that holds it is refused" "$E" restore -q -p k.pub vm.envpack --only data --to libvirt:only
expect_err "target 'libvirt:only' writes machines, and disk 'data' is machine 'web''s: restore the machine with --only web" "the message names the disk, its machine and the way out"
check "nothing is written" test ! -e only
expect_exit 2 "vagrant: refused the same way" "$E" restore -q -p k.pub vm.envpack --only data --to vagrant:only.box
expect_err "disk 'data' is machine 'web''s" "the message says so"
check "nothing is written" sh -c "test ! -e only.box && ! ls -a | grep -q '^.envpack-ova-'"

# hostile definitions
bad() { # bad NAME PATTERN FILE
	expect_exit 2 "$1" "$E" pack -q -o bad.envpack "vm:libvirt:$3"
	expect_err "$2" "$1: the message says why"
	check "$1: no bundle is left" test ! -e bad.envpack
}
cat >vm/xxe.xml <<'EOF'
<?xml version="1.0"?>
<!DOCTYPE domain [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<domain type='kvm'><name>&x;</name><memory>1024</memory><devices><disk type='file' device='disk'><source file='web.qcow2'/></disk></devices></domain>
EOF
bad "an external entity (XXE)" "DOCTYPE" vm/xxe.xml
mkdir -p elsewhere && cp vm/data.raw elsewhere/
domain esc http://debian.org/debian/12 | sed 's|data.raw|../elsewhere/data.raw|' >vm/escape.xml
bad "a disk outside the definition's directory" "outside its own directory" vm/escape.xml
domain gone http://debian.org/debian/12 | sed 's|data.raw|missing.raw|' >vm/gone.xml
bad "a missing disk" "missing.raw" vm/gone.xml
printf '<domain><name>x</name>' >vm/broken.xml
bad "XML that is not well-formed" "not well-formed" vm/broken.xml
domain 'we b' http://debian.org/debian/12 >vm/badname.xml
bad "an unsafe machine name" "field 'name'" vm/badname.xml
expect_exit 0 "--allow-dir permits a named directory" "$E" pack -q -o ok.envpack --allow-dir elsewhere vm:libvirt:vm/escape.xml

# A domain on this host is its administrator's configuration: its disks are taken
# where it names them (absolute paths, as libvirt writes them), without --allow-dir.
mkdir -p qemu images
cp vm/web.qcow2 vm/data.raw images/
host_domain() { # host_domain NAME DATA-DISK-ELEMENT: web.qcow2 from images/, the data disk as given
	domain "$1" http://debian.org/debian/12 |
		sed "s|'web.qcow2'|'$T/images/web.qcow2'|; s|<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='data.raw'/>|$2|"
}
host_domain web "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='$T/images/data.raw'/>" >qemu/web.xml
expect_exit 0 "a domain's absolute disk paths pack without --allow-dir" "$E" pack -q -k k.key -o host.envpack "vm:libvirt:$T/qemu/web.xml"
expect_exit 0 "and restore to dir:" "$E" restore -q -p k.pub host.envpack --to dir:hd
check "each disk comes back as it was" sh -c 'qemu-img compare -q images/web.qcow2 hd/web.raw && cmp images/data.raw hd/data.raw'
expect_exit 0 "README's form: backup --init ... vm:libvirt:/ABS/web.xml" "$E" backup --init -q -k k.key --tag nightly "$T/dr" "vm:libvirt:$T/qemu/web.xml"
expect_exit 0 "restore STORE@latest --to libvirt:" "$E" restore -q -p k.pub "$T/dr@latest" --to "libvirt:$T/rl"
check "the restored disks equal the host's" sh -c 'qemu-img compare -q images/web.qcow2 rl/web.qcow2 && qemu-img compare -q -f raw -F qcow2 images/data.raw rl/data.qcow2'
# references inside an image stay confined: an overlay's absolute backing file needs --allow-dir
mkdir -p base && cp vm/web.qcow2 base/base.qcow2
qemu-img create -q -f qcow2 -F qcow2 -b "$T/base/base.qcow2" images/overlay.qcow2
host_domain ovl "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$T/images/overlay.qcow2'/>" >qemu/ovl.xml
bad "an absolute backing file in a host disk" "overlay.qcow2' refers to '$T/base/base.qcow2', an absolute path.*--allow-dir" "$T/qemu/ovl.xml"
expect_exit 0 "--allow-dir permits it" "$E" pack -q -o ok2.envpack --allow-dir base "vm:libvirt:$T/qemu/ovl.xml"
# what cannot be read as a disk is refused, the domain file, the disk and the reason named
host_refused() { # host_refused NAME WHY DATA-DISK-ELEMENT
	host_domain "$1" "$3" >"qemu/$1.xml"
	bad "a host disk that is $1" "qemu/$1.xml': disk 2.*$2" "$T/qemu/$1.xml"
}
host_refused missing "images/missing.raw', cannot be read: No such file" "<disk type='file' device='disk'><source file='$T/images/missing.raw'/>"
host_refused dir "images', is a directory: refused" "<disk type='file' device='disk'><source file='$T/images'/>"
mkfifo images/fifo
host_refused fifo "images/fifo', is a FIFO: refused" "<disk type='file' device='disk'><source file='$T/images/fifo'/>"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' images/sock
host_refused socket "images/sock', is a socket: refused" "<disk type='file' device='disk'><source file='$T/images/sock'/>"
host_refused chardev "'/dev/null', is a character device: refused" "<disk type='block' device='disk'><source dev='/dev/null'/>"
host_refused network "is a network disk \(type='network'\): refused" "<disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='rbd' name='pool/data'><host name='mon1' port='6789'/></source>"
host_refused volume "is a storage pool volume \(type='volume'\): refused" "<disk type='volume' device='disk'><source pool='default' volume='data.raw'/>"

# A block device (<source dev=...>) is read as a raw disk of the device's size.
truncate -s 8M images/block.img
head -c 1500000 /dev/urandom | dd of=images/block.img bs=1M seek=2 conv=notrunc status=none
if LOOP=$(losetup -f --show images/block.img 2>/dev/null); then
	trap 'losetup -d "$LOOP"; chmod -R u+rwx "$T" 2>/dev/null; rm -rf "$T"' EXIT # and lib.sh's cleanup
	host_domain blk "<disk type='block' device='disk'><source dev='$LOOP'/>" >qemu/blk.xml
	expect_exit 0 "a block device packs" "$E" pack -q -k k.key -o blk.envpack "vm:libvirt:$T/qemu/blk.xml"
	expect_exit 0 "and restores to dir:" "$E" restore -q -p k.pub blk.envpack --to dir:bd
	check "as a raw disk equal to the device, of its size" cmp "$LOOP" "bd/${LOOP##*/}.raw"
	host_refused blockqcow2 "block device '$LOOP', is driven as qcow2: refused" "<disk type='block' device='disk'><driver name='qemu' type='qcow2'/><source dev='$LOOP'/>"
else
	echo "# skipped: no loop device (losetup -f failed), so no block device to pack"
fi
finish
