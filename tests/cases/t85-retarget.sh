# Retargeting at restore: one bundle restored as a second instance (--set
# name=, new MACs unless --keep-mac), machine parameters filled in, image
# references moved to another registry with the rest of each file unchanged.
source "$(dirname "$0")/../lib.sh"
cd "$T" || exit 1
E=$ENVPACK
"$E" keygen -o k >/dev/null
mkdir vm
make_disk vm/web.raw 70M
qemu-img convert -O qcow2 vm/web.raw vm/web.qcow2
truncate -s 16M vm/web-data.raw
cat >vm/web.xml <<'EOF'
<domain type='kvm'><name>web</name>
  <metadata><libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0"><libosinfo:os id="http://debian.org/debian/12"/></libosinfo:libosinfo></metadata>
  <memory unit='MiB'>1024</memory><vcpu>2</vcpu><os><type machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><driver type='qcow2'/><source file='web.qcow2'/><target dev='vda' bus='virtio'/><boot order='1'/></disk>
    <disk type='file' device='disk'><driver type='raw'/><source file='web-data.raw'/><target dev='vdb' bus='virtio'/></disk>
    <interface type='network'><mac address='52:54:00:aa:bb:cc'/><source network='prod'/><model type='virtio'/></interface>
  </devices></domain>
EOF
sed 's/<name>web</<name>db</; s/web\.qcow2/db.qcow2/; s/web-data.raw/db-data.raw/; s/aa:bb:cc/aa:bb:dd/' vm/web.xml >vm/db.xml
cp vm/web.qcow2 vm/db.qcow2 && cp vm/web-data.raw vm/db-data.raw
mkdir -p iac/k8s iac/tf
cat >iac/k8s/app.yaml <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: web}
spec:
  template:
    spec:
      initContainers:
        - name: init
          image: "busybox:1.36"   # Docker Hub, short name
      containers:
        - name: app
          image: registry.old.example:5000/team/app:v2
          imagePullPolicy: Always
        - name: sidecar
          image: quay.io/prometheus/node-exporter:v1.8.0
EOF
cat >iac/tf/main.tf <<'EOF'
resource "kubernetes_deployment" "web" {
  spec {
    template {
      spec {
        container {
          name  = "web"
          image = "registry.old.example:5000/team/web:3"
        }
      }
    }
  }
}
EOF
echo 'image: registry.old.example:5000/team/app:v2' >iac/notes.txt # kind "other": not rewritten
mkdir -p iac/cloud-init
printf '#cloud-config\nhostname: web-1\nfqdn: web-1.example.org\nusers:\n  - name: ops\n' >iac/cloud-init/user-data
printf 'instance-id: web-1\nlocal-hostname: web-1\n' >iac/cloud-init/meta-data
expect_exit 0 "pack two machines and the code" "$E" pack -q -k k.key -o env.envpack vm:libvirt:vm/web.xml vm:libvirt:vm/db.xml iac:iac
mac() { python3 -c 'import sys, xml.etree.ElementTree as E; print(E.parse(sys.argv[1]).getroot().find("devices/interface/mac").get("address"))' "$1"; }

expect_exit 0 "the first instance" "$E" restore -q -p k.pub env.envpack --only web --to libvirt:lv
expect_exit 0 "a dry run of a second instance shows the renamed disks" "$E" restore -p k.pub --dry-run env.envpack --only web --set name=web-2 --set vcpus=4 --set memory_mib=3072 --to libvirt:lv
check "the plan names web-2's disks and definition" sh -c "grep -q 'disk web-2 (qcow2) -> lv/web-2.qcow2' '$T/out' && grep -q 'disk web-2-data (raw) -> lv/web-2-data.qcow2' '$T/out' && grep -q 'machine web-2 -> lv/web-2.xml (4 vCPU, 3072 MiB' '$T/out'"
expect_exit 0 "a second instance beside the first" "$E" restore -q -p k.pub env.envpack --only web --set name=web-2 --set vcpus=4 --set memory_mib=3072 --to libvirt:lv
check "both instances are there, each with its disks" test "$(ls lv | tr '\n' ' ')" = "web-2-data.qcow2 web-2.qcow2 web-2.xml web-data.qcow2 web.qcow2 web.xml "
check "the second domain has its own name, size and disks" test "$(python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); print(r.find("name").text, r.find("vcpu").text, r.find("memory").text, [d.find("source").get("file").rsplit("/", 1)[1] for d in r.iter("disk")])' lv/web-2.xml)" = "web-2 4 3072 ['web-2.qcow2', 'web-2-data.qcow2']"
check "the first keeps its MAC" test "$(mac lv/web.xml)" = 52:54:00:aa:bb:cc
check "the second gets a new one" sh -c "test '$(mac lv/web-2.xml)' != 52:54:00:aa:bb:cc && echo '$(mac lv/web-2.xml)' | grep -qE '^52:54:00(:[0-9a-f]{2}){3}$'"
check "both validate" sh -c 'virt-xml-validate lv/web.xml domain && virt-xml-validate lv/web-2.xml domain'
check "the second instance's disk is the source's" qemu-img compare -q vm/web.qcow2 lv/web-2.qcow2
expect_exit 0 "--keep-mac keeps it" "$E" restore -q -p k.pub env.envpack --only web --set name=web-3 --keep-mac --to libvirt:lv
check "web-3 answers to the original MAC" test "$(mac lv/web-3.xml)" = 52:54:00:aa:bb:cc
expect_exit 0 "--set network= moves the NICs" "$E" restore -q -p k.pub env.envpack --only db --set network=staging --to libvirt:ln
check "the NIC is on the new network" grep -q "<source network=\"staging\"/>" ln/db.xml

