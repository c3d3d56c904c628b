# envpack serve: a bundle's or store snapshot's disks over NBD through nbdkit and
# envpack's plugin, judged by qemu-img compare against a normal restore, nbdinfo's
# map of holes, nbdcopy, and qemu booting the boot-marker disk through a qcow2 overlay
# backed by the export. From a bundle, a dir: store, an s3:// store (s3rver) and an
# encrypted store. A chunk damaged in the store is an I/O error on the reads that
# need it, with a logged line naming it, never wrong bytes.
source "$(dirname "$0")/../lib.sh"
source "$HERE/boot.sh"
source "$HERE/s3.sh"
cd "$T" || exit 1
E=$ENVPACK
"$E" keygen -o k >/dev/null
"$E" keygen -o other >/dev/null
"$E" keygen --x25519 -o r >/dev/null
seeded() { python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(int(sys.argv[1])).randbytes(int(sys.argv[2])))' "$@"; }
tag=t105-$RANDOM$RANDOM
mkboot boot.raw "$tag" --data 3 >/dev/null
# a data disk: 6 MiB at 3 MiB, 2 MiB at 40 MiB, holes around
truncate -s 64M data.raw
seeded 105 $((6 << 20)) | dd of=data.raw bs=1M seek=3 conv=notrunc status=none
seeded 106 $((2 << 20)) | dd of=data.raw bs=1M seek=40 conv=notrunc status=none
expect_exit 0 "pack both disks" "$E" pack -q -k k.key -o b.envpack disk:boot.raw disk:data.raw
expect_exit 0 "restore them as files, to judge by" "$E" restore -q -p k.pub b.envpack --to dir:ref

# runs envpack serve in the background until its socket answers: $pid; SERVE_ENV: env before it
SERVE_ENV=(env)
serve() {
	local sock=$1
	shift
	rm -f "$sock"
	"${SERVE_ENV[@]}" "$E" serve --socket "$sock" "$@" >"$T/serve.out" 2>"$T/serve.err" &
	pid=$!
	for _ in $(seq 500); do
		[ -S "$sock" ] && nbdinfo --list "nbd+unix://?socket=$sock" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}
stop() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
uri() { echo "nbd+unix:///$1?socket=$2"; }

# 1. a bundle
S1=$T/s1.sock
check "serve a bundle" serve "$S1" -p k.pub b.envpack
check "it says what it serves" grep -q "data .*64.0 MiB  nbd+unix:///data?socket=$S1" serve.out
check "one export per disk" test "$(nbdinfo --list --json "nbd+unix://?socket=$S1" | python3 -c 'import json, sys; print(sorted(e["export-name"] for e in json.load(sys.stdin)["exports"]))')" = "['boot', 'data']"
check "read-only" sh -c "nbdinfo --json '$(uri data "$S1")' | grep -q '\"is_read_only\": true'"
check "the data disk equals its restore (qemu-img compare)" qemu-img compare -q -f raw -F raw ref/data.raw "$(uri data "$S1")"
check "and the boot disk" qemu-img compare -q -f raw -F raw ref/boot.raw "$(uri boot "$S1")"
nbdinfo --map "$(uri data "$S1")" >map.txt
check "nbdinfo maps the holes as holes and the data as data" test "$(awk '{print $1, $2, $3}' map.txt | tr '\n' ' ')" = "0 3145728 3 3145728 6291456 0 9437184 32505856 3 41943040 2097152 0 44040192 23068672 3 "
check "nbdcopy copies it whole" sh -c "nbdcopy '$(uri data "$S1")' copy.raw && cmp copy.raw ref/data.raw"
qemu-img create -q -f qcow2 -b "$(uri boot "$S1")" -F raw overlay.qcow2
check "qemu boots the boot-marker disk through an overlay backed by the export" boot_disk overlay.qcow2 qcow2 "$tag"
stop
check "stopped, the socket is gone" test ! -e "$S1"

# 2. refusals: exit codes, nothing served
expect_exit 3 "a key that did not sign it: exit 3" "$E" serve -q --socket "$T/x.sock" -p other.pub b.envpack
check "nothing is served" test ! -e "$T/x.sock"
expect_exit 2 "a disk it does not hold: exit 2" "$E" serve -q --socket "$T/x.sock" -p k.pub --only nope b.envpack
expect_err "'b.envpack' holds no disk named nope" "naming the disk"
expect_exit 2 "a snapshot the store lacks: exit 2" "$E" serve -q --socket "$T/x.sock" -p k.pub "$T/nostore@latest"
expect_exit 2 "--socket and --port together" "$E" serve --socket "$T/x.sock" --port 10809 b.envpack

