/*
 * Drill records in a store (formats/STORE.md, section 9): signed objects beside the
 * snapshots, stored as a snapshot is (drills/<id>.json and drills/<id>.sig, the id the
 * record's digest, keyed and sealed in an encrypted store). Only bytes here: what they
 * say is checked in verify/drill_record.c, through their signature.
 */
#include "formats/store/store.h"
#include "formats/store/store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

static void drill_name(char *name, size_t cap, const char *id, const char *ext)
{
	snprintf(name, cap, "drills/%s%s", id, ext);
}

void ep_store_drill_release(struct ep_store_drill *d)
{
	free(d->record);
	free(d->signature);
	*d = (struct ep_store_drill){ 0 };
}

int ep_store_drill_ids(struct ep_store *st, char (**ids)[EP_STORE_ID_HEX], size_t *n, struct ep_error *err)
{
	return ep_store_list_ids(st, "drills", ".json", ids, n, err);
}

int ep_store_get_drill(struct ep_store *st, const char *id, struct ep_store_drill *out, struct ep_error *err)
{
	*out = (struct ep_store_drill){ 0 };
	if (!ep_store_id_ok(id))
		return ep_fail(err, EP_EINPUT, "store '%s': '%s' is not a drill record id", ep_store_where(st), id);
	char name[100], got[EP_STORE_ID_HEX];
	drill_name(name, sizeof name, id, ".json");
	int rc = ep_store_get_sealed(st, name, EP_STORE_DRILL_MAX, &out->record, &out->record_len, err);
	if (rc == 1)
		return ep_fail(err, EP_EINPUT, "store '%s' has no drill record %s", ep_store_where(st), id);
	if (!rc) {
		/* as a snapshot's: a record changed in place no longer answers to its name */
		ep_store_object_id(st, out->record, out->record_len, got);
		if (strcmp(got, id))
			rc = ep_fail(err, EP_EINTEGRITY, "store '%s': drill record %s does not match its id",
				     ep_store_where(st), id);
	}
	drill_name(name, sizeof name, id, ".sig");
	if (!rc && (rc = ep_store_get_sealed(st, name, EP_STORE_SIGNATURE_MAX, &out->signature, &out->signature_len,
					     err)) == 1)
		rc = 0; /* unsigned: the reader refuses it */
	memcpy(out->id, id, EP_STORE_ID_HEX);
	if (rc)
		ep_store_drill_release(out);
	return rc;
}

/* The signature object was there already: this record's, put before (the same bytes signed by
 * the same key), or another's, which is not replaced. */
static int same_signature(struct ep_store *st, const char *name, const char *sig, size_t siglen,
			  struct ep_error *err)
{
	char *there = NULL;
	size_t len = 0;
	struct ep_error ignored = { 0 };
	bool same = !ep_store_get_sealed(st, name, EP_STORE_SIGNATURE_MAX, &there, &len, &ignored) && len == siglen &&
		    !memcmp(there, sig, len);
	free(there);
	return same ? 0
		    : ep_fail(err, EP_EINPUT,
			      "store '%s': %s is there already with another signature (the same record put with another "
			      "key, or by a run that died before its record appeared: prune removes such a signature)",
			      ep_store_where(st), name);
}

int ep_store_put_drill(struct ep_store *st, const char *record, size_t len, const char *sig, size_t siglen,
		       char id[EP_STORE_ID_HEX], struct ep_error *err)
{
	if (!sig || !siglen || siglen > EP_STORE_SIGNATURE_MAX)
		return ep_fail(err, EP_EINPUT, "store '%s': a drill record is stored signed", ep_store_where(st));
	if (!len || len > EP_STORE_DRILL_MAX)
		return ep_fail(err, EP_EINPUT, "store '%s': a drill record of %zu bytes (one holds 1 to %zu)",
			       ep_store_where(st), len, EP_STORE_DRILL_MAX);
	char name[100];
	ep_store_object_id(st, record, len, id);
	int rc = ep_store_lock_held(st, err);
	drill_name(name, sizeof name, id, ".sig");
	if (!rc && (rc = ep_store_put_sealed(st, name, sig, siglen, true, err)) == EP_EINPUT)
		rc = same_signature(st, name, sig, siglen, err);
	if (!rc) /* the signature durable before the record that needs it appears */
		rc = st->be->ops->sync(st->be, err);
	drill_name(name, sizeof name, id, ".json");
	if (!rc && (rc = ep_store_put_sealed(st, name, record, len, true, err)) == EP_EINPUT) {
		*err = (struct ep_error){ 0 }; /* the same bytes, put before: the same record */
		rc = 0;
	}
	if (!rc)
		rc = st->be->ops->sync(st->be, err);
	return rc;
}

/* Counts the ids of list that start with ref (len digits), the last into id; those also in
 * skip (sorted) are not counted. */
static size_t match_ids(char (*const list)[EP_STORE_ID_HEX], size_t n, char (*const skip)[EP_STORE_ID_HEX],
			size_t nskip, const char *ref, size_t len, char id[EP_STORE_ID_HEX])
{
	size_t found = 0;
	for (size_t i = 0; i < n; i++)
		if (!strncmp(list[i], ref, len) &&
		    !(nskip && bsearch(list[i], skip, nskip, sizeof *skip, ep_store_id_cmp)))
			found++, memcpy(id, list[i], EP_STORE_ID_HEX);
	return found;
}

