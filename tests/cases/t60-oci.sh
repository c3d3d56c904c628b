# Container images from OCI layouts: packed and restored with every digest kept,
# judged by skopeo and umoci; damaged layouts refused.
source "$(dirname "$0")/../lib.sh"
cd "$T" || exit 1
digest() { skopeo inspect "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])'; }

# a two-layer image and a second tag sharing its base, made by umoci
umoci init --layout src >/dev/null
umoci new --image src:base >/dev/null
umoci unpack --rootless --image src:base b >/dev/null 2>&1
mkdir -p b/rootfs/etc b/rootfs/srv
echo hello >b/rootfs/etc/hello
umoci repack --image src:base b >/dev/null
rm -rf b
umoci unpack --rootless --image src:base b >/dev/null 2>&1
head -c 3000000 /dev/urandom >b/rootfs/srv/data
cp /usr/share/common-licenses/GPL-3 b/rootfs/srv/
umoci repack --image src:app b >/dev/null
check "the test image has two layers" test "$(skopeo inspect oci:src:app | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Layers"]))')" = 2

"$ENVPACK" keygen -o k >/dev/null
expect_exit 0 "pack one tag of a layout" "$ENVPACK" pack -q -k k.key -o app.envpack image:oci:src:app
expect_exit 0 "pack every image of a layout" "$ENVPACK" pack -q -k k.key -o all.envpack image:oci:src
expect_exit 0 "inspect lists the image" "$ENVPACK" inspect app.envpack
check "inspect shows the tag and the manifest digest" grep -q "app  *$(digest oci:src:app)" "$T/out"
expect_exit 0 "inspect --json lists descriptors" "$ENVPACK" inspect --json all.envpack
check "both tags are in the bundle" python3 -c '
import json; j = json.load(open("'"$T"'/out"))
tags = sorted(d["annotations"]["org.opencontainers.image.ref.name"] for d in j["components"][0]["images"])
assert tags == ["app", "base"], tags'

# what inspect says of each image, judged by skopeo and by reading the source layout
skopeo inspect --raw oci:src:app >app.manifest
skopeo inspect --config oci:src:app >app.config
"$ENVPACK" inspect app.envpack >app.text
"$ENVPACK" inspect --json app.envpack >app.json
"$ENVPACK" inspect --json all.envpack >all.json
check "text: the platform is the config's, as skopeo reads it" python3 -c '
import json; c = json.load(open("app.config"))
p = c["os"] + "/" + c["architecture"] + ("/" + c["variant"] if c.get("variant") else "")
assert "\n          " + p + " " in open("app.text").read(), p'
check "text: each layer's digest and size, the config and the total, as in skopeo's manifest" python3 -c '
import json, re; m = json.load(open("app.manifest")); t = open("app.text").read()
for l in m["layers"]:
    assert re.search(re.escape(l["digest"][:19]) + r" +[0-9.]+ [KMG]?i?B  %d bytes\n" % l["size"], t), l
total = sum(l["size"] for l in m["layers"])
assert "config %s, %d layers, " % (m["config"]["digest"][:19], len(m["layers"])) in t, t
assert "(%d bytes)" % total in t, t'
check "json: the platform, config, layers and their total, as in skopeo's manifest" python3 -c '
import json; m = json.load(open("app.manifest")); c = json.load(open("app.config"))
img = json.load(open("app.json"))["components"][0]["images"][0]
assert img["ref"] == "app" and len(img["manifests"]) == 1, img
man = img["manifests"][0]
assert man["platform"] == c["os"] + "/" + c["architecture"] and man["config"] == m["config"]["digest"], man
assert [(l["digest"], l["size"]) for l in man["layers"]] == [(l["digest"], l["size"]) for l in m["layers"]], man
assert man["layers_size"] == sum(l["size"] for l in m["layers"])'
check "json: every image of a layout as the layout's own files say" python3 -c '
import json
idx = {d["annotations"]["org.opencontainers.image.ref.name"]: d for d in json.load(open("src/index.json"))["manifests"]}
blob = lambda d: json.load(open("src/blobs/sha256/" + d["digest"][7:]))
for img in json.load(open("all.json"))["components"][0]["images"]:
    d = idx[img["ref"]]; m = blob(d); c = blob(m["config"])
    assert img["digest"] == d["digest"] and img["manifests"][0]["digest"] == d["digest"], img
    assert img["manifests"][0]["platform"] == c["os"] + "/" + c["architecture"], img
    assert [l["digest"] for l in img["manifests"][0]["layers"]] == [l["digest"] for l in m["layers"]], img'

