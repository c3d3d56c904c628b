# Incremental live backups of a running libvirt domain (vm:domain:NAME into a store):
# the second backup asks qemu for the blocks written since the first one's checkpoint
# and reads only those; the rest comes from the first snapshot. Judged by nbdcopy of
# the same export (the disk at the checkpoint) and nbdinfo's map of its dirty bitmap.
# Falls back to a whole read, with one line saying why, when the checkpoint was
# deleted by hand, the snapshot forgotten or the disk resized; old checkpoints are
# deleted, another store's kept; an encrypted store's public key alone reads the
# clean parts of changed chunks from the export instead of the store.
source "$(dirname "$0")/../lib.sh"
cd "$T" || exit 1
E=$ENVPACK
DOM=t91
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"

source "$HERE/libvirt.sh"
libvirt_start || { not_ok "libvirtd starts: see above"; finish; exit 1; }

"$E" keygen -o k >/dev/null
"$E" keygen --x25519 -o r >/dev/null
# 40 MiB of seeded data in a 64 MiB qcow2 v3 disk, a hole from 24 to 40 MiB and after 56
python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(91).randbytes(24 << 20))' >rand
truncate -s 64M d.raw
dd if=rand of=d.raw bs=1M conv=notrunc status=none
dd if=rand of=d.raw bs=1M seek=40 count=16 conv=notrunc status=none
qemu-img convert -O qcow2 -o compat=1.1 d.raw d.qcow2 && rm d.raw rand
truncate -s 8M e.raw
printf 'raw disk' | dd of=e.raw bs=1M seek=3 conv=notrunc status=none
check "define and start the domain" libvirt_domain "$DOM" "$T/d.qcow2" "$T/e.raw"

job_running() { virsh domjobinfo "$DOM" 2>/dev/null | grep -q 'Backup'; }
# runs envpack in the background, held (tests/tools/hold_connect.c) before it connects to
# its job's export, until release: $pid
cc -shared -fPIC -o hold.so "$HERE/tools/hold_connect.c" -ldl || not_ok "the connect shim builds"
start_held() {
	touch "$T/hold"
	LD_PRELOAD=$T/hold.so HOLD_CONNECT=$T/hold ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
		"$@" >"$T/out" 2>"$T/err" &
	pid=$!
	for _ in $(seq 3000); do job_running && break; sleep 0.02; done
}
release() { rm -f "$T/hold"; }
# while envpack is held: sda's export as it stands (the disk at the checkpoint) into $1,
# and the bytes its dirty bitmap names (nbdinfo) into $2 when it has one
judge_export() {
	local sock
	sock=$(virsh backup-dumpxml "$DOM" | sed -n "s/.*socket='\([^']*\)'.*/\1/p")
	nbdcopy "nbd+unix:///sda?socket=$sock" "$1" &&
		{ [ -z "${2:-}" ] || nbdinfo --map=qemu:dirty-bitmap:backup-sda "nbd+unix:///sda?socket=$sock" |
			awk '$3 % 2 == 1 {n += $2} END {print n + 0}' >"$2"; }
}
checkpoints() { virsh checkpoint-list "$DOM" --name | grep . | sort | tr '\n' ' '; }
disk_field() { jq_ "[x['$1'] for x in d['disks'] if x['component'] == '$2'][0]" "$3"; }
S=$T/store

# 1. the first backup reads the disks whole and takes a checkpoint
expect_exit 0 "the first backup of the running domain" "$E" backup --init -q --json -k k.key "$S" "vm:domain:$DOM"
cp out b1.json
check "it reads sda whole (mode full)" test "$(disk_field mode d b1.json)" = full
cp1=$(checkpoints)
check "one checkpoint ($cp1)" test "$(echo $cp1 | wc -w)" = 1

