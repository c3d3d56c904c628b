/*
 * Cloud Storage through its XML API, which speaks S3's protocol: the S3 client
 * (cloud/s3.h) with Google's endpoint, region "auto", an HMAC key, and writes
 * made create-only by generation match (GCS ignores If-None-Match on writes).
 */
#ifndef EP_GCS_H
#define EP_GCS_H

#include <stdbool.h>

#include "base/error.h"
#include "cloud/s3.h"

#define EP_GCS_ENDPOINT "https://storage.googleapis.com"

/* base: --endpoint, --cacert and the rest (NULL: defaults). The HMAC key comes from
 * GCS_HMAC_ACCESS_ID and GCS_HMAC_SECRET, else [Credentials] of the boto file gsutil
 * reads (BOTO_CONFIG, else ~/.boto, readable by its owner only). A dry run signs with
 * placeholders and reads no key: what it shows is masked, and it sends nothing. */
int ep_gcs_open(struct ep_s3 **out, const struct ep_s3_options *base, bool dry_run, struct ep_error *err);

#endif
