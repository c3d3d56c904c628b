/*
 * What a file in an infrastructure-as-code tree is, as far as its path tells:
 * its kind (formats/bundle/inventory.h), whether its name (or first bytes) marks it as a secret,
 * and which directories are caches rather than code.
 */
#ifndef EP_CLASSIFY_H
#define EP_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "formats/bundle/inventory.h"

/* Why the directory at path is left out of a tree (for ep_tree_scan), or NULL. */
const char *ep_iac_prune(const char *path);

/* The kind path gives a regular file; `charts` are the directories holding a
 * Chart.yaml ("" for the root). EP_KIND_OTHER when only the content can tell. */
enum ep_file_kind ep_iac_kind_by_name(const char *path, const char *const *charts, size_t ncharts);
/* Whether a file of no other kind is read as YAML (.yaml, .yml, and kubeconfig's names:
 * kubeconfig, *.kubeconfig, .kube/config). */
bool ep_iac_is_yaml(const char *path);
/* How many leading bytes ep_iac_is_cloud_config and ep_iac_secret_head look at, at most. */
#define EP_IAC_HEAD 36
/* Whether a file starting with head[0..n) is cloud-init's (#cloud-config). */
bool ep_iac_is_cloud_config(const char *head, size_t n);
/* Why a file starting with head[0..n) holds secrets, whatever its name (a Terraform plan:
 * a zip archive whose first member is tfplan), or NULL. */
const char *ep_iac_secret_head(const char *head, size_t n);
/* Why a file's name (and kind) says it holds secrets, or NULL. */
const char *ep_iac_secret_name(const char *path, enum ep_file_kind kind);

#endif
