# Disk formats, judged by qemu-img: qcow2 images of every kind qemu-img makes are
# read exactly (qemu-img compare), qcow2 images envpack writes pass qemu-img check,
# a bundle round trip gives what convert gives, and malformed images are refused.
source "$(dirname "$0")/../lib.sh"
cd "$T" || exit 1
same() { qemu-img compare -q "$@" >/dev/null 2>&1; }

# a raw source: data at scattered offsets, text and random, a size that is no cluster multiple
truncate -s $((200 * 1048576 + 3 * 512)) src.raw
head -c 3000000 /dev/urandom | dd of=src.raw bs=1M seek=7 conv=notrunc status=none
head -c 200000 /usr/share/common-licenses/GPL-3 | dd of=src.raw bs=512 seek=100001 conv=notrunc status=none
head -c 700 /dev/urandom | dd of=src.raw bs=512 seek=$((200 * 2048 + 1)) conv=notrunc status=none
truncate -s 64M zero.raw

qemu-img convert -f raw -O qcow2 -o cluster_size=512 src.raw c512.qcow2
qemu-img convert -f raw -O qcow2 -o cluster_size=4k src.raw c4k.qcow2
qemu-img convert -f raw -O qcow2 src.raw c64k.qcow2
qemu-img convert -f raw -O qcow2 -o cluster_size=2M src.raw c2m.qcow2
qemu-img convert -f raw -O qcow2 -o compat=0.10 src.raw v2.qcow2
qemu-img convert -c -f raw -O qcow2 src.raw deflate.qcow2
qemu-img convert -c -f raw -O qcow2 -o compression_type=zstd src.raw zstd.qcow2
qemu-img convert -f raw -O qcow2 -o extended_l2=on,cluster_size=128k src.raw extl2.qcow2
qemu-img convert -f raw -O qcow2 zero.raw allzero.qcow2
qemu-img create -q -f qcow2 huge.qcow2 2T
qemu-io -c "write -P 0x5a 1T 1M" -c "write -P 0x6b 2047G 64k" huge.qcow2 >/dev/null
cp c64k.qcow2 zeroclusters.qcow2
qemu-io -c "write -z 7M 1M" -c "write -z 150M 2M" zeroclusters.qcow2 >/dev/null
qemu-img create -q -f qcow2 base.qcow2 200M
qemu-io -c "write -P 0x11 0 3M" -c "write -P 0x12 120M 1M" base.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2
qemu-io -c "write -P 0x21 1M 2M" mid.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2
qemu-io -c "write -P 0x31 1536k 64k" -c "write -z 120M 512k" top.qcow2 >/dev/null

images="c512 c4k c64k c2m v2 deflate zstd extl2 allzero huge zeroclusters top"
for img in $images; do
	expect_exit 0 "$img: convert to raw" "$ENVPACK" convert -q -O raw $img.qcow2 $img.raw
	check "$img: the raw copy equals the image (qemu-img compare)" same $img.qcow2 $img.raw
	expect_exit 0 "$img: convert to qcow2" "$ENVPACK" convert -q -O qcow2 $img.qcow2 $img.out.qcow2
	check "$img: the qcow2 copy equals the image" same $img.qcow2 $img.out.qcow2
	check "$img: qemu-img check finds no error or leak in it" qemu-img check -q $img.out.qcow2
done
check "raw to qcow2 keeps holes holes" test "$(stat -c %s huge.out.qcow2)" -lt 5000000
expect_exit 0 "raw source to qcow2" "$ENVPACK" convert -q -O qcow2 src.raw fromraw.qcow2
check "raw to qcow2 is exact" same src.raw fromraw.qcow2
check "raw to qcow2 passes qemu-img check" qemu-img check -q fromraw.qcow2
expect_exit 0 "raw source to compressed qcow2 (-c)" "$ENVPACK" convert -q -c -O qcow2 src.raw compressed.qcow2
check "-c output is exact" same src.raw compressed.qcow2
check "-c output passes qemu-img check (refcounts of shared clusters right)" qemu-img check -q compressed.qcow2
check "-c output holds compressed clusters" sh -c "qemu-img check compressed.qcow2 | grep -q '[1-9][0-9.]*% compressed clusters'"
check "-c output is smaller where the data compresses" test "$(stat -c %s compressed.qcow2)" -lt "$(stat -c %s fromraw.qcow2)"
expect_exit 0 "-c from a compressed source" "$ENVPACK" convert -q -c -O qcow2 deflate.qcow2 recompressed.qcow2
check "recompressed output is exact and clean" sh -c "qemu-img compare -q deflate.qcow2 recompressed.qcow2 && qemu-img check -q recompressed.qcow2"
expect_exit 2 "-c is refused for raw" "$ENVPACK" convert -q -c -O raw src.raw nope.raw
expect_exit 2 "convert never overwrites" "$ENVPACK" convert -q -O qcow2 src.raw fromraw.qcow2
expect_err "exists" "the refusal says the output exists"

# through a bundle: the same result as convert
"$ENVPACK" keygen -o k >/dev/null
expect_exit 0 "pack qcow2 images (a chain, compressed, 2 TiB)" "$ENVPACK" pack -q -k k.key -o q.envpack \
	disk:top.qcow2 disk:zstd.qcow2 disk:huge.qcow2
