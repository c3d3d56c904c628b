/*
 * The snapshots of a store, read and ordered: what `snapshots` lists, what
 * STORE@REF resolves against, what `forget` applies its policy to and what
 * `prune` and `check` walk. Manifests are parsed and validated, not trusted;
 * signatures are checked where a snapshot is used (verify, restore, export).
 * A snapshot that cannot be used (its object garbage, empty, not answering to its
 * id, not opening with the key...) is set aside as bad, with the reason, so that
 * one damaged object does not take the store's other snapshots with it.
 */
#ifndef EP_CATALOG_H
#define EP_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/bundle/manifest.h"
#include "formats/store/store.h"

struct ep_catalog_entry {
	char id[EP_STORE_ID_HEX];
	struct ep_manifest *manifest;
	int64_t time;      /* created, seconds since the epoch */
	uint64_t sequence; /* 0 for a snapshot imported from a plain bundle */
	bool signed_;
};

struct ep_catalog_bad {
	char id[EP_STORE_ID_HEX]; /* its object is snapshots/<id>.json */
	struct ep_error why;      /* what is wrong with it */
};

struct ep_catalog {
	struct ep_catalog_entry *entries; /* oldest first (time, then sequence, then id) */
	size_t n;
	struct ep_catalog_bad *bad; /* the snapshots that cannot be used, by id */
	size_t nbad;
};

/* Every snapshot of the store: those that read and verify in entries, the others in bad.
 * Fails only when the store itself cannot be read (EP_ERUNTIME: I/O, network, memory). */
int ep_catalog_load(struct ep_store *st, struct ep_catalog *out, struct ep_error *err);
void ep_catalog_release(struct ep_catalog *c);
/* The largest sequence number in the store (0 when none). */
uint64_t ep_catalog_max_sequence(const struct ep_catalog *c);
/* A snapshot by its id, a unique prefix of it (at least 4 digits), or "latest" (the
 * highest sequence, then the newest, of those that can be used). A ref naming a bad
 * snapshot fails with EP_EINTEGRITY, saying what is wrong with it. */
const struct ep_catalog_entry *ep_catalog_find(const struct ep_catalog *c, const char *ref, const char *store,
					       struct ep_error *err);
/* The bad snapshot ref names (an id or a unique prefix), or NULL. */
const struct ep_catalog_bad *ep_catalog_find_bad(const struct ep_catalog *c, const char *ref);
/* What is wrong with a bad snapshot, naming its file, for messages. */
void ep_catalog_bad_message(const struct ep_catalog_bad *b, const char *store, char *buf, size_t cap);
/* 0 when every snapshot could be used (but those with skip[i] set for c->bad[i]; skip may be
 * NULL); else EP_EINTEGRITY naming the first bad one: what removes chunks (doing: "prune")
 * must not guess which chunks a snapshot it cannot read names. */
int ep_catalog_require_all(const struct ep_catalog *c, const bool *skip, const char *store, const char *doing,
			   struct ep_error *err);

/* A retention policy, with restic's meaning: for each rule, walking the snapshots
 * newest first, keep the newest snapshot of each of the last N hours (days, ISO weeks,
 * months, years) that have one; keep-last keeps the N newest; a snapshot kept by any
 * rule is kept. Buckets are in UTC. Snapshots are grouped by host and name first. */
struct ep_policy {
	int last, hourly, daily, weekly, monthly, yearly; /* 0: rule off, -1: unlimited */
	const char *const *keep_tags; /* snapshots with any of these tags are kept */
	size_t nkeep_tags;
};
bool ep_policy_empty(const struct ep_policy *p);
/* keep[i] for c->entries[i], and why (a static string per rule, "" when forgotten). */
int ep_policy_apply(const struct ep_catalog *c, const struct ep_policy *p, bool *keep, const char **why,
		    struct ep_error *err);

#endif
