# A real S3 implementation for tests: Ceph's radosgw (16.2, Debian 12) over a one-node
# cluster private to the test. Sourced after tests/lib.sh (it needs $T); it sources
# tests/s3.sh, whose helpers then work on it too.
#
#   start_radosgw NAME       a ceph-mon, one OSD on memstore (its objects in memory) and
#                            radosgw (beast) on a free 127.0.0.1 port, every file of theirs
#                            under $T/NAME; an admin user whose keys are S3_ACCESS_KEY and
#                            S3_SECRET_KEY (s3rver's, so that a test written for start_s3
#                            runs unchanged) and the bucket $S3_BUCKET, owned by it
#   radosgw_user NAME UID    a second user UID with keys of its own
#   radosgw_append_only NAME UID [--bucket B] [--object-lock]
#                            radosgw_user, and a bucket policy: UID may get, put and list
#                            (multipart and versions included: a create-only PUT on a
#                            versioned bucket lists the key's versions and may read the
#                            first) but s3:DeleteObject* is denied to it;
#                            the admin keeps every right on every object (objects UID puts
#                            are UID's own, which would otherwise shut the bucket's owner out).
#                            On $S3_BUCKET, or B; --object-lock: UID may also put and read
#                            retentions (s3:PutObjectRetention, s3:GetObjectRetention) and read
#                            the bucket's Object Lock configuration, as a backup host into an
#                            Object Lock store needs (formats/STORE.md, section 10)
#   radosgw_env NAME UID     AWS_ACCESS_KEY_ID=…, AWS_SECRET_ACCESS_KEY=…, AWS_DEFAULT_REGION,
#                            AWS_ENDPOINT_URL lines for `env $(radosgw_env a u) CMD`; UID
#                            admin is the admin (as s3_env NAME)
#   rgw_call NAME UID OPERATION [PARAMS_JSON] [--header H:V] [--body F] [--out F]
#                            one call through botocore as UID (tests/tools/s3_call.py):
#                            its answer as JSON, or "ERROR 403 AccessDenied" and exit 1
#   rgw_call NAME UID --keys BUCKET [PREFIX]
#                            the keys under PREFIX, one a line, as UID lists them
#   radosgw_rss NAME         the resident memory of the mon, the OSD and radosgw, in MiB
#   stop_radosgw NAME        kills radosgw, the OSD and the mon now (SIGKILL: nothing of
#                            theirs is kept); all stop when the test exits
#
# start_radosgw sets, as start_s3 does (NAME upper-cased: start_radosgw a -> S3_A_…),
# S3_NAME_ENDPOINT, S3_NAME_BUCKET, S3_NAME_DIR ($T/NAME: ceph.conf, log/ (each
# daemon's log; log/client.rgw.log holds radosgw's one line a request), mon/, osd/,
# run/ (admin sockets), requests.log (made from radosgw's log by s3_requests, in
# s3rver's format)), and RGW_START_SECONDS (how long the start took).
#
# What was learned setting this up (Ceph 16.2.15):
# - Nothing outside $T/NAME: ceph.conf names the run, log, crash and data directories,
#   so no /etc/ceph, /var/lib/ceph, /var/log/ceph or /run/ceph, and every tool is given
#   `-c ceph.conf`. No root is needed (the daemons run as the test's user).
# - `auth none` inside the cluster (no keyrings); radosgw still checks S3 signatures (a
#   wrong secret: 403 SignatureDoesNotMatch). Clients need `ms mon client mode = crc`
#   (the default, secure, needs cephx): without it radosgw hangs at start with
#   "get_initial_auth_request returned -13".
# - No mgr: `ceph -s` shows no pool statistics, nothing here needs them. The pg
#   autoscaler (a mgr module) is off and each pool gets 8 PGs, not 32: radosgw makes 7
#   pools, and fewer PGs are made and peered sooner on one OSD.
# - The start takes 6-13 s on 2 busy cores (~140 MiB resident; memstore then holds every
#   object in memory). Two settings make it so: each pool radosgw makes is an osdmap change,
#   ~1 s apiece at paxos' default propose interval (1 s; here 0.05); and radosgw, started
#   before the OSD is up, would wait for the objecter's next tick (5 s; here 0.2) to see it.
#   Most of the rest is python starting (the ceph CLI once, botocore once).
# - Every daemon runs in the foreground (-f) under `timeout` (RGW_MAX_SECONDS, by default
#   S3_MAX_SECONDS) and with
#   a parent-death signal (setpriv --pdeathsig KILL): killed with the test (even by
#   SIGKILL, when no EXIT trap runs) or past its time, whichever comes first.
# - awscli 2.9 crashes printing radosgw's error answers, whose Message is empty: read
#   error codes with rgw_call (botocore). Objects put by a second user are its own: the
#   bucket owner reads them only through a bucket policy (or bucket-owner-full-control).
source "$(dirname "${BASH_SOURCE[0]}")/s3.sh"

