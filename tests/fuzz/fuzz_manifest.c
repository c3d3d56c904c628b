/* libFuzzer target: the manifest parser and validator on arbitrary bytes. The input is
 * the manifest, then, NUL-separated, the content of its disks' list chunks in the order
 * they are named (extent_lists; their digests are not checked here, so the list parser
 * sees the fuzzer's bytes): whatever is read back must keep the bounds BUNDLE.md sets a
 * disk by its virtual size, and the lists must stream one at a time. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/bundle/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct pieces {
	const char *at[64];
	size_t len[64], n, next;
};

/* The next piece of the input, whichever list is asked for: lists are read in order. */
static int load_piece(void *ctx, const struct ep_chunk_ref *ref, char **data, size_t *len, struct ep_error *err)
{
	(void)ref;
	struct pieces *p = ctx;
	if (p->next >= p->n)
		return ep_fail(err, EP_EINTEGRITY, "no such list chunk");
	size_t i = p->next++;
	if (!(*data = malloc(p->len[i] + 1)))
		return ep_oom(err);
	memcpy(*data, p->at[i], p->len[i]);
	(*data)[p->len[i]] = '\0';
	*len = p->len[i];
	return 0;
}

/* A part holds one list's worth at most. */
static int check_part(void *ctx, const struct ep_component *part, struct ep_error *err)
{
	(void)ctx, (void)err;
	if (part->nlists || part->nchunks > EP_LIST_MAX_REFS)
		abort();
	return 0;
}

/* What the reader let through holds no more than the disk's virtual size allows. */
static void check_bounds(const struct ep_manifest *m)
{
	for (size_t i = 0; i < m->ncomponents; i++) {
		const struct ep_component *c = &m->components[i];
		if (c->type != EP_COMP_DISK)
			continue;
		uint64_t sectors = c->virtual_size / EP_BUNDLE_SECTOR + (c->virtual_size % EP_BUNDLE_SECTOR != 0), data = 0;
		if (c->nextents > sectors + c->nlists || (c->nlists && c->nchunks > c->nlists * (size_t)EP_LIST_MAX_REFS))
			abort();
		for (size_t k = 0; k < c->nextents; k++) {
			if (c->extents[k].count > 1 + c->extents[k].length / EP_BUNDLE_CHUNK_MIN)
				abort();
			data += c->extents[k].length;
		}
		if (data > c->virtual_size)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *end = text + size;
	const char *nul = memchr(text, '\0', size);
	struct pieces p = { 0 };
	for (const char *at = nul; at && at < end && p.n < 64;) {
		const char *next = memchr(at + 1, '\0', (size_t)(end - at - 1));
		p.at[p.n] = at + 1;
		p.len[p.n++] = (size_t)((next ? next : end) - at - 1);
		at = next;
	}
	struct ep_manifest *m = NULL, *streamed = NULL;
	struct ep_error err = { 0 };
	size_t len = nul ? (size_t)(nul - text) : size;
	if (ep_manifest_parse(text, len, "fuzz", &m, &err) == 0) {
		char *json;
		size_t jlen;
		/* whatever parses must serialise again */
		if (ep_manifest_to_json(m, &json, &jlen, &err) != 0)
			abort();
		free(json);
		if (ep_manifest_resolve(m, load_piece, &p, "fuzz", &err) == 0)
			check_bounds(m);
		ep_manifest_free(m);
	}
	p.next = 0;
	if (ep_manifest_parse(text, len, "fuzz", &streamed, &err) == 0) {
		for (size_t i = 0; i < streamed->ncomponents; i++)
			if (ep_component_each_part(&streamed->components[i], load_piece, &p, "fuzz", check_part, NULL, &err))
				break;
		ep_manifest_free(streamed);
	}
	return 0;
}
