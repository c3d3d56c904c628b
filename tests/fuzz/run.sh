#!/usr/bin/env bash
# Builds the libFuzzer targets (make fuzz) and runs each for a short time, seeded
# from a bundle the real binary packs, then replays tests/fuzz/regressions/.
# Prints "RESULT passed failed"; skips (0 0) when clang's fuzzer runtime is missing.
set -u
seconds=${1:-10}
cd "$(dirname "$0")/../.."
if ! command -v clang >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
	echo "skip - clang's libFuzzer runtime is not installed"
	echo "RESULT 0 0"
	exit 0
fi
passed=0
failed=0
if ! make -s fuzz >build/fuzz-build.log 2>&1; then
	echo "FAIL - make fuzz: $(tail -n 5 build/fuzz-build.log)"
	echo "RESULT 0 1"
	exit 0
fi
seeds=build/fuzz/seeds
rm -rf "$seeds" && mkdir -p "$seeds/bundle" "$seeds/manifest" "$seeds/qcow2" "$seeds/vhd" "$seeds/vmdk" "$seeds/vhdx" "$seeds/oci" "$seeds/docker_archive" "$seeds/image_describe" "$seeds/registry" "$seeds/vmdef" "$seeds/hcl" "$seeds/k8s" "$seeds/ec2" "$seeds/openstack" "$seeds/store" "$seeds/rewrite" "$seeds/s3_versions" "$seeds/azure_pages"
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
"${ENVPACK:-./envpack}" keygen -o "$w/k" >/dev/null
mkdir -p "$w/tree/d"
echo "resource x {}" >"$w/tree/main.tf"
ln -s ../main.tf "$w/tree/d/l"
cp samples/k8s/nginx-deployment.yaml "$w/tree/d/" # so that the manifest seed holds an inventory
truncate -s 8M "$w/d.raw"
head -c 20000 /usr/share/common-licenses/GPL-3 | dd of="$w/d.raw" bs=64K seek=3 conv=notrunc status=none
"${ENVPACK:-./envpack}" pack -q -k "$w/k.key" -o "$seeds/bundle/seed.envpack" disk:"$w/d.raw" iac:"$w/tree"
tar xOf "$seeds/bundle/seed.envpack" manifest.json >"$seeds/manifest/seed.json"
# a disk whose extents are in list chunks (extent_lists)
sed 's/"extents":\[.*\]}\]\(,"machines"\|}\)/"extent_lists":[["'"$(printf %064d 0)"'",1234]]}]\1/' "$seeds/manifest/seed.json" >"$seeds/manifest/lists.json"
# ... and with its list chunk's content after a NUL, which fuzz_manifest reads as that chunk
python3 - "$seeds/manifest/seed.json" "$seeds/manifest/lists-read.json" <<'PY'
import hashlib, json, sys
m = json.load(open(sys.argv[1]))
disk = m["components"][0]
piece = json.dumps(disk.pop("extents"), separators=(",", ":")).encode()
disk["extent_lists"] = [[hashlib.sha256(piece).hexdigest(), len(piece)]]
open(sys.argv[2], "wb").write(json.dumps(m, separators=(",", ":")).encode() + b"\0" + piece)
PY
"${ENVPACK:-./envpack}" pack -q -k "$w/k.key" --encrypt-to tests/fuzz/sealed.pub -o "$seeds/bundle/sealed.envpack" disk:"$w/d.raw" iac:"$w/tree"
# a store of two snapshots of the same disk, the second after a change, as fuzz_store reads
# its input: config.json, a lock record, the first snapshot's signature, both manifests and
# the first snapshot's first chunk, NUL-separated
cp "$w/d.raw" "$w/s.raw"
"${ENVPACK:-./envpack}" backup -q --init -k "$w/k.key" --tag nightly "dir:$w/store" disk:"$w/s.raw"
head -c 3000 /usr/share/common-licenses/GPL-2 | dd of="$w/s.raw" bs=64K seek=40 conv=notrunc status=none
SOURCE_DATE_EPOCH=1700003600 "${ENVPACK:-./envpack}" backup -q -k "$w/k.key" --host other "dir:$w/store" disk:"$w/s.raw"
python3 - "$w/store" "$seeds/store" <<'PY'
import glob, json, socket, sys
store, out = sys.argv[1:]
host = socket.gethostname() # a record of this host, whose holder is gone: released as stale
read = lambda p: open(p, "rb").read()
snaps = sorted(glob.glob(f"{store}/snapshots/*.json"), key=lambda p: json.loads(read(p))["snapshot"]["sequence"])
a, b = (read(p) for p in snaps)
sig = read(snaps[0][:-5] + ".sig")
digest = json.loads(a)["components"][0]["extents"][0]["chunks"][0][0]
chunk = read(f"{store}/chunks/{digest[:2]}/{digest}.zst")
config = read(f"{store}/config.json")
dead = json.dumps({"host": host, "pid": 999999999, "command": "backup", "exclusive": False, "time": 1700000000}).encode()
alive = json.dumps({"host": "elsewhere", "pid": 1, "command": "prune", "exclusive": True, "time": 0}).encode()
open(f"{out}/two", "wb").write(b"\0".join([config, dead, sig, a, b, chunk]))
open(f"{out}/one", "wb").write(b"\0".join([config, alive, sig, a, b"", chunk]))
open(f"{out}/unsigned", "wb").write(b"\0".join([config, b"", b"", b, b"", b""]))
# a store with Object Lock (STORE.md section 10): its policy, and a snapshot recording its floor
c = json.loads(config)
c["object_lock"] = {"days": 30, "mode": "compliance"}
m = json.loads(b)
m["snapshot"]["object_lock"] = {"mode": "compliance", "retain_until": "2026-12-14T03:00:00Z"}
open(f"{out}/locked", "wb").write(b"\0".join([json.dumps(c).encode(), b"", b"", json.dumps(m).encode(), b"", b""]))
open(f"{out}/../manifest/locked.json", "wb").write(json.dumps(m).encode())
PY
# small qcow2 images of several kinds, made by qemu-img
for opts in "cluster_size=512" "cluster_size=4k,compat=0.10" "cluster_size=16k,extended_l2=on"; do
	qemu-img create -q -f qcow2 -o "$opts" "$w/q.qcow2" 1M
	qemu-io -c "write -P 0x41 0 8k" -c "write -z 64k 4k" "$w/q.qcow2" >/dev/null
	cp "$w/q.qcow2" "$seeds/qcow2/$opts.qcow2"
