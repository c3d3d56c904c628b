# Real and misbehaving container registries for tests, and test images.
# Sourced after tests/lib.sh (it needs $T; bench scripts set T themselves).
#
#   free_port                        prints a free TCP port on 127.0.0.1
#   start_registry NAME [htpasswd|token|token-anon|tls]
#                                    a real /usr/bin/docker-registry (distribution 2.8)
#                                    on a free loopback port, files under $T/NAME
#   start_bad_registry NAME MODE     tests/tools/bad_registry.py MODE on a free port
#   stop_registry NAME               stops it now (every registry stops when the test exits)
#   push_test_image LAYOUT:TAG ADDR/REPO:TAG
#                                    skopeo copy --all from an OCI layout into a registry
#                                    (with the credentials when that registry wants them)
#   make_image_layout DIR            an OCI layout with tags `app` and `multi` (see below)
#
# NAME is lower case letters, digits and _; each registry sets, with NAME upper-cased
# (start_registry a  ->  REG_A):
#   REG_NAME        127.0.0.1:PORT, what goes into docker://, registry:// and --insecure-registry
#   REG_NAME_DIR    $T/NAME: config.yml, log (the registry's and the token server's output),
#                   data/ (the storage); for bad registries requests.log, one line a request
#   REG_NAME_CA     (tls only) the test CA that signed the registry's certificate
#   REG_NAME_AUTH   $T/NAME/auth.json (htpasswd and token only), containers-style, mode 0600:
#                   {"auths":{"127.0.0.1:PORT":{"auth":base64("$REG_USER:$REG_PASS")}}}
#                   the file envpack reads through REGISTRY_AUTH_FILE, as skopeo and podman do
# and REG_USER / REG_PASS are the credentials every auth registry accepts. With `token`,
# the registry sends clients to tests/tools/token_server.py, which checks those
# credentials and signs RS256 JWTs (the certificate in the x5c header) with a key
# whose self-signed certificate is the registry's rootcertbundle; without
# credentials a client gets nothing (with `token-anon`: pulls). Every process
# started here is killed when the test exits (before lib.sh's trap removes $T),
# and each is also bounded by REG_MAX_SECONDS (default 1800).
REG_USER=envpack
REG_PASS=s3cret-pass
REG_MAX_SECONDS=${REG_MAX_SECONDS:-1800}
REG_TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")/tools" && pwd)
declare -gA _REG_CREDS=()

source "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

start_registry() {
	local name=$1 mode=${2:-none} var dir port addr tport i code auth="" anon="" tls="" scheme=http
	var=$(srv_var REG "$name") || return 2
	dir=$T/$name
	[ -z "${SRV_PIDS[reg/$name]:-}" ] || { echo "start_registry: $name is running" >&2; return 2; }
	rm -rf "$dir"
	mkdir -p "$dir/data"
	case $mode in
	none) ;;
	htpasswd)
		htpasswd -Bbn "$REG_USER" "$REG_PASS" >"$dir/htpasswd"
		auth="auth:
  htpasswd:
    realm: envpack-test
    path: $dir/htpasswd"
		;;
	token | token-anon)
		if [ "$mode" = token-anon ]; then anon=--anonymous-pull; fi
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=envpack-test-token \
			-keyout "$dir/token.key" -out "$dir/token.crt" 2>/dev/null || return 1
		srv_spawn "reg/$name" "$dir/token.port" "$dir/log" "start_registry: the token server" \
			timeout -k 5 "$REG_MAX_SECONDS" python3 "$REG_TOOLS/token_server.py" --key "$dir/token.key" \
			--cert "$dir/token.crt" --user "$REG_USER" --password "$REG_PASS" \
			--port-file "$dir/token.port" ${anon:+"$anon"} || return 1
		tport=$SRV_PORT
		auth="auth:
  token:
    realm: http://127.0.0.1:$tport/token
    service: envpack-test-registry
    issuer: envpack-test-issuer
    rootcertbundle: $dir/token.crt"
		;;
	tls) # HTTPS with a certificate for 127.0.0.1 signed by a test CA ($dir/ca.crt)
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=envpack-test-ca \
			-keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null &&
			openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$dir/tls.key" \
				-out "$dir/tls.csr" 2>/dev/null &&
			printf 'subjectAltName=IP:127.0.0.1\n' >"$dir/ext" &&
			openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
				-days 2 -extfile "$dir/ext" -out "$dir/tls.crt" 2>/dev/null || return 1
		scheme=https
		tls="  tls:
    certificate: $dir/tls.crt
    key: $dir/tls.key"
		;;
	*) echo "start_registry: unknown mode '$mode' (htpasswd, token, token-anon or tls)" >&2; return 2 ;;
	esac
	port=$(free_port)
	addr=127.0.0.1:$port
	cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $addr
  secret: envpack-test-secret
$tls
health:
  storagedriver:
    enabled: false
