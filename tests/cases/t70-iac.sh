# IaC trees: each file's kind and the tree's inventory (Terraform providers, modules
# and resource types; Kubernetes objects with their images), secrets left out unless
# --include-state, .terraform/ caches skipped, YAML bombs refused. The samples are
# judged independently: PyYAML reads the Kubernetes manifests, regular expressions
# count the Terraform blocks.
source "$(dirname "$0")/../lib.sh"
cd "$T" || exit 1
S=$(cd "$HERE/../samples" && pwd)
craft() { python3 "$HERE/tools/craft.py" "$@"; }

"$ENVPACK" keygen -o k >/dev/null
expect_exit 0 "pack the sample Terraform project and Kubernetes manifests" \
	"$ENVPACK" pack -k k.key -o s.envpack iac:"$S/terraform" iac:"$S/k8s"
check "the samples hold no secrets: no warning" test ! -s "$T/err"
tar xOf s.envpack manifest.json >s.json

check "every regular file has its kind" python3 - "$T/s.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
tf, k8s = m["components"]
kinds = {e["path"]: e.get("kind") for e in tf["entries"]}
assert kinds == {"k8s.tf": "terraform", "main.tf": "terraform", "modules": None, "modules/network": None,
                 "modules/network/main.tf": "terraform", "outputs.tf": "terraform",
                 "terraform.tfvars.example": "other", "variables.tf": "terraform", "versions.tf": "terraform"}, kinds
kinds = {e["path"]: e.get("kind") for e in k8s["entries"]}
assert kinds == {"configmap.yaml": "kubernetes", "extras.yaml": "kubernetes", "kustomization.yaml": "kustomization",
                 "namespace.yaml": "kubernetes", "nginx-deployment.yaml": "kubernetes",
                 "nginx-service.yaml": "kubernetes"}, kinds
PY

# The Terraform judge: block headers found by regular expressions over the same files
# (the samples have no comments or heredocs hiding any), providers as Terraform names them.
check "the Terraform inventory matches the blocks in the files" python3 - "$T/s.json" "$S/terraform" <<'PY'
import collections, json, os, re, sys
inv = json.load(open(sys.argv[1]))["components"][0]["inventory"]["terraform"]
root = sys.argv[2]
res, data, mods, names = collections.Counter(), collections.Counter(), [], set()
for d, _, files in sorted(os.walk(root)):
    for f in sorted(files):
        if not f.endswith(".tf"):
            continue
        text = open(os.path.join(d, f)).read()
        rel = os.path.relpath(os.path.join(d, f), root)
        res.update(re.findall(r'^resource\s+"([^"]+)"\s+"', text, re.M))
        data.update(re.findall(r'^data\s+"([^"]+)"\s+"', text, re.M))
        for name, body in re.findall(r'^module\s+"([^"]+)"\s*\{(.*?)^\}', text, re.M | re.S):
            mods.append({"name": name, "source": re.search(r'source\s*=\s*"([^"]*)"', body).group(1), "path": rel})
        names.update(re.findall(r'^provider\s+"([^"]+)"', text, re.M))
        names.update(s.split("/")[-1] for s in re.findall(r'source\s*=\s*"(hashicorp/[^"]+)"', text))
assert inv["resources"] == dict(res) and sum(res.values()) == 7, (inv["resources"], res)
assert inv["data"] == dict(data) == {"google_client_config": 1}, inv["data"]
assert inv["modules"] == mods == [{"name": "network", "source": "./modules/network", "path": "main.tf"}], inv["modules"]
assert inv["providers"] == sorted("registry.terraform.io/hashicorp/" + n for n in names), inv["providers"]
PY

