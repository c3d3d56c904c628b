/* The OpenStack client's parts that need no server: the catalog search in a
 * Keystone token answer, the token request a dry run shows, and Nova's requests. */
#include <stdlib.h>
#include <string.h>

#include "cloud/nova.h"
#include "cloud/openstack_api.h"
#include "tests/unit/unit.h"

static const char token_answer[] =
	"{\"token\": {\"catalog\": ["
	"{\"type\": \"identity\", \"endpoints\": [{\"interface\": \"public\", \"region_id\": \"RegionOne\", \"url\": \"http://k/v3\"}]},"
	"{\"type\": \"image\", \"endpoints\": ["
	"{\"interface\": \"internal\", \"region_id\": \"RegionOne\", \"url\": \"http://internal:9292\"},"
	"{\"interface\": \"public\", \"region\": \"RegionTwo\", \"region_id\": \"RegionTwo\", \"url\": \"https://two:9292/\"},"
	"{\"interface\": \"public\", \"region_id\": \"RegionOne\", \"url\": \"https://one:9292/v2/\"}]}]}}";

TEST(catalog_endpoint_by_interface_and_region)
{
	char url[EP_OS_URL_MAX];
	struct ep_error err = { 0 };
	size_t n = strlen(token_answer);
	EXPECT(ep_os_catalog_endpoint(token_answer, n, "image", "public", "RegionOne", url, sizeof url, &err) == 0);
	EXPECT(!strcmp(url, "https://one:9292/v2")); /* trailing '/' dropped */
	EXPECT(ep_os_catalog_endpoint(token_answer, n, "image", "public", "RegionTwo", url, sizeof url, &err) == 0);
	EXPECT(!strcmp(url, "https://two:9292"));
	EXPECT(ep_os_catalog_endpoint(token_answer, n, "image", "internal", NULL, url, sizeof url, &err) == 0);
	EXPECT(!strcmp(url, "http://internal:9292"));
	EXPECT(ep_os_catalog_endpoint(token_answer, n, "image", "public", NULL, url, sizeof url, &err) == 0);
	EXPECT(!strcmp(url, "https://two:9292")); /* no region asked: the first public one */
	EXPECT(ep_os_catalog_endpoint(token_answer, n, "image", "admin", NULL, url, sizeof url, &err) == EP_EINPUT);
	EXPECT(strstr(err.msg, "no image endpoint for interface admin"));
	EXPECT(ep_os_catalog_endpoint(token_answer, n, "orchestration", "public", NULL, url, sizeof url, &err) == EP_EINPUT);
}