# 2. the guest writes; the next backup reads only what it wrote
check "the guest writes in data" libvirt_guest_write "$DOM" 1M 64K 0x55
check "and in a hole" libvirt_guest_write "$DOM" 30M 1M 0x66
check "and across chunks" libvirt_guest_write "$DOM" 10M 3M 0x77
start_held "$E" backup -q --json -k k.key "$S" "vm:domain:$DOM"
check "the second backup's job runs" job_running
check "nbdcopy and nbdinfo read its export" judge_export snap2.raw dirty2
check "a write during the job" libvirt_guest_write "$DOM" 20M 64K 0x99
release
wait "$pid"
check "the second backup succeeds" test $? = 0
cp out b2.json
check "it reads sda incrementally" test "$(disk_field mode d b2.json)" = incremental
check "its dirty bytes are what nbdinfo maps dirty ($(cat dirty2))" test "$(disk_field dirty_bytes d b2.json)" = "$(cat dirty2)"
check "what it read is at most those ($(disk_field bytes_read d b2.json))" test "$(disk_field bytes_read d b2.json)" -le "$(cat dirty2)"
check "and at least the 4 MiB of data written" test "$(disk_field bytes_read d b2.json)" -ge $((4 << 20))
check "it adds chunks, fewer bytes than were dirty ($(disk_field added_bytes d b2.json))" test "$(disk_field added_bytes d b2.json)" -gt 0 -a "$(disk_field added_bytes d b2.json)" -le "$(cat dirty2)"
check "the raw disk is read whole" test "$(disk_field mode e b2.json)" = full
snap2=$(jq_ 'd["snapshot"]' b2.json)
expect_exit 0 "restore the incremental snapshot" "$E" restore -q -p k.pub "$S@$snap2" --to dir:r2
check "sda is the export at the checkpoint, byte for byte" qemu-img compare -q -f raw -F raw snap2.raw r2/d.raw
check "which holds every write before it" bash -c 'cmp -s -n 65536 -i 1048576:0 r2/d.raw <(head -c 65536 /dev/zero | tr "\0" "\125")' 
check "and none during it" bash -c '! cmp -s -n 65536 -i 20971520:0 r2/d.raw <(head -c 65536 /dev/zero | tr "\0" "\231")'
cp2=$(checkpoints)
check "only the new checkpoint is left ($cp2)" test "$(echo $cp2 | wc -w)" = 1 -a "$cp2" != "$cp1"
check "the one the snapshot records" test "$("$E" inspect --json "$S@$snap2" | python3 -c 'import json, sys; print(json.load(sys.stdin)["components"][0]["checkpoint"])') " = "$cp2"
expect_exit 0 "check --read-data" "$E" check -q --read-data "$S"

# 3. nothing written: nothing read
expect_exit 0 "a backup with nothing written" "$E" backup -q --json -k k.key "$S" "vm:domain:$DOM"
check "reads no byte of sda, bar the one write during the last job" test "$(disk_field bytes_read d out)" -le 65536
# what changed is cut again into chunks: the one around that write, about 1 MiB, is new
check "and adds the chunk around it ($(disk_field added_bytes d out))" test "$(disk_field added_bytes d out)" -gt 65536 -a "$(disk_field added_bytes d out)" -le $((4 << 20))

# 4. another store: its own full backup and checkpoint; this store's stays
expect_exit 0 "a first backup into a second store" "$E" backup --init -q --json -k k.key "$T/other" "vm:domain:$DOM"
check "is full" test "$(disk_field mode d out)" = full
check "two checkpoints now, one per store" test "$(checkpoints | wc -w)" = 2
check "the guest writes again" libvirt_guest_write "$DOM" 2M 64K 0x42
expect_exit 0 "the first store's next backup" "$E" backup -q --json -k k.key "$S" "vm:domain:$DOM"
check "is incremental still" test "$(disk_field mode d out)" = incremental

# 5. fallbacks: a whole read, one line saying why
snap4=$(jq_ 'd["snapshot"]' out)
cpS=$("$E" inspect --json "$S@$snap4" | python3 -c 'import json, sys; print(json.load(sys.stdin)["components"][0]["checkpoint"])')
check "delete this store's checkpoint by hand" virsh checkpoint-delete "$DOM" "$cpS"
start_held "$E" backup --json -k k.key "$S" "vm:domain:$DOM"
check "with its checkpoint deleted by hand, the export is read" judge_export snap5.raw
release
wait "$pid"
check "the backup succeeds" test $? = 0
check "whole" test "$(disk_field mode d out)" = full
expect_err "domain '$DOM': disk sda is read whole: its checkpoint envpack-[0-9a-f]{16} is gone" "saying why in one line"
check "one line" test "$(grep -c . "$T/err")" = 1
snap5=$(jq_ 'd["snapshot"]' out)
expect_exit 0 "restore it" "$E" restore -q -p k.pub "$S@$snap5" --to dir:r5
check "it is the export" qemu-img compare -q -f raw -F raw snap5.raw r5/d.raw

expect_exit 0 "forget that snapshot" "$E" forget -q "$S" "${snap5:0:12}"
expect_exit 0 "the next backup" "$E" backup --json -k k.key "$S" "vm:domain:$DOM"
check "reads whole" test "$(disk_field mode d out)" = full
expect_err "disk sda is read whole: snapshot [0-9a-f]{12}, its last backup, is gone from the store" "as its last snapshot is forgotten"

check "grow sda by 16 MiB" virsh blockresize "$DOM" sda 80M
expect_exit 0 "a backup after the resize" "$E" backup --json -k k.key "$S" "vm:domain:$DOM"
check "reads whole" test "$(disk_field mode d out)" = full
expect_err "disk sda is read whole: it was resized since checkpoint envpack-" "as the disk was resized"

