#include "formats/image/walk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/digestmap.h"

struct walk {
	const struct ep_image_walk_ops *ops;
	void *ctx;
	const char *where;
	struct ep_digestmap *seen;
	struct ep_error *err;
};

static int bad(struct walk *w, int code, const char *what, const char *detail)
{
	return ep_fail(w->err, code, "%s: %s: %s", w->where, what, detail);
}

static int walk_descriptor(struct walk *w, json_t *desc, int depth);

static int walk_list(struct walk *w, json_t *list, int depth)
{
	size_t i;
	json_t *d;
	if (!json_is_array(list))
		return 0;
	json_array_foreach(list, i, d)
	{
		int rc = walk_descriptor(w, d, depth);
		if (rc)
			return rc;
	}
	return 0;
}

static int walk_descriptor(struct walk *w, json_t *desc, int depth)
{
	struct ep_image_node n = { .desc = desc, .depth = depth };
	n.digest = json_string_value(json_object_get(desc, "digest"));
	n.media_type = json_string_value(json_object_get(desc, "mediaType"));
	uint8_t raw[EP_DIGEST_LEN];
	if (depth > EP_OCI_MAX_DEPTH)
		return bad(w, EP_EINPUT, "indexes nest too deep", "more than 8 levels (a loop?)");
	if (!(n.hex = ep_oci_digest(desc, raw, &n.size)))
		return bad(w, EP_EINPUT, "a descriptor has no sha256 digest or no size", n.digest ? n.digest : "(none)");
	if (ep_digestmap_get(w->seen, raw, NULL))
		return 0;
	if (!ep_digestmap_put(w->seen, raw, 1))
		return ep_oom(w->err);
	n.kind = ep_oci_kind(n.media_type);
	if (n.kind == EP_OCI_LEAF)
		return w->ops->visit(w->ctx, &n, NULL, 0, w->err);
	if (n.size > EP_OCI_JSON_MAX)
		return bad(w, EP_EINPUT, "a manifest or index is larger than 4 MiB", n.digest);
	char *bytes = NULL, hex[EP_DIGEST_HEX];
	size_t len = 0;
	int rc = w->ops->load(w->ctx, &n, &bytes, &len, w->err);
	uint8_t got[EP_DIGEST_LEN];
	if (!rc) {
		ep_sha256(bytes, len, got);
		ep_hex(got, EP_DIGEST_LEN, hex);
		if (len != n.size || strcmp(hex, n.hex) != 0)
			rc = ep_fail(w->err, EP_EINTEGRITY, "%s: blobs/sha256/%s does not match its digest (%zu bytes hashing to sha256:%s)",
				     w->where, n.hex, len, hex);
	}
	json_t *doc = NULL;
	json_error_t je;
	if (!rc && !(doc = json_loadb(bytes, len, JSON_REJECT_DUPLICATES, &je)))
		rc = ep_fail(w->err, EP_EINPUT, "%s: blobs/sha256/%s is not JSON: %s (line %d)", w->where, n.hex,
			     ep_printable(je.text), je.line);
	if (!rc)
		rc = w->ops->visit(w->ctx, &n, bytes, len, w->err);
	free(bytes);
	if (!rc && n.kind == EP_OCI_INDEX)
		rc = walk_list(w, json_object_get(doc, "manifests"), depth + 1);
	else if (!rc && !(rc = walk_descriptor(w, json_object_get(doc, "config"), depth + 1)))
		rc = walk_list(w, json_object_get(doc, "layers"), depth + 1);
	json_decref(doc);
	return rc;
}

int ep_image_walk(json_t *desc, const struct ep_image_walk_ops *ops, void *ctx, const char *where,
		  struct ep_digestmap *seen, struct ep_error *err)
{
	struct walk w = { ops, ctx, where, seen, err };
	return walk_descriptor(&w, desc, 0);
}

bool ep_image_platform(json_t *desc, char *buf, size_t cap)
{
	json_t *p = json_object_get(desc, "platform");
	const char *os = json_string_value(json_object_get(p, "os"));
	const char *arch = json_string_value(json_object_get(p, "architecture"));
	const char *variant = json_string_value(json_object_get(p, "variant"));
	if (!os || !arch)
		return false;
	snprintf(buf, cap, "%s/%s%s%s", os, arch, variant ? "/" : "", variant ? variant : "");
	return true;
}

json_t *ep_image_choose(json_t *index, const char *platform)
{
	size_t i;
	json_t *d, *loose = NULL;
	char have[200];
	json_array_foreach(json_object_get(index, "manifests"), i, d)
	{
		if (!ep_image_platform(d, have, sizeof have))
			continue;
		if (!strcmp(have, platform))
			return d;
		size_t n = strlen(platform);
		if (!loose && !strncmp(have, platform, n) && have[n] == '/' && !strchr(platform + strcspn(platform, "/") + 1, '/'))
			loose = d;
	}
	return loose;
}

/* GOARCH names, as image indexes spell them. */
const char *ep_image_host_platform(void)
{
#if defined(__x86_64__)
	return "linux/amd64";
#elif defined(__aarch64__)
	return "linux/arm64";
#elif defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7
	return "linux/arm/v7";
#elif defined(__arm__)
	return "linux/arm/v6";
#elif defined(__i386__)
	return "linux/386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "linux/ppc64le";
#elif defined(__s390x__)
	return "linux/s390x";
#elif defined(__riscv) && __riscv_xlen == 64
	return "linux/riscv64";
#else
	return NULL;
#endif
}
