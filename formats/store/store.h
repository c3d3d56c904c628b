/*
 * A store: many snapshots of many environments sharing one pool of chunks
 * (formats/STORE.md). A snapshot is a bundle manifest and its signature, its
 * chunks are the bundle's zstd frames, each one object named by its digest:
 * a bundle is a store of one snapshot in a tar, so export and import copy
 * bytes, and the same reader verifies and restores both.
 *
 * Objects live behind a small backend table (dir: a local directory in
 * store_dir.c, s3://BUCKET/PREFIX in store_s3.c). A backup, an import and the
 * readers (restore, export, verify, serve) list no chunks: they ask about what
 * they must, and fetch what they read (lazy_index); prune and check stream the
 * listing (stream_chunks), holding none of it. A snapshot is published only after every chunk
 * it names is in place and synced: whatever stops a backup, the store stays
 * valid.
 */
#ifndef EP_STORE_H
#define EP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/util.h"

#define EP_STORE_ID_HEX 65 /* a snapshot id: the SHA-256 of its manifest's bytes, in hex */
#define EP_STORE_SHORT_ID 8 /* digits shown to people; any unique prefix names a snapshot */
/* Whether ref can be the start of an id that names a snapshot or a drill record: 4 to 64
 * lowercase hex digits. */
bool ep_store_id_prefix_ok(const char *ref);

/* The objects of a store, by name ("config.json", "chunks/ab/<hex>.zst", ...). */
struct ep_store_lock_ops;
struct ep_store_backend {
	const struct ep_store_backend_ops *ops;
	const struct ep_store_lock_ops *lock; /* Object Lock; NULL for a backend without (dir:) */
};
struct ep_store_backend_ops {
	/* A whole object of at most max bytes: 0, or 1 when it does not exist. */
	int (*get)(struct ep_store_backend *be, const char *name, size_t max, char **data, size_t *len,
		   struct ep_error *err);
	/* Exactly len bytes of an object (a chunk, whose size the index knows). */
	int (*read)(struct ep_store_backend *be, const char *name, void *buf, size_t len, struct ep_error *err);
	/* Writes an object whole, appearing at once; if_absent: fails with EP_EINPUT when it exists. */
	int (*put)(struct ep_store_backend *be, const char *name, const void *data, size_t len, bool if_absent,
		   struct ep_error *err);
	/* Removes an object; one that is already gone is no failure. */
	int (*remove)(struct ep_store_backend *be, const char *name, struct ep_error *err);
	/* Calls each for every object under prefix ("chunks/", "snapshots/"), in no order. */
	int (*list)(struct ep_store_backend *be, const char *prefix,
		    int (*each)(void *ctx, const char *name, uint64_t size, int64_t mtime, struct ep_error *err),
		    void *ctx, struct ep_error *err);
	/* Removes what writers that died left half-written; only under the exclusive lock. */
	int (*sweep)(struct ep_store_backend *be, uint64_t *removed, struct ep_error *err);
	/* Makes everything put so far durable, before a snapshot names it. */
	int (*sync)(struct ep_store_backend *be, struct ep_error *err);
	/* A lock of the backend's own (flock on dir:), shared or exclusive, waiting up to wait_s
	 * seconds: 0, or 1 when held elsewhere. NULL: the lock records under locks/ are the lock. */
	int (*lock)(struct ep_store_backend *be, bool exclusive, unsigned wait_s, struct ep_error *err);
	void (*unlock)(struct ep_store_backend *be); /* NULL with lock */
	void (*close)(struct ep_store_backend *be);
	const char *(*where)(const struct ep_store_backend *be); /* for messages */
	/* Whether these credentials may remove objects, asked without removing any: 0, or 1 when
	 * the store refuses (err says how it answered). NULL: they may. */
	int (*may_remove)(struct ep_store_backend *be, struct ep_error *err);
	/* Whether an object is there, asked without reading it (HEAD, stat): 0 and its size, or 1
	 * when it is not. Safe on many threads at once. */
	int (*stat)(struct ep_store_backend *be, const char *name, uint64_t *size, struct ep_error *err);
	/* As list, but a size that would cost a stat() of each object (dir:) is passed as
	 * EP_STORE_SIZE_UNKNOWN, and its mtime as 0. NULL: list (its sizes come with the listing). */
	int (*list_names)(struct ep_store_backend *be, const char *prefix,
			  int (*each)(void *ctx, const char *name, uint64_t size, int64_t mtime, struct ep_error *err),
			  void *ctx, struct ep_error *err);
};
#define EP_STORE_SIZE_UNKNOWN UINT64_MAX

