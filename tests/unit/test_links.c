#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/links.h"
#include "base/util.h"
#include "tests/unit/unit.h"

/* A tree's links as "path", "target" pairs, NULL-terminated, hashed into a fresh set. */
static struct ep_links *links_of(const char *const *pairs)
{
	struct ep_links *l = ep_links_new();
	EXPECT(l != NULL);
	for (size_t i = 0; l && pairs[i]; i += 2)
		EXPECT(ep_links_add(l, pairs[i], pairs[i + 1]));
	return l;
}

static enum ep_link_end follow(const struct ep_links *l, const char *link, const char *target, char *end)
{
	return ep_link_follow(link, target, ep_links_lookup, l, end);
}

TEST(link_follow_without_links_is_lexical)
{
	EXPECT(ep_link_follow("link", "a.txt", NULL, NULL, NULL) == EP_LINK_INSIDE);
	EXPECT(ep_link_follow("d/link", "../a.txt", NULL, NULL, NULL) == EP_LINK_INSIDE);
	EXPECT(ep_link_follow("d/e/link", "../../a", NULL, NULL, NULL) == EP_LINK_INSIDE);
	EXPECT(ep_link_follow("link", ".", NULL, NULL, NULL) == EP_LINK_INSIDE);
	EXPECT(ep_link_follow("link", "d/../a", NULL, NULL, NULL) == EP_LINK_INSIDE);
	EXPECT(ep_link_follow("link", "../a", NULL, NULL, NULL) == EP_LINK_OUTSIDE);
	EXPECT(ep_link_follow("d/link", "../../a", NULL, NULL, NULL) == EP_LINK_OUTSIDE);
	EXPECT(ep_link_follow("link", "d/../../x", NULL, NULL, NULL) == EP_LINK_OUTSIDE);
	/* a step above the root is outside even when the path comes back down */
	EXPECT(ep_link_follow("d/link", "../../d/a", NULL, NULL, NULL) == EP_LINK_OUTSIDE);
	char end[EP_RELPATH_MAX + 1];
	EXPECT(ep_link_follow("d/e/link", "..//./f/", NULL, NULL, end) == EP_LINK_INSIDE && !strcmp(end, "d/f"));
	EXPECT(ep_link_follow("d/link", "..", NULL, NULL, end) == EP_LINK_INSIDE && !strcmp(end, ""));
	EXPECT(ep_link_follow(NULL, "a/b", NULL, NULL, end) == EP_LINK_INSIDE && !strcmp(end, "a/b"));
}

TEST(link_follow_refuses_absolute_empty_and_overlong_targets)
{
	static const char *const pairs[] = { "abs", "/etc", "empty", "", "d/ok", "../f", NULL };
	struct ep_links *l = links_of(pairs);
	EXPECT(follow(l, "link", "/etc/passwd", NULL) == EP_LINK_OUTSIDE);
	EXPECT(follow(l, "link", "", NULL) == EP_LINK_OUTSIDE);
	/* an absolute or empty target met on the way is refused too */
	EXPECT(follow(l, "link", "abs", NULL) == EP_LINK_OUTSIDE);
	EXPECT(follow(l, "link", "abs/../x", NULL) == EP_LINK_OUTSIDE);
	EXPECT(follow(l, "link", "empty", NULL) == EP_LINK_OUTSIDE);
	EXPECT(follow(l, "link", "d/ok", NULL) == EP_LINK_INSIDE);
	char *big = malloc(EP_RELPATH_MAX + 2);
	memset(big, 'a', EP_RELPATH_MAX + 1);
	big[EP_RELPATH_MAX + 1] = '\0';
	EXPECT(follow(l, "link", big, NULL) == EP_LINK_OUTSIDE);
	big[EP_RELPATH_MAX] = '\0';
	EXPECT(follow(l, "link", big, NULL) == EP_LINK_INSIDE);
	free(big);
	ep_links_free(l);
}

/* The hostile tester's two trees: each target is inside when read alone. */
TEST(link_follow_catches_escapes_through_links)
{
	static const char *const pack[] = { "a/up", "..", "esc", "a/up/..", NULL };
	struct ep_links *l = links_of(pack);
	EXPECT(follow(l, "a/up", "..", NULL) == EP_LINK_INSIDE);
	EXPECT(follow(l, "esc", "a/up/..", NULL) == EP_LINK_OUTSIDE);
	EXPECT(ep_link_follow("esc", "a/up/..", NULL, NULL, NULL) == EP_LINK_INSIDE); /* what a lexical check saw */
	ep_links_free(l);

	/* d1/.../d20/l -> ../../.. (twenty of them: the root), pw -> d1/.../d20/l/../../etc/passwd */
	char deep[256] = "", up[128] = "", pw[512];
	for (int i = 1; i <= 20; i++) {
		snprintf(deep + strlen(deep), sizeof deep - strlen(deep), "d%d/", i);
		snprintf(up + strlen(up), sizeof up - strlen(up), "%s..", i > 1 ? "/" : "");
	}
	char link[300];
	snprintf(link, sizeof link, "%sl", deep);
	snprintf(pw, sizeof pw, "%sl/../../etc/passwd", deep);
	const char *const sign[] = { link, up, "pw", pw, NULL };
	l = links_of(sign);
	EXPECT(ep_link_follow("pw", pw, NULL, NULL, NULL) == EP_LINK_INSIDE);
	EXPECT(follow(l, link, up, NULL) == EP_LINK_INSIDE);
	EXPECT(follow(l, "pw", pw, NULL) == EP_LINK_OUTSIDE);
	ep_links_free(l);
}

