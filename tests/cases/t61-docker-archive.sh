# Container images from docker-archive files (docker save, skopeo): packed and
# written back with the same config and layer digests, judged by skopeo.
source "$(dirname "$0")/../lib.sh"
cd "$T" || exit 1
inspect() { skopeo inspect --config "$1" | python3 -c 'import json,sys; c=json.load(sys.stdin); print(c["rootfs"]["diff_ids"])'; }
umoci init --layout src >/dev/null
umoci new --image src:app >/dev/null
umoci unpack --rootless --image src:app b >/dev/null 2>&1
mkdir -p b/rootfs/srv && head -c 2000000 /dev/urandom >b/rootfs/srv/data
umoci repack --image src:app b >/dev/null
rm -rf b && umoci unpack --rootless --image src:app b >/dev/null 2>&1
cp /usr/share/common-licenses/GPL-3 b/rootfs/srv/ && umoci repack --image src:app b >/dev/null
skopeo copy -q oci:src:app docker-archive:app.tar:example/app:1

"$ENVPACK" keygen -o k >/dev/null
expect_exit 0 "pack a docker-archive" "$ENVPACK" pack -q -k k.key -o app.envpack image:docker-archive:app.tar
expect_exit 0 "inspect it" "$ENVPACK" inspect app.envpack
check "inspect shows the tag and the config digest" grep -q "example/app:1 sha256:" "$T/out"
# what inspect says of the image, judged by skopeo and by reading the tar with python
cp "$T/out" app.text
"$ENVPACK" inspect --json app.envpack >app.json
skopeo inspect --raw docker-archive:app.tar >app.manifest
skopeo inspect --config docker-archive:app.tar >app.config
check "json: tags, config digest, platform and layers as skopeo and the tar's entries say" python3 -c '
import hashlib, json, subprocess, tarfile
m = json.load(open("app.manifest")); c = json.load(open("app.config"))
t = tarfile.open("app.tar"); entries = json.load(t.extractfile("manifest.json"))[0]
img = json.load(open("app.json"))["components"][0]["images"][0]
assert img["tags"] == entries["RepoTags"] and img["ref"] == entries["RepoTags"][0], img
assert img["digest"] == "sha256:" + hashlib.sha256(t.extractfile(entries["Config"]).read()).hexdigest() == m["config"]["digest"], img
man = img["manifests"][0]
assert len(img["manifests"]) == 1 and man["config"] == img["digest"] and man["platform"] == c["os"] + "/" + c["architecture"], man
assert [(l["digest"], l["size"]) for l in man["layers"]] == [(l["digest"], l["size"]) for l in m["layers"]], man
assert [l["size"] for l in man["layers"]] == [t.getmember(p).size for p in entries["Layers"]], man
assert man["layers_size"] == sum(l["size"] for l in m["layers"])'
check "text: the platform and each layer's digest and size" python3 -c '
import json, re; m = json.load(open("app.manifest")); c = json.load(open("app.config")); t = open("app.text").read()
assert "\n          %s/%s " % (c["os"], c["architecture"]) in t, t
for l in m["layers"]:
    assert re.search(re.escape(l["digest"][:19]) + r" +[0-9.]+ [KMG]?i?B  %d bytes\n" % l["size"], t), l'
skopeo copy -q --additional-tag example/app:latest oci:src:app docker-archive:tags.tar:example/app:2
"$ENVPACK" pack -q -o tags.envpack image:docker-archive:tags.tar
check "every RepoTag is listed" grep -q "example/app:2,docker.io/example/app:latest sha256:" <("$ENVPACK" inspect tags.envpack)
expect_exit 0 "restore to docker-archive:" "$ENVPACK" restore -q -p k.pub app.envpack --to docker-archive:back.tar
check "skopeo reads the restored archive" skopeo inspect docker-archive:back.tar
check "the config digest is unchanged" test "$(skopeo inspect docker-archive:back.tar | grep '"Digest"')" = "$(skopeo inspect docker-archive:app.tar | grep '"Digest"')"
check "the layer digests (DiffIDs) are unchanged" test "$(inspect docker-archive:back.tar)" = "$(inspect docker-archive:app.tar)"
check "skopeo copies it on (every layer checked)" skopeo copy -q docker-archive:back.tar oci:copied:app
check "every entry's content is the source's" sh -c 'mkdir ea eb && tar xf app.tar -C ea && tar xf back.tar -C eb && diff -r ea eb'
expect_exit 2 "restore never overwrites" "$ENVPACK" restore -q -p k.pub app.envpack --to docker-archive:back.tar
expect_exit 2 "oci: refuses an image packed from a docker-archive" "$ENVPACK" restore -q -p k.pub app.envpack --to oci:nope
check "refusals leave nothing" test ! -e nope

