# Pack, inspect, verify and restore a sparse raw disk and file trees, judged by
# cmp, du, diff, stat, tar, zstd, openssl and an independent chunker (tests/tools/cdc.py).
source "$(dirname "$0")/../lib.sh"
cd "$T" || exit 1

check "keygen makes a key pair" "$ENVPACK" keygen -o k
check "private key is mode 0600" test "$(stat -c %a k.key)" = 600
check "keys are PEM that openssl reads" openssl pkey -in k.key -noout
expect_exit 2 "keygen refuses to overwrite" "$ENVPACK" keygen -o k
expect_err "k.key" "keygen names the existing file"

# a 64 GiB sparse disk with ~14 MiB of data, and a file tree with modes, links, an empty dir
truncate -s 64G big.raw
for off in 0 5 1000 40000 65000; do
	head -c 2800000 /dev/urandom | dd of=big.raw bs=1M seek="$off" conv=notrunc status=none
done
mkdir -p tree/sub/empty tree/ro
head -c 6000000 /dev/urandom >tree/random.bin
printf 'resource "null_resource" "x" {}\n' >tree/main.tf
printf '#!/bin/sh\necho hi\n' >tree/sub/run.sh
chmod 0755 tree/sub/run.sh
chmod 0640 tree/main.tf
touch tree/sub/zero-length
ln -s ../main.tf tree/sub/link
ln -s /etc/passwd tree/outside
echo secret >tree/ro/file
chmod 0500 tree/ro
touch -d '2020-02-02 02:02:02' tree/main.tf tree/sub

expect_exit 0 "pack a 64 GiB sparse disk and a tree" "$ENVPACK" pack -k k.key -o b.envpack disk:big.raw iac:tree
expect_err "skipping symlink .*outside" "pack warns about a symlink leaving the tree"
check "pack prints no progress bar when stderr is not a terminal" sh -c "! grep -q '%' '$T/err'"
check "the bundle is a tar that tar lists" sh -c "tar tvf b.envpack | grep -q 'manifest.json'"
check "the bundle is small (sparse data only)" test "$(stat -c %s b.envpack)" -lt 25000000

tar xf b.envpack manifest.json manifest.sig
chunk=$(tar tf b.envpack | grep '^chunks/' | head -n 1)
tar xf b.envpack "$chunk"
check "a chunk is a zstd frame whose content hashes to its name" \
	test "chunks/$(zstd -dc "$chunk" | sha256sum | cut -c1-64).zst" = "$chunk"
python3 -c 'import json,base64,sys; sys.stdout.buffer.write(base64.b64decode(json.load(open("manifest.sig"))["signature"]))' >sig.bin
openssl pkey -in k.key -pubout -out k-openssl.pub
check "openssl verifies the manifest signature on its own" \
	openssl pkeyutl -verify -pubin -inkey k-openssl.pub -rawin -in manifest.json -sigfile sig.bin
python3 "$HERE/tools/cdc.py" tree/random.bin >cdc.txt
python3 -c '
import json, sys
m = json.load(open("manifest.json"))
files = [c for c in m["components"] if c["type"] == "files"][0]
e = [e for e in files["entries"] if e["path"] == "random.bin"][0]
for d, n in e["chunks"]: print(d, n)' >envpack-chunks.txt
check "chunks match an independent implementation of the documented chunker" cmp cdc.txt envpack-chunks.txt
check "the file was cut into several chunks" test "$(wc -l <cdc.txt)" -ge 3

expect_exit 0 "inspect" "$ENVPACK" inspect b.envpack
check "inspect shows the disk's virtual size" grep -q "virtual 64.0 GiB" "$T/out"
check "inspect shows the signer" grep -q "key $(openssl pkey -in k.key -pubout -outform DER | tail -c 32 | sha256sum | cut -c1-16)" "$T/out"
expect_exit 0 "inspect --json" "$ENVPACK" inspect --json b.envpack
check "inspect --json reports sizes" python3 -c '
import json; j = json.load(open("'"$T"'/out"))
d = [c for c in j["components"] if c["type"] == "disk"][0]
assert d["virtual_bytes"] == 64 << 30 and 14000000 <= d["allocated_bytes"] <= 15000000, d
assert j["stored_bytes"] > 0 and j["signer_key_id"]'

