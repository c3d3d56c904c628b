# `make demo` end to end: the sample disk (ext4 with real files) and the sample
# Terraform and Kubernetes trees are packed, verified and restored exactly.
source "$(dirname "$0")/../lib.sh"
expect_exit 0 "samples/demo.sh" env DEMO_DIR="$T/demo" bash "$HERE/../samples/demo.sh"
check "the demo checked its own result" grep -q "demo OK" "$T/out"
check "the restored sample disk holds the sample files" \
	sh -c "debugfs -R 'cat /srv/app/terraform/k8s.tf' '$T/demo/restored/web.raw' 2>/dev/null | grep -q 'LoadBalancer'"
check "the bundle lists the three components" sh -c "'$ENVPACK' inspect --json '$T/demo/web.envpack' | grep -c '\"type\"' | grep -qx 3"
finish
