/* VMDK constants shared by the reader and the writer (VMware's Virtual Disk Format 5.0). */
#ifndef EP_VMDK_H
#define EP_VMDK_H

#define VMDK4_MAGIC 0x564d444bu /* "KDMV" read little-endian */
#define VMDK_GD_AT_END 0xffffffffffffffffULL
#define VMDK_FLAG_NL_DETECT 0x1u
#define VMDK_FLAG_RGD 0x2u
#define VMDK_FLAG_ZEROED_GTE 0x4u
#define VMDK_FLAG_COMPRESSED 0x10000u
#define VMDK_FLAG_MARKERS 0x20000u
#define VMDK_DESCRIPTOR_MAX (64u << 10)
#define VMDK_MARKER_EOS 0
#define VMDK_MARKER_GT 1
#define VMDK_MARKER_GD 2
#define VMDK_MARKER_FOOTER 3

#endif
