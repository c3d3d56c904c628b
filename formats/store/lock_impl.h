/*
 * What the lock protocol (lock.c) and prune's removal of old lock records
 * (lock_prune.c) share: the names under locks/, grouped by holder, and what a
 * holder's newest record says of it (formats/STORE.md, section 5).
 */
#ifndef EP_LOCK_IMPL_H
#define EP_LOCK_IMPL_H

#include <jansson.h>

#include "formats/store/store_impl.h"

#define LOCK_NAME_MAX 200 /* a record's name under locks/, as st->lock_record holds it */

/* A name under locks/, and the holder it belongs to. */
struct lock_name {
	char name[LOCK_NAME_MAX];
	size_t key_len; /* its holder: the first key_len bytes ("<host>-<pid>-<holder>"); an older
			 * envpack's record ("<host>-<pid>-<random>.json") is a holder of its own */
	bool has_holder; /* named as this envpack names records: a release can be written for it */
	uint64_t n;
	bool released;
};

struct lock_names {
	struct lock_name *v;
	size_t n, cap;
};

/* Every record under locks/, grouped by holder, oldest first (free l->v). */
int ep_lock_list_names(struct ep_store *st, struct lock_names *l, struct ep_error *err);
/* Where the holder of l->v[i] ends: its records are [i, end), its newest the last. */
size_t ep_lock_holder_end(const struct lock_names *l, size_t i);
/* Whether r is a record of this run's own hold. */
bool ep_lock_is_ours(const struct ep_store *st, const struct lock_name *r);
/* A record, parsed (NULL when it is not JSON, or too large: judged as one that says
 * nothing); 1 when it is gone (removed since the listing), or a failure to read: a holder
 * is not passed over because the store did not answer. */
int ep_lock_read_record(struct ep_store *st, const char *name, json_t **o, struct ep_error *err);

enum lock_state {
	LOCK_LIVE,
	LOCK_DEAD, /* its process, on this host, no longer runs */
	LOCK_STALE /* not refreshed within the "stale" seconds it promised (the holder's own promise:
		    * it refreshes well within them, or stops) */
};
/* The state of the holder whose newest record is o, judged on this_host. */
enum lock_state ep_lock_record_state(json_t *o, const char *this_host);

#endif
