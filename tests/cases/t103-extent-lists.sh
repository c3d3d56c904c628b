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

# 4. a disk of more chunks than one list holds: the first list is full, the second goes on
python3 -c '
import sys
with open(sys.argv[1], "wb") as f:
    f.truncate(16400 << 16)
    for i in range(16400):  # one 4 KiB extent every 64 KiB, all alike
        f.seek(i << 16)
        f.write(b"envpack." * 512)' "$T/many.raw"
expect_exit 0 "pack a disk of 16400 extents" ep pack -q -k "$T/k.key" -o "$T/many.envpack" "disk:$T/many.raw"
check "its extents take two list chunks" bash -c 'tar -xOf "$1" manifest.json | python3 -c "import json, sys; assert len(json.load(sys.stdin)[\"components\"][0][\"extent_lists\"]) == 2"' _ "$T/many.envpack"
expect_exit 0 "verify --deep reads both" ep verify -q --deep -p "$T/k.pub" "$T/many.envpack"
expect_exit 0 "inspect counts their extents" ep inspect --json "$T/many.envpack"
check "(16400 extents, 16400 chunks)" python3 -c 'import json, sys; c = json.load(open(sys.argv[1]))["components"][0]; assert (c["extents"], c["chunks"]) == (16400, 16400), c' "$T/out"
expect_exit 0 "restore" ep restore -q -p "$T/k.pub" "$T/many.envpack" --to "dir:$T/r4"
check "byte for byte" cmp "$T/many.raw" "$T/r4/many.raw"

# 5. lists naming far more than a bundle of 440 KiB holds (400 lists of 59000 one-byte chunks
# each, 850 MB once read): refused before they are read, in little memory
bomb() { python3 "$HERE/tools/listbomb.py" "$@"; }
rss() { tail -n 1 "$T/rss"; } # KB, of the last run under /usr/bin/time -o "$T/rss"
# (freed memory that ASan holds in quarantine is not held by envpack)
timed() { ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0 /usr/bin/time -f %M -o "$T/rss" timeout -k 5 300 "$@"; }
bomb "$T/bomb.envpack"
bomb --key "$T/k.key" "$T/sbomb.envpack"
check "the bomb is $(($(stat -c %s "$T/bomb.envpack") >> 10)) KiB" test "$(stat -c %s "$T/bomb.envpack")" -lt $((1 << 20))
expect_exit 2 "inspect refuses it" timed "$ENVPACK" inspect "$T/bomb.envpack"
expect_err "bomb.envpack: manifest: disk 'bomb' names 400 extent lists, more than a disk of 23600000 bytes can need" "naming the bundle, the disk and the problem"
check "in $(rss) KB (under 200 MB)" test "$(rss)" -lt 204800
expect_exit 2 "verify --deep refuses it signed" timed "$ENVPACK" verify -q --deep -p "$T/k.pub" "$T/sbomb.envpack"
expect_err "sbomb.envpack: manifest: disk 'bomb' names 400 extent lists" "naming the bundle and the problem"
check "in $(rss) KB (under 200 MB)" test "$(rss)" -lt 204800
expect_exit 2 "restore refuses it" ep restore -q -p "$T/k.pub" "$T/sbomb.envpack" --to "dir:$T/rb"
check "writing nothing" test ! -e "$T/rb"
# declared as large as it needs to be, each list is refused as it is read: too many chunks
# for its extent's length, or more JSON than a list can need
bomb --refs 16384 --virtual $((1 << 50)) --lists 400 "$T/long.envpack"
expect_exit 2 "an extent of more chunks than its length holds is refused" timed "$ENVPACK" inspect "$T/long.envpack"
expect_err "long.envpack: manifest: an extent of disk 'bomb' names 16384 chunks, more than its 16384 bytes can hold" "naming the bundle and the problem"
check "in $(rss) KB (under 200 MB)" test "$(rss)" -lt 204800
bomb --virtual $((1 << 50)) --lists 120 "$T/wide.envpack"
expect_exit 2 "a list of more JSON than 16384 chunks need is refused" timed "$ENVPACK" verify -q --deep --insecure-skip-verify "$T/wide.envpack"
expect_err "wide.envpack: manifest: extent list 1 of disk 'bomb' holds more JSON than 16384 chunks need" "naming the bundle and the problem"
check "in $(rss) KB (under 200 MB)" test "$(rss)" -lt 204800
# within every bound (250 full lists of 256 KiB chunks: a 1 TiB disk), read one list at a time
bomb --refs 16384 --chunk 262144 --lists 250 --key "$T/k.key" "$T/big.envpack"
expect_exit 0 "inspect a disk of 4096000 chunk references" timed "$ENVPACK" inspect --json "$T/big.envpack"
check "in $(rss) KB (under 100 MB: one list at a time)" test "$(rss)" -lt 102400
check "counting every one" python3 -c 'import json, sys; c = json.load(open(sys.argv[1]))["components"][0]; assert (c["extents"], c["chunks"]) == (250, 4096000), c' "$T/out"
expect_exit 0 "verify --deep it" timed "$ENVPACK" verify -q --deep -p "$T/k.pub" "$T/big.envpack"
check "in $(rss) KB (under 100 MB)" test "$(rss)" -lt 102400
finish