expect_exit 2 "--set name= for two machines is refused" "$E" restore -q -p k.pub env.envpack --set name=x --to libvirt:no1
expect_err "pick one with --only" "the message says how"
expect_exit 2 "an unknown parameter" "$E" restore -q -p k.pub env.envpack --only web --set colour=blue --to libvirt:no2
expect_err "not a parameter" "the message lists the parameters"
expect_exit 2 "a value out of range" "$E" restore -q -p k.pub env.envpack --only web --set vcpus=0 --to libvirt:no3
expect_exit 2 "a name that clashes with another machine" "$E" restore -q -p k.pub env.envpack --only web --set name=db --to libvirt:no4
expect_exit 2 "an unsafe name" "$E" restore -q -p k.pub env.envpack --only web --set name=../x --to libvirt:no5
check "refusals write nothing" sh -c 'for d in no1 no2 no3 no4 no5; do test ! -e $d || exit 1; done'
expect_exit 2 "ova: refuses the environment's code" "$E" restore -q -p k.pub env.envpack --to ova:env.ova
expect_err "target 'ova:env.ova' can.t take file tree component 'iac': .*--only MACHINE \(this bundle's: web, db\)" \
	"the message names the tree and lists the machines to restore alone with --only"
check "and writes nothing" sh -c "test ! -e env.ova && ! ls -a | grep -q '^.envpack-ova-'"
expect_exit 0 "--only db restores that machine as an OVA" "$E" restore -q -p k.pub env.envpack --only db --to ova:env.ova
check "the package holds db and its disks" test "$(tar tf env.ova | tr '\n' ' ')" = "db.ovf db.mf db.vmdk db-data.vmdk "

# image references moved to another registry
expect_exit 0 "restore the code with --rewrite-registry" "$E" restore -q -p k.pub env.envpack --only iac --to dir:rw \
	--rewrite-registry registry.old.example:5000/team=registry.new.example/apps --rewrite-registry docker.io=mirror.example/hub
check "the Kubernetes images moved, quay.io's did not (PyYAML reads them)" test "$(python3 -c '
import sys, yaml; d = yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]
print([c["image"] for c in d["initContainers"] + d["containers"]])' rw/iac/k8s/app.yaml)" = "['mirror.example/hub/library/busybox:1.36', 'registry.new.example/apps/app:v2', 'quay.io/prometheus/node-exporter:v1.8.0']"
check "only the image lines changed in the manifest" test "$(diff iac/k8s/app.yaml rw/iac/k8s/app.yaml | grep -c '^[<>]')" = 4
check "the comment and quotes are kept" grep -q '          image: "mirror.example/hub/library/busybox:1.36"   # Docker Hub, short name' rw/iac/k8s/app.yaml
check "the Terraform image moved" grep -q 'image = "registry.new.example/apps/web:3"' rw/iac/tf/main.tf
check "and only that line" test "$(diff iac/tf/main.tf rw/iac/tf/main.tf | grep -c '^[<>]')" = 2
check "files of other kinds are copied as they are" cmp iac/notes.txt rw/iac/notes.txt
# Kubernetes objects, Helm values and a Kustomization in the shapes real charts and kubectl write:
# only image references move (PyYAML reads every other value as before), every other byte is kept
mkdir -p y/chart/templates y/k8s
printf 'apiVersion: v2\nname: web\nversion: 1.0.0\n' >y/chart/Chart.yaml
cat >y/chart/values.yaml <<'EOF'
# Bitnami's layout: an image split in registry and repository
global:
  imageRegistry: ""
image:
  registry: docker.io
  repository: bitnami/nginx
  tag: 1.25.3-debian-12-r0
  digest: ""
metrics:
  image:
    registry: quay.io
    repository: prometheus/nginx-exporter   # not Docker Hub's
    tag: 1.1.0
