#include "formats/bundle/diff.h"

#include <string.h>

#include "base/digestmap.h"

static const struct ep_component *find(const struct ep_manifest *m, const char *name)
{
	for (size_t i = 0; i < m->ncomponents; i++)
		if (!strcmp(m->components[i].name, name))
			return &m->components[i];
	return NULL;
}

static void emit(void (*each)(void *, const struct ep_diff_item *), void *ctx, struct ep_diff_stats *st,
		 enum ep_diff_kind kind, const char *component, const char *path, uint64_t bytes)
{
	st->added += kind == EP_DIFF_ADDED;
	st->removed += kind == EP_DIFF_REMOVED;
	st->changed += kind == EP_DIFF_CHANGED;
	st->new_bytes += bytes;
	each(ctx, &(struct ep_diff_item){ kind, component, path, bytes });
}

/* Bytes of refs[0..n) whose chunks the older side lacks. */
static uint64_t new_bytes(const struct ep_digestmap *old, const struct ep_chunk_ref *refs, size_t n)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		if (!ep_digestmap_get(old, refs[i].digest, NULL))
			sum += refs[i].size;
	return sum;
}

static bool same_chunks(const struct ep_component *a, const struct ep_file_rec *fa, const struct ep_component *b,
			const struct ep_file_rec *fb)
{
	if (fa->count != fb->count)
		return false;
	for (size_t i = 0; i < fa->count; i++)
		if (memcmp(a->chunks[fa->first + i].digest, b->chunks[fb->first + i].digest, EP_DIGEST_LEN))
			return false;
	return true;
}

static bool same_file(const struct ep_component *a, const struct ep_file_rec *fa, const struct ep_component *b,
		      const struct ep_file_rec *fb)
{
	return fa->type == fb->type && fa->mode == fb->mode && fa->size == fb->size &&
	       !strcmp(fa->target ? fa->target : "", fb->target ? fb->target : "") && same_chunks(a, fa, b, fb);
}

static void diff_tree(const struct ep_component *a, const struct ep_component *b, const struct ep_digestmap *old,
		      void (*each)(void *, const struct ep_diff_item *), void *ctx, struct ep_diff_stats *st)
{
	for (size_t i = 0; i < b->nfiles; i++) {
		const struct ep_file_rec *fb = &b->files[i];
		ssize_t k = ep_file_find(a->files, a->nfiles, fb->path);
		uint64_t bytes = new_bytes(old, b->chunks + fb->first, fb->count);
		if (k < 0)
			emit(each, ctx, st, EP_DIFF_ADDED, b->name, fb->path, bytes);
		else if (!same_file(a, &a->files[k], b, fb))
			emit(each, ctx, st, EP_DIFF_CHANGED, b->name, fb->path, bytes);
	}
	for (size_t i = 0; i < a->nfiles; i++)
		if (ep_file_find(b->files, b->nfiles, a->files[i].path) < 0)
			emit(each, ctx, st, EP_DIFF_REMOVED, a->name, a->files[i].path, 0);
}

static bool same_disk(const struct ep_component *a, const struct ep_component *b)
{
	if (a->virtual_size != b->virtual_size || a->nextents != b->nextents || a->nchunks != b->nchunks)
		return false;
	for (size_t i = 0; i < a->nextents; i++)
		if (a->extents[i].offset != b->extents[i].offset || a->extents[i].length != b->extents[i].length)
			return false;
	for (size_t i = 0; i < a->nchunks; i++)
		if (memcmp(a->chunks[i].digest, b->chunks[i].digest, EP_DIGEST_LEN))
			return false;
	return true;
}

int ep_manifest_diff(const struct ep_manifest *a, const struct ep_manifest *b,
		     void (*each)(void *ctx, const struct ep_diff_item *item), void *ctx, struct ep_diff_stats *stats,
		     struct ep_error *err)
{
	*stats = (struct ep_diff_stats){ 0 };
	struct ep_digestmap *old = ep_digestmap_new(); /* every chunk of the older side, whatever component */
	if (!old)
		return ep_oom(err);
	for (size_t i = 0; i < a->ncomponents; i++)
		for (size_t k = 0; k < a->components[i].nchunks; k++)
			if (!ep_digestmap_put(old, a->components[i].chunks[k].digest, 1)) {
				ep_digestmap_free(old);
				return ep_oom(err);
			}
	for (size_t i = 0; i < b->ncomponents; i++) {
		const struct ep_component *cb = &b->components[i], *ca = find(a, cb->name);
		if (!ca || ca->type != cb->type) {
			if (ca)
				emit(each, ctx, stats, EP_DIFF_REMOVED, ca->name, NULL, 0);
			emit(each, ctx, stats, EP_DIFF_ADDED, cb->name, NULL, new_bytes(old, cb->chunks, cb->nchunks));
		} else if (cb->type == EP_COMP_DISK) {
			if (!same_disk(ca, cb))
				emit(each, ctx, stats, EP_DIFF_CHANGED, cb->name, NULL, new_bytes(old, cb->chunks, cb->nchunks));
		} else
			diff_tree(ca, cb, old, each, ctx, stats);
	}
	for (size_t i = 0; i < a->ncomponents; i++)
		if (!find(b, a->components[i].name))
			emit(each, ctx, stats, EP_DIFF_REMOVED, a->components[i].name, NULL, 0);
	ep_digestmap_free(old);
	return 0;
}
