/* Ed25519 keys and detached manifest signatures (OpenSSL EVP). */
#ifndef EP_KEYS_H
#define EP_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define EP_KEY_ID_HEX 17 /* 16 hex digits and NUL */
#define EP_SIG_LEN 64

struct ep_key; /* a private or public Ed25519 key */

/* Writes NAME.key (PKCS#8 PEM, 0600) and NAME.pub (PEM); refuses to overwrite. */
int ep_key_generate(const char *name, char key_id[EP_KEY_ID_HEX], struct ep_error *err);
int ep_key_load_private(const char *path, struct ep_key **out, struct ep_error *err);
int ep_key_load_public(const char *path, struct ep_key **out, struct ep_error *err);
void ep_key_free(struct ep_key *key);
/* First 8 bytes of SHA-256 of the raw 32-byte public key, in hex. */
const char *ep_key_id(const struct ep_key *key);

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
