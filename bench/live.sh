#!/usr/bin/env bash
# bench/live.sh — envpack's backups of a running libvirt domain (vm:domain:NAME: a
# pull-mode backup job read over NBD), full and incremental, next to envpack's offline
# backup of the same image, virtnbdbackup (Debian's; -l full, then -l inc) and a bare
# nbdcopy of the backup job's export, in one run:
#   a. offline: envpack backup disk:disk.qcow2 (the image the domains' disks are copies of)
#   b. live, first: the running domain into a fresh store (full; takes a checkpoint)
#   c. live, incremental: after the guest rewrote 1 % of the disk (MOD_COUNT writes of
#      MOD_MIB MiB through the monitor's qemu-io, at fixed offsets spread over the data),
#      the next backup into that store reads only what qemu's dirty bitmap names
#   d. live, full after the change: the same domain into a second fresh store
#   f. live, unchanged: c's store again, nothing written since: the fixed cost of a
#      live backup (the job, its checkpoint, the snapshot) beyond reading
#   e. nbdcopy of the whole export (a pull-mode job begun and aborted by hand, timed
#      with it), to a sparse raw file: what reading the disk over NBD costs at least
# Printed: wall seconds, CPU seconds and max RSS (/usr/bin/time), the bytes each run
# read (envpack's --json bytes_read and dirty_bytes; virtnbdbackup's "bytes of data
# extents to backup"; for nbdcopy and the offline image, their data extents from
# nbdinfo --map and qemu-img map) and the bytes each added to its destination; then
# the ratios, with their goals:
# incremental bytes read / dirty bytes <= 1.5, incremental time / full live time
# <= 0.1, full live / offline <= 1.2, and envpack live / virtnbdbackup and nbdcopy.
#
# The disk is ../shared/bench/make-disk.sh's, as a qcow2 (v3, 64 KiB clusters): an
# 8 GiB image holding an ext4 file system with ~2 GiB of real files (its default
# directories and /usr/lib/jvm, /usr/lib/gcc), under /tmp/envpack-bench-live (the
# other benches' 4 GiB disk is not this one). Two domains run it, each on its own
# copy: envpack's, and the peers' (virtnbdbackup refuses a domain holding checkpoints
# it did not make); both get the same writes. They run on a private libvirtd
# (tests/libvirt.sh: TCG guests with no OS, halted in SeaBIOS, so they neither write
# nor use the CPU). Backups are stateful, so each runs once; the page cache is warmed
# by reading the image before each run (qemu reads through it, cache=writeback).
#
# Fairness: envpack chunks, deduplicates, compresses (zstd 5, backup's default) and
# signs, and its incremental backup writes a whole new snapshot (the clean blocks taken
# from the last one); virtnbdbackup writes its uncompressed sparse stream and, on an
# incremental run, only the changed blocks; nbdcopy only copies. The live runs'
# times include beginning and ending the backup job and the checkpoint; qemu serves
# NBD on the side (its CPU is in no one's RSS but in everyone's wall time). The
# guest's writes are qemu-io patterns (one byte repeated): cheap to compress, so
# the incremental run's time is mostly reading and hashing, and its stored bytes
# are small. The offline row reads the qcow2 file with envpack's own reader.
#
# QUICK=1: a 512 MiB disk holding ~40 MiB of files, 5 x 1 MiB of writes, under
# /tmp/envpack-bench-live-quick, for trying the script; DISK_SIZE, SRC_DIRS,
# MOD_COUNT, MOD_MIB and BENCH_DIR are make-disk.sh's and are honoured as they are.
# EP_LEVEL=N and EP_ENCRYPT=1 as in bench/backup.sh. Needs root (libvirtd's qemu
# driver), and virtnbdbackup for its two rows (scripts/deps.sh installs it).
if [ -n "${QUICK:-}" ]; then
	export BENCH_DIR=${BENCH_DIR:-/tmp/envpack-bench-live-quick} DISK_SIZE=${DISK_SIZE:-512M}
	export SRC_DIRS=${SRC_DIRS:-/usr/share/man} MOD_COUNT=${MOD_COUNT:-5} MOD_MIB=${MOD_MIB:-1}
else
	export BENCH_DIR=${BENCH_DIR:-/tmp/envpack-bench-live} DISK_SIZE=${DISK_SIZE:-8G} MOD_COUNT=${MOD_COUNT:-16} MOD_MIB=${MOD_MIB:-5}
	export SRC_DIRS=${SRC_DIRS:-"/usr/bin /usr/lib/python3 /usr/share/doc /usr/share/man /usr/share/fpcsrc /usr/lib/jvm /usr/lib/gcc"}
