/* store: the storage interface. A backend is a const table of operations plus a private
 * context (store_int.h); callers use only the wrappers below. The same contract test suite
 * (tests/unit/test_store.c) runs against every backend.
 *
 * Thread-safety: a dlog_store may be used from several threads at once; backends keep one
 * connection per thread or a pool. Writes are serialised inside the backend. */
#ifndef DLOG_STORE_H
#define DLOG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "catalog/catalog.h"
#include "query/query.h"

struct dlog_store;

/* Key scopes: each includes the ones below it. */
enum dlog_scope { DLOG_SCOPE_READ = 0, DLOG_SCOPE_WRITE = 1, DLOG_SCOPE_ADMIN = 2 };
const char *dlog_scope_name(enum dlog_scope s);
int dlog_scope_parse(const char *s, enum dlog_scope *out);

/* One event. On append, the caller fills the producer fields (strings borrowed for the call;
 * device_id and event_type required; the others may be NULL/0); the store assigns id. On read,
 * every pointer is valid only during the row callback. */
struct dlog_event {
	struct dlog_id id;             /* seq + created: assigned by the store */
	dlog_time date_time;
	const char *device_id;
	const char *event_type;
	enum dlog_mtype mtype;         /* resolved by ingest (catalog or producer) */
	const char *category;          /* resolved by ingest; may be "" */
	const char *description;       /* resolved by ingest (producer's text or catalog text) */
	bool state_change;
	const char *campaign_id;       /* data.campaign_id or NULL */
	const char *data_extra;        /* the other data keys as a JSON object text, or NULL */
	const char *idempotency_key;   /* producer's id, or NULL */
	const uint8_t *content_hash;   /* 32 bytes identifying the producer's content, for
	                                  idempotent retries; required when idempotency_key set */
};

/* Result of one appended event. */
struct dlog_append_result {
	struct dlog_id id;
	bool duplicate; /* an earlier event had the same idempotency key and content */
};

struct dlog_key_info {
	char key_id[33];      /* public identifier, 32 hex */
	int64_t account_id;
	char account[DLOG_ID_STRLEN + 64];
	enum dlog_scope scope;
	dlog_time created_at;
	dlog_time revoked_at; /* 0 when active */
	char name[65];
};

/* Open the store named by url ("sqlite:PATH"; "postgresql://..." when built in). Creates and
 * migrates the schema as needed; refuses a foreign or newer-schema database with DLOG_ESCHEMA.
 * On failure *out is NULL and, when errbuf is given, a message is written there. */
int dlog_store_open(const char *url, struct dlog_store **out, char *errbuf, size_t errlen);
/* Close and free. Waits for nothing: callers stop using it first. Accepts NULL. */
void dlog_store_close(struct dlog_store *s);
/* SQLite stores opened after this call merge the events appended since the last merge into
 * their devices' blocks once n (>= 1) have gathered; DLOG_SQLITE_MERGE_EVENTS by default.
 * For tuning and for tests that need merges with few events; PostgreSQL has no merge. */
void dlog_store_set_merge_events(int64_t n);
/* Detail of the last failure on this thread's connection (static or thread-local; never NULL). */
const char *dlog_store_errmsg(struct dlog_store *s);

/* ---- accounts ---- */
/* Find the account by name, creating it when create is set. 0, DLOG_ENOTFOUND, store errors. */
int dlog_store_account(struct dlog_store *s, const char *name, bool create, int64_t *account_id);
/* Number of accounts (first-start detection). */
int dlog_store_account_count(struct dlog_store *s, int64_t *count);

/* ---- access keys: only the SHA-256 of the secret is stored ---- */
int dlog_store_key_add(struct dlog_store *s, const struct dlog_key_info *k,
		       const uint8_t hash[32]);
/* Look a key up by its public key id; fills *out and the stored secret hash (the caller
 * compares in constant time). Revoked keys are returned with revoked_at set. 0 or
 * DLOG_ENOTFOUND. */
int dlog_store_key_lookup(struct dlog_store *s, const char *key_id, struct dlog_key_info *out,
			  uint8_t hash[32]);
/* Call cb for every key (of one account when account_id > 0, else all), oldest first.
 * A non-zero return from cb stops the walk and is returned. */
