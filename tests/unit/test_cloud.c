/* What cloud targets share: the dry-run rendering of a request, its
 * credentials masked, and the -o KEY=VALUE settings. */
#include <stdlib.h>
#include <string.h>

#include "base/http.h"
#include "cloud/remote.h"
#include "targets/target.h"
#include "tests/unit/unit.h"

TEST(request_text_masks_credential_headers)
{
	const char *headers[] = { "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/us-east-1/s3/aws4_request, "
				  "SignedHeaders=host, Signature=deadbeef",
				  "X-Amz-Security-Token: SESSIONSECRET", "x-auth-token: gAAAAtoken",
				  "x-ms-blob-type: PageBlob", NULL };
	char *t = ep_http_request_text(&(struct ep_http_request){
		.method = "PUT", .url = "https://acct.blob.core.windows.net/c/web.vhd", .headers = headers });
	EXPECT(t != NULL);
	EXPECT(strstr(t, "PUT https://acct.blob.core.windows.net/c/web.vhd\n") == t);
	EXPECT(strstr(t, "Authorization: AWS4-HMAC-SHA256 ****\n"));
	EXPECT(strstr(t, "X-Amz-Security-Token: ****\n"));
	EXPECT(strstr(t, "x-auth-token: ****\n"));
	EXPECT(strstr(t, "x-ms-blob-type: PageBlob\n"));
	EXPECT(!strstr(t, "AKIDEXAMPLE") && !strstr(t, "deadbeef") && !strstr(t, "SESSIONSECRET") && !strstr(t, "gAAAA"));
	free(t);
}

TEST(request_text_masks_signed_query_parameters)
{
	char *t = ep_http_request_text(&(struct ep_http_request){
		.method = "GET",
		.url = "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKID%2F1&X-Amz-Date=20261128T000000Z&X-Amz-Signature=abc"
		       "&sv=2021-08-06&sig=SASSECRET" });
	EXPECT(t && strstr(t, "X-Amz-Credential=****&X-Amz-Date=20261128T000000Z&X-Amz-Signature=****&sv=2021-08-06&sig=****"));
	EXPECT(t && !strstr(t, "AKID") && !strstr(t, "SASSECRET"));
	free(t);
}

TEST(request_text_masks_a_url_password)
{
	char *t = ep_http_request_text(&(struct ep_http_request){ .method = "HEAD", .url = "https://ops:hunter2@h.example/a@b:c?x=1" });
	EXPECT(t && strstr(t, "HEAD https://ops:****@h.example/a@b:c?x=1\n") && !strstr(t, "hunter2"));
	free(t);
	t = ep_http_request_text(&(struct ep_http_request){ .method = "HEAD", .url = "https://h.example/k:v@x" });
	EXPECT(t && strstr(t, "HEAD https://h.example/k:v@x\n"));
	free(t);
}

TEST(remote_public_url_leaves_out_credentials)
{
	char out[200];
	ep_remote_public_url("https://ops:hunter2@h.example:8443/d/disk.vmdk?X-Amz-Signature=abc#f", out, sizeof out);
	EXPECT(!strcmp(out, "https://h.example:8443/d/disk.vmdk"));
	ep_remote_public_url("s3://bucket/a/b.qcow2", out, sizeof out);
	EXPECT(!strcmp(out, "s3://bucket/a/b.qcow2"));
	ep_remote_public_url("http://h/p@q", out, sizeof out);
	EXPECT(!strcmp(out, "http://h/p@q"));
}

TEST(request_text_masks_secrets_in_json_and_sizes_streams)
{
	const char body[] = "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"ops\","
			    "\"password\":\"hunter2\"}}}}}";
	char *t = ep_http_request_text(&(struct ep_http_request){
		.method = "POST", .url = "http://127.0.0.1:5000/v3/auth/tokens", .data = body, .data_len = strlen(body) });
	EXPECT(t && strstr(t, "\"name\": \"ops\"") && strstr(t, "\"password\": \"****\"") && !strstr(t, "hunter2"));
	free(t);
	struct ep_http_body stream = { .len = 4096 };
	t = ep_http_request_text(&(struct ep_http_request){ .method = "PUT", .url = "http://h/x", .body = &stream });
	EXPECT(t && strstr(t, "\n\n[4096 bytes streamed]\n"));
	free(t);
	const char form[] = "Action=ImportImage&Version=2016-11-15";
	t = ep_http_request_text(&(struct ep_http_request){
		.method = "POST", .url = "http://h/", .data = form, .data_len = strlen(form) });
	EXPECT(t && strstr(t, "\n\nAction=ImportImage&Version=2016-11-15\n"));
	free(t);
	/* an OAuth token request: its form body's client_secret masked, the rest as it is */
	const char oauth[] = "grant_type=client_credentials&client_id=sp&client_secret=hunter2%7E&scope=x";
	const char *hdrs[] = { "Content-Type: application/x-www-form-urlencoded", NULL };
	t = ep_http_request_text(&(struct ep_http_request){
		.method = "POST", .url = "http://h/t/oauth2/v2.0/token", .headers = hdrs, .data = oauth, .data_len = strlen(oauth) });
	EXPECT(t && strstr(t, "\n\ngrant_type=client_credentials&client_id=sp&client_secret=****&scope=x\n") &&
	       !strstr(t, "hunter2"));
	free(t);
}

TEST(target_params_found_and_unknown_refused)
{
	const char *params[] = { "region=eu-west-1", "project=demo" };
	struct ep_target_options opt = { .params = params, .nparams = 2 };
	struct ep_error err = { 0 };
	EXPECT(!strcmp(ep_target_param(&opt, "region"), "eu-west-1"));
	EXPECT(ep_target_param(&opt, "reg") == NULL && ep_target_param(NULL, "region") == NULL);
	EXPECT(ep_target_params_check(&opt, "gcp", (const char *const[]){ "region", "project", NULL }, &err) == 0);
	EXPECT(ep_target_params_check(&opt, "aws", (const char *const[]){ "region", NULL }, &err) == EP_EINPUT);
	EXPECT(strstr(err.msg, "aws: unknown option -o project"));
}

TEST(endpoints_are_scheme_host_and_port_only)
{
	char base[64];
	struct ep_error err = { 0 };
	EXPECT(ep_http_endpoint("http://127.0.0.1:9000/", base, sizeof base, "s3", &err) == 0 && !strcmp(base, "http://127.0.0.1:9000"));
	EXPECT(ep_http_endpoint("https://ec2.eu-west-1.amazonaws.com", base, sizeof base, "ec2", &err) == 0);
	const char *bad[] = { "https://", "http:///", "https://host:", "ftp://host", "host:9000", "http://h/path", "", "//" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		err = (struct ep_error){ 0 };
		EXPECT(ep_http_endpoint(bad[i], base, sizeof base, "s3: --endpoint", &err) == EP_EINPUT);
		EXPECT(strstr(err.msg, "takes http(s)://HOST[:PORT]"));
	}
	EXPECT(ep_http_endpoint("http://a-very-long-host-name-that-does-not-fit.example:9000", base, 20, "s3", &err) == EP_EINPUT);
}
