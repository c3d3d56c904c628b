# Real OpenStack services for the openstack: tests, from Debian's packages
# (python3-glance, python3-keystone; scripts/deps.sh installs them), run by
# /usr/bin/python3 on 127.0.0.1. Sourced after tests/lib.sh (it needs $T).
#
#   start_glance NAME [PORT]  glance-api standalone: no Keystone (the paste
#                  pipeline's unauthenticated context, as an admin), sqlite, the
#                  file store under $T/NAME/images; a second start with the same
#                  NAME keeps its database and store (a restart). Sets
#                  GLANCE_NAME_URL=http://127.0.0.1:PORT and GLANCE_NAME_DIR.
#   kill_glance NAME          KILL, at once, every process of it (a crash, not a shutdown)
#   start_keystone NAME       Keystone: sqlite, fernet tokens, bootstrapped with
#                  admin/$OS_ADMIN_PASSWORD, its public API through
#                  tests/tools/keystone_serve.py. Sets KEYSTONE_NAME_URL.
#   start_heat NAME KEYSTONE  tests/tools/heat_fake.py (Heat's stack-create,
#                  tokens checked against Keystone KEYSTONE); stacks land in
#                  $T/NAME/stacks. Sets HEAT_NAME_URL, HEAT_NAME_DIR.
#   start_nova NAME KEYSTONE GLANCE SERVERS  tests/tools/nova_fake.py (the servers of the JSON
#                  file SERVERS; tokens checked against Keystone KEYSTONE; snapshots made in
#                  the real glance-api at GLANCE); its requests in $T/NAME/requests.log, one
#                  JSON line each. Sets NOVA_NAME_URL, NOVA_NAME_DIR.
#   os_openrc CMD...          CMD in an openrc's environment and nothing else (no OS_* of the
#                  machine's own): Keystone k ($KEYSTONE_K_URL), user ops with password
#                  $OSPW, project demo, HOME and TMPDIR $T/home and $T/tmp (the case makes them)
#   os_envpack [NAME=VALUE...] ARGS...  envpack so, the assignments changing that environment
# Every process is killed when the test exits; each is bounded by OS_MAX_SECONDS.
OS_MAX_SECONDS=${OS_MAX_SECONDS:-1200}
OS_ADMIN_PASSWORD=admin-$RANDOM$RANDOM
OS_TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")/tools" && pwd)
OS_PY=/usr/bin/python3 # Debian's, which has the OpenStack modules; not a pyenv one
source "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

# os_wait_http URL SECS PID: waits for URL to answer 200 while PID lives
os_wait_http() {
	local i
	for i in $(seq $(($2 * 5))); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true)" = 200 ] && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}

