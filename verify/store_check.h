/* Checking a store: every snapshot readable (and, with a key, signed by it), every
 * chunk they name present, and with read_data each chunk's content decompressed and
 * hashed, all of them or a random share; every drill record signed by the key (without
 * one, by a key of the trusted-keys directories, when they hold its signer's) and of the
 * right shape. Problems are reported one by one. */
#ifndef EP_STORE_CHECK_H
#define EP_STORE_CHECK_H

#include "formats/store/store.h"
#include "verify/check.h"

struct ep_store_check_options {
	unsigned read_percent; /* 0: presence only; 100: every chunk read; else a random share */
	unsigned threads;
	const struct ep_trust *trust; /* NULL: snapshots' signatures not checked, drill records' against the
				       * trusted-keys directories (those signed by a key they lack: unverified) */
	const struct ep_progress *progress;
	void (*problem)(void *ctx, const char *msg); /* each problem found */
	void *ctx;
	/* Object Lock: each snapshot retained for less than the store's policy says (no problem: the
	 * data is whole, but not protected as promised); NULL: not told */
	void (*warn)(void *ctx, const char *msg);
	void *warn_ctx;
};

struct ep_store_check_stats {
	uint64_t snapshots, chunks, referenced, unreferenced, missing, read, bad, unsigned_snapshots;
	uint64_t bad_snapshots; /* snapshot objects that cannot be used; snapshots counts the others */
	uint64_t drills, bad_drills; /* drill records, and those that cannot be used (each a problem) */
	uint64_t drills_unverified;  /* without a key given: signed by a key this host does not trust */
	uint64_t drills_without_snapshot; /* good records of a snapshot forgotten since (prune removes them) */
	uint64_t retention_short; /* Object Lock: snapshots retained for less than the policy says (warned) */
};

/* Object Lock (formats/STORE.md, section 10): each snapshot's manifest object must be retained, in
 * the policy's mode, until its creation plus the policy's days and until the floor it records; a
 * few of its chunks (sample, at random) until that floor too. Each shortfall is warned of, and
 * counted in stats->retention_short by snapshot. */
struct ep_catalog;
int ep_store_check_retention(struct ep_store *st, const struct ep_catalog *cat, unsigned sample,
			     const struct ep_store_check_options *opt, struct ep_store_check_stats *stats,
			     struct ep_error *err);

/* 0 when the store holds together, EP_EINTEGRITY when a problem was found (each reported). */
int ep_store_check(struct ep_store *st, const struct ep_store_check_options *opt, struct ep_store_check_stats *stats,
		   struct ep_error *err);

#endif
