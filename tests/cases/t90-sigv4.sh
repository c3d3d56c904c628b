# SigV4 against an independent judge: for each request shape envpack's S3 client
# will send (object PUT/GET-with-Range/HEAD/DELETE, the multipart calls,
# ListObjectsV2, awkward keys, a session token, presigned URLs, a non-S3
# service), botocore signs the same request at the same fixed time and its
# Authorization header (or presigned query) must equal envpack's. The official
# AWS vectors are checked by the unit test sigv4_aws_suite.
source "$(dirname "$0")/../lib.sh"
cd "$T" || exit 1
SIGN=${SIGV4_SIGN:-${BUILD:-$HERE/../build/release}/sigv4-sign}
JUDGE=$HERE/tools/sigv4_judge.py
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
unset AWS_SESSION_TOKEN

check "botocore is there to judge" python3 -c 'import botocore.auth'
for shape in $(python3 "$JUDGE" --list); do
	check "sigv4 $shape: envpack signs as botocore does" python3 "$JUDGE" "$SIGN" "$shape"
done
check "the judge notices a wrong signature" bash -c "! python3 '$JUDGE' /bin/echo put-object"

expect_exit 2 "a malformed time is refused" "$SIGN" -t 2015-08-30 GET /b/k '' host:h
expect_err "YYYYMMDDTHHMMSSZ" "the message says what a time looks like"
AWS_SESSION_TOKEN=$'zqx\r\nX-Injected: 1' expect_exit 2 "a token with a line break is refused" \
	"$SIGN" -t 20150830T123600Z GET /b/k '' host:h
check "the token is not quoted back" bash -c "! grep -q zqx '$T/err'"
AWS_SECRET_ACCESS_KEY=$(head -c 300 /dev/zero | tr '\0' s) expect_exit 2 "an oversized secret is refused" \
	"$SIGN" -t 20150830T123600Z GET /b/k '' host:h
check "the secret is not quoted back" bash -c "! grep -q sss '$T/err'"
finish
