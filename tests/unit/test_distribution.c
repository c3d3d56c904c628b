#include <stdio.h>
#include <string.h>

#include "formats/image/distribution.h"
#include "tests/unit/unit.h"

TEST(image_ref_forms)
{
	struct ep_image_ref r;
	struct ep_error err = { 0 };
	EXPECT(ep_image_ref_parse("127.0.0.1:5000/team/app:v1", &r, &err) == 0);
	EXPECT(!strcmp(r.host, "127.0.0.1:5000") && !strcmp(r.repo, "team/app") && !strcmp(r.tag, "v1") && !r.digest[0]);
	EXPECT(ep_image_ref_parse("reg.example/app", &r, &err) == 0);
	EXPECT(!strcmp(r.tag, "latest"));
	const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char text[200];
	snprintf(text, sizeof text, "reg.example:443/a/b@%s", d);
	EXPECT(ep_image_ref_parse(text, &r, &err) == 0);
	EXPECT(!strcmp(r.digest, d) && !r.tag[0] && !strcmp(r.repo, "a/b"));
	EXPECT(ep_image_ref_parse("app:v1", &r, &err) == EP_EINPUT);             /* no registry */
	EXPECT(ep_image_ref_parse("reg/App:v1", &r, &err) == EP_EINPUT);         /* upper case */
	EXPECT(ep_image_ref_parse("reg/a/../b", &r, &err) == EP_EINPUT);         /* path tricks */
	EXPECT(ep_image_ref_parse("reg/a?x=1", &r, &err) == EP_EINPUT);          /* URL syntax */
	EXPECT(ep_image_ref_parse("reg/a:-v", &r, &err) == EP_EINPUT);           /* bad tag */
	EXPECT(ep_image_ref_parse("reg/a@sha256:12", &r, &err) == EP_EINPUT);    /* short digest */
	EXPECT(ep_image_ref_parse("re g/a", &r, &err) == EP_EINPUT);             /* bad host */
}

TEST(image_repo_names)
{
	EXPECT(ep_image_repo_ok("a"));
	EXPECT(ep_image_repo_ok("a/b-c/d__e/f.g"));
	EXPECT(ep_image_repo_ok("a--b"));
	EXPECT(!ep_image_repo_ok(""));
	EXPECT(!ep_image_repo_ok("/a"));
	EXPECT(!ep_image_repo_ok("a/"));
	EXPECT(!ep_image_repo_ok("a//b"));
	EXPECT(!ep_image_repo_ok("a_"));
	EXPECT(!ep_image_repo_ok("a___b"));
	EXPECT(!ep_image_repo_ok("a..b"));
	EXPECT(!ep_image_repo_ok(".a"));
}

TEST(auth_challenges)
{
	struct ep_auth_challenge c;
	EXPECT(ep_auth_challenge_parse("Bearer realm=\"https://auth.example/token\",service=\"reg\",scope=\"repository:a:pull\"", &c) == 0);
	EXPECT(!strcmp(c.scheme, "Bearer") && !strcmp(c.realm, "https://auth.example/token"));
	EXPECT(!strcmp(c.service, "reg") && !strcmp(c.scope, "repository:a:pull"));
	EXPECT(ep_auth_challenge_parse("Basic realm=\"Registry Realm\"", &c) == 0);
	EXPECT(!strcmp(c.scheme, "Basic") && !strcmp(c.realm, "Registry Realm"));
	EXPECT(ep_auth_challenge_parse("Bearer realm=\"a\\\"b\", error=\"invalid_token\"", &c) == 0);
	EXPECT(!strcmp(c.realm, "a\"b"));
	EXPECT(ep_auth_challenge_parse("Bearer realm=\"unterminated", &c) != 0);
	EXPECT(ep_auth_challenge_parse("", &c) != 0);
}
