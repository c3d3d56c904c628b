#!/usr/bin/env bash
# bench/backup.sh — envpack backup next to restic backup and borg create (Debian's
# restic and borgbackup), in one run, on the same realistic disk: a first backup of
# disk.raw, a second with no change, and a third after 1 % of it changed (disk-mod.raw,
# copied over the same path, so every tool sees one regular file change in place).
#
# The disk is ../shared/bench/make-disk.sh's: a 4 GiB sparse raw image holding an
# ext4 file system with ~1 GiB of real files. Backups are stateful, so each runs
# once (no RUNS); the page cache is warmed by reading the file before each run.
# Printed: wall seconds, max RSS, the bytes each run added to its repository (du
# --apparent-size of the repository), and the ratios envpack/restic and envpack/borg.
# Target: envpack faster than both on every run, and its store no larger.
#
# Fairness: envpack signs each snapshot (Ed25519) and does not encrypt; borg runs
# unencrypted (-e none) with zstd level 3 (envpack backs up at 5, see README); restic cannot run
# unencrypted (AES-256 + Poly1305 always) and uses its own compression (repository
# v2, "auto": zstd at its fastest). Each keeps a local files cache (not counted in
# the repository bytes) that lets it skip an unchanged file by its metadata (restic
# and envpack do; borg never caches the newest file of a backup, so with one file
# it re-reads it). So a fourth run, unchanged again, re-reads everywhere: envpack
# --force, restic --force, borg --files-cache=disabled (an extra row: the issue's
# three come first).
#
# EP_ENCRYPT=1: envpack encrypts too (--encrypt-to, the backup host holding only the
# public key), as restic always does. EP_LEVEL=N: envpack's zstd level (default backup's, 5).
#
# QUICK=1: a small disk (512 MiB, ~95 MiB of files) under /tmp/envpack-bench-quick,
# for trying the script; DISK_SIZE, SRC_DIRS, MOD_COUNT, MOD_MIB and BENCH_DIR
# are make-disk.sh's and are honoured as they are.
source "$(dirname "$0")/lib.sh"
for c in restic borg; do
	command -v "$c" >/dev/null || { echo "bench: needs $c (scripts/deps.sh installs it)" >&2; exit 1; }
done
img=$B/img
out=$B/backup
rm -rf "$out"
mkdir -p "$out/work"
trap 'rm -rf "$out"' EXIT
src=$out/work/disk.raw # the one path every tool backs up

envpack_bench_keys
ep_store=$out/envpack-store
export RESTIC_REPOSITORY=$out/restic-repo RESTIC_PASSWORD=envpack-bench-only RESTIC_CACHE_DIR=$out/restic-cache
restic init -q --repository-version 2 >/dev/null
export BORG_BASE_DIR=$out/borg-home BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
borg_repo=$out/borg-repo
borg init -e none "$borg_repo"

size() { # apparent bytes of a repository (0 when absent)
	if [ -e "$1" ]; then du -sb "$1" | cut -f1; else echo 0; fi
}
n=0
run() { # run NAME REPO CMD...: prints "seconds max_rss_kib bytes_added"
	local repo=$2 before t m
	shift 2
	before=$(size "$repo")
	cat "$src" >/dev/null # the same warm page cache for every tool
	n=$((n + 1))
	if ! /usr/bin/time -f '%e %M' -o "$out/time" "$@" >"$out/log.$n" 2>&1; then
		echo "bench: failed: $*" >&2
		cat "$out/log.$n" >&2
		exit 1
	fi
	read -r t m <"$out/time"
	echo "$t $m $(($(size "$repo") - before))"
}

declare -A T M S
rss=()
rounds=(first unchanged changed "re-read")
reread=()
for r in 0 1 2 3; do
	backup_input "$r" "$src"
	[ "$r" = 3 ] && reread=(1)
	init=()
	[ "$r" = 0 ] && init=(--init)
	read -r "T[e$r]" "M[e$r]" "S[e$r]" < <(run envpack "$ep_store" \
		"$ENVPACK" backup -q "${init[@]}" "${ep_opts[@]}" ${reread:+--force} -k "$out/bench.key" --host bench "dir:$ep_store" "disk:$src")
	read -r "T[r$r]" "M[r$r]" "S[r$r]" < <(run restic "$RESTIC_REPOSITORY" \
		restic backup -q --host bench ${reread:+--force} "$src")
	read -r "T[b$r]" "M[b$r]" "S[b$r]" < <(run borg "$borg_repo" \
		borg create --compression zstd,3 ${reread:+--files-cache=disabled} "$borg_repo::run$r" "$src")
