/* libFuzzer target: what a registry or a user hands the distribution client as
 * text: image references and WWW-Authenticate challenges. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/image/distribution.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct ep_image_ref ref;
	struct ep_error err;
	if (ep_image_ref_parse(text, &ref, &err) == 0 &&
	    (!ep_image_repo_ok(ref.repo) || (ref.tag[0] && !ep_image_tag_ok(ref.tag)) || strchr(ref.host, '/')))
		abort(); /* what parses must be what the URL builder may trust */
	struct ep_auth_challenge c;
	ep_auth_challenge_parse(text, &c);
	free(text);
	return 0;
}
