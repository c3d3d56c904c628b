/*
 * Snapshot sequence numbers that concurrent backups never share (formats/STORE.md,
 * section 4). Backups hold the lock shared, so the lock does not order them; a claim
 * does: write claims/<n>-<random>, then list claims/. Of two runs that claim the same
 * n at once, at least one sees the other's claim (each lists after its own write) and
 * moves on to n + 1; a run that sees no other keeps n. Claims stay, the losing ones too
 * (nothing here deletes: an append-only credential can claim), so a later run starts
 * above every number claimed; prune (exclusive lock) leaves only the highest.
 */
#include "formats/store/store_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#define CLAIM_TRIES 64
#define CLAIM_DIGITS 20 /* zero-padded, so that names sort as numbers do */

struct claims {
	const char *mine; /* our claim's name, not counted */
	uint64_t max;     /* the highest n claimed */
	uint64_t of_n;    /* claims of n by others */
	uint64_t n;
	char highest[100]; /* the name of a claim of max */
	struct ep_store *st;
};

/* "claims/<20 digits>-<hex>" -> n; false for any other name. */
static bool claim_number(const char *name, uint64_t *n)
{
	const char *p = name + strlen("claims/");
	if (strncmp(name, "claims/", 7) || strlen(p) < CLAIM_DIGITS + 2 || p[CLAIM_DIGITS] != '-')
		return false;
	*n = 0;
	for (int i = 0; i < CLAIM_DIGITS; i++) {
		if (p[i] < '0' || p[i] > '9' || *n > (UINT64_MAX - 9) / 10)
			return false;
		*n = *n * 10 + (uint64_t)(p[i] - '0');
	}
	return true;
}

static int claim_each(void *ctx, const char *name, uint64_t size, int64_t mtime, struct ep_error *err)
{
	(void)size, (void)mtime, (void)err;
	struct claims *c = ctx;
	uint64_t n;
	if (!claim_number(name, &n) || (c->mine && !strcmp(name, c->mine)))
		return 0;
	c->of_n += n == c->n;
	if (n >= c->max) {
		c->max = n;
		snprintf(c->highest, sizeof c->highest, "%s", name);
	}
	return 0;
}

static int list_claims(struct ep_store *st, struct claims *c, struct ep_error *err)
{
	c->max = c->of_n = 0;
	c->highest[0] = '\0';
	return st->be->ops->list(st->be, "claims/", claim_each, c, err);
}

int ep_store_claim_sequence(struct ep_store *st, uint64_t at_least, uint64_t *claimed, struct ep_error *err)
{
	struct claims c = { .st = st };
	char name[100];
	int rc = ep_store_lock_held(st, err) ? err->code : list_claims(st, &c, err);
	uint64_t n = c.max + 1 > at_least ? c.max + 1 : at_least;
	for (int tries = 0; !rc && tries < CLAIM_TRIES; tries++, n++) {
		uint8_t raw[6];
		char rnd[13], body[100];
		if (RAND_bytes(raw, sizeof raw) != 1)
			return ep_fail(err, EP_ERUNTIME, "store: no randomness for a claim's name");
		ep_hex(raw, sizeof raw, rnd);
		snprintf(name, sizeof name, "claims/%0*" PRIu64 "-%s", CLAIM_DIGITS, n, rnd);
		snprintf(body, sizeof body, "{\"pid\":%ld,\"time\":%lld}", (long)getpid(), (long long)time(NULL));
		if ((rc = st->be->ops->put(st->be, name, body, strlen(body), true, err)))
			break;
		c.mine = name;
		c.n = n;
		if ((rc = list_claims(st, &c, err)))
			break;
		if (!c.of_n) {
			*claimed = n;
			return 0;
		}
		/* another run claimed n too, and may not have seen ours: both move on. Ours stays
		 * (a gap, no duplicate; prune removes it): a backup removes nothing */
		if (c.max > n)
			n = c.max;
		uint32_t jitter;
		RAND_bytes((unsigned char *)&jitter, sizeof jitter);
		long ms = 5 + (long)(jitter % 50); /* so that two runs that met part */
		nanosleep(&(struct timespec){ 0, ms * 1000000 }, NULL);
	}
	return rc ? rc : ep_fail(err, EP_ERUNTIME, "store '%s': no sequence number claimed in %d tries",
				 ep_store_where(st), CLAIM_TRIES);
}

static int drop_each(void *ctx, const char *name, uint64_t size, int64_t mtime, struct ep_error *err)
{
	(void)size, (void)mtime;
	struct claims *c = ctx;
	uint64_t n;
	return claim_number(name, &n) && strcmp(name, c->highest) ? c->st->be->ops->remove(c->st->be, name, err) : 0;
}

int ep_store_prune_claims(struct ep_store *st, struct ep_error *err)
{
	struct claims c = { .st = st };
	int rc = list_claims(st, &c, err);
	return rc ? rc : st->be->ops->list(st->be, "claims/", drop_each, &c, err);
}
