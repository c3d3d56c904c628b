#include <pthread.h>
#include <string.h>

#include "formats/disk/vhdx.h"

#define G(a, b, c, d0, d1, d2, d3, d4, d5, d6, d7)                                                            \
	{ (uint8_t)(a), (uint8_t)((a) >> 8), (uint8_t)((a) >> 16), (uint8_t)((a) >> 24), (uint8_t)(b),      \
	  (uint8_t)((b) >> 8), (uint8_t)(c), (uint8_t)((c) >> 8), d0, d1, d2, d3, d4, d5, d6, d7 }

const uint8_t vhdx_guid_bat[16] = G(0x2DC27766, 0xF623, 0x4200, 0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08);
const uint8_t vhdx_guid_metadata[16] = G(0x8B7CA206, 0x4790, 0x4B9A, 0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E);
const uint8_t vhdx_guid_file_params[16] = G(0xCAA16737, 0xFA36, 0x4D43, 0xB3, 0xB6, 0x33, 0xF0, 0xAA, 0x44, 0xE7, 0x6B);
const uint8_t vhdx_guid_disk_size[16] = G(0x2FA54224, 0xCD1B, 0x4876, 0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8);
const uint8_t vhdx_guid_disk_id[16] = G(0xBECA12AB, 0xB2E6, 0x4523, 0x93, 0xEF, 0xC3, 0x09, 0xE0, 0x00, 0xC7, 0x46);
const uint8_t vhdx_guid_logical_sector[16] = G(0x8141BF1D, 0xA96F, 0x4709, 0xBA, 0x47, 0xF2, 0x33, 0xA8, 0xFA, 0xAB, 0x5F);
const uint8_t vhdx_guid_physical_sector[16] = G(0xCDA348C7, 0x445D, 0x4471, 0x9C, 0xC9, 0xE9, 0x88, 0x52, 0x51, 0xC5, 0x56);
const uint8_t vhdx_guid_parent_locator[16] = G(0xA8D35F2D, 0xB30B, 0x454D, 0xAB, 0xF7, 0xD3, 0xD8, 0x48, 0x34, 0xAB, 0x0C);

static uint32_t table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1; /* Castagnoli, reflected */
		table[i] = c;
	}
}

static uint32_t update(uint32_t crc, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return crc;
}

uint32_t vhdx_crc32c(const uint8_t *p, size_t len)
{
	pthread_once(&table_once, table_init);
	return ~update(~0u, p, len);
}

uint32_t vhdx_checksum(const uint8_t *p, size_t len, size_t field)
{
	static const uint8_t zero[4];
	pthread_once(&table_once, table_init);
	uint32_t crc = update(~0u, p, field);
	crc = update(crc, zero, 4);
	return ~update(crc, p + field + 4, len - field - 4);
}
