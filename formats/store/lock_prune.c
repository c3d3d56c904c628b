/*
 * Prune's part of the lock protocol (formats/STORE.md, section 5): those who lock
 * only ever add records, so the records of holders released or gone are removed
 * here, under the exclusive lock, by a credential that may delete.
 */
#include "formats/store/lock_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int remove_record(struct ep_store *st, const char *record, struct ep_error *err)
{
	char key[220];
	snprintf(key, sizeof key, "locks/%s", record);
	return st->be->ops->remove(st->be, key, err);
}

/* Whether a holder holds nothing: its newest record is a release, stale, or gone. */
static int holder_done(struct ep_store *st, const struct lock_name *newest, const char *host, bool *done,
		       struct ep_error *err)
{
	json_t *o = NULL;
	int rc = newest->released ? 1 : ep_lock_read_record(st, newest->name, &o, err);
	*done = rc == 1 || (!rc && ep_lock_record_state(o, host) != LOCK_LIVE);
	json_decref(o);
	return rc < 0 ? rc : 0;
}

int ep_store_prune_locks(struct ep_store *st, uint64_t *removed, struct ep_error *err)
{
	struct lock_names l;
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	*removed = 0;
	int rc = ep_lock_list_names(st, &l, err);
	for (size_t i = 0, end; !rc && i < l.n; i = end) {
		end = ep_lock_holder_end(&l, i);
		size_t upto = end; /* records [i, upto) go */
		bool done = true;
		if (ep_lock_is_ours(st, &l.v[i]))
			upto = end - 1; /* all but our newest */
		else if (!(rc = holder_done(st, &l.v[end - 1], host, &done, err)) && !done)
			upto = i; /* a run that is trying for the lock, and will find ours: left to it */
		if (!rc && upto > i)
			rc = ep_store_lock_held(st, err);
		/* oldest first: until it goes, the newest says what its holder is */
		for (size_t k = i; !rc && k < upto; k++)
			if (!(rc = remove_record(st, l.v[k].name, err)))
				(*removed)++;
	}
	free(l.v);
	return rc;
}
