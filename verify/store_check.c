#include "verify/store_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "base/digestmap.h"
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

struct referenced {
	const struct ep_store *st;
	const struct ep_store_check_options *opt;
	struct ep_store_check_stats *stats;
	struct ep_digestmap *seen;
	const char *snapshot; /* the one being looked at, for messages */
	struct ep_chunk_ref *refs; /* those present, to read */
	size_t n, cap;
};

static int note_ref(void *ctx, const struct ep_chunk_ref *ref, struct ep_error *err)
{
	struct referenced *r = ctx;
	char hex[EP_DIGEST_HEX];
	if (ep_digestmap_get(r->seen, ref->digest, NULL))
		return 0;
	if (!ep_digestmap_put(r->seen, ref->digest, 1))
		return ep_oom(err);
	r->stats->referenced++;
	if (!ep_store_has_chunk(r->st, ref->digest, NULL)) {
		ep_hex(ref->digest, EP_DIGEST_LEN, hex);
		report(r->opt, "chunk %s of snapshot %.8s is missing", hex, r->snapshot);
		r->stats->missing++;
		return 0;
	}
	if (!ep_grow((void **)&r->refs, &r->cap, r->n + 1, sizeof *r->refs))
		return ep_oom(err);
	r->refs[r->n++] = *ref;
	return 0;
}

int ep_store_check(struct ep_store *st, const struct ep_store_check_options *opt, struct ep_store_check_stats *stats,
		   struct ep_error *err)
{
	*stats = (struct ep_store_check_stats){ 0 };
	struct ep_catalog cat;
	int rc = ep_catalog_load(st, &cat, err);
	if (rc)
		return rc;
	stats->snapshots = cat.n;
	stats->chunks = ep_store_chunk_count(st);
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
	struct referenced named = { .st = st, .opt = opt, .stats = stats, .seen = ep_digestmap_new() };
	if (!rc && !named.seen)
		rc = ep_oom(err);
	for (size_t i = 0; !rc && i < cat.n; i++) {
		stats->unsigned_snapshots += !cat.entries[i].signed_;
		named.snapshot = cat.entries[i].id;
		rc = ep_manifest_each_ref(cat.entries[i].manifest, note_ref, &named, err);
	}
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
	if (!rc && nread && !(rc = ep_store_snapshot_open(&b, st, NULL, ep_store_where(st), err)) &&
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
	free(refs);
	ep_digestmap_free(named.seen);
	ep_catalog_release(&cat);
	problems += stats->bad_snapshots + stats->missing + stats->bad + stats->bad_drills;
	if (!rc && problems)
		rc = ep_fail(err, EP_EINTEGRITY, "store '%s': %llu problem%s found", ep_store_where(st),
			     (unsigned long long)problems, problems == 1 ? "" : "s");
	return rc;
}
