# --rewrite-registry on real files nobody here wrote (tests/data/rewrite: Helm charts, manifests,
# CRDs and custom resources, a kustomization, Terraform of six providers) and a few lines of our
# own, judged by tests/tools/judge_rewrite.py with PyYAML and HashiCorp's HCL parser: every file
# still parses, every image at a known place moved as the rules say and nothing else did, and no
# byte outside the moved values changed.
source "$(dirname "$0")/../lib.sh"
cd "$T" || exit 1
E=$ENVPACK
eq() { [ "$1" = "$2" ] || { echo "got '$1', wanted '$2'"; false; }; }
judge() { python3 "$HERE/tools/judge_rewrite.py" --max-details 5 "$@"; }
"$E" keygen -o k >/dev/null

# the judge itself: a right rewrite passes, a changed comment or a wrong image does not
mkdir -p j/before j/good j/comment j/wrong
cat >j/before/pod.yaml <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - {name: a, image: nginx:1.25}   # Docker Hub
    - name: b
      image: "quay.io/x/y:1"
EOF
sed 's|nginx:1.25|m.example/hub/library/nginx:1.25|; s|quay.io/x|m.example/quay/x|' j/before/pod.yaml >j/good/pod.yaml
sed 's|Docker Hub|Docker hub|' j/good/pod.yaml >j/comment/pod.yaml
sed 's|m.example/hub/library/nginx|m.example/hub/nginx|' j/good/pod.yaml >j/wrong/pod.yaml
J=(docker.io=m.example/hub quay.io=m.example/quay)
check "the judge passes a right rewrite" judge j/before j/good "${J[@]}"
check "the judge finds the images missed" sh -c "python3 '$HERE/tools/judge_rewrite.py' j/before j/before ${J[*]} | grep -qx 'verdict misses FAIL (2)'"
check "the judge finds a changed comment" sh -c "python3 '$HERE/tools/judge_rewrite.py' j/before j/comment ${J[*]} | grep -qx 'verdict untouched FAIL (1)'"
check "the judge finds library/ dropped" sh -c "python3 '$HERE/tools/judge_rewrite.py' j/before j/wrong ${J[*]} | grep -qx 'verdict wrong FAIL (1)'"

mkdir -p in/spot
cp -r "$HERE/data/rewrite" in/corpus
cat >in/spot/pod.yaml <<'EOF'
# shapes the corpus lacks: a flow mapping, quoted keys, Docker Hub spelled four ways
apiVersion: v1
kind: Pod
metadata: {name: spot}
spec:
  initContainers:
    - {name: flow, image: nginx}
  containers:
    - "name": "quoted"
      "image": "busybox:1.36"
    - name: index
      image: index.docker.io/library/nginx
    - name: short
      image: nginx:1.25
    - name: hub
      image: docker.io/nginx:1.25
    - name: registry-1
      image: registry-1.docker.io/bitnami/git:2.44
    - name: ghcr
      image: ghcr.io/example/tool:1
    - name: not-at-a-slash
      image: gcr.io/google-samples-extra/app:1
EOF
expect_exit 0 "pack the corpus" "$E" pack -q -k k.key -o rw.envpack iac:in
check "each file is classified as its kind" test "$("$E" inspect --json rw.envpack | python3 -c '
import json, sys; k = json.load(sys.stdin)["components"][0]["kinds"]; print(sorted(k.items()))')" = \
	"[('helm-chart', 10), ('helm-values', 10), ('kubernetes', 17), ('kustomization', 1), ('other', 2), ('terraform', 24)]"

RULES=(docker.io=mirror.example:5000/hub quay.io=mirror.example:5000/quay registry.k8s.io=mirror.example:5000/k8s
	gcr.io/google-samples=mirror.example:5000/samples ghcr.io=mirror.example:5000/ghcr)
ARGS=()
for r in "${RULES[@]}"; do ARGS+=(--rewrite-registry "$r"); done
expect_exit 0 "restore with --rewrite-registry" "$E" restore -q -p k.pub rw.envpack --to dir:rw "${ARGS[@]}"
judge in rw/in "${RULES[@]}" >judge.out 2>&1
echo $? >judge.rc
sed -n '/^files /,$p' judge.out
verdict() { grep -qx "verdict $1 ok (0)" judge.out || { grep -E "^verdict $1 |^broken or missing after" judge.out; false; }; }
check "the judge ran over every file" grep -q '^files 64, parsed before 63,' judge.out
check "every file that parsed before parses after" verdict parse
check "every image a rule covers moved (no miss)" verdict misses
check "nothing moved that should not have, nor elsewhere (none wrong)" verdict wrong
check "no byte outside the moved values changed" verdict untouched
check "the judge passes the whole restore" eq "$(cat judge.rc)" 0