int dlog_store_key_list(struct dlog_store *s, int64_t account_id,
			int (*cb)(void *arg, const struct dlog_key_info *k), void *arg);
/* Revoke by key id (within account_id when > 0). 0 or DLOG_ENOTFOUND. Idempotent. */
int dlog_store_key_revoke(struct dlog_store *s, int64_t account_id, const char *key_id);

/* ---- events ---- */
/* Append n events for one account, all or nothing, durable when it returns 0. Ids are assigned
 * in commit order. results (n entries) receives each event's id and whether it was an
 * idempotent duplicate. DLOG_ECONFLICT when an idempotency key was used before with other
 * content (*conflict_index set to that event's position). */
int dlog_store_append(struct dlog_store *s, int64_t account_id, const struct dlog_event *ev,
		      size_t n, struct dlog_append_result *results, size_t *conflict_index);

/* ---- group commit ----
 * Requests queued while a commit is on disk are appended together in the next transaction,
 * each all-or-nothing on its own (a failing request does not affect the others), and share its
 * one durable commit; done() is then called for each. This is how many concurrent ingest
 * requests cost one fsync. */
struct dlog_append_req {
	int64_t account_id;
	const struct dlog_event *ev;         /* borrowed until done() */
	size_t n;
	struct dlog_append_result *results;  /* n entries, filled on success */
	int rc;                              /* set before done() */
	size_t conflict_index;               /* with DLOG_ECONFLICT */
	char errmsg[256];                    /* store detail with a store error */
	void (*done)(struct dlog_append_req *req); /* on the committer's thread: keep it short */
	void *arg;
	struct dlog_append_req *next;        /* the store's queue */
};
/* Queue req. 0: done() will be called exactly once. Otherwise it was not queued (the store is
 * closing: DLOG_EUNAVAIL). */
int dlog_store_submit(struct dlog_store *s, struct dlog_append_req *req);

/* What the group committer has done since the store was opened: groups committed (one durable
 * commit each, or one failure) and the requests and events they carried. Requests per group
 * tell how well concurrent producers share a commit. */
struct dlog_commit_stats {
	uint64_t groups, requests, events;
};
void dlog_store_commit_stats(struct dlog_store *s, struct dlog_commit_stats *out);

/* Row callback for queries: non-zero stops the walk and is returned by the query. */
typedef int (*dlog_event_cb)(void *arg, const struct dlog_event *ev);

/* Stream the page q describes (filters, order, after, limit) for one account to cb: at most
 * q->limit rows; *has_more tells whether more rows match. When q->include_total, *total gets
 * the count of all matching events regardless of after and limit (else it is left alone). */
int dlog_store_query(struct dlog_store *s, int64_t account_id, const struct dlog_query *q,
		     dlog_event_cb cb, void *arg, bool *has_more, int64_t *total);

/* One event by id (seq and created must both match). 0 (cb called once) or DLOG_ENOTFOUND. */
int dlog_store_get(struct dlog_store *s, int64_t account_id, const struct dlog_id *id,
		   dlog_event_cb cb, void *arg);

/* Aggregates for the portal's picture of a period: counts per (day, message type) and the
 * most frequent FAIL codes, over the events q's filters select (q's order, after and limit are
 * ignored). Either callback may be NULL to skip its part. Days are counted from the epoch in a zone utc_offset_us east of UTC. day_cb is
 * called in day order; code_cb at most top_n times, most frequent first. A non-zero return
 * from a callback stops and is returned. */
typedef int (*dlog_day_cb)(void *arg, int64_t day, enum dlog_mtype mtype, int64_t count);
typedef int (*dlog_code_count_cb)(void *arg, const char *code, int64_t count);
int dlog_store_summary(struct dlog_store *s, int64_t account_id, const struct dlog_query *q,
		       int64_t utc_offset_us, dlog_day_cb day_cb, dlog_code_count_cb code_cb,
		       int top_n, void *arg);

/* ---- the device directory, as of every acknowledged event (PostgreSQL: kept in the append
 * transaction; SQLite: counted in by the index step, the rest added at read) ---- */

