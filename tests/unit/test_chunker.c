#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "packer/chunker.h"
#include "tests/unit/unit.h"

#define DATA_LEN ((size_t)24 << 20)

/* Cuts data as the packer does and records the chunk lengths. */
static size_t cut_all(const uint8_t *p, size_t n, size_t *lens, size_t max)
{
	size_t count = 0;
	while (n > 0 && count < max) {
		size_t len = ep_cdc_cut(p, n);
		lens[count++] = len;
		p += len;
		n -= len;
	}
	return count;
}

TEST(chunker_bounds_and_average)
{
	uint8_t *data = malloc(DATA_LEN);
	size_t lens[256];
	unit_fill(data, DATA_LEN, 1);
	size_t n = cut_all(data, DATA_LEN, lens, 256);
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		total += lens[i];
		EXPECT(lens[i] <= EP_CDC_MAX);
		if (i + 1 < n)
			EXPECT(lens[i] > EP_CDC_MIN);
	}
	EXPECT(total == DATA_LEN);
	/* about 1 MiB on average for random data */
	EXPECT(n >= 12 && n <= 40);
	free(data);
}

TEST(chunker_is_deterministic_and_content_defined)
{
	uint8_t *a = malloc(DATA_LEN + 1000), *b = malloc(DATA_LEN + 1000);
	unit_fill(a, DATA_LEN, 7);
	/* b is a with 1000 bytes inserted near the start: boundaries after it must realign */
	memcpy(b, a, 4000);
	unit_fill(b + 4000, 1000, 99);
	memcpy(b + 5000, a + 4000, DATA_LEN - 4000);
	size_t la[256], lb[256], la2[256];
	size_t na = cut_all(a, DATA_LEN, la, 256), nb = cut_all(b, DATA_LEN + 1000, lb, 256);
	EXPECT(cut_all(a, DATA_LEN, la2, 256) == na && memcmp(la, la2, na * sizeof *la) == 0);
	/* compare digests of chunks: all but the first one or two must be shared */
	size_t shared = 0;
	const uint8_t *pa = a;
	for (size_t i = 0; i < na; pa += la[i++]) {
		uint8_t da[32];
		ep_sha256(pa, la[i], da);
		const uint8_t *pb = b;
		for (size_t k = 0; k < nb; pb += lb[k++]) {
			uint8_t db[32];
			ep_sha256(pb, lb[k], db);
			if (!memcmp(da, db, 32)) {
				shared++;
				break;
			}
		}
	}
	EXPECT(shared + 2 >= na);
	free(a);
	free(b);
}

TEST(chunker_short_and_zero_input)
{
	uint8_t small[100] = { 0 };
	EXPECT(ep_cdc_cut(small, sizeof small) == sizeof small);
	uint8_t *zeros = calloc(1, EP_CDC_MAX * 2);
	size_t len = ep_cdc_cut(zeros, EP_CDC_MAX * 2);
	EXPECT(len > EP_CDC_MIN && len <= EP_CDC_MAX);
	free(zeros);
}

/* Frozen vector: bundle format v1 fixes the chunking (formats/BUNDLE.md §5), so the
 * cut points of this input must never change; a change breaks deduplication
 * against every existing bundle. */
TEST(chunker_format_v1_vector)
{
	uint8_t *data = malloc(DATA_LEN);
	size_t lens[256];
	unit_fill(data, DATA_LEN, 2026);
	size_t n = cut_all(data, DATA_LEN, lens, 256);
	char text[256 * 12] = "";
	for (size_t i = 0; i < n; i++)
		snprintf(text + strlen(text), sizeof text - strlen(text), "%zu ", lens[i]);
	uint8_t digest[32];
	char hex[65];
	ep_sha256(text, strlen(text), digest);
	ep_hex(digest, 8, hex);
	printf("       %zu chunks, lengths digest %s\n", n, hex);
	EXPECT(n == 22);
	EXPECT(!strcmp(hex, "87109fa9652b1f0d"));
	free(data);
}

/* fastcdc-gear-v1 as formats/BUNDLE.md §5 states it, a byte at a time: the packer's cuts
 * (its hashes run side by side) must be these. */
static size_t spec_cut(const uint8_t *p, size_t n)
{
	static uint64_t gear[256];
	uint64_t x = 0x656e767061636b31ULL;
	for (int i = 0; i < 256; i++) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		gear[i] = z ^ (z >> 31);
	}
	if (n <= EP_CDC_MIN)
		return n;
	size_t limit = n < EP_CDC_MAX ? n : EP_CDC_MAX, normal = limit < EP_CDC_AVG ? limit : EP_CDC_AVG;
	uint64_t h = 0;
	for (size_t i = EP_CDC_MIN; i < limit; i++) {
		h = (h << 1) + gear[p[i]];
		if (!(h & (~(uint64_t)0 << (64 - (i < normal ? 22 : 18)))))
			return i + 1;
	}
	return limit;
}

TEST(chunker_cuts_as_the_format_states_whatever_the_lengths)
{
	uint8_t *data = malloc(DATA_LEN);
	unsigned chunks = 0, same = 0;
	for (unsigned seed = 1; seed <= 24; seed++) {
		unit_fill(data, DATA_LEN, 7000 + seed);
		/* lengths not a multiple of anything, so that the last stretch of each scan varies */
		size_t n = DATA_LEN - seed * 4099;
		for (size_t off = 0; off < n;) {
			size_t len = ep_cdc_cut(data + off, n - off);
			same += len == spec_cut(data + off, n - off);
			chunks++;
			off += len;
		}
	}
	printf("       %u chunks cut, %u as the format states\n", chunks, same);
	EXPECT(chunks > 300 && same == chunks);
	free(data);
}
