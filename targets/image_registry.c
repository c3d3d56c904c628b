/*
 * registry://HOST[:PORT]/PREFIX — each image component pushed to
 * PREFIX/NAME:TAG through the distribution API. Blobs go first, each skipped
 * when the registry has it (HEAD), mounted when this push already placed it
 * in another repository, else streamed from the bundle's verified chunks;
 * manifests are PUT only at commit, children before the indexes naming them,
 * so a tag never names an image whose blobs are not all in place. A manifest
 * several tags name is PUT once more for each further tag.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/digestmap.h"
#include "formats/image/distribution.h"
#include "formats/image/walk.h"
#include "targets/target.h"

#define REF_NAME "org.opencontainers.image.ref.name"

struct manifest_put {
	char repo[300];
	char ref[130]; /* a tag or a digest */
	char digest[72];
	char media[200];
	char *bytes;
	size_t len;
	int depth; /* in the walk: while queued, the put waits for its subtree */
};

struct pushed { /* a blob this push placed, and where: the source of later mounts */
	char hex[EP_DIGEST_HEX];
	char repo[300];
};

struct reg_target {
	struct ep_target base;
	struct ep_registry *registry;
	char host[256], prefix[256];
	struct manifest_put *puts;
	size_t nputs, cap_puts;
	struct pushed *pushed;
	size_t npushed, cap_pushed;
};

static int reg_open(struct ep_target **out, const char *location, const struct ep_target_options *opt,
		    struct ep_error *err)
{
	static const struct ep_registry_options none;
	const char *slash = strchr(location, '/');
	/* the location is registry://..., so what follows the scheme's ':' starts with "//" */
	if (!strncmp(location, "//", 2))
		slash = strchr(location += 2, '/');
	if (!slash || (size_t)(slash - location) >= 256 || !ep_image_repo_ok(slash + 1))
		return ep_fail(err, EP_EINPUT,
			       "registry:%s: name the registry and a repository prefix, as registry://HOST[:PORT]/PREFIX",
			       location);
	struct reg_target *t = calloc(1, sizeof *t);
	if (!t)
		return ep_oom(err);
	t->base.ops = &ep_target_registry;
	memcpy(t->host, location, (size_t)(slash - location));
	snprintf(t->prefix, sizeof t->prefix, "%s", slash + 1);
	int rc = ep_registry_open(&t->registry, t->host, opt && opt->registry ? opt->registry : &none, err);
	if (rc) {
		free(t);
		return rc;
	}
	*out = &t->base;
	return 0;
}