/* ---- Object Lock (formats/STORE.md, section 10): S3's retention of object versions ---- */

enum ep_lock_mode { EP_LOCK_NONE, EP_LOCK_GOVERNANCE, EP_LOCK_COMPLIANCE };
/* "governance", "compliance" ("none"); the parse takes those two. */
const char *ep_lock_mode_name(enum ep_lock_mode m);
bool ep_lock_mode_parse(const char *s, enum ep_lock_mode *m);

/* A store's policy (config.json's "object_lock"): every object kept days, in mode. */
#define EP_STORE_LOCK_DAYS_MAX 36500
struct ep_store_object_lock {
	enum ep_lock_mode mode;
	unsigned days;
};

/* An object's retention as the store holds it. */
struct ep_store_retention {
	enum ep_lock_mode mode; /* EP_LOCK_NONE: none */
	int64_t until;          /* seconds since the epoch; 0 with none */
};

/* What a backend with Object Lock does beyond its ops (store_s3.c). */
struct ep_store_requests;
/* An object name's state at a time and now (keys_at). */
struct ep_store_key_at {
	const char *name;       /* relative to the store ("snapshots/<id>.json") */
	const char *version;    /* the version current at t; NULL: none then (not yet, or deleted) */
	uint64_t size;          /* its size */
	bool current;           /* that version (or a copy of its bytes) is the current one still */
	bool exists;            /* the name holds an object now (its current entry no delete marker) */
};
struct ep_store_lock_ops {
	/* 0 when the store's place may hold retained objects (an S3 bucket made with Object Lock),
	 * 1 when not (err says why), or a failure. */
	int (*available)(struct ep_store_backend *be, struct ep_error *err);
	/* From now on every put is retained: data objects (chunks, snapshots, drill records,
	 * config.json) in p's mode for keep seconds, lock records and claims briefly. */
	void (*set_policy)(struct ep_store_backend *be, const struct ep_store_object_lock *p, int64_t keep);
	/* A put retained until `until` instead (a snapshot: the floor it records). */
	int (*put_until)(struct ep_store_backend *be, const char *name, const void *data, size_t len, bool if_absent,
			 int64_t until, struct ep_error *err);
	/* The object's retention: 0, or 1 when it does not exist. */
	int (*get)(struct ep_store_backend *be, const char *name, struct ep_store_retention *r, struct ep_error *err);
	/* Retains the object until `until` in the policy's mode: 0, or 1 when refused (it holds a
	 * longer retention, or the credential may not; err says), or a failure. */
	int (*extend)(struct ep_store_backend *be, const char *name, int64_t until, struct ep_error *err);
	/* Removes every version of the object for good, bypassing a governance retention. */
	int (*remove_versions)(struct ep_store_backend *be, const char *name, struct ep_error *err);
	/* The requests sent so far, by kind. */
	void (*requests)(struct ep_store_backend *be, struct ep_store_requests *out);
	/* ---- versions (a versioned bucket, which Object Lock needs; a store without a policy may be
	 * in one too): recovery after an attack, formats/STORE.md section 11 ---- */
	/* From now on get, read and list see the store as it was at t (seconds since the epoch;
	 * 0: as it is), and put and remove are refused. EP_EINPUT when the place keeps no versions. */
	int (*as_of)(struct ep_store_backend *be, int64_t t, struct ep_error *err);
	/* Calls each once for every object name the store has held, with its state at t and now. */
	int (*keys_at)(struct ep_store_backend *be, int64_t t,
		       int (*each)(void *ctx, const struct ep_store_key_at *k, struct ep_error *err), void *ctx,
		       struct ep_error *err);
	/* Makes a version of the object its current one again (a copy, retained as a put is): 0, 1
	 * when the credential may not (err says), or a failure. */
	int (*restore)(struct ep_store_backend *be, const char *name, const char *version, struct ep_error *err);
};

