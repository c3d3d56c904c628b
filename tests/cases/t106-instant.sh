# restore --instant: each disk a qcow2 overlay over the backup, served by nbdkit, so a
# machine starts at once; restore --finish copies the rest in and stops serving. Judged
# by qemu-img compare against a normal restore plus the same writes, qemu booting the
# boot-marker disk through its overlay, and a real libvirtd running the restored domain
# while --finish pulls its disk in (libvirt's block pull).
source "$(dirname "$0")/../lib.sh"
source "$HERE/boot.sh"
source "$HERE/libvirt.sh"
cd "$T" || exit 1
E=$ENVPACK
"$E" keygen -o k >/dev/null
seeded() { python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(int(sys.argv[1])).randbytes(int(sys.argv[2])))' "$@"; }
tag=t106-$RANDOM$RANDOM
mkboot boot.raw "$tag" --data 3 >/dev/null
truncate -s 64M data.raw
seeded 106 $((6 << 20)) | dd of=data.raw bs=1M seek=3 conv=notrunc status=none
expect_exit 0 "back up both disks" "$E" backup --init -q -k k.key st disk:boot.raw disk:data.raw
expect_exit 0 "restore them as files, to judge by" "$E" restore -q -p k.pub st@latest --to dir:ref
nbdkits() { pgrep -f "nbdkit.*$1" | wc -l; }

# 1. dir: instant, then finished
expect_exit 0 "restore --instant to dir:" "$E" restore -p k.pub --json st@latest --to dir:inst --instant
check "--json says where it serves" python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); i = d["instant"]; assert i["socket"].endswith("/inst/.envpack-instant/nbd.sock") and i["pid"] > 1, d' "$T/out"
check "each disk is a small qcow2 overlay" sh -c 'test $(stat -c %s inst/data.qcow2) -lt 1048576 && qemu-img info inst/data.qcow2 | grep -q "backing file: nbd+unix:///data?socket="'
check "nbdkit serves it after envpack exited" test "$(nbdkits "$T/inst/")" = 1
check "the overlay reads as the backup" qemu-img compare -q -f qcow2 -F raw inst/data.qcow2 ref/data.raw
check "qemu boots the boot-marker disk through its overlay" boot_disk inst/boot.qcow2 qcow2 "$tag"
check "a write to the overlay" sh -c 'qemu-io -f qcow2 -c "write -P 0x5a 1M 64k" inst/data.qcow2 >/dev/null'
check "stays local: the export is unchanged" sh -c "nbdcopy 'nbd+unix:///data?socket=$T/inst/.envpack-instant/nbd.sock' export.raw && cmp -s export.raw ref/data.raw"
cp ref/data.raw model.raw
qemu-io -f raw -c "write -P 0x5a 1M 64k" model.raw >/dev/null
expect_exit 2 "a second instant restore into the same directory is refused" "$E" restore -q -p k.pub st@latest --to dir:inst --instant
expect_err "holds an instant restore not finished" "saying to finish it first"
expect_exit 0 "restore --finish" "$E" restore --finish inst --json
check "--json counts the disks" python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["ok"] and d["disks"] == 2 and d["pulled_running"] == 0, d' "$T/out"
check "no backing file is left" sh -c '! qemu-img info inst/data.qcow2 | grep -q "backing file"'
check "the disk is the backup plus the write" qemu-img compare -q -f qcow2 -F raw inst/data.qcow2 model.raw
check "the boot disk is the backup" qemu-img compare -q -f qcow2 -F raw inst/boot.qcow2 ref/boot.raw
check "nbdkit is stopped" test "$(nbdkits "$T/inst/")" = 0
check "its directory is gone" test ! -e inst/.envpack-instant
expect_exit 2 "--finish again: nothing to finish, exit 2" "$E" restore --finish inst
expect_err "holds no instant restore to finish" "saying so"

# 2. refusals and a failed restore: nothing left serving
expect_exit 2 "--instant to ova: is refused" "$E" restore -q -p k.pub st@latest --to ova:x.ova --instant
expect_err "--instant restores to dir: or libvirt:" "naming the targets it takes"
expect_exit 2 "--instant with --format raw is refused" "$E" restore -q -p k.pub st@latest --to dir:raw --instant -f raw
mkdir clash && : >clash/data.qcow2
expect_exit 2 "a restore that cannot land fails" "$E" restore -q -p k.pub st@latest --to dir:clash --instant
check "and stops the server it started" test "$(nbdkits "$T/clash/")" = 0
check "leaving no serving directory" test ! -e clash/.envpack-instant

# 3. libvirt: the domain starts from the overlays; --finish pulls them in while it runs
libvirt_start || { not_ok "libvirtd starts: see above"; finish; exit 1; }
expect_exit 0 "back up the boot disk as a machine" "$E" backup -q -k k.key --vm-name t106 --memory 64 st disk:boot.raw
expect_exit 0 "restore --instant to libvirt:" "$E" restore -q -p k.pub --set domain_type=qemu st@latest --to libvirt:lv --instant
check "the domain is defined from the restored XML" virsh define lv/t106.xml
chmod 711 "$T" # libvirt's qemu runs as root here, but the path is walked all the same
check "and starts at once" virsh start t106
sleep 1
check "a write inside the running guest" libvirt_guest_write t106 1M 64K 0x6b ide0-0-0
expect_exit 0 "restore --finish while it runs" "$E" restore --finish lv --connect "$LIBVIRT_DEFAULT_URI" --json
check "pulls its disk in through libvirt" python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["disks"] == 1 and d["pulled_running"] == 1, d' "$T/out"
check "the domain runs on" test "$(virsh domstate t106)" = running
check "its disk has no backing left" sh -c "! virsh dumpxml t106 | grep -q '<backingStore type=.network'"
check "nbdkit is stopped" test "$(nbdkits "$T/lv/")" = 0
virsh destroy t106 >/dev/null
cp ref/boot.raw model-boot.raw
qemu-io -f raw -c "write -P 0x6b 1M 64k" model-boot.raw >/dev/null
check "the disk is the backup plus the guest's write" qemu-img compare -q -f qcow2 -F raw lv/boot.qcow2 model-boot.raw
finish
