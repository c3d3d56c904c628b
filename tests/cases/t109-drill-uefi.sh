# envpack drill of a UEFI machine: a libvirt domain whose firmware is OVMF (its <loader>),
# its disk a GPT disk whose EFI system partition holds a GRUB that prints ENVPACK-UEFI-OK
# (tests/tools/mkuefiboot.sh) and whose protective MBR's boot code prints ENVPACK-BOOT-OK,
# is backed up and drilled under TCG with Debian's OVMF: the UEFI marker appears, the
# BIOS one does not, and the same disk as a BIOS machine prints only the BIOS marker (a
# BIOS machine whose disk boots nothing fails at once). Without OVMF the drill fails
# saying what to install. libvirt's forms of UEFI read as uefi, SeaBIOS's rom loader as
# bios; restore --to libvirt: (--instant too) writes firmware='efi'.
# Secure Boot: libvirt's ways to say it on or off read as such (a bare firmware='efi' as
# unknown); a drill of a machine that had it boots OVMF's Secure Boot build with
# Microsoft's keys, which refuses the unsigned GRUB (the drill fails at once, saying so);
# restored to libvirt:, the domain asks for Secure Boot or for none, and a real libvirtd
# (tests/libvirt.sh) picks firmware for both, q35 and pc, and boots the one without it
# to the UEFI marker (left unsaid, libvirt would pick Secure Boot for q35, refusing GRUB).
source "$(dirname "$0")/../lib.sh"
source "$HERE/libvirt.sh"
cd "$T" || exit 1
E=$ENVPACK
export TMPDIR=$T/tmp # the drills' private directories (OVMF's variable store among them), checked for leftovers
mkdir -p "$TMPDIR" vm
"$E" keygen -o k >/dev/null
tag=t109-$RANDOM$RANDOM
# (this test's drills only: other tests may be drilling at the same time)
nothing_left() { test -z "$(ls "$TMPDIR")" && ! pgrep -f "$TMPDIR/envpack-drill" >/dev/null; }
xml() { python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); print(eval(sys.argv[2]))' "$@"; }

check "mkuefiboot.sh builds the disk" bash "$HERE/tools/mkuefiboot.sh" vm/uefi.raw "$tag"
check "a GPT with an EFI system partition" sh -c "sgdisk -p vm/uefi.raw | grep -qE '^ +1 +2048 +14335 .* EF00 '"

# domain NAME INSIDE [ATTRS]: a q35 machine with the disk on SATA; INSIDE goes in <os ATTRS>
domain() {
	cat <<EOF
<domain type='kvm'>
  <name>$1</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os${3:+ $3}>$2<type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='uefi.raw'/><target dev='sda' bus='sata'/><boot order='1'/></disk>
  </devices>
</domain>
EOF
}
pflash="<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader><nvram>/var/lib/libvirt/qemu/nvram/efi_VARS.fd</nvram>"
domain efi "$pflash" >vm/efi.xml
domain bios "" >vm/bios.xml

# 1. the reader: each of libvirt's ways to say UEFI, and a BIOS named as a loader
mkdir fw && truncate -s 1M fw/uefi.raw # packed in no time
firmware_of() { # firmware_of NAME INSIDE [ATTRS]: the firmware of the machine packed from that domain
	domain "$@" >"fw/$1.xml"
	"$E" pack -q -k k.key -o "$1.envpack" "vm:libvirt:fw/$1.xml" && "$E" inspect --json "$1.envpack" >"$1.json" &&
		jq_ 'd["machines"][0]["firmware"]' "$1.json"
}
check "a pflash <loader> is uefi" test "$(firmware_of f1 "$pflash")" = uefi
check "<os firmware='efi'> is uefi" test "$(firmware_of f2 "" "firmware='efi'")" = uefi
check "<os firmware='bios'> is bios, whatever the loader" test "$(firmware_of f6 "<loader>/usr/share/OVMF/OVMF_CODE.fd</loader>" "firmware='bios'")" = bios
check "a <loader> of OVMF without a type is uefi" test "$(firmware_of f3 "<loader>/usr/share/OVMF/OVMF_CODE.fd</loader>")" = uefi
check "SeaBIOS as a rom <loader> is bios" test "$(firmware_of f4 "<loader type='rom'>/usr/share/seabios/bios-256k.bin</loader>")" = bios
check "no firmware named is bios" test "$(firmware_of f5 "")" = bios
# Secure Boot: True, False, or None when the manifest says nothing (unknown)
sb() { jq_ 'd["machines"][0].get("secure_boot", None)' "$1.json"; }
sb_of() { firmware_of "$@" >/dev/null && sb "$1"; }
check "plain OVMF as a pflash <loader>: no Secure Boot" test "$(sb f1)" = False
check "a bare <os firmware='efi'> leaves it to the host's firmware list: unknown" test "$(sb f2)" = None
check "a BIOS machine has none" test "$(sb f5)" = None
sbon="<firmware><feature enabled='yes' name='enrolled-keys'/><feature enabled='yes' name='secure-boot'/></firmware>"
check "firmware feature secure-boot enabled: on" test "$(sb_of s1 "$sbon" "firmware='efi'")" = True
# (the other forms: tests/unit/test_libvirt.c)
expect_exit 0 "inspect" "$E" inspect s1.envpack
check "says so" grep -q "s1 .*uefi (Secure Boot), machine pc-q35-7.2" "$T/out"

