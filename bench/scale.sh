#!/usr/bin/env bash
# bench/scale.sh — what a store's size costs (issue #18): backup, check and prune in stores
# that hold 0, 100,000, 1 M and 10 M chunks besides the bench disk's own, on dir: and on
# s3:// (s3rver, up to 100,000 by default: S3_MAX below).
#
# What is real: the store (config.json, snapshots, locks, claims) and every chunk of the
# data under test are envpack's own: a real `backup --init` of the bench disk
# (../shared/bench/make-disk.sh's disk.raw: 4 GiB sparse, ext4, ~1.3 GB of files), then
# real backups. What is not: the other N chunks of a scale are placeholders written
# directly, not through envpack: one object each, named as chunks are
# (chunks/<hh>/<64 hex>.zst, the hex from a seeded generator: SHA-256 of
# "envpack-scale-placeholder:<i>"), holding 1 byte (a 0-byte object is ignored by the
# store's index). No snapshot names them: to check and prune they are chunks no snapshot
# names (check counts them, prune --dry-run would remove them), so what check reads per
# snapshot and the set of chunks prune keeps are the bench disk's alone; what grows with N
# is the listing of chunks/ and what each command holds of it. On s3:// the placeholders
# are written into s3rver's own files (the fast path: "<key>._S3rver_object" and its
# ".md5", as s3rver keeps an object it was sent; the metadata file it may do without), so
# s3rver lists and serves them as objects.
#
# Stores grow in place: SCALES (default "0 100000 1000000 10000000", placeholder chunks; run in
# ascending order) adds placeholders up to each count and then times, with wall seconds and
# peak RSS (/usr/bin/time): a backup of the unchanged disk (--force: the files cache is off),
# a restore of that backup's snapshot to dir: (into $BENCH_DIR/scale/work, then compared with
# the disk byte for byte and removed; not on the image), a backup after 1 % of the disk
# changed (--force too), `check` (metadata: no chunk read) and `prune --dry-run`; on s3://
# also each backup's requests (`backup --json`: "requests").
# The 1 % change is make-disk.sh's (MOD_COUNT x MOD_MIB MiB, default 8 x 5, at the same
# offsets, written in place), with data of each scale's own (so every changed backup
# writes ~1 % new chunks; disk-mod.raw's would be in the store after the first scale),
# and the unchanged backup of the next scale reads what the last snapshot holds. Each scale
# ends with `forget --keep-last 1` (not timed; no chunk goes): each run sees as many
# snapshots at every scale (a backup reads each snapshot of the store). The page
# cache is warm: the placeholders were just written (a store's listing on a busy server may
# well be cold; that costs more, not less).
#
# Where: both stores (and s3rver's files) on a loop-mounted ext4 image under $BENCH_DIR/scale
# (needs root), made with inline_data and 256-byte inodes, so a 1-byte object takes an inode
# and no data block: 10 M placeholders take ~4 GB, where 4 KiB blocks would take 40 GB.
# Its inode count is sized for the largest scale; it is removed on exit (the bench disk
# under $BENCH_DIR/img is kept).
#
# s3:// runs at the scales up to S3_MAX (default 100000; S3_MAX=-1: dir: only): s3rver
# keeps 2 files an object and answers each ListObjectsV2 page by walking the chunk
# directory from its start with a stat() of every file before the page, then reading each
# key's files: one listing of 100,000 placeholders took it ~40 s (load 6), and the cost
# grows about with the square of a directory's size, so at 1 M (~7,800 files a directory)
# check's and prune's listings would take it some 10 minutes each, and at 10 M hours. A
# backup lists no chunks: S3_MAX=1000000 OPS="unchanged changed" runs 1 M in minutes. The
# output names the scales skipped and why.
#
# Printed: per scale, a table (seconds, max RSS, chunks added, requests); then each figure
# across the scales, and the issue's goals at the largest scale run: backup ≤ 1.2x its time
# at 0 and ≤ 128 MiB RSS, check and prune ≤ 256 MiB, an unchanged backup's S3 requests
# independent of the store's size. Test it small: SCALES="0 100000".
# Each run's CPU seconds (user + system) are printed beside its wall time: on a shared
# machine the load moves wall time far more than CPU time, so the goals give both.
# OPS="unchanged changed" runs only the backups (restore, check and prune, minutes at 10 M on a
# cold inode cache, are not run).
# Each backup (unchanged, and 1 % changed: the disk changed anew before each round) runs
# ROUNDS times (default 3), each followed by the same into a reference store of the same
# kind (a second dir:, or a second prefix in the same bucket) that holds the bench disk's
# chunks alone, and the fastest of each is kept: their ratio ("same minutes") compares
# times taken under the same load, where the ratio to the 0 scale compares runs made half
# an hour apart. Before the unchanged rounds, both stores take the disk as the last rounds
# changed it (not timed).
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "bench: scale.sh mounts an ext4 image: run it as root" >&2; exit 1; }
for c in mkfs.ext4 mountpoint jq python3; do
	command -v "$c" >/dev/null || { echo "bench: needs $c" >&2; exit 1; }