sidecars:
  - {name: log, image: "busybox:1.36"}
dashboard:
  image: {repository: grafana/grafana, tag: "10.2.0"}
templated: "{{ .Values.image.repository }}"
EOF
cat >y/chart/templates/deploy.yaml <<'EOF'
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
        - image: "{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        - image: nginx:1.25
EOF
cat >y/k8s/kustomization.yaml <<'EOF'
resources: [list.yaml, crd.yaml]
images:
  - name: nginx
    newTag: "1.26"
  - name: quay.io/prometheus/prometheus
    newName: docker.io/prom/prometheus
EOF
cat >y/k8s/list.yaml <<'EOF'
apiVersion: v1
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a}
  spec:
    containers:
    - {name: web, "image": "docker.io/nginx:1.25"}
    - name: exporter
      image: index.docker.io/library/nginx:1.25
- apiVersion: monitoring.coreos.com/v1
  kind: Prometheus
  metadata: {name: p}
  spec:
    image: quay.io/prometheus/prometheus:v2.48.0
    thanos:
      image:
        name: thanos
kind: List
metadata: {resourceVersion: ""}
---
apiVersion: batch/v1
kind: CronJob
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: c, image: &img 'alpine:3.19'}]
          initContainers: [{name: i, image: *img}]
EOF
cat >y/k8s/crd.yaml <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
spec:
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
        properties:
          image: {type: string, default: nginx}
EOF
printf 'kind: Pod\nspec: {containers: [{image: nginx}\n' >y/k8s/broken.yaml
expect_exit 0 "pack a chart, a Kustomization, a List and a CRD" "$E" pack -q -k k.key -o y.envpack iac:y
expect_exit 0 "restore them with --rewrite-registry docker.io=" "$E" restore -q -p k.pub y.envpack --to dir:ry \
	--rewrite-registry docker.io=mirror.example:5000/hub
