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

expect_exit 0 "restore to oci:" "$ENVPACK" restore -q -p k.pub app.envpack --to oci:rs/app
check "skopeo reads the restored layout" skopeo inspect oci:rs/app:app
check "the manifest digest is unchanged" test "$(digest oci:rs/app:app)" = "$(digest oci:src:app)"
check "skopeo copies it (every blob checked against its digest)" skopeo copy -q oci:rs/app:app oci:copied:app
check "umoci reads it" umoci stat --image rs/app:app
check "only the chosen image's blobs came along" test "$(ls rs/app/blobs/sha256 | wc -l)" -lt "$(ls src/blobs/sha256 | wc -l)"
expect_exit 0 "restore every image to dir:" "$ENVPACK" restore -q -p k.pub all.envpack --to dir:d
check "both tags restore with their digests" sh -c "test \"\$(skopeo inspect oci:d/src:base | grep -c Digest)\" -ge 1 && test \"$(digest oci:src:base)\" = \"\$(skopeo inspect oci:d/src:base | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"Digest\"])')\""
"$ENVPACK" pack -q -k k.key -o two.envpack image:oci:src:app image:oci:copied:app
check "the same layers packed twice are stored once" test "$(stat -c %s two.envpack)" -lt $(($(stat -c %s app.envpack) + 100000))
truncate -s 1M disk.raw
"$ENVPACK" pack -q -k k.key -o mixed.envpack disk:disk.raw image:oci:src:app
expect_exit 2 "oci: refuses a disk component" "$ENVPACK" restore -q -p k.pub --dry-run mixed.envpack --to oci:nope
expect_err "can.t take disk component" "the message says why"
expect_exit 2 "oci: takes one image component" "$ENVPACK" restore -q -p k.pub two.envpack --to oci:nope2
check "and leaves nothing behind" test ! -e nope2

# damaged layouts
cp -r src bad1
layer=$(python3 -c '
import json; idx = json.load(open("src/index.json"))
m = [d for d in idx["manifests"] if d["annotations"]["org.opencontainers.image.ref.name"] == "app"][0]
man = json.load(open("src/blobs/sha256/" + m["digest"][7:]))
print(man["layers"][-1]["digest"][7:])')
printf 'x' | dd of="bad1/blobs/sha256/$layer" bs=1 seek=100 conv=notrunc status=none
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
finish