enum dlog_device_state {
	DLOG_STATE_UNENROLLED = 0, /* no lifecycle event yet */
	DLOG_STATE_REGISTERED = 1,   /* latest lifecycle event SYS_106 */
	DLOG_STATE_BOOTSTRAPPED = 2, /* SYS_107 */
	DLOG_STATE_DEREGISTERED = 3, /* SYS_105 */
};
const char *dlog_device_state_name(enum dlog_device_state st);
/* The state an event code sets, or DLOG_STATE_UNENROLLED when it is no lifecycle event. */
enum dlog_device_state dlog_device_state_of(const char *event_type);

/* One device. "Latest" means the greatest (date_time, id). Pointers valid during the callback. */
struct dlog_device {
	const char *device_id;
	enum dlog_device_state state;
	dlog_time first_at;            /* date_time of its earliest event */
	dlog_time last_at;             /* date_time of its latest event */
	const char *last_event_type;
	enum dlog_mtype last_mtype;
	const char *last_campaign_id;  /* campaign of its latest campaign event, or NULL */
	int64_t counts[DLOG_MTYPE_COUNT];
};
typedef int (*dlog_device_cb)(void *arg, const struct dlog_device *d);

/* A page of devices (DEVICES dialect query: filters, order by device id, after = device id).
 * When group_id is not NULL, only that group's members (DLOG_ENOTFOUND if no such group). */
int dlog_store_device_query(struct dlog_store *s, int64_t account_id, const char *group_id,
			    const struct dlog_query *q, dlog_device_cb cb, void *arg,
			    bool *has_more, int64_t *total);
/* One device. 0 (cb called once) or DLOG_ENOTFOUND. */
int dlog_store_device_get(struct dlog_store *s, int64_t account_id, const char *device_id,
			  dlog_device_cb cb, void *arg);

/* ---- device groups ---- */

struct dlog_group {
	char id[33];                  /* 32 hex, assigned on create */
	const char *name;
	const char *description;
	const char *custom_attributes; /* JSON object text */
	dlog_time created_at, updated_at;
	int64_t devices_count;
};
typedef int (*dlog_group_cb)(void *arg, const struct dlog_group *g);

/* Create with the caller's g->id (32 hex, random); created_at/updated_at are filled.
 * DLOG_ECONFLICT when the account has a group of that name. */
int dlog_store_group_create(struct dlog_store *s, int64_t account_id, struct dlog_group *g);
/* Replace name, description and attributes (NULL members keep their value). DLOG_ENOTFOUND,
 * DLOG_ECONFLICT. */
int dlog_store_group_update(struct dlog_store *s, int64_t account_id, const char *id,
			    const struct dlog_group *g);
int dlog_store_group_delete(struct dlog_store *s, int64_t account_id, const char *id);
int dlog_store_group_get(struct dlog_store *s, int64_t account_id, const char *id,
			 dlog_group_cb cb, void *arg);
/* A page of groups in creation order; q->after_key is a group id. */
int dlog_store_group_list(struct dlog_store *s, int64_t account_id, const struct dlog_query *q,
			  dlog_group_cb cb, void *arg, bool *has_more, int64_t *total);
/* Add or remove a device (which must have events). Idempotent. DLOG_ENOTFOUND names the group
 * or the device in dlog_store_errmsg(). */
int dlog_store_group_member(struct dlog_store *s, int64_t account_id, const char *id,
			    const char *device_id, bool add);

/* ---- update-campaign statistics, maintained counters ---- */

/* Per event code of one campaign: events counts every event; devices counts each device once,
 * under the code of its latest event in the campaign. first_at: earliest date_time. */
struct dlog_campaign_code {
	const char *event_type;
	enum dlog_mtype mtype;
	int64_t events;
	int64_t devices;
	dlog_time first_at;
};
typedef int (*dlog_campaign_cb)(void *arg, const struct dlog_campaign_code *c);
/* Every code seen in the campaign, in code order. DLOG_ENOTFOUND when it has no events. */
int dlog_store_campaign_stats(struct dlog_store *s, int64_t account_id, const char *campaign_id,
			      dlog_campaign_cb cb, void *arg);

/* Highest sequence number committed so far in the whole store (0 when empty): lets the live
 * stream start "at the newest event". */
int dlog_store_last_seq(struct dlog_store *s, uint64_t *seq);

/* ---- copying an account between stores, and retention ---- */