done

# the last snapshot restores to the changed disk, byte for byte (not timed)
"$ENVPACK" restore -q -p "$out/bench.pub" "${ep_read[@]}" "dir:$ep_store@latest" --to "dir:$out/restored"
cmp "$img/disk-mod.raw" "$out/restored/disk.raw"
rm -rf "$out/restored"

ratio() { awk "BEGIN{ if ($2 > 0) printf \"%.2f\", $1 / $2; else if ($1 > 0) printf \"inf\"; else printf \"-\" }"; }
mib() { awk "BEGIN{printf \"%.0f\", $1 / 1024}"; }
printf '%s\n' "$(sed -n 3p "$img/content.txt")"
printf 'disk: %s virtual, %s allocated; %s cores; load average %s\n' "$(du -h --apparent-size "$img/disk.raw" | cut -f1)" \
	"$(du -h "$img/disk.raw" | cut -f1)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s; %s; %s\n' "$("$ENVPACK" --version 2>/dev/null | head -n1 || echo envpack)" "$(restic version | cut -d' ' -f1-2)" "$(borg --version)"
echo "envpack: signed (Ed25519), $([ -n "${EP_ENCRYPT:-}" ] && echo "encrypted (X25519, AES-256-GCM)" || echo "not encrypted"), zstd -${EP_LEVEL:-5}; restic: encrypted (it has no unencrypted mode), repo v2, compression auto; borg: -e none, --compression zstd,3"
printf '%-10s | %8s %8s %8s | %12s %12s %12s | %6s %6s | %6s %6s\n' "" "envpack" "restic" "borg" "envpack" "restic" "borg" \
	"time" "time" "bytes" "bytes"
printf '%-10s | %8s %8s %8s | %12s %12s %12s | %6s %6s | %6s %6s\n' backup "seconds" "seconds" "seconds" "bytes added" \
	"bytes added" "bytes added" "e/r" "e/b" "e/r" "e/b"
for r in 0 1 2 3; do
	printf '%-10s | %8s %8s %8s | %12s %12s %12s | %6s %6s | %6s %6s\n' "${rounds[$r]}" "${T[e$r]}" "${T[r$r]}" "${T[b$r]}" \
		"${S[e$r]}" "${S[r$r]}" "${S[b$r]}" "$(ratio "${T[e$r]}" "${T[r$r]}")" "$(ratio "${T[e$r]}" "${T[b$r]}")" \
		"$(ratio "${S[e$r]}" "${S[r$r]}")" "$(ratio "${S[e$r]}" "${S[b$r]}")"
done
echo "re-read: unchanged again, and every tool reads the whole file (envpack and restic --force, borg --files-cache=disabled)"
for t in e r b; do
	rss+=("$(mib "${M[${t}0]}")/$(mib "${M[${t}1]}")/$(mib "${M[${t}2]}")/$(mib "${M[${t}3]}")")
done
printf 'max RSS MiB (first/unchanged/changed/re-read): envpack %s, restic %s, borg %s\n' "${rss[@]}"
ep_total=$(size "$ep_store") rs_total=$(size "$RESTIC_REPOSITORY") bo_total=$(size "$borg_repo")
printf 'repository totals (bytes): envpack %s, restic %s, borg %s (envpack/restic %s, envpack/borg %s)\n' \
	"$ep_total" "$rs_total" "$bo_total" "$(ratio "$ep_total" "$rs_total")" "$(ratio "$ep_total" "$bo_total")"
printf 'local caches, not counted above (bytes): restic %s, borg %s, envpack %s (its files cache)\n' \
	"$(size "$RESTIC_CACHE_DIR")" "$(size "$BORG_BASE_DIR")" "$(size "$ENVPACK_STATE_DIR")"
echo "ratio e/r, e/b = envpack / restic, envpack / borg (lower is better; target < 1 for time, <= 1 for bytes)"
