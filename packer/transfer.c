#include "packer/backup.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/digestmap.h"
#include "formats/bundle/bundle.h"
#include "verify/bundle_open.h"

struct unique {
	struct ep_digestmap *seen;
	int (*each)(void *ctx, const struct ep_chunk_ref *ref, struct ep_error *err);
	void *ctx;
};

static int once(void *ctx, const struct ep_chunk_ref *ref, struct ep_error *err)
{
	struct unique *u = ctx;
	if (ep_digestmap_get(u->seen, ref->digest, NULL))
		return 0;
	return ep_digestmap_put(u->seen, ref->digest, 1) ? u->each(u->ctx, ref, err) : ep_oom(err);
}

/* Calls each once per distinct chunk of m, in order of first use (the order pack writes them). */
static int each_unique(const struct ep_manifest *m,
		       int (*each)(void *ctx, const struct ep_chunk_ref *ref, struct ep_error *err), void *ctx,
		       struct ep_error *err)
{
	struct unique u = { ep_digestmap_new(), each, ctx };
	int rc = u.seen ? ep_manifest_each_ref(m, once, &u, err) : ep_oom(err);
	ep_digestmap_free(u.seen);
	return rc;
}

#define COPY_CAP EP_BUNDLE_STORED_MAX(EP_BUNDLE_CHUNK_MAX) /* c.buf: the largest chunk's entry */

struct copy {
	const struct ep_bundle *from;
	const struct ep_seal *seal; /* a plain bundle going into an encrypted store: its seal */
	struct ep_store *to;             /* import */
	struct ep_bundle_writer *writer; /* export */
	uint8_t *buf; /* COPY_CAP bytes */
	uint64_t bytes;
	/* import: chunks of the bundle gathered to be asked of the store together (many at a time),
	 * EP_BUNDLE_ASK_BATCH at most, and its answers */
	uint8_t (*asking)[EP_DIGEST_LEN];
	bool *have;
	size_t nasking;
};

static int copy_one(struct copy *c, const uint8_t digest[EP_DIGEST_LEN], struct ep_error *err)
{
	size_t stored = 0;
	/* the stored bytes as they are (sealed to the same key, or plain): their content was
	 * checked by the deep verification before */
	size_t at = c->seal ? EP_SEAL_HEADER : 0;
	int rc = ep_bundle_get_chunk(c->from, digest, c->buf + at, COPY_CAP - EP_SEAL_OVERHEAD, &stored, err);
	if (!rc && c->seal) {
		uint8_t oid[EP_DIGEST_LEN];
		ep_seal_object_id(c->seal, digest, oid);
		rc = ep_seal_wrap(c->seal, oid, sizeof oid, c->buf, stored, err);
		stored += EP_SEAL_OVERHEAD;
	}
	if (!rc)
		rc = c->to ? ep_store_put_chunk(c->to, digest, c->buf, stored, err)
			   : ep_bundle_writer_add_chunk(c->writer, digest, c->buf, stored, err);
	c->bytes += stored;
	return rc;
}

/* The chunks gathered, asked of the store together; those it lacks copied, in the order gathered. */
static int copy_missing(struct copy *c, struct ep_error *err)
{
	int rc = ep_store_has_chunks(c->to, (const uint8_t(*)[EP_DIGEST_LEN])c->asking, c->nasking, c->have, NULL, err);
	for (size_t i = 0; !rc && i < c->nasking; i++)
		if (!c->have[i])
			rc = copy_one(c, c->asking[i], err);
	c->nasking = 0;
	return rc;
}

static int copy_chunk(void *ctx, const struct ep_chunk_ref *ref, struct ep_error *err)
{
	struct copy *c = ctx;
	if (!c->to)
		return copy_one(c, ref->digest, err);
	memcpy(c->asking[c->nasking++], ref->digest, EP_DIGEST_LEN);
	return c->nasking == EP_BUNDLE_ASK_BATCH ? copy_missing(c, err) : 0;
}

/* Loads b's manifest under trust and checks every chunk's content. */
static int load_checked(const struct ep_bundle *b, const struct ep_trust *trust, unsigned threads,
			struct ep_manifest **m, struct ep_error *err)
{
	char signer[EP_KEY_ID_HEX];
	struct ep_verify_stats vs;
	int rc = ep_bundle_load(b, trust, m, signer, err);
	if (!rc && (rc = ep_verify_chunks(b, *m, true, threads, NULL, &vs, err))) {
		ep_manifest_free(*m);
		*m = NULL;
	}
	return rc;
}

/* Copies every chunk m names from c->from to c's destination, then gives the source's
 * manifest and signature (NULL when unsigned) for the destination to publish. */