# 2. the drill: OVMF boots the disk from the backup
expect_exit 0 "back up the UEFI machine" "$E" backup --init -q -k k.key st vm:libvirt:vm/efi.xml
start=$EPOCHREALTIME
"$E" drill -p k.pub --json st --expect-serial "ENVPACK-UEFI-OK $tag" --timeout 120 >d1.json 2>d1.err &
drill=$! vars=no
while kill -0 $drill 2>/dev/null; do # the guest's own copy of OVMF's variable store, while it runs
	compgen -G "$TMPDIR/envpack-drill-*/OVMF_VARS.fd" >/dev/null && vars=yes
	sleep 0.1
done
wait $drill
check "drill it: the UEFI marker on the serial console (exit 0)" test $? = 0
echo "# the UEFI drill took $(python3 -c "print(round($EPOCHREALTIME - $start, 1))") s"
check "the guest had its own copy of OVMF's variable store in the drill's directory" test $vars = yes
check "the record: machine efi passed, its console has the UEFI marker and not the BIOS one" python3 - d1.json "$tag" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
(m,) = d["machines"]
assert d["passed"] and m["name"] == "efi" and m["passed"] and m["rto_seconds"] > 0, d
assert ("ENVPACK-UEFI-OK " + sys.argv[2]) in m["console_tail"], m
assert "ENVPACK-BOOT-OK" not in m["console_tail"], m
PY
check "nothing is left running or on disk (OVMF's variable store included)" nothing_left

# 2b. the same disk on a machine that had Secure Boot: OVMF's Secure Boot build refuses GRUB
domain sb "$sbon" "firmware='efi'" >vm/sb.xml
expect_exit 0 "back up the disk as a Secure Boot machine" "$E" backup --init -q -k k.key sts vm:libvirt:vm/sb.xml
start=$EPOCHREALTIME
expect_exit 1 "a drill of it fails: the firmware enforces Secure Boot" "$E" drill -p k.pub --json sts --expect-serial "ENVPACK-UEFI-OK $tag" --timeout 120
echo "# the Secure Boot drill took $(python3 -c "print(round($EPOCHREALTIME - $start, 1))") s"
check "at once (UEFI waits for a key), saying Secure Boot refused the boot loader; OVMF's refusals on the console, no marker" python3 - out <<'PY'
import json, sys
(m,) = json.load(open(sys.argv[1]))["machines"]
assert m["failure"] == "UEFI found nothing it could boot (Secure Boot refused the boot loader: Access Denied)", m
assert not m["passed"] and "Access Denied" in m["console_tail"] and "Security Violation" in m["console_tail"], m
assert "ENVPACK-UEFI-OK" not in m["console_tail"], m
PY
check "nothing is left running or on disk" nothing_left