/* Opens the backend a store's location names (its prefix is the backend's), or makes a new
 * store there with create. opt: how to reach S3 (NULL: defaults), for the backends that do. */
struct ep_s3_options;
typedef int ep_store_backend_open_fn(struct ep_store_backend **out, const char *location,
				     const struct ep_s3_options *opt, bool create, struct ep_error *err);
/* dir:PATH or a plain PATH: a directory (formats/store/store_dir.c). */
ep_store_backend_open_fn ep_store_dir_backend;
/* s3://BUCKET/PREFIX: objects PREFIX/NAME; create needs no object under PREFIX/ (formats/store/store_s3.c). */
ep_store_backend_open_fn ep_store_s3_backend;

struct ep_store;

/* Requests a store's backend sent since it was opened, by kind (S3's; zero for dir:). */
struct ep_store_requests {
	uint64_t put, get, head, list, retention, delete_, other;
};
void ep_store_requests(const struct ep_store *st, struct ep_store_requests *out);
bool ep_store_counts_requests(const struct ep_store *st); /* whether the backend counts them */

/* Opens "dir:PATH" (or a plain PATH); create makes a new store there (PATH absent or empty). */
int ep_store_open(struct ep_store **out, const char *location, bool create, struct ep_error *err);
/* The same, for any place: "dir:PATH", a plain PATH, or "s3://BUCKET/PREFIX" (reached with s3,
 * NULL for defaults: AWS_ENDPOINT_URL, AWS_REGION, ...). init: make a new store unless one is
 * there already (else create as above). */
struct ep_seal;
struct ep_store_open_options {
	bool create, init;
	const struct ep_s3_options *s3;
	/* an encrypted store's recipient key (borrowed, outliving the store): a new store is
	 * made encrypted to it, an existing one must be encrypted to it; NULL: a plain store */
	const struct ep_seal *seal;
	/* a new store's Object Lock policy (NULL: none); with init on an existing store, that
	 * store's must be the same */
	const struct ep_store_object_lock *object_lock;
	/* > 0: the store read as it was at this time (seconds since the epoch), through the
	 * versions of a versioned bucket (EP_EINPUT elsewhere), and nothing written */
	int64_t as_of;
	/* a backup's, an import's and every reader's (restore, export, verify, serve...): chunks/
	 * is never listed (a run costs what it reads or changed, not what the store holds); whether
	 * a chunk is there is known from ep_store_know_chunk, or asked of the backend (HEAD, stat)
	 * chunk by chunk, and a chunk read is fetched whole (formats/STORE.md, section 12) */
	bool lazy_index;
	/* prune's, check's, forget's: chunks/ is never held in memory, only walked by
	 * ep_store_list_chunks, which streams it (a directory at a time, 1000 names a page); a
	 * chunk read is asked its size of the backend (stat, HEAD), which is kept of none
	 * (formats/STORE.md, section 12) */
	bool stream_chunks;
};
int ep_store_open_with(struct ep_store **out, const char *location, const struct ep_store_open_options *o,
		       struct ep_error *err);
void ep_store_close(struct ep_store *st);
const char *ep_store_where(const struct ep_store *st);
const char *ep_store_id(const struct ep_store *st); /* random, fixed at creation */
/* What an encrypted store's objects are sealed with; NULL for a plain store. */
const struct ep_seal *ep_store_seal(const struct ep_store *st);
#define EP_STORE_SEAL_SCHEME "x25519-hkdf-sha256-aes-256-gcm"

