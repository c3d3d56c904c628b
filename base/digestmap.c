#include "base/digestmap.h"

#include <stdlib.h>
#include <string.h>

struct slot {
	uint8_t key[EP_DIGEST_LEN];
	uint64_t value;
	bool used;
};

struct ep_digestmap {
	struct slot *slots;
	size_t cap; /* power of two */
	size_t count;
};

struct ep_digestmap *ep_digestmap_new(void)
{
	struct ep_digestmap *map = calloc(1, sizeof *map);
	if (!map)
		return NULL;
	map->cap = 64;
	map->slots = calloc(map->cap, sizeof *map->slots);
	if (!map->slots) {
		free(map);
		return NULL;
	}
	return map;
}

void ep_digestmap_free(struct ep_digestmap *map)
{
	if (map)
		free(map->slots);
	free(map);
}

/* Keys are SHA-256 digests, already uniformly distributed. */
static size_t home(const uint8_t *key, size_t cap)
{
	uint64_t h;
	memcpy(&h, key, sizeof h);
	return (size_t)h & (cap - 1);
}

static struct slot *find(const struct ep_digestmap *map, const uint8_t *key)
{
	size_t i = home(key, map->cap);
	while (map->slots[i].used && memcmp(map->slots[i].key, key, EP_DIGEST_LEN) != 0)
		i = (i + 1) & (map->cap - 1);
	return &map->slots[i];
}

static bool grow(struct ep_digestmap *map)
{
	struct ep_digestmap bigger = { calloc(map->cap * 2, sizeof(struct slot)), map->cap * 2, 0 };
	if (!bigger.slots)
		return false;
	for (size_t i = 0; i < map->cap; i++)
		if (map->slots[i].used)
			*find(&bigger, map->slots[i].key) = map->slots[i];
	free(map->slots);
	map->slots = bigger.slots;
	map->cap = bigger.cap;
	return true;
}

bool ep_digestmap_put(struct ep_digestmap *map, const uint8_t key[EP_DIGEST_LEN], uint64_t value)
{
	if ((map->count + 1) * 4 > map->cap * 3 && !grow(map))
		return false;
	struct slot *s = find(map, key);
	if (!s->used) {
		memcpy(s->key, key, EP_DIGEST_LEN);
		s->used = true;
		map->count++;
	}
	s->value = value;
	return true;
}

bool ep_digestmap_get(const struct ep_digestmap *map, const uint8_t key[EP_DIGEST_LEN], uint64_t *value)
{
	const struct slot *s = find(map, key);
	if (!s->used)
		return false;
	if (value)
		*value = s->value;
	return true;
}

size_t ep_digestmap_count(const struct ep_digestmap *map)
{
	return map->count;
}
