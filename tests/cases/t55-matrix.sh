# Every reader x every writer: qemu-img makes the inputs, envpack converts each
# into every format it writes, and qemu-img compare judges each result.
source "$(dirname "$0")/../lib.sh"
cd "$T" || exit 1
truncate -s $((96 * 1048576 + 1536)) src.raw
head -c 2500000 /dev/urandom | dd of=src.raw bs=1M seek=3 conv=notrunc status=none
head -c 150000 /usr/share/common-licenses/GPL-3 | dd of=src.raw bs=512 seek=150001 conv=notrunc status=none
head -c 4096 /dev/urandom | dd of=src.raw bs=512 seek=$((96 * 2048 - 5)) conv=notrunc status=none

# inputs: NAME:QEMU-FORMAT:OPTIONS (qemu-img arguments joined by +)
inputs="raw:raw: qcow2:qcow2: qcow2-zstd:qcow2:-c+-o+compression_type=zstd vhd-dynamic:vpc:-o+force_size=on
vhd-fixed:vpc:-o+subformat=fixed,force_size=on vhd-chs:vpc:
vmdk-stream:vmdk:-o+subformat=streamOptimized vmdk-sparse:vmdk:-o+subformat=monolithicSparse
vmdk-zeroed:vmdk:-o+zeroed_grain=on vmdk-flat:vmdk:-o+subformat=monolithicFlat
vmdk-2gb:vmdk:-o+subformat=twoGbMaxExtentSparse vmdk-2gbflat:vmdk:-o+subformat=twoGbMaxExtentFlat
vhdx-dynamic:vhdx: vhdx-fixed:vhdx:-o+subformat=fixed vhdx-4k:vhdx:-o+log_size=1M,block_size=1M"
for spec in $inputs; do
	IFS=: read -r name qfmt opts <<<"$spec"
	qemu-img convert -f raw -O "$qfmt" ${opts//+/ } src.raw "in-$name" || not_ok "qemu-img made no $name input"
done
# outputs: NAME:ENVPACK-FORMAT:SUBFORMAT:QEMU-FORMAT
outputs="raw:raw::raw qcow2:qcow2::qcow2 vhd-dynamic:vhd:dynamic:vpc vhd-fixed:vhd:fixed:vpc
vmdk-stream:vmdk:streamOptimized:vmdk vmdk-sparse:vmdk:monolithicSparse:vmdk vhdx:vhdx::vhdx"
for spec in $inputs; do
	IFS=: read -r in qfmt _ <<<"$spec"
	fmt=$qfmt
	[ "$fmt" = vpc ] && fmt=vhd
	for ospec in $outputs; do
		IFS=: read -r out efmt sub oq <<<"$ospec"
		args=(-q -f "$fmt" -O "$efmt")
		[ -n "$sub" ] && args+=(-o "subformat=$sub")
		expect_exit 0 "$in -> $out" "$ENVPACK" convert "${args[@]}" "in-$in" "out-$in-$out"
		check "$in -> $out: qemu-img compare says identical" \
			qemu-img compare -q -f "$qfmt" -F "$oq" "in-$in" "out-$in-$out"
		case $oq in qcow2 | vmdk | vhdx) check "$in -> $out: qemu-img check" qemu-img check -q "out-$in-$out" ;; esac
	done
done

check "a fixed VHD is a whole number of MiB plus its footer (Azure's rule)" \
	test $(($(stat -c %s out-raw-vhd-fixed) % 1048576)) = 512

# VMDKs split into 2 GiB extents, with data on both sides of each boundary
truncate -s 5G big.raw
for off in 2047 2048 4095; do
	head -c 1500000 /dev/urandom | dd of=big.raw bs=1M seek=$off conv=notrunc status=none
done
for sub in twoGbMaxExtentSparse twoGbMaxExtentFlat; do
	qemu-img convert -f raw -O vmdk -o subformat=$sub big.raw big-$sub.vmdk
	expect_exit 0 "$sub over 5 GiB: convert" "$ENVPACK" convert -q -O qcow2 big-$sub.vmdk big-$sub.qcow2
	check "$sub over 5 GiB: identical" qemu-img compare -q big.raw big-$sub.qcow2
done
check "the split images really have several extents" test "$(ls big-twoGbMaxExtentSparse-s*.vmdk | wc -l)" -ge 3

