#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/store_cli.h"
#include "base/digestmap.h"
#include "formats/bundle/bundle.h"
#include "formats/image/describe.h"
#include "cloud/s3.h"
#include "verify/check.h"
#include "verify/chunk_stream.h"

static const char help[] =
	"usage: envpack inspect BUNDLE [--json]\n\n"
	"Show what a bundle holds: each component with its virtual, data and stored\n"
	"sizes, the compression ratio, and the key id the bundle claims to be signed\n"
	"with; for container images, each image's tag and digest, and per platform its\n"
	"manifest, config and layers with their sizes; for file trees, how many files\n"
	"of each kind, Terraform providers, modules and resource types, and Kubernetes\n"
	"objects (Kind/namespace/name) with their images. Inspect only reads: it checks\n"
	"the digest of each chunk it decompresses, not the signature (use 'envpack\n"
	"verify' for that).\n\n"
	"Options:\n"
	"      --json     print one JSON object on stdout (with a store's S3 requests)\n"
	"  -h, --help     this help\n"
	CLI_DECRYPT_HELP
	CLI_REMOTE_HELP;

struct sizes {
	uint64_t data, stored, extents, chunks;
	size_t files, dirs, symlinks;
	size_t kinds[EP_KIND_COUNT]; /* regular files by kind */
};

struct sizing {
	const struct ep_bundle *b;
	struct ep_digestmap *seen; /* chunks of the bundle asked about already */
	struct sizes *s;
	uint8_t (*digests)[EP_DIGEST_LEN]; /* EP_BUNDLE_ASK_BATCH not asked about yet, and their sizes */
	uint64_t *sizes;
	size_t n;
};

/* The chunks gathered, asked about together (a store: many at a time); those held charged. */
static int charge(struct sizing *z, struct ep_error *err)
{
	int rc = z->n ? ep_bundle_chunk_sizes(z->b, (const uint8_t(*)[EP_DIGEST_LEN])z->digests, z->n, z->sizes, err) : 0;
	for (size_t i = 0; !rc && i < z->n; i++)
		z->s->stored += z->sizes[i];
	z->n = 0;
	return rc;
}

/* Stored bytes are charged to the first component that uses a chunk. */
static int add_part(void *ctx, const struct ep_component *part, struct ep_error *err)
{
	struct sizing *z = ctx;
	z->s->data += ep_component_data_size(part);
	z->s->extents += part->nextents;
	z->s->chunks += part->nchunks;
	int rc = 0;
	for (size_t i = 0; !rc && i < part->nchunks; i++) {
		if (ep_digestmap_get(z->seen, part->chunks[i].digest, NULL))
			continue;
		if (!ep_digestmap_put(z->seen, part->chunks[i].digest, 1))
			return ep_oom(err);
		memcpy(z->digests[z->n++], part->chunks[i].digest, EP_DIGEST_LEN);
		if (z->n == EP_BUNDLE_ASK_BATCH)
			rc = charge(z, err);
	}
	return rc;
}

/* A disk's lists are read one at a time, never all held at once. */
static int component_sizes(const struct ep_bundle *b, const struct ep_component *c, struct ep_digestmap *seen,
			   struct sizes *s, struct ep_error *err)
{
	*s = (struct sizes){ 0 };
	struct sizing z = { b, seen, s, malloc(EP_BUNDLE_ASK_BATCH * EP_DIGEST_LEN),
			    malloc(EP_BUNDLE_ASK_BATCH * sizeof(uint64_t)), 0 };
	int rc = z.digests && z.sizes ? ep_bundle_each_part(b, c, add_part, &z, err) : ep_oom(err);
	if (!rc)
		rc = charge(&z, err);
	free(z.digests);
	free(z.sizes);
	if (rc)
		return rc;
	for (size_t i = 0; i < c->nfiles; i++) {
		s->files += c->files[i].type == EP_FILE_REG;
		s->dirs += c->files[i].type == EP_FILE_DIR;
		s->symlinks += c->files[i].type == EP_FILE_SYMLINK;
		s->kinds[c->files[i].kind]++;
	}
	return 0;
}

