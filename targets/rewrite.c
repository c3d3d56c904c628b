#include "targets/rewrite.h"

#include <stdio.h>
#include <string.h>

#include "formats/image/reference.h"

/* A rule's side as a name prefix: a host, then path components. */
static bool prefix_ok(const char *s)
{
	const char *slash = strchr(s, '/');
	char host[256];
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof host)
		return false;
	memcpy(host, s, n);
	host[n] = '\0';
	/* a host Docker takes for one: "mirror" alone would read as a Docker Hub path */
	bool domain = strchr(host, '.') || strchr(host, ':') || !strcmp(host, "localhost");
	return domain && ep_image_host_ok(host) && (!slash || ep_image_repo_ok(slash + 1));
}

int ep_rewrite_rule_check(const struct ep_rewrite *rule, struct ep_error *err)
{
	const char *bad = !prefix_ok(rule->from) ? rule->from : !prefix_ok(rule->to) ? rule->to : NULL;
	if (bad)
		return ep_fail(err, EP_EINPUT,
			       "--rewrite-registry %s=%s: '%s' is not a registry with an optional path (\"docker.io\", \"registry.example:5000/team\")",
			       rule->from, rule->to, bad);
	return 0;
}

/* The rule's OLD as a normalised name prefix: Docker Hub's other names are docker.io. */
static const char *old_prefix(const char *from, size_t *len)
{
	static const char *const hub[] = { "index.docker.io", "registry-1.docker.io" };
	for (size_t i = 0; i < 2; i++) {
		size_t n = strlen(hub[i]);
		if (!strncmp(from, hub[i], n) && (from[n] == '\0' || from[n] == '/')) {
			*len = strlen(from) - (n - 9); /* "docker.io" and what follows */
			return from + (n - 9);
		}
	}
	*len = strlen(from);
	return from;
}

/* NEW and the rest of name after the rule that covers it, in out; false when none does. */
static bool move_name(const struct ep_rewrite *rules, size_t n, const char *name, char *out, size_t cap)
{
	for (size_t i = 0; i < n; i++) {
		size_t f;
		const char *from = old_prefix(rules[i].from, &f);
		if (!strncmp(name, from, f) && (name[f] == '/' || name[f] == '\0')) {
			int w = snprintf(out, cap, "%s%s", rules[i].to, name + f);
			struct ep_image_name img; /* the new name must mean itself: a domain, then a path */
			return w > 0 && (size_t)w < cap && ep_image_name_parse(out, (size_t)w, &img) && !strcmp(img.name, out) &&
			       !*img.tag;
		}
	}
	return false;
}

bool ep_rewrite_ref(const struct ep_rewrite *rules, size_t n, const char *ref, size_t len, char *out, size_t cap)
{
	struct ep_image_name img;
	char moved[600];
	if (!ep_image_name_parse(ref, len, &img) || !move_name(rules, n, img.name, moved, sizeof moved))
		return false;
	int w = snprintf(out, cap, "%s%s%s%s%s", moved, *img.tag ? ":" : "", img.tag, *img.digest ? "@" : "", img.digest);
	return w > 0 && (size_t)w < cap;
}

bool ep_rewrite_split(const struct ep_rewrite *rules, size_t n, const char *registry, const char *repository,
		      char *registry_out, size_t registry_cap, char *repository_out, size_t repository_cap)
{
	char joined[600], moved[600];
	struct ep_image_name img;
	int w = snprintf(joined, sizeof joined, "%s%s%s", registry, *registry ? "/" : "", repository);
	if (w <= 0 || (size_t)w >= sizeof joined || !ep_image_name_parse(joined, (size_t)w, &img) || *img.tag ||
	    *img.digest || !move_name(rules, n, img.name, moved, sizeof moved))
		return false;
	const char *slash = strchr(moved, '/'); /* after the domain: move_name made sure */
	if (!*registry) {
		*registry_out = '\0';
		return snprintf(repository_out, repository_cap, "%s", moved) < (int)repository_cap;
	}
	return snprintf(registry_out, registry_cap, "%.*s", (int)(slash - moved), moved) < (int)registry_cap &&
	       snprintf(repository_out, repository_cap, "%s", slash + 1) < (int)repository_cap;
}

bool ep_rewrite_applies(enum ep_file_kind kind)
{
	return kind == EP_KIND_KUBERNETES || kind == EP_KIND_KUSTOMIZATION || kind == EP_KIND_HELM_VALUES ||
	       kind == EP_KIND_TERRAFORM;
}

int ep_rewrite_file(enum ep_file_kind kind, const char *text, size_t len, const char *what,
		    const struct ep_rewrite *rules, size_t n, char **out, size_t *out_len, struct ep_error *err)
{
	*out = NULL;
	*out_len = 0;
	if (kind == EP_KIND_TERRAFORM)
		return ep_rewrite_hcl(kind, text, len, what, rules, n, out, out_len, err);
	if (ep_rewrite_applies(kind))
		return ep_rewrite_yaml(kind, text, len, what, rules, n, out, out_len, err);
	return 0;
}