# restore writes the same formats
"$ENVPACK" keygen -o k >/dev/null
"$ENVPACK" pack -q -k k.key -o m.envpack disk:in-qcow2
expect_exit 0 "restore --format vhd" "$ENVPACK" restore -q -p k.pub --format vhd m.envpack --to dir:r
check "the restored VHD equals the source" qemu-img compare -q -f qcow2 -F vpc in-qcow2 r/in-qcow2.vhd
expect_exit 0 "restore --format vmdk" "$ENVPACK" restore -q -p k.pub --format vmdk m.envpack --to dir:rv
check "the restored VMDK (streamOptimized) equals the source" qemu-img compare -q in-qcow2 rv/in-qcow2.vmdk
check "it is streamOptimized" sh -c "qemu-img info rv/in-qcow2.vmdk | grep -q 'create type: streamOptimized'"
expect_exit 0 "restore --format vhdx" "$ENVPACK" restore -q -p k.pub --format vhdx m.envpack --to dir:rx
check "the restored VHDX equals the source" qemu-img compare -q in-qcow2 rx/in-qcow2.vhdx
expect_exit 2 "restore --format nonsense" "$ENVPACK" restore -q -p k.pub --format floppy m.envpack --to dir:r2
check "a refused format writes nothing" test ! -e r2

# malformed VHDs: exit 2 with the file and the problem named
vpatch() { # vpatch IN OUT OFFSET-FROM-END-OR-START STRUCT VALUE [fix-footer-checksum]
	python3 - "$@" <<'PY'
import struct, sys
src, dst, off, fmt, val = sys.argv[1:6]
d = bytearray(open(src, "rb").read())
off = int(off)
if off < 0:
    off += len(d)
struct.pack_into(fmt, d, off, int(val, 0))
if len(sys.argv) > 6:  # recompute both footers' checksums
    for base in (0, len(d) - 512):
        struct.pack_into(">I", d, base + 64, 0)
        struct.pack_into(">I", d, base + 64, ~sum(d[base:base + 512]) & 0xffffffff)
open(dst, "wb").write(d)
PY
}
refused() {
	expect_exit 2 "$1: refused" "$ENVPACK" convert -q -f vhd -O raw "$2" bad.raw
	expect_err "$3" "$1: the message names the problem"
	expect_err "$2" "$1: the message names the file"
}
vpatch in-vhd-dynamic sum.vhd -500 '>I' 0x12345678
refused "a footer checksum" sum.vhd "checksum"
vpatch in-vhd-dynamic type.vhd -452 '>I' 9 fix
refused "an unknown disk type" type.vhd "disk type 9"
vpatch in-vhd-dynamic diff.vhd -452 '>I' 4 fix
refused "a differencing disk without a parent locator" diff.vhd "no usable parent locator"

# differencing VHDs (qemu-img can't write them; tests/tools/vhd_diff.py makes one and the expected content)
mkdir -p vd/sub
truncate -s 20M vd/p.raw vd/c.raw
head -c 6000000 /dev/urandom | dd of=vd/p.raw bs=1M seek=1 conv=notrunc status=none
head -c 3000000 /dev/urandom | dd of=vd/c.raw bs=1M seek=2 conv=notrunc status=none
qemu-img convert -f raw -O vpc -o force_size=on vd/p.raw vd/parent.vhd
qemu-img convert -f raw -O vpc -o force_size=on vd/c.raw vd/child.vhd
python3 "$HERE/tools/vhd_diff.py" vd/parent.vhd vd/p.raw vd/child.vhd vd/c.raw vd/diff.vhd vd/expected.raw
expect_exit 0 "a differencing VHD reads through its parent" "$ENVPACK" convert -q -f vhd -O raw vd/diff.vhd vd/out.raw
check "it reads as the VHD rules say: child sectors by the bitmap, the rest from the parent" cmp vd/out.raw vd/expected.raw
check "and the test is not vacuous: the result differs from both inputs" sh -c "! cmp -s vd/expected.raw vd/p.raw && ! cmp -s vd/expected.raw vd/c.raw"
expect_exit 0 "a differencing VHD packs and restores" "$ENVPACK" pack -q -o vd/d.envpack disk:vd/diff.vhd
"$ENVPACK" restore -q --insecure-skip-verify vd/d.envpack --to dir:vd/r
check "the restored differencing disk is flattened exactly" cmp vd/r/diff.raw vd/expected.raw
python3 "$HERE/tools/vhd_diff.py" vd/diff.vhd vd/expected.raw vd/child.vhd vd/c.raw vd/loop.vhd vd/ignored.raw
python3 "$HERE/tools/vhd_diff.py" vd/loop.vhd vd/expected.raw vd/child.vhd vd/c.raw vd/loop.vhd vd/ignored.raw
refused "a differencing VHD whose parent is itself" vd/loop.vhd "loops"
cp vd/diff.vhd vd/sub/diff.vhd
refused "a differencing VHD whose parent is missing" vd/sub/diff.vhd "parent.vhd"

