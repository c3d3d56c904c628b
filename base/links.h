/* Symlinks followed as the kernel follows them, to tell whether one stays inside its tree:
 * a lexical check of each target alone misses chains (`a/up -> ..`, `esc -> a/up/..`). */
#ifndef EP_LINKS_H
#define EP_LINKS_H

#include <stdbool.h>

#define EP_LINK_HOPS 40 /* links followed for one path at most: Linux's MAXSYMLINKS */

enum ep_link_end {
	EP_LINK_INSIDE, /* every step stays inside the tree (the end need not exist) */
	EP_LINK_OUTSIDE, /* an absolute, empty or overlong target, or a step above the tree's root */
	EP_LINK_LOOP, /* more than EP_LINK_HOPS links on the way (the first link counting), as ELOOP */
};

/* The target of the symlink at relative `path` of the tree, or NULL when path is none. */
typedef const char *(*ep_link_lookup_fn)(const void *ctx, const char *path);

/* Follows `target` from the directory holding link_path (from the root when link_path is NULL),
 * component by component: one that lookup names a symlink is replaced by its target, so a `..`
 * after it climbs from where the link leads. Other components are taken as directories, and a
 * step above the root anywhere on the way is OUTSIDE, even if the path came back down. A NULL
 * lookup knows no links: the check is then lexical. With end (EP_RELPATH_MAX + 1 bytes) given,
 * an INSIDE path's end is written to it, relative to the root and free of links ("" the root). */
enum ep_link_end ep_link_follow(const char *link_path, const char *target, ep_link_lookup_fn lookup,
				const void *ctx, char *end);

/* The symlinks of a tree hashed by path, for following links in a tree of any size.
 * Paths and targets are borrowed: they must outlive the set. */
struct ep_links;
struct ep_links *ep_links_new(void);
/* false only when memory runs out; a path added twice keeps the last target. */
bool ep_links_add(struct ep_links *l, const char *path, const char *target);
/* An ep_link_lookup_fn over a struct ep_links. */
const char *ep_links_lookup(const void *links, const char *path);
void ep_links_free(struct ep_links *l);

#endif
