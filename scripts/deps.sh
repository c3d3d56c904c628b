#!/usr/bin/env bash
# Installs, on Debian 12 as root, whatever envpack's build and tests need and the
# machine lacks; prints nothing and changes nothing when all is there.
set -euo pipefail
missing=()
need_pkg() { pkg-config --exists "$1" 2>/dev/null || missing+=("$2"); }
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }

need_cmd pkg-config pkg-config
need_cmd cc gcc
need_cmd make make
need_pkg libarchive libarchive-dev
need_pkg libzstd libzstd-dev
need_pkg libcrypto libssl-dev
need_pkg libssl libssl-dev
need_pkg libcurl libcurl4-openssl-dev
need_pkg jansson libjansson-dev
need_pkg zlib zlib1g-dev
need_pkg libxml-2.0 libxml2-dev
need_pkg yaml-0.1 libyaml-dev
need_cmd zstd zstd
need_cmd openssl openssl
need_cmd python3 python3
python3 -c 'import yaml' >/dev/null 2>&1 || missing+=(python3-yaml)
python3 -c 'import botocore' >/dev/null 2>&1 || missing+=(python3-botocore)
need_cmd tar tar
need_cmd script bsdutils
need_cmd groff groff-base
[ -x /usr/bin/time ] || missing+=(time)
need_cmd mkfs.ext4 e2fsprogs
need_cmd qemu-img qemu-utils
need_cmd qemu-system-x86_64 qemu-system-x86
need_cmd virt-xml-validate libvirt-clients
need_cmd xmllint libxml2-utils # virt-xml-validate runs it; libvirt-clients does not depend on it
# live VM backups (#15, #16): a private libvirtd (tests/libvirt.sh) running TCG guests, its
# pull-mode backup jobs read over NBD; the vm:domain: source links libvirt and libnbd
[ -x /usr/sbin/libvirtd ] && [ -x /usr/sbin/virtlogd ] || missing+=(libvirt-daemon)
ls /usr/lib/*/libvirt/connection-driver/libvirt_driver_qemu.so >/dev/null 2>&1 || missing+=(libvirt-daemon-driver-qemu)
need_cmd virsh libvirt-clients
need_pkg libvirt libvirt-dev
need_pkg libnbd libnbd-dev
command -v nbdinfo >/dev/null 2>&1 && command -v nbdcopy >/dev/null 2>&1 || missing+=(libnbd-bin)
need_cmd nbdkit nbdkit
need_cmd virtnbdbackup virtnbdbackup # the peer of bench/live.sh
need_pkg nbdkit nbdkit-plugin-dev
need_cmd skopeo skopeo
need_cmd umoci umoci
[ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
need_cmd htpasswd apache2-utils
need_cmd curl curl
# envpack drill's tests (#16): tests/tools/mkhttpguest.sh builds a guest disk that answers HTTP
# from Debian's kernel (its modules too), busybox-static (only the static one runs without a
# C library; it replaces Debian's other busybox), cpio, and syslinux on a FAT partition
ls /boot/vmlinuz-*-amd64 /lib/modules/*/modules.dep >/dev/null 2>&1 || missing+=(linux-image-amd64)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || missing+=(busybox-static)
need_cmd cpio cpio
need_cmd syslinux syslinux
[ -f /usr/lib/syslinux/mbr/mbr.bin ] || missing+=(syslinux-common)
need_cmd mcopy mtools
need_cmd mkfs.fat dosfstools
# UEFI machines (#16): drill/guest.c boots them with Debian's OVMF; tests/tools/mkuefiboot.sh
# builds their test disk: a GPT (sgdisk) whose EFI system partition holds a GRUB EFI image
[ -f /usr/share/OVMF/OVMF_CODE.fd ] && [ -f /usr/share/OVMF/OVMF_VARS.fd ] || missing+=(ovmf)
[ -f /usr/lib/grub/x86_64-efi/kernel.img ] && command -v grub-mkimage >/dev/null 2>&1 || missing+=(grub-efi-amd64-bin)
need_cmd sgdisk gdisk
# DR drill reports (#16): headless Chromium judges the HTML page (tests/tools/html_dom.sh, t98)
need_cmd chromium chromium
need_cmd clang clang
# the store: restic judges forget's policy (t100); restic and borg are the peers of bench/backup.sh
need_cmd restic restic
need_cmd borg borgbackup
need_cmd flock util-linux
# S3 tests: Debian's awscli 2 (the `aws` of a pip or pyenv install does not count) and botocore
[ -x /usr/bin/aws ] || missing+=(awscli)
/usr/bin/python3 -c 'import botocore' >/dev/null 2>&1 || missing+=(python3-botocore)
# openstack: tests: Debian's Glance and Keystone, run standalone by /usr/bin/python3 (tests/openstack.sh)
/usr/bin/python3 -c 'import glance.cmd.api' >/dev/null 2>&1 || missing+=(python3-glance)
/usr/bin/python3 -c 'import keystone.server.flask' >/dev/null 2>&1 || missing+=(python3-keystone)
# encryption at rest: an independent reader of sealed objects (tests/tools/open_sealed.py)
/usr/bin/python3 -c 'import cryptography' >/dev/null 2>&1 || missing+=(python3-cryptography)
# a real S3 implementation (#17): a one-node Ceph cluster, radosgw over a mon and a memstore OSD
# (tests/radosgw.sh); radosgw-admin and the ceph CLI come with ceph-common, monmaptool with ceph-base
need_cmd radosgw radosgw
need_cmd ceph-mon ceph-mon
need_cmd ceph-osd ceph-osd
need_cmd radosgw-admin ceph-common
need_cmd monmaptool ceph-base
need_cmd setpriv util-linux
need_cmd node nodejs
need_cmd npm npm
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || missing+=(libclang-rt-14-dev)

# npm_tool PACKAGE@VERSION PREFIX FILE: a test tool from npm, project-local under build/
# (`make clean` removes it, the next run puts it back), each in a prefix of its own: an
# `npm install --no-save` prunes what an earlier one put in the same prefix. FILE, under
# PREFIX/node_modules, says it is there.
# s3rver: tests/s3.sh; Azurite, Microsoft's storage emulator: tests/azure.sh; HashiCorp's
# HCL parser (hcl2 built to wasm): tests/tools/judge_rewrite.py.
npm_tool() {
	local root
	root=$(cd "$(dirname "$0")/.." && pwd)
	[ -e "$root/$2/node_modules/$3" ] && return 0
	echo "installing: $1 (npm, in $2)" >&2
	mkdir -p "$root/$2"
	npm install --prefix "$root/$2" --no-audit --no-fund --no-save --loglevel=error "$1" >/dev/null
}
npm_tools() {
	npm_tool s3rver@3.7.1 build/node .bin/s3rver
	npm_tool azurite@3.34.0 build/node/azurite .bin/azurite-blob
	npm_tool @cdktf/hcl2json@0.21.0 build/node/hcl2json @cdktf/hcl2json/package.json
}

if [ ${#missing[@]} -eq 0 ]; then
	npm_tools
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "envpack needs these Debian packages: ${missing[*]} (run as root: apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
npm_tools
