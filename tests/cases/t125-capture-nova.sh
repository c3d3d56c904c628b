#!/usr/bin/env bash
# vm:openstack:SERVER captures an OpenStack server through a snapshot Nova makes of it:
# Debian's real Keystone and glance-api (tests/openstack.sh); Nova is
# tests/tools/nova_fake.py (Nova needs nova-compute, placement, a message queue and a
# hypervisor: none runs here), registered in Keystone's catalog as the compute service,
# its tokens checked against Keystone, its createImage uploading a qcow2 qemu-img made
# into the real Glance (queued, then saving, then active). The capture: the server
# found by name or id (microversion 2.47: its flavor's vCPUs and memory), createImage,
# the image polled in Glance, read as image:glance: reads it, restored to dir: and
# compared by qemu-img, the snapshot image deleted afterwards (kept with --keep-export).
# Refusals: createImage forbidden (403), an unknown server, two of one name, a snapshot
# never active in time, one Nova removed, one in a format envpack does not read,
# Ctrl-C while polling: exit codes, nothing written, no snapshot image left.
#   envpack pack -o OUT vm:openstack:SERVER [--input-option compute-url=URL]
#     [--input-option poll-seconds=N] [--input-option timeout-minutes=N] [--keep-export] [--dry-run]
. "$(dirname "$0")/../lib.sh"
. "$HERE/openstack.sh"

start_glance_keystone

# the server's disk: data with holes, as the qcow2 its snapshot is
truncate -s 16M "$T/web.raw"
for off in 0 5 11; do head -c 700000 /dev/urandom | dd of="$T/web.raw" bs=1M seek=$off conv=notrunc status=none; done
qemu-img convert -f raw -O qcow2 "$T/web.raw" "$T/web.qcow2" || not_ok "qemu-img convert"
printf 'CD001' >"$T/cd.iso"
W=3f1c2a9e-5b7d-4c11-9e0a-7a2b8c4d6e01 L=3f1c2a9e-5b7d-4c11-9e0a-7a2b8c4d6e02 S=3f1c2a9e-5b7d-4c11-9e0a-7a2b8c4d6e03
V=3f1c2a9e-5b7d-4c11-9e0a-7a2b8c4d6e04 C=3f1c2a9e-5b7d-4c11-9e0a-7a2b8c4d6e05
T1=3f1c2a9e-5b7d-4c11-9e0a-7a2b8c4d6e06 T2=3f1c2a9e-5b7d-4c11-9e0a-7a2b8c4d6e07
"$OS_PY" - "$T" "$T/servers.json" "$W" "$L" "$S" "$V" "$C" "$T1" "$T2" <<'EOF'
import json, sys
t, out, w, l, s, v, c, t1, t2 = sys.argv[1:]
f = lambda n, cpu, ram: {"original_name": n, "vcpus": cpu, "ram": ram, "disk": 20}
srv = lambda i, name, mode="ok", disk=t + "/web.qcow2", fmt="qcow2", **k: dict(
    id=i, name=name, flavor=f("m1.medium", 2, 3072), disk=disk, disk_format=fmt, snapshot=mode, **k)
json.dump([srv(w, "web", image_properties={"hw_firmware_type": "uefi", "os_distro": "debian", "hw_disk_bus": "scsi",
                                           "min_ram": 512}),
           srv(l, "locked", "forbidden"), srv(s, "slow", "stuck"), srv(v, "vanishing", "vanish"),
           srv(c, "cdrom", disk=t + "/cd.iso", fmt="iso"), srv(t1, "twin"), srv(t2, "twin")], open(out, "w"))
EOF
start_nova n "$KEYSTONE_K_URL" "$GLANCE_G_URL" "$T/servers.json" || { not_ok "start the Nova stand-in"; finish; exit 0; }
ok "nova_fake at $NOVA_N_URL"
OSPW=pw-$RANDOM$RANDOM$RANDOM
setup=$("$OS_PY" "$OS_TOOLS/keystone_setup.py" --keystone "$KEYSTONE_K_URL" --admin-password "$OS_ADMIN_PASSWORD" \
	--user ops --password "$OSPW" --project demo --glance "$GLANCE_G_URL" --heat http://127.0.0.1:9 \
	--compute "$NOVA_N_URL" 2>"$T/setup.err") || { not_ok "fill keystone: $(tail -n 3 "$T/setup.err")"; finish; exit 0; }
