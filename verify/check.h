/* Checking a bundle: the signature first, then the manifest, then the chunks. */
#ifndef EP_CHECK_H
#define EP_CHECK_H

#include <stdbool.h>
#include <limits.h>

#include "base/error.h"
#include "base/progress.h"
#include "formats/bundle/bundle.h"
#include "formats/bundle/manifest.h"
#include "formats/bundle/keys.h"

struct ep_trust {
	const char *pubkey; /* -p: the one key to trust; NULL searches the trusted-keys directories */
	bool insecure;      /* accept unsigned or unverifiable bundles */
};

/* Trusted-keys directories, in search order: $ENVPACK_TRUSTED_KEYS alone when set, else
 * ${XDG_CONFIG_HOME:-$HOME/.config}/envpack/trusted-keys then /etc/envpack/trusted-keys; at most max
 * into dirs, their count into *n. A directory too long for PATH_MAX is an error. */
int ep_trusted_dirs(char dirs[][PATH_MAX], size_t max, size_t *n, struct ep_error *err);

/* Checks a detached signature file (BUNDLE.md section 4; sigjson NULL: none) over len bytes of
 * msg against trust->pubkey, or else the trusted key its key id names; what names the object in
 * messages. signer receives the key id. EP_EINTEGRITY when unsigned, malformed, signed by no
 * trusted key or not holding; EP_EINPUT when trust->pubkey cannot be read. untrusted (may be
 * NULL) is set when the only failure is that no trusted-keys directory holds the key the
 * signature names (no trust->pubkey): the signature was not checked, rather than found false.
 * trust->insecure is the caller's to apply. */
int ep_trust_check(const struct ep_trust *trust, const char *what, const void *msg, size_t len, const char *sigjson,
		   size_t siglen, char signer[EP_KEY_ID_HEX], bool *untrusted, struct ep_error *err);

/* Verifies the manifest's signature (unless trust->insecure), then parses it, reading
 * every disk's list chunks (ep_manifest_resolve). signer receives the key id that
 * verified it, or "" when none did. */
int ep_bundle_load(const struct ep_bundle *b, const struct ep_trust *trust, struct ep_manifest **out,
		   char signer[EP_KEY_ID_HEX], struct ep_error *err);
/* The same, leaving the list chunks unread for ep_bundle_each_part: what only looks at
 * each chunk once (inspect, verify) then holds one list at a time, however many a
 * manifest names. */
int ep_bundle_load_lazily(const struct ep_bundle *b, const struct ep_trust *trust, struct ep_manifest **out,
			  char signer[EP_KEY_ID_HEX], struct ep_error *err);
/* ep_component_each_part over b's chunks: c, or each of its list chunks' part of it. */
int ep_bundle_each_part(const struct ep_bundle *b, const struct ep_component *c, ep_part_fn each, void *ctx,
			struct ep_error *err);

struct ep_verify_stats {
	uint64_t chunks_checked, bytes_checked;
};

/* Every chunk the manifest names must be in the bundle; deep also decompresses
 * each distinct chunk once and checks its digest. m may be loaded lazily. */
int ep_verify_chunks(const struct ep_bundle *b, const struct ep_manifest *m, bool deep, unsigned threads,
		     const struct ep_progress *progress, struct ep_verify_stats *stats, struct ep_error *err);

#endif
