#include "verify/store_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "base/digestmap.h"
#include "base/oidset.h"
#include "formats/bundle/bundle.h"
#include "formats/store/catalog.h"
#include "verify/chunk_stream.h"
#include "verify/drill_record.h"

#define RETENTION_SAMPLE 4 /* chunks of each snapshot whose retention check looks at */

__attribute__((format(printf, 2, 3))) static void report(const struct ep_store_check_options *opt, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (opt->problem)
		opt->problem(opt->ctx, msg);
}

/* The signature of every signed snapshot, against the trusted key. */
static int check_signatures(struct ep_store *st, const struct ep_catalog *cat, const struct ep_store_check_options *opt,
			    uint64_t *problems, struct ep_error *err)
{
	for (size_t i = 0; i < cat->n; i++) {
		char *where, signer[EP_KEY_ID_HEX]; /* where: for messages */
		struct ep_bundle *b;
		struct ep_manifest *m = NULL;
		struct ep_error e = { 0 };
		if (asprintf(&where, "%s@%.8s", ep_store_where(st), cat->entries[i].id) < 0)
			return ep_oom(err);
		int rc = ep_store_snapshot_open(&b, st, cat->entries[i].id, where, err);
		if (!rc && ep_bundle_load(b, opt->trust, &m, signer, &e)) {
			report(opt, "%.300s: %s", where, e.msg);
			(*problems)++;
		}
		free(where);
		if (rc)
			return rc;
		ep_manifest_free(m);
		ep_bundle_close(b);
	}
	return 0;
}

static bool in_store(const struct ep_catalog *cat, const char *id)
{
	for (size_t i = 0; i < cat->n; i++)
		if (!strcmp(cat->entries[i].id, id))
			return true;
	for (size_t i = 0; i < cat->nbad; i++)
		if (!strcmp(cat->bad[i].id, id))
			return true;
	return false;
}

/* Every drill record: signed by the key given, or else by a trusted one (a record is worth
 * only its signature), and of the right shape. Without a key given, one whose signer no
 * trusted-keys directory holds is counted as not verified, no problem: this host has no key to
 * judge it by (nor are snapshots' signatures checked then), while a record that is unsigned,
 * whose signature is malformed or does not hold against a trusted key, or that is not of the
 * right shape, is. One naming a snapshot forgotten since is counted, no problem: prune
 * removes it. */
static int check_drills(struct ep_store *st, const struct ep_catalog *cat, const struct ep_store_check_options *opt,
			struct ep_store_check_stats *stats, struct ep_error *err)
{
	static const struct ep_trust directories = { 0 };
	json_t *verified, *bad, *r;
	int rc = ep_drill_records_load(st, opt->trust ? opt->trust : &directories, &verified, &bad, err);
	if (rc)
		return rc;
	size_t i;
	json_array_foreach(bad, i, r) {
		if (!opt->trust && json_is_true(json_object_get(r, "untrusted"))) {
			stats->drills_unverified++;
			continue;
		}
		report(opt,
		       "drill record file '%.300s' cannot be used: %s (remove it with 'envpack forget %.300s --drill %.*s')",
		       json_string_value(json_object_get(r, "file")), json_string_value(json_object_get(r, "problem")),
		       ep_store_where(st), EP_STORE_SHORT_ID, json_string_value(json_object_get(r, "id")));
		stats->bad_drills++;
	}
	json_array_foreach(verified, i, r)
		stats->drills_without_snapshot += !in_store(cat, json_string_value(json_object_get(r, "snapshot")));
	stats->drills = json_array_size(verified) + json_array_size(bad);
	json_decref(verified);
	json_decref(bad);
	return 0;
}

/* The distinct chunks the snapshots name, kept compactly (chunks/ is listed against them, never
 * held): their object ids' first 8 bytes (a set), and beside each the next 4 as a tag, the size
 * chunks/ lists it with (0: not listed) and flags. A missing chunk is taken for present only if a
 * listed one shares the 12 bytes with it (with 10 M of each: one chance in 10^15). Two named
 * chunks sharing the 8 bytes (one chance in 10^6 at 10 M) are asked of the store one by one. */
enum { NAMED = 1, AMBIGUOUS = 2, COUNTED = 4 };
struct referenced {
	struct ep_store *st;
	const struct ep_store_check_options *opt;
	struct ep_store_check_stats *stats;
	struct ep_oidset set;
	uint32_t *tag, *stored;
	uint8_t *flags;
	struct ep_digestmap *ambiguous; /* those of the AMBIGUOUS members counted, by digest */
	const char *snapshot; /* the one being looked at, for messages */
	struct ep_chunk_ref *refs; /* those present, to read */
	size_t n, cap;
};

static uint32_t tag_of(const uint8_t oid[EP_DIGEST_LEN])
{
	uint32_t t;
	memcpy(&t, oid + 8, sizeof t);
	return t;
}

