#include <stdlib.h>
#include <string.h>

#include "formats/bundle/seal.h"
#include "tests/unit/unit.h"

TEST(seal_round_trip_and_refusals)
{
	struct ep_error err = { 0 };
	char id[EP_KEY_ID_HEX], other_id[EP_KEY_ID_HEX];
	EXPECT(ep_key_generate("r", EP_KEY_RECIPIENT, id, &err) == 0);
	EXPECT(ep_key_generate("o", EP_KEY_RECIPIENT, other_id, &err) == 0);
	EXPECT(ep_key_generate("s", EP_KEY_SIGNING, other_id, &err) == 0);
	struct ep_seal *writer, *reader, *other, *bad = NULL;
	EXPECT(ep_seal_new(&writer, "r.pub", NULL, &err) == 0 && !ep_seal_can_open(writer));
	EXPECT(ep_seal_new(&reader, NULL, "r.key", &err) == 0 && ep_seal_can_open(reader));
	EXPECT(ep_seal_new(&other, NULL, "o.key", &err) == 0);
	EXPECT(ep_seal_new(&bad, "s.pub", NULL, &err) == EP_EINPUT && strstr(err.msg, "X25519") && !bad);
	EXPECT(!strcmp(ep_seal_key_id(writer), id) && !strcmp(ep_seal_key_id(reader), id));

	/* names: the same for writer and reader, another for another key, never the digest */
	uint8_t digest[EP_DIGEST_LEN] = { 1, 2, 3 }, a[EP_DIGEST_LEN], b[EP_DIGEST_LEN], c[EP_DIGEST_LEN];
	ep_seal_object_id(writer, digest, a);
	ep_seal_object_id(reader, digest, b);
	ep_seal_object_id(other, digest, c);
	EXPECT(!memcmp(a, b, sizeof a) && memcmp(a, c, sizeof a) && memcmp(a, digest, sizeof a));

	const char text[] = "a chunk's zstd frame";
	char *obj, *obj2;
	size_t len, len2, plen;
	uint8_t *plain;
	EXPECT(ep_seal_wrap_copy(writer, a, sizeof a, text, sizeof text, &obj, &len, &err) == 0);
	EXPECT(ep_seal_wrap_copy(writer, a, sizeof a, text, sizeof text, &obj2, &len2, &err) == 0);
	EXPECT(len == sizeof text + EP_SEAL_OVERHEAD && memcmp(obj, obj2, len)); /* fresh nonces */
	char kid[EP_KEY_ID_HEX];
	EXPECT(ep_sealed(obj, len, kid) && !strcmp(kid, id) && !ep_sealed(text, sizeof text, NULL));
	EXPECT(!memmem(obj, len, "zstd frame", 10));
	/* the public key alone opens nothing */
	EXPECT(ep_seal_open(writer, a, sizeof a, (uint8_t *)obj2, len2, &plain, &plen, "x", &err) == EP_EINPUT);
	/* another key, another name, a changed byte: each refused */
	EXPECT(ep_seal_open(other, a, sizeof a, (uint8_t *)obj2, len2, &plain, &plen, "x", &err) == EP_EINTEGRITY &&
	       strstr(err.msg, id) && strstr(err.msg, ep_seal_key_id(other)));
	EXPECT(ep_seal_open(reader, c, sizeof c, (uint8_t *)obj2, len2, &plain, &plen, "x", &err) == EP_EINTEGRITY);
	obj[EP_SEAL_HEADER + 3] ^= 1;
	EXPECT(ep_seal_open(reader, a, sizeof a, (uint8_t *)obj, len, &plain, &plen, "x", &err) == EP_EINTEGRITY);
	EXPECT(ep_seal_open(reader, a, sizeof a, (uint8_t *)obj, 10, &plain, &plen, "x", &err) == EP_EINTEGRITY);
	/* and the right key opens it, in place (a failed open leaves the bytes changed: a fresh one) */
	free(obj);
	free(obj2);
	EXPECT(ep_seal_wrap_copy(writer, a, sizeof a, text, sizeof text, &obj2, &len2, &err) == 0);
	EXPECT(ep_seal_open(reader, a, sizeof a, (uint8_t *)obj2, len2, &plain, &plen, "x", &err) == 0);
	EXPECT(plen == sizeof text && !memcmp(plain, text, plen));
	free(obj2);
	ep_seal_free(writer);
	ep_seal_free(reader);
	ep_seal_free(other);
}
