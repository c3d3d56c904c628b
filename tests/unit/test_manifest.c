#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/bundle/manifest.h"
#include "tests/unit/unit.h"

static struct ep_manifest *sample(void)
{
	struct ep_manifest *m = ep_manifest_new("env", "2026-01-01T00:00:00Z", "envpack test");
	struct ep_error err = { 0 };
	uint8_t d1[32], d2[32], d3[32];
	ep_sha256("a", 1, d1);
	ep_sha256("b", 1, d2);
	ep_sha256("c", 1, d3);
	struct ep_component *c = ep_manifest_add_component(m, EP_COMP_DISK, "disk", "disk.raw");
	c->format = strdup("raw");
	c->virtual_size = 1 << 30;
	ep_component_add_extent(c, 4096, &err);
	ep_component_add_extent(c, 1 << 20, &err);
	/* chunks arrive after both records exist, as in the packer */
	ep_component_append(c, 0, d3, 300000, &err); /* all but an extent's last chunk pass the minimum */
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

/* Serialises m (freeing it), parses that and serialises again, expecting the same
 * bytes; returns what was parsed, and the JSON in *json (free both). */
static struct ep_manifest *round_trip(struct ep_manifest *m, char **json)
{
	struct ep_manifest *back = NULL;
	struct ep_error err = { 0 };
	char *json2 = NULL;
	size_t len, len2;
	EXPECT(ep_manifest_to_json(m, json, &len, &err) == 0);
	EXPECT(ep_manifest_parse(*json, len, "t", &back, &err) == 0);
	EXPECT(back && ep_manifest_to_json(back, &json2, &len2, &err) == 0);
	EXPECT(json2 && len == len2 && !memcmp(*json, json2, len));
	free(json2);
	ep_manifest_free(m);
	return back;
}

TEST(manifest_round_trip_is_exact)
{
	char *json;
	struct ep_manifest *back = round_trip(sample(), &json);
	EXPECT(back->components[0].extents[1].first == 2 && back->components[0].extents[0].length == 300200);
	EXPECT(back->components[1].files[1].size == 200 && back->components[1].files[3].size == 0);
	free(json);
	ep_manifest_free(back);
}

/* Replaces the first `from` in m's JSON by `to` and parses the result; frees m. */
static int parse_edited_in(struct ep_manifest *m, const char *from, const char *to, char *msg, size_t cap)
{
	struct ep_manifest *back = NULL;
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

static int parse_edited(const char *from, const char *to, char *msg, size_t cap)
{
	return parse_edited_in(sample(), from, to, msg, cap);
}

/* The sample with its disk taken from a live domain at checkpoint "envpack-00ff". */
static struct ep_manifest *sample_checkpoint(void)
{
	struct ep_manifest *m = sample();
	m->components[0].checkpoint = strdup("envpack-00ff");
	return m;
}

TEST(manifest_keeps_a_disks_checkpoint)
{
	char *json, msg[1024];
	struct ep_manifest *back = round_trip(sample_checkpoint(), &json);
	EXPECT(back->components[0].checkpoint && !strcmp(back->components[0].checkpoint, "envpack-00ff"));
	EXPECT(!back->components[1].checkpoint);
	free(json);
	ep_manifest_free(back);
	EXPECT(parse_edited_in(sample_checkpoint(), "\"envpack-00ff\"", "\"../x\"", msg, sizeof msg) == EP_EINPUT);
	EXPECT(strstr(msg, "disk 'disk' has a malformed checkpoint"));
	EXPECT(parse_edited_in(sample_checkpoint(), "\"envpack-00ff\"", "7", msg, sizeof msg) == EP_EINPUT);
	EXPECT(parse_edited_in(sample_checkpoint(), "\"envpack-00ff\"", "\"e\\u001b[31m\"", msg, sizeof msg) ==
	       EP_EINPUT);
}

/* The sample as a snapshot of a store with Object Lock: retained in governance mode until 2026-12-14. */
static struct ep_manifest *sample_locked(void)
{
	struct ep_manifest *m = sample();
	m->snapshot = ep_snapinfo_new("web-01", 7);
	snprintf(m->snapshot->lock_mode, sizeof m->snapshot->lock_mode, "governance");
	m->snapshot->retain_until = ep_utc_time("2026-12-14T03:00:00Z");
	return m;
}

TEST(manifest_keeps_a_snapshots_retention)
{
	char *json, msg[1024];
	struct ep_manifest *back = round_trip(sample_locked(), &json);
	EXPECT(strstr(json, "\"object_lock\":{\"mode\":\"governance\",\"retain_until\":\"2026-12-14T03:00:00Z\"}"));
	EXPECT(back->snapshot && !strcmp(back->snapshot->lock_mode, "governance") &&
	       back->snapshot->retain_until == ep_utc_time("2026-12-14T03:00:00Z"));
	struct ep_snapinfo *dup = ep_snapinfo_dup(back->snapshot);
	EXPECT(dup && !strcmp(dup->lock_mode, "governance") && dup->retain_until == back->snapshot->retain_until);
	ep_snapinfo_free(dup);
	free(json);
	ep_manifest_free(back);
	/* a snapshot without one says nothing of it, and reads back without */
	struct ep_manifest *plain = sample_locked();
	plain->snapshot->lock_mode[0] = '\0';
	back = round_trip(plain, &json);
	EXPECT(!strstr(json, "object_lock") && !back->snapshot->lock_mode[0] && !back->snapshot->retain_until);
	free(json);
	ep_manifest_free(back);
	EXPECT(parse_edited_in(sample_locked(), "\"governance\"", "\"forever\"", msg, sizeof msg) == EP_EINPUT);
	EXPECT(strstr(msg, "snapshot object_lock needs a mode (governance or compliance)"));
	EXPECT(parse_edited_in(sample_locked(), "\"2026-12-14T03:00:00Z\"", "\"next week\"", msg, sizeof msg) ==
	       EP_EINPUT);
	EXPECT(parse_edited_in(sample_locked(), "\"2026-12-14T03:00:00Z\"", "1796094000", msg, sizeof msg) == EP_EINPUT);
	EXPECT(parse_edited_in(sample_locked(), "\"object_lock\":{", "\"object_lock\":\"x\",\"y\":{", msg, sizeof msg) ==
	       EP_EINPUT);
	EXPECT(strstr(msg, "snapshot object_lock needs a mode"));
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
	EXPECT(parse_edited("\"name\":\"env\"", "\"name\":\"../x\"", msg, sizeof msg) == EP_EINPUT);
	EXPECT(strstr(msg, "environment name"));
	EXPECT(parse_edited("\"name\":\"env\"", "\"name\":\"e\\u001b[31m\"", msg, sizeof msg) == EP_EINPUT);
	EXPECT(parse_edited("\"name\":\"tree\"", "\"name\":\"disk\"", msg, sizeof msg) == EP_EINPUT);
	EXPECT(strstr(msg, "twice"));
	EXPECT(parse_edited("\"length\":300200", "\"length\":300201", msg, sizeof msg) == EP_EINPUT);
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

/* The sample's tree with a directory z holding a symlink up to the root, and link at the
 * root whose target goes through it: listed before z/up, so judged against the whole list. */
static int parse_chain(const char *target, char *msg, size_t cap)
{
	struct ep_manifest *m = sample();
	struct ep_error err = { 0 };
	struct ep_component *c = &m->components[1];
	ep_component_add_file(c, "esc", EP_FILE_SYMLINK, 0, 9, target, &err);
	ep_component_add_file(c, "z", EP_FILE_DIR, 0755, 9, NULL, &err);
	ep_component_add_file(c, "z/up", EP_FILE_SYMLINK, 0, 9, "..", &err);
	EXPECT(err.code == 0);
	return parse_edited_in(m, "\"version\":1", "\"version\":1", msg, cap);
}

TEST(manifest_follows_symlinks_through_each_other)
{
	char msg[1024];
	EXPECT(parse_chain("z/up/d/f", msg, sizeof msg) == 0);
	EXPECT(parse_chain("z/up/..", msg, sizeof msg) == EP_EINPUT);
	EXPECT(strstr(msg, "t: manifest: symlink 'esc' points outside its tree"));
	EXPECT(parse_chain("z/up/z/up/../d", msg, sizeof msg) == EP_EINPUT);
	EXPECT(parse_chain("esc", msg, sizeof msg) == EP_EINPUT);
	EXPECT(strstr(msg, "symlink 'esc' loops"));
}

/* The sample with kinds on the tree's files and an inventory naming them. */
static struct ep_manifest *sample_inventory(void)
{
	struct ep_manifest *m = sample();
	struct ep_component *c = &m->components[1];
	struct ep_inventory *inv = c->inventory = ep_inventory_new();
	struct ep_error err = { 0 };
	struct ep_k8s_object *o;
	c->files[1].kind = EP_KIND_TERRAFORM;
	c->files[3].kind = EP_KIND_KUBERNETES;
	ep_strings_add_sorted(&inv->providers, "registry.terraform.io/hashicorp/google", &err);
	ep_strings_add_sorted(&inv->providers, "example.com/a/b", &err);
	ep_inventory_add_module(inv, "net", "d/f", &err);
	inv->modules[0].source = strdup("./net");
	ep_tally_add(&inv->resources, "google_compute_network", 2, &err);
	ep_tally_add(&inv->resources, "a_first", 1, &err);
	ep_tally_add(&inv->data, "google_client_config", 1, &err);
	ep_inventory_add_object(inv, "empty", "Deployment", &o, &err);
	o->name = strdup("web");
	ep_strings_append(&o->images, "nginx:1.27", &err);
	ep_inventory_add_object(inv, "empty", "Namespace", &o, &err);
	EXPECT(err.code == 0);
	return m;
}

TEST(manifest_inventory_round_trip_is_exact)
{
	char *json;
	struct ep_manifest *back = round_trip(sample_inventory(), &json);
	EXPECT(strstr(json, "{\"path\":\"d/f\",\"type\":\"file\",\"kind\":\"terraform\",\"mtime\":6,"));
	EXPECT(strstr(json, "\"inventory\":{\"terraform\":{\"providers\":[\"example.com/a/b\",\"registry.terraform.io/"
			    "hashicorp/google\"],\"modules\":[{\"name\":\"net\",\"source\":\"./net\",\"path\":\"d/f\"}],"
			    "\"resources\":{\"a_first\":1,\"google_compute_network\":2},\"data\":{\"google_client_config\":1}},"
			    "\"kubernetes\":[{\"path\":\"empty\",\"kind\":\"Deployment\",\"name\":\"web\",\"images\":"
			    "[\"nginx:1.27\"]},{\"path\":\"empty\",\"kind\":\"Namespace\",\"images\":[]}]}"));
	EXPECT(back->components[1].files[1].kind == EP_KIND_TERRAFORM && back->components[1].files[0].kind == EP_KIND_NONE);
	EXPECT(back->components[1].inventory->nobjects == 2);
	free(json);
	ep_manifest_free(back);
}

TEST(manifest_inventory_rejects_malformed)
{
	static const char *const edits[][2] = {
		{ "\"kind\":\"terraform\"", "\"kind\":\"perl\"" },
		{ "\"kind\":\"terraform\"", "\"kind\":7" },
		{ "\"type\":\"dir\"", "\"type\":\"dir\",\"kind\":\"other\"" },
		{ "\"inventory\":{", "\"inventory\":{\"ansible\":[]," },
		{ "\"inventory\":{", "\"inventory\":[],\"x\":{" },
		{ "[\"example.com/a/b\",", "[\"zzz\",\"example.com/a/b\"," },
		{ "[\"example.com/a/b\",", "[\"example.com/a/b\",\"example.com/a/b\"," },
		{ "\"example.com/a/b\"", "\"bad\\u001b[31m\"" },
		{ "\"example.com/a/b\"", "\"\"" },
		{ "\"path\":\"d/f\"}]", "\"path\":\"d\"}]" },
		{ "\"path\":\"d/f\"}]", "\"path\":\"nowhere\"}]" },
		{ "\"path\":\"d/f\"}]", "\"path\":\"d/f\",\"x\":1}]" },
		{ "\"name\":\"net\",", "" },
		{ "\"a_first\":1", "\"a_first\":0" },
		{ "\"a_first\":1", "\"a_first\":\"1\"" },
		{ "\"a_first\":1,\"google_compute_network\":2", "\"google_compute_network\":2,\"a_first\":1" },
		{ "\"data\":{\"google_client_config\":1}", "\"data\":[]" },
		{ "\"kind\":\"Namespace\",", "" },
		{ "\"kind\":\"Namespace\",\"images\":[]", "\"kind\":\"Namespace\"" },
		{ "\"images\":[]", "\"images\":[1]" },
		{ "\"name\":\"web\"", "\"name\":\"\"" },
		{ "\"kubernetes\":[{", "\"kubernetes\":[7,{" },
		{ "\"inventory\":{\"terraform\"", "\"inventory\":{\"kubernetes\":[],\"terraform\"" },
		{ "\"type\":\"disk\",", "\"type\":\"disk\",\"inventory\":{}," },
	};
	for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
		char msg[1024];
		int rc = parse_edited_in(sample_inventory(), edits[i][0], edits[i][1], msg, sizeof msg);
		if (rc != EP_EINPUT)
			printf("       edit %zu was accepted (%d)\n", i, rc);
		EXPECT(rc == EP_EINPUT);
	}
	/* an inventory with neither part is valid: a tree with no Terraform and no Kubernetes */
	char msg[1024];
	EXPECT(parse_edited_in(sample_inventory(), "\"inventory\":{\"terraform\"", "\"inventory\":{},\"x-\":{\"terraform\"",
			       msg, sizeof msg) == 0);
}

TEST(inventory_text_is_printable_utf8)
{
	EXPECT(ep_inventory_text_ok("nginx:1.27") && ep_inventory_text_ok("caf\xc3\xa9") && ep_inventory_text_ok("\xf0\x9f\x98\x80"));
	EXPECT(!ep_inventory_text_ok("") && !ep_inventory_text_ok(NULL) && !ep_inventory_text_ok("a\nb"));
	EXPECT(!ep_inventory_text_ok("\x7f") && !ep_inventory_text_ok("\xc2\x9b[31m")); /* DEL, C1 CSI */
	EXPECT(!ep_inventory_text_ok("\xff") && !ep_inventory_text_ok("\xc3") && !ep_inventory_text_ok("\xc0\xaf"));
	EXPECT(!ep_inventory_text_ok("\xed\xa0\x80") && !ep_inventory_text_ok("\xf4\x90\x80\x80"));
	char big[EP_INVENTORY_TEXT_MAX + 1];
	memset(big, 'a', sizeof big - 1);
	big[EP_INVENTORY_TEXT_MAX] = '\0';
	EXPECT(!ep_inventory_text_ok(big));
	big[EP_INVENTORY_TEXT_MAX - 1] = '\0';
	EXPECT(ep_inventory_text_ok(big));
}

/* serves list chunks by digest from the pieces the writer made */
struct pieces {
	char **text;
	size_t n;
	int loads;
};

static int load_piece(void *ctx, const struct ep_chunk_ref *ref, char **data, size_t *len, struct ep_error *err)
{
	struct pieces *p = ctx;
	for (size_t i = 0; i < p->n; i++) {
		uint8_t d[EP_DIGEST_LEN];
		ep_sha256(p->text[i], strlen(p->text[i]), d);
		if (!memcmp(d, ref->digest, sizeof d) && strlen(p->text[i]) == ref->size) {
			p->loads++;
			*data = strdup(p->text[i]);
			*len = ref->size;
			return 0;
		}
	}
	return ep_fail(err, EP_EINTEGRITY, "no such list chunk");
}

TEST(manifest_extent_lists_split_and_resolve)
{
	struct ep_error err = { 0 };
	struct ep_manifest *m = ep_manifest_new("env", "2026-01-01T00:00:00Z", "envpack test");
	struct ep_component *c = ep_manifest_add_component(m, EP_COMP_DISK, "disk", "disk.raw");
	c->format = strdup("raw");
	c->virtual_size = (uint64_t)8 << 30;
	size_t total = EP_LIST_MAX_REFS + 100; /* one extent longer than a list holds */
	ep_component_add_extent(c, 1 << 20, &err);
	for (size_t i = 0; i < total; i++) {
		uint8_t d[EP_DIGEST_LEN];
		ep_sha256(&i, sizeof i, d);
		ep_component_append(c, 0, d, 300000, &err); /* longer than the minimum, as chunks are */
	}
	EXPECT(err.code == 0);
	struct pieces p = { 0 };
	p.text = ep_component_list_pieces(c, &p.n);
	EXPECT(p.text && p.n == 2);
	struct ep_chunk_ref refs[2];
	for (size_t i = 0; i < p.n; i++) {
		ep_sha256(p.text[i], strlen(p.text[i]), refs[i].digest);
		refs[i].size = (uint32_t)strlen(p.text[i]);
	}
	EXPECT(ep_component_set_lists(c, refs, p.n, &err) == 0);
	char *json = NULL;
	size_t len;
	EXPECT(ep_manifest_to_json(m, &json, &len, &err) == 0);
	EXPECT(strstr(json, "\"extent_lists\"") && !strstr(json, "\"extents\""));
	struct ep_manifest *back = NULL;
	EXPECT(ep_manifest_parse(json, len, "t", &back, &err) == 0);
	EXPECT(back->components[0].nlists == 2 && back->components[0].nchunks == 0);
	EXPECT(ep_manifest_resolve(back, load_piece, &p, "t", &err) == 0 && p.loads == 2);
	const struct ep_component *r = &back->components[0];
	/* the long extent comes back as two adjacent ones, every chunk in order */
	EXPECT(r->nchunks == total && r->nextents == 2);
	EXPECT(r->extents[0].offset == 1 << 20 && r->extents[1].offset == r->extents[0].offset + r->extents[0].length);
	EXPECT(ep_component_data_size(r) == (uint64_t)total * 300000);
	EXPECT(!memcmp(r->chunks[total - 1].digest, c->chunks[total - 1].digest, EP_DIGEST_LEN));
	/* a list that is not extents is refused */
	struct ep_manifest *again = NULL;
	EXPECT(ep_manifest_parse(json, len, "t", &again, &err) == 0);
	free(p.text[1]);
	p.text[1] = strdup("{\"not\":\"extents\"}");
	refs[1].size = (uint32_t)strlen(p.text[1]);
	ep_sha256(p.text[1], strlen(p.text[1]), again->components[0].lists[1].digest);
	again->components[0].lists[1].size = refs[1].size;
	EXPECT(ep_manifest_resolve(again, load_piece, &p, "t", &err) == EP_EINPUT);
	for (size_t i = 0; i < p.n; i++)
		free(p.text[i]);
	free(p.text);
	free(json);
	ep_manifest_free(again);
	ep_manifest_free(back);
	ep_manifest_free(m);
}

/* ---- what a disk may name, by its virtual size (BUNDLE.md, section 3, Limits) ---- */

static const char manifest_head[] =
	"{\"format\":\"envpack-bundle\",\"version\":1,\"name\":\"env\",\"created\":\"2026-01-01T00:00:00Z\",\"tool\":\"t\","
	"\"chunking\":{\"algorithm\":\"fastcdc-gear-v1\",\"min\":262144,\"avg\":1048576,\"max\":4194304},"
	"\"compression\":\"zstd\",\"components\":[";

/* Writes disk `name` of virtual size vs, listed in p's pieces. */
static void put_listed_disk(FILE *f, const char *name, uint64_t vs, const struct pieces *p)
{
	fprintf(f, "{\"type\":\"disk\",\"name\":\"%s\",\"format\":\"raw\",\"virtual_size\":%llu,\"extent_lists\":[", name,
		(unsigned long long)vs);
	for (size_t i = 0; i < p->n; i++) {
		uint8_t d[EP_DIGEST_LEN];
		char hex[EP_DIGEST_HEX];
		ep_sha256(p->text[i], strlen(p->text[i]), d);
		ep_hex(d, EP_DIGEST_LEN, hex);
		fprintf(f, "%s[\"%s\",%zu]", i ? "," : "", hex, strlen(p->text[i]));
	}
	fputs("]}", f);
}

/* Parses a manifest of one disk of virtual size vs listed in p's pieces, then reads its lists
 * (when parsing succeeded and resolve is set); the message of a refusal into msg. */
static int parse_listed(uint64_t vs, struct pieces *p, bool resolve, struct ep_manifest **out, char *msg, size_t cap)
{
	char *json = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&json, &len);
	fputs(manifest_head, f);
	put_listed_disk(f, "disk", vs, p);
	fputs("]}", f);
	fclose(f);
	struct ep_error err = { 0 };
	*out = NULL;
	int rc = ep_manifest_parse(json, len, "t", out, &err);
	if (!rc && resolve)
		rc = ep_manifest_resolve(*out, load_piece, p, "t", &err);
	snprintf(msg, cap, "%s", err.msg);
	free(json);
	return rc;
}

/* n pieces of one extent each, of `chunks` chunks of `size` bytes, one after the other. */
static void make_pieces(struct pieces *p, size_t n, size_t chunks, uint32_t size)
{
	p->text = calloc(n, sizeof *p->text);
	p->n = n;
	p->loads = 0;
	for (size_t i = 0; i < n; i++) {
		size_t len = 0;
		FILE *f = open_memstream(&p->text[i], &len);
		fprintf(f, "[{\"offset\":%llu,\"length\":%llu,\"chunks\":[", (unsigned long long)(i * chunks * size),
			(unsigned long long)chunks * size);
		for (size_t k = 0; k < chunks; k++)
			fprintf(f, "%s[\"%064zx\",%u]", k ? "," : "", k, size);
		fputs("]}]", f);
		fclose(f);
	}
}

static void free_pieces(struct pieces *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->text[i]);
	free(p->text);
}

