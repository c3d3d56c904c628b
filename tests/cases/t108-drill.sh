# envpack drill: the boot-marker disk backed up into a dir: and an s3:// store is booted
# from the backup itself (instant recovery) in qemu-system-x86_64 (TCG) and checked on its
# serial console; the recovery time is measured. A guest that never prints the marker
# fails after --timeout with nothing left running and no file left; a damaged chunk is
# exit 3 naming the chunk, the guest having got an I/O error, never wrong bytes.
source "$(dirname "$0")/../lib.sh"
source "$HERE/boot.sh"
source "$HERE/s3.sh"
cd "$T" || exit 1
E=$ENVPACK
export TMPDIR=$T/tmp # the drills' private directories, checked for leftovers
mkdir -p "$TMPDIR"
"$E" keygen -o k >/dev/null
tag=t108-$RANDOM$RANDOM
mkboot boot.raw "$tag" --data 3 >/dev/null
nothing_left() { test -z "$(ls "$TMPDIR")" && ! pgrep -f "$TMPDIR/envpack-drill" >/dev/null; } # this test's drills only

# 1. a dir: store
expect_exit 0 "back up the boot-marker disk" "$E" backup --init -q -k k.key st disk:boot.raw
expect_exit 0 "drill its latest snapshot: the marker on the serial console" "$E" drill -p k.pub --json st --expect-serial "ENVPACK-BOOT-OK $tag" --timeout 120
cp "$T/out" d1.json
check "the record names the snapshot, the machine and the check" python3 - d1.json "$tag" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
assert d["kind"] == "envpack-drill" and d["version"] == 1 and re.fullmatch("[0-9a-f]{64}", d["snapshot"]), d
assert d["passed"] is True and d["integrity_failure"] is False, d
(m,) = d["machines"]
assert m["name"] == "boot" and m["passed"] and m["rto_seconds"] > 0 and m["bytes_read"] > 0, m
(c,) = m["checks"]
assert c["kind"] == "serial" and c["passed"] and 0 < c["seconds"] <= m["rto_seconds"], c
assert ("ENVPACK-BOOT-OK " + sys.argv[2]) in m["console_tail"], m
PY
check "nothing is left running or on disk" nothing_left
expect_exit 0 "a drill in text, quiet: silent when it passes" "$E" drill -q -p k.pub st@latest --expect-serial "ENVPACK-BOOT-OK $tag"
check "prints nothing" test ! -s "$T/out"
expect_exit 0 "dir:STORE alone is its latest snapshot too" "$E" drill -q -p k.pub "dir:$T/st" --expect-serial "ENVPACK-BOOT-OK $tag"
check "prints nothing" test ! -s "$T/out"

# 1b. kept in the store (-k), shown by snapshots, verified by check, drawn by --report
expect_exit 0 "a drill that keeps its record" "$E" drill -q -k k.key -p k.pub --json st --expect-serial "ENVPACK-BOOT-OK $tag"
check "the record has an id" python3 -c 'import json, re, sys; d = json.load(open(sys.argv[1])); assert re.fullmatch("[0-9a-f]{64}", d["id"]), d' "$T/out"
expect_exit 1 "a failing drill is kept too" "$E" drill -q -k k.key -p k.pub st --expect-serial "NEVER-PRINTED" --timeout 3 --report report.html
expect_exit 0 "snapshots shows the last drill" "$E" snapshots -p k.pub --json st
check "which failed" python3 -c 'import json, sys; (s,) = json.load(open(sys.argv[1])); assert s["last_drill"]["passed"] is False, s' "$T/out"
expect_exit 0 "check verifies the drill records" "$E" check -q -p k.pub st
check "the report is one page: no script, no URL but SVG's namespace" sh -c 'grep -q "<table id=\"drills\"" report.html && ! grep -qi "<script" report.html && ! grep -oiE "https?://[^\" ]*" report.html | grep -qv "^http://www.w3.org/2000/svg$"'
if [ -z "${EP_SANITIZER_PASS:-}" ]; then # Chromium judges it once
	"$HERE/tools/html_dom.sh" report.html >report.dom 2>report.err
	check "Chromium reads the report: a row per drill, one failed" test "$(python3 "$HERE/tools/dom_query.py" report.dom count 'table#drills tbody tr'),$(python3 "$HERE/tools/dom_query.py" report.dom count 'table#drills tbody tr.fail')" = 2,1
	check "and its RTO chart" test "$(python3 "$HERE/tools/dom_query.py" report.dom count '#rto-chart polyline')" -ge 1
fi

# 2. failures: exit 1 after --timeout, nothing left
expect_exit 1 "a marker that never comes: exit 1" "$E" drill -q -p k.pub st --expect-serial "NEVER-PRINTED" --timeout 4
expect_err "boot: FAILED: timed out after 4 s" "naming the machine and why"
check "nothing is left running or on disk" nothing_left
expect_exit 2 "no check: exit 2" "$E" drill -p k.pub st
expect_exit 2 "a bad regex: exit 2" "$E" drill -p k.pub st --expect-serial "("
expect_exit 2 "a machine it does not hold: exit 2" "$E" drill -p k.pub st --only nope --expect-serial x
expect_err "holds no machine named 'nope'" "naming it"

