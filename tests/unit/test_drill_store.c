/* Drill records in a store (formats/STORE.md, section 9): put signed, got back byte for
 * byte under the record's digest (keyed and sealed in an encrypted store), verified against
 * the trusted key before they are parsed, their shape checked; a changed byte, another
 * key's signature, a record moved under another name are set aside with the reason. The
 * commands (snapshots, check, prune) and the s3: backend are judged by tests/cases/t107. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "formats/bundle/seal.h"
#include "tests/unit/unit.h"
#include "verify/drill_record.h"

#define SNAP_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SNAP_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static const char *str(const json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "";
}

/* A record of the brief's shape: one machine passed with rto, one as given. */
static json_t *record(const char *snapshot, const char *started, bool passed, double rto2)
{
	json_t *r = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:b,s:b,s:[{s:s,s:b,s:f,s:I,s:[{s:s,s:s,s:b,s:f,s:s}],s:s}]}",
			      "kind", "envpack-drill", "version", 1, "snapshot", snapshot, "snapshot_time",
			      "2026-12-07T03:00:00Z", "snapshot_name", "web-env", "started", started, "host", "dr1",
			      "passed", passed, "integrity_failure", 0, "machines", "name", "web", "passed", 1,
			      "rto_seconds", 7.42, "bytes_read", (json_int_t)123456, "checks", "kind", "serial", "target",
			      "ENVPACK-BOOT-OK", "passed", 1, "seconds", 3.1, "detail", "", "console_tail", "login:");
	json_t *db = rto2 >= 0 ? json_pack("{s:s,s:b,s:f}", "name", "db", "passed", passed, "rto_seconds", rto2)
			       : json_pack("{s:s,s:b}", "name", "db", "passed", passed);
	json_array_append_new(json_object_get(r, "machines"), db);
	return r;
}

static int count_files(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "exit $(ls -A %s 2>/dev/null | wc -l)", dir);
	return WEXITSTATUS(system(cmd));
}

static void flip(const char *path, long off)
{
	FILE *f = fopen(path, "r+b");
	if (!f)
		return;
	fseek(f, off, SEEK_SET);
	int c = fgetc(f);
	fseek(f, off, SEEK_SET);
	fputc(c ^ 0xff, f);
	fclose(f);
}

static const char *problem(const json_t *bad, size_t i)
{
	const char *p = json_string_value(json_object_get(json_array_get(bad, i), "problem"));
	return p ? p : "";
}

