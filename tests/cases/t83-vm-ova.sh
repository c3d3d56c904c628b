# OVF packages: a machine restored as an OVA (descriptor first, SHA-256
# manifest, streamOptimized VMDKs that qemu-img judges) and as an unpacked
# OVF directory, read back as the same machine; damaged packages refused, and
# every .mf form (SHA1/SHA256/SHA512, spaced, any case, CRLF) checked, none skipped.
source "$(dirname "$0")/../lib.sh"
cd "$T" || exit 1
E=$ENVPACK
"$E" keygen -o k >/dev/null
mkdir vm
make_disk vm/web.raw 80M
qemu-img convert -O qcow2 vm/web.raw vm/web.qcow2
truncate -s 40M vm/data.raw
printf 'data disk' | dd of=vm/data.raw bs=1M seek=7 conv=notrunc status=none
cat >vm/web.xml <<'EOF'
<domain type='kvm'>
  <name>web</name>
  <metadata><libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0"><libosinfo:os id="http://ubuntu.com/ubuntu/22.04"/></libosinfo:libosinfo></metadata>
  <memory unit='MiB'>1536</memory>
  <vcpu>2</vcpu>
  <cputune><shares>512</shares></cputune>
  <os firmware='efi'><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='web.qcow2'/><target dev='vda' bus='virtio'/><boot order='1'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='data.raw'/><target dev='sdb' bus='sata'/></disk>
    <interface type='network'><mac address='52:54:00:12:34:56'/><source network='lan'/><model type='virtio'/></interface>
    <interface type='bridge'><source bridge='br0'/><model type='e1000'/></interface>
  </devices>
</domain>
EOF
machines() { "$E" inspect --json "$1" | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["machines"], sort_keys=True))'; }

expect_exit 0 "pack the machine" "$E" pack -q -k k.key -o vm.envpack vm:libvirt:vm/web.xml
expect_exit 0 "restore --dry-run to ova:" "$E" restore -p k.pub --dry-run vm.envpack --to ova:web.ova
check "the plan names the package and its descriptor" grep -q "would restore machine web -> web.ova (web.ovf)" "$T/out"
check "a dry run writes nothing" test ! -e web.ova
expect_exit 0 "restore to ova:" "$E" restore -q -p k.pub vm.envpack --to ova:web.ova
check "the tar holds the descriptor first, then the manifest, then the disks in order" \
	test "$(tar tf web.ova | tr '\n' ' ')" = "web.ovf web.mf web.vmdk data.vmdk "
mkdir x && tar xf web.ova -C x
check "the manifest's SHA-256 digests are right (sha256sum judges)" sh -c \
	"cd x && sed -E 's/^SHA256\\(([^)]*)\\)= ([0-9a-f]+)\$/\\2  \\1/' web.mf | sha256sum -c --quiet"
