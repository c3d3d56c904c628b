/* A directory tree captured as entries in a stable order (sorted by path). */
#ifndef EP_TREE_H
#define EP_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "formats/bundle/manifest.h"

struct ep_tree_entry {
	char *path; /* relative to the root */
	enum ep_file_type type;
	uint32_t mode;
	int64_t mtime;
	uint64_t size;
	char *target; /* symlinks */
};

struct ep_tree {
	char *root;
	int rootfd;
	struct ep_tree_entry *entries;
	size_t count, cap;
};

typedef void (*ep_warn_fn)(void *ctx, const char *msg);
/* Why the directory at path (relative to the root) is to be left out, or NULL. */
typedef const char *(*ep_tree_prune_fn)(const char *path);

/* Walks dir without following symlinks. Symlinks leaving the tree or looping (followed
 * through the tree's other links, ep_link_follow), names and link targets that are not
 * UTF-8 (a manifest cannot hold them), special files and directories prune (when given)
 * names are skipped, each reported through warn. */
int ep_tree_scan(const char *dir, ep_tree_prune_fn prune, ep_warn_fn warn, void *warn_ctx, struct ep_tree **out,
		 struct ep_error *err);
/* Opens a regular entry for reading, refusing anything that is no longer a regular file. */
int ep_tree_open(const struct ep_tree *t, const struct ep_tree_entry *e, int *fd, struct ep_error *err);
void ep_tree_free(struct ep_tree *t);

#endif
