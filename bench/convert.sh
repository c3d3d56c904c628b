#!/usr/bin/env bash
# bench/convert.sh — envpack convert next to qemu-img convert, in one run, on the
# shared realistic disk (../shared/bench/make-disk.sh: ext4 with ~1 GiB of real
# files in a 4 GiB sparse image, and its qcow2 copy). Each pair runs once to
# warm the page cache, then RUNS times (default 3); the best time counts.
# Target: ratio <= 1.0, lower where compression is involved (all cores).
# qemu-img convert's default cache mode for its output is "unsafe": it never syncs
# what it wrote (strace shows fdatasync only while it creates the image), so its time
# leaves the whole output in the page cache. envpack syncs before it reports success.
# Copy-bound pairs also run qemu-img with -t writeback, which fdatasyncs at the end:
# the "synced" column, to which envpack's time compares like for like.
# BEFORE=PATH: another envpack binary (an older build) timed too, in a "before" column.
source "$(dirname "$0")/lib.sh"
img=$B/img
out=$B/convert
rm -rf "$out"
mkdir -p "$out"
trap 'rm -rf "$out"' EXIT

best() { # best CMD...: the fastest wall time of RUNS runs; the output file is removed before each
	local t bt=""
	for _ in $(seq "$((RUNS + 1))"); do # the first run warms the cache
		rm -f "$out/o"
		/usr/bin/time -f '%e' -o "$out/time" "$@" >/dev/null 2>&1
		read -r t <"$out/time"
		if [ -z "$bt" ] || awk "BEGIN{exit !($t < $bt)}"; then bt=$t; fi
	done
	echo "$bt"
}

printf '%s\n' "$(sed -n 3p "$img/content.txt")"
printf '%-34s %8s %10s %10s %7s %10s %7s %14s %14s\n' conversion before envpack qemu-img ratio synced ratio \
	"envpack bytes" "qemu-img bytes"
ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
pair() { # pair LABEL IN IN-FMT OUT-FMT [qemu-img -o options] [envpack -o options] [flag for both, e.g. -c]
	local label=$1 in=$2 ifmt=$3 ofmt=$4 qopts=${5:-} eopts=${6:-} flag=${7:-} e q es qs s=- sr=- b=-
	if [ -n "${BEFORE:-}" ]; then
		b=$(best "$BEFORE" convert -q $flag -f "$ifmt" -O "$ofmt" ${eopts:+-o "$eopts"} "$in" "$out/o")
	fi
	e=$(best "$ENVPACK" convert -q $flag -f "$ifmt" -O "$ofmt" ${eopts:+-o "$eopts"} "$in" "$out/o")
	es=$(du -B1 "$out/o" | cut -f1)
	q=$(best qemu-img convert $flag -f "$ifmt" -O "$ofmt" ${qopts:+-o "$qopts"} "$in" "$out/o")
	qs=$(du -B1 "$out/o" | cut -f1)
	if [ -z "$flag" ] && [ "$ofmt" != vmdk ]; then # copy-bound: the sync is a large part
		s=$(best qemu-img convert -t writeback -f "$ifmt" -O "$ofmt" ${qopts:+-o "$qopts"} "$in" "$out/o")
		sr=$(ratio "$e" "$s")
	fi
	printf '%-34s %8s %10s %10s %7s %10s %7s %14s %14s\n' "$label" "$b" "$e" "$q" "$(ratio "$e" "$q")" "$s" "$sr" "$es" "$qs"
}
pair "raw -> qcow2" "$img/disk.raw" raw qcow2
pair "raw -> qcow2 compressed (-c)" "$img/disk.raw" raw qcow2 "" "" -c
pair "qcow2 -> vmdk streamOptimized" "$img/disk.qcow2" qcow2 vmdk subformat=streamOptimized subformat=streamOptimized
pair "qcow2 -> vhdx" "$img/disk.qcow2" qcow2 vhdx
pair "qcow2 -> raw" "$img/disk.qcow2" qcow2 raw
pair "vhdx -> qcow2" "$img/disk.vhdx" vhdx qcow2
echo "ratio = envpack time / qemu-img time (lower is better); synced = qemu-img -t writeback; $(nproc) cores"