check "the manifest covers the descriptor and both disks" test "$(grep -c '^SHA256(' x/web.mf)" = 3
check "the disks are streamOptimized VMDKs" sh -c 'qemu-img info x/web.vmdk | grep -q "create type: streamOptimized"'
check "qemu-img check passes on them" sh -c 'qemu-img check -q x/web.vmdk && qemu-img check -q x/data.vmdk'
check "the disks hold the source's data" sh -c 'qemu-img compare -q vm/web.qcow2 x/web.vmdk && qemu-img compare -q -f raw vm/data.raw x/data.vmdk'
check "the descriptor names CPUs, memory, disks, NICs and UEFI as OVF readers expect" python3 -c '
import sys, xml.etree.ElementTree as E
ns = {"o": "http://schemas.dmtf.org/ovf/envelope/1", "r": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData", "v": "http://www.vmware.com/schema/ovf"}
root = E.parse(sys.argv[1]).getroot()
items = root.findall(".//o:VirtualHardwareSection/o:Item", ns)
kind = lambda t: [i for i in items if i.find("r:ResourceType", ns).text == str(t)]
assert kind(3)[0].find("r:VirtualQuantity", ns).text == "2"
mem = kind(4)[0]; assert (mem.find("r:VirtualQuantity", ns).text, mem.find("r:AllocationUnits", ns).text) == ("1536", "byte * 2^20")
hrefs = [f.get("{%s}href" % ns["o"]) for f in root.findall("o:References/o:File", ns)]
assert hrefs == ["web.vmdk", "data.vmdk"], hrefs
disks = kind(17); assert [d.find("r:HostResource", ns).text for d in disks] == ["ovf:/disk/vmdisk1", "ovf:/disk/vmdisk2"]
parents = {i.find("r:InstanceID", ns).text: i.find("r:ResourceType", ns).text for i in items}
assert sorted(parents[d.find("r:Parent", ns).text] for d in disks) == ["20", "6"]  # SCSI for virtio, SATA
assert [n.find("r:Connection", ns).text for n in kind(10)] == ["lan", "br0"]
assert kind(10)[0].find("r:Address", ns).text == "52:54:00:12:34:56"
caps = [d.get("{%s}capacity" % ns["o"]) for d in root.findall("o:DiskSection/o:Disk", ns)]
assert caps == [str(80 << 20), str(40 << 20)], caps
assert root.find(".//v:Config[@v:key=\"firmware\"]", ns).get("{%s}value" % ns["v"]) == "efi"' x/web.ovf
expect_exit 0 "envpack reads its own OVA back" "$E" pack -q -k k.key -o back.envpack vm:ova:web.ova
check "as the same machine model" test "$(machines back.envpack)" = "$(machines vm.envpack)"
expect_exit 0 "and restores it to libvirt:" "$E" restore -q -p k.pub back.envpack --to libvirt:lv
check "whose disks are the source's" qemu-img compare -q vm/web.qcow2 lv/web.qcow2
check "whose domain validates" virt-xml-validate lv/web.xml domain
check "no temporary copy is left" sh -c "! ls '${TMPDIR:-/tmp}' | grep -q '^envpack-ova-'"
expect_exit 0 "restore to ovf: (unpacked)" "$E" restore -q -p k.pub vm.envpack --to ovf:pkg
check "the directory holds the same package" test "$(ls pkg | sort | tr '\n' ' ')" = "data.vmdk web.mf web.ovf web.vmdk "
expect_exit 0 "vm:ovf: reads the unpacked package" "$E" pack -q -k k.key -o fromovf.envpack vm:ovf:pkg/web.ovf
check "as the same machine too" test "$(machines fromovf.envpack)" = "$(machines vm.envpack)"

# Secure Boot: VMware's key and envpack's section carry it, and read back as it was; a
# foreign descriptor says it by VMware's key (without it, off, as VMware runs it), or not
# at all (VirtualBox, whose <Firmware type="EFI"/> still says UEFI)
truncate -s 1M vm/sb.raw
cat >vm/sb.xml <<'EOF'
<domain type='kvm'><name>sb</name><memory unit='MiB'>512</memory><vcpu>1</vcpu>
  <os firmware='efi'><type arch='x86_64' machine='q35'>hvm</type><firmware><feature enabled='yes' name='enrolled-keys'/><feature enabled='yes' name='secure-boot'/></firmware></os>
  <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='sb.raw'/><target dev='sda' bus='sata'/><boot order='1'/></disk></devices>
</domain>
EOF
expect_exit 0 "pack a machine with Secure Boot" "$E" pack -q -k k.key -o sb.envpack vm:libvirt:vm/sb.xml
expect_exit 0 "restore it to ova:" "$E" restore -q -p k.pub sb.envpack --to ova:sb.ova
mkdir y && tar xf sb.ova -C y
check "the descriptor says so as VMware reads it" grep -q 'vmw:key="uefi.secureBoot.enabled" vmw:value="true"' y/sb.ovf
expect_exit 0 "envpack reads it back" "$E" pack -q -k k.key -o sbback.envpack vm:ova:sb.ova
check "as the same machine model" test "$(machines sbback.envpack)" = "$(machines sb.envpack)"
check "Secure Boot on" grep -q '"secure_boot": true' <(machines sb.envpack)
foreign() { # foreign NAME WHAT: y/NAME.ovf is y/sb.ovf without envpack's section, then as WHAT says; prints what is read
	python3 - "$@" <<'PY'
import sys, xml.etree.ElementTree as E
name, what = sys.argv[1], sys.argv[2]
ns = {"ovf": "http://schemas.dmtf.org/ovf/envelope/1", "vmw": "http://www.vmware.com/schema/ovf",
      "vbox": "http://www.virtualbox.org/ovf/machine", "envpack": "urn:envpack:ovf:1",
      "rasd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData",
      "vssd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"}
for p, u in ns.items():
    E.register_namespace(p, u)
t = E.parse("y/sb.ovf")
vs = t.getroot().find("ovf:VirtualSystem", ns)
hw = vs.find("ovf:VirtualHardwareSection", ns)
vs.remove(vs.find("envpack:Machine", ns))
for c in hw.findall("vmw:Config", ns):
    if what == "vbox" or (what == "vmware-off" and c.get("{%s}key" % ns["vmw"]) == "uefi.secureBoot.enabled"):
        hw.remove(c)
if what == "vbox":  # VirtualBox's machine section, its elements in the export's default namespace: OVF's
    m = E.SubElement(vs, "{%s}Machine" % ns["vbox"])
    E.SubElement(E.SubElement(m, "{%s}Hardware" % ns["ovf"]), "{%s}Firmware" % ns["ovf"], type="EFI")
t.write("y/%s.ovf" % name)
PY
	"$E" pack -q -k k.key -o "$1.envpack" "vm:ovf:y/$1.ovf" && "$E" inspect --json "$1.envpack" |
		python3 -c 'import json, sys; m = json.load(sys.stdin)["machines"][0]; print(m["firmware"], m.get("secure_boot"))'
}
check "a VMware descriptor with uefi.secureBoot.enabled true: on" test "$(foreign vmw vmware)" = "uefi True"
check "a VMware UEFI descriptor without it: off" test "$(foreign vmwoff vmware-off)" = "uefi False"
check "a VirtualBox descriptor with <Firmware type=\"EFI\"/>: UEFI, Secure Boot unknown" test "$(foreign vbox vbox)" = "uefi None"
sed 's/"secure_boot":true/"secure_boot":"yes"/' y/sb.ovf >y/badsb.ovf
expect_exit 2 "envpack's section with a secure_boot that is no boolean is refused" "$E" pack -q -k k.key -o badsb.envpack vm:ovf:y/badsb.ovf
expect_err "ovf: '.*y/badsb.ovf': the envpack section's secure_boot is not true or false" "naming the file and the field"
check "and no bundle is left" test ! -e badsb.envpack

expect_exit 2 "ova: never overwrites" "$E" restore -q -p k.pub vm.envpack --to ova:web.ova
check "no staging directory is left behind" sh -c "! ls -a | grep -q '^.envpack-ova-'"
mkdir tree && echo hi >tree/a
"$E" pack -q -k k.key -o mixed.envpack vm:libvirt:vm/web.xml iac:tree
expect_exit 2 "ova: refuses a file tree" "$E" restore -q -p k.pub mixed.envpack --to ova:mixed.ova
expect_err "target 'ova:mixed.ova' can.t take file tree component 'tree': it takes machines and their disks only; restore machine 'web' alone with --only web, and the rest to dir:" \
	"the message names the tree and says how to restore the machine alone"
check "and leaves nothing" sh -c "test ! -e mixed.ova && ! ls -a | grep -q '^.envpack-ova-'"

expect_exit 2 "vagrant: refuses a machine of two disks before writing anything" "$E" restore -q -p k.pub --dry-run vm.envpack --to vagrant:two.box
expect_err "1 disk at most" "the message says why"

# damaged and hostile packages
cp web.ova bad1.ova
off=$(python3 -c '
import tarfile, sys
with tarfile.open(sys.argv[1]) as t:
    m = t.getmember("data.vmdk"); print(m.offset_data + 600)' bad1.ova)
flip_byte bad1.ova "$off"
expect_exit 3 "a member that does not match the manifest" "$E" pack -q -o bad.envpack vm:ova:bad1.ova
expect_err "data.vmdk.*does not match" "the message names the member"
check "no bundle is left" test ! -e bad.envpack

# Every .mf form the tools write, each checked: built from x/ (descriptor first), the .mf
# given as FORM, and with "damaged" one byte of data.vmdk flipped after the digests were taken.
mkova() { # NAME FORM [damaged]
	python3 - "$@" <<'EOF'
import hashlib, io, os, sys, tarfile
name, form, damaged = sys.argv[1], sys.argv[2], len(sys.argv) > 3
files = {f: open("x/" + f, "rb").read() for f in ("web.ovf", "web.vmdk", "data.vmdk")}
if form == "disk-as-cert":  # the data disk renamed as a certificate, which an .mf need not list
    files["web.ovf"] = files["web.ovf"].replace(b'"data.vmdk"', b'"data.cert"')
    files["data.cert"] = files.pop("data.vmdk")
if form == "absolute":  # the data disk named by an absolute path, to a file that exists where it is packed
    files["web.ovf"] = files["web.ovf"].replace(b'"data.vmdk"', b'"%s/x/data.vmdk"' % os.getcwd().encode())
h = lambda algo, f: hashlib.new(algo, files[f]).hexdigest()
forms = {  # one line per file; where each comes from
    "sha1": lambda f: "SHA1(%s)= %s\n" % (f, h("sha1", f)),                   # OVF Tool 1.0, virt-v2v
    "sha256-spaced": lambda f: "SHA256 (%s) = %s\n" % (f, h("sha256", f)),    # shasum --tag, BSD sha256
    "lowercase": lambda f: "sha256(%s)=%s\n" % (f, h("sha256", f).upper()),   # hand-made; hex in any case
    "sha512-crlf": lambda f: "SHA512(%s)= %s\r\n" % (f, h("sha512", f)),      # OVF Tool --shaAlgorithm=SHA512, CRLF
    "sha1-and-sha256": lambda f: "SHA1(%s)= %s\nSHA256(%s)= %s\n" % (f, h("sha1", f), f, h("sha256", f)),
    "no-disk": lambda f: "" if f == "data.vmdk" else "SHA256(%s)= %s\n" % (f, h("sha256", f)),
    "no-ovf": lambda f: "" if f == "web.ovf" else "SHA256(%s)= %s\n" % (f, h("sha256", f)),
    "with-cert": lambda f: "SHA256(%s)= %s\n" % (f, h("sha256", f)),
    "disk-as-cert": lambda f: "" if f == "data.cert" else "SHA256(%s)= %s\n" % (f, h("sha256", f)),
    "absolute": lambda f: "SHA256(%s)= %s\n" % (f, h("sha256", f)),
}
mf = "".join(forms[form](f) for f in files) if form in forms else open(form).read()
if form == "sha512-crlf":
    mf += "\r\n"  # a trailing blank line
if damaged:
    d = bytearray(files["data.vmdk"]); d[600] ^= 0xff; files["data.vmdk"] = bytes(d)
members = [("web.ovf", files.pop("web.ovf")), ("web.mf", mf.encode())]
if form == "with-cert":  # not checked, so not needed in the .mf
    members.append(("web.cert", b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
members += list(files.items())
with tarfile.open(name, "w", format=tarfile.USTAR_FORMAT) as t:
    for n, data in members:
        i = tarfile.TarInfo(n); i.size = len(data); t.addfile(i, io.BytesIO(data))
EOF
}
mkdir ovatmp
packova() { TMPDIR=$T/ovatmp "$E" pack -q -k k.key "$@"; }
for form in sha1 sha256-spaced lowercase sha512-crlf sha1-and-sha256; do
	mkova "ok-$form.ova" "$form"
	expect_exit 0 ".mf form $form: accepted with the right digests" packova -o "ok-$form.envpack" "vm:ova:ok-$form.ova"
	check ".mf form $form: as the same machine" test "$(machines "ok-$form.envpack")" = "$(machines vm.envpack)"
	mkova "bad-$form.ova" "$form" damaged
	expect_exit 3 ".mf form $form: a damaged disk is refused" packova -o bad.envpack "vm:ova:bad-$form.ova"
	expect_err "bad-$form.ova'.*member 'data.vmdk' does not match its SHA(1|256|512) digest in 'web.mf'" \
		".mf form $form: the message names the OVA, the disk and the .mf"
	check ".mf form $form: no bundle and no temporary copy is left" sh -c "test ! -e bad.envpack && test -z \"\$(ls ovatmp)\""
done
check "the CRLF form's .mf has CRLF lines and a trailing blank line" sh -c 'tar xOf ok-sha512-crlf.ova web.mf | od -c | grep -q "\\\\r  \\\\n  \\\\r  \\\\n"'

mkova no-disk.ova no-disk
expect_exit 2 "an .mf that leaves a disk out is refused" packova -o bad.envpack vm:ova:no-disk.ova
expect_err "no-disk.ova'.*manifest 'web.mf' does not list member 'data.vmdk'.*--allow-unlisted" \
	"the message names the OVA, the .mf, the disk and the way out"
check "no bundle and no temporary copy is left" sh -c "test ! -e bad.envpack && test -z \"\$(ls ovatmp)\""
expect_exit 0 "--allow-unlisted packs it" env TMPDIR="$T/ovatmp" "$E" pack -k k.key --allow-unlisted -o unlisted.envpack vm:ova:no-disk.ova
expect_err "warning: .*no-disk.ova'.*member 'data.vmdk' is not in its manifest 'web.mf'.*unchecked" "with a warning naming the disk"
check "as the same machine" test "$(machines unlisted.envpack)" = "$(machines vm.envpack)"
mkova no-ovf.ova no-ovf
expect_exit 2 "an .mf that leaves the descriptor out is refused" packova -o bad.envpack vm:ova:no-ovf.ova
expect_err "manifest 'web.mf' does not list member 'web.ovf'" "the message names the descriptor"
check "no bundle is left" test ! -e bad.envpack
mkova cert.ova with-cert
expect_exit 0 "a .cert the .mf does not list is left unchecked" packova -o cert.envpack vm:ova:cert.ova
mkova disk-as-cert.ova disk-as-cert
check "the descriptor of disk-as-cert.ova names data.cert as a disk" sh -c 'tar xOf disk-as-cert.ova web.ovf | grep -q "ovf:href=\"data.cert\""'
expect_exit 2 "but a disk named as a certificate must be listed" packova -o bad.envpack vm:ova:disk-as-cert.ova
expect_err "manifest 'web.mf' does not list member 'data.cert'" "the message names it"
check "no bundle and no temporary copy is left" sh -c "test ! -e bad.envpack && test -z \"\$(ls ovatmp)\""

badmf() { # NAME WANT-REGEX TEST-NAME: an OVA whose .mf is the file NAME.mf (made just before), refused
	mkova "$1.ova" "$1.mf"
	expect_exit 2 "$3" packova -o bad.envpack "vm:ova:$1.ova"
	expect_err "$1.ova'.*web.mf.* $2" "$3: the message names the OVA, the .mf, the line and the problem"
	check "$3: no bundle and no temporary copy is left" sh -c "test ! -e bad.envpack && test -z \"\$(ls ovatmp)\""
}
ovfsum=$(sha256sum x/web.ovf | cut -c1-64)
websum=$(sha256sum x/web.vmdk | cut -c1-64)
datasum=$(sha256sum x/data.vmdk | cut -c1-64)
printf 'SHA256(web.ovf)= %s\nSHA256 web.vmdk = %s\nSHA256(data.vmdk)= %s\n' "$ovfsum" "$websum" "$datasum" >garbled.mf
badmf garbled "line 2 is not 'ALGO\(FILE\)= HEX'" "an .mf line that does not parse is refused"
printf 'SHA256(web.ovf)= %s\nSHA256(web.vmdk)= %s\nMD5(data.vmdk)= %s\n' "$ovfsum" "$websum" "${datasum:0:32}" >md5.mf
badmf md5 "line 3: digest algorithm 'MD5' is not one envpack checks" "an MD5 line is refused, not skipped"
printf 'SHA256(web.ovf)= %s\nSHA256(web.vmdk)= %s\nSHA256(data.vmdk)= %s\n' "$ovfsum" "${websum:1}" "$datasum" >short.mf
badmf short "line 2: a SHA256 digest has 64 hex digits, not 63" "a digest of the wrong length is refused"
printf 'SHA256(web.ovf)= %s\nSHA256(web.vmdk)= %s\nSHA256(data.vmdk)= %s\nSHA256(data.vmdk)= %s\n' "$ovfsum" "$websum" "$datasum" "$websum" >twice.mf
badmf twice "line 4 lists 'data.vmdk' again with another SHA256 digest than line 3" "a file listed twice with different digests is refused"
(cd x && tar cf ../bad2.ova web.mf web.ovf web.vmdk data.vmdk)
expect_exit 2 "a descriptor that is not the first member" "$E" pack -q -o bad.envpack vm:ova:bad2.ova
expect_err "first member" "the message says so"
python3 - <<'EOF'
import io, tarfile
with tarfile.open("bad3.ova", "w", format=tarfile.USTAR_FORMAT) as t:
    for name, data in [("web.ovf", open("x/web.ovf", "rb").read()), ("../evil.vmdk", b"x" * 512)]:
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
EOF
expect_exit 2 "a member escaping the package" "$E" pack -q -o bad.envpack vm:ova:bad3.ova
expect_err "not a plain file with a plain name" "the message says so"
check "nothing was written outside" test ! -e ../evil.vmdk
mkdir hostile && cp x/web.ovf hostile/ && sed -i 's|ovf:href="data.vmdk"|ovf:href="../vm/data.raw"|' hostile/web.ovf && cp x/web.vmdk hostile/
expect_exit 2 "an OVF naming a disk outside its directory" "$E" pack -q -o bad.envpack vm:ovf:hostile/web.ovf
expect_err "outside its own directory" "the message says so"
# a definition that arrives from elsewhere stays confined, unlike a local libvirt domain
sed "s|ovf:href=\"data.vmdk\"|ovf:href=\"$T/x/data.vmdk\"|" x/web.ovf >hostile/abs.ovf
expect_exit 2 "an OVF naming a disk by an absolute path" "$E" pack -q -o bad.envpack vm:ovf:hostile/abs.ovf
expect_err "abs.ovf' refers to '$T/x/data.vmdk', an absolute path: refused" "the message names the OVF, the disk and why"
check "no bundle is left" test ! -e bad.envpack
mkova abs.ova absolute
expect_exit 2 "an OVA naming a disk by an absolute path" packova -o bad.envpack vm:ova:abs.ova
expect_err "refers to '$T/x/data.vmdk', an absolute path: refused" "the message names the disk and why"
check "no bundle and no temporary copy is left" sh -c "test ! -e bad.envpack && test -z \"\$(ls ovatmp)\""
printf '<?xml version="1.0"?><!DOCTYPE Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]><Envelope>&x;</Envelope>' > hostile/xxe.ovf
expect_exit 2 "an OVF with an external entity" "$E" pack -q -o bad.envpack vm:ovf:hostile/xxe.ovf
expect_err "DOCTYPE" "the message says so"
mkdir units && sed 's|>byte \* 2^20<|>byte * 2^20x<|' x/web.ovf >units/web.ovf
check "the descriptor's memory is in 'byte * 2^20x' now" grep -q '>byte \* 2^20x<' units/web.ovf
expect_exit 2 "an OVF whose memory units are malformed" "$E" pack -q -o bad.envpack vm:ovf:units/web.ovf
expect_err "units/web.ovf'.*rasd:AllocationUnits 'byte \* 2\^20x'" "the message names the file and the field"
finish
