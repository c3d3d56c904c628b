/*
 * Drill records (#16; formats/STORE.md, section 9): what `envpack drill` found when it
 * booted a snapshot's machines from the store, kept signed beside the snapshots. They are
 * written signed (ep_drill_record_put) and read back only through their signature
 * (ep_drill_records_load): the signature is checked before a byte of the record is
 * parsed, then its shape, so what `snapshots` shows and the report draws comes from a
 * trusted key.
 */
#ifndef EP_DRILL_RECORD_H
#define EP_DRILL_RECORD_H

#include <stdbool.h>

#include <jansson.h>

#include "base/error.h"
#include "formats/bundle/keys.h"
#include "formats/store/store.h"
#include "verify/check.h"

#define EP_DRILL_KIND "envpack-drill"
#define EP_DRILL_VERSION 1
/* How a record's bytes are made from its JSON: compact, its keys in their order, numbers
 * with 15 significant digits (7.42 stays "7.42", readable by hand). */
#define EP_DRILL_JSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

/* Whether record has the shape of section 9 (the fields shown are checked, unknown ones
 * pass): 0, or EP_EINPUT naming the field and what is wrong with it. */
int ep_drill_record_check(const json_t *record, struct ep_error *err);

/* Checks record's shape, signs its bytes (EP_DRILL_JSON_FLAGS) with key and
 * puts it into st: id gets its id. The caller holds the store's lock (shared will do: see
 * ep_store_put_drill). */
int ep_drill_record_put(struct ep_store *st, const struct ep_key *key, const json_t *record, char id[EP_STORE_ID_HEX],
			struct ep_error *err);

/* Every drill record of st, verified against trust (trust->pubkey, else the trusted-keys
 * directories; trust->insecure: not verified): *verified gets an array of the records that
 * hold, each as signed with "id" added (its object's id), oldest "started" first; *bad an
 * array of the others, {"id", "file", "problem", "untrusted"}, by id, "untrusted" true when
 * the only fault found is a signer no trusted-keys directory holds (see ep_trust_check).
 * Fails only when the store cannot be read, or trust->pubkey cannot (then neither array is
 * made). */
int ep_drill_records_load(struct ep_store *st, const struct ep_trust *trust, json_t **verified, json_t **bad,
			  struct ep_error *err);

/* A drill's recovery time: the largest rto_seconds of its machines; false when none has one. */
bool ep_drill_rto(const json_t *record, double *rto);

/* The latest drill of each snapshot (by "started"), from records as ep_drill_records_load
 * gives them: an object whose keys are snapshot ids, each {"id", "started", "passed",
 * "rto_seconds" (null when none)}; NULL when out of memory. */
json_t *ep_drill_latest(const json_t *verified);

#endif
