# Container registries: images pulled into bundles and pushed back out, against
# real docker-registry instances (anonymous, basic auth, token auth), judged by
# skopeo; and fake registries that fail on purpose.
source "$(dirname "$0")/../lib.sh"
source "$HERE/registry.sh"
cd "$T" || exit 1
E=$ENVPACK
digest() { skopeo inspect --raw "$@" | sha256sum | cut -d' ' -f1 | sed 's/^/sha256:/'; }
catalog() { curl -s "http://$1/v2/_catalog"; }

make_image_layout src || { not_ok "the test images could not be made"; finish; exit 0; }
start_registry a && start_registry b || { not_ok "docker-registry did not start"; finish; exit 0; }
push_test_image src:app "$REG_A/team/app:v1" && push_test_image src:multi "$REG_A/team/multi:v1"
check "skopeo pushed the test images" skopeo inspect --tls-verify=false "docker://$REG_A/team/app:v1"
"$E" keygen -o k >/dev/null
net=(--insecure-registry "$REG_A" --insecure-registry "$REG_B" --timeout 5 --retries 3)

# pull: registry -> bundle -> OCI layout, digests kept
expect_exit 0 "pack an image from a registry" "$E" pack -q -k k.key -o app.envpack "${net[@]}" "image:docker://$REG_A/team/app:v1"
expect_exit 0 "restore it to oci:" "$E" restore -q -p k.pub app.envpack --to oci:restored/app
check "the manifest digest is the registry's" test "$(digest oci:restored/app:v1)" = "$(digest --tls-verify=false "docker://$REG_A/team/app:v1")"
check "skopeo copies the restored layout (every blob checked)" skopeo copy -q oci:restored/app:v1 oci:copied:v1
expect_exit 0 "pack by digest" "$E" pack -q -k k.key -o bydigest.envpack "${net[@]}" \
	"image:docker://$REG_A/team/app@$(digest --tls-verify=false "docker://$REG_A/team/app:v1")"

# migration: registry A -> bundle -> registry B, manifest digests equal
expect_exit 0 "restore --dry-run names the destination" "$E" restore -p k.pub --dry-run app.envpack "${net[@]}" --to "registry://$REG_B/copy"
check "the plan shows PREFIX/NAME:TAG" grep -q "registry://$REG_B/copy/app:v1" "$T/out"
check "a dry run pushes nothing" test "$(catalog "$REG_B")" = '{"repositories":[]}'
expect_exit 0 "restore to a second registry" "$E" restore -q -p k.pub app.envpack "${net[@]}" --to "registry://$REG_B/copy"
check "the migrated manifest digest is the source's" \
	test "$(digest --tls-verify=false "docker://$REG_B/copy/app:v1")" = "$(digest --tls-verify=false "docker://$REG_A/team/app:v1")"
check "skopeo pulls the migrated image (every blob checked)" skopeo copy -q --src-tls-verify=false "docker://$REG_B/copy/app:v1" oci:pulled:v1
expect_exit 0 "a chunked push (PATCH pieces of 1 MiB)" "$E" restore -q -p k.pub app.envpack "${net[@]}" --chunk-size 1 --to "registry://$REG_B/chunked"
check "the chunked push is whole, digests unchanged" sh -c "skopeo copy -q --src-tls-verify=false docker://$REG_B/chunked/app:v1 oci:chunked:v1 && test \"\$(skopeo inspect --raw oci:chunked:v1 | sha256sum | cut -d' ' -f1)\" = \"$(digest oci:restored/app:v1 | cut -d: -f2)\""
check "the registry saw the pieces" grep -q 'PATCH.*chunked/app/blobs/uploads' "$REG_B_DIR/log"
expect_exit 0 "pushing again skips what the registry has" "$E" restore -q -p k.pub app.envpack "${net[@]}" --to "registry://$REG_B/copy"
expect_exit 0 "a second repository mounts the blobs" "$E" restore -q -p k.pub app.envpack "${net[@]}" --to "registry://$REG_B/other"
check "the mounted image is whole" skopeo copy -q --src-tls-verify=false "docker://$REG_B/other/app:v1" oci:pulled2:v1

# multi-arch: the whole index, or one platform
expect_exit 0 "pack a multi-arch index whole" "$E" pack -q -k k.key -o multi.envpack "${net[@]}" "image:docker://$REG_A/team/multi:v1"
expect_exit 0 "push the index" "$E" restore -q -p k.pub multi.envpack "${net[@]}" --to "registry://$REG_B/copy"
check "the index digest is unchanged" \
	test "$(digest --tls-verify=false "docker://$REG_B/copy/multi:v1")" = "$(digest --tls-verify=false "docker://$REG_A/team/multi:v1")"
