# Damaged, forged and malicious input: each is refused with a message naming the
# file and the problem, the documented exit code (2 malformed, 3 integrity), and
# nothing written at or outside the destination.
source "$(dirname "$0")/../lib.sh"
cd "$T" || exit 1
craft() { python3 "$HERE/tools/craft.py" "$@"; }

"$ENVPACK" keygen -o k >/dev/null
"$ENVPACK" keygen -o other >/dev/null
make_disk d.raw 80M
mkdir -p tree/sub
echo 'output "x" { value = 1 }' >tree/main.tf
echo 'kind: Namespace' >tree/sub/ns.yaml
"$ENVPACK" pack -q -k k.key -o good.envpack disk:d.raw iac:tree
"$ENVPACK" pack -q -o unsigned.envpack disk:d.raw iac:tree
chunk=$(tar tf good.envpack | grep '^chunks/' | head -n 1)
size=$(stat -c %s good.envpack)

# restore_refused CODE NAME BUNDLE [options]: refused with CODE, and nothing written anywhere
restore_refused() {
	local code=$1 name=$2 bundle=$3
	shift 3
	rm -rf dest
	mkdir dest
	expect_exit "$code" "$name: restore refused" "$ENVPACK" restore -p k.pub "$@" "$bundle" --to dir:dest
	check "$name: nothing written at the destination" test -z "$(ls -A dest)"
	check "$name: nothing written outside it" test ! -e escape -a ! -e "$T/../escape-envpack"
}

# --- truncated bundles
# mid-chunk, mid-manifest, inside the signature, and just before the signature's header
cuts=$(python3 -c '
import tarfile
t = tarfile.open("good.envpack")
m, s = t.getmember("manifest.json"), t.getmember("manifest.sig")
print(5000, m.offset_data + 100, s.offset_data + 30, s.offset)')
for cut in $cuts; do
	head -c "$cut" good.envpack >trunc.envpack
	expect_exit 3 "truncated at $cut: verify" "$ENVPACK" verify -p k.pub trunc.envpack
	expect_err "trunc.envpack" "truncated at $cut: the message names the file"
	restore_refused 3 "truncated at $cut" trunc.envpack
done

# --- a flipped byte inside a chunk
python3 - "$chunk" <<'PY'
import sys, tarfile
with tarfile.open("good.envpack") as t:
    off = t.getmember(sys.argv[1]).offset_data
data = bytearray(open("good.envpack", "rb").read())
data[off + 40] ^= 0x01
open("flipped.envpack", "wb").write(data)
PY
expect_exit 0 "flipped chunk byte: a shallow verify sees every chunk present" "$ENVPACK" verify -p k.pub flipped.envpack
expect_exit 3 "flipped chunk byte: verify --deep" "$ENVPACK" verify -p k.pub --deep flipped.envpack
expect_err "chunk [0-9a-f]{64}" "flipped chunk byte: the message names the chunk"
restore_refused 3 "flipped chunk byte" flipped.envpack

# --- an edited manifest under the old signature
tar xf good.envpack manifest.json
sed 's/"name":"good"/"name":"evil"/' manifest.json >edited.json
craft rebuild good.envpack edited.envpack replace:manifest.json=edited.json
expect_exit 3 "edited manifest: verify" "$ENVPACK" verify -p k.pub edited.envpack
expect_err "signature does not match" "edited manifest: the signature check says so"
restore_refused 3 "edited manifest" edited.envpack

# --- a missing chunk
craft rebuild good.envpack missing.envpack "drop:$chunk"
expect_exit 3 "missing chunk: verify" "$ENVPACK" verify -p k.pub missing.envpack
expect_err "is missing" "missing chunk: the message says which"
restore_refused 3 "missing chunk" missing.envpack

# --- keys
expect_exit 3 "wrong key: verify" "$ENVPACK" verify -p other.pub good.envpack
expect_err "checked against key" "wrong key: the message names both keys"
restore_refused 3 "wrong key" good.envpack -p other.pub
expect_exit 3 "unsigned: verify" "$ENVPACK" verify -p k.pub unsigned.envpack
expect_err "not signed" "unsigned: the message says so"
restore_refused 3 "unsigned" unsigned.envpack
expect_exit 0 "unsigned: verify --insecure-skip-verify --deep" "$ENVPACK" verify --insecure-skip-verify --deep unsigned.envpack
expect_exit 2 "a missing key file" "$ENVPACK" verify -p nosuch.pub good.envpack
expect_err "nosuch.pub" "a missing key file is named"
expect_exit 2 "a private key is not a public key" "$ENVPACK" verify -p k.key good.envpack
mkdir trusted empty-trust
cp other.pub trusted/
cp k.pub trusted/ops.pub
expect_exit 0 "the trusted-keys directory finds the key by id" env ENVPACK_TRUSTED_KEYS="$T/trusted" "$ENVPACK" verify good.envpack
expect_exit 3 "a trusted-keys directory without the key" env ENVPACK_TRUSTED_KEYS="$T/empty-trust" "$ENVPACK" verify good.envpack
expect_err "no trusted key has id" "no trusted key: the message says which id"

# --- unsafe tar entries, rejected before anything is trusted
craft rebuild good.envpack dotdot.envpack file:../escape=tree/main.tf
craft rebuild good.envpack absolute.envpack "file:$T/escape=tree/main.tf"
craft rebuild good.envpack symlink.envpack symlink:chunks/x=/etc/passwd
craft rebuild good.envpack hardlink.envpack "hardlink:chunks/y=$chunk"
craft rebuild good.envpack unknown.envpack file:README=tree/main.tf
for bad in dotdot absolute symlink hardlink unknown; do
	expect_exit 3 "$bad entry: verify" "$ENVPACK" verify -p k.pub $bad.envpack
	expect_err "$bad.envpack" "$bad entry: the message names the bundle"
	case $bad in
	dotdot | absolute) expect_err "unsafe path" "a $bad entry is called unsafe" ;;
	symlink | hardlink) expect_err "links and special files are refused" "a $bad entry is refused as such" ;;
	esac
	restore_refused 3 "$bad entry" $bad.envpack
