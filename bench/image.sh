#!/usr/bin/env bash
# bench/image.sh — envpack's registry source and target next to skopeo copy, in one run.
#
# The image, built once by umoci and kept under $B/image: an OCI layout of real
# files in five layers (/usr/lib/gcc, /usr/share/locale, /usr/lib/python3.11,
# /usr/share/perl, and 16 MiB of pseudo-random "app" data), ~490 MiB of files;
# tag v2 differs from v1 in the app layer only. A docker-registry on a free
# loopback port (tests/registry.sh) serves both tags. Each command runs once to
# warm the caches, then RUNS times (default 3); the best wall time counts.
# Every push goes to a registry started afresh (empty storage, new port) just
# before it, untimed, so no blob is already there or mounted from elsewhere.
#   (a) envpack pack from docker://  vs  skopeo copy docker:// -> oci:
#   (b) envpack restore to registry:// vs skopeo copy oci: -> docker://
#   (c) envpack pack from oci:, restore to oci:  vs  skopeo copy oci: -> oci:
# then packs v1 and v2 into one bundle to show that only the changed layer is new data.
BENCH_NO_DISK=1
source "$(dirname "$0")/lib.sh"
img=$B/image
out=$B/image-out
rm -rf "$out"
mkdir -p "$out"
trap 'rm -rf "$out"' EXIT
T=$out # tests/registry.sh keeps each registry's files under $T and stops them on exit
source "$here/../tests/registry.sh"
for c in skopeo umoci /usr/bin/docker-registry curl; do
	command -v "$c" >/dev/null || { echo "bench: needs $c (scripts/deps.sh installs it)" >&2; exit 1; }
done

random_file() { python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(int(sys.argv[1])).randbytes(16 << 20))' "$1"; }

build_image() { # into $img.tmp, renamed to $img when complete
	local w=$img.tmp l=$img.tmp/layout d
	rm -rf "$w"
	mkdir -p "$w/app"
	umoci init --layout "$l"
	umoci new --image "$l:base"
	umoci config --image "$l:base" --os linux --architecture amd64 --config.cmd /bin/sh
	for d in /usr/lib/gcc /usr/share/locale /usr/lib/python3.11 /usr/share/perl; do
		if [ -d "$d" ]; then umoci insert --image "$l:base" "$d" "$d"; else echo "bench: no $d, one layer fewer" >&2; fi
	done
	for v in 1 2; do
		random_file "$v" >"$w/app/data.bin"
		echo "v$v" >"$w/app/VERSION"
		umoci tag --image "$l:base" "v$v"
		umoci insert --image "$l:v$v" "$w/app" /opt/app
	done
	umoci rm --image "$l:base"
	umoci gc --layout "$l"
	rm -rf "$w/app"
	rm -rf "$img"
	mv "$w" "$img"
}
[ -e "$img/layout/index.json" ] || { echo "bench: building the test image under $img (once)" >&2; build_image; }
layout=$img/layout

start_registry src
push_test_image "$layout:v1" "$REG_SRC/bench:v1"
push_test_image "$layout:v2" "$REG_SRC/bench:v2"
"$ENVPACK" keygen -o "$out/bench" >/dev/null 2>&1 || echo "bench: envpack keygen failed" >&2

best() { # best VAR PREP CMD...: sets VAR to the best wall time of RUNS runs after a warm-up, or "failed"; PREP runs untimed before each run
	local var=$1 prep=$2 t bt="" i TIMEFORMAT=%R
	shift 2
	for i in $(seq 0 "$RUNS"); do
		"$prep"
		if ! { time "$@" >"$out/cmd.log" 2>&1; } 2>"$out/time"; then
			echo "bench: $1 failed: $(tail -n 2 "$out/cmd.log")" >&2
			printf -v "$var" failed
			return 0
		fi
		[ "$i" = 0 ] && continue
		read -r t <"$out/time"
		if [ -z "$bt" ] || awk "BEGIN{exit !($t < $bt)}"; then bt=$t; fi
	done
	printf -v "$var" %s "$bt"
}
fresh_dst() { stop_registry dst && start_registry dst; }
rm_sk() { rm -rf "$out/sk"; }
rm_rc() { rm -rf "$out/rc"; }