int ep_store_find_drill(struct ep_store *st, const char *ref, char id[EP_STORE_ID_HEX], struct ep_error *err)
{
	if (!ep_store_id_prefix_ok(ref))
		return ep_fail(err, EP_EINPUT, "'%s' names no drill record: give its id (4 or more of its hex digits)",
			       ref);
	char(*records)[EP_STORE_ID_HEX] = NULL, (*sigs)[EP_STORE_ID_HEX] = NULL;
	size_t nrecords = 0, nsigs = 0, found = 0;
	int rc = ep_store_drill_ids(st, &records, &nrecords, err);
	if (!rc)
		rc = ep_store_list_ids(st, "drills", ".sig", &sigs, &nsigs, err);
	/* the signatures without their record too: what is left of a record can be removed */
	if (!rc)
		found = match_ids(records, nrecords, NULL, 0, ref, strlen(ref), id) +
			match_ids(sigs, nsigs, records, nrecords, ref, strlen(ref), id);
	if (!rc && !found)
		rc = ep_fail(err, EP_EINPUT, "store '%s' has no drill record %s", ep_store_where(st), ref);
	else if (!rc && found > 1)
		rc = ep_fail(err, EP_EINPUT, "store '%s': '%s' names more than one drill record; give more digits",
			     ep_store_where(st), ref);
	free(records);
	free(sigs);
	return rc;
}

int ep_store_remove_drill(struct ep_store *st, const char *id, struct ep_error *err)
{
	if (!ep_store_id_ok(id))
		return ep_fail(err, EP_EINPUT, "'%s' is not a drill record id", id);
	char name[100];
	drill_name(name, sizeof name, id, ".json"); /* the record first: without it there is none */
	int rc = ep_store_lock_held(st, err) ? err->code : st->be->ops->remove(st->be, name, err);
	drill_name(name, sizeof name, id, ".sig");
	if (!rc)
		rc = st->be->ops->remove(st->be, name, err);
	return rc;
}

/* ---- prune ---- */

/* Whether a record names a snapshot that is not in snapshots. A record that cannot be read, or
 * names none, is kept: check reports it, and nothing is removed on a guess. The signature is
 * not needed to judge: a forged record could only have itself removed. */
static int names_gone(struct ep_store *st, const char *id, char (*const snapshots)[EP_STORE_ID_HEX], size_t n,
		      bool *gone, struct ep_error *err)
{
	struct ep_store_drill d;
	struct ep_error why = { 0 };
	*gone = false;
	if (ep_store_get_drill(st, id, &d, &why)) {
		if (why.code == EP_ERUNTIME) /* the store, not the record: stop */
			*err = why;
		return why.code == EP_ERUNTIME ? err->code : 0;
	}
	json_t *o = json_loadb(d.record, d.record_len, JSON_REJECT_DUPLICATES, NULL);
	const char *snap = json_string_value(json_object_get(o, "snapshot"));
	*gone = snap && ep_store_id_ok(snap) && !(n && bsearch(snap, snapshots, n, sizeof *snapshots, ep_store_id_cmp));
	json_decref(o);
	ep_store_drill_release(&d);
	return 0;
}

int ep_store_prune_drills(struct ep_store *st, char (*const snapshots)[EP_STORE_ID_HEX], size_t nsnapshots,
			  bool dry_run, uint64_t *removed, uint64_t *kept, uint64_t *orphans, struct ep_prune_stats *locked,
			  struct ep_error *err)
{
	char(*ids)[EP_STORE_ID_HEX] = NULL, (*sigs)[EP_STORE_ID_HEX] = NULL, name[100];
	size_t n = 0, nsigs = 0;
	int64_t now = time(NULL);
	*removed = *kept = *orphans = 0;
	int rc = ep_store_drill_ids(st, &ids, &n, err);
	for (size_t i = 0; !rc && i < n; i++) {
		bool gone, retained = false;
		if ((rc = names_gone(st, ids[i], snapshots, nsnapshots, &gone, err)))
			break;
		drill_name(name, sizeof name, ids[i], ".json");
		if (gone && (rc = ep_store_retained(st, name, now, &retained, locked, err)))
			break;
		if (retained) { /* Object Lock: it goes once its retention has passed */
			locked->drills_locked++;
			continue;
		}
		gone ? (*removed)++ : (*kept)++;
		if (gone && !dry_run)
			rc = ep_store_remove_drill(st, ids[i], err);
	}
	/* a signature whose record never appeared: its writer died between the two puts */
	if (!rc && !dry_run && !(rc = ep_store_lock_held(st, err)))
		rc = ep_store_list_ids(st, "drills", ".sig", &sigs, &nsigs, err);
	for (size_t i = 0; !rc && i < nsigs; i++) {
		if (n && bsearch(sigs[i], ids, n, sizeof *ids, ep_store_id_cmp))
			continue;
		drill_name(name, sizeof name, sigs[i], ".sig");
		if (!(rc = st->be->ops->remove(st->be, name, err)))
			(*orphans)++;
	}
	free(ids);
	free(sigs);
	return rc;
}