expect_exit 0 "verify with the public key" "$ENVPACK" verify -p k.pub b.envpack
expect_exit 0 "verify --deep" "$ENVPACK" verify -p k.pub --deep b.envpack
check "verify --deep says how many chunks it checked" grep -q "chunks decompressed and match" "$T/out"
expect_exit 0 "verify --json" "$ENVPACK" verify -p k.pub --deep --json b.envpack
check "verify --json says ok" python3 -c 'import json; j = json.load(open("'"$T"'/out")); assert j["ok"] and j["chunks_checked"] > 0'
expect_exit 0 "verify -q is silent" "$ENVPACK" verify -q -p k.pub b.envpack
check "verify -q printed nothing" test ! -s "$T/out" -a ! -s "$T/err"

expect_exit 0 "restore --dry-run" "$ENVPACK" restore -p k.pub --dry-run b.envpack --to dir:dest
check "dry run names each destination" grep -q "would restore disk big (raw) -> dest/big.raw" "$T/out"
check "dry run writes nothing" test ! -e dest
expect_exit 0 "restore" "$ENVPACK" restore -p k.pub b.envpack --to dir:dest
check "the restored disk is identical (qemu-img compare, which reads holes as holes)" qemu-img compare -q -f raw -F raw big.raw dest/big.raw
check "the restored disk is sparse (du close to the original's)" \
	test "$(du -k dest/big.raw | cut -f1)" -le $(($(du -k big.raw | cut -f1) + 1024))
check "the restored tree has the same content" diff -r --no-dereference -x outside tree dest/tree
check "modes are kept" test "$(stat -c %a dest/tree/sub/run.sh dest/tree/main.tf dest/tree/ro)" = "$(printf '755\n640\n500')"
check "mtimes are kept" test "$(stat -c %Y dest/tree/main.tf dest/tree/sub)" = "$(stat -c %Y tree/main.tf tree/sub)"
check "symlinks inside the tree are kept" test "$(readlink dest/tree/sub/link)" = ../main.tf
check "symlinks leaving the tree are not" test ! -e dest/tree/outside -a ! -L dest/tree/outside
check "empty directories are kept" test -d dest/tree/sub/empty
check "no staging directory is left" sh -c "! ls -A dest | grep -q envpack-restore"
expect_exit 2 "restore never overwrites" "$ENVPACK" restore -p k.pub b.envpack --to dir:dest
expect_err "dest/big.raw' exists" "the refusal names the existing file"
check "the earlier restore is untouched" qemu-img compare -q -f raw -F raw big.raw dest/big.raw

SOURCE_DATE_EPOCH=1700000000 "$ENVPACK" pack -q -n env -k k.key -o r1.envpack disk:big.raw iac:tree 2>/dev/null
sleep 1
SOURCE_DATE_EPOCH=1700000000 "$ENVPACK" pack -q -n env -j 1 -l 3 -k k.key -o r2.envpack disk:big.raw iac:tree 2>/dev/null
check "with SOURCE_DATE_EPOCH two packs are byte-identical" cmp r1.envpack r2.envpack
"$ENVPACK" pack -q -n env -o u.envpack disk:big.raw iac:tree 2>/dev/null
check "without it only the created time differs" bash -c \
	"diff <(tar xOf r1.envpack manifest.json | sed 's/\"created\":\"[^\"]*\"//') <(tar xOf u.envpack manifest.json | sed 's/\"created\":\"[^\"]*\"//')"

# Workers read chunks in pack's read buffer: 100 MiB of dense data (a hole amid it) runs
# through that buffer several times over, with 64 threads' chunks in flight or one thread's.
head -c 104857600 /dev/urandom >dense.raw
dd if=/dev/zero of=dense.raw bs=64K seek=700 count=3 conv=notrunc status=none
for j in 1 64; do
	SOURCE_DATE_EPOCH=1700000000 "$ENVPACK" pack -q -n env -j $j -k k.key -o dense-$j.envpack disk:dense.raw 2>/dev/null
done
check "dense data packs alike with 1 and 64 threads" cmp dense-1.envpack dense-64.envpack
expect_exit 0 "restore the dense disk" "$ENVPACK" restore -q -p k.pub dense-64.envpack --to dir:dense
check "the restored dense disk is identical" cmp dense.raw dense/dense.raw
rm -rf dense dense.raw dense-1.envpack dense-64.envpack