# (a) registry -> local
ep_pull() { "$ENVPACK" pack -q --force -k "$out/bench.key" -o "$out/v1.envpack" "image:docker://$REG_SRC/bench:v1" --insecure-registry "$REG_SRC"; }
sk_pull() { skopeo copy -q --src-tls-verify=false "docker://$REG_SRC/bench:v1" "oci:$out/sk:v1"; }
best a_ep : ep_pull
best a_sk rm_sk sk_pull
# (b) local -> empty registry
ep_push() { "$ENVPACK" restore -q -p "$out/bench.pub" "$out/v1.envpack" --to "registry://$REG_DST/copy" --insecure-registry "$REG_DST"; }
sk_push() { skopeo copy -q --dest-tls-verify=false "oci:$layout:v1" "docker://$REG_DST/copy2/bench:v1"; }
best b_ep fresh_dst ep_push
best b_sk fresh_dst sk_push
# (c) oci: layouts
ep_pack_oci() { "$ENVPACK" pack -q --force -k "$out/bench.key" -o "$out/oci.envpack" "image:oci:$layout:v1"; }
ep_restore_oci() { "$ENVPACK" restore -q -p "$out/bench.pub" "$out/oci.envpack" --to "oci:$out/rc"; }
sk_oci() { skopeo copy -q "oci:$layout:v1" "oci:$out/sk:v1"; }
best c_ep_pack : ep_pack_oci
best c_ep_restore rm_rc ep_restore_oci
best c_sk rm_sk sk_oci
c_ep_both=failed
[ "$c_ep_pack" = failed ] || [ "$c_ep_restore" = failed ] || c_ep_both=$(awk "BEGIN{printf \"%.3f\", $c_ep_pack + $c_ep_restore}")
# two tags that share all but one layer, in one bundle
if "$ENVPACK" pack -q -k "$out/bench.key" -o "$out/v1v2.envpack" --insecure-registry "$REG_SRC" \
	"image:docker://$REG_SRC/bench:v1" "image:docker://$REG_SRC/bench:v2" >"$out/cmd.log" 2>&1; then
	two=$(stat -c %s "$out/v1v2.envpack")
else
	echo "bench: packing v1 and v2 failed: $(tail -n 2 "$out/cmd.log")" >&2
	two=failed
fi
one=failed
[ -e "$out/v1.envpack" ] && one=$(stat -c %s "$out/v1.envpack")

read -r nlayers files gz only_v2 < <(python3 - "$layout" <<'EOF'
import gzip, json, os, sys
d = sys.argv[1]
blob = lambda dg: json.load(open(os.path.join(d, "blobs", "sha256", dg[7:])))
idx = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in json.load(open(os.path.join(d, "index.json")))["manifests"]}
v1, v2 = blob(idx["v1"]["digest"]), blob(idx["v2"]["digest"])
files = 0
for l in v1["layers"]:  # uncompressed size: read through the gzip stream
    with gzip.open(os.path.join(d, "blobs", "sha256", l["digest"][7:])) as f:
        while (n := len(f.read(1 << 20))):
            files += n
old = {l["digest"] for l in v1["layers"]}
print(len(v1["layers"]), files, sum(l["size"] for l in v1["layers"]), sum(l["size"] for l in v2["layers"] if l["digest"] not in old))
EOF
)

mib() { awk "BEGIN{printf \"%.1f\", $1 / 1048576}"; }
ratio() { if [ "$1" = failed ] || [ "$2" = failed ]; then echo -; else awk "BEGIN{printf \"%.2f\", $1 / $2}"; fi; }
row() { printf '%-48s %9s %9s %7s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")"; }
printf 'image: %s layers, %s MiB of tar, %s MiB gzipped; registry %s; %s cores\n' "$nlayers" "$(mib "$files")" "$(mib "$gz")" "$(/usr/bin/docker-registry --version | awk '{print $3}')" "$(nproc)"
printf '%-48s %9s %9s %7s\n' "seconds (best of $RUNS)" envpack skopeo ratio
row "(a) docker:// -> bundle | oci:" "$a_ep" "$a_sk"
row "(b) bundle | oci: -> docker:// (empty registry)" "$b_ep" "$b_sk"
row "(c) oci: -> bundle | oci:" "$c_ep_pack" "$c_sk"
row "(c) bundle -> oci: | oci: -> oci:" "$c_ep_restore" "$c_sk"
row "(c) both envpack steps | oci: -> oci:" "$c_ep_both" "$c_sk"
if [ "$one" != failed ] && [ "$two" != failed ]; then
	printf 'bundle of v1: %s MiB; of v1 and v2: %s MiB (+%s MiB); the layer only v2 has: %s MiB\n' \
		"$(mib "$one")" "$(mib "$two")" "$(mib $((two - one)))" "$(mib "$only_v2")"
else
	printf 'bundle of v1: %s; of v1 and v2: %s; the layer only v2 has: %s MiB\n' "$one" "$two" "$(mib "$only_v2")"
fi
