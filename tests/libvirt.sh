# A real libvirtd (Debian 12's 9.0, QEMU 7.2, TCG) private to one test run, and
# guests whose disks are written as a guest would write them. Sourced after
# tests/lib.sh (it needs $T). Needs root (the system-mode qemu driver).
#
#   libvirt_start            libvirtd and virtlogd in a mount and pid namespace of their
#                            own, every file of theirs under $T/libvirt; exports
#                            LIBVIRT_DEFAULT_URI; prints how long the start took. Fails
#                            (1, the reason and the log's tail on stderr) if it cannot start
#   libvirt_define NAME DISK...
#                            defines (persistent: checkpoints outlive a restart) a TCG
#                            domain with the DISKs (absolute paths; qcow2 v3 for checkpoints,
#                            or raw), targets sda, sdb, ... on SATA (devices sata0-0-0, ...);
#                            no OS, network or graphics; its UUID derived from NAME. With
#                            LV_QEMU_USER=USER:GROUP its qemu runs as that user (a static
#                            DAC label), not root
#   libvirt_domain NAME DISK...  libvirt_define, then starts it
#   libvirt_guest_write NAME OFFSET LEN PATTERN [DEVICE]
#                            writes LEN bytes of PATTERN (0xHH) at OFFSET (bytes, or with a
#                            K/M/G suffix) to NAME's running disk DEVICE (the qdev id, default
#                            sata0-0-0; an IDE disk's is ide0-0-0) through the monitor's
#                            qemu-io, as the guest would (dirty bitmaps see it); fails
#                            unless qemu says the write was made
#   libvirt_backup_begin NAME SOCKET CHECKPOINT [FROM]
#                            a pull-mode backup job of disk sda, exported over NBD on the
#                            unix SOCKET as export "sda", taking checkpoint CHECKPOINT;
#                            with FROM incremental since checkpoint FROM (the dirty bitmap
#                            then exported as qemu:dirty-bitmap:backup-sda)
#   libvirt_stop             stops libvirtd, virtlogd and every guest now (all stop when
#                            the test exits, before lib.sh's trap removes $T)
#
# After libvirt_start: LV_DIR ($T/libvirt: libvirtd.log, virtlogd.log, etc/ the
# configuration, log/qemu/NAME.log each guest's stdout and stderr, lib/ and run/ the
# daemon's state), LV_START_SECONDS (e.g. 2.7), LIBVIRT_DEFAULT_URI
# (qemu:///system?socket=$LV_DIR/sock/libvirt-sock). Settings: LV_MAX_SECONDS (default
# 1800): the daemons and guests are killed after that even if the test was killed.
#
# What was learned setting this up:
# - Nothing of a system libvirtd is read or written: a root libvirtd's paths (/etc/libvirt,
#   /var/lib/libvirt, /run/libvirt, /var/log/libvirt, /var/cache/libvirt) are built in, so
#   $T's directories are bind-mounted over them in a private mount namespace (the empty
#   directories must exist on the host as mount points). unix_sock_dir puts the client
#   socket in $T, reachable from outside; NBD sockets too, since $T is not covered (disk
#   images and sockets must not be under those five directories).
# - The namespace is also a pid namespace (unshare --kill-child): libvirt daemonizes qemu
#   out of every process group, and killing the unshare process is the one way to be sure
#   no guest outlives the test. unshare ignores SIGTERM: it is killed with SIGKILL. Its
#   init must reap (_LV_INIT), else libvirt waits 40 s for each qemu it killed.
# - libvirtd looks up the account libvirt-qemu (built in as the qemu user) before it reads
#   qemu.conf's user = "root", and refuses to start without it ("Failed to parse user").
# - The start takes 2-5 s on 2 cores, most of it probing qemu's capabilities (two
#   binaries; the cache is in $T, so every run probes). The errors about dnsmasq, D-Bus,
#   /dev/kvm, dmidecode and cgroup controllers in libvirtd.log are harmless.
# - qemu.conf: no cgroups (none to set up in a container), no per-guest mount namespace,
#   no security driver but the DAC one libvirt always stacks, owning files as on a stock host
#   (dynamic_ownership: images and scratch files are given to the user qemu runs as, root
#   by default, another with a domain's <seclabel model='dac'>), remember_owner off (no
#   xattrs on the test's images).
# - qemu-io's output goes to qemu's stdout, i.e. log/qemu/NAME.log, not to virsh: virsh
#   prints "" and exits 0 even when the write failed ("write failed: Input/output error"
#   in the log), so the log is read for "wrote LEN/LEN bytes at offset OFF". HMP qemu-io -d
#   takes the qdev id (sata0-0-0); virtio-blk disks refuse it.
# - Bitmap granularity is the qcow2 cluster (64 KiB): a write of 4 KiB makes 64 KiB dirty.
#   The export is named after the disk target (sda), the bitmap backup-sda.
# - A transient domain loses its checkpoint metadata when destroyed: domains are defined.
# - With no bootable disk SeaBIOS would reboot every 60 s: rebootTimeout='-1' keeps it halted.
# - VIRSH_DEFAULT_CONNECT_URI wins over LIBVIRT_DEFAULT_URI for virsh: it is unset here.
# - The backup job's export shows the disk as at the checkpoint (writes during the job are
#   copied to the scratch file first); domjobabort ends the export and removes the scratch.
#
# The XML that works (libvirt_backup_begin writes it):
#   <domainbackup mode='pull'>
#     <incremental>FROM</incremental>                  (incremental jobs only)
#     <server transport='unix' socket='SOCKET'/>
#     <disks><disk name='sda' backup='yes' type='file'><scratch file='SCRATCH'/></disk></disks>
#   </domainbackup>
#   <domaincheckpoint><name>CHECKPOINT</name>
#     <disks><disk name='sda' checkpoint='bitmap'/></disks></domaincheckpoint>
LV_MAX_SECONDS=${LV_MAX_SECONDS:-1800}
LV_DIR=
LV_PID= # the unshare process: killing it ends the namespace and all in it
LV_INIT_PID= # its child, the namespace's init, gone once everything in it is
LV_START_SECONDS=
unset VIRSH_DEFAULT_CONNECT_URI
# The namespace's init (pid 1), run with LV_DIR and LV_MAX_SECONDS: mounts $T's
# directories over libvirt's, starts virtlogd and libvirtd in the foreground, and reaps
# every process that ends in the namespace (libvirt waits for a qemu it killed to be
# gone, and a zombie is not: without a reaper each capabilities probe and each destroy
# takes 40 s). It returns, which ends the namespace and all in it, when either daemon
# ends or after LV_MAX_SECONDS.
_LV_INIT='
import os, signal, subprocess, sys
d, secs = sys.argv[1], int(sys.argv[2])
signal.signal(signal.SIGALRM, lambda *_: os._exit(0))
signal.alarm(secs)
for sub, path in [("etc", "/etc/libvirt"), ("lib", "/var/lib/libvirt"), ("cache", "/var/cache/libvirt"),
                  ("run", "/run/libvirt"), ("log", "/var/log/libvirt")]:
    subprocess.run(["mount", "--bind", f"{d}/{sub}", path], check=True)
