/* VHDX layout constants shared by the reader and the writer ([MS-VHDX]). */
#ifndef EP_VHDX_H
#define EP_VHDX_H

#include <stddef.h>
#include <stdint.h>

#define VHDX_MB ((uint64_t)1 << 20)
#define VHDX_HEADER1 (64u << 10)
#define VHDX_HEADER2 (128u << 10)
#define VHDX_REGION1 (192u << 10)
#define VHDX_REGION2 (256u << 10)
#define VHDX_HEADER_SIZE 4096u
#define VHDX_REGION_SIZE (64u << 10)
#define VHDX_METADATA_TABLE (64u << 10)
#define VHDX_SECTORS_PER_CHUNK ((uint64_t)1 << 23)

enum {
	VHDX_PAYLOAD_NOT_PRESENT = 0,
	VHDX_PAYLOAD_UNDEFINED = 1,
	VHDX_PAYLOAD_ZERO = 2,
	VHDX_PAYLOAD_UNMAPPED = 3,
	VHDX_PAYLOAD_FULLY_PRESENT = 6,
	VHDX_PAYLOAD_PARTIALLY_PRESENT = 7,
};

/* GUIDs as stored on disk (the first three fields little-endian). */
extern const uint8_t vhdx_guid_bat[16], vhdx_guid_metadata[16], vhdx_guid_file_params[16],
	vhdx_guid_disk_size[16], vhdx_guid_disk_id[16], vhdx_guid_logical_sector[16],
	vhdx_guid_physical_sector[16], vhdx_guid_parent_locator[16];

uint32_t vhdx_crc32c(const uint8_t *p, size_t len);
/* CRC-32C of a structure whose 4-byte checksum field at `field` counts as zero. */
uint32_t vhdx_checksum(const uint8_t *p, size_t len, size_t field);
/* The BAT index of payload block b, sector-bitmap entries interleaved. */
static inline uint64_t vhdx_bat_index(uint64_t b, uint64_t chunk_ratio)
{
	return b + b / chunk_ratio;
}

#endif
