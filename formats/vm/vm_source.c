#include "formats/vm/vm_source.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

void ep_vm_source_free(struct ep_vm_source *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nwhere; i++) {
		free(s->where[i].path);
		free(s->where[i].format);
		free(s->where[i].target);
	}
	free(s->where);
	free(s->origin);
	ep_machine_release(&s->machine);
	free(s);
}

int ep_vm_source_add_disk(struct ep_vm_source *s, const char *path, const char *format, const char *bus,
			  const char *device, unsigned boot, struct ep_error *err)
{
	size_t n = s->nwhere;
	if (!ep_grow((void **)&s->where, &s->cap_where, n + 1, sizeof *s->where))
		return ep_oom(err);
	s->where[s->nwhere++] = (struct ep_vm_source_disk){ 0 };
	if (ep_machine_add_disk(&s->machine, NULL, bus, device, boot, err))
		return err->code;
	struct ep_vm_source_disk *w = &s->where[n];
	if ((path && !(w->path = strdup(path))) || (format && !(w->format = strdup(format))))
		return ep_oom(err);
	return 0;
}

int ep_vm_source_finish(struct ep_vm_source *s, const char *path, const char *kind, struct ep_error *err)
{
	struct ep_machine *m = &s->machine;
	free(s->origin);
	if (!(s->origin = strdup(path)))
		return ep_oom(err);
	if (m->ndisks == 0)
		return ep_fail(err, EP_EINPUT, "%s: '%s' names no disk to pack", kind, path);
	int rc = 0;
	for (size_t i = 0; !rc && i < m->ndisks; i++) /* a stand-in, so the rest can be checked now */
		if (!(m->disks[i].component = strdup("unnamed")))
			rc = ep_oom(err);
	if (!rc)
		rc = ep_machine_check(m, path, err);
	for (size_t i = 0; i < m->ndisks; i++) {
		free(m->disks[i].component);
		m->disks[i].component = NULL;
	}
	return rc;
}
