#!/usr/bin/env bash
# Writes a tiny BIOS-bootable raw disk whose guest answers HTTP, for the tests of
# `envpack drill` (#16):
#
#     mkhttpguest.sh OUT.raw TAG [PORT]
#
# Booted in qemu-system-x86_64 -machine pc (TCG is enough) with an e1000 or a
# virtio-net NIC on slirp, the guest loads the NIC's driver, takes its address
# by DHCP (10.0.2.15), serves GET / on PORT (default 80) with busybox httpd -
# status 200, a body holding TAG - asks itself for that page, and only then
# writes the line
#
#     ENVPACK-HTTP-READY TAG
#
# to ttyS0 (which is also the kernel's console). It says what fails as
# "ENVPACK-HTTP-FAILED TAG: WHY" instead, and idles either way (PID 1 never
# exits: that would be a kernel panic). TAG is 1-40 characters of
# [A-Za-z0-9._-], as tests/tools/mkboot.py takes it. OUT must not exist.
#
# The parts, all Debian 12 packages (scripts/deps.sh installs them):
#   - linux-image-amd64: the distribution kernel, the newest in /boot that has
#     its modules; e1000 and virtio_net are modules there, so they and what
#     they depend on (modules.dep) go into the initramfs, loaded in order;
#   - busybox-static: the whole userland (sh, insmod, udhcpc, ifconfig,
#     httpd, wget), one static binary, no libraries to copy;
#   - cpio + gzip: the initramfs; the guest runs from it and never mounts
#     the disk, so the disk needs no driver;
#   - syslinux (+ syslinux-common's mbr.bin), mtools, dosfstools: the boot
#     loader on a FAT16 partition. Chosen because all of it works on an
#     image file, as any user, without a loop device or a mount (root only,
#     and a container may have no loop devices): mkfs.fat --offset writes
#     the file system into the partition, mcopy -i FILE@@OFFSET copies the
#     files in, and `syslinux --offset --install` (Debian's mtools-based
#     installer) writes its boot sector, ldlinux.sys and ldlinux.c32 there.
#     GRUB would need grub-install/grub-bios-setup on a block device (or
#     hand-patching its boot.img), extlinux a mounted file system.
#
# The disk: an MBR (syslinux's mbr.bin: boots the active partition), one
# active FAT16 partition (type 0x06) from 1 MiB to the end, holding vmlinuz,
# initrd.gz (busybox and 9 modules: 1.2 MiB), syslinux.cfg, ldlinux.sys and
# ldlinux.c32; sized for the kernel and initramfs plus 1 MiB, in whole MiB:
# 12 MiB with Debian 12's 8 MiB kernel.
#
# Under TCG on this 2-core machine it serves 11-14 s after qemu starts when the
# machine is lightly loaded (20-35 s under a load of 6): SeaBIOS and syslinux
# reading the files 2-4 s, the kernel until /init 5-8 s (most of it before its
# clock starts: unpacking its xz payload), /init to ready about 4 s, 2 of them
# waiting for e1000's link. Kernel options (nokaslr, mitigations=off,
# cryptomgr.notests) gained nothing measurable; linux-image-cloud-amd64 unpacks
# faster (LZ4) but has no e1000.
#
# Deterministic: the same kernel, busybox, syslinux and arguments give the
# same bytes (fixed time stamps, volume id, disk identifier, file order,
# gzip -n). It builds in 1-4 s, so nothing is cached.
set -euo pipefail

me=mkhttpguest
die() { echo "$me: $*" >&2; exit "${2:-1}"; }
usage() { die "usage: mkhttpguest.sh OUT.raw TAG [PORT]" 2; }

