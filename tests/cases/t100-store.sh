#!/usr/bin/env bash
# The deduplicating store: backup adds only what the store lacks; snapshots,
# restore, verify, inspect and diff of STORE@SNAPSHOT; export and import (a
# bundle is a store of one snapshot); check finds what is missing or damaged;
# forget keeps what restic's policy keeps (restic itself judges); prune; locks;
# kill -9 at any moment leaves a valid store; backup and prune side by side.
. "$(dirname "$0")/../lib.sh"

ep() { timeout -k 5 300 "$ENVPACK" "$@"; }
S=$T/store
"$ENVPACK" keygen -o "$T/k" >/dev/null
# seeded, so that where chunks are cut, and so what a change adds, is the same every run
python3 -c 'import random, sys; r = random.Random(7); sys.stdout.buffer.write(r.randbytes(24 << 20))' >"$T/rand"
truncate -s 256M "$T/d.raw"
dd if="$T/rand" of="$T/d.raw" bs=1M seek=8 conv=notrunc status=none
dd if=/usr/bin/env of="$T/d.raw" bs=1M seek=100 conv=notrunc status=none
mkdir -p "$T/tree/sub" && echo 'resource "null_resource" "x" {}' >"$T/tree/main.tf" && echo one >"$T/tree/sub/a.txt"

# 1. the first backup makes the store; a second of the same adds nothing; a 1 % change adds about that
expect_exit 2 "a backup to a place that is no store is refused without --init" ep backup -q "$S" "disk:$T/d.raw"
expect_err "not an envpack store.*--init" "and says to use --init"
check "and nothing was made" test ! -e "$S"
expect_exit 0 "first backup (--init)" ep backup --init -k "$T/k.key" --tag nightly --json "$S" "disk:$T/d.raw" "iac:$T/tree"
cp "$T/out" "$T/b1.json"
check "the summary is one JSON line" test "$(wc -l <"$T/b1.json")" = 1
check "it names the snapshot, sequence 1, the tag" test "$(jq_ 'd["sequence"], d["tags"], len(d["snapshot"])' "$T/b1.json")" = "1 ['nightly'] 64"
expect_exit 0 "second backup, nothing changed" ep backup -k "$T/k.key" --json "$S" "disk:$T/d.raw" "iac:$T/tree"
cp "$T/out" "$T/b2.json"
check "it adds no chunk ($(jq_ 'd["added_bytes"]' "$T/b2.json") bytes)" test "$(jq_ 'd["added_chunks"], d["added_bytes"] < 2048' "$T/b2.json")" = "0 True"
check "it reused every chunk" test "$(jq_ 'd["reused_chunks"] == d["chunks"]' "$T/b2.json")" = True
python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(8).randbytes(256 << 10))' |
	dd of="$T/d.raw" bs=256K seek=60 conv=notrunc status=none # ~1 % of the data
echo two >"$T/tree/sub/b.txt"
expect_exit 0 "third backup, 1 % changed" ep backup -k "$T/k.key" --json "$S" "disk:$T/d.raw" "iac:$T/tree"
cp "$T/out" "$T/b3.json"
added=$(jq_ 'd["added_bytes"]' "$T/b3.json")
data=$(jq_ 'd["data_bytes"]' "$T/b3.json")
# content-defined chunks (1 MiB on average, 4 MiB at most): a 256 KiB change rewrites the chunks
# around it until the cuts fall in step again, and a new file is one chunk more
check "it adds a few chunks' worth ($(jq_ 'd["added_chunks"]' "$T/b3.json") chunks, $added of $data bytes)" \
	test "$added" -gt 0 -a "$(jq_ 'd["added_chunks"]' "$T/b3.json")" -le 6 -a "$added" -lt $((data / 3))
check "the store holds each chunk once" test "$(find "$S/chunks" -name '*.zst' | wc -l)" -le $(( $(jq_ 'd["chunks"]' "$T/b1.json") + $(jq_ 'd["added_chunks"]' "$T/b3.json") ))