/* The store's Object Lock policy; NULL when it has none (or its backend cannot keep one: a
 * copy in a directory is read and written as a plain store). */
const struct ep_store_object_lock *ep_store_object_lock(const struct ep_store *st);
/* The seconds of a policy's day: 86400, or ENVPACK_OBJECT_LOCK_DAY_SECONDS (tests). */
int64_t ep_store_lock_day(void);
/* How long past its days an object written or extended now is kept: the larger of a day and
 * a quarter of the days. A snapshot then guarantees its chunks that long beyond the policy,
 * so the next backups reuse them untouched until that slack is spent, and extend them once. */
int64_t ep_store_lock_slack(const struct ep_store_object_lock *p);
/* now + days + slack: the retain-until of what is written or extended at now. */
int64_t ep_store_lock_target(const struct ep_store_object_lock *p, int64_t now);
/* The object names of a chunk and of a snapshot's manifest (cap: 100 is enough). */
void ep_store_chunk_name(const struct ep_store *st, const uint8_t digest[EP_DIGEST_LEN], char *name, size_t cap);
/* An object's retention (0, 1 when absent); EP_EINPUT on a store without a policy. */
int ep_store_get_retention(struct ep_store *st, const char *name, struct ep_store_retention *r, struct ep_error *err);

/* Objects that must stay retained until floor, each at least: one known to be retained for less
 * (known_short) is extended at once (PutObjectRetention); of the others, HEAD says, and only
 * those retained for less are extended. Extensions go to ep_store_lock_target(now). Many run at
 * once, each on a connection of the backend's pool; it returns when every one is answered.
 * stats->least: the earliest retain-until among those found long enough and left as they were
 * (INT64_MAX when none), which bounds what a snapshot naming them can promise. */
struct ep_store_keep_item {
	char name[100];
	bool known_short;
};
struct ep_store_keep_stats {
	uint64_t objects, checked, extended; /* checked: HEADs sent; extended: PutObjectRetention */
	int64_t least;
};
int ep_store_keep_until(struct ep_store *st, const struct ep_store_keep_item *items, size_t n, int64_t floor,
			struct ep_store_keep_stats *stats, struct ep_error *err);
/* The retention of each object (until[i], 0 when it has none or is gone), many at once. */
int ep_store_retentions(struct ep_store *st, const char (*names)[100], size_t n, struct ep_store_retention *out,
			struct ep_error *err);

/* Locks: backups share, prune and forget exclude. wait_s: how long to wait for a holder.
 * Lock records (who, since when) let a refusal name the holder; they are only ever added
 * (a credential that may not delete can lock), and holders that are gone (a dead process on
 * this host, a record not refreshed in time) are released for them, reported through warn.
 * The exclusive lock, taken to remove, first asks whether the credentials may: if not, it
 * fails before writing anything. */
typedef void (*ep_store_warn_fn)(void *ctx, const char *msg);
int ep_store_lock(struct ep_store *st, bool exclusive, const char *command, unsigned wait_s, ep_store_warn_fn warn,
		  void *warn_ctx, struct ep_error *err);
/* The exclusive lock for a dry run of forget or prune, which removes nothing: a credential
 * that may not delete is said once through warn, not refused. */
int ep_store_lock_dry_run(struct ep_store *st, const char *command, unsigned wait_s, ep_store_warn_fn warn,
			  void *warn_ctx, struct ep_error *err);
void ep_store_unlock(struct ep_store *st);

/* Chunks, named by the SHA-256 of their uncompressed bytes: their object id, keyed in an
 * encrypted store (formats/bundle/seal.h). Their bytes are the objects, sealed there. */