check "every platform came along" skopeo copy -q --all --src-tls-verify=false "docker://$REG_B/copy/multi:v1" oci:multi-all:v1
arm=$(skopeo inspect --raw --tls-verify=false "docker://$REG_A/team/multi:v1" |
	python3 -c 'import json,sys; print([m["digest"] for m in json.load(sys.stdin)["manifests"] if m["platform"]["architecture"] == "arm64"][0])')
expect_exit 0 "pack one platform with --platform" "$E" pack -q -k k.key -o arm.envpack "${net[@]}" --platform linux/arm64 "image:docker://$REG_A/team/multi:v1"
expect_exit 0 "restore it" "$E" restore -q -p k.pub arm.envpack --to oci:arm
check "it is the arm64 manifest" test "$(digest oci:arm:v1)" = "$arm"
expect_exit 2 "an unknown platform is refused" "$E" pack -q -o none.envpack "${net[@]}" --platform linux/s390x "image:docker://$REG_A/team/multi:v1"
expect_err "no image for platform linux/s390x" "the message names the platform"

# tags sharing a manifest (umoci tag), and an index naming a tagged manifest: every
# tag pushed, the index's children before it, whatever the order of index.json
skopeo copy -q oci:src:app oci:pair:a && umoci tag --image pair:a b >/dev/null
expect_exit 0 "pack a layout with two tags of one manifest" "$E" pack -q -k k.key -o pair.envpack image:oci:pair
expect_exit 0 "push both tags" "$E" restore -q -p k.pub pair.envpack "${net[@]}" --to "registry://$REG_B/two"
for tag in a b; do
	check "pair:$tag is in the registry with the layout's digest" \
		test "$(digest --tls-verify=false "docker://$REG_B/two/pair:$tag")" = "$(digest "oci:pair:$tag")"
done
cp -r src tags && umoci tag --image tags:app app2 >/dev/null
cp -r tags rtags && python3 -c '
import json, sys; f = sys.argv[1]; i = json.load(open(f)); i["manifests"].reverse(); json.dump(i, open(f, "w"))' rtags/index.json
expect_exit 0 "pack layouts whose tags share manifests" "$E" pack -q -k k.key -o tags.envpack image:oci:tags image:oci:rtags
expect_exit 0 "push every tag of them" "$E" restore --json -p k.pub tags.envpack "${net[@]}" --to "registry://$REG_B/tagged"
check "--json names every tag" grep -q "registry://$REG_B/tagged/rtags:app2,multi,app\"" "$T/out"
for repo in tags rtags; do
	for tag in app app2 multi; do
		check "$repo:$tag is in the registry with the layout's digest" \
			test "$(digest --tls-verify=false "docker://$REG_B/tagged/$repo:$tag")" = "$(digest "oci:tags:$tag")"
	done
done
check "a second tag is one more manifest PUT" test "$(grep -c 'PUT /v2/tagged/tags/manifests/' "$REG_B_DIR/log")" = 4

# credentials: basic auth and token auth, from REGISTRY_AUTH_FILE only
for mode in htpasswd token; do
	name=auth_$mode
	start_registry "$name" "$mode" || { not_ok "$mode registry did not start"; continue; }
	var=REG_AUTH_${mode^^}
	addr=${!var} authfile=$(eval echo "\$${var}_AUTH")
	push_test_image src:app "$addr/team/app:v1"
	if [ $mode = htpasswd ]; then
		expect_exit 2 "$mode: without credentials, a pull is refused" "$E" pack -q -o anon.envpack --insecure-registry "$addr" --retries 1 "image:docker://$addr/team/app:v1"
		check "$mode: no bundle is left" test ! -e anon.envpack
	else # the token server lets anyone pull, and only the user push
		expect_exit 2 "$mode: without credentials, a push is refused" "$E" restore -q -p k.pub app.envpack --insecure-registry "$addr" --retries 1 --to "registry://$addr/anon"
	fi
	expect_err "401|Unauthorized|no credentials" "$mode: the message says credentials are missing"
	REGISTRY_AUTH_FILE=$authfile expect_exit 0 "$mode: pull with the auth file" "$E" pack -q -k k.key -o auth-$mode.envpack --insecure-registry "$addr" "image:docker://$addr/team/app:v1"
	REGISTRY_AUTH_FILE=$authfile expect_exit 0 "$mode: push with the auth file" "$E" restore -q -p k.pub auth-$mode.envpack --insecure-registry "$addr" --to "registry://$addr/pushed"
	check "$mode: the pushed digest is the source's" test "$(skopeo inspect --raw --tls-verify=false --creds "$REG_USER:$REG_PASS" "docker://$addr/pushed/app:v1" | sha256sum | cut -d' ' -f1)" = "$(digest oci:restored/app:v1 | cut -d: -f2)"
	check "$mode: the password is never printed" sh -c "! grep -q '$REG_PASS' '$T/out' '$T/err'"
	chmod 644 "$authfile"
	REGISTRY_AUTH_FILE=$authfile expect_exit 2 "$mode: an auth file others can read is refused" "$E" pack -q -o open.envpack --insecure-registry "$addr" "image:docker://$addr/team/app:v1"
	expect_err "chmod 600" "$mode: the message says how to fix it"
	chmod 600 "$authfile"
	stop_registry "$name"
