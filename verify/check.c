#include "verify/check.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "base/digestmap.h"
#include "base/util.h"
#include "formats/bundle/codec.h"
#include "verify/chunk_stream.h"

int ep_trusted_dirs(char dirs[][PATH_MAX], size_t max, size_t *n, struct ep_error *err)
{
	const char *env = getenv("ENVPACK_TRUSTED_KEYS"), *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	int rc = 0;
	*n = 0;
	if (env && *env) {
		if (max)
			rc = ep_path_format(dirs[(*n)++], PATH_MAX, err, "%s", env);
	} else {
		if (xdg && *xdg && *n < max)
			rc = ep_path_format(dirs[(*n)++], PATH_MAX, err, "%s/envpack/trusted-keys", xdg);
		else if (home && *home && *n < max)
			rc = ep_path_format(dirs[(*n)++], PATH_MAX, err, "%s/.config/envpack/trusted-keys", home);
		if (!rc && *n < max)
			rc = ep_path_format(dirs[(*n)++], PATH_MAX, err, "/etc/envpack/trusted-keys");
	}
	if (rc)
		ep_error_prefix(err, "trusted keys: ");
	return rc;
}

/* The *.pub in the trusted directories whose key id matches: 0, 1 when none has it (err not
 * filled), or a failure. */
static int find_trusted(const char *key_id, char dirs[][PATH_MAX], struct ep_key **out, struct ep_error *err)
{
	size_t ndirs;
	int rc = ep_trusted_dirs(dirs, 3, &ndirs, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < ndirs; i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			size_t len = strlen(de->d_name);
			if (len < 5 || strcmp(de->d_name + len - 4, ".pub") != 0)
				continue;
			char path[PATH_MAX];
			if (ep_path_format(path, sizeof path, err, "%s/%s", dirs[i], de->d_name)) {
				closedir(d);
				return err->code;
			}
			struct ep_key *key;
			struct ep_error ignored = { 0 };
			if (ep_key_load_public(path, &key, &ignored))
				continue; /* a stray file is not a reason to fail */
			if (!strcmp(ep_key_id(key), key_id)) {
				closedir(d);
				*out = key;
				return 0;
			}
			ep_key_free(key);
		}
		if (d)
			closedir(d);
	}
	return 1;
}

int ep_trust_check(const struct ep_trust *trust, const char *what, const void *msg, size_t len, const char *sigjson,
		   size_t siglen, char signer[EP_KEY_ID_HEX], bool *untrusted, struct ep_error *err)
{
	if (untrusted)
		*untrusted = false;
	if (!sigjson)
		return ep_fail(err, EP_EINTEGRITY, "'%s' is not signed", what);
	struct ep_signature sig;
	int rc = ep_signature_parse(sigjson, siglen, what, &sig, err);
	if (rc)
		return rc;
	struct ep_key *key = NULL;
	char dirs[3][PATH_MAX];
	rc = trust->pubkey ? ep_key_load_public(trust->pubkey, &key, err) : find_trusted(sig.key_id, dirs, &key, err);
	if (rc == 1) {
		if (untrusted)
			*untrusted = true;
		rc = ep_fail(err, EP_EINTEGRITY, "no trusted key has id %s (give one with -p, or add it to %s)",
			     sig.key_id, dirs[0]);
	}
	if (!rc)
		rc = ep_signature_check(key, msg, len, &sig, err);
	if (!rc)
		memcpy(signer, sig.key_id, EP_KEY_ID_HEX);
	else if (rc == EP_EINTEGRITY)
		ep_error_prefix(err, "'%s': ", what);
	ep_key_free(key);
	return rc;
}

static int check_signature(const struct ep_bundle *b, const struct ep_trust *trust, const char *json, size_t len,
			   char signer[EP_KEY_ID_HEX], struct ep_error *err)
{
	size_t siglen;
	const char *sigjson = ep_bundle_signature(b, &siglen);
	return ep_trust_check(trust, ep_bundle_path(b), json, len, sigjson, siglen, signer, NULL, err);
}

int ep_bundle_load_lazily(const struct ep_bundle *b, const struct ep_trust *trust, struct ep_manifest **out,
			  char signer[EP_KEY_ID_HEX], struct ep_error *err)
{
	size_t len;
	const char *json = ep_bundle_manifest(b, &len);
	signer[0] = '\0';
	if (ep_bundle_encrypted_to(b))
		return ep_fail(err, EP_EINPUT, "'%s' is encrypted to key %s: reading it needs that key's private half (--decrypt-key)",
			       ep_bundle_path(b), ep_bundle_encrypted_to(b));
	if (!trust->insecure) {
		int rc = check_signature(b, trust, json, len, signer, err);
		if (rc)
			return rc;
	}
	return ep_manifest_parse(json, len, ep_bundle_path(b), out, err);
}

int ep_bundle_load(const struct ep_bundle *b, const struct ep_trust *trust, struct ep_manifest **out,
		   char signer[EP_KEY_ID_HEX], struct ep_error *err)
{
	int rc = ep_bundle_load_lazily(b, trust, out, signer, err);
	if (!rc && (rc = ep_manifest_resolve(*out, ep_bundle_load_chunk, (void *)b, ep_bundle_path(b), err))) {
		ep_manifest_free(*out);
		*out = NULL;
	}
	return rc;
}

