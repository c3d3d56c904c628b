/* Open-addressing map from a SHA-256 digest to a 64-bit value. Not thread-safe. */
#ifndef EP_DIGESTMAP_H
#define EP_DIGESTMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

struct ep_digestmap;

struct ep_digestmap *ep_digestmap_new(void);
void ep_digestmap_free(struct ep_digestmap *map);
/* Inserts or overwrites; returns false only when memory runs out. */
bool ep_digestmap_put(struct ep_digestmap *map, const uint8_t key[EP_DIGEST_LEN], uint64_t value);
bool ep_digestmap_get(const struct ep_digestmap *map, const uint8_t key[EP_DIGEST_LEN], uint64_t *value);
size_t ep_digestmap_count(const struct ep_digestmap *map);

#endif
