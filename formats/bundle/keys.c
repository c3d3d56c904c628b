#include "formats/bundle/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "base/util.h"

struct ep_key {
	EVP_PKEY *pkey;
	uint8_t raw[32]; /* the public key */
	char id[EP_KEY_ID_HEX];
};

static int key_wrap(EVP_PKEY *pkey, enum ep_key_kind kind, const char *path, struct ep_key **out, struct ep_error *err)
{
	uint8_t raw[32], digest[EP_DIGEST_LEN];
	size_t rawlen = sizeof raw;
	bool x25519 = kind == EP_KEY_RECIPIENT;
	if (EVP_PKEY_get_id(pkey) != (x25519 ? EVP_PKEY_X25519 : EVP_PKEY_ED25519) ||
	    EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1 || rawlen != sizeof raw) {
		EVP_PKEY_free(pkey);
		return ep_fail(err, EP_EINPUT, "'%s' is not an %s key", path,
			       x25519 ? "X25519 (encryption; 'envpack keygen --x25519')" : "Ed25519 (signing)");
	}
	struct ep_key *key = calloc(1, sizeof *key);
	if (!key) {
		EVP_PKEY_free(pkey);
		return ep_oom(err);
	}
	key->pkey = pkey;
	memcpy(key->raw, raw, sizeof raw);
	ep_sha256(raw, sizeof raw, digest);
	ep_hex(digest, 8, key->id);
	*out = key;
	return 0;
}

void ep_key_free(struct ep_key *key)
{
	if (key)
		EVP_PKEY_free(key->pkey);
	free(key);
}

const char *ep_key_id(const struct ep_key *key)
{
	return key->id;
}

const uint8_t *ep_key_public_raw(const struct ep_key *key)
{
	return key->raw;
}

EVP_PKEY *ep_key_evp(const struct ep_key *key)
{
	return key->pkey;
}

int ep_key_load(const char *path, enum ep_key_kind kind, bool private, struct ep_key **out, struct ep_error *err)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return ep_fail_errno(err, errno == ENOENT ? EP_EINPUT : EP_ERUNTIME, "cannot open key '%s'", path);
	EVP_PKEY *pkey = private ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (!pkey)
		return ep_fail(err, EP_EINPUT, "'%s' holds no PEM %s key", path, private ? "private" : "public");
	return key_wrap(pkey, kind, path, out, err);
}

int ep_key_load_private(const char *path, struct ep_key **out, struct ep_error *err)
{
	return ep_key_load(path, EP_KEY_SIGNING, true, out, err);
}

int ep_key_load_public(const char *path, struct ep_key **out, struct ep_error *err)
{
	return ep_key_load(path, EP_KEY_SIGNING, false, out, err);
}

/* Create path exclusively with mode, write PEM through `write`, fsync. */
static int write_pem(const char *path, mode_t mode, EVP_PKEY *pkey, bool private, struct ep_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return ep_fail_errno(err, errno == EEXIST ? EP_EINPUT : EP_ERUNTIME, "cannot create '%s'", path);
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(path);
		return ep_fail_errno(err, EP_ERUNTIME, "cannot open '%s'", path);
	}
	int ok = private ? PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) : PEM_write_PUBKEY(f, pkey);
	ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok) {
		unlink(path);
		return ep_fail(err, EP_ERUNTIME, "cannot write '%s'", path);
	}
	return 0;
}

int ep_key_generate(const char *name, enum ep_key_kind kind, char key_id[EP_KEY_ID_HEX], struct ep_error *err)
{
	char priv[PATH_MAX], pub[PATH_MAX];
	if ((size_t)snprintf(priv, sizeof priv, "%s.key", name) >= sizeof priv ||
	    (size_t)snprintf(pub, sizeof pub, "%s.pub", name) >= sizeof pub)
		return ep_fail(err, EP_EINPUT, "key name '%s' is too long", name);
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, kind == EP_KEY_RECIPIENT ? "X25519" : "ED25519");
	if (!pkey)
		return ep_fail(err, EP_ERUNTIME, "cannot generate a key");
	struct ep_key *key = NULL;
	int rc = key_wrap(pkey, kind, pub, &key, err); /* key owns pkey from here */
	if (!rc)
		rc = write_pem(priv, 0600, key->pkey, true, err);
	if (!rc && (rc = write_pem(pub, 0644, key->pkey, false, err)))
		unlink(priv);
	if (!rc)
		memcpy(key_id, key->id, EP_KEY_ID_HEX);
	ep_key_free(key);
	return rc;
}

int ep_sign(const struct ep_key *key, const void *msg, size_t len, struct ep_signature *out, struct ep_error *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t siglen = EP_SIG_LEN;
	int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key->pkey) == 1 &&
		 EVP_DigestSign(ctx, out->sig, &siglen, msg, len) == 1 && siglen == EP_SIG_LEN;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return ep_fail(err, EP_EINPUT, "cannot sign with key %s (is it a private key?)", key->id);
	memcpy(out->key_id, key->id, EP_KEY_ID_HEX);
	return 0;
}

int ep_signature_check(const struct ep_key *key, const void *msg, size_t len, const struct ep_signature *sig,
		       struct ep_error *err)
{
	if (strcmp(key->id, sig->key_id) != 0)
		return ep_fail(err, EP_EINTEGRITY, "signed by key %s, checked against key %s", sig->key_id, key->id);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key->pkey) == 1 &&
		 EVP_DigestVerify(ctx, sig->sig, EP_SIG_LEN, msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return ep_fail(err, EP_EINTEGRITY, "the signature does not match key %s", key->id);
	return 0;
}

int ep_signature_to_json(const struct ep_signature *sig, char **json, size_t *len, struct ep_error *err)
{
	char b64[EP_SIG_LEN * 2];
	EVP_EncodeBlock((unsigned char *)b64, sig->sig, EP_SIG_LEN);
	json_t *o = json_pack("{s:s,s:s,s:s}", "algorithm", "ed25519", "key_id", sig->key_id, "signature", b64);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!s)
		return ep_oom(err);
	*json = s;
	*len = strlen(s);
	return 0;
}

int ep_signature_parse(const char *json, size_t len, const char *what, struct ep_signature *out,
		       struct ep_error *err)
{
	json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	const char *alg = json_string_value(json_object_get(o, "algorithm"));
	const char *id = json_string_value(json_object_get(o, "key_id"));
	const char *b64 = json_string_value(json_object_get(o, "signature"));
	uint8_t idbytes[8], raw[EP_SIG_LEN + 3];
	int ok = alg && !strcmp(alg, "ed25519") && id && ep_unhex(id, idbytes, sizeof idbytes) && b64 &&
		 strlen(b64) == 88 && EVP_DecodeBlock(raw, (const unsigned char *)b64, 88) == EP_SIG_LEN + 2 &&
		 b64[86] == '=' && b64[87] == '=';
	if (ok) {
		memcpy(out->key_id, id, EP_KEY_ID_HEX);
		memcpy(out->sig, raw, EP_SIG_LEN);
	}
	json_decref(o);
	return ok ? 0 : ep_fail(err, EP_EINTEGRITY, "%s: the signature file is malformed", what);
}