expect_exit 0 "restore to oci:" "$ENVPACK" restore -q -p k.pub app.envpack --to oci:rs/app
check "skopeo reads the restored layout" skopeo inspect oci:rs/app:app
check "the manifest digest is unchanged" test "$(digest oci:rs/app:app)" = "$(digest oci:src:app)"
check "skopeo copies it (every blob checked against its digest)" skopeo copy -q oci:rs/app:app oci:copied:app
check "umoci reads it" umoci stat --image rs/app:app
check "only the chosen image's blobs came along" test "$(ls rs/app/blobs/sha256 | wc -l)" -lt "$(ls src/blobs/sha256 | wc -l)"
expect_exit 0 "restore every image to dir:" "$ENVPACK" restore -q -p k.pub all.envpack --to dir:d
check "both tags restore with their digests" sh -c "test \"\$(skopeo inspect oci:d/src:base | grep -c Digest)\" -ge 1 && test \"$(digest oci:src:base)\" = \"\$(skopeo inspect oci:d/src:base | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"Digest\"])')\""
# the layout's own index.json and oci-layout come back byte for byte (skopeo writes
# them without a newline, and oci-layout with a blank), one tag's oci-layout too
skopeo copy -q oci:src:app oci:sk:one && skopeo copy -q oci:src:base oci:sk:two
for l in src sk; do
	expect_exit 0 "$l: pack every image" "$ENVPACK" pack -q -k k.key -o "$l-whole.envpack" "image:oci:$l"
	expect_exit 0 "$l: restore to oci:" "$ENVPACK" restore -q -p k.pub "$l-whole.envpack" --to "oci:back/$l"
	check "$l: index.json is the layout's, byte for byte" cmp "$l/index.json" "back/$l/index.json"
	check "$l: oci-layout is the layout's, byte for byte" cmp "$l/oci-layout" "back/$l/oci-layout"
done
check "skopeo reads the restored copy of its layout" skopeo inspect oci:back/sk:two
expect_exit 0 "sk: pack one tag, restore it" sh -c "'$ENVPACK' pack -q -k k.key -o sk-one.envpack image:oci:sk:one &&
	'$ENVPACK' restore -q -p k.pub sk-one.envpack --to oci:back/sk-one"
check "one tag: oci-layout is the layout's" cmp sk/oci-layout back/sk-one/oci-layout
check "one tag: index.json names that tag only" python3 -c '
import json; m = json.load(open("back/sk-one/index.json"))["manifests"]
assert [d["annotations"]["org.opencontainers.image.ref.name"] for d in m] == ["one"], m'
"$ENVPACK" pack -q -k k.key -o two.envpack image:oci:src:app image:oci:copied:app
check "the same layers packed twice are stored once" test "$(stat -c %s two.envpack)" -lt $(($(stat -c %s app.envpack) + 100000))
truncate -s 1M disk.raw
"$ENVPACK" pack -q -k k.key -o mixed.envpack disk:disk.raw image:oci:src:app
expect_exit 2 "oci: refuses a disk component" "$ENVPACK" restore -q -p k.pub --dry-run mixed.envpack --to oci:nope
expect_err "can.t take disk component" "the message says why"
expect_exit 2 "oci: takes one image component" "$ENVPACK" restore -q -p k.pub two.envpack --to oci:nope2
check "and leaves nothing behind" test ! -e nope2

# a two-platform index over two images umoci made, written by hand
umoci init --layout multi
umoci new --image multi:amd64 >/dev/null
umoci unpack --rootless --image multi:amd64 mb >/dev/null 2>&1
echo amd64 >mb/rootfs/which && umoci repack --image multi:amd64 mb >/dev/null && rm -rf mb
umoci config --image multi:amd64 --os linux --architecture arm64 --tag arm64 >/dev/null
umoci unpack --rootless --image multi:arm64 mb >/dev/null 2>&1
head -c 200000 /dev/urandom >mb/rootfs/arm && umoci repack --image multi:arm64 mb >/dev/null && rm -rf mb
python3 -c '
import hashlib, json
idx = json.load(open("multi/index.json"))
tag = {d["annotations"]["org.opencontainers.image.ref.name"]: d for d in idx["manifests"]}
plat = {"amd64": {"architecture": "amd64", "os": "linux"}, "arm64": {"architecture": "arm64", "os": "linux", "variant": "v8"}}
index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
    {k: tag[a][k] for k in ("mediaType", "digest", "size")} | {"platform": plat[a]} for a in ("amd64", "arm64")]}).encode()
h = hashlib.sha256(index).hexdigest()
open("multi/blobs/sha256/" + h, "wb").write(index)
idx["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + h,
                         "size": len(index), "annotations": {"org.opencontainers.image.ref.name": "both"}})
