/*
 * AWS Signature Version 4 (AWS4-HMAC-SHA256), the request signing S3 and
 * S3-compatible stores accept: in an Authorization header (ep_sigv4_sign) or
 * in the query string of a presigned URL (ep_sigv4_presign).
 *
 * The path and query are taken as they go on the wire, percent-encoded once
 * (build them with ep_sigv4_encode). S3 signs that path as it is; the generic
 * AWS services (and the official test suite) first normalize it and encode it
 * a second time, which the flags below ask for. Query parameters are decoded
 * and encoded again the one way SigV4 wants (unreserved characters kept,
 * everything else %XX, '+' being a plain '+'), then sorted by name and value.
 *
 * Every step is kept in the result (canonical request, string to sign,
 * signature) so tests can compare each against the suite's files. Secrets
 * never reach an error message, and the derived keys are wiped after use.
 */
#ifndef EP_SIGV4_H
#define EP_SIGV4_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "base/util.h"

#define EP_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define EP_SIGV4_MAX_EXPIRES 604800 /* seven days, the most S3 accepts for a presigned URL */

enum {
	EP_SIGV4_NORMALIZE = 1u << 0,      /* drop "." and empty segments, resolve ".." (never for S3) */
	EP_SIGV4_ENCODE_PATH = 1u << 1,    /* encode the wire path once more (every service but S3) */
	EP_SIGV4_CONTENT_SHA256 = 1u << 2, /* header mode: add and sign x-amz-content-sha256 (S3 wants it) */
	EP_SIGV4_OMIT_TOKEN = 1u << 3,     /* send the session token unsigned (services that add it after signing) */
};

struct ep_sigv4_creds {
	const char *access_key;
	const char *secret_key;
	const char *session_token; /* NULL or "" without one */
};

struct ep_sigv4_header {
	const char *name;
	const char *value;
};

struct ep_sigv4_request {
	const char *method;
	const char *path;  /* as sent, starting with '/' */
	const char *query; /* as sent, without the '?'; NULL or "" without one */
	/* The headers to sign, host among them; the same name may repeat (joined
	 * with ',' in order). x-amz-date, x-amz-security-token,
	 * x-amz-content-sha256 and authorization are the signer's to add. */
	const struct ep_sigv4_header *headers;
	size_t nheaders;
	/* Hex SHA-256 of the body, EP_SIGV4_UNSIGNED_PAYLOAD or a "STREAMING-..." mode. */
	const char *payload_hash;
	const char *region;
	const char *service;
	const char *amz_date; /* YYYYMMDD'T'HHMMSS'Z', UTC */
	unsigned flags;
};

struct ep_sigv4 {
	char *canonical_request;
	char *string_to_sign;
	char signature[EP_DIGEST_HEX];
	char *authorization; /* ep_sigv4_sign: the Authorization header's value */
	/* ep_sigv4_sign: the headers the signer added, "Name: value", NULL-terminated;
	 * send them along with the Authorization header. */
	char *headers[4];
	/* ep_sigv4_presign: the query string to send instead of req->query (the
	 * request's parameters and the X-Amz-* ones, X-Amz-Signature last). */
	char *query;
};

int ep_sigv4_sign(const struct ep_sigv4_request *req, const struct ep_sigv4_creds *creds,
		  struct ep_sigv4 *out, struct ep_error *err);
/* expires: seconds the URL stays valid, 1..EP_SIGV4_MAX_EXPIRES. */
int ep_sigv4_presign(const struct ep_sigv4_request *req, const struct ep_sigv4_creds *creds,
		     unsigned expires, struct ep_sigv4 *out, struct ep_error *err);
void ep_sigv4_release(struct ep_sigv4 *s);

/* len bytes of s percent-encoded as SigV4 wants (A-Z a-z 0-9 - . _ ~ kept, '/'
 * too when keep_slash, every other byte %XX in uppercase), in a new string;
 * NULL when out of memory. An S3 object key is encoded with keep_slash. */
char *ep_sigv4_encode(const char *s, size_t len, bool keep_slash);

#endif
