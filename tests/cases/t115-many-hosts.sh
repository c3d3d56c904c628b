#!/usr/bin/env bash
# Many hosts at once (issue 18): five hosts (--host hN, -n webN, a state dir and so a
# files cache each) back up disks that share data into one store, in parallel, with
# --lock-wait, while a forget + prune of some hosts' older snapshots waits its turn
# (it waits for the backups started before it, and the ones started after wait for
# it); then a second round of changed disks, again around a prune. The disks are made
# so that each prune removes chunks some other host's next backup names again (and a
# host's own older data): a backup that trusted what it knew of the store before the
# prune would name a chunk that is gone. After each round: check --read-data passes,
# every chunk every snapshot names is in the store (read by an independent client),
# every snapshot restores byte for byte, each prune removed exactly what the forgotten
# snapshots alone named. Then one host backs up a disk, forgets and prunes it, and backs
# it up again with the same state dir (--force, and then through the files cache): the
# snapshot must be complete. A chunk deleted by hand must fail check, the scan and the
# restore. All of it on dir: and on s3:// (s3rver).
. "$(dirname "$0")/../lib.sh"
. "$HERE/s3.sh"

N=5
WAIT=120 # --lock-wait of every run: a bound, never reached
CREDS=(env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_S3 AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY"
	AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null)

# Blocks of 1.5 MiB (a chunk or two each), seeded so that every run cuts the same chunks:
# C on every disk; U<i><g> host i's alone in round g; M<k>, P<k> moving between hosts
mkdir -p "$T/blk"
python3 - "$T/blk" "$N" <<'PY'
import random, sys
d, n = sys.argv[1], int(sys.argv[2])
names = ["C", "X1", "X2"] + ["U%d%d" % (i, g) for i in range(n) for g in range(3)] + \
        ["M%d" % k for k in range(n)] + ["P%d" % k for k in range(n)]
for seed, name in enumerate(names):
    open("%s/%s" % (d, name), "wb").write(random.Random(1000 + seed).randbytes(3 << 19))
PY
# blocks_of I G: the blocks of host I's disk in round G, at 0, 4, 8 and 12 MiB. Round 1 keeps
# the host's P, takes the next host's M; round 2 the M two hosts on and the next host's P.
blocks_of() {
	local i=$1 g=$2
	case $g in
	0) echo "C U${i}0 M$i P$i" ;;
	1) echo "C U${i}1 M$(((i + 1) % N)) P$i" ;;
	2) echo "C U${i}2 M$(((i + 2) % N)) P$(((i + 1) % N))" ;;
	esac
}
# put_blocks DISK BLOCK...: writes the blocks in place, 4 MiB apart, in a 16 MiB sparse disk
put_blocks() {
	local disk=$1 at=0 b
	shift
	[ -e "$disk" ] || truncate -s 16M "$disk"
	for b in "$@"; do
		dd if="$T/blk/$b" of="$disk" bs=1M seek=$at conv=notrunc status=none
		at=$((at + 4))
	done
}

# The judge: manifests are read from a local copy (MANDIR/<id>.json), chunk names from a
# listing (one a line); every array [<64 hex>, size] anywhere in a manifest is a chunk it names.
cat >"$T/judge.py" <<'PY'
import json, re, sys

def named(mandir, ids):
    out = set()
    def walk(v):
        if isinstance(v, list):
            if len(v) == 2 and isinstance(v[0], str) and re.fullmatch(r"[0-9a-f]{64}", v[0]) and isinstance(v[1], int):
                out.add(v[0])
            else:
                for x in v:
                    walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
    for i in ids:
        walk(json.load(open("%s/%s.json" % (mandir, i))))
    return out

cmd, mandir = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
if cmd == "missing":  # missing MANDIR LISTING ID...: the chunks the snapshots name that the listing lacks
    have = set(open(args[0]).read().split())
    need = named(mandir, args[1:])
    gone = sorted(need - have)
    print("%d of %d named chunks missing%s" % (len(gone), len(need), (": " + " ".join(gone[:3])) if gone else ""))
    sys.exit(1 if gone or not need else 0)
if cmd == "removable":  # removable MANDIR FORGOTTEN... -- KEPT... -- LATER...: |R|, |R named by LATER|
    a = " ".join(args).split(" -- ")
    forgotten, kept, later = (x.split() for x in a)
    r = named(mandir, forgotten) - named(mandir, kept)
    print(len(r), len(r & named(mandir, later)))
