#!/usr/bin/env bash
# DRAFT (not run by tests/run.sh until renamed to t92-s3.sh): envpack push/pull
# against a real S3 server (tests/s3.sh: s3rver with SigV4 checks, ListParts,
# If-None-Match), judged by the AWS CLI; faults through tests/tools/s3_fault.py.
#   envpack push -q BUNDLE s3://BUCKET/KEY --endpoint URL [--part-size MiB] [--retries N]
#   envpack pull s3://BUCKET/KEY -o FILE --endpoint URL
# Credentials only from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; path-style
# addressing when --endpoint is given.
. "$(dirname "$0")/../lib.sh"
. "$HERE/s3.sh"

start_s3 s || { not_ok "start the S3 server"; finish; exit 0; }
ok "S3 server at $S3_S_ENDPOINT"
B=$S3_S_BUCKET
E=$S3_S_ENDPOINT
ep() { env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" \
	AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null \
	AWS_SHARED_CREDENTIALS_FILE=/dev/null timeout -k 5 300 "$ENVPACK" "$@"; }
# same_object KEY FILE: awscli's get-object of KEY is FILE, byte for byte
same_object() { rm -f "$T/got" && aws_s3 s s3api get-object --bucket "$B" --key "$1" "$T/got" >/dev/null && cmp "$T/got" "$2"; }
absent() { ! aws_s3 s s3api head-object --bucket "$B" --key "$1" >/dev/null 2>&1; }
open_uploads() { aws_s3 s s3api list-multipart-uploads --bucket "$B" --prefix "$1" --query 'Uploads[].UploadId' --output text | grep -v '^None$'; }
parts() { s3_requests "$1" "^[^ ]+ [^ ]+ PUT [^ ]*[?&]partNumber=" | awk -v s="${2:-200}" '$5 == s' | wc -l; }

# a small bundle and a 20 MiB one (random: it does not compress, so > 4 parts of 5 MiB)
make_disk "$T/small.raw" 64M
"$ENVPACK" keygen -o "$T/k" >/dev/null
"$ENVPACK" pack -q -k "$T/k.key" -o "$T/small.envpack" "disk:$T/small.raw" || not_ok "pack small"
head -c 20M /dev/urandom >"$T/big.raw"
"$ENVPACK" pack -q -k "$T/k.key" -o "$T/big.envpack" "disk:$T/big.raw" || not_ok "pack big"
big_size=$(stat -c %s "$T/big.envpack")

# 1. a single PUT: what awscli reads back is the bundle; size and ETag (MD5) right
expect_exit 0 "push small" ep push -q "$T/small.envpack" "s3://$B/b/small.envpack" --endpoint "$E"
check "awscli reads back what envpack pushed" \
	same_object b/small.envpack "$T/small.envpack"
head=$(aws_s3 s s3api head-object --bucket "$B" --key b/small.envpack --query '[ContentLength,ETag]' --output text)
check "size and ETag are the bundle's" test "$head" = "$(stat -c %s "$T/small.envpack")	\"$(md5sum <"$T/small.envpack" | cut -c1-32)\""
expect_exit 0 "pull small" ep pull "s3://$B/b/small.envpack" -o "$T/pulled.envpack" --endpoint "$E"
check "pulled = pushed" cmp "$T/pulled.envpack" "$T/small.envpack"
check "a pulled bundle verifies" "$ENVPACK" verify -p "$T/k.pub" --deep "$T/pulled.envpack"
expect_exit 2 "pull to an existing file refused" ep pull "s3://$B/b/small.envpack" -o "$T/pulled.envpack" --endpoint "$E"
expect_exit 2 "pull of a missing key fails" ep pull "s3://$B/b/none.envpack" -o "$T/none.envpack" --endpoint "$E"
check "a failed pull leaves no file" test ! -e "$T/none.envpack"

# 2. larger than the part size: a multipart upload, the object whole
expect_exit 0 "push big (--part-size 5)" ep push -q --part-size 5 "$T/big.envpack" "s3://$B/b/big.envpack" --endpoint "$E"
n=$(parts s)
check "big went up in parts ($n UploadPart; want >= 4)" test "$n" -ge 4
check "the server saw InitiateMultipartUpload" test -n "$(s3_requests s 'POST /[^ ]*big.envpack\?uploads ')"
check "and CompleteMultipartUpload" test -n "$(s3_requests s 'POST /[^ ]*big.envpack\?uploadId=[^ ]* 200')"
check "awscli reads back the multipart bundle" \
	same_object b/big.envpack "$T/big.envpack"
check "its size is the bundle's" test "$(aws_s3 s s3api head-object --bucket "$B" --key b/big.envpack --query ContentLength --output text)" = "$big_size"
check "no upload left open" test -z "$(open_uploads b/)"
expect_exit 0 "pull big" ep pull "s3://$B/b/big.envpack" -o "$T/pulled-big.envpack" --endpoint "$E"
check "pulled big = pushed" cmp "$T/pulled-big.envpack" "$T/big.envpack"
# without --part-size: one PUT up to 16 MiB, else 16 MiB parts (bench/push.sh measured them)
expect_exit 0 "push big with the default parts" ep push -q --json "$T/big.envpack" "s3://$B/b/auto.envpack" --endpoint "$E"
want=$(((big_size + (16 << 20) - 1) / (16 << 20)))
check "it went up in 16 MiB parts ($want: $(cat "$T/out"))" grep -q "\"parts\":$want," "$T/out"
check "the server saw $want UploadPart for it" test "$(s3_requests s "^[^ ]+ [^ ]+ PUT [^ ]*auto\.envpack\?([^ ]*&)?partNumber=" | wc -l)" = "$want"
check "awscli reads back the default-parts bundle" same_object b/auto.envpack "$T/big.envpack"
check "the small one went in one PUT" test -z "$(s3_requests s 'small\.envpack\?([^ ]*&)?(partNumber|uploads)')"

# 3. a push cut half-way resumes: the second run sends fewer parts, the object is whole
start_s3_fault cut s drop-part 2 || not_ok "start the fault proxy"
ep push -q --part-size 5 --retries 1 "$T/big.envpack" "s3://$B/b/resumed.envpack" --endpoint "$S3_CUT_ENDPOINT" >"$T/out" 2>"$T/err"
first=$?
check "the cut push failed (exit $first)" test "$first" != 0
check "the cut push said why" grep -qiE 'part|connection|upload' "$T/err"
check "nothing published by the cut push" absent b/resumed.envpack
check "its upload is still open (to resume)" test -n "$(open_uploads b/resumed)"
sent1=$(parts cut)
stop_s3 cut
start_s3_fault again s pass || not_ok "start the pass-through proxy"
expect_exit 0 "the push re-run resumes" ep push -q --part-size 5 "$T/big.envpack" "s3://$B/b/resumed.envpack" --endpoint "$S3_AGAIN_ENDPOINT"
sent2=$(parts again)
total=$(( (big_size + 5 * 1048576 - 1) / (5 * 1048576) ))
check "the re-run sent fewer parts ($sent2, after $sent1 of $total)" test "$sent2" -lt "$total" -a "$sent2" -ge 1
check "the re-run listed the parts already there" test -n "$(s3_requests again "GET /[^ ]*resumed.envpack\?uploadId=")"
check "the resumed object is the bundle" \
	same_object b/resumed.envpack "$T/big.envpack"

# 4. If-None-Match: *: an existing key is never overwritten
expect_exit 2 "push to an existing key refused" ep push -q --part-size 64 "$T/big.envpack" "s3://$B/b/small.envpack" --endpoint "$E"
expect_err 'exist|412|PreconditionFailed' "and says so"
check "the existing object is unchanged" \
	same_object b/small.envpack "$T/small.envpack"
check "the refused push sent If-None-Match (412 in the log)" test -n "$(s3_requests s 'PUT [^ ]*b/small.envpack 412|POST [^ ]*b/small.envpack\?uploadId=[^ ]* 412')"
expect_exit 2 "a multipart push to an existing key refused" ep push -q --part-size 5 "$T/big.envpack" "s3://$B/b/big.envpack" --endpoint "$E"

# 5. wrong credentials: refused, and the secret never printed
wrong=not-the-secret-$RANDOM
env -u AWS_PROFILE AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$wrong" AWS_DEFAULT_REGION=us-east-1 \
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null timeout -k 5 120 \
	"$ENVPACK" push -q "$T/small.envpack" "s3://$B/b/wrong.envpack" --endpoint "$E" >"$T/out" 2>"$T/err"
got=$?
check "a wrong secret fails with exit 1 (got $got)" test "$got" = 1
expect_err 'SignatureDoesNotMatch|403|signature|credentials|denied' "it says the credentials were refused"
check "the secret is not printed" bash -c '! grep -qF -- "$1" "$2/out" "$2/err"' _ "$wrong" "$T"
check "nothing was stored" absent b/wrong.envpack
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_PROFILE AWS_CONFIG_FILE=/dev/null \
	AWS_SHARED_CREDENTIALS_FILE=/dev/null timeout -k 5 120 \
	"$ENVPACK" push -q "$T/small.envpack" "s3://$B/b/nocreds.envpack" --endpoint "$E" >"$T/out" 2>"$T/err"
got=$?
check "no credentials: exit 2 (got $got)" test "$got" = 2
expect_err 'AWS_ACCESS_KEY_ID' "it names the variables to set"
expect_exit 2 "credentials on the command line are not an option" ep push -q "$T/small.envpack" \
	"s3://$B/b/argv.envpack" --endpoint "$E" --secret-key "$S3_SECRET_KEY"

# 6. 503 SlowDown with Retry-After: retried
start_s3_fault busy s 503 2 || not_ok "start the 503 proxy"
expect_exit 0 "push through two 503s" ep push -q --retries 3 "$T/small.envpack" "s3://$B/b/busy.envpack" --endpoint "$S3_BUSY_ENDPOINT"
check "the 503s were seen and retried" test "$(s3_requests busy ' 503$' | wc -l)" = 2 -a -n "$(s3_requests busy 'PUT [^ ]*busy.envpack 200')"
check "the retried push arrived whole" \
	same_object b/busy.envpack "$T/small.envpack"
stop_s3 busy
start_s3_fault busy2 s 503 50 || not_ok "start the 503 proxy"
expect_exit 1 "503 for ever: gives up after --retries" ep push -q --retries 1 "$T/small.envpack" "s3://$B/b/busy2.envpack" --endpoint "$S3_BUSY2_ENDPOINT"
expect_err '503|SlowDown|unavailable' "and says why"

start_s3_fault many s 429 2 || not_ok "start the 429 proxy"
expect_exit 0 "push through two 429s" ep push -q --retries 3 "$T/small.envpack" "s3://$B/b/many.envpack" --endpoint "$S3_MANY_ENDPOINT"
check "the 429s were seen and retried" test "$(s3_requests many ' 429$' | wc -l)" = 2 -a -n "$(s3_requests many 'PUT [^ ]*many.envpack 200')"
check "the retried push arrived whole" same_object b/many.envpack "$T/small.envpack"
stop_s3 many

# 7. a stalled server: the idle timeout fires
start_s3_fault stall s slow || not_ok "start the slow proxy"
check "a stalled push ends within its --timeout" bash -c '
	s=$(date +%s)
	! env AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" timeout 60 \
		"$ENVPACK" push -q --timeout 3 --retries 1 "$1" "s3://$2/b/stall.envpack" --endpoint "$3" 2>/dev/null
	[ $(( $(date +%s) - s )) -lt 30 ]' _ "$T/small.envpack" "$B" "$S3_STALL_ENDPOINT"

# 8. bundles read where they lie: verify, inspect and restore from s3:// and http:// (range requests)
"$ENVPACK" keygen -o "$T/rk" >/dev/null
make_disk "$T/vm.raw" 80M
mkdir -p "$T/tree" && echo hello >"$T/tree/a.txt"
"$ENVPACK" pack -q -k "$T/rk.key" -o "$T/vm.envpack" "disk:$T/vm.raw" "iac:$T/tree"
expect_exit 0 "push a signed bundle" ep push -q "$T/vm.envpack" "s3://$B/c/vm.envpack" --endpoint "$E"
er() { # s3:// finds the store through AWS_ENDPOINT_URL
	env AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" AWS_ENDPOINT_URL="$E" \
		AWS_SHARED_CREDENTIALS_FILE=/dev/null timeout -k 5 300 "$ENVPACK" "$@"
}
expect_exit 0 "verify --deep straight from s3://" er verify -p "$T/rk.pub" --deep "s3://$B/c/vm.envpack"
expect_exit 0 "inspect straight from s3://" er inspect --json "s3://$B/c/vm.envpack"
check "inspect sees both components" python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); assert [c["name"] for c in j["components"]] == ["vm", "tree"], j' "$T/out"
expect_exit 0 "restore straight from s3://" er restore -q -p "$T/rk.pub" "s3://$B/c/vm.envpack" --to "dir:$T/from-s3"
check "the disk is the source's" cmp "$T/vm.raw" "$T/from-s3/vm.raw"
check "the tree is the source's" diff -r "$T/tree" "$T/from-s3/tree"
check "no local copy was made: the reads were ranges" test -n "$(s3_requests s 'GET [^ ]*c/vm.envpack 206')" -a -z "$(s3_requests s 'GET [^ ]*c/vm.envpack 200')"
expect_exit 0 "verify --deep from a plain http:// URL" "$ENVPACK" verify -p "$T/rk.pub" --deep "$E/$B/c/vm.envpack"
expect_exit 2 "a missing object is refused" er verify -p "$T/rk.pub" "s3://$B/c/none.envpack"
expect_err "does not exist" "and named"
head -c 200000 "$T/vm.envpack" >"$T/cut.envpack"
aws_s3 s s3api put-object --bucket "$B" --key c/cut.envpack --body "$T/cut.envpack" >/dev/null # push refuses it
expect_exit 3 "a truncated remote bundle fails verification" er verify -p "$T/rk.pub" "s3://$B/c/cut.envpack"
cat "$T/vm.envpack" "$T/small.envpack" >"$T/appended.envpack"
aws_s3 s s3api put-object --bucket "$B" --key c/appended.envpack --body "$T/appended.envpack" >/dev/null
expect_exit 3 "a remote bundle with a second archive after its end is refused" er verify -p "$T/rk.pub" "s3://$B/c/appended.envpack"
expect_err "appended.envpack': data follows the end-of-archive marker" "the message says so"
python3 - "$T/vm.envpack" "$T/flip.envpack" <<'PY'
import sys, tarfile
data = bytearray(open(sys.argv[1], "rb").read())
with tarfile.open(sys.argv[1]) as t:
    m = [m for m in t.getmembers() if m.name.startswith("chunks/")][0]