static int count_part(void *ctx, const struct ep_component *part, struct ep_error *err)
{
	(void)err;
	size_t *seen = ctx; /* parts, chunks, the most chunks in one part */
	EXPECT(!strcmp(part->name, "disk") && !ep_component_listed(part));
	seen[0]++;
	seen[1] += part->nchunks;
	if (part->nchunks > seen[2])
		seen[2] = part->nchunks;
	return 0;
}

TEST(manifest_lists_bounded_by_virtual_size)
{
	char msg[1024];
	struct ep_manifest *m;
	struct pieces p;
	make_pieces(&p, 400, 1, 1);
	/* 400 lists of a 23.6 MB disk: it needs at most 3 */
	EXPECT(parse_listed(23600000, &p, false, &m, msg, sizeof msg) == EP_EINPUT && !m);
	EXPECT(strstr(msg, "t: manifest: disk 'disk' names 400 extent lists, more than a disk of 23600000 bytes can need (3)"));
	/* a 1 TiB disk may need 400 lists: named, they are read when asked for */
	EXPECT(parse_listed((uint64_t)1 << 40, &p, false, &m, msg, sizeof msg) == 0 && m);
	EXPECT(m && ep_component_listed(&m->components[0]) && p.loads == 0);
	ep_manifest_free(m);
	free_pieces(&p);
}