done

# --- duplicate names: the entry verified must be the one used, so none is allowed
craft rebuild good.envpack dupmanifest.envpack dup:manifest.json
craft rebuild good.envpack dupchunk.envpack "dup:$chunk"
for bad in dupmanifest dupchunk; do
	expect_exit 3 "$bad: verify" "$ENVPACK" verify -p k.pub $bad.envpack
	expect_err "appears twice" "$bad: the message says so"
	restore_refused 3 "$bad" $bad.envpack
done

# --- data after the end-of-archive marker: refused, since a second (signed) archive could
# hide there for readers that go on; zeros are padding, up to a record's worth
cat good.envpack unsigned.envpack >appended.envpack
expect_exit 3 "a second archive after the end: verify" "$ENVPACK" verify -p k.pub appended.envpack
expect_err "'appended.envpack': data follows the end-of-archive marker" "the message names the file and the problem"
restore_refused 3 "a second archive after the end" appended.envpack
cp good.envpack onebyte.envpack
printf x >>onebyte.envpack
expect_exit 3 "one byte after the end: inspect" "$ENVPACK" inspect onebyte.envpack
expect_err "'onebyte.envpack': data follows the end-of-archive marker \(at offset $size\)" "the message says where"
cp good.envpack zeros.envpack
head -c 4096 /dev/zero >>zeros.envpack
expect_exit 0 "more zero padding after the end is still padding" "$ENVPACK" verify -p k.pub zeros.envpack
head -c 1048576 /dev/zero >>zeros.envpack
expect_exit 3 "but not a megabyte of it" "$ENVPACK" verify -p k.pub zeros.envpack
expect_err "'zeros.envpack': [0-9]+ bytes follow the end-of-archive marker, more than its padding" "the message says so"

# --- declared sizes beyond the data
craft hugesize huge.envpack
expect_exit 3 "a tar size beyond the file" "$ENVPACK" verify -p k.pub huge.envpack
expect_err "truncated" "a tar size beyond the file: the message says truncated"
expect_exit 3 "a tar size beyond the file: inspect" "$ENVPACK" inspect huge.envpack

