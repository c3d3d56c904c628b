#include "base/links.h"

#include <stdlib.h>
#include <string.h>

#include "base/digestmap.h"
#include "base/util.h"

/* The part of a path still to walk: [p, end). */
struct segment {
	const char *p, *end;
};

static bool target_ok(const char *target)
{
	return target[0] != '\0' && target[0] != '/' && strlen(target) <= EP_RELPATH_MAX;
}

enum ep_link_end ep_link_follow(const char *link_path, const char *target, ep_link_lookup_fn lookup,
				const void *ctx, char *end)
{
	/* what is left to walk, innermost link's target on top: each hop pushes one, so the
	 * stack holds the target, the link's directory and at most EP_LINK_HOPS more */
	struct segment stack[EP_LINK_HOPS + 2];
	int depth = 0, hops = link_path ? 1 : 0; /* the link itself counts, as when the kernel opens it */
	char cur[EP_RELPATH_MAX + 1] = ""; /* where the walk is, free of links */
	size_t n = 0;
	if (!target_ok(target))
		return EP_LINK_OUTSIDE;
	stack[depth++] = (struct segment){ target, target + strlen(target) };
	const char *slash = link_path ? strrchr(link_path, '/') : NULL;
	if (slash)
		stack[depth++] = (struct segment){ link_path, slash };
	while (depth > 0) {
		struct segment *s = &stack[depth - 1];
		if (s->p == s->end) {
			depth--;
			continue;
		}
		const char *name = s->p, *stop = memchr(name, '/', (size_t)(s->end - name));
		size_t len = stop ? (size_t)(stop - name) : (size_t)(s->end - name);
		s->p = stop ? stop + 1 : s->end;
		if (len == 0 || (len == 1 && name[0] == '.'))
			continue;
		if (len == 2 && name[0] == '.' && name[1] == '.') {
			if (n == 0)
				return EP_LINK_OUTSIDE;
			char *up = memrchr(cur, '/', n);
			n = up ? (size_t)(up - cur) : 0;
			cur[n] = '\0';
			continue;
		}
		size_t at = n;
		if (n + (n > 0) + len > EP_RELPATH_MAX) /* longer than any entry: no such path */
			return EP_LINK_OUTSIDE;
		if (n > 0)
			cur[n++] = '/';
		memcpy(cur + n, name, len);
		n += len;
		cur[n] = '\0';
		const char *next = lookup ? lookup(ctx, cur) : NULL;
		if (!next)
			continue;
		if (++hops > EP_LINK_HOPS)
			return EP_LINK_LOOP;
		if (!target_ok(next))
			return EP_LINK_OUTSIDE;
		n = at; /* the link's target is read from the directory holding it */
		cur[n] = '\0';
		stack[depth++] = (struct segment){ next, next + strlen(next) };
	}
	if (end)
		memcpy(end, cur, n + 1);
	return EP_LINK_INSIDE;
}

struct ep_links {
	struct ep_digestmap *index; /* SHA-256 of a path -> its place in links */
	struct link {
		const char *path, *target;
	} *links;
	size_t count, cap;
};

struct ep_links *ep_links_new(void)
{
	struct ep_links *l = calloc(1, sizeof *l);
	if (l && !(l->index = ep_digestmap_new())) {
		free(l);
		l = NULL;
	}
	return l;
}

bool ep_links_add(struct ep_links *l, const char *path, const char *target)
{
	uint8_t key[EP_DIGEST_LEN];
	if (!ep_grow((void **)&l->links, &l->cap, l->count + 1, sizeof *l->links))
		return false;
	ep_sha256(path, strlen(path), key);
	if (!ep_digestmap_put(l->index, key, l->count))
		return false;
	l->links[l->count++] = (struct link){ path, target };
	return true;
}

const char *ep_links_lookup(const void *links, const char *path)
{
	const struct ep_links *l = links;
	uint8_t key[EP_DIGEST_LEN];
	uint64_t i;
	ep_sha256(path, strlen(path), key);
	return ep_digestmap_get(l->index, key, &i) ? l->links[i].target : NULL;
}

void ep_links_free(struct ep_links *l)
{
	if (!l)
		return;
	ep_digestmap_free(l->index);
	free(l->links);
	free(l);
}