$auth
EOF
	# the registry takes every REGISTRY_* variable as a setting (REGISTRY_AUTH_FILE too): none
	env $(compgen -e | grep '^REGISTRY_' | sed 's/^/-u /') timeout -k 5 "$REG_MAX_SECONDS" \
		/usr/bin/docker-registry serve "$dir/config.yml" >>"$dir/log" 2>&1 &
	SRV_PIDS[reg/$name]="$! ${SRV_PIDS[reg/$name]:-}"
	for i in $(seq 200); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 ${tls:+--cacert "$dir/ca.crt"} "$scheme://$addr/v2/" || true)
		case $code in 200 | 401) break ;; esac
		sleep 0.1
	done
	case $code in 200 | 401) ;; *)
		echo "start_registry: $name did not answer on $addr: $(tail -n 5 "$dir/log")" >&2
		srv_kill "reg/$name"
		return 1
		;;
	esac
	export "$var=$addr" "${var}_DIR=$dir"
	[ "$mode" != tls ] || export "${var}_CA=$dir/ca.crt"
	if [ "$mode" = htpasswd ] || [ "$mode" = token ]; then
		_REG_CREDS[$addr]=$REG_USER:$REG_PASS
		(umask 077 && printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$addr" \
			"$(printf '%s:%s' "$REG_USER" "$REG_PASS" | base64 -w0)" >"$dir/auth.json")
		export "${var}_AUTH=$dir/auth.json"
	fi
}

# start_bad_registry NAME MODE [bad_registry.py options]: see tests/tools/bad_registry.py
start_bad_registry() {
	local name=$1 mode=$2 var dir port
	shift 2
	var=$(srv_var REG "$name") || return 2
	dir=$T/$name
	[ -z "${SRV_PIDS[reg/$name]:-}" ] || { echo "start_bad_registry: $name is running" >&2; return 2; }
	rm -rf "$dir"
	mkdir -p "$dir"
	srv_spawn "reg/$name" "$dir/port" "$dir/log" "start_bad_registry: $mode" \
		python3 "$REG_TOOLS/bad_registry.py" "$mode" --port-file "$dir/port" --log "$dir/requests.log" "$@" || return 1
	port=$SRV_PORT
	export "$var=127.0.0.1:$port" "${var}_DIR=$dir"
}

stop_registry() {
	srv_var REG "$1" >/dev/null || return 2
	srv_kill "reg/$1"
}

# push_test_image [oci:]LAYOUT:TAG [docker://]ADDR/REPO:TAG
push_test_image() {
	local src=${1#oci:} dst=${2#docker://} creds
	creds=${_REG_CREDS[${dst%%/*}]:-}
	skopeo copy -q --all --dest-tls-verify=false ${creds:+--dest-creds "$creds"} "oci:$src" "docker://$dst"
}

# make_image_layout DIR: an OCI layout made by umoci holding
#   app    linux/amd64, three layers: text files; ~3 MB of random data; a small one
#   multi  an OCI image index (application/vnd.oci.image.index.v1+json) of two
#          manifests: app's (linux/amd64) and one for linux/arm64 (same first two
#          layers, its own small one)
make_image_layout() {
	local dir=$1 w
	w=$(mktemp -d "${T:-/tmp}/layout.XXXXXX")
	umoci init --layout "$dir" >/dev/null &&
		umoci new --image "$dir:base" >/dev/null &&
		umoci config --image "$dir:base" --os linux --architecture amd64 --config.cmd /bin/true >/dev/null &&
		umoci unpack --rootless --image "$dir:base" "$w/b" >/dev/null 2>&1 || return 1
	mkdir -p "$w/b/rootfs/etc" "$w/b/rootfs/usr/share/doc/app"
	echo "envpack test image" >"$w/b/rootfs/etc/motd"
	printf 'NAME=envpack-test\nVERSION=1\n' >"$w/b/rootfs/etc/os-release"
	cp /usr/share/common-licenses/GPL-3 "$w/b/rootfs/usr/share/doc/app/LICENSE"
	umoci repack --image "$dir:base" "$w/b" >/dev/null || return 1
	rm -rf "$w/b" # each repack diffs against the bundle's unpack, so unpack again
	umoci unpack --rootless --image "$dir:base" "$w/b" >/dev/null 2>&1 || return 1
	mkdir -p "$w/b/rootfs/srv"
	head -c 3000000 /dev/urandom >"$w/b/rootfs/srv/data.bin"
	umoci repack --image "$dir:data" "$w/b" >/dev/null || return 1
	local arch
	for arch in amd64 arm64; do
		rm -rf "$w/b"
		umoci unpack --rootless --image "$dir:data" "$w/b" >/dev/null 2>&1 || return 1
		mkdir -p "$w/b/rootfs/etc/app"
		echo "arch=$arch" >"$w/b/rootfs/etc/app/arch"
		umoci repack --image "$dir:$arch" "$w/b" >/dev/null &&
			umoci config --image "$dir:$arch" --architecture "$arch" >/dev/null || return 1
	done
	rm -rf "$w"
	python3 - "$dir" <<'EOF' || return 1
import hashlib, json, os, sys
d = sys.argv[1]
idx = json.load(open(os.path.join(d, "index.json")))
tag = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in idx["manifests"]}
def desc(t, arch):
    m = tag[t]
    return {"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
            "platform": {"architecture": arch, "os": "linux"}}
body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": [desc("amd64", "amd64"), desc("arm64", "arm64")]}, indent=2).encode()
h = hashlib.sha256(body).hexdigest()
open(os.path.join(d, "blobs", "sha256", h), "wb").write(body)
# keep app and multi; the index blob keeps the arm64 manifest alive
app = dict(tag["amd64"], annotations={"org.opencontainers.image.ref.name": "app"})
idx["manifests"] = [app, {"mediaType": "application/vnd.oci.image.index.v1+json",
    "digest": "sha256:" + h, "size": len(body),
    "annotations": {"org.opencontainers.image.ref.name": "multi"}}]
with open(os.path.join(d, "index.json"), "w") as f:
    json.dump(idx, f)
EOF
	umoci gc --layout "$dir" # drop the intermediate tags' manifests and configs
}