# --- signed but malicious manifests: refused as malformed (2), nothing written
signed_bad() { # NAME CODE
	craft resign good.envpack "$1.envpack" k.key "$2"
	expect_exit 2 "$1: verify" "$ENVPACK" verify -p k.pub "$1.envpack"
	expect_err "manifest" "$1: the message points at the manifest"
	restore_refused 2 "$1" "$1.envpack"
}
files='f = [c for c in m["components"] if c["type"] == "files"][0]; e = f["entries"]'
disk='d = [c for c in m["components"] if c["type"] == "disk"][0]'
signed_bad path-dotdot "$files; e[0]['path'] = '../escape'"
signed_bad path-absolute "$files; e[0]['path'] = '$T/escape'"
signed_bad symlink-out "$files; e.append({'path': 'zz', 'type': 'symlink', 'mtime': 0, 'target': '../../escape'})"
signed_bad symlink-abs "$files; e.append({'path': 'zz', 'type': 'symlink', 'mtime': 0, 'target': '/etc'})"
signed_bad through-symlink "$files; e[:0] = [{'path': 'a', 'type': 'symlink', 'mtime': 0, 'target': '.'}, {'path': 'a/x', 'type': 'file', 'mtime': 0, 'mode': 420, 'size': 0, 'chunks': []}]"
# Symlinks followed through each other, as the kernel would, must stay inside: each target
# below is inside when read alone. d1/.../d20/l leads to the root, so pw -> d1/.../d20/l/../..
# climbs out, to /etc/passwd at the end; links are judged against the whole list, in any order.
chain="$files; ds = ['/'.join('d%d' % j for j in range(1, i + 1)) for i in range(1, 21)]
link = lambda p, t: {'path': p, 'type': 'symlink', 'mtime': 0, 'target': t}
e[:0] = [{'path': p, 'type': 'dir', 'mtime': 0, 'mode': 493} for p in ds]"
signed_bad symlink-chain "$chain; e[:0] = [link('pw', ds[-1] + '/l/' + '../' * 20 + 'etc/passwd')]; e.append(link(ds[-1] + '/l', '/'.join(['..'] * 20)))"
expect_err "symlink-chain.envpack: manifest: symlink 'pw' points outside its tree" "symlink-chain: the message names the bundle and the link"
signed_bad symlink-up-link "$chain; e += [link('a', 'd1/up/..'), link('d1/up', '..')]"
expect_err "symlink 'a' points outside its tree" "symlink-up-link: the message names the link"
signed_bad symlink-loop "$chain; e += [link('a', 'b'), link('b', 'a')]"
expect_err "symlink 'a' loops" "symlink-loop: the message says it loops"
signed_bad symlink-self "$chain; e += [link('a', 'a')]"
expect_err "symlink 'a' loops" "symlink-self: the message says it loops"
signed_bad symlink-into-loop "$chain; e += [link('a', 'b/c'), link('b', 'b')]"
# restore without checking the signature still refuses it: nothing is created, no link anywhere
craft resign good.envpack symlink-chain-other.envpack other.key "$chain; e[:0] = [link('pw', ds[-1] + '/l/' + '../' * 20 + 'etc/passwd')]; e.append(link(ds[-1] + '/l', '/'.join(['..'] * 20)))"
restore_refused 2 "symlink-chain signed by another key, --insecure-skip-verify" symlink-chain-other.envpack --insecure-skip-verify
expect_err "symlink 'pw' points outside its tree" "--insecure-skip-verify: the message names the link"
check "--insecure-skip-verify: no symlink was created" test -z "$(find "$T" -type l)"
# chains that stay inside, up through a link and back down, are a valid bundle
craft resign good.envpack symlink-fine.envpack k.key "$chain; e += [link('d1/up', '..'), link('a', 'd1/up/d1/up/main.tf'), link('b', 'a')]"
expect_exit 0 "links that lead through links and stay inside: verify" "$ENVPACK" verify -p k.pub symlink-fine.envpack
rm -rf dest && mkdir dest
expect_exit 0 "links that stay inside: restore" "$ENVPACK" restore -q -p k.pub symlink-fine.envpack --to dir:dest
check "links that stay inside: the chain reads its file" cmp dest/tree/b tree/main.tf
rm -rf dest
signed_bad component-name "$files; f['name'] = '../escape'"
signed_bad extent-length "$disk; d['extents'][0]['length'] += 1"
signed_bad virtual-size "$disk; d['virtual_size'] = 1 << 62"
signed_bad past-virtual "$disk; d['virtual_size'] = 4096"
signed_bad chunk-too-big "$disk; d['extents'][0]['chunks'][0][1] = 64 << 20"
signed_bad file-size "$files; [x for x in e if x['type'] == 'file'][0]['size'] += 5"