daemons = {}
for prog in "virtlogd", "libvirtd":
    p = subprocess.Popen([prog, "-f", f"{d}/etc/{prog}.conf", "-p", f"{d}/{prog}.pid"])
    daemons[p.pid] = prog
while True:
    pid, status = os.waitpid(-1, 0)
    if pid in daemons:
        print(daemons[pid], "ended, wait status", status, file=sys.stderr, flush=True)
        os._exit(1)
'

_lv_fail() { # _lv_fail MESSAGE: says why libvirt_start failed, with the logs' tails
	echo "libvirt_start: $1" >&2
	local f
	for f in "$LV_DIR/daemons.log" "$LV_DIR/libvirtd.log" "$LV_DIR/virtlogd.log"; do
		[ -s "$f" ] && { echo "--- $f:"; tail -n 8 "$f"; } >&2
	done
	libvirt_stop
	return 1
}

libvirt_start() {
	local start i d
	[ -z "$LV_PID" ] || { echo "libvirt_start: libvirtd is running" >&2; return 2; }
	start=$EPOCHREALTIME
	LV_DIR=$T/libvirt
	[ "$(id -u)" = 0 ] || { echo "libvirt_start: needs root (the system-mode qemu driver)" >&2; return 1; }
	for i in libvirtd virtlogd virsh unshare qemu-system-x86_64; do
		command -v "$i" >/dev/null || { echo "libvirt_start: no $i (run scripts/deps.sh)" >&2; return 1; }
	done
	if ! getent passwd libvirt-qemu >/dev/null; then
		useradd --system --no-create-home --home-dir /var/lib/libvirt --shell /usr/sbin/nologin \
			--user-group libvirt-qemu || { echo "libvirt_start: could not create the account libvirt-qemu" >&2; return 1; }
	fi
	mkdir -p /etc/libvirt /var/lib/libvirt /var/cache/libvirt /run/libvirt /var/log/libvirt ||
		{ echo "libvirt_start: could not make the mount points under /etc, /var and /run" >&2; return 1; }
	rm -rf "$LV_DIR"
	for d in etc lib cache run log/qemu sock; do mkdir -p "$LV_DIR/$d"; done
	cat >"$LV_DIR/etc/libvirtd.conf" <<EOF
unix_sock_dir = "$LV_DIR/sock"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:$LV_DIR/libvirtd.log"
EOF
	cat >"$LV_DIR/etc/qemu.conf" <<EOF
user = "root"
group = "root"
dynamic_ownership = 1
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
EOF
	printf 'log_outputs = "3:file:%s/virtlogd.log"\n' "$LV_DIR" >"$LV_DIR/etc/virtlogd.conf"
	# no --listen: no TCP
	unshare --mount --propagation private --pid --fork --kill-child --mount-proc -- \
		python3 -c "$_LV_INIT" "$LV_DIR" "$LV_MAX_SECONDS" >>"$LV_DIR/daemons.log" 2>&1 &
	LV_PID=$!
	disown "$LV_PID" # its SIGKILL is no news: bash says nothing of a disowned job
	for i in $(seq 50); do
		LV_INIT_PID=$(cat "/proc/$LV_PID/task/$LV_PID/children" 2>/dev/null) && [ -n "$LV_INIT_PID" ] && break
		sleep 0.1
	done
	export LIBVIRT_DEFAULT_URI="qemu:///system?socket=$LV_DIR/sock/libvirt-sock"
	for i in $(seq 600); do # 60 s: the capabilities probe is slow on a busy machine
		_lv_alive "$LV_PID" || { _lv_fail "libvirtd or virtlogd ended"; return 1; }
		if [ -S "$LV_DIR/sock/libvirt-sock" ] && timeout 10 virsh -q version >/dev/null 2>&1; then break; fi
		[ "$i" = 600 ] && { _lv_fail "libvirtd did not answer on $LV_DIR/sock/libvirt-sock in 60 s"; return 1; }
		sleep 0.1
	done
	[ -S "$LV_DIR/run/virtlogd-sock" ] || { _lv_fail "virtlogd did not start"; return 1; }
	LV_START_SECONDS=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	echo "# libvirtd started in $LV_START_SECONDS s"
}