[ $# -ge 2 ] && [ $# -le 3 ] || usage
out=$1 tag=$2 port=${3:-80}
[[ $tag =~ ^[A-Za-z0-9._-]{1,40}$ ]] || die "tag '$tag': 1-40 characters of A-Z a-z 0-9 . _ -" 2
[[ $port =~ ^[1-9][0-9]{0,4}$ ]] && [ "$port" -le 65535 ] || die "port '$port': a number from 1 to 65535" 2
[ -e "$out" ] && die "$out exists"
for cmd in busybox cpio gzip mkfs.fat mcopy syslinux; do
	command -v "$cmd" >/dev/null 2>&1 || die "$cmd not found (scripts/deps.sh installs it)"
done
busybox=/bin/busybox
[ -x "$busybox" ] || die "$busybox not found (install busybox-static)"
# the initramfs has no C library: Debian's other busybox is linked against one
readelf -l "$busybox" 2>/dev/null | grep -q 'program interpreter' && die "$busybox is not the static one (install busybox-static)"
mbr=/usr/lib/syslinux/mbr/mbr.bin
[ -f "$mbr" ] || die "$mbr not found (install syslinux-common)"

# the kernel: the newest vmlinuz in /boot whose modules are installed
kver=
for k in $(ls /boot/vmlinuz-* 2>/dev/null | sort -V); do
	v=${k#/boot/vmlinuz-}
	[ -f "/lib/modules/$v/modules.dep" ] && kver=$v
done
[ -n "$kver" ] || die "no kernel in /boot with modules in /lib/modules (install linux-image-amd64)"
mods=/lib/modules/$kver

# one time stamp for every file, in UTC: FAT keeps local times, and none before 1980
# (syslinux --install copies its files with mcopy, which takes SOURCE_DATE_EPOCH)
export TZ=UTC SOURCE_DATE_EPOCH=946684800 # 2000-01-01
stamp=$SOURCE_DATE_EPOCH
work=$(mktemp -d "${TMPDIR:-/tmp}/$me.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,etc,www,lib/modules}
cp "$busybox" "$root/bin/busybox"

# each module after the ones it needs, each once (modules.dep lists a module's
# dependencies, all of them, without an order we can rely on)
declare -A seen=()
order=()
add_module() { # add_module PATH (relative to $mods, as modules.dep names it)
	local rel=$1 line dep
	[ -z "${seen[$rel]:-}" ] || return 0
	seen[$rel]=1
	line=$(grep -m1 -F "$rel:" "$mods/modules.dep" | grep "^$rel:") || die "$rel: not in $mods/modules.dep"
	for dep in ${line#*:}; do add_module "$dep"; done
	order+=("$rel")
}
# e1000 for -device e1000 (qemu's pc default), virtio_net and virtio_pci for virtio-net-pci
for name in e1000 virtio_pci virtio_net; do
	rel=$(grep -oE "^[^:]*/$name\.ko(\.xz|\.zst|\.gz)?:" "$mods/modules.dep" | head -n1) ||
		die "module $name not found in $mods/modules.dep"
	[ -n "$rel" ] || die "module $name not found in $mods/modules.dep"
	add_module "${rel%:}"
done
: >"$root/etc/modules"
for rel in "${order[@]}"; do
	base=${rel##*/}
	base=${base%%.ko*}
	case $rel in # busybox insmod takes plain modules only
	*.ko) cp "$mods/$rel" "$root/lib/modules/$base.ko" ;;
	*.ko.xz) xz -dc "$mods/$rel" >"$root/lib/modules/$base.ko" ;;
	*.ko.zst) zstd -qdc "$mods/$rel" >"$root/lib/modules/$base.ko" ;;
	*.ko.gz) gzip -dc "$mods/$rel" >"$root/lib/modules/$base.ko" ;;
	esac
	echo "$base" >>"$root/etc/modules"
done

printf 'TAG=%s\nPORT=%s\n' "$tag" "$port" >"$root/etc/guest.conf"
printf '<html><body>ENVPACK-HTTP-GUEST %s</body></html>\n' "$tag" >"$root/www/index.html"

cat >"$root/etc/udhcpc.sh" <<'EOF'
#!/bin/sh
# udhcpc's hook: configures the interface with what the DHCP server gave
case $1 in
bound | renew)
	ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
	[ -z "$router" ] || route add default gw "${router%% *}" dev "$interface"
	;;
esac
exit 0
EOF

cat >"$root/init" <<'EOF'
#!/bin/busybox sh
# PID 1 of the HTTP guest (tests/tools/mkhttpguest.sh)
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
. /etc/guest.conf
say() { echo "envpack-guest: $*" >/dev/ttyS0; }
fail() {
	echo "ENVPACK-HTTP-FAILED $TAG: $*" >/dev/ttyS0
	while :; do sleep 3600; done
}
for m in $(cat /etc/modules); do
	insmod "/lib/modules/$m.ko" 2>/dev/null || say "insmod $m failed"
