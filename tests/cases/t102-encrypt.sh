#!/usr/bin/env bash
# Encryption at rest (formats/STORE.md, section 8): bundles and stores sealed to
# an X25519 recipient key. What is written can't be read, or even named, without
# the private key: manifests are sealed, chunk names are keyed hashes, chunk bytes
# are AES-256-GCM; a host holding only the public key backs up (and dedups) but
# reads nothing; a wrong key, a missing key and an altered byte are each named.
# Tenants (one bucket, a prefix and a key each, on a real S3 server) read nothing
# of each other's.
. "$(dirname "$0")/../lib.sh"

ep() { timeout -k 5 300 "$ENVPACK" "$@"; }
"$ENVPACK" keygen -o "$T/sign" >/dev/null
expect_exit 0 "keygen --x25519 makes an encryption key pair" ep keygen --x25519 -o "$T/r"
check "the private key is the owner's only (0600)" test "$(stat -c %a "$T/r.key")" = 600
check "and PEM X25519" bash -c 'openssl pkey -in "$1" -noout -text | grep -q X25519' _ "$T/r.key"
"$ENVPACK" keygen --x25519 -o "$T/other" >/dev/null
rid=$(openssl pkey -pubin -in "$T/r.pub" -outform DER | tail -c 32 | sha256sum | cut -c1-16)
oid=$(openssl pkey -pubin -in "$T/other.pub" -outform DER | tail -c 32 | sha256sum | cut -c1-16)

MARK=ENVPACK-PLAINTEXT-MARKER-4b1d
python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(11).randbytes(6 << 20))' >"$T/rand"
truncate -s 64M "$T/d.raw"
dd if="$T/rand" of="$T/d.raw" bs=1M seek=2 conv=notrunc status=none
printf '%s\n' "$MARK" | dd of="$T/d.raw" bs=1M seek=30 conv=notrunc status=none
mkdir -p "$T/tree" && printf 'variable "secret_word" { default = "%s" }\n' "$MARK" >"$T/tree/main.tf"
export SOURCE_DATE_EPOCH=1764000000

