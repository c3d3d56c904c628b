#include <string.h>

#include "target.h"

static const struct ep_target_ops *const targets[] = {
	&ep_target_dir,
	&ep_target_oci,
	&ep_target_docker_archive,
	&ep_target_registry,
	&ep_target_libvirt,
	&ep_target_ova,
	&ep_target_ovf,
	&ep_target_hyperv,
	&ep_target_vagrant,
};

const struct ep_target_ops *const *ep_target_list(size_t *count)
{
	*count = sizeof targets / sizeof *targets;
	return targets;
}

int ep_target_open(struct ep_target **out, const char *uri, const struct ep_target_options *opt,
		   struct ep_error *err)
{
	const char *colon = strchr(uri, ':');
	for (size_t i = 0; colon && i < sizeof targets / sizeof *targets; i++) {
		size_t n = strlen(targets[i]->scheme);
		if ((size_t)(colon - uri) == n && !strncmp(uri, targets[i]->scheme, n)) {
			if (!colon[1])
				return ep_fail(err, EP_EINPUT, "target '%s' names no location", uri);
			return targets[i]->open(out, colon + 1, opt, err);
		}
	}
	return ep_fail(err, EP_EINPUT, "unknown target '%s' (try dir:PATH)", uri);
}