TEST(drill_store_put_get_verify)
{
	struct ep_error err = { 0 };
	char kid[EP_KEY_ID_HEX], oid[EP_KEY_ID_HEX], id[EP_STORE_ID_HEX], again[EP_STORE_ID_HEX];
	struct ep_key *key = NULL;
	struct ep_store *st = NULL;
	EXPECT(ep_key_generate("k", EP_KEY_SIGNING, kid, &err) == 0 && ep_key_generate("o", EP_KEY_SIGNING, oid, &err) == 0);
	EXPECT(ep_key_load_private("k.key", &key, &err) == 0);
	EXPECT(ep_store_open(&st, "dir:st", true, &err) == 0);
	if (!st || !key)
		return;
	json_t *r = record(SNAP_A, "2026-12-07T04:00:00Z", true, 3.0);

	/* nothing is stored without the lock */
	EXPECT(ep_drill_record_put(st, key, r, id, &err) == EP_ERUNTIME && strstr(err.msg, "lock"));
	EXPECT(count_files("st/drills") == 0);

	EXPECT(ep_store_lock(st, false, "drill", 0, NULL, NULL, &err) == 0);
	EXPECT(ep_drill_record_put(st, key, r, id, &err) == 0);
	/* the id is the SHA-256 of the bytes stored, the compact JSON */
	char *bytes = json_dumps(r, EP_DRILL_JSON_FLAGS), hex[EP_DIGEST_HEX], path[200], *onfile = NULL;
	uint8_t d[EP_DIGEST_LEN];
	size_t len = 0;
	ep_sha256(bytes, strlen(bytes), d);
	ep_hex(d, sizeof d, hex);
	EXPECT(!strcmp(hex, id));
	snprintf(path, sizeof path, "st/drills/%s.json", id);
	EXPECT(ep_read_file(path, 1 << 20, &onfile, &len, &err) == 0 && len == strlen(bytes) && !memcmp(onfile, bytes, len));
	snprintf(path, sizeof path, "st/drills/%s.sig", id);
	EXPECT(access(path, F_OK) == 0);
	EXPECT(count_files("st/drills") == 2);

	/* the same record again: the same object, no failure */
	EXPECT(ep_drill_record_put(st, key, r, again, &err) == 0 && !strcmp(again, id));
	EXPECT(count_files("st/drills") == 2);

	char(*ids)[EP_STORE_ID_HEX] = NULL;
	size_t n = 0;
	EXPECT(ep_store_drill_ids(st, &ids, &n, &err) == 0 && n == 1 && !strcmp(ids[0], id));
	free(ids);
	struct ep_store_drill got;
	EXPECT(ep_store_get_drill(st, id, &got, &err) == 0 && got.record_len == strlen(bytes) &&
	       !memcmp(got.record, bytes, got.record_len) && got.signature && strstr(got.signature, kid));
	ep_store_drill_release(&got);

	/* verified against the key: the record, with its id */
	json_t *ok = NULL, *bad = NULL;
	EXPECT(ep_drill_records_load(st, &(struct ep_trust){ .pubkey = "k.pub" }, &ok, &bad, &err) == 0);
	EXPECT(json_array_size(ok) == 1 && json_array_size(bad) == 0);
	const json_t *v = json_array_get(ok, 0);
	EXPECT(!strcmp(str(json_object_get(v, "id")), id));
	EXPECT(!strcmp(str(json_object_get(v, "snapshot")), SNAP_A));
	json_decref(ok);
	json_decref(bad);

	/* against another key: set aside, saying why */
	EXPECT(ep_drill_records_load(st, &(struct ep_trust){ .pubkey = "o.pub" }, &ok, &bad, &err) == 0);
	EXPECT(json_array_size(ok) == 0 && json_array_size(bad) == 1);
	EXPECT(strstr(problem(bad, 0), kid) && strstr(problem(bad, 0), oid));
	EXPECT(json_is_false(json_object_get(json_array_get(bad, 0), "untrusted"))); /* checked, and false */
	EXPECT(strstr(str(json_object_get(json_array_get(bad, 0), "file")), "st/drills/") != NULL);
	json_decref(ok);
	json_decref(bad);

	/* a key that cannot be read is no verdict on the records */
	EXPECT(ep_drill_records_load(st, &(struct ep_trust){ .pubkey = "missing.pub" }, &ok, &bad, &err) != 0);
	EXPECT(!ok && !bad && strstr(err.msg, "missing.pub"));

	/* the trusted-keys directory, without a key given */
	EXPECT(system("mkdir -p trusted empty && cp k.pub trusted/") == 0);
	setenv("ENVPACK_TRUSTED_KEYS", "trusted", 1);
	EXPECT(ep_drill_records_load(st, &(struct ep_trust){ 0 }, &ok, &bad, &err) == 0 && json_array_size(ok) == 1);
	json_decref(ok);
	json_decref(bad);
	setenv("ENVPACK_TRUSTED_KEYS", "empty", 1);
	EXPECT(ep_drill_records_load(st, &(struct ep_trust){ 0 }, &ok, &bad, &err) == 0 && json_array_size(ok) == 0);
	EXPECT(strstr(problem(bad, 0), "no trusted key") != NULL);
	EXPECT(json_is_true(json_object_get(json_array_get(bad, 0), "untrusted"))); /* not checked at all */
	json_decref(ok);
	json_decref(bad);
	unsetenv("ENVPACK_TRUSTED_KEYS");

	/* a byte changed in the record, then in its signature */
	snprintf(path, sizeof path, "st/drills/%s.json", id);
	flip(path, 40);
	EXPECT(ep_drill_records_load(st, &(struct ep_trust){ .pubkey = "k.pub" }, &ok, &bad, &err) == 0);
	EXPECT(json_array_size(ok) == 0 && strstr(problem(bad, 0), "does not match its id"));
	json_decref(ok);
	json_decref(bad);
	flip(path, 40);
	snprintf(path, sizeof path, "st/drills/%s.sig", id);
	flip(path, 70);
	EXPECT(ep_drill_records_load(st, &(struct ep_trust){ .pubkey = "k.pub" }, &ok, &bad, &err) == 0);
	EXPECT(json_array_size(ok) == 0 && json_array_size(bad) == 1);
	json_decref(ok);
	json_decref(bad);
	flip(path, 70);
	/* no signature: not verified (but under insecure) */
	EXPECT(unlink(path) == 0);
	EXPECT(ep_drill_records_load(st, &(struct ep_trust){ .pubkey = "k.pub" }, &ok, &bad, &err) == 0);
	EXPECT(json_array_size(ok) == 0 && strstr(problem(bad, 0), "is not signed"));
	json_decref(ok);
	json_decref(bad);
	EXPECT(ep_drill_records_load(st, &(struct ep_trust){ .insecure = true }, &ok, &bad, &err) == 0);
	EXPECT(json_array_size(ok) == 1);
	json_decref(ok);
	json_decref(bad);

	/* named for removal by its id or a prefix of it, whatever its state (here unsigned); so is a
	 * signature left without its record; another prefix names none */
	char found[EP_STORE_ID_HEX], ref[9], lone[EP_STORE_ID_HEX];
	snprintf(ref, sizeof ref, "%.8s", id);
	EXPECT(ep_store_find_drill(st, ref, found, &err) == 0 && !strcmp(found, id));
	EXPECT(ep_store_find_drill(st, id, found, &err) == 0 && !strcmp(found, id));
	memset(lone, id[0] == 'c' ? 'd' : 'c', 64);
	lone[64] = '\0';
	snprintf(path, sizeof path, "st/drills/%s.sig", lone);
	FILE *f = fopen(path, "w");
	EXPECT(f && fclose(f) == 0);
	EXPECT(ep_store_find_drill(st, lone, found, &err) == 0 && !strcmp(found, lone));
	ref[0] = id[0] == 'e' ? 'f' : 'e';
	EXPECT(ep_store_find_drill(st, ref, found, &err) == EP_EINPUT && strstr(err.msg, "has no drill record") &&
	       strstr(err.msg, ref));
	EXPECT(ep_store_find_drill(st, "xyz", found, &err) == EP_EINPUT &&
	       strstr(err.msg, "'xyz' names no drill record"));
	EXPECT(ep_store_remove_drill(st, lone, &err) == 0);

	EXPECT(ep_store_remove_drill(st, id, &err) == 0 && count_files("st/drills") == 0);
	free(bytes);
	free(onfile);
	json_decref(r);
	ep_key_free(key);
	ep_store_close(st);
}