done
read -r -a scales <<<"$(tr ' ' '\n' <<<"${SCALES:-0 100000 1000000 10000000}" | grep . | sort -n -u | tr '\n' ' ')"
for n in "${scales[@]}"; do
	[[ $n =~ ^[0-9]+$ ]] || { echo "bench: SCALES holds counts of chunks, not '$n'" >&2; exit 2; }
done
S3_MAX=${S3_MAX:-100000}
ROUNDS=${ROUNDS:-3}
MOD_COUNT=${MOD_COUNT:-8} MOD_MIB=${MOD_MIB:-5}
top=${scales[-1]} s3_top=-1
for n in "${scales[@]}"; do [ "$n" -gt "$S3_MAX" ] || s3_top=$n; done

img=$B/img
out=$B/scale
mnt=$out/mnt
cleanup() { # the image unmounted before it is removed (never rm -r through a mount)
	if mountpoint -q "$mnt"; then umount "$mnt" 2>/dev/null || umount -l "$mnt"; fi
	rm -rf "$out"
}
cleanup
mkdir -p "$out/work" "$mnt"
# set before bench_s3: the server is stopped first (tests/servers.sh); a second signal must
# not stop the cleanup half-way (the image holds GBs)
trap 'trap "" INT TERM; cleanup' EXIT

# the image: an inode for each object (2 for an s3rver one) and room for the real chunks
inodes=$((top + 2 * (s3_top > 0 ? s3_top : 0) + 200000))
need_kib=$((inodes * 400 / 1024 + 4 * 1024 * 1024)) # ~400 bytes an object (inode, directory entry), 4 GiB more
avail_kib=$(df --output=avail -k "$out" | tail -n 1)
[ "$avail_kib" -gt "$need_kib" ] || { echo "bench: $out has $((avail_kib / 1048576)) GiB free, the stores need ~$((need_kib / 1048576)) GiB" >&2; exit 1; }
truncate -s $((inodes * 1024 + 6 * 1024 * 1024 * 1024)) "$out/fs.img" # sparse: only what is used is allocated
mkfs.ext4 -q -F -O inline_data -I 256 -N "$inodes" -b 4096 -E lazy_itable_init=1,nodiscard "$out/fs.img"
mount -o loop,noinit_itable,noatime "$out/fs.img" "$mnt"

