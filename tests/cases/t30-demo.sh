# `make demo` end to end: the sample disk (ext4 with real files) and the sample
# Terraform and Kubernetes trees are packed, verified and restored exactly.
source "$(dirname "$0")/../lib.sh"
expect_exit 0 "samples/demo.sh" env DEMO_DIR="$T/demo" bash "$HERE/../samples/demo.sh"
check "the demo checked its own result" grep -q "demo OK" "$T/out"
check "the restored sample disk holds the sample files" \
	sh -c "qemu-img convert -O raw '$T/demo/libvirt/web.qcow2' '$T/web.raw' && debugfs -R 'cat /srv/app/terraform/k8s.tf' '$T/web.raw' 2>/dev/null | grep -q 'LoadBalancer'"
check "the bundle holds two machines, three disks and two trees" python3 -c '
import json, subprocess, sys
j = json.loads(subprocess.run([sys.argv[1], "inspect", "--json", sys.argv[2]], capture_output=True, check=True).stdout)
assert sorted(m["name"] for m in j["machines"]) == ["db", "web"], j["machines"]
assert sorted(c["type"] for c in j["components"]) == ["disk", "disk", "disk", "files", "files"], j["components"]' "$ENVPACK" "$T/demo/web.envpack"
check "each OVA holds one machine" sh -c "tar tf '$T/demo/web.ova' | head -1 | grep -qx web.ovf && tar tf '$T/demo/db.ova' | head -1 | grep -qx db.ovf"
finish