done
qemu-img convert -c -f raw -O qcow2 -o cluster_size=4k "$w/d.raw" "$seeds/qcow2/compressed.qcow2"
qemu-img convert -f raw -O vpc "$w/d.raw" "$seeds/vhd/dynamic.vhd"
qemu-img convert -f raw -O vpc -o subformat=fixed "$w/d.raw" "$seeds/vhd/fixed.vhd"
for sub in streamOptimized monolithicSparse; do
	qemu-img convert -f raw -O vmdk -o subformat=$sub "$w/d.raw" "$seeds/vmdk/$sub.vmdk"
done
qemu-img create -q -f vmdk -o subformat=monolithicFlat "$seeds/vmdk/flat.vmdk" 1M
rm -f "$seeds/vmdk/flat-flat.vmdk"
qemu-img create -q -f vhdx -o log_size=1M,block_size=1M "$w/x.vhdx" 4M
qemu-io -c "write -P 0x41 0 8k" -f vhdx "$w/x.vhdx" >/dev/null
cp "$w/x.vhdx" "$seeds/vhdx/dynamic.vhdx"
printf '%s' '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' >"$seeds/oci/index.json"
if command -v umoci >/dev/null && command -v skopeo >/dev/null; then
	umoci init --layout "$w/l" >/dev/null && umoci new --image "$w/l:t" >/dev/null &&
		skopeo copy -q "oci:$w/l:t" "docker-archive:$seeds/docker_archive/empty.tar:x/y:1" || true
	# what inspect reads of them: an index, its manifest and config; a docker manifest.json and config
	python3 - "$w/l" "$seeds/docker_archive/empty.tar" "$seeds/image_describe" <<'PY' || true
import json, sys, tarfile
layout, archive, out = sys.argv[1:]
blob = lambda d: open(f"{layout}/blobs/sha256/{d['digest'][7:]}", "rb").read()
top = json.load(open(f"{layout}/index.json"))["manifests"][0]
manifest = blob(top); config = blob(json.loads(manifest)["config"])
index = json.dumps({"schemaVersion": 2, "manifests": [dict(top, platform={"os": "linux", "architecture": "arm64", "variant": "v8"})]}).encode()
open(f"{out}/index", "wb").write(b"\0".join([index, manifest, config]))
with tarfile.open(archive) as t:
    m = t.extractfile("manifest.json").read()
    open(f"{out}/archive", "wb").write(m + b"\0" + t.extractfile(json.loads(m)[0]["Config"]).read())