data[m.offset_data + 100] ^= 0xFF
open(sys.argv[2], "wb").write(data)
PY
ep push -q "$T/flip.envpack" "s3://$B/c/flip.envpack" --endpoint "$E" 2>/dev/null
expect_exit 3 "a flipped byte in a remote chunk fails --deep" er verify -p "$T/rk.pub" --deep "s3://$B/c/flip.envpack"

# 9. --endpoint names the store for verify, inspect and restore (no AWS_ENDPOINT_URL)
en() { env -u AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" \
	AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null timeout -k 5 300 "$ENVPACK" "$@"; }
expect_exit 0 "verify --deep s3:// with --endpoint" en verify -p "$T/rk.pub" --deep "s3://$B/c/vm.envpack" --endpoint "$E"
expect_exit 0 "inspect s3:// with --endpoint" en inspect "s3://$B/c/vm.envpack" --endpoint "$E"
expect_exit 0 "restore s3:// with --endpoint" en restore -q -p "$T/rk.pub" "s3://$B/c/vm.envpack" --endpoint "$E" --to "dir:$T/from-endpoint"
check "the disk restored through --endpoint is the source's" cmp "$T/vm.raw" "$T/from-endpoint/vm.raw"
expect_exit 2 "--endpoint must be a URL" en verify -p "$T/rk.pub" "s3://$B/c/vm.envpack" --endpoint "ftp://x"

# 10. TLS: a store whose certificate is self-signed is refused, unless --cacert names it
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$T/tls.key" -out "$T/tls.crt" 2>/dev/null || not_ok "make a self-signed certificate"
start_s3_fault tls s pass --tls-cert "$T/tls.crt" --tls-key "$T/tls.key" || not_ok "start the TLS proxy"
TE=$S3_TLS_ENDPOINT
check "the TLS endpoint is https ($TE)" test "${TE%%://*}" = https
expect_exit 1 "push to a self-signed store is refused" ep push -q --retries 1 "$T/small.envpack" "s3://$B/t/small.envpack" --endpoint "$TE"
expect_err 'certificate|SSL|TLS' "and says it is the certificate"
check "nothing was stored by the refused push" absent t/small.envpack
expect_exit 0 "push with --cacert naming it" ep push -q --cacert "$T/tls.crt" "$T/small.envpack" "s3://$B/t/small.envpack" --endpoint "$TE"
check "what went up over TLS is the bundle" same_object t/small.envpack "$T/small.envpack"
expect_exit 1 "verify over https:// without --cacert is refused" "$ENVPACK" verify -p "$T/rk.pub" "$TE/$B/c/vm.envpack"
expect_exit 0 "verify --deep over https:// with --cacert" "$ENVPACK" verify -p "$T/rk.pub" --deep --cacert "$T/tls.crt" "$TE/$B/c/vm.envpack"
expect_exit 0 "pull over TLS with --cacert" ep pull --cacert "$T/tls.crt" "s3://$B/t/small.envpack" -o "$T/tls-pulled.envpack" --endpoint "$TE"
check "pulled over TLS = pushed" cmp "$T/tls-pulled.envpack" "$T/small.envpack"
stop_s3 tls

# 11. a proxy from the environment (http_proxy) carries the requests
start_s3_fault fwd s pass || not_ok "start a forward proxy"
expect_exit 0 "push through http_proxy" env http_proxy="$S3_FWD_ENDPOINT" no_proxy= NO_PROXY= AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" \
	AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" AWS_SHARED_CREDENTIALS_FILE=/dev/null timeout 120 \
	"$ENVPACK" push -q "$T/small.envpack" "s3://$B/p/small.envpack" --endpoint "$E"
check "the proxy carried the upload" test -n "$(s3_requests fwd 'PUT [^ ]*p/small.envpack 200')"
check "what went up through the proxy is the bundle" same_object p/small.envpack "$T/small.envpack"
stop_s3 fwd

# 12. the server killed mid-upload (SIGKILL) and started again: the next push resumes, the object whole
start_s3 k || not_ok "start a second S3 server"
start_s3_fault kslow k slow 0.4 || not_ok "start a slow proxy in front of it"
head -c 40M /dev/urandom >"$T/k.raw"
"$ENVPACK" pack -q -k "$T/k.key" -o "$T/k.envpack" "disk:$T/k.raw" || not_ok "pack a 40 MiB bundle"
k_size=$(stat -c %s "$T/k.envpack")
ep push -q --part-size 5 -j 1 --retries 2 --timeout 5 "$T/k.envpack" "s3://$B/k/k.envpack" --endpoint "$S3_KSLOW_ENDPOINT" \
	>"$T/k.out" 2>"$T/k.err" &
kpush=$!
for _ in $(seq 300); do # until the server holds two parts
	[ "$(s3_requests k "^[^ ]+ [^ ]+ PUT [^ ]*[?&]partNumber=" | awk '$5 == 200' | wc -l)" -ge 2 ] && break
	sleep 0.1
done
kill_s3 k
wait "$kpush"
kfirst=$?
revive_s3 k || not_ok "start the killed S3 server again"
check "the push whose server was killed failed (exit $kfirst)" test "$kfirst" != 0
kept=$(s3_requests k "^[^ ]+ [^ ]+ PUT [^ ]*[?&]partNumber=" | awk '$5 == 200' | wc -l)
check "the killed server had stored parts ($kept)" test "$kept" -ge 2
k_absent() { ! aws_s3 k s3api head-object --bucket "$B" --key k/k.envpack >/dev/null 2>&1; }
check "nothing published by the cut push" k_absent
before=$(s3_requests k "^[^ ]+ [^ ]+ PUT [^ ]*[?&]partNumber=" | wc -l)
expect_exit 0 "the push re-run against the restarted server" ep push -q --part-size 5 "$T/k.envpack" "s3://$B/k/k.envpack" --endpoint "$S3_K_ENDPOINT"
after=$(s3_requests k "^[^ ]+ [^ ]+ PUT [^ ]*[?&]partNumber=" | wc -l)
k_total=$(( (k_size + 5 * 1048576 - 1) / (5 * 1048576) ))
check "it resumed: $((after - before)) of $k_total parts sent again" test $((after - before)) -lt "$k_total"
k_same() { rm -f "$T/got" && aws_s3 k s3api get-object --bucket "$B" --key k/k.envpack "$T/got" >/dev/null && cmp "$T/got" "$T/k.envpack"; }
check "the object after the restart is the bundle" k_same

finish