# damaged archives
mkdir x && tar xf app.tar -C x
layer=$(python3 -c 'import json; print(json.load(open("x/manifest.json"))[0]["Layers"][-1])')
flip_byte "x/$layer" 600
(cd x && tar cf ../badlayer.tar --owner=0 --group=0 *)
expect_exit 3 "a layer whose bytes don't match its DiffID" "$ENVPACK" pack -q -o bad.envpack image:docker-archive:badlayer.tar
expect_err "does not match its digest" "the message says so"
check "no bundle is left" test ! -e bad.envpack
(cd x && tar cf ../nomanifest.tar --exclude manifest.json --owner=0 --group=0 *)
expect_exit 2 "an archive without manifest.json" "$ENVPACK" pack -q -o bad.envpack image:docker-archive:nomanifest.tar
python3 - <<'PY'
import io, tarfile
with tarfile.open("escape.tar", "w") as t:
    data = b"x"
    info = tarfile.TarInfo("../escape"); info.size = 1
    t.addfile(info, io.BytesIO(data))
PY
expect_exit 2 "an entry escaping the archive" "$ENVPACK" pack -q -o bad.envpack image:docker-archive:escape.tar
expect_err "unsafe entry" "the message says so"
# a symlink inside when read alone, leaving through another one (listed after it)
python3 - <<'PY'
import tarfile
with tarfile.open("app.tar") as src, tarfile.open("chain.tar", "w") as t:
    for name, target in (("esc", "a/up/.."), ("a/up", "..")):
        info = tarfile.TarInfo(name); info.type, info.linkname = tarfile.SYMTYPE, target
        t.addfile(info)
    for m in src.getmembers():
        t.addfile(m, src.extractfile(m) if m.isfile() else None)
PY
expect_exit 2 "a symlink leaving the archive through another symlink" "$ENVPACK" pack -q -o bad.envpack image:docker-archive:chain.tar
expect_err "chain.tar' holds symlink 'esc' that points outside the archive" "the message names the archive and the link"
check "no bundle is left" test ! -e bad.envpack
# a bundle whose manifest.json holds a layer's bytes (re-signed): inspect names the bundle and the entry
python3 "$HERE/tools/craft.py" resign app.envpack badjson.envpack k.key '
e = m["components"][0]["entries"]
j, tar = [x for x in e if x["path"] == "manifest.json"][0], [x for x in e if x["path"].endswith(".tar") and x.get("chunks")][0]
j["chunks"], j["size"] = tar["chunks"], tar["size"]'
expect_exit 2 "inspect refuses a manifest.json that is not JSON" "$ENVPACK" inspect badjson.envpack
expect_err "badjson.envpack.*manifest.json is not JSON" "the message names the bundle and the entry"
# ---- images packed from an OCI layout, written as `skopeo copy oci:X docker-archive:Y` writes them ----
# nothing of FILE, not even its staging file beside it
nothing() { test ! -e "$1" && ! ls -A | grep -q "^\.$1\."; }
"$ENVPACK" pack -q -k k.key -o oci.envpack image:oci:src:app
expect_exit 0 "an OCI image (gzip layers) restored to docker-archive:" \
	"$ENVPACK" restore --json -p k.pub oci.envpack --to docker-archive:conv.tar
cp "$T/out" conv.json
cp "$T/err" conv.err
skopeo inspect --raw oci:src:app >src.manifest
skopeo inspect --config --raw oci:src:app >src.config
skopeo copy -q oci:src:app docker-archive:skopeo.tar
check "skopeo reads it: the source's config digest and diff_ids" python3 -c '
import json, subprocess
m = json.loads(subprocess.check_output(["skopeo", "inspect", "--raw", "docker-archive:conv.tar"]))
c = json.loads(subprocess.check_output(["skopeo", "inspect", "--config", "--raw", "docker-archive:conv.tar"]))
src = json.load(open("src.manifest")); sc = json.load(open("src.config"))
assert m["config"]["digest"] == src["config"]["digest"], m
assert [l["digest"] for l in m["layers"]] == sc["rootfs"]["diff_ids"] == c["rootfs"]["diff_ids"], m'
check "the layout skopeo writes: <config>.json, <diff_id>.tar layers, manifest.json, each entry's bytes skopeo's" python3 -c '
import hashlib, json, tarfile
ours, theirs = tarfile.open("conv.tar"), tarfile.open("skopeo.tar")
mo, mt = json.load(ours.extractfile("manifest.json")), json.load(theirs.extractfile("manifest.json"))
src = json.load(open("src.manifest")); sc = json.load(open("src.config"))
assert len(mo) == 1 and mo[0]["Config"] == src["config"]["digest"][7:] + ".json" == mt[0]["Config"], mo
assert mo[0]["Layers"] == [d[7:] + ".tar" for d in sc["rootfs"]["diff_ids"]] == mt[0]["Layers"], mo
assert mo[0]["RepoTags"] == ["src:app"], mo
assert sorted(ours.getnames()) == sorted(mo[0]["Layers"] + [mo[0]["Config"], "manifest.json"]), ours.getnames()
for name in mo[0]["Layers"] + [mo[0]["Config"]]:
    data = ours.extractfile(name).read()
    assert data == theirs.extractfile(name).read() and hashlib.sha256(data).hexdigest() == name.split(".")[0], name'
