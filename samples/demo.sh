#!/usr/bin/env bash
# make demo: the main job on samples/ — make a key, pack the sample disk and the
# Terraform and Kubernetes trees into one signed bundle, verify it, restore it to
# dir:, and check that everything came back exactly.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
envpack=${ENVPACK:-$here/../envpack}
out=${DEMO_DIR:-$(cd "$here/.." && pwd)/build/demo}
rm -rf "$out"
mkdir -p "$out"
step() { printf '\n== %s\n' "$*"; }

step "two sample VMs: libvirt domains (samples/vms) with their disks"
mkdir -p "$out/vms"
cp "$here/vms/web.xml" "$here/vms/db.xml" "$out/vms/"
"$here/make-disk.sh" "$out/web.raw" 256M
qemu-img convert -O qcow2 "$out/web.raw" "$out/vms/web.qcow2"
"$here/make-disk.sh" "$out/db.raw" 128M
qemu-img convert -O qcow2 "$out/db.raw" "$out/vms/db.qcow2"
truncate -s 64M "$out/vms/db-data.raw"
printf 'the database files\n' | dd of="$out/vms/db-data.raw" bs=1M seek=8 conv=notrunc status=none

step "envpack keygen"
"$envpack" keygen -o "$out/demo"

step "envpack pack: both machines, their disks, the Terraform and Kubernetes code"
"$envpack" pack -k "$out/demo.key" -n web-demo -o "$out/web.envpack" \
	vm:libvirt:"$out/vms/web.xml" vm:libvirt:"$out/vms/db.xml" iac:"$here/terraform" iac:"$here/k8s"

step "envpack inspect"
"$envpack" inspect "$out/web.envpack"

step "envpack verify --deep"
"$envpack" verify -p "$out/demo.pub" --deep "$out/web.envpack"

step "envpack restore --dry-run, then restore to libvirt: (domains, qcow2 disks, the code)"
"$envpack" restore -p "$out/demo.pub" --dry-run "$out/web.envpack" --to libvirt:"$out/libvirt"
"$envpack" restore -p "$out/demo.pub" "$out/web.envpack" --to libvirt:"$out/libvirt"

step "each machine as an OVA (VMware, VirtualBox)"
"$envpack" restore -p "$out/demo.pub" --only web "$out/web.envpack" --to ova:"$out/web.ova"
"$envpack" restore -p "$out/demo.pub" --only db "$out/web.envpack" --to ova:"$out/db.ova"
tar tvf "$out/db.ova"

step "check the result"
qemu-img compare -q "$out/vms/web.qcow2" "$out/libvirt/web.qcow2"
qemu-img compare -q "$out/vms/db.qcow2" "$out/libvirt/db.qcow2"
qemu-img compare -q -f raw "$out/vms/db-data.raw" "$out/libvirt/db-data.qcow2"
diff -r "$here/terraform" "$out/libvirt/terraform"
diff -r "$here/k8s" "$out/libvirt/k8s"
if command -v virt-xml-validate >/dev/null; then
	virt-xml-validate "$out/libvirt/web.xml" domain && virt-xml-validate "$out/libvirt/db.xml" domain
fi
mkdir "$out/ova-check" && tar xf "$out/web.ova" -C "$out/ova-check"
qemu-img compare -q "$out/vms/web.qcow2" "$out/ova-check/web.vmdk"
echo "disks identical (qemu-img compare) in libvirt: and in the OVA; file trees identical (diff -r);"
echo "the domains validate (virt-xml-validate)."
echo "demo OK: everything is in $out"
