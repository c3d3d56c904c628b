#!/usr/bin/env bash
# bench/capture-gcp.sh — `envpack pack vm:gcp:gs://B/O` of a Compute Engine image export
# (the shared bench disk, ../shared/bench/make-disk.sh, as disk.raw in a .tar.gz made by
# GNU tar -z, dense as gcloud writes it) from s3rver (tests/s3.sh) standing in for Cloud
# Storage's XML API, next to what a user does without it: `aws s3 cp` of the object,
# `tar -xzf`, and a local `envpack pack disk:disk.raw`. Each side runs RUNS times (default
# 3), taking turns; the best wall time counts. Printed: the seconds of each, the
# capture's peak RSS, the ratio capture / (download + extract + pack) (lower is better),
# and the load average when the run started and ended (the machine may be shared).
# RATE_MBPS=N: the timed GETs of both cross a link of N MB/s (bench/lib.sh's bench_link);
# unset: loopback.
source "$(dirname "$0")/lib.sh"
out=$B/capture-gcp
rm -rf "$out"
mkdir -p "$out/x"
trap 'rm -rf "$out"' EXIT # before tests/servers.sh, which runs this after stopping its servers
bench_s3
aws=${S3_AWS:-/usr/bin/aws}
load0=$(cut -d' ' -f1-3 /proc/loadavg)
"$ENVPACK" keygen -o "$out/k" >/dev/null
export ENVPACK_STATE_DIR=$out/envpack-state GCS_HMAC_ACCESS_ID=$S3_ACCESS_KEY GCS_HMAC_SECRET=$S3_SECRET_KEY BOTO_CONFIG=/dev/null
tar -C "$B/img" -czf "$out/export.tar.gz" disk.raw
"$aws" --endpoint-url "$ep" s3 cp --quiet "$out/export.tar.gz" "s3://$S3_BUCKET/export.tar.gz"
gz=$(stat -c %s "$out/export.tar.gz")
rm -f "$out/export.tar.gz"
link=$(bench_link "$ep") # the upload above did not cross it; the timed GETs below do

secs() { awk '{print $1}' "$1"; }
best() { sort -g | head -n 1; }
for r in $(seq "$RUNS"); do
	rm -f "$out/cap.envpack"
	/usr/bin/time -f '%e %M' -o "$out/t-cap" "$ENVPACK" pack -q -k "$out/k.key" -o "$out/cap.envpack" \
		"vm:gcp:gs://$S3_BUCKET/export.tar.gz" --input-option "endpoint=$link"
	echo "$(secs "$out/t-cap") $(awk '{print $2}' "$out/t-cap")" >>"$out/cap"
	rm -f "$out/dl.tar.gz" "$out/x/disk.raw" "$out/base.envpack"
	/usr/bin/time -f %e -o "$out/t-dl" "$aws" --endpoint-url "$link" s3 cp --quiet "s3://$S3_BUCKET/export.tar.gz" "$out/dl.tar.gz"
	/usr/bin/time -f %e -o "$out/t-x" tar -C "$out/x" -xzf "$out/dl.tar.gz"
	/usr/bin/time -f %e -o "$out/t-pk" "$ENVPACK" pack -q -k "$out/k.key" -o "$out/base.envpack" "disk:$out/x/disk.raw"
	echo "$(secs "$out/t-dl") $(secs "$out/t-x") $(secs "$out/t-pk")" >>"$out/base"
	cmp -s <("$ENVPACK" inspect --json "$out/cap.envpack" | grep -E '"(data|stored)_bytes"') \
		<("$ENVPACK" inspect --json "$out/base.envpack" | grep -E '"(data|stored)_bytes"') ||
		echo "bench/capture-gcp.sh: the capture and the local pack differ" >&2
done
cap=$(awk '{print $1}' "$out/cap" | best)
rss=$(awk '{print $2}' "$out/cap" | sort -g | tail -n 1)
read -r base parts < <(awk '{print $1 + $2 + $3, $1 " + " $2 " + " $3}' "$out/base" | sort -g | head -n 1)
echo "object: $gz bytes (GNU tar -z of the bench disk, $(stat -c %s "$B/img/disk.raw") bytes)"
echo "capture vm:gcp:                 $cap s, peak RSS $((rss / 1024)) MiB"
echo "aws s3 cp + tar -xzf + pack:    $base s ($parts)"
echo "ratio capture / download+pack:  $(awk -v a="$cap" -v b="$base" 'BEGIN {printf "%.2f", a / b}')"
bench_link_note
echo "load: $load0 at start, $(cut -d' ' -f1-3 /proc/loadavg) at end"
