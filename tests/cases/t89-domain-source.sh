# vm:domain:NAME: a libvirt domain by name, through a private libvirtd with a TCG
# guest (no OS needed). A shut-off domain is read from its image; a running one
# through a pull-mode backup job at one point in time: a write made through the
# monitor while the job runs is absent from the backup. Unknown domain exit 2,
# unreachable libvirtd exit 1, and no job or scratch left behind, even on Ctrl-C.
source "$(dirname "$0")/../lib.sh"
cd "$T" || exit 1
E=$ENVPACK
DOM=t89
export TMPDIR=$T/tmp # envpack's private job directories, checked for leftovers
mkdir -p "$TMPDIR"

source "$HERE/libvirt.sh"
libvirt_start || { not_ok "libvirtd starts: see above"; finish; exit 1; }

"$E" keygen -o k >/dev/null
# 40 MiB of seeded data in a 64 MiB qcow2 v3 disk, with a hole between
python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(89).randbytes(24 << 20))' >rand
truncate -s 64M d.raw
dd if=rand of=d.raw bs=1M conv=notrunc status=none
dd if=rand of=d.raw bs=1M seek=40 count=16 conv=notrunc status=none
qemu-img convert -O qcow2 -o compat=1.1 d.raw d.qcow2 && rm d.raw rand
truncate -s 8M e.raw # a raw disk: no bitmap, so no checkpoint on it
printf 'raw disk' | dd of=e.raw bs=1M seek=3 conv=notrunc status=none
check "define the domain (persistent: checkpoints outlive a stop)" libvirt_define "$DOM" "$T/d.qcow2" "$T/e.raw"

# 1. shut off: read from the image file, the same machine as vm:libvirt: of the live definition
expect_exit 0 "pack a shut-off domain" "$E" pack -q --json -k k.key -o off.envpack "vm:domain:$DOM"
cp "$T/out" off.json
check "--json: each disk, mode offline, its data read" test "$(jq_ '[(x["component"], x["mode"], x["bytes_read"]) for x in d["disks"]]' off.json)" = "[('d', 'offline', 41943040), ('e', 'offline', 4096)]"
virsh dumpxml "$DOM" >live.xml
expect_exit 0 "pack vm:libvirt: of the same XML" "$E" pack -q -k k.key -o file.envpack vm:libvirt:live.xml
"$E" inspect --json off.envpack >off.inspect
"$E" inspect --json file.envpack >file.inspect
check "the same machine model as vm:libvirt:" test "$(jq_ 'd["machines"]' off.inspect)" = "$(jq_ 'd["machines"]' file.inspect)"
check "the machine is the domain's" test "$(jq_ 'd["machines"][0]["name"], d["machines"][0]["memory_mib"]' off.inspect)" = "$DOM 64"
check "no checkpoint recorded offline" test "$(jq_ '["checkpoint" in c for c in d["components"]]' off.inspect)" = "[False, False]"
expect_exit 0 "restore it" "$E" restore -q -p k.pub off.envpack --to dir:ro
check "the restored disks equal the images" sh -c 'qemu-img compare -q d.qcow2 ro/d.raw && cmp e.raw ro/e.raw' 

# 2. refusals: nothing written
expect_exit 2 "an unknown domain: exit 2" "$E" pack -q -o x.envpack vm:domain:no-such-domain
expect_err "no domain named 'no-such-domain'" "it names the domain"
check "and nothing was written" test ! -e x.envpack
expect_exit 1 "libvirtd not reachable: exit 1" "$E" pack -q -o x.envpack --connect "qemu:///system?socket=$T/nowhere" "vm:domain:$DOM"
expect_err "cannot connect to 'qemu:///system\?socket=$T/nowhere'" "it names the URI"
check "and nothing was written" test ! -e x.envpack
LIBVIRT_DEFAULT_URI="qemu:///system?socket=$T/nowhere2" expect_exit 1 "LIBVIRT_DEFAULT_URI is honoured" "$E" pack -q -o x.envpack "vm:domain:$DOM"
expect_err "nowhere2" "and named"

