#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "formats/disk/disk.h"

static const struct ep_disk_format *const formats[] = {
	&ep_disk_raw,
	&ep_disk_qcow2,
	&ep_disk_vhd,
	&ep_disk_vmdk,
	&ep_disk_vhdx,
};

const struct ep_disk_format *ep_disk_format_find(const char *name)
{
	if (!strcmp(name, "vpc")) /* qemu's name for VHD */
		name = "vhd";
	for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
		if (!strcmp(formats[i]->name, name))
			return formats[i];
	return NULL;
}

int ep_disk_open(struct ep_disk **out, const char *path, const struct ep_disk_open_opts *opts,
		 struct ep_error *err)
{
	static const struct ep_disk_open_opts none;
	if (!opts)
		opts = &none;
	if (opts->format) {
		const struct ep_disk_format *f = ep_disk_format_find(opts->format);
		if (!f)
			return ep_fail(err, EP_EINPUT, "'%s': unknown disk format '%s'", path, opts->format);
		return f->open(out, path, opts, err);
	}
	struct ep_disk_file *f;
	int rc = ep_disk_file_get(&f, path, opts, true, err);
	if (rc)
		return rc;
	size_t n = ep_disk_file_size(f) < EP_PROBE_BYTES ? (size_t)ep_disk_file_size(f) : EP_PROBE_BYTES;
	uint8_t *head = malloc(EP_PROBE_BYTES);
	rc = head ? ep_disk_file_pread(f, head, n, 0, err) : ep_oom(err);
	ep_disk_file_close(f);
	if (rc) {
		free(head);
		return rc;
	}
	const struct ep_disk_format *best = NULL;
	int best_score = 0;
	for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
		int score = formats[i]->probe(head, n);
		if (score > best_score) {
			best = formats[i];
			best_score = score;
		}
	}
	free(head);
	if (!best)
		return ep_fail(err, EP_EINPUT, "'%s': unknown disk format; name it with --format", path);
	return best->open(out, path, opts, err);
}

static bool inside(const char *dir, const char *path)
{
	size_t n = strlen(dir);
	if (n == 1 && dir[0] == '/')
		return true;
	return !strncmp(dir, path, n) && path[n] == '/';
}

int ep_disk_resolve_ref(const char *from, const char *ref, const struct ep_disk_open_opts *opts,
			char *resolved, struct ep_error *err)
{
	char fromdir[PATH_MAX], candidate[2 * PATH_MAX], allowed[PATH_MAX];
	if (opts && opts->file && ep_disk_file_fd(opts->file) < 0)
		return ep_fail(err, EP_EINPUT, "'%s' refers to '%s': an image read from a URL has no directory, so its references (backing files, extent files) are refused", from, ref);
	char *copy = strdup(from);
	if (!copy)
		return ep_oom(err);
	char *dir = realpath(dirname(copy), fromdir);
	free(copy);
	if (!dir)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot resolve the directory of '%s'", from);
	if (!*ref || strlen(ref) >= PATH_MAX)
		return ep_fail(err, EP_EINPUT, "'%s' names an empty or overlong reference", from);
	snprintf(candidate, sizeof candidate, "%s%s%s", ref[0] == '/' ? "" : fromdir, ref[0] == '/' ? "" : "/", ref);
	if (!realpath(candidate, resolved))
		return ep_fail_errno(err, EP_EINPUT, "'%s' refers to '%s', which cannot be opened", from, ref);
	bool ok = ref[0] != '/' && inside(fromdir, resolved);
	for (size_t i = 0; !ok && opts && i < opts->nallow; i++)
		ok = realpath(opts->allow_dirs[i], allowed) && inside(allowed, resolved);
	if (!ok)
		return ep_fail(err, EP_EINPUT,
			       "'%s' refers to '%s', %s: refused (name a directory with --allow-dir to permit it)", from, ref,
			       ref[0] == '/' ? "an absolute path" : "outside its own directory");
	struct stat st;
	if (stat(resolved, &st) != 0 || !S_ISREG(st.st_mode))
		return ep_fail(err, EP_EINPUT, "'%s' refers to '%s', which is not a regular file", from, ref);
	return 0;
}

int ep_disk_open_ref(struct ep_disk **out, const char *from, const char *ref, const char *format,
		     const struct ep_disk_open_opts *opts, struct ep_error *err)
{
	char resolved[PATH_MAX];
	int rc = ep_disk_resolve_ref(from, ref, opts, resolved, err);
	if (rc)
		return rc;
	struct stat st, fst;
	if (stat(resolved, &st) != 0 || stat(from, &fst) != 0)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot stat '%s'", from);
	struct ep_disk_open_opts child = *opts;
	child.format = format;
	child.file = NULL;
	if (child.depth >= EP_DISK_CHAIN_MAX)
		return ep_fail(err, EP_EINPUT, "'%s': the chain of references is deeper than %d", from, EP_DISK_CHAIN_MAX);
	child.chain[child.depth].dev = fst.st_dev;
	child.chain[child.depth].ino = fst.st_ino;
	child.depth++;
	for (unsigned i = 0; i < child.depth; i++)
		if (child.chain[i].dev == st.st_dev && child.chain[i].ino == st.st_ino)
			return ep_fail(err, EP_EINPUT, "'%s' refers to '%s', which loops back into its own chain", from, ref);
	return ep_disk_open(out, resolved, &child, err);
}

