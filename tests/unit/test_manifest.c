#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/bundle/manifest.h"
#include "unit.h"

static struct ep_manifest *sample(void)
{
	struct ep_manifest *m = ep_manifest_new("env", "2026-01-01T00:00:00Z", "envpack test");
	struct ep_error err = { 0 };
	uint8_t d1[32], d2[32];
	ep_sha256("a", 1, d1);
	ep_sha256("b", 1, d2);
	struct ep_component *c = ep_manifest_add_component(m, EP_COMP_DISK, "disk", "disk.raw");
	c->format = strdup("raw");
	c->virtual_size = 1 << 30;
	ep_component_add_extent(c, 4096, &err);
	ep_component_add_extent(c, 1 << 20, &err);
	/* chunks arrive after both records exist, as in the packer */
	ep_component_append(c, 0, d1, 100, &err);
	ep_component_append(c, 0, d2, 200, &err);
	ep_component_append(c, 1, d1, 100, &err);
	c = ep_manifest_add_component(m, EP_COMP_FILES, "tree", "tree");
	ep_component_add_file(c, "d", EP_FILE_DIR, 0755, 5, NULL, &err);
	ep_component_add_file(c, "d/f", EP_FILE_REG, 0644, 6, NULL, &err);
	ep_component_append(c, 1, d2, 200, &err);
	ep_component_add_file(c, "d/l", EP_FILE_SYMLINK, 0, 7, "f", &err);
	ep_component_add_file(c, "empty", EP_FILE_REG, 0600, 8, NULL, &err);
	EXPECT(err.code == 0);
	return m;
}

TEST(manifest_round_trip_is_exact)
{
	struct ep_manifest *m = sample(), *back = NULL;
	struct ep_error err = { 0 };
	char *json, *json2;
	size_t len, len2;
	EXPECT(ep_manifest_to_json(m, &json, &len, &err) == 0);
	EXPECT(ep_manifest_parse(json, len, "t", &back, &err) == 0);
	EXPECT(back && ep_manifest_to_json(back, &json2, &len2, &err) == 0);
	EXPECT(len == len2 && !memcmp(json, json2, len));
	EXPECT(back->components[0].extents[1].first == 2 && back->components[0].extents[0].length == 300);
	EXPECT(back->components[1].files[1].size == 200 && back->components[1].files[3].size == 0);
	free(json);
	free(json2);
	ep_manifest_free(m);
	ep_manifest_free(back);
}

/* Replaces the first `from` in the sample's JSON by `to` and parses the result. */
static int parse_edited(const char *from, const char *to, char *msg, size_t cap)
{
	struct ep_manifest *m = sample(), *back = NULL;
	struct ep_error err = { 0 };
	char *json, edited[8192];
	size_t len;
	ep_manifest_to_json(m, &json, &len, &err);
	char *at = strstr(json, from);
	if (!at) {
		printf("       pattern not found: %s\n", from);
		return 99;
	}
	snprintf(edited, sizeof edited, "%.*s%s%s", (int)(at - json), json, to, at + strlen(from));
	int rc = ep_manifest_parse(edited, strlen(edited), "t", &back, &err);
	snprintf(msg, cap, "%s", err.msg);
	free(json);
	ep_manifest_free(m);
	ep_manifest_free(back);
	return rc;
}

TEST(manifest_rejects_malformed)
{
	char msg[1024];
	EXPECT(parse_edited("\"version\":1", "\"version\":2", msg, sizeof msg) == EP_EINPUT);
	EXPECT(parse_edited("\"path\":\"d/f\"", "\"path\":\"../f\"", msg, sizeof msg) == EP_EINPUT);
	EXPECT(parse_edited("\"path\":\"d/f\"", "\"path\":\"/etc/f\"", msg, sizeof msg) == EP_EINPUT);
	EXPECT(parse_edited("\"target\":\"f\"", "\"target\":\"../../x\"", msg, sizeof msg) == EP_EINPUT);
	EXPECT(strstr(msg, "outside"));
	EXPECT(parse_edited("\"target\":\"f\"", "\"target\":\"/etc\"", msg, sizeof msg) == EP_EINPUT);
	EXPECT(parse_edited("\"name\":\"tree\"", "\"name\":\"../tree\"", msg, sizeof msg) == EP_EINPUT);
	EXPECT(parse_edited("\"name\":\"tree\"", "\"name\":\"disk\"", msg, sizeof msg) == EP_EINPUT);
	EXPECT(strstr(msg, "twice"));
	EXPECT(parse_edited("\"length\":300", "\"length\":301", msg, sizeof msg) == EP_EINPUT);
	EXPECT(parse_edited("\"offset\":1048576", "\"offset\":0", msg, sizeof msg) == EP_EINPUT);
	EXPECT(parse_edited("\"virtual_size\":1073741824", "\"virtual_size\":4611686018427387904", msg, sizeof msg) ==
	       EP_EINPUT);
	EXPECT(parse_edited("\"virtual_size\":1073741824", "\"virtual_size\":1048675", msg, sizeof msg) == EP_EINPUT);
	EXPECT(parse_edited(",100]", ",4194305]", msg, sizeof msg) == EP_EINPUT);
	EXPECT(parse_edited("\"size\":200", "\"size\":201", msg, sizeof msg) == EP_EINPUT);
	EXPECT(parse_edited("\"path\":\"d\",\"type\":\"dir\"", "\"path\":\"d\",\"type\":\"symlink\",\"target\":\".\"", msg,
			    sizeof msg) == EP_EINPUT);
	EXPECT(parse_edited("\"format\":\"envpack-bundle\"", "\"format\":\"envpack-bundle\",\"format\":\"x\"", msg,
			    sizeof msg) == EP_EINPUT);
	EXPECT(parse_edited("{", "[", msg, sizeof msg) == EP_EINPUT);
	EXPECT(strstr(msg, "t: manifest"));
}
