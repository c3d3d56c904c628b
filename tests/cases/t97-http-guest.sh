# once: it tests a test tool, mkhttpguest.sh, and boots two TCG guests
# tests/tools/mkhttpguest.sh (#16, for envpack drill's tests): a small disk that
# boots in QEMU (TCG, BIOS) into a guest that takes its address by DHCP from an
# isolated slirp network (restrict=on), serves GET / with the disk's tag over an
# e1000 or a virtio-net NIC, and says "ENVPACK-HTTP-READY TAG" on ttyS0 once it
# does. The judges can fail: another disk's tag, a page that is not there.
source "$(dirname "$0")/../lib.sh"
source "$HERE/servers.sh" # free_port; srv_kill stops a guest, and its EXIT trap any left
cd "$T" || exit 1
not() { ! "$@"; }
MK=$HERE/tools/mkhttpguest.sh
mkguest() { TMPDIR=$T/mk bash "$MK" "$@"; } # what a build leaves behind lands in $T/mk
mkdir -p "$T/mk"
secs() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; } # since EPOCHREALTIME $1

# guest_start NAME DISK NIC HOSTPORT GUESTPORT: boots the raw DISK (snapshot=on: never
# written) in the background with NIC on a slirp network that reaches nothing but
# forwards 127.0.0.1:HOSTPORT to the guest's GUESTPORT; its files go to $T/NAME.
# A server of servers.sh under the key guest/NAME.
declare -A GUEST_T0=()
guest_start() {
	local dir=$T/$1
	mkdir -p "$dir"
	GUEST_T0[$1]=$EPOCHREALTIME
	TMPDIR=$dir timeout -k 5 200 qemu-system-x86_64 \
		-nodefaults -no-reboot -machine pc -accel tcg -m 128 -display none \
		-drive "file=$2,format=raw,if=ide,media=disk,snapshot=on" \
		-netdev "user,id=n,restrict=on,hostfwd=tcp:127.0.0.1:$4-:$5" -device "$3,netdev=n" \
		-serial "file:$dir/serial.log" -pidfile "$dir/qemu.pid" \
		</dev/null >"$dir/qemu.err" 2>&1 &
	SRV_PIDS["guest/$1"]=$!
}

# wait_ready NAME TAG SECS: guest NAME said "ENVPACK-HTTP-READY TAG" (a whole line:
# the tty ends it with \r\n). Fails at once on another tag's marker or a FAILED
# line, when qemu ends, or after SECS. Sets BOOT_S, seconds since qemu started.
wait_ready() {
	local log=$T/$1/serial.log deadline=$((${EPOCHREALTIME/./} + $3 * 1000000)) line
	while :; do
		line=$(grep -aoE "ENVPACK-HTTP-(READY|FAILED) [^"$'\r'"]*"$'\r' "$log" 2>/dev/null | head -n 1)
		line=${line%$'\r'}
		BOOT_S=$(secs "${GUEST_T0[$1]}")
		if [ -n "$line" ]; then
			[ "$line" = "ENVPACK-HTTP-READY $2" ] && return 0
			echo "the guest said '$line', not 'ENVPACK-HTTP-READY $2'" >&2
			return 1
		fi
		if ! kill -0 "${SRV_PIDS["guest/$1"]}" 2>/dev/null; then
			echo "qemu ended after $BOOT_S s: $(tail -n 3 "$T/$1/qemu.err")" >&2
			return 1
		fi
		if [ "${EPOCHREALTIME/./}" -ge "$deadline" ]; then
			echo "no 'ENVPACK-HTTP-READY $2' within $3 s; serial: $(tail -n 5 "$log" | cat -v)" >&2
			return 1
		fi
		sleep 0.1
	done
}

# get URL: prints the status (000: no answer); the body goes to $T/body
get() { rm -f "$T/body"; curl -s -m 10 -o "$T/body" -w '%{http_code}' "$1"; }
is() { [ "$1" = "$2" ] || { echo "got '$1', wanted '$2'" >&2; return 1; }; }

# guest_stop NAME HOSTPORT: stops qemu (TERM, then KILL) and checks that nothing is left of it
guest_stop() {
	local dir=$T/$1 qpid s=$EPOCHREALTIME
	qpid=$(cat "$dir/qemu.pid" 2>/dev/null)
	srv_kill "guest/$1"
	echo "# $1: stopping qemu took $(secs "$s") s"
	check "$1: qemu had written its pid" test -n "$qpid"
	check "$1: qemu is gone" not kill -0 "${qpid:-0}"
	check "$1: qemu removed its pid file" test ! -e "$dir/qemu.pid"
	check "$1: qemu stopped on our TERM" grep -q "terminating on signal 15" "$dir/qemu.err"
	check "$1: qemu left no other file" is "$(cd "$dir" && ls -A | tr '\n' ' ')" "qemu.err serial.log "
	expect_exit 7 "$1: the forwarded port is closed" curl -sS -m 5 -o /dev/null "http://127.0.0.1:$2/"
}

