#!/usr/bin/env bash
# bench/drill.sh — booting a machine from its backup: instant recovery (envpack drill,
# restore --instant) next to restoring first and booting the restored disk, in one run,
# for a 4 GiB disk and for the same data in a 64 GiB one:
#   a. restore, then boot: envpack restore STORE@latest --to dir:X, then qemu boots
#      X/disk.raw; timed from the start of the restore to the marker line on COM1
#   i. restore --instant, then boot: --to dir:Y --instant (qcow2 overlays over the
#      backup served by nbdkit), then the same qemu boots Y/disk.qcow2; same timing
#   b. envpack drill STORE --expect-serial MARKER --json: the marker seen in its
#      guest's serial file (in the drill's private directory, read from outside) from
#      the command's start, its rto_seconds (from the machine's drill starting: after
#      the signature and the catalog were read, to its own check passing), and the
#      whole command's wall time (then qemu stopped, files removed)
#   c. time to the guest's first boot-sector read: in a and i, qemu's trace event
#      ide_sector_read of sector 0 (SeaBIOS reading the MBR), on qemu's clock
#      (-msg timestamp=on), from the same start as the marker. The drill's qemu
#      cannot be traced from outside, so its marker time stands for it (the boot
#      code prints the line microseconds after the BIOS read it; a and i show the gap)
#   d. copying the disk out: qemu-img convert -O raw from `envpack serve`'s export
#      (timed from starting serve, and the convert alone) next to envpack restore
#      --to dir: of the same snapshot
# Printed: seconds for each, best of RUNS (default 3) per row, each timed step begun
# after a sync (no dirty pages of the last step's output left to write back; the
# restore's output is removed before the copy) and with the store read into the page
# cache; then the ratios, with their goals: instant
# time-to-marker 64 GiB / 4 GiB <= 1.1 (the drill's), instant / restore-then-boot
# <= 0.2 (the drill's time to the marker over a's), qemu-img convert from the export /
# envpack restore <= 1.2. Load average at start and end.
#
# The disk is ../shared/bench/make-disk.sh's: a 4 GiB sparse raw image holding ext4
# on the whole device (no partition table) with ~1 GiB of files, copied here and made
# bootable: tests/tools/mkboot.py's boot code (it prints "ENVPACK-BOOT-OK bench-drill"
# on COM1 and halts) and the 0x55AA signature written into sector 0 (ext4 leaves the
# first 1024 bytes alone: e2fsck still passes, checked). The 64 GiB disk is that
# copy truncated up: the same 4 GiB at its start, then a 60 GiB hole. Each is backed
# up into its own dir: store (envpack backup, zstd 5, signed), not timed.
#
# Fairness: every boot is qemu-system-x86_64 with TCG (-machine pc, 1 vCPU, the
# drill's memory, -display none, -serial file, -no-reboot), the disk on IDE as the
# drill puts it; this script polls each guest's serial file every 0.02 s (the drill
# polls its own every 0.1 s, which its rto includes). a's restore writes the whole
# disk (holes as holes) and verifies every chunk before the boot starts; i and b read
# only what the BIOS asks for, each chunk verified as it is served. b also starts
# nbdkit and makes its overlays inside the timed span, as i does (envpack restore
# --instant). The restored and copied disks are compared with the source (qemu-img
# compare, not timed). Needs qemu-system-x86_64, qemu-img, nbdkit, nbdinfo.
#
# QUICK=1: a 512 MiB disk (~40 MiB of files) and an 8 GiB big one, under
# /tmp/envpack-bench-drill-quick, one run each, for trying the script; DISK_SIZE,
# SRC_DIRS and BENCH_DIR are make-disk.sh's and are honoured as they are; BIG_SIZE
# (default 64G) the big disk's size. COPY_ONLY=1: route d alone (no qemu boots), and its
# rows and ratio alone.
if [ -n "${QUICK:-}" ]; then
	export BENCH_DIR=${BENCH_DIR:-/tmp/envpack-bench-drill-quick} DISK_SIZE=${DISK_SIZE:-512M}
	export SRC_DIRS=${SRC_DIRS:-/usr/share/man} MOD_COUNT=${MOD_COUNT:-5} MOD_MIB=${MOD_MIB:-1}
	BIG_SIZE=${BIG_SIZE:-8G} RUNS=${RUNS:-1}
