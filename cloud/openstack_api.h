/*
 * An OpenStack client over base/http: a Keystone v3 token (password or
 * application credential) with the service catalog it carries, Glance v2
 * images (created, uploaded streamed from a file and checked against the
 * checksums Glance answers with, patched, deleted) and Heat stacks.
 * Images are also read back (found by id or name, downloaded resumed with Range
 * requests after a cut and checked against Glance's hash) for image:glance:. Another
 * service's JSON calls go through ep_os_call with the same token (Nova's: cloud/nova.c).
 * Credentials come from the OS_* environment an openrc file sets, or from
 * clouds.yaml (OS_CLOUD or options.cloud; the file must be readable by its
 * owner only); never from argv, never printed. On a dry run (options.emit
 * set) every call hands the request it would send to emit, as
 * ep_http_request_text renders it (credentials masked), and sends nothing.
 */
#ifndef EP_OPENSTACK_H
#define EP_OPENSTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/http.h"
#include "base/progress.h"

#define EP_OS_URL_MAX 1024
#define EP_OS_ID_MAX 65 /* image ids are UUIDs; room for a NUL */

struct ep_os_options {
	struct ep_http_options http; /* cacert NULL: OS_CACERT, or clouds.yaml's cacert */
	const char *cloud;     /* a clouds.yaml entry; NULL: OS_CLOUD, else the OS_* variables */
	const char *image_url; /* a standalone Glance; NULL: OS_IMAGE_URL, else the catalog's */
	const char *heat_url;  /* NULL: OS_ORCHESTRATION_URL, else the catalog's */
	const char *compute_url; /* Nova's; NULL: the catalog's */
	const char *region;    /* NULL: OS_REGION_NAME (or the cloud's region_name) */
	const char *interface; /* NULL: OS_INTERFACE (or the cloud's), else public */
	void (*emit)(void *ctx, const char *text); /* set: a dry run */
	void *emit_ctx;
};

struct ep_os;

/* Reads the credentials; sends nothing. */
int ep_os_open(struct ep_os **out, const struct ep_os_options *opt, struct ep_error *err);
void ep_os_close(struct ep_os *os);

/* Gets a token and finds the image (and orchestration) endpoints in its catalog. */
int ep_os_auth(struct ep_os *os, struct ep_error *err);
/* The image endpoint ("{image}" on a dry run without one given). */
const char *ep_os_image_endpoint(const struct ep_os *os);

/* The orchestration endpoint; "" when neither given nor in the catalog. */
const char *ep_os_heat_endpoint(const struct ep_os *os);
/* The compute (Nova) endpoint, as given or in the catalog ("{compute}" on a dry run without
 * one given); "" when there is none. */
const char *ep_os_compute_endpoint(const struct ep_os *os);

/* An image found by name: its id and status ("active", "queued", "saving", ...). */
struct ep_os_image_info {
	char id[EP_OS_ID_MAX];
	char status[32];
};
/* 1 and the first one's id and status when an image of that name is visible to
 * the project, else 0 (a dry run: 0). */
int ep_os_image_named(struct ep_os *os, const char *name, struct ep_os_image_info *found, struct ep_error *err);
/* POST /v2/images with the JSON body; id gets the new image's ("{id}" on a dry run). */
int ep_os_image_create(struct ep_os *os, const char *body, char id[EP_OS_ID_MAX], struct ep_error *err);
/* PATCH the image with a JSON patch (openstack-images-v2.1-json-patch). */
int ep_os_image_patch(struct ep_os *os, const char *id, const char *patch, struct ep_error *err);
/* PUT path's bytes as the image's data, streamed, then checks that the image is
 * active with the size, MD5 checksum and os_hash_value of what was sent. On a
 * dry run path is not read and `what` ("the disk as qcow2") stands for the body. */
int ep_os_image_upload(struct ep_os *os, const char *id, const char *path, const char *what,
		       const struct ep_progress *progress, struct ep_error *err);
int ep_os_image_delete(struct ep_os *os, const char *id, struct ep_error *err);

/* An image as Glance describes it (GET /v2/images/ID), for reading it back. */
struct ep_os_image {
	char id[EP_OS_ID_MAX];
	char name[256], status[32], disk_format[32];
	char url[EP_OS_URL_MAX + 128]; /* .../v2/images/ID */
	uint64_t size;
	char *json; /* the whole answer, for its properties (ep_os_image_prop) */
};
void ep_os_image_release(struct ep_os_image *im);
/* The image of id ref, else the one image named ref (none or several: EP_EINPUT, naming
 * the candidates). On a dry run the GET it would send is shown and *im names "{id}". */
int ep_os_image_find(struct ep_os *os, const char *ref, struct ep_os_image *im, struct ep_error *err);
/* GET /v2/images/ID whatever its status: 1 and *im (release it), 0 when Glance has no such
 * image. On a dry run the GET is shown and 0 returned. */
int ep_os_image_get(struct ep_os *os, const char *id, struct ep_os_image *im, struct ep_error *err);
/* Property key of the image as text (a string, or an integer written out), or NULL. */
const char *ep_os_image_prop(const struct ep_os_image *im, const char *key, char *buf, size_t cap);
/* GETs the image's data into fd (from offset 0), continuing with a Range request where
 * a cut connection stopped (a bounded number of times), then checks it against
 * os_hash_algo/os_hash_value, else the MD5 checksum: a mismatch is EP_EINTEGRITY.
 * On a dry run the GET is shown and fd not touched. */
int ep_os_image_download(struct ep_os *os, const struct ep_os_image *im, int fd, const struct ep_progress *progress,
			 struct ep_error *err);
/* As ep_os_image_download, the data handed to push in order instead (each byte once,
 * however often the connection was cut), hashed as it passes: once every byte was pushed,
 * a mismatch is still EP_EINTEGRITY, so the consumer must not take the bytes as sound
 * before this returns 0. A failing push stops the download with its failure. */
int ep_os_image_stream(struct ep_os *os, const struct ep_os_image *im,
		       int (*push)(void *ctx, const void *data, size_t len, struct ep_error *err), void *ctx,
		       struct ep_error *err);
/* The requests sent so far (retries of one request not counted). */
uint64_t ep_os_requests(const struct ep_os *os);

/* Whether requests are only shown (options.emit). */
bool ep_os_dry_run(const struct ep_os *os);
/* method url with the token, json (NULL: no body) and header (one more "Name: value", or
 * NULL): any answer in *resp (release it), failing only when none came; once: never sent
 * twice (it makes something each time). On a dry run the request is shown and *resp
 * zeroed. For another service's calls (cloud/nova.c). */
int ep_os_call(struct ep_os *os, const char *method, const char *url, const char *header, const char *json, bool once,
	       const char *what, struct ep_http_response *resp, struct ep_error *err);
/* Fails with code: "what: STATUS message", the message from an OpenStack error body. */
int ep_os_answer_error(const struct ep_http_response *resp, const char *what, int code, struct ep_error *err);
/* The answer's JSON object (json_decref it), or NULL having failed "what: the answer is not a JSON object". */
struct json_t *ep_os_answer_json(const struct ep_http_response *resp, const char *what, struct ep_error *err);

/* POST {orchestration}/stacks with the JSON body. */
int ep_os_stack_create(struct ep_os *os, const char *body, struct ep_error *err);

/* The URL of the endpoint of service `type` ("image") for interface ("public")
 * and region (NULL: any) in a Keystone v3 token answer (untrusted JSON). */
int ep_os_catalog_endpoint(const char *json, size_t len, const char *type, const char *interface,
			   const char *region, char *url, size_t cap, struct ep_error *err);

#endif
