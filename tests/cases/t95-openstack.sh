#!/usr/bin/env bash
# envpack restore --to openstack:PREFIX against Debian's real Keystone and
# glance-api (tests/openstack.sh: sqlite, the file store, 127.0.0.1), Heat's
# stack-create played by tests/tools/heat_fake.py (tokens checked against the
# real Keystone). Judged by Glance's own JSON, the image data downloaded back
# and compared by qemu-img and checksums, and the stack request Heat received.
. "$(dirname "$0")/../lib.sh"
. "$HERE/openstack.sh"

start_glance_keystone
start_heat h "$KEYSTONE_K_URL" || { not_ok "start the Heat stand-in"; finish; exit 0; }
OSPW=pw-$RANDOM$RANDOM$RANDOM
setup=$("$OS_PY" "$OS_TOOLS/keystone_setup.py" --keystone "$KEYSTONE_K_URL" --admin-password "$OS_ADMIN_PASSWORD" \
	--user ops --password "$OSPW" --project demo --glance "$GLANCE_G_URL" --heat "$HEAT_H_URL" 2>"$T/setup.err") ||
	{ not_ok "fill keystone: $(tail -n 3 "$T/setup.err")"; finish; exit 0; }
eval "$setup" # OS_PROJECT_ID, APP_ID, APP_SECRET
ok "keystone holds project demo, user ops, an application credential, image and orchestration endpoints"

mkdir -p "$T/home" "$T/tmp"
ep() { os_envpack "$@"; } # ep [NAME=VALUE...] ARGS...: envpack in an openrc's environment
# image_json NAME: Glance's JSON of the one image of that name (fails unless exactly one)
image_json() {
	curl -sf "$GLANCE_G_URL/v2/images?name=$1" | "$OS_PY" -c '
import json, sys
images = json.load(sys.stdin)["images"]
assert len(images) == 1, images
print(json.dumps(images[0]))'
}
count_images() { curl -sf "$GLANCE_G_URL/v2/images?name=$1" | "$OS_PY" -c 'import json, sys; print(len(json.load(sys.stdin)["images"]))'; }
all_images() { curl -sf "$GLANCE_G_URL/v2/images" | "$OS_PY" -c 'import json, sys; print(len(json.load(sys.stdin)["images"]))'; }

# a disk, a machine around it (UEFI, an OS without virtio drivers) and a Heat tree
make_disk "$T/web.raw" 64M
mkdir -p "$T/iac/heat/lib" "$T/iac/tf"
cat >"$T/iac/heat/stack.yaml" <<'EOF'
heat_template_version: 2018-08-31
description: the web server, from its restored image
resources:
  server:
    type: OS::Nova::Server
    properties:
      image: web-web
      flavor: m1.small
      user_data: {get_file: lib/boot.sh}
  extra:
    type: nested.yaml
EOF
cat >"$T/iac/heat/nested.yaml" <<'EOF'
heat_template_version: 2018-08-31
resources:
  vol:
    type: OS::Cinder::Volume
    properties: {size: 1}
EOF
printf '#!/bin/sh\necho booted\n' >"$T/iac/heat/lib/boot.sh"
printf 'resource "null_resource" "x" {}\n' >"$T/iac/tf/main.tf"
"$ENVPACK" keygen -o "$T/k" >/dev/null
"$ENVPACK" pack -q -k "$T/k.key" -o "$T/web.envpack" --vcpus 2 --memory 2048 --firmware uefi --os other \
	--vm-name web "disk:$T/web.raw" "iac:$T/iac" || not_ok "pack"
R=(restore -p "$T/k.pub" "$T/web.envpack")
H=(-o heat-stack=web-stack -o heat-template=heat/stack.yaml)

# 1. dry run: the requests shown, credentials masked, nothing sent (nothing listens at port 9)
expect_exit 0 "dry run, with nothing to reach" ep OS_AUTH_URL=http://127.0.0.1:9/v3 "${R[@]}" --to openstack:web \
	--dry-run "${H[@]}" -o image-url=http://127.0.0.1:9
