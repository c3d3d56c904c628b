#include <stdio.h>
#include <string.h>

#include "tests/fuzz/image_mem.h"
#include "tests/unit/unit.h"

#define MANIFEST_TYPE "application/vnd.oci.image.manifest.v1+json"
#define INDEX_TYPE "application/vnd.oci.image.index.v1+json"

/* A config for os/arch and a manifest naming it and one layer of layer_size bytes; hex gets the manifest's digest. */
static size_t add_image(struct mem_image *mi, const char *arch, unsigned layer_size, char hex[EP_DIGEST_HEX])
{
	char config[128], manifest[512], chex[EP_DIGEST_HEX], lhex[EP_DIGEST_HEX];
	snprintf(config, sizeof config, "{\"os\":\"linux\",\"architecture\":\"%s\"}", arch);
	mem_file(mi, NULL, config, strlen(config), chex);
	memset(lhex, 'a', 64);
	lhex[64] = '\0';
	snprintf(manifest, sizeof manifest,
		 "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"c\",\"digest\":\"sha256:%s\",\"size\":%zu},"
		 "\"layers\":[{\"mediaType\":\"l\",\"digest\":\"sha256:%s\",\"size\":%u}]}",
		 chex, strlen(config), lhex, layer_size);
	mem_file(mi, NULL, manifest, strlen(manifest), hex);
	return strlen(manifest);
}

/* An index of n descriptors, each a string of JSON; hex gets its digest. */
static size_t add_index(struct mem_image *mi, const char *const *descs, size_t n, char hex[EP_DIGEST_HEX])
{
	char index[2048];
	size_t at = (size_t)snprintf(index, sizeof index, "{\"schemaVersion\":2,\"manifests\":[");
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(index + at, sizeof index - at, "%s%s", i ? "," : "", descs[i]);
	snprintf(index + at, sizeof index - at, "]}");
	mem_file(mi, NULL, index, strlen(index), hex);
	return strlen(index);
}

TEST(describe_lists_an_index_by_platform)
{
	struct mem_image mi;
	char amd[EP_DIGEST_HEX], arm[EP_DIGEST_HEX], idx[EP_DIGEST_HEX], d1[300], d2[300];
	mem_init(&mi, "oci");
	size_t n1 = add_image(&mi, "amd64", 100, amd), n2 = add_image(&mi, "arm64", 200, arm);
	snprintf(d1, sizeof d1, "{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}",
		 MANIFEST_TYPE, amd, n1);
	/* the index names arm64's variant; the config does not */
	snprintf(d2, sizeof d2, "{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}}",
		 MANIFEST_TYPE, arm, n2);
	const char *descs[] = { d1, d2, d1 }; /* listed twice, shown once */
	size_t ni = add_index(&mi, descs, 3, idx);
	mem_descriptor(&mi, INDEX_TYPE, idx, ni, "multi");
	mem_descriptor(&mi, MANIFEST_TYPE, amd, n1, NULL);
	struct ep_image_list *l = NULL;
	struct ep_error err = { 0 };
	EXPECT(mem_describe(&mi, &l, &err) == 0);
	EXPECT(l && l->nimages == 2);
	if (l && l->nimages == 2) {
		const struct ep_image_info *img = &l->images[0];
		EXPECT(img->ntags == 1 && !strcmp(img->tags[0], "multi"));
		EXPECT(img->nmanifests == 2);
		EXPECT(!strcmp(img->manifests[0].platform, "linux/amd64"));
		EXPECT(!strcmp(img->manifests[1].platform, "linux/arm64/v8"));
		EXPECT(!strncmp(img->manifests[1].digest, "sha256:", 7) && !strcmp(img->manifests[1].digest + 7, arm));
		EXPECT(img->manifests[1].nlayers == 1 && img->manifests[1].layers_size == 200);
		img = &l->images[1];
		EXPECT(img->ntags == 0 && img->nmanifests == 1);
		EXPECT(!strcmp(img->manifests[0].platform, "linux/amd64")); /* from its config */
	}
	ep_image_list_free(l);
	mem_free(&mi);
}

TEST(describe_refuses_indexes_nested_too_deep)
{
	struct mem_image mi;
	char hex[EP_DIGEST_HEX], desc[300];
	mem_init(&mi, "oci");
	size_t n = add_image(&mi, "amd64", 1, hex);
	snprintf(desc, sizeof desc, "{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"size\":%zu}", MANIFEST_TYPE, hex, n);
	for (int depth = 0; depth < 10; depth++) {
		const char *descs[] = { desc };
		n = add_index(&mi, descs, 1, hex);
		snprintf(desc, sizeof desc, "{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"size\":%zu}", INDEX_TYPE, hex, n);
	}
	mem_descriptor(&mi, INDEX_TYPE, hex, n, "deep");
	struct ep_image_list *l = NULL;
	struct ep_error err = { 0 };
	EXPECT(mem_describe(&mi, &l, &err) == EP_EINPUT && strstr(err.msg, "nest"));
	EXPECT(l == NULL);
	mem_free(&mi);
}

