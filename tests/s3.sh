# A real S3 server and an independent S3 client for tests. Sourced after
# tests/lib.sh (it needs $T; bench scripts set T themselves).
#
#   start_s3 NAME            s3rver 3.7.1 (node, installed by scripts/deps.sh under
#                            build/node) through tests/tools/s3rver.js on a free
#                            127.0.0.1 port, files under $T/NAME, bucket $S3_BUCKET made
#   start_s3_fault NAME UPSTREAM MODE [ARG]
#                            tests/tools/s3_fault.py in front of S3 server UPSTREAM
#                            (a NAME given to start_s3): drop-part N, 503 N, slow, deny,
#                            gate N (a race made certain)
#   kill_s3 NAME             kills server NAME at once (SIGKILL, mid-request if so)
#   revive_s3 NAME           starts a killed server NAME again, on its port and storage
#   stop_s3 NAME             stops it now (every server stops when the test exits)
#   s3_env NAME              prints AWS_ACCESS_KEY_ID=…, AWS_SECRET_ACCESS_KEY=…,
#                            AWS_DEFAULT_REGION=us-east-1, AWS_ENDPOINT_URL=… lines, for
#                            `env $(s3_env a) CMD` (the values have no spaces)
#   aws_s3 NAME ARGS...      /usr/bin/aws --endpoint-url … ARGS (e.g. `s3api head-object …`)
#                            with the test credentials and path-style addressing
#   s3_requests NAME [REGEX] the request log's lines (matching REGEX, grep -E)
#
# NAME is lower case letters, digits and _; each server sets, with NAME upper-cased
# (start_s3 a  ->  S3_A_…):
#   S3_NAME_ENDPOINT  http://127.0.0.1:PORT   (what --endpoint and --endpoint-url take)
#   S3_NAME_BUCKET    the bucket made at start ($S3_BUCKET)
#   S3_NAME_DIR       $T/NAME: data/ (the storage), requests.log (one line a request:
#                     "START END METHOD URL STATUS", STATUS "-" when the connection
#                     went first), log (the server's own output)
# and S3_ACCESS_KEY / S3_SECRET_KEY are the credentials the server accepts (s3rver's
# fixed account); it checks SigV4 (and V2) signatures: a wrong secret gets 403
# SignatureDoesNotMatch. Unsigned requests are let through as anonymous, as s3rver
# does. AWS_CONFIG_FILE for aws_s3 is $T/s3-aws.config (s3 addressing_style = path).
# Every process started here is killed when the test exits (before lib.sh's trap
# removes $T), and each is also bounded by S3_MAX_SECONDS (default 1800).
S3_ACCESS_KEY=S3RVER
S3_SECRET_KEY=S3RVER
S3_BUCKET=envpack-test
S3_MAX_SECONDS=${S3_MAX_SECONDS:-1800}
S3_TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")/tools" && pwd)
S3_ROOT=$(cd "$S3_TOOLS/../.." && pwd)
S3_AWS=${S3_AWS:-/usr/bin/aws} # Debian's awscli 2.x, not a pyenv or pip one earlier in PATH
export S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET

source "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

start_s3() {
	local name=$1 var dir port i code s3rver=$S3_ROOT/build/node/node_modules/s3rver
	local again=${2:-} # revive_s3: the storage kept, the port taken again
	var=$(srv_var S3 "$name") || return 2
	dir=$T/$name
	[ -z "${SRV_PIDS[s3/$name]:-}" ] || { echo "start_s3: $name is running" >&2; return 2; }
	[ -f "$s3rver/lib/s3rver.js" ] || { echo "start_s3: no s3rver in $s3rver (run scripts/deps.sh)" >&2; return 1; }
	if [ -z "$again" ]; then
		rm -rf "$dir"
		mkdir -p "$dir/data"
	fi
	rm -f "$dir/port"
	# a `timeout` leads its own process group: srv_kill's KILL reaches node too. s3rver's
	# ListObjectsV2 continuation tokens are DES-encrypted, which OpenSSL 3 has only in
	# its legacy provider: without it a listing of more than 1000 keys answers 500
	srv_spawn "s3/$name" "$dir/port" "$dir/log" "start_s3: $name" timeout -k 5 "$S3_MAX_SECONDS" \
		node --openssl-legacy-provider "$S3_TOOLS/s3rver.js" --dir "$dir/data" --bucket "$S3_BUCKET" \
		--port "${again:-0}" --port-file "$dir/port" --log "$dir/requests.log" --lifetime "$S3_MAX_SECONDS" \
		--s3rver-dir "$s3rver" || return 1
	port=$SRV_PORT
	for i in $(seq 100); do # the bucket answers (an anonymous HEAD: 200)
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -I "http://127.0.0.1:$port/$S3_BUCKET" || true)
		[ "$code" = 200 ] && break
		sleep 0.1
	done
	[ "$code" = 200 ] || {
		echo "start_s3: $name did not answer on 127.0.0.1:$port (HTTP $code): $(tail -n 5 "$dir/log")" >&2
		srv_kill "s3/$name"
		return 1
	}
	[ -f "$T/s3-aws.config" ] || printf '[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n' >"$T/s3-aws.config"
	export "${var}_ENDPOINT=http://127.0.0.1:$port" "${var}_BUCKET=$S3_BUCKET" "${var}_DIR=$dir"
}