cp "$T/out" "$T/dry.out"
check "it shows the token request" grep -q "POST http://127.0.0.1:9/v3/auth/tokens" "$T/dry.out"
check "with the user and the password masked" grep -q '"password": "\*\*\*\*"' "$T/dry.out"
check "the password is nowhere in the output" bash -c '! grep -qF -- "$1" "$2/out" "$2/err"' _ "$OSPW" "$T"
check "it shows the image create JSON (qcow2, bare)" "$OS_PY" - "$T/dry.out" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
m = re.search(r"POST http://127.0.0.1:9/v2/images\n(?:    .*\n)*?    \n((?:    .*\n)+?)  would send", t)
body = "".join(l[4:] + "\n" for l in m.group(1).splitlines())
import json
doc = json.loads(body)
assert doc["name"] == "web-web" and doc["disk_format"] == "qcow2" and doc["container_format"] == "bare", doc
EOF
check "and the upload, streamed as octet-stream" grep -A3 -q "PUT http://127.0.0.1:9/v2/images/{id}/file" "$T/dry.out"
check "and the machine's properties" grep -q '"path": "/hw_firmware_type"' "$T/dry.out"
check "Secure Boot unknown (a machine by hand): Nova's default, nothing said" bash -c '! grep -q os_secure_boot "$1"' _ "$T/dry.out"
expect_exit 0 "dry run of it with Secure Boot" ep OS_AUTH_URL=http://127.0.0.1:9/v3 "${R[@]}" --to openstack:web --dry-run \
	--only web --set secure_boot=yes -o image-url=http://127.0.0.1:9
check "asks Nova for it, on q35 (which it needs)" bash -c 'grep -q "os_secure_boot=required, hw_machine_type=q35" "$1"' _ "$T/out"
check "and the Heat stack-create" grep -q "POST {orchestration}/stacks" "$T/dry.out"
check "the token header is masked" bash -c '! grep -E "X-Auth-Token: [^*]" "$1"' _ "$T/dry.out"
expect_exit 0 "dry run against the real services" ep "${R[@]}" --to openstack:web --dry-run "${H[@]}"
check "the dry runs created no image" test "$(all_images)" = 0
check "and no stack" test -z "$(ls "$HEAT_H_DIR/stacks")"

# 2. refusals before anything is sent
WRONG=wrong-$RANDOM$RANDOM
expect_exit 1 "a wrong password: exit 1" ep OS_PASSWORD="$WRONG" "${R[@]}" --to openstack:web "${H[@]}"
expect_err "refused|401" "it says the credentials were refused"
check "neither password is printed" bash -c '! grep -qF -e "$1" -e "$2" "$3/out" "$3/err"' _ "$WRONG" "$OSPW" "$T"
expect_exit 2 "no credentials: exit 2" env -i PATH="$PATH" HOME="$T/home" "$ENVPACK" "${R[@]}" --to openstack:web "${H[@]}"
expect_err "OS_AUTH_URL" "it names the variables to set"
expect_exit 2 "an unknown -o is refused" ep "${R[@]}" --to openstack:web -o flavor=m1
expect_exit 2 "a Heat tree without -o heat-stack is refused" ep "${R[@]}" --to openstack:web
expect_err "heat-stack" "and told how"
expect_exit 2 "two Heat templates without -o heat-template" ep "${R[@]}" --to openstack:web -o heat-stack=s
expect_err "heat-template" "and told how"
check "nothing was created by the refusals" test "$(all_images)" = 0

# 3. the restore: an image Glance calls active, holding the disk, with the machine's properties
expect_exit 0 "restore to openstack:web" ep "${R[@]}" --to openstack:web "${H[@]}" -q
image_json web-web >"$T/img.json" || not_ok "one image web-web"
check "Glance: active, qcow2, bare, private, with the machine's properties" "$OS_PY" - "$T/img.json" <<'EOF'
import json, sys
i = json.load(open(sys.argv[1]))
want = {"status": "active", "disk_format": "qcow2", "container_format": "bare", "visibility": "private",
        "hw_firmware_type": "uefi", "hw_disk_bus": "ide", "hw_vif_model": "e1000", "min_ram": 2048, "min_disk": 1}
bad = {k: (i.get(k), v) for k, v in want.items() if i.get(k) != v}
assert not bad, bad
assert "os_type" not in i, i  # the hint was "other"
EOF
id=$("$OS_PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$T/img.json")
curl -sf -o "$T/down.qcow2" "$GLANCE_G_URL/v2/images/$id/file" || not_ok "download the image"
check "the downloaded image is qcow2" bash -c 'qemu-img info --output=json "$1" | grep -q "\"format\": \"qcow2\""' _ "$T/down.qcow2"
check "qemu-img compare: the same disk as the source" qemu-img compare -q -f raw -F qcow2 "$T/web.raw" "$T/down.qcow2"
check "Glance's checksum and os_hash_value are the data's" "$OS_PY" - "$T/img.json" "$T/down.qcow2" <<'EOF'
import hashlib, json, sys
i = json.load(open(sys.argv[1]))
data = open(sys.argv[2], "rb").read()
assert i["checksum"] == hashlib.md5(data).hexdigest() and i["os_hash_algo"] == "sha512"
assert i["os_hash_value"] == hashlib.sha512(data).hexdigest() and i["size"] == len(data)
EOF
check "Heat received the stack with its template and files" "$OS_PY" - "$HEAT_H_DIR/stacks/web-stack.json" "$T/iac/heat" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
d = sys.argv[2]
assert s["stack_name"] == "web-stack"
assert s["template"] == open(d + "/stack.yaml").read()
assert s["files"] == {"nested.yaml": open(d + "/nested.yaml").read(), "lib/boot.sh": open(d + "/lib/boot.sh").read()}, s["files"]
EOF
check "no scratch file is left" test -z "$(ls -A "$T/tmp")"

