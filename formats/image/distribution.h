/*
 * A client of the OCI distribution API (opencontainers/distribution-spec):
 * manifests and blobs pulled and pushed over base/http, with anonymous,
 * basic and bearer-token auth (the WWW-Authenticate challenge flow).
 * Credentials come from a containers auth file only (REGISTRY_AUTH_FILE,
 * ${XDG_RUNTIME_DIR}/containers/auth.json or ~/.docker/config.json, not
 * readable by group or others) and never reach a message.
 */
#ifndef EP_DISTRIBUTION_H
#define EP_DISTRIBUTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/http.h"
#include "formats/image/reference.h"

#define EP_MANIFEST_MAX ((size_t)4 << 20) /* what registries accept */

/* HOST[:PORT]/REPO[:TAG][@sha256:HEX] */
struct ep_image_ref {
	char host[256];
	char repo[256];
	char tag[129];   /* "" when none */
	char digest[72]; /* "sha256:<hex>", or "" */
};

int ep_image_ref_parse(const char *text, struct ep_image_ref *out, struct ep_error *err);

struct ep_registry_options {
	struct ep_http_options http;
	const char *const *insecure; /* HOST[:PORT]s spoken to over plain HTTP */
	size_t ninsecure;
	uint64_t upload_chunk; /* push blobs larger than this in chunks of this size (PATCH); 0: one PUT */
};

struct ep_registry;

int ep_registry_open(struct ep_registry **out, const char *host, const struct ep_registry_options *opt,
		     struct ep_error *err);
void ep_registry_close(struct ep_registry *r);
const char *ep_registry_host(const struct ep_registry *r);

/* A manifest or index by tag or digest: its bytes (heap, free()), media type and
 * digest, checked against the digest asked for or the one the registry names. */
int ep_registry_get_manifest(struct ep_registry *r, const char *repo, const char *ref, char **body, size_t *len,
			     char *media_type, size_t media_cap, char digest[72], struct ep_error *err);

typedef int (*ep_blob_sink)(void *ctx, const void *data, size_t len, struct ep_error *err);
/* Streams a blob to sink, checking its size and digest; a dropped connection
 * resumes where it stopped (Range). The sink has seen the whole blob only when this returns 0. */
int ep_registry_get_blob(struct ep_registry *r, const char *repo, const char *digest, uint64_t size,
			 ep_blob_sink sink, void *ctx, struct ep_error *err);

/* 1 when the repository has the blob (of that size), 0 when not. */
int ep_registry_has_blob(struct ep_registry *r, const char *repo, const char *digest, uint64_t size,
			 struct ep_error *err);
/* Uploads a blob: mounted from repository `from` when it is given and the
 * registry agrees, else streamed from body in one PUT, or in PATCHes of
 * upload_chunk bytes when it is set. */
int ep_registry_put_blob(struct ep_registry *r, const char *repo, const char *digest, const struct ep_http_body *body,
			 const char *from, bool *mounted, struct ep_error *err);
int ep_registry_put_manifest(struct ep_registry *r, const char *repo, const char *ref, const char *media_type,
			     const void *body, size_t len, struct ep_error *err);

/* Parses a WWW-Authenticate challenge: scheme ("Basic", "Bearer") and the realm, service and scope parameters. */
struct ep_auth_challenge {
	char scheme[16];
	char realm[1024];
	char service[256];
	char scope[512];
};
int ep_auth_challenge_parse(const char *header, struct ep_auth_challenge *out);

#endif