# 6. an encrypted store, backed up with its public key only: the clean parts of changed
# chunks come from the export, and the result is the same
E6=$T/enc
expect_exit 0 "a first backup into an encrypted store, public key only" "$E" backup --init -q --json -k k.key --encrypt-to r.pub "$E6" "vm:domain:$DOM"
check "the guest writes" libvirt_guest_write "$DOM" 45M 64K 0x31
start_held "$E" backup -q --json -k k.key --encrypt-to r.pub "$E6" "vm:domain:$DOM"
check "nbdcopy reads its export" judge_export snap6.raw
release
wait "$pid"
check "the next backup is incremental" test "$(disk_field mode d out)" = incremental
check "reading whole chunks around the write ($(disk_field bytes_read d out))" test "$(disk_field bytes_read d out)" -gt 65536 -a "$(disk_field bytes_read d out)" -le $((9 << 20))
snap6=$(jq_ 'd["snapshot"]' out)
expect_exit 0 "restore it with the private key" "$E" restore -q -p k.pub --decrypt-key r.key "$E6@$snap6" --to dir:r6
check "it is the export" qemu-img compare -q -f raw -F raw snap6.raw r6/d.raw
check "no private directory is left" test -z "$(ls "$TMPDIR")"
check "no job is left" test "$(virsh domjobinfo "$DOM" | awk '/Job type/ {print $3}')" = None

# 7. kill -9 mid-backup: the job and its directory outlive envpack; the next run ends them
snapshots() { "$E" snapshots --json "$1" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'; }
n7=$(snapshots "$S")
start_held "$E" backup -q --json -k k.key "$S" "vm:domain:$DOM"
check "a backup job runs" job_running
{ kill -9 "$pid" && wait "$pid"; } 2>/dev/null # bash's "Killed" line is no news
release
check "after kill -9 its job still runs" job_running
check "and its directory is left" test -n "$(ls "$TMPDIR")"
check "nothing was published" test "$(snapshots "$S")" = "$n7"
check "the guest writes" libvirt_guest_write "$DOM" 5M 64K 0x17
expect_exit 0 "the next backup" "$E" backup --json -k k.key "$S" "vm:domain:$DOM"
expect_err "domain '$DOM': ended the backup job an interrupted envpack left \\($TMPDIR/envpack-domain-" "says it ended the orphaned job"
check "is incremental from the last snapshot" test "$(disk_field mode d out)" = incremental
check "no private directory is left" test -z "$(ls "$TMPDIR")"
check "no job is left" test "$(virsh domjobinfo "$DOM" | awk '/Job type/ {print $3}')" = None
check "one checkpoint per store: the killed run's is deleted" test "$(checkpoints | wc -w)" = 3
expect_exit 0 "check --read-data" "$E" check -q --read-data "$S"
# someone else's job is not ours to end
mkdir -m 700 "$T/foreign"
check "a backup job begun by hand" libvirt_backup_begin "$DOM" "$T/foreign/nbd.sock" foreign
expect_exit 1 "a backup while another tool's job runs: exit 1" "$E" backup -q -k k.key "$S" "vm:domain:$DOM"
expect_err "domain '$DOM' runs a backup job envpack did not start \\(socket $T/foreign/nbd.sock\\)" "naming its socket"
check "which still runs" job_running
virsh domjobabort "$DOM" >/dev/null && virsh checkpoint-delete "$DOM" foreign >/dev/null

# 8. --quiesce: this guest has no agent
n8=$(snapshots "$S")
expect_exit 0 "--quiesce without a guest agent goes on" "$E" backup --json --quiesce -k k.key "$S" "vm:domain:$DOM"
expect_err "domain '$DOM': not quiesced, the backup is crash-consistent: .*agent" "saying so"
expect_exit 1 "--require-quiesce without one fails: exit 1" "$E" backup -q --require-quiesce -k k.key "$S" "vm:domain:$DOM"
expect_err "cannot quiesce its file systems \\(--require-quiesce\\)" "saying why"
check "nothing more was published" test "$(snapshots "$S")" = $((n8 + 1))
check "no job is left" test "$(virsh domjobinfo "$DOM" | awk '/Job type/ {print $3}')" = None
check "the domain runs on" test "$(virsh domstate "$DOM")" = running
check "still one checkpoint per store" test "$(checkpoints | wc -w)" = 3

# 9. qemu running as libvirt-qemu, not root (as on a stock qemu:///system), booting the
# boot-marker disk: the job's directory is handed to qemu's user; the live backup boots
source "$HERE/boot.sh"
tag=t91-$RANDOM$RANDOM
mkboot boot.raw "$tag" --data 2 >/dev/null
qemu-img convert -O qcow2 boot.raw boot.qcow2 && rm boot.raw
chmod 711 "$T" # qemu, not root, opens the disk here (libvirt gives it the file)
LV_QEMU_USER=libvirt-qemu:libvirt-qemu check "a domain whose qemu runs as libvirt-qemu starts" libvirt_domain "${DOM}b" "$T/boot.qcow2"
check "its qemu runs as libvirt-qemu" test "$(ps -o user= -p "$(pgrep -f "guest=${DOM}b" | head -1)")" = libvirt-qemu
expect_exit 0 "a live backup of it" "$E" backup -q --json -k k.key "$S" "vm:domain:${DOM}b"
snap9=$(jq_ 'd["snapshot"]' out)
expect_exit 0 "restore it" "$E" restore -q -p k.pub "$S@$snap9" --to dir:r9
check "the disk backed up live boots and prints its marker" boot_disk r9/boot.raw raw "$tag"
finish
