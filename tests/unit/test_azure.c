/* Azure Shared Key signing (cloud/azure_sign.c). The expected strings follow
 * Microsoft's "Authorize with Shared Key" page; the expected signatures were
 * computed independently by tests/tools/azblob.py (hmac and hashlib only):
 *   python3 -c 'import azblob; print(azblob.signature(KEY, azblob.string_to_sign(...)))'
 * and Azurite accepts both signers' requests (tests/cases/t94-azure.sh). */
#include <stdlib.h>
#include <string.h>

#include "cloud/azure_arm.h"
#include "cloud/azure_sign.h"
#include "cloud/azure_blob.h"
#include "tests/unit/unit.h"

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

/* ---- the client's names and credentials (cloud/azure_blob.c) ---- */

static int open_with(const char *cs, const char *endpoint, struct ep_azure **az, struct ep_error *err)
{
	unsetenv("AZURE_STORAGE_ACCOUNT");
	unsetenv("AZURE_STORAGE_KEY");
	unsetenv("AZURE_STORAGE_SAS_TOKEN");
	if (cs)
		setenv("AZURE_STORAGE_CONNECTION_STRING", cs, 1);
	else
		unsetenv("AZURE_STORAGE_CONNECTION_STRING");
	return ep_azure_open(az, &(struct ep_azure_options){ .endpoint = endpoint }, err);
}

TEST(azure_connection_strings_and_endpoints)
{
	struct ep_azure *az = NULL;
	struct ep_error err = { 0 };
	char url[300];
	EXPECT(open_with("DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey=YWJj;EndpointSuffix=core.usgovcloudapi.net",
			 NULL, &az, &err) == 0);
	ep_azure_blob_url(az, "vhds", "p/web.vhd", url, sizeof url);
	EXPECT(!strcmp(url, "https://acct1.blob.core.usgovcloudapi.net/vhds/p/web.vhd"));
	ep_azure_close(az);
	EXPECT(open_with("UseDevelopmentStorage=true", NULL, &az, &err) == 0);
	ep_azure_blob_url(az, "c", "b.vhd", url, sizeof url);
	EXPECT(!strcmp(url, "http://127.0.0.1:10000/devstoreaccount1/c/b.vhd") && !strcmp(ep_azure_account(az), "devstoreaccount1"));
	ep_azure_close(az);
	/* a SAS alone: the account is the endpoint's first label; -o endpoint= wins */
	EXPECT(open_with("BlobEndpoint=https://acct2.blob.core.windows.net/;SharedAccessSignature=sv=2019-02-02&sig=x", NULL,
			 &az, &err) == 0);
	EXPECT(!strcmp(ep_azure_account(az), "acct2"));
	ep_azure_close(az);
	EXPECT(open_with("AccountName=a3;AccountKey=YWJj", "http://127.0.0.1:9/a3/", &az, &err) == 0);
	ep_azure_blob_url(az, "c", "b", url, sizeof url);
	EXPECT(!strcmp(url, "http://127.0.0.1:9/a3/c/b"));
	ep_azure_close(az);
	EXPECT(open_with("AccountName=a3;AccountKey=YWJj", "ftp://x", &az, &err) == EP_EINPUT);
	EXPECT(open_with("AccountName=a3;AccountKey=SECRET!!", NULL, &az, &err) == EP_EINPUT);
	EXPECT(strstr(err.msg, "not base64") && !strstr(err.msg, "SECRET"));
	EXPECT(open_with(NULL, NULL, &az, &err) == EP_EINPUT && strstr(err.msg, "AZURE_STORAGE_CONNECTION_STRING"));
	setenv("AZURE_STORAGE_ACCOUNT", "acct4", 1);
	setenv("AZURE_STORAGE_SAS_TOKEN", "?sv=2019-02-02&sig=x", 1);
	EXPECT(ep_azure_open(&az, &(struct ep_azure_options){ 0 }, &err) == 0);
	ep_azure_blob_url(az, "c", "b", url, sizeof url);
	EXPECT(!strcmp(url, "https://acct4.blob.core.windows.net/c/b"));
	ep_azure_close(az);
	unsetenv("AZURE_STORAGE_ACCOUNT");
	unsetenv("AZURE_STORAGE_SAS_TOKEN");
}

TEST(azure_container_and_blob_names)
{
	EXPECT(ep_azure_container_ok("vhds") && ep_azure_container_ok("a-b-1"));
	EXPECT(!ep_azure_container_ok("ab") && !ep_azure_container_ok("Vhds") && !ep_azure_container_ok("a--b") &&
	       !ep_azure_container_ok("-ab") && !ep_azure_container_ok("a_b"));
	EXPECT(ep_azure_blob_name_ok("p/q/web.vhd") && ep_azure_blob_name_ok("web_1-2.vhd"));
	EXPECT(!ep_azure_blob_name_ok("") && !ep_azure_blob_name_ok("/a") && !ep_azure_blob_name_ok("a//b") &&
	       !ep_azure_blob_name_ok("a/") && !ep_azure_blob_name_ok("../a") && !ep_azure_blob_name_ok("a/./b") &&
	       !ep_azure_blob_name_ok("a b") && !ep_azure_blob_name_ok("a?b"));
}

