#include <stdlib.h>
#include <string.h>

#include "base/digestmap.h"
#include "base/oidset.h"
#include "base/util.h"
#include "tests/unit/unit.h"

TEST(relpath_rules)
{
	EXPECT(ep_relpath_ok("a"));
	EXPECT(ep_relpath_ok("a/b.c/d"));
	EXPECT(ep_relpath_ok("..a/b.."));
	EXPECT(!ep_relpath_ok(""));
	EXPECT(!ep_relpath_ok("/etc"));
	EXPECT(!ep_relpath_ok("../x"));
	EXPECT(!ep_relpath_ok("a/../../x"));
	EXPECT(!ep_relpath_ok("a//b"));
	EXPECT(!ep_relpath_ok("a/./b"));
	EXPECT(!ep_relpath_ok("a/"));
	EXPECT(!ep_relpath_ok(".."));
}

TEST(utf8_rules)
{
	EXPECT(ep_utf8_ok("") && ep_utf8_ok("main.tf") && ep_utf8_ok("caf\xc3\xa9") && ep_utf8_ok("\xf0\x9f\x98\x80"));
	EXPECT(!ep_utf8_ok("bad\xffname") && !ep_utf8_ok("\xc3") && !ep_utf8_ok("\xc0\xaf")); /* stray, cut, overlong */
	EXPECT(!ep_utf8_ok("\xed\xa0\x80") && !ep_utf8_ok("\xf4\x90\x80\x80")); /* a surrogate, past U+10FFFF */
}

TEST(path_format_refuses_truncation)
{
	char path[16], long_dir[64];
	struct ep_error err = { 0 };
	EXPECT(ep_path_format(path, sizeof path, &err, "%s/%s", "a", "b.txt") == 0 && !strcmp(path, "a/b.txt"));
	EXPECT(ep_path_format(path, sizeof path, &err, "%s", "exactly-15-byte") == 0); /* and the NUL */
	memset(long_dir, 'd', sizeof long_dir - 1);
	long_dir[sizeof long_dir - 1] = '\0';
	EXPECT(ep_path_format(path, sizeof path, &err, "%s/x", long_dir) == EP_EINPUT);
	EXPECT(strstr(err.msg, "'ddddddddddddddd...' is too long (65 bytes, at most 15)"));
}

TEST(names_and_hex)
{
	EXPECT(ep_name_ok("disk-0.raw_x"));
	EXPECT(!ep_name_ok(".hidden"));
	EXPECT(!ep_name_ok("a/b"));
	EXPECT(!ep_name_ok(""));
	EXPECT(!ep_name_ok(".."));
	uint8_t bytes[4] = { 0x00, 0xab, 0x10, 0xff }, back[4];
	char hex[9];
	ep_hex(bytes, 4, hex);
	EXPECT(!strcmp(hex, "00ab10ff"));
	EXPECT(ep_unhex(hex, back, 4) && !memcmp(bytes, back, 4));
	EXPECT(!ep_unhex("00AB10FF", back, 4)); /* lowercase only: one spelling per digest */
	EXPECT(!ep_unhex("00ab10f", back, 4));
}

TEST(is_zero)
{
	uint8_t buf[70000] = { 0 };
	EXPECT(ep_is_zero(buf, sizeof buf));
	EXPECT(ep_is_zero(buf, 0));
	buf[69999] = 1;
	EXPECT(!ep_is_zero(buf, sizeof buf));
	buf[69999] = 0;
	buf[3] = 1;
	EXPECT(!ep_is_zero(buf, sizeof buf));
	EXPECT(!ep_is_zero(buf, 5));
}

/* Many ids, each added three times in scattered order (merges of pending runs included):
 * each found once, at a stable position, and ids never added not found. */
TEST(oidset_many)
{
	struct ep_oidset s;
	uint8_t key[32];
	ep_oidset_init(&s);
	for (uint64_t round = 0; round < 3; round++)
		for (uint64_t i = 0; i < 150000; i++) {
			uint64_t v = (i * 7919 + round * 31) % 150000;
			ep_sha256(&v, sizeof v, key);
			EXPECT(ep_oidset_add(&s, key));
		}
	EXPECT(ep_oidset_seal(&s));
	EXPECT(ep_oidset_count(&s) == 150000);
	bool *hit = calloc(150000, 1);
	size_t found = 0;
	for (uint64_t v = 0; v < 150000; v++) {
		ep_sha256(&v, sizeof v, key);
		ptrdiff_t at = ep_oidset_find(&s, key);
		if (at >= 0 && at < 150000 && !hit[at])
			hit[at] = true, found++;
	}
	EXPECT(found == 150000);
	size_t strangers = 0;
	for (uint64_t v = 150000; v < 160000; v++) {
		ep_sha256(&v, sizeof v, key);
		strangers += ep_oidset_find(&s, key) >= 0;
	}
	EXPECT(strangers == 0);
	free(hit);
	ep_oidset_release(&s);
	ep_oidset_init(&s);
	EXPECT(ep_oidset_seal(&s) && ep_oidset_count(&s) == 0 && ep_oidset_find(&s, key) < 0);
	ep_oidset_release(&s);
}

TEST(digestmap_many)
{
	struct ep_digestmap *m = ep_digestmap_new();
	uint8_t key[32];
	for (uint64_t i = 0; i < 20000; i++) {
		ep_sha256(&i, sizeof i, key);
		EXPECT(ep_digestmap_put(m, key, i * 3));
	}
	EXPECT(ep_digestmap_count(m) == 20000);
	uint64_t v, i = 12345;
	ep_sha256(&i, sizeof i, key);
	EXPECT(ep_digestmap_get(m, key, &v) && v == 12345 * 3);
	i = 20001;
	ep_sha256(&i, sizeof i, key);
	EXPECT(!ep_digestmap_get(m, key, &v));
	ep_digestmap_free(m);
}
