#!/usr/bin/env bash
# bench/backup-s3.sh — envpack backup into an s3:// store next to restic backup into
# an s3: repository (Debian's restic), in one run, against the same S3-compatible
# server (s3rver on loopback, as the tests start it) and on the same realistic disk
# as bench/backup.sh: a first backup of disk.raw, a second with no change, a third
# after 1 % of it changed (disk-mod.raw copied over the same path), and a fourth,
# unchanged again, where both re-read the whole file (--force: each has a files
# cache that otherwise skips an unchanged file by its metadata).
#
# The disk is ../shared/bench/make-disk.sh's (4 GiB sparse raw, ext4, ~1 GiB of real
# files). Backups are stateful, so each runs once. Printed: wall seconds, the bytes
# each run added under its prefix (the sizes of the objects, as ListObjectsV2 gives
# them), the requests each sent to the server (s3rver's request log), and the
# ratios envpack/restic.
#
# Fairness: as in bench/backup.sh, envpack signs (Ed25519) and, unless EP_ENCRYPT,
# does not encrypt; restic always encrypts (repository v2, compression auto).
# restic keeps a local cache of the repository's indexes and trees, envpack its
# files cache (neither counted); envpack lists the store's chunks at open. restic
# sends on 5 connections (its S3 default), envpack's chunk uploads on 4.
#
# EP_ENCRYPT=1: envpack encrypts too (--encrypt-to, the backup host holding only the
# public key), as restic always does. EP_LEVEL=N: envpack's zstd level (default backup's, 5).
#
# QUICK=1: a small disk (512 MiB, ~95 MiB of files) under /tmp/envpack-bench-quick.
if [ -n "${QUICK:-}" ]; then
	export BENCH_DIR=${BENCH_DIR:-/tmp/envpack-bench-quick} DISK_SIZE=${DISK_SIZE:-512M}
	export SRC_DIRS=${SRC_DIRS:-/usr/share/man} MOD_COUNT=${MOD_COUNT:-5} MOD_MIB=${MOD_MIB:-1}
fi
source "$(dirname "$0")/lib.sh"
command -v restic >/dev/null || { echo "bench: needs restic (scripts/deps.sh installs it)" >&2; exit 1; }
img=$B/img
out=$B/backup-s3
rm -rf "$out"
mkdir -p "$out/work"
trap 'rm -rf "$out"' EXIT
bench_s3
bucket=$S3_BENCH_BUCKET
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3
aws=${S3_AWS:-/usr/bin/aws}
src=$out/work/disk.raw # the one path both back up

envpack_bench_keys
ep_store=s3://$bucket/envpack
export RESTIC_REPOSITORY=s3:$ep/$bucket/restic RESTIC_PASSWORD=envpack-bench-only RESTIC_CACHE_DIR=$out/restic-cache
restic init -q --repository-version 2 >/dev/null

size() { # the bytes of every object under a prefix of the bucket
	"$aws" --endpoint-url "$ep" s3api list-objects-v2 --bucket "$bucket" --prefix "$1/" --query 'Contents[].Size' \
		--output text | tr -s '\t' '\n' | awk '/^[0-9]+$/ { s += $1 } END { printf "%d\n", s }'
}
requests() { wc -l <"$S3_BENCH_DIR/requests.log"; }
n=0
run() { # run PREFIX CMD...: prints "seconds bytes_added requests"
	local prefix=$1 before req t
	shift
	before=$(size "$prefix")
	cat "$src" >/dev/null # the same warm page cache for both
	n=$((n + 1))
	req=$(requests)
	if ! /usr/bin/time -f '%e' -o "$out/time" "$@" >"$out/log.$n" 2>&1; then
		echo "bench: failed: $*" >&2
		cat "$out/log.$n" >&2
		exit 1
	fi
	read -r t <"$out/time"
	req=$(($(requests) - req)) # before size's own listing
	echo "$t $(($(size "$prefix") - before)) $req"
}

declare -A TM SZ RQ
rounds=(first unchanged changed "re-read")
force=()
for r in 0 1 2 3; do
	backup_input "$r" "$src"
	[ "$r" = 3 ] && force=(--force)
	init=()
	[ "$r" = 0 ] && init=(--init)
	read -r "TM[e$r]" "SZ[e$r]" "RQ[e$r]" < <(run envpack \
		"$ENVPACK" backup -q "${init[@]}" "${ep_opts[@]}" "${force[@]}" -k "$out/bench.key" --host bench --endpoint "$ep" "$ep_store" "disk:$src")
	read -r "TM[r$r]" "SZ[r$r]" "RQ[r$r]" < <(run restic restic backup -q --host bench "${force[@]}" "$src")
done

# the last snapshot restores to the changed disk, byte for byte (not timed)
"$ENVPACK" restore -q -p "$out/bench.pub" "${ep_read[@]}" --endpoint "$ep" "$ep_store@latest" --to "dir:$out/restored"
cmp "$img/disk-mod.raw" "$out/restored/disk.raw"
rm -rf "$out/restored"

ratio() { awk "BEGIN{ if ($2 > 0) printf \"%.2f\", $1 / $2; else if ($1 > 0) printf \"inf\"; else printf \"-\" }"; }
printf '%s\n' "$(sed -n 3p "$img/content.txt")"
printf 'disk: %s virtual, %s allocated; %s cores; load average %s; s3rver 3.7.1 on loopback\n' \
	"$(du -h --apparent-size "$img/disk.raw" | cut -f1)" "$(du -h "$img/disk.raw" | cut -f1)" "$(nproc)" \
	"$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s; %s\n' "$("$ENVPACK" --version 2>/dev/null | head -n1 || echo envpack)" "$(restic version | cut -d' ' -f1-2)"
echo "envpack: signed (Ed25519), $([ -n "${EP_ENCRYPT:-}" ] && echo "encrypted (X25519, AES-256-GCM)" || echo "not encrypted"), zstd -${EP_LEVEL:-5}; restic: encrypted (it has no unencrypted mode), repo v2, compression auto"
printf '%-10s | %8s %8s | %12s %12s | %8s %8s | %6s %6s %6s\n' "" envpack restic envpack restic envpack restic time bytes reqs
printf '%-10s | %8s %8s | %12s %12s | %8s %8s | %6s %6s %6s\n' backup seconds seconds "bytes added" "bytes added" \
	requests requests e/r e/r e/r
for r in 0 1 2 3; do
	printf '%-10s | %8s %8s | %12s %12s | %8s %8s | %6s %6s %6s\n' "${rounds[$r]}" "${TM[e$r]}" "${TM[r$r]}" \
		"${SZ[e$r]}" "${SZ[r$r]}" "${RQ[e$r]}" "${RQ[r$r]}" "$(ratio "${TM[e$r]}" "${TM[r$r]}")" \
		"$(ratio "${SZ[e$r]}" "${SZ[r$r]}")" "$(ratio "${RQ[e$r]}" "${RQ[r$r]}")"
done
echo "re-read: unchanged again, and both read the whole file (--force)"
printf 'totals under each prefix (bytes): envpack %s, restic %s; local caches (not counted): envpack %s, restic %s\n' \
	"$(size envpack)" "$(size restic)" "$(du -sb "$ENVPACK_STATE_DIR" | cut -f1)" "$(du -sb "$RESTIC_CACHE_DIR" | cut -f1)"
echo "ratio e/r = envpack / restic (lower is better)"