static double ratio(uint64_t data, uint64_t stored)
{
	return stored ? (double)data / (double)stored : 0;
}

static void print_layers(const struct ep_image_manifest *im)
{
	char h[32];
	cli_human(im->layers_size, h, sizeof h);
	printf("config %.19s, %zu layer%s, %s (%" PRIu64 " bytes)\n", im->config, im->nlayers, im->nlayers == 1 ? "" : "s",
	       h, im->layers_size);
	for (size_t l = 0; l < im->nlayers; l++) {
		cli_human(im->layers[l].size, h, sizeof h);
		printf("            %.19s %10s  %" PRIu64 " bytes\n", im->layers[l].digest, h, im->layers[l].size);
	}
}

/* Per image: tags, digest and type; per platform: the manifest (of an index), config and layers. */
static void print_images(const struct ep_image_list *l)
{
	for (size_t k = 0; k < l->nimages; k++) {
		const struct ep_image_info *img = &l->images[k];
		char tags[512] = "(untagged)";
		for (size_t t = 0, at = 0; t < img->ntags && at < sizeof tags; t++)
			at += (size_t)snprintf(tags + at, sizeof tags - at, "%s%s", t ? "," : "", img->tags[t]);
		printf("        %-12s %s %s\n", tags, img->digest, img->media_type ? img->media_type : "");
		for (size_t i = 0; i < img->nmanifests; i++) {
			const struct ep_image_manifest *im = &img->manifests[i];
			printf("          %-16s ", im->platform ? im->platform : "(platform unknown)");
			if (strcmp(im->digest, img->digest) != 0 && *im->digest)
				printf("manifest %s\n                           ", im->digest);
			print_layers(im);
		}
	}
}

/* One row of a list under a component: the label on its first row only. */
__attribute__((format(printf, 2, 3))) static void row(const char **label, const char *fmt, ...)
{
	va_list ap;
	printf("        %-11s ", *label);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	*label = "";
}

static void print_tallies(const char *label, const struct ep_tallies *t)
{
	for (size_t i = 0; i < t->n; i++)
		row(&label, "%s %" PRIu64, t->v[i].name, t->v[i].count);
}

/* Kinds with counts on one line, then what the inventory found, one item a row. */
static void print_inventory(const struct ep_component *c, const struct sizes *s)
{
	char kinds[1024] = "";
	for (size_t k = EP_KIND_NONE + 1, at = 0; k < EP_KIND_COUNT && at < sizeof kinds; k++)
		if (s->kinds[k])
			at += (size_t)snprintf(kinds + at, sizeof kinds - at, "%s%s %zu", at ? ", " : "",
					       ep_file_kind_name(k), s->kinds[k]);
	const char *label = "kinds";
	if (*kinds)
		row(&label, "%s", kinds);
	const struct ep_inventory *inv = c->inventory;
	if (!inv)
		return;
	label = "providers";
	for (size_t i = 0; i < inv->providers.n; i++)
		row(&label, "%s", inv->providers.v[i]);
	label = "modules";
	for (size_t i = 0; i < inv->nmodules; i++)
		row(&label, "%s = %s (%s)", inv->modules[i].name, inv->modules[i].source ? inv->modules[i].source : "?",
		    inv->modules[i].path);
	print_tallies("resources", &inv->resources);
	print_tallies("data", &inv->data);
	label = "kubernetes";
	for (size_t i = 0; i < inv->nobjects; i++) {
		const struct ep_k8s_object *o = &inv->objects[i];
		char images[2048] = "";
		for (size_t k = 0, at = 0; k < o->images.n && at < sizeof images; k++)
			at += (size_t)snprintf(images + at, sizeof images - at, "%s%s", k ? ", " : "  images: ",
					       o->images.v[k]);
		row(&label, "%s/%s%s%s%s", o->kind, o->namespace ? o->namespace : "", o->namespace ? "/" : "",
		    o->name ? o->name : "(no name)", images);
	}
}

/* Manifest text bound for a terminal, control bytes made '?' (JSON output escapes its own); the
 * names, inventory and machine fields are checked when the manifest is parsed, images when described. */
