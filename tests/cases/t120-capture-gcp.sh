#!/usr/bin/env bash
# vm:gcp: captures a Compute Engine image export (disk.raw in a .tar.gz, as `gcloud
# compute images export` and the gcp: target write it) from Cloud Storage, streamed
# through the XML API with an HMAC key. s3rver (tests/s3.sh, SigV4 checked) stands in
# for the XML API as in t96; GNU tar and qemu-img make the exports, qemu-img compare
# judges what restores; faults through tests/tools/s3_fault.py; the migration goes on
# to Azurite (tests/azure.sh).
#   envpack pack -o OUT vm:gcp:gs://BUCKET/OBJECT.tar.gz --input-option endpoint=URL [--dry-run]
. "$(dirname "$0")/../lib.sh"
. "$HERE/s3.sh"
. "$HERE/azure.sh"

start_s3 g || { not_ok "start the S3 server (standing in for the GCS XML API)"; finish; exit 0; }
ok "S3 server at $S3_G_ENDPOINT"
B=$S3_G_BUCKET
E=$S3_G_ENDPOINT
mkdir -p "$T/home"
# envpack with the test HMAC key, nothing from AWS's variables or files, nor ~/.boto
gp() { env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL \
	GCS_HMAC_ACCESS_ID="$S3_ACCESS_KEY" GCS_HMAC_SECRET="$S3_SECRET_KEY" BOTO_CONFIG=/dev/null HOME="$T/home" \
	timeout -k 5 300 ${WRAP:-} "$ENVPACK" "$@"; }
nokeys() { env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u GCS_HMAC_ACCESS_ID -u GCS_HMAC_SECRET \
	-u AWS_PROFILE -u AWS_ENDPOINT_URL BOTO_CONFIG=/dev/null HOME="$T/home" timeout -k 5 300 "$ENVPACK" "$@"; }
put() { aws_s3 g s3 cp --quiet "$1" "s3://$B/$2"; } # put FILE KEY
# same_disk BUNDLE: restored to dir:, the one disk is web.raw (the rest zeros)
same_disk() {
	rm -rf "$T/r" && "$ENVPACK" restore -q -p "$T/k.pub" "$1" --to "dir:$T/r" &&
		qemu-img compare -q -f raw -F raw "$T/web.raw" "$(ls "$T"/r/*.raw)"
}
# rss ARGS...: gp ARGS, envpack's peak RSS (KiB) into $T/rss
rss() { WRAP="/usr/bin/time -f %M -o $T/rss" gp "$@"; }
# az_same BLOB: Azurite's BLOB, fetched by an independent client, is web.raw
az_same() { rm -f "$T/dl.vhd" && azblob a get "$AZ_CONTAINER" "$1" "$T/dl.vhd" && qemu-img compare -q -f vpc "$T/dl.vhd" -F raw "$T/web.raw"; }

# the exports: disk.raw with holes (data at 0, 3, 17, 40, 60 MiB of 200 MiB) as GNU tar writes
# it for images import (-S, oldgnu) and plain, and the archive the gcp: target writes
make_disk "$T/web.raw" 200M
cp --sparse=always "$T/web.raw" "$T/disk.raw"
(cd "$T" && tar --format=oldgnu -Sczf sparse.tar.gz disk.raw && tar -czf dense.tar.gz disk.raw) || not_ok "GNU tar"
check "GNU tar wrote a sparse member (type S)" test "$(gzip -dc "$T/sparse.tar.gz" | head -c 157 | tail -c 1)" = S
put "$T/sparse.tar.gz" img/web.tar.gz && put "$T/dense.tar.gz" img/dense.tar.gz || not_ok "upload the exports"
"$ENVPACK" keygen -o "$T/k" >/dev/null
"$ENVPACK" pack -q -k "$T/k.key" -o "$T/orig.envpack" "disk:$T/web.raw" || not_ok "pack the original"
gp restore -q -p "$T/k.pub" "$T/orig.envpack" --to "gcp:$B/exp" -o project=envpack-test -o image=web --endpoint "$E" \
	>/dev/null || not_ok "the gcp: target's export"

# 1. --dry-run: the GET, the HMAC signature masked, nothing sent, no key needed
expect_exit 0 "dry run without HMAC keys" nokeys pack --dry-run -o "$T/dry.envpack" "vm:gcp:gs://$B/img/web.tar.gz" \
	--input-option "endpoint=$E"
check "it shows the GET of the object" grep -q "^GET $E/$B/img/web.tar.gz$" "$T/out"
check "with the Authorization masked" grep -q 'Authorization: AWS4-HMAC-SHA256 \*\*\*\*$' "$T/out"
check "no signature or key id printed" bash -c '! grep -qE "Signature=|Credential=|GOOG1|EXAMPLE-HMAC" "$1"' _ "$T/out"
check "nothing sent for the object" test -z "$(s3_requests g 'GET /[^ ]*img/web.tar.gz')"
check "nothing written" test ! -e "$T/dry.envpack"

