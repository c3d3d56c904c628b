# What the test servers (tests/registry.sh, s3.sh, azure.sh, openstack.sh) share:
# background servers tracked by a key, stopped when the test exits (before lib.sh's
# trap removes $T), and the small helpers every server start needs. Sourced by them,
# once.
[ -n "${_SRV_LOADED:-}" ] && return 0
_SRV_LOADED=1
declare -gA SRV_PIDS=() # key ("reg/a", "s3/s") -> the pids of its processes
declare -gA SRV_HARD=() # keys whose processes are killed at once: nothing of theirs is kept (radosgw.sh)

# srv_kill KEY: TERM its processes (KILL for a SRV_HARD key), KILL what is left after 5 s
srv_kill() {
	local pid i
	for pid in ${SRV_PIDS[$1]:-}; do
		if [ -n "${SRV_HARD[$1]:-}" ]; then
			kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
		else
			kill "$pid" 2>/dev/null || true
		fi
	done
	for pid in ${SRV_PIDS[$1]:-}; do
		# no `wait`: in an EXIT trap run for SIGTERM, bash's wait for a child it
		# already reaped blocks until every other child ends; bash reaps them anyway
		for i in $(seq 50); do
			if [ -n "${SRV_HARD[$1]:-}" ]; then # the whole group gone: the server under its timeout too
				_srv_group_alive "$pid" || continue 2
			else
				kill -0 "$pid" 2>/dev/null || continue 2
			fi
			sleep 0.1
		done
		# a `timeout` leads its own process group: the server under it goes too
		kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
	done
	unset "SRV_PIDS[$1]" "SRV_HARD[$1]"
}

# _srv_group_alive PGID: a process of the group still runs (a zombie does not count: killed with
# its parent, it waits for init to reap it, which may take a while)
_srv_group_alive() {
	ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

_srv_cleanup() {
	local k
	for k in "${!SRV_PIDS[@]}"; do srv_kill "$k"; done
}
# run our cleanup first, then whatever EXIT trap was there (lib.sh's removes $T)
_SRV_PREV_EXIT=$(trap -p EXIT) # trap -- 'CMD' EXIT
eval "_srv_words=(${_SRV_PREV_EXIT:-x x ''})"
_SRV_PREV_EXIT=${_srv_words[2]}
unset _srv_words
trap '_srv_cleanup; eval "$_SRV_PREV_EXIT"' EXIT

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# srv_var PREFIX NAME: checks NAME (lower case, digits, _), prints PREFIX_NAME upper-cased
srv_var() {
	[[ $2 =~ ^[a-z0-9_]+$ ]] || { echo "bad server name '$2'" >&2; return 2; }
	echo "${1}_${2^^}"
}

# srv_spawn KEY PORT_FILE LOG WHAT CMD...: starts CMD (which writes its port to PORT_FILE)
# in the background as server KEY, its stdout dropped and its stderr appended to LOG,
# and waits for the port: in SRV_PORT; else says WHAT did not start, with LOG's tail,
# stops it and fails. CMD is run, not a subshell: a `timeout` in front is KEY's pid.
srv_spawn() {
	local key=$1 port_file=$2 log=$3 what=$4
	shift 4
	"$@" >/dev/null 2>>"$log" &
	SRV_PIDS[$key]="${SRV_PIDS[$key]:-} $!"
	SRV_PORT=$(srv_wait_port_file "$port_file" $!) && return 0
	echo "$what did not start: $(tail -n 5 "$log")" >&2
	srv_kill "$key"
	return 1
}

# srv_wait_port_file FILE PID: waits (20 s) for a server to write its port, prints it
srv_wait_port_file() {
	local i
	for i in $(seq 200); do
		[ -s "$1" ] && { cat "$1"; return 0; }
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}
