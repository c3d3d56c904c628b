#!/usr/bin/env bash
# bench/pack-dense.sh — envpack pack next to zstd -T0 -3 on dense real data (no holes), in one run.
#
# pack.sh's disk is sparse, so its holes are skipped and flatter envpack; here every byte is
# data: the first DENSE_MB MiB (default 400) of a tar of /usr/lib and /usr/share, built once
# at $DENSE_DIR/dense.raw (default /tmp/envpack-dense). The two commands alternate, once each
# to warm the page cache and then RUNS times (default 5), so that load from other work falls on
# both alike; the best wall time of each counts. The load average is printed before and after:
# on a shared machine, trust a run whose load stayed below ~3. PERF=1 adds perf stat's CPU
# figures for one more run of each. Goal (issue 18): envpack's time <= 1.0x zstd's.
BENCH_NO_DISK=1
RUNS=${RUNS:-5}
source "$(dirname "$0")/lib.sh"
D=${DENSE_DIR:-/tmp/envpack-dense}
MB=${DENSE_MB:-400}
src=$D/dense.raw
out=$D/out
mkdir -p "$D"
if [ ! -f "$src" ] || [ "$(stat -c %s "$src")" != $((MB << 20)) ]; then
	# tar of real files: text, binaries, compressed data, as a disk holds them
	tar cf - -C / usr/lib usr/share 2>/dev/null | head -c $((MB << 20)) >"$src.tmp" || true
	[ "$(stat -c %s "$src.tmp")" = $((MB << 20)) ] || { echo "bench: /usr holds less than $MB MiB" >&2; exit 1; }
	mv "$src.tmp" "$src"
fi
rm -rf "$out"
mkdir -p "$out"
trap 'rm -rf "$out"' EXIT
"$ENVPACK" keygen -o "$out/bench" >/dev/null

ep_cmd=("$ENVPACK" pack -q --force -k "$out/bench.key" -o "$out/dense.envpack" "disk:$src")
zs_cmd=(zstd -T0 -3 -q -f "$src" -o "$out/dense.raw.zst")

timed() { # timed CMD...: "seconds user sys" of one run
	/usr/bin/time -f '%e %U %S' -o "$out/time" "$@" >/dev/null 2>&1
	cat "$out/time"
}
load() { cut -d' ' -f1-3 /proc/loadavg; }

load_before=$(load)
"${ep_cmd[@]}" >/dev/null 2>&1 # warm-up
"${zs_cmd[@]}" >/dev/null 2>&1
ep_best="" zs_best="" ep_cpu="" zs_cpu=""
for i in $(seq "$RUNS"); do
	read -r et eu es < <(timed "${ep_cmd[@]}")
	read -r zt zu zs < <(timed "${zs_cmd[@]}")
	printf 'run %d: envpack %s s (cpu %.2f), zstd %s s (cpu %.2f), ratio %s\n' "$i" "$et" \
		"$(awk "BEGIN{print $eu + $es}")" "$zt" "$(awk "BEGIN{print $zu + $zs}")" "$(ratio "$et" "$zt")"
	if [ -z "$ep_best" ] || awk "BEGIN{exit !($et < $ep_best)}"; then ep_best=$et ep_cpu=$(awk "BEGIN{print $eu + $es}"); fi
	if [ -z "$zs_best" ] || awk "BEGIN{exit !($zt < $zs_best)}"; then zs_best=$zt zs_cpu=$(awk "BEGIN{print $zu + $zs}"); fi
done
load_after=$(load)
"$ENVPACK" verify -q -p "$out/bench.pub" "$out/dense.envpack"

printf 'data: %s MiB of a tar of /usr/lib and /usr/share (no holes); %s cores; load %s before, %s after\n' \
	"$MB" "$(nproc)" "$load_before" "$load_after"
printf '%-36s %9s %9s %14s\n' command seconds "cpu s" "output bytes"
printf '%-36s %9s %9s %14s\n' "envpack pack (chunk+hash+zstd+sign)" "$ep_best" "$ep_cpu" "$(stat -c %s "$out/dense.envpack")"
printf '%-36s %9s %9s %14s\n' "zstd -T0 -3" "$zs_best" "$zs_cpu" "$(stat -c %s "$out/dense.raw.zst")"
r=$(ratio "$ep_best" "$zs_best")
printf 'ratio envpack/zstd pack time (dense): %s (goal <= 1.0: %s)\n' "$r" "$(goal "$r" 1.0)"
if [ -n "${PERF:-}" ]; then
	for c in ep zs; do
		declare -n cmd=${c}_cmd
		perf stat -e task-clock,context-switches,page-faults -o "$out/perf" "${cmd[@]}" >/dev/null 2>&1
		printf '%s: %s\n' "$c" "$(grep -E 'task-clock|elapsed' "$out/perf" | awk '{printf "%s %s  ", $1, $2}')"
	done
fi