# 2. captures, each restored to dir: and compared with the original
expect_exit 0 "capture of GNU tar's sparse export" rss pack -k "$T/k.key" -o "$T/sparse.envpack" \
	"vm:gcp:gs://$B/img/web.tar.gz" --input-option "endpoint=$E"
echo "# peak RSS capturing a 200 MiB disk: $(cat "$T/rss") KiB"
check "the summary: where it was read, in one GET" grep -q "^captured web from gs://$B/img/web.tar.gz: .* read in 1 requests$" "$T/out"
check "one GET in the server's log" test "$(s3_requests g 'GET /[^ ]*img/web.tar.gz' | wc -l)" = 1
check "restored to dir:, qemu-img compare finds the original" same_disk "$T/sparse.envpack"
expect_exit 0 "capture of a plain export" gp pack -q -k "$T/k.key" -o "$T/dense.envpack" \
	"vm:gcp:gs://$B/img/dense.tar.gz" --input-option "endpoint=$E"
check "it restores as the original" same_disk "$T/dense.envpack"
check "holes are not stored: the bundle is near the data, not the disk" test "$(stat -c %s "$T/dense.envpack")" -lt $((12 << 20))
expect_exit 0 "capture of the gcp: target's archive (1 GiB disk.raw)" rss pack -q -k "$T/k.key" -o "$T/target.envpack" \
	"vm:gcp:gs://$B/exp/web.tar.gz" --input-option "endpoint=$E" --json