# The Kubernetes judge: PyYAML reads the same files and finds the same objects and images.
check "PyYAML finds the same Kubernetes objects and images" python3 - "$T/s.json" "$S/k8s" <<'PY'
import json, os, sys, yaml
inv = json.load(open(sys.argv[1]))["components"][1]["inventory"]
assert "terraform" not in inv
root, want = sys.argv[2], []
def get(d, *keys):
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return d
pod = {"Pod": ("spec",), "CronJob": ("spec", "jobTemplate", "spec", "template", "spec")}
pod.update({k: ("spec", "template", "spec") for k in
            ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job")})
for f in sorted(os.listdir(root)):
    if f.startswith("kustomization") or not f.endswith((".yaml", ".yml")):
        continue
    for doc in yaml.safe_load_all(open(os.path.join(root, f))):
        if not isinstance(doc, dict) or doc.get("apiVersion") is None or doc.get("kind") is None:
            continue
        o = {"path": f, "kind": str(doc["kind"])}
        for key in ("name", "namespace"):
            if get(doc, "metadata", key) is not None:
                o[key] = str(get(doc, "metadata", key))
        spec = get(doc, *pod.get(doc["kind"], ("-",)))
        o["images"] = [c["image"] for key in ("initContainers", "containers") for c in (get(spec, key) or [])
                       if isinstance(c, dict) and c.get("image") is not None]
        want.append(o)
assert inv["kubernetes"] == want, (inv["kubernetes"], want)
assert len(want) == 6 and ["nginx:1.27"] in [o["images"] for o in want]
PY

expect_exit 0 "inspect shows the inventory" "$ENVPACK" inspect s.envpack
check "inspect counts the files of each kind" grep -qE '^ +kinds +terraform 6, other 1$' "$T/out"
check "inspect lists the Kubernetes kinds" grep -qE '^ +kinds +kubernetes 5, kustomization 1$' "$T/out"
check "inspect names the providers" grep -qE '^ +providers +registry.terraform.io/hashicorp/google$' "$T/out"
check "inspect names the second provider" grep -qE '^ +registry.terraform.io/hashicorp/kubernetes$' "$T/out"
check "inspect shows the module and its source" grep -qE '^ +modules +network = \./modules/network \(main\.tf\)$' "$T/out"
check "inspect counts resource types" grep -qE '^ +resources +google_compute_network 1$' "$T/out"
check "inspect counts data sources apart" grep -qE '^ +data +google_client_config 1$' "$T/out"
check "inspect shows Kind/namespace/name with images" grep -qE '^ +Deployment/web/nginx  images: nginx:1\.27$' "$T/out"
check "inspect shows objects without a namespace as Kind/name" grep -qE '^ +Namespace/web$' "$T/out"
expect_exit 0 "inspect --json" "$ENVPACK" inspect --json s.envpack
check "inspect --json gives the kinds and the inventory as the manifest has it" python3 - "$T/out" "$T/s.json" <<'PY'
import json, sys
j, m = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
tf, k8s = j["components"]
assert tf["kinds"] == {"terraform": 6, "other": 1} and k8s["kinds"] == {"kubernetes": 5, "kustomization": 1}, j
assert [c["inventory"] for c in j["components"]] == [c["inventory"] for c in m["components"]]
assert tf["inventory"]["terraform"]["resources"]["google_container_cluster"] == 1
PY
expect_exit 0 "verify accepts the bundle with its inventory" "$ENVPACK" verify -p k.pub --deep s.envpack
mkdir dest back
expect_exit 0 "restore it" "$ENVPACK" restore -q -p k.pub s.envpack --to dir:dest
check "the restored trees are the samples" diff -r "$S/terraform" dest/terraform
check "the restored Kubernetes tree too" diff -r "$S/k8s" dest/k8s
SOURCE_DATE_EPOCH=1700000000 "$ENVPACK" pack -q -n s -o r1.envpack iac:"$S/terraform" iac:"$S/k8s"
SOURCE_DATE_EPOCH=1700000000 "$ENVPACK" pack -q -n s -j 1 -o r2.envpack iac:"$S/terraform" iac:"$S/k8s"
check "the inventory keeps packs reproducible" cmp r1.envpack r2.envpack

# A made-up tree with every kind, secrets, provider caches and a broken YAML file.
mkdir -p t/.terraform/providers t/mod/.terraform t/chart/templates t/heat t/seed t/certs t/ssh
cd t || exit 1
echo '{"version": 4, "resources": [{"password": "hunter2"}]}' >terraform.tfstate
echo '{"version": 4}' >terraform.tfstate.backup
echo 'db_password = "hunter2"' >prod-secrets.tfvars
echo 'region = "eu"' >prod.tfvars
printf -- '-----BEGIN PRIVATE KEY-----\n' >certs/tls.key
printf -- '-----BEGIN CERTIFICATE-----\n' >certs/ca.pem
echo key >ssh/id_rsa
echo pub >ssh/id_rsa.pub
echo 'TOKEN=abc' >.env
echo 'TOKEN=' >.env.example
echo bin >.terraform/providers/terraform-provider-google
echo x >mod/.terraform/cache
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: hunter2}\n' >secret.yaml
printf 'apiVersion: v2\nname: web\nversion: 1.0.0\n' >chart/Chart.yaml
echo 'replicas: 1' >chart/values.yaml
echo 'replicas: 3' >chart/values-prod.yaml
printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n' >chart/templates/deployment.yaml
printf 'heat_template_version: 2018-08-31\nresources: {}\n' >heat/stack.yaml
printf '#cloud-config\npackages: [nginx]\n' >seed/init.yml
echo 'instance-id: web-1' >seed/meta-data
echo 'Vagrant.configure("2") do |c| end' >Vagrantfile
printf '{"resource": {"aws_instance": {"a": {}, "b": {}}}, "module": {"vpc": {"source": "terraform-aws-modules/vpc/aws"}}}\n' >main.tf.json
printf 'provider "registry.terraform.io/hashicorp/aws" {\n  version = "5.0.0"\n}\n' >.terraform.lock.hcl
printf 'a: [unclosed\n' >broken.yaml
cd .. || exit 1

expect_exit 0 "pack a tree with secrets" "$ENVPACK" pack -o t.envpack iac:t
for f in terraform.tfstate terraform.tfstate.backup prod-secrets.tfvars certs/tls.key certs/ca.pem ssh/id_rsa .env secret.yaml; do
	expect_err "warning: leaving out 't/$f': .*--include-state" "a warning names the secret $f"
done
expect_err "leaving out 't/secret.yaml': it holds a Kubernetes Secret" "the warning says why"
expect_err "warning: skipping 't/\.terraform': Terraform's provider and module cache" "the provider cache is skipped"
expect_err "warning: skipping 't/mod/\.terraform'" "at any depth"
expect_err "warning: 't/broken.yaml' is not valid YAML" "a broken YAML file is named"
check "no other warning" test "$(grep -c warning "$T/err")" = 11
tar xOf t.envpack manifest.json >t.json
check "secrets and caches are not in the bundle; everything else is, with its kind" python3 - "$T/t.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["components"][0]
kinds = {e["path"]: e.get("kind") for e in c["entries"] if e["type"] == "file"}
assert kinds == {
    ".env.example": "other", ".terraform.lock.hcl": "terraform-lock", "Vagrantfile": "vagrantfile",
    "broken.yaml": "other", "chart/Chart.yaml": "helm-chart", "chart/templates/deployment.yaml": "helm-template",
    "chart/values-prod.yaml": "helm-values", "chart/values.yaml": "helm-values", "heat/stack.yaml": "heat",
    "main.tf.json": "terraform-json", "prod.tfvars": "terraform-vars", "seed/init.yml": "cloud-init",
    "seed/meta-data": "cloud-init", "ssh/id_rsa.pub": "other"}, kinds
assert not [e for e in c["entries"] if ".terraform/" in e["path"] + "/"], c["entries"]
inv = c["inventory"]
assert "kubernetes" not in inv, inv   # the ConfigMap went with its Secret
assert inv["terraform"] == {"providers": ["registry.terraform.io/hashicorp/aws"],
    "modules": [{"name": "vpc", "source": "terraform-aws-modules/vpc/aws", "path": "main.tf.json"}],
    "resources": {"aws_instance": 2}, "data": {}}, inv
PY
check "no secret's bytes are in the bundle" sh -c "! tar xOf t.envpack | zstd -dcq 2>/dev/null | grep -qa hunter2"

expect_exit 0 "pack --include-state packs them anyway" "$ENVPACK" pack -o all.envpack --include-state iac:t
check "with no warning about secrets" sh -c "! grep -q 'leaving out' '$T/err'"
tar xOf all.envpack manifest.json >all.json
check "state, keys, .env, secret tfvars and the Secret are in the bundle; caches still are not" python3 - "$T/all.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["components"][0]
kinds = {e["path"]: e.get("kind") for e in c["entries"] if e["type"] == "file"}
for p, k in {"terraform.tfstate": "terraform-state", "terraform.tfstate.backup": "terraform-state",
             "prod-secrets.tfvars": "terraform-vars", "certs/tls.key": "other", "certs/ca.pem": "other",
             "ssh/id_rsa": "other", ".env": "other", "secret.yaml": "kubernetes"}.items():
    assert kinds.get(p) == k, (p, kinds.get(p))
assert not [p for p in kinds if ".terraform/" in p]
assert [(o["kind"], o["name"]) for o in c["inventory"]["kubernetes"]] == [("ConfigMap", "c"), ("Secret", "db")]
PY
expect_exit 0 "restore the bundle with secrets" "$ENVPACK" restore -q --insecure-skip-verify all.envpack --to dir:back
check "the state comes back byte for byte" cmp t/terraform.tfstate back/t/terraform.tfstate
expect_exit 0 "pack -q says nothing about secrets" "$ENVPACK" pack -q -o quiet.envpack iac:t
check "pack -q printed nothing" test ! -s "$T/out" -a ! -s "$T/err"
expect_exit 0 "pack --help" "$ENVPACK" pack --help
check "--help says --include-state includes secrets" grep -qE -- '--include-state .*secrets' "$T/out"

# Secrets that are known by their content or by what they point to: a List of Secrets (what
# `kubectl get secret -o yaml` prints), kubeconfigs with a user's key or token, Terraform plans
# (by name, or a zip whose first member is tfplan, whatever its name), and symlinks to any file
# left out (they would restore dangling). Each is left out with a warning naming it.
mkdir -p sec/.kube sec/certs sec/docs
cd sec || exit 1
printf 'apiVersion: v1\nkind: List\nmetadata: {resourceVersion: ""}\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: db, namespace: prod}\n  type: Opaque\n  data: {password: aHVudGVyMg==}\n  stringData: {raw: hunter2}\n' >secrets.yaml
printf 'apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c}\n  data: {a: b}\n' >configmaps.yaml
printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster: {server: "https://k8s.example:6443"}\nusers:\n- name: admin\n  user:\n    client-certificate-data: Y2VydA==\n    client-key-data: aHVudGVyMg==\ncontexts:\n- name: prod\n  context: {cluster: prod, user: admin}\n' >.kube/config
printf 'apiVersion: v1\nclusters: [{name: ci, cluster: {server: "https://ci:6443"}}]\ncontexts: [{name: ci, context: {cluster: ci, user: bot}}]\nusers:\n- name: bot\n  user: {token: hunter2}\n' >ci.kubeconfig
printf 'apiVersion: v1\nkind: Config\nclusters: [{name: ci, cluster: {server: "https://ci:6443"}}]\nusers:\n- name: sso\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1, command: kubelogin}\n' >sso.kubeconfig
printf 'not even a zip: hunter2\n' >prod.tfplan
python3 - <<'PY'
import zipfile
with zipfile.ZipFile("plan.out", "w") as z:  # as `terraform plan -out=plan.out` writes it: tfplan first
    z.writestr("tfplan", b"\x0a\x02hunter2")
    z.writestr("tfstate", '{"resources": [{"password": "hunter2"}]}')
with zipfile.ZipFile("docs/manual.zip", "w") as z:
    z.writestr("index.html", "<p>hello</p>")
PY
printf -- '-----BEGIN PRIVATE KEY-----\nhunter2\n' >certs/tls.key
echo '{"version": 4, "password": "hunter2"}' >terraform.tfstate
echo 'readme' >README
ln -s certs/tls.key tls.key.link
ln -s tls.key.link chain
ln -s ../terraform.tfstate docs/state
ln -s README readme.link
cd .. || exit 1
expect_exit 0 "pack a tree with secrets known by content and links to secrets" "$ENVPACK" pack -k k.key -o sec.envpack iac:sec
expect_err "warning: leaving out 'sec/secrets.yaml': it holds a list of Kubernetes Secrets" "a List of Secrets is left out, named"
expect_err "warning: leaving out 'sec/.kube/config': it is a kubeconfig holding credentials" "a kubeconfig with a client key is left out, named"
expect_err "warning: leaving out 'sec/ci.kubeconfig': it is a kubeconfig holding credentials" "a kubeconfig with a token is left out, named"
expect_err "warning: leaving out 'sec/prod.tfplan': it is a Terraform plan" "a .tfplan is left out, named"
expect_err "warning: leaving out 'sec/plan.out': it is a Terraform plan" "a plan file under another name is left out by its content"
expect_err "warning: leaving out 'sec/tls.key.link': it is a symlink to 'certs/tls.key', which is left out" "a symlink to a secret is left out, named"
expect_err "warning: leaving out 'sec/chain': it is a symlink to 'certs/tls.key'" "a chain of symlinks to a secret too"
expect_err "warning: leaving out 'sec/docs/state': it is a symlink to 'terraform.tfstate'" "a symlink climbing to the state too"
check "no other file is left out" test "$(grep -c 'leaving out' "$T/err")" = 10
tar xOf sec.envpack manifest.json >sec.json
check "the bundle holds what is not a secret, and no link to one" python3 - "$T/sec.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["components"][0]
got = sorted(e["path"] for e in c["entries"] if e["type"] != "dir")
assert got == ["README", "configmaps.yaml", "docs/manual.zip", "readme.link", "sso.kubeconfig"], got
PY
expect_exit 0 "inspect --json" "$ENVPACK" inspect --json sec.envpack
check "inspect counts one symlink" test "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["components"][0]["symlinks"])' "$T/out")" = 1
check "no secret's bytes are in the bundle" sh -c "! tar xOf sec.envpack | zstd -dcq 2>/dev/null | grep -qa hunter2"
expect_exit 0 "restore it" "$ENVPACK" restore -q -p k.pub sec.envpack --to dir:secback
check "no link is restored dangling" test -z "$(find secback -xtype l)"
check "a link to a kept file is restored" test "$(cat secback/sec/readme.link)" = readme
expect_exit 0 "pack --include-state packs them all" "$ENVPACK" pack -k k.key -o secall.envpack --include-state iac:sec
check "without a warning" sh -c "! grep -q 'leaving out' '$T/err'"
tar xOf secall.envpack manifest.json >secall.json
check "links and their targets are in that bundle" python3 - "$T/secall.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["components"][0]
got = {e["path"] for e in c["entries"] if e["type"] != "dir"}
assert {"secrets.yaml", ".kube/config", "ci.kubeconfig", "prod.tfplan", "plan.out", "tls.key.link", "chain",
        "docs/state", "certs/tls.key", "terraform.tfstate"} <= got, got
PY

# Names a manifest cannot hold (JSON strings are UTF-8): a file, a directory and a link
# target that are not UTF-8 are skipped with a warning naming them, as pack skips other
# entries it cannot keep; a tree whose own name is not UTF-8 is refused. grep in the C
# locale, where '.' matches the byte \377.
bad=$(printf 'bad\377name')
mkdir -p u/ok "u/$bad.d"
echo 'x = 1' >u/ok/main.tf
echo data >"u/$bad"
echo data >"u/$bad.d/inner"
ln -s "$(printf 'ok/\377')" u/link
expect_exit 0 "a tree with names that are not UTF-8 packs" "$ENVPACK" pack -o u.envpack iac:u
check "a warning names the file that is not UTF-8" \
	env LC_ALL=C grep -q "warning: skipping 'u/bad.name': the name is not valid UTF-8" "$T/err"
check "and the directory" env LC_ALL=C grep -q "warning: skipping 'u/bad.name.d': the name is not valid UTF-8" "$T/err"
check "and the symlink whose target is not" grep -q "warning: skipping symlink 'u/link': its target is not valid UTF-8" "$T/err"
check "everything else is packed" python3 -c '
import json, subprocess
m = json.loads(subprocess.run(["tar", "xOf", "u.envpack", "manifest.json"], capture_output=True, check=True).stdout)
assert [e["path"] for e in m["components"][0]["entries"]] == ["ok", "ok/main.tf"], m'
mkdir "$bad.tree"
echo 'x = 1' >"$bad.tree/main.tf"
expect_exit 2 "a tree whose name is not UTF-8 is refused" "$ENVPACK" pack -o v.envpack iac:"$bad.tree"
check "the refusal names the tree and the problem" \
	env LC_ALL=C grep -q "source 'bad.name.tree' is not valid UTF-8" "$T/err"
check "no bundle and no temporary file are left" sh -c "! ls -A | grep -q '^v.envpack\|^\.v.envpack'"

# YAML bombs: refused with the file named, exit 2, no bundle left.
mkdir bomb
cp "$S/k8s/namespace.yaml" bomb/
python3 - >bomb/lol.yaml <<'PY'
print('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]')
for prev, cur in zip("abcdefgh", "bcdefghi"):
    print(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
PY
expect_exit 2 "a billion-laughs YAML file is refused" "$ENVPACK" pack -o bomb.envpack iac:bomb
expect_err "yaml: 'bomb/lol.yaml' expands to more than 1000000 nodes through its aliases" "the refusal names the file and the reason"
check "no bundle is left" sh -c "! ls -A | grep -q '^bomb.envpack'"
check "nor a temporary file" sh -c "! ls -A | grep -qi 'tmp\|envpack-'"
python3 -c "print('[' * 100000 + ']' * 100000)" >bomb/lol.yaml
expect_exit 2 "deeply nested YAML is refused" "$ENVPACK" pack -o bomb.envpack iac:bomb
expect_err "'bomb/lol.yaml' nests collections deeper than 128" "the refusal says so"
python3 -c "print('--- 1\n' * 10001)" >bomb/lol.yaml
expect_exit 2 "a YAML file with too many documents is refused" "$ENVPACK" pack -o bomb.envpack iac:bomb
expect_err "more than 10000 documents" "the refusal says so"
check "still no bundle" test ! -e bomb.envpack

# The inventory is untrusted input like the rest of the manifest.
craft resign s.envpack forged.envpack k.key 'm["components"][1]["inventory"]["kubernetes"][0]["images"] = ["evil\u001b[31m"]'
expect_exit 2 "a signed inventory with a control character is refused" "$ENVPACK" inspect forged.envpack
expect_err "inventory of 'k8s'" "the message names the component's inventory"
craft resign s.envpack forged2.envpack k.key 'm["components"][0]["inventory"]["terraform"]["modules"][0]["path"] = "../etc/passwd"'
expect_exit 2 "an inventory naming a file not in the tree is refused" "$ENVPACK" verify -p k.pub forged2.envpack
craft resign s.envpack forged3.envpack k.key 'm["components"][1]["entries"][0]["kind"] = "perl"'
expect_exit 2 "an unknown kind is refused" "$ENVPACK" restore -p k.pub forged3.envpack --to dir:forged
check "nothing was restored" test ! -e forged
# Symlinks are followed through each other, as the kernel would: each target below is inside
# when read alone. Links that leave the tree or loop are skipped with a warning naming them;
# chains that stay inside are packed and restored.
mkdir -p lt/a
echo hello >lt/a/f
ln -s .. lt/a/up                 # the root: kept
ln -s a/up/.. lt/esc             # up through a/up, then out of the tree
ln -s a/up/a/up/a/f lt/deep      # up and back down twice: a/f
ln -s a/up/a lt/dl               # a directory through a link
ln -s dl lt/dl2                  # a link to a link to a directory
ln -s dl2/up/.. lt/esc2          # dl2 -> dl -> a, up to the root, then out
ln -s loop2 lt/loop1
ln -s loop1 lt/loop2
ln -s self lt/self
ln -s loop1/x lt/intoloop
expect_exit 0 "pack a tree whose symlinks lead through each other" "$ENVPACK" pack -k k.key -o lt.envpack iac:lt
expect_err "warning: skipping symlink 'lt/esc': it points outside the tree" "a link leaving through another link is skipped by name"
expect_err "warning: skipping symlink 'lt/esc2': it points outside the tree" "a chain of links leaving the tree is skipped"
for l in loop1 loop2 self intoloop; do
	expect_err "warning: skipping symlink 'lt/$l': it loops" "the looping link $l is skipped by name"
done
check "no other warning" test "$(grep -c warning "$T/err")" = 6
tar xOf lt.envpack manifest.json >lt.json
check "the links that stay inside are packed, the others are not" python3 - "$T/lt.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))["components"][0]["entries"]
links = {x["path"]: x["target"] for x in e if x["type"] == "symlink"}
assert links == {"a/up": "..", "deep": "a/up/a/up/a/f", "dl": "a/up/a", "dl2": "dl"}, links
PY
expect_exit 0 "verify accepts the chains that stay inside" "$ENVPACK" verify -p k.pub lt.envpack
mkdir ltdest
expect_exit 0 "restore the tree of chained links" "$ENVPACK" restore -q -p k.pub lt.envpack --to dir:ltdest
check "a chain through a link up and back down reads its file" test "$(cat ltdest/lt/deep)" = hello
check "a link to a link to a directory reaches it" test "$(cat ltdest/lt/dl2/f)" = hello
check "every restored link resolves inside the restored tree" python3 - "$T/ltdest/lt" <<'PY'
import os, sys
root = os.path.realpath(sys.argv[1])
links = [os.path.join(d, n) for d, dirs, files in os.walk(root) for n in dirs + files
         if os.path.islink(os.path.join(d, n))]
assert len(links) == 4, links
for l in links:
    r = os.path.realpath(l)
    assert r == root or r.startswith(root + "/"), (l, r)
PY
check "nothing else was restored" test ! -e ltdest/lt/esc -a ! -L ltdest/lt/esc -a ! -L ltdest/lt/loop1
finish