void ep_store_chunk_oid(const struct ep_store *st, const uint8_t digest[EP_DIGEST_LEN], uint8_t oid[EP_DIGEST_LEN]);
bool ep_store_has_chunk(const struct ep_store *st, const uint8_t digest[EP_DIGEST_LEN], uint64_t *stored);
/* A lazy store (lazy_index): a chunk known to be there, by its digest or object id, so that
 * has_chunk asks nothing of the backend for it. Only what cannot have been removed since it
 * was seen (formats/STORE.md, section 12): named by a snapshot read under the lock, or held by a
 * chunk cache of the store's current generation. Nothing on a store that lists its chunks. */
int ep_store_know_chunk(struct ep_store *st, const uint8_t digest[EP_DIGEST_LEN], struct ep_error *err);
/* has_chunk for n chunks at once: have[i] whether the store holds digests[i], and with sizes
 * (NULL: not wanted) its stored size, 0 when absent. What the backend is asked (HEAD, stat) goes
 * EP_STORE_AT_ONCE requests at a time, where has_chunk would wait for each answer in turn. */
#define EP_STORE_AT_ONCE 8 /* requests in flight for a batch of objects: the S3 backend's pool holds 16 connections */
int ep_store_has_chunks(const struct ep_store *st, const uint8_t (*digests)[EP_DIGEST_LEN], size_t n, bool *have,
			uint64_t *sizes, struct ep_error *err);
/* How many chunks a lazy store asked the backend about (HEAD, stat) since it was opened. */
uint64_t ep_store_chunks_asked(const struct ep_store *st);
/* The same for many chunks, by object id, at once, sorted (memcmp order), borrowed until the store is closed
 * or this is called again. */
void ep_store_know_sorted(struct ep_store *st, const uint8_t (*oids)[EP_DIGEST_LEN], size_t n);
/* The store's generation token: a new random one is written (and made durable) before the first
 * chunk a run removes, so a host's record of chunks it saw in the store holds while the token is
 * the one it read then ("none" in a store never pruned). Read under the lock. */
#define EP_STORE_TOKEN_HEX 33
int ep_store_generation(struct ep_store *st, char token[EP_STORE_TOKEN_HEX], struct ep_error *err);
int ep_store_read_chunk(const struct ep_store *st, const uint8_t digest[EP_DIGEST_LEN], void *buf, size_t len,
			struct ep_error *err);
/* A chunk's stored bytes, however many (at most cap), into buf, *len their count: one GET (or
 * read) where asking the size first would be two requests. 1 when the store has no such chunk
 * (an empty object is none); EP_EINTEGRITY when its object is larger than cap. */
int ep_store_fetch_chunk(const struct ep_store *st, const uint8_t digest[EP_DIGEST_LEN], void *buf, size_t cap,
			 size_t *len, struct ep_error *err);
int ep_store_put_chunk(struct ep_store *st, const uint8_t digest[EP_DIGEST_LEN], const void *zdata, size_t zlen,
		       struct ep_error *err);
int ep_store_remove_chunk(struct ep_store *st, const uint8_t oid[EP_DIGEST_LEN], struct ep_error *err);
/* Every chunk in the store, by object id and stored size, as the backend lists chunks/ (in no
 * order, nothing held): each may remove the chunk it is given (prune), and chunks put meanwhile
 * may or may not be seen. Names under chunks/ that are no chunk's are passed over. stored is
 * EP_STORE_SIZE_UNKNOWN where the backend would stat each chunk to learn it (dir:): each asks
 * ep_store_chunk_stored for the chunks whose size it needs. */
int ep_store_list_chunks(struct ep_store *st,
			 int (*each)(void *ctx, const uint8_t oid[EP_DIGEST_LEN], uint64_t stored, struct ep_error *err),
			 void *ctx, struct ep_error *err);
/* A listed chunk's stored size: stored itself, or asked of the backend when the listing did
 * not say (EP_STORE_SIZE_UNKNOWN); 0 for a chunk gone since, or empty (none). */
