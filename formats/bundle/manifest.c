#include "formats/bundle/manifest.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/digestmap.h"

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

struct ep_manifest *ep_manifest_new(const char *name, const char *created, const char *tool)
{
	struct ep_manifest *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->name = strdup(name);
	m->created = strdup(created);
	m->tool = strdup(tool);
	if (!m->name || !m->created || !m->tool) {
		ep_manifest_free(m);
		return NULL;
	}
	return m;
}

static void component_release(struct ep_component *c)
{
	free(c->name);
	free(c->source);
	free(c->format);
	free(c->checkpoint);
	free(c->extents);
	for (size_t i = 0; i < c->nfiles; i++) {
		free(c->files[i].path);
		free(c->files[i].target);
	}
	free(c->files);
	free(c->chunks);
	free(c->lists);
	for (size_t i = 0; i < c->nimages; i++)
		free(c->images[i]);
	free(c->images);
	ep_inventory_free(c->inventory);
}

void ep_manifest_free(struct ep_manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->ncomponents; i++)
		component_release(&m->components[i]);
	free(m->components);
	for (size_t i = 0; i < m->nmachines; i++)
		ep_machine_release(&m->machines[i]);
	free(m->machines);
	ep_snapinfo_free(m->snapshot);
	free(m->name);
	free(m->created);
	free(m->tool);
	free(m);
}

struct ep_component *ep_manifest_add_component(struct ep_manifest *m, enum ep_component_type type,
					       const char *name, const char *source)
{
	if (!ep_grow((void **)&m->components, &m->cap_components, m->ncomponents + 1, sizeof *m->components))
		return NULL;
	struct ep_component *c = &m->components[m->ncomponents];
	memset(c, 0, sizeof *c);
	c->type = type;
	c->name = strdup(name);
	c->source = dup_or_null(source);
	if (!c->name || (source && !c->source)) {
		component_release(c);
		return NULL;
	}
	m->ncomponents++;
	return c;
}

struct ep_machine *ep_manifest_add_machine(struct ep_manifest *m)
{
	if (!ep_grow((void **)&m->machines, &m->cap_machines, m->nmachines + 1, sizeof *m->machines))
		return NULL;
	struct ep_machine *vm = &m->machines[m->nmachines++];
	*vm = (struct ep_machine){ 0 };
	return vm;
}

int ep_component_add_chunk(struct ep_component *c, const uint8_t digest[EP_DIGEST_LEN], uint32_t size,
			   struct ep_error *err)
{
	if (!ep_grow((void **)&c->chunks, &c->cap_chunks, c->nchunks + 1, sizeof *c->chunks))
		return ep_oom(err);
	memcpy(c->chunks[c->nchunks].digest, digest, EP_DIGEST_LEN);
	c->chunks[c->nchunks].size = size;
	c->nchunks++;
	return 0;
}

int ep_component_add_extent(struct ep_component *c, uint64_t offset, struct ep_error *err)
{
	if (!ep_grow((void **)&c->extents, &c->cap_extents, c->nextents + 1, sizeof *c->extents))
		return ep_oom(err);
	c->extents[c->nextents++] = (struct ep_extent_rec){ .offset = offset, .first = c->nchunks };
	return 0;
}

int ep_component_add_file(struct ep_component *c, const char *path, enum ep_file_type type, uint32_t mode,
			  int64_t mtime, const char *target, struct ep_error *err)
{
	if (!ep_grow((void **)&c->files, &c->cap_files, c->nfiles + 1, sizeof *c->files))
		return ep_oom(err);
	struct ep_file_rec *f = &c->files[c->nfiles];
	*f = (struct ep_file_rec){ .type = type, .mode = mode, .mtime = mtime, .first = c->nchunks };
	f->path = strdup(path);
	f->target = dup_or_null(target);
	if (!f->path || (target && !f->target)) {
		free(f->path);
		free(f->target);
		return ep_oom(err);
	}
	c->nfiles++;
	return 0;
}

int ep_component_add_image(struct ep_component *c, const char *descriptor_json, struct ep_error *err)
{
	char *copy = strdup(descriptor_json);
	if (!copy || !ep_grow((void **)&c->images, &c->cap_images, c->nimages + 1, sizeof *c->images)) {
		free(copy);
		return ep_oom(err);
	}
	c->images[c->nimages++] = copy;
	return 0;
}

int ep_component_append(struct ep_component *c, size_t record, const uint8_t digest[EP_DIGEST_LEN], uint32_t size,
			struct ep_error *err)
{
	size_t index = c->nchunks;
	int rc = ep_component_add_chunk(c, digest, size, err);
	if (rc)
		return rc;
	if (c->type == EP_COMP_DISK) {
		struct ep_extent_rec *e = &c->extents[record];
		if (e->count++ == 0)
			e->first = index;
		e->length += size;
	} else {
		struct ep_file_rec *f = &c->files[record];
		if (f->count++ == 0)
			f->first = index;
		f->size += size;
	}
	return 0;
}

int64_t ep_manifest_created(const struct ep_manifest *m)
{
	return ep_utc_time(m->created);
}

uint64_t ep_component_data_size(const struct ep_component *c)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < c->nchunks; i++)
		sum += c->chunks[i].size;
	return sum;
}

