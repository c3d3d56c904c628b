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
"$ENVPACK" pack -q -k k.key -o oci.envpack image:oci:src:app
expect_exit 2 "docker-archive: refuses an OCI layout image" "$ENVPACK" restore -q -p k.pub oci.envpack --to docker-archive:nope.tar
check "refusals leave nothing" test ! -e nope -a ! -e nope.tar

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
finish
