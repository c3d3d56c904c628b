#include "formats/bundle/seal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "formats/bundle/keys.h"

#define MAGIC "EPE1"
#define KEY_ID_LEN 8
#define NONCE_LEN 12
#define TAG_LEN 16

struct ep_seal {
	struct ep_key *recipient; /* public, or private when can_open */
	bool can_open;
	uint8_t key_id[KEY_ID_LEN];
	uint8_t name_key[32];
	/* this run's ephemeral public key and the key it agreed with the recipient */
	uint8_t ephemeral[32], run_key[32];
};

static int hkdf(const void *ikm, size_t ikmlen, const void *salt, size_t saltlen, const char *info, uint8_t out[32])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
		OSSL_PARAM_construct_end(),
	};
	int ok = ctx && EVP_KDF_derive(ctx, out, 32, params) == 1;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ok ? 0 : -1;
}

/* The AES key of objects sealed with ephemeral public key eph: from X25519(mine, peer). */
static int agree(EVP_PKEY *mine, const uint8_t peer[32], const uint8_t eph[32], const uint8_t recipient[32],
		 uint8_t key[32])
{
	EVP_PKEY *other = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, 32);
	EVP_PKEY_CTX *ctx = other ? EVP_PKEY_CTX_new(mine, NULL) : NULL;
	uint8_t shared[32], salt[64];
	size_t len = sizeof shared;
	/* OpenSSL refuses a low-order peer (an all-zero secret) here */
	int ok = ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, other) == 1 &&
		 EVP_PKEY_derive(ctx, shared, &len) == 1 && len == sizeof shared;
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(other);
	memcpy(salt, eph, 32);
	memcpy(salt + 32, recipient, 32);
	ok = ok && hkdf(shared, sizeof shared, salt, sizeof salt, "envpack seal v1", key) == 0;
	OPENSSL_cleanse(shared, sizeof shared);
	return ok ? 0 : -1;
}

int ep_seal_new(struct ep_seal **out, const char *public_path, const char *private_path, struct ep_error *err)
{
	struct ep_seal *s = calloc(1, sizeof *s);
	if (!s)
		return ep_oom(err);
	s->can_open = private_path != NULL;
	int rc = ep_key_load(private_path ? private_path : public_path, EP_KEY_RECIPIENT, s->can_open, &s->recipient, err);
	if (rc) {
		free(s);
		return rc;
	}
	const uint8_t *pub = ep_key_public_raw(s->recipient);
	uint8_t digest[EP_DIGEST_LEN];
	ep_sha256(pub, 32, digest);
	memcpy(s->key_id, digest, KEY_ID_LEN);
	EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	size_t len = sizeof s->ephemeral;
	bool ok = eph && EVP_PKEY_get_raw_public_key(eph, s->ephemeral, &len) == 1 && len == 32 &&
		  agree(eph, pub, s->ephemeral, pub, s->run_key) == 0 &&
		  hkdf(pub, 32, "", 0, "envpack object names v1", s->name_key) == 0;
	EVP_PKEY_free(eph); /* only the recipient opens what this run seals */
	if (!ok) {
		ep_seal_free(s);
		return ep_fail(err, EP_ERUNTIME, "cannot make this run's encryption key");
	}
	*out = s;
	return 0;
}

void ep_seal_free(struct ep_seal *s)
{
	if (!s)
		return;
	ep_key_free(s->recipient);
	OPENSSL_cleanse(s, sizeof *s);
	free(s);
}

bool ep_seal_can_open(const struct ep_seal *s)
{
	return s->can_open;
}

const char *ep_seal_key_id(const struct ep_seal *s)
{
	return ep_key_id(s->recipient);
}

void ep_seal_object_id(const struct ep_seal *s, const uint8_t digest[EP_DIGEST_LEN], uint8_t oid[EP_DIGEST_LEN])
{
	unsigned len = EP_DIGEST_LEN;
	HMAC(EVP_sha256(), s->name_key, sizeof s->name_key, digest, EP_DIGEST_LEN, oid, &len);
}

bool ep_sealed(const void *data, size_t len, char *key_id)
{
	if (len < EP_SEAL_OVERHEAD || memcmp(data, MAGIC, 4))
		return false;
	if (key_id)
		ep_hex((const uint8_t *)data + 4, KEY_ID_LEN, key_id);
	return true;
}