check "skopeo copies it on (every layer checked)" skopeo copy -q docker-archive:conv.tar oci:back:app
# skopeo writes the config anew when it makes an OCI manifest (its trailing newline goes), as from its own archive
check "the copy has the source's config and diff_ids" python3 -c '
import json, subprocess
back = json.loads(subprocess.check_output(["skopeo", "inspect", "--config", "--raw", "oci:back:app"]))
assert back == json.load(open("src.config")), back'
check "umoci unpacks the copy to the source's files" sh -c '
umoci unpack --rootless --image src:app u1 >/dev/null 2>&1 && umoci unpack --rootless --image back:app u2 >/dev/null 2>&1 &&
diff -r u1/rootfs u2/rootfs'
check "envpack packs it again, each layer checked against its diff_id" "$ENVPACK" pack -q -o conv.envpack image:docker-archive:conv.tar
check "--json warns of the manifest, the config and each layer: digest, then the diff_id it is stored under" python3 -c '
import json
o = json.load(open("conv.json")); src = json.load(open("src.manifest")); sc = json.load(open("src.config"))
w = o["warnings"]; assert o["ok"] and len(w) == 1, w
w = w[0]
digest = "sha256:" + __import__("hashlib").sha256(open("src.manifest", "rb").read()).hexdigest()
assert "keeps no manifest, so manifest %s is not kept" % digest in w, w
assert "the config %s and the layers\x27 diff_ids are the source\x27s" % src["config"]["digest"] in w, w
pairs = ", ".join("%s -> %s" % (l["digest"], d) for l, d in zip(src["layers"], sc["rootfs"]["diff_ids"]))
assert w.endswith("2 compressed layers are stored uncompressed, under the diff_ids the config names: " + pairs), w'
check "and so does stderr" grep -q "warning: docker-archive: .conv.tar.: image .src. (src:app): a docker archive keeps no manifest" conv.err

# zstd layers, and layers kept uncompressed
skopeo copy -q --dest-compress-format zstd oci:src:app oci:zst:app
"$ENVPACK" pack -q -k k.key -o zst.envpack image:oci:zst:app
check "the zstd layout's layers are zstd" grep -q "tar+zstd" <(skopeo inspect --raw oci:zst:app)
expect_exit 0 "an OCI image with zstd layers restored to docker-archive:" \
	"$ENVPACK" restore -p k.pub zst.envpack --to docker-archive:zst.tar
check "its config and layers are the gzip image's, byte for byte" sh -c '
mkdir z1 z2 && tar xf zst.tar -C z1 && tar xf conv.tar -C z2 && diff -r -x manifest.json z1 z2'
check "skopeo copies it on" skopeo copy -q docker-archive:zst.tar oci:zback:app
# skopeo 1.9 keeps a docker-archive's layers uncompressed but calls them tar+gzip: the bytes tell, not the type
skopeo copy -q --dest-oci-accept-uncompressed-layers docker-archive:skopeo.tar oci:plain:app
check "skopeo's uncompressed layers say tar+gzip" grep -q "tar+gzip" <(skopeo inspect --raw oci:plain:app)
"$ENVPACK" pack -q -k k.key -o plain.envpack image:oci:plain:app
expect_exit 0 "an OCI image with uncompressed layers restored to docker-archive:" \
	"$ENVPACK" restore -p k.pub plain.envpack --to docker-archive:plain.tar
