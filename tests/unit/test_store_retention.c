/* Object Lock's arithmetic and refusals that need no S3 (formats/store/retention.c, store.c);
 * radosgw judges the rest (tests/cases/t112-object-lock.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/store/store.h"
#include "tests/unit/unit.h"

TEST(object_lock_slack_is_a_day_or_a_quarter)
{
	unsetenv("ENVPACK_OBJECT_LOCK_DAY_SECONDS");
	struct ep_store_object_lock one = { EP_LOCK_GOVERNANCE, 1 }, month = { EP_LOCK_COMPLIANCE, 30 };
	EXPECT(ep_store_lock_day() == 86400);
	EXPECT(ep_store_lock_slack(&one) == 86400);          /* a day at least: nightly backups skip one */
	EXPECT(ep_store_lock_slack(&month) == 30 * 86400 / 4); /* 7.5 days */
	EXPECT(ep_store_lock_target(&month, 1000) == 1000 + 30 * 86400 + 30 * 86400 / 4);
	setenv("ENVPACK_OBJECT_LOCK_DAY_SECONDS", "8", 1);
	EXPECT(ep_store_lock_day() == 8 && ep_store_lock_target(&one, 100) == 116);
	setenv("ENVPACK_OBJECT_LOCK_DAY_SECONDS", "8x", 1); /* not a number: a real day */
	EXPECT(ep_store_lock_day() == 86400);
	unsetenv("ENVPACK_OBJECT_LOCK_DAY_SECONDS");
}

TEST(object_lock_modes_by_name)
{
	enum ep_lock_mode m = EP_LOCK_NONE;
	EXPECT(ep_lock_mode_parse("compliance", &m) && m == EP_LOCK_COMPLIANCE);
	EXPECT(ep_lock_mode_parse("governance", &m) && m == EP_LOCK_GOVERNANCE);
	EXPECT(!ep_lock_mode_parse("GOVERNANCE", &m) && !ep_lock_mode_parse("", &m) && !ep_lock_mode_parse(NULL, &m));
	EXPECT(!strcmp(ep_lock_mode_name(EP_LOCK_COMPLIANCE), "compliance"));
}

TEST(object_lock_refused_on_a_directory)
{
	struct ep_store *st = NULL;
	struct ep_error err = { 0 };
	struct ep_store_object_lock p = { EP_LOCK_GOVERNANCE, 7 };
	struct ep_store_open_options o = { .init = true, .object_lock = &p };
	EXPECT(ep_store_open_with(&st, "dir:store", &o, &err) == EP_EINPUT);
	EXPECT(strstr(err.msg, "store 'dir:store': Object Lock needs an s3:// store"));
	struct stat sb;
	EXPECT(stat("store", &sb) != 0); /* nothing made */
	/* a plain store there already: its Object Lock is set when made */
	EXPECT(ep_store_open_with(&st, "dir:store", &(struct ep_store_open_options){ .init = true }, &err) == 0);
	ep_store_close(st);
	st = NULL;
	err = (struct ep_error){ 0 };
	EXPECT(ep_store_open_with(&st, "dir:store", &o, &err) == EP_EINPUT);
	EXPECT(strstr(err.msg, "exists without Object Lock"));
	EXPECT(!st);
}
