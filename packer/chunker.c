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

size_t ep_cdc_cut(const uint8_t *p, size_t n)
{
	pthread_once(&gear_once, gear_init);
	if (n <= EP_CDC_MIN)
		return n;
	size_t limit = n < EP_CDC_MAX ? n : EP_CDC_MAX;
	size_t normal = limit < EP_CDC_AVG ? limit : EP_CDC_AVG;
	uint64_t h = 0;
	size_t i = EP_CDC_MIN;
	for (; i < normal; i++) {
		h = (h << 1) + gear[p[i]];
		if (!(h & MASK_STRICT))
			return i + 1;
	}
	for (; i < limit; i++) {
		h = (h << 1) + gear[p[i]];
		if (!(h & MASK_LOOSE))
			return i + 1;
	}
	return limit;
}