# 3. an s3:// store
if start_s3 s; then
	S3ENV=(env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_S3
		AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" AWS_DEFAULT_REGION=us-east-1
		AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null)
	SS=s3://$S3_S_BUCKET/drill
	expect_exit 0 "back up into an s3:// store" "${S3ENV[@]}" "$E" backup --init -q -k k.key --endpoint "$S3_S_ENDPOINT" "$SS" disk:boot.raw
	expect_exit 0 "drill it" "${S3ENV[@]}" "$E" drill -p k.pub --json --endpoint "$S3_S_ENDPOINT" "$SS" --expect-serial "ENVPACK-BOOT-OK $tag" --timeout 120
	check "it passed" test "$(jq_ 'd["passed"]' "$T/out")" = True
	check "nothing is left running or on disk" nothing_left
else
	not_ok "start the S3 server"
fi

# 4. a guest that answers HTTP (tests/tools/mkhttpguest.sh: Debian's kernel and busybox
# httpd, ~15 s to boot under TCG): the release pass only, as a slow boot is no test of
# envpack's own code twice
if [ -z "${EP_SANITIZER_PASS:-}" ]; then
	htag=t108h-$RANDOM
	bash "$HERE/tools/mkhttpguest.sh" http.raw "$htag" >/dev/null || not_ok "build the HTTP guest"
	expect_exit 0 "back up the HTTP guest's disk" "$E" backup --init -q -k k.key hst disk:http.raw
	expect_exit 0 "drill it: serial, TCP and HTTP checks" "$E" drill -p k.pub --json hst --expect-serial "ENVPACK-HTTP-READY $htag" \
		--expect-tcp 80 --expect-http /=200 --timeout 240
	check "every check passed, the RTO after the last" python3 - "$T/out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
(m,) = d["machines"]
assert d["passed"] and m["passed"], d
kinds = sorted(c["kind"] for c in m["checks"] if c["passed"])
assert kinds == ["http", "serial", "tcp"], m["checks"]
assert max(c["seconds"] for c in m["checks"]) <= m["rto_seconds"], m
PY
	expect_exit 1 "a status it does not answer: exit 1" "$E" drill -q -p k.pub hst --expect-http /missing=200 --timeout 60
	expect_err "http: FAILED: timed out after 60 s" "naming the machine"
	check "nothing is left running or on disk" nothing_left
fi

# 5. a damaged chunk: the boot sector's. The BIOS gets an I/O error, not wrong bytes, and
# the drill says the data is damaged and which chunk
cp -r st bad
victim=$(find bad/chunks -type f -size -4k | head -1)
python3 -c 'import sys; f = open(sys.argv[1], "r+b"); b = bytearray(f.read()); b[len(b) // 2] ^= 1; f.seek(0); f.write(b)' "$victim"
expect_exit 3 "a drill of a damaged backup: exit 3" "$E" drill -p k.pub --json bad --expect-serial "ENVPACK-BOOT-OK $tag" --timeout 20
check "the record says so" test "$(jq_ 'd["integrity_failure"], d["passed"]' "$T/out")" = "True False"
expect_err "the backup's data is damaged: chunk [0-9a-f]{64}" "naming the chunk"
check "the guest never printed its marker" test "$(jq_ '"ENVPACK-BOOT-OK" in d["machines"][0]["console_tail"]' "$T/out")" = False
check "the drill stopped at the damage, not at the timeout; the record names the chunk" sh -c "python3 -c 'import json, sys; f = json.load(open(sys.argv[1]))[\"machines\"][0][\"failure\"]; print(f)' '$T/out' | grep -qE \"^the backup's data is damaged: chunk [0-9a-f]{64} does not match its digest\""
expect_exit 3 "drilled again with a report" "$E" drill -q -p k.pub bad --expect-serial "ENVPACK-BOOT-OK $tag" --timeout 20 --report bad.html
check "the report names the chunk" grep -qE "damaged: chunk [0-9a-f]{64}" bad.html
check "nothing is left running or on disk" nothing_left

# 6. the console read on as it grows, from a stand-in qemu first on PATH that writes it in
# pieces 0.5 s apart ('|' between them; "=N" is N MiB of numbered lines) and keeps a copy
mkdir fakeq
cat >fakeq/qemu-system-x86_64 <<'PY'
#!/usr/bin/env python3
import os, sys, time
out = sys.argv[sys.argv.index("-serial") + 1][len("file:"):]
n = 0
for i, piece in enumerate(os.environ["CONSOLE"].split("|")):
    time.sleep(0.5 if i else 0)
    if piece.startswith("="):
        lines = (int(piece[1:]) << 20) // 16
        data = b"".join(b"line %010d\n" % k for k in range(n, n + lines))
        n += lines
    else:
        data = piece.encode()
    for path in (out, os.environ["CONSOLE_COPY"]):
        with open(path, "ab") as f:
            f.write(data)
time.sleep(60)
PY
chmod +x fakeq/qemu-system-x86_64
FAKEQ=(env PATH="$T/fakeq:$PATH" CONSOLE_COPY="$T/console")
expect_exit 0 "a marker split across two polls is found" env CONSOLE=$'ENVPACK-SPL|IT-OK\n' "${FAKEQ[@]}" \
	"$E" drill -q -p k.pub st --expect-serial "^ENVPACK-SPLIT-OK$" --timeout 10
rm -f console
expect_exit 0 "and one after the console passed 4 MiB" env CONSOLE=$'=5|=3|ENVPACK-LATE-OK\n' "${FAKEQ[@]}" \
	"$E" drill -q -p k.pub --json st --expect-serial "^ENVPACK-LATE-OK$" --timeout 20
check "the record keeps the console's last 4096 bytes" python3 -c 'import json, sys; (m,) = json.load(open(sys.argv[1]))["machines"]; assert m["console_tail"].encode() == open(sys.argv[2], "rb").read()[-4096:], m["console_tail"][:200]' "$T/out" console
check "nothing is left running or on disk" nothing_left
finish