TEST(catalog_refuses_what_is_not_a_catalog_or_a_url)
{
	char url[64];
	struct ep_error err = { 0 };
	const char *bad[] = {
		"", "[]", "{\"token\": {}}", "{\"token\": {\"catalog\": {}}}",
		"{\"token\": {\"catalog\": [{\"type\": \"image\", \"endpoints\": [{\"interface\": \"public\", \"url\": \"file:///etc/passwd\"}]}]}}",
		"{\"token\": {\"catalog\": [{\"type\": \"image\", \"endpoints\": [{\"interface\": \"public\", \"url\": \"http://a b\"}]}]}}",
		"{\"token\": {\"catalog\": [{\"type\": \"image\", \"endpoints\": [{\"interface\": \"public\", \"url\": \"http://h/?x\"}]}]}}",
		"{\"token\": {\"catalog\": [{\"type\": \"image\", \"endpoints\": [{\"interface\": \"public\", \"url\": "
		"\"http://a-very-long-host-name-that-does-not-fit-in-the-buffer.example/\"}]}]}}",
		"{\"token\": {\"catalog\": [{\"type\": \"image\", \"type\": \"image\"}]}}",
		/* found by fuzz_openstack: no host, and "https://" less its '/'s is no URL */
		"{\"token\": {\"catalog\": [{\"type\": \"image\", \"endpoints\": [{\"interface\": \"public\", \"url\": \"https://\"}]}]}}",
		"{\"token\": {\"catalog\": [{\"type\": \"image\", \"endpoints\": [{\"interface\": \"public\", \"url\": \"http:///x\"}]}]}}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		EXPECT(ep_os_catalog_endpoint(bad[i], strlen(bad[i]), "image", "public", NULL, url, sizeof url, &err) == EP_EINPUT);
}

static char shown[8192];
static void keep(void *ctx, const char *text)
{
	(void)ctx;
	strncat(shown, text, sizeof shown - strlen(shown) - 1);
}

TEST(dry_run_token_request_masks_the_secret)
{
	struct ep_os *os = NULL;
	struct ep_error err = { 0 };
	shown[0] = '\0';
	const char *const clear[] = { "OS_CLOUD", "OS_PASSWORD", "OS_USER_ID", "OS_PROJECT_NAME", "OS_PROJECT_ID",
				      "OS_TENANT_NAME", "OS_TENANT_ID", "OS_APPLICATION_CREDENTIAL_NAME", "OS_IMAGE_URL",
				      "OS_REGION_NAME", "OS_INTERFACE", "OS_CACERT", "OS_ENDPOINT_TYPE" };
	for (size_t i = 0; i < sizeof clear / sizeof *clear; i++) /* the developer's own openrc */
		unsetenv(clear[i]);
	setenv("OS_AUTH_URL", "http://127.0.0.1:5000/", 1);
	setenv("OS_AUTH_TYPE", "v3applicationcredential", 1);
	setenv("OS_APPLICATION_CREDENTIAL_ID", "appid42", 1);
	setenv("OS_APPLICATION_CREDENTIAL_SECRET", "sekrit-value", 1);
	EXPECT(ep_os_open(&os, &(struct ep_os_options){ .emit = keep, .image_url = "http://g:9292/" }, &err) == 0);
	EXPECT(os && ep_os_auth(os, &err) == 0);
	EXPECT(strstr(shown, "POST http://127.0.0.1:5000/v3/auth/tokens\n"));
	EXPECT(strstr(shown, "\"application_credential\"") && strstr(shown, "\"id\": \"appid42\""));
	EXPECT(strstr(shown, "\"secret\": \"****\"") && !strstr(shown, "sekrit-value"));
	EXPECT(os && !strcmp(ep_os_image_endpoint(os), "http://g:9292"));
	shown[0] = '\0';
	char id[EP_OS_ID_MAX];
	EXPECT(os && ep_os_image_create(os, "{\"name\":\"x\"}", id, &err) == 0 && !strcmp(id, "{id}"));
	EXPECT(strstr(shown, "POST http://g:9292/v2/images\n") && strstr(shown, "X-Auth-Token: ****\n"));
	ep_os_close(os);
	unsetenv("OS_AUTH_TYPE");
	unsetenv("OS_APPLICATION_CREDENTIAL_ID");
	unsetenv("OS_APPLICATION_CREDENTIAL_SECRET");
	setenv("OS_USERNAME", "ops", 1);
	os = NULL;
	EXPECT(ep_os_open(&os, &(struct ep_os_options){ .emit = keep }, &err) == EP_EINPUT && !os);
	EXPECT(strstr(err.msg, "OS_PASSWORD"));
	unsetenv("OS_USERNAME");
	unsetenv("OS_AUTH_URL");
}

/* Nova's name filter is a regular expression: a name is looked for exactly, its
 * expression's own characters escaped; the microversion rides on every call. */
TEST(dry_run_nova_server_by_name_is_exact)
{
	struct ep_os *os = NULL;
	struct ep_error err = { 0 };
	setenv("OS_AUTH_URL", "http://127.0.0.1:5000/v3", 1);
	setenv("OS_AUTH_TYPE", "v3applicationcredential", 1);
	setenv("OS_APPLICATION_CREDENTIAL_ID", "appid42", 1);
	setenv("OS_APPLICATION_CREDENTIAL_SECRET", "sekrit-value", 1);
	EXPECT(ep_os_open(&os, &(struct ep_os_options){ .emit = keep, .compute_url = "http://n:8774/v2.1/" }, &err) == 0);
	EXPECT(os && ep_os_auth(os, &err) == 0);
	shown[0] = '\0';
	struct ep_nova_server s;
	EXPECT(os && ep_nova_server_find(os, "web.1 (old)", &s, &err) == 0 && !strcmp(s.id, "{server_id}"));
	EXPECT(strstr(shown, "GET http://n:8774/v2.1/servers?name=%5Eweb%5C.1%20%5C%28old%5C%29%24\n"));
	EXPECT(strstr(shown, "GET http://n:8774/v2.1/servers/{server_id}\n"));
	shown[0] = '\0';
	char image[EP_OS_ID_MAX];
	EXPECT(os && ep_nova_create_image(os, s.id, "snap", image, &err) == 0 && !strcmp(image, "{snapshot_id}"));
	EXPECT(strstr(shown, "POST http://n:8774/v2.1/servers/{server_id}/action\n") &&
	       strstr(shown, "OpenStack-API-Version: compute 2.47\n") && strstr(shown, "\"createImage\""));
	ep_os_close(os);
	os = NULL;
	setenv("OS_AUTH_TYPE", "none", 1); /* no Keystone, no catalog: Nova's endpoint must be given */
	EXPECT(ep_os_open(&os, &(struct ep_os_options){ .image_url = "http://g:9292" }, &err) == 0);
	EXPECT(os && ep_os_auth(os, &err) == 0 && ep_nova_server_find(os, "web", &s, &err) == EP_EINPUT);
	EXPECT(strstr(err.msg, "compute-url"));
	ep_os_close(os);
	unsetenv("OS_AUTH_TYPE");
	unsetenv("OS_APPLICATION_CREDENTIAL_ID");
	unsetenv("OS_APPLICATION_CREDENTIAL_SECRET");
	unsetenv("OS_AUTH_URL");
}