TEST(manifest_list_chunks_are_checked_as_read)
{
	char msg[1024];
	struct ep_manifest *m;
	struct pieces p;
	uint64_t tib = (uint64_t)1 << 40;
	/* an extent of 3 chunks in 300 bytes: only its last chunk may be shorter than 256 KiB */
	make_pieces(&p, 1, 3, 100);
	EXPECT(parse_listed(tib, &p, true, &m, msg, sizeof msg) == EP_EINPUT);
	EXPECT(strstr(msg, "t: manifest: an extent of disk 'disk' names 3 chunks, more than its 300 bytes can hold"));
	ep_manifest_free(m);
	free_pieces(&p);
	/* no list holds more than 16384 */
	make_pieces(&p, 1, EP_LIST_MAX_REFS + 1, 300000);
	EXPECT(parse_listed(tib, &p, true, &m, msg, sizeof msg) == EP_EINPUT);
	EXPECT(strstr(msg, "t: manifest: extent list 1 of disk 'disk' names more than 16384 chunks"));
	ep_manifest_free(m);
	free_pieces(&p);
	/* every list but the last is full */
	make_pieces(&p, 2, 10, 300000);
	EXPECT(parse_listed(tib, &p, true, &m, msg, sizeof msg) == EP_EINPUT);
	EXPECT(strstr(msg, "extent list 1 of disk 'disk' names 10 chunks (every list but the last names 16384"));
	ep_manifest_free(m);
	/* the last may hold fewer, not none */
	free(p.text[1]);
	p.text[1] = strdup("[]");
	p.n = 1;
	EXPECT(parse_listed(tib, &p, true, &m, msg, sizeof msg) == 0 && m->components[0].nchunks == 10);
	ep_manifest_free(m);
	free(p.text[0]);
	p.text[0] = p.text[1], p.text[1] = NULL;
	EXPECT(parse_listed(tib, &p, true, &m, msg, sizeof msg) == EP_EINPUT && strstr(msg, "names 0 chunks"));
	ep_manifest_free(m);
	free(p.text[0]);
	/* a list of more JSON values than 16384 references need is refused before it is parsed */
	size_t len = 0;
	FILE *f = open_memstream(&p.text[0], &len);
	fputc('[', f);
	for (int i = 0; i <= EP_LIST_MAX_REFS; i++)
		fputs(i ? ",{}" : "{}", f);
	fputc(']', f);
	fclose(f);
	EXPECT(parse_listed(tib, &p, true, &m, msg, sizeof msg) == EP_EINPUT);
	EXPECT(strstr(msg, "extent list 1 of disk 'disk' holds more JSON than 16384 chunks need"));
	ep_manifest_free(m);
	free_pieces(&p);
}