TEST(describe_names_the_blob_that_is_not_json)
{
	struct mem_image mi;
	char hex[EP_DIGEST_HEX];
	mem_init(&mi, "oci");
	mem_file(&mi, NULL, "{\"layers\":[\x1b", 12, hex);
	mem_descriptor(&mi, MANIFEST_TYPE, hex, 12, "bad");
	struct ep_image_list *l = NULL;
	struct ep_error err = { 0 };
	EXPECT(mem_describe(&mi, &l, &err) == EP_EINPUT);
	EXPECT(strstr(err.msg, "mem.envpack") && strstr(err.msg, hex) && strstr(err.msg, "not JSON"));
	EXPECT(!strchr(err.msg, '\x1b'));
	mem_free(&mi);
}

TEST(describe_refuses_a_blob_that_does_not_match_its_name)
{
	struct mem_image mi;
	char hex[EP_DIGEST_HEX], other[EP_DIGEST_HEX];
	mem_init(&mi, "oci");
	size_t n = add_image(&mi, "amd64", 1, hex);
	mem_file(&mi, NULL, "{}", 2, other);
	free(mi.data[mi.c->nfiles - 1]); /* blobs/sha256/<other> now holds the manifest */
	mi.data[mi.c->nfiles - 1] = strdup(mi.data[mi.c->nfiles - 2]);
	mi.len[mi.c->nfiles - 1] = n;
	mem_descriptor(&mi, MANIFEST_TYPE, other, n, NULL);
	struct ep_image_list *l = NULL;
	struct ep_error err = { 0 };
	EXPECT(mem_describe(&mi, &l, &err) == EP_EINTEGRITY && strstr(err.msg, "does not match its digest"));
	mem_free(&mi);
}

TEST(describe_reads_a_docker_archive)
{
	struct mem_image mi;
	char chex[EP_DIGEST_HEX], lhex[EP_DIGEST_HEX], path[100], json[600], layer[3000] = { 0 };
	mem_init(&mi, "docker-archive");
	mem_file(&mi, "l.tar", layer, sizeof layer, lhex);
	mem_link(&mi, "x/layer.tar", "../l.tar");
	snprintf(json, sizeof json, "{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\",\"rootfs\":{\"diff_ids\":[\"sha256:%s\"]}}", lhex);
	mem_file(&mi, NULL, json, strlen(json), chex);
	snprintf(path, sizeof path, "blobs/sha256/%s", chex);
	snprintf(json, sizeof json, "[{\"Config\":\"%s\",\"RepoTags\":[\"a:1\",\"a:2\"],\"Layers\":[\"x/layer.tar\"]}]", path);
	mem_file(&mi, "manifest.json", json, strlen(json), lhex);
	mem_descriptor(&mi, "application/vnd.docker.container.image.v1+json", chex, 10, "a:1");
	struct ep_image_list *l = NULL;
	struct ep_error err = { 0 };
	EXPECT(mem_describe(&mi, &l, &err) == 0);
	if (l) {
		const struct ep_image_info *img = &l->images[0];
		EXPECT(img->ntags == 2 && !strcmp(img->tags[1], "a:2"));
		EXPECT(!strcmp(img->digest + 7, chex) && !strcmp(img->manifests[0].config, img->digest));
		EXPECT(!strcmp(img->manifests[0].platform, "linux/arm/v7"));
		EXPECT(img->manifests[0].nlayers == 1 && img->manifests[0].layers[0].size == sizeof layer);
	}
	ep_image_list_free(l);
	mem_free(&mi);
}

TEST(file_resolve_follows_links_inside_the_tree)
{
	struct mem_image mi;
	char hex[EP_DIGEST_HEX];
	mem_init(&mi, "docker-archive");
	mem_file(&mi, "a/b.tar", "x", 1, hex);
	mem_link(&mi, "c/layer.tar", "../a/b.tar");
	mem_link(&mi, "loop1", "loop2");
	mem_link(&mi, "loop2", "loop1");
	mem_link(&mi, "out", "../../a/b.tar");
	const struct ep_file_rec *f = mi.c->files;
	size_t n = mi.c->nfiles;
	EXPECT(ep_file_resolve(f, n, "a/b.tar") == 0);
	EXPECT(ep_file_resolve(f, n, "c/layer.tar") == 0);
	EXPECT(ep_file_resolve(f, n, "loop1") == -1);
	EXPECT(ep_file_resolve(f, n, "out") == -1);
	EXPECT(ep_file_resolve(f, n, "nope") == -1);
	mem_free(&mi);
}
