#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "targets/target.h"

#include "base/digestmap.h"
#include "base/util.h"

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
	&ep_target_aws,
	&ep_target_azure,
	&ep_target_openstack,
	&ep_target_gcp,
};

const struct ep_target_ops *const *ep_target_list(size_t *count)
{
	*count = sizeof targets / sizeof *targets;
	return targets;
}

const struct ep_target_ops *ep_target_find(const char *uri)
{
	const char *colon = strchr(uri, ':');
	for (size_t i = 0; colon && i < sizeof targets / sizeof *targets; i++) {
		size_t n = strlen(targets[i]->scheme);
		if ((size_t)(colon - uri) == n && !strncmp(uri, targets[i]->scheme, n))
			return targets[i];
	}
	return NULL;
}

int ep_target_open(struct ep_target **out, const char *uri, const struct ep_target_options *opt,
		   struct ep_error *err)
{
	const struct ep_target_ops *ops = ep_target_find(uri);
	if (!ops)
		return ep_fail(err, EP_EINPUT, "unknown target '%s' (try dir:PATH)", uri);
	const char *location = strchr(uri, ':') + 1;
	if (!*location)
		return ep_fail(err, EP_EINPUT, "target '%s' names no location", uri);
	if (opt && opt->domain_type && !ops->domain_type)
		return ep_fail(err, EP_EINPUT, "--set domain_type: target '%s' writes no domain type (libvirt: and vagrant: do)", uri);
	return ops->open(out, location, opt, err);
}

const char *ep_target_domain_type(const char *asked, char *why, size_t cap)
{
	if (asked) {
		if (why)
			snprintf(why, cap, "as --set domain_type asked");
		return !strcmp(asked, "kvm") ? "kvm" : "qemu";
	}
	const char *why_not = ep_kvm_why_not();
	if (why && why_not)
		snprintf(why, cap, "/dev/kvm: %s, so QEMU emulates; --set domain_type=kvm for a host with KVM", why_not);
	else if (why)
		snprintf(why, cap, "/dev/kvm is usable; --set domain_type=qemu for a host without KVM");
	return why_not ? "qemu" : "kvm";
}

const char *ep_target_param(const struct ep_target_options *opt, const char *key)
{
	size_t n = strlen(key);
	for (size_t i = 0; opt && i < opt->nparams; i++)
		if (!strncmp(opt->params[i], key, n) && opt->params[i][n] == '=')
			return opt->params[i] + n + 1;
	return NULL;
}

int ep_target_params_check(const struct ep_target_options *opt, const char *scheme, const char *const *known,
			   struct ep_error *err)
{
	for (size_t i = 0; opt && i < opt->nparams; i++) {
		size_t n = strcspn(opt->params[i], "=");
		bool found = false;
		for (size_t k = 0; !found && known && known[k]; k++)
			found = strlen(known[k]) == n && !strncmp(known[k], opt->params[i], n);
		if (!found)
			return ep_fail(err, EP_EINPUT, "%s: unknown option -o %.*s", scheme, (int)n, opt->params[i]);
	}
	return 0;
}

int ep_target_image_blobs(const struct ep_component *c, struct ep_digestmap *into, struct ep_error *err)
{
	static const char prefix[] = "blobs/sha256/";
	for (size_t i = 0; i < c->nfiles; i++) {
		uint8_t raw[EP_DIGEST_LEN];
		const char *p = c->files[i].path;
		if (c->files[i].type == EP_FILE_REG && !strncmp(p, prefix, sizeof prefix - 1) &&
		    ep_unhex(p + sizeof prefix - 1, raw, EP_DIGEST_LEN) && !ep_digestmap_put(into, raw, i + 1))
			return ep_oom(err);
	}
	return 0;
}
