# The proof that a migration works: a bootable machine is packed from a libvirt
# domain with a qcow2 disk, restored to libvirt: and to ova:, and each restored
# disk, found through the definition the target wrote, boots in QEMU and prints
# its marker on the serial port.
source "$(dirname "$0")/../lib.sh"
source "$HERE/boot.sh"
cd "$T" || exit 1
E=$ENVPACK
"$E" keygen -o k >/dev/null
tag=t84-$RANDOM$RANDOM
mkdir vm
mkboot vm/boot.raw "$tag" --data 3 >/dev/null
qemu-img convert -O qcow2 vm/boot.raw vm/boot.qcow2 && rm vm/boot.raw
cat >vm/boot.xml <<'EOF'
<domain type='kvm'>
  <name>bootme</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='boot.qcow2'/><target dev='hda' bus='ide'/><boot order='1'/></disk>
  </devices>
</domain>
EOF
check "the source disk boots" boot_disk vm/boot.qcow2 qcow2 "$tag"
expect_exit 0 "pack the machine" "$E" pack -q -k k.key -o boot.envpack vm:libvirt:vm/boot.xml

expect_exit 0 "restore to libvirt:" "$E" restore -q -p k.pub boot.envpack --to libvirt:lv
disk=$(python3 -c 'import sys, xml.etree.ElementTree as E; d = E.parse(sys.argv[1]).getroot().find("devices/disk"); print(d.find("source").get("file"), d.find("driver").get("type"))' lv/bootme.xml)
check "the domain names a qcow2 disk inside the target" test "${disk% *}" = "$(realpath "$T")/lv/boot.qcow2" -a "${disk#* }" = qcow2
check "the disk the domain names boots" boot_disk "${disk% *}" "${disk#* }" "$tag"

expect_exit 0 "restore to ova:" "$E" restore -q -p k.pub boot.envpack --to ova:boot.ova
mkdir x && tar xf boot.ova -C x
href=$(python3 -c 'import sys, xml.etree.ElementTree as E; print(E.parse(sys.argv[1]).getroot().find("{http://schemas.dmtf.org/ovf/envelope/1}References/{http://schemas.dmtf.org/ovf/envelope/1}File").get("{http://schemas.dmtf.org/ovf/envelope/1}href"))' x/bootme.ovf)
check "the OVA's descriptor names its streamOptimized disk" sh -c "qemu-img info 'x/$href' | grep -q 'create type: streamOptimized'"
check "the disk the OVA names boots" boot_disk "x/$href" vmdk "$tag"

expect_exit 0 "restore to vagrant:" "$E" restore -q -p k.pub boot.envpack --to vagrant:boot.box
check "the box holds metadata.json, a Vagrantfile and box.img" test "$(tar tf boot.box | sort | tr '\n' ' ')" = "Vagrantfile box.img metadata.json "
mkdir box && tar xf boot.box -C box
check "metadata.json names the libvirt provider, qcow2 and the size in GiB" python3 -c '
import json, sys; assert json.load(open(sys.argv[1])) == {"provider": "libvirt", "format": "qcow2", "virtual_size": 1}' box/metadata.json
check "the Vagrantfile sizes the machine for the libvirt provider" sh -c 'grep -q "libvirt.cpus = 1" box/Vagrantfile && grep -q "libvirt.memory = 64" box/Vagrantfile && grep -q "libvirt.disk_bus = \"ide\"" box/Vagrantfile && ruby -c box/Vagrantfile >/dev/null 2>&1 || ! command -v ruby >/dev/null'
check "box.img is qcow2 and boots" sh -c "qemu-img info box/box.img | grep -q 'file format: qcow2'" && check "box.img boots" boot_disk box/box.img qcow2 "$tag"
expect_exit 0 "the OVA packs again" "$E" pack -q -k k.key -o again.envpack vm:ova:boot.ova
expect_exit 0 "and restores to libvirt:" "$E" restore -q -p k.pub again.envpack --to libvirt:lv2
check "that disk boots too" boot_disk lv2/boot.qcow2 qcow2 "$tag"
finish