# 4. never replaces, never duplicates
expect_exit 2 "the same names again: refused" ep "${R[@]}" --to openstack:web --only web
expect_err "exists already" "it says the image exists"
check "still one image web-web, the same" test "$(image_json web-web | "$OS_PY" -c 'import json, sys; print(json.load(sys.stdin)["id"])')" = "$id"

# 5. an application credential from clouds.yaml (only its owner may read it), raw
cat >"$T/home/clouds.yaml" <<EOF
clouds:
  lab:
    auth_type: v3applicationcredential
    auth:
      auth_url: $KEYSTONE_K_URL/v3
      application_credential_id: $APP_ID
      application_credential_secret: $APP_SECRET
    region_name: RegionOne
    interface: public
EOF
chmod 644 "$T/home/clouds.yaml"
cl() {
	local pre=()
	while [[ $1 =~ ^[A-Z_]+= ]]; do pre+=("$1"); shift; done
	env -i PATH="$PATH" HOME="$T/home" TMPDIR="$T/tmp" OS_CLIENT_CONFIG_FILE="$T/home/clouds.yaml" "${pre[@]}" \
		timeout -k 5 300 "$ENVPACK" "$@"
}
expect_exit 2 "a clouds.yaml others can read is refused" cl "${R[@]}" --to openstack:app --only web -o cloud=lab
expect_err "chmod 600" "and told why"
chmod 600 "$T/home/clouds.yaml"
expect_exit 0 "restore with an application credential (OS_CLOUD), raw" \
	cl OS_CLOUD=lab "${R[@]}" --to openstack:app --only web -o disk-format=raw -q
check "the secret is not printed" bash -c '! grep -qF -- "$1" "$2/out" "$2/err"' _ "$APP_SECRET" "$T"
image_json app-web >"$T/app.json" || not_ok "one image app-web"
check "a raw image, active" "$OS_PY" -c '
import json, sys; i = json.load(open(sys.argv[1])); assert (i["status"], i["disk_format"]) == ("active", "raw"), i' "$T/app.json"
aid=$("$OS_PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$T/app.json")
check "the raw image is the source disk, byte for byte" bash -c 'curl -sf "$1" | cmp - "$2"' _ "$GLANCE_G_URL/v2/images/$aid/file" "$T/web.raw"

# 5b. no Keystone at all (OS_AUTH_TYPE=none, the image URL given), VMDK
expect_exit 0 "restore to a standalone Glance (auth type none), vmdk" env -i PATH="$PATH" TMPDIR="$T/tmp" \
	OS_AUTH_TYPE=none OS_IMAGE_URL="$GLANCE_G_URL" "$ENVPACK" "${R[@]}" --to openstack:solo --only web -o disk-format=vmdk -q
check "a vmdk image that qemu-img finds the same as the source" bash -c '
	id=$(curl -sf "$1/v2/images?name=solo-web" | "$3" -c "import json, sys; i = json.load(sys.stdin)[\"images\"]; assert len(i) == 1 and i[0][\"status\"] == \"active\" and i[0][\"disk_format\"] == \"vmdk\"; print(i[0][\"id\"])") &&
	curl -sf -o "$2/solo.vmdk" "$1/v2/images/$id/file" && qemu-img compare -q -f raw -F vmdk "$2/web.raw" "$2/solo.vmdk"' \
	_ "$GLANCE_G_URL" "$T" "$OS_PY"

# 6. the endpoint is the catalog's for the region and interface asked
expect_exit 1 "RegionTwo's image endpoint is the one used" ep OS_REGION_NAME=RegionTwo "${R[@]}" --to openstack:r2 --only web --retries 1
expect_err "127.0.0.1:9/region-two" "the error names RegionTwo's endpoint"
expect_exit 1 "so is the internal one" ep OS_INTERFACE=internal "${R[@]}" --to openstack:in --only web --retries 1
expect_err "internal-only" "the error names the internal endpoint"

# 7. two 503s from Glance: retried
"$OS_PY" "$OS_TOOLS/s3_fault.py" --upstream "$GLANCE_G_URL" 503 2 --port-file "$T/p503" --log "$T/p503.log" \
	--lifetime 300 >/dev/null 2>"$T/p503.err" &
