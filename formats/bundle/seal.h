/*
 * Encryption at rest (formats/STORE.md, section 8): objects sealed to a
 * recipient's X25519 public key. A writer needs only that public key and makes
 * one ephemeral key per run; the AES-256-GCM key of an object is
 * HKDF-SHA256(X25519(ephemeral, recipient)), so only the recipient's private
 * key opens what it wrote. Objects are named by a keyed hash of their content's
 * digest, so a store or bundle read without the key reveals no content hash.
 *
 * A sealed object: "EPE1" | recipient key id (8) | ephemeral public key (32) |
 * nonce (12) | ciphertext | GCM tag (16); the header and the object's name are
 * authenticated with it.
 */
#ifndef EP_SEAL_H
#define EP_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/util.h"
#include "formats/bundle/keys.h" /* EP_KEY_ID_HEX */

#define EP_SEAL_HEADER (4 + 8 + 32 + 12)
#define EP_SEAL_OVERHEAD (EP_SEAL_HEADER + 16)

struct ep_seal;

/* From a recipient's public key file (write only), or its private key file (read and
 * write); the other path NULL. */
int ep_seal_new(struct ep_seal **out, const char *public_path, const char *private_path, struct ep_error *err);
void ep_seal_free(struct ep_seal *s);
bool ep_seal_can_open(const struct ep_seal *s);
const char *ep_seal_key_id(const struct ep_seal *s); /* the recipient's, in hex */

/* The name of content with this digest: HMAC-SHA256 keyed from the recipient's public key. */
void ep_seal_object_id(const struct ep_seal *s, const uint8_t digest[EP_DIGEST_LEN], uint8_t oid[EP_DIGEST_LEN]);

/* Whether data is a sealed object; key_id (EP_KEY_ID_HEX bytes, may be NULL) gets the recipient's id. */
bool ep_sealed(const void *data, size_t len, char *key_id);

/* Seals len bytes lying at buf + EP_SEAL_HEADER in place: buf then holds the object,
 * len + EP_SEAL_OVERHEAD bytes. aad: the object's name. Thread-safe. */
int ep_seal_wrap(const struct ep_seal *s, const void *aad, size_t aadlen, uint8_t *buf, size_t len,
		 struct ep_error *err);
/* The same for data elsewhere, into a new heap buffer (*out, free()). */
int ep_seal_wrap_copy(const struct ep_seal *s, const void *aad, size_t aadlen, const void *data, size_t len,
		      char **out, size_t *outlen, struct ep_error *err);
/* Opens an object in place: *plain points into buf, *plen bytes. what names it in errors.
 * EP_EINTEGRITY when it is not sealed, sealed to another key, or altered. Thread-safe. */
int ep_seal_open(const struct ep_seal *s, const void *aad, size_t aadlen, uint8_t *buf, size_t len, uint8_t **plain,
		 size_t *plen, const char *what, struct ep_error *err);
/* A manifest or signature, sealed with its name as aad, opened where it lies in data (a heap
 * buffer of at least *len + 1 bytes): the plaintext moved to its start, NUL-terminated, *len
 * its length. Messages say "WHERE: NAME". */
int ep_seal_open_named(const struct ep_seal *s, const char *name, char *data, size_t *len, const char *where,
		       struct ep_error *err);

#endif