fi
BIG_SIZE=${BIG_SIZE:-64G}
source "$(dirname "$0")/lib.sh"
for c in qemu-system-x86_64 qemu-img nbdkit nbdinfo python3; do
	command -v "$c" >/dev/null || { echo "bench: needs $c (scripts/deps.sh installs it)" >&2; exit 1; }
done
img=$B/img
out=$B/drill
rm -rf "$out"
mkdir -p "$out/tmp"
export TMPDIR=$out/tmp # the drills' private directories, envpack serve's scratch
TAG=bench-drill
MARKER="ENVPACK-BOOT-OK $TAG"
pids=() # what this script started and stops: qemu, envpack serve, instant restores' nbdkit
untrack() { # untrack PID: stopped, no longer ours to stop
	local p kept=()
	for p in "${pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
	pids=("${kept[@]}")
}
stop_pid() { # stop_pid PID: TERM, then KILL after 5 s; reaped if it is our child
	if kill "$1" 2>/dev/null; then
		for _ in $(seq 50); do
			kill -0 "$1" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$1" 2>/dev/null || true
	fi
	wait "$1" 2>/dev/null || true
	untrack "$1"
}
cleanup() {
	local p
	for p in "${pids[@]}"; do stop_pid "$p"; done
	rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { echo "bench: $*" >&2; }
fail() {
	echo "bench: $*" >&2
	exit 1
}
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; } # since START END

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say "load average at start: $load_start"
"$ENVPACK" keygen -o "$out/bench" >/dev/null
export ENVPACK_STATE_DIR=$out/envpack-state

# the bootable disks: mkboot.py's sector 0 for a disk this size, its boot code and
# signature over the copy's sector 0 (bytes 0-445 and 510-511; the partition entry
# mkboot.py adds for a big disk is left out: this disk has none)
size4=$(stat -c %s "$img/disk.raw")
mkdir -p "$out/d4" "$out/d64"
python3 "$here/../tests/tools/mkboot.py" -s "$size4" "$out/tmp/mbr.raw" "$TAG"
cp --sparse=always "$img/disk.raw" "$out/d4/disk.raw"
dd if="$out/tmp/mbr.raw" of="$out/d4/disk.raw" bs=446 count=1 conv=notrunc status=none
dd if="$out/tmp/mbr.raw" of="$out/d4/disk.raw" bs=1 skip=510 seek=510 count=2 conv=notrunc status=none
rm -f "$out/tmp/mbr.raw"
e2fsck -fn "$out/d4/disk.raw" >/dev/null 2>&1 || fail "the file system did not survive the boot sector"
cp --sparse=always "$out/d4/disk.raw" "$out/d64/disk.raw"
truncate -s "$BIG_SIZE" "$out/d64/disk.raw"
sizes=(4 64)
declare -A label_size=([4]="$(numfmt --to=iec "$size4")" [64]="$(numfmt --to=iec "$(stat -c %s "$out/d64/disk.raw")")")
declare -A backup_s
for s in "${sizes[@]}"; do
	say "backing up the ${label_size[$s]} disk"
	t0=$(now)
	"$ENVPACK" backup -q --init -k "$out/bench.key" --host bench "dir:$out/store$s" "disk:$out/d$s/disk.raw" ||
		fail "the backup of the ${label_size[$s]} disk failed"
	backup_s[$s]=$(since "$t0" "$(now)")
done
pub=$out/bench.pub
# before each timed step: no dirty pages left to write back from the last one, and the
# store in the page cache
warm() {
	sync
	find "$out/store$1" -type f -exec cat {} + >/dev/null
}

# boot FILE FORMAT START: qemu boots FILE, traced; waits for the marker (at most 300 s)
# and stops qemu; sets sector (seconds from START to the BIOS reading sector 0) and
# marker (from START to the marker line on COM1)
boot() {
	local file=$1 fmt=$2 start=$3 dir=$out/boot qpid t=""
	rm -rf "$dir"
	mkdir -p "$dir"
	qemu-system-x86_64 -msg timestamp=on -machine pc -accel tcg -m "$mem" -smp 1 -display none -monitor none \
		-serial "file:$dir/serial.log" -no-reboot -nic none \
		-drive "file=$file,format=$fmt,if=none,id=d0" -device ide-hd,drive=d0,bus=ide.0,unit=0 \
		-trace ide_sector_read -D "$dir/trace.log" </dev/null >"$dir/qemu.err" 2>&1 &
	qpid=$!
	pids+=("$qpid")
	for _ in $(seq 15000); do
		grep -qaF "$MARKER" "$dir/serial.log" 2>/dev/null && t=$(now) && break
		kill -0 "$qpid" 2>/dev/null || break
		sleep 0.02
	done
	stop_pid "$qpid"
	[ -n "$t" ] || { tail -n 5 "$dir/qemu.err" >&2; fail "qemu did not print '$MARKER' booting $file"; }
	marker=$(since "$start" "$t")
	# "PID@SECONDS.MICRO:ide_sector_read sector=0 nsectors=1"
	sector=$(sed -n '/^[0-9]*@\([0-9.]*\):ide_sector_read sector=0 .*/{s//\1/p;q}' "$dir/trace.log")
	[ -n "$sector" ] && sector=$(since "$start" "$sector") || sector=-
}

better() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(b == "" || a + 0 < b + 0) }'; } # better NEW BEST
declare -A R # R[ROUTE,SIZE,FIELD]: the best run's figures (the run with the lowest marker time)

# a. restore, then boot the restored raw disk
route_a() {
	local s=$1 t0 t1
	rm -rf "$out/restored"
	t0=$(now)
	"$ENVPACK" restore -q -p "$pub" "dir:$out/store$s@latest" --to "dir:$out/restored" || fail "restore failed"
	t1=$(now)
	boot "$out/restored/disk.raw" raw "$t0"
	rm -rf "$out/restored" # not left to be written back during the next route
	if better "$marker" "${R[a,$s,marker]:-}"; then
		R[a,$s,ready]=$(since "$t0" "$t1") R[a,$s,sector]=$sector R[a,$s,marker]=$marker
	fi
}

# i. restore --instant, then boot its overlay; its nbdkit stopped after (by its pid)
route_i() {
	local s=$1 t0 t1 npid
	rm -rf "$out/instant"
	t0=$(now)
	"$ENVPACK" restore -q --json -p "$pub" "dir:$out/store$s@latest" --to "dir:$out/instant" --instant \
		>"$out/instant.json" || fail "restore --instant failed"
	t1=$(now)
	# its nbdkit's pid, by sed: python3 (a pyenv shim here) would add tenths of a second
	npid=$(sed -n 's/.*"instant":{[^}]*"pid":\([0-9]*\).*/\1/p' "$out/instant.json")
	[ -n "$npid" ] || fail "restore --instant --json named no nbdkit pid"
	pids+=("$npid")
	boot "$out/instant/disk.qcow2" qcow2 "$t0"
	stop_pid "$npid"
	if better "$marker" "${R[i,$s,marker]:-}"; then
		R[i,$s,ready]=$(since "$t0" "$t1") R[i,$s,sector]=$sector R[i,$s,marker]=$marker
	fi
}

# b. envpack drill; the marker seen in its guest's serial file (in its private directory
# under a TMPDIR of its own), polled as a and i poll theirs
route_b() {
	local s=$1 t0 t1 t="" dpid rc tmp=$out/tmp/drill
	rm -rf "$tmp"
	mkdir -p "$tmp"
	t0=$(now)
	TMPDIR=$tmp "$ENVPACK" drill -p "$pub" --json "$out/store$s" --expect-serial "$MARKER" --timeout 300 \
		>"$out/drill.json" 2>"$out/drill.err" &
	dpid=$!
	pids+=("$dpid")
	while kill -0 "$dpid" 2>/dev/null; do
		[ -z "$t" ] && grep -qsaF "$MARKER" "$tmp"/envpack-drill-*/serial.log && t=$(now)
		sleep 0.02
	done
	wait "$dpid" || { rc=$? && cat "$out/drill.err" >&2 && fail "envpack drill failed (exit $rc)"; }
	untrack "$dpid"
	t1=$(now)
	[ -n "$t" ] || fail "the drill passed, but its serial file never showed '$MARKER' here"
	local rto check bytes
	read -r rto check bytes < <(python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))["machines"][0]
print("%.2f %.2f %d" % (m["rto_seconds"], m["checks"][0]["seconds"], m["bytes_read"]))' "$out/drill.json")
	if better "$(since "$t0" "$t")" "${R[b,$s,marker]:-}"; then
		R[b,$s,marker]=$(since "$t0" "$t") R[b,$s,wall]=$(since "$t0" "$t1") R[b,$s,rto]=$rto
		R[b,$s,check]=$check R[b,$s,bytes]=$bytes
	fi
}

