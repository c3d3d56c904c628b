/*
 * What a manifest says of itself when it is a snapshot in a store: the host it
 * was taken on, its tags, the sources named, and the store's sequence number.
 * It sits inside the manifest, so the signature covers it, and an exported
 * bundle keeps it. Optional: plain bundles have none.
 */
#ifndef EP_SNAPINFO_H
#define EP_SNAPINFO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define EP_SNAP_TAGS_MAX 64
#define EP_SNAP_SOURCES_MAX 256

struct ep_snapinfo {
	char *host;        /* printable, 1..255 bytes */
	char **tags;       /* each 1..64 of [A-Za-z0-9._:+=@-] */
	size_t ntags;
	char **sources;    /* the source specs as given ("disk:/dev/vg/web"), printable */
	size_t nsources;
	uint64_t sequence; /* 1, 2, ... in the store: a newer snapshot has a larger one */
	/* A store with Object Lock (formats/STORE.md, section 10): the mode ("governance",
	 * "compliance") and the time before which the snapshot and every chunk it names are
	 * retained at least, its floor; "" and 0 elsewhere. */
	char lock_mode[12];
	int64_t retain_until;
};

bool ep_snap_tag_ok(const char *tag);
struct ep_snapinfo *ep_snapinfo_new(const char *host, uint64_t sequence);
/* Appends a copy of s to tags (or sources). */
int ep_snapinfo_add(char ***list, size_t *n, size_t max, const char *s, struct ep_error *err);
void ep_snapinfo_free(struct ep_snapinfo *s);
struct ep_snapinfo *ep_snapinfo_dup(const struct ep_snapinfo *s);
json_t *ep_snapinfo_to_json(const struct ep_snapinfo *s);
/* Validates untrusted JSON; `what` names the source in messages. */
int ep_snapinfo_parse(json_t *o, const char *what, struct ep_snapinfo **out, struct ep_error *err);

#endif
