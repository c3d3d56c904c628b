#include "formats/disk/nbd.h"

#include <libnbd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/interrupt.h"
#include "base/util.h"

/* The answers of one block status request, so that a scan asks once per reply, not per run. */
#define NBD_RUNS 256

struct nbd_disk {
	struct ep_disk base;
	struct nbd_handle *h;
	char *name; /* export, for messages */
	char *bitmap; /* the dirty bitmap's meta context, NULL when none was asked for */
	_Atomic uint64_t bytes_read;
	pthread_mutex_t lock; /* the cached runs: reads may come from several threads */
	uint64_t run_off[NBD_RUNS + 1]; /* run i covers [run_off[i], run_off[i+1]) */
	bool run_data[NBD_RUNS];
	size_t nruns;
};

static int nbd_fail(struct nbd_disk *n, const char *what, struct ep_error *err)
{
	return ep_fail(err, EP_ERUNTIME, "nbd: export '%s': %s: %s", n->name, what, nbd_get_error());
}

struct status_ctx {
	struct nbd_disk *n;
	uint64_t off, end;
};

static int status_cb(void *user, const char *context, uint64_t offset, uint32_t *entries, size_t nentries,
		     int *error)
{
	(void)error;
	struct status_ctx *c = user;
	struct nbd_disk *n = c->n;
	if (strcmp(context, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0)
		return 0;
	uint64_t at = offset;
	n->nruns = 0;
	n->run_off[0] = at;
	for (size_t i = 0; i + 1 < nentries && at < c->end; i += 2) {
		/* a hole that does not read as zeros is still data as far as a copy goes */
		bool data = !(entries[i + 1] & LIBNBD_STATE_ZERO);
		uint64_t len = entries[i];
		if (len == 0)
			break;
		at = len < c->end - at ? at + len : c->end;
		if (n->nruns && n->run_data[n->nruns - 1] == data) {
			n->run_off[n->nruns] = at;
			continue;
		}
		if (n->nruns == NBD_RUNS)
			break;
		n->run_data[n->nruns++] = data;
		n->run_off[n->nruns] = at;
	}
	return 0;
}

static int nbd_classify(struct ep_disk *d, uint64_t off, bool *data, uint64_t *len, struct ep_error *err)
{
	struct nbd_disk *n = (struct nbd_disk *)d;
	if (ep_interrupted())
		return ep_fail(err, EP_ERUNTIME, "nbd: export '%s': interrupted", n->name);
	pthread_mutex_lock(&n->lock);
	int rc = 0;
	if (!n->nruns || off < n->run_off[0] || off >= n->run_off[n->nruns]) {
		uint64_t want = d->virtual_size - off < (1u << 30) ? d->virtual_size - off : (1u << 30);
		struct status_ctx c = { n, off, off + want };
		n->nruns = 0;
		if (nbd_block_status(n->h, want, off, (nbd_extent_callback){ .callback = status_cb, .user_data = &c }, 0) == -1)
			rc = nbd_fail(n, "block status", err);
		else if (!n->nruns || n->run_off[0] != off)
			rc = ep_fail(err, EP_ERUNTIME, "nbd: export '%s': no block status at offset %llu", n->name,
				     (unsigned long long)off);
	}
	for (size_t i = 0; !rc && i < n->nruns; i++)
		if (off < n->run_off[i + 1]) {
			*data = n->run_data[i];
			*len = n->run_off[i + 1] - off;
			break;
		}
	pthread_mutex_unlock(&n->lock);
	return rc;
}

static int nbd_next_extent(struct ep_disk *d, uint64_t from, struct ep_extent *out, struct ep_error *err)
{
	return ep_disk_merge_extents(d, from, nbd_classify, out, err);
}

static int nbd_read(struct ep_disk *d, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	struct nbd_disk *n = (struct nbd_disk *)d;
	if (off > d->virtual_size || len > d->virtual_size - off)
		return ep_fail(err, EP_ERUNTIME, "nbd: export '%s': read past its end", n->name);
	if (ep_interrupted())
		return ep_fail(err, EP_ERUNTIME, "nbd: export '%s': interrupted", n->name);
	/* requests stay well under the 32 MiB most servers take */
	for (size_t done = 0; done < len;) {
		size_t k = len - done < (8u << 20) ? len - done : (8u << 20);
		if (nbd_pread(n->h, (char *)buf + done, k, off + done, 0) == -1)
			return nbd_fail(n, "read", err);
		done += k;
	}
	n->bytes_read += len;
	return 0;
}

static int nbd_disk_close(struct ep_disk *d, struct ep_error *err)
{
	(void)err;
	struct nbd_disk *n = (struct nbd_disk *)d;
	if (n->h) {
		nbd_shutdown(n->h, 0);
		nbd_close(n->h);
	}
	pthread_mutex_destroy(&n->lock);
	free(n->bitmap);
	free(n->name);
	free(n);
	return 0;
}

static const struct ep_disk_ops nbd_ops = {
	.next_extent = nbd_next_extent,
	.read = nbd_read,
	.write = ep_disk_no_write,
	.close = nbd_disk_close,
};

static const struct ep_disk_format nbd_format = { .name = "raw" }; /* an export's bytes are the disk's */

int ep_disk_nbd_open(struct ep_disk **out, const char *socket, const char *name, const char *bitmap,
		     struct ep_error *err)
{
	*out = NULL;
	struct nbd_disk *n = calloc(1, sizeof *n);
	if (!n || !(n->name = strdup(name)) || (bitmap && !(n->bitmap = strdup(bitmap)))) {
		if (n)
			free(n->name);
		free(n);
		return ep_oom(err);
	}
	pthread_mutex_init(&n->lock, NULL);
	n->base = (struct ep_disk){ .ops = &nbd_ops, .format = &nbd_format };
	*out = &n->base;
	if (!(n->h = nbd_create()))
		return nbd_fail(n, "cannot create a handle", err);
	int64_t size;
	if (nbd_add_meta_context(n->h, LIBNBD_CONTEXT_BASE_ALLOCATION) == -1 ||
	    (bitmap && nbd_add_meta_context(n->h, bitmap) == -1) || nbd_set_export_name(n->h, name) == -1)
		return nbd_fail(n, "setting up", err);
	if (nbd_connect_unix(n->h, socket) == -1)
		return nbd_fail(n, "cannot connect", err);
	if ((size = nbd_get_size(n->h)) < 0)
		return nbd_fail(n, "no size", err);
	if (nbd_can_meta_context(n->h, LIBNBD_CONTEXT_BASE_ALLOCATION) != 1)
		return ep_fail(err, EP_ERUNTIME, "nbd: export '%s' has no base:allocation block status", name);
	if (bitmap && nbd_can_meta_context(n->h, bitmap) != 1)
		return ep_fail(err, EP_ERUNTIME, "nbd: export '%s' has no block status '%s'", name, bitmap);
	n->base.virtual_size = (uint64_t)size;
	return 0;
}

/* qemu:dirty-bitmap:* contexts set bit 0 on blocks written since the checkpoint */
#define DIRTY_FLAG 1u

struct dirty_ctx {
	const char *context;
	uint64_t at, end; /* where the reply got to */
	struct ep_extent *ranges;
	size_t n, cap;
	bool oom;
};

static int dirty_cb(void *user, const char *context, uint64_t offset, uint32_t *entries, size_t nentries, int *error)
{
	(void)error;
	struct dirty_ctx *c = user;
	if (strcmp(context, c->context) != 0)
		return 0;
	uint64_t at = offset;
	for (size_t i = 0; i + 1 < nentries && at < c->end && entries[i]; i += 2) {
		uint64_t next = entries[i] < c->end - at ? at + entries[i] : c->end;
		if (entries[i + 1] & DIRTY_FLAG) {
			if (c->n && c->ranges[c->n - 1].off + c->ranges[c->n - 1].len == at)
				c->ranges[c->n - 1].len += next - at;
			else if (c->n < c->cap || ep_grow((void **)&c->ranges, &c->cap, c->n + 1, sizeof *c->ranges))
				c->ranges[c->n++] = (struct ep_extent){ .off = at, .len = next - at };
			else
				c->oom = true;
		}
		at = next;
	}
	c->at = at;
	return 0;
}

int ep_disk_nbd_dirty(struct ep_disk *d, struct ep_extent **ranges, size_t *n, struct ep_error *err)
{
	struct nbd_disk *nd = (struct nbd_disk *)d;
	*ranges = NULL;
	*n = 0;
	if (!nd->bitmap)
		return ep_fail(err, EP_ERUNTIME, "nbd: export '%s': no dirty bitmap was asked for", nd->name);
	struct dirty_ctx c = { .context = nd->bitmap };
	int rc = 0;
	for (uint64_t off = 0; !rc && off < d->virtual_size;) {
		uint64_t want = d->virtual_size - off < (1u << 30) ? d->virtual_size - off : (1u << 30);
		c.at = off;
		c.end = off + want;
		if (nbd_block_status(nd->h, want, off, (nbd_extent_callback){ .callback = dirty_cb, .user_data = &c }, 0) == -1)
			rc = nbd_fail(nd, "dirty block status", err);
		else if (c.oom)
			rc = ep_oom(err);
		else if (c.at <= off)
			rc = ep_fail(err, EP_ERUNTIME, "nbd: export '%s': no dirty block status at offset %llu", nd->name,
				     (unsigned long long)off);
		off = c.at;
	}
	if (rc)
		free(c.ranges);
	else
		*ranges = c.ranges, *n = c.n;
	return rc;
}

uint64_t ep_disk_nbd_bytes_read(const struct ep_disk *d)
{
	return ((const struct nbd_disk *)d)->bytes_read;
}
