/* libFuzzer target: a store directory made of arbitrary bytes, read as every store
 * command reads one (stores are untrusted: whoever can write to the backup target
 * can put anything there). The input is NUL-separated parts:
 *
 *   config.json \0 lock record \0 signature \0 manifest A \0 manifest B \0 chunk
 *
 * (the chunk, last, may hold NULs). Each manifest is stored as
 * snapshots/<its SHA-256>.json, so it matches its id and gets parsed; the signature
 * is A's; the lock record lies under locks/; the chunk is stored under the name of
 * the first chunk A (else B) names, so the check reads it, else under its own
 * digest. The store is then opened, its catalog loaded, snapshots found ("latest"
 * and a prefix of A's id), retention policies applied, checked (every chunk read,
 * signatures against a key of the target's own), and pruned in a dry run. */
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "formats/bundle/manifest.h"
#include "formats/store/catalog.h"
#include "formats/store/store.h"
#include "tests/fuzz/scratch.h"
#include "formats/bundle/keys.h"
#include "verify/store_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { PART_CONFIG, PART_LOCK, PART_SIG, PART_A, PART_B, PART_CHUNK, PARTS };

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static void put(const char *store, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];
	fuzz_path(path, sizeof path, "%s/%s", store, name);
	fuzz_put(path, data, len);
}

/* The first chunk a manifest names; false when it does not parse or names none. */
static bool first_chunk(const char *json, size_t len, uint8_t digest[EP_DIGEST_LEN])
{
	struct ep_manifest *m = NULL;
	struct ep_error err = { 0 };
	bool found = false;
	if (len && ep_manifest_parse(json, len, "fuzz", &m, &err) == 0) {
		for (size_t c = 0; !found && c < m->ncomponents; c++)
			if (m->components[c].nchunks) {
				memcpy(digest, m->components[c].chunks[0].digest, EP_DIGEST_LEN);
				found = true;
			}
		ep_manifest_free(m);
	}
	return found;
}

static void ignore_problem(void *ctx, const char *msg)
{
	(void)msg;
	(*(unsigned *)ctx)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *dir = fuzz_scratch("store");
	static char pubkey[PATH_MAX];
	if (!pubkey[0]) { /* a key of our own: signatures parse and are checked, and fail */
		char name[PATH_MAX], kid[EP_KEY_ID_HEX];
		struct ep_error err = { 0 };
		fuzz_path(name, sizeof name, "%s/k", dir);
		if (ep_key_generate(name, EP_KEY_SIGNING, kid, &err))
			abort();
		fuzz_path(pubkey, sizeof pubkey, "%s/k.pub", dir);
	}
	char store[PATH_MAX];
	fuzz_path(store, sizeof store, "%s/s", dir);
	nftw(store, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	const char *part[PARTS] = { NULL };
	size_t len[PARTS] = { 0 };
	const char *p = (const char *)data, *end = p + size;
	for (int i = 0; i < PARTS && p <= end; i++) {
		part[i] = p;
		len[i] = i == PART_CHUNK ? (size_t)(end - p) : strnlen(p, (size_t)(end - p));
		p += len[i] + 1;
	}

	mkdir(store, 0755);
	char sub[PATH_MAX];
	for (const char *const *d = (const char *const[]){ "snapshots", "locks", "chunks", "chunks/zz", NULL }; *d; d++) {
		fuzz_path(sub, sizeof sub, "%s/%s", store, *d);
		mkdir(sub, 0755);
	}
	if (part[PART_CONFIG])
		put(store, "config.json", part[PART_CONFIG], len[PART_CONFIG]);
	if (part[PART_LOCK])
		put(store, "locks/fuzz-1-0123456789abcdef-000000.json", part[PART_LOCK], len[PART_LOCK]);
	put(store, "chunks/zz/not-a-chunk.zst", "x", 1); /* under chunks/, and no chunk */
	char ids[2][EP_STORE_ID_HEX] = { "", "" }, name[200];
	uint8_t d[EP_DIGEST_LEN];
	for (int k = 0; k < 2; k++) {
		int i = k ? PART_B : PART_A;
		if (!part[i] || (k && !len[i]))
			continue;
		ep_sha256(part[i], len[i], d);
		ep_hex(d, sizeof d, ids[k]);
		fuzz_path(name, sizeof name, "snapshots/%s.json", ids[k]);
		put(store, name, part[i], len[i]);
		if (!k && part[PART_SIG] && len[PART_SIG]) {
			fuzz_path(name, sizeof name, "snapshots/%s.sig", ids[k]);
			put(store, name, part[PART_SIG], len[PART_SIG]);
		}
	}
	if (part[PART_CHUNK] && len[PART_CHUNK]) {
		if (!first_chunk(part[PART_A], len[PART_A], d) && !(part[PART_B] && first_chunk(part[PART_B], len[PART_B], d)))
			ep_sha256(part[PART_CHUNK], len[PART_CHUNK], d);
		char hex[EP_DIGEST_HEX];
		ep_hex(d, sizeof d, hex);
		fuzz_path(sub, sizeof sub, "%s/chunks/%.2s", store, hex);
		mkdir(sub, 0755);
		fuzz_path(name, sizeof name, "chunks/%.2s/%s.zst", hex, hex);
		put(store, name, part[PART_CHUNK], len[PART_CHUNK]);
	}

	struct ep_store *st;
	struct ep_error err = { 0 };
	if (ep_store_open(&st, store, false, &err) == 0) {
		struct ep_catalog cat;
		if (ep_catalog_load(st, &cat, &err) == 0) {
			ep_catalog_find(&cat, "latest", store, &err);
			if (ids[0][0]) {
				char prefix[9];
				snprintf(prefix, sizeof prefix, "%.*s", 4 + (int)(size % 5), ids[0]);
				ep_catalog_find(&cat, prefix, store, &err);
			}
			ep_catalog_find(&cat, "0000", store, &err);
			ep_catalog_max_sequence(&cat);
			bool *keep = calloc(cat.n + 1, sizeof *keep);
			const char **why = calloc(cat.n + 1, sizeof *why);
			if (!keep || !why)
				abort();
			const char *const tags[] = { "nightly", "a" };
			const struct ep_policy policies[] = {
				{ .last = 1, .daily = 2, .weekly = -1, .monthly = 1, .yearly = -1, .keep_tags = tags, .nkeep_tags = 2 },
				{ .hourly = 3 },
				{ .last = -1 },
			};
			for (size_t i = 0; i < sizeof policies / sizeof *policies; i++)
				if (!ep_policy_empty(&policies[i]))
					ep_policy_apply(&cat, &policies[i], keep, why, &err);
			free(keep);
			free(why);
			ep_catalog_release(&cat);
		}
		unsigned problems = 0;
		const struct ep_trust trust = { .pubkey = pubkey };
		const struct ep_store_check_options opt = {
			.read_percent = 100, .threads = 1, .trust = &trust, .problem = ignore_problem, .ctx = &problems
		};
		struct ep_store_check_stats cs;
		ep_store_check(st, &opt, &cs, &err);
		if (ep_store_lock(st, true, "prune", 0, NULL, NULL, &err) == 0) {
			struct ep_prune_stats ps;
			ep_store_prune(st, true, &ps, &err);
			ep_store_unlock(st);
		}
		ep_store_close(st);
	}
	return 0;
}
