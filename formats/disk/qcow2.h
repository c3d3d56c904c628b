/* qcow2 constants shared by the reader and the writer (qemu's docs/interop/qcow2.txt). */
#ifndef EP_QCOW2_H
#define EP_QCOW2_H

#define QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */
#define QCOW2_OFFSET_MASK 0x00fffffffffffe00ULL
#define QCOW2_COPIED (1ULL << 63)
#define QCOW2_COMPRESSED (1ULL << 62)
#define QCOW2_ZERO 1ULL
#define QCOW2_INCOMPAT_DIRTY (1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ULL << 4)
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_L1_ENTRIES (32u << 20) / 8 /* qemu's limit: a 32 MiB L1 table */
#define QCOW2_V3_HEADER 104

#endif