# 1. a single-file bundle
expect_exit 2 "--encrypt-to refuses a signing key" ep pack -q --encrypt-to "$T/sign.pub" -o "$T/x.envpack" "disk:$T/d.raw"
expect_err "not an X25519" "and says what it needs"
check "and writes nothing" test ! -e "$T/x.envpack"
expect_exit 0 "pack --encrypt-to" ep pack -q -k "$T/sign.key" --encrypt-to "$T/r.pub" -o "$T/e.envpack" "disk:$T/d.raw" "iac:$T/tree"
ep pack -q -k "$T/sign.key" -o "$T/p.envpack" "disk:$T/d.raw" "iac:$T/tree" || not_ok "pack the same, plain"
check "the plain bundle shows the marker (the test can tell)" grep -q "$MARK" "$T/p.envpack"
check "the encrypted one does not" bash -c '! grep -q "$1" "$2"' _ "$MARK" "$T/e.envpack"
check "its manifest is sealed (EPE1) to the recipient" test "$(tar -xOf "$T/e.envpack" manifest.json | head -c 4)" = EPE1
check "and so is its signature" test "$(tar -xOf "$T/e.envpack" manifest.sig | head -c 4)" = EPE1
tar -tf "$T/p.envpack" | grep '^chunks/' | sort >"$T/p.names"
tar -tf "$T/e.envpack" | grep '^chunks/' | sort >"$T/e.names"
check "as many chunks as the plain bundle" test "$(wc -l <"$T/e.names")" = "$(wc -l <"$T/p.names")"
check "none named by its content's SHA-256 (keyed names)" test -z "$(comm -12 "$T/p.names" "$T/e.names")"
expect_exit 2 "verify without the key is refused" ep verify -p "$T/sign.pub" "$T/e.envpack"
expect_err "encrypted to key $rid.*--decrypt-key" "naming the key it needs"
expect_exit 2 "verify with another key fails" ep verify -p "$T/sign.pub" --decrypt-key "$T/other.key" "$T/e.envpack"
expect_err "encrypted to key $rid, not to key $oid" "naming both keys"
expect_exit 0 "verify --deep with the key" ep verify -q --deep -p "$T/sign.pub" --decrypt-key "$T/r.key" "$T/e.envpack"
expect_exit 0 "restore with the key" ep restore -q -p "$T/sign.pub" --decrypt-key "$T/r.key" "$T/e.envpack" --to "dir:$T/r1"
check "the disk comes back byte for byte" cmp "$T/d.raw" "$T/r1/d.raw"
check "and the tree" cmp "$T/tree/main.tf" "$T/r1/tree/main.tf"
expect_exit 0 "a plain bundle reads with a key given all the same" ep verify -q -p "$T/sign.pub" --decrypt-key "$T/r.key" "$T/p.envpack"
# one byte of one chunk's ciphertext changed
cp "$T/e.envpack" "$T/t.envpack"
off=$(python3 -c '
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    m = max((m for m in t.getmembers() if m.name.startswith("chunks/")), key=lambda m: m.size)
    print(m.offset_data + m.size // 2)' "$T/t.envpack")
flip_byte "$T/t.envpack" "$off"
expect_exit 3 "a changed byte in a sealed chunk is caught" ep verify -q --deep -p "$T/sign.pub" --decrypt-key "$T/r.key" "$T/t.envpack"
expect_err "chunk [0-9a-f]{64} does not decrypt" "as a chunk that does not decrypt"
expect_exit 3 "and restore refuses it" ep restore -q -p "$T/sign.pub" --decrypt-key "$T/r.key" "$T/t.envpack" --to "dir:$T/r2"
check "leaving nothing at the destination" test -z "$(ls -A "$T/r2" 2>/dev/null)"

# 2. a store: a backup host holds only the public key
S=$T/store
expect_exit 0 "backup --init --encrypt-to with the public key only" ep backup --init -k "$T/sign.key" --encrypt-to "$T/r.pub" --json "$S" "disk:$T/d.raw" "iac:$T/tree"
cp "$T/out" "$T/b1.json"
check "config.json names the scheme and recipient" grep -q "\"encryption\":{\"scheme\":\"x25519-hkdf-sha256-aes-256-gcm\",\"recipient\":\"$rid\"}" "$S/config.json"
check "no object shows the marker" bash -c '! grep -rq "$1" "$2"' _ "$MARK" "$S"
check "every chunk and snapshot object is sealed" bash -c 'for f in "$1"/chunks/*/*.zst "$1"/snapshots/*; do [ "$(head -c 4 "$f")" = EPE1 ] || exit 1; done' _ "$S"
expect_exit 0 "a second backup, nothing changed" ep backup -k "$T/sign.key" --encrypt-to "$T/r.pub" --json "$S" "disk:$T/d.raw" "iac:$T/tree"
check "dedups without the private key (no chunk added)" python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["added_chunks"] == 0 and d["reused_chunks"] == d["chunks"], d' "$T/out"
check "and numbers it after the first" python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["sequence"] == 2, d' "$T/out"
check "the files cache works without reading the store: the disk is not opened (strace)" \
	bash -c '! command -v strace >/dev/null || { ASAN_OPTIONS=detect_leaks=0 strace -f -e trace=openat -o "$1/strace.log" "$2" backup -q -k "$1/sign.key" --encrypt-to "$1/r.pub" "$3" "disk:$4" && ! grep -q "$4\", O_RDONLY" "$1/strace.log"; }' _ "$T" "$ENVPACK" "$S" "$T/d.raw"
check "an independent reader (python3-cryptography, from STORE.md) opens every object and finds it named right" \
	bash -c '[ "$(/usr/bin/python3 "$1/tools/open_sealed.py" "$2" "$3")" = "chunks $4 snapshots 3" ]' _ "$HERE" "$S" "$T/r.key" "$(find "$S/chunks" -type f | wc -l)"
check "and with another key opens none" bash -c '! /usr/bin/python3 "$1/tools/open_sealed.py" "$2" "$3" 2>/dev/null' _ "$HERE" "$S" "$T/other.key"
P=$T/plainstore
ep backup --init -q "$P" "disk:$T/d.raw" "iac:$T/tree" || not_ok "a plain store of the same"
(cd "$P" && find chunks -type f | sort) >"$T/pn"
(cd "$S" && find chunks -type f | sort) >"$T/sn"
check "the encrypted store holds as many chunks as a plain one" test "$(wc -l <"$T/sn")" = "$(wc -l <"$T/pn")"
check "none under its content hash" test -z "$(comm -12 "$T/pn" "$T/sn")"
expect_exit 2 "snapshots without the key is refused" ep snapshots "$S"
expect_err "encrypted to key $rid.*--decrypt-key" "naming the key"
expect_exit 2 "the public key reads nothing: importing a sealed bundle needs the private key" ep import -q -p "$T/sign.pub" --encrypt-to "$T/r.pub" "$T/e.envpack" "$S"
expect_err "encrypted to key $rid: reading it needs .*--decrypt-key" "and says so"
expect_exit 2 "another recipient's backup is refused" ep backup -q --encrypt-to "$T/other.pub" "$S" "disk:$T/d.raw"
expect_err "encrypted to key $rid, not to key $oid" "naming both keys"
expect_exit 2 "--encrypt-to into a plain store is refused" ep backup -q --encrypt-to "$T/r.pub" "$P" "disk:$T/d.raw"
expect_err "not encrypted" "saying the store is not encrypted"
expect_exit 0 "snapshots --decrypt-key" ep snapshots --json --decrypt-key "$T/r.key" "$S"
check "lists the three, sequences 1 to 3" test "$(python3 -c 'import json, sys; print(sorted(s["sequence"] for s in json.load(open(sys.argv[1]))))' "$T/out")" = "[1, 2, 3]"
expect_exit 0 "restore STORE@latest with the key" ep restore -q -p "$T/sign.pub" --decrypt-key "$T/r.key" "$S@latest" --to "dir:$T/r3"
check "byte for byte" cmp "$T/d.raw" "$T/r3/d.raw"
expect_exit 0 "check --read-data with the key" ep check --read-data -p "$T/sign.pub" --decrypt-key "$T/r.key" "$S"
expect_exit 0 "export: an encrypted bundle" ep export -q -p "$T/sign.pub" --decrypt-key "$T/r.key" "$S@latest" -o "$T/x.envpack"
tar -tf "$T/x.envpack" | grep '^chunks/' | sed 's|^chunks/\(..\)|chunks/\1/\1|' | sort >"$T/xn"
check "its chunks are the store's objects, by the same names" test -s "$T/xn" -a -z "$(comm -23 "$T/xn" "$T/sn")"
check "sealed" test "$(tar -xOf "$T/x.envpack" manifest.json | head -c 4)" = EPE1
expect_exit 0 "which restores with the key" ep restore -q -p "$T/sign.pub" --decrypt-key "$T/r.key" "$T/x.envpack" --to "dir:$T/r4"
check "byte for byte" cmp "$T/d.raw" "$T/r4/d.raw"
expect_exit 0 "import: a plain bundle into the encrypted store, sealed on the way" ep import -q -p "$T/sign.pub" --decrypt-key "$T/r.key" "$T/p.envpack" "$S"
check "adds no chunk: the same content has the same keyed names" test "$(cd "$S" && find chunks -type f | wc -l)" = "$(wc -l <"$T/sn")"
expect_exit 2 "an encrypted bundle into a plain store is refused" ep import -q -p "$T/sign.pub" "$T/e.envpack" "$P"
expect_err "encrypted .to key $rid.*not" "saying why"
# a chunk altered in place, and another chunk's object renamed over one
victim=$(head -1 "$T/sn")
cp "$S/$victim" "$T/victim.bak"
flip_byte "$S/$victim" 60 # past the 56-byte header, in any object
expect_exit 3 "check --read-data finds the altered chunk" ep check --read-data -p "$T/sign.pub" --decrypt-key "$T/r.key" "$S"
expect_err "does not decrypt" "as one that does not decrypt"
cp "$S/$(sed -n 2p "$T/sn")" "$S/$victim"
expect_exit 3 "and a chunk put under another's name" ep check --read-data -p "$T/sign.pub" --decrypt-key "$T/r.key" "$S"
expect_err "does not decrypt" "is caught the same way (the name is authenticated)"
cp "$T/victim.bak" "$S/$victim"
expect_exit 2 "forget without the key is refused" ep forget --keep-last 1 "$S"
expect_exit 0 "forget --keep-last 1 --prune with the key" ep forget --keep-last 1 --prune --decrypt-key "$T/r.key" "$S"
expect_exit 0 "check --read-data after" ep check --read-data --decrypt-key "$T/r.key" "$S"

# 3. tenants: one bucket, a prefix and a key each, on a real S3 server
. "$HERE/s3.sh"
if start_s3 t; then
	es3() { env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" \
		AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null \
		AWS_SHARED_CREDENTIALS_FILE=/dev/null timeout -k 5 300 "$ENVPACK" "$@" --endpoint "$S3_T_ENDPOINT"; }
	"$ENVPACK" keygen --x25519 -o "$T/ta" >/dev/null
	"$ENVPACK" keygen --x25519 -o "$T/tb" >/dev/null
	A=s3://$S3_T_BUCKET/tenants/a
	Bt=s3://$S3_T_BUCKET/tenants/b
	expect_exit 0 "tenant a backs up with its public key" es3 backup --init -q --encrypt-to "$T/ta.pub" "$A" "disk:$T/d.raw"
	expect_exit 0 "tenant b backs up the same disk with its own" es3 backup --init -q --encrypt-to "$T/tb.pub" "$Bt" "disk:$T/d.raw"
	lsk() { aws_s3 t s3api list-objects-v2 --bucket "$S3_T_BUCKET" --prefix "tenants/$1/" --query 'Contents[].Key' --output text | tr '\t' '\n' | grep -v '^None$' | sed "s|^tenants/$1/||" | sort; }
	lsk a >"$T/ka" && lsk b >"$T/kb"
	check "each holds its chunks ($(grep -c '^chunks/' "$T/ka") and $(grep -c '^chunks/' "$T/kb"))" test "$(grep -c '^chunks/' "$T/ka")" -gt 0 -a "$(grep -c '^chunks/' "$T/ka")" = "$(grep -c '^chunks/' "$T/kb")"
	check "the same data under no common name: one tenant can't tell what another holds" test -z "$(comm -12 <(grep '^chunks/' "$T/ka") <(grep '^chunks/' "$T/kb"))"
	expect_exit 2 "a's key opens nothing of b's store" es3 snapshots --decrypt-key "$T/ta.key" "$Bt"
	expect_err "encrypted to key" "naming whose key it is"
	# b's sealed objects copied into a's store, where a's key looks: none of them opens
	bsnap=$(grep '^snapshots/.*\.json$' "$T/kb" | head -1)
	aws_s3 t s3 cp "s3://$S3_T_BUCKET/tenants/b/$bsnap" "s3://$S3_T_BUCKET/tenants/a/$bsnap" >/dev/null
	expect_exit 0 "b's snapshot put into a's store: snapshots passes over it" es3 snapshots --decrypt-key "$T/ta.key" "$A"
	expect_err "snapshot file '.*$bsnap' cannot be used: .*encrypted to key .*, not to key" "warning that it is sealed to b"
	expect_exit 3 "and check fails on it" es3 check --decrypt-key "$T/ta.key" "$A"
	expect_err "encrypted to key .*, not to key" "it is sealed to b"
	aws_s3 t s3 rm "s3://$S3_T_BUCKET/tenants/a/$bsnap" >/dev/null
	achunk=$(grep '^chunks/' "$T/ka" | head -1)
	aws_s3 t s3 cp "s3://$S3_T_BUCKET/tenants/b/$(grep '^chunks/' "$T/kb" | head -1)" "s3://$S3_T_BUCKET/tenants/a/$achunk" >/dev/null
	expect_exit 3 "b's chunk under a's name does not open with a's key" es3 check --read-data --decrypt-key "$T/ta.key" "$A"
	expect_err "encrypted to key .*, not to key" "it is sealed to b"
	expect_exit 0 "b's own key reads b's store" es3 restore -q --insecure-skip-verify --decrypt-key "$T/tb.key" "$Bt@latest" --to "dir:$T/rb"
	check "byte for byte" cmp "$T/d.raw" "$T/rb/d.raw"
else
	not_ok "start the S3 server for the tenants"
fi
finish
