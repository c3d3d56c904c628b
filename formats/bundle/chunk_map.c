#include "formats/bundle/chunk_map.h"

#include <stdlib.h>

int ep_chunk_map_build(struct ep_chunk_map *m, const struct ep_component *disk, struct ep_error *err)
{
	*m = (struct ep_chunk_map){ 0 };
	size_t cap = disk->nchunks ? disk->nchunks : 1;
	if (!(m->refs = calloc(cap, sizeof *m->refs)) || !(m->start = calloc(cap, sizeof *m->start))) {
		ep_chunk_map_free(m);
		return ep_oom(err);
	}
	for (size_t i = 0; i < disk->nextents; i++) {
		uint64_t at = disk->extents[i].offset;
		for (size_t k = 0; k < disk->extents[i].count && m->n < disk->nchunks; k++, m->n++) {
			m->refs[m->n] = &disk->chunks[disk->extents[i].first + k];
			m->start[m->n] = at;
			at += m->refs[m->n]->size;
		}
	}
	return 0;
}

long long ep_chunk_map_find(const struct ep_chunk_map *m, uint64_t at)
{
	size_t lo = 0, hi = m->n; /* the first chunk starting after `at` */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->start[mid] <= at)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && at < m->start[lo - 1] + m->refs[lo - 1]->size)
		return (long long)lo - 1;
	return -(long long)lo - 1;
}

void ep_chunk_map_free(struct ep_chunk_map *m)
{
	free(m->refs);
	free(m->start);
	*m = (struct ep_chunk_map){ 0 };
}