/* ---- serialisation ---- */

static const char *file_type_name[] = { [EP_FILE_REG] = "file", [EP_FILE_DIR] = "dir",
					[EP_FILE_SYMLINK] = "symlink" };

ssize_t ep_file_find(const struct ep_file_rec *files, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(files[i].path, path))
			return (ssize_t)i;
	return -1;
}

struct file_list {
	const struct ep_file_rec *files;
	size_t n;
};

/* An ep_link_lookup_fn over a few records, read in a line. */
static const char *list_link(const void *ctx, const char *path)
{
	const struct file_list *l = ctx;
	ssize_t i = ep_file_find(l->files, l->n, path);
	return i >= 0 && l->files[i].type == EP_FILE_SYMLINK ? l->files[i].target : NULL;
}

ssize_t ep_file_resolve(const struct ep_file_rec *files, size_t n, const char *path)
{
	const struct file_list list = { files, n };
	char end[EP_RELPATH_MAX + 1];
	ssize_t i = ep_link_follow(NULL, path, list_link, &list, end) == EP_LINK_INSIDE ? ep_file_find(files, n, end) : -1;
	return i >= 0 && files[i].type == EP_FILE_REG ? i : -1;
}

int ep_files_check_links(const struct ep_file_rec *files, size_t n, ssize_t *bad, enum ep_link_end *how,
			 struct ep_error *err)
{
	struct ep_links *links = ep_links_new();
	bool ok = links != NULL;
	for (size_t i = 0; ok && i < n; i++)
		ok = files[i].type != EP_FILE_SYMLINK || ep_links_add(links, files[i].path, files[i].target);
	*bad = -1;
	for (size_t i = 0; ok && *bad < 0 && i < n; i++)
		if (files[i].type == EP_FILE_SYMLINK &&
		    (*how = ep_link_follow(files[i].path, files[i].target, ep_links_lookup, links, NULL)) != EP_LINK_INSIDE)
			*bad = (ssize_t)i;
	ep_links_free(links);
	return ok ? 0 : ep_oom(err);
}

