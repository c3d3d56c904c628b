#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/unit/unit.h"
#include "formats/bundle/keys.h"

TEST(keys_sign_and_check)
{
	struct ep_error err = { 0 };
	char id[EP_KEY_ID_HEX], id2[EP_KEY_ID_HEX];
	EXPECT(ep_key_generate("a", EP_KEY_SIGNING, id, &err) == 0);
	EXPECT(ep_key_generate("b", EP_KEY_SIGNING, id2, &err) == 0);
	EXPECT(ep_key_generate("a", EP_KEY_SIGNING, id, &err) == EP_EINPUT); /* never overwrites */
	struct stat st;
	EXPECT(stat("a.key", &st) == 0 && (st.st_mode & 0777) == 0600);
	struct ep_key *priv, *pub, *other;
	EXPECT(ep_key_load_private("a.key", &priv, &err) == 0);
	EXPECT(ep_key_load_public("a.pub", &pub, &err) == 0);
	EXPECT(ep_key_load_public("b.pub", &other, &err) == 0);
	EXPECT(!strcmp(ep_key_id(priv), id) && !strcmp(ep_key_id(pub), id) && strcmp(id, id2) != 0);
	struct ep_signature sig, back;
	const char msg[] = "the manifest";
	EXPECT(ep_sign(priv, msg, sizeof msg, &sig, &err) == 0);
	EXPECT(ep_signature_check(pub, msg, sizeof msg, &sig, &err) == 0);
	EXPECT(ep_signature_check(other, msg, sizeof msg, &sig, &err) == EP_EINTEGRITY);
	EXPECT(strstr(err.msg, id) && strstr(err.msg, id2));
	EXPECT(ep_signature_check(pub, "the manifesT", sizeof msg, &sig, &err) == EP_EINTEGRITY);
	char *json;
	size_t len;
	EXPECT(ep_signature_to_json(&sig, &json, &len, &err) == 0);
	EXPECT(ep_signature_parse(json, len, "t", &back, &err) == 0);
	EXPECT(!memcmp(&sig, &back, sizeof sig));
	json[len - 3] ^= 1; /* a damaged signature still parses, but no longer verifies */
	if (ep_signature_parse(json, len, "t", &back, &err) == 0)
		EXPECT(ep_signature_check(pub, msg, sizeof msg, &back, &err) == EP_EINTEGRITY);
	EXPECT(ep_signature_parse("{\"algorithm\":\"rsa\"}", 19, "t", &back, &err) == EP_EINTEGRITY);
	EXPECT(ep_key_load_private("a.pub", &other, &err) != 0 || (ep_key_free(other), 0));
	free(json);
	ep_key_free(priv);
	ep_key_free(pub);
	ep_key_free(other);
}