# 3. the same disk as a BIOS machine: SeaBIOS runs the MBR's code, never GRUB's EFI image
expect_exit 0 "back up the disk as a BIOS machine" "$E" backup --init -q -k k.key stb vm:libvirt:vm/bios.xml
expect_exit 0 "a drill of it sees the BIOS marker" "$E" drill -p k.pub --json stb --expect-serial "ENVPACK-BOOT-OK $tag" --timeout 120
check "and not the UEFI one" test "$(jq_ '"ENVPACK-UEFI-OK" in d["machines"][0]["console_tail"]' "$T/out")" = False
expect_exit 1 "so a drill for the UEFI marker fails" "$E" drill -q -p k.pub stb --expect-serial "ENVPACK-UEFI-OK $tag" --timeout 4
expect_err "bios: FAILED: timed out after 4 s" "naming the machine and why"
check "nothing is left running or on disk" nothing_left
expect_exit 1 "a BIOS machine whose disk boots nothing (f5's zeros) fails" "$E" drill -q -p k.pub f5.envpack --expect-serial "ENVPACK" --timeout 120
expect_err "^f5: FAILED: the guest powered off or rebooted \(a BIOS that finds no bootable disk reboots\)$" "at once, saying why"

# 4. no OVMF (hidden under an empty tmpfs in a mount namespace of the drill's own)
if unshare -m true 2>/dev/null; then
	expect_exit 1 "without OVMF the UEFI machine fails" unshare -m sh -c 'mount -t tmpfs none /usr/share/OVMF && exec "$@"' sh \
		"$E" drill -q -p k.pub st --expect-serial "ENVPACK-UEFI-OK $tag" --timeout 60
	expect_err "^efi: FAILED: machine 'efi' boots UEFI: cannot read '/usr/share/OVMF/OVMF_CODE.fd': No such file or directory \(apt-get install ovmf\)$" \
		"saying which file is missing and what to install"
	check "nothing is left running or on disk" nothing_left
	expect_exit 1 "nor a Secure Boot machine without its build" unshare -m sh -c 'mount -t tmpfs none /usr/share/OVMF && exec "$@"' sh \
		"$E" drill -q -p k.pub sts --expect-serial "ENVPACK-UEFI-OK $tag" --timeout 60
	expect_err "^sb: FAILED: machine 'sb' boots UEFI with Secure Boot: cannot read '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd'" \
		"naming that file"
else
	echo "# skipped: no mount namespace here (unshare -m), so OVMF cannot be hidden"
fi

# 5. restored to libvirt:, at once or copied: the domain says UEFI, and Secure Boot or none
features() { xml "$1" '[(f.get("name"), f.get("enabled")) for f in r.findall("os/firmware/feature")]'; }
expect_exit 0 "restore to libvirt:" "$E" restore -q -p k.pub st@latest --to libvirt:lv
check "the domain says firmware='efi'" test "$(xml lv/efi.xml 'r.find("os").get("firmware")')" = efi
check "and no Secure Boot, so libvirt picks a firmware without it" test "$(features lv/efi.xml)" = "[('secure-boot', 'no')]"
check "virt-xml-validate accepts it" virt-xml-validate lv/efi.xml domain
expect_exit 0 "restore the Secure Boot machine to libvirt:" "$E" restore -q -p k.pub sts@latest --to libvirt:lvs
check "its domain asks for Secure Boot with keys enrolled, on q35" \
	test "$(features lvs/sb.xml) $(xml lvs/sb.xml 'r.find("os/type").get("machine")')" = "[('enrolled-keys', 'yes'), ('secure-boot', 'yes')] q35"
check "virt-xml-validate accepts that one too" virt-xml-validate lvs/sb.xml domain
expect_exit 0 "both restored to hyperv:" sh -c '"$0" restore -q -p k.pub st@latest --to hyperv:hv && "$0" restore -q -p k.pub sts@latest --to hyperv:hvs' "$E"
check "the Hyper-V scripts set Secure Boot off and on (generation 2 has it on unless told)" \
	sh -c 'grep -q "^Set-VMFirmware .* -EnableSecureBoot Off$" hv/efi.ps1 && grep -q "^Set-VMFirmware .* -EnableSecureBoot On -SecureBootTemplate" hvs/sb.ps1'
expect_exit 0 "restore --instant to libvirt:" "$E" restore -q -p k.pub st@latest --to libvirt:ilv --instant
check "that domain says firmware='efi' too" test "$(xml ilv/efi.xml 'r.find("os").get("firmware")')" = efi
check "and no Secure Boot" test "$(features ilv/efi.xml)" = "[('secure-boot', 'no')]"
expect_exit 0 "restore --finish" "$E" restore --finish ilv
check "the disk is the backed-up one" qemu-img compare -q -f qcow2 -F raw ilv/uefi.qcow2 vm/uefi.raw

