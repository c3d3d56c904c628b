# A real Azure Blob service for tests: Azurite, Microsoft's storage emulator.
# Sourced after tests/lib.sh (it needs $T).
#
#   start_azurite NAME       azurite-blob 3.34.0 (node, installed by scripts/deps.sh under
#                            build/node/azurite) on a free 127.0.0.1 port, blob service
#                            only, in memory (at most 1 GiB), no telemetry; container
#                            $AZ_CONTAINER made
#   start_az_fault NAME UPSTREAM MODE [ARG] [--match REGEX]
#                            tests/tools/s3_fault.py in front of Azurite UPSTREAM (a NAME
#                            given to start_azurite): 503 N, 500 N, slow S, pass
#   stop_azurite NAME        stops it now (every server stops when the test exits)
#   az_conn NAME             the AZURE_STORAGE_CONNECTION_STRING for server NAME (the
#                            development account, its well-known key)
#   azblob NAME ARGS...      tests/tools/azblob.py (an independent client, its own Shared
#                            Key signing) against server NAME
#   az_requests NAME [REGEX] the request log's lines (matching REGEX, grep -E): Azurite's
#                            access log ('"PUT /devstoreaccount1/c/b?comp=page HTTP/1.1" 201'),
#                            a fault proxy's "START END METHOD PATH STATUS"
#   az_test_start            a test's Azurite: start_azurite a, C its container, CONN its
#                            connection string; a test that cannot start it ends there
#   az_mark NAME             the request log's length now
#   az_since NAME MARK       the request log's lines after az_mark gave MARK
#
# NAME is lower case letters, digits and _; each server sets, with NAME upper-cased
# (start_azurite a  ->  AZ_A_…): AZ_NAME_ENDPOINT (http://127.0.0.1:PORT/devstoreaccount1,
# what -o endpoint= and BlobEndpoint= take) and AZ_NAME_DIR ($T/NAME: requests.log, log).
# Azurite checks Shared Key signatures and SAS tokens: a wrong key gets 403.
# Every process started here is killed when the test exits (before lib.sh's trap
# removes $T), and each is also bounded by AZ_MAX_SECONDS (default 1800).
AZ_ACCOUNT=devstoreaccount1
AZ_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
AZ_CONTAINER=envpack-test
AZ_MAX_SECONDS=${AZ_MAX_SECONDS:-1800}
AZ_TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")/tools" && pwd)
AZ_ROOT=$(cd "$AZ_TOOLS/../.." && pwd)

source "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

start_azurite() {
	local name=$1 var dir port i bin=$AZ_ROOT/build/node/azurite/node_modules/.bin/azurite-blob
	var=$(srv_var AZ "$name") || return 2
	dir=$T/$name
	[ -z "${SRV_PIDS[az/$name]:-}" ] || { echo "start_azurite: $name is running" >&2; return 2; }
	[ -x "$bin" ] || { echo "start_azurite: no $bin (run scripts/deps.sh)" >&2; return 1; }
	rm -rf "$dir"
	mkdir -p "$dir"
	port=$(free_port)
	# in memory: nothing written but its access log, which is our request log
	(cd "$dir" && exec timeout -k 5 "$AZ_MAX_SECONDS" "$bin" --blobHost 127.0.0.1 --blobPort "$port" \
		--inMemoryPersistence --extentMemoryLimit 1024 --disableTelemetry \
		>"$dir/requests.log" 2>>"$dir/log") &
	SRV_PIDS[az/$name]=$!
	for i in $(seq 200); do
		grep -q 'successfully listens' "$dir/requests.log" 2>/dev/null && break
		kill -0 "${SRV_PIDS[az/$name]}" 2>/dev/null || break
		sleep 0.1
	done
	grep -q 'successfully listens' "$dir/requests.log" 2>/dev/null || {
		echo "start_azurite: $name did not start: $(tail -n 5 "$dir/log" "$dir/requests.log")" >&2
		srv_kill "az/$name"
		return 1
	}
	export "${var}_ENDPOINT=http://127.0.0.1:$port/$AZ_ACCOUNT" "${var}_DIR=$dir"
	azblob "$name" mkcontainer "$AZ_CONTAINER" || {
		echo "start_azurite: cannot make the container on $name" >&2
		srv_kill "az/$name"
		return 1
	}
}

# start_az_fault NAME UPSTREAM MODE [ARG] [--match REGEX]: see tests/tools/s3_fault.py.
start_az_fault() {
	local name=$1 up=$2 var upvar dir port
	shift 2
	var=$(srv_var AZ "$name") || return 2
	upvar=$(srv_var AZ "$up") || return 2
	local upend=${upvar}_ENDPOINT
	[ -n "${!upend:-}" ] || { echo "start_az_fault: no Azurite '$up'" >&2; return 2; }
	dir=$T/$name
	[ -z "${SRV_PIDS[az/$name]:-}" ] || { echo "start_az_fault: $name is running" >&2; return 2; }
	rm -rf "$dir"
	mkdir -p "$dir"
	local upstream=${!upend%/"$AZ_ACCOUNT"}
	srv_spawn "az/$name" "$dir/port" "$dir/log" "start_az_fault: $*" timeout -k 5 "$AZ_MAX_SECONDS" \
		python3 "$AZ_TOOLS/s3_fault.py" --upstream "$upstream" \
		--port-file "$dir/port" --log "$dir/requests.log" --lifetime "$AZ_MAX_SECONDS" "$@" || return 1
	port=$SRV_PORT
	export "${var}_ENDPOINT=http://127.0.0.1:$port/$AZ_ACCOUNT" "${var}_DIR=$dir"
}

stop_azurite() {
	srv_var AZ "$1" >/dev/null || return 2
	srv_kill "az/$1"
}

az_conn() {
	local var end
	var=$(srv_var AZ "$1") || return 2
	end=${var}_ENDPOINT
	[ -n "${!end:-}" ] || { echo "az_conn: no Azurite '$1'" >&2; return 2; }
	printf 'DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;' "$AZ_ACCOUNT" "$AZ_KEY" "${!end}"
}

azblob() {
	local name=$1 var end
	shift
	var=$(srv_var AZ "$name") || return 2
	end=${var}_ENDPOINT
	timeout -k 5 120 python3 "$AZ_TOOLS/azblob.py" --endpoint "${!end}" --account "$AZ_ACCOUNT" --key "$AZ_KEY" "$@"
}

az_requests() {
	local var dir
	var=$(srv_var AZ "$1") || return 2
	dir=${var}_DIR
	grep -E -- "${2:-.}" "${!dir}/requests.log" 2>/dev/null | grep -v 'Azurite Blob' || true
}

az_test_start() {
	start_azurite a || { not_ok "start Azurite"; finish; exit 0; }
	ok "Azurite at $AZ_A_ENDPOINT"
	C=$AZ_CONTAINER
	CONN=$(az_conn a)
}

az_mark() { az_requests "$1" . | wc -l; }
az_since() { az_requests "$1" . | tail -n +$(($2 + 1)); }