/* Every account, in id order. A non-zero return from cb stops the walk and is returned. */
typedef int (*dlog_account_cb)(void *arg, int64_t id, const char *name);
int dlog_store_account_list(struct dlog_store *s, dlog_account_cb cb, void *arg);

/* Every key (of one account when account_id > 0, else all) with its stored secret hash, oldest
 * first: what `devicelog copy` needs to move keys so that they keep working. k and hash are
 * valid during the call. A non-zero return from cb stops the walk and is returned. */
typedef int (*dlog_key_hash_cb)(void *arg, const struct dlog_key_info *k,
				const uint8_t hash[32]);
int dlog_store_key_dump(struct dlog_store *s, int64_t account_id, dlog_key_hash_cb cb,
			void *arg);
/* Insert a key exactly as it is in another store: key_id, account_id, scope, name, created_at
 * and revoked_at from k, the secret's hash as given. A key whose key id (or hash) is present
 * already is left as it is and 0 returned, so a copy can be run again. */
int dlog_store_key_import(struct dlog_store *s, const struct dlog_key_info *k,
			  const uint8_t hash[32]);

/* Content hashes of idempotency keys, so a copied event keeps answering retries as duplicates:
 * for each non-NULL keys[i] (at most DLOG_MAX_BATCH), found[i] tells whether the account has
 * it and hashes[i] receives its hash. Borrowed arrays of n entries. */
int dlog_store_idem_hashes(struct dlog_store *s, int64_t account_id, const char *const *keys,
			   size_t n, uint8_t (*hashes)[32], bool *found);

/* Retention: remove events created before cutoff, of every account, in one short step that
 * writes at most max_rows rows, so ingest and reads go on between steps. PostgreSQL first
 * drops the monthly partitions that lie wholly before cutoff (no row is written for those),
 * then deletes rows of the month straddling it; idempotency keys of removed events go too.
 * *deleted: events removed by this step; *more: whether events before cutoff may remain
 * (call again after a pause). The device directory and the campaign statistics are left as
 * they are: they count every event ever appended (docs/STORAGE.md, Retention). */
int dlog_store_expire(struct dlog_store *s, dlog_time cutoff, int max_rows, int64_t *deleted,
		      bool *more);

/* Write a consistent copy of the store to the new file dest while the store is in use
 * (`devicelog backup`): for SQLite a database file that `--store sqlite:DEST` opens, made in
 * one read transaction (appends go on meanwhile) and synced. *bytes: its size. 0,
 * DLOG_ECONFLICT (dest exists), DLOG_EIO, DLOG_EUNAVAIL (no backup of this backend here:
 * PostgreSQL is backed up with pg_dump), or the store's error; on failure dest is removed. */
int dlog_store_backup(struct dlog_store *s, const char *dest, int64_t *bytes);

/* Copy accounts from one store to another (`devicelog copy`; copy.c): the account named (every
 * account when NULL) with its keys (hashes: they keep working), device groups and members, and
 * events in id order with their idempotency keys and content hashes. Events get new ids and
 * created_at in the target; the directory and campaign counters are rebuilt there by the
 * appends. A target account must have no events yet (DLOG_ECONFLICT). progress (may be NULL)
 * is called after each batch. On failure err says what and where; what was copied stays. */
struct dlog_copy_stats {
	uint64_t accounts, keys, groups, members, events, duplicates;
};
typedef void (*dlog_copy_progress_fn)(void *arg, const struct dlog_copy_stats *st);
int dlog_store_copy(struct dlog_store *from, struct dlog_store *to, const char *account,
		    dlog_copy_progress_fn progress, void *arg, struct dlog_copy_stats *st,
		    char *err, size_t errlen);

/* Retention in the background (retention.c): a thread that removes events created more than
 * days (>= 1) ago, right away and then every DLOG_RETENTION_INTERVAL_S, in bounded steps with
 * pauses (dlog_store_expire). s is borrowed and must outlive it. 0, DLOG_EINVAL, DLOG_ENOMEM. */
struct dlog_retention;
int dlog_retention_start(struct dlog_store *s, int days, struct dlog_retention **out);
/* Stop (after the step in progress) and free. Accepts NULL. */
void dlog_retention_stop(struct dlog_retention *r);

#endif
