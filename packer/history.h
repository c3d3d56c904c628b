/*
 * A store's memory of live disks' backups, for incremental ones (sources/source.h,
 * struct ep_source_history): kept in the host's files cache for the store (packer/backup.c),
 * under "disks", one entry per key ("vm:domain:UUID:TARGET"): the snapshot and component
 * of the disk's last backup, the checkpoint it was taken at, and the component's record
 * (a manifest of its own, extents inline), so that a host holding only an encrypted
 * store's public key backs up incrementally all the same.
 */
#ifndef EP_HISTORY_H
#define EP_HISTORY_H

#include <jansson.h>

#include "formats/store/store.h"
#include "sources/source.h"

struct ep_history;

/* A history of st's disks over cache (a files cache object; its "disks" are made if
 * missing), borrowed until ep_history_free; *iface is what sources are given. */
int ep_history_new(struct ep_history **out, struct ep_store *st, json_t *cache, const struct ep_source_history **iface,
		   struct ep_error *err);
/* Records in the cache what the snapshot `id` just published (m) holds of the disks
 * sources said they packed. */
void ep_history_published(struct ep_history *h, const struct ep_manifest *m, const char *id);
void ep_history_free(struct ep_history *h);

/* Component k of m as a manifest of its own (compact JSON, free()), or NULL; its extents
 * inline, so that reading it needs nothing of the store. */
char *ep_history_record(const struct ep_manifest *m, size_t k);

#endif