static int copy_snapshot(struct copy *c, const struct ep_manifest *m, const char **manifest, size_t *len,
			 const char **sig, size_t *siglen, struct ep_error *err)
{
	if (c->to && (!(c->asking = malloc(EP_BUNDLE_ASK_BATCH * EP_DIGEST_LEN)) ||
		      !(c->have = malloc(EP_BUNDLE_ASK_BATCH * sizeof *c->have))))
		return ep_oom(err);
	int rc = (c->buf = malloc(COPY_CAP)) ? each_unique(m, copy_chunk, c, err) : ep_oom(err);
	if (!rc && c->nasking)
		rc = copy_missing(c, err);
	if (rc)
		return rc;
	*manifest = ep_bundle_manifest(c->from, len);
	*sig = ep_bundle_signature(c->from, siglen);
	return 0;
}

int ep_import(struct ep_store *st, const char *bundle, const struct ep_trust *trust, unsigned threads,
	      char id[EP_STORE_ID_HEX], uint64_t *added_bytes, struct ep_error *err)
{
	struct ep_bundle *b = NULL;
	struct ep_manifest *m = NULL;
	struct copy c = { .to = st };
	struct ep_store *none; /* import takes a bundle, here or at a URL, not a store's snapshot */
	const struct ep_bundle_open_options o = { .kinds = EP_OPEN_FILE | EP_OPEN_URL, .seal = ep_store_seal(st) };
	int rc = ep_bundle_open_named(&b, &none, bundle, &o, err);
	if (!rc && !ep_store_seal(st) && ep_bundle_encrypted_to(b))
		rc = ep_fail(err, EP_EINPUT, "'%s' is encrypted (to key %s); store '%s' is not: import it into a store "
					     "encrypted to that key", bundle, ep_bundle_encrypted_to(b), ep_store_where(st));
	if (!rc)
		rc = load_checked(b, trust, threads, &m, err);
	c.from = b;
	if (!rc && !ep_bundle_seal(b))
		c.seal = ep_store_seal(st); /* NULL for a plain store */
	const char *manifest, *sig;
	size_t len, siglen;
	if (!rc)
		rc = copy_snapshot(&c, m, &manifest, &len, &sig, &siglen, err);
	const struct ep_store_object_lock *lock = ep_store_object_lock(st);
	struct ep_store_keep_stats kept;
	if (!rc && lock) /* the chunks it found there protected as long as what it wrote */
		rc = ep_backup_keep_named(st, m, time(NULL) + (int64_t)lock->days * ep_store_lock_day(), &kept, err);
	if (!rc)
		rc = ep_store_put_snapshot(st, manifest, len, sig, siglen, id, err);
	*added_bytes = c.bytes;
	free(c.asking);
	free(c.have);
	free(c.buf);
	ep_manifest_free(m);
	ep_bundle_close(b);
	return rc;
}

int ep_export(struct ep_store *st, const char *id, const struct ep_trust *trust, unsigned threads, const char *path,
	      uint64_t *bytes, struct ep_error *err)
{
	char *where; /* for messages */
	struct ep_bundle *b = NULL;
	struct ep_manifest *m = NULL;
	struct copy c = { 0 };
	if (asprintf(&where, "%s@%s", ep_store_where(st), id) < 0)
		return ep_oom(err);
	int rc = ep_store_snapshot_open(&b, st, id, where, err); /* keeps a copy */
	free(where);
	if (!rc)
		rc = load_checked(b, trust, threads, &m, err);
	c.from = b;
	int64_t mtime = 0;
	if (!rc) {
		mtime = ep_manifest_created(m); /* tar entries carry the manifest's time, as pack's do */
		if (mtime < 0)
			mtime = 0;
		if (!(rc = ep_bundle_writer_open(&c.writer, path, mtime, err)))
			ep_bundle_writer_seal(c.writer, ep_store_seal(st)); /* an encrypted store's chunks, as they are */
	}
	const char *manifest, *sig;
	size_t len, siglen;
	if (!rc)
		rc = copy_snapshot(&c, m, &manifest, &len, &sig, &siglen, err);
	if (!rc)
		rc = ep_bundle_writer_add(c.writer, EP_BUNDLE_MANIFEST_NAME, manifest, len, err);
	if (!rc && sig)
		rc = ep_bundle_writer_add(c.writer, EP_BUNDLE_SIGNATURE_NAME, sig, siglen, err);
	if (!rc) {
		rc = ep_bundle_writer_commit(c.writer, err);
		c.writer = NULL;
	}
	if (c.writer)
		ep_bundle_writer_abort(c.writer);
	*bytes = c.bytes;
	free(c.buf);
	ep_manifest_free(m);
	ep_bundle_close(b);
	return rc;
}
