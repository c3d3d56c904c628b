/* The VHD footer as readers outside a local file meet it (a fixed VHD in a page blob). */
#ifndef EP_VHD_H
#define EP_VHD_H

#include <stdint.h>

#include "base/error.h"

#define EP_VHD_FOOTER 512
#define EP_VHD_FIXED 2

/* Checks the EP_VHD_FOOTER bytes at f (the "conectix" cookie, the checksum) and gives the
 * disk type (EP_VHD_FIXED, 3 dynamic, 4 differencing) and the disk's size, read as the
 * vhd reader reads it; EP_EINPUT naming `what` when it is no footer. */
int ep_vhd_footer(const uint8_t *f, const char *what, uint32_t *type, uint64_t *size, struct ep_error *err);

#endif
