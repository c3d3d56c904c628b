#include "packer/history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/bundle/codec.h"

struct ep_history {
	struct ep_source_history iface;
	struct ep_store *st;
	json_t *disks;  /* the cache's "disks", borrowed */
	json_t *packed; /* key -> {"component", "checkpoint"}: what this backup packed */
	char tag[EP_STORE_ID_HEX + 32];
	char (*ids)[EP_STORE_ID_HEX]; /* the store's snapshots, listed at the first lookup */
	size_t nids;
	bool listed;
	struct ep_manifest **records; /* parsed records, handed out to sources */
	size_t nrecords, cap_records;
	struct ep_bundle *chunks; /* the store's chunks, opened at the first load */
};

static bool has_snapshot(struct ep_history *h, const char *id)
{
	struct ep_error ignored = { 0 };
	if (!h->listed && !ep_store_snapshot_ids(h->st, &h->ids, &h->nids, &ignored))
		h->listed = true;
	for (size_t i = 0; i < h->nids; i++)
		if (!strcmp(h->ids[i], id))
			return true;
	return false;
}

static const struct ep_component *previous(void *ctx, const char *key, const char **checkpoint, char *why,
					   size_t cap)
{
	struct ep_history *h = ctx;
	json_t *e = json_object_get(h->disks, key);
	const char *snapshot = json_string_value(json_object_get(e, "snapshot"));
	const char *record = json_string_value(json_object_get(e, "record"));
	*checkpoint = json_string_value(json_object_get(e, "checkpoint"));
	why[0] = 0;
	if (!e)
		return NULL;
	struct ep_manifest *m = NULL;
	struct ep_error ignored = { 0 };
	if (!snapshot || !record || !*checkpoint ||
	    ep_manifest_parse(record, strlen(record), "the files cache", &m, &ignored) || m->ncomponents != 1 ||
	    m->components[0].type != EP_COMP_DISK) {
		snprintf(why, cap, "the record of its last backup is damaged");
		ep_manifest_free(m);
		return NULL;
	}
	const struct ep_component *c = &m->components[0];
	bool whole = true;
	for (size_t j = 0; whole && j < c->nchunks; j++)
		whole = ep_store_has_chunk(h->st, c->chunks[j].digest, NULL);
	if (!has_snapshot(h, snapshot))
		snprintf(why, cap, "snapshot %.12s, its last backup, is gone from the store", snapshot);
	else if (!whole)
		snprintf(why, cap, "chunks of its last backup are gone from the store");
	else if (ep_grow((void **)&h->records, &h->cap_records, h->nrecords + 1, sizeof *h->records)) {
		h->records[h->nrecords++] = m;
		return c;
	} else
		snprintf(why, cap, "out of memory");
	ep_manifest_free(m);
	return NULL;
}

static int load(void *ctx, const struct ep_chunk_ref *ref, char **data, size_t *len, struct ep_error *err)
{
	struct ep_history *h = ctx;
	int rc = h->chunks ? 0 : ep_store_snapshot_open(&h->chunks, h->st, NULL, ep_store_where(h->st), err);
	return rc ? rc : ep_bundle_load_chunk(h->chunks, ref, data, len, err);
}

static int packed(void *ctx, const char *key, const char *component, const char *checkpoint, struct ep_error *err)
{
	struct ep_history *h = ctx;
	json_t *o = json_pack("{s:s,s:s}", "component", component, "checkpoint", checkpoint);
	return o && !json_object_set_new(h->packed, key, o) ? 0 : ep_oom(err);
}

int ep_history_new(struct ep_history **out, struct ep_store *st, json_t *cache, const struct ep_source_history **iface,
		   struct ep_error *err)
{
	struct ep_history *h = *out = calloc(1, sizeof *h);
	if (!h)
		return ep_oom(err);
	h->st = st;
	if (!json_is_object(json_object_get(cache, "disks")))
		json_object_set_new(cache, "disks", json_object());
	h->disks = json_object_get(cache, "disks");
	if (!h->disks || !(h->packed = json_object()))
		return ep_oom(err);
	snprintf(h->tag, sizeof h->tag, "envpack store %s", ep_store_id(st));
	const struct ep_seal *seal = ep_store_seal(st);
	h->iface = (struct ep_source_history){ .ctx = h, .tag = h->tag, .previous = previous, .packed = packed,
					       .load = !seal || ep_seal_can_open(seal) ? load : NULL };
	*iface = &h->iface;
	return 0;
}

void ep_history_published(struct ep_history *h, const struct ep_manifest *m, const char *id)
{
	const char *key;
	json_t *p;
	json_object_foreach(h->packed, key, p)
	{
		const char *name = json_string_value(json_object_get(p, "component"));
		for (size_t k = 0; name && k < m->ncomponents; k++) {
			char *record = strcmp(m->components[k].name, name) ? NULL : ep_history_record(m, k);
			if (record)
				json_object_set_new(h->disks, key,
						    json_pack("{s:s,s:s,s:O,s:s}", "snapshot", id, "component", name,
							      "checkpoint", json_object_get(p, "checkpoint"), "record", record));
			free(record);
		}
	}
}

void ep_history_free(struct ep_history *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->nrecords; i++)
		ep_manifest_free(h->records[i]);
	free(h->records);
	free(h->ids);
	json_decref(h->packed);
	if (h->chunks)
		ep_bundle_close(h->chunks);
	free(h);
}

char *ep_history_record(const struct ep_manifest *m, size_t k)
{
	struct ep_component c = m->components[k];
	c.nlists = 0;
	struct ep_manifest one = { .name = m->name, .created = m->created, .tool = m->tool, .components = &c,
				   .ncomponents = 1 };
	char *json = NULL;
	size_t len;
	struct ep_error ignored = { 0 };
	return ep_manifest_to_json(&one, &json, &len, &ignored) ? NULL : json;
}