echo "# peak RSS capturing a 1 GiB disk: $(cat "$T/rss") KiB"
check "it restores as the original (padded to 1 GiB with zeros)" same_disk "$T/target.envpack"
check "--json names where and what it cost" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["disks"]
assert len(d) == 1 and d[0]["from"] == "gs://%s/exp/web.tar.gz" % sys.argv[2] and d[0]["requests"] == 1, d' "$T/out" "$B"
check "a bare disk: no machine, one raw disk of disk.raw's size" bash -c '"$1" inspect --json "$2" | python3 -c "
import json, sys
j = json.load(sys.stdin)
assert not j.get(\"machines\"), j
assert [(c[\"name\"], c[\"type\"], c[\"virtual_bytes\"]) for c in j[\"components\"]] == [(\"web\", \"disk\", 1 << 30)], j"' \
	_ "$ENVPACK" "$T/target.envpack"

# 3. into a store: the second capture adds no chunk
S=$T/store
expect_exit 0 "backup of the capture into a store" gp backup --init -q -k "$T/k.key" "$S" "vm:gcp:gs://$B/img/web.tar.gz" \
	--input-option "endpoint=$E"
before=$(find "$S" -type f | sort)
expect_exit 0 "a second backup of the same export" gp backup -q -k "$T/k.key" --json "$S" "vm:gcp:gs://$B/img/web.tar.gz" \
	--input-option "endpoint=$E"
check "it added no chunk" test -z "$(comm -13 <(echo "$before" | grep /chunks/) <(find "$S" -type f | sort | grep /chunks/))"

# 4. the migration: GCP -> Azure (Azurite), the page blob compared with the original
if start_azurite a; then
	CONN=$(az_conn a)
	expect_exit 0 "the capture restored to azure:" env AZURE_STORAGE_CONNECTION_STRING="$CONN" timeout -k 5 300 \
		"$ENVPACK" restore -q -p "$T/k.pub" "$T/sparse.envpack" --to "azure:$AZ_CONTAINER/from-gcp"
	check "the page blob holds the original disk" az_same from-gcp/web.vhd
else
	not_ok "start Azurite"
fi

# 5. a connection cut mid-way: the download resumes where it stopped (a Range GET)
start_s3_fault cut g cut 3000000 || not_ok "start the fault proxy"
expect_exit 0 "a capture whose connection is cut after 3 MB" gp pack -q -k "$T/k.key" -o "$T/cut.envpack" \
	"vm:gcp:gs://$B/img/web.tar.gz" --input-option "endpoint=$S3_CUT_ENDPOINT"
check "the first GET was cut, a second one resumed" test "$(s3_requests cut 'GET /[^ ]*img/web.tar.gz' | awk '{print $NF}' | tr '\n' ' ')" = "cut 206 "
check "the resumed capture restores as the original" same_disk "$T/cut.envpack"
stop_s3 cut

# 6. corrupt exports: exit 3, nothing written
gz_size=$(stat -c %s "$T/dense.tar.gz")
head -c $((gz_size / 2)) "$T/dense.tar.gz" >"$T/trunc.tar.gz" && put "$T/trunc.tar.gz" bad/trunc.tar.gz
cp "$T/dense.tar.gz" "$T/flip.tar.gz" && flip_byte "$T/flip.tar.gz" $((gz_size / 2)) && put "$T/flip.tar.gz" bad/flip.tar.gz
# a tar whose gzip is sound but whose disk.raw header is damaged (its checksum wrong)
gzip -dc "$T/dense.tar.gz" >"$T/hdr.tar" && flip_byte "$T/hdr.tar" 100 && gzip -c "$T/hdr.tar" >"$T/hdr.tar.gz"
put "$T/hdr.tar.gz" bad/hdr.tar.gz
for bad in trunc flip hdr; do
	expect_exit 3 "a corrupt export ($bad) is exit 3" gp pack -q -k "$T/k.key" -o "$T/$bad.envpack" \
		"vm:gcp:gs://$B/bad/$bad.tar.gz" --input-option "endpoint=$E"
	expect_err "gs://$B/bad/$bad.tar.gz.*corrupt" "the message names the object and says it is corrupt"
	check "nothing written ($bad)" test ! -e "$T/$bad.envpack"
done
S2=$T/store2
gp backup --init -q -k "$T/k.key" "$S2" "disk:$T/web.raw" >/dev/null 2>&1 || not_ok "a second store"
snaps=$(find "$S2" -path '*snapshots*' -type f | wc -l)
expect_exit 3 "a corrupt export into a store is exit 3" gp backup -q -k "$T/k.key" "$S2" "vm:gcp:gs://$B/bad/flip.tar.gz" \
	--input-option "endpoint=$E"
check "and no snapshot published" test "$(find "$S2" -path '*snapshots*' -type f | wc -l)" = "$snaps"

# 7. archives that are no image export: exit 2 naming the object
mkdir -p "$T/x" "$T/x2" && echo hi >"$T/x/readme" && cp --sparse=always "$T/disk.raw" "$T/x/disk.raw" && echo 2 >"$T/x2/disk.raw"
(cd "$T/x" && tar -czf ../none.tar.gz readme && tar -czf ../two.tar.gz disk.raw -C ../x2 disk.raw &&
	mv disk.raw real.raw && ln -s real.raw disk.raw && tar -czf ../link.tar.gz disk.raw) || not_ok "the odd archives"
cp "$T/disk.raw" "$T/plain.raw"
for bad in none:"holds no disk.raw" two:"holds a second disk.raw" link:"is not a regular file" plain:"is not gzip-compressed"; do
	f=${bad%%:*} why=${bad#*:}
	[ "$f" = plain ] && src=$T/plain.raw || src=$T/$f.tar.gz
	put "$src" "odd/$f.tar.gz" || not_ok "upload $f"
	expect_exit 2 "an export that $why is exit 2" gp pack -q -k "$T/k.key" -o "$T/$f.envpack" \
		"vm:gcp:gs://$B/odd/$f.tar.gz" --input-option "endpoint=$E"
	expect_err "gs://$B/odd/$f.tar.gz.*$why" "the message names the object and says it $why"
	check "nothing written ($f)" test ! -e "$T/$f.envpack"
done

# 8. a wrong secret is exit 1 naming the call; a missing object exit 2 naming it; a bad address exit 2
wrong=not-the-secret-$RANDOM
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY GCS_HMAC_ACCESS_ID="$S3_ACCESS_KEY" GCS_HMAC_SECRET="$wrong" \
	BOTO_CONFIG=/dev/null HOME="$T/home" timeout -k 5 120 "$ENVPACK" pack -q -k "$T/k.key" -o "$T/wrong.envpack" \
	"vm:gcp:gs://$B/img/web.tar.gz" --input-option "endpoint=$E" >"$T/out" 2>"$T/err"
got=$?
check "a wrong HMAC secret fails with exit 1 (got $got)" test "$got" = 1
expect_err "GET gs://$B/img/web.tar.gz: 403" "the message names the call and the refusal"
check "the secret is not printed" bash -c '! grep -qF -- "$1" "$2/out" "$2/err"' _ "$wrong" "$T"
check "nothing written (wrong secret)" test ! -e "$T/wrong.envpack"
expect_exit 2 "a missing object is exit 2" gp pack -q -k "$T/k.key" -o "$T/missing.envpack" "vm:gcp:gs://$B/img/nothing.tar.gz" \
	--input-option "endpoint=$E"
expect_err "gs://$B/img/nothing.tar.gz: 404" "the message names the object"
check "nothing written (missing)" test ! -e "$T/missing.envpack"
expect_exit 2 "an address that is no gs://BUCKET/OBJECT is exit 2" gp pack -q -o "$T/addr.envpack" "vm:gcp:s3://$B/x.tar.gz"
expect_err "gs://BUCKET/OBJECT" "and says what it takes"

finish