/usr/bin/time -f %M -o rss.txt "$ENVPACK" pack -q -j 64 -o many.envpack disk:big.raw
check "peak memory stays under 256 MiB even with 64 threads" test "$(cat rss.txt)" -lt 262144
/usr/bin/time -f %M -o rss.txt "$ENVPACK" restore -q -j 64 --insecure-skip-verify many.envpack --to dir:many
check "restore's peak memory stays under 256 MiB too" test "$(cat rss.txt)" -lt 262144
rm -rf many many.envpack

cp big.raw twin.raw
expect_exit 0 "pack the same disk twice" "$ENVPACK" pack -q -k k.key -o twice.envpack disk:big.raw disk:twin.raw
check "identical data is stored once" test "$(stat -c %s twice.envpack)" -lt $(($(stat -c %s r1.envpack) + 200000))
"$ENVPACK" inspect --json twice.envpack >twice.json
check "components get unique names" python3 -c '
import json; j = json.load(open("twice.json")); assert [c["name"] for c in j["components"]] == ["big", "twin"], j'

expect_exit 3 "an unsigned bundle is refused" "$ENVPACK" restore u.envpack --to dir:u
check "nothing was restored" test ! -e u
expect_exit 0 "unless --insecure-skip-verify" "$ENVPACK" restore --insecure-skip-verify -q u.envpack --to dir:u
check "the insecure restore is still exact" qemu-img compare -q -f raw -F raw big.raw u/big.raw

expect_exit 0 "pack --json" "$ENVPACK" pack --json -k k.key -o j.envpack iac:tree
check "pack --json reports chunks and the signer" python3 -c '
import json; j = json.load(open("'"$T"'/out")); assert j["chunks"] >= 3 and j["signed_by"] and j["bundle_bytes"] > 6000000, j'
expect_exit 0 "pack -q" "$ENVPACK" pack -q -k k.key -o q.envpack iac:tree
check "pack -q prints nothing" test ! -s "$T/out" -a ! -s "$T/err"
# an existing output is refused, as convert, export and pull refuse theirs, unless --force
cp q.envpack q.before
expect_exit 2 "pack refuses to replace an existing file" "$ENVPACK" pack -q -k k.key -o q.envpack iac:tree/sub
expect_err "'q.envpack' exists; pack replaces it only with --force" "the refusal names the file and --force"
check "the existing bundle is untouched" cmp q.before q.envpack
check "no temporary file is left" sh -c "! ls -A | grep -q '^\.q\.envpack'"
expect_exit 0 "pack --force replaces it" "$ENVPACK" pack -q --force -k k.key -o q.envpack iac:tree/sub
check "with the new bundle" sh -c "tar xOf q.envpack manifest.json | grep -q '\"type\":\"files\",\"name\":\"sub\"'"
if command -v script >/dev/null; then
	script -qec "$ENVPACK pack -k k.key -o tty.envpack disk:big.raw" /dev/null >tty.log 2>&1
	check "a terminal gets a progress bar" grep -q "pack .*%.*ETA" tty.log
fi

# Every command the top-level help lists; pack and backup share their Sources
# text (cli/pack_args.h), which once brought its heading twice.
cmds=$("$ENVPACK" --help | awk '/^Commands:$/ { on = 1; next } on && /^$/ { exit } on { print $1 }')
check "--help lists the commands" test "$(echo "$cmds" | wc -w)" -ge 16
for cmd in $cmds; do
	expect_exit 0 "$cmd --help" "$ENVPACK" "$cmd" --help
	check "$cmd --help shows usage" grep -q "^usage: envpack $cmd" "$T/out"
	check "$cmd --help prints each heading once" test -z "$(grep -E '^[A-Z][A-Za-z ]*:$' "$T/out" | sort | uniq -d)"
	check "$cmd --help has no doubled blank line" test -z "$(awk 'NR > 1 && prev == "" && $0 == "" { print NR } { prev = $0 }' "$T/out")"
done
expect_exit 0 "--version" "$ENVPACK" --version
check "--version prints the version" grep -qE '^envpack [0-9]+\.[0-9]+\.[0-9]+$' "$T/out"
expect_exit 2 "an unknown command is a usage error" "$ENVPACK" frobnicate
finish