src=$out/work/disk.raw
cp --sparse=always "$img/disk.raw" "$src"
envpack_bench_keys
declare -A STORE=([dir]=dir:$mnt/dir-store [ref-dir]=dir:$mnt/ref-store) PH=([dir]=$mnt/dir-store/chunks) HAVE=([dir]=0)
stores=(dir)
s3_opts=()
if [ "$s3_top" -ge 0 ]; then
	S3_MAX_SECONDS=${S3_MAX_SECONDS:-14400} # s3rver outlives a full run
	out=$mnt bench_s3 # s3rver's files on the image too
	s3_opts=(--endpoint "$ep")
	STORE[s3]=s3://$S3_BENCH_BUCKET/envpack STORE[ref-s3]=s3://$S3_BENCH_BUCKET/ref PH[s3]=$S3_BENCH_DIR/data/$S3_BENCH_BUCKET/envpack/chunks HAVE[s3]=0
	stores+=(s3)
fi
skipped=()
for n in "${scales[@]}"; do [ "$n" -le "$S3_MAX" ] || skipped+=("$n"); done
skip_why="s3rver's ListObjectsV2 re-walks each directory from its start for each page (~quadratic; S3_MAX=$S3_MAX, see the header)"

# placeholders ST FROM TO: placeholder chunks FROM..TO-1 of the seeded sequence into store
# ST's chunks/ (dir: a file; s3: s3rver's object file and its .md5), a directory at a time
placeholders() {
	python3 - "$1" "${PH[$1]}" "$2" "$3" <<'EOF'
import hashlib, os, sys
kind, root, start, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
body = b"\0"
files = [(".zst", body)] if kind == "dir" else \
	[(".zst._S3rver_object", body), (".zst._S3rver_object.md5", hashlib.md5(body).hexdigest().encode())]
fds = {}
batch = 1 << 20
for b in range(start, end, batch):
	names = sorted(hashlib.sha256(b"envpack-scale-placeholder:%d" % i).hexdigest()
		       for i in range(b, min(end, b + batch)))
	for h in names:
		d = fds.get(h[:2])
		if d is None:
			os.makedirs(os.path.join(root, h[:2]), exist_ok=True)
			d = fds[h[:2]] = os.open(os.path.join(root, h[:2]), os.O_RDONLY | os.O_DIRECTORY)
		for suffix, data in files:
			f = os.open(h + suffix, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=d)
			os.write(f, data)
			os.close(f)
EOF
}

# change_1pct FILE SEED: make-disk.sh's 1 % change (MOD_COUNT x MOD_MIB MiB at its spread-out
# offsets, in place: same inode), with pseudo-random data of SEED's own
change_1pct() {
	local vsz k off_mib
	vsz=$(stat -c %s "$1")
	for ((k = 0; k < MOD_COUNT; k++)); do
		off_mib=$(((vsz / 1048576 - MOD_MIB) * (2 * k + 1) / (2 * MOD_COUNT)))
		head -c $((MOD_MIB * 1048576)) /dev/zero |
			openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass "pass:envpack-scale-$2-$k" 2>/dev/null |
			dd of="$1" bs=1M seek="$off_mib" conv=notrunc iflag=fullblock status=none
	done
}

declare -A T M J C
n_run=0
run() { # run KEY CMD...: T[KEY] wall seconds, C[KEY] CPU seconds (user + system), M[KEY] max RSS KiB, J[KEY] its --json output's file
	local key=$1
	shift
	n_run=$((n_run + 1))
	J[$key]=$out/log.$n_run
	if ! /usr/bin/time -f '%e %M %U %S' -o "$out/time" "$@" >"${J[$key]}" 2>"$out/err.$n_run"; then
		echo "bench: failed: $*" >&2
		cat "${J[$key]}" "$out/err.$n_run" >&2
		exit 1
	fi
	local user sys
	read -r "T[$key]" "M[$key]" user sys <"$out/time"
	C[$key]=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
}
sopts() { # sopts ST: so=(the options store ST needs: its endpoint for s3)
	so=()
	[[ $1 != *s3 ]] || so=("${s3_opts[@]}")
}
backup() { # backup KEY ST [OPTS...]: run a backup of $src into ST, with --json
	local key=$1 st=$2
	shift 2
	sopts "$st"
	cat "$src" >/dev/null # a warm page cache for each
	run "$key" "$ENVPACK" backup "${STORE[$st]}" "${so[@]}" --json "$@" "${ep_opts[@]}" -k "$out/bench.key" --host bench "disk:$src"
}