int ep_store_chunk_stored(const struct ep_store *st, const uint8_t oid[EP_DIGEST_LEN], uint64_t stored,
			  uint64_t *size, struct ep_error *err);

/* Snapshots. */
struct ep_store_snapshot {
	char id[EP_STORE_ID_HEX];
	char *manifest; /* the bytes the signature covers */
	size_t manifest_len;
	char *signature; /* NULL when unsigned */
	size_t signature_len;
};
void ep_store_snapshot_release(struct ep_store_snapshot *s);
/* The ids of every snapshot (heap array, free()). */
int ep_store_snapshot_ids(struct ep_store *st, char (**ids)[EP_STORE_ID_HEX], size_t *n, struct ep_error *err);
int ep_store_get_snapshot(struct ep_store *st, const char *id, struct ep_store_snapshot *out, struct ep_error *err);
/* Publishes a snapshot whose chunks are all in the store: synced first, then the
 * signature, then the manifest, whose appearance is the publication. id gets its id. */
int ep_store_put_snapshot(struct ep_store *st, const char *manifest, size_t len, const char *sig, size_t siglen,
			  char id[EP_STORE_ID_HEX], struct ep_error *err);
/* The same, its objects retained until `until` (the floor the manifest records) in a store with
 * Object Lock; 0: as any object written now. */
int ep_store_put_snapshot_until(struct ep_store *st, const char *manifest, size_t len, const char *sig,
				size_t siglen, int64_t until, char id[EP_STORE_ID_HEX], struct ep_error *err);
int ep_store_remove_snapshot(struct ep_store *st, const char *id, struct ep_error *err);
/* Whether snapshot id's manifest is there, asked without reading it. */
int ep_store_has_snapshot(struct ep_store *st, const char *id, bool *present, struct ep_error *err);
/* Removes every version of a snapshot's objects for good, bypassing their governance retention
 * (Object Lock; the credential needs s3:BypassGovernanceRetention). The exclusive lock is held. */
int ep_store_remove_snapshot_bypass(struct ep_store *st, const char *id, struct ep_error *err);
/* A snapshot sequence number, at_least or above, that no other backup gets, however many
 * run at once: above every number claimed before (formats/STORE.md, section 4). The
 * caller holds the lock. */
int ep_store_claim_sequence(struct ep_store *st, uint64_t at_least, uint64_t *claimed, struct ep_error *err);
/* A snapshot read as the bundle it would export to (formats/bundle/bundle.h): its manifest
 * and signature, its chunks from the store (which must outlive b). path names it in
 * messages ("STORE@ID"). With id NULL: the store's chunks alone, no manifest. */
struct ep_bundle;
int ep_store_snapshot_open(struct ep_bundle **out, struct ep_store *st, const char *id, const char *path,
			   struct ep_error *err);

/* Drill records (formats/STORE.md, section 9): what `envpack drill` found when it booted a
 * snapshot's machines, kept beside the snapshots as a snapshot is: the record's bytes in
 * drills/<id>.json, its signature (BUNDLE.md section 4) in drills/<id>.sig, <id> and sealing as
 * a snapshot's. This layer stores bytes; verify/drill_record.h signs, verifies and reads them. */
#define EP_STORE_DRILL_MAX ((size_t)1 << 20) /* a record's bytes, at most */
struct ep_store_drill {
	char id[EP_STORE_ID_HEX];
	char *record; /* the bytes the signature covers, NUL-terminated */
	size_t record_len;
	char *signature; /* NULL when there is none (such a record cannot be verified) */
	size_t signature_len;
};
void ep_store_drill_release(struct ep_store_drill *d);
/* The ids of every drill record (heap array, sorted, free()). */
int ep_store_drill_ids(struct ep_store *st, char (**ids)[EP_STORE_ID_HEX], size_t *n, struct ep_error *err);
/* A record and its signature; EP_EINTEGRITY when it does not answer to its id. */
int ep_store_get_drill(struct ep_store *st, const char *id, struct ep_store_drill *out, struct ep_error *err);
/* Stores a signed record: the signature, synced, then the record, both created only where
 * absent, so a record never appears without its signature and is never replaced. The same
 * record put again is no failure. The caller holds the store's lock, shared (as a backup
 * does; the exclusive one will do), taken before it read the snapshot the record names so
 * that forget cannot remove it meanwhile. */
