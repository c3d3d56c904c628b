/*
 * A disk component's chunks in disk order, found by offset: what reads a disk at any
 * offset (an incremental backup's earlier record, a served snapshot) looks chunks up in.
 */
#ifndef EP_CHUNK_MAP_H
#define EP_CHUNK_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "formats/bundle/manifest.h"

/* Chunk i covers [start[i], start[i] + refs[i]->size); refs point into the component. */
struct ep_chunk_map {
	const struct ep_chunk_ref **refs;
	uint64_t *start;
	size_t n;
};

/* The map of disk's chunks (its extents resolved), borrowed from disk until freed. */
int ep_chunk_map_build(struct ep_chunk_map *m, const struct ep_component *disk, struct ep_error *err);
/* The index of the chunk holding byte `at`; else -1 minus the count of chunks starting
 * before it (so that -(r + 1) is the next chunk after a hole). */
long long ep_chunk_map_find(const struct ep_chunk_map *m, uint64_t at);
void ep_chunk_map_free(struct ep_chunk_map *m);

#endif
