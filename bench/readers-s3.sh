#!/usr/bin/env bash
# bench/readers-s3.sh — what asking a store about a snapshot's chunks costs on S3
# (issue #18, formats/STORE.md section 12): `verify STORE@SNAP` (without --deep),
# `inspect STORE@SNAP` and `import BUNDLE STORE`, each sending a HEAD a distinct
# chunk, by the envpack before the change (ENVPACK_OLD: one HEAD after another) and
# this one (many in flight at once), next to restic check (without --read-data: its
# repository's structure and that every pack is there) as the peer of verify.
#
# The disk is ../shared/bench/make-disk.sh's (4 GiB sparse raw, ext4, ~1 GiB of real
# files). Each envpack has a store of its own (s3://BUCKET/old, s3://BUCKET/new) holding
# one backup of disk.raw (made by this envpack: the format is the same); verify and
# inspect read that snapshot, and import adds the bundle of disk-mod.raw (1 % of the
# disk changed, packed once beforehand), so it asks about every chunk and writes the 1 %.
# restic backs the same disk up into s3:…/restic before its check. Printed: wall seconds
# (verify and inspect: best of RUNS, default 3; import runs once, being stateful) and the
# requests each sent by kind, from the server's log (envpack's --json counts beside, where
# it gives them), with the load average.
#
# ENVPACK_OLD=PATH (required): the envpack to compare with, e.g. built from main before the
# change. SERVER=s3rver (default) or SERVER=radosgw (tests/radosgw.sh's one-node Ceph).
# RTT_MS=N (and RATE_MBPS=N): the measured commands reach the server through an emulated link
# (bench/lib.sh's bench_link: a round trip of N ms, as to a server across a network, and N MB/s
# each way); unset: directly.
# QUICK=1: a small disk (512 MiB, ~95 MiB of files) under /tmp/envpack-bench-quick.
SERVER=${SERVER:-s3rver}
case $SERVER in s3rver | radosgw) ;; *) echo "bench: SERVER is s3rver or radosgw, not '$SERVER'" >&2; exit 2 ;; esac
source "$(dirname "$0")/lib.sh"
[ -x "${ENVPACK_OLD:-}" ] || { echo "bench: set ENVPACK_OLD to the envpack to compare with" >&2; exit 2; }
img=$B/img
bench_server readers-s3 # KEEP=1: $out stays (each run's output in log.N, err.N, requests in requests.COMMAND)
envpack_bench_keys
declare -A BIN=([old]=$ENVPACK_OLD [new]=$ENVPACK)

# the stores and the bundle (not measured)
for v in old new; do
	"$ENVPACK" backup -q --init -k "$out/bench.key" --host bench --endpoint "$ep" "s3://$bucket/$v" "disk:$img/disk.raw"
done
"$ENVPACK" pack -q -k "$out/bench.key" -o "$out/mod.envpack" "disk:$img/disk-mod.raw"
export RESTIC_REPOSITORY=s3:$ep/$bucket/restic RESTIC_PASSWORD=envpack-bench-only RESTIC_CACHE_DIR=$out/restic-cache
restic init -q --repository-version 2 >/dev/null
restic backup -q --host bench "$img/disk.raw" >/dev/null

mep=$(bench_link "$ep") # RTT_MS, RATE_MBPS: the measured commands cross an emulated link

declare -A TM W LOG
n=0
run() { # run KEY CMD...: the command's wall seconds into TM[KEY] (the lowest of its runs), when it ran into W[KEY]
	local k=$1 t t0
	shift
	n=$((n + 1))
	t0=$EPOCHREALTIME
	if ! /usr/bin/time -f '%e' -o "$out/time" "$@" >"$out/log.$n" 2>"$out/err.$n"; then
		echo "bench: failed: $*" >&2
		cat "$out/log.$n" "$out/err.$n" >&2
		exit 1
	fi
	read -r t <"$out/time"
	if [ -z "${TM[$k]:-}" ] || awk -v a="$t" -v b="${TM[$k]}" 'BEGIN { exit !(a < b) }'; then
		TM[$k]=$t W[$k]="$t0 $EPOCHREALTIME" LOG[$k]=$out/log.$n
	fi
}
for ((round = 0; round < RUNS; round++)); do # old and new take turns: a change of load falls on each
	for v in old new; do
		run "verify-$v" "${BIN[$v]}" verify --json -p "$out/bench.pub" --endpoint "$mep" "s3://$bucket/$v@latest"
		run "inspect-$v" "${BIN[$v]}" inspect --json --endpoint "$mep" "s3://$bucket/$v@latest"
	done
	run verify-restic env RESTIC_REPOSITORY="s3:$mep/$bucket/restic" restic check -q
done
for v in old new; do
	run "import-$v" "${BIN[$v]}" import --json -q -p "$out/bench.pub" --endpoint "$mep" "$out/mod.envpack" "s3://$bucket/$v"
done

bench_requests_log
chunks=$("$ENVPACK" verify --json -p "$out/bench.pub" --endpoint "$ep" "s3://$bucket/old@latest" | jq .requests.head) # one HEAD a distinct chunk
printf '%s\n' "$(sed -n 3p "$img/content.txt")"
printf 'disk: %s virtual, %s allocated, %s chunks named; %s cores; load average %s; %s\n' \
	"$(du -h --apparent-size "$img/disk.raw" | cut -f1)" "$(du -h "$img/disk.raw" | cut -f1)" "$chunks" "$(nproc)" \
	"$(cut -d' ' -f1-3 /proc/loadavg)" "$server_name; $(bench_link_note)"
printf 'old: %s; new: %s; %s\n' "$("$ENVPACK_OLD" --version | head -n1)" "$("$ENVPACK" --version | head -n1)" \
	"$(restic version | cut -d' ' -f1-2)"
echo
printf '%-16s %8s   %6s %6s %6s %6s %9s %6s %6s %6s\n' command seconds PUT GET LIST HEAD Retention DELETE other total
for k in verify-old verify-new verify-restic inspect-old inspect-new import-old import-new; do
	# shellcheck disable=SC2086 # W: two numbers
	read -r -a kv <<<"$(bench_kinds ${W[$k]} "$out/requests.$k")"
	printf '%-16s %8s   %6s %6s %6s %6s %9s %6s %6s %6s' "$k" "${TM[$k]}" "${kv[@]}"
	[ "${k%-new}" = "$k" ] || printf '   --json: %s' "$(bench_json_kinds "${LOG[$k]}")"
	echo
done
echo "verify and inspect: best of $RUNS; import: once (the bundle of disk-mod.raw into a store holding disk.raw)"
for c in verify inspect import; do
	echo "$c: new/old seconds $(ratio "${TM[$c-new]}" "${TM[$c-old]}")"
done
echo "verify: new/restic check seconds $(ratio "${TM[verify-new]}" "${TM[verify-restic]}")"