int ep_store_put_drill(struct ep_store *st, const char *record, size_t len, const char *sig, size_t siglen,
		       char id[EP_STORE_ID_HEX], struct ep_error *err);
/* The drill record ref names, by its id or a unique prefix of it (4 digits or more), into id:
 * a record, or a signature whose record never appeared, whatever state it is in (its bytes are
 * not read). EP_EINPUT when ref names none, or more than one. */
int ep_store_find_drill(struct ep_store *st, const char *ref, char id[EP_STORE_ID_HEX], struct ep_error *err);
/* Removes a record, then its signature; the caller holds the exclusive lock (prune, forget). */
int ep_store_remove_drill(struct ep_store *st, const char *id, struct ep_error *err);

/* Removes what writers that died left half-written; the caller holds the exclusive lock. */
int ep_store_sweep(struct ep_store *st, uint64_t *removed, struct ep_error *err);

/* What prune does (in a store with Object Lock, of what has passed its retention only): every chunk no snapshot names is removed, every drill record of a
 * snapshot no longer there, and what writers that died left half-written (temporaries; the
 * signature of a drill record that never appeared), and what backups leave for it since they
 * remove nothing (lock records of holders released or gone, claims of sequence numbers but
 * the highest). The caller holds the exclusive lock; dry_run removes nothing. */
struct ep_prune_stats {
	/* Object Lock: what had to stay, no snapshot naming it, its retention not passed yet, and
	 * the latest retain-until among those (all can go after it) */
	uint64_t chunks_locked, bytes_locked, drills_locked;
	int64_t locked_until;
	uint64_t snapshots, chunks_kept, chunks_removed, bytes_kept, bytes_removed, temps_removed;
	uint64_t drills_kept, drills_removed;
	uint64_t locks_removed; /* lock records of holders released or gone */
};
int ep_store_prune(struct ep_store *st, bool dry_run, struct ep_prune_stats *stats, struct ep_error *err);

/* Recovery after an attack (formats/STORE.md, section 11), on a versioned bucket. */
/* Reads see the store as it was at t from now on (0: as it is); see ep_store_open_options.as_of. */
int ep_store_as_of(struct ep_store *st, int64_t t, struct ep_error *err);
/* What recover did (or, dry_run, would do): objects made current again from their version at t,
 * by folder, and their bytes. */
enum { EP_RECOVER_SNAPSHOTS, EP_RECOVER_CHUNKS, EP_RECOVER_OTHER, EP_RECOVER_FOLDERS };
struct ep_recover_stats {
	uint64_t restored[EP_RECOVER_FOLDERS], bytes[EP_RECOVER_FOLDERS];
	uint64_t unchanged; /* objects whose version at t is current still */
	uint64_t later;     /* snapshots made after t (each handed to the caller) */
};
/* Every object under the store but locks/ and claims/ whose version at t is not its current one
 * (deleted or overwritten since) gets that version back as its current one; objects made after t
 * stay, and later is called with the id of each snapshot among them. The caller holds the
 * exclusive lock (not for dry_run, which changes nothing). EP_EINPUT on a backend without
 * versions; EP_ERUNTIME when the credential may not copy. */
int ep_store_recover(struct ep_store *st, int64_t t, bool dry_run, struct ep_recover_stats *stats,
		     int (*later)(void *ctx, const char *id, struct ep_error *err), void *ctx, struct ep_error *err);

/* Splits "STORE@SNAPSHOT" at its last '@'; false when there is none. */
bool ep_store_ref_split(const char *ref, char *store, size_t cap, const char **snapshot);

#endif