static int add_ref(void *ctx, const struct ep_chunk_ref *ref, struct ep_error *err)
{
	struct referenced *r = ctx;
	uint8_t oid[EP_DIGEST_LEN];
	ep_store_chunk_oid(r->st, ref->digest, oid);
	return ep_oidset_add(&r->set, oid) ? 0 : ep_oom(err);
}

static int tag_ref(void *ctx, const struct ep_chunk_ref *ref, struct ep_error *err)
{
	(void)err;
	struct referenced *r = ctx;
	uint8_t oid[EP_DIGEST_LEN];
	ep_store_chunk_oid(r->st, ref->digest, oid);
	ptrdiff_t i = ep_oidset_find(&r->set, oid);
	if (r->flags[i] & NAMED && r->tag[i] != tag_of(oid))
		r->flags[i] |= AMBIGUOUS;
	r->flags[i] |= NAMED;
	r->tag[i] = tag_of(oid);
	return 0;
}

/* The member a chunk listed (or asked for) is, or -1; an AMBIGUOUS one answers for several. */
static ptrdiff_t member(const struct referenced *r, const uint8_t oid[EP_DIGEST_LEN])
{
	ptrdiff_t i = ep_oidset_find(&r->set, oid);
	return i >= 0 && (r->flags[i] & AMBIGUOUS || r->tag[i] == tag_of(oid)) ? i : -1;
}

/* A listed chunk: counted, and a named one's size kept (asked of the store only for those,
 * where the listing does not say: dir:). */
static int listed(void *ctx, const uint8_t oid[EP_DIGEST_LEN], uint64_t stored, struct ep_error *err)
{
	struct referenced *r = ctx;
	ptrdiff_t i = member(r, oid);
	if (i < 0) {
		r->stats->chunks++;
		return 0;
	}
	uint64_t size;
	int rc = ep_store_chunk_stored(r->st, oid, stored, &size, err);
	if (rc || !size)
		return rc; /* gone since, or empty: none */
	r->stats->chunks++;
	r->stored[i] = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size; /* too large: read and refused */
	return 0;
}

/* Whether a named chunk is there, and its stored size. */
static bool present(const struct referenced *r, const uint8_t digest[EP_DIGEST_LEN], uint64_t *stored)
{
	uint8_t oid[EP_DIGEST_LEN];
	ep_store_chunk_oid(r->st, digest, oid);
	ptrdiff_t i = member(r, oid);
	if (i >= 0 && r->flags[i] & AMBIGUOUS)
		return ep_store_has_chunk(r->st, digest, stored); /* asked of the store */
	if (stored)
		*stored = i >= 0 ? r->stored[i] : 0;
	return i >= 0 && r->stored[i];
}

/* The first time a chunk is named (in snapshot order): counted, and reported when missing. */
static int note_ref(void *ctx, const struct ep_chunk_ref *ref, struct ep_error *err)
{
	struct referenced *r = ctx;
	char hex[EP_DIGEST_HEX];
	uint8_t oid[EP_DIGEST_LEN];
	ep_store_chunk_oid(r->st, ref->digest, oid);
	ptrdiff_t i = ep_oidset_find(&r->set, oid);
	if (r->flags[i] & AMBIGUOUS) {
		if (ep_digestmap_get(r->ambiguous, ref->digest, NULL))
			return 0;
		if (!ep_digestmap_put(r->ambiguous, ref->digest, 1))
			return ep_oom(err);
	} else if (r->flags[i] & COUNTED) {
		return 0;
	}
	r->flags[i] |= COUNTED;
	r->stats->referenced++;
	if (!present(r, ref->digest, NULL)) {
		ep_hex(ref->digest, EP_DIGEST_LEN, hex);
		report(r->opt, "chunk %s of snapshot %.8s is missing", hex, r->snapshot);
		r->stats->missing++;
		return 0;
	}
	if (r->opt->read_percent == 0)
		return 0;
	if (!ep_grow((void **)&r->refs, &r->cap, r->n + 1, sizeof *r->refs))
		return ep_oom(err);
	r->refs[r->n++] = *ref;
	return 0;
}

/* What the snapshots name, then chunks/ listed against it. */
static int list_referenced(struct referenced *r, const struct ep_catalog *cat, struct ep_error *err)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < cat->n; i++)
		rc = ep_manifest_each_ref(cat->entries[i].manifest, add_ref, r, err);
	size_t n = 0;
	if (!rc && (!ep_oidset_seal(&r->set) || !(n = ep_oidset_count(&r->set) + 1) || !(r->tag = calloc(n, sizeof *r->tag)) ||
		    !(r->stored = calloc(n, sizeof *r->stored)) || !(r->flags = calloc(n, 1)) ||
		    !(r->ambiguous = ep_digestmap_new())))
		rc = ep_oom(err);
	for (size_t i = 0; !rc && i < cat->n; i++)
		rc = ep_manifest_each_ref(cat->entries[i].manifest, tag_ref, r, err);
	if (!rc)
		rc = ep_store_list_chunks(r->st, listed, r, err);
	for (size_t i = 0; !rc && i < cat->n; i++) {
		r->stats->unsigned_snapshots += !cat->entries[i].signed_;
		r->snapshot = cat->entries[i].id;
		rc = ep_manifest_each_ref(cat->entries[i].manifest, note_ref, r, err);
	}
	return rc;
}