fi
source "$(dirname "$0")/lib.sh"
for c in virsh nbdcopy nbdinfo qemu-img python3; do
	command -v "$c" >/dev/null || { echo "bench: needs $c (scripts/deps.sh installs it)" >&2; exit 1; }
done
vnb=$(command -v virtnbdbackup || true)
[ -n "$vnb" ] || echo "bench: no virtnbdbackup (scripts/deps.sh installs it): its rows are left out" >&2
img=$B/img
out=$B/live
rm -rf "$out"
mkdir -p "$out/tmp"
export TMPDIR=$out/tmp # envpack's NBD socket and scratch files
T=$out/t # tests/libvirt.sh keeps its daemons' files under $T/libvirt
mkdir -p "$T"
LV_MAX_SECONDS=${LV_MAX_SECONDS:-7200}
source "$here/../tests/libvirt.sh"
cleanup() {
	libvirt_stop || true
	rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { echo "bench: $*" >&2; }

# MOD_COUNT offsets (bytes, MiB-aligned) spread evenly over the image's data, as
# qemu-img map sees it, so that the writes rewrite files rather than fill holes
write_offsets() {
	qemu-img map --output=json "$img/disk.qcow2" | python3 -c '
import json, sys
n, mib = int(sys.argv[1]), 1 << 20
data = [(e["start"], e["length"]) for e in json.load(sys.stdin) if e["data"] and not e["zero"]]
total = sum(l for _, l in data)
for k in range(n):
    p, cum = total * (2 * k + 1) // (2 * n), 0
    for start, length in data:
        if p < cum + length:
            print((start + p - cum) // mib * mib)
            break
        cum += length
' "$MOD_COUNT"
}
mapfile -t offsets < <(write_offsets)
[ "${#offsets[@]}" = "$MOD_COUNT" ] || { echo "bench: could not place $MOD_COUNT writes in the image's data" >&2; exit 1; }
guest_writes() { # guest_writes DOMAIN: the same MOD_COUNT x MOD_MIB MiB writes every time
	local k
	for k in "${!offsets[@]}"; do
		libvirt_guest_write "$1" "${offsets[$k]}" "${MOD_MIB}M" "$(printf '0x%02x' $((0x41 + k % 190)))" || return 1
	done
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say "load average at start: $load_start"
libvirt_start >&2 || exit 1
for d in ep peer; do
	cp --sparse=always "$img/disk.qcow2" "$out/$d.qcow2"
	libvirt_domain "bench-$d" "$out/$d.qcow2" || { echo "bench: the domain bench-$d did not start" >&2; exit 1; }
done
uri=$LIBVIRT_DEFAULT_URI
envpack_bench_keys

size() { # apparent bytes under a path (0 when absent)
	if [ -e "$1" ]; then du -sb "$1" | cut -f1; else echo 0; fi
}
n=0
# run NAME WARM DEST CMD...: CMD timed once, its stdout in $out/out.N and stderr in
# $out/err.N, WARM read first (the page cache); sets t m c (seconds, max RSS KiB,
# CPU seconds: user + system), added (DEST's growth in bytes) and n
run() {
	local name=$1 warm=$2 dest=$3 before
	shift 3
	before=$(size "$dest")
	cat "$warm" >/dev/null
	n=$((n + 1))
	say "$name"
	if ! /usr/bin/time -f '%e %M %U %S' -o "$out/time" "$@" >"$out/out.$n" 2>"$out/err.$n"; then
		echo "bench: failed: $*" >&2
		tail -n 20 "$out/err.$n" >&2
		exit 1
	fi
	read -r t m u sy <"$out/time"
	c=$(awk -v u="$u" -v s="$sy" 'BEGIN { printf "%.2f", u + s }')
	added=$(($(size "$dest") - before))
}
disk_field() { # disk_field FIELD JSON: the first disk's FIELD from envpack's --json
	python3 -c 'import json, sys; print(json.load(open(sys.argv[2]))["disks"][0].get(sys.argv[1], "-"))' "$1" "$2"
}
declare -A T_ M_ C_ R_ D_ S_ MODE_
record() { # record ROW READ [DIRTY [MODE]]: the last run's figures as row ROW
	T_[$1]=$t M_[$1]=$((m / 1024)) C_[$1]=$c S_[$1]=$added R_[$1]=$2 D_[$1]=${3:--} MODE_[$1]=${4:--}
}
envpack_live() { # envpack_live ROW NAME STORE [--init]: a backup of bench-ep into STORE
	run "$2" "$out/ep.qcow2" "$3" "$ENVPACK" backup -q --json ${4:+--init} "${ep_opts[@]}" -k "$out/bench.key" \
		--host bench --connect "$uri" "dir:$3" vm:domain:bench-ep
	record "$1" "$(disk_field bytes_read "$out/out.$n")" "$(disk_field dirty_bytes "$out/out.$n")" \
		"$(disk_field mode "$out/out.$n")"
	cp "$out/out.$n" "$out/$1.json"
}
vnb_run() { # vnb_run ROW LEVEL: virtnbdbackup of bench-peer into $out/vnb
	run "virtnbdbackup -l $2" "$out/peer.qcow2" "$out/vnb" "$vnb" -U "$uri" -d bench-peer -l "$2" -o "$out/vnb" \
		-n -S "$out/tmp" -f "$out/tmp/vnb.sock"
	record "$1" "$(sed -n 's/.* \([0-9]*\) bytes of data extents to backup.*/\1/p' "$out/err.$n" | head -n 1)" "-" "$2"
}
data_bytes() { # data_bytes MAP: the bytes of the data extents (not holes, not zeros) in nbdinfo --map output
	awk 'int($3 / 2) % 2 == 0 { n += $2 } END { printf "%.0f\n", n }' "$1"
}

# a. offline: the image itself, through envpack's qcow2 reader
data_a=$(qemu-img map --output=json "$img/disk.qcow2" |
	python3 -c 'import json, sys; print(sum(e["length"] for e in json.load(sys.stdin) if e["data"] and not e["zero"]))')
run "offline backup" "$img/disk.qcow2" "$out/store-offline" "$ENVPACK" backup -q --init "${ep_opts[@]}" \
	-k "$out/bench.key" --host bench "dir:$out/store-offline" "disk:$img/disk.qcow2"
record a "$data_a" - offline
# b. the first live backup of the running domain, and the peer's
envpack_live b "live backup, first" "$out/store" --init
[ -z "$vnb" ] || vnb_run vf full
# c. 1 % of the disk rewritten by the guest in both domains, then the incremental backups
say "guest writes: $MOD_COUNT x $MOD_MIB MiB at $(printf '%s ' "${offsets[@]}")"
guest_writes bench-ep && guest_writes bench-peer || exit 1
envpack_live c "live backup, incremental" "$out/store"
[ -z "$vnb" ] || vnb_run vi inc
# d. what reading the changed disk whole costs, into a second fresh store
envpack_live d "live backup, full after the change" "$out/store2" --init
# f. nothing written since c: what an incremental backup costs beyond reading
envpack_live f "live backup, nothing changed" "$out/store"
# e. nbdcopy of the whole export of a backup job begun and ended by hand
sock=$out/tmp/copy.sock
cat "$out/ep.qcow2" >/dev/null
say "nbdcopy of the export"
e_start=$EPOCHREALTIME
libvirt_backup_begin bench-ep "$sock" bench-nbdcopy || { echo "bench: the backup job for nbdcopy did not begin" >&2; exit 1; }
run nbdcopy /dev/null "$out/copy.raw" nbdcopy "nbd+unix:///sda?socket=$sock" "$out/copy.raw"
virsh -q domjobabort bench-ep
e_wall=$(awk -v a="$e_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
e_copy=$t
added=$(du -B1 "$out/copy.raw" | cut -f1) # allocated: the copy is sparse
# what nbdcopy had to read: the export's data extents, mapped in another job (not timed)
libvirt_backup_begin bench-ep "$sock" bench-map && nbdinfo --map "nbd+unix:///sda?socket=$sock" >"$out/map" &&
	virsh -q domjobabort bench-ep || { echo "bench: nbdinfo could not map the export" >&2; exit 1; }
record e "$(data_bytes "$out/map")" - copy
T_[e]=$e_wall

# the incremental snapshot restores to what nbdcopy read, byte for byte (not timed)
say "checking the incremental snapshot against nbdcopy's copy"
"$ENVPACK" restore -q -p "$out/bench.pub" "${ep_read[@]}" \
	"dir:$out/store@$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["snapshot"])' "$out/c.json")" \
	--to "dir:$out/restored"
qemu-img compare -q -f raw -F raw "$out/copy.raw" "$out/restored/ep.raw" ||
	{ echo "bench: the incremental snapshot is not the disk nbdcopy read" >&2; exit 1; }
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

printf '%s\n' "$(sed -n 3p "$img/content.txt")"
printf 'disk: qcow2, %s virtual, %s of data; %s guest writes of %s MiB (%s bytes) after the first backups; %s cores\n' \
	"$(qemu-img info --output=json "$img/disk.qcow2" | python3 -c 'import json, sys; print(json.load(sys.stdin)["virtual-size"])') bytes" \
	"$data_a bytes" "$MOD_COUNT" "$MOD_MIB" "$((MOD_COUNT * MOD_MIB << 20))" "$(nproc)"
printf 'load average: %s at start, %s at end\n' "$load_start" "$load_end"
printf '%s; %s; %s; libvirt %s, %s\n' "$("$ENVPACK" --version 2>/dev/null | head -n1 || echo envpack)" \
	"${vnb:+virtnbdbackup $("$vnb" -V 2>&1 | tail -n1)}" "$(nbdcopy --version | head -n1)" \
	"$(virsh -q version --daemon | sed -n 's/^Running against daemon: //p')" "$(qemu-system-x86_64 --version | head -n1)"
echo "envpack: signed (Ed25519), $([ -n "${EP_ENCRYPT:-}" ] && echo "encrypted (X25519, AES-256-GCM)" || echo "not encrypted"), zstd -${EP_LEVEL:-5}; virtnbdbackup: stream format, uncompressed; nbdcopy: to a sparse raw file"
rows=(a b c d f vf vi e)
declare -A label=([a]="envpack offline (disk:)" [b]="envpack live, first" [c]="envpack live, incremental"
	[d]="envpack live, full after" [f]="envpack live, unchanged"
	[vf]="virtnbdbackup -l full" [vi]="virtnbdbackup -l inc" [e]="nbdcopy of the export")
printf '%-26s | %-11s | %8s | %8s | %7s | %12s | %12s | %12s\n' run mode seconds "CPU s" "RSS MiB" "bytes read" \
	"dirty bytes" "bytes stored"
for r in "${rows[@]}"; do
	[ -n "${T_[$r]:-}" ] || continue
	printf '%-26s | %-11s | %8s | %8s | %7s | %12s | %12s | %12s\n' "${label[$r]}" "${MODE_[$r]}" "${T_[$r]}" "${C_[$r]}" "${M_[$r]}" \
		"${R_[$r]}" "${D_[$r]}" "${S_[$r]}"
done
echo "bytes read: envpack's --json bytes_read; virtnbdbackup's data extents; nbdcopy's and the offline image's data extents (nbdinfo --map, qemu-img map)"
echo "CPU s: the command's user + system time (not qemu's); nbdcopy: ${e_copy} s copying, the rest beginning and aborting the job"
r1=$(ratio "${R_[c]}" "${D_[c]}") r2=$(ratio "${T_[c]}" "${T_[d]}") r3=$(ratio "${T_[b]}" "${T_[a]}")
printf 'incremental bytes read / dirty bytes:          %6s  (goal <= 1.5: %s)\n' "$r1" "$(goal "$r1" 1.5)"
printf 'incremental time / full live time after:       %6s  (goal <= 0.1: %s; / the first full: %s)\n' "$r2" \
	"$(goal "$r2" 0.1)" "$(ratio "${T_[c]}" "${T_[b]}")"
printf 'full live time / offline time:                 %6s  (goal <= 1.2: %s; CPU seconds %s)\n' "$r3" "$(goal "$r3" 1.2)" \
	"$(ratio "${C_[b]}" "${C_[a]}")"
printf 'envpack full live / nbdcopy (time):            %6s  (bytes read %s)\n' "$(ratio "${T_[d]}" "${T_[e]}")" \
	"$(ratio "${R_[d]}" "${R_[e]}")"
if [ -n "$vnb" ]; then
	printf 'envpack / virtnbdbackup, full (time):          %6s  (bytes read %s, stored %s)\n' "$(ratio "${T_[b]}" "${T_[vf]}")" \
		"$(ratio "${R_[b]}" "${R_[vf]}")" "$(ratio "${S_[b]}" "${S_[vf]}")"
	printf 'envpack / virtnbdbackup, incremental (time):   %6s  (bytes read %s, stored %s)\n' "$(ratio "${T_[c]}" "${T_[vi]}")" \
		"$(ratio "${R_[c]}" "${R_[vi]}")" "$(ratio "${S_[c]}" "${S_[vi]}")"
fi
echo "ratios: lower is better"