kill_s3() {
	local pid
	srv_var S3 "$1" >/dev/null || return 2
	for pid in ${SRV_PIDS[s3/$1]:-}; do
		kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
		{ wait "$pid"; } 2>/dev/null || true # reaped here, so bash reports no "Killed" job
	done
	unset "SRV_PIDS[s3/$1]"
}

revive_s3() {
	local port
	port=$(cat "$T/$1/port") || return 2
	for _ in $(seq 50); do # the port is free again once the killed server is gone
		python3 -c 'import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))' "$port" 2>/dev/null && break
		sleep 0.1
	done
	start_s3 "$1" "$port"
}

# start_s3_fault NAME UPSTREAM MODE [ARG] [--tls-cert PEM --tls-key PEM]: see
# tests/tools/s3_fault.py. Sets the same S3_NAME_* variables, the endpoint being the
# proxy's (https:// with --tls-cert) and the bucket UPSTREAM's.
start_s3_fault() {
	local name=$1 up=$2 var upvar dir port
	shift 2
	var=$(srv_var S3 "$name") || return 2
	upvar=$(srv_var S3 "$up") || return 2
	local upend=${upvar}_ENDPOINT
	[ -n "${!upend:-}" ] || { echo "start_s3_fault: no S3 server '$up'" >&2; return 2; }
	dir=$T/$name
	[ -z "${SRV_PIDS[s3/$name]:-}" ] || { echo "start_s3_fault: $name is running" >&2; return 2; }
	rm -rf "$dir"
	mkdir -p "$dir"
	srv_spawn "s3/$name" "$dir/port" "$dir/log" "start_s3_fault: $*" timeout -k 5 "$S3_MAX_SECONDS" \
		python3 "$S3_TOOLS/s3_fault.py" --upstream "${!upend}" \
		--port-file "$dir/port" --log "$dir/requests.log" --lifetime "$S3_MAX_SECONDS" "$@" || return 1
	port=$SRV_PORT
	local scheme=http
	[[ " $* " == *" --tls-cert "* ]] && scheme=https
	export "${var}_ENDPOINT=$scheme://127.0.0.1:$port" "${var}_BUCKET=$S3_BUCKET" "${var}_DIR=$dir"
}

stop_s3() {
	srv_var S3 "$1" >/dev/null || return 2
	srv_kill "s3/$1"
}

s3_env() {
	local var end
	var=$(srv_var S3 "$1") || return 2
	end=${var}_ENDPOINT
	[ -n "${!end:-}" ] || { echo "s3_env: no S3 server '$1'" >&2; return 2; }
	printf '%s\n' "AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY" "AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY" \
		AWS_DEFAULT_REGION=us-east-1 "AWS_ENDPOINT_URL=${!end}"
}

# aws_s3 NAME ARGS...: the AWS CLI against server NAME, nothing from ~/.aws
aws_s3() {
	local name=$1 envs
	shift
	envs=$(s3_env "$name") || return 2
	# shellcheck disable=SC2046 # one word a line, no spaces
	env -u AWS_PROFILE -u AWS_SESSION_TOKEN $envs AWS_CONFIG_FILE="$T/s3-aws.config" \
		AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER= AWS_RETRY_MODE=standard AWS_MAX_ATTEMPTS=2 \
		timeout -k 5 120 "$S3_AWS" --endpoint-url "${envs##*AWS_ENDPOINT_URL=}" "$@"
}

s3_requests() {
	local var dir
	var=$(srv_var S3 "$1") || return 2
	dir=${var}_DIR
	[ ! -f "${!dir}/ceph.conf" ] || radosgw_requests_log "$1" # tests/radosgw.sh: made from radosgw's log
	grep -E -- "${2:-.}" "${!dir}/requests.log" 2>/dev/null || true
}
