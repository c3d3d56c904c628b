# A restored disk boots: tests/tools/mkboot.py writes BIOS-bootable disks that
# print "ENVPACK-BOOT-OK TAG" on COM1, and QEMU (TCG) boots them from every
# format envpack restores and converts to. A disk with no boot sector must not
# boot, so the judge can fail. virt-xml-validate, the judge of the domain XML
# the VM targets will write, works offline and rejects a broken domain.
source "$(dirname "$0")/../lib.sh"
source "$HERE/boot.sh"
cd "$T" || exit 1
not() { ! "$@"; }

# two disks with their own tags (unique to this run), data beyond the boot sector
run=$RANDOM$RANDOM
tag_d=t80-d-$run
tag_e=t80-e-$run
check "mkboot writes a 64 MiB disk" mkboot d.raw "$tag_d" --data 3
check "mkboot writes a second disk (32 MiB)" mkboot e.raw "$tag_e" -s 32M --data 2
check "the disk is sparse" test "$(du -k d.raw | cut -f1)" -lt 8192
check "the disk is 64 MiB" test "$(stat -c %s d.raw)" = 67108864
check "sector 0 ends with 55 AA" test "$(od -An -tx1 -j510 -N2 d.raw | tr -d ' ')" = 55aa
expect_exit 2 "mkboot refuses a tag with a space" python3 "$BOOT_MKBOOT" x.raw "a b"
expect_exit 1 "mkboot never overwrites without --force" python3 "$BOOT_MKBOOT" d.raw "$tag_d"

check "raw: the disk boots and prints its tag" boot_disk d.raw raw "$tag_d"
check "raw: the second disk boots and prints its tag" boot_disk e.raw raw "$tag_e"
check "the judge fails on another disk's tag" not boot_disk d.raw raw "$tag_e" 10

# the negative controls: no boot sector, or no 55 AA signature: no marker
cp --sparse=always d.raw zero.raw
dd if=/dev/zero of=zero.raw bs=512 count=1 conv=notrunc status=none
check "a zeroed boot sector does not boot (10 s)" not boot_disk zero.raw raw "$tag_d" 10
check "the BIOS read that disk and found it not bootable" grep -q "not a bootable disk" "$BOOT_DIR/bios.log"
cp --sparse=always d.raw nosig.raw
printf '\0\0' | dd of=nosig.raw bs=1 seek=510 conv=notrunc status=none
check "a boot sector without 55 AA does not boot (10 s)" not boot_disk nosig.raw raw "$tag_d" 10

# through a bundle: qcow2 source, restored in every format envpack writes
qemu-img convert -f raw -O qcow2 d.raw d.qcow2
"$ENVPACK" keygen -o k >/dev/null
expect_exit 0 "pack the qcow2 disk and the raw one" "$ENVPACK" pack -q -k k.key -o b.envpack disk:d.qcow2 disk:e.raw
for spec in raw:raw qcow2:qcow2 vmdk:vmdk vhdx:vhdx vhd:vpc; do
	IFS=: read -r fmt qfmt <<<"$spec"
	args=(-q -p k.pub b.envpack --to "dir:out-$fmt")
	[ "$fmt" = raw ] || args+=(--format "$fmt")
	expect_exit 0 "restore as $fmt" "$ENVPACK" restore "${args[@]}"
	check "restored $fmt: d equals the source (qemu-img compare)" qemu-img compare -q -F "$qfmt" d.raw "out-$fmt/d.$fmt"
	sum=$(sha256sum <"out-$fmt/d.$fmt")
	check "restored $fmt: d boots and prints its tag" boot_disk "out-$fmt/d.$fmt" "$qfmt" "$tag_d"
	check "restored $fmt: e boots and prints its tag" boot_disk "out-$fmt/e.$fmt" "$qfmt" "$tag_e"
	check "restored $fmt: booting left the disk unchanged" test "$(sha256sum <"out-$fmt/d.$fmt")" = "$sum"
done
check "restored vmdk is streamOptimized" grep -aq 'createType="streamOptimized"' out-vmdk/d.vmdk

# the subformats restore does not write by default, through envpack convert
for spec in vmdk:monolithicSparse:vmdk vhd:fixed:vpc; do
	IFS=: read -r fmt sub qfmt <<<"$spec"
	expect_exit 0 "convert to $fmt $sub" "$ENVPACK" convert -q -O "$fmt" -o "subformat=$sub" d.qcow2 "d-$sub.$fmt"
	check "$fmt $sub boots" boot_disk "d-$sub.$fmt" "$qfmt" "$tag_d"
done
expect_exit 0 "convert to compressed qcow2" "$ENVPACK" convert -q -c -O qcow2 d.raw d-c.qcow2
check "compressed qcow2 boots" boot_disk d-c.qcow2 qcow2 "$tag_d"

# the domain XML judge
xml=$HERE/data/domain-minimal.xml
validate() { virt-xml-validate "$@" >"$T/vxv.out" 2>&1; }
check "virt-xml-validate accepts the minimal domain (offline)" validate "$xml"
check "virt-xml-validate says it validates" grep -q "domain-minimal.xml validates" "$T/vxv.out"
sed 's|</devices>|  <frobnicate/>\n  </devices>|' "$xml" >unknown.xml
check "virt-xml-validate rejects an unknown element" not validate unknown.xml
check "virt-xml-validate says it fails to validate" grep -q "unknown.xml fails to validate" "$T/vxv.out"
sed "s|bus='virtio'|bus='frob'|" "$xml" >badbus.xml
check "virt-xml-validate rejects an unknown disk bus" not validate badbus.xml
finish