static json_t *refs_json(const struct ep_chunk_ref *refs, size_t count)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < count; i++) {
		char hex[EP_DIGEST_HEX];
		ep_hex(refs[i].digest, EP_DIGEST_LEN, hex);
		if (json_array_append_new(arr, json_pack("[s,I]", hex, (json_int_t)refs[i].size))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *chunks_json(const struct ep_component *c, size_t first, size_t count)
{
	return refs_json(c->chunks + first, count);
}

/* An extent's JSON: count chunks from first, starting at offset. */
static json_t *extent_json(const struct ep_component *c, uint64_t offset, size_t first, size_t count)
{
	uint64_t length = 0;
	for (size_t k = first; k < first + count; k++)
		length += c->chunks[k].size;
	return json_pack("{s:I,s:I,s:o}", "offset", (json_int_t)offset, "length", (json_int_t)length, "chunks",
			 chunks_json(c, first, count));
}

int ep_component_set_lists(struct ep_component *c, const struct ep_chunk_ref *lists, size_t n, struct ep_error *err)
{
	struct ep_chunk_ref *copy = n ? malloc(n * sizeof *copy) : NULL;
	if (n && !copy)
		return ep_oom(err);
	if (n)
		memcpy(copy, lists, n * sizeof *copy);
	free(c->lists);
	c->lists = copy;
	c->nlists = n;
	return 0;
}

/* Appends piece to pieces as compact JSON and starts an empty one; false when out of memory. */
static bool flush_piece(json_t **piece, char ***pieces, size_t *n, size_t *cap)
{
	char *s = json_dumps(*piece, JSON_COMPACT);
	json_decref(*piece);
	*piece = json_array();
	if (!s || !*piece || !ep_grow((void **)pieces, cap, *n + 1, sizeof **pieces)) {
		free(s);
		return false;
	}
	(*pieces)[(*n)++] = s;
	return true;
}

char **ep_component_list_pieces(const struct ep_component *c, size_t *n)
{
	char **pieces = NULL;
	size_t cap = 0, in_piece = 0;
	*n = 0;
	json_t *piece = json_array();
	bool ok = piece != NULL;
	for (size_t i = 0; ok && i < c->nextents; i++) {
		const struct ep_extent_rec *e = &c->extents[i];
		uint64_t offset = e->offset;
		/* an extent longer than a piece's room goes on as adjacent extents in the next */
		for (size_t done = 0; ok && done < e->count;) {
			size_t take = e->count - done < EP_LIST_MAX_REFS - in_piece ? e->count - done : EP_LIST_MAX_REFS - in_piece;
			json_t *x = extent_json(c, offset, e->first + done, take);
			ok = x && !json_array_append_new(piece, x);
			for (size_t k = 0; k < take; k++)
				offset += c->chunks[e->first + done + k].size;
			done += take;
			in_piece += take;
			if (ok && in_piece == EP_LIST_MAX_REFS) {
				ok = flush_piece(&piece, &pieces, n, &cap);
				in_piece = 0;
			}
		}
	}
	if (ok && in_piece)
		ok = flush_piece(&piece, &pieces, n, &cap);
	json_decref(piece);
	if (!ok) {
		for (size_t i = 0; i < *n; i++)
			free(pieces[i]);
		free(pieces);
		*n = 0;
		return NULL;
	}
	return pieces;
}

static json_t *component_json(const struct ep_component *c)
{
	static const char *const type_name[] = { [EP_COMP_DISK] = "disk", [EP_COMP_FILES] = "files", [EP_COMP_IMAGE] = "image" };
	json_t *o = json_pack("{s:s,s:s}", "type", type_name[c->type], "name", c->name);
	if (!o)
		return NULL;
	bool ok = true;
	if (c->source)
		ok &= !json_object_set_new(o, "source", json_string(c->source));
	if (c->type == EP_COMP_DISK) {
		ok &= !json_object_set_new(o, "format", json_string(c->format ? c->format : "raw"));
		ok &= !json_object_set_new(o, "virtual_size", json_integer((json_int_t)c->virtual_size));
		if (c->checkpoint)
			ok &= !json_object_set_new(o, "checkpoint", json_string(c->checkpoint));
		if (c->nlists) /* the extents are in list chunks of their own */
			ok &= !json_object_set_new(o, "extent_lists", refs_json(c->lists, c->nlists));
		json_t *exts = c->nlists ? NULL : json_array();
		ok &= !exts || !json_object_set_new(o, "extents", exts);
		for (size_t i = 0; ok && exts && i < c->nextents; i++) {
			const struct ep_extent_rec *e = &c->extents[i];
			ok &= !json_array_append_new(exts, extent_json(c, e->offset, e->first, e->count));
		}
	} else {
		if (c->type == EP_COMP_IMAGE) {
			ok &= !json_object_set_new(o, "layout", json_string(c->format ? c->format : "oci"));
			json_t *imgs = json_array();
			ok &= !json_object_set_new(o, "images", imgs);
			for (size_t i = 0; ok && i < c->nimages; i++)
				ok &= !json_array_append_new(imgs, json_loads(c->images[i], 0, NULL));
		}
		json_t *ents = json_array();
		ok &= !json_object_set_new(o, "entries", ents);
		for (size_t i = 0; ok && i < c->nfiles; i++) {
			const struct ep_file_rec *f = &c->files[i];
			json_t *e = json_pack("{s:s,s:s,s:s*,s:I}", "path", f->path, "type", file_type_name[f->type],
					      "kind", ep_file_kind_name(f->kind), "mtime", (json_int_t)f->mtime);
			ok &= e && !json_array_append_new(ents, e);
			if (!ok)
				break;
			if (f->type != EP_FILE_SYMLINK)
				ok &= !json_object_set_new(e, "mode", json_integer(f->mode));
			if (f->type == EP_FILE_SYMLINK)
				ok &= !json_object_set_new(e, "target", json_string(f->target));
			if (f->type == EP_FILE_REG) {
				ok &= !json_object_set_new(e, "size", json_integer((json_int_t)f->size));
				ok &= !json_object_set_new(e, "chunks", chunks_json(c, f->first, f->count));
			}
		}
		if (ok && c->inventory)
			ok &= !json_object_set_new(o, "inventory", ep_inventory_to_json(c->inventory));
	}
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* jansson refuses strings that are not UTF-8 (json_string gives NULL): name the one,
 * rather than fail as out of memory. */
static int check_utf8(const struct ep_manifest *m, struct ep_error *err)
{
	for (size_t i = 0; i < m->ncomponents; i++) {
		const struct ep_component *c = &m->components[i];
		const char *from = c->source ? c->source : c->name;
		if (!ep_utf8_ok(c->name) || !ep_utf8_ok(from))
			return ep_fail(err, EP_EINPUT, "the name of source '%s' is not valid UTF-8, which a manifest cannot hold",
				       from);
		for (size_t k = 0; k < c->nfiles; k++) {
			const struct ep_file_rec *f = &c->files[k];
			if (!ep_utf8_ok(f->path) || (f->target && !ep_utf8_ok(f->target)))
				return ep_fail(err, EP_EINPUT, "'%s' in '%s': %s is not valid UTF-8, which a manifest cannot hold",
					       f->path, from, ep_utf8_ok(f->path) ? "its symlink target" : "the name");
		}
	}
	return 0;
}

int ep_manifest_to_json(const struct ep_manifest *m, char **json, size_t *len, struct ep_error *err)
{
	int rc = check_utf8(m, err);
	if (rc)
		return rc;
	json_t *root = json_pack("{s:s,s:i,s:s,s:s,s:s,s:{s:s,s:I,s:I,s:I},s:s}", "format", "envpack-bundle",
				 "version", EP_BUNDLE_VERSION, "name", m->name, "created", m->created, "tool",
				 m->tool, "chunking", "algorithm", "fastcdc-gear-v1", "min", (json_int_t)EP_BUNDLE_CHUNK_MIN,
				 "avg", (json_int_t)(1 << 20), "max", (json_int_t)EP_BUNDLE_CHUNK_MAX, "compression",
				 "zstd");
	json_t *comps = json_array();
	bool ok = root && comps && !json_object_set_new(root, "components", comps);
	for (size_t i = 0; ok && i < m->ncomponents; i++)
		ok = !json_array_append_new(comps, component_json(&m->components[i]));
	json_t *machines = m->nmachines ? json_array() : NULL; /* absent when none: older readers see no change */
	if (ok && m->nmachines)
		ok = machines && !json_object_set_new(root, "machines", machines);
	for (size_t i = 0; ok && i < m->nmachines; i++) {
		json_t *vm = ep_machine_to_json(&m->machines[i]);
		ok = vm && !json_array_append_new(machines, vm);
	}
	if (ok && m->snapshot) /* absent in plain bundles */
		ok = !json_object_set_new(root, "snapshot", ep_snapinfo_to_json(m->snapshot));
	char *s = ok ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	if (!s)
		return ep_oom(err);
	*len = strlen(s);
	*json = s;
	return 0;
}

/* ---- parsing untrusted manifests ---- */

struct parser {
	const char *what;
	struct ep_error *err;
	size_t lists; /* list chunks named so far, by every disk */
};

__attribute__((format(printf, 2, 3))) static int bad(struct parser *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return ep_fail(p->err, EP_EINPUT, "%s: manifest: %s", p->what, msg);
}

static int get_u64(struct parser *p, json_t *o, const char *key, uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
		return bad(p, "field '%s' is missing or out of range", key);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static const char *get_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* [sha256-hex, size] */
static int parse_ref(struct parser *p, json_t *ref, const struct ep_component *c, struct ep_chunk_ref *out)
{
	json_t *d = json_array_get(ref, 0), *n = json_array_get(ref, 1);
	if (json_array_size(ref) != 2 || !json_is_string(d) || !ep_unhex(json_string_value(d), out->digest, EP_DIGEST_LEN))
		return bad(p, "a chunk reference in '%s' is not [sha256-hex, size]", c->name);
	if (!json_is_integer(n) || json_integer_value(n) < 1 || json_integer_value(n) > EP_BUNDLE_CHUNK_MAX)
		return bad(p, "a chunk size in '%s' is out of range", c->name);
	out->size = (uint32_t)json_integer_value(n);
	return 0;
}

static int parse_chunks(struct parser *p, json_t *arr, struct ep_component *c, uint64_t *total)
{
	if (!json_is_array(arr))
		return bad(p, "%s has no chunk list", c->name);
	*total = 0;
	size_t i;
	json_t *ref;
	json_array_foreach(arr, i, ref)
	{
		struct ep_chunk_ref r;
		int rc = parse_ref(p, ref, c, &r);
		size_t record = (c->type == EP_COMP_DISK ? c->nextents : c->nfiles) - 1;
		if (!rc)
			rc = ep_component_append(c, record, r.digest, r.size, p->err);
		if (rc)
			return rc;
		*total += r.size;
	}
	return 0;
}

/* ---- what a disk may name, by its virtual size (BUNDLE.md, section 3, Limits) ---- */

/* The most extents a disk of size bytes, listed in nlists chunks, can hold. */
static uint64_t extents_max(uint64_t size, size_t nlists)
{
	return size / EP_BUNDLE_SECTOR + (size % EP_BUNDLE_SECTOR != 0) + nlists;
}

/* The most list chunks a disk of size bytes can need: every list but the last is full, and
 * no extent names more chunks than its length allows (chunks_max). */
static uint64_t lists_max(uint64_t size)
{
	return 1 + (extents_max(size, 0) + size / EP_BUNDLE_CHUNK_MIN) / (EP_LIST_MAX_REFS - 1);
}

/* The most chunks an extent of len bytes can name: all but its last are longer than the minimum. */
static uint64_t chunks_max(uint64_t len)
{
	return 1 + len / EP_BUNDLE_CHUNK_MIN;
}

/* A disk's extents as they are read, inline or list by list, against its bounds. */
struct walk {
	const struct ep_component *disk; /* its name, virtual size and lists */
	uint64_t end_prev;               /* where the previous extent ended */
	uint64_t extents;                /* read so far, in every list */
	size_t list;                     /* the list being read */
	size_t refs;                     /* chunks it names so far */
};

static int parse_extents(struct parser *p, json_t *exts, struct ep_component *into, struct walk *w);
static int parse_lists(struct parser *p, json_t *lists, struct ep_component *c);

static int parse_disk(struct parser *p, json_t *o, struct ep_component *c)
{
	const char *fmt = get_str(o, "format");
	if (!fmt || !ep_name_ok(fmt) || !(c->format = strdup(fmt)))
		return bad(p, "disk '%s' has no known format", c->name);
	int rc = get_u64(p, o, "virtual_size", EP_BUNDLE_VIRTUAL_MAX, &c->virtual_size);
	const char *cp = get_str(o, "checkpoint");
	if (!rc && json_object_get(o, "checkpoint") && (!cp || !ep_name_ok(cp)))
		return bad(p, "disk '%s' has a malformed checkpoint", c->name);
	if (!rc && cp && !(c->checkpoint = strdup(cp)))
		return bad(p, "out of memory");
	json_t *exts = json_object_get(o, "extents"), *lists = json_object_get(o, "extent_lists");
	if (rc)
		return rc;
	if (lists && !exts)
		return parse_lists(p, lists, c);
	if (!json_is_array(exts) || lists)
		return bad(p, "disk '%s' has no extent list (or two)", c->name);
	struct walk w = { .disk = c };
	return parse_extents(p, exts, c, &w);
}

/* Extents, in order, each past where the previous one ended, into `into` (the disk itself,
 * or one list's part of it); each is counted against the disk's bounds before it is kept. */
static int parse_extents(struct parser *p, json_t *exts, struct ep_component *into, struct walk *w)
{
	const struct ep_component *d = w->disk;
	if (!json_is_array(exts))
		return bad(p, "disk '%s' has no extent list", d->name);
	int rc;
	size_t i;
	json_t *e;
	json_array_foreach(exts, i, e)
	{
		uint64_t off, len, sum, end;
		json_t *chunks = json_object_get(e, "chunks");
		if ((rc = get_u64(p, e, "offset", EP_BUNDLE_VIRTUAL_MAX, &off)) ||
		    (rc = get_u64(p, e, "length", EP_BUNDLE_VIRTUAL_MAX, &len)))
			return rc;
		if (ep_add_overflows(off, len, &end) || end > d->virtual_size || off < w->end_prev || len == 0)
			return bad(p, "an extent of disk '%s' overlaps another or lies past its virtual size", d->name);
		if (++w->extents > extents_max(d->virtual_size, d->nlists))
			return bad(p, "disk '%s' names more extents than a disk of %" PRIu64 " bytes can hold", d->name,
				   d->virtual_size);
		if (json_array_size(chunks) > chunks_max(len))
			return bad(p, "an extent of disk '%s' names %zu chunks, more than its %" PRIu64 " bytes can hold",
				   d->name, json_array_size(chunks), len);
		if (d->nlists && (w->refs += json_array_size(chunks)) > EP_LIST_MAX_REFS)
			return bad(p, "extent list %zu of disk '%s' names more than %d chunks", w->list + 1, d->name,
				   EP_LIST_MAX_REFS);
		if ((rc = ep_component_add_extent(into, off, p->err)) || (rc = parse_chunks(p, chunks, into, &sum)))
			return rc;
		if (sum != len)
			return bad(p, "an extent length of disk '%s' differs from its chunks' sizes", d->name);
		w->end_prev = end;
	}
	return 0;
}

/* A disk listed in chunks of its own: their references now, their extents at ep_manifest_resolve. */
static int parse_lists(struct parser *p, json_t *lists, struct ep_component *c)
{
	size_t n = json_array_size(lists), i;
	if (!json_is_array(lists) || n == 0 || n > EP_LIST_MAX_LISTS)
		return bad(p, "disk '%s' has no usable extent_lists", c->name);
	if (n > lists_max(c->virtual_size))
		return bad(p, "disk '%s' names %zu extent lists, more than a disk of %" PRIu64 " bytes can need (%" PRIu64 ")",
			   c->name, n, c->virtual_size, lists_max(c->virtual_size));
	if ((p->lists += n) > EP_LIST_MAX_LISTS)
		return bad(p, "the disks name more than %d extent lists in all", EP_LIST_MAX_LISTS);
	struct ep_chunk_ref *refs = malloc(n * sizeof *refs);
	if (!refs)
		return ep_oom(p->err);
	json_t *ref;
	int rc = 0;
	json_array_foreach(lists, i, ref)
		if (!rc)
			rc = parse_ref(p, ref, c, &refs[i]);
	if (!rc)
		rc = ep_component_set_lists(c, refs, n, p->err);
	free(refs);
	return rc;
}

/* The inventory names files of its own tree only: `seen` maps path digests to entry types. */
static bool is_tree_file(void *seen, const char *path)
{
	uint8_t key[EP_DIGEST_LEN];
	uint64_t type;
	ep_sha256(path, strlen(path), key);
	return ep_digestmap_get(seen, key, &type) && type == EP_FILE_REG;
}

/* Each symlink, followed through all the others wherever they are listed, stays inside the tree. */
static int check_links(struct parser *p, const struct ep_component *c)
{
	ssize_t i;
	enum ep_link_end how;
	int rc = ep_files_check_links(c->files, c->nfiles, &i, &how, p->err);
	if (rc || i < 0)
		return rc;
	return how == EP_LINK_LOOP ? bad(p, "symlink '%s' loops: more than %d links to follow", c->files[i].path,
					 EP_LINK_HOPS)
				   : bad(p, "symlink '%s' points outside its tree", c->files[i].path);
}

static int parse_files(struct parser *p, json_t *o, struct ep_component *c)
{
	json_t *ents = json_object_get(o, "entries");
	if (!json_is_array(ents))
		return bad(p, "file tree '%s' has no entry list", c->name);
	struct ep_digestmap *seen = ep_digestmap_new(); /* path digest -> type */
	if (!seen)
		return ep_oom(p->err);
	int rc = 0;
	size_t i;
	json_t *e;
	json_array_foreach(ents, i, e)
	{
		const char *path = get_str(e, "path"), *type = get_str(e, "type");
		json_t *mt = json_object_get(e, "mtime");
		if (!path || !ep_relpath_ok(path)) {
			rc = bad(p, "file tree '%s' has an unsafe or missing path", c->name);
			break;
		}
		enum ep_file_type t;
		if (type && !strcmp(type, "file"))
			t = EP_FILE_REG;
		else if (type && !strcmp(type, "dir"))
			t = EP_FILE_DIR;
		else if (type && !strcmp(type, "symlink"))
			t = EP_FILE_SYMLINK;
		else {
			rc = bad(p, "entry '%s' has an unknown type", path);
			break;
		}
		uint8_t key[EP_DIGEST_LEN];
		ep_sha256(path, strlen(path), key);
		if (ep_digestmap_get(seen, key, NULL)) {
			rc = bad(p, "entry '%s' appears twice", path);
			break;
		}
		/* every parent must be a directory listed earlier, so no write goes through a symlink */
		const char *slash = strrchr(path, '/');
		uint64_t parent_type = EP_FILE_DIR;
		if (slash) {
			uint8_t pkey[EP_DIGEST_LEN];
			ep_sha256(path, (size_t)(slash - path), pkey);
			if (!ep_digestmap_get(seen, pkey, &parent_type))
				parent_type = EP_FILE_REG;
		}
		if (parent_type != EP_FILE_DIR) {
			rc = bad(p, "the parent of entry '%s' is not a directory listed before it", path);
			break;
		}
		json_t *kind = json_object_get(e, "kind");
		enum ep_file_kind k = kind ? ep_file_kind_parse(json_string_value(kind)) : EP_KIND_NONE;
		if (kind && (k == EP_KIND_NONE || t != EP_FILE_REG || c->type != EP_COMP_FILES)) {
			rc = bad(p, "entry '%s' has an unknown kind, or one where none belongs", path);
			break;
		}
		uint64_t mode = 0;
		const char *target = get_str(e, "target");
		if (!json_is_integer(mt)) {
			rc = bad(p, "entry '%s' has no mtime", path);
			break;
		}
		if (t != EP_FILE_SYMLINK && (rc = get_u64(p, e, "mode", 07777, &mode)))
			break;
		if (t == EP_FILE_SYMLINK && !target) {
			rc = bad(p, "symlink '%s' has no target", path);
			break;
		}
		if ((rc = ep_component_add_file(c, path, t, (uint32_t)mode, json_integer_value(mt),
						t == EP_FILE_SYMLINK ? target : NULL, p->err)))
			break;
		c->files[c->nfiles - 1].kind = k;
		if (!ep_digestmap_put(seen, key, t)) {
			rc = ep_oom(p->err);
			break;
		}
		if (t == EP_FILE_REG) {
			uint64_t size, sum;
			if ((rc = get_u64(p, e, "size", EP_BUNDLE_VIRTUAL_MAX, &size)) ||
			    (rc = parse_chunks(p, json_object_get(e, "chunks"), c, &sum)))
				break;
			if (sum != size) {
				rc = bad(p, "the size of '%s' differs from its chunks' sizes", path);
				break;
			}
		}
	}
	if (!rc)
		rc = check_links(p, c);
	json_t *inv = json_object_get(o, "inventory");
	if (!rc && inv)
		rc = c->type == EP_COMP_FILES
			     ? ep_inventory_parse(inv, is_tree_file, seen, p->what, c->name, &c->inventory, p->err)
			     : bad(p, "component '%s' has an inventory, which only file trees carry", c->name);
	ep_digestmap_free(seen);
	return rc;
}

/* Image descriptors: each names a blob by sha256 digest and says its size and media type. */
static int parse_images(struct parser *p, json_t *o, struct ep_component *c)
{
	json_t *imgs = json_object_get(o, "images"), *d;
	size_t i;
	const char *layout = get_str(o, "layout");
	if (!layout || (strcmp(layout, "oci") != 0 && strcmp(layout, "docker-archive") != 0))
		return bad(p, "image '%s' has an unknown layout", c->name);
	if (!(c->format = strdup(layout)))
		return ep_oom(p->err);
	if (!json_is_array(imgs) || json_array_size(imgs) == 0)
		return bad(p, "image '%s' has no image descriptors", c->name);
	json_array_foreach(imgs, i, d)
	{
		const char *digest = json_string_value(json_object_get(d, "digest"));
		uint8_t raw[EP_DIGEST_LEN];
		json_t *size = json_object_get(d, "size");
		if (!json_string_value(json_object_get(d, "mediaType")) || !digest || strncmp(digest, "sha256:", 7) != 0 ||
		    !ep_unhex(digest + 7, raw, EP_DIGEST_LEN) || !json_is_integer(size) || json_integer_value(size) < 0)
			return bad(p, "an image descriptor of '%s' is malformed", c->name);
		char *s = json_dumps(d, JSON_COMPACT);
		int rc = s ? ep_component_add_image(c, s, p->err) : ep_oom(p->err);
		free(s);
		if (rc)
			return rc;
	}
	return 0;
}

/* Machines name disk components of this manifest, each used by one machine at most. */
static int parse_machines(struct parser *p, json_t *list, struct ep_manifest *m, struct ep_digestmap *names)
{
	size_t i;
	json_t *o;
	if (list && (!json_is_array(list) || json_array_size(list) > 1024))
		return bad(p, "%s", "machines is not a list");
	json_array_foreach(list, i, o)
	{
		struct ep_machine *vm = ep_manifest_add_machine(m);
		if (!vm)
			return ep_oom(p->err);
		int rc = ep_machine_from_json(o, vm, p->what, p->err);
		for (size_t k = 0; !rc && k < vm->ndisks; k++) {
			uint8_t key[EP_DIGEST_LEN];
			uint64_t seen = 0;
			ep_sha256(vm->disks[k].component, strlen(vm->disks[k].component), key);
			size_t c = 0;
			while (c < m->ncomponents && strcmp(m->components[c].name, vm->disks[k].component))
				c++;
			if (c == m->ncomponents || m->components[c].type != EP_COMP_DISK)
				rc = bad(p, "machine '%s' names '%s', which is no disk component", vm->name, vm->disks[k].component);
			else if (ep_digestmap_get(names, key, &seen) && seen == 2)
				rc = bad(p, "disk '%s' belongs to two machines", vm->disks[k].component);
			else if (!ep_digestmap_put(names, key, 2))
				rc = ep_oom(p->err);
		}
		for (size_t k = 0; !rc && k < i; k++)
			if (!strcmp(m->machines[k].name, vm->name))
				rc = bad(p, "machine name '%s' appears twice", vm->name);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_root(struct parser *p, json_t *root, struct ep_manifest **out)
{
	const char *format = get_str(root, "format"), *name = get_str(root, "name"),
		   *created = get_str(root, "created"), *tool = get_str(root, "tool");
	json_t *ver = json_object_get(root, "version"), *comps = json_object_get(root, "components");
	json_t *chunking = json_object_get(root, "chunking");
	if (!format || strcmp(format, "envpack-bundle") != 0)
		return bad(p, "%s", "this is not an envpack bundle manifest");
	if (!json_is_integer(ver) || json_integer_value(ver) != EP_BUNDLE_VERSION)
		return bad(p, "%s", "unsupported bundle version (this envpack reads version 1)");
	if (!name || !created || !tool || !json_is_array(comps))
		return bad(p, "%s", "name, created, tool or components is missing");
	if (json_array_size(comps) > EP_BUNDLE_COMPONENTS_MAX)
		return bad(p, "%zu components, more than %d", json_array_size(comps), EP_BUNDLE_COMPONENTS_MAX);
	/* pack's rule: the name becomes a file or directory name where the bundle is restored */
	if (!ep_name_ok(name))
		return bad(p, "%s", "the environment name must be letters, digits, '.', '_' or '-' (at most 128)");
	const char *compression = get_str(root, "compression");
	uint64_t cmax = 0;
	if (!compression || strcmp(compression, "zstd") != 0 || !json_is_object(chunking) ||
	    get_u64(p, chunking, "max", EP_BUNDLE_CHUNK_MAX, &cmax))
		return bad(p, "%s", "unknown compression or chunking");
	struct ep_manifest *m = ep_manifest_new(name, created, tool);
	if (!m)
		return ep_oom(p->err);
	struct ep_digestmap *names = ep_digestmap_new();
	int rc = names ? 0 : ep_oom(p->err);
	size_t i;
	json_t *o;
	json_array_foreach(comps, i, o)
	{
		if (rc)
			break;
		const char *type = get_str(o, "type"), *cname = get_str(o, "name");
		uint8_t key[EP_DIGEST_LEN];
		if (!cname || !ep_name_ok(cname)) {
			rc = bad(p, "%s", "a component has a missing or unsafe name");
			break;
		}
		ep_sha256(cname, strlen(cname), key);
		if (ep_digestmap_get(names, key, NULL)) {
			rc = bad(p, "component name '%s' appears twice", cname);
			break;
		}
		enum ep_component_type t;
		if (type && !strcmp(type, "disk"))
			t = EP_COMP_DISK;
		else if (type && !strcmp(type, "files"))
			t = EP_COMP_FILES;
		else if (type && !strcmp(type, "image"))
			t = EP_COMP_IMAGE;
		else {
			rc = bad(p, "component '%s' has an unknown type", cname);
			break;
		}
		struct ep_component *c = ep_manifest_add_component(m, t, cname, get_str(o, "source"));
		if (!c || !ep_digestmap_put(names, key, 1)) {
			rc = ep_oom(p->err);
			break;
		}
		if (t == EP_COMP_DISK && json_object_get(o, "inventory"))
			rc = bad(p, "component '%s' has an inventory, which only file trees carry", cname);
		else
			rc = t == EP_COMP_DISK ? parse_disk(p, o, c) : parse_files(p, o, c);
		if (!rc && t == EP_COMP_IMAGE)
			rc = parse_images(p, o, c);
	}
	if (!rc)
		rc = parse_machines(p, json_object_get(root, "machines"), m, names);
	if (!rc && json_object_get(root, "snapshot"))
		rc = ep_snapinfo_parse(json_object_get(root, "snapshot"), p->what, &m->snapshot, p->err);
	ep_digestmap_free(names);
	if (rc) {
		ep_manifest_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int ep_manifest_parse(const char *json, size_t len, const char *what, struct ep_manifest **out,
		      struct ep_error *err)
{
	struct parser p = { what, err, 0 };
	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return ep_fail(err, EP_EINPUT, "%s: manifest is not valid JSON: %s (line %d)", what, jerr.text,
			       jerr.line);
	int rc = json_is_object(root) ? parse_root(&p, root, out) : bad(&p, "%s", "the top level is not an object");
	json_decref(root);
	return rc;
}

bool ep_component_listed(const struct ep_component *c)
{
	return c->nlists && !c->nextents; /* a list holds an extent at least, so a resolved disk has some */
}

/* Whether a list's JSON stays within what its chunks need: jansson spends ~100 bytes a
 * value (more an object), so 4 MiB of "{}," would take hundreds of MB to parse. Every value
 * of a list but its outer array follows a comma or opens an array or object, and a list of
 * r chunks has at most r extents, each 3 keys and its chunks' array, each chunk 2 values. */
static int list_shape_ok(struct parser *p, const char *json, size_t len, const struct walk *w)
{
	size_t objects = 0, arrays = 0, commas = 0;
	for (size_t i = 0; i < len; i++) {
		objects += json[i] == '{';
		arrays += json[i] == '[';
		commas += json[i] == ',';
	}
	if (objects > EP_LIST_MAX_REFS || arrays > 1 + 2 * EP_LIST_MAX_REFS || commas > 6 * EP_LIST_MAX_REFS)
		return bad(p, "extent list %zu of disk '%s' holds more JSON than %d chunks need", w->list + 1,
			   w->disk->name, EP_LIST_MAX_REFS);
	return 0;
}

/* One list chunk's extents into `into`: non-empty, and full but for the last list. */
static int read_list(struct parser *p, ep_chunk_load_fn load, void *ctx, struct ep_component *into, struct walk *w)
{
	const struct ep_component *d = w->disk;
	char *data = NULL;
	size_t len = 0;
	json_error_t jerr;
	json_t *exts = NULL;
	int rc = load(ctx, &d->lists[w->list], &data, &len, p->err);
	if (!rc && !(rc = list_shape_ok(p, data, len, w)))
		exts = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	free(data);
	if (!rc && !exts)
		rc = bad(p, "an extent list of disk '%s' is not valid JSON: %s", d->name, jerr.text);
	w->refs = 0;
	if (!rc)
		rc = parse_extents(p, exts, into, w);
	json_decref(exts);
	bool last = w->list + 1 == d->nlists;
	if (!rc && (w->refs == 0 || (!last && w->refs != EP_LIST_MAX_REFS)))
		rc = bad(p, "extent list %zu of disk '%s' names %zu chunks (every list but the last names %d, the last 1 to %d)",
			 w->list + 1, d->name, w->refs, EP_LIST_MAX_REFS, EP_LIST_MAX_REFS);
	return rc;
}

int ep_component_each_part(const struct ep_component *c, ep_chunk_load_fn load, void *load_ctx, const char *what,
			   ep_part_fn each, void *ctx, struct ep_error *err)
{
	if (!ep_component_listed(c))
		return each(ctx, c, err);
	struct parser p = { what, err, 0 };
	struct walk w = { .disk = c };
	/* c's name and sizes, borrowed; its own extents and chunks, reused list after list */
	struct ep_component part = { .type = c->type, .name = c->name, .source = c->source, .format = c->format,
				     .virtual_size = c->virtual_size };
	int rc = 0;
	for (w.list = 0; !rc && w.list < c->nlists; w.list++) {
		part.nextents = part.nchunks = 0;
		if (!(rc = read_list(&p, load, load_ctx, &part, &w)))
			rc = each(ctx, &part, err);
	}
	free(part.extents);
	free(part.chunks);
	return rc;
}

/* A list's part of a disk appended to the disk. */
static int append_part(void *ctx, const struct ep_component *part, struct ep_error *err)
{
	struct ep_component *c = ctx;
	int rc = 0;
	for (size_t i = 0; !rc && i < part->nextents; i++) {
		const struct ep_extent_rec *e = &part->extents[i];
		rc = ep_component_add_extent(c, e->offset, err);
		for (size_t k = 0; !rc && k < e->count; k++)
			rc = ep_component_append(c, c->nextents - 1, part->chunks[e->first + k].digest,
						 part->chunks[e->first + k].size, err);
	}
	return rc;
}

int ep_manifest_resolve(struct ep_manifest *m, ep_chunk_load_fn load, void *ctx, const char *what,
			struct ep_error *err)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < m->ncomponents; i++)
		if (ep_component_listed(&m->components[i]))
			rc = ep_component_each_part(&m->components[i], load, ctx, what, append_part, &m->components[i], err);
	return rc;
}

int ep_manifest_each_ref(const struct ep_manifest *m,
			 int (*each)(void *ctx, const struct ep_chunk_ref *ref, struct ep_error *err), void *ctx,
			 struct ep_error *err)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < m->ncomponents; i++)
		for (size_t k = 0; !rc && k < m->components[i].nchunks; k++)
			rc = each(ctx, &m->components[i].chunks[k], err);
	for (size_t i = 0; !rc && i < m->ncomponents; i++)
		for (size_t k = 0; !rc && k < m->components[i].nlists; k++)
			rc = each(ctx, &m->components[i].lists[k], err);
	return rc;
}