PY
fi
printf '%s' '127.0.0.1:5000/team/app:v1' >"$seeds/registry/ref"
printf '%s' 'reg.example/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef' >"$seeds/registry/digest"
printf '%s' 'Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"' >"$seeds/registry/bearer"
printf '%s' 'Basic realm="a\"b"' >"$seeds/registry/basic"
cp tests/data/domain-minimal.xml "$seeds/vmdef/" 2>/dev/null
printf '%s' "<domain type='kvm'><name>vm</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os firmware='efi'><type machine='q35'>hvm</type></os><devices><disk type='file' device='disk'><driver type='raw'/><source file='disk.raw'/><target dev='vda' bus='virtio'/><boot order='1'/></disk><interface type='network'><mac address='52:54:00:00:00:01'/><source network='n'/><model type='virtio'/></interface></devices></domain>" >"$seeds/vmdef/domain.xml"
printf '%s' '<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"><References><File ovf:href="disk.raw" ovf:id="f1"/></References><DiskSection><Disk ovf:diskId="d1" ovf:fileRef="f1" ovf:capacity="4"/></DiskSection><VirtualSystem ovf:id="vm"><VirtualHardwareSection><Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item><Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>64</rasd:VirtualQuantity></Item><Item><rasd:HostResource>ovf:/disk/d1</rasd:HostResource><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>17</rasd:ResourceType></Item></VirtualHardwareSection></VirtualSystem></Envelope>' >"$seeds/vmdef/envelope.ovf"
cp samples/terraform/*.tf "$seeds/hcl/"
printf 'provider "registry.terraform.io/hashicorp/google" {\n  version = "5.40.0"\n  hashes = [\n    "h1:x=",\n  ]\n}\n' >"$seeds/hcl/lock.hcl"
printf 'x = <<-EOT\n  a ${b} "c"\n  EOT\ny = "${ {a = "}"}["a"] } $${z}"\n/* c */ # d\n' >"$seeds/hcl/strings.tf"
printf 'resource "kubernetes_manifest" "m" {\n  manifest = { spec = { containers = [{ "image" = "nginx:1" }, { image = "quay.io/a/b" }] } }\n}\nresource "aws_ecs_task_definition" "t" {\n  container_definitions = jsonencode([{ image = "redis" }])\n}\nresource "aws_ecs_task_definition" "u" {\n  container_definitions = <<-EOF\n    [{"cpu": ${var.cpu}, "image": "quay.io/x/y:1"}]\n  EOF\n}\nresource "helm_release" "h" {\n  set {\n    name  = "image.repository"\n    value = "bitnami/nginx"\n  }\n  set {\n    name  = "image.registry"\n    value = "docker.io"\n  }\n}\n' >"$seeds/hcl/images.tf"
cp samples/k8s/*.yaml "$seeds/k8s/"
printf -- '---\napiVersion: batch/v1\nkind: CronJob\nx: &a {image: x}\nspec: {jobTemplate: {spec: {template: {spec: {containers: [{<<: *a}, *a]}}}}}\n' >"$seeds/k8s/alias.yaml"
cp samples/k8s/*.yaml "$seeds/rewrite/"
printf 'global:\n  imageRegistry: quay.io\nimage:\n  registry: docker.io\n  repository: bitnami/nginx\n  tag: "1.25"\nx: {image: &a "nginx:1", y: [*a, {image: {repository: quay.io/a/b}}]}\n' >"$seeds/rewrite/values.yaml"
printf 'apiVersion: v1\nitems:\n- kind: Pod\n  spec: {containers: [{"image": docker.io/nginx}]}\nkind: List\n---\nkind: CustomResourceDefinition\nspec: {image: nginx}\n' >"$seeds/rewrite/list.yaml"
printf 'images:\n- name: nginx\n  newName: quay.io/x/nginx\n' >"$seeds/rewrite/kustomization.yaml"
printf '%s' '<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate</Message></Error></Errors></Response>' >"$seeds/ec2/error.xml"
printf '%s' '<DescribeImportImageTasksResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><importImageTaskSet><item><importTaskId>import-ami-1</importTaskId><status>completed</status><statusMessage>done</statusMessage><imageId>ami-0123</imageId></item></importImageTaskSet></DescribeImportImageTasksResponse>' >"$seeds/ec2/image.xml"
printf '%s' '<DescribeImportSnapshotTasksResponse><importSnapshotTaskSet><item><importTaskId>import-snap-1</importTaskId><snapshotTaskDetail><status>deleted</status><statusMessage>ClientError: x</statusMessage></snapshotTaskDetail></item></importSnapshotTaskSet></DescribeImportSnapshotTasksResponse>' >"$seeds/ec2/snapshot.xml"
printf '%s' '<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><imagesSet><item><imageId>ami-1</imageId><architecture>x86_64</architecture><name>web</name><platformDetails>Linux/UNIX</platformDetails><bootMode>uefi</bootMode></item></imagesSet></DescribeImagesResponse>' >"$seeds/ec2/images.xml"
printf '%s' '<DescribeInstancesResponse><reservationSet><item><instancesSet><item><instanceId>i-1</instanceId><instanceType>t3.micro</instanceType><tagSet><item><key>Name</key><value>db</value></item></tagSet><currentInstanceBootMode>legacy-bios</currentInstanceBootMode></item></instancesSet></item></reservationSet></DescribeInstancesResponse>' >"$seeds/ec2/instances.xml"
printf '%s' '<DescribeInstanceTypesResponse><instanceTypeSet><item><instanceType>t3.micro</instanceType><vCpuInfo><defaultVCpus>2</defaultVCpus></vCpuInfo><memoryInfo><sizeInMiB>1024</sizeInMiB></memoryInfo></item></instanceTypeSet></DescribeInstanceTypesResponse>' >"$seeds/ec2/types.xml"
printf '%s' '{"token":{"catalog":[{"type":"image","endpoints":[{"interface":"public","region":"RegionOne","url":"http://127.0.0.1:9292"},{"interface":"internal","region":"RegionTwo","url":"https://glance.internal/"}]},{"type":"orchestration","endpoints":[{"interface":"public","region":"RegionOne","url":"http://127.0.0.1:8004/v1/p"}]}]}}' >"$seeds/openstack/token.json"
# a page of ListObjectVersions as radosgw answers it: a version, a delete marker, truncated
printf '%s' '<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>locked</Name><Prefix>dr/</Prefix><KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><NextKeyMarker>dr/snapshots/b.json</NextKeyMarker><NextVersionIdMarker>3sL4kqtJlcpXroDTDmJ-rmSpXd3dIbrH</NextVersionIdMarker><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated><Version><Key>dr/config.json</Key><VersionId>Dzi0HxSSNdwbBAcCZrAOfU1ZGq0Mu5i</VersionId><IsLatest>true</IsLatest><LastModified>2026-12-07T11:49:50.123Z</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>263</Size><StorageClass>STANDARD</StorageClass></Version><DeleteMarker><Key>dr/snapshots/b.json</Key><VersionId>3sL4kqtJlcpXroDTDmJ-rmSpXd3dIbrH</VersionId><IsLatest>true</IsLatest><LastModified>2026-12-07T11:50:01.000Z</LastModified></DeleteMarker></ListVersionsResult>' >"$seeds/s3_versions/page.xml"
printf '%s' '<?xml version="1.0" encoding="utf-8"?><PageList><PageRange><Start>0</Start><End>65535</End></PageRange><PageRange><Start>1048576</Start><End>2097151</End></PageRange><ClearRange><Start>2097152</Start><End>4194303</End></ClearRange><NextMarker>2!104!MDAwMDE0</NextMarker></PageList>' >"$seeds/azure_pages/page.xml"
for target in bundle manifest qcow2 vhd vmdk vhdx oci docker_archive image_describe registry vmdef hcl k8s ec2 openstack store rewrite s3_versions azure_pages; do
	corpus=build/fuzz/corpus-$target
	mkdir -p "$corpus"
	regress=tests/fuzz/regressions/$target
	if [ -d "$regress" ] && ls "$regress"/* >/dev/null 2>&1; then
		if TMPDIR="$w" build/fuzz/fuzz_$target -runs=0 "$regress"/* >"$w/replay.log" 2>&1; then
			echo "ok   - fuzz_$target replays its regression inputs"
			passed=$((passed + 1))
		else
			echo "FAIL - fuzz_$target regression replay: $(grep -m1 ERROR "$w/replay.log")"
			failed=$((failed + 1))
		fi
	fi
	if TMPDIR="$w" build/fuzz/fuzz_$target -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=$([ $target = vhdx ] && echo 4194304 || echo 131072) \
		-artifact_prefix="$w/" "$corpus" "$seeds/$target" >"$w/fuzz.log" 2>&1; then
		echo "ok   - fuzz_$target ran ${seconds}s: $(grep -o 'cov: [0-9]*' "$w/fuzz.log" | tail -n 1)"
		passed=$((passed + 1))
	else
		echo "FAIL - fuzz_$target: $(grep -m1 -A3 ERROR "$w/fuzz.log")"
		mkdir -p build/fuzz/crashes && cp "$w"/crash-* "$w"/leak-* "$w"/timeout-* build/fuzz/crashes/ 2>/dev/null
		failed=$((failed + 1))
	fi
done

echo "RESULT $passed $failed"
