/*
 * Surveys a scanned IaC tree before it is packed: the kind of every regular file,
 * which files are secrets to leave out, and the tree's inventory (Terraform
 * providers, modules and resource types; Kubernetes objects and their images).
 */
#ifndef EP_SURVEY_H
#define EP_SURVEY_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "formats/bundle/inventory.h"
#include "formats/iac/tree.h"

/* Files larger than this are classified by name only. */
#define EP_IAC_READ_MAX ((size_t)64 << 20)

struct ep_iac_options {
	bool include_secrets; /* pack Terraform state and files that look like secrets too */
	ep_warn_fn warn;      /* each secret left out, each file that could not be read for the inventory */
	void *warn_ctx;
};

struct ep_iac_survey {
	enum ep_file_kind *kinds; /* per tree entry; EP_KIND_NONE for directories and symlinks */
	bool *left_out;           /* per tree entry: a secret not to pack, or a symlink to one */
	struct ep_inventory *inventory;
};

/* EP_EINPUT when a YAML file goes past the limits of formats/iac/k8s.h (a YAML
 * bomb): such a tree is refused, naming the file. */
int ep_iac_survey(const struct ep_tree *t, const struct ep_iac_options *opt, struct ep_iac_survey **out,
		  struct ep_error *err);
void ep_iac_survey_free(struct ep_iac_survey *s);

#endif