RGW_MAX_SECONDS=${RGW_MAX_SECONDS:-$S3_MAX_SECONDS}

# _rgw_daemon NAME WHAT CMD...: CMD in the background as server key rgw/NAME/WHAT, its
# stdout and stderr into log/WHAT.out; dies with the test (parent-death signal) or past
# RGW_MAX_SECONDS. `timeout` leads its own process group: a KILL of the group reaches CMD.
_rgw_daemon() {
	local name=$1 what=$2
	shift 2
	setpriv --pdeathsig KILL timeout -k 5 "$RGW_MAX_SECONDS" setpriv --pdeathsig KILL "$@" \
		>>"$T/$name/log/$what.out" 2>&1 &
	SRV_PIDS["rgw/$name/$what"]=$!
	SRV_HARD["rgw/$name/$what"]=1
	disown $! # its end by a KILL is not reported as a job's
}

# _rgw_ceph NAME ARGS...: the ceph CLI on cluster NAME (python: ~0.5 s a run)
_rgw_ceph() {
	local name=$1
	shift
	timeout -k 5 60 ceph -c "$T/$name/ceph.conf" --connect-timeout 30 "$@"
}

# _rgw_admin NAME ARGS...: radosgw-admin on cluster NAME
_rgw_admin() {
	local name=$1
	shift
	timeout -k 5 60 radosgw-admin -c "$T/$name/ceph.conf" "$@"
}

_rgw_conf() { # _rgw_conf DIR FSID MON_PORT RGW_PORT
	local d=$1
	cat <<EOF
[global]
fsid = $2
mon host = v2:127.0.0.1:$3
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
run dir = $d/run
admin socket = $d/run/\$name.\$pid.asok
pid file = $d/run/\$name.pid
log file = $d/log/\$name.log
crash dir = $d/crash
keyring = $d/keyring
tmp dir = $d/tmp
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 1
mon data avail crit = 0
paxos propose interval = 0.05
[mon]
mon data = $d/mon
mon cluster log file = $d/log/cluster.log
[osd]
osd data = $d/osd
osd objectstore = memstore
memstore device bytes = 4294967296
[client]
ms mon client mode = crc
objecter tick interval = 0.2
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$4
rgw data = $d/rgw
EOF
}

