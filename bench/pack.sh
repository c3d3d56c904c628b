#!/usr/bin/env bash
# bench/pack.sh — envpack pack next to zstd -T0 -3 on the same realistic disk, in one run.
#
# The disk is ../shared/bench/make-disk.sh's: a 4 GiB sparse raw image holding an
# ext4 file system with ~1 GiB of real files. Each command runs once to warm the
# page cache, then RUNS times (default 3); the best wall time counts. envpack also
# chunks, hashes, deduplicates and signs; zstd only compresses (and reads the holes
# as zeros). Target: envpack's time within 1.25x of zstd's.
source "$(dirname "$0")/lib.sh"
disk=$B/img/disk.raw
out=$B/out
rm -rf "$out"
mkdir -p "$out"
trap 'rm -rf "$out"' EXIT
"$ENVPACK" keygen -o "$out/bench" >/dev/null

best() { # best NAME CMD...: prints "seconds max_rss_kib" of the fastest of RUNS runs
	local name=$1 t m bt="" bm=""
	shift
	"$@" >/dev/null 2>&1 # warm-up
	for _ in $(seq "$RUNS"); do
		/usr/bin/time -f '%e %M' -o "$out/time" "$@" >/dev/null 2>&1
		read -r t m <"$out/time"
		if [ -z "$bt" ] || awk "BEGIN{exit !($t < $bt)}"; then bt=$t bm=$m; fi
	done
	echo "$bt $bm"
}

read -r ep_t ep_m < <(best envpack "$ENVPACK" pack -q --force -k "$out/bench.key" -o "$out/disk.envpack" "disk:$disk")
read -r zs_t zs_m < <(best zstd zstd -T0 -3 -q -f "$disk" -o "$out/disk.raw.zst")
read -r vf_t vf_m < <(best verify "$ENVPACK" verify -q --deep -p "$out/bench.pub" "$out/disk.envpack")
# restore never overwrites, so each run first removes the last one's output (timed too, and cheap)
read -r rs_t rs_m < <(best restore bash -c 'rm -rf "$1/restored" && exec "$2" restore -q -p "$1/bench.pub" "$1/disk.envpack" --to "dir:$1/restored"' - "$out" "$ENVPACK")
read -r zd_t zd_m < <(best "zstd -d" zstd -d -q -f "$out/disk.raw.zst" -o "$out/disk.raw.out")
cmp "$disk" "$out/restored/disk.raw"

mib() { awk "BEGIN{printf \"%.0f\", $1 / 1024}"; }
printf '%s\n' "$(head -n 3 "$B/img/content.txt" | tail -n 1)"
printf 'disk: %s virtual, %s allocated; %s cores\n' "$(du -h --apparent-size "$disk" | cut -f1)" "$(du -h "$disk" | cut -f1)" "$(nproc)"
printf '%-34s %9s %12s %14s\n' command seconds "max RSS MiB" "output bytes"
printf '%-34s %9s %12s %14s\n' "envpack pack (chunk+hash+zstd+sign)" "$ep_t" "$(mib "$ep_m")" "$(stat -c %s "$out/disk.envpack")"
printf '%-34s %9s %12s %14s\n' "zstd -T0 -3" "$zs_t" "$(mib "$zs_m")" "$(stat -c %s "$out/disk.raw.zst")"
printf '%-34s %9s %12s %14s\n' "envpack verify --deep" "$vf_t" "$(mib "$vf_m")" -
printf '%-34s %9s %12s %14s\n' "envpack restore (dir:, sparse)" "$rs_t" "$(mib "$rs_m")" "$(du -B1 "$out/restored/disk.raw" | cut -f1)"
printf '%-34s %9s %12s %14s\n' "zstd -d" "$zd_t" "$(mib "$zd_m")" "$(du -B1 "$out/disk.raw.out" | cut -f1)"
awk "BEGIN{printf \"ratio envpack/zstd pack time: %.2f (target <= 1.25)\n\", $ep_t / $zs_t}"
awk "BEGIN{printf \"ratio envpack restore / zstd -d time: %.2f\n\", $rs_t / $zd_t}"