done
ifconfig lo 127.0.0.1 up
# the first interface that is not lo (drivers probe as insmod runs; wait a little anyway)
nic=
for _ in $(seq 50); do
	for d in /sys/class/net/*; do
		[ "${d##*/}" = lo ] || { nic=${d##*/}; break; }
	done
	[ -n "$nic" ] && break
	sleep 0.1
done
[ -n "$nic" ] || fail "no network interface (an e1000 or virtio-net NIC?)"
ifconfig "$nic" up
# e1000 reports its link some 2 s after it is up: a DHCP request sent before that is
# lost, and udhcpc would wait out its timeout before the next
for _ in $(seq 100); do
	[ "$(cat "/sys/class/net/$nic/carrier" 2>/dev/null)" = 1 ] && break
	sleep 0.1
done
udhcpc -i "$nic" -s /etc/udhcpc.sh -n -q -t 10 -T 1 >/dev/null 2>&1 || fail "no DHCP lease on $nic"
say "$nic $(ifconfig "$nic" | sed -n 's/.*inet addr:\([0-9.]*\).*/\1/p')"
httpd -p "$PORT" -h /www || fail "httpd did not start on port $PORT"
# ready means served: ask for the page as a client would
for _ in $(seq 50); do
	if wget -q -O - "http://127.0.0.1:$PORT/" 2>/dev/null | grep -q "ENVPACK-HTTP-GUEST $TAG<"; then
		echo "ENVPACK-HTTP-READY $TAG" >/dev/ttyS0
		while :; do sleep 3600; done
	fi
	sleep 0.1
done
fail "httpd does not answer on port $PORT"
EOF
chmod 755 "$root/init" "$root/etc/udhcpc.sh" "$root/bin/busybox"

# the initramfs: fixed times and owners, sorted names, no gzip time stamp
find "$root" -exec touch -h -d "@$stamp" {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) |
	gzip -9n >"$work/initrd.gz"

cat >"$work/syslinux.cfg" <<'EOF'
DEFAULT guest
PROMPT 0
TIMEOUT 0
LABEL guest
	KERNEL /vmlinuz
	INITRD /initrd.gz
	APPEND console=ttyS0,115200 quiet panic=-1
EOF
cp "/boot/vmlinuz-$kver" "$work/vmlinuz"
touch -d "@$stamp" "$work/vmlinuz" "$work/initrd.gz" "$work/syslinux.cfg"

# the disk: 1 MiB for the MBR, then the partition, sized for the files plus 1 MiB
files=$(du -b -c "$work/vmlinuz" "$work/initrd.gz" | tail -n1 | cut -f1)
part_mib=$(((files + (1 << 20) - 1) / (1 << 20) + 1))
size=$(((1 + part_mib) << 20))
tmp=$out.tmp$$
trap 'rm -rf "$work" "$tmp"' EXIT
truncate -s "$size" "$tmp"
dd if="$mbr" of="$tmp" bs=440 count=1 conv=notrunc status=none
# the partition table, written here rather than by sfdisk, which draws a random disk
# identifier: at 440 the identifier ("ENVP"), 446 the one entry (active, CHS fields
# saturated as for any disk past 8 GiB: the MBR code reads by LBA), 510 the signature
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
printf "ENVP\\0\\0\\x80\\xfe\\xff\\xff\\x06\\xfe\\xff\\xff$(le32 2048)$(le32 $((part_mib * 2048)))" |
	dd of="$tmp" bs=1 seek=440 conv=notrunc status=none
printf '\x55\xaa' | dd of="$tmp" bs=1 seek=510 conv=notrunc status=none
# FAT16, hidden sectors = the partition's start (the boot sector finds itself by it)
mkfs.fat -F 16 -n ENVPACK --invariant --offset 2048 -h 2048 "$tmp" $((part_mib * 1024)) >/dev/null
export MTOOLS_SKIP_CHECK=1
mcopy -m -i "$tmp@@1M" "$work/vmlinuz" "$work/initrd.gz" "$work/syslinux.cfg" ::/
syslinux --offset $((1 << 20)) --install "$tmp"
mv "$tmp" "$out"