# --- the environment name, by pack's rule: restore makes files and directories of it
signed_bad env-name "m['name'] = '../x'"
expect_err "environment name must be letters" "a signed '../x' environment name: the message says what is wrong"

# --- text from a manifest never reaches a terminal raw: inspect, diff and error messages
# make control characters '?'
esc=$(printf '\033')
tar xOf unsigned.envpack manifest.json >unsigned.json
unsigned_edit() { # OUT CODE: unsigned.envpack with its manifest changed by CODE (Python, on m)
	python3 -c 'import json, sys; m = json.load(open("unsigned.json")); exec(sys.argv[2]); json.dump(m, open(sys.argv[1] + ".json", "w"))' "$1" "$2"
	craft rebuild unsigned.envpack "$1.envpack" "replace:manifest.json=$1.json"
}
unsigned_edit escapes "m['tool'] = 'envpack \u001b]0;pwned\u0007'; m['created'] = '\u001b[2J2026'; m['components'][0]['source'] = 'd\u001b[31m.raw'"
expect_exit 0 "inspect a manifest with control characters in its texts" "$ENVPACK" inspect escapes.envpack
check "inspect prints none of them" sh -c "! grep -q '$esc' '$T/out' && ! grep -q \"\$(printf '\\a')\" '$T/out'"
check "inspect shows them as '?'" grep -q "by envpack ?]0;pwned?" "$T/out"
check "in the source of a component too" grep -q "from d?\[31m.raw" "$T/out"
unsigned_edit name-escape "m['name'] = 'x\u001b[31m'"
expect_exit 2 "an unsigned manifest with an escape in its name: inspect" "$ENVPACK" inspect name-escape.envpack
expect_err "name-escape.envpack: manifest: the environment name" "the refusal names the bundle and the field"
files_u='e = [c for c in m["components"] if c["type"] == "files"][0]["entries"]'
unsigned_edit dup-escape "$files_u; e.append(dict(e[-1], path='a\u001b[31m')); e.append(dict(e[-1]))"
expect_exit 2 "a manifest naming an entry twice, with an escape in its path" "$ENVPACK" inspect dup-escape.envpack
expect_err "entry 'a\?\[31m' appears twice" "the error message shows the escape as '?'"
check "and prints no control character" sh -c "! grep -q '$esc' '$T/err'"
unsigned_edit path-escape "$files_u; [x for x in e if x['path'] == 'main.tf'][0]['path'] = 'main\u001b[31m.tf'"
expect_exit 0 "diff against a manifest with an escape in a path" "$ENVPACK" diff unsigned.envpack path-escape.envpack
check "diff shows it as '?'" grep -q "^+ tree/main?\[31m.tf" "$T/out"
check "and prints no control character" sh -c "! grep -q '$esc' '$T/out'"