int ep_disk_next_extent(struct ep_disk *d, uint64_t from, struct ep_extent *out, struct ep_error *err)
{
	int rc = d->ops->next_extent(d, from, out, err);
	if (rc == 1 && (out->len == 0 || out->off < from || out->off > d->virtual_size ||
			out->len > d->virtual_size - out->off))
		return ep_fail(err, EP_ERUNTIME, "%s reader: bad extent [%llu, +%llu) after %llu", d->format->name,
			       (unsigned long long)out->off, (unsigned long long)out->len, (unsigned long long)from);
	return rc;
}

int ep_parent_classify(struct ep_parent *p, uint64_t off, uint64_t max, bool *data, uint64_t *len,
		       struct ep_error *err)
{
	if (!(p->valid && p->from <= off && (!p->found || off < p->ext.off + p->ext.len))) {
		int rc = ep_disk_next_extent(p->disk, off, &p->ext, err);
		if (rc < 0)
			return rc;
		p->valid = true;
		p->found = rc == 1;
		p->from = off;
	}
	*data = p->found && p->ext.off <= off;
	*len = max;
	if (*data && p->ext.off + p->ext.len - off < max)
		*len = p->ext.off + p->ext.len - off;
	else if (!*data && p->found && p->ext.off - off < max)
		*len = p->ext.off - off;
	return 0;
}

int ep_disk_read_spans(struct ep_disk *d, void *buf, size_t len, uint64_t off, ep_read_span_fn read_span,
		       struct ep_error *err)
{
	uint8_t *p = buf;
	uint64_t end, n;
	if (ep_add_overflows(off, len, &end) || end > d->virtual_size)
		return ep_fail(err, EP_EINPUT, "%s: read past the end of the image", d->format->name);
	while (len > 0) {
		int rc = read_span(d, off, p, len, &n, err);
		if (rc)
			return rc;
		if (n == 0 || n > len)
			return ep_fail(err, EP_ERUNTIME, "%s reader: bad span at %llu", d->format->name,
				       (unsigned long long)off);
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

int ep_disk_all_data(struct ep_disk *d, uint64_t from, struct ep_extent *out, struct ep_error *err)
{
	(void)err;
	if (from >= d->virtual_size)
		return 0;
	*out = (struct ep_extent){ .off = from, .len = d->virtual_size - from, .flags = EP_EXT_DATA };
	return 1;
}

int ep_disk_no_close(struct ep_disk *d, struct ep_error *err)
{
	(void)d, (void)err;
	return 0;
}

int ep_disk_no_write(struct ep_disk *d, const void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	(void)buf;
	(void)len;
	(void)off;
	return ep_fail(err, EP_ERUNTIME, "%s: the image is open for reading only", d->format->name);
}

int ep_disk_no_extents(struct ep_disk *d, uint64_t from, struct ep_extent *out, struct ep_error *err)
{
	(void)from;
	(void)out;
	return ep_fail(err, EP_ERUNTIME, "%s: an image being written cannot be read back", d->format->name);
}

int ep_disk_no_read(struct ep_disk *d, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	(void)buf;
	(void)len;
	(void)off;
	return ep_disk_no_extents(d, 0, NULL, err);
}

int ep_disk_merge_extents(struct ep_disk *d, uint64_t from, ep_classify_fn classify, struct ep_extent *out,
			  struct ep_error *err)
{
	uint64_t off = from, start = 0, len;
	bool in_data = false, data;
	while (off < d->virtual_size) {
		int rc = classify(d, off, &data, &len, err);
		if (rc)
			return rc;
		if (data && !in_data) {
			start = off;
			in_data = true;
		} else if (!data && in_data) {
			break;
		}
		off += len < d->virtual_size - off ? len : d->virtual_size - off;
	}
	if (!in_data)
		return 0;
	*out = (struct ep_extent){ start, off - start, EP_EXT_DATA };
	return 1;
}

int ep_disk_read_clipped(struct ep_disk *d, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	size_t n = 0;
	if (off < d->virtual_size)
		n = d->virtual_size - off < len ? (size_t)(d->virtual_size - off) : len;
	memset((uint8_t *)buf + n, 0, len - n);
	return n ? d->ops->read(d, buf, n, off, err) : 0;
}

int ep_disk_close(struct ep_disk *d, struct ep_error *err)
{
	struct ep_error local = { 0 };
	int rc = d->ops->close(d, &local);
	if (rc && err && !err->code)
		*err = local;
	return rc;
}