for st in "${stores[@]}"; do # the data under test: real chunks, a real snapshot (not timed)
	backup "init-$st" "$st" --init
	backup "init-ref-$st" "ref-$st" --init
done
keep_min() { # keep_min KEY RUN: RUN's figures as KEY's when it is KEY's first or fastest
	if [ -z "${T[$1]:-}" ] || awk -v a="${T[$2]}" -v b="${T[$1]}" 'BEGIN { exit !(a < b) }'; then
		T[$1]=${T[$2]} C[$1]=${C[$2]} M[$1]=${M[$2]} J[$1]=${J[$2]}
	fi
}
rounds() { # rounds OP ST N: ROUNDS backups (OP: unchanged, or changed: the disk changed anew before each) into ST, each followed by one into ref-ST
	if [ "$1" = unchanged ]; then # the disk's last change into both first (not timed): else "unchanged" would add its chunks
		backup "catch-up-$2-$3" "$2" --force
		backup "catch-up-ref-$2-$3" "ref-$2" --force
	fi
	for ((r = 1; r <= ROUNDS; r++)); do
		[ "$1" = unchanged ] || change_1pct "$src" "$3-$r"
		backup "$1-$2-$3.$r" "$2" --force
		backup "ref-$1-$2-$3.$r" "ref-$2" --force
		keep_min "$1-$2-$3" "$1-$2-$3.$r"
		keep_min "ref-$1-$2-$3" "ref-$1-$2-$3.$r"
	done
}
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
jqv() { jq -r "$2 // \"-\"" "${J[$1]}"; }
reqs() { # reqs KEY: "PUT/GET/HEAD/LIST/other=total" from a --json "requests" object, or -
	[ -s "${J[$1]}" ] || { echo -; return; }
	jq -r 'if .requests then .requests | "\(.put)/\(.get)/\(.head)/\(.list)/\(.retention + .delete + .other)=\(.put + .get + .head + .list + .retention + .delete + .other)" else "-" end' "${J[$1]}"
}
total_reqs() { local r; r=$(reqs "$1"); echo "${r##*=}"; }
read -r -a ops <<<"${OPS:-unchanged restore changed check prune}" # OPS: a subset, in this order
declare -A OPNAME=([unchanged]="backup unchanged" [restore]="restore it to dir:" [changed]="backup 1 % changed"
	[check]="check (metadata)" [prune]="prune --dry-run")
