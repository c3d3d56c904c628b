#!/usr/bin/env bash
# bench/push.sh — envpack push with its old defaults (64 MiB parts, -j 4), with its
# defaults now (no options: one PUT up to 16 MiB, else 16 MiB parts, -j 10) and
# awscli's `aws s3 cp` (its defaults: 8 MiB parts above 8 MiB, 10 at once), side by side
# in one run, on Ceph's radosgw 16 (tests/radosgw.sh: one mon, one OSD on memstore,
# radosgw on loopback checking SigV4) and on s3rver (tests/s3.sh), for bundles of about
# 10 MiB, 150 MiB and 1 GiB.
#
# The bundles are packs of parts of the shared bench disk (../shared/bench/make-disk.sh,
# reused, never removed): 28 MiB of it from 300 MiB in (a ~10 MiB bundle), 680 MiB
# from there (~150 MiB), and the whole disk with 650 MiB of random data beside it
# (~1 GiB). Within a run each command pushes each bundle RUNS times (default 3), the
# commands taking turns; the best wall time counts. Each object is deleted after its
# run (on radosgw its space taken back at once with `radosgw-admin gc process`, as
# memstore holds objects in memory), outside the time.
#
# SERVERS="radosgw s3rver" (the default) or one of them; SIZES="10 150 1024" (MiB, of
# the three above); EXTRA='LABEL:OPTIONS;...' adds envpack columns with those options
# (e.g. EXTRA='j10p8:-j 10 --part-size 8;j16:-j 16'). RATE_MBPS=N, RTT_MS=N: every timed
# upload, envpack's and awscli's, crosses an emulated link of N MB/s each way and N ms a round
# trip (bench/lib.sh's bench_link; awscli's Expect: 100-continue passes, the proxy being
# TCP-level); unset: loopback.
# Printed: a line per server and bundle, the seconds of each command, the ratios
# new/old and new/aws (lower is better), and the load average when the run started
# and ended (the machine may be shared: compare ratios within one run).
source "$(dirname "$0")/lib.sh"
out=$B/push
rm -rf "$out"
mkdir -p "$out"
trap 'rm -rf "$out"' EXIT # before tests/servers.sh, which runs this after stopping its servers
T=$out
S3_MAX_SECONDS=${S3_MAX_SECONDS:-7200}
source "$here/../tests/radosgw.sh"
aws=${S3_AWS:-/usr/bin/aws}
SERVERS=${SERVERS:-radosgw s3rver}
SIZES=${SIZES:-10 150 1024}
load0=$(cut -d' ' -f1-3 /proc/loadavg)

# the bundles
"$ENVPACK" keygen -o "$out/k" >/dev/null
slice() { # slice NAME MIB: MIB of the disk from 300 MiB in, packed
	dd if="$B/img/disk.raw" of="$out/$1.raw" bs=1M skip=300 count="$2" conv=sparse status=none
	"$ENVPACK" pack -q -k "$out/k.key" -o "$out/$1.envpack" "disk:$out/$1.raw"
	rm -f "$out/$1.raw"
}
for s in $SIZES; do
	case $s in
	10) slice b10 28 ;;
	150) slice b150 680 ;;
	1024)
		head -c 650M /dev/urandom >"$out/random.raw"
		"$ENVPACK" pack -q -k "$out/k.key" -o "$out/b1024.envpack" "disk:$B/img/disk.raw" "disk:$out/random.raw"
		rm -f "$out/random.raw" ;;
	*) echo "bench/push.sh: SIZES are 10, 150 and 1024" >&2; exit 2 ;;
	esac
done

# the commands: a label and envpack's options, or "aws"
labels=(old new aws)
declare -A opts=([old]="--part-size 64 -j 4" [new]="")
IFS=';' read -r -a extra <<<"${EXTRA:-}"
for e in "${extra[@]}"; do
	[ -n "$e" ] || continue
	labels+=("${e%%:*}")
	opts[${e%%:*}]=${e#*:}
done

push_once() { # push_once LABEL BUNDLE: its wall seconds; the object deleted after
	local key=k${EPOCHREALTIME/./} t0 t1 rc=0 # a key of its own (this runs in a subshell)
	t0=$EPOCHREALTIME
	if [ "$1" = aws ]; then
		"$aws" --endpoint-url "$lep" s3 cp --quiet "$2" "s3://$bucket/$key" >/dev/null 2>"$out/err" || rc=$?
	else
		# shellcheck disable=SC2086 # the options are words
		"$ENVPACK" push -q ${opts[$1]} --endpoint "$lep" "$2" "s3://$bucket/$key" >/dev/null 2>"$out/err" || rc=$?
	fi
	t1=$EPOCHREALTIME
	[ "$rc" = 0 ] || { echo "bench/push.sh: $1 failed on $server: $(head -c 300 "$out/err")" >&2; exit 1; }
	"$aws" --endpoint-url "$ep" s3 rm --quiet "s3://$bucket/$key" >/dev/null
	[ "$server" != radosgw ] || _rgw_admin bench gc process --include-all >/dev/null 2>&1 || true
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }'
}

export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=$out/aws.config # awscli's defaults, path-style
printf '[default]\ns3 =\n    addressing_style = path\n' >"$AWS_CONFIG_FILE"
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3

rows=()
for server in $SERVERS; do
	case $server in
	radosgw) start_radosgw bench >/dev/null || { echo "bench/push.sh: radosgw did not start" >&2; exit 1; } ;;
	s3rver) start_s3 bench >/dev/null || { echo "bench/push.sh: s3rver did not start" >&2; exit 1; } ;;
	*) echo "bench/push.sh: SERVERS are radosgw and s3rver" >&2; exit 2 ;;
	esac
	ep=$S3_BENCH_ENDPOINT bucket=$S3_BENCH_BUCKET
	lep=$(bench_link "$ep") # the timed uploads cross it; the deletes do not
	for s in $SIZES; do
		f=$out/b$s.envpack
		declare -A best=()
		push_once new "$f" >/dev/null # a warm-up: the file in the page cache, the server's pools made
		for _ in $(seq "$RUNS"); do
			for l in "${labels[@]}"; do
				t=$(push_once "$l" "$f")
				if [ -z "${best[$l]:-}" ] || awk -v a="$t" -v b="${best[$l]}" 'BEGIN { exit !(a < b) }'; then best[$l]=$t; fi
			done
		done
		row=$(printf '%-8s %9s' "$server" "$(($(stat -c %s "$f") >> 20)) MiB")
		for l in "${labels[@]}"; do row+=$(printf ' %7s' "${best[$l]}"); done
		row+=$(printf ' %7s %7s' "$(ratio "${best[new]}" "${best[old]}")" "$(ratio "${best[new]}" "${best[aws]}")")
		rows+=("$row")
		echo "$row" >&2
		unset best
	done
	case $server in
	radosgw) stop_radosgw bench ;;
	s3rver) stop_s3 bench ;;
	esac
done

head=$(printf '%-8s %9s' server bundle)
for l in "${labels[@]}"; do head+=$(printf ' %7s' "$l"); done
head+=$(printf ' %7s %7s' new/old new/aws)
echo "push, seconds (best of $RUNS, commands taking turns); $(nproc) cores, load average $load0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(bench_link_note)"
echo "old: --part-size 64 -j 4; new: no options; aws: aws s3 cp (awscli $("$aws" --version 2>&1 | cut -d' ' -f1 | cut -d/ -f2): 8 MiB parts, 10 at once)"
for l in "${labels[@]:3}"; do echo "$l: ${opts[$l]}"; done
echo "$head"
printf '%s\n' "${rows[@]}"
