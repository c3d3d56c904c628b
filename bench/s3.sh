#!/usr/bin/env bash
# bench/s3.sh — envpack push and pull next to awscli (aws s3 cp), in one run, on
# the same bundle and the same S3-compatible server (s3rver on loopback, as the
# tests start it). The bundle is a pack of 1 GiB of random data (MIB=N for
# another size), so neither side can win by compressing. Each command runs once to warm the caches, then
# RUNS times (default 3); the best wall time counts. Both upload in 8 MiB parts.
BENCH_NO_DISK=1
source "$(dirname "$0")/lib.sh"
out=$B/s3
rm -rf "$out"
mkdir -p "$out"
trap 'rm -rf "$out"' EXIT
bench_s3 '    multipart_chunksize = 8MB
    multipart_threshold = 8MB
'
bucket=s3://$S3_BENCH_BUCKET
head -c "${MIB:-1024}M" /dev/urandom >"$out/data.raw"
"$ENVPACK" keygen -o "$out/k" >/dev/null
"$ENVPACK" pack -q -k "$out/k.key" -o "$out/b.envpack" "disk:$out/data.raw"
rm -f "$out/data.raw"
size=$(stat -c %s "$out/b.envpack")

n=0
best() { # best CMD...: the fastest wall time of RUNS runs, each to a key of its own
	local t bt=""
	for _ in $(seq "$((RUNS + 1))"); do # the first run warms up
		n=$((n + 1))
		rm -f "$out/pulled"
		/usr/bin/time -f '%e' -o "$out/time" "${@//KEY/k$n}" >/dev/null 2>&1
		read -r t <"$out/time"
		if [ -z "$bt" ] || awk "BEGIN{exit !($t < $bt)}"; then bt=$t; fi
	done
	echo "$bt"
}
aws=${S3_AWS:-/usr/bin/aws}
"$aws" --endpoint-url "$ep" s3 cp --quiet "$out/b.envpack" "$bucket/src.envpack"
e_push=$(best "$ENVPACK" push -q --part-size 8 --endpoint "$ep" "$out/b.envpack" "$bucket/KEY.envpack")
a_push=$(best "$aws" --endpoint-url "$ep" s3 cp --quiet "$out/b.envpack" "$bucket/KEY.envpack")
e_pull=$(best "$ENVPACK" pull -q --endpoint "$ep" "$bucket/src.envpack" -o "$out/pulled")
a_pull=$(best "$aws" --endpoint-url "$ep" s3 cp --quiet "$bucket/src.envpack" "$out/pulled")
printf 'bundle: %s bytes; s3rver 3.7.1 on loopback; %s cores; 8 MiB parts\n' "$size" "$(nproc)"
printf '%-28s %10s %10s %7s\n' "seconds (best of $RUNS)" envpack awscli ratio
printf '%-28s %10s %10s %7s\n' "push (multipart)" "$e_push" "$a_push" "$(awk "BEGIN{printf \"%.2f\", $e_push / $a_push}")"
printf '%-28s %10s %10s %7s\n' "pull" "$e_pull" "$a_pull" "$(awk "BEGIN{printf \"%.2f\", $e_pull / $a_pull}")"
echo "ratio = envpack time / awscli time (lower is better); awscli sends parts on 10 threads, envpack on 10 (-j, its default)"