# spot checks: values read with PyYAML, lines and files compared as they are
O=rw/in/corpus
yq() { # yq FILE EXPR: EXPR over the YAML document d, or why it could not be read
	python3 -c 'import sys, yaml
try:
    d = yaml.safe_load(open(sys.argv[1]))
except yaml.YAMLError as e:
    print(" ".join(str(e).split()))
    sys.exit(1)
print(eval(sys.argv[2]))' "$@"
}
spot=$(yq rw/in/spot/pod.yaml '"\n".join(c["image"] for c in d["spec"]["initContainers"] + d["spec"]["containers"])' 2>&1)
si() { echo "$spot" | sed -n "$1p"; } # the image of the spot Pod's container N (1: the init container)
check "a bitnami split map moves as one image, its tag kept" eq "$(yq $O/helm/bitnami-nginx/values.yaml \
	'(d["global"]["imageRegistry"] or d["image"]["registry"]) + "/" + d["image"]["repository"] + " " + d["image"]["tag"]')" \
	"mirror.example:5000/hub/bitnami/nginx 1.29.1-debian-12-r0"
check "a quay.io split map moves by the quay.io rule" eq "$(yq $O/helm/prometheus-node-exporter/values.yaml \
	'(d["global"]["imageRegistry"] or d["image"]["registry"]) + "/" + d["image"]["repository"]')" \
	"mirror.example:5000/quay/prometheus/node-exporter"
check "a quay.io repository with no registry beside it moves" eq "$(yq $O/helm/alertmanager/values.yaml 'd["image"]["repository"]')" \
	"mirror.example:5000/quay/prometheus/alertmanager"
check "the registry of ingress-nginx's images (global.image.registry) moves" eq "$(yq $O/helm/ingress-nginx/values.yaml \
	'd["controller"]["image"].get("repository") or (d["controller"]["image"].get("registry")
	or d["global"]["image"]["registry"]) + "/" + d["controller"]["image"]["image"]')" \
	"mirror.example:5000/k8s/ingress-nginx/controller"
check "a flow-style list item moves" eq "$(si 1)" \
	"mirror.example:5000/hub/library/nginx"
check "a quoted YAML key moves" eq "$(si 2)" \
	"mirror.example:5000/hub/library/busybox:1.36"
check "a quoted HCL key in kubernetes_manifest moves" grep -qF '"image" = "mirror.example:5000/hub/library/nginx:1.7.9"' \
	$O/tf/kubernetes/manifest-pod/pod.tf
check "index.docker.io/library/nginx moves by the docker.io rule" eq "$(si 3)" \
	"mirror.example:5000/hub/library/nginx"
check "nginx:1.25 and docker.io/nginx:1.25 land in one repository" eq "$(si 4) $(si 5)" \
	"mirror.example:5000/hub/library/nginx:1.25 mirror.example:5000/hub/library/nginx:1.25"
check "a rule's prefix ends at a '/' (gcr.io/google-samples-extra stays)" eq "$(si 8)" "gcr.io/google-samples-extra/app:1"
check "Google's and DigitalOcean's VM images are left as they were" sh -c "cmp in/corpus/tf/google/dns_managed_zone_quickstart/main.tf \
	$O/tf/google/dns_managed_zone_quickstart/main.tf && cmp in/corpus/tf/google-vm/compute_instance-tags/main.tf \
	$O/tf/google-vm/compute_instance-tags/main.tf && cmp in/corpus/tf/digitalocean/byoipprefix/main.tf $O/tf/digitalocean/byoipprefix/main.tf"
check "image = var.x is left as it was" sh -c "cmp in/corpus/tf/digitalocean/droplet/main.tf $O/tf/digitalocean/droplet/main.tf && \
	cmp in/corpus/tf/cloud-run-module/main.tf $O/tf/cloud-run-module/main.tf && grep -q '^  image              = var.ubuntu$' $O/tf/digitalocean/droplet/main.tf"
check "CRDs are left as they were" sh -c "cmp in/corpus/k8s/crd/k6.io_privateloadzones.yaml $O/k8s/crd/k6.io_privateloadzones.yaml && \
	cmp in/corpus/k8s/crd/postgresql.cnpg.io_imagecatalogs.yaml $O/k8s/crd/postgresql.cnpg.io_imagecatalogs.yaml"

# a value that would not read back written plain is quoted: a plain YAML scalar cannot start with
# '[' (`image: [::1]:5000/...` reads as a flow sequence). A rewrite that cannot be made to read back
# is refused: t85-retarget.sh
mkdir v6
printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: v6\nspec:\n  containers:\n    - name: a\n      image: nginx:1.25\n' >v6/pod.yaml
expect_exit 0 "pack a plain manifest" "$E" pack -q -k k.key -o v6.envpack iac:v6
expect_exit 0 "a registry at an IPv6 address (a valid NEW)" \
	"$E" restore -q -p k.pub v6.envpack --to dir:v6out --rewrite-registry 'docker.io=[::1]:5000/hub'
check "is written quoted, and PyYAML reads the new reference" test "$(python3 -c '
import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["spec"]["containers"][0]["image"])' v6out/v6/pod.yaml)" = "[::1]:5000/hub/library/nginx:1.25"
finish