TEST(drill_store_refusals)
{
	struct ep_error err = { 0 };
	char kid[EP_KEY_ID_HEX], id[EP_STORE_ID_HEX];
	struct ep_key *key = NULL;
	struct ep_store *st = NULL;
	EXPECT(ep_key_generate("k", EP_KEY_SIGNING, kid, &err) == 0 && ep_key_load_private("k.key", &key, &err) == 0);
	EXPECT(ep_store_open(&st, "dir:st", true, &err) == 0);
	if (!st || !key)
		return;
	EXPECT(ep_store_lock(st, false, "drill", 0, NULL, NULL, &err) == 0);
	static const char sig[] = "{\"algorithm\":\"ed25519\"}";
	EXPECT(ep_store_put_drill(st, "{}", 2, NULL, 0, id, &err) == EP_EINPUT && strstr(err.msg, "signed"));
	EXPECT(ep_store_put_drill(st, "", 0, sig, sizeof sig - 1, id, &err) == EP_EINPUT);
	char *big = calloc(1, EP_STORE_DRILL_MAX + 2);
	if (big) {
		memset(big, ' ', EP_STORE_DRILL_MAX + 1);
		EXPECT(ep_store_put_drill(st, big, EP_STORE_DRILL_MAX + 1, sig, sizeof sig - 1, id, &err) == EP_EINPUT &&
		       strstr(err.msg, "bytes"));
	}
	free(big);
	/* a record of the wrong shape is not signed, nor stored */
	json_t *r = record(SNAP_A, "yesterday", true, 1);
	EXPECT(ep_drill_record_put(st, key, r, id, &err) == EP_EINPUT && strstr(err.msg, "\"started\""));
	EXPECT(count_files("st/drills") == 0);
	/* a signature left without its record (a writer that died) is not replaced by another */
	json_object_set_new(r, "started", json_string("2026-12-07T04:00:00Z"));
	char *bytes = json_dumps(r, EP_DRILL_JSON_FLAGS), name[200];
	uint8_t d[EP_DIGEST_LEN];
	char hex[EP_DIGEST_HEX];
	ep_sha256(bytes, strlen(bytes), d);
	ep_hex(d, sizeof d, hex);
	snprintf(name, sizeof name, "mkdir -p st/drills && echo '%s' >st/drills/%s.sig", sig, hex);
	EXPECT(system(name) == 0);
	EXPECT(ep_drill_record_put(st, key, r, id, &err) == EP_EINPUT && strstr(err.msg, "another signature"));
	snprintf(name, sizeof name, "st/drills/%s.json", hex);
	EXPECT(access(name, F_OK) != 0);
	free(bytes);
	json_decref(r);
	ep_key_free(key);
	ep_store_close(st);
}

