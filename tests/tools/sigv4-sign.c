/*
 * Test tool, never installed: signs one request with cloud/sigv4 so
 * tests/cases/t90-sigv4.sh can hold the result against botocore's.
 *
 *   sigv4-sign [-r REGION] [-s SERVICE] -t YYYYMMDDTHHMMSSZ [-b BODYFILE] [-p SECS]
 *              METHOD PATH QUERY [NAME:VALUE...]
 *
 * PATH is not yet encoded (an S3 key as it is: spaces, '+', UTF-8); it is
 * encoded once, as the S3 client will. QUERY is as sent, already encoded.
 * Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 * AWS_SESSION_TOKEN. Prints the Authorization header's value, or with -p the
 * presigned query string. For service "s3" the path is signed as sent and
 * x-amz-content-sha256 is added; for any other, normalized and encoded again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cloud/sigv4.h"
#include "base/util.h"

#define MAX_HEADERS 32

static int usage(void)
{
	fprintf(stderr, "usage: sigv4-sign [-r REGION] [-s SERVICE] -t DATE [-b BODYFILE] [-p SECS] "
			"METHOD PATH QUERY [NAME:VALUE...]\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *region = "us-east-1", *service = "s3", *date = NULL, *body_file = NULL;
	unsigned presign = 0;
	for (int c; (c = getopt(argc, argv, "r:s:t:b:p:")) != -1;) {
		if (c == 'r')
			region = optarg;
		else if (c == 's')
			service = optarg;
		else if (c == 't')
			date = optarg;
		else if (c == 'b')
			body_file = optarg;
		else if (c == 'p')
			presign = (unsigned)strtoul(optarg, NULL, 10);
		else
			return usage();
	}
	if (!date || argc - optind < 3 || argc - optind - 3 > MAX_HEADERS)
		return usage();
	struct ep_error err = { 0 };
	char *body = NULL, hash[EP_DIGEST_HEX];
	size_t body_len = 0;
	if (body_file && ep_read_file(body_file, 64 << 20, &body, &body_len, &err)) {
		fprintf(stderr, "sigv4-sign: %s\n", err.msg);
		return 1;
	}
	uint8_t digest[EP_DIGEST_LEN];
	ep_sha256(body ? body : "", body_len, digest);
	ep_hex(digest, sizeof digest, hash);
	free(body);
	struct ep_sigv4_header headers[MAX_HEADERS];
	size_t n = 0;
	for (int i = optind + 3; i < argc; i++) {
		char *colon = strchr(argv[i], ':');
		if (!colon)
			return usage();
		*colon = '\0';
		headers[n++] = (struct ep_sigv4_header){ argv[i], colon + 1 };
	}
	const char *raw = argv[optind + 1];
	char *path = ep_sigv4_encode(raw, strlen(raw), true);
	if (!path)
		return 1;
	bool s3 = !strcmp(service, "s3");
	struct ep_sigv4_request req = {
		.method = argv[optind], .path = path, .query = argv[optind + 2], .headers = headers, .nheaders = n,
		/* A presigned URL knows nothing of the body it will carry. */
		.payload_hash = presign && s3 ? EP_SIGV4_UNSIGNED_PAYLOAD : hash, .region = region, .service = service,
		.amz_date = date, .flags = s3 ? EP_SIGV4_CONTENT_SHA256 : EP_SIGV4_NORMALIZE | EP_SIGV4_ENCODE_PATH,
	};
	struct ep_sigv4_creds creds = { getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"),
					getenv("AWS_SESSION_TOKEN") };
	struct ep_sigv4 s;
	int rc = presign ? ep_sigv4_presign(&req, &creds, presign, &s, &err) : ep_sigv4_sign(&req, &creds, &s, &err);
	free(path);
	if (rc) {
		fprintf(stderr, "sigv4-sign: %s\n", err.msg);
		return -rc;
	}
	printf("%s\n", presign ? s.query : s.authorization);
	ep_sigv4_release(&s);
	return 0;
}