expect_exit 0 "inspect names the source format" "$ENVPACK" inspect q.envpack
check "inspect says qcow2" grep -q "qcow2 from top.qcow2" "$T/out"
expect_exit 0 "restore as qcow2" "$ENVPACK" restore -q -p k.pub --format qcow2 q.envpack --to dir:asq
expect_exit 0 "restore as raw" "$ENVPACK" restore -q -p k.pub q.envpack --to dir:asraw
for img in top zstd huge; do
	check "$img: restored qcow2 equals the source" same $img.qcow2 asq/$img.qcow2
	check "$img: restored qcow2 equals convert's output" same $img.out.qcow2 asq/$img.qcow2
	check "$img: restored qcow2 passes qemu-img check" qemu-img check -q asq/$img.qcow2
	check "$img: restored raw equals the source" same $img.qcow2 asraw/$img.raw
done
check "the 2 TiB restore stays small" test "$(du -k asraw/huge.raw | cut -f1)" -lt 10000

# a raw image that starts like a qcow2 header is what the user says it is
printf 'QFI\373\000\000\000\003' >looks.raw
truncate -s 1M looks.raw
expect_exit 2 "probing takes qcow2 magic for qcow2 (and finds it broken)" "$ENVPACK" pack -q -o l.envpack disk:looks.raw
expect_exit 0 "--format raw packs it as raw" "$ENVPACK" pack -q --format raw -o l.envpack disk:looks.raw
"$ENVPACK" restore -q --insecure-skip-verify l.envpack --to dir:l
check "and restores it byte for byte" cmp looks.raw l/looks.raw

# malformed images: exit 2, the file and the field named, no crash
patch() { # patch IN OUT OFFSET STRUCT-FORMAT VALUE
	python3 -c 'import struct,sys; d=bytearray(open(sys.argv[1],"rb").read()); struct.pack_into(sys.argv[4], d, int(sys.argv[3]), int(sys.argv[5], 0)); open(sys.argv[2],"wb").write(d)' "$@"
}
refused() { # refused NAME IMAGE PATTERN
	expect_exit 2 "$1: refused" "$ENVPACK" convert -q -O raw "$2" bad.raw
	expect_err "$3" "$1: the message names the problem"
	expect_err "$2" "$1: the message names the file"
	check "$1: no output left" test ! -e bad.raw
}
head -c 50 c64k.qcow2 >trunc.qcow2
refused "a truncated header" trunc.qcow2 "header|truncated"
patch c64k.qcow2 bits.qcow2 20 '>I' 30
refused "cluster_bits out of range" bits.qcow2 "cluster_bits 30"
patch c64k.qcow2 l1size.qcow2 36 '>I' 0xffffffff
refused "an L1 size that overflows" l1size.qcow2 "l1_size"
patch c64k.qcow2 l1off.qcow2 40 '>Q' 0x7fff0000000000
refused "an L1 table past the end" l1off.qcow2 "l1_table_offset"
l1=$(python3 -c 'import struct; print(struct.unpack_from(">Q", open("c64k.qcow2","rb").read(), 40)[0])')
patch c64k.qcow2 l2off.qcow2 "$l1" '>Q' 0x80007fff00000000
refused "an L2 table past the end" l2off.qcow2 "L2 table offset"
patch c64k.qcow2 crypt.qcow2 32 '>I' 2
refused "an encrypted image" crypt.qcow2 "encrypted"
patch c64k.qcow2 feature.qcow2 72 '>Q' 0x100
refused "an unknown incompatible feature" feature.qcow2 "incompatible"
zcluster=$(python3 -c '
import struct
d = open("zstd.qcow2", "rb").read()
bits, l1 = struct.unpack_from(">I", d, 20)[0], struct.unpack_from(">Q", d, 40)[0]
l2 = struct.unpack_from(">Q", d, l1)[0] & 0x00fffffffffffe00
for i in range(1 << (bits - 3)):
    e = struct.unpack_from(">Q", d, l2 + 8 * i)[0]
    if e >> 62 & 1:  # compressed: the host offset is the low 62 - (cluster_bits - 8) bits
        print(e & ((1 << (62 - (bits - 8))) - 1))
        break')
patch zstd.qcow2 zbad.qcow2 "$zcluster" '>I' 0x12345678
refused "a compressed cluster that is no zstd frame" zbad.qcow2 "compressed cluster at 0x[0-9a-f]+ .* does not decompress: Unknown frame descriptor"
qemu-img create -q -f qcow2 -o data_file=ext.data ext.qcow2 10M
refused "an external data file" ext.qcow2 "external data file"
mkdir -p sub
qemu-img create -q -f qcow2 -b ../base.qcow2 -F qcow2 sub/up.qcow2
refused "a backing file outside the image's directory" sub/up.qcow2 "outside its own directory"
qemu-img create -q -f qcow2 -b "$T/base.qcow2" -F qcow2 abs.qcow2
refused "an absolute backing path" abs.qcow2 "absolute path"
expect_exit 0 "--allow-dir permits it" "$ENVPACK" convert -q -O raw --allow-dir "$T" abs.qcow2 abs.raw
qemu-img create -q -f qcow2 loopa.qcow2 10M
qemu-img create -q -f qcow2 -u -b loopa.qcow2 -F qcow2 loopb.qcow2 10M
qemu-img rebase -q -u -f qcow2 -b loopb.qcow2 -F qcow2 loopa.qcow2
refused "a backing-chain loop" loopa.qcow2 "loops"
qemu-img create -q -f qcow2 -u -b gone.qcow2 -F qcow2 orphan.qcow2 10M
refused "a missing backing file" orphan.qcow2 "gone.qcow2"
ln -s /dev/zero devlink.raw
qemu-img create -q -f qcow2 -u -b devlink.raw -F raw dev.qcow2 10M
refused "a backing file that is a device" dev.qcow2 "outside its own directory|not a regular file"
finish