check "uncompressed layers keep their digests: the warning names no layer" sh -c '
grep -q "keeps no manifest" "$0" && ! grep -q "stored uncompressed" "$0"' "$T/err"
check "its diff_ids are the source's" test "$(inspect docker-archive:plain.tar)" = "$(inspect oci:src:app)"
check "its config and layers are the gzip image's, byte for byte" sh -c '
mkdir p1 && tar xf plain.tar -C p1 && diff -r -x manifest.json -x "*.json" p1 z2'

# several tags and images of one layout: one entry per image, its tags together, shared layers once
umoci tag --image src:app again
umoci config --image src:app --architecture arm64 --tag arm >/dev/null 2>&1
"$ENVPACK" pack -q -k k.key -o all.envpack image:oci:src
expect_exit 0 "every image of a layout restored to one docker-archive:" \
	"$ENVPACK" restore -p k.pub all.envpack --to docker-archive:all.tar
check "one entry per image, each tag with its image" python3 -c '
import json, tarfile
t = tarfile.open("all.tar"); m = json.load(t.extractfile("manifest.json"))
assert [e["RepoTags"] for e in m] == [["src:app", "src:again"], ["src:arm"]], m
assert m[0]["Layers"] == m[1]["Layers"] and len(t.getnames()) == len(m[0]["Layers"]) + 3, t.getnames()'
check "skopeo finds each tag" sh -c '
for tag in app again; do skopeo inspect docker-archive:all.tar:src:$tag | grep -q "\"Architecture\": \"amd64\"" || exit 1; done
skopeo inspect docker-archive:all.tar:src:arm | grep -q "\"Architecture\": \"arm64\""'
check "one warning per image, not per tag" test "$(grep -c "keeps no manifest" "$T/err")" = 2

# multi-platform indexes: the host's platform, or -o platform=; one missing is refused, naming those there are
python3 - <<'PY'
import hashlib, json, shutil
shutil.copytree("src", "multi")
idx = json.load(open("multi/index.json"))
ref = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in idx["manifests"]}
def entry(tag, os, arch):
    d = dict(ref[tag]); d.pop("annotations"); d["platform"] = {"os": os, "architecture": arch}; return d
def index(name, entries):
    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}).encode()
    h = hashlib.sha256(body).hexdigest()
    open("multi/blobs/sha256/" + h, "wb").write(body)
    return {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + h, "size": len(body),
            "annotations": {"org.opencontainers.image.ref.name": name}}
idx["manifests"] = [index("both", [entry("app", "linux", "amd64"), entry("arm", "linux", "arm64")]),
                    index("other", [entry("app", "linux", "ppc64le"), entry("arm", "linux", "mips64le")])]
json.dump(idx, open("multi/index.json", "w"))
PY
"$ENVPACK" pack -q -k k.key -o both.envpack image:oci:multi:both
"$ENVPACK" pack -q -k k.key -o other.envpack image:oci:multi:other
arch() { skopeo inspect --config --raw "docker-archive:$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["architecture"])'; }
case $(uname -m) in x86_64) host=amd64 ;; aarch64) host=arm64 ;; *) host= ;; esac
if [ -n "$host" ]; then
	expect_exit 0 "an index restored to docker-archive:" "$ENVPACK" restore -p k.pub both.envpack --to docker-archive:host.tar
	check "the host's platform is written" test "$(arch host.tar)" = "$host"
	expect_err "linux/$host of index sha256:[0-9a-f]{64}, chosen as this host's platform" "the warning says which platform and why"
	expect_err "so manifest sha256:[0-9a-f]{64} and index sha256:[0-9a-f]{64} are not kept" "the warning names the index too"
fi
expect_exit 0 "-o platform= chooses another" "$ENVPACK" restore -p k.pub both.envpack --to docker-archive:arm.tar -o platform=linux/arm64
check "that platform is written" test "$(arch arm.tar)" = arm64
check "its config is the arm64 image's" cmp <(skopeo inspect --config --raw oci:src:arm) <(skopeo inspect --config --raw docker-archive:arm.tar)
expect_exit 2 "an index without the host's platform is refused" "$ENVPACK" restore -q -p k.pub other.envpack --to docker-archive:other.tar
expect_err "index sha256:[0-9a-f]{64} has no image for linux/[a-z0-9]+, this host's \(it has linux/ppc64le, linux/mips64le\); choose one with -o platform=" \
	"the message names the platforms there are and the option"
check "nothing is written" nothing other.tar
expect_exit 2 "an index without the platform -o platform= names is refused" \
	"$ENVPACK" restore -q -p k.pub both.envpack --to docker-archive:other.tar -o platform=linux/s390x
