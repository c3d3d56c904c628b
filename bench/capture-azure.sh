#!/usr/bin/env bash
# bench/capture-azure.sh — an Azure disk captured where it lies (`pack vm:azure:C/B`: Get
# Page Ranges, then ranged GETs of the allocated ranges only, several at once) next to
# the plain way: one full-blob GET with curl (what a SAS URL download gives) to a local
# file, then `pack disk:` of that file. Same blob, same Azurite (on loopback, its blobs
# on disk under $B), same envpack.
#
# The blob is ../shared/bench/make-disk.sh's disk (4 GiB sparse raw, ext4, ~1 GiB of
# real files) as a fixed VHD page blob, written by envpack's azure: target (only its
# allocated ranges are put, as Azure's own upload tools do). Each round runs both,
# interleaved (a change of load on a shared machine falls on both); RUNS rounds
# (default 3), the best wall time counts. Printed: seconds, the ratio capture/plain,
# and the bytes and requests each read. THREADS=N: pack -j N (default: one per CPU).
# QUICK=1: a small disk (512 MiB, ~95 MiB of files). RATE_MBPS=N: the timed GETs of both
# cross a link of N MB/s (bench/lib.sh's bench_link); unset: loopback.
source "$(dirname "$0")/lib.sh"
repo=$(cd "$here/.." && pwd)
img=$B/img
out=$B/capture-azure
rm -rf "$out"
mkdir -p "$out/azurite"
T=$out # tests/azure.sh's helpers keep their files under $T
source "$here/../tests/azure.sh"
azurite_pid=""
cleanup() {
	[ -z "$azurite_pid" ] || kill "$azurite_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$out"
}
trap cleanup EXIT

# Azurite as tests/azure.sh starts it, but its blobs on disk: a 4 GiB disk's data is
# more than its in-memory store takes
port=$(free_port)
"$AZ_ROOT/build/node/azurite/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$port" \
	--location "$out/azurite" --disableTelemetry --silent >"$out/azurite.log" 2>&1 &
azurite_pid=$!
for _ in $(seq 100); do
	curl -s -o /dev/null "http://127.0.0.1:$port/" && break
	sleep 0.1
done
export AZ_BENCH_ENDPOINT=http://127.0.0.1:$port/$AZ_ACCOUNT AZ_BENCH_DIR=$out/azurite
azblob bench mkcontainer "$AZ_CONTAINER" >/dev/null
export AZURE_STORAGE_CONNECTION_STRING
AZURE_STORAGE_CONNECTION_STRING=$(az_conn bench)
unset AZURE_STORAGE_ACCOUNT AZURE_STORAGE_KEY AZURE_STORAGE_SAS_TOKEN

"$ENVPACK" keygen -o "$out/k" >/dev/null
"$ENVPACK" pack -q -k "$out/k.key" -o "$out/src.envpack" "disk:$img/disk.raw"
"$ENVPACK" restore -q -p "$out/k.pub" "$out/src.envpack" --to "azure:$AZ_CONTAINER/bench"
rm -f "$out/src.envpack"
blob=bench/disk.vhd
url=$AZ_BENCH_ENDPOINT/$AZ_CONTAINER/$blob
sas=$(azblob bench blobsas "$AZ_CONTAINER" "$blob")
link=$(bench_link "$AZ_BENCH_ENDPOINT") # the upload above did not cross it; the timed GETs below do
url=$link/$AZ_CONTAINER/$blob
alloc=$(azblob bench ranges "$AZ_CONTAINER" "$blob" | awk '{ s += $2 - $1 + 1 } END { print s }')
jobs=(${THREADS:+-j "$THREADS"})

capture() {
	rm -f "$out/c.envpack"
	timed "$ENVPACK" pack --json "${jobs[@]}" -o "$out/c.envpack" "vm:azure:$AZ_CONTAINER/$blob" \
		--input-option "endpoint=$link"
	cp "$out/log" "$out/capture.json"
	rm -f "$out/c.envpack"
}
download() {
	rm -f "$out/local.vhd"
	timed curl -sS --fail -o "$out/local.vhd" -H "x-ms-version: $EP_AZURE_VERSION" "$url?$sas"
}
local_pack() {
	rm -f "$out/l.envpack"
	timed "$ENVPACK" pack -q "${jobs[@]}" -o "$out/l.envpack" "disk:$out/local.vhd"
	rm -f "$out/l.envpack" "$out/local.vhd"
}
EP_AZURE_VERSION=2025-01-05
capture_rounds

field() { python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['disks'][0][sys.argv[2]])" "$out/capture.json" "$1"; }
printf '%s\n' "$(sed -n 3p "$img/content.txt")"
printf 'blob: %s, a fixed VHD page blob of %s bytes, %s allocated; %s cores; load average %s; Azurite 3.34.0 (blobs on disk)\n' \
	"$blob" "$(($(stat -c %s "$img/disk.raw") + 512))" "$alloc" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
bench_link_note
printf 'envpack %s; threads: %s\n' "$(git -C "$repo" rev-parse --short HEAD)" "${THREADS:-one per CPU}"
printf '%-44s %8s\n' "seconds (best of $RUNS)" ""
printf '%-44s %8s   %s bytes read in %s requests\n' "capture: pack vm:azure: (page ranges)" "${BEST[capture]}" \
	"$(field bytes_read)" "$(field requests)"
printf '%-44s %8s   (the GET alone: %s)\n' "plain: curl of the whole blob + pack disk:" "${BEST[plain]}" "${BEST[download]}"
printf '%-44s %8s\n' "capture / plain" "$(ratio "${BEST[capture]}" "${BEST[plain]}")"