eval "$setup"
mkdir -p "$T/home" "$T/tmp"
"$ENVPACK" keygen -o "$T/k" >/dev/null
ep() { os_envpack "$@"; }
FAST=(--input-option poll-seconds=1)
SLOW=(--input-option poll-seconds=61 --input-option timeout-minutes=1) # given up on after the first poll
NLOG=$NOVA_N_DIR/requests.log
nova_calls() { [ -s "$NLOG" ] && "$OS_PY" -c 'import json, sys
print(" ".join("%s:%s:%s:%s" % (e["method"], e["path"].split("?")[0].replace(sys.argv[2], "ID"), e["status"], e["version"])
	for e in map(json.loads, open(sys.argv[1]).readlines()[int(sys.argv[3]):])))' "$NLOG" "${2:-none}" "$1"; }
nlines() { if [ -e "$NLOG" ]; then wc -l <"$NLOG"; else echo 0; fi; }
# snapshots NAME-PREFIX: the ids of Glance's images whose name starts so
snapshots() { curl -sf "$GLANCE_G_URL/v2/images" | "$OS_PY" -c 'import json, sys
print(" ".join(i["id"] for i in json.load(sys.stdin)["images"] if i["name"].startswith(sys.argv[1])))' "envpack-snapshot-$1"; }
gone() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$GLANCE_G_URL/v2/images/$1")" = 404 ]; }

# 1. dry run: the token request (password masked), the server's GETs, createImage, the
# poll, the download, the DELETE; nothing sent to Nova or Glance, no bundle
glance_lines=$(wc -l <"$GLANCE_G_DIR/glance.log")
URLS=(--input-option "compute-url=$NOVA_N_URL/v2.1" --input-option "image-url=$GLANCE_G_URL")
expect_exit 0 "pack --dry-run vm:openstack:web" ep pack --dry-run -o "$T/dry.envpack" vm:openstack:web "${URLS[@]}" "${FAST[@]}"
check "it shows the Keystone token request, the password masked" bash -c 'grep -q "POST $1/v3/auth/tokens" "$2" &&
	grep -q "\"password\": \"\*\*\*\*\"" "$2"' _ "$KEYSTONE_K_URL" "$T/out"
check "the password and the token are nowhere in the output" bash -c '! grep -qF -- "$1" "$2/out" "$2/err" &&
	! grep -E "X-Auth-Token: [^*]" "$2/out"' _ "$OSPW" "$T"
check "the server looked for by its exact name, then read, at microversion 2.47" bash -c '
	grep -q "GET $1/v2.1/servers?name=%5Eweb%24" "$2" && grep -q "GET $1/v2.1/servers/{server_id}" "$2" &&
	test "$(grep -c "OpenStack-API-Version: compute 2.47" "$2")" -ge 3' _ "$NOVA_N_URL" "$T/out"
check "createImage, named envpack-snapshot-web-..." bash -c 'grep -q "POST $1/v2.1/servers/{server_id}/action" "$2" &&
	grep -A1 "\"createImage\": {" "$2" | grep -q "\"name\": \"envpack-snapshot-web-[0-9]\{8\}T[0-9]\{6\}Z\""' _ "$NOVA_N_URL" "$T/out"
check "the poll (every 1 s), the download and the DELETE of the snapshot image" bash -c '
	grep -q "every 1 s, for 360 min at most, until the snapshot image is active" "$2" &&
	grep -q "GET $1/v2/images/{snapshot_id}$" "$2" && grep -q "GET $1/v2/images/{snapshot_id}/file" "$2" &&
	grep -q "DELETE $1/v2/images/{snapshot_id}" "$2"' _ "$GLANCE_G_URL" "$T/out"
expect_exit 0 "pack --dry-run by id with --keep-export" ep pack --dry-run -o "$T/dry.envpack" "vm:openstack:$W" --keep-export "${URLS[@]}"
check "by id: GET /servers/ID, no name lookup, and no DELETE" bash -c 'grep -q "GET $1/v2.1/servers/$2" "$3" &&
	! grep -q "servers?name" "$3" && ! grep -q DELETE "$3" && grep -q "is kept, --keep-export" "$3"' _ "$NOVA_N_URL" "$W" "$T/out"
check "the dry runs sent Nova nothing" test "$(nlines)" = 0
check "nor Glance (its log unchanged), and wrote no bundle" bash -c 'test "$(wc -l <"$1")" = "$2" && test ! -e "$3"' \
	_ "$GLANCE_G_DIR/glance.log" "$glance_lines" "$T/dry.envpack"