expect_err "has no image for linux/s390x \(it has linux/amd64, linux/arm64\)" "the message names the platforms there are"
check "nothing is written" nothing other.tar
expect_exit 2 "an unknown -o key is refused" "$ENVPACK" restore -q -p k.pub both.envpack --to docker-archive:other.tar -o plattform=x
expect_err "docker-archive: unknown option -o plattform" "the message names it"
expect_exit 2 "-o platform= takes OS/ARCH" "$ENVPACK" restore -q -p k.pub both.envpack --to docker-archive:other.tar -o platform=arm64
check "nothing is written" nothing other.tar

# damaged images: refused with nothing written (a layout whose last layer, its type or its config is changed)
cat >remake.py <<'PY'
import hashlib, json, shutil, sys
src, ref, dst = sys.argv[1:4]
opts = dict(a.split("=", 1) for a in sys.argv[4:])
shutil.copytree(src, dst)
def blob(d): return open("%s/blobs/sha256/%s" % (dst, d["digest"][7:]), "rb").read()
def put(data):
    h = hashlib.sha256(data).hexdigest()
    open("%s/blobs/sha256/%s" % (dst, h), "wb").write(data)
    return "sha256:" + h, len(data)
idx = json.load(open(dst + "/index.json"))
top = [m for m in idx["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref][0]
man = json.loads(blob(top)); cfg = json.loads(blob(man["config"])); last = man["layers"][-1]
if "layer" in opts: last["digest"], last["size"] = put(open(opts["layer"], "rb").read())
if "media" in opts: last["mediaType"] = opts["media"]
if "diff_id" in opts: cfg["rootfs"]["diff_ids"][-1] = opts["diff_id"]
if "diff_ids" in opts: cfg["rootfs"]["diff_ids"] = cfg["rootfs"]["diff_ids"][:int(opts["diff_ids"])]
man["config"]["digest"], man["config"]["size"] = put(json.dumps(cfg).encode())
top["digest"], top["size"] = put(json.dumps(man).encode())
idx["manifests"] = [top]
json.dump(idx, open(dst + "/index.json", "w"))
PY
last=$(python3 -c 'import json; print(json.load(open("src.manifest"))["layers"][-1]["digest"][7:])')
zlast=$(skopeo inspect --raw oci:zst:app | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][-1]["digest"][7:])')
# a gzip header with no flags, then a deflate block of the reserved type 3: never valid, whatever follows
{ printf '\037\213\010\000\000\000\000\000\000\003\007'; head -c 4096 /dev/urandom; } >noise.gz
half() { head -c $(($(stat -c %s "$1") / 2)) "$1"; }
half "src/blobs/sha256/$last" >cut.gz
half "zst/blobs/sha256/$zlast" >cut.zst
bad() { # NAME CODE PATTERN WHAT REMAKE-OPTIONS...
	local name=$1 code=$2 pattern=$3 what=$4
	shift 4
	python3 remake.py src app "bad-$name" "$@" && "$ENVPACK" pack -q -k k.key -o "bad-$name.envpack" "image:oci:bad-$name:app" &&
	expect_exit "$code" "$what is refused" "$ENVPACK" restore -q -p k.pub "bad-$name.envpack" --to "docker-archive:bad-$name.tar"
	expect_err "docker-archive: image 'bad-$name'.*$pattern" "the message names the image and the problem"
	check "nothing is written" nothing "bad-$name.tar"
}
bad diff 3 "layer sha256:$last: decompressed, it hashes to sha256:[0-9a-f]{64}, not to the diff_id sha256:0{64} its config names" \
	"a layer that does not decompress to its diff_id" diff_id=sha256:$(printf '0%.0s' {1..64})
bad noise 3 "layer sha256:[0-9a-f]{64}: it does not decompress as gzip" "a gzip layer that is not gzip" layer=noise.gz
bad cut 3 "layer sha256:[0-9a-f]{64}: its gzip stream is cut short" "a gzip layer cut short" layer=cut.gz
bad zcut 3 "layer sha256:[0-9a-f]{64}: its zstd stream is cut short" "a zstd layer cut short" layer=cut.zst \
	media=application/vnd.oci.image.layer.v1.tar+zstd
bad enc 2 "a layer of media type 'application/vnd.oci.image.layer.v1.tar\+gzip\+encrypted' is no tar" \
	"an encrypted layer" media=application/vnd.oci.image.layer.v1.tar+gzip+encrypted
bad ids 2 "its config names 1 diff_ids for 2 layers" "a config naming fewer diff_ids than layers" diff_ids=1
finish
