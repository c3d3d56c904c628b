/* OVA files as a source (vm:ova:FILE.ova): the tar's members are unpacked into
 * a private temporary directory, checked against the package's .mf, and read
 * as the OVF package they are. */
#ifndef EP_OVA_H
#define EP_OVA_H

#include <stdbool.h>

#include "base/error.h"
#include "formats/vm/vm_source.h"

/* How an OVA's .mf is held. Without a .mf the members are taken unchecked. With one, every
 * line must parse (SHA1, SHA256 or SHA512), every digest match, and every member but the .mf
 * and a .cert be listed, unless allow_unlisted: then each one left out is warned about. */
struct ep_ova_options {
	bool allow_unlisted;
	void (*warn)(void *ctx, const char *msg); /* an ep_warn_fn; NULL: none */
	void *warn_ctx;
};

/* Unpacks ova into a new directory under $TMPDIR (*dir, heap), checks it against its .mf as
 * opts says (NULL: strictly) and reads its descriptor; the caller removes the directory with
 * ep_ova_cleanup. */
int ep_ova_read(const char *ova, const struct ep_ova_options *opts, char **dir, struct ep_vm_source **out,
		struct ep_error *err);
void ep_ova_cleanup(char *dir);

#endif
