/*
 * What a tree's Terraform files declare, gathered into an inventory: provider
 * source addresses (from required_providers, provider blocks and the lock file),
 * module calls with their sources, and resource and data source types with counts.
 */
#ifndef EP_TERRAFORM_H
#define EP_TERRAFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "formats/bundle/inventory.h"

struct ep_terraform;

/* Results go into inv, which the caller keeps owning. */
int ep_terraform_new(struct ep_terraform **out, struct ep_inventory *inv, struct ep_error *err);
void ep_terraform_free(struct ep_terraform *tf);

/* One file, at `path` in the tree; `what` names it in messages. EP_EINPUT when it
 * does not parse: what it declared before the problem is kept. */
int ep_terraform_read_hcl(struct ep_terraform *tf, const char *path, const char *src, size_t len, const char *what,
			  struct ep_error *err);
/* .terraform.lock.hcl: its provider blocks name full source addresses. */
int ep_terraform_read_lock(struct ep_terraform *tf, const char *src, size_t len, const char *what,
			   struct ep_error *err);
/* .tf.json: the same declarations in Terraform's JSON syntax. */
int ep_terraform_read_json(struct ep_terraform *tf, const char *path, const char *src, size_t len, const char *what,
			   struct ep_error *err);
/* Once every file is read: gives each provider block with no required_providers
 * entry in its module its implied source, registry.terraform.io/hashicorp/NAME. */
int ep_terraform_finish(struct ep_terraform *tf, struct ep_error *err);

/* A provider source as Terraform normalises it: lowercase, with the default
 * host (registry.terraform.io) and namespace (hashicorp) filled in. */
void ep_terraform_provider_address(const char *source, char *out, size_t cap);

#endif
