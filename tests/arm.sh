# Azure AD and Azure Resource Manager for tests: tests/tools/arm_fake.py, a fake (no real
# ARM or Azure AD can run here: they are Microsoft's services alone) whose SAS URLs point
# at real page blobs in Azurite. Sourced after tests/lib.sh and tests/azure.sh.
#
#   ARM_ARGS=(--disk NAME=SAS_URL ... --vm ...)
#                           what every fake started here serves (arm_fake.py's arguments)
#   start_arm NAME ARGS...  a fake (ARM_ARGS, then ARGS): ARM_NAME (upper-cased) its URL,
#                           $T/arm-NAME.log its request log
#   arm URL ARGS...         envpack ARGS with the service principal, Azure AD and ARM at URL,
#                           nothing else of Azure's from the environment
#   noaz CMD...             CMD without any Azure variable
#   log_q NAME EXPR         EXPR over L, the fake NAME's log (a list of dicts)
#   state URL DISK          the disk's grant state: none, granted or revoked
#   grants URL              every grant and revocation the fake took, in order (JSON)
#   nothing_left            whether $T holds no x* file: what a failed pack -o "$T/x..." left
# RG is a resource group's Microsoft.Compute provider path, for the disks' and VMs' ids.
TENANT=5f1c9e2a-0000-4000-8000-00000000aaaa CLIENT=envpack-sp SECRET='s3cr3t~Value.With_Chars-1'
RG=/subscriptions/0a1b2c3d-0000-4000-8000-000000000001/resourceGroups/envpack-rg/providers/Microsoft.Compute
ARM_ARGS=()

noaz() { env -u AZURE_STORAGE_CONNECTION_STRING -u AZURE_STORAGE_ACCOUNT -u AZURE_STORAGE_KEY -u AZURE_STORAGE_SAS_TOKEN \
	-u AZURE_TENANT_ID -u AZURE_CLIENT_ID -u AZURE_CLIENT_SECRET -u AZURE_AUTHORITY_HOST "$@"; }

start_arm() {
	local name=$1
	shift
	srv_spawn "arm/$name" "$T/arm-$name.port" "$T/arm-$name.err" "start_arm $name" timeout -k 5 600 \
		python3 "$AZ_TOOLS/arm_fake.py" --tenant "$TENANT" --client-id "$CLIENT" --client-secret "$SECRET" \
		"${ARM_ARGS[@]}" --port-file "$T/arm-$name.port" --log "$T/arm-$name.log" --lifetime 600 "$@" || return 1
	printf -v "ARM_${name^^}" 'http://127.0.0.1:%s' "$SRV_PORT"
}

arm() {
	local url=$1
	shift
	noaz AZURE_TENANT_ID="$TENANT" AZURE_CLIENT_ID="$CLIENT" AZURE_CLIENT_SECRET="$SECRET" AZURE_AUTHORITY_HOST="$url" \
		timeout -k 5 300 "$ENVPACK" "$@" --input-option "arm-endpoint=$url"
}

log_q() { python3 -c 'import json, sys; L = [json.loads(l) for l in open(sys.argv[1])]; print(eval(sys.argv[2]))' "$T/arm-$1.log" "$2"; }
state() { curl -s "$1/_state" | python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"; }
grants() { curl -s "$1/_grants"; }
nothing_left() { test -z "$(find "$T" -maxdepth 1 \( -name 'x*' -o -name '.x*' \) -print -quit)"; }
