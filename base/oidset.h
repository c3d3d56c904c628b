/*
 * A compact set of object ids (SHA-256 digests, plain or keyed: uniform bits), for the
 * millions prune and check must hold (the chunks the snapshots name): each kept as its first
 * 8 bytes, 8 bytes a member. Ids are added in any order, repeats and all; seal sorts them
 * and drops the repeats, then find answers by binary search.
 *
 * A member is always found. An id that is no member is found only if a member shares its
 * first 8 bytes: with n members, one lookup errs with probability at most n / 2^64 (10 M
 * members: 5e-13; 10 M lookups against them: 5e-6). Users say which way that error falls.
 */
#ifndef EP_OIDSET_H
#define EP_OIDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

struct ep_oidset {
	uint64_t *keys; /* keys[0, sorted): sorted, distinct; keys[sorted, n): added since */
	size_t n, sorted, cap;
};

void ep_oidset_init(struct ep_oidset *s);
void ep_oidset_release(struct ep_oidset *s);
/* false only when memory runs out. */
bool ep_oidset_add(struct ep_oidset *s, const uint8_t oid[EP_DIGEST_LEN]);
/* Sorts what was added (before find); false only when memory runs out. */
bool ep_oidset_seal(struct ep_oidset *s);
/* The member's position, in [0, ep_oidset_count): stable once sealed, for arrays beside the
 * set; -1 when none. */
ptrdiff_t ep_oidset_find(const struct ep_oidset *s, const uint8_t oid[EP_DIGEST_LEN]);
size_t ep_oidset_count(const struct ep_oidset *s);

#endif