# 1b. the files cache: an unchanged raw disk file is not read again; any change to it is
FC=$T/fcstore
ep backup --init -q "$FC" "disk:$T/d.raw" || not_ok "files cache: a first backup"
expect_exit 0 "a backup with nothing changed since" ep backup --json "$FC" "disk:$T/d.raw"
check "reads no disk: every chunk taken from the last snapshot" python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["added_chunks"] == 0 and d["reused_chunks"] == d["chunks"] > 0, d' "$T/out"
check "the files cache names the disk" grep -q "\"$(realpath "$T/d.raw")\"" "$ENVPACK_STATE_DIR"/stores/*.files.json
check "the disk was not opened (strace)" bash -c '! command -v strace >/dev/null || ! strace -f -e trace=openat -o "$1/strace.log" "$2" backup -q "$3" "disk:$4" >/dev/null 2>&1 || ! grep -q "$4\", O_RDONLY" "$1/strace.log"' _ "$T" "$ENVPACK" "$FC" "$T/d.raw"
cp "$T/d.raw" "$T/d.bak"
printf 'Z' | dd of="$T/d.raw" bs=1 seek=$((9 * 1048576 + 123)) conv=notrunc status=none # one byte, same size
touch -r "$T/d.bak" "$T/d.raw" # and the old mtime: the ctime still tells
expect_exit 0 "a backup after one byte changed, mtime put back" ep backup --json "$FC" "disk:$T/d.raw"
check "reads the disk again and stores the changed chunk" python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["added_chunks"] >= 1, d' "$T/out"
expect_exit 0 "which restores to the changed disk" ep restore -q --insecure-skip-verify "$FC@latest" --to "dir:$T/rfc"
check "byte for byte" cmp "$T/d.raw" "$T/rfc/d.raw"
cp "$T/d.bak" "$T/d.raw"
expect_exit 0 "--force reads an unchanged disk all the same" ep backup --json --force "$FC" "disk:$T/d.raw"
check "and finds every chunk in the store" python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["added_chunks"] == 0 and d["reused_chunks"] == d["chunks"], d' "$T/out"
rm -f "$T/d.bak"

# 2. snapshots, and STORE@SNAPSHOT wherever a bundle is read
expect_exit 0 "snapshots --json" ep snapshots --json "$S"
cp "$T/out" "$T/snaps.json"
check "three snapshots, oldest first, with id, time, name, host, tags, sources and sizes" python3 - "$T/snaps.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert [x["sequence"] for x in s] == [1, 2, 3], s
for x in s:
    assert len(x["id"]) == 64 and x["time"].endswith("Z") and x["host"] and x["signed"], x
    assert x["sizes"]["data_bytes"] > 0 and x["sizes"]["virtual_bytes"] >= 256 << 20, x
assert s[0]["tags"] == ["nightly"] and s[1]["tags"] == [], s
assert s[0]["sources"][0].startswith("disk:") and s[0]["components"] == ["d", "tree"], s
PY
first=$(jq_ 'd[0]["id"]' "$T/snaps.json")
expect_exit 0 "snapshots as a table" ep snapshots "$S"
check "the table shows the short ids" grep -q "^${first:0:8} " "$T/out"
expect_exit 0 "verify --deep STORE@latest" ep verify -p "$T/k.pub" --deep "$S@latest"
expect_exit 0 "restore STORE@latest" ep restore -q -p "$T/k.pub" "$S@latest" --to "dir:$T/r3"
check "the disk restored from the store is the source's" cmp "$T/d.raw" "$T/r3/d.raw"
check "so is the tree" diff -r "$T/tree" "$T/r3/tree"
expect_exit 0 "restore the first snapshot by an id prefix" ep restore -q -p "$T/k.pub" "$S@${first:0:6}" --to "dir:$T/r1"
check "it is the first version (the 1 % change absent)" bash -c '! cmp -s "$1/d.raw" "$2/r1/d.raw" && test ! -e "$2/r1/tree/sub/b.txt"' _ "$T" "$T"
expect_exit 0 "inspect STORE@SNAPSHOT" ep inspect --json "$S@${first:0:8}"
expect_exit 2 "an unknown snapshot is refused" ep verify -p "$T/k.pub" "$S@0000abcd"
expect_err "no snapshot 0000abcd" "and named"
expect_exit 2 "too short a prefix is refused" ep restore -p "$T/k.pub" "$S@ab" --to "dir:$T/rx"
expect_exit 0 "diff first latest" ep diff --json "$S@${first:0:8}" "$S@latest"
check "diff: the disk changed, a file added, new bytes counted" python3 - "$T/out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ch = {(c["change"], c["component"], c["path"]) for c in d["changes"]}
assert ("changed", "d", None) in ch and ("added", "tree", "sub/b.txt") in ch, ch
assert d["new_bytes"] > 0 and d["removed"] == 0, d
PY

# 3. export and import: a bundle is a store of one snapshot
expect_exit 0 "export STORE@latest" ep export -q -p "$T/k.pub" "$S@latest" -o "$T/e.envpack"
expect_exit 0 "the export verifies --deep on its own" ep verify -p "$T/k.pub" --deep "$T/e.envpack"
check "its manifest is the snapshot's, byte for byte" bash -c 'tar xOf "$1/e.envpack" manifest.json | cmp - "$2"/snapshots/"$3".json' _ "$T" "$S" "$(jq_ 'd[2]["id"]' "$T/snaps.json")"
expect_exit 2 "export never overwrites" ep export -p "$T/k.pub" "$S@latest" -o "$T/e.envpack"
expect_exit 0 "import it into a new store" ep import --init -q -p "$T/k.pub" "$T/e.envpack" "$T/s2"
expect_exit 0 "export it again" ep export -q -p "$T/k.pub" "$T/s2@latest" -o "$T/e2.envpack"
check "export(import(bundle)) is the bundle, byte for byte" cmp "$T/e.envpack" "$T/e2.envpack"

# 4. check: presence, content, signatures; each problem named
expect_exit 0 "check --read-data -p" ep check --read-data -p "$T/k.pub" "$S"
"$ENVPACK" pack -q -o "$T/plain.envpack" "disk:$T/d.raw"
expect_exit 3 "an unsigned bundle is refused by import" ep import -p "$T/k.pub" "$T/plain.envpack" "$S"
expect_exit 0 "unless told --insecure-skip-verify" ep import -q --insecure-skip-verify "$T/plain.envpack" "$S"
check "importing a known disk added no chunk" test "$(find "$S/chunks" -name '*.zst' | wc -l)" -le $(( $(jq_ 'd["chunks"]' "$T/b1.json") + $(jq_ 'd["added_chunks"]' "$T/b3.json") ))
expect_exit 3 "check -p names the unsigned snapshot" ep check -p "$T/k.pub" "$S"
expect_err "is not signed" "as not signed"
expect_exit 0 "check --read-data-subset 50% --json" ep check --json --read-data-subset 50% "$S"
check "about half the chunks were read" python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert 0 < d["read"] < d["referenced"] and abs(d["read"] - d["referenced"] / 2) <= 1, d' "$T/out"
cp -a "$S" "$T/damaged"
victim=$(find "$T/damaged/chunks" -name '*.zst' | sort | head -n 1)
rm "$victim"
expect_exit 3 "a missing chunk fails check" ep check "$T/damaged"
expect_err "chunk $(basename "$victim" .zst) of snapshot [0-9a-f]{8} is missing" "and is named"
# 4b. chunks/ streamed (never held): check and prune judge each chunk as it is listed, once
cp -a "$S" "$T/placed"
python3 - "$T/placed" <<'PY'
import hashlib, os, sys
for i in range(300): # chunks no snapshot names, and a name under chunks/ that is no chunk's
    h = hashlib.sha256(b"placeholder-%d" % i).hexdigest()
    os.makedirs(os.path.join(sys.argv[1], "chunks", h[:2]), exist_ok=True)
    open(os.path.join(sys.argv[1], "chunks", h[:2], h + ".zst"), "wb").write(b"x" * 40)
os.makedirs(os.path.join(sys.argv[1], "chunks", "00"), exist_ok=True)
open(os.path.join(sys.argv[1], "chunks", "00", "notachunk"), "w").write("x")
PY
nref=$(find "$S/chunks" -name '*.zst' | wc -l)
expect_exit 0 "check --json beside 300 placeholder chunks" ep check --json "$T/placed"
check "counts them among the chunks, unreferenced, and passes over the name that is no chunk's" python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert (d["chunks"], d["unreferenced"], d["missing"]) == (int(sys.argv[2]) + 300, 300, 0) and d["referenced"] > 0, d' "$T/out" "$nref"
victim=$(find "$S/chunks" -name '*.zst' | sort | head -n 1)
victim=$T/placed/${victim#"$S/"}
rm "$victim"
expect_exit 3 "check there finds the one named chunk removed" ep check --json "$T/placed"
check "and counts it missing, the placeholders still unreferenced" python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert (d["missing"], d["chunks"], d["unreferenced"]) == (1, int(sys.argv[2]) + 299, 300) and sys.argv[3] in " ".join(d["problems"]), d' "$T/out" "$nref" "$(basename "$victim" .zst)"
cp "$S/${victim#"$T/placed/"}" "$victim" # back, for prune
if command -v strace >/dev/null; then
	strace -f -e trace=openat -o "$T/prune.strace" "$ENVPACK" prune --dry-run -q "$T/placed" >/dev/null 2>&1
	check "prune --dry-run lists chunks/ once (not again at the lock)" test "$(grep -c '"chunks/00/", O_RDONLY' "$T/prune.strace")" = 1
fi
expect_exit 0 "prune --dry-run --json there" ep prune --dry-run --json "$T/placed"
check "would remove the 300, keep the rest, and removes nothing" bash -c 'python3 -c "import json, sys; d = json.load(open(sys.argv[1]))[\"prune\"]; assert (d[\"chunks_removed\"], d[\"chunks_kept\"]) == (300, int(sys.argv[2])), d" "$1" "$2" && test "$(find "$3/chunks" -name "*.zst" | wc -l)" = $(($2 + 300))' _ "$T/out" "$nref" "$T/placed"
expect_exit 0 "prune there" ep prune -q "$T/placed"
check "removes the 300 placeholders and keeps every named chunk" diff <(cd "$T/placed/chunks" && find . -name "*.zst" | sort) <(cd "$S/chunks" && find . -name "*.zst" | sort)
expect_exit 0 "and the store checks clean, every chunk read" ep check -q --read-data "$T/placed"
cp -a "$S" "$T/rotten"
victim=$(find "$T/rotten/chunks" -name '*.zst' -size +100k | sort | head -n 1)
flip_byte "$victim" 5000
expect_exit 0 "a rotten chunk passes a presence check" ep check -q "$T/rotten"
expect_exit 3 "but not --read-data" ep check --read-data "$T/rotten"
expect_err "$(basename "$victim" .zst)" "which names the chunk"
cp -a "$S" "$T/tampered"
snap=$(grep -l '"nightly"' "$T/tampered/snapshots/"*.json)
sed -i 's/"nightly"/"nightlx"/' "$snap"
expect_exit 3 "a snapshot changed in place no longer matches its id" ep check "$T/tampered"
expect_err "does not match its id" "and check says so"
cp -a "$S" "$T/fifo"
rm "$T/fifo/config.json" && mkfifo "$T/fifo/config.json"
check "a FIFO where config.json should be is refused, not waited on" bash -c 'timeout 20 "$1" snapshots "$2" 2>"$3"; test $? = 3 && grep -q "not a regular file" "$3"' _ "$ENVPACK" "$T/fifo" "$T/fifo.err"

# 4b. one bad snapshot file does not block the store: garbage, an empty file, a good manifest under another id
BS=$T/badsnaps
cp -a "$S" "$BS"
ep snapshots --json "$BS" >"$T/bgood.json" || not_ok "list the store to damage"
printf 'garbage, not a manifest\n' >"$T/garbage"
garb=$(sha256sum <"$T/garbage" | cut -c1-64) # named by its digest: it fails as a manifest, not as an id
cp "$T/garbage" "$BS/snapshots/$garb.json"
empty=$(sha256sum </dev/null | cut -c1-64)
: >"$BS/snapshots/$empty.json"
wrong=$(printf 'another id' | sha256sum | cut -c1-64)
cp "$BS/snapshots/$first.json" "$BS/snapshots/$wrong.json" # the first snapshot's manifest, under another id
cp "$BS/snapshots/$first.sig" "$T/first.sig"
nchunks() { find "$1/chunks" -name '*.zst' | wc -l; }
for cmd in "snapshots" "snapshots --json"; do
	# shellcheck disable=SC2086 # the command and its option
	expect_exit 0 "$cmd lists a store with 3 bad snapshot files" ep $cmd "$BS"
	check "$cmd: a warning names each file and its problem" python3 - "$T/err" "$BS/snapshots" "$garb" "$empty" "$wrong" <<'PY'
import re, sys
err, d, garb, empty, wrong = open(sys.argv[1]).read(), *sys.argv[2:]
for i, why in ((garb, "not valid JSON"), (empty, "not valid JSON"), (wrong, "does not match its id")):
    assert re.search(r"warning: snapshot file '%s/%s\.json' cannot be used: .*%s" % (re.escape(d), i, why), err), (i, err)
PY
done
check "--json: the good snapshots as before, and only those" python3 -c 'import json, sys; assert json.load(open(sys.argv[1])) == json.load(open(sys.argv[2]))' "$T/out" "$T/bgood.json"
expect_exit 0 "snapshots (table)" ep snapshots "$BS"
check "lists the 4 good ones and counts the 3 bad files" bash -c 'test "$(grep -cE "^[0-9a-f]{8}  " "$1")" = 4 && grep -q "^4 snapshots" "$1" && grep -q "^3 snapshot files cannot be used" "$1"' _ "$T/out"
expect_exit 0 "restore STORE@latest passes over the bad files" ep restore -p "$T/k.pub" "$BS@latest" --to "dir:$T/rbl"
expect_err "warning: snapshot file '$BS/snapshots/$wrong.json' cannot be used" "warning of each"
check "it is the latest good one, byte for byte" bash -c 'cmp "$1/d.raw" "$2/rbl/d.raw" && diff -r "$1/tree" "$2/rbl/tree"' _ "$T" "$T"
expect_exit 0 "restore -q STORE@latest" ep restore -q --dry-run -p "$T/k.pub" "$BS@latest" --to "dir:$T/rbq"
check "warns of nothing" test ! -s "$T/err"
expect_exit 0 "restore STORE@ another good id" ep restore -q -p "$T/k.pub" "$BS@${first:0:8}" --to "dir:$T/rbf"
check "byte for byte the first snapshot" diff -r "$T/r1" "$T/rbf"
for bad in "garbage:$garb:not valid JSON" "an empty file:$empty:not valid JSON" "a manifest under another id:$wrong:does not match its id"; do
	IFS=: read -r what id why <<<"$bad"
	expect_exit 3 "restore STORE@ $what fails" ep restore -q -p "$T/k.pub" "$BS@${id:0:8}" --to "dir:$T/rbb"
	expect_err "snapshot file '$BS/snapshots/$id.json' cannot be used: .*$why" "naming the file and the problem ($why)"
	check "and restores nothing" test ! -e "$T/rbb"
done
expect_exit 3 "check fails on the bad files" ep check --read-data "$BS"
expect_err "check: snapshot file '$BS/snapshots/$garb.json' cannot be used.*not valid JSON" "naming the garbage"
expect_err "check: snapshot file '$BS/snapshots/$empty.json' cannot be used.*not valid JSON" "naming the empty file"
expect_err "check: snapshot file '$BS/snapshots/$wrong.json' cannot be used.*does not match its id" "naming the one under another id"
expect_err "3 problems found" "three problems, no more"
expect_exit 3 "check --json --read-data" ep check --json --read-data "$BS"
check "still checks the good ones: every chunk they name read" python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["snapshots"] == 4 and d["bad_snapshots"] == 3 and len(d["problems"]) == 3 and d["read"] == d["referenced"] > 0 and d["bad"] == d["missing"] == 0, d' "$T/out"
cp -a "$BS" "$T/badsnaps2"
victim=$(find "$T/badsnaps2/chunks" -name '*.zst' | sort | head -n 1)
rm "$victim"
expect_exit 3 "check beside bad files still finds a good snapshot's missing chunk" ep check "$T/badsnaps2"
expect_err "chunk $(basename "$victim" .zst) of snapshot [0-9a-f]{8} is missing" "and names it"
rm -rf "$T/badsnaps2"
# the first snapshot forgotten: its own chunks are now named only by its copy under the wrong id
expect_exit 0 "forget the first (good) snapshot" ep forget -q "$BS" "${first:0:8}"
n=$(nchunks "$BS")
low=$(printf '%s\n' "$garb" "$empty" "$wrong" | sort | head -n 1) # the first bad one is named
expect_exit 3 "prune refuses while a snapshot file cannot be read" ep prune "$BS"
expect_err "prune removes nothing while snapshot file '$BS/snapshots/$low.json' \(and 2 more\) cannot be used.*repair it, or remove it \('envpack forget $BS ${low:0:8}'\)" "naming the file and what to do"
check "and removes no chunk ($n)" test "$(nchunks "$BS")" = "$n"
expect_exit 3 "so does prune --dry-run" ep prune --dry-run "$BS"
nsnap=$(find "$BS/snapshots" -type f | wc -l)
expect_exit 3 "forget --prune refuses before forgetting anything" ep forget "$BS" --keep-last 1 --prune
expect_err "prune removes nothing while snapshot file" "as prune does"
check "no snapshot was removed, no chunk" test "$(find "$BS/snapshots" -type f | wc -l) $(nchunks "$BS")" = "$nsnap $n"
expect_exit 0 "forget removes bad files named by id" ep forget -q "$BS" "${garb:0:8}" "$empty"
check "they are gone, the rest stays" test ! -e "$BS/snapshots/$garb.json" -a ! -e "$BS/snapshots/$empty.json" -a -e "$BS/snapshots/$wrong.json"
expect_exit 3 "prune still refuses for the one left" ep prune "$BS"
expect_err "'$BS/snapshots/$wrong.json' cannot be used" "naming it"
# repaired: the copy put back under its own id, with its signature, is the first snapshot again
mv "$BS/snapshots/$wrong.json" "$BS/snapshots/$first.json" && cp "$T/first.sig" "$BS/snapshots/$first.sig"
expect_exit 0 "after the repair prune runs" ep prune -q "$BS"
expect_exit 0 "and the store checks clean (--read-data)" ep check -q --read-data "$BS"
expect_exit 0 "the repaired snapshot restores, its chunks kept by prune's refusal" ep restore -q -p "$T/k.pub" "$BS@${first:0:8}" --to "dir:$T/rbr"
check "byte for byte" diff -r "$T/r1" "$T/rbr"
rm -rf "$BS" "$T"/rb?

# 5. forget keeps what restic keeps: the same times, the same policy, restic as the judge
P=$T/policy
R=$T/restic
mkdir -p "$P/data" && echo x >"$P/data/f"
export RESTIC_PASSWORD=envpack-test TZ=UTC
restic init --repo "$R" >/dev/null 2>&1 || not_ok "restic init"
# 30 times over two years: a burst of hourly ones, some days, weeks apart, months apart
times=$(python3 - <<'PY'
import datetime as dt
t0 = dt.datetime(2025, 1, 1, 3, 0, 0)
offs = [0, 1, 2, 26, 27, 50, 75, 100, 170, 200, 340, 500, 730, 1000, 1400, 2000, 2300, 3000, 3600, 4400,
        5000, 6000, 7000, 8000, 9000, 10000, 11000, 12000, 14000, 17000]
for h in offs:
    print(int((t0 + dt.timedelta(hours=h)).replace(tzinfo=dt.timezone.utc).timestamp()))
PY
)
# each tool's 30 backups in one loop, the two loops side by side (restic's take about a second each)
for t in $times; do
	restic backup -q --repo "$R" --host h --time "$(date -u -d "@$t" '+%Y-%m-%d %H:%M:%S')" "$P/data" >/dev/null || echo "$t" >>"$T/restic-failed"
done &
restic_loop=$!
for t in $times; do
	SOURCE_DATE_EPOCH=$t "$ENVPACK" backup --init -q --host h "$P/store" "iac:$P/data" || not_ok "envpack backup at $t"
done
wait "$restic_loop"
[ -e "$T/restic-failed" ] && not_ok "restic backup at $(cat "$T/restic-failed")"
for policy in "--keep-last 3" "--keep-hourly 5" "--keep-daily 4" "--keep-weekly 3" "--keep-monthly 6" "--keep-yearly 2" \
	"--keep-last 2 --keep-daily 3 --keep-weekly 2 --keep-monthly 3 --keep-yearly 1"; do
	# shellcheck disable=SC2086 # a policy is several words
	restic forget --repo "$R" --dry-run --json $policy >"$T/restic.json" 2>/dev/null || not_ok "restic forget $policy"
	# shellcheck disable=SC2086
	ep forget --dry-run --json "$P/store" $policy >"$T/ours.json" 2>"$T/err" || not_ok "envpack forget $policy: $(cat "$T/err")"
	check "forget $policy keeps what restic 0.14 keeps" python3 - "$T/restic.json" "$T/ours.json" <<'PY'
import json, sys, datetime as dt
r = json.load(open(sys.argv[1]))
ours = json.load(open(sys.argv[2]))
def t(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")[:19] + "+00:00").timestamp()
theirs = sorted(t(s["time"]) for g in r for s in g["keep"])
mine = sorted(t(s["time"]) for s in ours["keep"])
assert theirs == mine, (len(theirs), len(mine), sorted(set(theirs) ^ set(mine)))
assert len(ours["keep"]) + len(ours["remove"]) == 30
PY
done
expect_exit 2 "forget needs a policy or ids" ep forget "$P/store"
expect_exit 2 "not both" ep forget "$P/store" --keep-last 1 "${first:0:8}"
expect_exit 2 "a policy count of 0 is refused" ep forget "$P/store" --keep-daily 0
n_before=$(find "$P/store/snapshots" -name '*.json' | wc -l)
expect_exit 0 "forget --dry-run removes nothing" ep forget -q --dry-run "$P/store" --keep-last 1
check "all $n_before snapshots still there" test "$(find "$P/store/snapshots" -name '*.json' | wc -l)" = "$n_before"
unset RESTIC_PASSWORD

# 6. forget and prune reclaim the space of forgotten data, and only that
expect_exit 0 "forget all but the latest, with --prune" ep forget --json "$S" --keep-last 1 --prune
check "one kept per group (env and host), the rest pruned" python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["prune"]["chunks_removed"] > 0 and sorted(k["name"] for k in d["keep"]) == ["plain", "vm"], d' "$T/out"
expect_exit 0 "the store checks clean after prune (--read-data)" ep check -q --read-data "$S"
expect_exit 0 "and the kept snapshot restores" ep restore -q -p "$T/k.pub" "$S@latest" --to "dir:$T/r4"
check "to the latest data" cmp "$T/d.raw" "$T/r4/d.raw"
expect_exit 0 "prune --dry-run on a pruned store" ep prune --dry-run --json "$S"
check "has nothing to remove" python3 -c 'import json, sys; assert json.load(open(sys.argv[1]))["prune"]["chunks_removed"] == 0' "$T/out"

# 7. locks: a holder is named; a lock left by a dead process, or unrefreshed past its "stale", is
# released for it with a warning, once (nothing removed: a lock needs no delete); prune removes them
H1=0123456789abcdef
dead=$(hostname)-999999-$H1-000000
printf '{"host":"%s","pid":999999,"command":"backup","exclusive":false,"time":%s}' "$(hostname)" "$(date +%s)" \
	>"$S/locks/$dead.json"
expect_exit 0 "a backup beside a dead process's lock record" ep backup -k "$T/k.key" "$S" "iac:$T/tree"
expect_err "released a stale lock of backup \(pid 999999, no longer running\)" "warns that it released it"
check "its release is written beside it, the record left" test -e "$S/locks/$dead-released.json" -a -e "$S/locks/$dead.json"
expect_exit 0 "the next backup" ep backup -k "$T/k.key" "$S" "iac:$T/tree"
check "passes over it in silence" bash -c '! grep -q "stale lock" "$1"' _ "$T/err"
# a record of another host left unrefreshed past its "stale" (a host that died): released too
now=$(date +%s)
printf '{"host":"gone-host","pid":4242,"command":"prune","exclusive":true,"time":%s,"since":%s,"stale":1800}' \
	$((now - 7200)) $((now - 7200)) >"$S/locks/gone-host-4242-$H1-000003.json"
printf '{"host":"live-host","pid":4343,"command":"backup","exclusive":false,"time":%s,"since":%s,"stale":1800}' \
	"$now" $((now - 7200)) >"$S/locks/live-host-4343-live.json"
# an older envpack's record (its name has no holder): cannot be released, so passed over each time
printf '{"host":"old-host","pid":4444,"command":"backup","exclusive":false,"time":%s}' $((now - 2 * 86400)) \
	>"$S/locks/old-host-4444-0a1b2c3d4e5f.json"
expect_exit 0 "a backup beside another host's record unrefreshed for 2 h (stale after 30 min)" ep backup -k "$T/k.key" "$S" "iac:$T/tree"
expect_err "released a stale lock of prune \(pid 4242 on gone-host, not refreshed since " "warns that it released it"
expect_err "passed over a stale lock of backup \(pid 4444 on old-host, not refreshed since " "and that it passed over the older envpack's"
check "released, not removed; the refreshed one stays" test -e "$S/locks/gone-host-4242-$H1-000003-released.json" \
	-a -e "$S/locks/gone-host-4242-$H1-000003.json" -a -e "$S/locks/live-host-4343-live.json"
expect_exit 0 "prune beside the refreshed backup record of another host (dir: the flock decides)" ep prune --json "$S"
check "removes the records of holders released or gone (at least 8: $(jq_ 'd["prune"]["lock_records_removed"]' "$T/out"))" \
	test "$(jq_ 'd["prune"]["lock_records_removed"] >= 8' "$T/out")" = True
check "the dead, gone and older envpack's records and their releases gone; the live one and prune's own left" \
	bash -c 'cd "$1/locks" && test ! -e "$2.json" -a ! -e "$2-released.json" -a ! -e gone-host-4242-$3-000003.json \
	-a ! -e old-host-4444-0a1b2c3d4e5f.json -a -e live-host-4343-live.json && test "$(ls | wc -l)" = 3' _ "$S" "$dead" "$H1"
rm -f "$S/locks/live-host-4343-live.json"
flock -s "$S/lock" sleep 20 &
holder=$!
printf '{"host":"%s","pid":%s,"command":"backup","exclusive":false,"time":%s}' "$(hostname)" "$holder" "$(date +%s)" \
	>"$S/locks/$(hostname)-$holder-live.json"
sleep 0.5
expect_exit 1 "prune while a backup holds the store fails at once" ep prune "$S"
expect_err "locked by backup \(pid $holder on $(hostname)" "naming the holder"
expect_exit 0 "a second backup shares the lock" ep backup -q -k "$T/k.key" "$S" "iac:$T/tree"
# the holder lets go after 2 s (its sleep holds the flock, so it goes too)
(sleep 2 && pkill -P "$holder" sleep; kill "$holder"; rm -f "$S/locks/$(hostname)-$holder-live.json") &
check "prune --lock-wait waits for the holder, then runs" timeout 60 "$ENVPACK" prune -q --lock-wait 30 "$S"
wait "$holder" 2>/dev/null

# 8. kill -9 at any moment of a backup leaves a valid store; the next backup completes and reuses what was written
K=$T/kstore
head -c 96M /dev/urandom >"$T/big.raw"
ep backup --init -q "$K" "iac:$T/tree" || not_ok "make the kill store"
for wait_chunks in 0 5 20 40; do
	"$ENVPACK" backup -q -j 1 "$K" "disk:$T/big.raw" &
	pid=$!
	for _ in $(seq 200); do
		[ "$(find "$K/chunks" -name '*.zst' | wc -l)" -ge $((wait_chunks + 1)) ] && break
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	check "after kill -9 (at ~$wait_chunks chunks), check passes" "$ENVPACK" check -q "$K"
	check "and no snapshot of the killed backup appeared" test "$(find "$K/snapshots" -name '*.json' | wc -l)" = 1
done
expect_exit 0 "the next backup completes" ep backup --json -j 1 "$K" "disk:$T/big.raw"
check "reusing the chunks the killed ones wrote" python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["reused_chunks"] > 0, d' "$T/out"
expect_exit 0 "the store checks clean with --read-data" ep check -q --read-data "$K"
expect_exit 0 "and restores it" ep restore -q --insecure-skip-verify "$K@latest" --to "dir:$T/rk"
check "byte for byte" cmp "$T/big.raw" "$T/rk/big.raw"
expect_exit 0 "prune clears what the killed backups left" ep prune --json "$K"
check "no partial file is left under chunks/" test -z "$(find "$K/chunks" -name '.tmp-*')"

# 9. backups and prune side by side: never a broken store. The disk alternates between two
# contents, so each backup needs the chunks of the snapshot the forget beside it drops.
C=$T/cstore
head -c 4M /dev/urandom >"$T/alt0"
head -c 4M /dev/urandom >"$T/alt1"
ep backup --init -q "$C" "disk:$T/d.raw" || not_ok "make the concurrency store"
for i in 1 2 3 4; do
	dd if="$T/alt$((i % 2))" of="$T/d.raw" bs=1M seek=20 conv=notrunc status=none
	"$ENVPACK" backup -q --lock-wait 120 "$C" "disk:$T/d.raw" "iac:$T/tree" &
	b=$!
	"$ENVPACK" forget -q --lock-wait 120 "$C" --keep-last 1 --prune &
	f=$!
	wait "$b"
	rb=$?
	wait "$f"
	rf=$?
	check "round $i: backup ($rb) and forget --prune ($rf) both succeed" test "$rb" = 0 -a "$rf" = 0
done
expect_exit 0 "the store checks clean (--read-data)" ep check -q --read-data "$C"
expect_exit 0 "and the newest snapshot restores" ep restore -q --insecure-skip-verify "$C@latest" --to "dir:$T/rc"
check "to the last data backed up" cmp "$T/d.raw" "$T/rc/d.raw"

# 9b. a backup that waited for the lock trusts nothing it saw before: prune (here: rm, while a
# holder keeps the lock) removes chunks the backup had listed; it must list them again
R=$T/racestore
cp "$T/rand" "$T/race.raw"
ep backup --init -q "$R" "disk:$T/race.raw" || not_ok "make the race store"
ep forget -q "$R" "$(ls "$R/snapshots" | head -c 12)" || not_ok "forget its snapshot (its chunks stay until prune)"
flock -o -x "$R/lock" sleep 120 &
holder=$!
"$ENVPACK" backup -q --lock-wait 120 "$R" "disk:$T/race.raw" &
b=$!
for _ in $(seq 300); do # until it waits for the lock: it listed the chunks, then opened the lock file
	ls -l "/proc/$b/fd" 2>/dev/null | grep -q "$R/lock" && break
	sleep 0.1
done
check "the backup listed the chunks and waits for the lock" bash -c 'ls -l "/proc/$1/fd" | grep -q "$2/lock"' _ "$b" "$R"
rm -rf "$R/chunks" # what a prune does while the backup waits
kill "$holder"
wait "$b"
check "the backup that waited succeeds ($?)" test $? = 0
expect_exit 0 "and its snapshot's chunks are all there (check --read-data)" ep check -q --read-data "$R"
expect_exit 0 "it restores" ep restore -q --insecure-skip-verify "$R@latest" --to "dir:$T/rrace"
check "byte for byte" cmp "$T/race.raw" "$T/rrace/race.raw"
# backups at once take distinct sequence numbers (they share the lock, so a claim orders them)
pids=()
for i in 1 2 3 4; do
	"$ENVPACK" backup -q --json "$R" "iac:$T/tree" >"$T/seq$i.json" &
	pids+=($!)
done
wait "${pids[@]}"
check "four backups at once all succeed" test "$(cat "$T"/seq[1-4].json | wc -l)" = 4
check "with four distinct sequence numbers ($(cat "$T"/seq[1-4].json | python3 -c 'import json, sys; print(sorted(json.loads(l)["sequence"] for l in sys.stdin))'))" \
	test "$(cat "$T"/seq[1-4].json | python3 -c 'import json, sys; print(len({json.loads(l)["sequence"] for l in sys.stdin}))')" = 4
expect_exit 0 "prune leaves one claim, the highest" ep prune -q "$R"
check "claims/ holds one" test "$(ls "$R/claims" | wc -l)" = 1
expect_exit 0 "the next backup" ep backup --json "$R" "iac:$T/tree"
check "numbers above all four" test "$(jq_ 'd["sequence"]' "$T/out")" = "$(($(cat "$T"/seq[1-4].json | python3 -c 'import json, sys; print(max(json.loads(l)["sequence"] for l in sys.stdin))') + 1))"

# 10. rollback: this host remembers the newest snapshot it wrote or verified, and refuses an older "latest"
RB=$T/rbstore
ep backup --init -q -k "$T/k.key" "$RB" "iac:$T/tree" || not_ok "rollback store: first backup"
cp -a "$RB" "$T/rb-old"
echo three >"$T/tree/sub/c.txt"
ep backup -q -k "$T/k.key" "$RB" "iac:$T/tree" || not_ok "rollback store: second backup"
rm -rf "$RB" && mv "$T/rb-old" "$RB" # the store served as it was before the second backup
expect_exit 3 "a store rolled back is refused as latest" ep restore -q -p "$T/k.pub" "$RB@latest" --to "dir:$T/rb1"
expect_err "serves snapshot [0-9a-f]{8} \(sequence 1\) as latest, but this host has seen sequence 2" "saying what it saw"
check "nothing was restored" test ! -e "$T/rb1"
expect_exit 0 "--allow-older accepts it on purpose" ep restore -q --allow-older -p "$T/k.pub" "$RB@latest" --to "dir:$T/rb1"
expect_exit 0 "a snapshot named by id is not refused" ep verify -p "$T/k.pub" "$RB@$(ls "$RB/snapshots" | head -c 8)"
expect_exit 0 "the next backup there" ep backup --json -k "$T/k.key" "$RB" "iac:$T/tree"
check "takes a sequence above what this host saw (3)" test "$(jq_ 'd["sequence"]' "$T/out")" = 3
expect_exit 0 "and latest is accepted again" ep verify -p "$T/k.pub" "$RB@latest"

# 11. cron: silent on success, one line and non-zero on failure
ep backup -k "$T/k.key" "$S" "iac:$T/tree" </dev/null >"$T/cron.out" 2>"$T/cron.err"
check "a backup under cron prints nothing" test ! -s "$T/cron.out" -a ! -s "$T/cron.err"
ep backup -k "$T/k.key" "$S" "disk:$T/missing.raw" </dev/null >"$T/cron.out" 2>"$T/cron.err"
got=$?
check "a failed one exits non-zero ($got) with one line on stderr" test "$got" != 0 -a "$(wc -l <"$T/cron.err")" = 1 -a ! -s "$T/cron.out"
check "which names the file" grep -q "missing.raw" "$T/cron.err"

# 12. the samples in samples/cron/ work as written (their paths moved into $T)
SC=$HERE/../samples/cron
mkdir -p "$T/etc"
cp "$T/k.key" "$T/etc/backup.key"
printf 'disk:%s\niac:%s\n' "$T/d.raw" "$T/tree" >"$T/etc/web.spec"
ep backup --init -q "$T/srv-dr" "iac:$T/tree" || not_ok "make the samples' store"
subst() { sed -e "s|/srv/dr|$T/srv-dr|g" -e "s|/etc/envpack/|$T/etc/|g" -e "s|/usr/local/bin/envpack|$ENVPACK|g" "$@"; }
line=$(grep -E '^[0-9]+ +2 ' "$SC/envpack-backup.cron" | sed -E 's/^([^ ]+ +){6}//' | subst | sed "s|envpack |$ENVPACK |g")
check "the cron line's backup and forget run silently" bash -c 'out=$(sh -c "$1" 2>&1 </dev/null) && test -z "$out"' _ "$line"
check "and left a tagged snapshot" bash -c '"$1" snapshots --json "$2" | grep -q "\"nightly\""' _ "$ENVPACK" "$T/srv-dr"
if command -v systemd-analyze >/dev/null; then
	subst "$SC/envpack-backup.service" >"$T/envpack-backup.service"
	cp "$SC/envpack-backup.timer" "$T/envpack-backup.timer"
	check "systemd-analyze verify accepts the service and timer" systemd-analyze verify "$T/envpack-backup.service" "$T/envpack-backup.timer"
fi

finish
