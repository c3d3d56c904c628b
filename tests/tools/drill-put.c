/*
 * Test tool, never installed: puts a drill record into a store as `envpack drill -k KEY`
 * will (verify/drill_record.h), so tests/cases/t107-drill-store.sh can judge the store
 * side before that command exists.
 *
 *   drill-put [-d DECRYPT.key] [-u] STORE SIGNING.key RECORD.json
 *
 * Opens STORE (with -d, an encrypted one), takes its shared lock as a backup does, signs
 * the record with SIGNING.key and puts it; prints its id. -u skips the shape check (a
 * signed record of the wrong shape, for check to find). s3:// stores are reached as the
 * envpack commands reach them without options (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...).
 * Exits 0, or 1/2/3 as envpack does, the message on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "formats/bundle/seal.h"
#include "verify/drill_record.h"

static int usage(void)
{
	fprintf(stderr, "usage: drill-put [-d DECRYPT.key] [-u] STORE SIGNING.key RECORD.json\n");
	return 2;
}

/* What -u writes: the record's bytes as given, signed, with no look at their shape. */
static int put_unchecked(struct ep_store *st, const struct ep_key *key, const char *path, char id[EP_STORE_ID_HEX],
			 struct ep_error *err)
{
	char *bytes = NULL, *sigjson = NULL;
	size_t len = 0, siglen = 0;
	struct ep_signature sig;
	int rc = ep_read_file(path, EP_STORE_DRILL_MAX, &bytes, &len, err);
	if (!rc)
		rc = ep_sign(key, bytes, len, &sig, err);
	if (!rc)
		rc = ep_signature_to_json(&sig, &sigjson, &siglen, err);
	if (!rc)
		rc = ep_store_put_drill(st, bytes, len, sigjson, siglen, id, err);
	free(bytes);
	free(sigjson);
	return rc;
}

static int put(struct ep_store *st, const struct ep_key *key, const char *path, char id[EP_STORE_ID_HEX],
	       struct ep_error *err)
{
	json_error_t je;
	json_t *record = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!record)
		return ep_fail(err, EP_EINPUT, "'%s' is not JSON: %s", path, je.text);
	int rc = ep_drill_record_put(st, key, record, id, err);
	json_decref(record);
	return rc;
}

int main(int argc, char **argv)
{
	const char *decrypt = NULL;
	bool unchecked = false;
	for (int c; (c = getopt(argc, argv, "d:u")) != -1;) {
		if (c == 'd')
			decrypt = optarg;
		else if (c == 'u')
			unchecked = true;
		else
			return usage();
	}
	if (argc - optind != 3)
		return usage();
	struct ep_error err = { 0 };
	struct ep_seal *seal = NULL;
	struct ep_key *key = NULL;
	struct ep_store *st = NULL;
	struct ep_store_open_options o = { 0 };
	char id[EP_STORE_ID_HEX];
	int rc = decrypt ? ep_seal_new(&seal, NULL, decrypt, &err) : 0;
	o.seal = seal;
	if (!rc)
		rc = ep_key_load_private(argv[optind + 1], &key, &err);
	if (!rc)
		rc = ep_store_open_with(&st, argv[optind], &o, &err);
	if (!rc)
		rc = ep_store_lock(st, false, "drill", 0, NULL, NULL, &err);
	if (!rc)
		rc = unchecked ? put_unchecked(st, key, argv[optind + 2], id, &err) : put(st, key, argv[optind + 2], id, &err);
	if (!rc)
		printf("%s\n", id);
	else
		fprintf(stderr, "drill-put: %s\n", err.msg);
	ep_store_close(st);
	ep_key_free(key);
	ep_seal_free(seal);
	return -rc; /* envpack's exit codes */
}