json.dump(idx, open("multi/index.json", "w"))'
check "skopeo reads the hand-made index" skopeo inspect --override-arch arm64 --override-variant v8 oci:multi:both
expect_exit 0 "pack a multi-platform index" "$ENVPACK" pack -q -k k.key -o multi.envpack image:oci:multi:both
"$ENVPACK" inspect multi.envpack >multi.text
"$ENVPACK" inspect --json multi.envpack >multi.json
# umoci's own tags name each platform's manifest; skopeo reads the index and, per platform, the layers
tagged() { python3 -c 'import json,sys; print([d["digest"] for d in json.load(open("multi/index.json"))["manifests"] if d["annotations"]["org.opencontainers.image.ref.name"] == sys.argv[1]][0])' "$1"; }
amd=$(tagged amd64)
arm=$(tagged arm64)
check "text: both platforms with their manifest digests" grep -Pzq "          linux/amd64 +manifest $amd\n(.*\n)*          linux/arm64/v8 +manifest $arm\n" multi.text
check "text: the index's tag and digest" grep -q "both  *$(skopeo inspect --raw oci:multi:both | sha256sum | cut -c1-64 | sed s/^/sha256:/) application/vnd.oci.image.index.v1+json" multi.text
check "json: the platforms and manifests of skopeo's raw index, each manifest's config and layers as skopeo reads them" python3 -c '
import json, subprocess
img = json.load(open("multi.json"))["components"][0]["images"][0]
index = json.loads(subprocess.check_output(["skopeo", "inspect", "--raw", "oci:multi:both"]))
plat = lambda p: "/".join([p["os"], p["architecture"]] + ([p["variant"]] if "variant" in p else []))
assert img["ref"] == "both" and [(m["platform"], m["digest"]) for m in img["manifests"]] == \
    [(plat(d["platform"]), d["digest"]) for d in index["manifests"]] == [("linux/amd64", "'"$amd"'"), ("linux/arm64/v8", "'"$arm"'")], img
for m, arch in zip(img["manifests"], (["amd64"], ["arm64", "--override-variant", "v8"])):
    layers = json.loads(subprocess.check_output(["skopeo", "inspect", "--override-arch"] + arch + ["oci:multi:both"]))["Layers"]
    raw = json.load(open("multi/blobs/sha256/" + m["digest"][7:]))
    assert m["config"] == raw["config"]["digest"] and [l["digest"] for l in m["layers"]] == layers, (m, layers)
    assert [l["size"] for l in m["layers"]] == [l["size"] for l in raw["layers"]] and m["layers_size"] == sum(l["size"] for l in raw["layers"]), m
assert len(img["manifests"][1]["layers"]) == 2'

# damaged layouts
cp -r src bad1
layer=$(python3 -c '
import json; idx = json.load(open("src/index.json"))
m = [d for d in idx["manifests"] if d["annotations"]["org.opencontainers.image.ref.name"] == "app"][0]
man = json.load(open("src/blobs/sha256/" + m["digest"][7:]))
print(man["layers"][-1]["digest"][7:])')
flip_byte "bad1/blobs/sha256/$layer" 100
expect_exit 3 "a layer whose bytes don't match its digest" "$ENVPACK" pack -q -o bad.envpack image:oci:bad1:app
expect_err "does not match its digest" "the message says so"
check "no bundle is left" test ! -e bad.envpack
cp -r src bad2
rm "bad2/blobs/sha256/$layer"
expect_exit 2 "a manifest naming a missing blob" "$ENVPACK" pack -q -o bad.envpack image:oci:bad2:app
expect_err "$layer" "the message names the blob"
expect_exit 2 "an unknown tag" "$ENVPACK" pack -q -o bad.envpack image:oci:src:nosuch
expect_err "no image tagged 'nosuch'" "the message names the tag"
mkdir bad3 && echo '{"imageLayoutVersion":"9"}' >bad3/oci-layout
expect_exit 2 "a layout of another version" "$ENVPACK" pack -q -o bad.envpack image:oci:bad3
# a bundle whose image blob was swapped for other content, re-signed: restore refuses it
python3 "$HERE/tools/craft.py" resign app.envpack swapped.envpack k.key '
f = m["components"][0]["entries"]
blobs = [e for e in f if e["path"].startswith("blobs/sha256/") and e.get("chunks")]
a, b = blobs[0], blobs[1]
a["chunks"], b["chunks"], a["size"], b["size"] = b["chunks"], a["chunks"], b["size"], a["size"]'
expect_exit 3 "a signed bundle whose blob content does not match its name" "$ENVPACK" restore -q -p k.pub swapped.envpack --to oci:swapped
expect_err "hashes to" "the message names the blob"
check "nothing is left behind" test ! -e swapped
expect_exit 3 "inspect refuses it too (chunks are checked, then each blob against its name)" "$ENVPACK" inspect swapped.envpack
expect_err "swapped.envpack.*does not match its digest" "the message names the bundle and the blob"
# an image descriptor pointing at a layer as if it were a manifest: not JSON
python3 "$HERE/tools/craft.py" resign app.envpack notjson.envpack k.key '
d = m["components"][0]["images"][0]
d["digest"], d["size"] = "sha256:'"$layer"'", [e for e in m["components"][0]["entries"] if e["path"].endswith("'"$layer"'")][0]["size"]'
expect_exit 2 "inspect refuses a manifest that is not JSON" "$ENVPACK" inspect notjson.envpack
expect_err "notjson.envpack.*blobs/sha256/$layer is not JSON" "the message names the bundle and the blob"
finish
