/*
 * Azure Storage Shared Key authorization ("Authorize with Shared Key",
 * version 2009-09-19 and later, Blob service): the string to sign made of
 * the verb, twelve standard headers, the canonicalized x-ms- headers and the
 * canonicalized resource, signed with HMAC-SHA256 under the base64-decoded
 * account key. Nothing here touches the network.
 */
#ifndef EP_AZURE_SIGN_H
#define EP_AZURE_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct ep_azure_sign_request {
	const char *method;
	const char *account;
	const char *path;  /* the URL's path as sent (percent-encoded): "/container/blob", or
			      "/devstoreaccount1/container/blob" for an emulator's path-style URL */
	const char *query; /* percent-encoded, without '?'; NULL or "" for none */
	/* "Name: value", NULL-terminated: the standard headers that are signed
	 * (Content-MD5, Content-Type, If-None-Match, Range, ...) and every x-ms- one. */
	const char *const *headers;
	uint64_t content_length; /* 0: signed as empty, as versions 2015-02-21 and later want */
};

/* The string to sign (heap, free it). */
int ep_azure_string_to_sign(const struct ep_azure_sign_request *r, char **out, struct ep_error *err);

/* The Authorization header's value, "SharedKey ACCOUNT:SIGNATURE" (heap, free it);
 * key is the account key in base64, as the portal and connection strings show it. */
int ep_azure_shared_key(const struct ep_azure_sign_request *r, const char *key, char **out, struct ep_error *err);

/* Standard base64 (with padding); *out is heap. Decoding refuses what is not base64. */
int ep_base64_encode(const void *data, size_t len, char **out, struct ep_error *err);
int ep_base64_decode(const char *text, uint8_t **out, size_t *len, struct ep_error *err);

/* The x-ms-date value for now ("Sat, 28 Nov 2026 22:16:18 GMT"), into buf (at least 32 bytes). */
void ep_azure_date(char *buf, size_t cap);

#endif