TEST(drill_store_encrypted)
{
	struct ep_error err = { 0 };
	char kid[EP_KEY_ID_HEX], rid[EP_KEY_ID_HEX], id[EP_STORE_ID_HEX], id2[EP_STORE_ID_HEX];
	struct ep_key *key = NULL;
	struct ep_seal *reader = NULL;
	struct ep_store *st = NULL;
	EXPECT(ep_key_generate("k", EP_KEY_SIGNING, kid, &err) == 0 && ep_key_load_private("k.key", &key, &err) == 0);
	EXPECT(ep_key_generate("r", EP_KEY_RECIPIENT, rid, &err) == 0 && ep_seal_new(&reader, NULL, "r.key", &err) == 0);
	EXPECT(ep_store_open_with(&st, "dir:st", &(struct ep_store_open_options){ .create = true, .seal = reader }, &err) == 0);
	if (!st || !key)
		return;
	EXPECT(ep_store_lock(st, false, "drill", 0, NULL, NULL, &err) == 0);
	json_t *r = record(SNAP_A, "2026-12-07T04:00:00Z", true, 3.0), *r2 = record(SNAP_B, "2026-12-07T05:00:00Z", false, -1);
	EXPECT(ep_drill_record_put(st, key, r, id, &err) == 0 && ep_drill_record_put(st, key, r2, id2, &err) == 0);
	/* named by the keyed hash, not the digest; both objects sealed */
	char *bytes = json_dumps(r, EP_DRILL_JSON_FLAGS), hex[EP_DIGEST_HEX], path[200], *onfile = NULL;
	uint8_t d[EP_DIGEST_LEN], oid[EP_DIGEST_LEN];
	size_t len = 0;
	ep_sha256(bytes, strlen(bytes), d);
	ep_hex(d, sizeof d, hex);
	EXPECT(strcmp(hex, id) != 0);
	ep_seal_object_id(reader, d, oid);
	ep_hex(oid, sizeof oid, hex);
	EXPECT(!strcmp(hex, id));
	snprintf(path, sizeof path, "st/drills/%s.json", id);
	EXPECT(ep_read_file(path, 1 << 20, &onfile, &len, &err) == 0 && ep_sealed(onfile, len, NULL) &&
	       !memmem(onfile, len, "envpack-drill", 13));
	free(onfile);
	snprintf(path, sizeof path, "st/drills/%s.sig", id);
	EXPECT(ep_read_file(path, 1 << 20, &onfile, &len, &err) == 0 && ep_sealed(onfile, len, NULL));
	free(onfile);

	json_t *ok = NULL, *bad = NULL;
	EXPECT(ep_drill_records_load(st, &(struct ep_trust){ .pubkey = "k.pub" }, &ok, &bad, &err) == 0);
	EXPECT(json_array_size(ok) == 2 && json_array_size(bad) == 0);
	json_decref(ok);
	json_decref(bad);

	/* a record moved under another record's name does not open (its name is authenticated) */
	char cmd[400];
	snprintf(cmd, sizeof cmd, "cp st/drills/%s.json st/drills/%s.json && cp st/drills/%s.sig st/drills/%s.sig", id,
		 id2, id, id2);
	EXPECT(system(cmd) == 0);
	EXPECT(ep_drill_records_load(st, &(struct ep_trust){ .pubkey = "k.pub" }, &ok, &bad, &err) == 0);
	EXPECT(json_array_size(ok) == 1 && json_array_size(bad) == 1);
	EXPECT(!strcmp(str(json_object_get(json_array_get(bad, 0), "id")), id2));
	json_decref(ok);
	json_decref(bad);
	free(bytes);
	json_decref(r);
	json_decref(r2);
	ep_store_close(st);
	ep_seal_free(reader);
	ep_key_free(key);
}

