# Sourced by the bench scripts: where things are, and the shared realistic disk
# (../shared/bench/make-disk.sh) built or reused under $B/img (not with BENCH_NO_DISK=1).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
SHARED=${SHARED:-$(cd "$here/../.." && pwd)/shared}
ENVPACK=${ENVPACK:-$here/../envpack}
RUNS=${RUNS:-3}
# QUICK=1: a small disk (512 MiB, ~95 MiB of files) in a directory of its own; a bench that
# sets these itself before sourcing this keeps its values
if [ -n "${QUICK:-}" ]; then
	export BENCH_DIR=${BENCH_DIR:-/tmp/envpack-bench-quick} DISK_SIZE=${DISK_SIZE:-512M}
	export SRC_DIRS=${SRC_DIRS:-/usr/share/man} MOD_COUNT=${MOD_COUNT:-5} MOD_MIB=${MOD_MIB:-1}
fi
B=${BENCH_DIR:-/tmp/envpack-bench}
[ -x /usr/bin/time ] || { echo "bench: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
[ -n "${BENCH_NO_DISK:-}" ] || "$SHARED/bench/make-disk.sh" >/dev/null # image.sh needs no disk

# bench_s3: an S3 server (tests/s3.sh's s3rver) with its files under $out, stopped on
# exit; sets ep (its endpoint) and exports the AWS_* variables that reach it, with
# path-style addressing in $out/aws.config (EXTRA: more lines for its s3 section).
bench_s3() {
	T=$out
	source "$here/../tests/s3.sh"
	start_s3 bench >/dev/null || { echo "bench: the S3 server did not start (scripts/deps.sh installs it)" >&2; exit 1; }
	ep=$S3_BENCH_ENDPOINT
	export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY AWS_DEFAULT_REGION=us-east-1
	export AWS_CONFIG_FILE=$out/aws.config
	printf '[default]\ns3 =\n    addressing_style = path\n%s' "${1:-}" >"$AWS_CONFIG_FILE"
}

# bench_link URL: URL through an emulated link (bench/rate_proxy.py; it stops when the bench
# does) for the timed requests of both envpack and the peer: RATE_MBPS MB/s each way (a token
# bucket, shared by all connections) and RTT_MS ms a round trip (a delay line each way, and
# one round trip more at each connect); URL itself when neither is set (loopback, memory-copy
# speed). RATE_MBPS=100 RTT_MS=20 is a realistic cloud link (50-250 MB/s, 1-60 ms away).
# bench_link_note says which. RATE_LOG=FILE: the proxy's bytes over time there (where a
# transfer leaves the link idle).
bench_link() {
	[ -n "${RATE_MBPS:-}${RTT_MS:-}" ] || { echo "$1"; return; }
	local scheme=${1%%://*} rest=${1#*://} pf
	pf=$(mktemp -u "${out:-/tmp}/link.XXXXXX")
	python3 "$here/rate_proxy.py" --target "${rest%%/*}" --mbps "${RATE_MBPS:-0}" --rtt-ms "${RTT_MS:-0}" \
		--port-file "$pf" --parent $$ ${RATE_LOG:+--log "$RATE_LOG"} >/dev/null 2>&1 </dev/null &
	for _ in $(seq 100); do
		[ -s "$pf" ] && break
		sleep 0.05
	done
	[ -s "$pf" ] || { echo "bench: bench/rate_proxy.py did not start" >&2; exit 1; }
	local path=${rest#"${rest%%/*}"} # "" or /...
	echo "$scheme://127.0.0.1:$(cat "$pf")$path"
}
bench_link_note() {
	if [ -n "${RATE_MBPS:-}${RTT_MS:-}" ]; then
		echo "link: ${RATE_MBPS:-unlimited} MB/s each way, ${RTT_MS:-0} ms a round trip (bench/rate_proxy.py), envpack and the peer alike"
	else echo "link: loopback (RATE_MBPS and RTT_MS unset)"; fi
}

# bench_radosgw: as bench_s3, on Ceph's radosgw (tests/radosgw.sh: a one-node cluster, its
# OSD on memstore) with every file of it under $out/bench (S3_BENCH_DIR; its request log,
# requests.log, is made from radosgw's own by bench_requests_log), its daemons stopped on exit.
bench_radosgw() {
	T=$out
	S3_MAX_SECONDS=${S3_MAX_SECONDS:-7200} # a full bench runs longer than a test
	source "$here/../tests/radosgw.sh"
	start_radosgw bench >/dev/null || { echo "bench: radosgw did not start (scripts/deps.sh installs it)" >&2; exit 1; }
	ep=$S3_BENCH_ENDPOINT
	export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY AWS_DEFAULT_REGION=us-east-1
	export AWS_CONFIG_FILE=$out/aws.config
	printf '[default]\ns3 =\n    addressing_style = path\n%s' "${1:-}" >"$AWS_CONFIG_FILE"
}

# bench_server NAME: a bench next to restic on the S3 server SERVER names, s3rver (bench_s3) or
# radosgw (bench_radosgw): out=$B/NAME made afresh (removed on exit unless KEEP=1) and the server
# started; sets server_name (for the tables) and bucket, and clears what would reach another S3
bench_server() {
	command -v restic >/dev/null || { echo "bench: needs restic (scripts/deps.sh installs it)" >&2; exit 1; }
	out=$B/$1
	rm -rf "$out"
	mkdir -p "$out"
	trap '[ -n "${KEEP:-}" ] || rm -rf "$out"' EXIT # the server's cleanup runs first (tests/servers.sh)
	if [ "$SERVER" = radosgw ]; then
		bench_radosgw
		server_name="Ceph radosgw $(radosgw --version | awk '{ print $3 }') (one OSD on memstore)"
	else
		bench_s3
		server_name="s3rver 3.7.1"
	fi
	bucket=$S3_BENCH_BUCKET
	export AWS_SHARED_CREDENTIALS_FILE=/dev/null
	unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3
}

# bench_requests_log: $S3_BENCH_DIR/requests.log up to date ("START END METHOD URL STATUS" a
# line): s3rver writes it as it answers; radosgw's is made from its log, which a thread of
# its own writes a moment later (the line count is waited for to stop growing)
bench_requests_log() {
	[ -f "$S3_BENCH_DIR/ceph.conf" ] || return 0
	local n=-1 m
	for _ in $(seq 50); do
		m=$(wc -l <"$S3_BENCH_DIR/log/client.rgw.log")
		[ "$m" = "$n" ] && break
		n=$m
		sleep 0.2
	done
	radosgw_requests_log bench
}

# bench_kinds T0 T1 FILE: the requests of $S3_BENCH_DIR/requests.log that started from T0 to T1
# (EPOCHREALTIME) by kind, "PUT GET LIST HEAD RETENTION DELETE OTHER TOTAL" (path-style URLs);
# FILE gets their lines. Call bench_requests_log first.
bench_kinds() {
	awk -v a="$1" -v b="$2" -v f="$3" '$1 >= a && $1 <= b {
		print >f
		m = $3; u = $4; q = ""
		if ((i = index(u, "?")) > 0) { q = substr(u, i + 1); u = substr(u, 1, i - 1) }
		sub(/^\/+/, "", u)
		bucket = u !~ /\/./ # "/bucket" or "/bucket/": no key
		conf = q ~ /(^|&)(location|object-lock|versioning|policy|acl|lifecycle|tagging|uploads)(=|&|$)/
		if (m == "PUT") k = q ~ /(^|&)retention(=|&|$)/ ? 5 : 1
		else if (m == "GET") k = bucket ? (conf ? 7 : 3) : 2
		else if (m == "HEAD") k = 4
		else if (m == "DELETE") k = 6
		else k = 7
		c[k]++; c[8]++
	} END { for (k = 1; k <= 8; k++) printf "%d%s", c[k], k < 8 ? " " : "\n" }' "$S3_BENCH_DIR/requests.log"
}

# bench_json_kinds LOG: envpack's own counts from a command's --json ("requests"; a backup's
# lock release PUT and --init's GET of config.json among them), in bench_kinds' order
bench_json_kinds() {
	jq -r '.requests | "\(.put) \(.get) \(.list) \(.head) \(.retention) \(.delete) \(.other) \(.put + .get + .list + .head + .retention + .delete + .other)"' "$1"
}

# backup_input ROUND SRC: the disk a backup round reads, at SRC: the disk (round 0), then
# the 1 %-changed one copied over it in place (round 2: same inode, new mtime); the
# other rounds back up what is there.
backup_input() {
	case $1 in
	0) cp --sparse=always "$B/img/disk.raw" "$2" ;;
	2) cp --sparse=always "$B/img/disk-mod.raw" "$2" ;;
	esac
}