int ep_bundle_each_part(const struct ep_bundle *b, const struct ep_component *c, ep_part_fn each, void *ctx,
			struct ep_error *err)
{
	return ep_component_each_part(c, ep_bundle_load_chunk, (void *)b, ep_bundle_path(b), each, ctx, err);
}

/* The distinct chunks a manifest names, each found in the bundle: as many as it holds at most
 * (or, not asked, as the manifest names). A store is asked about them EP_BUNDLE_ASK_BATCH at a
 * time, many requests in flight, rather than one round trip after another. */
struct distinct {
	const struct ep_bundle *b;
	bool ask; /* whether each is looked for now; else its read finds it missing */
	struct ep_digestmap *seen; /* digest -> size */
	struct ep_chunk_ref *refs;
	size_t n, cap, asked; /* refs[asked..n) noted, not looked for yet */
	uint64_t total;
	uint8_t (*digests)[EP_DIGEST_LEN]; /* EP_BUNDLE_ASK_BATCH of them, and their sizes */
	uint64_t *sizes;
};

/* The chunks noted since the last time, each one the bundle must hold with a size it can have;
 * the first missing (in the manifest's order) named. */
static int look_for_noted(struct distinct *d, const struct ep_component *c, struct ep_error *err)
{
	size_t k = d->n - d->asked;
	for (size_t i = 0; i < k; i++)
		memcpy(d->digests[i], d->refs[d->asked + i].digest, EP_DIGEST_LEN);
	int rc = k ? ep_bundle_chunk_sizes(d->b, (const uint8_t(*)[EP_DIGEST_LEN])d->digests, k, d->sizes, err) : 0;
	for (size_t i = 0; !rc && i < k; i++) {
		char hex[EP_DIGEST_HEX];
		ep_hex(d->digests[i], EP_DIGEST_LEN, hex);
		if (d->sizes[i] == 0)
			rc = ep_fail(err, EP_EINTEGRITY, "'%s': chunk %s of '%s' is missing", ep_bundle_path(d->b), hex, c->name);
		else if (d->sizes[i] > EP_BUNDLE_STORED_MAX(EP_BUNDLE_CHUNK_MAX))
			rc = ep_fail(err, EP_EINTEGRITY, "'%s': chunk %s has an impossible size", ep_bundle_path(d->b), hex);
	}
	d->asked = d->n;
	return rc;
}

static int note_chunks(void *ctx, const struct ep_component *c, struct ep_error *err)
{
	struct distinct *d = ctx;
	int rc = 0;
	for (size_t k = 0; !rc && k < c->nchunks; k++) {
		const struct ep_chunk_ref *ref = &c->chunks[k];
		uint64_t size;
		if (ep_digestmap_get(d->seen, ref->digest, &size)) {
			if (size != ref->size)
				return ep_fail(err, EP_EINPUT, "'%s': manifest: one chunk is given two sizes", ep_bundle_path(d->b));
			continue;
		}
		if (!ep_grow((void **)&d->refs, &d->cap, d->n + 1, sizeof *d->refs))
			return ep_oom(err);
		d->refs[d->n++] = *ref;
		d->total += ref->size;
		if (!ep_digestmap_put(d->seen, ref->digest, ref->size))
			return ep_oom(err);
		if (d->ask && d->n - d->asked == EP_BUNDLE_ASK_BATCH)
			rc = look_for_noted(d, c, err);
	}
	/* the part's name is for messages, and a disk's list part is gone once this returns */
	return rc ? rc : d->ask ? look_for_noted(d, c, err) : 0;
}

int ep_verify_chunks(const struct ep_bundle *b, const struct ep_manifest *m, bool deep, unsigned threads,
		     const struct ep_progress *progress, struct ep_verify_stats *stats, struct ep_error *err)
{
	*stats = (struct ep_verify_stats){ 0 };
	/* a deep check reads every chunk: one asked of its source first would be asked twice */
	struct distinct d = { .b = b, .ask = !deep || !ep_bundle_asks_per_chunk(b), .seen = ep_digestmap_new(),
			      .digests = malloc(EP_BUNDLE_ASK_BATCH * EP_DIGEST_LEN),
			      .sizes = malloc(EP_BUNDLE_ASK_BATCH * sizeof(uint64_t)) };
	int rc = d.seen && d.digests && d.sizes ? 0 : ep_oom(err);
	for (size_t i = 0; !rc && i < m->ncomponents; i++)
		rc = ep_bundle_each_part(b, &m->components[i], note_chunks, &d, err);
	ep_digestmap_free(d.seen);
	free(d.digests);
	free(d.sizes);
	struct ep_chunk_stream *s = NULL;
	if (!rc && deep && !(rc = ep_chunk_stream_new(&s, b, threads, err))) {
		ep_chunk_stream_start(s, d.refs, d.n);
		const uint8_t *data;
		size_t len;
		while ((rc = ep_chunk_stream_next(s, &data, &len, err)) == 1) {
			stats->chunks_checked++;
			stats->bytes_checked += len;
			ep_progress_report(progress, stats->bytes_checked, d.total);
		}
		ep_chunk_stream_free(s);
	}
	free(d.refs);
	return rc;
}
