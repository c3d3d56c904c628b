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
printf 'x' | dd of="x/$layer" bs=1 seek=600 conv=notrunc status=none
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
finish