start_radosgw() {
	local name=$1 var dir fsid osd_uuid monport rgwport code i t0=$EPOCHREALTIME
	var=$(srv_var S3 "$name") || return 2
	dir=$T/$name
	[ -z "${SRV_PIDS["rgw/$name/mon"]:-}" ] || { echo "start_radosgw: $name is running" >&2; return 2; }
	for i in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool setpriv; do
		command -v "$i" >/dev/null || { echo "start_radosgw: no $i (run scripts/deps.sh)" >&2; return 1; }
	done
	rm -rf "$dir"
	mkdir -p "$dir"/{run,log,mon,osd,crash,rgw,tmp}
	fsid=$(cat /proc/sys/kernel/random/uuid)
	osd_uuid=$(cat /proc/sys/kernel/random/uuid)
	read -r monport rgwport < <(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))') # one python run (its start is slow on a busy machine)
	_rgw_conf "$dir" "$fsid" "$monport" "$rgwport" >"$dir/ceph.conf"
	monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$monport]" "$dir/monmap" >/dev/null &&
		ceph-mon -c "$dir/ceph.conf" -i a --mkfs --monmap "$dir/monmap" >>"$dir/log/mkfs.out" 2>&1 || {
		echo "start_radosgw: $name: the mon's store was not made: $(tail -n 5 "$dir/log/mkfs.out")" >&2
		return 1
	}
	_rgw_daemon "$name" mon ceph-mon -c "$dir/ceph.conf" -i a -f
	# the OSD's store needs no mon; its id does (the ceph run waits for the mon). radosgw makes
	# its pools itself, each an osdmap change: fast with a short paxos propose interval
	ceph-osd -c "$dir/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$dir/log/mkfs.out" 2>&1 &
	local mkfs=$!
	_rgw_ceph "$name" osd new "$osd_uuid" 0 >"$dir/log/setup.out" 2>&1
	code=$?
	wait "$mkfs" || code=1
	if [ "$code" != 0 ]; then
		echo "start_radosgw: $name: the cluster did not start: $(tail -n 3 "$dir/log/setup.out" "$dir/log/mkfs.out" "$dir/log/mon.a.log" 2>/dev/null)" >&2
		stop_radosgw "$name"
		return 1
	fi
	_rgw_daemon "$name" osd ceph-osd -c "$dir/ceph.conf" -i 0 -f
	_rgw_daemon "$name" rgw radosgw -c "$dir/ceph.conf" -n client.rgw -f
	for i in $(seq 600); do # radosgw answers once the OSD is up and its pools are active
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$rgwport/" || true)
		[ "$code" = 200 ] && break
		kill -0 "${SRV_PIDS["rgw/$name/rgw"]}" 2>/dev/null && kill -0 "${SRV_PIDS["rgw/$name/osd"]}" 2>/dev/null || break
		sleep 0.1
	done
	[ "$code" = 200 ] || {
		echo "start_radosgw: $name: radosgw did not answer on 127.0.0.1:$rgwport (HTTP $code): $(tail -n 5 "$dir/log/client.rgw.log" "$dir/log/rgw.out" "$dir/log/osd.out" 2>/dev/null)" >&2
		stop_radosgw "$name"
		return 1
	}
	export "${var}_ENDPOINT=http://127.0.0.1:$rgwport" "${var}_BUCKET=$S3_BUCKET" "${var}_DIR=$dir"
	mkdir -p "$dir/users"
	_rgw_user_keys "$name" admin "$S3_ACCESS_KEY" "$S3_SECRET_KEY" &&
		_rgw_admin "$name" user create --uid admin --display-name admin --access-key "$S3_ACCESS_KEY" \
			--secret-key "$S3_SECRET_KEY" >>"$dir/log/setup.out" 2>&1 &&
		rgw_call "$name" admin CreateBucket "{\"Bucket\": \"$S3_BUCKET\"}" >>"$dir/log/setup.out" || {
		echo "start_radosgw: $name: no admin user or bucket: $(tail -n 3 "$dir/log/setup.out")" >&2
		stop_radosgw "$name"
		return 1
	}
	[ -f "$T/s3-aws.config" ] || printf '[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n' >"$T/s3-aws.config"
	RGW_START_SECONDS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
}

_rgw_user_keys() { # NAME UID ACCESS SECRET: where radosgw_env finds them
	printf '%s\n%s\n' "$3" "$4" >"$T/$1/users/$2"
}

radosgw_user() {
	local name=$1 uid=$2 access secret
	[[ $uid =~ ^[a-z0-9_-]+$ ]] || { echo "radosgw_user: bad user '$uid'" >&2; return 2; }
	access=$(echo "${uid^^}" | tr -c 'A-Z0-9\n' X)KEY$RANDOM
	secret=$uid-secret-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
	_rgw_admin "$name" user create --uid "$uid" --display-name "$uid" --access-key "$access" \
		--secret-key "$secret" >>"$T/$name/log/setup.out" 2>&1 || {
		echo "radosgw_user: $uid not made: $(tail -n 3 "$T/$name/log/setup.out")" >&2
		return 1
	}
	_rgw_user_keys "$name" "$uid" "$access" "$secret"
}

