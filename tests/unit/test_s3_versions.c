/* A page of ListObjectVersions read (cloud/s3_versions.c): versions and delete markers in the
 * server's order, keys outside the prefix passed over, the next page's markers; what the network
 * side and the choice of each key's version at a time do is judged by tests/cases/t114. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/s3_versions.h"
#include "tests/unit/unit.h"

struct seen {
	char line[8][200];
	int n;
};

static int note(void *ctx, const struct ep_s3_version *v, struct ep_error *err)
{
	(void)err;
	struct seen *s = ctx;
	if (s->n < 8)
		snprintf(s->line[s->n++], 200, "%s %s %d%d %lld %llu %s", v->key, v->version, v->latest, v->deleted,
			 (long long)v->modified, (unsigned long long)v->size, v->etag);
	return 0;
}

#define V(key, id, latest, time, etag, size)                                                               \
	"<Version><Key>" key "</Key><VersionId>" id "</VersionId><IsLatest>" latest "</IsLatest><LastModified>" \
	time "</LastModified><ETag>&quot;" etag "&quot;</ETag><Size>" size "</Size></Version>"

TEST(s3_versions_page)
{
	const char *page = "<ListVersionsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			   "<IsTruncated>true</IsTruncated><NextKeyMarker>dr/c</NextKeyMarker>"
			   "<NextVersionIdMarker>v9</NextVersionIdMarker>"
			   "<DeleteMarker><Key>dr/a</Key><VersionId>v3</VersionId><IsLatest>true</IsLatest>"
			   "<LastModified>2026-12-07T10:00:02.500Z</LastModified></DeleteMarker>" V(
				   "dr/a", "v2", "false", "2026-12-07T10:00:01.000Z", "abc", "5")
				   V("other/x", "v5", "true", "2026-12-07T10:00:00Z", "d", "1") "</ListVersionsResult>";
	struct seen s = { 0 };
	struct ep_error err;
	char *km = NULL, *vm = NULL;
	bool more = false;
	EXPECT(ep_s3_versions_page(page, strlen(page), "t", "dr/", note, &s, &more, &km, &vm, &err) == 0);
	EXPECT(s.n == 2);
	EXPECT(!strcmp(s.line[0], "dr/a v3 11 1796637602 0 "));
	EXPECT(!strcmp(s.line[1], "dr/a v2 00 1796637601 5 abc"));
	EXPECT(more && km && vm && !strcmp(km, "dr/c") && !strcmp(vm, "v9"));
	free(km);
	free(vm);
	/* truncated without a next page, or an entry without a version id: failures, not a loop or a guess */
	const char *bad[] = { "<ListVersionsResult><IsTruncated>true</IsTruncated></ListVersionsResult>",
			      "<ListVersionsResult><Version><Key>dr/a</Key><LastModified>2026-12-07T10:00:00Z"
			      "</LastModified><Size>1</Size></Version></ListVersionsResult>",
			      "<Error><Code>AccessDenied</Code></Error>" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		EXPECT(ep_s3_versions_page(bad[i], strlen(bad[i]), "t", "dr/", note, &s, &more, &km, &vm, &err) != 0);
		free(km);
		free(vm);
	}
}