_lv_alive() { # _lv_alive PID: PID runs (a zombie does not)
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "${st%% *}" != Z ]
}

libvirt_stop() { # SIGKILL to unshare; the kernel kills the rest of the namespace when its init dies
	local i
	[ -n "$LV_PID" ] || return 0
	kill -9 "$LV_PID" 2>/dev/null
	for i in $(seq 50); do
		_lv_alive "$LV_PID" || { [ -n "$LV_INIT_PID" ] && _lv_alive "$LV_INIT_PID"; } || break
		sleep 0.1
	done
	LV_PID='' LV_INIT_PID=''
}

# run our cleanup first, then whatever EXIT trap was there (lib.sh's removes $T)
_LV_PREV_EXIT=$(trap -p EXIT) # trap -- 'CMD' EXIT
eval "_lv_words=(${_LV_PREV_EXIT:-x x ''})"
_LV_PREV_EXIT=${_lv_words[2]}
unset _lv_words
trap 'libvirt_stop; eval "$_LV_PREV_EXIT"' EXIT

libvirt_define() {
	local name=$1 uuid disk fmt i=0 disks='' seclabel='' letters=abcdefghijklmnopqrstuvwxyz
	shift
	if [ $# -lt 1 ] || [ $# -gt 26 ] || ! [[ $name =~ ^[A-Za-z0-9_-]+$ ]]; then
		echo "usage: libvirt_define NAME /ABSOLUTE/DISK..." >&2
		return 2
	fi
	uuid=$(printf '%s' "$name" | md5sum | sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12}).*/\1-\2-\3-\4-\5/')
	for disk in "$@"; do
		[[ $disk == /* ]] || { echo "libvirt_define: $disk is not an absolute path" >&2; return 2; }
		fmt=$(qemu-img info -U "$disk" | sed -n 's/^file format: //p')
		[ "$fmt" = qcow2 ] || [ "$fmt" = raw ] || { echo "libvirt_define: $disk is not qcow2 or raw" >&2; return 2; }
		disks+="    <disk type='file' device='disk'>
      <driver name='qemu' type='$fmt'/>
      <source file='$disk'/>
      <target dev='sd${letters:i:1}' bus='sata'/>
    </disk>
"
		i=$((i + 1))
	done
	[ -z "${LV_QEMU_USER:-}" ] ||
		seclabel="  <seclabel type='static' model='dac' relabel='yes'><label>$LV_QEMU_USER</label></seclabel>"
	cat >"$LV_DIR/$name.xml" <<XML
<domain type='qemu'>
  <name>$name</name>
  <uuid>$uuid</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <bios rebootTimeout='-1'/>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
$disks    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
$seclabel
</domain>
XML
	virsh -q define "$LV_DIR/$name.xml" >/dev/null
}

libvirt_domain() {
	libvirt_define "$@" && virsh -q start "$1" >/dev/null
}

_lv_bytes() { # _lv_bytes SIZE: SIZE (digits, an optional K, M or G suffix) in bytes
	local n=${1%[KkMmGg]}
	[[ $n =~ ^[0-9]+$ ]] || return 1
	case ${1:${#n}} in
	'') echo "$n" ;;
	[Kk]) echo $((n << 10)) ;;
	[Mm]) echo $((n << 20)) ;;
	[Gg]) echo $((n << 30)) ;;
	esac
}

libvirt_guest_write() {
	local name=$1 off len pat=${4:-} dev=${5:-sata0-0-0} log lines out i
	off=$(_lv_bytes "${2:-}") && len=$(_lv_bytes "${3:-}") && [[ $pat =~ ^0x[0-9a-fA-F]{1,2}$ ]] || {
		echo "usage: libvirt_guest_write NAME OFFSET LEN 0xHH [DEVICE]" >&2
		return 2
	}
	log=$LV_DIR/log/qemu/$name.log
	lines=$(wc -l <"$log" 2>/dev/null || echo 0)
	out=$(virsh qemu-monitor-command "$name" --hmp "qemu-io -d $dev \"write -P $pat $off $len\"" 2>&1)
	[ -z "${out//[[:space:]]/}" ] || { echo "libvirt_guest_write: $out" >&2; return 1; }
	for i in $(seq 100); do # virtlogd passes qemu's stdout on to the log
		out=$(tail -n +"$((lines + 1))" "$log")
		grep -qx "wrote $len/$len bytes at offset $off" <<<"$out" && return 0
		grep -q '^write failed' <<<"$out" && break
		sleep 0.05
	done
	echo "libvirt_guest_write: qemu did not write $len bytes at $off to $name: $(head -n 3 <<<"$out")" >&2
	return 1
}

libvirt_backup_begin() {
	local name=$1 sock=$2 ckpt=$3 from=${4:-}
	cat >"$LV_DIR/backup-$ckpt.xml" <<EOF
<domainbackup mode='pull'>
  ${from:+<incremental>$from</incremental>}
  <server transport='unix' socket='$sock'/>
  <disks>
    <disk name='sda' backup='yes' type='file'><scratch file='$LV_DIR/scratch-$ckpt.qcow2'/></disk>
  </disks>
</domainbackup>
EOF
	cat >"$LV_DIR/checkpoint-$ckpt.xml" <<EOF
<domaincheckpoint>
  <name>$ckpt</name>
  <disks><disk name='sda' checkpoint='bitmap'/></disks>
</domaincheckpoint>
EOF
	virsh -q backup-begin "$name" "$LV_DIR/backup-$ckpt.xml" "$LV_DIR/checkpoint-$ckpt.xml" >/dev/null
}
