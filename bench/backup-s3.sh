#!/usr/bin/env bash
# bench/backup-s3.sh — envpack backup into an s3:// store next to restic backup into
# an s3: repository (Debian's restic), in one run, against the same S3-compatible
# server and on the same realistic disk as bench/backup.sh: a first backup of
# disk.raw, a second with no change, a third after 1 % of it changed (disk-mod.raw
# copied over the same path), and a fourth, unchanged again, where both re-read the
# whole file (--force: each has a files cache that otherwise skips an unchanged file
# by its metadata).
#
# SERVER=s3rver (the default: s3rver on loopback, as the tests start it) or
# SERVER=radosgw (Ceph's radosgw 16 as tests/radosgw.sh starts it: one mon, one OSD on
# memstore, radosgw on loopback checking SigV4; every file of it under $out, every
# daemon stopped on exit). One server an invocation: run the script once for each.
# OBJECT_LOCK=1 (radosgw's default; s3rver has no Object Lock) adds a third column:
# envpack into a bucket made with Object Lock (botocore's CreateBucket with
# ObjectLockEnabledForBucket), `backup --init --object-lock 1` (governance), each
# round right after the plain envpack one; OBJECT_LOCK=0 leaves it out.
#
# The disk is ../shared/bench/make-disk.sh's (4 GiB sparse raw, ext4, ~1 GiB of real
# files). Backups are stateful, so each runs once. Printed: wall seconds, the bytes
# each run added under its prefix (the sizes of the objects, as ListObjectsV2 gives
# them), the requests each sent to the server by kind (PUT, GET, LIST, HEAD,
# PutObjectRetention, DELETE, other: from s3rver's request log, or radosgw's own log,
# one line a request; the requests that started while the command ran), envpack's own
# counts (`backup --json`, "requests") checked against the server's, the ratios
# envpack/restic, and the issue #17 goals: an unchanged backup with Object Lock sends
# at most 2x the requests of one without, a first backup takes no longer than restic's.
#
# Fairness: as in bench/backup.sh, envpack signs (Ed25519) and, unless EP_ENCRYPT,
# does not encrypt; restic always encrypts (repository v2, compression auto).
# restic keeps a local cache of the repository's indexes and trees, envpack its
# files cache and chunk cache (neither counted); envpack lists no chunks (formats/STORE.md,
# section 12: the last snapshot, the chunk cache, then a HEAD of each other chunk). restic
# sends on 5 connections (its S3 default), envpack's chunk uploads on 4.
#
# EP_ENCRYPT=1: envpack encrypts too (--encrypt-to, the backup host holding only the
# public key), as restic always does. EP_LEVEL=N: envpack's zstd level (default backup's, 5).
#
# QUICK=1: a small disk (512 MiB, ~95 MiB of files) under /tmp/envpack-bench-quick.
SERVER=${SERVER:-s3rver}
case $SERVER in
s3rver) OBJECT_LOCK=${OBJECT_LOCK:-0} ;;
radosgw) OBJECT_LOCK=${OBJECT_LOCK:-1} ;;
*) echo "bench: SERVER is s3rver or radosgw, not '$SERVER'" >&2; exit 2 ;;
esac
[ "$OBJECT_LOCK" = 0 ] || [ "$SERVER" = radosgw ] || { echo "bench: OBJECT_LOCK=1 needs SERVER=radosgw (s3rver has no Object Lock)" >&2; exit 2; }
source "$(dirname "$0")/lib.sh"
img=$B/img
# KEEP=1: $out stays (each run's output and requests in log.N, err.N, requests.TOOLROUND)
bench_server backup-s3
mkdir -p "$out/work"
aws=${S3_AWS:-/usr/bin/aws}
src=$out/work/disk.raw # the one path both back up