run=$RANDOM$RANDOM
tag=t97-a-$run
tag_b=t97-b-$run

# the builds
s=$EPOCHREALTIME
check "mkhttpguest builds a disk" mkguest g.raw "$tag"
echo "# mkhttpguest took $(secs "$s") s"
size=$(stat -c %s g.raw)
echo "# the disk is $((size >> 20)) MiB ($(du -k g.raw | cut -f1) KiB allocated)"
check "the disk is at most 64 MiB" test "$size" -le $((64 << 20))
check "the disk is whole MiB" test $((size % (1 << 20))) = 0
check "sector 0 ends with 55 AA" is "$(od -An -tx1 -j510 -N2 g.raw | tr -d ' ')" 55aa
check "one active FAT16 partition from 1 MiB" is "$(od -An -tx1 -j446 -N1 g.raw | tr -d ' ')$(od -An -tx1 -j450 -N1 g.raw | tr -d ' ')$(od -An -tu4 -j454 -N4 g.raw | tr -d ' ')" 80062048
check "the same arguments build the same disk" mkguest g2.raw "$tag"
check "byte for byte" cmp g.raw g2.raw
check "another tag and port: another disk" mkguest b.raw "$tag_b" 8080
check "it differs" not cmp -s g.raw b.raw
check "the builds left nothing in TMPDIR" is "$(ls -A "$T/mk")" ""
sum=$(sha256sum <g.raw)

# refusals: exit 2 for bad arguments, 1 for an OUT that exists; nothing written
expect_exit 2 "a tag with a space is refused" bash "$MK" x.raw "a b"
expect_err "tag 'a b'" "the message names the tag"
expect_exit 2 "a 41-character tag is refused" bash "$MK" x.raw "$(printf 'a%.0s' $(seq 41))"
expect_exit 2 "port 0 is refused" bash "$MK" x.raw "$tag" 0
expect_err "port '0'" "the message names the port"
expect_exit 2 "port 65536 is refused" bash "$MK" x.raw "$tag" 65536
expect_exit 2 "a port that is no number is refused" bash "$MK" x.raw "$tag" 8o
expect_exit 2 "no tag: usage" bash "$MK" x.raw
expect_err "usage: mkhttpguest.sh OUT.raw TAG" "it says how to call it"
check "none of them wrote anything" is "$(ls x.raw* 2>/dev/null)" ""
expect_exit 1 "an OUT that exists is refused" bash "$MK" g.raw "$tag_b"
expect_err "g.raw exists" "the message names the file"
check "and left as it was" is "$(sha256sum <g.raw)" "$sum"

# two guests at once (the case stays short): as the drill will boot it, e1000 and
# port 80, and with the other NIC and another port
port_a=$(free_port)
port_b=$(free_port)
guest_start e1000 g.raw e1000 "$port_a" 80
guest_start virtio-net b.raw virtio-net-pci "$port_b" 8080

check "e1000: the guest says ENVPACK-HTTP-READY and its tag" wait_ready e1000 "$tag" 150
echo "# e1000: the boot took $BOOT_S s (qemu's start to the marker, or to failing)"
check "e1000: it took its address by DHCP (10.0.2.15)" grep -aq "envpack-guest: eth0 10.0.2.15" "$T/e1000/serial.log"
check "e1000: GET / answers 200" is "$(get "http://127.0.0.1:$port_a/")" 200
check "e1000: the body holds the tag" grep -qF "ENVPACK-HTTP-GUEST $tag<" "$T/body"
check "e1000: not another disk's tag" not grep -qF "$tag_b" "$T/body"
check "e1000: GET of a page that is not there answers 404" is "$(get "http://127.0.0.1:$port_a/nothing-here")" 404
# the judge of the marker fails on a wrong tag, at once (the guest's line is there)
expect_exit 1 "e1000: waiting for another tag fails" wait_ready e1000 "$tag_b" 20
expect_err "the guest said 'ENVPACK-HTTP-READY $tag', not 'ENVPACK-HTTP-READY $tag_b'" "e1000: and says which tag the guest has"
guest_stop e1000 "$port_a"
check "e1000: booting left the disk as it was" is "$(sha256sum <g.raw)" "$sum"

check "virtio-net, port 8080: ENVPACK-HTTP-READY and its tag" wait_ready virtio-net "$tag_b" 150
echo "# virtio-net: the boot took $BOOT_S s"
check "virtio-net: GET / on 8080 answers 200" is "$(get "http://127.0.0.1:$port_b/")" 200
check "virtio-net: the body holds its tag" grep -qF "ENVPACK-HTTP-GUEST $tag_b<" "$T/body"
guest_stop virtio-net "$port_b"
finish
