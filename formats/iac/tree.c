#include "formats/iac/tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/links.h"
#include "base/util.h"

#define MAX_DEPTH 128

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add(struct ep_tree *t, struct ep_tree_entry *e, struct ep_error *err)
{
	if (!ep_grow((void **)&t->entries, &t->cap, t->count + 1, sizeof *t->entries))
		return ep_oom(err);
	t->entries[t->count++] = *e;
	return 0;
}

__attribute__((format(printf, 3, 4))) static void warn(ep_warn_fn fn, void *ctx, const char *fmt, ...)
{
	char msg[4608];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (fn)
		fn(ctx, msg);
}

/* Lists dirfd's names, sorted, so the walk order never depends on the file system. */
static int list_dir(int dirfd, const char *root, const char *prefix, char ***names, size_t *count,
		    struct ep_error *err)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return ep_fail_errno(err, EP_ERUNTIME, "cannot list '%s/%s'", root, prefix);
	}
	char **v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!ep_grow((void **)&v, &cap, n + 1, sizeof *v) || !(v[n] = strdup(de->d_name))) {
			rc = ep_oom(err);
			break;
		}
		n++;
	}
	if (!rc && errno)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot list '%s/%s'", root, prefix);
	closedir(d);
	if (rc) {
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		return rc;
	}
	if (n > 1)
		qsort(v, n, sizeof *v, cmp_names);
	*names = v;
	*count = n;
	return 0;
}

struct walker {
	ep_tree_prune_fn prune;
	ep_warn_fn warn;
	void *warn_ctx;
};

static int walk(struct ep_tree *t, int dirfd, const char *prefix, int depth, const struct walker *w,
		struct ep_error *err)
{
	if (depth > MAX_DEPTH)
		return ep_fail(err, EP_EINPUT, "'%s/%s': directories nest deeper than %d", t->root, prefix, MAX_DEPTH);
	char **names = NULL;
	size_t count = 0;
	int rc = list_dir(dirfd, t->root, prefix, &names, &count, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < count && !rc; i++) {
		char *path;
		if (asprintf(&path, "%s%s%s", prefix, *prefix ? "/" : "", names[i]) < 0) {
			rc = ep_oom(err);
			break;
		}
		struct stat st;
		struct ep_tree_entry e = { .path = path };
		if (!ep_relpath_ok(path)) {
			warn(w->warn, w->warn_ctx, "skipping '%s/%s': unusable path", t->root, path);
			free(path);
			continue;
		}
		if (!ep_utf8_ok(names[i])) { /* a manifest is JSON, which holds UTF-8 only */
			warn(w->warn, w->warn_ctx, "skipping '%s/%s': the name is not valid UTF-8", t->root, path);
			free(path);
			continue;
		}
		if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
			rc = ep_fail_errno(err, EP_ERUNTIME, "cannot stat '%s/%s'", t->root, path);
			free(path);
			break;
		}
		e.mode = st.st_mode & 07777;
		e.mtime = st.st_mtim.tv_sec;
		if (S_ISREG(st.st_mode)) {
			e.type = EP_FILE_REG;
			e.size = (uint64_t)st.st_size;
			rc = add(t, &e, err);
		} else if (S_ISDIR(st.st_mode)) {
			const char *why = w->prune ? w->prune(path) : NULL;
			if (why) {
				warn(w->warn, w->warn_ctx, "skipping '%s/%s': %s", t->root, path, why);
				free(path);
				continue;
			}
			e.type = EP_FILE_DIR;
			int sub = openat(dirfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				rc = ep_fail_errno(err, EP_ERUNTIME, "cannot open '%s/%s'", t->root, path);
				free(path);
				break;
			}
			rc = add(t, &e, err);
			if (!rc) {
				e.path = NULL; /* owned by the tree now */
				rc = walk(t, sub, path, depth + 1, w, err);
			}
			close(sub);
		} else if (S_ISLNK(st.st_mode)) {
			/* a byte more than ep_link_follow takes: a longer target is refused, not cut */
			char target[EP_RELPATH_MAX + 2];
			ssize_t n = readlinkat(dirfd, names[i], target, sizeof target - 1);
			if (n < 0) {
				rc = ep_fail_errno(err, EP_ERUNTIME, "cannot read link '%s/%s'", t->root, path);
				free(path);
				break;
			}
			target[n] = '\0';
			/* where it leads is checked once every link is known (drop_bad_links) */
			if (!ep_utf8_ok(target)) {
				warn(w->warn, w->warn_ctx, "skipping symlink '%s/%s': its target is not valid UTF-8", t->root, path);
				free(path);
				continue;
			}
			e.type = EP_FILE_SYMLINK;
			if (!(e.target = strdup(target)))
				rc = ep_oom(err);
			else
				rc = add(t, &e, err);
		} else {
			warn(w->warn, w->warn_ctx, "skipping '%s/%s': not a file, directory or symlink", t->root, path);
			free(path);
			continue;
		}
		if (rc) {
			free(e.path);
			free(e.target);
		}
	}
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* Skips each symlink that, followed through all the others as the kernel would, leaves the
 * tree or loops. Links are judged against the whole set before any is dropped: one that leads
 * through a dropped link is dropped too, as it would escape or loop the same way. */