# the drill's qemu: its memory, from its command line while it runs (a and i use the same)
mem_of_drill() {
	local dpid q m=""
	"$ENVPACK" drill -q -p "$pub" "$out/store4" --expect-serial "NEVER-PRINTED" --timeout 5 2>/dev/null &
	dpid=$!
	pids+=("$dpid")
	for _ in $(seq 100); do
		q=$(pgrep -P "$dpid" -f qemu-system-x86_64 || true)
		[ -n "$q" ] && m=$(tr '\0' '\n' <"/proc/${q%%$'\n'*}/cmdline" 2>/dev/null | sed -n '/^-m$/{n;p;q}') && [ -n "$m" ] && break
		sleep 0.05
	done
	wait "$dpid" 2>/dev/null || true # it gives up after 5 s, cleaning up after itself
	echo "$m"
}
boots=(a i b)
[ -z "${COPY_ONLY:-}" ] || boots=()
if [ ${#boots[@]} -gt 0 ]; then
	mem=$(mem_of_drill)
	[ -n "$mem" ] || fail "could not see the drill's qemu (its -m) while it ran"
	say "the drill's qemu has -m $mem"
fi

# d. copying the disk out: envpack restore --to dir:, and qemu-img convert from envpack serve
route_d() {
	local s=$1 t0 t1 t2 spid sock=$out/tmp/serve.sock
	rm -rf "$out/restored" "$out/copy.raw"
	warm "$s"
	t0=$(now)
	"$ENVPACK" restore -q -p "$pub" "dir:$out/store$s@latest" --to "dir:$out/restored" || fail "restore failed"
	t1=$(now)
	better "$(since "$t0" "$t1")" "${R[d,$s,restore]:-}" && R[d,$s,restore]=$(since "$t0" "$t1")
	[ "$run" != "$RUNS" ] || qemu-img compare -q -f raw -F raw "$out/d$s/disk.raw" "$out/restored/disk.raw" ||
		fail "envpack restore's ${label_size[$s]} disk differs from the source"
	rm -rf "$out/restored" "$sock" # its pages are not written back during the copy
	warm "$s"
	t0=$(now)
	"$ENVPACK" serve -q -p "$pub" --socket "$sock" "dir:$out/store$s@latest" >"$out/serve.err" 2>&1 &
	spid=$!
	pids+=("$spid")
	for _ in $(seq 3000); do
		[ -S "$sock" ] && nbdinfo --list "nbd+unix://?socket=$sock" >/dev/null 2>&1 && break
		kill -0 "$spid" 2>/dev/null || { cat "$out/serve.err" >&2; fail "envpack serve ended"; }
		sleep 0.02
	done
	t1=$(now)
	qemu-img convert -O raw "nbd+unix:///disk?socket=$sock" "$out/copy.raw" || fail "qemu-img convert failed"
	t2=$(now)
	stop_pid "$spid"
	if better "$(since "$t0" "$t2")" "${R[d,$s,serve]:-}"; then
		R[d,$s,serve]=$(since "$t0" "$t2") R[d,$s,convert]=$(since "$t1" "$t2")
	fi
}

for s in "${sizes[@]}"; do
	for run in $(seq "$RUNS"); do
		for r in "${boots[@]}"; do
			say "${label_size[$s]} disk, run $run: route $r"
			warm "$s"
			"route_$r" "$s"
		done
		say "${label_size[$s]} disk, run $run: copying out"
		route_d "$s"
	done
	# what was copied is the disk (not timed; the restore was compared in route_d)
	qemu-img compare -q -f raw -F raw "$out/d$s/disk.raw" "$out/copy.raw" ||
		fail "qemu-img convert's copy of the ${label_size[$s]} export differs from the source"
	rm -rf "$out/restored" "$out/copy.raw" "$out/instant"
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

printf '%s\n' "$(sed -n 3p "$img/content.txt")"
printf 'disks: raw, %s and %s virtual (the same %s bytes allocated); stores: %s and %s bytes (backed up in %s and %s s); %s cores\n' \
	"${label_size[4]}" "${label_size[64]}" "$(du -B1 "$out/d4/disk.raw" | cut -f1)" "$(du -sb "$out/store4" | cut -f1)" \
	"$(du -sb "$out/store64" | cut -f1)" "${backup_s[4]}" "${backup_s[64]}" "$(nproc)"
printf 'load average: %s at start, %s at end\n' "$load_start" "$load_end"
printf '%s; %s; %s; %s\n' "$("$ENVPACK" --version 2>/dev/null | head -n1 || echo envpack)" \
	"$(qemu-system-x86_64 --version | head -n1)" "$(nbdkit --version | head -n1)" "$(qemu-img --version | head -n1)"
if [ ${#boots[@]} -gt 0 ]; then
	echo "qemu: TCG, -machine pc, 1 vCPU, $mem MiB, IDE; best of $RUNS runs per row; seconds from the start of the route's first command"
	printf '%-34s | %-5s | %8s | %8s | %8s | %8s | %8s\n' route disk ready "1st read" marker rto wall
	for s in "${sizes[@]}"; do
		printf '%-34s | %-5s | %8s | %8s | %8s | %8s | %8s\n' "a. restore, then boot" "${label_size[$s]}" "${R[a,$s,ready]}" \
			"${R[a,$s,sector]}" "${R[a,$s,marker]}" - -
		printf '%-34s | %-5s | %8s | %8s | %8s | %8s | %8s\n' "i. restore --instant, then boot" "${label_size[$s]}" \
			"${R[i,$s,ready]}" "${R[i,$s,sector]}" "${R[i,$s,marker]}" - -
		printf '%-34s | %-5s | %8s | %8s | %8s | %8s | %8s\n' "b. envpack drill" "${label_size[$s]}" - - "${R[b,$s,marker]}" \
			"${R[b,$s,rto]}" "${R[b,$s,wall]}"
	done
	echo "ready: the restore (a: every byte written; i: overlays made, nbdkit serving) returned; 1st read: qemu's trace of the"
	echo "BIOS reading sector 0 (c); marker: the line seen in the guest's serial file (b: the drill's, read from outside; its own"
	printf 'check passed at %s / %s s of rto); rto: the drill'"'"'s rto_seconds; wall: the drill command; it read %s / %s bytes from the store\n' \
		"${R[b,4,check]}" "${R[b,64,check]}" "${R[b,4,bytes]}" "${R[b,64,bytes]}"
fi
printf '%-34s | %-5s | %8s | %8s | %8s\n' "copy out (d)" disk seconds convert ratio
for s in "${sizes[@]}"; do
	printf '%-34s | %-5s | %8s | %8s | %8s\n' "envpack restore --to dir:" "${label_size[$s]}" "${R[d,$s,restore]}" - -
	printf '%-34s | %-5s | %8s | %8s | %8s\n' "envpack serve + qemu-img convert" "${label_size[$s]}" "${R[d,$s,serve]}" \
		"${R[d,$s,convert]}" "$(ratio "${R[d,$s,serve]}" "${R[d,$s,restore]}")"
done
echo "seconds: from starting envpack serve (signature checked, nbdkit up) to the copy written; convert: the qemu-img convert alone"
if [ ${#boots[@]} -gt 0 ]; then
	r1=$(ratio "${R[b,64,marker]}" "${R[b,4,marker]}")
	printf 'instant time-to-marker %s / %s (drill):   %6s  (goal <= 1.1: %s; rto %s, restore --instant %s)\n' \
		"${label_size[64]}" "${label_size[4]}" "$r1" "$(goal "$r1" 1.1)" "$(ratio "${R[b,64,rto]}" "${R[b,4,rto]}")" \
		"$(ratio "${R[i,64,marker]}" "${R[i,4,marker]}")"
	for s in "${sizes[@]}"; do
		r2=$(ratio "${R[b,$s,marker]}" "${R[a,$s,marker]}")
		printf 'instant / restore-then-boot, %-5s:        %6s  (goal <= 0.2: %s; drill wall %s, restore --instant %s)\n' \
			"${label_size[$s]}" "$r2" "$(goal "$r2" 0.2)" "$(ratio "${R[b,$s,wall]}" "${R[a,$s,marker]}")" \
			"$(ratio "${R[i,$s,marker]}" "${R[a,$s,marker]}")"
	done
fi
for s in "${sizes[@]}"; do
	r3=$(ratio "${R[d,$s,serve]}" "${R[d,$s,restore]}")
	printf 'qemu-img convert from the export / restore, %-5s: %6s  (goal <= 1.2: %s; the convert alone %s)\n' \
		"${label_size[$s]}" "$r3" "$(goal "$r3" 1.2)" "$(ratio "${R[d,$s,convert]}" "${R[d,$s,restore]}")"
done
echo "ratios: lower is better"
