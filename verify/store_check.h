/* Checking a store: every snapshot readable (and, with a key, signed by it), every
 * chunk they name present, and with read_data each chunk's content decompressed and
 * hashed, all of them or a random share. Problems are reported one by one. */
#ifndef EP_STORE_CHECK_H
#define EP_STORE_CHECK_H

#include "formats/store/store.h"
#include "verify/check.h"

struct ep_store_check_options {
	unsigned read_percent; /* 0: presence only; 100: every chunk read; else a random share */
	unsigned threads;
	const struct ep_trust *trust; /* NULL: signatures not checked */
	const struct ep_progress *progress;
	void (*problem)(void *ctx, const char *msg); /* each problem found */
	void *ctx;
};

struct ep_store_check_stats {
	uint64_t snapshots, chunks, referenced, unreferenced, missing, read, bad, unsigned_snapshots;
	uint64_t bad_snapshots; /* snapshot objects that cannot be used; snapshots counts the others */
};

/* 0 when the store holds together, EP_EINTEGRITY when a problem was found (each reported). */
int ep_store_check(struct ep_store *st, const struct ep_store_check_options *opt, struct ep_store_check_stats *stats,
		   struct ep_error *err);

#endif