# 3. a dir: store, its latest snapshot
expect_exit 0 "back up both disks into a store" "$E" backup --init -q -k k.key st disk:boot.raw disk:data.raw
check "serve STORE@latest, one disk" serve "$T/s3.sock" -p k.pub --only data --json st@latest
check "--json names the snapshot's disk and its URI" python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); e = d["exports"]; assert [x["name"] for x in e] == ["data"] and e[0]["uri"].startswith("nbd+unix:///data?socket="), d' serve.out
check "the export equals the restore" qemu-img compare -q -f raw -F raw ref/data.raw "$(uri data "$T/s3.sock")"
check "and holds that disk only" sh -c "! nbdinfo '$(uri boot "$T/s3.sock")' >/dev/null 2>&1"
stop

# 4. an encrypted store, read with its private key
expect_exit 0 "back up into an encrypted store" "$E" backup --init -q -k k.key --encrypt-to r.pub est disk:data.raw
expect_exit 2 "without the key it cannot be served: exit 2" "$E" serve -q --socket "$T/x.sock" -p k.pub est@latest
check "serve it with --decrypt-key" serve "$T/s4.sock" -p k.pub --decrypt-key r.key est@latest
check "the export equals the restore" qemu-img compare -q -f raw -F raw ref/data.raw "$(uri data "$T/s4.sock")"
stop

# 5. an s3:// store (s3rver)
if start_s3 s; then
	S3ENV=(env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_S3
		AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" AWS_DEFAULT_REGION=us-east-1
		AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null)
	SS=s3://$S3_S_BUCKET/serve
	expect_exit 0 "back up into an s3:// store" "${S3ENV[@]}" "$E" backup --init -q -k k.key --endpoint "$S3_S_ENDPOINT" "$SS" disk:data.raw
	SERVE_ENV=("${S3ENV[@]}")
	check "serve its latest snapshot" serve "$T/s5.sock" -p k.pub --endpoint "$S3_S_ENDPOINT" "$SS@latest"
	SERVE_ENV=(env)
	check "the export equals the restore" qemu-img compare -q -f raw -F raw ref/data.raw "$(uri data "$T/s5.sock")"
	stop
else
	not_ok "start the S3 server"
fi

# 6. a damaged chunk: an I/O error on the reads that need it, a line naming it, never wrong
# bytes; and the server goes on serving the next clients (nbdkit before 1.34 aborted once a
# client that got the error hung up with more of its requests in flight, "Assertion `sock
# >= 0' failed": the plugin serves a connection's requests one at a time there)
"$E" backup --init -q -k k.key bad disk:data.raw || not_ok "a store of the data disk alone"
victim=$(find bad/chunks -type f -size +100k | sort | head -1)
python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(200); b = f.read(1); f.seek(200); f.write(bytes([b[0] ^ 1]))' "$victim"
check "serve the store with a damaged chunk" serve "$T/s6.sock" -p k.pub bad@latest
nbdcopy "$(uri data "$T/s6.sock")" damaged.raw 2>copy.err
check "nbdcopy fails" test $? != 0
check "with an I/O error" grep -qi "input/output error" copy.err
check "the server names the chunk" grep -qE "chunk [0-9a-f]{64}" serve.err
qemu-io -r -f raw -c 'read -v 0 64M' "$(uri data "$T/s6.sock")" >io.out 2>&1
check "then the same server fails qemu-io's read as well" grep -qi "read failed: Input/output error" io.out
eio=0
for _ in 1 2 3 4 5; do
	! nbdcopy "$(uri data "$T/s6.sock")" again.raw 2>again.err && grep -qi "input/output error" again.err && eio=$((eio + 1))
done
check "and five more nbdcopy runs', each an I/O error" test "$eio" = 5
check "and the holes still read (zeros need no chunk)" qemu-io -r -f raw -c 'read -P 0 16M 1M' "$(uri data "$T/s6.sock")"
check "the server still lists its export" sh -c "nbdinfo --list 'nbd+unix://?socket=$T/s6.sock' | grep -q data"
check "it never aborted" sh -c "! grep -q 'Assertion' '$T/serve.err'"
stop
finish