/* GCM over buf's header, then aad, then the len bytes after the header, in place. */
static bool gcm(bool encrypt, const uint8_t key[32], const void *aad, size_t aadlen, uint8_t *buf, size_t len)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t *nonce = buf + 4 + KEY_ID_LEN + 32, *text = buf + EP_SEAL_HEADER, *tag = text + len;
	int n, ok = ctx && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce, encrypt) == 1 &&
		    EVP_CipherUpdate(ctx, NULL, &n, buf, EP_SEAL_HEADER) == 1 &&
		    EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1;
	for (size_t done = 0; ok && done < len;) { /* int-sized steps */
		int step = len - done > (1 << 30) ? 1 << 30 : (int)(len - done);
		ok = EVP_CipherUpdate(ctx, text + done, &n, text + done, step) == 1;
		done += (size_t)step;
	}
	if (ok && !encrypt)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
	ok = ok && EVP_CipherFinal_ex(ctx, text + len, &n) == 1;
	if (ok && encrypt)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

int ep_seal_wrap(const struct ep_seal *s, const void *aad, size_t aadlen, uint8_t *buf, size_t len,
		 struct ep_error *err)
{
	memcpy(buf, MAGIC, 4);
	memcpy(buf + 4, s->key_id, KEY_ID_LEN);
	memcpy(buf + 4 + KEY_ID_LEN, s->ephemeral, 32);
	/* random nonces under one key per run: far below GCM's 2^32 messages */
	if (RAND_bytes(buf + 4 + KEY_ID_LEN + 32, NONCE_LEN) != 1 || !gcm(true, s->run_key, aad, aadlen, buf, len))
		return ep_fail(err, EP_ERUNTIME, "cannot encrypt (OpenSSL AES-256-GCM)");
	return 0;
}

int ep_seal_wrap_copy(const struct ep_seal *s, const void *aad, size_t aadlen, const void *data, size_t len,
		      char **out, size_t *outlen, struct ep_error *err)
{
	uint8_t *buf = malloc(len + EP_SEAL_OVERHEAD);
	if (!buf)
		return ep_oom(err);
	memcpy(buf + EP_SEAL_HEADER, data, len);
	int rc = ep_seal_wrap(s, aad, aadlen, buf, len, err);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = (char *)buf;
	*outlen = len + EP_SEAL_OVERHEAD;
	return 0;
}

int ep_seal_open(const struct ep_seal *s, const void *aad, size_t aadlen, uint8_t *buf, size_t len, uint8_t **plain,
		 size_t *plen, const char *what, struct ep_error *err)
{
	char theirs[EP_KEY_ID_HEX];
	if (!ep_sealed(buf, len, theirs))
		return ep_fail(err, EP_EINTEGRITY, "%s is not encrypted, in an encrypted store or bundle", what);
	if (memcmp(buf + 4, s->key_id, KEY_ID_LEN))
		return ep_fail(err, EP_EINTEGRITY, "%s is encrypted to key %s, not to key %s", what, theirs,
			       ep_seal_key_id(s));
	if (!s->can_open)
		return ep_fail(err, EP_EINPUT, "%s is encrypted: reading it needs the private key (--decrypt-key)", what);
	uint8_t key[32];
	size_t n = len - EP_SEAL_OVERHEAD;
	const uint8_t *eph = buf + 4 + KEY_ID_LEN;
	bool ok = agree(ep_key_evp(s->recipient), eph, eph, ep_key_public_raw(s->recipient), key) == 0 &&
		  gcm(false, key, aad, aadlen, buf, n);
	OPENSSL_cleanse(key, sizeof key);
	if (!ok)
		return ep_fail(err, EP_EINTEGRITY, "%s does not decrypt: it was altered, or sealed for another place", what);
	*plain = buf + EP_SEAL_HEADER;
	*plen = n;
	return 0;
}

int ep_seal_open_named(const struct ep_seal *s, const char *name, char *data, size_t *len, const char *where,
		       struct ep_error *err)
{
	char *what; /* for messages */
	uint8_t *plain;
	size_t n;
	if (asprintf(&what, "%s: %s", where, name) < 0)
		return ep_oom(err);
	int rc = ep_seal_open(s, name, strlen(name), (uint8_t *)data, *len, &plain, &n, what, err);
	free(what);
	if (!rc) {
		memmove(data, plain, n);
		data[n] = '\0';
		*len = n;
	}
	return rc;
}
