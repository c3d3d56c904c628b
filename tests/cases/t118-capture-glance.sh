#!/usr/bin/env bash
# pack image:glance:NAME|ID against Debian's real Keystone and glance-api
# (tests/openstack.sh): images made by qemu-img (a qcow2 with holes, a raw one)
# uploaded to Glance, captured, restored to dir: and compared by qemu-img; the
# image's properties as the machine; the bundle restored into a second Glance, and to azure: (Azurite)
# (a migration); a raw image streamed into the pack with no scratch file; a
# download cut mid-way resumed with a Range request (qcow2 through a scratch file,
# raw streamed); a byte changed in Glance's file store is exit 3 with nothing
# written (the raw image's found only once the stream has been packed); a wrong
# password, an unknown image, two images of one name, an ISO refused; a dry run
# sends nothing.
. "$(dirname "$0")/../lib.sh"
. "$HERE/openstack.sh"
. "$HERE/azure.sh"

start_glance_keystone
OSPW=pw-$RANDOM$RANDOM$RANDOM
setup=$("$OS_PY" "$OS_TOOLS/keystone_setup.py" --keystone "$KEYSTONE_K_URL" --admin-password "$OS_ADMIN_PASSWORD" \
	--user ops --password "$OSPW" --project demo --glance "$GLANCE_G_URL" --heat http://127.0.0.1:9 2>"$T/setup.err") ||
	{ not_ok "fill keystone: $(tail -n 3 "$T/setup.err")"; finish; exit 0; }
eval "$setup"

mkdir -p "$T/home" "$T/tmp"
ep() { os_envpack "$@"; } # ep [NAME=VALUE...] ARGS...: envpack in an openrc's environment
# upload NAME FILE FORMAT [JSON-PROPERTIES]: a new active image in Glance g; prints its id
upload() {
	local body id props=${4:-'{}'}
	body=$("$OS_PY" -c 'import json, sys
d = {"name": sys.argv[1], "disk_format": sys.argv[2], "container_format": "bare"}
d.update(json.loads(sys.argv[3]))
print(json.dumps(d))' "$1" "$3" "$props")
	id=$(curl -sf -X POST -H "Content-Type: application/json" -d "$body" "$GLANCE_G_URL/v2/images" |
		"$OS_PY" -c 'import json, sys; print(json.load(sys.stdin)["id"])') &&
		curl -sf -X PUT -H "Content-Type: application/octet-stream" --data-binary "@$2" "$GLANCE_G_URL/v2/images/$id/file" &&
		echo "$id"
}
scratch_empty() { [ -z "$(ls -A "$T/tmp")" ]; }

# a qcow2 with holes (data at a few places of 64 MiB) and a raw disk
make_disk "$T/web.raw" 64M
qemu-img convert -f raw -O qcow2 "$T/web.raw" "$T/web.qcow2" || not_ok "qemu-img convert"
check "the qcow2 has holes: smaller than its disk" test "$(stat -c %s "$T/web.qcow2")" -lt $((32 << 20))
truncate -s 16M "$T/db.raw"
head -c 3000000 /dev/urandom | dd of="$T/db.raw" bs=1M seek=5 conv=notrunc status=none
WEB=$(upload web "$T/web.qcow2" qcow2 '{"min_ram": 2048, "hw_firmware_type": "uefi", "os_distro": "debian",
	"hw_cpu_sockets": "2", "hw_cpu_cores": "2", "hw_disk_bus": "scsi"}') || not_ok "upload web"
DB=$(upload db "$T/db.raw" raw '{"os_type": "windows"}') || not_ok "upload db"
"$ENVPACK" keygen -o "$T/k" >/dev/null

# 1. dry run: the token request and the Glance GETs shown, credentials masked, nothing sent
"$OS_PY" "$OS_TOOLS/s3_fault.py" --upstream "$GLANCE_G_URL" pass --port-file "$T/pdry" --log "$T/pdry.log" \
	--lifetime 600 >/dev/null 2>"$T/pdry.err" &
SRV_PIDS[fault/dry]=$!
pdry=$(srv_wait_port_file "$T/pdry" $!) || not_ok "start the logging proxy"
glance_lines=$(wc -l <"$GLANCE_G_DIR/glance.log")
expect_exit 0 "pack --dry-run image:glance:web" ep pack --dry-run -o "$T/dry.envpack" "image:glance:web" \
	--input-option "image-url=http://127.0.0.1:$pdry"
check "it shows the Keystone token request" grep -q "POST $KEYSTONE_K_URL/v3/auth/tokens" "$T/out"
check "with the password masked" grep -q '"password": "\*\*\*\*"' "$T/out"
check "the password is nowhere in the output" bash -c '! grep -qF -- "$1" "$2/out" "$2/err"' _ "$OSPW" "$T"
check "it shows the name lookup and the download" bash -c 'grep -q "GET http://127.0.0.1:$1/v2/images?name=web" "$2" &&
	grep -q "GET http://127.0.0.1:$1/v2/images/{id}/file" "$2"' _ "$pdry" "$T/out"
check "the token header is masked" bash -c '! grep -E "X-Auth-Token: [^*]" "$1"' _ "$T/out"
expect_exit 0 "pack --dry-run image:glance:ID" ep pack --dry-run -o "$T/dry.envpack" "image:glance:$DB" \
	--input-option "image-url=http://127.0.0.1:$pdry"
check "by id: GET /v2/images/ID, then its file" grep -q "GET http://127.0.0.1:$pdry/v2/images/$DB/file" "$T/out"
check "the dry runs sent Glance nothing (the proxy saw no request)" test ! -s "$T/pdry.log"
check "glance-api logged no request either" test "$(wc -l <"$GLANCE_G_DIR/glance.log")" = "$glance_lines"
check "and wrote no bundle" test ! -e "$T/dry.envpack"
srv_kill fault/dry

# 2. capture by name (qcow2 with holes) and by id (raw): restored to dir:, the same disks
expect_exit 0 "pack image:glance:web (by name)" ep pack -k "$T/k.key" -o "$T/web.envpack" "image:glance:web"
check "one line says what was read, from where, in how many requests" \
	grep -qE "^captured web from $GLANCE_G_URL/v2/images/$WEB: .* read in [0-9]+ requests" "$T/out"
check "no scratch file is left" scratch_empty
check "glance-api logs the requests it serves (so its silence on the dry runs counts)" \
	test "$(wc -l <"$GLANCE_G_DIR/glance.log")" -gt "$glance_lines"
expect_exit 0 "restore it to dir:" "$ENVPACK" restore -p "$T/k.pub" "$T/web.envpack" --to "dir:$T/out-web" -q
check "qemu-img compare: the restored disk is the qcow2 in Glance" \
	qemu-img compare -q -f qcow2 "$T/web.qcow2" "$T/out-web/web.raw"
"$ENVPACK" inspect --json "$T/web.envpack" >"$T/web.json" || not_ok "inspect --json"
check "the machine: the image's name, UEFI, linux (os_distro), min_ram, sockets x cores, its disk bus" \
	"$OS_PY" - "$T/web.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))["machines"]
assert len(m) == 1, m
m = m[0]
want = {"name": "web", "firmware": "uefi", "os": "linux", "memory_mib": 2048, "vcpus": 4}
bad = {k: (m.get(k), v) for k, v in want.items() if m.get(k) != v}
assert not bad, bad
assert [(d["component"], d["bus"], d["boot"]) for d in m["disks"]] == [("web", "scsi", 1)], m["disks"]
EOF
expect_exit 0 "pack image:glance:ID (raw) with --vcpus and --memory by hand" \
	ep pack -k "$T/k.key" -o "$T/db.envpack" --vcpus 3 --memory 512 "image:glance:$DB"
expect_exit 0 "restore it to dir:" "$ENVPACK" restore -p "$T/k.pub" "$T/db.envpack" --to "dir:$T/out-db" -q
check "the raw disk, byte for byte" cmp "$T/db.raw" "$T/out-db/db.raw"
"$ENVPACK" inspect --json "$T/db.envpack" >"$T/db.json" || not_ok "inspect --json"
check "the options by hand win; the rest from Glance (os_type windows, BIOS)" "$OS_PY" - "$T/db.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))["machines"][0]
want = {"name": "db", "firmware": "bios", "os": "windows", "memory_mib": 512, "vcpus": 3}
bad = {k: (m.get(k), v) for k, v in want.items() if m.get(k) != v}
assert not bad, bad
EOF
check "zero runs skipped: the bundle is smaller than the raw disk" test "$(stat -c %s "$T/db.envpack")" -lt $((8 << 20))

# 2a. a raw image streams into the pack as it downloads, with no scratch file: TMPDIR a
# regular file, where no scratch directory can be made (the qcow2, read at random, needs one)
: >"$T/notadir"
expect_exit 0 "pack image:glance:ID (raw) with TMPDIR a regular file: streamed" \
	ep TMPDIR="$T/notadir" pack -k "$T/k.key" -o "$T/dbs.envpack" "image:glance:$DB"
check "the same line says what was read, from where" grep -qE "^captured db from $GLANCE_G_URL/v2/images/$DB: " "$T/out"
expect_exit 0 "restore it to dir:" "$ENVPACK" restore -p "$T/k.pub" "$T/dbs.envpack" --to "dir:$T/out-dbs" -q
check "the streamed raw disk, byte for byte" cmp "$T/db.raw" "$T/out-dbs/db.raw"
check "TMPDIR is still the empty file" test -f "$T/notadir" -a ! -s "$T/notadir"
expect_exit 1 "the qcow2 with that TMPDIR: exit 1 (it needs a scratch file)" \
	ep TMPDIR="$T/notadir" pack -o "$T/webs.envpack" "image:glance:web"
expect_err "cannot make a scratch directory in '$T/notadir'" "it names TMPDIR"
check "no bundle written" test ! -e "$T/webs.envpack"

# 2b. into a store: a second capture of the same image adds nothing
S="dir:$T/store"
expect_exit 0 "backup image:glance:web into a store (--init)" ep backup --init -k "$T/k.key" --json "$S" "image:glance:web"
check "the capture report is in the JSON: from the image's URL, with its requests" "$OS_PY" - "$T/out" "$GLANCE_G_URL/v2/images/$WEB" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))["disks"]
assert len(d) == 1 and d[0]["from"] == sys.argv[2] and d[0]["requests"] >= 3 and d[0]["mode"] == "full", d
EOF
expect_exit 0 "backup it again" ep backup -k "$T/k.key" --json "$S" "image:glance:web"
check "the second capture adds no chunk" test "$(jq_ 'd["added_chunks"], d["reused_chunks"] == d["chunks"]' "$T/out")" = "0 True"

