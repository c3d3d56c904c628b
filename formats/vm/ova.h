/* OVA files as a source (vm:ova:FILE.ova): the tar's members are unpacked into
 * a private temporary directory, checked against the package's .mf, and read
 * as the OVF package they are. */
#ifndef EP_OVA_H
#define EP_OVA_H

#include "base/error.h"
#include "formats/vm/vm_source.h"

/* Unpacks ova into a new directory under $TMPDIR (*dir, heap) and reads its
 * descriptor; the caller removes the directory with ep_ova_cleanup. */
int ep_ova_read(const char *ova, char **dir, struct ep_vm_source **out, struct ep_error *err);
void ep_ova_cleanup(char *dir);

#endif