static void make_printable(struct ep_manifest *m)
{
	ep_printable(m->created);
	ep_printable(m->tool);
	for (size_t i = 0; i < m->ncomponents; i++)
		ep_printable(m->components[i].source);
}

static void print_text(const struct ep_bundle *b, const struct ep_manifest *m, const char *key_id,
		       const struct sizes *sizes, const struct sizes *total, struct ep_image_list *const *images)
{
	char h1[32], h2[32], h3[32];
	cli_human(ep_bundle_file_size(b), h1, sizeof h1);
	printf("bundle      %s (%s)\n", ep_bundle_path(b), h1);
	printf("environment %s\ncreated     %s by %s\n", m->name, m->created, m->tool);
	if (*key_id)
		printf("signer      key %s (claimed; 'envpack verify' checks it)\n", key_id);
	else
		printf("signer      none: the bundle is unsigned\n");
	printf("components  %zu\n", m->ncomponents);
	for (size_t i = 0; i < m->ncomponents; i++) {
		const struct ep_component *c = &m->components[i];
		const struct sizes *s = &sizes[i];
		cli_human(s->data, h2, sizeof h2);
		cli_human(s->stored, h3, sizeof h3);
		if (c->type == EP_COMP_DISK) {
			cli_human(c->virtual_size, h1, sizeof h1);
			printf("  disk  %-16s %s from %s: virtual %s, allocated %s in %" PRIu64 " extents, stored %s (ratio %.2f)\n",
			       c->name, c->format, c->source ? c->source : "?", h1, h2, s->extents, h3,
			       ratio(s->data, s->stored));
		} else if (c->type == EP_COMP_IMAGE) {
			printf("  image %-16s %s from %s: %zu images, %zu files, %s, stored %s (ratio %.2f)\n", c->name,
			       c->format ? c->format : "oci", c->source ? c->source : "?", c->nimages, s->files, h2, h3,
			       ratio(s->data, s->stored));
			print_images(images[i]);
		} else {
			printf("  files %-16s from %s: %zu files, %zu directories, %zu symlinks, %s, stored %s (ratio %.2f)\n",
			       c->name, c->source ? c->source : "?", s->files, s->dirs, s->symlinks, h2, h3,
			       ratio(s->data, s->stored));
			print_inventory(c, s);
		}
	}
	if (m->nmachines)
		printf("machines    %zu\n", m->nmachines);
	for (size_t i = 0; i < m->nmachines; i++) {
		const struct ep_machine *vm = &m->machines[i];
		printf("  vm    %-16s %u vCPU, %llu MiB, %s, %s%s%s, os %s\n", vm->name, vm->vcpus,
		       (unsigned long long)vm->memory_mib, ep_machine_firmware_text(vm), vm->machine ? "machine " : "",
		       vm->machine ? vm->machine : "", vm->machine ? "" : "no machine type", vm->os);
		for (size_t k = 0; k < vm->ndisks; k++)
			printf("        disk %-16s on %s%s%.0u\n", vm->disks[k].component, vm->disks[k].bus,
			       vm->disks[k].boot ? ", boot " : "", vm->disks[k].boot);
		for (size_t k = 0; k < vm->nnics; k++)
			printf("        nic  %-16s %s on %s\n", vm->nics[k].model, vm->nics[k].mac ? vm->nics[k].mac : "(no MAC)",
			       vm->nics[k].network ? vm->nics[k].network : "(no network)");
	}
	cli_human(total->data, h2, sizeof h2);
	cli_human(total->stored, h3, sizeof h3);
	printf("total       %s of data stored in %s (ratio %.2f, compression and deduplication)\n", h2, h3,
	       ratio(total->data, total->stored));
}

static json_t *manifest_json(const struct ep_image_manifest *im)
{
	json_t *layers = json_array();
	for (size_t l = 0; l < im->nlayers; l++)
		json_array_append_new(layers, json_pack("{s:s,s:I}", "digest", im->layers[l].digest, "size",
							(json_int_t)im->layers[l].size));
	return json_pack("{s:s?,s:s?,s:s?,s:s,s:o,s:I}", "platform", im->platform, "digest",
			 *im->digest ? im->digest : NULL, "mediaType", im->media_type, "config", im->config, "layers",
			 layers, "layers_size", (json_int_t)im->layers_size);
}