# --- a chunk that inflates past its declared size, and one without a size
craft resign good.envpack bomb-base.envpack k.key "pass"
first=$(python3 -c '
import json; m = json.load(open("manifest.json"))
d = [c for c in m["components"] if c["type"] == "disk"][0]
print(d["extents"][0]["chunks"][0][0])')
head -c 67108864 /dev/zero | zstd -q -19 >bomb.zst
craft rebuild good.envpack bomb.envpack "replace:chunks/$first.zst=bomb.zst"
expect_exit 3 "a decompression bomb: verify --deep" "$ENVPACK" verify -p k.pub --deep bomb.envpack
expect_err "chunk $first" "a decompression bomb: the message names the chunk"
restore_refused 3 "a decompression bomb" bomb.envpack
head -c 1000 /dev/urandom | zstd -q -c | cat >nosize.zst # piped: zstd can't know the size
craft rebuild good.envpack nosize.envpack "replace:chunks/$first.zst=nosize.zst"
expect_exit 3 "a chunk frame without a content size: verify --deep" "$ENVPACK" verify -p k.pub --deep nosize.envpack
expect_err "chunk $first is a zstd frame that does not declare its size" "a chunk without a content size: the message says so"
check "a chunk without a content size: no zstd error code shows as a size" sh -c "! grep -q 'declares -' '$T/err'"
printf 'not zstd at all' >garbage.zst
craft rebuild good.envpack garbage.envpack "replace:chunks/$first.zst=garbage.zst"
expect_exit 3 "a chunk that is not zstd: verify --deep" "$ENVPACK" verify -p k.pub --deep garbage.envpack
expect_err "chunk $first is not a zstd frame" "a chunk that is not zstd: the message says so"
restore_refused 3 "a chunk that is not zstd" garbage.envpack

# --- inspect and verify only read, and survive every crafted bundle
before=$(ls -A | sort | md5sum)
for b in *.envpack; do
	"$ENVPACK" inspect "$b" >/dev/null 2>&1
	code=$?
	[ $code -le 3 ] || not_ok "inspect $b exited $code"
	"$ENVPACK" verify --deep --insecure-skip-verify "$b" >/dev/null 2>&1
	code=$?
	[ $code -le 3 ] || not_ok "verify $b exited $code"
done
check "inspect and verify never crash and write nothing" test "$(ls -A | sort | md5sum)" = "$before"

# --- pack's own bad input: exit 2, the path named, no output and no temporary file left
expect_exit 2 "pack a missing disk" "$ENVPACK" pack -o out1.envpack disk:nosuch.raw
expect_err "nosuch.raw" "pack names the missing disk"
expect_exit 2 "pack iac: of a file" "$ENVPACK" pack -o out1.envpack iac:d.raw
expect_err "d.raw" "pack names the bad tree"
expect_exit 2 "pack an unknown source kind" "$ENVPACK" pack -o out1.envpack vm:d.raw
expect_exit 2 "pack without -o" "$ENVPACK" pack disk:d.raw
expect_exit 2 "pack with a bad environment name" "$ENVPACK" pack -n ../x -o out1.envpack disk:d.raw
expect_exit 2 "pack with a bad level" "$ENVPACK" pack -l 99 -o out1.envpack disk:d.raw
expect_exit 1 "pack into a missing directory" "$ENVPACK" pack -o nodir/out.envpack disk:d.raw
expect_exit 2 "pack --input-option without =" "$ENVPACK" pack --input-option region -o out1.envpack disk:d.raw
expect_err "KEY=VALUE" "the message says what --input-option takes"
expect_exit 2 "pack --input-option no source takes (a typo)" "$ENVPACK" pack --input-option endpiont=http://x -o out1.envpack disk:d.raw
expect_err "'endpiont' is not a setting.*disk: takes endpoint region" "the message names the key and what the source takes"
expect_exit 2 "pack --input-option with sources that take none" "$ENVPACK" pack --dry-run --input-option endpoint=x -o out1.envpack iac:tree
expect_exit 0 "pack --dry-run of local sources" "$ENVPACK" pack --dry-run -o out1.envpack disk:d.raw iac:tree
check "pack --dry-run wrote no bundle" test ! -e out1.envpack
check "pack --dry-run --json: no requests" \
	sh -c '"$0" pack --dry-run --json -o out1.envpack disk:d.raw | jq -e ".dry_run and (.requests | length == 0)"' "$ENVPACK"
expect_exit 2 "pack --dry-run still refuses a missing disk" "$ENVPACK" pack --dry-run -o out1.envpack disk:nosuch.raw
expect_exit 0 "backup --dry-run --init: the store is not opened" "$ENVPACK" backup --dry-run --init drystore disk:d.raw
check "backup --dry-run made no store" test ! -e drystore
check "no output and no temporary file after failed packs" sh -c "! ls -A | grep -q 'out1\|^\.good\|^\.out'"
expect_exit 2 "restore to an unknown target" "$ENVPACK" restore -p k.pub good.envpack --to ftp:x
expect_exit 2 "restore without --to" "$ENVPACK" restore -p k.pub good.envpack
expect_exit 2 "restore a missing bundle" "$ENVPACK" restore -p k.pub nosuch.envpack --to dir:dest
expect_err "nosuch.envpack" "restore names the missing bundle"
finish