# 2. capture by name: the endpoints from Keystone's catalog; the snapshot polled until active
n=$(nlines)
t0=$(date +%s.%N)
expect_exit 0 "pack vm:openstack:web" ep pack -k "$T/k.key" -o "$T/web.envpack" vm:openstack:web "${FAST[@]}"
echo "# the capture took $(echo "$(date +%s.%N) - $t0" | bc) s"
SNAP=$(sed -n 's/^captured web from server '"$W"', snapshot image \([0-9a-f-]*\): .* read in [0-9]* requests$/\1/p' "$T/out")
check "one line says what was read: server, snapshot image, requests ($SNAP)" test -n "$SNAP"
check "Nova was asked: the name lookup, the server, createImage, each at 2.47 (token checked by Keystone)" \
	test "$(nova_calls "$n" "$W")" = "GET:/v2.1/servers:200:2.47 GET:/v2.1/servers/ID:200:2.47 POST:/v2.1/servers/ID/action:202:2.47"
check "Glance was polled until the image was active (two GETs of it or more)" \
	test "$(grep -c "GET /v2/images/$SNAP HTTP" "$GLANCE_G_DIR/glance.log")" -ge 2
check "the snapshot image is gone from Glance afterwards" gone "$SNAP"
check "no scratch file is left" test -z "$(ls -A "$T/tmp")"
expect_exit 0 "restore it to dir:" "$ENVPACK" restore -p "$T/k.pub" "$T/web.envpack" --to "dir:$T/out-web" -q
check "qemu-img compare: the restored disk is the server's" qemu-img compare -q -f qcow2 "$T/web.qcow2" "$T/out-web/web.raw"
"$ENVPACK" inspect --json "$T/web.envpack" >"$T/web.json" || not_ok "inspect --json"
check "the machine: the server's name, its flavor's vCPUs and memory, the image's firmware, OS and bus" \
	"$OS_PY" - "$T/web.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))["machines"]
assert len(m) == 1, m
m = m[0]
want = {"name": "web", "vcpus": 2, "memory_mib": 3072, "firmware": "uefi", "os": "linux"}
bad = {k: (m.get(k), v) for k, v in want.items() if m.get(k) != v}
assert not bad, bad
assert [(d["component"], d["bus"]) for d in m["disks"]] == [("web", "scsi")], m["disks"]
EOF

# 3. by id, --keep-export: the snapshot image stays, active, Nova's snapshot of this server
expect_exit 0 "pack vm:openstack:ID --keep-export, --vcpus by hand" ep pack -k "$T/k.key" -o "$T/keep.envpack" \
	"vm:openstack:$W" --keep-export --vcpus 6 "${FAST[@]}"
KEPT=$(sed -n 's/^captured web from server [0-9a-f-]*, snapshot image \([0-9a-f-]*\): .*/\1/p' "$T/out")
check "the snapshot image $KEPT is kept: active, a snapshot of server $W" bash -c 'curl -sf "$1/v2/images/$2" |
	"$3" -c "import json, sys; i = json.load(sys.stdin)
assert i[\"status\"] == \"active\" and i[\"image_type\"] == \"snapshot\" and i[\"instance_uuid\"] == sys.argv[1], i" "$4"' \
	_ "$GLANCE_G_URL" "$KEPT" "$OS_PY" "$W"
check "the option by hand wins over the flavor" test "$("$ENVPACK" inspect --json "$T/keep.envpack" |
	"$OS_PY" -c 'import json, sys; m = json.load(sys.stdin)["machines"][0]; print(m["vcpus"], m["memory_mib"])')" = "6 3072"
curl -sf -X DELETE "$GLANCE_G_URL/v2/images/$KEPT" || not_ok "delete the kept image"

# 4. refusals
n=$(nlines)
expect_exit 1 "createImage refused (403): exit 1" ep pack -o "$T/no1.envpack" vm:openstack:locked "${FAST[@]}"
expect_err "nova: createImage of server $L \(POST $NOVA_N_URL/v2.1/servers/$L/action\): 403 Policy doesn't allow" \
	"it names createImage and gives Nova's message"
