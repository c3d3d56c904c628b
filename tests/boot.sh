# Boots disk images in QEMU (TCG, BIOS) and watches COM1 for the marker line
# that tests/tools/mkboot.py's boot sector prints. Sourced after tests/lib.sh
# (it needs $T).
#
#   boot_disk FILE FORMAT TAG [SECONDS]
#       boots FILE, an image in qemu's FORMAT (raw, qcow2, vmdk, vpc, vhdx),
#       with snapshot=on: the guest's writes go to a temporary overlay and FILE
#       is never modified. Returns 0 as soon as the line "ENVPACK-BOOT-OK TAG"
#       appears on the serial port, else 1 with the reason and the tails of the
#       logs on stderr: SECONDS (default 60) passed; qemu exited first (a bad
#       image, or the BIOS found no bootable disk: it then reboots at once and
#       -no-reboot ends qemu); or another disk's marker appeared. qemu is
#       stopped before boot_disk returns.
#   mkboot ARGS...
#       runs tests/tools/mkboot.py (OUT TAG [-s SIZE] [--data MIB] ...)
#
# After each boot_disk:
#   BOOT_DIR      $T/boot.N, this boot's files: serial.log (COM1), bios.log
#                 (SeaBIOS's debug console, port 0x402: "Booting from Hard
#                 Disk...", "Boot failed: not a bootable disk"), qemu.err
#   BOOT_ELAPSED  seconds from starting qemu to the marker (or the failure), e.g. 0.41
# Settings: BOOT_QEMU (default qemu-system-x86_64), BOOT_MKBOOT (the path of mkboot.py).
# Every qemu started here runs under `timeout` (SECONDS + 30) and is killed
# when the test exits, before lib.sh's trap removes $T.
BOOT_QEMU=${BOOT_QEMU:-qemu-system-x86_64}
BOOT_MKBOOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/tools" && pwd)/mkboot.py
BOOT_DIR=
BOOT_ELAPSED=
_BOOT_N=0
_BOOT_RUN_PID='' _BOOT_RUN_PIDFILE='' # while a boot runs: the timeout process, qemu's pid file

mkboot() { python3 "$BOOT_MKBOOT" "$@"; }

_boot_stop() { # _boot_stop TIMEOUT_PID PIDFILE: TERM, then KILL what is left after 5 s
	local tpid=$1 qpid
	kill "$tpid" 2>/dev/null # timeout passes the TERM on to qemu and exits when qemu has
	for _ in $(seq 50); do
		kill -0 "$tpid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$tpid" 2>/dev/null; then # qemu ignored the TERM: KILL it, then timeout
		qpid=$(cat "$2" 2>/dev/null) # qemu removes its pid file when it exits
		[ -n "$qpid" ] && kill -9 "$qpid" 2>/dev/null
		kill -9 "$tpid" 2>/dev/null
	fi
	wait "$tpid" 2>/dev/null
	return 0
}

_boot_cleanup() {
	[ -z "$_BOOT_RUN_PID" ] || _boot_stop "$_BOOT_RUN_PID" "$_BOOT_RUN_PIDFILE"
	_BOOT_RUN_PID=
}
# run our cleanup first, then whatever EXIT trap was there (lib.sh's removes $T)
_BOOT_PREV_EXIT=$(trap -p EXIT) # trap -- 'CMD' EXIT
eval "_boot_words=(${_BOOT_PREV_EXIT:-x x ''})"
_BOOT_PREV_EXIT=${_boot_words[2]}
unset _boot_words
trap '_boot_cleanup; eval "$_BOOT_PREV_EXIT"' EXIT

_boot_us() { echo "${EPOCHREALTIME/./}"; } # microseconds since the epoch

_boot_tails() { # the logs of a failed boot, on stderr
	{
		echo "--- serial (COM1), last lines:"
		tail -n 5 "$BOOT_DIR/serial.log" 2>/dev/null | cat -v
		echo "--- SeaBIOS, last lines:"
		tail -n 5 "$BOOT_DIR/bios.log" 2>/dev/null | cat -v
		if [ -s "$BOOT_DIR/qemu.err" ]; then
			echo "--- qemu stderr:"
			tail -n 5 "$BOOT_DIR/qemu.err"
		fi
	} >&2
}