static int drop_bad_links(struct ep_tree *t, const struct walker *w, struct ep_error *err)
{
	struct ep_links *links = ep_links_new();
	bool *drop = calloc(t->count + 1, sizeof *drop);
	bool ok = links && drop;
	for (size_t i = 0; ok && i < t->count; i++)
		ok = t->entries[i].type != EP_FILE_SYMLINK || ep_links_add(links, t->entries[i].path, t->entries[i].target);
	for (size_t i = 0; ok && i < t->count; i++) {
		const struct ep_tree_entry *e = &t->entries[i];
		enum ep_link_end how = e->type == EP_FILE_SYMLINK
					       ? ep_link_follow(e->path, e->target, ep_links_lookup, links, NULL)
					       : EP_LINK_INSIDE;
		if ((drop[i] = how == EP_LINK_LOOP))
			warn(w->warn, w->warn_ctx, "skipping symlink '%s/%s': it loops (more than %d links to follow)",
			     t->root, e->path, EP_LINK_HOPS);
		else if ((drop[i] = how != EP_LINK_INSIDE))
			warn(w->warn, w->warn_ctx, "skipping symlink '%s/%s': it points outside the tree", t->root, e->path);
	}
	ep_links_free(links); /* it borrows the paths freed below */
	size_t kept = 0;
	for (size_t i = 0; ok && i < t->count; i++) {
		if (!drop[i]) {
			t->entries[kept++] = t->entries[i];
			continue;
		}
		free(t->entries[i].path);
		free(t->entries[i].target);
	}
	if (ok)
		t->count = kept;
	free(drop);
	return ok ? 0 : ep_oom(err);
}

int ep_tree_scan(const char *dir, ep_tree_prune_fn prune, ep_warn_fn wfn, void *wctx, struct ep_tree **out,
		 struct ep_error *err)
{
	const struct walker w = { prune, wfn, wctx };
	struct ep_tree *t = calloc(1, sizeof *t);
	if (!t || !(t->root = strdup(dir))) {
		free(t);
		return ep_oom(err);
	}
	t->rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = t->rootfd < 0 ? ep_fail_errno(err, EP_EINPUT, "cannot open directory '%s'", dir)
			       : walk(t, t->rootfd, "", 0, &w, err);
	if (!rc)
		rc = drop_bad_links(t, &w, err);
	if (rc) {
		ep_tree_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int ep_tree_open(const struct ep_tree *t, const struct ep_tree_entry *e, int *fd, struct ep_error *err)
{
	int f = openat(t->rootfd, e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (f < 0)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot open '%s/%s'", t->root, e->path);
	if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(f);
		return ep_fail(err, EP_ERUNTIME, "'%s/%s' changed while being packed", t->root, e->path);
	}
	*fd = f;
	return 0;
}

void ep_tree_free(struct ep_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->count; i++) {
		free(t->entries[i].path);
		free(t->entries[i].target);
	}
	free(t->entries);
	if (t->rootfd >= 0)
		close(t->rootfd);
	free(t->root);
	free(t);
}