check "no bundle, no snapshot image" bash -c 'test ! -e "$1" && test -z "$2"' _ "$T/no1.envpack" "$(snapshots locked)"
expect_exit 2 "an unknown server: exit 2" ep pack -o "$T/no2.envpack" vm:openstack:nosuch
expect_err "no server has the id or name 'nosuch' \(at $NOVA_N_URL/v2.1\)" "it names it"
NOID=0badc0de-0000-4000-8000-000000000000
expect_exit 2 "an unknown server id: exit 2" ep pack -o "$T/no3.envpack" "vm:openstack:$NOID"
expect_err "no server has the id or name '$NOID'" "it names it"
expect_exit 2 "two servers named twin: exit 2" ep pack -o "$T/no4.envpack" vm:openstack:twin
expect_err "2 servers are named 'twin' \($T1, $T2\): name one by its id" "it names both"
check "no bundle written" bash -c 'test ! -e "$1" -a ! -e "$2" -a ! -e "$3"' _ "$T/no2.envpack" "$T/no3.envpack" "$T/no4.envpack"
check "one createImage (locked's, refused) and no other was sent" test "$(nova_calls "$n" | grep -o 'POST[^ ]*' | tr '\n' ' ')" = \
	"POST:/v2.1/servers/$L/action:403:2.47 "
n=$(nlines)
expect_exit 2 "poll-seconds=0: exit 2" ep pack -o "$T/no5.envpack" vm:openstack:web --input-option poll-seconds=0
expect_err "vm:openstack: --input-option poll-seconds takes 1 to 3600" "it names the option"
check "and nothing was sent to Nova" test "$(nlines)" = "$n"

# 5. a snapshot never active in time: exit 1, the image deleted (kept with --keep-export)
expect_exit 1 "a snapshot not active within timeout-minutes: exit 1" ep pack -o "$T/slow.envpack" vm:openstack:slow "${SLOW[@]}"
expect_err "the snapshot of server $S was not active within 1 min: image [0-9a-f-]+ deleted$" "it says so"
check "no bundle, and the queued image is deleted" bash -c 'test ! -e "$1" && test -z "$2"' _ "$T/slow.envpack" "$(snapshots slow)"
expect_exit 1 "with --keep-export: exit 1 too" ep pack -o "$T/slowk.envpack" vm:openstack:slow "${SLOW[@]}" --keep-export
expect_err "was not active within 1 min: image [0-9a-f-]+ kept \(--keep-export\)" "it says the image is kept"
KQ=$(snapshots slow)
check "and the image is there, queued" bash -c 'test -n "$2" && curl -sf "$1/v2/images/$2" | grep -q "\"status\": \"queued\""' \
	_ "$GLANCE_G_URL" "$KQ"
[ -n "$KQ" ] && curl -sf -X DELETE "$GLANCE_G_URL/v2/images/$KQ"
expect_exit 1 "a snapshot whose image Nova removes (it failed): exit 1" ep pack -o "$T/van.envpack" vm:openstack:vanishing "${FAST[@]}"
expect_err "snapshot of server $V failed: Glance has no image [0-9a-f-]+ any more" "it says what Glance says"
expect_exit 2 "a snapshot in a format envpack does not read (iso): exit 2" ep pack -o "$T/cd.envpack" vm:openstack:cdrom "${FAST[@]}"
expect_err "disk format 'iso'" "it names the format"
check "no bundle, and the active snapshot image is deleted after the failed capture" bash -c 'test ! -e "$1" && test -z "$2"' \
	_ "$T/cd.envpack" "$(snapshots cdrom)"

# 6. SIGINT while the snapshot is polled: exit 1, the image deleted
n=$(nlines)
os_openrc "$ENVPACK" pack -q -o "$T/int.envpack" vm:openstack:slow --input-option poll-seconds=30 >"$T/int.out" 2>"$T/int.err" &
bg=$!
for i in $(seq 100); do grep -q '"POST"' <(tail -n +$((n + 1)) "$NLOG") && break; sleep 0.1; done
sleep 0.5
pid=$(ps -o pid= --ppid "$bg" | tr -d ' ') # envpack itself, under the function's subshell
kill -INT "$pid"
wait "$bg"
rc=$?
check "an interrupted capture fails with exit 1, not killed ($rc: $(head -c 200 "$T/int.err"))" test "$rc" = 1
check "the message says so" grep -q "the snapshot of server $S was interrupted: image [0-9a-f-]* deleted" "$T/int.err"
check "no bundle, and the image is deleted" bash -c 'test ! -e "$1" && test -z "$2"' _ "$T/int.envpack" "$(snapshots slow)"

finish
