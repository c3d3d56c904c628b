#!/usr/bin/env bash
# bench/capture.sh — disks captured where they lie (issue #19) next to each cloud's own
# download. One section per cloud; each round runs every command once, interleaved (so a
# change of load on a shared machine falls on all of them); RUNS rounds (default 3), the
# best wall time counts. The load average is printed with the results.
#
# 1. S3: ../shared/bench/make-disk.sh's disk as qcow2 (4 GiB virtual, ~1.5 GiB of file)
#    in s3rver on loopback. `envpack pack disk:s3://BUCKET/disk.qcow2` (ranged GETs, no
#    local copy) against `aws s3 cp` of the same object, and against that download followed
#    by `envpack pack` of the local copy. Goal: the capture ≤ 1.0× the plain download.
#    Printed also: the bytes and requests the capture read (its --json report).
# QUICK=1: a small disk (512 MiB, ~95 MiB of files). RATE_MBPS=N: the timed GETs of both
# cross a link of N MB/s (bench/lib.sh's bench_link); unset: loopback.
source "$(dirname "$0")/lib.sh"
img=$B/img
out=$B/capture
rm -rf "$out"
mkdir -p "$out"
trap 'rm -rf "$out"' EXIT
bench_s3 '    multipart_chunksize = 8MB
    multipart_threshold = 8MB
'
export AWS_ENDPOINT_URL=$ep AWS_SHARED_CREDENTIALS_FILE=/dev/null
aws="${S3_AWS:-/usr/bin/aws} --endpoint-url $ep"
bucket=$S3_BENCH_BUCKET
"$ENVPACK" keygen -o "$out/k" >/dev/null
$aws s3 cp --only-show-errors "$img/disk.qcow2" "s3://$bucket/disk.qcow2"
size=$(stat -c %s "$img/disk.qcow2")
link=$(bench_link "$ep") # the upload above did not cross it; the timed GETs below do
export AWS_ENDPOINT_URL=$link

# timed NAME CMD...: runs CMD once, keeping the best wall time under $out/best.NAME
timed() {
	local name=$1 t b
	shift
	/usr/bin/time -f '%e' -o "$out/time" "$@" >"$out/last.out" 2>"$out/last.err" || {
		echo "bench: $name failed: $(head -c 400 "$out/last.err")" >&2
		exit 1
	}
	read -r t <"$out/time"
	b=$(cat "$out/best.$name" 2>/dev/null || echo "")
	if [ -z "$b" ] || awk "BEGIN{exit !($t < $b)}"; then echo "$t" >"$out/best.$name"; fi
}
# the first round warms up (s3rver's files in the page cache) and is not counted
for round in $(seq 0 "$RUNS"); do
	rm -f "$out"/*.envpack "$out/dl.qcow2"
	timed capture "$ENVPACK" pack --json -k "$out/k.key" -o "$out/c.envpack" "disk:s3://$bucket/disk.qcow2"
	cp "$out/last.out" "$out/capture.json"
	timed download ${S3_AWS:-/usr/bin/aws} --endpoint-url "$link" s3 cp --quiet "s3://$bucket/disk.qcow2" "$out/dl.qcow2"
	timed pack "$ENVPACK" pack -q -k "$out/k.key" -o "$out/l.envpack" "disk:$out/dl.qcow2"
	[ "$round" = 0 ] && rm -f "$out"/best.*
done
cap=$(cat "$out/best.capture") dl=$(cat "$out/best.download") pk=$(cat "$out/best.pack")
read -r bytes requests < <(python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))["disks"][0]; print(d["bytes_read"], d["requests"])' "$out/capture.json")
printf 'disk.qcow2: %s bytes in s3rver 3.7.1; %s cores; load average %s\n' "$size" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
bench_link_note
printf '%-40s %10s %7s\n' "seconds (best of $RUNS)" time ratio
printf '%-40s %10s %7s\n' "envpack pack disk:s3:// (capture)" "$cap" 1.00
printf '%-40s %10s %7s\n' "aws s3 cp (download alone)" "$dl" "$(awk "BEGIN{printf \"%.2f\", $cap / $dl}")"
printf '%-40s %10s %7s\n' "envpack pack of the copy alone" "$pk" "$(awk "BEGIN{printf \"%.2f\", $cap / $pk}")"
printf '%-40s %10s %7s\n' "aws s3 cp + envpack pack of the copy" "$(awk "BEGIN{printf \"%.2f\", $dl + $pk}")" "$(awk "BEGIN{printf \"%.2f\", $cap / ($dl + $pk)}")"
printf 'the capture read %s bytes in %s requests\n' "$bytes" "$requests"
echo "ratio = capture time / the other's (the issue's goal: <= 1.0 against the download alone; the capture"
echo "cannot beat the pack of a local copy, which bounds it when the CPU is slower than the link)"
