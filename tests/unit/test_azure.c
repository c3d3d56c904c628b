/* Azure Shared Key signing (common/azure_sign.c). The expected strings follow
 * Microsoft's "Authorize with Shared Key" page; the expected signatures were
 * computed independently by tests/tools/azblob.py (hmac and hashlib only):
 *   python3 -c 'import azblob; print(azblob.signature(KEY, azblob.string_to_sign(...)))'
 * and Azurite accepts both signers' requests (tests/cases/t94-azure.sh). */
#include <stdlib.h>
#include <string.h>

#include "common/azure_sign.h"
#include "unit.h"

/* Azurite's well-known development account key (public, in Microsoft's docs). */
static const char dev_key[] = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

TEST(azure_string_to_sign_follows_the_documented_example)
{
	/* the page's example for the emulator's path-style URL:
	 * GET http://127.0.0.1:10000/myaccount/mycontainer?restype=container&comp=metadata&timeout=20 */
	const char *h[] = { "x-ms-version: 2009-09-19", "x-ms-date: Sun, 11 Oct 2009 21:49:13 GMT", NULL };
	char *s = NULL;
	struct ep_error err = { 0 };
	EXPECT(ep_azure_string_to_sign(&(struct ep_azure_sign_request){ .method = "GET", .account = "myaccount",
									.path = "/myaccount/mycontainer",
									.query = "restype=container&comp=metadata&timeout=20",
									.headers = h },
				       &s, &err) == 0);
	EXPECT(s && !strcmp(s, "GET\n\n\n\n\n\n\n\n\n\n\n\n"
			       "x-ms-date:Sun, 11 Oct 2009 21:49:13 GMT\nx-ms-version:2009-09-19\n"
			       "/myaccount/myaccount/mycontainer\ncomp:metadata\nrestype:container\ntimeout:20"));
	free(s);
}

TEST(azure_shared_key_put_page_matches_an_independent_signer)
{
	const char *h[] = { "x-ms-version: 2025-01-05", "x-ms-date: Sat, 28 Nov 2026 22:16:18 GMT",
			    "x-ms-page-write: update", "x-ms-range: bytes=0-4194303", "Content-MD5: 1B2M2Y8AsgTpgAmY7PhCfg==",
			    NULL };
	struct ep_azure_sign_request r = { .method = "PUT", .account = "devstoreaccount1",
					   .path = "/devstoreaccount1/disks/web/vm.vhd", .query = "comp=page",
					   .headers = h, .content_length = 4194304 };
	char *s = NULL, *auth = NULL;
	struct ep_error err = { 0 };
	EXPECT(ep_azure_string_to_sign(&r, &s, &err) == 0);
	EXPECT(s && !strcmp(s, "PUT\n\n\n4194304\n1B2M2Y8AsgTpgAmY7PhCfg==\n\n\n\n\n\n\n\n"
			       "x-ms-date:Sat, 28 Nov 2026 22:16:18 GMT\nx-ms-page-write:update\n"
			       "x-ms-range:bytes=0-4194303\nx-ms-version:2025-01-05\n"
			       "/devstoreaccount1/devstoreaccount1/disks/web/vm.vhd\ncomp:page"));
	EXPECT(ep_azure_shared_key(&r, dev_key, &auth, &err) == 0);
	EXPECT(auth && !strcmp(auth, "SharedKey devstoreaccount1:2iqSL8PBbPV0G6hOotIs5ppfyzYKRENK9ozmmrF5ZV0="));
	free(s);
	free(auth);
}

TEST(azure_shared_key_put_blob_with_condition_and_metadata)
{
	/* headers in any order and case; If-None-Match among the standard ones */
	const char *h[] = { "x-ms-meta-envpack_state: uploading", "If-None-Match: *", "X-MS-Blob-Type: PageBlob",
			    "x-ms-blob-content-length:  68158464 ", "x-ms-date: Sat, 28 Nov 2026 22:16:18 GMT",
			    "x-ms-version: 2025-01-05", "Content-Length: 0", NULL };
	struct ep_azure_sign_request r = { .method = "PUT", .account = "myaccount", .path = "/disks/web/vm.vhd",
					   .headers = h };
	char *auth = NULL;
	struct ep_error err = { 0 };
	EXPECT(ep_azure_shared_key(&r, dev_key, &auth, &err) == 0);
	EXPECT(auth && !strcmp(auth, "SharedKey myaccount:Adh91hhtd0x2PDkthUCZIuPTtl1c/T6fl3BipvZm3ew="));
	free(auth);
}

TEST(azure_shared_key_repeated_query_parameters_joined)
{
	const char *h[] = { "x-ms-date: Sat, 28 Nov 2026 22:16:18 GMT", "x-ms-version: 2025-01-05", NULL };
	struct ep_azure_sign_request r = { .method = "GET", .account = "myaccount", .path = "/mycontainer",
					   .query = "restype=container&comp=list&include=snapshots&include=metadata",
					   .headers = h };
	char *auth = NULL;
	struct ep_error err = { 0 };
	EXPECT(ep_azure_shared_key(&r, dev_key, &auth, &err) == 0);
	EXPECT(auth && !strcmp(auth, "SharedKey myaccount:poNpqXy9lvoFHkkXk2a9qQAtQrq+/E239yiNAAKzq9k="));
	free(auth);
}

TEST(azure_bad_key_refused_without_quoting_it)
{
	const char *h[] = { NULL };
	struct ep_azure_sign_request r = { .method = "GET", .account = "a", .path = "/c", .headers = h };
	char *auth = NULL;
	struct ep_error err = { 0 };
	EXPECT(ep_azure_shared_key(&r, "not base64 SECRETSECRET", &auth, &err) == EP_EINPUT);
	EXPECT(auth == NULL && !strstr(err.msg, "SECRETSECRET"));
}

TEST(base64_round_trip_and_padding)
{
	uint8_t *b = NULL;
	size_t n = 0;
	char *s = NULL;
	struct ep_error err = { 0 };
	EXPECT(ep_base64_decode("YWI=", &b, &n, &err) == 0 && n == 2 && !memcmp(b, "ab", 2));
	free(b);
	EXPECT(ep_base64_decode("YQ==", &b, &n, &err) == 0 && n == 1 && b[0] == 'a');
	free(b);
	EXPECT(ep_base64_decode("YQ=a", &b, &n, &err) == EP_EINPUT);
	EXPECT(ep_base64_decode("YQ", &b, &n, &err) == EP_EINPUT);
	EXPECT(ep_base64_encode("abc", 3, &s, &err) == 0 && !strcmp(s, "YWJj"));
	free(s);
}
