/*
 * An Azure Blob Storage client for page blobs, over base/http and
 * cloud/azure_sign: a page blob created only if its name is free
 * (If-None-Match: *), the allocated ranges of a local file written into it
 * with Put Page (at most 4 MiB each, 512-byte aligned, each with its
 * Content-MD5, several at once on connections of their own), metadata set,
 * and the blob deleted; read back by its allocated ranges (Get Page Ranges,
 * then ranged GETs checked against the Content-MD5 Azure sends). Shared Key
 * or SAS authorization; the account, key or SAS token and the endpoint come
 * from the environment as the az CLI reads them (AZURE_STORAGE_CONNECTION_STRING,
 * else AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN),
 * or from a SAS URL, and are never put in a message.
 */
#ifndef EP_AZURE_BLOB_H
#define EP_AZURE_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/extent.h"
#include "base/http.h"
#include "base/progress.h"

#define EP_AZURE_PAGE_MAX ((uint64_t)4 << 20) /* the most one Put Page writes */
#define EP_AZURE_JOBS_MAX 16
#define EP_AZURE_API_VERSION "2025-01-05"     /* x-ms-version: pinned, so answers keep their shape */

struct ep_azure_options {
	struct ep_http_options http;
	/* The blob service's URL, "https://ACCOUNT.blob.core.windows.net" or an emulator's
	 * "http://127.0.0.1:10000/devstoreaccount1"; NULL: the connection string's
	 * BlobEndpoint, else https://ACCOUNT.blob.core.windows.net. */
	const char *endpoint;
	unsigned jobs; /* Put Page requests at once, each on its own connection; 0: 4 */
	/* A SAS token (without '?', as a SAS URL carries it) used instead of the environment's
	 * credentials; endpoint must then be set. */
	const char *sas;
};

struct ep_azure;

int ep_azure_open(struct ep_azure **out, const struct ep_azure_options *opt, struct ep_error *err);
/* jobs= as the user gave it (NULL: 0, the client's default), 1 to EP_AZURE_JOBS_MAX; a bad one
 * is EP_EINPUT naming it as `how` says it is given ("azure: -o"). */
int ep_azure_jobs_parse(const char *text, const char *how, unsigned *jobs, struct ep_error *err);
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

/* ---- reading ---- */

/* A blob's URL "http(s)://HOST[/ACCOUNT]/CONTAINER/BLOB?SAS" split into the service's endpoint
 * (the account is the path's first segment when HOST is an IP address or localhost, as the
 * emulator and Azure's SDKs take it), the container and blob names (as ep_azure_container_ok
 * and ep_azure_blob_name_ok allow) and the SAS token (heap, without '?'; free it). Messages
 * never quote the token. */
int ep_azure_parse_url(const char *url, char *endpoint, size_t ecap, char *container, size_t ccap, char *blob,
		       size_t bcap, char **sas, struct ep_error *err);

/* What a blob's properties (Get Blob Properties, a HEAD) say. */
struct ep_azure_blob_props {
	uint64_t length;
	char type[24];  /* x-ms-blob-type: "PageBlob", "BlockBlob", "AppendBlob" */
	char etag[100]; /* as sent, quotes included: later reads ask If-Match it */
	char state[32]; /* the metadata envpack_state the azure: target sets, "" when absent */
};
/* The blob's properties; one that is not there is EP_EINPUT, named. */
int ep_azure_blob_props(struct ep_azure *az, const char *container, const char *blob,
			struct ep_azure_blob_props *out, struct ep_error *err);

/* The page ranges of one Get Page Ranges answer (a PageList) appended to *out (*n of *cap
 * used; free *out), checked to be whole 512-byte pages, in order and within length bytes;
 * marker (cap bytes) gets its NextMarker, "" on the last page. */
int ep_azure_page_list_parse(const char *xml, size_t len, uint64_t length, struct ep_extent **out, size_t *n,
			     size_t *cap, char *marker, size_t mcap, struct ep_error *err);
/* Get Page Ranges: the allocated ranges of the page blob of length bytes, in order, page
 * after page (NextMarker), of the version etag names (If-Match); *requests counts those sent. */
int ep_azure_page_ranges(struct ep_azure *az, const char *container, const char *blob, const char *etag,
			 uint64_t length, struct ep_extent **out, size_t *n, uint64_t *requests, struct ep_error *err);

/* A connection of its own for a reading thread (ep_http_free it). */
int ep_azure_connection(const struct ep_azure *az, struct ep_http **out, struct ep_error *err);
/* Reads len bytes (at most EP_AZURE_PAGE_MAX) at off of the blob's version etag through
 * via (NULL: the client's own connection), checked against the Content-MD5 Azure sends for
 * them (EP_EINTEGRITY when it differs); an answer cut short is asked again (--retries).
 * *requests counts the GETs sent. */
int ep_azure_read(struct ep_azure *az, struct ep_http *via, const char *container, const char *blob,
		  const char *etag, void *buf, size_t len, uint64_t off, uint64_t *requests, struct ep_error *err);

/* Hands emit, as text with credentials masked, the requests reading the blob by its page
 * ranges would send (the ranged GETs summarised); sends nothing. */
int ep_azure_plan_read(struct ep_azure *az, const char *container, const char *blob,
		       void (*emit)(void *ctx, const char *text), void *ctx, struct ep_error *err);

/* Hands emit, as text with credentials masked, the requests that creating a page blob
 * of size bytes, writing data_bytes of it and committing it would send (the Put Page
 * requests summarised); sends nothing. meta: as for ep_azure_page_blob_create, and
 * final_meta the metadata set at commit. */
int ep_azure_plan_page_blob(struct ep_azure *az, const char *container, const char *blob, uint64_t size,
			    uint64_t data_bytes, const char *const *meta, const char *const *final_meta,
			    void (*emit)(void *ctx, const char *text), void *ctx, struct ep_error *err);

#endif
