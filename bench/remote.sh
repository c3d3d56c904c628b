#!/usr/bin/env bash
# bench/remote.sh — a bundle read where it lies (s3://, range requests) by envpack
# now and by envpack before its reads ran on several connections at once, next to a
# peer that first copies the bundle down: `aws s3 cp` to a local file, then the same
# envpack (now) reads that file. All in one run, on the same bundle and the same
# S3-compatible server (s3rver on loopback, as the tests start it).
#
# The bundle is a pack of ../shared/bench/make-disk.sh's disk (4 GiB sparse raw, ext4,
# ~1 GiB of real files). Timed: `verify --deep` (every chunk read, decompressed and
# checked) and `restore --to dir:` of it. Each round runs every command once,
# interleaved (so a change of load on a shared machine falls on all of them); RUNS
# rounds (default 3), the best wall time counts. Printed: seconds, the ratios
# now/before and now/peer, and the range requests a deep verify sent.
#
# ENVPACK_BEFORE: the "before" envpack; default: built from git commit $BEFORE_COMMIT
# (default c52611b, one connection shared by the reader threads) in a temporary git
# worktree under build/, removed on exit. THREADS=N: -j N for both (default: theirs,
# one per CPU). QUICK=1: a small disk (512 MiB, ~95 MiB of files).
source "$(dirname "$0")/lib.sh"
repo=$(cd "$here/.." && pwd)
img=$B/img
out=$B/remote
before_tree=""
rm -rf "$out"
mkdir -p "$out"
cleanup() {
	rm -rf "$out"
	if [ -n "$before_tree" ]; then
		git -C "$repo" worktree remove --force "$before_tree" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT

if [ -z "${ENVPACK_BEFORE:-}" ]; then
	before_tree=$repo/build/bench-before.$$
	git -C "$repo" worktree add -q --detach "$before_tree" "${BEFORE_COMMIT:-c52611b}"
	make -C "$before_tree" -s -j"$(nproc)" >"$out/before-build.log" 2>&1 || {
		echo "bench: cannot build the before envpack" >&2
		cat "$out/before-build.log" >&2
		exit 1
	}
	ENVPACK_BEFORE=$before_tree/envpack
fi

bench_s3
bucket=$S3_BENCH_BUCKET
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3
aws=${S3_AWS:-/usr/bin/aws}
"$ENVPACK" keygen -o "$out/k" >/dev/null
"$ENVPACK" pack -q -k "$out/k.key" -o "$out/b.envpack" "disk:$img/disk.raw"
"$aws" --endpoint-url "$ep" s3 cp --quiet "$out/b.envpack" "s3://$bucket/b.envpack"
size=$(stat -c %s "$out/b.envpack")
rm -f "$out/b.envpack"
url=s3://$bucket/b.envpack
jobs=(${THREADS:+-j "$THREADS"})

verify() { timed "$1" verify -q --deep "${jobs[@]}" -p "$out/k.pub" --endpoint "$ep" "$2"; }
restore() {
	rm -rf "$out/r"
	timed "$1" restore -q "${jobs[@]}" -p "$out/k.pub" --endpoint "$ep" "$2" --to "dir:$out/r"
	rm -rf "$out/r"
}
download() {
	rm -f "$out/local.envpack"
	timed "$aws" --endpoint-url "$ep" s3 cp --quiet "$url" "$out/local.envpack"
}
requests() { wc -l <"$S3_BENCH_DIR/requests.log"; }
min() { awk "BEGIN{print ($1 < $2 ? $1 : $2)}"; }
sum() { awk "BEGIN{printf \"%.2f\", $1 + $2}"; }
ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }

declare -A T
keep() { # keep NAME SECONDS: the best so far (none: the command failed, as timed said)
	[ -n "$2" ] || exit 1
	if [ -z "${T[$1]:-}" ]; then T[$1]=$2; else T[$1]=$(min "${T[$1]}" "$2"); fi
}
for _ in $(seq "$RUNS"); do
	keep verify_before "$(verify "$ENVPACK_BEFORE" "$url")"
	r0=$(requests)
	keep verify_now "$(verify "$ENVPACK" "$url")"
	ranges=$(($(requests) - r0))
	d=$(download)
	keep peer_download "$d"
	keep peer_verify "$(sum "$d" "$(verify "$ENVPACK" "$out/local.envpack")")"
	keep restore_before "$(restore "$ENVPACK_BEFORE" "$url")"
	keep restore_now "$(restore "$ENVPACK" "$url")"
	d=$(download)
	keep peer_download "$d"
	keep peer_restore "$(sum "$d" "$(restore "$ENVPACK" "$out/local.envpack")")"
	rm -f "$out/local.envpack"
done

printf '%s\n' "$(sed -n 3p "$img/content.txt")"
printf 'bundle: %s bytes (%s requests a deep verify); %s cores; load average %s; s3rver 3.7.1 on loopback\n' \
	"$size" "$ranges" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'now: %s; before: %s (%s); threads: %s\n' "$(git -C "$repo" rev-parse --short HEAD)" \
	"$(git -C "$(dirname "$ENVPACK_BEFORE")" rev-parse --short HEAD 2>/dev/null || echo "?")" "$ENVPACK_BEFORE" \
	"${THREADS:-one per CPU}"
printf '%-22s %8s %8s %8s %10s %9s\n' "seconds (best of $RUNS)" now before peer now/before now/peer
for op in verify restore; do
	printf '%-22s %8s %8s %8s %10s %9s\n' "$op $([ $op = verify ] && echo --deep || echo "--to dir:")" \
		"${T[${op}_now]}" "${T[${op}_before]}" "${T[peer_$op]}" "$(ratio "${T[${op}_now]}" "${T[${op}_before]}")" \
		"$(ratio "${T[${op}_now]}" "${T[peer_$op]}")"
done
echo "peer = aws s3 cp of the bundle to a local file (best ${T[peer_download]} s) + the same envpack command on it"
echo "now, before: s3:// read where it lies with range requests; ratios: lower is better for now"
