#!/usr/bin/env bash
# Large disks list their extents in chunks of their own (BUNDLE.md, extent_lists):
# the manifest names the list chunks, an unchanged disk lists into the same ones,
# so a store's snapshot of it is a small manifest; the lists are verified, copied,
# kept by prune and sealed like any chunk.
. "$(dirname "$0")/../lib.sh"

ep() { timeout -k 5 300 "$ENVPACK" "$@"; }
"$ENVPACK" keygen -o "$T/k" >/dev/null
python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(3).randbytes(48 << 20))' >"$T/rand"
truncate -s 128M "$T/d.raw"
dd if="$T/rand" of="$T/d.raw" bs=1M seek=4 conv=notrunc status=none
export SOURCE_DATE_EPOCH=1764000000
manifest() { tar -xOf "$1" manifest.json; }

# 1. a bundle
expect_exit 0 "pack a disk of ~48 chunks" ep pack -q -k "$T/k.key" -n web -o "$T/b.envpack" "disk:$T/d.raw"
check "its manifest names extent_lists, not extents" bash -c 'm=$(tar -xOf "$1" manifest.json); [[ $m == *'"'"'"extent_lists":[["'"'"'* && $m != *'"'"'"extents"'"'"'* ]]' _ "$T/b.envpack"
check "the manifest is small ($(manifest "$T/b.envpack" | wc -c) bytes)" test "$(manifest "$T/b.envpack" | wc -c)" -lt 1024
list=$(manifest "$T/b.envpack" | python3 -c 'import json, sys; print(json.load(sys.stdin)["components"][0]["extent_lists"][0][0])')
check "the list is a chunk of the bundle, written after the data chunks" test "$(tar -tf "$T/b.envpack" | grep '^chunks/' | tail -n 1)" = "chunks/$list.zst"
check "holding the extents as JSON" bash -c 'tar -xOf "$1" "chunks/$2.zst" | zstd -dc | python3 -c "import json, sys; e = json.load(sys.stdin); assert e[0][\"offset\"] == 4 << 20 and sum(len(x[\"chunks\"]) for x in e) > 32"' _ "$T/b.envpack" "$list"
expect_exit 0 "verify --deep" ep verify -q --deep -p "$T/k.pub" "$T/b.envpack"
expect_exit 0 "restore" ep restore -q -p "$T/k.pub" "$T/b.envpack" --to "dir:$T/r1"
check "byte for byte" cmp "$T/d.raw" "$T/r1/d.raw"
ep pack -q -k "$T/k.key" -n web -o "$T/b2.envpack" "disk:$T/d.raw"
check "packing again gives the same bundle, byte for byte" cmp "$T/b.envpack" "$T/b2.envpack"
expect_exit 0 "inspect sees every data chunk" ep inspect --json "$T/b.envpack"
check "($(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["components"][0]["data_bytes"])' "$T/out") bytes of data)" \
	python3 -c 'import json, sys; assert json.load(open(sys.argv[1]))["components"][0]["data_bytes"] == 48 << 20' "$T/out"
# the list chunk changed: caught before a byte of the disk is trusted
cp "$T/b.envpack" "$T/t.envpack"
off=$(python3 -c '
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    m = t.getmember("chunks/" + sys.argv[2] + ".zst")
    print(m.offset_data + m.size // 2)' "$T/t.envpack" "$list")
flip_byte "$T/t.envpack" "$off"
expect_exit 3 "a changed list chunk fails verify" ep verify -q -p "$T/k.pub" "$T/t.envpack"
expect_err "chunk $list" "naming the list chunk"

# 2. a store
S=$T/store
expect_exit 0 "backup" ep backup --init -q -k "$T/k.key" "$S" "disk:$T/d.raw"
expect_exit 0 "backup again, unchanged" ep backup --json -k "$T/k.key" "$S" "disk:$T/d.raw"
check "adds no chunk" python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["added_chunks"] == 0, d' "$T/out"
snap=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["snapshot"])' "$T/out")
check "its snapshot is under 1 KB ($(wc -c <"$S/snapshots/$snap.json") bytes)" test "$(wc -c <"$S/snapshots/$snap.json")" -lt 1024
python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(4).randbytes(1 << 20))' |
	dd of="$T/d.raw" bs=1M seek=20 conv=notrunc status=none
expect_exit 0 "backup after a change" ep backup -q -k "$T/k.key" "$S" "disk:$T/d.raw"
expect_exit 0 "diff reads both lists" ep diff --json "$S@$(ls "$S/snapshots" | head -c 8)" "$S@latest"
expect_exit 0 "forget --keep-last 1 --prune" ep forget -q --keep-last 1 --prune "$S"
expect_exit 0 "check --read-data after prune: the list chunks were kept" ep check --read-data -p "$T/k.pub" "$S"
expect_exit 0 "restore STORE@latest" ep restore -q -p "$T/k.pub" "$S@latest" --to "dir:$T/r2"
check "byte for byte" cmp "$T/d.raw" "$T/r2/d.raw"
expect_exit 0 "export" ep export -q -p "$T/k.pub" "$S@latest" -o "$T/x.envpack"
expect_exit 0 "import into a new store" ep import -q --init -p "$T/k.pub" "$T/x.envpack" "$T/store2"
expect_exit 0 "export again" ep export -q -p "$T/k.pub" "$T/store2@latest" -o "$T/x2.envpack"
check "export(import(b)) == b, list chunks and all" cmp "$T/x.envpack" "$T/x2.envpack"

# 3. encrypted: the list chunk is sealed and named like any chunk
"$ENVPACK" keygen --x25519 -o "$T/r" >/dev/null
E=$T/enc
expect_exit 0 "backup --encrypt-to" ep backup --init -q -k "$T/k.key" --encrypt-to "$T/r.pub" "$E" "disk:$T/d.raw"
check "no chunk named by its content hash (the list's neither)" test ! -e "$E/chunks/${list:0:2}/$list.zst"
expect_exit 0 "restore with the key" ep restore -q -p "$T/k.pub" --decrypt-key "$T/r.key" "$E@latest" --to "dir:$T/r3"
check "byte for byte" cmp "$T/d.raw" "$T/r3/d.raw"
finish
