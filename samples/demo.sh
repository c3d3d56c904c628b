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

step "a sample VM disk: sparse raw image with an ext4 file system"
"$here/make-disk.sh" "$out/web.raw" 256M

step "envpack keygen"
"$envpack" keygen -o "$out/demo"

step "envpack pack"
"$envpack" pack -k "$out/demo.key" -n web-demo -o "$out/web.envpack" \
	disk:"$out/web.raw" iac:"$here/terraform" iac:"$here/k8s"

step "envpack inspect"
"$envpack" inspect "$out/web.envpack"

step "envpack verify --deep"
"$envpack" verify -p "$out/demo.pub" --deep "$out/web.envpack"

step "envpack restore --dry-run, then restore"
"$envpack" restore -p "$out/demo.pub" --dry-run "$out/web.envpack" --to dir:"$out/restored"
"$envpack" restore -p "$out/demo.pub" "$out/web.envpack" --to dir:"$out/restored"

step "check the result"
cmp "$out/web.raw" "$out/restored/web.raw"
diff -r "$here/terraform" "$out/restored/terraform"
diff -r "$here/k8s" "$out/restored/k8s"
e2fsck -fn "$out/restored/web.raw" >/dev/null 2>&1
echo "disk identical (cmp), sparse: $(du -h "$out/restored/web.raw" | cut -f1) allocated of $(du -h --apparent-size "$out/restored/web.raw" | cut -f1);"
echo "file trees identical (diff -r); the restored ext4 file system checks clean (e2fsck)."
echo "demo OK: everything is in $out"
