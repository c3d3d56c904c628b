#include "sources/source.h"

#include <stdio.h>
#include <string.h>

/* Every source kind, one line each, in the order the usage message names them. */
#define EP_SOURCE_KINDS(X)   \
	X(disk)              \
	X(iac)               \
	X(oci)               \
	X(docker_archive)    \
	X(registry)          \
	X(glance)            \
	X(vm_libvirt)        \
	X(vm_domain)         \
	X(vm_aws)            \
	X(vm_openstack)      \
	X(vm_azure)          \
	X(vm_ovf)            \
	X(vm_ova)            \
	X(vm_vmx)            \
	X(vm_gcp)

#define DECLARE(kind) extern const struct ep_source_ops ep_source_##kind;
EP_SOURCE_KINDS(DECLARE)
#define ENTRY(kind) &ep_source_##kind,
static const struct ep_source_ops *const kinds[] = { EP_SOURCE_KINDS(ENTRY) };
#define NKINDS (sizeof kinds / sizeof *kinds)

const char *ep_capture_param(const struct ep_capture_options *c, const char *key)
{
	size_t n = strlen(key);
	for (size_t i = 0; c && i < c->nparams; i++)
		if (!strncmp(c->params[i], key, n) && c->params[i][n] == '=')
			return c->params[i] + n + 1;
	return NULL;
}

void ep_source_public_spec(const char *spec, char *buf, size_t cap)
{
	const char *url = strstr(spec, "://");
	size_t n = url ? (size_t)(url - spec) + strcspn(url, "?") : strlen(spec);
	snprintf(buf, cap, "%.*s", (int)n, spec);
}

/* Whether the space-separated list holds key. */
static bool listed(const char *list, const char *key, size_t n)
{
	for (const char *p = list; p && *p; p += strcspn(p, " "), p += *p == ' ')
		if (strcspn(p, " ") == n && !strncmp(p, key, n))
			return true;
	return false;
}

int ep_capture_params_check(const struct ep_capture_options *c, const struct ep_source *sources, size_t n,
			    struct ep_error *err)
{
	for (size_t i = 0; c && i < c->nparams; i++) {
		size_t len = strcspn(c->params[i], "=");
		bool taken = false;
		for (size_t k = 0; k < n && !taken; k++)
			taken = listed(sources[k].ops->input_options, c->params[i], len);
		if (taken)
			continue;
		char which[512] = "";
		size_t at = 0;
		for (size_t k = 0; k < n && at < sizeof which; k++)
			if (sources[k].ops->input_options)
				at += (size_t)snprintf(which + at, sizeof which - at, "; %s takes %s", sources[k].ops->prefix,
						       sources[k].ops->input_options);
		return ep_fail(err, EP_EINPUT, "--input-option '%.*s' is not a setting of any source given%s", (int)len,
			       c->params[i], *which ? which : " (none takes one)");
	}
	return 0;
}

int ep_source_parse(const char *spec, struct ep_source *out, struct ep_error *err)
{
	for (size_t i = 0; i < NKINDS; i++) {
		size_t n = strlen(kinds[i]->prefix);
		if (strncmp(spec, kinds[i]->prefix, n) || !spec[n])
			continue;
		*out = (struct ep_source){ .ops = kinds[i], .path = spec + n };
		return kinds[i]->parse ? kinds[i]->parse(spec, out, err) : 0;
	}
	char use[512] = "";
	size_t len = 0;
	for (size_t i = 0; i < NKINDS && len < sizeof use; i++)
		len += (size_t)snprintf(use + len, sizeof use - len, "%s%s", i == 0 ? "" : i + 1 < NKINDS ? ", " : " or ",
					kinds[i]->usage);
	return ep_fail(err, EP_EINPUT, "'%s' is not a source: use %s", spec, use);
}
