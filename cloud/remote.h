/* A bundle read where it lies, without a local copy: s3://BUCKET/KEY (through
 * the S3 client: --endpoint or AWS_ENDPOINT_URL, credentials from the environment) or
 * http(s)://URL, each read a Range request. */
#ifndef EP_REMOTE_H
#define EP_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct ep_remote;

bool ep_remote_is_url(const char *path);
struct ep_s3_options;
/* Opens url and learns its size; opt (NULL: defaults) says how to reach S3 and, through
 * its http member, any server. */
int ep_remote_open(struct ep_remote **out, const char *url, const struct ep_s3_options *opt, uint64_t *size,
		   struct ep_error *err);
/* Reads exactly len bytes at off; safe from several threads, each reading on a connection
 * of its own (up to a bound, then they take turns). */
int ep_remote_pread(struct ep_remote *r, void *buf, size_t len, uint64_t off, struct ep_error *err);
/* The requests sent so far (the HEAD among them) and the bytes read. */
void ep_remote_counts(struct ep_remote *r, uint64_t *requests, uint64_t *bytes);
void ep_remote_close(struct ep_remote *r);
/* url without what may hold a credential: the user information and the query (where
 * presigned and SAS URLs sign); cap bytes at most. */
void ep_remote_public_url(const char *url, char *out, size_t cap);
/* Hands emit, as text with credentials masked, the requests reading url begins with: the
 * HEAD and the GET of the first `first` bytes (S3's signed with placeholders); sends nothing. */
int ep_remote_plan(const char *url, const struct ep_s3_options *opt, uint64_t first,
		   void (*emit)(void *ctx, const char *text), void *ctx, struct ep_error *err);

#endif