restore() { # restore KEY ST SNAPSHOT: STORE@SNAPSHOT restored to dir:, then compared with $src and removed
	local key=$1 st=$2 dest=$out/work/restored
	sopts "$st"
	rm -rf "$dest"
	run "$key" "$ENVPACK" restore -q -p "$out/bench.pub" "${so[@]}" "${STORE[$st]}@$3" --to "dir:$dest"
	cmp "$src" "$dest/disk.raw" || { echo "bench: the disk restored from $st differs from the one backed up" >&2; exit 1; }
	rm -rf "$dest"
}
declare -A MADE
start=$EPOCHREALTIME
echo "envpack $("$ENVPACK" --version 2>/dev/null | head -n1); $(sed -n 3p "$img/content.txt"); $(nproc) cores"
for n in "${scales[@]}"; do
	active=()
	for st in "${stores[@]}"; do
		[ "$st" = s3 ] && [ "$n" -gt "$S3_MAX" ] && continue
		active+=("$st")
	done
	t0=$EPOCHREALTIME
	for st in "${active[@]}"; do
		placeholders "$st" "${HAVE[$st]}" "$n"
		HAVE[$st]=$n
	done
	MADE[$n]=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	for st in "${active[@]}"; do
		rounds unchanged "$st" "$n"
	done
	[[ " ${ops[*]} " != *" restore "* ]] || for st in "${active[@]}"; do restore "restore-$st-$n" "$st" "$(jqv "unchanged-$st-$n" .snapshot)"; done
	for st in "${active[@]}"; do rounds changed "$st" "$n"; done
	for st in "${active[@]}"; do
		sopts "$st"
		[[ " ${ops[*]} " != *" check "* ]] || run "check-$st-$n" "$ENVPACK" check "${STORE[$st]}" "${so[@]}" --json -p "$out/bench.pub"
		[[ " ${ops[*]} " != *" prune "* ]] || run "prune-$st-$n" "$ENVPACK" prune "${STORE[$st]}" "${so[@]}" --dry-run --json
		# the same snapshots at every scale (a backup reads each: one GET on S3): only the
		# newest is kept for the next (not timed; forget removes no chunk)
		"$ENVPACK" forget "${STORE[$st]}" "${so[@]}" -q --keep-last 1
	done
	for st in "${active[@]}"; do
		sopts "$st"
		"$ENVPACK" forget "${STORE[ref-$st]}" "${so[@]}" -q --keep-last 1
	done
	echo
	echo "== $n placeholder chunks: placeholders written in ${MADE[$n]} s, the scale's runs in $(awk -v a="$t0" -v b="$EPOCHREALTIME" -v m="${MADE[$n]}" 'BEGIN { printf "%.0f", b - a - m }') s; load average $load before, $(cut -d' ' -f1-3 /proc/loadavg) after"
	printf '%-6s %-20s %9s %7s %8s %12s %14s %26s\n' store run seconds "CPU s" "RSS MiB" "chunks added" "chunks listed" "requests P/G/H/L/o=total"
	for st in "${active[@]}"; do
		for op in "${ops[@]}"; do
			k=$op-$st-$n
			case $op in
			unchanged | changed) added=$(jqv "$k" .added_chunks) listed=- ;;
			restore) added=- listed=- ;;
			check) added=- listed=$(jqv "$k" .chunks) ;;
			prune) added=- listed=$(jq -r '.prune | .chunks_removed + .chunks_kept' "${J[$k]}") ;;
			esac
			printf '%-6s %-20s %9s %7s %8s %12s %14s %26s\n' "$st:" "${OPNAME[$op]}" "${T[$k]}" "${C[$k]}" "$(mib "${M[$k]}")" \
				"$added" "$listed" "$(reqs "$k")"
			[ -z "${T[ref-$k]:-}" ] || printf '%-6s %-20s %9s %7s %8s %12s %14s %26s\n' "ref:" "the same, same minutes" \
				"${T[ref-$k]}" "${C[ref-$k]}" "$(mib "${M[ref-$k]}")" "$(jqv "ref-$k" .added_chunks)" - "$(reqs "ref-$k")"
		done
	done
	[ "$n" -le "$S3_MAX" ] || [ "${#stores[@]}" = 1 ] || echo "s3: skipped at $n: $skip_why"
done

# across the scales, and the issue's goals at the largest scale run
echo
echo "== across the scales (seconds / max RSS MiB; s3 requests of the backups); load average now $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s' ""
for n in "${scales[@]}"; do printf ' %16s' "$n"; done
printf ' %10s\n' "top/0"
for st in "${stores[@]}"; do
	for op in "${ops[@]}"; do
		printf '%-28s' "$st: ${OPNAME[$op]}"
		last=-
		for n in "${scales[@]}"; do
			k=$op-$st-$n
			if [ -n "${T[$k]:-}" ]; then printf ' %16s' "${T[$k]} / $(mib "${M[$k]}")" && last=$n; else printf ' %16s' skipped; fi
		done
		printf ' %10s\n' "$(ratio "${T[$op-$st-$last]:-}" "${T[$op-$st-${scales[0]}]:-}")"
		if [ "$st" = s3 ] && [[ $op = unchanged || $op = changed ]]; then
			printf '%-28s' "  requests"
			for n in "${scales[@]}"; do
				k=$op-$st-$n
				printf ' %16s' "$([ -n "${T[$k]:-}" ] && total_reqs "$k" || echo skipped)"
			done
			printf ' %10s\n' "$(ratio "$(total_reqs "$op-$st-$last")" "$(total_reqs "$op-$st-${scales[0]}")")"
		fi
	done