# 6. --set secure_boot= says what a source did not (a machine described by hand: pc, unknown)
expect_exit 0 "pack the disk as a UEFI machine by hand" "$E" pack -q -k k.key -o hand.envpack -n hand --firmware uefi disk:vm/uefi.raw
check "which says nothing of Secure Boot" sh -c '"$0" inspect --json hand.envpack >hand.json' "$E"
check "(unknown)" test "$(sb hand)" = None
expect_exit 0 "restore it with --set secure_boot=no" "$E" restore -q -p k.pub hand.envpack --set secure_boot=no --to libvirt:lvp
check "its domain: pc, no Secure Boot" test "$(features lvp/hand.xml) $(xml lvp/hand.xml 'r.find("os/type").get("machine")')" = "[('secure-boot', 'no')] pc"
expect_exit 2 "--set secure_boot= takes yes or no" "$E" restore -q -p k.pub hand.envpack --set secure_boot=maybe --to libvirt:x1
expect_err "secure_boot=maybe: yes or no" "saying so"
expect_exit 2 "--set secure_boot= on a BIOS machine is refused" "$E" restore -q -p k.pub stb@latest --set secure_boot=no --to libvirt:x2
expect_err "machine 'bios' boots BIOS, and Secure Boot is UEFI's" "naming the machine and why"
check "neither wrote anything" test ! -e x1 -a ! -e x2

# 7. a real libvirtd (9.0): picks firmware for each domain, and boots the one without Secure Boot
if [ "$(id -u)" != 0 ]; then
	echo "# skipped: a private libvirtd needs root"
	finish
	exit 0
fi
if [ -n "${EP_SANITIZER_PASS:-}" ]; then # libvirt boots what envpack wrote: once is enough
	finish
	exit 0
fi
libvirt_start || { not_ok "libvirtd starts: see above"; finish; exit 1; }
chmod 711 "$T" # libvirt's qemu runs as root here, but the path is walked all the same
serial_log() { # serial_log XML LOG: the console also into LOG, so the test can read it
	python3 - "$@" <<'PY'
import sys, xml.etree.ElementTree as E
t = E.parse(sys.argv[1])
E.SubElement(t.getroot().find("devices/serial"), "log", file=sys.argv[2], append="off")
t.write(sys.argv[1])
PY
}
loader() { virsh dumpxml "$1" | sed -n "s/.*<loader[^>]*>\(.*\)<\/loader>.*/\1/p"; }
serial_log lv/efi.xml "$T/efi.console"
check "the restored q35 domain without Secure Boot is defined" virsh -q define lv/efi.xml
check "and starts" virsh -q start efi
check "on OVMF without Secure Boot" test "$(loader efi)" = /usr/share/OVMF/OVMF_CODE_4M.fd
# (while it boots) libvirt finds firmware for the others, and starts them
check "the Secure Boot domain is defined" virsh -q define lvs/sb.xml
check "and starts" virsh -q start sb
check "on OVMF's Secure Boot build with Microsoft's keys, SMM on" \
	sh -c 'test "$(virsh dumpxml sb | grep -cE "secure=.yes.*OVMF_CODE_4M.ms.fd|template=./usr/share/OVMF/OVMF_VARS_4M.ms.fd|<smm state=.on./>")" = 3'
virsh -q destroy sb >/dev/null
check "the pc domain without Secure Boot is defined" virsh -q define lvp/hand.xml
check "and starts" virsh -q start hand
check "on OVMF without Secure Boot too" test "$(loader hand)" = /usr/share/OVMF/OVMF_CODE_4M.fd
virsh -q destroy hand >/dev/null
for i in $(seq 600); do grep -q "ENVPACK-UEFI-OK $tag" efi.console 2>/dev/null && break; sleep 0.1; done
check "the first boots GRUB to the UEFI marker" sh -c 'grep -q "$1" efi.console || { tr -d "\r" <efi.console | grep -a BdsDxe | tail -n 3; exit 1; }' sh "ENVPACK-UEFI-OK $tag"
virsh -q destroy efi >/dev/null
libvirt_stop
finish