boot_disk() {
	local file=$1 format=$2 tag=$3 secs=${4:-60} start now deadline tpid why="" line
	if [ $# -lt 3 ] || ! [[ $tag =~ ^[A-Za-z0-9._-]{1,40}$ && $secs =~ ^[0-9]+$ ]]; then
		echo "usage: boot_disk FILE FORMAT TAG [SECONDS] (TAG as mkboot.py takes it)" >&2
		return 2
	fi
	[ -f "$file" ] || { echo "boot_disk: $file: no such file" >&2; return 1; }
	_BOOT_N=$((_BOOT_N + 1))
	BOOT_DIR=$T/boot.$_BOOT_N
	mkdir -p "$BOOT_DIR" || return 1
	start=$(_boot_us)
	deadline=$((start + secs * 1000000))
	# -nodefaults: no NIC (no iPXE), floppy, CD-ROM or monitor; -vga std for the
	# int 0x10 output; reboot-timeout=0 with -no-reboot: no bootable disk ends qemu
	TMPDIR=$BOOT_DIR timeout -k 5 $((secs + 30)) "$BOOT_QEMU" \
		-nodefaults -no-reboot -machine pc -accel tcg -m 64 \
		-display none -vga std -boot order=c,reboot-timeout=0 \
		-drive "file=${file//,/,,},format=$format,if=ide,media=disk,snapshot=on" \
		-serial "file:$BOOT_DIR/serial.log" \
		-chardev "file,id=bios,path=$BOOT_DIR/bios.log" -device isa-debugcon,iobase=0x402,chardev=bios \
		-pidfile "$BOOT_DIR/qemu.pid" \
		</dev/null >"$BOOT_DIR/qemu.err" 2>&1 &
	tpid=$!
	_BOOT_RUN_PID=$tpid _BOOT_RUN_PIDFILE=$BOOT_DIR/qemu.pid
	while :; do
		if grep -qaF "ENVPACK-BOOT-OK $tag"$'\r' "$BOOT_DIR/serial.log" 2>/dev/null; then
			break
		fi
		line=$(grep -aoE 'ENVPACK-BOOT-OK [A-Za-z0-9._-]+'$'\r' "$BOOT_DIR/serial.log" 2>/dev/null | head -n 1)
		# the line may have been completed between the two greps: the right one is no stranger
		[ "${line%$'\r'}" = "ENVPACK-BOOT-OK $tag" ] && break
		if [ -n "$line" ]; then
			why="another disk booted: '${line%$'\r'}', not 'ENVPACK-BOOT-OK $tag'"
			break
		fi
		if ! kill -0 "$tpid" 2>/dev/null; then
			# it may have printed the marker just before it ended
			grep -qaF "ENVPACK-BOOT-OK $tag"$'\r' "$BOOT_DIR/serial.log" 2>/dev/null && break
			wait "$tpid"
			why="qemu exited (status $?) without printing 'ENVPACK-BOOT-OK $tag'"
			break
		fi
		now=$(_boot_us)
		if [ "$now" -ge "$deadline" ]; then
			why="no 'ENVPACK-BOOT-OK $tag' on the serial port within $secs s"
			break
		fi
		sleep 0.1
	done
	_boot_stop "$tpid" "$BOOT_DIR/qemu.pid"
	_BOOT_RUN_PID=
	now=$(_boot_us)
	BOOT_ELAPSED=$(printf '%d.%02d' $(((now - start) / 1000000)) $(((now - start) / 10000 % 100)))
	if [ -n "$why" ]; then
		echo "boot_disk $file ($format): $why (after $BOOT_ELAPSED s; logs in $BOOT_DIR)" >&2
		_boot_tails
		return 1
	fi
	return 0
}