TEST(link_follow_walks_chains)
{
	static const char *const pairs[] = {
		"dir-link", "d/e", /* a link to a directory */
		"link-link", "dir-link", /* a link to a link to a directory */
		"d/e/up2", "../..", /* the root, from two down */
		"x", "d/e/up2/d/f", /* up through a link and back down: inside */
		"y", "dir-link/../..", /* `..` through a link climbs from where it leads: d/e -> d -> root */
		"z", "dir-link/../../..", /* one more: outside */
		"w", "link-link/g", NULL,
	};
	struct ep_links *l = links_of(pairs);
	char end[EP_RELPATH_MAX + 1];
	EXPECT(follow(l, "link-link", "dir-link", end) == EP_LINK_INSIDE && !strcmp(end, "d/e"));
	EXPECT(follow(l, "w", "link-link/g", end) == EP_LINK_INSIDE && !strcmp(end, "d/e/g"));
	EXPECT(follow(l, "x", "d/e/up2/d/f", end) == EP_LINK_INSIDE && !strcmp(end, "d/f"));
	EXPECT(follow(l, "y", "dir-link/../..", end) == EP_LINK_INSIDE && !strcmp(end, ""));
	EXPECT(ep_link_follow("y", "dir-link/../..", NULL, NULL, NULL) == EP_LINK_OUTSIDE); /* lexically */
	EXPECT(follow(l, "z", "dir-link/../../..", NULL) == EP_LINK_OUTSIDE);
	/* the link's own directory is walked too: a parent that is a link is followed */
	EXPECT(follow(l, "dir-link/k", "../../f", end) == EP_LINK_INSIDE && !strcmp(end, "f"));
	EXPECT(follow(l, "dir-link/k", "../../../f", NULL) == EP_LINK_OUTSIDE);
	ep_links_free(l);
}

TEST(link_follow_catches_loops)
{
	static const char *const pairs[] = { "a", "b", "b", "a", "self", "self", "d/dot", ".", "me", "d/me", "d/me",
					     "../me", NULL };
	struct ep_links *l = links_of(pairs);
	EXPECT(follow(l, "a", "b", NULL) == EP_LINK_LOOP);
	EXPECT(follow(l, "b", "a", NULL) == EP_LINK_LOOP);
	EXPECT(follow(l, "self", "self", NULL) == EP_LINK_LOOP);
	EXPECT(follow(l, "x", "a/f", NULL) == EP_LINK_LOOP); /* a link into a loop loops */
	EXPECT(follow(l, "me", "d/me", NULL) == EP_LINK_LOOP);
	/* a link to its own directory is no loop until followed as one */
	EXPECT(follow(l, "d/dot", ".", NULL) == EP_LINK_INSIDE);
	EXPECT(follow(l, "x", "d/dot/dot/dot/f", NULL) == EP_LINK_INSIDE);
	ep_links_free(l);
}

/* l1 -> l2 -> ... -> lN -> f: the kernel follows 40 links for one path, no more. */
static enum ep_link_end chain(int n)
{
	char (*names)[16] = calloc((size_t)n + 2, sizeof *names);
	const char **pairs = calloc(2 * (size_t)n + 1, sizeof *pairs);
	for (int i = 1; i <= n + 1; i++)
		snprintf(names[i], sizeof names[i], i <= n ? "l%d" : "f", i);
	for (int i = 1; i <= n; i++) {
		pairs[2 * i - 2] = names[i];
		pairs[2 * i - 1] = names[i + 1];
	}
	struct ep_links *l = links_of(pairs);
	char end[EP_RELPATH_MAX + 1] = "";
	enum ep_link_end how = follow(l, names[1], names[2], end);
	EXPECT(how != EP_LINK_INSIDE || !strcmp(end, "f"));
	ep_links_free(l);
	free(pairs);
	free(names);
	return how;
}

TEST(link_follow_bounds_deep_chains)
{
	EXPECT(chain(1) == EP_LINK_INSIDE);
	EXPECT(chain(EP_LINK_HOPS) == EP_LINK_INSIDE);
	EXPECT(chain(EP_LINK_HOPS + 1) == EP_LINK_LOOP);
	EXPECT(chain(1000) == EP_LINK_LOOP);
}

/* Many links, each followed once: a hash lookup per component, nothing quadratic. */
TEST(links_scale_to_large_trees)
{
	enum { N = 50000 };
	char(*paths)[32] = calloc(N, sizeof *paths);
	struct ep_links *l = ep_links_new();
	for (int i = 0; i < N; i++) {
		snprintf(paths[i], sizeof paths[i], "d%d/l", i);
		EXPECT(ep_links_add(l, paths[i], i % 2 ? "../f" : "../.."));
	}
	int outside = 0;
	for (int i = 0; i < N; i++)
		outside += follow(l, paths[i], i % 2 ? "../f" : "../..", NULL) == EP_LINK_OUTSIDE;
	EXPECT(outside == N / 2);
	EXPECT(ep_links_lookup(l, "d7/l") && !strcmp(ep_links_lookup(l, "d7/l"), "../f"));
	EXPECT(ep_links_lookup(l, "d7") == NULL && ep_links_lookup(l, "d7/l/x") == NULL);
	ep_links_free(l);
	free(paths);
}