done

# TLS: verified always; --cacert adds a CA to the system's
if start_registry tls tls; then
	skopeo copy -q --all --dest-cert-dir "$(dirname "$REG_TLS_CA")" oci:src:app "docker://$REG_TLS/team/app:v1" 2>/dev/null ||
		skopeo copy -q --all --dest-tls-verify=false oci:src:app "docker://$REG_TLS/team/app:v1"
	expect_exit 1 "an unknown CA is refused" "$E" pack -q -o tls-bad.envpack --retries 1 "image:docker://$REG_TLS/team/app:v1"
	expect_err "certificate|SSL" "the message says why"
	check "no bundle is left" test ! -e tls-bad.envpack
	expect_exit 0 "--cacert trusts the test CA" "$E" pack -q -k k.key -o tls-ok.envpack --cacert "$REG_TLS_CA" "image:docker://$REG_TLS/team/app:v1"
	expect_exit 0 "and pushes over TLS too" "$E" restore -q -p k.pub tls-ok.envpack --cacert "$REG_TLS_CA" --to "registry://$REG_TLS/back"
	check "the digest survives the TLS round trip" test "$(digest --tls-verify=false "docker://$REG_TLS/back/app:v1")" = "$(digest oci:restored/app:v1)"
	stop_registry tls
else
	not_ok "a TLS registry did not start"
fi

# plain HTTP only where named
expect_exit 1 "without --insecure-registry, TLS is required" "$E" pack -q -o tls.envpack --timeout 3 --retries 1 "image:docker://$REG_A/team/app:v1"
check "no bundle is left" test ! -e tls.envpack

# registries that fail
bad() { # bad MODE CODE WHAT [pattern]
	start_bad_registry "bad_$1" "$1" || { not_ok "bad registry $1 did not start"; return; }
	local var=REG_BAD_${1^^}
	expect_exit "$2" "$3" "$E" pack -q -o "bad-$1.envpack" --insecure-registry "${!var}" --timeout 3 --retries 2 "image:docker://${!var}/x/img:v1"
	[ -z "${4:-}" ] || expect_err "$4" "$1: the message says what went wrong"
	check "$1: no bundle is left" test ! -e "bad-$1.envpack"
	stop_registry "bad_$1"
}
bad 401 2 "a registry answering 401" "401"
bad 500 1 "a registry answering 500" "500"
bad garbage 2 "a manifest that is not JSON" "not JSON"
bad baddigest 3 "a layer whose bytes don't match its digest" "do not match its digest"
bad hang 1 "a registry that never answers" "timed out"
bad loop 3 "an index naming itself" "does not match|digest"
bad deep 2 "indexes nested without end" "too deep"
for mode in flaky drop; do
	start_bad_registry "bad_$mode" "$mode"
	var=REG_BAD_${mode^^}
	expect_exit 0 "$mode: retried until it works" "$E" pack -q -o "$mode.envpack" --insecure-registry "${!var}" --timeout 5 "image:docker://${!var}/x/img:v1"
	expect_exit 0 "$mode: the bundle holds the whole image" "$E" restore -q --insecure-skip-verify "$mode.envpack" --to "oci:$mode-out"
	check "$mode: skopeo checks every blob" skopeo copy -q "oci:$mode-out:v1" "oci:$mode-copy:v1"
	stop_registry "bad_$mode"
done
[ "$(grep -c ' 206$' "$T/bad_drop/requests.log" 2>/dev/null)" -ge 1 ] && ok "drop: the download resumed with a range" || not_ok "drop: no ranged request: $(cat "$T/bad_drop/requests.log")"

start_bad_registry bad_push pushfail
expect_exit 1 "a registry refusing the manifest fails the push" "$E" restore -q -p k.pub app.envpack --insecure-registry "$REG_BAD_PUSH" --retries 2 --to "registry://$REG_BAD_PUSH/x"
expect_err "manifest.*500" "the message names the manifest and the answer"
check "the manifest PUT came after every blob upload" python3 -c '
import sys
lines = [l.split() for l in open(sys.argv[1])]
puts = [i for i, l in enumerate(lines) if l[2] == "PUT" and "/manifests/" in l[3]]
blobs = [i for i, l in enumerate(lines) if l[2] == "PUT" and "/blobs/uploads/" in l[3]]
assert puts and blobs and min(puts) > max(blobs), (puts, blobs)' "$T/bad_push/requests.log"
finish