# 3. running: a backup job; a write during it is not in the backup
check "start the domain" virsh start "$DOM"
qemu-img convert -U -O raw d.qcow2 before.raw # the guest runs no OS: nothing else writes
cp e.raw before-e.raw
job_running() { virsh domjobinfo "$DOM" 2>/dev/null | grep -q 'Backup'; }
# starts envpack in the background, stops it (SIGSTOP) once its backup job runs: $pid
start_stopped() {
	"$@" >"$T/out" 2>"$T/err" &
	pid=$!
	for _ in $(seq 600); do job_running && break; sleep 0.02; done
	kill -STOP "$pid"
}
S=$T/store
start_stopped "$E" backup --init -q --json -k k.key -l 19 -j 1 "$S" "vm:domain:$DOM"
check "the backup job runs" job_running
check "the guest writes during the job (in data)" libvirt_guest_write "$DOM" 1M 64K 0x55
check "and in a hole" libvirt_guest_write "$DOM" 30M 1M 0x66
# libvirt_guest_write writes to sda only: sdb is sata0-0-1; qemu-io says what it did in the domain's log
virsh qemu-monitor-command "$DOM" --hmp 'qemu-io -d sata0-0-1 "write -P 0x77 3M 4k"' >/dev/null 2>&1
check "and on the raw disk" sh -c "for i in \$(seq 100); do grep -q 'wrote 4096/4096 bytes at offset 3145728' '$LV_DIR/log/qemu/$DOM.log' && exit 0; sleep 0.05; done; exit 1"
kill -CONT "$pid"
wait "$pid"
check "the backup of the running domain succeeds" test $? = 0 -a -s "$T/out"
# the hole written during the job may be served as data (qemu copied its zeros to the
# scratch file before the write), so up to that 1 MiB more may be read; on the raw disk,
# up to the scratch file's 64 KiB cluster around the 4 KiB written
check "--json: mode full, every data byte read once ($(jq_ '[x["bytes_read"] for x in d["disks"]]' "$T/out"))" test "$(jq_ '[(x["mode"], 41943040 <= x["bytes_read"] <= 42991616 if x["component"] == "d" else 4096 <= x["bytes_read"] <= 65536) for x in d["disks"]]' "$T/out")" = "[('full', True), ('full', True)]"
snap=$(jq_ 'd["snapshot"]' "$T/out")
check "no job is left" test "$(virsh domjobinfo "$DOM" | awk '/Job type/ {print $3}')" = None
check "no private directory is left" test -z "$(ls "$TMPDIR")"
"$E" inspect --json "$S@$snap" >live.inspect 2>&1
cp=$(jq_ 'd["components"][0].get("checkpoint", "")' live.inspect)
check "the snapshot records the checkpoint on the qcow2 disk ($cp)" test -n "$cp"
check "and none on the raw disk" test "$(jq_ '"checkpoint" in d["components"][1]' live.inspect)" = False
check "which libvirt has" virsh checkpoint-info "$DOM" "$cp"
expect_exit 0 "restore the snapshot" "$E" restore -q -p k.pub "$S@$snap" --to dir:rl
check "the restored disks are the disks as they were at the checkpoint" sh -c 'qemu-img compare -q before.raw rl/d.raw && cmp before-e.raw rl/e.raw'
check "while the disks have changed since" test "$(qemu-img compare -q -U before.raw d.qcow2; echo $?)$(cmp -s before-e.raw e.raw; echo $?)" = 11
check "the machine is the domain's" python3 -c 'import json, sys; m = json.load(open(sys.argv[1])); assert m["name"] == "t89", m' rl/t89.vm.json

# 4. interrupted (SIGTERM: a background job of a script ignores SIGINT): the job is ended
# and its scratch removed, nothing published
start_stopped "$E" pack -q -l 19 -j 1 -o int.envpack "vm:domain:$DOM"
check "a second backup job runs" job_running
kill -TERM "$pid"
kill -CONT "$pid"
wait "$pid"
check "SIGTERM stops it with exit 1" test $? = 1
expect_err "interrupted" "and says it was interrupted"
check "no job is left after SIGTERM" test "$(virsh domjobinfo "$DOM" | awk '/Job type/ {print $3}')" = None
check "no private directory is left after SIGTERM" test -z "$(ls "$TMPDIR")"
check "nothing was written" test ! -e int.envpack
check "the domain still runs" test "$(virsh domstate "$DOM")" = running

# 5. the domain destroyed mid-backup: exit 1, nothing published, nothing left
start_stopped "$E" backup -q -l 19 -j 1 -k k.key "$S" "vm:domain:$DOM"
check "a third backup job runs" job_running
virsh destroy "$DOM" >/dev/null
kill -CONT "$pid"
wait "$pid"
check "a domain destroyed mid-backup: exit 1" test $? = 1
check "the store still holds one snapshot" test "$("$E" snapshots --json "$S" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')" = 1
check "no private directory is left after the destroy" test -z "$(ls "$TMPDIR")"
finish
