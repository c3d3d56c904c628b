#include "cloud/gcs.h"

#include <stdlib.h>

#include "base/util.h"
#include "cloud/credfile.h"

static int boto_creds(char **access, char **secret, struct ep_error *err)
{
	static const char *const keys[] = { "gs_access_key_id", "gs_secret_access_key" };
	char *values[2] = { NULL };
	int rc = ep_ini_secrets("BOTO_CONFIG", ".boto", "gcp: the boto file", "Credentials", keys, values, 2, err);
	*access = values[0], *secret = values[1];
	return rc;
}

int ep_gcs_open(struct ep_s3 **out, const struct ep_s3_options *base, bool dry_run, struct ep_error *err)
{
	struct ep_s3_options so = base ? *base : (struct ep_s3_options){ 0 };
	if (!so.endpoint || !*so.endpoint)
		so.endpoint = EP_GCS_ENDPOINT; /* never AWS_ENDPOINT_URL: that names AWS's store */
	if (!so.region || !*so.region)
		so.region = "auto"; /* what Cloud Storage signs with */
	char *access = NULL, *secret = NULL;
	const char *a = getenv("GCS_HMAC_ACCESS_ID"), *s = getenv("GCS_HMAC_SECRET");
	struct ep_sigv4_creds creds = { a, s, NULL };
	int rc = 0;
	if (dry_run) {
		creds = (struct ep_sigv4_creds){ "GOOG1EXAMPLEACCESSID", "EXAMPLE-HMAC-SECRET", NULL };
	} else if (!a || !*a || !s || !*s) {
		rc = boto_creds(&access, &secret, err);
		if (!rc && (!access || !secret))
			rc = ep_fail(err, EP_EINPUT,
				     "gcp: no HMAC key: set GCS_HMAC_ACCESS_ID and GCS_HMAC_SECRET (gcloud storage hmac create "
				     "SERVICE_ACCOUNT makes one), or gs_access_key_id and gs_secret_access_key under "
				     "[Credentials] in ~/.boto (mode 600)");
		creds = (struct ep_sigv4_creds){ access, secret, NULL };
	}
	so.creds = &creds;
	so.if_absent = "x-goog-if-generation-match: 0";
	if (!rc)
		rc = ep_s3_open(out, &so, err);
	ep_secret_free(access);
	ep_secret_free(secret);
	return rc;
}