envpack_bench_keys
tools=(e r)
declare -A NAME=([e]=envpack [o]="envpack+lock" [r]=restic) STORE=([e]=s3://$bucket/envpack)
declare -A BUCKET=([e]=$bucket [r]=$bucket) PREFIX=([e]=envpack [r]=restic)
if [ "$OBJECT_LOCK" != 0 ]; then
	tools=(e o r)
	BUCKET[o]=envpack-lock PREFIX[o]=envpack STORE[o]=s3://envpack-lock/envpack
	rgw_call bench admin CreateBucket '{"Bucket": "envpack-lock", "ObjectLockEnabledForBucket": true}' >/dev/null
fi
export RESTIC_REPOSITORY=s3:$ep/$bucket/restic RESTIC_PASSWORD=envpack-bench-only RESTIC_CACHE_DIR=$out/restic-cache
restic init -q --repository-version 2 >/dev/null

size() { # size BUCKET PREFIX: the bytes of every (current) object under a prefix
	"$aws" --endpoint-url "$ep" s3api list-objects-v2 --bucket "$1" --prefix "$2/" --query 'Contents[].Size' \
		--output text | tr -s '\t' '\n' | awk '/^[0-9]+$/ { s += $1 } END { printf "%d\n", s }'
}
n=0
run() { # run TOOL ROUND CMD...: sets TM (seconds), SZ (bytes added), W (when it ran) [TOOL ROUND]
	local k=$1$2 before t t0
	shift 2
	before=$(size "${BUCKET[${k:0:1}]}" "${PREFIX[${k:0:1}]}")
	cat "$src" >/dev/null # the same warm page cache for each
	n=$((n + 1))
	LOG[$k]=$out/log.$n
	t0=$EPOCHREALTIME
	if ! /usr/bin/time -f '%e' -o "$out/time" "$@" >"$out/log.$n" 2>"$out/err.$n"; then
		echo "bench: failed: $*" >&2
		cat "$out/log.$n" "$out/err.$n" >&2
		exit 1
	fi
	W[$k]="$t0 $EPOCHREALTIME"
	read -r "TM[$k]" <"$out/time"
	SZ[$k]=$(($(size "${BUCKET[${k:0:1}]}" "${PREFIX[${k:0:1}]}") - before))
}

declare -A TM SZ W LOG RQ JS
rounds=(first unchanged changed "re-read")
force=()
for r in 0 1 2 3; do
	backup_input "$r" "$src"
	[ "$r" = 3 ] && force=(--force)
	init=() lock=()
	[ "$r" = 0 ] && init=(--init) lock=(--object-lock 1)
	run e "$r" "$ENVPACK" backup --json "${init[@]}" "${ep_opts[@]}" "${force[@]}" -k "$out/bench.key" --host bench \
		--endpoint "$ep" "${STORE[e]}" "disk:$src"
	[ "$OBJECT_LOCK" = 0 ] || run o "$r" env ENVPACK_STATE_DIR="$ENVPACK_STATE_DIR-lock" "$ENVPACK" backup --json \
		"${init[@]}" "${lock[@]}" "${ep_opts[@]}" "${force[@]}" -k "$out/bench.key" --host bench \
		--endpoint "$ep" "${STORE[o]}" "disk:$src"
	run r "$r" restic backup -q --host bench "${force[@]}" "$src"
done

# the requests by kind, from the server's log: those that started while the command ran
# (the listings size() sends between the commands are not counted)
bench_requests_log
for t in "${tools[@]}"; do
	for r in 0 1 2 3; do
		# shellcheck disable=SC2086 # W: two numbers
		RQ[$t$r]=$(bench_kinds ${W[$t$r]} "$out/requests.$t$r")
		[ "$t" = r ] || JS[$t$r]=$(bench_json_kinds "${LOG[$t$r]}")
	done
done

# the last snapshots restore to the changed disk, byte for byte (not timed)
for t in "${tools[@]}"; do
	[ "$t" = r ] && continue
	ENVPACK_STATE_DIR=$out/restore-state "$ENVPACK" restore -q -p "$out/bench.pub" "${ep_read[@]}" --endpoint "$ep" \
		"${STORE[$t]}@latest" --to "dir:$out/restored"
	cmp "$img/disk-mod.raw" "$out/restored/disk.raw"
	rm -rf "$out/restored"
done

total() { local v=${RQ[$1]:-}; echo "${v##* }"; }
printf '%s\n' "$(sed -n 3p "$img/content.txt")"
printf 'disk: %s virtual, %s allocated; %s cores; load average %s; %s on loopback\n' \
	"$(du -h --apparent-size "$img/disk.raw" | cut -f1)" "$(du -h "$img/disk.raw" | cut -f1)" "$(nproc)" \
	"$(cut -d' ' -f1-3 /proc/loadavg)" "$server_name"
printf '%s; %s\n' "$("$ENVPACK" --version 2>/dev/null | head -n1 || echo envpack)" "$(restic version | cut -d' ' -f1-2)"
echo "envpack: signed (Ed25519), $([ -n "${EP_ENCRYPT:-}" ] && echo "encrypted (X25519, AES-256-GCM)" || echo "not encrypted"), zstd -${EP_LEVEL:-5}$([ "$OBJECT_LOCK" = 0 ] || echo "; envpack+lock: the same into a bucket with Object Lock, --object-lock 1 (governance)"); restic: encrypted (it has no unencrypted mode), repo v2, compression auto"
row() { # row LABEL VALUES...: one column a tool, then ratios
	local label=$1
	shift
	[ -n "${*: -1}" ] || set -- "${@:1:$#-1}" # no Object Lock column: its ratio is empty
	printf '%-10s |' "$label"
	printf ' %13s' "$@"
	echo
}
hdr=()
for t in "${tools[@]}"; do hdr+=("${NAME[$t]}"); done
echo
lk() { [ "$OBJECT_LOCK" = 0 ] || "$@"; } # lk CMD: CMD's output, only with the Object Lock column
row seconds "${hdr[@]}" "e/r" "$(lk echo lock/r)"
for r in 0 1 2 3; do
	v=() && for t in "${tools[@]}"; do v+=("${TM[$t$r]}"); done
	row "${rounds[$r]}" "${v[@]}" "$(ratio "${TM[e$r]}" "${TM[r$r]}")" "$(lk ratio "${TM[o$r]:-}" "${TM[r$r]}")"
done
echo
row "bytes" "${hdr[@]}" "e/r" "$(lk echo lock/r)"
for r in 0 1 2 3; do
	v=() && for t in "${tools[@]}"; do v+=("${SZ[$t$r]}"); done
	row "${rounds[$r]}" "${v[@]}" "$(ratio "${SZ[e$r]}" "${SZ[r$r]}")" "$(lk ratio "${SZ[o$r]:-}" "${SZ[r$r]}")"
done
echo
row requests "${hdr[@]}" "e/r" "$(lk echo lock/e)"
for r in 0 1 2 3; do
	v=() && for t in "${tools[@]}"; do v+=("$(total "$t$r")"); done
	row "${rounds[$r]}" "${v[@]}" "$(ratio "$(total "e$r")" "$(total "r$r")")" \
		"$(lk ratio "$(total "o$r")" "$(total "e$r")")"
done
echo
echo "requests by kind, from the server's log (envpack's --json counts equal them unless shown after --json:)"
printf '%-10s %-13s %6s %6s %6s %6s %9s %6s %6s %6s\n' backup tool PUT GET LIST HEAD Retention DELETE other total
mismatch=0
for r in 0 1 2 3; do
	for t in "${tools[@]}"; do
		# shellcheck disable=SC2086 # eight numbers
		printf '%-10s %-13s %6s %6s %6s %6s %9s %6s %6s %6s' "${rounds[$r]}" "${NAME[$t]}" ${RQ[$t$r]}
		if [ "$t" != r ] && [ "${JS[$t$r]}" != "${RQ[$t$r]}" ]; then
			printf '   --json: %s' "${JS[$t$r]}"
			mismatch=1
		fi
		echo
	done
done
[ "$mismatch" = 0 ] && echo "envpack's --json counts equal the server's log in every run" ||
	echo "envpack's --json counts differ from the server's log where shown"
echo "how envpack knew the store's chunks (--json lookups: the last snapshot's, the chunk cache's, asked by HEAD):"
for r in 0 1 2 3; do
	for t in "${tools[@]}"; do
		[ "$t" = r ] || printf '%-10s %-13s %s\n' "${rounds[$r]}" "${NAME[$t]}" "$(jq -c .lookups "${LOG[$t$r]}")"
	done
done
echo "re-read: unchanged again, and every tool reads the whole file (--force)"
tot=() && for t in "${tools[@]}"; do tot+=("${NAME[$t]} $(size "${BUCKET[$t]}" "${PREFIX[$t]}")"); done
printf 'totals under each prefix (bytes): %s; local caches (not counted): envpack %s, restic %s\n' \
	"$(IFS=, && echo "${tot[*]}" | sed 's/,/, /g')" "$(du -sb "$ENVPACK_STATE_DIR" | cut -f1)" "$(du -sb "$RESTIC_CACHE_DIR" | cut -f1)"
echo "ratio e/r = envpack / restic$(lk echo ", lock/r = envpack+lock / restic, lock/e = envpack+lock / envpack") (lower is better)"
echo "goal: first backup's time <= restic's: envpack $(ratio "${TM[e0]}" "${TM[r0]}") $(goal "$(ratio "${TM[e0]}" "${TM[r0]}")" 1.0)$(
	[ "$OBJECT_LOCK" = 0 ] || echo ", envpack+lock $(ratio "${TM[o0]}" "${TM[r0]}") $(goal "$(ratio "${TM[o0]}" "${TM[r0]}")" 1.0)")"
[ "$OBJECT_LOCK" = 0 ] || echo "goal: unchanged backup's requests with Object Lock <= 2x without: $(total o1) / $(total e1) = $(ratio "$(total o1)" "$(total e1)") $(goal "$(ratio "$(total o1)" "$(total e1)")" 2)"