TEST(azure_blob_urls_split_and_their_sas_kept_out_of_messages)
{
	char ep[400], c[64], b[1100], *sas = NULL;
	struct ep_error err = { 0 };
	EXPECT(ep_azure_parse_url("https://md-abc.z1.blob.storage.azure.net/vhds0/abcd?sv=2018-03-28&sr=b&si=x&sig=S%2BG",
				  ep, sizeof ep, c, sizeof c, b, sizeof b, &sas, &err) == 0);
	EXPECT(!strcmp(ep, "https://md-abc.z1.blob.storage.azure.net") && !strcmp(c, "vhds0") && !strcmp(b, "abcd"));
	EXPECT(sas && !strcmp(sas, "sv=2018-03-28&sr=b&si=x&sig=S%2BG"));
	free(sas);
	/* the emulator's path-style URL: the account is the first segment */
	EXPECT(ep_azure_parse_url("http://127.0.0.1:10000/devstoreaccount1/disks/vms/web.vhd?sig=abc", ep, sizeof ep, c,
				  sizeof c, b, sizeof b, &sas, &err) == 0);
	EXPECT(!strcmp(ep, "http://127.0.0.1:10000/devstoreaccount1") && !strcmp(c, "disks") && !strcmp(b, "vms/web.vhd"));
	free(sas);
	EXPECT(ep_azure_parse_url("http://localhost:10000/devstoreaccount1/disks/d?sig=abc", ep, sizeof ep, c, sizeof c, b,
				  sizeof b, &sas, &err) == 0 && !strcmp(ep, "http://localhost:10000/devstoreaccount1"));
	free(sas);
	/* refused, the token never quoted */
	const char *bad[] = { "https://a.blob.core.windows.net/disks/web.vhd", "https://a.blob.core.windows.net/disks?sig=SECRET",
			      "ftp://a.blob.core.windows.net/disks/d?sig=SECRET", "https://a.blob.core.windows.net/Bad_C/d?sig=SECRET",
			      "https://u@a.blob.core.windows.net/disks/d?sig=SECRET", "https://a.blob.core.windows.net/disks/a%20b?sig=SECRET" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		sas = NULL;
		EXPECT(ep_azure_parse_url(bad[i], ep, sizeof ep, c, sizeof c, b, sizeof b, &sas, &err) == EP_EINPUT);
		EXPECT(!sas && !strstr(err.msg, "SECRET"));
	}
}

TEST(azure_page_lists_parsed_merged_and_paged)
{
	const char page1[] = "<?xml version=\"1.0\" encoding=\"utf-8\"?><PageList>"
			     "<PageRange><Start>0</Start><End>511</End></PageRange>"
			     "<PageRange><Start>512</Start><End>4095</End></PageRange>"
			     "<PageRange><Start>1048576</Start><End>2097151</End></PageRange>"
			     "<NextMarker>2!104!MDAwMDM2IXBhZ2Vz</NextMarker></PageList>";
	const char page2[] = "<PageList><PageRange><Start>4194304</Start><End>4194815</End></PageRange>"
			     "<NextMarker /></PageList>";
	struct ep_extent *r = NULL;
	size_t n = 0, cap = 0;
	char marker[64];
	struct ep_error err = { 0 };
	EXPECT(ep_azure_page_list_parse(page1, strlen(page1), 8 << 20, &r, &n, &cap, marker, sizeof marker, &err) == 0);
	EXPECT(n == 2 && r[0].off == 0 && r[0].len == 4096 && r[1].off == 1048576 && r[1].len == 1048576); /* touching ranges merged */
	EXPECT(!strcmp(marker, "2!104!MDAwMDM2IXBhZ2Vz"));
	EXPECT(ep_azure_page_list_parse(page2, strlen(page2), 8 << 20, &r, &n, &cap, marker, sizeof marker, &err) == 0);
	EXPECT(n == 3 && r[2].off == 4194304 && r[2].len == 512 && marker[0] == '\0');
	/* not whole pages, out of order, past the blob's end */
	const char *bad[] = { "<PageList><PageRange><Start>0</Start><End>100</End></PageRange></PageList>",
			      "<PageList><PageRange><Start>0</Start><End>4194815</End></PageRange></PageList>",
			      "<PageList><PageRange><Start>8388608</Start><End>8389119</End></PageRange></PageList>",
			      "<Error><Code>x</Code></Error>" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		EXPECT(ep_azure_page_list_parse(bad[i], strlen(bad[i]), 8 << 20, &r, &n, &cap, marker, sizeof marker, &err) != 0);
	free(r);
}

TEST(azure_resource_ids_parsed_as_the_portal_gives_them)
{
	struct ep_arm_id id;
	struct ep_error err = { 0 };
	char text[500];
	EXPECT(!ep_arm_id_parse("/subscriptions/0a1b-2c/resourceGroups/My_RG(1)/providers/Microsoft.Compute/disks/web-os",
				&id, &err));
	EXPECT(!strcmp(id.subscription, "0a1b-2c") && !strcmp(id.group, "My_RG(1)") && !strcmp(id.type, "disks") &&
	       !strcmp(id.name, "web-os"));
	/* ARM hands ids back in any case: the fixed words are taken so, and spelled canonically */
	EXPECT(!ep_arm_id_parse("/SUBSCRIPTIONS/s/RESOURCEGROUPS/G/PROVIDERS/microsoft.compute/VIRTUALMACHINES/web/", &id, &err));
	ep_arm_id_text(&id, text, sizeof text);
	EXPECT(!strcmp(text, "/subscriptions/s/resourceGroups/G/providers/Microsoft.Compute/virtualMachines/web"));
	const char *bad[] = { "", "/subscriptions/s", "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/disks/d",
			      "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/snapshots/d",
			      "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/disks/d/extra",
			      "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/disks/d?x=1",
			      "/subscriptions/s//resourceGroups/g/providers/Microsoft.Compute/disks/d",
			      "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/disks/a%2Fb" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		EXPECT(ep_arm_id_parse(bad[i], &id, &err) == EP_EINPUT);
		EXPECT(strstr(err.msg, "not the resource id of a managed disk or a VM") != NULL);
	}
}
