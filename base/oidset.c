#include "base/oidset.h"

#include <stdlib.h>
#include <string.h>

/* Added ids wait unsorted until there are this many, or a quarter of the sorted ones: each
 * is then merged in O(log n) times, and the set never holds much more than its members. */
#define PENDING_MIN ((size_t)1 << 16)

static uint64_t key_of(const uint8_t oid[EP_DIGEST_LEN])
{
	uint64_t k;
	memcpy(&k, oid, sizeof k);
	return k;
}

static int key_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void ep_oidset_init(struct ep_oidset *s)
{
	*s = (struct ep_oidset){ 0 };
}

void ep_oidset_release(struct ep_oidset *s)
{
	free(s->keys);
	ep_oidset_init(s);
}

/* Sorted a[0, n) without repeats; returns the new n. */
static size_t unique(uint64_t *a, size_t n)
{
	size_t out = 0;
	for (size_t i = 0; i < n; i++)
		if (!out || a[out - 1] != a[i])
			a[out++] = a[i];
	return out;
}

/* The pending ids sorted into the sorted ones, merged from the back so that only the pending
 * ones need room of their own. */
static bool merge(struct ep_oidset *s)
{
	size_t p = s->n - s->sorted;
	if (!p)
		return true;
	uint64_t *b = s->keys + s->sorted;
	qsort(b, p, sizeof *b, key_cmp);
	p = unique(b, p);
	uint64_t *tmp = malloc(p * sizeof *tmp);
	if (!tmp)
		return false;
	memcpy(tmp, b, p * sizeof *tmp);
	size_t i = s->sorted, j = p, out = s->sorted + p;
	while (j > 0)
		s->keys[--out] = i > 0 && s->keys[i - 1] > tmp[j - 1] ? s->keys[--i] : tmp[--j];
	free(tmp);
	s->n = s->sorted = unique(s->keys, s->sorted + p);
	return true;
}

bool ep_oidset_add(struct ep_oidset *s, const uint8_t oid[EP_DIGEST_LEN])
{
	size_t pending_max = s->sorted / 4 > PENDING_MIN ? s->sorted / 4 : PENDING_MIN;
	if (s->n - s->sorted >= pending_max && !merge(s))
		return false;
	if (s->n == s->cap) { /* grown by a quarter: realloc moves large blocks without a copy */
		size_t cap = s->cap + s->cap / 4 + PENDING_MIN;
		uint64_t *k = cap < SIZE_MAX / sizeof *k ? realloc(s->keys, cap * sizeof *k) : NULL;
		if (!k)
			return false;
		s->keys = k;
		s->cap = cap;
	}
	s->keys[s->n++] = key_of(oid);
	return true;
}

bool ep_oidset_seal(struct ep_oidset *s)
{
	if (!merge(s))
		return false;
	if (s->n && s->n < s->cap) { /* the slack given back; failing to is no failure */
		uint64_t *k = realloc(s->keys, s->n * sizeof *k);
		if (k) {
			s->keys = k;
			s->cap = s->n;
		}
	}
	return true;
}

ptrdiff_t ep_oidset_find(const struct ep_oidset *s, const uint8_t oid[EP_DIGEST_LEN])
{
	uint64_t k = key_of(oid);
	const uint64_t *at = s->sorted ? bsearch(&k, s->keys, s->sorted, sizeof k, key_cmp) : NULL;
	return at ? at - s->keys : -1;
}

size_t ep_oidset_count(const struct ep_oidset *s)
{
	return s->sorted;
}
