#!/usr/bin/env bash
# Writes a tiny UEFI-bootable raw disk for the tests of UEFI machines (#16):
#
#     mkuefiboot.sh OUT.raw TAG
#
# Booted with OVMF (qemu-system-x86_64, pc or q35, TCG is enough), the
# firmware finds the EFI system partition's removable-media path
# EFI/BOOT/BOOTX64.EFI, a GRUB image whose embedded script sets up COM1 at
# 115200 baud, writes the line
#
#     ENVPACK-UEFI-OK TAG
#
# to it, and sleeps (a day: the test stops qemu long before). Only GRUB's
# serial terminal writes the line: with `terminal_output serial console` OVMF
# copies its console to the same port and the two copies arrive interleaved,
# a character of each in turn. A BIOS finds no boot code (the protective
# MBR's is zeroes) and never prints the marker, so a test of UEFI can fail.
# TAG is 1-40 characters of [A-Za-z0-9._-], as tests/tools/mkboot.py takes it.
# OUT must not exist.
#
# The parts, all Debian 12 packages (scripts/deps.sh installs them):
#   - grub-efi-amd64-bin (and grub-common's grub-mkimage): a GRUB EFI image
#     of four modules (serial, terminal, echo, sleep) with the script built
#     in (-c): the kernel runs it with its rescue parser before it would
#     load normal.mod, so nothing else is read from the disk. Chosen over
#     grub-mkstandalone, whose memdisk holds every module and whose grub.cfg
#     needs normal.mod and its dependencies (several MiB);
#   - gdisk's sgdisk: the GPT (protective MBR, both headers), with fixed
#     GUIDs so that the same tag gives the same bytes;
#   - dosfstools' mkfs.fat --offset and mtools' mmd/mcopy -i FILE@@OFFSET: the
#     FAT file system written into the partition of the image file, as any
#     user, with no loop device or mount.
#
# The disk: 8 MiB, GPT, one partition from 1 MiB to 7 MiB (type EF00, the
# EFI system partition) holding FAT12 and EFI/BOOT/BOOTX64.EFI (~470 KiB).
# Builds in well under a second; under TCG, OVMF reaches the marker in
# 5-10 s on this 2-core machine.
set -euo pipefail

me=mkuefiboot
die() { echo "$me: $*" >&2; exit "${2:-1}"; }

[ $# -eq 2 ] || die "usage: mkuefiboot.sh OUT.raw TAG" 2
out=$1 tag=$2
[[ $tag =~ ^[A-Za-z0-9._-]{1,40}$ ]] || die "tag '$tag': 1-40 characters of A-Z a-z 0-9 . _ -" 2
[ -e "$out" ] && die "$out exists"
for cmd in grub-mkimage sgdisk mkfs.fat mmd mcopy; do
	command -v "$cmd" >/dev/null 2>&1 || die "$cmd not found (scripts/deps.sh installs it)"
done
[ -f /usr/lib/grub/x86_64-efi/kernel.img ] || die "GRUB's x86_64-efi modules not found (install grub-efi-amd64-bin)"

# file times in UTC, fixed (mcopy takes SOURCE_DATE_EPOCH)
export TZ=UTC SOURCE_DATE_EPOCH=946684800 MTOOLS_SKIP_CHECK=1
work=$(mktemp -d "${TMPDIR:-/tmp}/$me.XXXXXX")
tmp=$out.tmp$$
trap 'rm -rf "$work" "$tmp"' EXIT

cat >"$work/boot.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_output serial
echo ENVPACK-UEFI-OK $tag
sleep 86400
EOF
grub-mkimage -O x86_64-efi -p /EFI/BOOT -c "$work/boot.cfg" -o "$work/BOOTX64.EFI" serial terminal echo sleep
touch -d "@$SOURCE_DATE_EPOCH" "$work/BOOTX64.EFI"

truncate -s 8M "$tmp"
# (no -q: with it, gdisk 1.0.9's sgdisk writes the headers but not the partition)
sgdisk -U 454e5650-4143-4b00-8000-000000000001 -n 1:2048:14335 -t 1:ef00 -c 1:ESP \
	-u 1:454e5650-4143-4b00-8000-000000000002 "$tmp" >/dev/null
mkfs.fat -n ESP --invariant --offset 2048 -h 2048 "$tmp" 6144 >/dev/null 2>&1 || die "mkfs.fat failed"
# the protective MBR's boot code: tests/tools/mkboot.py's, which prints the BIOS marker
python3 "$(dirname "$0")/mkboot.py" -s 1M "$work/bios.raw" "$tag" >/dev/null
dd if="$work/bios.raw" of="$tmp" bs=440 count=1 conv=notrunc status=none
mmd -i "$tmp@@1M" ::/EFI ::/EFI/BOOT
mcopy -m -i "$tmp@@1M" "$work/BOOTX64.EFI" ::/EFI/BOOT/
mv "$tmp" "$out"