bat=$(python3 -c 'import struct; d=open("in-vhd-dynamic","rb").read(); print(struct.unpack_from(">Q", d, 512+16)[0])')
vpatch in-vhd-dynamic bat.vhd "$bat" '>I' 0x7fffffff
refused "a BAT entry outside the file" bat.vhd "BAT entry 0"
vpatch in-vhd-dynamic bsize.vhd $((512 + 32)) '>I' 3
refused "a dynamic header checksum" bsize.vhd "dynamic header checksum"
head -c 300 in-vhd-dynamic >short.vhd
refused "a file shorter than a footer" short.vhd "too short"
# malformed VMDKs
refused_vmdk() {
	expect_exit 2 "$1: refused" "$ENVPACK" convert -q -O raw "$2" bad.raw
	expect_err "$3" "$1: the message names the problem"
	expect_err "$2" "$1: the message names the file"
}
vpatch in-vmdk-sparse grain.vmdk 20 '<Q' 3
refused_vmdk "a grain size that is no power of two" grain.vmdk "grain size 3"
vpatch in-vmdk-sparse gd.vmdk 56 '<Q' 0x7fffffffff
refused_vmdk "a grain directory past the end" gd.vmdk "grain directory"
vpatch in-vmdk-sparse gtes.vmdk 44 '<I' 100000
refused_vmdk "numGTEsPerGT out of range" gtes.vmdk "numGTEsPerGT"
sed '/^RW/s/"[^"]*"/"..\/..\/etc\/passwd"/' in-vmdk-flat | tr -d '\000' >escape.vmdk
refused_vmdk "an extent outside the directory" escape.vmdk "outside its own directory"
sed '/^RW/s/"[^"]*"/"missing-flat.vmdk"/' in-vmdk-flat | tr -d '\000' >missing.vmdk
refused_vmdk "a descriptor naming a missing extent" missing.vmdk "missing-flat.vmdk"
sed 's/^RW \([0-9]*\)/RW 99\1/' in-vmdk-flat | tr -d '\000' >long.vmdk
refused_vmdk "a flat extent shorter than declared" long.vmdk "shorter than"
sed 's/parentCID=ffffffff/parentCID=12345678/' in-vmdk-flat | tr -d '\000' >delta.vmdk
refused_vmdk "a delta disk" delta.vmdk "parent"
head -c 300 in-vmdk-sparse >short.vmdk
refused_vmdk "a sparse VMDK cut inside its header" short.vmdk "header is truncated"
# qemu rewrites a shorter CID in place and leaves the old text's tail after the NUL
{ tr -d '\000' <in-vmdk-flat; printf '\000\000"\n'; } >stale-tail.vmdk
expect_exit 0 "a descriptor with text after its NUL reads as qemu reads it" \
	"$ENVPACK" convert -q -O raw stale-tail.vmdk stale-tail.raw
check "and holds the same data" cmp stale-tail.raw src.raw
# malformed qcow2: a version this reader does not know is refused, not packed as raw
for v in 1 99; do
	vpatch in-qcow2 v$v.qcow2 4 '>I' $v
	expect_exit 2 "qcow2 version $v: pack refuses it" "$ENVPACK" pack -q -o v$v.envpack disk:v$v.qcow2
	expect_err "'v$v.qcow2': qcow2 version $v is not supported" "qcow2 version $v: the message names the file and the version"
	check "qcow2 version $v: no bundle is written" sh -c "! ls -A | grep -q 'v$v\.envpack'"
done
# malformed VHDX: a header with a log to replay, both headers damaged, a BAT entry past the end
vxpatch() { # vxpatch IN OUT OFFSET STRUCT VALUE [CRC-OFFSET CRC-LENGTH]: patch, then fix a CRC-32C
	python3 - "$@" <<'PY'
import struct, sys
src, dst, off, fmt, val = sys.argv[1:6]
d = bytearray(open(src, "rb").read())
struct.pack_into(fmt, d, int(off), int(val, 0))
if len(sys.argv) > 6:
    start, length = int(sys.argv[6]), int(sys.argv[7])
    struct.pack_into("<I", d, start + 4, 0)
    crc = 0xffffffff
    for b in d[start:start + length]:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    struct.pack_into("<I", d, start + 4, crc ^ 0xffffffff)
open(dst, "wb").write(d)
PY
}
vxpatch in-vhdx-dynamic log1.vhdx $((65536 + 48)) '<Q' 0x1234 65536 4096
vxpatch log1.vhdx log.vhdx $((131072 + 48)) '<Q' 0x1234 131072 4096
refused_vmdk "a VHDX log to replay" log.vhdx "unreplayed"
vxpatch in-vhdx-dynamic h1.vhdx $((65536 + 20)) '<I' 7
vxpatch h1.vhdx heads.vhdx $((131072 + 20)) '<I' 7
refused_vmdk "both VHDX headers damaged" heads.vhdx "neither header"
bat=$(python3 -c '
import struct; d = open("in-vhdx-dynamic", "rb").read(); r = 192 * 1024
for i in range(struct.unpack_from("<I", d, r + 8)[0]):
    e = r + 16 + 32 * i
    if d[e:e + 4] == bytes.fromhex("6677c22d"): print(struct.unpack_from("<Q", d, e + 16)[0])')
vxpatch in-vhdx-dynamic batx.vhdx "$bat" '<Q' $(((1 << 40) | 6))
refused_vmdk "a VHDX BAT entry past the end" batx.vhdx "BAT entry 0"
finish