TEST(drill_record_shape)
{
	struct ep_error err = { 0 };
	json_t *good = record(SNAP_A, "2026-12-07T04:00:00Z", true, 3.0);
	EXPECT(ep_drill_record_check(good, &err) == 0);
	/* a failed machine may have no recovery time */
	json_t *failed = record(SNAP_A, "2026-12-07T04:00:00Z", false, -1);
	EXPECT(ep_drill_record_check(failed, &err) == 0);
	json_decref(failed);
	static const struct {
		const char *patch; /* merged into the good record (machines replaced whole) */
		const char *says;
	} bad[] = {
		{ "{\"kind\":\"envpack-backup\"}", "\"kind\"" },
		{ "{\"version\":2}", "\"version\" is not 1" },
		{ "{\"snapshot\":\"abc\"}", "\"snapshot\"" },
		{ "{\"snapshot\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}", "\"snapshot\"" },
		{ "{\"snapshot_time\":\"2026-12-07\"}", "\"snapshot_time\"" },
		{ "{\"snapshot_name\":7}", "\"snapshot_name\"" },
		{ "{\"started\":\"2026-12-07 04:00:00\"}", "\"started\"" },
		{ "{\"host\":null}", "\"host\"" },
		{ "{\"passed\":\"yes\"}", "\"passed\"" },
		{ "{\"integrity_failure\":0}", "\"integrity_failure\"" },
		{ "{\"id\":\"x\"}", "\"id\"" },
		{ "{\"machines\":{}}", "\"machines\" is not an array" },
		{ "{\"machines\":[7]}", "\"machines\"[0]: is not an object" },
		{ "{\"machines\":[{\"passed\":true,\"rto_seconds\":1}]}", "\"machines\"[0]: \"name\"" },
		{ "{\"machines\":[{\"name\":\"web\",\"passed\":true}]}", "\"machines\"[0]: \"rto_seconds\"" },
		{ "{\"machines\":[{\"name\":\"web\",\"passed\":true,\"rto_seconds\":null}]}", "\"rto_seconds\"" },
		{ "{\"machines\":[{\"name\":\"web\",\"passed\":false,\"rto_seconds\":-1}]}", "\"rto_seconds\"" },
		{ "{\"machines\":[{\"name\":\"web\",\"passed\":true,\"rto_seconds\":\"7\"}]}", "\"rto_seconds\"" },
		{ "{\"machines\":[{\"name\":\"web\",\"passed\":true,\"rto_seconds\":1,\"bytes_read\":-1}]}", "\"bytes_read\"" },
		{ "{\"machines\":[{\"name\":\"web\",\"passed\":true,\"rto_seconds\":1,\"console_tail\":[]}]}", "\"console_tail\"" },
		{ "{\"machines\":[{\"name\":\"web\",\"passed\":true,\"rto_seconds\":1,\"checks\":{}}]}", "\"checks\" is not" },
		{ "{\"machines\":[{\"name\":\"a\",\"passed\":true,\"rto_seconds\":1},{\"name\":\"b\",\"passed\":true,"
		  "\"rto_seconds\":1,\"checks\":[{\"kind\":\"tcp\",\"target\":\"22\"}]}]}",
		  "\"machines\"[1]: \"checks\"[0]: \"passed\"" },
		{ "{\"machines\":[{\"name\":\"a\",\"passed\":true,\"rto_seconds\":1,\"checks\":[{\"kind\":\"tcp\",\"target\":"
		  "\"22\",\"passed\":true,\"seconds\":-3}]}]}",
		  "\"seconds\"" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		json_t *r = json_deep_copy(good), *patch = json_loads(bad[i].patch, 0, NULL);
		EXPECT(patch != NULL);
		json_object_update(r, patch);
		err = (struct ep_error){ 0 };
		int rc = ep_drill_record_check(r, &err);
		if (rc != EP_EINPUT || !strstr(err.msg, bad[i].says))
			printf("       case %zu: rc %d, message '%s'\n", i, rc, err.msg);
		EXPECT(rc == EP_EINPUT && strstr(err.msg, bad[i].says));
		json_decref(r);
		json_decref(patch);
	}
	/* as drill/drill.c makes one: a check not passed has "seconds": null, a failed machine
	 * "rto_seconds": null and a "failure" this format does not name */
	json_t *as_drill = json_loads("{\"kind\":\"envpack-drill\",\"version\":1,\"snapshot\":\"" SNAP_A "\","
				      "\"snapshot_time\":\"2026-12-07T03:00:00Z\",\"snapshot_name\":\"web-env\","
				      "\"started\":\"2026-12-07T04:00:00Z\",\"host\":\"dr1\",\"passed\":false,"
				      "\"integrity_failure\":false,\"machines\":[{\"name\":\"web\",\"passed\":false,"
				      "\"rto_seconds\":null,\"bytes_read\":0,\"checks\":[{\"kind\":\"tcp\",\"target\":\"22\","
				      "\"passed\":false,\"seconds\":null,\"detail\":\"refused\"}],\"console_tail\":\"\","
				      "\"failure\":\"timed out after 60 s\"}]}",
				      0, NULL);
	EXPECT(as_drill && ep_drill_record_check(as_drill, &err) == 0);
	json_decref(as_drill);
	json_t *none = json_deep_copy(good);
	json_object_del(none, "kind");
	EXPECT(ep_drill_record_check(none, &err) == EP_EINPUT);
	json_decref(none);
	EXPECT(ep_drill_record_check(json_array_get(json_object_get(good, "machines"), 0), &err) == EP_EINPUT);
	json_decref(good);
}

TEST(drill_latest_by_started)
{
	struct ep_error err = { 0 };
	char kid[EP_KEY_ID_HEX], id[4][EP_STORE_ID_HEX];
	struct ep_key *key = NULL;
	struct ep_store *st = NULL;
	EXPECT(ep_key_generate("k", EP_KEY_SIGNING, kid, &err) == 0 && ep_key_load_private("k.key", &key, &err) == 0);
	EXPECT(ep_store_open(&st, "dir:st", true, &err) == 0);
	if (!st || !key)
		return;
	EXPECT(ep_store_lock(st, false, "drill", 0, NULL, NULL, &err) == 0);
	/* put in another order than they ran; the last of A failed, B's RTO is its slowest machine */
	json_t *r[4] = { record(SNAP_A, "2026-12-07T06:00:00Z", false, -1), record(SNAP_A, "2026-12-07T04:00:00Z", true, 3),
			 record(SNAP_B, "2026-12-07T05:00:00Z", true, 12.3), record(SNAP_A, "2026-12-07T05:30:00Z", true, 9) };
	for (int i = 0; i < 4; i++)
		EXPECT(ep_drill_record_put(st, key, r[i], id[i], &err) == 0);
	json_t *ok = NULL, *bad = NULL;
	EXPECT(ep_drill_records_load(st, &(struct ep_trust){ .pubkey = "k.pub" }, &ok, &bad, &err) == 0);
	EXPECT(json_array_size(ok) == 4);
	static const int oldest_first[4] = { 1, 2, 3, 0 };
	for (size_t i = 0; i < 4 && i < json_array_size(ok); i++)
		EXPECT(!strcmp(str(json_object_get(json_array_get(ok, i), "id")), id[oldest_first[i]]));
	double rto = 0;
	EXPECT(ep_drill_rto(r[2], &rto) && rto == 12.3);
	EXPECT(ep_drill_rto(r[0], &rto) && rto == 7.42); /* the machine that did come up */
	json_t *latest = ep_drill_latest(ok);
	json_t *a = json_object_get(latest, SNAP_A), *b = json_object_get(latest, SNAP_B);
	EXPECT(json_object_size(latest) == 2);
	EXPECT(!strcmp(str(json_object_get(a, "id")), id[0]) && json_is_false(json_object_get(a, "passed")));
	EXPECT(!strcmp(str(json_object_get(a, "started")), "2026-12-07T06:00:00Z"));
	EXPECT(json_is_true(json_object_get(b, "passed")) && json_real_value(json_object_get(b, "rto_seconds")) == 12.3);
	json_decref(latest);
	json_decref(ok);
	json_decref(bad);
	for (int i = 0; i < 4; i++)
		json_decref(r[i]);
	ep_key_free(key);
	ep_store_close(st);
}
