# Live VM backups (#15): a real libvirtd running a TCG guest, its pull-mode backup
# jobs read over NBD. For now this proves the environment with independent tools
# only (virsh, nbdinfo, nbdcopy): the export holds the disk as it was at the
# checkpoint, and the incremental job's dirty bitmap names exactly what the guest
# wrote since.
source "$(dirname "$0")/../lib.sh"
source "$HERE/libvirt.sh"
cd "$T" || exit 1

# model FILE [OFF LEN 0xHH]...: FILE, a raw 64 MiB disk holding those writes in order
model() {
	local f=$1
	truncate -s 64M "$f"
	shift
	while [ $# -ge 3 ]; do
		head -c "$2" /dev/zero | tr '\0' "\\$(printf '%03o' "$3")" |
			dd of="$f" bs=64K seek="$(($1 / 65536))" conv=notrunc status=none
		shift 3
	done
}
# extents URI [CONTEXT] TYPE: "OFFSET LENGTH" lines of nbdinfo --map's extents of TYPE (a description word)
extents() {
	local uri=$1 ctx=${2:+=$2}
	nbdinfo --map"$ctx" "$uri" | awk -v t="$3" '{ d = $4; for (i = 5; i <= NF; i++) d = d " " $i } d == t { print $1, $2 }'
}
lines() { printf '%s %s\n' "$@"; } # lines OFF LEN OFF LEN...: the same as extents prints

libvirt_start || { not_ok "libvirtd starts: see above"; finish; exit 1; }
ok "libvirtd starts (in $LV_START_SECONDS s)"
check "virsh reaches it by LIBVIRT_DEFAULT_URI" virsh -q version

M=$((1 << 20)) K=$((1 << 10))
qemu-img create -q -f qcow2 -o compat=1.1 "$T/web.qcow2" 64M
check "a persistent TCG domain with a qcow2 disk on SATA starts" libvirt_domain web "$T/web.qcow2"
check "it runs" test "$(virsh -q domstate web)" = running
check "it is persistent" grep -qE '^Persistent: +yes' <(virsh dominfo web)
# before the first checkpoint (all writes 64 KiB-aligned: the bitmap's granularity)
W1=($M $((64 * K)) 0x55) W2=($((5 * M)) $((128 * K)) 0x66)
check "the guest writes (before the checkpoint)" libvirt_guest_write web "${W1[@]}"
libvirt_guest_write web "${W2[@]}"
expect_exit 1 "a write past the disk's end fails" libvirt_guest_write web 64M 64K 0x77
expect_err "did not write 65536 bytes at 67108864" "which says so (qemu's output is in the domain log)"

# full pull-mode job with checkpoint cp1; the guest writes on during it
U1="nbd+unix:///sda?socket=$T/nbd1.sock"
check "backup-begin: a pull-mode job, checkpoint cp1" libvirt_backup_begin web "$T/nbd1.sock" cp1
check "the job runs" grep -q Backup <(virsh domjobinfo web)
W3=($M $((64 * K)) 0xaa) W4=($((9 * M)) $((64 * K)) 0xbb)
check "the guest writes during the job" libvirt_guest_write web "${W3[@]}"
libvirt_guest_write web "${W4[@]}"
check "nbdinfo --map: data only where written before the checkpoint" \
	diff <(extents "$U1" "" data) <(lines "${W1[@]::2}" "${W2[@]::2}")
check "nbdcopy reads the export" nbdcopy "$U1" "$T/full.raw"
model "$T/at-cp1.raw" "${W1[@]}" "${W2[@]}"
check "the copy is the disk at the checkpoint (writes during the job absent)" cmp "$T/full.raw" "$T/at-cp1.raw"
check "domjobabort ends the job" virsh -q domjobabort web
check "no job is left" grep -q None <(virsh domjobinfo web)
check "the scratch file is gone" test ! -e "$LV_DIR/scratch-cp1.qcow2"
check "the export is gone" test ! -S "$T/nbd1.sock"

# incremental from cp1: the dirty bitmap names the writes made since
W5=($((20 * M)) $((192 * K)) 0xcc)
libvirt_guest_write web "${W5[@]}"
U2="nbd+unix:///sda?socket=$T/nbd2.sock"
check "backup-begin: incremental from cp1, checkpoint cp2" libvirt_backup_begin web "$T/nbd2.sock" cp2 cp1
W6=($((30 * M)) $((64 * K)) 0xdd)
libvirt_guest_write web "${W6[@]}"
check "the dirty bitmap names exactly the ranges written since cp1" \
	diff <(extents "$U2" qemu:dirty-bitmap:backup-sda dirty) <(lines "${W3[@]::2}" "${W4[@]::2}" "${W5[@]::2}")
check "nbdcopy reads the incremental job's export" nbdcopy "$U2" "$T/at-cp2.raw"
model "$T/want-cp2.raw" "${W1[@]}" "${W2[@]}" "${W3[@]}" "${W4[@]}" "${W5[@]}"
check "it is the disk at cp2 (the write during this job absent)" cmp "$T/at-cp2.raw" "$T/want-cp2.raw"
virsh -q domjobabort web
check "both checkpoints are listed" diff <(virsh -q checkpoint-list web --name | xargs) <(echo cp1 cp2)

# the checkpoints and their bitmaps outlive a restart of the guest
check "the guest shuts off and starts again" sh -c 'virsh -q destroy web >/dev/null && virsh -q start web >/dev/null'
check "the checkpoints are still there" diff <(virsh -q checkpoint-list web --name | xargs) <(echo cp1 cp2)
W7=($((40 * M)) $((64 * K)) 0xee)
libvirt_guest_write web "${W7[@]}"
check "after the restart, incremental from cp2" libvirt_backup_begin web "$T/nbd3.sock" cp3 cp2
check "its bitmap names the writes since cp2, before and after the restart" \
	diff <(extents "nbd+unix:///sda?socket=$T/nbd3.sock" qemu:dirty-bitmap:backup-sda dirty) <(lines "${W6[@]::2}" "${W7[@]::2}")
virsh -q domjobabort web
finish
