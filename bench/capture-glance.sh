#!/usr/bin/env bash
# bench/capture-glance.sh — an OpenStack image captured from Glance (`pack image:glance:NAME`:
# the image's file downloaded into a scratch file, checked against Glance's SHA-512, packed
# as a disk) next to the plain way: `curl` of the same image file to a local file, then
# `pack disk:` of that file. Same image, same glance-api (Debian's, standalone, its file
# store under $B, on loopback: tests/openstack.sh), same envpack.
#
# The image is ../shared/bench/make-disk.sh's disk as qcow2 (4 GiB virtual, ext4, ~1 GiB of
# real files; Glance serves the qcow2 file as it is). Each round runs both, interleaved (a
# change of load on a shared machine falls on both); RUNS rounds (default 3), the best wall
# time counts. Printed: seconds, the ratio capture/plain (goal: at most 1.0), the bytes and
# the requests the capture sent. THREADS=N: pack -j N (default: one per CPU). QUICK=1: a
# small disk (512 MiB, ~95 MiB of files). RATE_MBPS=N: the timed GETs of both cross a link of
# N MB/s (bench/lib.sh's bench_link); unset: loopback. FORMAT=raw: the disk as raw (4 GiB
# served whole), which the capture streams into the pipeline with no scratch file.
source "$(dirname "$0")/lib.sh"
img=$B/img
out=$B/capture-glance
rm -rf "$out"
mkdir -p "$out/tmp"
T=$out # tests/openstack.sh keeps its servers' files under $T
OS_MAX_SECONDS=${OS_MAX_SECONDS:-7200}
trap 'rm -rf "$out"' EXIT
source "$here/../tests/openstack.sh" # its servers stopped on exit, before that trap
fmt=${FORMAT:-qcow2}
case $fmt in qcow2 | raw) ;; *) echo "bench: FORMAT is qcow2 or raw" >&2; exit 2 ;; esac

start_glance bench >/dev/null || { echo "bench: glance-api did not start (scripts/deps.sh installs it)" >&2; exit 1; }
id=$(curl -sf -X POST -H "Content-Type: application/json" \
	-d '{"name": "bench", "disk_format": "'"$fmt"'", "container_format": "bare"}' "$GLANCE_BENCH_URL/v2/images" |
	/usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
curl -sf -X PUT -H "Content-Type: application/octet-stream" -T "$img/disk.$fmt" "$GLANCE_BENCH_URL/v2/images/$id/file"
size=$(stat -c %s "$img/disk.$fmt")
jobs=(${THREADS:+-j "$THREADS"})
link=$(bench_link "$GLANCE_BENCH_URL") # the upload above did not cross it; the timed GETs below do
# a standalone Glance, as a user with OS_IMAGE_URL and no Keystone reaches it
osenv=(env -i PATH="$PATH" HOME="$out" TMPDIR="$out/tmp" OS_AUTH_TYPE=none OS_IMAGE_URL="$link")

capture() {
	rm -f "$out/c.envpack"
	timed "${osenv[@]}" "$ENVPACK" pack --json "${jobs[@]}" -o "$out/c.envpack" image:glance:bench
	cp "$out/log" "$out/capture.json"
	rm -f "$out/c.envpack"
}
download() {
	rm -f "$out/local.$fmt"
	timed curl -sS --fail -o "$out/local.$fmt" "$link/v2/images/$id/file"
}
local_pack() {
	rm -f "$out/l.envpack"
	timed "$ENVPACK" pack -q "${jobs[@]}" -o "$out/l.envpack" "disk:$out/local.$fmt"
	rm -f "$out/l.envpack" "$out/local.$fmt"
}
capture_rounds
field() { /usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["disks"][0][sys.argv[2]])' "$out/capture.json" "$1"; }

printf '%s\n' "$(sed -n 3p "$img/content.txt")"
printf 'image: %s bytes of %s in Glance (glance-api %s, file store); %s cores; load average %s\n' "$size" "$fmt" \
	"$(/usr/bin/python3 -c 'import glance.version as v; print(v.version_info.version_string())' 2>/dev/null || echo "?")" \
	"$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
bench_link_note
printf 'capture read %s bytes in %s requests; threads: %s\n' "$(field bytes_read)" "$(field requests)" "${THREADS:-one per CPU}"
printf '%-34s %8s\n' "seconds (best of $RUNS)" ""
printf '%-34s %8s\n' "capture: pack image:glance:bench" "${BEST[capture]}"
printf '%-34s %8s\n' "plain: curl of the image file" "${BEST[download]}"
printf '%-34s %8s\n' "plain: curl + pack disk:FILE" "${BEST[plain]}"
printf 'capture/plain %s (goal <= 1.0: %s)\n' "$(ratio "${BEST[capture]}" "${BEST[plain]}")" \
	"$(goal "$(ratio "${BEST[capture]}" "${BEST[plain]}")" 1.0)"
