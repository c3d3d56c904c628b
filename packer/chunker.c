#include "packer/chunker.h"

#include <pthread.h>

/* 20 bits for a 1 MiB average; the strict mask (2 bits more) applies before the
 * average, the loose one (2 bits fewer) after: FastCDC's normalisation level 2. */
#define MASK_STRICT (~(uint64_t)0 << (64 - 22))
#define MASK_LOOSE (~(uint64_t)0 << (64 - 18))

static uint64_t gear[256];
static pthread_once_t gear_once = PTHREAD_ONCE_INIT;

/* splitmix64 from a fixed seed: reproducible by any implementation */
static void gear_init(void)
{
	uint64_t x = 0x656e767061636b31ULL; /* "envpack1" */
	for (int i = 0; i < 256; i++) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		gear[i] = z ^ (z >> 31);
	}
}

/* The gear hash after bytes [from, i): a byte's share is shifted out of the 64 bits 64 bytes
 * later, so only the last 64 count, and a hash can start anywhere from them. */
static uint64_t hash_at(const uint8_t *p, size_t from, size_t i)
{
	uint64_t h = 0;
	for (size_t j = i - from > 64 ? i - 64 : from; j < i; j++)
		h = (h << 1) + gear[p[j]];
	return h;
}

#define LANE ((size_t)4096)

/* The first cut in [i, end) of a hash started at from: the index after the first byte at which
 * the hash has no bit of mask set; 0 when there is none. Each hash step waits for the last, so
 * four stretches of LANE bytes are hashed side by side (each from the 64 bytes before it),
 * and a block where any of them cuts is scanned again in order for the first. */
static size_t first_cut(const uint8_t *p, size_t from, size_t i, size_t end, uint64_t mask)
{
	for (; end - i >= 4 * LANE; i += 4 * LANE) {
		const uint8_t *q = p + i;
		uint64_t h0 = hash_at(p, from, i), h1 = hash_at(p, from, i + LANE), h2 = hash_at(p, from, i + 2 * LANE),
			 h3 = hash_at(p, from, i + 3 * LANE);
		size_t t = 0;
		for (; t < LANE; t++) {
			h0 = (h0 << 1) + gear[q[t]];
			h1 = (h1 << 1) + gear[q[t + LANE]];
			h2 = (h2 << 1) + gear[q[t + 2 * LANE]];
			h3 = (h3 << 1) + gear[q[t + 3 * LANE]];
			if (!(h0 & mask) || !(h1 & mask) || !(h2 & mask) || !(h3 & mask))
				break;
		}
		if (t < LANE)
			break;
	}
	uint64_t h = hash_at(p, from, i);
	for (; i < end; i++) {
		h = (h << 1) + gear[p[i]];
		if (!(h & mask))
			return i + 1;
	}
	return 0;
}

size_t ep_cdc_cut(const uint8_t *p, size_t n)
{
	pthread_once(&gear_once, gear_init);
	if (n <= EP_CDC_MIN)
		return n;
	size_t limit = n < EP_CDC_MAX ? n : EP_CDC_MAX;
	size_t normal = limit < EP_CDC_AVG ? limit : EP_CDC_AVG;
	size_t cut = first_cut(p, EP_CDC_MIN, EP_CDC_MIN, normal, MASK_STRICT);
	if (!cut)
		cut = first_cut(p, EP_CDC_MIN, normal, limit, MASK_LOOSE);
	return cut ? cut : limit;
}