start_glance() {
	local name=$1 port=${2:-} var dir
	var=$(srv_var GLANCE "$name") || return 2
	dir=$T/$name
	[ -n "$port" ] || port=$(free_port)
	if [ ! -f "$dir/glance.sqlite" ]; then
		mkdir -p "$dir/images"
		cat >"$dir/paste.ini" <<'INI'
[pipeline:glance-api]
pipeline = versionnegotiation unauthenticated-context rootapp

[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app

[app:apiversions]
paste.app_factory = glance.api.versions:create_resource

[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory

[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory

[filter:unauthenticated-context]
paste.filter_factory = glance.api.middleware.context:UnauthenticatedContextMiddleware.factory
INI
		cat >"$dir/glance-api.conf" <<INI
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $port
workers = 1
log_file = $dir/glance.log
[database]
connection = sqlite:///$dir/glance.sqlite
[paste_deploy]
flavor =
config_file = $dir/paste.ini
[glance_store]
stores = file
default_store = file
filesystem_store_datadir = $dir/images
INI
		timeout 120 "$OS_PY" -m glance.cmd.manage --config-file "$dir/glance-api.conf" db_sync >"$dir/manage.log" 2>&1 || {
			echo "start_glance: db_sync failed: $(tail -n 5 "$dir/manage.log")" >&2
			return 1
		}
	fi
	sed -i "s/^bind_port = .*/bind_port = $port/" "$dir/glance-api.conf"
	timeout -k 5 "$OS_MAX_SECONDS" "$OS_PY" -m glance.cmd.api --config-file "$dir/glance-api.conf" \
		>>"$dir/out" 2>&1 &
	local tpid=$! gpid
	SRV_PIDS[glance/$name]=$tpid
	os_wait_http "http://127.0.0.1:$port/v2/images" 60 $tpid || {
		echo "start_glance: $name did not answer within 60 s: $(tail -n 5 "$dir/out")" >&2
		srv_kill "glance/$name"
		return 1
	}
	# glance-api leads a process group of its own (its workers in it), out of
	# timeout's: the server's stop must reach it by its own id
	gpid=$(ps -o pid= --ppid "$tpid" | tr -d ' ')
	SRV_PIDS[glance/$name]="$tpid $gpid"
	export "${var}_URL=http://127.0.0.1:$port" "${var}_DIR=$dir"
}

kill_glance() {
	local pid
	for pid in ${SRV_PIDS[glance/$1]:-}; do
		kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null
	done
	for pid in ${SRV_PIDS[glance/$1]:-}; do
		{ wait "$pid"; } 2>/dev/null # the timeout, reaped here without bash's "Killed" line
	done
	srv_kill "glance/$1"
}

# keystone-manage, from python3-keystone (the keystone package would bring Apache)
# os_keystone_manage SECS ARGS...
os_keystone_manage() {
	local secs=$1
	shift
	timeout "$secs" "$OS_PY" -c 'import sys; from keystone.cmd.manage import main; sys.argv[0] = "keystone-manage"; sys.exit(main())' "$@"
}

start_keystone() {
	local name=$1 var dir port
	var=$(srv_var KEYSTONE "$name") || return 2
	dir=$T/$name
	port=$(free_port)
	mkdir -p "$dir/fernet" "$dir/credential"
	cat >"$dir/keystone.conf" <<INI
[DEFAULT]
log_file = $dir/keystone.log
[database]
connection = sqlite:///$dir/keystone.sqlite
[fernet_tokens]
key_repository = $dir/fernet
[fernet_receipts]
key_repository = $dir/fernet
[credential]
key_repository = $dir/credential
[token]
provider = fernet
INI
	local c="--config-file $dir/keystone.conf" u
	u=$(id -un)
	{ os_keystone_manage 300 $c db_sync &&
		os_keystone_manage 60 $c fernet_setup --keystone-user "$u" --keystone-group "$(id -gn)" &&
		os_keystone_manage 60 $c credential_setup --keystone-user "$u" --keystone-group "$(id -gn)" &&
		os_keystone_manage 120 $c bootstrap --bootstrap-password "$OS_ADMIN_PASSWORD" \
			--bootstrap-public-url "http://127.0.0.1:$port/v3" --bootstrap-region-id RegionOne
	} >"$dir/manage.log" 2>&1 || {
		echo "start_keystone: keystone-manage failed: $(tail -n 5 "$dir/manage.log")" >&2
		return 1
	}
	# a write-ahead log: Keystone keeps a read open across requests, which locks a rollback journal
	"$OS_PY" -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("pragma journal_mode=wal")' "$dir/keystone.sqlite"
	timeout -k 5 "$OS_MAX_SECONDS" "$OS_PY" "$OS_TOOLS/keystone_serve.py" --config-file "$dir/keystone.conf" \
		--port "$port" --lifetime "$OS_MAX_SECONDS" >/dev/null 2>>"$dir/out" &
	SRV_PIDS[keystone/$name]=$!
	os_wait_http "http://127.0.0.1:$port/v3" 60 $! || {
		echo "start_keystone: $name did not answer within 60 s: $(tail -n 5 "$dir/out")" >&2
		srv_kill "keystone/$name"
		return 1
	}
	export "${var}_URL=http://127.0.0.1:$port"
}

start_heat() {
	local name=$1 ks=$2 var dir port
	var=$(srv_var HEAT "$name") || return 2
	dir=$T/$name
	mkdir -p "$dir/stacks"
	srv_spawn "heat/$name" "$dir/port" "$dir/out" "start_heat: $name" timeout -k 5 "$OS_MAX_SECONDS" \
		"$OS_PY" "$OS_TOOLS/heat_fake.py" --keystone "$ks" --stacks "$dir/stacks" \
		--port-file "$dir/port" --log "$dir/requests.log" --lifetime "$OS_MAX_SECONDS" || return 1
	port=$SRV_PORT
	export "${var}_URL=http://127.0.0.1:$port" "${var}_DIR=$dir"
}

start_nova() {
	local name=$1 ks=$2 glance=$3 servers=$4 var dir port
	var=$(srv_var NOVA "$name") || return 2
	dir=$T/$name
	mkdir -p "$dir"
	srv_spawn "nova/$name" "$dir/port" "$dir/out" "start_nova: $name" timeout -k 5 "$OS_MAX_SECONDS" \
		"$OS_PY" "$OS_TOOLS/nova_fake.py" --keystone "$ks" --glance "$glance" --servers "$servers" \
		--port-file "$dir/port" --log "$dir/requests.log" --lifetime "$OS_MAX_SECONDS" || return 1
	port=$SRV_PORT
	export "${var}_URL=http://127.0.0.1:$port" "${var}_DIR=$dir"
}

os_openrc() {
	env -i PATH="$PATH" HOME="$T/home" TMPDIR="$T/tmp" OS_AUTH_URL="$KEYSTONE_K_URL/v3" OS_USERNAME=ops \
		OS_PASSWORD="$OSPW" OS_PROJECT_NAME=demo OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default \
		OS_REGION_NAME=RegionOne OS_INTERFACE=public "$@"
}

os_envpack() {
	local pre=()
	while [[ $1 =~ ^[A-Z_]+= ]]; do pre+=("$1"); shift; done
	os_openrc "${pre[@]}" timeout -k 5 300 "$ENVPACK" "$@"
}

# start_glance_keystone: glance-api g and keystone k, each said with ok; when either does
# not start, the case ends there (everything it checks needs both)
start_glance_keystone() {
	start_glance g || { not_ok "start glance-api"; finish; exit 0; }
	ok "glance-api at $GLANCE_G_URL"
	start_keystone k || { not_ok "start keystone"; finish; exit 0; }
	ok "keystone at $KEYSTONE_K_URL"
}