/* Each image's descriptor as the bundle's manifest has it, with what its blobs say. */
static json_t *images_json(const struct ep_component *c, const struct ep_image_list *l)
{
	json_t *imgs = json_array();
	for (size_t k = 0; k < c->nimages && k < l->nimages; k++) {
		const struct ep_image_info *img = &l->images[k];
		json_t *d = json_loads(c->images[k], 0, NULL), *tags = json_array(), *manifests = json_array();
		for (size_t t = 0; t < img->ntags; t++)
			json_array_append_new(tags, json_string(img->tags[t]));
		for (size_t i = 0; i < img->nmanifests; i++)
			json_array_append_new(manifests, manifest_json(&img->manifests[i]));
		json_object_set_new(d, "ref", img->ntags ? json_string(img->tags[0]) : json_null());
		json_object_set_new(d, "tags", tags);
		json_object_set_new(d, "manifests", manifests);
		json_array_append_new(imgs, d);
	}
	return imgs;
}

static void print_json(const struct ep_bundle *b, const struct ep_manifest *m, const char *key_id,
		       const struct sizes *sizes, const struct sizes *total, struct ep_image_list *const *images,
		       const struct ep_store *st)
{
	json_t *comps = json_array();
	for (size_t i = 0; i < m->ncomponents; i++) {
		const struct ep_component *c = &m->components[i];
		static const char *const type_name[] = { [EP_COMP_DISK] = "disk", [EP_COMP_FILES] = "files",
							  [EP_COMP_IMAGE] = "image" };
		json_t *o = json_pack("{s:s,s:s,s:s?,s:I,s:I,s:I}", "type", type_name[c->type],
				      "name", c->name, "source", c->source, "data_bytes", (json_int_t)sizes[i].data,
				      "stored_bytes", (json_int_t)sizes[i].stored, "chunks", (json_int_t)sizes[i].chunks);
		if (c->type == EP_COMP_DISK) {
			json_object_set_new(o, "format", json_string(c->format));
			json_object_set_new(o, "virtual_bytes", json_integer((json_int_t)c->virtual_size));
			json_object_set_new(o, "allocated_bytes", json_integer((json_int_t)sizes[i].data));
			if (c->checkpoint)
				json_object_set_new(o, "checkpoint", json_string(c->checkpoint));
			json_object_set_new(o, "extents", json_integer((json_int_t)sizes[i].extents));
		} else if (c->type == EP_COMP_IMAGE) {
			json_object_set_new(o, "format", json_string(c->format ? c->format : "oci"));
			json_object_set_new(o, "images", images_json(c, images[i]));
		} else {
			json_object_set_new(o, "files", json_integer((json_int_t)sizes[i].files));
			json_object_set_new(o, "directories", json_integer((json_int_t)sizes[i].dirs));
			json_object_set_new(o, "symlinks", json_integer((json_int_t)sizes[i].symlinks));
			json_t *kinds = json_object();
			for (size_t k = EP_KIND_NONE + 1; k < EP_KIND_COUNT; k++)
				if (sizes[i].kinds[k])
					json_object_set_new(kinds, ep_file_kind_name(k), json_integer((json_int_t)sizes[i].kinds[k]));
			json_object_set_new(o, "kinds", kinds);
			if (c->inventory)
				json_object_set_new(o, "inventory", ep_inventory_to_json(c->inventory));
		}
		json_array_append_new(comps, o);
	}
	json_t *root = json_pack("{s:s,s:I,s:s,s:s,s:s,s:s?,s:o,s:I,s:I,s:f}", "bundle", ep_bundle_path(b), "bundle_bytes",
				 (json_int_t)ep_bundle_file_size(b), "name", m->name, "created", m->created, "tool",
				 m->tool, "signer_key_id", *key_id ? key_id : NULL, "components", comps, "data_bytes",
				 (json_int_t)total->data, "stored_bytes", (json_int_t)total->stored, "ratio",
				 ratio(total->data, total->stored));
	json_t *machines = json_array();
	for (size_t i = 0; i < m->nmachines; i++)
		json_array_append_new(machines, ep_machine_to_json(&m->machines[i]));
	json_object_set_new(root, "machines", machines);
	json_t *requests = st ? cli_store_requests_json(st) : NULL; /* a store's snapshot on S3 */
	if (requests)
		json_object_set_new(root, "requests", requests);
	json_dumpf(root, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(root);
}

/* Image blobs come through the chunk stream, so each chunk is checked against its digest. */
static int read_record(void *ctx, const struct ep_component *c, const struct ep_file_rec *f, char **out, size_t *len,
		       struct ep_error *err)
{
	return ep_chunk_stream_read(ctx, c->chunks + f->first, f->count, (size_t)f->size, out, len, err);
}

static int describe_images(const struct ep_bundle *b, const struct ep_manifest *m, struct ep_image_list **images,
			   struct ep_error *err)
{
	struct ep_chunk_stream *s = NULL;
	int rc = 0;
	for (size_t i = 0; !rc && i < m->ncomponents; i++) {
		if (m->components[i].type != EP_COMP_IMAGE)
			continue;
		if (!s && (rc = ep_chunk_stream_new(&s, b, 1, err)))
			break;
		rc = ep_image_describe(&m->components[i], ep_bundle_path(b), read_record, s, &images[i], err);
	}
	ep_chunk_stream_free(s);
	return rc;
}

int cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'J' },
					      { "help", no_argument, NULL, 'h' },
					      CLI_S3_OPTIONS, CLI_NET_OPTIONS, CLI_DECRYPT_OPTION,
					      { 0 } };
	struct cli_net net = { 0 };
	struct ep_s3_options remote = { 0 };
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int r = cli_remote_option("inspect", c, optarg, &net, &remote);
		if (r < 0)
			return 2;
		if (r)
			continue;
		if (c == 'J')
			json = true;
		else if (c == 'h')
			return cli_help(help);
		else
			return cli_usage("inspect", "unknown option");
	}
	if (optind + 1 != argc)
		return cli_usage("inspect", "name one bundle");
	struct ep_error err = { 0 };
	struct ep_bundle *b;
	struct ep_store *st = NULL;
	struct ep_manifest *m;
	char signer[EP_KEY_ID_HEX];
	const struct ep_trust trust = { .insecure = true };
	if (cli_bundle_open(argv[optind], &remote, &b, &st, &err))
		return cli_fail(&err);
	if (ep_bundle_load_lazily(b, &trust, &m, signer, &err)) {
		ep_bundle_close(b);
		ep_store_close(st);
		return cli_fail(&err);
	}
	char key_id[EP_KEY_ID_HEX] = "";
	size_t siglen;
	const char *sigjson = ep_bundle_signature(b, &siglen);
	struct ep_signature sig;
	if (sigjson && !ep_signature_parse(sigjson, siglen, argv[optind], &sig, &err))
		memcpy(key_id, sig.key_id, sizeof key_id);
	struct sizes *sizes = calloc(m->ncomponents + 1, sizeof *sizes), total = { 0 };
	struct ep_digestmap *seen = ep_digestmap_new();
	int rc = seen && sizes ? 0 : ep_oom(&err);
	for (size_t i = 0; !rc && i < m->ncomponents; i++) {
		rc = component_sizes(b, &m->components[i], seen, &sizes[i], &err);
		total.data += sizes[i].data;
		total.stored += sizes[i].stored;
	}
	ep_digestmap_free(seen);
	struct ep_image_list **images = calloc(m->ncomponents + 1, sizeof *images);
	if (!rc && !images)
		rc = ep_oom(&err);
	else if (!rc)
		rc = describe_images(b, m, images, &err);
	if (!rc && json)
		print_json(b, m, key_id, sizes, &total, images, st);
	else if (!rc) {
		make_printable(m);
		print_text(b, m, key_id, sizes, &total, images);
	}
	for (size_t i = 0; images && i < m->ncomponents; i++)
		ep_image_list_free(images[i]);
	free(images);
	free(sizes);
	ep_manifest_free(m);
	ep_bundle_close(b);
	ep_store_close(st);
	return rc ? cli_fail(&err) : 0;
}