radosgw_append_only() {
	local name=$1 uid=$2 b=$S3_BUCKET more=
	shift 2
	while [ $# -gt 0 ]; do
		case $1 in
		--bucket) b=$2; shift 2 ;;
		--object-lock) more=', "s3:PutObjectRetention", "s3:GetObjectRetention", "s3:GetBucketObjectLockConfiguration"'; shift ;;
		*) echo "radosgw_append_only: unknown option '$1'" >&2; return 2 ;;
		esac
	done
	radosgw_user "$name" "$uid" || return 1
	rgw_call "$name" admin PutBucketPolicy "$(cat <<EOF
{"Bucket": "$b", "Policy": {"Version": "2012-10-17", "Statement": [
 {"Sid": "owner", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam:::user/admin"]},
  "Action": ["s3:*"], "Resource": ["arn:aws:s3:::$b", "arn:aws:s3:::$b/*"]},
 {"Sid": "append", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam:::user/$uid"]},
  "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:GetBucketLocation",
   "s3:ListBucketVersions", "s3:GetObjectVersion",
   "s3:ListBucketMultipartUploads", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"$more],
  "Resource": ["arn:aws:s3:::$b", "arn:aws:s3:::$b/*"]},
 {"Sid": "nodelete", "Effect": "Deny", "Principal": {"AWS": ["arn:aws:iam:::user/$uid"]},
  "Action": ["s3:DeleteObject*"], "Resource": ["arn:aws:s3:::$b/*"]}]}}
EOF
)" >>"$T/$name/log/setup.out"
}

radosgw_env() {
	local var end keys
	var=$(srv_var S3 "$1") || return 2
	end=${var}_ENDPOINT
	[ -n "${!end:-}" ] && [ -f "$T/$1/users/$2" ] || { echo "radosgw_env: no user '$2' on '$1'" >&2; return 2; }
	mapfile -t keys <"$T/$1/users/$2"
	printf '%s\n' "AWS_ACCESS_KEY_ID=${keys[0]}" "AWS_SECRET_ACCESS_KEY=${keys[1]}" AWS_DEFAULT_REGION=us-east-1 \
		"AWS_ENDPOINT_URL=${!end}"
}

# radosgw_envpack NAME UID ARGS...: envpack with the radosgw user UID's keys on server NAME,
# nothing from ~/.aws (the endpoint is given with --endpoint, as users give it)
radosgw_envpack() {
	local envs
	envs=$(radosgw_env "$1" "$2") || return 2
	shift 2
	# shellcheck disable=SC2046 # one word a line, no spaces
	env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_S3 $(grep -v ENDPOINT <<<"$envs") \
		AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null timeout -k 5 300 "$ENVPACK" "$@"
}

rgw_call() {
	local name=$1 uid=$2 envs
	shift 2
	envs=$(radosgw_env "$name" "$uid") || return 2
	# shellcheck disable=SC2046 # one word a line, no spaces
	env -u AWS_PROFILE -u AWS_SESSION_TOKEN $envs AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
		timeout -k 5 120 python3 "$S3_TOOLS/s3_call.py" "${envs##*AWS_ENDPOINT_URL=}" "$@"
}

radosgw_rss() {
	local what groups=
	for what in mon osd rgw; do groups+=" ${SRV_PIDS[rgw/$1/$what]:-}"; done
	ps -eo pgid=,rss= | awk -v g="$groups" 'BEGIN { split(g, a, " "); for (i in a) in_[a[i]] = 1 }
		in_[$1] { kb += $2 } END { printf "%d\n", kb / 1024 }'
}

stop_radosgw() {
	local what
	srv_var S3 "$1" >/dev/null || return 2
	for what in rgw osd mon; do srv_kill "rgw/$1/$what"; done
}

# radosgw_requests_log NAME: $T/NAME/requests.log made again from radosgw's log, one line
# a request as s3rver's: "START END METHOD URL STATUS" (seconds since the epoch)
radosgw_requests_log() {
	python3 - "$T/$1/log/client.rgw.log" "$T/$1/requests.log" <<'PY'
import datetime, re, sys
start, out = {}, []
stamp = lambda s: datetime.datetime.strptime(s, '%Y-%m-%dT%H:%M:%S.%f%z').timestamp()
for line in open(sys.argv[1], errors='replace'):
    m = re.match(r'(\S+) \S+ +\d+ ====== starting new request req=(0x[0-9a-f]+)', line)
    if m:
        start[m[2]] = stamp(m[1])
        continue
    m = re.match(r'(\S+) \S+ +\d+ beast: (0x[0-9a-f]+): \S+ - \S+ \[[^]]*\] "(\S+) (\S+) [^"]*" (\d+) ', line)
    if m:
        end = stamp(m[1])
        out.append('%.6f %.6f %s %s %s\n' % (start.pop(m[2], end), end, m[3], m[4], m[5]))
open(sys.argv[2], 'w').writelines(out)
PY
}
