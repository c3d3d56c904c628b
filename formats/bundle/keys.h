/* Ed25519 keys and detached manifest signatures (OpenSSL EVP), and the X25519
 * recipient keys of encryption at rest (formats/bundle/seal.h), in the same files. */
#ifndef EP_KEYS_H
#define EP_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "base/error.h"

#define EP_KEY_ID_HEX 17 /* 16 hex digits and NUL */
#define EP_SIG_LEN 64

struct ep_key; /* a private or public key */
enum ep_key_kind { EP_KEY_SIGNING /* Ed25519 */, EP_KEY_RECIPIENT /* X25519 */ };

/* Writes NAME.key (PKCS#8 PEM, 0600) and NAME.pub (PEM); refuses to overwrite. */
int ep_key_generate(const char *name, enum ep_key_kind kind, char key_id[EP_KEY_ID_HEX], struct ep_error *err);
/* A key of that kind from a PEM file; refuses the other kind. */
int ep_key_load(const char *path, enum ep_key_kind kind, bool private, struct ep_key **out, struct ep_error *err);
int ep_key_load_private(const char *path, struct ep_key **out, struct ep_error *err); /* signing */
int ep_key_load_public(const char *path, struct ep_key **out, struct ep_error *err);  /* signing */
void ep_key_free(struct ep_key *key);
/* First 8 bytes of SHA-256 of the raw 32-byte public key, in hex. */
const char *ep_key_id(const struct ep_key *key);
const uint8_t *ep_key_public_raw(const struct ep_key *key); /* 32 bytes */
EVP_PKEY *ep_key_evp(const struct ep_key *key);             /* borrowed */

struct ep_signature {
	char key_id[EP_KEY_ID_HEX];
	uint8_t sig[EP_SIG_LEN];
};

int ep_sign(const struct ep_key *key, const void *msg, size_t len, struct ep_signature *out, struct ep_error *err);
/* EP_EINTEGRITY when the signature does not hold. */
int ep_signature_check(const struct ep_key *key, const void *msg, size_t len, const struct ep_signature *sig,
		       struct ep_error *err);
/* The manifest.sig file: {"algorithm":"ed25519","key_id":"…","signature":"base64"}. */
int ep_signature_to_json(const struct ep_signature *sig, char **json, size_t *len, struct ep_error *err);
int ep_signature_parse(const char *json, size_t len, const char *what, struct ep_signature *out,
		       struct ep_error *err);

#endif
