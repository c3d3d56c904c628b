/*
 * Retargeting at restore, what makes envpack a migrator rather than an unzip:
 * machine parameters filled in (--set name=web-2 restores a second instance,
 * its MACs made anew unless --keep-mac), and cloud-init's host name (--set
 * hostname=). Image references moved to another registry: targets/rewrite.h.
 */
#ifndef EP_RETARGET_H
#define EP_RETARGET_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "formats/bundle/manifest.h"

struct ep_set {
	const char *key, *value;
};

struct ep_retarget {
	const struct ep_set *sets; /* name, vcpus, memory_mib, network, secure_boot */
	size_t nsets;
	bool keep_mac;
	const char **only; /* the machines --only names (none: every machine); a rename follows the machine */
	size_t nonly;
};

/* Applies --set to the chosen machines of m (owned by the caller, changed in place):
 * a new name renames the machine and its disks (web -> web-2, web-data -> web-2-data)
 * and makes its MACs anew from the new name unless keep_mac. Unknown keys, values
 * that don't fit the machine model, or `name` for more than one machine: EP_EINPUT. */
int ep_retarget_machines(struct ep_manifest *m, const struct ep_retarget *rt, struct ep_error *err);

/* Whether h is a host name cloud-init takes: letters, digits, '-' and '.', at most 253. */
bool ep_hostname_ok(const char *h);
/* Sets the host name in cloud-init file `what` by its YAML structure: the values of the
 * top-level `hostname:`, `fqdn:` and `local-hostname:` keys of a block mapping, and a
 * `hostname:` key added before the first key of a `#cloud-config` file that has none;
 * every other byte stays. *out is heap, NULL when unchanged; then why (why_cap bytes)
 * says why a file that looks as if it should change (a #cloud-config* header, a host
 * name in it) could not be edited safely (a list, a flow mapping, invalid YAML), or is
 * "". An edit that does not read back as meant: EP_ERUNTIME, naming the file. */
int ep_set_hostname(const char *text, size_t len, const char *hostname, const char *what, char **out, size_t *out_len,
		    char *why, size_t why_cap, struct ep_error *err);

#endif