judge() { # the values PyYAML reads differently in each pair of files
	python3 - "$@" <<'PY'
import sys, yaml
def leaves(x, p):
    if isinstance(x, dict):
        for k, v in x.items(): yield from leaves(v, p + [str(k)])
    elif isinstance(x, list):
        for i, v in enumerate(x): yield from leaves(v, p + [str(i)])
    else: yield ".".join(p), x
for a, b in zip(sys.argv[1::2], sys.argv[2::2]):
    da, db = (dict(leaves(list(yaml.safe_load_all(open(f))), [])) for f in (a, b))
    assert da.keys() == db.keys(), (a, set(da) ^ set(db))
    for k in da:
        if da[k] != db[k]: print(f"{b} {k}: {da[k]} -> {db[k]}")
PY
}
check "the references moved, every other value reads as before (PyYAML)" test "$(judge y/chart/values.yaml ry/y/chart/values.yaml y/k8s/kustomization.yaml ry/y/k8s/kustomization.yaml y/k8s/list.yaml ry/y/k8s/list.yaml)" = "ry/y/chart/values.yaml 0.image.registry: docker.io -> mirror.example:5000
ry/y/chart/values.yaml 0.image.repository: bitnami/nginx -> hub/bitnami/nginx
ry/y/chart/values.yaml 0.sidecars.0.image: busybox:1.36 -> mirror.example:5000/hub/library/busybox:1.36
ry/y/chart/values.yaml 0.dashboard.image.repository: grafana/grafana -> mirror.example:5000/hub/grafana/grafana
ry/y/k8s/kustomization.yaml 0.images.0.name: nginx -> mirror.example:5000/hub/library/nginx
ry/y/k8s/kustomization.yaml 0.images.1.newName: docker.io/prom/prometheus -> mirror.example:5000/hub/prom/prometheus
ry/y/k8s/list.yaml 0.items.0.spec.containers.0.image: docker.io/nginx:1.25 -> mirror.example:5000/hub/library/nginx:1.25
ry/y/k8s/list.yaml 0.items.0.spec.containers.1.image: index.docker.io/library/nginx:1.25 -> mirror.example:5000/hub/library/nginx:1.25
ry/y/k8s/list.yaml 1.spec.jobTemplate.spec.template.spec.containers.0.image: alpine:3.19 -> mirror.example:5000/hub/library/alpine:3.19
ry/y/k8s/list.yaml 1.spec.jobTemplate.spec.template.spec.initContainers.0.image: alpine:3.19 -> mirror.example:5000/hub/library/alpine:3.19"
check "only those lines changed, quotes and comments kept" test "$(diff y/chart/values.yaml ry/y/chart/values.yaml | grep '^>' | tr '\n' '|')" = '>   registry: mirror.example:5000|>   repository: hub/bitnami/nginx|>   - {name: log, image: "mirror.example:5000/hub/library/busybox:1.36"}|>   image: {repository: mirror.example:5000/hub/grafana/grafana, tag: "10.2.0"}|'
check "the CRD, the template and YAML that does not parse are as they were" sh -c 'cmp y/k8s/crd.yaml ry/y/k8s/crd.yaml && cmp y/chart/templates/deploy.yaml ry/y/chart/templates/deploy.yaml && cmp y/k8s/broken.yaml ry/y/k8s/broken.yaml'
# a file whose rewrite would not read back: a flow mapping used as a key grows past the 1024 characters of a key
mkdir z && printf 'apiVersion: v1\nkind: Pod\nspec:\n  {image: nginx, pad: %0990d}: x\n' 0 >z/pod.yaml
expect_exit 0 "pack a file whose rewrite would not read back" "$E" pack -q -k k.key -o z.envpack iac:z
expect_exit 1 "its rewrite is refused" "$E" restore -q -p k.pub z.envpack --to dir:rz --rewrite-registry docker.io=mirror.example:5000/hub
expect_err "rewriting image references in 'z/pod.yaml' would not leave YAML that reads back \(.*\); refusing it" "the message names the file and why"
check "nothing is written" test ! -e rz
expect_exit 0 "--set hostname= fills cloud-init's host name" "$E" restore -q -p k.pub env.envpack --only iac --set hostname=web-2 --to dir:hn
check "user-data names the new host, its domain kept" test "$(python3 -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); print(d["hostname"], d["fqdn"], d["users"][0]["name"])' hn/iac/cloud-init/user-data)" = "web-2 web-2.example.org ops"
check "meta-data too" grep -qx "local-hostname: web-2" hn/iac/cloud-init/meta-data
check "nothing else changed" sh -c 'cmp iac/k8s/app.yaml hn/iac/k8s/app.yaml && test "$(diff iac/cloud-init/user-data hn/iac/cloud-init/user-data | grep -c "^[<>]")" = 4'
# cloud-init's own examples (tests/data/cloud-init): the top-level block mapping is edited, every
# other byte kept; a #cloud-config-archive list and a flow mapping stay as they were, with a warning
mkdir -p ci/seed
cp "$HERE"/data/cloud-init/*.txt "$HERE"/data/cloud-init/*.yaml ci/
cp "$HERE"/data/cloud-init/seed-meta-data ci/seed/meta-data
expect_exit 0 "pack cloud-init's examples" "$E" pack -q -k k.key -o ci.envpack iac:ci
expect_exit 0 "--set hostname= over cloud-init's examples" "$E" restore -p k.pub ci.envpack --set hostname=web-2 --to dir:cih
check "the #cloud-config-archive list is left as it was" cmp ci/cloud-config-archive.txt cih/ci/cloud-config-archive.txt
expect_err "left 'ci/cloud-config-archive.txt' as it was: its top level is a list" "a warning names the archive and why"
check "the flow mapping is left as it was" cmp ci/cc_set_passwords-example1.yaml cih/ci/cc_set_passwords-example1.yaml
expect_err "left 'ci/cc_set_passwords-example1.yaml' as it was: its top level is a flow mapping" "a warning names the flow mapping and why"
check "block mappings hold the new host, all else as it was (PyYAML reads them)" test "$(cd "$T" && python3 -c '
import sys, yaml
keys = ("hostname", "fqdn", "local-hostname")
for name in sys.argv[1:]:
    a, b = yaml.safe_load(open("ci/" + name)), yaml.safe_load(open("cih/ci/" + name))
    got = [b.pop(k, None) for k in keys]
    [a.pop(k, None) for k in keys]
    print(name, *got, a == b)' cloud-config-launch-index.txt cloud-config-boot-cmds.txt cc_update_hostname-example4.yaml seed/meta-data)" = "cloud-config-launch-index.txt web-2 None None True
cloud-config-boot-cmds.txt web-2 None None True
cc_update_hostname-example4.yaml web-2 web-2.fqdn.me None True
seed/meta-data web-2 None web-2 True"
check "a hostname: line added before the first key, nothing else changed" test "$(diff ci/cloud-config-launch-index.txt cih/ci/cloud-config-launch-index.txt)" = "11a12
> hostname: web-2"
check "only the host name values changed where they were set" test "$(diff ci/seed/meta-data cih/ci/seed/meta-data | grep -c '^[<>]')$(diff ci/cc_update_hostname-example4.yaml cih/ci/cc_update_hostname-example4.yaml | grep -c '^[<>]')" = 44
expect_exit 2 "a host name that is not one" "$E" restore -q -p k.pub env.envpack --set 'hostname=web;rm' --to dir:hn2
expect_exit 2 "--rewrite-registry needs OLD=NEW" "$E" restore -q -p k.pub env.envpack --to dir:rw2 --rewrite-registry docker.io
finish