if cmd == "names":  # names MANDIR ID...: how many chunk references, how many distinct
    total = 0
    for i in args:
        total += len(named(mandir, [i]))
    print(total, len(named(mandir, args)))
PY
judge() { python3 "$T/judge.py" "$@"; }

# ---- one store, dir: or s3:// ----
# KIND dir|s3; S the store; W its work directory; EOPT the options an s3:// store needs
setup_store() {
	KIND=$1
	W=$T/$KIND
	mkdir -p "$W/man" "$W/ref" "$W/out"
	: >"$W/expected"
	if [ "$KIND" = dir ]; then
		S=$W/store
		EOPT=()
		RUN=(env)
	else
		PFX=many/hosts
		SRV=$S3_S_DIR/data/$S3_S_BUCKET/$PFX
		S=s3://$S3_S_BUCKET/$PFX
		EOPT=(--endpoint "$S3_S_ENDPOINT")
		RUN=("${CREDS[@]}")
	fi
}
# ep STATE ARGS...: envpack as the host whose state dir is STATE (bounded in time: none waits
# for more than $WAIT). Runs in the background are written out as `"${RUN[@]}" ... &`, not
# through a function, so that $! is envpack's own pid (env execs it), which its lock records name.
ep() {
	local st=$1
	shift
	"${RUN[@]}" ENVPACK_STATE_DIR="$st" timeout -k 5 300 "$ENVPACK" "$@"
}
# lock_names: the names under the store's locks/ (s3: as s3rver keeps them on its disk, read
# only to know who holds the store, never to judge it)
lock_names() {
	if [ "$KIND" = dir ]; then
		ls "$S/locks" 2>/dev/null
	else
		find "$SRV/locks" -name '*._S3rver_object' -printf '%f\n' 2>/dev/null | sed 's/\._S3rver_object$//'
	fi
}
# excl_records: the names of the lock records (released or not) of exclusive holders
excl_records() {
	if [ "$KIND" = dir ]; then
		grep -l '"exclusive":true' "$S"/locks/*.json 2>/dev/null | sed 's#.*/##'
	else
		grep -l '"exclusive":true' "$SRV"/locks/*._S3rver_object 2>/dev/null | sed 's#.*/##'
	fi
}
# put_record NAME: $W/rec.json as lock record NAME (dir: a file; s3: an object, put by awscli)
put_record() {
	if [ "$KIND" = dir ]; then
		cp "$W/rec.json" "$S/locks/$1"
	else
		aws_s3 s s3api put-object --bucket "$S3_S_BUCKET" --key "$PFX/locks/$1" --body "$W/rec.json" >/dev/null
	fi
}
# slow_start / slow_stop: a slow backup host holds the store (shared) meanwhile, so that the
# prune surely waits its turn. Its record (STORE.md section 5) names a live process of this
# host, a sleep; on dir: the sleep also holds the shared flock. slow_stop writes its release.
slow_start() {
	if [ "$KIND" = dir ]; then
		(exec 9<"$S/lock" && flock -s 9 && exec sleep 600) &
	else
		sleep 600 &
	fi
	SLOW=$!
	for _ in $(seq 200); do # the sleep runs: on dir:, the flock is taken
		[ "$(cat "/proc/$SLOW/comm" 2>/dev/null)" = sleep ] && break
		sleep 0.02
	done
	SLOW_SINCE=$(date +%s)
	SLOW_REC=$(hostname)-$SLOW-$(printf '%016x' "$SLOW")-000000
	printf '{"host":"%s","pid":%s,"command":"backup","exclusive":false,"time":%s,"since":%s,"stale":1800,"holder":"%016x"}' \
		"$(hostname)" "$SLOW" "$SLOW_SINCE" "$SLOW_SINCE" "$SLOW" >"$W/rec.json"
	put_record "$SLOW_REC.json"
}
slow_stop() {
	printf '{"host":"%s","pid":%s,"command":"backup","exclusive":false,"time":%s,"since":%s,"stale":1,"holder":"%016x","released":true}' \
		"$(hostname)" "$SLOW" "$(date +%s)" "$SLOW_SINCE" "$SLOW" >"$W/rec.json"
	put_record "$SLOW_REC-released.json"
	kill "$SLOW"
	wait "$SLOW" 2>/dev/null
}
# took PID: process PID has taken the store (a record of its there, released or not: records are
# written once the lock is had, and another holder there makes a run wait without writing)
took() { lock_names | grep -qE -- "-$1-[0-9a-f]{16}-[0-9]+(-released)?\.json$"; }
# chunk_listing FILE: the chunk names the store holds, one a line; manifests: every snapshot
# manifest into $W/man (kept after forget, to judge prune). On s3:// both are read from what
# s3rver holds on its disk: what the server has, not what envpack says it has (and no client's
# start-up time, many times over)
chunk_listing() {
	if [ "$KIND" = dir ]; then
		find "$S/chunks" -name '*.zst' -printf '%f\n' | sed 's/\.zst$//' >"$1"
	else
		find "$SRV/chunks" -name '*.zst._S3rver_object' -printf '%f\n' | sed 's/\.zst\._S3rver_object$//' >"$1"
	fi
}
copy_manifests() {
	local f
	if [ "$KIND" = dir ]; then
		cp "$S"/snapshots/*.json "$W/man/"
	else
		for f in "$SRV"/snapshots/*.json._S3rver_object; do cp "$f" "$W/man/$(basename "$f" ._S3rver_object)"; done
	fi
}
# field FILE KEY: a number's or a string's value in a one-line JSON object (the first KEY)
field() { grep -oE "[{,]\"$2\":(\"[^\"]*\"|[0-9]+)" "$1" | head -n 1 | sed 's/^[{,]"[^"]*"://; s/"//g'; }
declare -A ID # ID[h<i>.g<g>]: the snapshot that backup made
id_of() { echo "${ID[$1]:-}"; }

# backup_bg I G: host I backs up its disk (round G) in the background; its pid in BPID[I]
declare -A BPID
backup_bg() {
	local i=$1 g=$2
	"${RUN[@]}" ENVPACK_STATE_DIR="$W/state-h$i" "$ENVPACK" backup --json --lock-wait $WAIT "${EOPT[@]}" --host "h$i" -n "web$i" "$S" \
		"disk:$W/h$i/disk.raw" >"$W/out/h$i.g$g.json" 2>"$W/out/h$i.g$g.err" &
	BPID[$i]=$!
}
# new_round G: every host's disk as round G has it (written in place: the files cache sees the
# change), and a copy to compare restores with
new_round() {
	local i
	for i in $(seq 0 $((N - 1))); do
		mkdir -p "$W/h$i"
		# shellcheck disable=SC2046 # the block names
		put_blocks "$W/h$i/disk.raw" $(blocks_of "$i" "$1")
		cp --sparse=always "$W/h$i/disk.raw" "$W/ref/h$i.g$1.raw"
	done
}
# published I G: the backup made a snapshot: expect it, and remember what it came from
published() {
	local id
	id=$(field "$W/out/h$1.g$2.json" snapshot)
	[ -n "$id" ] || return
	ID[h$1.g$2]=$id
	echo "$id $W/ref/h$1.g$2.raw" >>"$W/expected"
}
forget_expected() { # forget_expected ID...: no longer expected in the store
	local id
	for id in "$@"; do sed -i "/^$id /d" "$W/expected"; done
}

# verify LABEL: the store as it must be: checks clean reading every chunk, lists exactly the
# snapshots expected, each naming only chunks an independent listing finds, each restoring to
# the disk it was taken of
verify() {
	local label=$1 id ref bad=0 n
	expect_exit 0 "$label: check --read-data passes" ep "$W/state-judge" check -q --read-data "${EOPT[@]}" "$S"
	expect_exit 0 "$label: snapshots --json" ep "$W/state-judge" snapshots --json "${EOPT[@]}" "$S"
	check "$label: the store lists exactly the $(wc -l <"$W/expected") snapshots expected" \
		test "$(grep -oE '"id":"[0-9a-f]{64}"' "$T/out" | cut -c7-70 | sort | tr '\n' ' ')" = "$(cut -d' ' -f1 "$W/expected" | sort | tr '\n' ' ')"
	copy_manifests
	chunk_listing "$W/listing"
	local said rc
	# shellcheck disable=SC2046 # the ids
	said=$(judge missing "$W/man" "$W/listing" $(cut -d' ' -f1 "$W/expected"))
	rc=$?
	check "$label: no snapshot names a missing chunk ($said)" test "$rc" = 0
	n=0
	# each snapshot restored once: after a prune, check --read-data and the listing above say its chunks are still all there
	while read -r id ref; do
		grep -qx "$id" "$W/restored" 2>/dev/null && continue
		echo "$id" >>"$W/restored"
		rm -rf "$W/r"
		if ! ep "$W/state-judge" restore -q --insecure-skip-verify "${EOPT[@]}" "$S@$id" --to "dir:$W/r" >"$W/restore.err" 2>&1; then
			bad=$((bad + 1))
			echo "restore of ${id:0:8} failed: $(head -c 300 "$W/restore.err")" >&2
		elif ! cmp -s "$ref" "$W/r/disk.raw"; then
			bad=$((bad + 1))
			echo "restore of ${id:0:8} differs from $ref" >&2
		fi
		n=$((n + 1))
	done <"$W/expected"
	check "$label: every new snapshot ($n) restores byte for byte to the disk it was taken of ($bad did not)" test "$bad" = 0
}

# round G "A HOSTS" "B HOSTS" FORGET_IDS...: while a slow host holds the store, hosts A back up
# and the forget + prune of FORGET_IDS (round 1: forget --prune; round 2: forget, then prune)
# starts once each of them has taken the store; it waits until they are done and the slow host
# lets go. Once prune has taken the store, hosts B start: they wait for it. All with --lock-wait.
round() {
	local g=$1 a=$2 b=$3 i pid rc fails="" excl pending
	shift 3
	local forget=("$@")
	new_round "$g"
	slow_start
	for i in $a; do backup_bg "$i" "$g"; done
	for _ in $(seq 1500); do # each of A took the store (its record there), so it comes before the prune
		pending=0
		for i in $a; do took "${BPID[$i]}" || ! kill -0 "${BPID[$i]}" 2>/dev/null || pending=1; done
		[ "$pending" = 0 ] && break
		sleep 0.02
	done
	excl=$(excl_records | sort | tr '\n' ' ')
	if [ "$g" = 1 ]; then
		"${RUN[@]}" ENVPACK_STATE_DIR="$W/state-admin" "$ENVPACK" forget --json --prune --lock-wait $WAIT "${EOPT[@]}" "$S" "${forget[@]}" \
			>"$W/out/prune.g$g.json" 2>"$W/out/prune.g$g.err" &
	else
		( # the prune's pid is this shell's: it execs prune once forget is done
			"${RUN[@]}" ENVPACK_STATE_DIR="$W/state-admin" "$ENVPACK" forget -q --lock-wait $WAIT "${EOPT[@]}" "$S" "${forget[@]}" ||
				{ echo "forget failed" >&2; exit 1; }
			exec "${RUN[@]}" ENVPACK_STATE_DIR="$W/state-admin" "$ENVPACK" prune --json --lock-wait $WAIT \
				"${EOPT[@]}" "$S"
		) >"$W/out/prune.g$g.json" 2>"$W/out/prune.g$g.err" &
	fi
	pid=$!
	for i in $a; do
		wait "${BPID[$i]}"
		rc=$?
		if [ "$rc" = 0 ]; then published "$i" "$g"; else fails="$fails h$i:$rc($(head -c 200 "$W/out/h$i.g$g.err"))"; fi
	done
	sleep 1 # time for a prune that did not wait to show
	check "$KIND round $g: while the slow host holds the store, hosts $a are done and the forget and prune wait their turn (no exclusive lock record)" \
		test "$(excl_records | sort | tr '\n' ' ')" = "$excl"
	slow_stop
	# hosts B start once the prune has taken the store (it may be done already): they wait for
	# it, and must find what it removed gone
	for _ in $(seq 3000); do
		took "$pid" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	check "$KIND round $g: the prune took the store (its lock record there) before hosts $b started" took "$pid"
	for i in $b; do backup_bg "$i" "$g"; done
	wait "$pid"
	rc=$?
	[ "$rc" = 0 ] || fails="$fails prune:$rc($(head -c 200 "$W/out/prune.g$g.err"))"
	for i in $b; do
		wait "${BPID[$i]}"
		rc=$?
		if [ "$rc" = 0 ]; then published "$i" "$g"; else fails="$fails h$i:$rc($(head -c 200 "$W/out/h$i.g$g.err"))"; fi
	done
	check "$KIND round $g: $N backups and the prune, all at once, all succeed${fails:+:$fails}" test -z "$fails"
	forget_expected "${forget[@]}"
	# what the prune had to remove: what the forgotten snapshots named and no snapshot there
	# when it ran (all but those of hosts B) names; some of it hosts B named again
	local kept=() later=() removed again got
	while read -r id _; do
		for i in $b; do [ "$id" = "$(id_of "h$i.g$g")" ] && continue 2; done
		kept+=("$id")
	done <"$W/expected"
	for i in $b; do later+=("$(id_of "h$i.g$g")"); done
	copy_manifests
	read -r removed again < <(judge removable "$W/man" "${forget[*]} -- ${kept[*]} -- ${later[*]}")
	got=$(field "$W/out/prune.g$g.json" chunks_removed)
	check "$KIND round $g: the prune's JSON says it removed $got chunks: those the forgotten snapshots alone named ($removed)" \
		test "$got" = "$removed" -a "$removed" -gt 0
	check "$KIND round $g: $again of them were named again by hosts $b, which backed up after the prune" test "$again" -gt 0
	verify "$KIND round $g"
}

# solo VARIANT FLAGS...: host s backs up disk X, its snapshots are forgotten and pruned (their
# chunks gone), and the same host, with the same state dir (files cache, what it knows of the
# store), backs X up again: every chunk must be written again
solo() {
	local v=$1 id n old
	shift
	mkdir -p "$W/hs"
	[ -e "$W/hs/disk.raw" ] || { put_blocks "$W/hs/disk.raw" X1 X2 && cp --sparse=always "$W/hs/disk.raw" "$W/ref/hs.raw"; }
	expect_exit 0 "$KIND solo ($v): host s backs up disk X" ep "$W/state-hs" backup --json "${EOPT[@]}" --host hs -n solo "$S" \
		"disk:$W/hs/disk.raw"
	id=$(field "$T/out" snapshot)
	n=$(field "$T/out" chunks)
	old=$(sed -n "s# $W/ref/hs.raw\$##p" "$W/expected") # X's earlier snapshot, if any
	# shellcheck disable=SC2086 # no id, or one
	expect_exit 0 "$KIND solo ($v): forget every snapshot of X" ep "$W/state-admin" forget -q "${EOPT[@]}" "$S" "$id" $old
	# shellcheck disable=SC2086
	forget_expected $old
	expect_exit 0 "$KIND solo ($v): prune --json" ep "$W/state-admin" prune --json "${EOPT[@]}" "$S"
	check "$KIND solo ($v): the prune removed X's $n chunks (no other snapshot names them)" \
		test "$(field "$T/out" chunks_removed)" = "$n"
	expect_exit 0 "$KIND solo ($v): host s backs up X again, same state dir${1:+, $*}" ep "$W/state-hs" backup --json "$@" \
		"${EOPT[@]}" --host hs -n solo "$S" "disk:$W/hs/disk.raw"
	cp "$T/out" "$W/out/solo-$v.json"
	local added chunks
	added=$(field "$W/out/solo-$v.json" added_chunks)
	chunks=$(field "$W/out/solo-$v.json" chunks)
	check "$KIND solo ($v): it writes every chunk again ($added of $chunks)" test "$added" = "$chunks" -a "$chunks" = "$n"
	echo "$(field "$W/out/solo-$v.json" snapshot) $W/ref/hs.raw" >>"$W/expected"
	verify "$KIND solo ($v)"
}

# broken: a chunk a snapshot names, deleted by hand, fails check --read-data, the scan and the
# restore (so those checks can fail); s3: then put back, dir: on a copy
broken() {
	local id victim
	read -r id _ < <(tail -n 1 "$W/expected")
	victim=$(python3 -c 'import json, sys; c = json.load(open(sys.argv[1]))["components"][0]["extents"][-1]["chunks"][0][0]; print(c)' "$W/man/$id.json")
	if [ "$KIND" = dir ]; then
		cp -a "$S" "$W/broken"
		local S=$W/broken
		rm "$S/chunks/${victim:0:2}/$victim.zst"
	else
		aws_s3 s s3api get-object --bucket "$S3_S_BUCKET" --key "$PFX/chunks/${victim:0:2}/$victim.zst" "$W/victim.zst" >/dev/null
		aws_s3 s s3api delete-object --bucket "$S3_S_BUCKET" --key "$PFX/chunks/${victim:0:2}/$victim.zst" >/dev/null
	fi
	expect_exit 3 "$KIND: a chunk deleted by hand fails check --read-data" ep "$W/state-judge" check --read-data "${EOPT[@]}" "$S"
	expect_err "chunk $victim of snapshot ${id:0:8} is missing" "naming the chunk and the snapshot"
	chunk_listing "$W/listing"
	local said rc
	said=$(judge missing "$W/man" "$W/listing" "$id")
	rc=$?
	check "$KIND: the scan finds it missing ($said)" test "$rc" = 1 -a "${said#*: }" = "$victim"
	rm -rf "$W/r"
	expect_exit 3 "$KIND: and the restore of its snapshot fails" ep "$W/state-judge" restore -q --insecure-skip-verify "${EOPT[@]}" "$S@$id" --to "dir:$W/r"
	if [ "$KIND" = s3 ]; then
		aws_s3 s s3api put-object --bucket "$S3_S_BUCKET" --key "$PFX/chunks/${victim:0:2}/$victim.zst" --body "$W/victim.zst" >/dev/null
		expect_exit 0 "$KIND: put back, check --read-data passes again" ep "$W/state-judge" check -q --read-data "${EOPT[@]}" "$S"
	fi
}

run_store() {
	local i id g0=() g1=()
	setup_store "$1"
	new_round 0
	# round 0: the first host makes the store, the others back up into it at once
	expect_exit 0 "$KIND round 0: h0 makes the store" ep "$W/state-h0" backup --init --json "${EOPT[@]}" --host h0 -n web0 "$S" \
		"disk:$W/h0/disk.raw"
	cp "$T/out" "$W/out/h0.g0.json" && published 0 0
	for i in $(seq 1 $((N - 1))); do backup_bg "$i" 0; done
	local fails=""
	for i in $(seq 1 $((N - 1))); do
		wait "${BPID[$i]}" && published "$i" 0 || fails="$fails h$i($(head -c 200 "$W/out/h$i.g0.err"))"
	done
	check "$KIND round 0: $((N - 1)) more hosts back up at once${fails:+:$fails}" test -z "$fails"
	copy_manifests
	local added refs distinct
	added=$(cat "$W"/out/h*.g0.json | python3 -c 'import json, sys; print(sum(json.loads(l)["added_chunks"] for l in sys.stdin))')
	chunk_listing "$W/listing"
	# shellcheck disable=SC2046 # the ids
	read -r refs distinct < <(judge names "$W/man" $(cut -d' ' -f1 "$W/expected"))
	check "$KIND round 0: hosts share chunks: the store holds $(wc -l <"$W/listing"), each once (as many as the backups added: $added, as many as the snapshots name apart: $distinct), fewer than the $refs they name" \
		test "$(wc -l <"$W/listing")" = "$added" -a "$added" = "$distinct" -a "$distinct" -lt "$refs"
	verify "$KIND round 0"
	for i in 0 1 2 3 4; do g0+=("$(id_of "h$i.g0")"); done
	# round 1: forget h1's and h2's first snapshots; h2-h4 back up before the prune, h0 and h1
	# after it: h0 needs M1 (h1's), h1 M2 (h2's) and its own P1, all removed by the prune
	round 1 "2 3 4" "0 1" "${g0[1]}" "${g0[2]}"
	for i in 0 1 2 3 4; do g1+=("$(id_of "h$i.g1")"); done
	# round 2: forget the first snapshots left and h3's and h4's second; h0, h1, h4 back up
	# before the prune, h2 and h3 after: h2 needs P3 and M4, h3 M0 and P4, all removed
	round 2 "0 1 4" "2 3" "${g0[0]}" "${g0[3]}" "${g0[4]}" "${g1[3]}" "${g1[4]}"
	solo force --force
	solo "files cache"
	broken
}

run_store dir
if start_s3 s; then
	ok "S3 server at $S3_S_ENDPOINT"
	run_store s3
else
	not_ok "start the S3 server"
fi
finish