TEST(manifest_lists_stream_one_at_a_time)
{
	char msg[1024];
	struct ep_manifest *m;
	struct pieces p;
	struct ep_error err = { 0 };
	size_t seen[3] = { 0 };
	make_pieces(&p, 3, EP_LIST_MAX_REFS, 300000);
	EXPECT(parse_listed((uint64_t)1 << 40, &p, false, &m, msg, sizeof msg) == 0);
	EXPECT(ep_component_each_part(&m->components[0], load_piece, &p, "t", count_part, seen, &err) == 0);
	EXPECT(seen[0] == 3 && seen[1] == 3 * EP_LIST_MAX_REFS && seen[2] == EP_LIST_MAX_REFS && p.loads == 3);
	EXPECT(ep_component_listed(&m->components[0]) && m->components[0].nchunks == 0);
	/* resolved, the disk is its only part */
	EXPECT(ep_manifest_resolve(m, load_piece, &p, "t", &err) == 0 && !ep_component_listed(&m->components[0]));
	seen[0] = seen[1] = seen[2] = 0;
	EXPECT(ep_component_each_part(&m->components[0], load_piece, &p, "t", count_part, seen, &err) == 0);
	EXPECT(seen[0] == 1 && seen[2] == 3 * EP_LIST_MAX_REFS && p.loads == 6);
	ep_manifest_free(m);
	free_pieces(&p);
}

