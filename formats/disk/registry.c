#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "disk.h"

static const struct ep_disk_format *const formats[] = {
	&ep_disk_raw,
};

const struct ep_disk_format *ep_disk_format_find(const char *name)
{
	for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
		if (!strcmp(formats[i]->name, name))
			return formats[i];
	return NULL;
}

int ep_disk_open(struct ep_disk **out, const char *path, const char *format, struct ep_error *err)
{
	if (format) {
		const struct ep_disk_format *f = ep_disk_format_find(format);
		if (!f)
			return ep_fail(err, EP_EINPUT, "'%s': unknown disk format '%s'", path, format);
		return f->open(out, path, err);
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ep_fail_errno(err, EP_EINPUT, "cannot open disk '%s'", path);
	uint8_t *head = malloc(EP_PROBE_BYTES);
	ssize_t n = head ? pread(fd, head, EP_PROBE_BYTES, 0) : 0;
	close(fd);
	if (!head)
		return ep_oom(err);
	if (n < 0) {
		free(head);
		return ep_fail_errno(err, EP_ERUNTIME, "cannot read disk '%s'", path);
	}
	const struct ep_disk_format *best = NULL;
	int best_score = 0;
	for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
		int score = formats[i]->probe(head, (size_t)n);
		if (score > best_score) {
			best = formats[i];
			best_score = score;
		}
	}
	free(head);
	if (!best)
		return ep_fail(err, EP_EINPUT, "'%s': unknown disk format; name it with --format", path);
	return best->open(out, path, err);
}

int ep_disk_close(struct ep_disk *d, struct ep_error *err)
{
	struct ep_error local = { 0 };
	int rc = d->ops->close(d, &local);
	if (rc && err && !err->code)
		*err = local;
	return rc;
}
