#!/usr/bin/env bash
# usage: samples/make-disk.sh OUT.raw [SIZE]
# A sparse raw VM disk (default 256M) holding an ext4 file system with real files
# (licences, a few binaries, this sample's Terraform and Kubernetes code), made
# without mounting (mkfs.ext4 -d) and reproducibly (fixed UUID, hash seed, time).
set -euo pipefail
out=${1:?usage: make-disk.sh OUT.raw [SIZE]}
size=${2:-256M}
here=$(cd "$(dirname "$0")" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage" "$out.tmp"' EXIT

mkdir -p "$stage/etc" "$stage/usr/bin" "$stage/usr/share" "$stage/srv/app" "$stage/var/log" "$stage/home/ops"
cp /etc/os-release "$stage/etc/"
echo web-01 >"$stage/etc/hostname"
cp -r /usr/share/common-licenses "$stage/usr/share/"
for b in bash ls cat cp tar gzip sed grep; do cp "$(command -v $b)" "$stage/usr/bin/"; done
cp -r "$here/terraform" "$here/k8s" "$stage/srv/app/"
# an application log: compressible text, a few MiB
for i in $(seq 1 40000); do echo "2026-11-24T00:00:$((i % 60))Z web-01 nginx[42]: GET /api/items/$i 200 $((i * 7 % 5000))ms"; done >"$stage/var/log/access.log"
find "$stage" -exec touch -h -d @1700000000 {} +

truncate -s "$size" "$out.tmp"
E2FSPROGS_FAKE_TIME=1700000000 mkfs.ext4 -q -F -b 4096 -L envpack-sample \
	-U 0f8c6a52-2b7e-4d1e-9a39-3f6f2d7c9e10 \
	-E hash_seed=5c8f3e1d-5b2a-4e77-8d61-2a9b7f4c1e05,root_owner=0:0 \
	-d "$stage" "$out.tmp"
e2fsck -fn "$out.tmp" >/dev/null
mv "$out.tmp" "$out"
echo "$out: virtual $(du -h --apparent-size "$out" | cut -f1), allocated $(du -h "$out" | cut -f1)"