done
[ "${#skipped[@]}" = 0 ] || [ "${#stores[@]}" = 1 ] || echo "s3: skipped at ${skipped[*]}: $skip_why"
[ "${#stores[@]}" = 2 ] || echo "s3: not run (S3_MAX=$S3_MAX is below every scale)"

echo
base=${scales[0]}
echo "goals (issue #18, stated for 10 M chunks; here at $top on dir:$([ "${#stores[@]}" = 1 ] || echo ", $s3_top on s3"), against $base):"
for st in "${stores[@]}"; do
	at=$top && [ "$st" = s3 ] && at=$s3_top
	for op in unchanged changed; do
		[[ " ${ops[*]} " == *" $op "* ]] || continue
		r=$(ratio "${T[$op-$st-$at]}" "${T[$op-$st-$base]}")
		rc=$(ratio "${C[$op-$st-$at]}" "${C[$op-$st-$base]}")
		echo "  $st: ${OPNAME[$op]}: time ${T[$op-$st-$at]} s / ${T[$op-$st-$base]} s = $r (<= 1.2: $(goal "$r" 1.2)); CPU ${C[$op-$st-$at]} s / ${C[$op-$st-$base]} s = $rc (<= 1.2: $(goal "$rc" 1.2); the load moves it less); RSS $(mib "${M[$op-$st-$at]}") MiB (<= 128: $(goal "$(mib "${M[$op-$st-$at]}")" 128))"
		if [ -n "${T[ref-$op-$st-$at]:-}" ]; then
			r=$(ratio "${T[$op-$st-$at]}" "${T[ref-$op-$st-$at]}")
			echo "  $st: ${OPNAME[$op]}, against the reference store in the same minutes (best of $ROUNDS each): ${T[$op-$st-$at]} s / ${T[ref-$op-$st-$at]} s = $r (<= 1.2: $(goal "$r" 1.2))"
		fi
	done
	[[ " ${ops[*]} " != *" restore "* ]] || echo "  $st: ${OPNAME[restore]} (no goal stated; a restore lists no chunk): time ${T[restore-$st-$at]} s / ${T[restore-$st-$base]} s = $(ratio "${T[restore-$st-$at]}" "${T[restore-$st-$base]}"); RSS $(mib "${M[restore-$st-$at]}") MiB / $(mib "${M[restore-$st-$base]}") MiB"
	for op in check prune; do
		[[ " ${ops[*]} " == *" $op "* ]] || continue
		echo "  $st: ${OPNAME[$op]}: RSS $(mib "${M[$op-$st-$at]}") MiB (<= 256: $(goal "$(mib "${M[$op-$st-$at]}")" 256)); time ${T[$op-$st-$at]} s ($(ratio "${T[$op-$st-$at]}" "${T[$op-$st-$base]}")x the time at $base)"
	done
done
if [ "${#stores[@]}" = 2 ]; then
	a=$(total_reqs "unchanged-s3-$s3_top") b=$(total_reqs "unchanged-s3-$base")
	r=$(ratio "$a" "$b")
	echo "  s3: unchanged backup's requests independent of the store's size: $a at $s3_top / $b at $base = $r (<= 1.0: $(goal "$r" 1.0))"
fi
echo "store image: $(du -h "$out/fs.img" | cut -f1) allocated for $(df --output=iused "$mnt" | tail -n 1 | tr -d ' ') inodes; run time $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s (the init backups before it not counted)"
