/*
 * An Azure Blob Storage client for page blobs, over base/http and
 * cloud/azure_sign: a page blob created only if its name is free
 * (If-None-Match: *), the allocated ranges of a local file written into it
 * with Put Page (at most 4 MiB each, 512-byte aligned, each with its
 * Content-MD5, several at once on connections of their own), metadata set,
 * and the blob deleted. Shared Key or SAS authorization; the account, key or
 * SAS token and the endpoint come from the environment as the az CLI reads
 * them (AZURE_STORAGE_CONNECTION_STRING, else AZURE_STORAGE_ACCOUNT with
 * AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN), never from argv, and are
 * never put in a message.
 */
#ifndef EP_AZURE_BLOB_H
#define EP_AZURE_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/http.h"
#include "base/progress.h"

#define EP_AZURE_PAGE_MAX ((uint64_t)4 << 20) /* the most one Put Page writes */
#define EP_AZURE_API_VERSION "2025-01-05"     /* x-ms-version: pinned, so answers keep their shape */

struct ep_azure_options {
	struct ep_http_options http;
	/* The blob service's URL, "https://ACCOUNT.blob.core.windows.net" or an emulator's
	 * "http://127.0.0.1:10000/devstoreaccount1"; NULL: the connection string's
	 * BlobEndpoint, else https://ACCOUNT.blob.core.windows.net. */
	const char *endpoint;
	unsigned jobs; /* Put Page requests at once, each on its own connection; 0: 4 */
};

struct ep_azure;

int ep_azure_open(struct ep_azure **out, const struct ep_azure_options *opt, struct ep_error *err);
void ep_azure_close(struct ep_azure *az);

/* The storage account's name ("" when a SAS token names none). */
const char *ep_azure_account(const struct ep_azure *az);

/* Whether a container name and a blob name are ones Azure takes (and need no escaping). */
bool ep_azure_container_ok(const char *name);
bool ep_azure_blob_name_ok(const char *name);

/* The blob's URL, without any credential. */
void ep_azure_blob_url(const struct ep_azure *az, const char *container, const char *blob, char *buf, size_t cap);

/* 1 when the blob exists, 0 when not. */
int ep_azure_blob_exists(struct ep_azure *az, const char *container, const char *blob, struct ep_error *err);

/* Creates an empty page blob of size bytes (a multiple of 512) with metadata meta
 * ("name: value" pairs as x-ms-meta- headers want them, NULL-terminated), failing
 * with EP_EINPUT when a blob of that name exists. meta should hold a value unique to
 * this upload: a blob found in the way that carries all of meta is this very create,
 * retried after its answer was lost, and taken as created. */
int ep_azure_page_blob_create(struct ep_azure *az, const char *container, const char *blob, uint64_t size,
			      const char *const *meta, struct ep_error *err);

struct ep_azure_put_stats {
	uint64_t ranges;      /* Put Page requests that succeeded */
	uint64_t bytes_sent;  /* bytes they carried */
	uint64_t bytes_zero;  /* allocated bytes found zero and not sent */
};

/* Writes the allocated ranges of fd's first size bytes (SEEK_DATA/SEEK_HOLE) into the
 * page blob, in pages of at most 4 MiB; all-zero pages are not sent (a page blob reads
 * zeros where nothing was written). */
int ep_azure_put_pages(struct ep_azure *az, const char *container, const char *blob, int fd, uint64_t size,
		       const struct ep_progress *progress, struct ep_azure_put_stats *stats, struct ep_error *err);

/* Replaces the blob's metadata. */
int ep_azure_set_metadata(struct ep_azure *az, const char *container, const char *blob, const char *const *meta,
			  struct ep_error *err);

/* Deletes the blob; one that is not there is no error. */
int ep_azure_delete(struct ep_azure *az, const char *container, const char *blob, struct ep_error *err);

/* Hands emit, as text with credentials masked, the requests that creating a page blob
 * of size bytes, writing data_bytes of it and committing it would send (the Put Page
 * requests summarised); sends nothing. meta: as for ep_azure_page_blob_create, and
 * final_meta the metadata set at commit. */
int ep_azure_plan_page_blob(struct ep_azure *az, const char *container, const char *blob, uint64_t size,
			    uint64_t data_bytes, const char *const *meta, const char *const *final_meta,
			    void (*emit)(void *ctx, const char *text), void *ctx, struct ep_error *err);

#endif