# envpack_bench_keys: a signing key at $out/bench.key, envpack's files cache under $out
# (counted beside the peers' caches, not left in ~), and its options from EP_LEVEL (zstd
# level, default backup's own) and EP_ENCRYPT=1 (--encrypt-to a fresh X25519 key): ep_opts for
# backups, ep_read for reading back.
envpack_bench_keys() {
	"$ENVPACK" keygen -o "$out/bench" >/dev/null
	export ENVPACK_STATE_DIR=$out/envpack-state
	ep_opts=(${EP_LEVEL:+-l "$EP_LEVEL"})
	ep_read=()
	if [ -n "${EP_ENCRYPT:-}" ]; then
		"$ENVPACK" keygen --x25519 -o "$out/recipient" >/dev/null
		ep_opts+=(--encrypt-to "$out/recipient.pub")
		ep_read=(--decrypt-key "$out/recipient.key")
	fi
}

# Ratios and goals for the tables (live.sh, drill.sh): "-" where a figure is missing.
bench_num='^[0-9]+([.][0-9]*)?$'
ratio() { # ratio A B: A / B to two places, "-" unless both are numbers
	awk -v a="$1" -v b="$2" -v num="$bench_num" 'BEGIN {
		if (a !~ num || b !~ num) print "-"; else if (b > 0) printf "%.2f\n", a / b; else print (a > 0 ? "inf" : "-") }'
}
goal() { awk -v v="$1" -v l="$2" -v num="$bench_num" 'BEGIN { print (v ~ num && v + 0 <= l) ? "met" : "NOT met" }'; }

# timed CMD...: CMD's wall seconds (its output in $out/log); a failure shows the output and
# stops the bench
timed() {
	if ! /usr/bin/time -f '%e' -o "$out/time" "$@" >"$out/log" 2>&1; then
		echo "bench: failed: $*" >&2
		cat "$out/log" >&2
		exit 1
	fi
	cat "$out/time"
}

# capture_rounds: RUNS rounds of the calling bench's capture, download and local_pack, taking
# turns (a change of load falls on each); each prints its seconds. BEST[capture],
# BEST[download] and BEST[plain] (a download, then the local pack of it): the lowest of the rounds.
declare -A BEST
capture_rounds() {
	local round c d p
	for ((round = 0; round < RUNS; round++)); do
		c=$(capture) && d=$(download) && p=$(local_pack) || exit 1
		best_of capture "$c"
		best_of download "$d"
		best_of plain "$(awk -v a="$d" -v b="$p" 'BEGIN { printf "%.2f", a + b }')"
	done
}
best_of() { # best_of NAME SECONDS
	if [ -z "${BEST[$1]:-}" ] || awk -v a="$2" -v b="${BEST[$1]}" 'BEGIN { exit !(a < b) }'; then BEST[$1]=$2; fi
}

