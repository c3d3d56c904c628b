# The EC2 endpoint for tests: tests/tools/ec2_fake.py (every request checked against
# botocore's signer and EC2 model) in front of a real S3 server. Sourced after tests/lib.sh
# and tests/s3.sh, with E set to that S3 server's endpoint.
#
#   start_ec2 NAME ARGS...   the fake (ARGS: its options, e.g. --polls N); EC2_NAME is its
#                            URL, $T/NAME.log its log (a JSON object a line)
#   ea EC2_URL ARGS...       envpack with the test credentials, S3 ($S3_URL, else $E) and EC2
#                            from the environment, nothing from ~/.aws
#   log_q NAME PYTHON-EXPR   evaluates EXPR over L, the fake NAME's log (a list of dicts); prints it
# A capture's (vm:aws:) checks, with $B the bucket on the S3 server "s", $T/k.pub the key
# and $T/web.raw the exported disk:
#   exports PREFIX           the objects under PREFIX in the bucket, one a line
#   same_disk BUNDLE         restored to dir:, the one disk is web.raw
#   machine_is BUNDLE DISK PYTHON-DICT   the one machine has these fields, its one disk DISK

start_ec2() {
	local name=$1 port
	shift
	timeout -k 5 600 python3 "$S3_TOOLS/ec2_fake.py" --s3 "$E" --access-key "$S3_ACCESS_KEY" \
		--secret-key "$S3_SECRET_KEY" --region us-east-1 --port-file "$T/$name.port" --log "$T/$name.log" \
		--lifetime 600 "$@" >/dev/null 2>>"$T/$name.err" &
	SRV_PIDS[ec2/$name]=$!
	port=$(srv_wait_port_file "$T/$name.port" $!) || { cat "$T/$name.err" >&2; return 1; }
	printf -v "EC2_${name^^}" 'http://127.0.0.1:%s' "$port"
}

ea() {
	local ec2=$1
	shift
	env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL -u AWS_REGION AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" \
		AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL_S3="${S3_URL:-$E}" \
		AWS_ENDPOINT_URL_EC2="$ec2" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
		timeout -k 5 300 "$ENVPACK" "$@"
}

log_q() { python3 -c 'import json, sys
L = [json.loads(l) for l in open(sys.argv[1])] if __import__("os").path.exists(sys.argv[1]) else []
print(eval(sys.argv[2]))' "$T/$1.log" "$2"; }

exports() { aws_s3 s s3api list-objects-v2 --bucket "$B" --prefix "$1" --query 'Contents[].Key' --output text | tr '\t' '\n' | grep -v '^None$'; }

same_disk() {
	rm -rf "$T/r" && "$ENVPACK" restore -q -p "$T/k.pub" "$1" --to "dir:$T/r" &&
		qemu-img compare -q -F raw "$(ls "$T"/r/*.raw)" "$T/web.raw"
}

machine_is() {
	"$ENVPACK" inspect --json "$1" >"$T/inspect.json" && python3 - "$T/inspect.json" "$2" "$3" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))["machines"]
assert len(m) == 1, m
bad = {k: (m[0].get(k), v) for k, v in eval(sys.argv[3]).items() if m[0].get(k) != v}
assert not bad, bad
assert [(d["component"], d["boot"]) for d in m[0]["disks"]] == [(sys.argv[2], 1)], m[0]["disks"]
EOF
}