static void referenced_release(struct referenced *r)
{
	ep_oidset_release(&r->set);
	free(r->tag);
	free(r->stored);
	free(r->flags);
	ep_digestmap_free(r->ambiguous);
	free(r->refs);
}

/* The store's chunks as a bundle's, their sizes as chunks/ listed them. */
static bool source_has(void *ctx, const uint8_t digest[EP_DIGEST_LEN], uint64_t *size)
{
	return present(ctx, digest, size);
}

static int source_read(void *ctx, const uint8_t digest[EP_DIGEST_LEN], void *buf, size_t size, struct ep_error *err)
{
	return ep_store_read_chunk(((struct referenced *)ctx)->st, digest, buf, size, err);
}

static const struct ep_chunk_source_ops listed_source = { source_has, source_read, NULL, NULL, NULL };

int ep_store_check(struct ep_store *st, const struct ep_store_check_options *opt, struct ep_store_check_stats *stats,
		   struct ep_error *err)
{
	*stats = (struct ep_store_check_stats){ 0 };
	struct ep_catalog cat;
	int rc = ep_catalog_load(st, &cat, err);
	if (rc)
		return rc;
	stats->snapshots = cat.n;
	uint64_t problems = 0;
	/* a snapshot that does not parse, or does not match its id, is one problem; the others are still checked */
	for (size_t i = 0; i < cat.nbad; i++) {
		char msg[1500];
		ep_catalog_bad_message(&cat.bad[i], ep_store_where(st), msg, sizeof msg);
		report(opt, "%s", msg);
		stats->bad_snapshots++;
	}
	if (opt->trust)
		rc = check_signatures(st, &cat, opt, &problems, err);
	if (!rc)
		rc = check_drills(st, &cat, opt, stats, err);
	if (!rc && ep_store_object_lock(st))
		rc = ep_store_check_retention(st, &cat, RETENTION_SAMPLE, opt, stats, err);
	/* the distinct chunks the snapshots name, each with the size its content must have */
	struct referenced named = { .st = st, .opt = opt, .stats = stats };
	ep_oidset_init(&named.set);
	if (!rc)
		rc = list_referenced(&named, &cat, err);
	struct ep_chunk_ref *refs = named.refs;
	size_t nrefs = named.n;
	stats->unreferenced = stats->chunks > stats->referenced - stats->missing
				      ? stats->chunks - (stats->referenced - stats->missing)
				      : 0;
	/* a random share: shuffle, then read the first part (restic's --read-data-subset N%) */
	size_t nread = opt->read_percent >= 100 ? nrefs : (size_t)((nrefs * (uint64_t)opt->read_percent + 99) / 100);
	for (size_t i = 0; !rc && opt->read_percent < 100 && i < nread; i++) {
		uint64_t r;
		RAND_bytes((unsigned char *)&r, sizeof r);
		size_t j = i + (size_t)(r % (nrefs - i));
		struct ep_chunk_ref t = refs[i];
		refs[i] = refs[j], refs[j] = t;
	}
	struct ep_bundle *b = NULL;
	struct ep_chunk_stream *s = NULL;
	if (!rc && nread &&
	    !(rc = ep_bundle_open_source(&b, ep_store_where(st), &listed_source, &named, ep_store_seal(st), NULL, 0, NULL,
					 0, err)) &&
	    !(rc = ep_chunk_stream_new(&s, b, opt->threads, err))) {
		uint64_t total = 0;
		for (size_t i = 0; i < nread; i++)
			total += refs[i].size;
		ep_chunk_stream_progress(s, opt->progress, total);
		ep_chunk_stream_start(s, refs, nread);
		for (size_t i = 0; i < nread; i++) {
			const uint8_t *data;
			size_t len;
			struct ep_error e = { 0 };
			int r = ep_chunk_stream_next(s, &data, &len, &e);
			if (r == 0)
				break;
			stats->read++;
			if (r < 0) {
				report(opt, "%s", e.msg);
				stats->bad++;
			}
		}
	}
	ep_chunk_stream_free(s);
	ep_bundle_close(b);
	referenced_release(&named);
	ep_catalog_release(&cat);
	problems += stats->bad_snapshots + stats->missing + stats->bad + stats->bad_drills;
	if (!rc && problems)
		rc = ep_fail(err, EP_EINTEGRITY, "store '%s': %llu problem%s found", ep_store_where(st),
			     (unsigned long long)problems, problems == 1 ? "" : "s");
	return rc;
}