TEST(manifest_bounds_in_all)
{
	struct ep_manifest *m = NULL;
	struct ep_error err = { 0 };
	char *json = NULL;
	size_t len = 0;
	/* more than 65536 list chunks over two disks, each within its own bound */
	struct pieces p = { .n = EP_LIST_MAX_LISTS / 2 + 1 };
	p.text = calloc(p.n, sizeof *p.text);
	for (size_t i = 0; i < p.n; i++)
		EXPECT(asprintf(&p.text[i], "[%zu]", i) > 0);
	FILE *f = open_memstream(&json, &len);
	fputs(manifest_head, f);
	put_listed_disk(f, "a", (uint64_t)1 << 50, &p);
	fputc(',', f);
	put_listed_disk(f, "b", (uint64_t)1 << 50, &p);
	fputs("]}", f);
	fclose(f);
	EXPECT(ep_manifest_parse(json, len, "t", &m, &err) == EP_EINPUT && !m);
	EXPECT(strstr(err.msg, "the disks name more than 65536 extent lists in all"));
	free(json);
	free_pieces(&p);
	/* more than 65536 components */
	f = open_memstream(&json, &len);
	fputs(manifest_head, f);
	for (int i = 0; i <= EP_BUNDLE_COMPONENTS_MAX; i++)
		fprintf(f, "%s{\"type\":\"files\",\"name\":\"c%d\",\"entries\":[]}", i ? "," : "", i);
	fputs("]}", f);
	fclose(f);
	err = (struct ep_error){ 0 };
	EXPECT(ep_manifest_parse(json, len, "t", &m, &err) == EP_EINPUT && !m);
	EXPECT(strstr(err.msg, "65537 components, more than 65536"));
	free(json);
	/* inline extents: at most one a sector */
	f = open_memstream(&json, &len);
	fprintf(f, "%s{\"type\":\"disk\",\"name\":\"d\",\"format\":\"raw\",\"virtual_size\":1024,\"extents\":[", manifest_head);
	for (int i = 0; i < 3; i++)
		fprintf(f, "%s{\"offset\":%d,\"length\":1,\"chunks\":[[\"%064x\",1]]}", i ? "," : "", i, 0);
	fputs("]}]}", f);
	fclose(f);
	err = (struct ep_error){ 0 };
	EXPECT(ep_manifest_parse(json, len, "t", &m, &err) == EP_EINPUT && !m);
	EXPECT(strstr(err.msg, "disk 'd' names more extents than a disk of 1024 bytes can hold"));
	free(json);
}