# 3. a migration: the bundle restored into another Glance (standalone, no Keystone)
start_glance g2 || not_ok "start the second glance-api"
expect_exit 0 "restore the capture to openstack: of the second Glance" env -i PATH="$PATH" TMPDIR="$T/tmp" \
	OS_AUTH_TYPE=none OS_IMAGE_URL="$GLANCE_G2_URL" "$ENVPACK" restore -p "$T/k.pub" "$T/web.envpack" --to openstack:moved -q
check "the second Glance holds it, active, UEFI, min_ram 2048, the same disk" bash -c '
	id=$(curl -sf "$1/v2/images?name=moved-web" | "$3" -c "import json, sys
i = json.load(sys.stdin)[\"images\"]
assert len(i) == 1 and i[0][\"status\"] == \"active\" and i[0][\"hw_firmware_type\"] == \"uefi\" and i[0][\"min_ram\"] == 2048, i
print(i[0][\"id\"])") && curl -sf -o "$2/moved.qcow2" "$1/v2/images/$id/file" && qemu-img compare -q "$2/web.qcow2" "$2/moved.qcow2"' \
	_ "$GLANCE_G2_URL" "$T" "$OS_PY"

# ... and across clouds: OpenStack -> Azure (Azurite), the page blob fetched by an independent client
if start_azurite a; then
	expect_exit 0 "the capture restored to azure:" env AZURE_STORAGE_CONNECTION_STRING="$(az_conn a)" \
		timeout -k 5 300 "$ENVPACK" restore -q -p "$T/k.pub" "$T/web.envpack" --to "azure:$AZ_CONTAINER/from-glance"
	blob=$(azblob a list "$AZ_CONTAINER" | grep '^from-glance/' | head -n 1)
	check "the page blob ($blob) holds the image's disk" eval 'azblob a get "$AZ_CONTAINER" "$blob" "$T/dl.vhd" &&
		qemu-img compare -q -f vpc "$T/dl.vhd" -F qcow2 "$T/web.qcow2"'
else
	not_ok "start Azurite"
fi

# 4. a download cut mid-way: resumed from the bytes written, with a Range request
"$OS_PY" "$OS_TOOLS/s3_fault.py" --upstream "$GLANCE_G_URL" cut 1000000 --match '/file$' --port-file "$T/pcut" \
	--log "$T/pcut.log" --lifetime 600 >/dev/null 2>"$T/pcut.err" &
SRV_PIDS[fault/cut]=$!
pcut=$(srv_wait_port_file "$T/pcut" $!) || not_ok "start the cutting proxy"
expect_exit 0 "pack through a proxy that cuts the download after 1 MB" ep pack -k "$T/k.key" -o "$T/cut.envpack" \
	"image:glance:web" --input-option "image-url=http://127.0.0.1:$pcut"
check "the proxy cut the first download, then Glance answered the resumed one 206 (Range honoured)" bash -c '
	grep -E "GET /v2/images/[0-9a-f-]+/file (cut|206)$" "$1" | awk "{print \$NF}" | tr "\n" " " | grep -qx "cut 206 "' _ "$T/pcut.log"
expect_exit 0 "restore it to dir:" "$ENVPACK" restore -p "$T/k.pub" "$T/cut.envpack" --to "dir:$T/out-cut" -q
check "qemu-img compare: the resumed capture is the image" qemu-img compare -q -f qcow2 "$T/web.qcow2" "$T/out-cut/web.raw"
srv_kill fault/cut
check "no scratch file is left" scratch_empty
"$OS_PY" "$OS_TOOLS/s3_fault.py" --upstream "$GLANCE_G_URL" cut 1000000 --match '/file$' --port-file "$T/pcutr" \
	--log "$T/pcutr.log" --lifetime 600 >/dev/null 2>"$T/pcutr.err" &
SRV_PIDS[fault/cutr]=$!
pcutr=$(srv_wait_port_file "$T/pcutr" $!) || not_ok "start the second cutting proxy"
expect_exit 0 "pack the raw image (streamed) through a proxy that cuts it after 1 MB" \
	ep TMPDIR="$T/notadir" pack -k "$T/k.key" -o "$T/cutr.envpack" "image:glance:$DB" \
	--input-option "image-url=http://127.0.0.1:$pcutr"
check "the stream was cut, then resumed with a Range request answered 206" bash -c '
	grep -E "GET /v2/images/[0-9a-f-]+/file (cut|206)$" "$1" | awk "{print \$NF}" | tr "\n" " " | grep -qx "cut 206 "' _ "$T/pcutr.log"
expect_exit 0 "restore it to dir:" "$ENVPACK" restore -p "$T/k.pub" "$T/cutr.envpack" --to "dir:$T/out-cutr" -q
check "the resumed stream is the raw disk, byte for byte" cmp "$T/db.raw" "$T/out-cutr/db.raw"
srv_kill fault/cutr

# 5. refusals: nothing written
WRONG=wrong-$RANDOM$RANDOM
expect_exit 1 "a wrong password: exit 1" ep OS_PASSWORD="$WRONG" pack -o "$T/no1.envpack" "image:glance:web"
expect_err "keystone: POST http://[^ ]*/v3/auth/tokens: the credentials were refused" "it names the Keystone call"
check "neither password is printed" bash -c '! grep -qF -e "$1" -e "$2" "$3/out" "$3/err"' _ "$WRONG" "$OSPW" "$T"
check "no bundle written" test ! -e "$T/no1.envpack"
NOID=0badc0de-0000-4000-8000-000000000000
expect_exit 2 "an image id that does not exist: exit 2" ep pack -o "$T/no2.envpack" "image:glance:$NOID"
expect_err "no image has the id or name '$NOID'" "it names it"
check "no bundle written" test ! -e "$T/no2.envpack"
upload web "$T/db.raw" raw >/dev/null || not_ok "upload a second image named web"
expect_exit 2 "two images named web: exit 2" ep pack -o "$T/no3.envpack" "image:glance:web"
expect_err "2 images are named 'web' \(.*$WEB.*\)" "it names the candidates"
check "no bundle written" test ! -e "$T/no3.envpack"
printf 'CD001' >"$T/cd.iso"
ISO=$(upload cd "$T/cd.iso" iso) || not_ok "upload an iso"
expect_exit 2 "an ISO image: exit 2" ep pack -o "$T/no4.envpack" "image:glance:cd"
expect_err "disk format 'iso'" "it names the format"
check "no bundle written, no scratch file left" bash -c 'test ! -e "$1" && [ -z "$(ls -A "$2")" ]' _ "$T/no4.envpack" "$T/tmp"
expect_exit 2 "an --input-option the target does not know: exit 2" ep pack -o "$T/no5.envpack" "image:glance:$DB" \
	--input-option bucket=x
expect_err "'bucket'" "it names it"

"$OS_PY" "$OS_TOOLS/s3_fault.py" --upstream "$GLANCE_G_URL" deny --match '/file$' --port-file "$T/pdeny" \
	--lifetime 600 >/dev/null 2>"$T/pdeny.err" &
SRV_PIDS[fault/deny]=$!
pdeny=$(srv_wait_port_file "$T/pdeny" $!) || not_ok "start the denying proxy"
expect_exit 1 "the download refused (403): exit 1" ep pack -o "$T/no6.envpack" "image:glance:$DB" \
	--input-option "image-url=http://127.0.0.1:$pdeny"
expect_err "downloading image $DB \(GET http://127.0.0.1:$pdeny/v2/images/$DB/file\): 403" "it names the call"
check "no bundle written, no scratch file left" bash -c 'test ! -e "$1" && [ -z "$(ls -A "$2")" ]' _ "$T/no6.envpack" "$T/tmp"
srv_kill fault/deny

# 6. a byte changed in Glance's file store: exit 3, nothing published (the raw image is
# streamed: its whole disk has gone through the pack when the hash is found wrong)
flip_byte "$GLANCE_G_DIR/images/$DB" 5500000
expect_exit 3 "a checksum mismatch: exit 3" ep pack -k "$T/k.key" -o "$T/bad.envpack" "image:glance:$DB"
expect_err "$DB.*does not match its os_hash_value \(sha512\)" "it names the image and the hash"
check "no bundle written, no scratch file left" bash -c 'test ! -e "$1" && [ -z "$(ls -A "$2")" ]' _ "$T/bad.envpack" "$T/tmp"
check "nor the bundle's temporary file" bash -c '! ls -A "$1" | grep -q "^\.bad\.envpack"' _ "$T"
"$ENVPACK" snapshots --json "$S" >"$T/snaps.before" || not_ok "list the snapshots"
expect_exit 3 "backup of it into the store: exit 3" ep backup -k "$T/k.key" "$S" "image:glance:$DB"
check "and no new snapshot there" bash -c '"$1" snapshots --json "$2" | cmp - "$3"' _ "$ENVPACK" "$S" "$T/snaps.before"

finish