/* PREFIX/NAME, NAME being the component's name in lowercase. */
static int repo_of(const struct reg_target *t, const struct ep_component *c, char *repo, size_t cap,
		   struct ep_error *err)
{
	if (c->type != EP_COMP_IMAGE)
		return ep_fail(err, EP_EINPUT, "registry: takes container images only ('%s' is not one)", c->name);
	if (c->format && strcmp(c->format, "oci") != 0)
		return ep_fail(err, EP_EINPUT, "registry: '%s' was packed from a %s, which has no manifests to push; restore it with docker-archive:",
			       c->name, c->format);
	int n = snprintf(repo, cap, "%s/%s", t->prefix, c->name);
	for (char *p = repo; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (n < 0 || (size_t)n >= cap || !ep_image_repo_ok(repo))
		return ep_fail(err, EP_EINPUT, "registry: '%s' is not a repository name (lowercase letters, digits, '.', '_', '-')",
			       repo);
	return 0;
}

/* The tag a top-level descriptor names, or "" to push it by digest only. */
static void tag_of(json_t *desc, char *tag, size_t cap)
{
	const char *name = json_string_value(json_object_get(json_object_get(desc, "annotations"), REF_NAME));
	snprintf(tag, cap, "%s", name && ep_image_tag_ok(name) ? name : "");
}

static int reg_plan(struct ep_target *base, const struct ep_component *c, char *dest, size_t cap,
		    struct ep_error *err)
{
	struct reg_target *t = (struct reg_target *)base;
	char repo[300];
	int rc = repo_of(t, c, repo, sizeof repo, err);
	if (rc)
		return rc;
	size_t n = (size_t)snprintf(dest, cap, "registry://%s/%s", t->host, repo);
	for (size_t i = 0; i < c->nimages && n < cap; i++) {
		json_t *d = json_loads(c->images[i], 0, NULL);
		char tag[130];
		tag_of(d, tag, sizeof tag);
		n += (size_t)snprintf(dest + n, cap - n, "%s%s", i ? "," : tag[0] ? ":" : "@",
				      tag[0] ? tag : json_string_value(json_object_get(d, "digest")) ?: "?");
		json_decref(d);
	}
	return 0;
}

/* ---- reading the component's files ---- */

struct reader {
	struct reg_target *t;
	const struct ep_component *c;
	struct ep_chunk_stream *s;
	const char *repo;
	struct ep_digestmap *files; /* blob digest -> file record + 1 */
	struct manifest_put *queued; /* the manifests the walk is still under, outermost first */
	size_t nqueued, cap_queued;
	/* the blob being streamed */
	const struct ep_file_rec *f;
	const uint8_t *data;
	size_t len, off;
};

static const struct ep_file_rec *blob_file(struct reader *r, const char *hex)
{
	uint8_t raw[EP_DIGEST_LEN];
	uint64_t v;
	return ep_unhex(hex, raw, EP_DIGEST_LEN) && ep_digestmap_get(r->files, raw, &v) ? &r->c->files[v - 1] : NULL;
}

static int body_rewind(void *ctx, struct ep_error *err)
{
	(void)err;
	struct reader *r = ctx;
	ep_chunk_stream_start(r->s, r->c->chunks + r->f->first, r->f->count);
	r->data = NULL;
	r->len = r->off = 0;
	return 0;
}

static int body_read(void *ctx, void *buf, size_t cap, size_t *got, struct ep_error *err)
{
	struct reader *r = ctx;
	*got = 0;
	while (*got < cap) {
		if (r->off == r->len) {
			int rc = ep_chunk_stream_next(r->s, &r->data, &r->len, err);
			if (rc <= 0)
				return rc;
			r->off = 0;
		}
		size_t n = r->len - r->off < cap - *got ? r->len - r->off : cap - *got;
		memcpy((uint8_t *)buf + *got, r->data + r->off, n);
		r->off += n;
		*got += n;
	}
	return 0;
}

static const struct ep_file_rec *blob_of(struct reader *r, const struct ep_image_node *n, struct ep_error *err)
{
	const struct ep_file_rec *f = blob_file(r, n->hex);
	if (!f || f->size != n->size)
		ep_fail(err, EP_EINTEGRITY, "registry: image '%s' names %s, which the bundle lacks", r->c->name, n->digest);
	return f && f->size == n->size ? f : NULL;
}

static int load(void *ctx, const struct ep_image_node *n, char **bytes, size_t *len, struct ep_error *err)
{
	struct reader *r = ctx;
	const struct ep_file_rec *f = blob_of(r, n, err);
	return f ? ep_chunk_stream_read(r->s, r->c->chunks + f->first, f->count, EP_OCI_JSON_MAX, bytes, len, err)
		 : err->code;
}

static bool mount_source(const struct reg_target *t, const char *hex, const char *repo, const char **from)
{
	for (size_t i = 0; i < t->npushed; i++)
		if (!strcmp(t->pushed[i].hex, hex)) {
			*from = strcmp(t->pushed[i].repo, repo) ? t->pushed[i].repo : NULL;
			return true;
		}
	return false;
}

static int push_blob(struct reader *r, const struct ep_image_node *n, struct ep_error *err)
{
	struct reg_target *t = r->t;
	const char *from = NULL;
	if (mount_source(t, n->hex, r->repo, &from) && !from)
		return 0; /* already pushed to this repository */
	int rc = from ? 0 : ep_registry_has_blob(t->registry, r->repo, n->digest, n->size, err);
	if (rc < 0)
		return rc;
	bool mounted = false;
	if (rc == 0) {
		if (!(r->f = blob_of(r, n, err)))
			return err->code;
		body_rewind(r, err);
		struct ep_http_body body = { n->size, body_read, body_rewind, r };
		if ((rc = ep_registry_put_blob(t->registry, r->repo, n->digest, &body, from, &mounted, err)))
			return rc;
	}
	if (!ep_grow((void **)&t->pushed, &t->cap_pushed, t->npushed + 1, sizeof *t->pushed))
		return ep_oom(err);
	memcpy(t->pushed[t->npushed].hex, n->hex, EP_DIGEST_HEX);
	snprintf(t->pushed[t->npushed++].repo, sizeof t->pushed->repo, "%s", r->repo);
	return 0;
}

static struct manifest_put *add_put(struct reg_target *t, struct ep_error *err)
{
	if (!ep_grow((void **)&t->puts, &t->cap_puts, t->nputs + 1, sizeof *t->puts)) {
		ep_oom(err);
		return NULL;
	}
	return &t->puts[t->nputs++];
}

/* The walk visits a parent before its children: a manifest waits in the queue
 * until the walk reaches a node no deeper than it (its subtree is done), so
 * the puts come out children first, and one an earlier image brought (the
 * walk visits it once) is already before any later index naming it. */
static int dequeue(struct reader *r, int depth, struct ep_error *err)
{
	while (r->nqueued && r->queued[r->nqueued - 1].depth >= depth) {
		struct manifest_put *p = add_put(r->t, err);
		if (!p)
			return err->code;
		*p = r->queued[--r->nqueued];
	}
	return 0;
}

/* Manifests wait for commit; everything else is pushed now. */
static int visit(void *ctx, const struct ep_image_node *n, const char *bytes, size_t len, struct ep_error *err)
{
	struct reader *r = ctx;
	int rc = dequeue(r, n->depth, err);
	if (rc)
		return rc;
	if (!bytes)
		return push_blob(r, n, err);
	if (!ep_grow((void **)&r->queued, &r->cap_queued, r->nqueued + 1, sizeof *r->queued))
		return ep_oom(err);
	struct manifest_put *p = &r->queued[r->nqueued];
	*p = (struct manifest_put){ .len = len, .depth = n->depth };
	char tag[130] = "";
	if (n->depth == 0)
		tag_of(n->desc, tag, sizeof tag);
	snprintf(p->repo, sizeof p->repo, "%s", r->repo);
	snprintf(p->ref, sizeof p->ref, "%s", tag[0] ? tag : n->digest);
	snprintf(p->digest, sizeof p->digest, "%s", n->digest);
	snprintf(p->media, sizeof p->media, "%s", n->media_type);
	if (!(p->bytes = malloc(len ? len : 1)))
		return ep_oom(err);
	memcpy(p->bytes, bytes, len);
	r->nqueued++;
	return 0;
}

static const struct ep_image_walk_ops push_walk = { load, visit };

static const struct manifest_put *find_put(const struct reg_target *t, size_t from, const char *digest,
					   const char *ref)
{
	for (size_t i = from; i < t->nputs; i++)
		if ((!digest || !strcmp(t->puts[i].digest, digest)) && (!ref || !strcmp(t->puts[i].ref, ref)))
			return &t->puts[i];
	return NULL;
}

/* A second tag of a manifest: the walk visits each blob once, so it met this
 * one before (under another tag, or inside an index); PUT it again by this tag. */
static int tag_again(struct reg_target *t, size_t first_put, json_t *desc, struct ep_error *err)
{
	char tag[130];
	tag_of(desc, tag, sizeof tag);
	const char *digest = json_string_value(json_object_get(desc, "digest"));
	const struct manifest_put *same = digest ? find_put(t, first_put, digest, NULL) : NULL;
	if (!tag[0] || !same || find_put(t, first_put, NULL, tag))
		return 0;
	size_t at = (size_t)(same - t->puts);
	struct manifest_put *p = add_put(t, err);
	if (!p)
		return err->code;
	*p = t->puts[at];
	snprintf(p->ref, sizeof p->ref, "%s", tag);
	if (!(p->bytes = malloc(p->len ? p->len : 1))) {
		t->nputs--;
		return ep_oom(err);
	}
	memcpy(p->bytes, t->puts[at].bytes, p->len);
	return 0;
}

static int reg_put_files(struct ep_target *base, const struct ep_component *c, struct ep_chunk_stream *s,
			 struct ep_error *err)
{
	struct reg_target *t = (struct reg_target *)base;
	char repo[300], where[400];
	int rc = repo_of(t, c, repo, sizeof repo, err);
	if (rc)
		return rc;
	struct reader r = { .t = t, .c = c, .s = s, .repo = repo, .files = ep_digestmap_new() };
	struct ep_digestmap *seen = ep_digestmap_new();
	if (!r.files || !seen)
		rc = ep_oom(err);
	else
		rc = ep_target_image_blobs(c, r.files, err);
	snprintf(where, sizeof where, "registry: image '%s'", c->name);
	size_t first_put = t->nputs;
	for (size_t i = 0; !rc && i < c->nimages; i++) {
		json_t *d = json_loads(c->images[i], 0, NULL);
		rc = d ? ep_image_walk(d, &push_walk, &r, where, seen, err)
		       : ep_fail(err, EP_EINPUT, "%s: a descriptor is not JSON", where);
		if (!rc && !(rc = dequeue(&r, 0, err)))
			rc = tag_again(t, first_put, d, err);
		json_decref(d);
	}
	for (size_t i = 0; i < r.nqueued; i++) /* left by a failed walk */
		free(r.queued[i].bytes);
	free(r.queued);
	ep_digestmap_free(r.files);
	ep_digestmap_free(seen);
	return rc;
}

static void reg_free(struct reg_target *t)
{
	for (size_t i = 0; i < t->nputs; i++)
		free(t->puts[i].bytes);
	free(t->puts);
	free(t->pushed);
	ep_registry_close(t->registry);
	free(t);
}

static int reg_commit(struct ep_target *base, struct ep_error *err)
{
	struct reg_target *t = (struct reg_target *)base;
	int rc = 0;
	for (size_t i = 0; !rc && i < t->nputs; i++) {
		struct manifest_put *p = &t->puts[i];
		rc = ep_registry_put_manifest(t->registry, p->repo, p->ref, p->media, p->bytes, p->len, err);
	}
	reg_free(t);
	return rc;
}

/* Blobs already uploaded stay unnamed, for the registry's garbage collector; no tag was written. */
static void reg_abort(struct ep_target *base)
{
	reg_free((struct reg_target *)base);
}

const struct ep_target_ops ep_target_registry = {
	.scheme = "registry",
	.summary = "a container registry: images pushed to PREFIX/NAME:TAG, manifests last",
	.location = "//HOST/PREFIX",
	.open = reg_open,
	.plan = reg_plan,
	.put_files = reg_put_files,
	.commit = reg_commit,
	.abort = reg_abort,
};