SRV_PIDS[fault/503]=$!
p=$(srv_wait_port_file "$T/p503" $!) || not_ok "start the 503 proxy"
expect_exit 0 "restore through two 503s" ep "${R[@]}" --to openstack:busy --only web -o "image-url=http://127.0.0.1:$p"
check "the proxy answered 503 twice, then passed" test "$(grep -c ' 503$' "$T/p503.log")" = 2 -a "$(grep -vc ' 503$' "$T/p503.log")" -ge 4
check "the image arrived whole" bash -c 'image_json() { curl -sf "$1/v2/images?name=busy-web"; }
	id=$(image_json "$1" | "$3" -c "import json, sys; i = json.load(sys.stdin)[\"images\"]; assert len(i) == 1 and i[0][\"status\"] == \"active\"; print(i[0][\"id\"])") &&
	curl -sf -o "$2/busy.qcow2" "$1/v2/images/$id/file" && qemu-img compare -q -f raw -F qcow2 "$2/web.raw" "$2/busy.qcow2"' \
	_ "$GLANCE_G_URL" "$T" "$OS_PY"
srv_kill fault/503

# 8. Glance killed in the middle of an upload, back a moment later: no half image is left
head -c 150M /dev/urandom >"$T/big.raw"
"$ENVPACK" pack -q -k "$T/k.key" -o "$T/big.envpack" "disk:$T/big.raw" || not_ok "pack big"
gport=${GLANCE_G_URL##*:}
ep restore -p "$T/k.pub" "$T/big.envpack" --to openstack:cut -o disk-format=raw --retries 12 >"$T/cut.out" 2>"$T/cut.err" &
cut_pid=$!
for i in $(seq 300); do # the upload has begun when the store's file grows
	[ -n "$(find "$GLANCE_G_DIR/images" -type f -size +1M 2>/dev/null)" ] && break
	sleep 0.1
done
kill_glance g
sleep 1
start_glance g "$gport" || not_ok "restart glance-api"
wait "$cut_pid"
cut_rc=$?
n=$(count_images cut-big)
if [ "$cut_rc" = 0 ]; then
	check "the upload cut short went through on a retry: the image is whole" bash -c '
		id=$(curl -sf "$1/v2/images?name=cut-big" | "$3" -c "import json, sys; i = json.load(sys.stdin)[\"images\"]; assert len(i) == 1 and i[0][\"status\"] == \"active\"; print(i[0][\"id\"])") &&
		curl -sf "$1/v2/images/$id/file" | cmp - "$2/big.raw"' _ "$GLANCE_G_URL" "$T" "$OS_PY"
else
	ok "the restore whose upload was cut failed (exit $cut_rc: $(tail -c 200 "$T/cut.err"))"
	check "and no half image is left once Glance is back ($n named cut-big)" test "$n" = 0
fi

# 9. Glance killed mid-upload and down until envpack gives up: exit 1, and the
# message names the half image it could not delete, for the user to delete
ls "$GLANCE_G_DIR/images" >"$T/before"
ep restore -p "$T/k.pub" "$T/big.envpack" --to openstack:down -o disk-format=raw --retries 2 >"$T/down.out" 2>"$T/down.err" &
down_pid=$!
for i in $(seq 300); do # a new file in the store, growing
	[ -n "$(find "$GLANCE_G_DIR/images" -type f -size +1M -printf '%f\n' | grep -vxFf "$T/before")" ] && break
	sleep 0.1
done
kill_glance g
wait "$down_pid"
down_rc=$?
check "Glance gone for good: the restore fails with exit 1 (got $down_rc)" test "$down_rc" = 1
check "it names the image it could not delete, and how to" grep -qE "half-made image [0-9a-f-]+ could not be deleted.*openstack image delete" "$T/down.err"
start_glance g "$gport" || not_ok "restart glance-api"
left=$(grep -oE "openstack image delete [0-9a-f-]+" "$T/down.err" | awk '{print $4}')
check "once Glance is back, that image is there, not active" bash -c '
	s=$(curl -sf "$1/v2/images/$2" | "$3" -c "import json, sys; print(json.load(sys.stdin)[\"status\"])") && [ "$s" != active ]' \
	_ "$GLANCE_G_URL" "$left" "$OS_PY"
expect_exit 2 "a real re-run finds the name taken" ep restore -p "$T/k.pub" "$T/big.envpack" --to openstack:down
expect_err "exists already \($left, status [a-z]+: perhaps left by a restore that failed" "and names the half image, not active"
check "deleting it as told leaves no image named down-big" bash -c 'curl -sf -X DELETE "$1/v2/images/$2" && 
	[ "$(curl -sf "$1/v2/images?name=down-big" | "$3" -c "import json, sys; print(len(json.load(sys.stdin)[\"images\"]))")" = 0 ]' \
	_ "$GLANCE_G_URL" "$left" "$OS_PY"

finish
