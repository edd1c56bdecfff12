/* The embedded SQLite backend.
 *
 * One writer connection (a mutex serialises writers; WAL lets readers go on meanwhile) and a
 * pool of reader connections. Device ids and repeated strings (codes, categories, descriptions,
 * campaign ids) are dictionary-coded, so an event row holds small integers; see docs/STORAGE.md.
 * Commits are durable (synchronous=FULL) before append returns. */
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/limits.h"
#include "store/evblock.h"
#include "store/sqlgen.h"
#include "store/walbuf.h"

/* PRAGMA application_id marks a devicelog database ("dlog"): anything else is foreign. */
#define APP_ID 0x646c6f67
#define STMT_CACHE 32
#define MAX_READERS 64

/* Schema migrations: entry i brings user_version i to i+1. Append only. */
static const char *const migrations[] = {
	/* 1: the first schema */
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	"CREATE TABLE accounts(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	" created_at INTEGER NOT NULL);"
	"CREATE TABLE api_keys(id INTEGER PRIMARY KEY, key_id TEXT NOT NULL UNIQUE,"
	" account_id INTEGER NOT NULL REFERENCES accounts(id), scope INTEGER NOT NULL,"
	" hash BLOB NOT NULL UNIQUE, name TEXT NOT NULL DEFAULT '',"
	" created_at INTEGER NOT NULL, revoked_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE devices(id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL,"
	" device_id TEXT NOT NULL, UNIQUE(account_id, device_id));"
	"CREATE TABLE strings(id INTEGER PRIMARY KEY, s TEXT NOT NULL UNIQUE);"
	"CREATE TABLE events(seq INTEGER PRIMARY KEY, account_id INTEGER NOT NULL,"
	" dev INTEGER NOT NULL, ts INTEGER NOT NULL, created INTEGER NOT NULL,"
	" code INTEGER NOT NULL, mtype INTEGER NOT NULL, cat INTEGER NOT NULL,"
	" descr INTEGER NOT NULL, flags INTEGER NOT NULL, camp INTEGER, extra TEXT,"
	" idem TEXT, idem_hash BLOB);"
	"CREATE INDEX events_account ON events(account_id);"
	"CREATE INDEX events_dev ON events(dev);"
	"CREATE INDEX events_code ON events(account_id, code);"
	"CREATE UNIQUE INDEX events_idem ON events(account_id, idem) WHERE idem IS NOT NULL;"
	"INSERT INTO meta VALUES('application', 'devicelog');",
	/* 2: the device directory, device groups and campaign counters, all kept up to date by
	 * append; existing events are folded in here, exactly as append would have */
	"ALTER TABLE devices ADD COLUMN state INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE devices ADD COLUMN state_ts INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE devices ADD COLUMN first_ts INTEGER;"
	"ALTER TABLE devices ADD COLUMN last_ts INTEGER;"
	"ALTER TABLE devices ADD COLUMN last_seq INTEGER;"
	"ALTER TABLE devices ADD COLUMN last_code INTEGER;"
	"ALTER TABLE devices ADD COLUMN last_mtype INTEGER;"
	"ALTER TABLE devices ADD COLUMN last_camp INTEGER;"
	"ALTER TABLE devices ADD COLUMN last_camp_ts INTEGER;"
	"ALTER TABLE devices ADD COLUMN n0 INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE devices ADD COLUMN n1 INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE devices ADD COLUMN n2 INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE devices ADD COLUMN n3 INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE device_groups(id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL,"
	" gid TEXT NOT NULL UNIQUE, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',"
	" attrs TEXT NOT NULL DEFAULT '{}', created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL, UNIQUE(account_id, name));"
	"CREATE TABLE group_members(group_id INTEGER NOT NULL, dev INTEGER NOT NULL,"
	" PRIMARY KEY(group_id, dev)) WITHOUT ROWID;"
	"CREATE INDEX group_members_dev ON group_members(dev);"
	"CREATE TABLE camp_codes(account_id INTEGER NOT NULL, camp INTEGER NOT NULL,"
	" code INTEGER NOT NULL, mtype INTEGER NOT NULL, events INTEGER NOT NULL,"
	" devices INTEGER NOT NULL, first_ts INTEGER NOT NULL,"
	" PRIMARY KEY(account_id, camp, code)) WITHOUT ROWID;"
	"CREATE TABLE camp_devices(account_id INTEGER NOT NULL, camp INTEGER NOT NULL,"
	" dev INTEGER NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL, code INTEGER NOT NULL,"
	" mtype INTEGER NOT NULL, PRIMARY KEY(account_id, camp, dev)) WITHOUT ROWID;"
	"UPDATE devices SET"
	" n0 = (SELECT count(*) FROM events e WHERE e.dev = devices.id AND e.mtype = 0),"
	" n1 = (SELECT count(*) FROM events e WHERE e.dev = devices.id AND e.mtype = 1),"
	" n2 = (SELECT count(*) FROM events e WHERE e.dev = devices.id AND e.mtype = 2),"
	" n3 = (SELECT count(*) FROM events e WHERE e.dev = devices.id AND e.mtype = 3),"
	" first_ts = (SELECT min(ts) FROM events e WHERE e.dev = devices.id);"
	"UPDATE devices SET (last_ts, last_seq, last_code, last_mtype) = (SELECT ts, seq, code,"
	" mtype FROM events e WHERE e.dev = devices.id ORDER BY ts DESC, seq DESC LIMIT 1);"
	"UPDATE devices SET (last_camp_ts, last_camp) = (SELECT ts, camp FROM events e"
	" WHERE e.dev = devices.id AND camp IS NOT NULL ORDER BY ts DESC, seq DESC LIMIT 1);"
	"UPDATE devices SET (state_ts, state) = (SELECT e.ts, CASE s.s WHEN 'SYS_106' THEN 1"
	" WHEN 'SYS_107' THEN 2 ELSE 3 END FROM events e JOIN strings s ON s.id = e.code"
	" WHERE e.dev = devices.id AND s.s IN ('SYS_105', 'SYS_106', 'SYS_107')"
	" ORDER BY e.ts DESC, e.seq DESC LIMIT 1) WHERE EXISTS (SELECT 1 FROM events e"
	" JOIN strings s ON s.id = e.code WHERE e.dev = devices.id"
	" AND s.s IN ('SYS_105', 'SYS_106', 'SYS_107'));"
	"INSERT INTO camp_devices SELECT account_id, camp, dev, ts, seq, code, mtype FROM"
	" (SELECT *, row_number() OVER (PARTITION BY account_id, camp, dev"
	" ORDER BY ts DESC, seq DESC) AS rn FROM events WHERE camp IS NOT NULL) WHERE rn = 1;"
	"INSERT INTO camp_codes SELECT account_id, camp, code, mtype, count(*), 0, min(ts)"
	" FROM events WHERE camp IS NOT NULL GROUP BY account_id, camp, code;"
	"UPDATE camp_codes SET devices = (SELECT count(*) FROM camp_devices d"
	" WHERE d.account_id = camp_codes.account_id AND d.camp = camp_codes.camp"
	" AND d.code = camp_codes.code);",
	/* 3: fixed planner statistics. Without them SQLite walks the account's id order for a
	 * device's page (no sort needed) instead of that device's index entries; measured 240 ms
	 * against 0.1 ms at 1M events. Fixed rather than ANALYZEd so plans never drift with the
	 * data; the numbers describe a fleet, not one file (rows; rows per key prefix). */
	"ANALYZE sqlite_schema;"
	"DELETE FROM sqlite_stat1;"
	"INSERT INTO sqlite_stat1 VALUES"
	" ('events', 'events_account', '1000000 100000'),"
	" ('events', 'events_dev', '1000000 20'),"
	" ('events', 'events_code', '1000000 100000 3000'),"
	" ('events', 'events_idem', '1000000 100000 1'),"
	" ('devices', 'sqlite_autoindex_devices_1', '100000 10000 1'),"
	" ('strings', 'sqlite_autoindex_strings_1', '1000 1'),"
	" ('api_keys', 'sqlite_autoindex_api_keys_1', '100 1'),"
	" ('group_members', 'group_members', '100000 1000 1'),"
	" ('group_members', 'group_members_dev', '100000 2'),"
	" ('camp_devices', 'camp_devices', '1000000 100000 10000 1'),"
	" ('camp_codes', 'camp_codes', '10000 1000 100 1');"
	"ANALYZE sqlite_schema;",
	/* 4: events per account, maintained by append and retention, so an unfiltered
	 * total_count is one row read instead of a count over the account's index */
	"ALTER TABLE accounts ADD COLUMN n_events INTEGER NOT NULL DEFAULT 0;"
	"UPDATE accounts SET n_events = (SELECT count(*) FROM events e"
	" WHERE e.account_id = accounts.id);",
	/* 5: zones, a small map of each account's id order: runs of about 4,096 of its events
	 * (one request's at least) with their least and greatest date_time, kept by append and
	 * retention. A date_time filter reads it to bound the ids it walks (sqlgen.c). Existing
	 * events are cut into runs here exactly as append would have. */
	"CREATE TABLE zones(account_id INTEGER NOT NULL, first_seq INTEGER NOT NULL,"
	" last_seq INTEGER NOT NULL, n INTEGER NOT NULL, min_ts INTEGER NOT NULL,"
	" max_ts INTEGER NOT NULL, PRIMARY KEY(account_id, first_seq)) WITHOUT ROWID;"
	"INSERT INTO zones SELECT account_id, min(seq), max(seq), count(*), min(ts), max(ts)"
	" FROM (SELECT account_id, seq, ts, (row_number() OVER (PARTITION BY account_id"
	" ORDER BY seq) - 1) / 4096 AS run FROM events) GROUP BY account_id, run;"
	"INSERT OR REPLACE INTO sqlite_stat1 VALUES ('zones', 'zones', '10000 100 1');"
	"ANALYZE sqlite_schema;",
	/* 6: a campaign's events in id order. Without it a campaign filter walked the account's
	 * ids until a page was full: 17.7 ms for a campaign of the account's first months in
	 * DESC order at 1M events. Partial: only the ~11 % of events in a campaign are in it. */
	"CREATE INDEX events_camp ON events(account_id, camp) WHERE camp IS NOT NULL;"
	"INSERT INTO sqlite_stat1 VALUES ('events', 'events_camp', '100000 10000 500');"
	"ANALYZE sqlite_schema;",
	/* 7: each account's (event type, message type, category, description) combinations, added
	 * by append (never removed: retention leaves a superset, which narrows less but stays
	 * right). A filter on a description, a category or a message type reads it to look for
	 * the event types that carry the value instead of walking every event of the account
	 * (sqlgen.h, struct sqlite_narrow): at 100k events per account a value that no event has
	 * took 5-9 ms, walking them all. */
	"CREATE TABLE code_attrs(account_id INTEGER NOT NULL, code INTEGER NOT NULL,"
	" mtype INTEGER NOT NULL, cat INTEGER NOT NULL, descr INTEGER NOT NULL,"
	" PRIMARY KEY(account_id, code, mtype, cat, descr)) WITHOUT ROWID;"
	"INSERT INTO code_attrs SELECT DISTINCT account_id, code, mtype, cat, descr FROM events;"
	"INSERT INTO sqlite_stat1 VALUES ('code_attrs', 'code_attrs', '10000 100 1 1 1 1');"
	"ANALYZE sqlite_schema;",
	/* 8: device blocks. Each device's events in runs of up to EVB_MAX, encoded compactly
	 * (evblock.h), keyed by (device, first id): a device's page reads a block or two instead
	 * of 50 rows through events(dev), whose random inserts also cost every append. The
	 * events appended since the last merge (merged_seq in meta) are found through memory
	 * (the tail). blocks_migrate fills the blocks from events(dev), then drops it. */
	"CREATE TABLE dev_blocks(dev INTEGER NOT NULL, first_seq INTEGER NOT NULL,"
	" n INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY(dev, first_seq)) WITHOUT ROWID;"
	"INSERT INTO sqlite_stat1 VALUES ('dev_blocks', 'dev_blocks', '200000 2 1');",
	/* 9: the index tail. The secondary indexes of events hold indexed events only (m = 1:
	 * ids up to indexed_seq in meta); an append writes its row with m = 0 and touches none
	 * of them, and the merger indexes the newer events in steps (index_step). Until then
	 * they are found through memory, like a device's newest events. Every existing event is
	 * indexed: the column's default. */
	"ALTER TABLE events ADD COLUMN m INTEGER NOT NULL DEFAULT 1;"
	"INSERT OR REPLACE INTO meta VALUES('indexed_seq', (SELECT coalesce(max(seq), 0) FROM events));"
	"DROP INDEX events_account;"
	"CREATE INDEX events_account ON events(account_id) WHERE m;"
	"DROP INDEX events_code;"
	"CREATE INDEX events_code ON events(account_id, code) WHERE m;"
	"DROP INDEX events_camp;"
	"CREATE INDEX events_camp ON events(account_id, camp) WHERE camp IS NOT NULL AND m;"
	"INSERT OR REPLACE INTO sqlite_stat1 VALUES ('events', 'events_account', '1000000 100000'),"
	" ('events', 'events_code', '1000000 100000 3000'),"
	" ('events', 'events_camp', '100000 10000 500');"
	"ANALYZE sqlite_schema;",
	/* 10: the device directory and the campaign counters hold the indexed events only
	 * (index_step counts the others in), where appends had kept them current. The events the
	 * merger had not indexed yet are in them already: they are indexed here, so that no step
	 * counts them twice. */
	"UPDATE events SET m = 1 WHERE seq > coalesce((SELECT value FROM meta"
	" WHERE key = 'indexed_seq'), 0);"
	"INSERT OR REPLACE INTO meta VALUES('indexed_seq', max("
	" coalesce((SELECT value FROM meta WHERE key = 'last_seq'), 0),"
	" coalesce((SELECT max(seq) FROM events), 0)));",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

static int blocks_migrate(sqlite3 *db);

/* Steps in C after a migration's SQL, in its transaction: index i after migrations[i]. */
static int (*const migration_steps[SCHEMA_VERSION])(sqlite3 *db) = {
	[7] = blocks_migrate,
};

struct cached_stmt {
	char *sql;
	const char *origin; /* the caller's pointer: a literal matches without strcmp */
	sqlite3_stmt *st;
	uint64_t used;
};

enum { TX_DEVICE, TX_CODE, TX_CAT, TX_DESCR, TX_CAMP, TX_COLUMNS };

struct conn {
	sqlite3 *db;
	struct cached_stmt cache[STMT_CACHE];
	uint64_t tick;
	struct dlog_buf spill[TX_COLUMNS]; /* a row's texts that the full id maps could not keep */
};

/* Id -> text of committed dictionary rows (strings; devices), shared by the readers so a page
 * of events is a query on `events` alone. Such rows never change once committed, so an entry
 * never goes stale; entries are added under `lock` and read without it (an id is published
 * after its text), and never removed before close, so a text pointer handed to a reader
 * stays valid. When the map is full it stops growing: further misses are read from SQL. */
struct id_slot {
	_Atomic int64_t id; /* 0: empty */
	const char *text;
};

struct id_map {
	pthread_mutex_t lock;
	struct id_slot *slot;
	size_t cap, n, max; /* cap: a power of two, twice max */
	char *chunk;        /* the texts, in chunks chained through their first pointer */
	size_t chunk_used, chunk_size;
};

/* Text -> id of the writer's dictionaries (strings, and devices per account). Rows of these
 * tables are never changed or deleted once committed, so an entry stays true for every process;
 * entries made inside a transaction that rolls back are dropped (dict_forget). Open
 * addressing; when full the map is emptied and refilled by use. */
struct dict_entry {
	uint64_t hash;
	int64_t account_id;
	int64_t id;
	char *text; /* NULL: empty slot */
};

struct dict_cache {
	struct dict_entry *slot;
	size_t cap, n; /* cap is a power of two; n <= cap / 2 */
};

/* A request's device directory changes (see fold_event). */
struct dev_delta {
	int64_t dev; /* 0: empty slot */
	int64_t n[4];
	dlog_time first_ts;
	dlog_time last_ts, last_seq, last_code; /* the latest event */
	int last_mtype;
	bool has_camp;
	dlog_time camp_ts;
	int64_t camp;
	int state; /* 0: no lifecycle event */
	dlog_time state_ts;
};

struct dev_fold {
	struct dev_delta *slot;
	size_t cap;                /* a power of two, at least twice the request's events */
	struct dev_delta **touched; /* the used slots, in first-seen order */
	size_t n;
};

/* The code_attrs rows the writer knows are stored, so an event of a known combination costs
 * a hash probe, not a statement. Open addressing; emptied when half full (refilled by use) and
 * whenever a transaction rolls back (its rows are gone with it). */
struct attrs_entry {
	int64_t account_id, code, cat, descr; /* account_id 0: empty slot */
	int mtype;
};

struct attrs_cache {
	struct attrs_entry *slot;
	size_t cap, n;
};

/* A growing list of ids. */
struct seqv {
	int64_t *v;
	size_t n, cap;
};

static int seqv_add(struct seqv *s, int64_t x)
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 4;
		int64_t *nv = realloc(s->v, nc * sizeof(int64_t));

		if (nv == NULL)
			return DLOG_ENOMEM;
		s->v = nv;
		s->cap = nc;
	}
	s->v[s->n++] = x;
	return 0;
}

/* The tail: each device's events appended since the last merge into dev_blocks (merged_seq
 * in meta), as ascending seqs in memory. It stands in for an index on events(dev) over those
 * rows (docs/STORAGE.md, "SQLite: device blocks"). Likewise each account's events appended
 * since the last index step (indexed_seq in meta), listed per account, per (account, event
 * type) and per (account, campaign): they stand in for the partial indexes events_account,
 * events_code and events_camp, which hold indexed events only ("SQLite: the index tail").
 * The writer adds a group's seqs before it commits; a reader copies the seqs it needs when
 * its snapshot starts and keeps those the snapshot holds (past merged_seq or indexed_seq, up
 * to last_seq, not expired). */
struct tdev {
	int64_t dev; /* 0: empty slot */
	struct seqv seqs;
};

/* An account's list: b = TK_ALL for all its events, tk_code(code) for an event type's,
 * tk_camp(camp) for a campaign's (string ids are positive). */
struct tkey {
	int64_t account; /* 0: empty slot */
	int64_t b;
	struct seqv seqs;
};

#define TK_ALL 0
static int64_t tk_code(int64_t code) { return 2 * code; }
static int64_t tk_camp(int64_t camp) { return 2 * camp + 1; }

/* One event of the open group, for a rollback. */
struct tlog {
	int64_t dev, account, code, camp; /* camp 0: none */
};

struct tail_index {
	pthread_mutex_t lock; /* guards everything below */
	struct tdev *slots;   /* open addressing on dev; never shrinks */
	size_t cap, used;
	struct tkey *keys; /* open addressing on (account, b); never shrinks */
	size_t kcap, kused;
	struct tlog *log; /* the open group's events, in order */
	size_t nlog, logcap;
	int64_t known;   /* every committed seq up to here is in the tail (or merged) */
	int64_t pruned;  /* device seqs up to here were dropped: merged */
	int64_t ipruned; /* account seqs up to here were dropped: indexed */
};

/* Reader connections, opened on demand and kept. */
struct pool {
	pthread_mutex_t lock;
	bool mapped; /* its connections map the database file */
	struct conn *all[MAX_READERS];
	size_t n;
	struct conn *free[MAX_READERS];
	size_t nfree;
};

struct ctx {
	char *path;
	pthread_mutex_t wlock; /* serialises every write transaction on w */
	struct conn w;
	struct dict_cache strings, devices; /* guarded by wlock */
	struct dev_fold fold;                /* guarded by wlock */
	struct attrs_cache attrs;            /* guarded by wlock */
	struct id_map rstrings, rdevices;    /* the readers' id -> text maps */
	uint64_t next_seq;     /* guarded by wlock */
	dlog_time last_created;
	struct pool pages; /* readers of events and everything else: the file mapped */
	struct pool points; /* one-row lookups (a request's key, an event by id): not mapped */
	/* the checkpointer (see ckpt_main) */
	pthread_t ckpt_thread;
	bool ckpt_running, ckpt_stop;
	int ckpt_frames; /* WAL frames after the last commit; guarded by ckpt_lock */
	bool ckpt_catch_up; /* the writer copies the rest after its commit; ckpt_lock */
	bool ckpt_dirty;     /* frames may be left uncopied; ckpt_lock */
	unsigned ckpt_commits; /* commits so far, to tell an idle writer; ckpt_lock */
	pthread_mutex_t ckpt_lock;
	pthread_cond_t ckpt_cond;
	struct tail_index tail;
	/* the merger (see merge_main) */
	pthread_t merge_thread;
	bool merge_running, merge_stop; /* merge_stop: atomic */
	int64_t merged_seq;             /* as the merger last saw it; its thread only */
	int64_t indexed_seq;            /* as the last index step saw it; index_lock */
	pthread_mutex_t index_lock;     /* one index step at a time (index_pending) */
	bool inline_index; /* wlock: the open group's events go into the indexes as appended */
	int64_t caught_up; /* wlock: the open group indexed the events before it up to here */
};

static __thread char errmsg[512];

/* Events appended before the merger moves them into their devices' blocks
 * (dlog_store_set_merge_events); a merge takes DLOG_SQLITE_MERGE_EVENTS at most, or this if
 * larger. */
static int64_t merge_events = DLOG_SQLITE_MERGE_EVENTS; /* __atomic builtins */

static void *merge_main(void *arg);
static int tail_add(struct ctx *c, const struct tlog *e, int64_t seq);
static void tail_undo(struct ctx *c, int64_t seq0);
static void tail_iprune(struct tail_index *t, int64_t hi);
static int tail_load(struct ctx *c);
static void tail_free(struct tail_index *t);

static void dict_forget(struct dict_cache *d);
static void pool_close(struct pool *p);
static void attrs_forget(struct attrs_cache *a);
static void fold_free(struct dev_fold *f);
static int id_map_init(struct id_map *m, size_t max);
static void id_map_free(struct id_map *m);

static int fail(int rc, sqlite3 *db, const char *what)
{
	int err = sqlite3_extended_errcode(db);
	int primary = err & 0xff;

	snprintf(errmsg, sizeof(errmsg), "%s: %s", what, db ? sqlite3_errmsg(db) : "no database");
	if (primary == SQLITE_FULL || primary == SQLITE_READONLY || primary == SQLITE_BUSY ||
	    primary == SQLITE_LOCKED || primary == SQLITE_CANTOPEN || primary == SQLITE_IOERR)
		return DLOG_EUNAVAIL;
	if (primary == SQLITE_NOMEM)
		return DLOG_ENOMEM;
	if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT)
		return DLOG_ESCHEMA;
	(void)rc;
	return DLOG_ESTORE;
}

/* ---- connections and the statement cache ---- */

static void conn_close(struct conn *c)
{
	for (size_t i = 0; i < STMT_CACHE; i++) {
		sqlite3_finalize(c->cache[i].st);
		free(c->cache[i].sql);
	}
	for (size_t i = 0; i < TX_COLUMNS; i++)
		dlog_buf_done(&c->spill[i]);
	sqlite3_close_v2(c->db);
	memset(c, 0, sizeof(*c));
}

/* A ready statement for sql, from the cache when it was prepared before on this connection.
 * The caller resets it (stmt_done) after use. literal: sql is a string literal, whose address
 * identifies it (no strcmp on the hot path); generated SQL lives in reused buffers and is
 * matched by content. */
static int prepare_cached(struct conn *c, const char *sql, bool literal, sqlite3_stmt **out)
{
	struct cached_stmt *victim = &c->cache[0];
	int rc;

	for (size_t i = 0; i < STMT_CACHE; i++) {
		struct cached_stmt *e = &c->cache[i];

		if (e->sql != NULL && (e->origin == sql || strcmp(e->sql, sql) == 0)) {
			e->used = ++c->tick;
			*out = e->st;
			return 0;
		}
		if (e->used < victim->used)
			victim = e;
	}
	sqlite3_finalize(victim->st);
	free(victim->sql);
	victim->st = NULL;
	victim->used = 0;
	victim->sql = strdup(sql);
	if (victim->sql == NULL)
		return DLOG_ENOMEM;
	victim->origin = literal ? sql : NULL;
	rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &victim->st, NULL);
	if (rc != SQLITE_OK) {
		free(victim->sql);
		victim->sql = NULL;
		return fail(rc, c->db, "prepare");
	}
	victim->used = ++c->tick;
	*out = victim->st;
	return 0;
}

/* For SQL text that is a string literal (or a macro of literals). */
static int conn_prepare(struct conn *c, const char *sql, sqlite3_stmt **out)
{
	return prepare_cached(c, sql, true, out);
}

/* For SQL built at run time. */
static int conn_prepare_text(struct conn *c, const char *sql, sqlite3_stmt **out)
{
	return prepare_cached(c, sql, false, out);
}

static void stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Run a literal statement without parameters or rows through the statement cache: the group
 * commit's transaction and savepoint statements run several times per request, and
 * sqlite3_exec would parse each of them every time. */
static int exec_cached(struct conn *c, const char *sql)
{
	sqlite3_stmt *st;
	int rc = conn_prepare(c, sql, &st);

	if (rc != 0)
		return rc;
	rc = sqlite3_step(st);
	stmt_done(st);
	return rc == SQLITE_DONE ? 0 : fail(rc, c->db, "exec");
}

/* Step a lookup that yields at most one row: 0 with the row current, DLOG_ENOTFOUND, or the
 * store error (what names the lookup). */
static int step_one(struct conn *cn, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? DLOG_ENOTFOUND : fail(rc, cn->db, what);
}

/* The integer in the first column of st's one row (a count): 0 or an error; st is done. */
static int int_row(struct conn *cn, sqlite3_stmt *st, const char *what, int64_t *out)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		rc = fail(rc, cn->db, what);
	}
	stmt_done(st);
	return rc;
}

static int exec(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : fail(rc, db, "exec");
}

/* The writer creates the file; readers map it or not (see pool_get). */
enum conn_kind { CONN_WRITER, CONN_MAPPED, CONN_READ };

static int conn_open(const char *path, enum conn_kind kind, struct conn *c)
{
	bool create = kind == CONN_WRITER;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
	int rc;

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < TX_COLUMNS; i++)
		dlog_buf_init(&c->spill[i], DLOG_SQLITE_TEXT_MAX);
	rc = sqlite3_open_v2(path, &c->db, flags, store__walbuf_vfs());
	if (rc != SQLITE_OK) {
		rc = fail(rc, c->db, "open");
		conn_close(c);
		return rc == DLOG_ESTORE ? DLOG_EUNAVAIL : rc;
	}
	sqlite3_busy_timeout(c->db, DLOG_SQLITE_BUSY_MS);
	sqlite3_extended_result_codes(c->db, 1);
	/* WAL: readers never block the writer. FULL: a commit is on disk before we answer; it is
	 * also what makes walbuf.c's gathered WAL writes safe (they reach the file at the sync
	 * every commit makes), so no connection of this store may run with less.
	 * The writer touches device rows and index leaves all over the file: a larger cache
	 * saves it reading them back (profiled at 10M events). */
	rc = exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			 "PRAGMA temp_store=MEMORY;");
	if (rc == 0)
		rc = exec(c->db, create ? "PRAGMA cache_size=" DLOG_SQLITE_WRITER_CACHE ";"
			 : kind == CONN_MAPPED ? "PRAGMA cache_size=" DLOG_SQLITE_READER_CACHE ";"
						 "PRAGMA mmap_size=" DLOG_SQLITE_MMAP ";"
					       : "PRAGMA cache_size=" DLOG_SQLITE_READER_CACHE ";");
	if (rc != 0)
		conn_close(c);
	return rc;
}

static int pragma_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return fail(rc, db, sql);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		rc = fail(rc, db, sql);
	}
	sqlite3_finalize(st);
	return rc;
}

/* pragma_int through cn's statement cache, for statements that run per request. */
static int conn_int(struct conn *cn, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc = conn_prepare(cn, sql, &st);

	return rc != 0 ? rc : int_row(cn, st, sql, out);
}

/* One integer from sql with ?1 bound to v, on a pooled connection. */
static int pragma_int_bound(struct conn *cn, const char *sql, int64_t v, int64_t *out)
{
	sqlite3_stmt *st;
	int rc = conn_prepare(cn, sql, &st);

	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, v);
	return int_row(cn, st, sql, out);
}

/* meta's integer for key (0 when absent), on cn's snapshot. */
static int meta_get(struct conn *cn, const char *key, int64_t *out)
{
	sqlite3_stmt *st;
	int rc = conn_prepare(cn, "SELECT coalesce((SELECT value FROM meta WHERE key = ?1), 0)", &st);

	if (rc != 0)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	return int_row(cn, st, key, out);
}

/* Refuse foreign and newer files; bring older ones up to SCHEMA_VERSION. */
static int migrate(sqlite3 *db)
{
	int64_t app = 0, version = 0, tables = 0;
	int rc;

	rc = pragma_int(db, "SELECT count(*) FROM sqlite_master", &tables);
	if (rc == 0)
		rc = pragma_int(db, "PRAGMA application_id", &app);
	if (rc == 0)
		rc = pragma_int(db, "PRAGMA user_version", &version);
	if (rc != 0)
		return rc;
	if (tables > 0 && app != APP_ID) {
		snprintf(errmsg, sizeof(errmsg), "not a devicelog database (foreign SQLite file)");
		return DLOG_ESCHEMA;
	}
	if (version > SCHEMA_VERSION) {
		snprintf(errmsg, sizeof(errmsg),
			 "database schema %lld is newer than this devicelog (%d)",
			 (long long)version, SCHEMA_VERSION);
		return DLOG_ESCHEMA;
	}
	for (int64_t v = version; v < SCHEMA_VERSION; v++) {
		char tail[96];

		snprintf(tail, sizeof(tail), "PRAGMA application_id=%d; PRAGMA user_version=%lld;",
			 APP_ID, (long long)v + 1);
		rc = exec(db, "BEGIN IMMEDIATE");
		if (rc == 0)
			rc = exec(db, migrations[v]);
		if (rc == 0 && migration_steps[v] != NULL)
			rc = migration_steps[v](db);
		if (rc == 0)
			rc = exec(db, tail);
		if (rc == 0)
			rc = exec(db, "COMMIT");
		if (rc != 0) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return rc;
		}
	}
	return 0;
}

static int load_counters(struct ctx *c)
{
	int64_t seq = 0, created = 0;
	int rc = pragma_int(c->w.db, "SELECT coalesce(max(seq), 0) FROM events", &seq);

	if (rc == 0)
		rc = meta_get(&c->w, "last_seq", &created);
	if (rc != 0)
		return rc;
	/* meta.last_seq keeps seqs from being reused after the newest events were deleted */
	c->next_seq = (uint64_t)(seq > created ? seq : created) + 1;
	/* created never decreases along seq, so the newest row holds the largest: a rowid seek,
	 * where max(created) scanned the whole table at every start (434 MB at 10M events) */
	rc = pragma_int(c->w.db,
			"SELECT coalesce((SELECT created FROM events ORDER BY seq DESC LIMIT 1), 0)",
			&created);
	c->last_created = created;
	return rc;
}

/* ---- checkpoints ----
 *
 * Commits append pages to the WAL; a checkpoint copies them into the database file. SQLite's
 * default runs it inside the commit that crosses 1,000 frames, so one producer's request in
 * every few paid for copying (and syncing) everyone's pages. Here a thread of its own does it
 * on its own connection, PASSIVE (never blocking readers or the writer), when the WAL holds
 * DLOG_SQLITE_CKPT_FRAMES frames; a page written many times in between is copied once.
 *
 * The WAL only starts over from its beginning when a write transaction begins with every frame
 * copied, and under steady commits the checkpointer never gets there: the writer adds frames
 * while it copies. Left alone the WAL grew to the back-pressure limit and stayed there, with
 * the checkpointer syncing the WAL and the database once per commit or so (measured: 1.7 WAL
 * syncs per commit at 800 us each instead of one). So the checkpointer repeats while each pass
 * leaves less behind, and once what is left is under DLOG_SQLITE_CKPT_CATCHUP frames it asks
 * the writer to copy that rest itself right after its next commit (catch_up), so that its
 * following transaction starts the WAL over; the WAL file keeps its size and is overwritten,
 * and a sync never has to record a larger file. When the writer falls idle with frames left
 * uncopied (fewer than DLOG_SQLITE_CKPT_FRAMES, or the catch-up's rest), the checkpointer copies
 * them after DLOG_SQLITE_CKPT_IDLE_MS: until then every reader looks each page up in the WAL
 * index and reads the WAL's pages with a copy instead of from the mapped file.
 * Only if the WAL outgrows DLOG_SQLITE_WAL_MAX_FRAMES (the checkpointer cannot keep up, or
 * readers pin old frames) does the committing writer checkpoint everything itself, as
 * back-pressure. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct ctx *c = arg;
	bool catch_up;

	if (frames >= DLOG_SQLITE_WAL_MAX_FRAMES) {
		(void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		return SQLITE_OK;
	}
	pthread_mutex_lock(&c->ckpt_lock);
	c->ckpt_frames = frames;
	c->ckpt_commits++;
	catch_up = c->ckpt_catch_up;
	c->ckpt_catch_up = false;
	/* a pass is due, or the idle timer starts */
	if ((!catch_up && frames >= DLOG_SQLITE_CKPT_FRAMES) || !c->ckpt_dirty)
		pthread_cond_signal(&c->ckpt_cond);
	c->ckpt_dirty = true;
	pthread_mutex_unlock(&c->ckpt_lock);
	if (catch_up)
		(void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
}

/* One pass of the checkpointer: PASSIVE checkpoints while each leaves fewer frames uncopied
 * (the writer's commits meanwhile included), then the writer is asked to catch up once what is
 * left is small. */
static void ckpt_pass(struct ctx *c, sqlite3 *db)
{
	int left_before = INT_MAX;

	for (;;) {
		int log = 0, copied = 0, left;

		if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log,
					      &copied) != SQLITE_OK)
			return;
		pthread_mutex_lock(&c->ckpt_lock);
		left = (c->ckpt_frames > log ? c->ckpt_frames : log) - copied;
		if (left < DLOG_SQLITE_CKPT_CATCHUP)
			c->ckpt_catch_up = true;
		pthread_mutex_unlock(&c->ckpt_lock);
		if (left < DLOG_SQLITE_CKPT_CATCHUP || left >= left_before)
			return; /* done, or readers hold frames back: try at a later commit */
		left_before = left;
	}
}

/* Whether the checkpointer has a pass to make. ckpt_lock held. */
static bool ckpt_due(const struct ctx *c)
{
	return c->ckpt_frames >= DLOG_SQLITE_CKPT_FRAMES && !c->ckpt_catch_up;
}

/* Wait for work; after an idle spell of the writer with frames left in the WAL, copy them
 * (returns true: the caller checkpoints). ckpt_lock held. */
static bool ckpt_wait(struct ctx *c)
{
	struct timespec until;
	unsigned commits = c->ckpt_commits;

	if (!c->ckpt_dirty) {
		pthread_cond_wait(&c->ckpt_cond, &c->ckpt_lock);
		return false;
	}
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += (long)DLOG_SQLITE_CKPT_IDLE_MS * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	while (!c->ckpt_stop && !ckpt_due(c) && c->ckpt_commits == commits)
		/* a signal before the deadline is a pass due or a commit: either way not idle */
		if (pthread_cond_timedwait(&c->ckpt_cond, &c->ckpt_lock, &until) != 0)
			break;
	if (c->ckpt_stop || ckpt_due(c) || c->ckpt_commits != commits)
		return false;
	c->ckpt_dirty = false;
	c->ckpt_catch_up = false;
	return true;
}

static void *ckpt_main(void *arg)
{
	struct ctx *c = arg;
	struct conn cn;
	bool open = false;

	pthread_mutex_lock(&c->ckpt_lock);
	while (!c->ckpt_stop) {
		bool idle = false;

		if (!ckpt_due(c)) {
			idle = ckpt_wait(c);
			if (!idle)
				continue;
		}
		c->ckpt_frames = 0;
		pthread_mutex_unlock(&c->ckpt_lock);
		if (!open)
			open = conn_open(c->path, CONN_READ, &cn) == 0;
		if (open && idle) {
			int log = 0, copied = 0;
			int rc = sqlite3_wal_checkpoint_v2(cn.db, NULL, SQLITE_CHECKPOINT_PASSIVE,
							   &log, &copied);

			pthread_mutex_lock(&c->ckpt_lock);
			if (rc != SQLITE_OK || copied < log) /* readers held frames: again later */
				c->ckpt_dirty = true;
			continue;
		}
		if (open)
			ckpt_pass(c, cn.db);
		pthread_mutex_lock(&c->ckpt_lock);
	}
	pthread_mutex_unlock(&c->ckpt_lock);
	if (open)
		conn_close(&cn);
	return NULL;
}

static void ckpt_start(struct ctx *c)
{
	c->ckpt_dirty = true; /* a WAL left by a crash is copied once the writer is idle */
	sqlite3_wal_hook(c->w.db, wal_hook, c);
	c->ckpt_running = pthread_create(&c->ckpt_thread, NULL, ckpt_main, c) == 0;
	if (!c->ckpt_running) /* no thread: SQLite's own checkpoints in the commit path */
		sqlite3_wal_autocheckpoint(c->w.db, 1000);
}

static void ckpt_stop(struct ctx *c)
{
	if (!c->ckpt_running)
		return;
	pthread_mutex_lock(&c->ckpt_lock);
	c->ckpt_stop = true;
	pthread_cond_signal(&c->ckpt_cond);
	pthread_mutex_unlock(&c->ckpt_lock);
	pthread_join(c->ckpt_thread, NULL);
	c->ckpt_running = false;
}

static void sqlite_close(void *vctx)
{
	struct ctx *c = vctx;

	if (c == NULL)
		return;
	if (c->merge_running) {
		__atomic_store_n(&c->merge_stop, true, __ATOMIC_RELEASE);
		pthread_join(c->merge_thread, NULL);
	}
	ckpt_stop(c);
	pool_close(&c->pages);
	pool_close(&c->points);
	if (c->w.db != NULL) {
		/* a clean close checkpoints the WAL into the main file */
		conn_close(&c->w);
	}
	dict_forget(&c->strings);
	dict_forget(&c->devices);
	fold_free(&c->fold);
	free(c->attrs.slot);
	id_map_free(&c->rstrings);
	id_map_free(&c->rdevices);
	tail_free(&c->tail);
	pthread_mutex_destroy(&c->wlock);
	pthread_mutex_destroy(&c->ckpt_lock);
	pthread_mutex_destroy(&c->tail.lock);
	pthread_mutex_destroy(&c->index_lock);
	pthread_cond_destroy(&c->ckpt_cond);
	free(c->path);
	free(c);
}

/* Before SQLite's first use in the process: no global memory statistics, whose mutex every
 * allocation of every connection would otherwise take (a few percent of the writer, profiled).
 * When something initialised SQLite earlier the call is refused and nothing changes. */
static void sqlite_configure(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int sqlite_open(const char *path, void **out, char *errbuf, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct ctx *c;
	int rc;

	pthread_once(&once, sqlite_configure);
	c = calloc(1, sizeof(*c));
	*out = NULL;
	if (c == NULL)
		return DLOG_ENOMEM;
	pthread_mutex_init(&c->wlock, NULL);
	pthread_mutex_init(&c->pages.lock, NULL);
	pthread_mutex_init(&c->points.lock, NULL);
	c->pages.mapped = true;
	pthread_mutex_init(&c->ckpt_lock, NULL);
	pthread_mutex_init(&c->tail.lock, NULL);
	pthread_mutex_init(&c->index_lock, NULL);
	{
		pthread_condattr_t attr; /* ckpt_wait's deadline is on the monotonic clock */

		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&c->ckpt_cond, &attr);
		pthread_condattr_destroy(&attr);
	}
	c->path = strdup(path);
	if (c->path == NULL || id_map_init(&c->rstrings, DLOG_SQLITE_STRING_CACHE) != 0 ||
	    id_map_init(&c->rdevices, DLOG_SQLITE_DEVICE_CACHE) != 0) {
		sqlite_close(c);
		return DLOG_ENOMEM;
	}
	rc = conn_open(path, CONN_WRITER, &c->w);
	if (rc == 0)
		rc = migrate(c->w.db);
	if (rc == 0)
		rc = load_counters(c);
	if (rc == 0)
		rc = tail_load(c);
	if (rc != 0) {
		if (errbuf != NULL)
			snprintf(errbuf, errlen, "%s: %s", path, errmsg);
		sqlite_close(c);
		return rc;
	}
	ckpt_start(c);
	/* without its merger the tail would grow without end */
	c->merge_running = pthread_create(&c->merge_thread, NULL, merge_main, c) == 0;
	if (!c->merge_running) {
		if (errbuf != NULL)
			snprintf(errbuf, errlen, "%s: cannot start the merge thread", path);
		sqlite_close(c);
		return DLOG_ENOMEM;
	}
	*out = c;
	return 0;
}

static const char *sqlite_errmsg(void *vctx)
{
	(void)vctx;
	return errmsg;
}

/* ---- reader pools ---- */

/* A connection of p, opened when none is free. Every read transaction that follows another
 * connection's commit makes SQLite drop a mapped connection's map of the whole file and map it
 * again (pagerBeginReadTransaction), an munmap whose TLB shootdown reaches every thread of the
 * process. Pages pay that for reading mapped rows without a copy; a one-row lookup (the
 * request's access key, the event a single-event ingest answers with) reads a few pages and
 * does not map (docs/STORAGE.md, "Reader connections"). */
static int pool_get(struct ctx *c, struct pool *p, struct conn **out)
{
	struct conn *r = NULL;
	int rc;

	pthread_mutex_lock(&p->lock);
	if (p->nfree > 0)
		r = p->free[--p->nfree];
	pthread_mutex_unlock(&p->lock);
	if (r != NULL) {
		*out = r;
		return 0;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return DLOG_ENOMEM;
	rc = conn_open(c->path, p->mapped ? CONN_MAPPED : CONN_READ, r);
	if (rc != 0) {
		free(r);
		return rc;
	}
	pthread_mutex_lock(&p->lock);
	if (p->n == MAX_READERS) {
		pthread_mutex_unlock(&p->lock);
		conn_close(r);
		free(r);
		snprintf(errmsg, sizeof(errmsg), "too many concurrent readers");
		return DLOG_EUNAVAIL;
	}
	p->all[p->n++] = r;
	pthread_mutex_unlock(&p->lock);
	*out = r;
	return 0;
}

static void pool_put(struct pool *p, struct conn *r)
{
	pthread_mutex_lock(&p->lock);
	p->free[p->nfree++] = r;
	pthread_mutex_unlock(&p->lock);
}

static void pool_close(struct pool *p)
{
	for (size_t i = 0; i < p->n; i++) {
		conn_close(p->all[i]);
		free(p->all[i]);
	}
	p->n = p->nfree = 0;
	pthread_mutex_destroy(&p->lock);
}

static int reader_get(struct ctx *c, struct conn **out)
{
	return pool_get(c, &c->pages, out);
}

static void reader_put(struct ctx *c, struct conn *r)
{
	pool_put(&c->pages, r);
}

/* ---- small write helpers (called with wlock held) ---- */

static int step_done(struct conn *cn, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	stmt_done(st);
	return rc == SQLITE_DONE ? 0 : fail(rc, cn->db, what);
}

/* meta's integer for key set to v (in cn's open transaction). */
static int meta_set(struct conn *cn, const char *key, int64_t v)
{
	sqlite3_stmt *st;
	int rc = conn_prepare(cn, "INSERT OR REPLACE INTO meta VALUES(?1, ?2)", &st);

	if (rc != 0)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v);
	return step_done(cn, st, key);
}

/* ---- the writer's dictionary caches ---- */

static uint64_t dict_hash(int64_t account_id, const char *text)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)account_id; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h;
}

static void dict_forget(struct dict_cache *d)
{
	for (size_t i = 0; i < d->cap; i++)
		free(d->slot[i].text);
	free(d->slot);
	d->slot = NULL;
	d->cap = d->n = 0;
}

static struct dict_entry *dict_find(struct dict_cache *d, int64_t account_id, const char *text,
				    uint64_t h)
{
	if (d->cap == 0)
		return NULL;
	for (size_t i = h & (d->cap - 1);; i = (i + 1) & (d->cap - 1)) {
		struct dict_entry *e = &d->slot[i];

		if (e->text == NULL)
			return e;
		if (e->hash == h && e->account_id == account_id && strcmp(e->text, text) == 0)
			return e;
	}
}

/* Remember text -> id. Best effort: without memory the cache just stays smaller. */
static void dict_remember(struct dict_cache *d, size_t max, int64_t account_id,
			  const char *text, int64_t id)
{
	uint64_t h = dict_hash(account_id, text);
	struct dict_entry *e;

	if (d->n >= max)
		dict_forget(d);
	if (d->cap == 0) {
		d->cap = 2;
		while (d->cap < 2 * max)
			d->cap *= 2;
		d->slot = calloc(d->cap, sizeof(*d->slot));
		if (d->slot == NULL) {
			d->cap = 0;
			return;
		}
	}
	e = dict_find(d, account_id, text, h);
	if (e->text != NULL)
		return;
	e->text = strdup(text);
	if (e->text == NULL)
		return;
	e->hash = h;
	e->account_id = account_id;
	e->id = id;
	d->n++;
}

/* id of text in a dictionary table, inserting it when new. */
static int dict_id(struct conn *cn, const char *sel, const char *ins, int64_t account_id,
		   const char *text, int64_t *out)
{
	sqlite3_stmt *st;
	int rc;

	for (int pass = 0; pass < 2; pass++) {
		rc = conn_prepare(cn, sel, &st);
		if (rc != 0)
			return rc;
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
		if (account_id > 0)
			sqlite3_bind_int64(st, 2, account_id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*out = sqlite3_column_int64(st, 0);
			stmt_done(st);
			return 0;
		}
		stmt_done(st);
		if (rc != SQLITE_DONE || pass == 1)
			return fail(rc, cn->db, "dictionary lookup");
		rc = conn_prepare(cn, ins, &st);
		if (rc != 0)
			return rc;
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
		if (account_id > 0)
			sqlite3_bind_int64(st, 2, account_id);
		rc = step_done(cn, st, "dictionary insert");
		if (rc != 0)
			return rc;
	}
	return DLOG_ESTORE;
}

/* Through the cache: a hit costs a hash, a miss the SQL lookup (and insert) it replaces. */
static int cached_id(struct dict_cache *d, size_t max, struct conn *cn, const char *sel,
		     const char *ins, int64_t account_id, const char *text, int64_t *out)
{
	struct dict_entry *e = dict_find(d, account_id, text, dict_hash(account_id, text));
	int rc;

	if (e != NULL && e->text != NULL) {
		*out = e->id;
		return 0;
	}
	rc = dict_id(cn, sel, ins, account_id, text, out);
	if (rc == 0)
		dict_remember(d, max, account_id, text, *out);
	return rc;
}

static int string_id(struct ctx *c, const char *text, int64_t *out)
{
	return cached_id(&c->strings, DLOG_SQLITE_STRING_CACHE, &c->w,
			 "SELECT id FROM strings WHERE s = ?1", "INSERT INTO strings(s) VALUES(?1)",
			 0, text, out);
}

static int device_id(struct ctx *c, int64_t account_id, const char *text, int64_t *out)
{
	return cached_id(&c->devices, DLOG_SQLITE_DEVICE_CACHE, &c->w,
			 "SELECT id FROM devices WHERE device_id = ?1 AND account_id = ?2",
			 "INSERT INTO devices(device_id, account_id) VALUES(?1, ?2)", account_id,
			 text, out);
}

/* ---- accounts and keys ---- */

static int sqlite_account(void *vctx, const char *name, bool create, int64_t *id)
{
	struct ctx *c = vctx;
	sqlite3_stmt *st;
	int rc;

	pthread_mutex_lock(&c->wlock);
	rc = conn_prepare(&c->w, "SELECT id FROM accounts WHERE name = ?1", &st);
	if (rc != 0)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		stmt_done(st);
		rc = 0;
		goto out;
	}
	stmt_done(st);
	if (rc != SQLITE_DONE) {
		rc = fail(rc, c->w.db, "account lookup");
		goto out;
	}
	if (!create) {
		rc = DLOG_ENOTFOUND;
		goto out;
	}
	rc = conn_prepare(&c->w, "INSERT INTO accounts(name, created_at) VALUES(?1, ?2)", &st);
	if (rc != 0)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, dlog_time_now());
	rc = step_done(&c->w, st, "account insert");
	if (rc == 0)
		*id = sqlite3_last_insert_rowid(c->w.db);
out:
	pthread_mutex_unlock(&c->wlock);
	return rc;
}

static int sqlite_account_count(void *vctx, int64_t *count)
{
	struct ctx *c = vctx;
	int rc;

	pthread_mutex_lock(&c->wlock);
	rc = pragma_int(c->w.db, "SELECT count(*) FROM accounts", count);
	pthread_mutex_unlock(&c->wlock);
	return rc;
}

/* A new key (import=false: a duplicate id or hash is an error) or a copied one (import=true:
 * revocation kept, one already present left alone). */
static int insert_key(struct ctx *c, const struct dlog_key_info *k, const uint8_t hash[32],
		      bool import)
{
	sqlite3_stmt *st;
	int rc;

	pthread_mutex_lock(&c->wlock);
	rc = conn_prepare(&c->w,
			  import ? "INSERT INTO api_keys(key_id, account_id, scope, hash, name,"
				   " created_at, revoked_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"
				   " ON CONFLICT DO NOTHING"
				 : "INSERT INTO api_keys(key_id, account_id, scope, hash, name,"
				   " created_at, revoked_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
			  &st);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, k->key_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, k->account_id);
		sqlite3_bind_int(st, 3, (int)k->scope);
		sqlite3_bind_blob(st, 4, hash, 32, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, k->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, k->created_at);
		sqlite3_bind_int64(st, 7, import ? k->revoked_at : 0);
		rc = step_done(&c->w, st, import ? "key import" : "key insert");
	}
	pthread_mutex_unlock(&c->wlock);
	return rc;
}

static int sqlite_key_add(void *vctx, const struct dlog_key_info *k, const uint8_t hash[32])
{
	return insert_key(vctx, k, hash, false);
}

#define KEY_COLUMNS                                                                               \
	"SELECT k.key_id, k.account_id, a.name, k.scope, k.created_at, k.revoked_at, k.name,"     \
	" k.hash"                                                                                  \
	" FROM api_keys k JOIN accounts a ON a.id = k.account_id"

static void key_row(sqlite3_stmt *st, struct dlog_key_info *k)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->key_id, sizeof(k->key_id), "%s", (const char *)sqlite3_column_text(st, 0));
	k->account_id = sqlite3_column_int64(st, 1);
	snprintf(k->account, sizeof(k->account), "%s", (const char *)sqlite3_column_text(st, 2));
	k->scope = (enum dlog_scope)sqlite3_column_int(st, 3);
	k->created_at = sqlite3_column_int64(st, 4);
	k->revoked_at = sqlite3_column_int64(st, 5);
	snprintf(k->name, sizeof(k->name), "%s", (const char *)sqlite3_column_text(st, 6));
}

static int sqlite_key_lookup(void *vctx, const char *key_id, struct dlog_key_info *out,
			     uint8_t hash[32])
{
	struct ctx *c = vctx;
	struct conn *r;
	sqlite3_stmt *st;
	int rc = pool_get(c, &c->points, &r);

	if (rc != 0)
		return rc;
	rc = conn_prepare(r, KEY_COLUMNS " WHERE k.key_id = ?1", &st);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 7) == 32) {
			key_row(st, out);
			memcpy(hash, sqlite3_column_blob(st, 7), 32);
			rc = 0;
		} else {
			rc = rc == SQLITE_DONE ? DLOG_ENOTFOUND : fail(rc, r->db, "key lookup");
		}
		stmt_done(st);
	}
	pool_put(&c->points, r);
	return rc;
}

static int sqlite_key_list(void *vctx, int64_t account_id,
			   int (*cb)(void *arg, const struct dlog_key_info *k), void *arg)
{
	struct ctx *c = vctx;
	struct conn *r;
	sqlite3_stmt *st;
	int rc = reader_get(c, &r);

	if (rc != 0)
		return rc;
	rc = conn_prepare(r, KEY_COLUMNS " WHERE ?1 <= 0 OR k.account_id = ?1 ORDER BY k.id", &st);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, account_id);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			struct dlog_key_info k;

			key_row(st, &k);
			rc = cb(arg, &k);
			if (rc != 0)
				break;
		}
		if (rc == SQLITE_DONE)
			rc = 0;
		else if (rc > 0)
			rc = fail(rc, r->db, "key list");
		stmt_done(st);
	}
	reader_put(c, r);
	return rc;
}

static int sqlite_key_revoke(void *vctx, int64_t account_id, const char *key_id)
{
	struct ctx *c = vctx;
	sqlite3_stmt *st;
	int rc;

	pthread_mutex_lock(&c->wlock);
	rc = conn_prepare(&c->w,
			  "UPDATE api_keys SET revoked_at = CASE WHEN revoked_at = 0 THEN ?3"
			  " ELSE revoked_at END WHERE key_id = ?1 AND (?2 <= 0 OR account_id = ?2)",
			  &st);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, account_id);
		sqlite3_bind_int64(st, 3, dlog_time_now());
		rc = step_done(&c->w, st, "key revoke");
		if (rc == 0 && sqlite3_changes(c->w.db) == 0)
			rc = DLOG_ENOTFOUND;
	}
	pthread_mutex_unlock(&c->wlock);
	return rc;
}

/* ---- append ---- */

/* An earlier event with this idempotency key: 0 and *found=false when none. */
static int idem_check(struct conn *cn, int64_t account_id, const struct dlog_event *e,
		      bool *found, struct dlog_append_result *res)
{
	sqlite3_stmt *st;
	int rc = conn_prepare(cn,
			      "SELECT seq, created, idem_hash FROM events"
			      " WHERE account_id = ?1 AND idem = ?2",
			      &st);

	*found = false;
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_text(st, 2, e->idempotency_key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const void *h = sqlite3_column_blob(st, 2);

		*found = true;
		res->id.seq = (uint64_t)sqlite3_column_int64(st, 0);
		res->id.created = sqlite3_column_int64(st, 1);
		res->duplicate = true;
		rc = (sqlite3_column_bytes(st, 2) == 32 && memcmp(h, e->content_hash, 32) == 0)
			     ? 0
			     : DLOG_ECONFLICT;
	} else {
		rc = rc == SQLITE_DONE ? 0 : fail(rc, cn->db, "idempotency lookup");
	}
	stmt_done(st);
	return rc;
}

/* ---- the device directory, folded per request ----
 *
 * A request's events are folded into one delta per device (counts, earliest date, and the
 * latest event, campaign event and lifecycle event by (date_time, seq)), and each delta is one
 * UPDATE at the end of the request: a bulk request of 10,000 events over 1,000 devices writes
 * 1,000 device rows instead of 10,000 updates. Folding per request (not per group) keeps a
 * rolled-back request's changes inside its savepoint. */
static int fold_begin(struct dev_fold *f, size_t events)
{
	size_t cap = 16;

	while (cap < 2 * events)
		cap *= 2;
	if (cap > f->cap) {
		struct dev_delta *s = calloc(cap, sizeof(*s));
		struct dev_delta **t = calloc(cap / 2, sizeof(*t));

		if (s == NULL || t == NULL) {
			free(s);
			free(t);
			return DLOG_ENOMEM;
		}
		free(f->slot);
		free(f->touched);
		f->slot = s;
		f->touched = t;
		f->cap = cap;
	} else {
		for (size_t i = 0; i < f->n; i++)
			f->touched[i]->dev = 0;
	}
	f->n = 0;
	return 0;
}

static void fold_free(struct dev_fold *f)
{
	free(f->slot);
	free(f->touched);
	memset(f, 0, sizeof(*f));
}

/* What the directory takes from one event; camp 0: none. */
struct dir_event {
	int64_t account, dev, seq, code, camp;
	dlog_time ts;
	int mtype, state; /* state: the lifecycle state it moves the device to, 0 for none */
};

/* e into d by the same rules as the UPDATE: a later-or-equal date_time wins, ties go to the
 * later event (events come in seq order). */
static void delta_add(struct dev_delta *d, const struct dir_event *e)
{
	d->n[e->mtype & 3]++;
	if (e->ts < d->first_ts)
		d->first_ts = e->ts;
	if (e->ts >= d->last_ts) {
		d->last_ts = e->ts;
		d->last_seq = e->seq;
		d->last_code = e->code;
		d->last_mtype = e->mtype;
	}
	if (e->camp != 0 && (!d->has_camp || e->ts >= d->camp_ts)) {
		d->has_camp = true;
		d->camp_ts = e->ts;
		d->camp = e->camp;
	}
	if (e->state > 0 && (d->state == 0 || e->ts >= d->state_ts)) {
		d->state = e->state;
		d->state_ts = e->ts;
	}
}

static void fold_event(struct dev_fold *f, const struct dir_event *e)
{
	int64_t dev = e->dev;
	size_t i = ((uint64_t)dev * 0x9E3779B97F4A7C15ULL >> 20) & (f->cap - 1);
	struct dev_delta *d;

	while (f->slot[i].dev != 0 && f->slot[i].dev != dev)
		i = (i + 1) & (f->cap - 1);
	d = &f->slot[i];
	if (d->dev == 0) {
		memset(d, 0, sizeof(*d));
		d->dev = dev;
		d->first_ts = INT64_MAX;
		d->last_ts = INT64_MIN;
		f->touched[f->n++] = d;
	}
	delta_add(d, e);
}

static int cmp_delta(const void *a, const void *b)
{
	int64_t x = (*(struct dev_delta *const *)a)->dev, y = (*(struct dev_delta *const *)b)->dev;

	return (x > y) - (x < y);
}

/* One UPDATE per device, in id order (neighbouring rows share pages). The CASEs keep
 * "latest" = greatest (date_time, seq) whatever order requests arrive in. */
static int fold_flush(struct conn *cn, struct dev_fold *f)
{
	sqlite3_stmt *st;
	int rc = 0;

	qsort(f->touched, f->n, sizeof(*f->touched), cmp_delta);
	for (size_t i = 0; i < f->n && rc == 0; i++) {
		const struct dev_delta *d = f->touched[i];

		rc = conn_prepare(
			cn,
			"UPDATE devices SET n0 = n0 + ?2, n1 = n1 + ?3, n2 = n2 + ?4, n3 = n3 + ?5,"
			" first_ts = min(coalesce(first_ts, ?6), ?6),"
			" last_code = CASE WHEN last_ts IS NULL OR ?7 >= last_ts THEN ?9 ELSE last_code END,"
			" last_mtype = CASE WHEN last_ts IS NULL OR ?7 >= last_ts THEN ?10"
			" ELSE last_mtype END,"
			" last_seq = CASE WHEN last_ts IS NULL OR ?7 >= last_ts THEN ?8 ELSE last_seq END,"
			" last_ts = CASE WHEN last_ts IS NULL OR ?7 >= last_ts THEN ?7 ELSE last_ts END,"
			" last_camp = CASE WHEN ?12 IS NOT NULL AND (last_camp_ts IS NULL"
			" OR ?11 >= last_camp_ts) THEN ?12 ELSE last_camp END,"
			" last_camp_ts = CASE WHEN ?12 IS NOT NULL AND (last_camp_ts IS NULL"
			" OR ?11 >= last_camp_ts) THEN ?11 ELSE last_camp_ts END,"
			" state = CASE WHEN ?13 > 0 AND ?14 >= state_ts THEN ?13 ELSE state END,"
			" state_ts = CASE WHEN ?13 > 0 AND ?14 >= state_ts THEN ?14 ELSE state_ts END"
			" WHERE id = ?1",
			&st);
		if (rc != 0)
			break;
		sqlite3_bind_int64(st, 1, d->dev);
		for (int k = 0; k < 4; k++)
			sqlite3_bind_int64(st, 2 + k, d->n[k]);
		sqlite3_bind_int64(st, 6, d->first_ts);
		sqlite3_bind_int64(st, 7, d->last_ts);
		sqlite3_bind_int64(st, 8, d->last_seq);
		sqlite3_bind_int64(st, 9, d->last_code);
		sqlite3_bind_int(st, 10, d->last_mtype);
		if (d->has_camp) {
			sqlite3_bind_int64(st, 11, d->camp_ts);
			sqlite3_bind_int64(st, 12, d->camp);
		}
		sqlite3_bind_int(st, 13, d->state);
		sqlite3_bind_int64(st, 14, d->state_ts);
		rc = step_done(cn, st, "device update");
	}
	return rc;
}

static int bump_camp_devices(struct conn *cn, int64_t account_id, int64_t camp, int64_t code,
			     int delta)
{
	sqlite3_stmt *st;
	int rc = conn_prepare(cn,
			      "UPDATE camp_codes SET devices = devices + ?4"
			      " WHERE account_id = ?1 AND camp = ?2 AND code = ?3",
			      &st);

	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, camp);
	sqlite3_bind_int64(st, 3, code);
	sqlite3_bind_int(st, 4, delta);
	return step_done(cn, st, "campaign counter");
}

/* Campaign counters: one more event for the code; and when this is now the device's latest
 * event in the campaign, its device moves from the old code's count to this one's. */
static int update_campaign(struct conn *cn, const struct dir_event *e)
{
	int64_t account_id = e->account, dev = e->dev, seq = e->seq, code = e->code, camp = e->camp;
	sqlite3_stmt *st;
	int64_t old_code = 0;
	bool found = false, newer = true;
	int rc = conn_prepare(cn,
			      "INSERT INTO camp_codes VALUES(?1, ?2, ?3, ?4, 1, 0, ?5)"
			      " ON CONFLICT DO UPDATE SET events = events + 1,"
			      " first_ts = min(first_ts, excluded.first_ts)",
			      &st);

	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, camp);
	sqlite3_bind_int64(st, 3, code);
	sqlite3_bind_int(st, 4, e->mtype);
	sqlite3_bind_int64(st, 5, e->ts);
	rc = step_done(cn, st, "campaign counter");
	if (rc == 0)
		rc = conn_prepare(cn,
				  "SELECT ts, code FROM camp_devices"
				  " WHERE account_id = ?1 AND camp = ?2 AND dev = ?3",
				  &st);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, camp);
	sqlite3_bind_int64(st, 3, dev);
	if (sqlite3_step(st) == SQLITE_ROW) {
		found = true;
		newer = e->ts >= sqlite3_column_int64(st, 0);
		old_code = sqlite3_column_int64(st, 1);
	}
	stmt_done(st);
	if (!newer)
		return 0;
	rc = conn_prepare(cn, "INSERT OR REPLACE INTO camp_devices VALUES(?1,?2,?3,?4,?5,?6,?7)",
			  &st);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, camp);
	sqlite3_bind_int64(st, 3, dev);
	sqlite3_bind_int64(st, 4, e->ts);
	sqlite3_bind_int64(st, 5, seq);
	sqlite3_bind_int64(st, 6, code);
	sqlite3_bind_int(st, 7, e->mtype);
	rc = step_done(cn, st, "campaign device");
	if (rc == 0 && found && old_code != code)
		rc = bump_camp_devices(cn, account_id, camp, old_code, -1);
	if (rc == 0 && (!found || old_code != code))
		rc = bump_camp_devices(cn, account_id, camp, code, +1);
	return rc;
}

static void attrs_forget(struct attrs_cache *a)
{
	if (a->slot != NULL)
		memset(a->slot, 0, a->cap * sizeof(*a->slot));
	a->n = 0;
}

/* Adds the event's combination to code_attrs unless the cache knows it is there. */
static int note_attrs(struct ctx *c, int64_t account_id, int64_t code, int mtype, int64_t cat,
		      int64_t descr)
{
	struct attrs_cache *a = &c->attrs;
	uint64_t h = ((uint64_t)account_id * 0x9E3779B97F4A7C15ULL) ^
		     ((uint64_t)code * 0xC2B2AE3D27D4EB4FULL) ^ ((uint64_t)cat * 0x165667B19E3779F9ULL) ^
		     ((uint64_t)descr * 0x27D4EB2F165667C5ULL) ^ (uint64_t)mtype;
	struct attrs_entry *e;
	sqlite3_stmt *st;
	int rc;

	if (a->slot == NULL) {
		a->cap = DLOG_SQLITE_ATTRS_CACHE * 2;
		a->slot = calloc(a->cap, sizeof(*a->slot));
		if (a->slot == NULL)
			return DLOG_ENOMEM;
	}
	for (size_t i = (h >> 20) & (a->cap - 1);; i = (i + 1) & (a->cap - 1)) {
		e = &a->slot[i];
		if (e->account_id == 0)
			break;
		if (e->account_id == account_id && e->code == code && e->cat == cat &&
		    e->descr == descr && e->mtype == mtype)
			return 0;
	}
	rc = conn_prepare(&c->w, "INSERT OR IGNORE INTO code_attrs VALUES(?1,?2,?3,?4,?5)", &st);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, code);
	sqlite3_bind_int(st, 3, mtype);
	sqlite3_bind_int64(st, 4, cat);
	sqlite3_bind_int64(st, 5, descr);
	rc = step_done(&c->w, st, "event type attributes");
	if (rc != 0)
		return rc;
	if (a->n >= a->cap / 2) {
		attrs_forget(a);
		return 0;
	}
	*e = (struct attrs_entry){account_id, code, cat, descr, mtype};
	a->n++;
	return 0;
}

static int insert_event(struct ctx *c, int64_t account_id, const struct dlog_event *e,
			struct dlog_append_result *res)
{
	struct conn *cn = &c->w;
	int64_t dev, code, cat, descr, camp = 0;
	sqlite3_stmt *st;
	int rc;

	rc = device_id(c, account_id, e->device_id, &dev);
	if (rc == 0)
		rc = string_id(c, e->event_type, &code);
	if (rc == 0)
		rc = string_id(c, e->category ? e->category : "", &cat);
	if (rc == 0)
		rc = string_id(c, e->description ? e->description : "", &descr);
	if (rc == 0 && e->campaign_id != NULL)
		rc = string_id(c, e->campaign_id, &camp);
	if (rc == 0)
		rc = conn_prepare(cn,
				  "INSERT INTO events(seq, account_id, dev, ts, created, code, mtype,"
				  " cat, descr, flags, camp, extra, idem, idem_hash, m)"
				  " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)",
				  &st);
	if (rc != 0)
		return rc;
	res->id.seq = c->next_seq;
	res->id.created = c->last_created;
	res->duplicate = false;
	sqlite3_bind_int64(st, 1, (int64_t)res->id.seq);
	sqlite3_bind_int64(st, 2, account_id);
	sqlite3_bind_int64(st, 3, dev);
	sqlite3_bind_int64(st, 4, e->date_time);
	sqlite3_bind_int64(st, 5, res->id.created);
	sqlite3_bind_int64(st, 6, code);
	sqlite3_bind_int(st, 7, (int)e->mtype);
	sqlite3_bind_int64(st, 8, cat);
	sqlite3_bind_int64(st, 9, descr);
	sqlite3_bind_int(st, 10, e->state_change ? 1 : 0);
	if (e->campaign_id != NULL)
		sqlite3_bind_int64(st, 11, camp);
	if (e->data_extra != NULL)
		sqlite3_bind_text(st, 12, e->data_extra, -1, SQLITE_STATIC);
	if (e->idempotency_key != NULL) {
		sqlite3_bind_text(st, 13, e->idempotency_key, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 14, e->content_hash, 32, SQLITE_STATIC);
	}
	sqlite3_bind_int(st, 15, c->inline_index ? 1 : 0);
	rc = step_done(cn, st, "event insert");
	if (rc == 0)
		rc = note_attrs(c, account_id, code, (int)e->mtype, cat, descr);
	if (rc == 0 && c->inline_index) {
		struct dir_event d = {account_id, dev, (int64_t)res->id.seq, code, camp, e->date_time,
				      (int)e->mtype, (int)dlog_device_state_of(e->event_type)};

		fold_event(&c->fold, &d);
		if (camp != 0)
			rc = update_campaign(cn, &d);
	}
	if (rc == 0) {
		struct tlog t = {dev, account_id, code, camp};

		rc = tail_add(c, &t, (int64_t)res->id.seq);
	}
	if (rc == 0)
		c->next_seq++;
	return rc;
}

static int add_account_events(struct conn *cn, int64_t account_id, int64_t delta)
{
	sqlite3_stmt *st;
	int rc = conn_prepare(cn, "UPDATE accounts SET n_events = n_events + ?2 WHERE id = ?1",
			      &st);

	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, delta);
	return step_done(cn, st, "account count");
}

/* The account's newest zone takes the request's events while it holds fewer than
 * DLOG_SQLITE_ZONE_EVENTS (one UPDATE, the usual case); otherwise they start a new one. */
static int zone_add(struct conn *cn, int64_t account_id, int64_t first_seq, int64_t last_seq,
		    int64_t n, dlog_time min_ts, dlog_time max_ts)
{
	static const char *const sql[2] = {
		"UPDATE zones SET last_seq = ?3, n = n + ?4, min_ts = min(min_ts, ?5),"
		" max_ts = max(max_ts, ?6) WHERE account_id = ?1 AND n < ?2 AND first_seq ="
		" (SELECT max(first_seq) FROM zones WHERE account_id = ?1)",
		"INSERT INTO zones VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	};
	int rc = 0;

	for (int i = 0; i < 2 && rc == 0; i++) {
		sqlite3_stmt *st;

		rc = conn_prepare(cn, sql[i], &st);
		if (rc != 0)
			break;
		sqlite3_bind_int64(st, 1, account_id);
		sqlite3_bind_int64(st, 2, i == 0 ? DLOG_SQLITE_ZONE_EVENTS : first_seq);
		sqlite3_bind_int64(st, 3, last_seq);
		sqlite3_bind_int64(st, 4, n);
		sqlite3_bind_int64(st, 5, min_ts);
		sqlite3_bind_int64(st, 6, max_ts);
		rc = step_done(cn, st, "zone");
		if (rc == 0 && sqlite3_changes(cn->db) > 0)
			break;
	}
	return rc;
}

static int append_all(struct ctx *c, int64_t account_id, const struct dlog_event *ev, size_t n,
		      struct dlog_append_result *results, size_t *conflict_index)
{
	int64_t added = 0, first_seq = (int64_t)c->next_seq;
	dlog_time min_ts = INT64_MAX, max_ts = INT64_MIN;
	int rc0 = c->inline_index ? fold_begin(&c->fold, n) : 0;

	if (rc0 != 0)
		return rc0;
	for (size_t i = 0; i < n; i++) {
		bool found = false;
		int rc = 0;

		if (ev[i].idempotency_key != NULL)
			rc = idem_check(&c->w, account_id, &ev[i], &found, &results[i]);
		if (rc == 0 && !found) {
			rc = insert_event(c, account_id, &ev[i], &results[i]);
			added++;
			if (ev[i].date_time < min_ts)
				min_ts = ev[i].date_time;
			if (ev[i].date_time > max_ts)
				max_ts = ev[i].date_time;
		}
		if (rc != 0) {
			if (rc == DLOG_ECONFLICT && conflict_index != NULL)
				*conflict_index = i;
			return rc;
		}
	}
	if (added == 0)
		return 0;
	rc0 = c->inline_index ? fold_flush(&c->w, &c->fold) : 0;
	if (rc0 == 0)
		rc0 = zone_add(&c->w, account_id, first_seq, (int64_t)c->next_seq - 1, added, min_ts,
			       max_ts);
	return rc0 != 0 ? rc0 : add_account_events(&c->w, account_id, added);
}

/* ---- the tail and the merger (docs/STORAGE.md, "SQLite: device blocks") ---- */

static size_t key_hash(const int64_t *key, size_t nk, size_t cap)
{
	uint64_t h = (uint64_t)key[0] * 0x9E3779B97F4A7C15ull;

	if (nk == 2)
		h = (h ^ (uint64_t)key[1]) * 0xC2B2AE3D27D4EB4Full;
	return (size_t)(h ^ (h >> 32)) & (cap - 1);
}

/* An open-addressed table of entries of esz bytes that start with nk int64_t keys (the first
 * 0: empty): key's entry, added (zeroed but for the keys) when add is set; NULL when absent or
 * out of memory. Kept at most half full; never shrinks. */
static void *keymap_slot(void **slots, size_t *cap, size_t *used, size_t esz, const int64_t *key,
			 size_t nk, bool add)
{
	char *t = *slots;
	size_t kb = nk * sizeof(int64_t), j;

	if (add && (*used + 1) * 2 > *cap) {
		size_t ncap = *cap == 0 ? 1024 : *cap * 2;
		char *nt = calloc(ncap, esz);

		if (nt == NULL)
			return NULL;
		for (size_t i = 0; i < *cap; i++) {
			int64_t k[2];

			memcpy(k, t + i * esz, kb);
			if (k[0] == 0)
				continue;
			j = key_hash(k, nk, ncap);
			while (*(int64_t *)(void *)(nt + j * esz) != 0)
				j = (j + 1) & (ncap - 1);
			memcpy(nt + j * esz, t + i * esz, esz);
		}
		free(t);
		*slots = t = nt;
		*cap = ncap;
	}
	if (*cap == 0)
		return NULL;
	j = key_hash(key, nk, *cap);
	while (*(int64_t *)(void *)(t + j * esz) != 0 && memcmp(t + j * esz, key, kb) != 0)
		j = (j + 1) & (*cap - 1);
	if (*(int64_t *)(void *)(t + j * esz) == 0) {
		if (!add)
			return NULL;
		memcpy(t + j * esz, key, kb);
		++*used;
	}
	return t + j * esz;
}

static void *devmap_slot(void **slots, size_t *cap, size_t *used, size_t esz, int64_t dev, bool add)
{
	return keymap_slot(slots, cap, used, esz, &dev, 1, add);
}

/* The tail lock held: dev's entry, added when add is set (NULL when absent or out of memory). */
static struct tdev *tail_slot(struct tail_index *t, int64_t dev, bool add)
{
	return devmap_slot((void **)&t->slots, &t->cap, &t->used, sizeof(*t->slots), dev, add);
}

/* The same for an account's list b. */
static struct tkey *tail_key(struct tail_index *t, int64_t account, int64_t b, bool add)
{
	int64_t key[2] = {account, b};

	return keymap_slot((void **)&t->keys, &t->kcap, &t->kused, sizeof(*t->keys), key, 2, add);
}

/* seq onto the list unless it is there already (a reader catching up may meet seqs this
 * process's writer added). */
static int seqs_put(struct seqv *q, int64_t seq)
{
	if (q->n > 0 && q->v[q->n - 1] >= seq)
		return 0;
	return seqv_add(q, seq);
}

/* The tail lock held: the event seq on every list it belongs to that still takes it (indexed:
 * the device's only, the event going into the indexes as it is appended). */
static int tail_put(struct tail_index *t, const struct tlog *e, int64_t seq, bool indexed)
{
	int64_t b[3] = {TK_ALL, tk_code(e->code), tk_camp(e->camp)};
	int rc = 0;

	if (seq > t->pruned) {
		struct tdev *d = tail_slot(t, e->dev, true);

		rc = d == NULL ? DLOG_ENOMEM : seqs_put(&d->seqs, seq);
	}
	for (int i = 0; rc == 0 && !indexed && seq > t->ipruned && i < (e->camp != 0 ? 3 : 2); i++) {
		struct tkey *k = tail_key(t, e->account, b[i], true);

		rc = k == NULL ? DLOG_ENOMEM : seqs_put(&k->seqs, seq);
	}
	return rc;
}

/* wlock held: the open group's event e with its seq, before its commit */
static int tail_add(struct ctx *c, const struct tlog *e, int64_t seq)
{
	struct tail_index *t = &c->tail;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	if (t->nlog == t->logcap) {
		size_t ncap = t->logcap == 0 ? 1024 : t->logcap * 2;
		struct tlog *nl = realloc(t->log, ncap * sizeof(*nl));

		if (nl == NULL)
			rc = DLOG_ENOMEM;
		else {
			t->log = nl;
			t->logcap = ncap;
		}
	}
	if (rc == 0)
		rc = tail_put(t, e, seq, c->inline_index);
	if (rc == 0)
		t->log[t->nlog++] = *e;
	pthread_mutex_unlock(&t->lock);
	return rc;
}

/* wlock held: a group starts (after_commit false) or its COMMIT went through */
static void tail_group(struct ctx *c, bool after_commit)
{
	pthread_mutex_lock(&c->tail.lock);
	if (after_commit && (int64_t)c->next_seq - 1 > c->tail.known)
		c->tail.known = (int64_t)c->next_seq - 1;
	if (after_commit && c->caught_up > c->tail.ipruned)
		tail_iprune(&c->tail, c->caught_up);
	c->caught_up = 0;
	c->tail.nlog = 0;
	pthread_mutex_unlock(&c->tail.lock);
}

static void seqs_undo(struct seqv *q, int64_t seq0)
{
	while (q->n > 0 && q->v[q->n - 1] >= seq0)
		q->n--;
}

/* wlock held: the group's seqs from seq0 on were rolled back */
static void tail_undo(struct ctx *c, int64_t seq0)
{
	struct tail_index *t = &c->tail;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->nlog; i++) {
		const struct tlog *e = &t->log[i];
		int64_t b[3] = {TK_ALL, tk_code(e->code), tk_camp(e->camp)};
		struct tdev *d = tail_slot(t, e->dev, false);

		if (d != NULL)
			seqs_undo(&d->seqs, seq0);
		for (int k = 0; k < 3; k++) {
			struct tkey *l = tail_key(t, e->account, b[k], false);

			if (l != NULL)
				seqs_undo(&l->seqs, seq0);
		}
	}
	pthread_mutex_unlock(&t->lock);
}

/* The seqs up to hi off the front of q; an emptied list frees its memory (a device or an
 * event type quiet since keeps its slot only). */
static void seqs_prune(struct seqv *q, int64_t hi)
{
	size_t k = 0;

	if (q->n == 0 || q->v[0] > hi)
		return;
	while (k < q->n && q->v[k] <= hi)
		k++;
	memmove(q->v, q->v + k, (q->n - k) * sizeof(int64_t));
	q->n -= k;
	if (q->n == 0) {
		free(q->v);
		*q = (struct seqv){0};
	}
}

/* The tail lock held: drop the device seqs up to hi (merged into blocks) */
static void tail_prune(struct tail_index *t, int64_t hi)
{
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].dev != 0)
			seqs_prune(&t->slots[i].seqs, hi);
	t->pruned = hi;
}

/* The tail lock held: drop the account seqs up to hi (in the indexes now) */
static void tail_iprune(struct tail_index *t, int64_t hi)
{
	for (size_t i = 0; i < t->kcap; i++)
		if (t->keys[i].account != 0)
			seqs_prune(&t->keys[i].seqs, hi);
	t->ipruned = hi;
}

static void tail_free(struct tail_index *t)
{
	for (size_t i = 0; i < t->cap; i++)
		free(t->slots[i].seqs.v);
	for (size_t i = 0; i < t->kcap; i++)
		free(t->keys[i].seqs.v);
	free(t->slots);
	free(t->keys);
	free(t->log);
}

/* After a loop of sqlite3_step: 0 when it ran to SQLITE_DONE, the store's error for an SQLite
 * one, else the loop's own (negative) code. */
static int steps_end(int rc, sqlite3 *db, const char *what)
{
	return rc == SQLITE_DONE ? 0 : rc > 0 ? fail(rc, db, what) : rc;
}

/* The tail lock held: the committed events in (lo, hi] into the tail, in id order. */
static int tail_read(struct tail_index *t, struct conn *cn, int64_t lo, int64_t hi)
{
	sqlite3_stmt *st;
	int rc = conn_prepare(cn, "SELECT dev, seq, account_id, code, coalesce(camp, 0) FROM events"
				  " WHERE seq > ?1 AND seq <= ?2 ORDER BY seq", &st);

	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, lo);
	sqlite3_bind_int64(st, 2, hi);
	while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct tlog e = {sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 2),
				 sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4)};

		rc = tail_put(t, &e, sqlite3_column_int64(st, 1), false);
	}
	stmt_done(st);
	return steps_end(rc, cn->db, "tail");
}

#define META_MERGED "coalesce((SELECT value FROM meta WHERE key = 'merged_seq'), 0)"
#define META_INDEXED "coalesce((SELECT value FROM meta WHERE key = 'indexed_seq'), 0)"

/* At open: the events past merged_seq or indexed_seq into the tail. */
static int tail_load(struct ctx *c)
{
	int64_t merged = 0, indexed = 0;
	int rc = meta_get(&c->w, "merged_seq", &merged);

	if (rc == 0)
		rc = meta_get(&c->w, "indexed_seq", &indexed);
	c->merged_seq = merged;
	c->indexed_seq = indexed;
	c->tail.pruned = merged;
	c->tail.ipruned = indexed;
	c->tail.known = (int64_t)c->next_seq - 1;
	if (rc == 0) {
		pthread_mutex_lock(&c->tail.lock);
		rc = tail_read(&c->tail, &c->w, merged < indexed ? merged : indexed, c->tail.known);
		pthread_mutex_unlock(&c->tail.lock);
	}
	return rc;
}

/* What a reader's snapshot holds of the tail: device seqs in (merged, last], account seqs in
 * (indexed, last], none below live. */
struct tail_view {
	int64_t merged, indexed, last, live;
};

/* The tail lock held, r in a transaction: starts its snapshot if it has not (a reader that
 * read before may find seqs pruned since: see tail_devices) and brings the tail up to it.
 * Events another process committed are read in (a second instance on the same file); seqs a
 * merge or an index step committed since are dropped. */
static int tail_begin(struct ctx *c, struct conn *r, struct tail_view *v)
{
	struct tail_index *t = &c->tail;
	sqlite3_stmt *st;
	int rc = conn_prepare(r, "SELECT " META_MERGED ", " META_INDEXED ","
				 " coalesce((SELECT value FROM meta WHERE key = 'last_seq'), 0),"
				 " (SELECT min(seq) FROM events)", &st);

	if (rc != 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		v->merged = sqlite3_column_int64(st, 0);
		v->indexed = sqlite3_column_int64(st, 1);
		v->last = sqlite3_column_int64(st, 2);
		v->live = sqlite3_column_type(st, 3) == SQLITE_NULL ? INT64_MAX : sqlite3_column_int64(st, 3);
		rc = 0;
	} else {
		rc = fail(rc, r->db, "tail");
	}
	stmt_done(st);
	if (rc == 0 && v->merged > t->pruned)
		tail_prune(t, v->merged);
	if (rc == 0 && v->indexed > t->ipruned)
		tail_iprune(t, v->indexed);
	if (rc == 0 && v->last > t->known) {
		int64_t lo = v->merged < v->indexed ? v->merged : v->indexed;

		rc = tail_read(t, r, t->known > lo ? t->known : lo, v->last);
		if (rc == 0)
			t->known = v->last;
	}
	return rc;
}

static int seqs_copy(const struct seqv *q, int64_t above, const struct tail_view *v,
		     struct seqv *out)
{
	int rc = 0;

	for (size_t k = 0; rc == 0 && k < q->n; k++) {
		int64_t seq = q->v[k];

		if (seq > above && seq <= v->last && seq >= v->live)
			rc = seqv_add(out, seq);
	}
	return rc;
}

/* The tail lock held: dev's seqs the view holds, appended to out. */
static int tail_copy(struct tail_index *t, const struct tail_view *v, int64_t dev, struct seqv *out)
{
	struct tdev *d = tail_slot(t, dev, false);

	return d == NULL ? 0 : seqs_copy(&d->seqs, v->merged, v, out);
}

/* The tail lock held: the seqs of the account's list b, appended to out. */
static int tail_copy_key(struct tail_index *t, int64_t account, int64_t b, struct seqv *out)
{
	struct tkey *k = tail_key(t, account, b, false);
	int rc = 0;

	for (size_t i = 0; rc == 0 && k != NULL && i < k->seqs.n; i++)
		rc = seqv_add(out, k->seqs.v[i]);
	return rc;
}

/* The tail lock held, r in a transaction that has read nothing: starts its snapshot and
 * reads in the events another process committed (a second instance on the same file). */
static int tail_start(struct ctx *c, struct conn *r)
{
	struct tail_index *t = &c->tail;
	int64_t last = 0;
	int rc = conn_int(r, "SELECT coalesce(max(seq), 0) FROM events", &last);

	if (rc == 0 && last > t->known) {
		int64_t lo = t->pruned < t->ipruned ? t->pruned : t->ipruned;

		rc = tail_read(t, r, t->known > lo ? t->known : lo, last);
		if (rc == 0)
			t->known = last;
	}
	return rc;
}

/* A block being built, or built: dev's events from first_seq, n of them, encoded in body; the
 * last one's seq, created and ts, which the next is encoded against. */
struct mblk {
	int64_t dev, first_seq;
	int n;
	struct evb_event last;
	struct dlog_buf body;
};

static int mblk_cmp(const void *a, const void *b)
{
	const struct mblk *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->first_seq < y->first_seq ? -1 : x->first_seq > y->first_seq;
}

/* The columns of one events row a block holds (BLOCK_COLS) into *e; its texts point into the
 * row (valid until the statement steps again). */
#define BLOCK_COLS "seq, dev, ts, created, code, mtype, cat, descr, flags, camp, extra, idem"
static void evb_row(sqlite3_stmt *st, int64_t *dev, struct evb_event *e)
{
	memset(e, 0, sizeof(*e));
	e->seq = sqlite3_column_int64(st, 0);
	*dev = sqlite3_column_int64(st, 1);
	e->ts = sqlite3_column_int64(st, 2);
	e->created = sqlite3_column_int64(st, 3);
	e->code = sqlite3_column_int64(st, 4);
	e->mtype = sqlite3_column_int(st, 5);
	e->cat = sqlite3_column_int64(st, 6);
	e->descr = sqlite3_column_int64(st, 7);
	e->flags = sqlite3_column_int(st, 8);
	e->has_camp = sqlite3_column_type(st, 9) != SQLITE_NULL;
	e->camp = sqlite3_column_int64(st, 9);
	if (sqlite3_column_type(st, 10) != SQLITE_NULL)
		e->extra = (const char *)sqlite3_column_text(st, 10);
	if (sqlite3_column_type(st, 11) != SQLITE_NULL)
		e->idem = (const char *)sqlite3_column_text(st, 11);
}

/* Encoded blocks have no bound of their own: ingest bounds the events' sizes. */
#define BLOCK_BUF_MAX ((size_t)1 << 40)

/* e onto the block k (n == 0: a new one of dev). */
static int mblk_add(struct mblk *k, int64_t dev, const struct evb_event *e)
{
	int rc;

	if (k->n == 0) {
		k->dev = dev;
		k->first_seq = e->seq;
		dlog_buf_init(&k->body, BLOCK_BUF_MAX);
	}
	rc = evb_append(&k->body, k->n == 0 ? NULL : &k->last, e);
	if (rc == 0) {
		k->n++;
		k->last.seq = e->seq;
		k->last.created = e->created;
		k->last.ts = e->ts;
	}
	return rc;
}

/* One dev_blocks row. */
static int blk_insert(sqlite3 *db, sqlite3_stmt *ins, const struct mblk *k)
{
	int rc;

	sqlite3_bind_int64(ins, 1, k->dev);
	sqlite3_bind_int64(ins, 2, k->first_seq);
	sqlite3_bind_int(ins, 3, k->n);
	sqlite3_bind_blob(ins, 4, k->body.data, (int)k->body.len, SQLITE_STATIC);
	rc = sqlite3_step(ins);
	sqlite3_reset(ins);
	return rc == SQLITE_DONE ? 0 : fail(rc, db, "device block");
}

/* One block row of ev[0..n) of dev. */
static int put_block(sqlite3 *db, sqlite3_stmt *ins, int64_t dev, const struct evb_event *ev,
		     size_t n)
{
	struct mblk k = {0};
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = mblk_add(&k, dev, &ev[i]);
	if (rc == 0)
		rc = blk_insert(db, ins, &k);
	dlog_buf_done(&k.body);
	return rc;
}

/* Migration 8, in its transaction: every event into its device's blocks, streamed in device
 * order through events(dev), one block in memory at a time; then events(dev) goes. */
static int blocks_migrate(sqlite3 *db)
{
	struct mblk k = {0};
	int64_t hi = 0;
	sqlite3_stmt *st = NULL, *ins = NULL;
	int rc = pragma_int(db, "SELECT coalesce(max(seq), 0) FROM events", &hi);

	if (rc == 0 && (sqlite3_prepare_v2(db, "SELECT " BLOCK_COLS " FROM events INDEXED BY events_dev"
					   " ORDER BY dev, seq", -1, &st, NULL) != SQLITE_OK ||
			sqlite3_prepare_v2(db, "INSERT INTO dev_blocks VALUES(?1, ?2, ?3, ?4)", -1, &ins,
					   NULL) != SQLITE_OK))
		rc = fail(SQLITE_ERROR, db, "device blocks");
	while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct evb_event e;
		int64_t dev;

		evb_row(st, &dev, &e);
		rc = 0;
		if (k.n > 0 && (dev != k.dev || k.n == EVB_MAX)) {
			rc = blk_insert(db, ins, &k);
			dlog_buf_done(&k.body);
			k.n = 0;
		}
		if (rc == 0)
			rc = mblk_add(&k, dev, &e);
	}
	rc = steps_end(rc, db, "device blocks");
	if (rc == 0 && k.n > 0)
		rc = blk_insert(db, ins, &k);
	dlog_buf_done(&k.body);
	sqlite3_finalize(st);
	sqlite3_finalize(ins);
	if (rc == 0) {
		char sql[160];

		snprintf(sql, sizeof(sql),
			 "INSERT OR REPLACE INTO meta VALUES('merged_seq', %lld);"
			 " DROP INDEX events_dev; DELETE FROM sqlite_stat1 WHERE idx = 'events_dev';"
			 " ANALYZE sqlite_schema;",
			 (long long)hi);
		rc = exec(db, sql);
	}
	return rc;
}

/* A merge prepared on a reader's snapshot, without the writer's lock: the events in (lo, hi]
 * (first: the least of them, 0: none) encoded into blocks, built as the rows come in id order
 * (each device's open block found through a map on dev), so memory holds encoded events only. */
struct merge {
	int64_t lo, hi, first;
	struct mblk *blks;
	size_t nb, cap;
	struct mopen {
		int64_t dev;  /* 0: empty */
		size_t blk1; /* 1 + the index of its open block in blks; 0: none yet */
	} *open;
	size_t ocap, oused;
};

static void merge_free(struct merge *m)
{
	for (size_t i = 0; i < m->nb; i++)
		dlog_buf_done(&m->blks[i].body);
	free(m->blks);
	free(m->open);
}

static int merge_row(struct merge *m, int64_t dev, const struct evb_event *e)
{
	struct mopen *o = devmap_slot((void **)&m->open, &m->ocap, &m->oused, sizeof(*m->open), dev, true);

	if (o == NULL)
		return DLOG_ENOMEM;
	if (o->blk1 == 0 || m->blks[o->blk1 - 1].n == EVB_MAX) {
		if (m->nb == m->cap) {
			size_t ncap = m->cap == 0 ? 4096 : m->cap * 2;
			struct mblk *nb = realloc(m->blks, ncap * sizeof(*nb));

			if (nb == NULL)
				return DLOG_ENOMEM;
			m->blks = nb;
			m->cap = ncap;
		}
		memset(&m->blks[m->nb], 0, sizeof(m->blks[0]));
		o->blk1 = ++m->nb;
	}
	return mblk_add(&m->blks[o->blk1 - 1], dev, e);
}

static int merge_read(struct ctx *c, struct conn *r, struct merge *m)
{
	int64_t last = 0, least = __atomic_load_n(&merge_events, __ATOMIC_RELAXED);
	int64_t most = least > DLOG_SQLITE_MERGE_EVENTS ? least : DLOG_SQLITE_MERGE_EVENTS;
	sqlite3_stmt *st;
	int rc = meta_get(r, "merged_seq", &m->lo);

	if (rc == 0)
		rc = meta_get(r, "last_seq", &last);
	c->merged_seq = m->lo;
	m->hi = m->lo;
	if (rc != 0 || last - m->lo < least)
		return rc;
	m->hi = last - m->lo > most ? m->lo + most : last;
	rc = conn_prepare(r, "SELECT " BLOCK_COLS " FROM events WHERE seq > ?1 AND seq <= ?2 ORDER BY seq", &st);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, m->lo);
	sqlite3_bind_int64(st, 2, m->hi);
	while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct evb_event e;
		int64_t dev;

		evb_row(st, &dev, &e);
		if (m->first == 0)
			m->first = e.seq;
		rc = merge_row(m, dev, &e);
	}
	stmt_done(st);
	return steps_end(rc, r->db, "merge");
}

static int merge_prep(struct ctx *c, struct merge *m)
{
	struct conn *r;
	int rc = reader_get(c, &r);

	if (rc != 0)
		return rc;
	rc = exec_cached(r, "BEGIN");
	if (rc == 0) {
		rc = merge_read(c, r, m);
		(void)exec_cached(r, "COMMIT");
	}
	reader_put(c, r);
	/* the blocks go in in key order */
	if (rc == 0 && m->nb > 0)
		qsort(m->blks, m->nb, sizeof(*m->blks), mblk_cmp);
	free(m->open);
	m->open = NULL;
	return rc;
}

/* step on the writer in a transaction of its own, under the writer's lock: committed when
 * step returns 0, else rolled back and step's code returned. */
static int writer_tx(struct ctx *c, int (*step)(struct ctx *c, void *arg), void *arg)
{
	int rc;

	pthread_mutex_lock(&c->wlock);
	rc = exec_cached(&c->w, "BEGIN IMMEDIATE");
	if (rc == 0)
		rc = step(c, arg);
	if (rc == 0)
		rc = exec_cached(&c->w, "COMMIT");
	if (rc != 0)
		sqlite3_exec(c->w.db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&c->wlock);
	return rc;
}

/* The blocks in and merged_seq moved to hi, unless the store moved on since the snapshot
 * (another merger, or retention removing events of the range: it removes a prefix of the
 * ids, so the range's least event then differs). 1: stale. */
static int merge_step(struct ctx *c, void *arg)
{
	const struct merge *m = arg;
	sqlite3_stmt *st;
	int64_t merged = 0, first = 0;
	int rc = meta_get(&c->w, "merged_seq", &merged);

	if (rc == 0)
		rc = pragma_int_bound(&c->w, "SELECT coalesce((SELECT min(seq) FROM events WHERE seq > ?1), 0)", m->lo, &first);
	if (rc == 0 && (merged != m->lo || (first <= m->hi ? first : 0) != m->first))
		rc = 1;
	if (rc == 0 && m->nb > 0 &&
	    (rc = conn_prepare(&c->w, "INSERT INTO dev_blocks VALUES(?1, ?2, ?3, ?4)", &st)) == 0) {
		for (size_t i = 0; rc == 0 && i < m->nb; i++)
			rc = blk_insert(c->w.db, st, &m->blks[i]);
		stmt_done(st);
	}
	return rc == 0 ? meta_set(&c->w, "merged_seq", m->hi) : rc;
}

/* The event types that move a device's lifecycle state: their ids (0: no event has one yet)
 * and the states they move it to. */
static int state_codes(struct conn *cn, int64_t ids[3], int states[3])
{
	static const char *const types[3] = {"SYS_105", "SYS_106", "SYS_107"};
	sqlite3_stmt *st;
	int rc = conn_prepare(cn, "SELECT coalesce((SELECT id FROM strings WHERE s = ?1), 0)", &st);

	for (int i = 0; i < 3 && rc == 0; i++) {
		states[i] = (int)dlog_device_state_of(types[i]);
		sqlite3_bind_text(st, 1, types[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		ids[i] = sqlite3_column_int64(st, 0);
		rc = rc == SQLITE_ROW ? 0 : fail(rc, cn->db, "state codes");
		sqlite3_reset(st);
	}
	if (rc == 0)
		stmt_done(st);
	return rc;
}

#define DIR_EVENT_COLUMNS "seq, dev, ts, code, mtype, coalesce(camp, 0), account_id"

/* st's row of DIR_EVENT_COLUMNS; ids and states from state_codes. */
static void dir_event_row(sqlite3_stmt *st, const int64_t ids[3], const int states[3],
			  struct dir_event *e)
{
	*e = (struct dir_event){
		.seq = sqlite3_column_int64(st, 0), .dev = sqlite3_column_int64(st, 1),
		.ts = sqlite3_column_int64(st, 2), .code = sqlite3_column_int64(st, 3),
		.mtype = sqlite3_column_int(st, 4), .camp = sqlite3_column_int64(st, 5),
		.account = sqlite3_column_int64(st, 6)};
	for (int i = 0; i < 3; i++)
		if (ids[i] != 0 && e->code == ids[i])
			e->state = states[i];
}

/* The events (lo, hi] into the device directory and the campaign counters, read from the log
 * in id order; the directory's changes folded DLOG_SQLITE_INDEX_EVENTS at a time: one UPDATE
 * per device per fold, in device order. */
static int dir_fold(struct ctx *c, int64_t lo, int64_t hi)
{
	int64_t ids[3];
	int states[3];
	sqlite3_stmt *st;
	int rc = state_codes(&c->w, ids, states);

	if (rc == 0)
		rc = conn_prepare(&c->w, "SELECT " DIR_EVENT_COLUMNS " FROM events"
					 " WHERE seq > ?1 AND seq <= ?2 ORDER BY seq", &st);
	while (rc == 0 && lo < hi) {
		int64_t to = hi - lo > DLOG_SQLITE_INDEX_EVENTS ? lo + DLOG_SQLITE_INDEX_EVENTS : hi;

		rc = fold_begin(&c->fold, (size_t)(to - lo));
		if (rc != 0)
			break;
		sqlite3_bind_int64(st, 1, lo);
		sqlite3_bind_int64(st, 2, to);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			struct dir_event e;

			dir_event_row(st, ids, states, &e);
			fold_event(&c->fold, &e);
			if (e.camp != 0 && (rc = update_campaign(&c->w, &e)) != 0)
				break;
		}
		sqlite3_reset(st);
		rc = rc == SQLITE_DONE ? fold_flush(&c->w, &c->fold)
		     : rc > 0	      ? fail(rc, c->w.db, "directory fold")
				      : rc;
		lo = to;
	}
	if (rc == 0)
		stmt_done(st);
	return rc;
}

struct index_range {
	int64_t lo, hi, last; /* indexed_seq before and after the step; last_seq */
};

/* The events past indexed_seq (at most DLOG_SQLITE_INDEX_MAX) into the partial indexes, the
 * device directory and the campaign counters, and indexed_seq moved past them. Their rows are rewritten with m = 1,
 * in id order, and their index entries go in at each account's, event type's and campaign's
 * end of the indexes: a few leaves per key, where appends wrote one leaf per event ("SQLite:
 * the index tail"); each device's row is written once for all its events of the step. */
static int index_step(struct ctx *c, void *arg)
{
	struct index_range *r = arg;
	sqlite3_stmt *st;
	int rc = meta_get(&c->w, "indexed_seq", &r->lo);

	if (rc == 0)
		rc = meta_get(&c->w, "last_seq", &r->last);
	r->hi = r->last - r->lo > DLOG_SQLITE_INDEX_MAX ? r->lo + DLOG_SQLITE_INDEX_MAX : r->last;
	if (rc != 0 || r->hi <= r->lo)
		return rc;
	rc = dir_fold(c, r->lo, r->hi);
	if (rc == 0)
		rc = conn_prepare(&c->w, "UPDATE OR FAIL events SET m = 1 WHERE seq > ?1 AND seq <= ?2",
				  &st);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, r->lo);
		sqlite3_bind_int64(st, 2, r->hi);
		rc = step_done(&c->w, st, "index step");
	}
	return rc == 0 ? meta_set(&c->w, "indexed_seq", r->hi) : rc;
}

/* One index step, or (all) steps until every event committed before the call is indexed;
 * the tail's lists drop what they took. Index steps run one at a time (index_lock). */
static int index_pending(struct ctx *c, bool all)
{
	struct index_range r;
	int rc;

	pthread_mutex_lock(&c->index_lock);
	do {
		r = (struct index_range){0};
		rc = writer_tx(c, index_step, &r);
		if (rc == 0 && r.hi > c->indexed_seq) {
			__atomic_store_n(&c->indexed_seq, r.hi, __ATOMIC_RELAXED);
			pthread_mutex_lock(&c->tail.lock);
			if (r.hi > c->tail.ipruned)
				tail_iprune(&c->tail, r.hi);
			pthread_mutex_unlock(&c->tail.lock);
		}
	} while (rc == 0 && all && r.hi < r.last);
	pthread_mutex_unlock(&c->index_lock);
	return rc;
}

/* A store at rest indexes its tail after this many ms without appends (0: only by count). */
static int64_t idle_index_ms = DLOG_SQLITE_IDLE_INDEX_MS; /* __atomic builtins */

void store__sqlite_set_idle_index(int64_t ms)
{
	__atomic_store_n(&idle_index_ms, ms, __ATOMIC_RELAXED);
}

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The merger, every 50 ms: once DLOG_SQLITE_INDEX_EVENTS have been appended since the last
 * index step (or merge_events, when fewer), or once appends have stopped for
 * DLOG_SQLITE_IDLE_INDEX_MS with any pending (a store at rest then reads no tail), they go
 * into the partial indexes; once
 * merge_events have been appended since the last merge, they go into new blocks of their
 * devices (a device's last block is never rewritten: blocks of a few events are fine).
 * Either way their seqs then leave the tail. (Readers drop seqs that another process
 * indexed or merged as they see indexed_seq or merged_seq move.) */
static void *merge_main(void *arg)
{
	struct ctx *c = arg;
	int64_t seen = 0, quiet_since = mono_ms();

	while (!__atomic_load_n(&c->merge_stop, __ATOMIC_ACQUIRE)) {
		struct merge m = {0};
		int64_t most = __atomic_load_n(&merge_events, __ATOMIC_RELAXED);
		int64_t step = most < DLOG_SQLITE_INDEX_EVENTS ? most : DLOG_SQLITE_INDEX_EVENTS;
		/* next_seq is the writer's; a stale read only moves a check by 50 ms */
		int64_t last = (int64_t)__atomic_load_n(&c->next_seq, __ATOMIC_RELAXED) - 1;
		int64_t idle = __atomic_load_n(&idle_index_ms, __ATOMIC_RELAXED), now = mono_ms();
		bool worked = false;
		int rc = 0;

		if (last != seen) {
			seen = last;
			quiet_since = now;
		}
		if (idle > 0 && now - quiet_since >= idle)
			step = 1;
		if (last - __atomic_load_n(&c->indexed_seq, __ATOMIC_RELAXED) >= step) {
			int64_t before = __atomic_load_n(&c->indexed_seq, __ATOMIC_RELAXED);

			rc = index_pending(c, false);
			if (rc != 0)
				dlog_log(DLOG_LOG_WARNING, "store: indexing appended events: %s (retrying)",
					 errmsg);
			worked = rc == 0 && __atomic_load_n(&c->indexed_seq, __ATOMIC_RELAXED) > before;
		}
		if (rc == 0 && last - c->merged_seq >= most) {
			rc = merge_prep(c, &m);
			if (rc == 0 && m.hi > m.lo)
				rc = writer_tx(c, merge_step, &m);
			if (rc == 0 && m.hi > m.lo) {
				worked = true;
				c->merged_seq = m.hi;
				/* A reader whose snapshot predates the commit copied its part of the
				 * tail when the snapshot started, under this lock; later ones see the
				 * blocks. */
				pthread_mutex_lock(&c->tail.lock);
				if (m.hi > c->tail.pruned)
					tail_prune(&c->tail, m.hi);
				pthread_mutex_unlock(&c->tail.lock);
			} else if (rc < 0) {
				dlog_log(DLOG_LOG_WARNING, "store: merging into device blocks: %s (retrying)",
					 errmsg);
			}
			merge_free(&m);
		}
		if (!worked)
			usleep(rc < 0 ? 1000000 : 50000);
	}
	return NULL;
}

void dlog_store_set_merge_events(int64_t n)
{
	__atomic_store_n(&merge_events, n < 1 ? 1 : n, __ATOMIC_RELAXED);
}

/* Group commit: every request in one transaction, each inside its own savepoint so a failing
 * request is undone alone; one durable COMMIT for all. */
/* wlock held, in the group's transaction: whether its events go into the indexes as they are
 * appended. A group of at least DLOG_SQLITE_INLINE_INDEX events (bulk requests) does once
 * every event before it is indexed: its index entries go in at each key's end in runs, as an
 * index step's would, and its rows are written once. The events that smaller groups left
 * unindexed before it (at most DLOG_SQLITE_INDEX_MAX) it indexes first, in its transaction,
 * with an index step: bulk groups behind a backlog went to the tail too, and while steps
 * indexed more slowly than bulk requests appended, the tail only grew. Smaller groups
 * (single events, whose entries would each be a leaf of its own) go to the tail. */
static int inline_decide(struct ctx *c, struct dlog_append_req **reqs, size_t n)
{
	int64_t events = 0, indexed = 0, last = 0;
	int rc = 0;

	c->inline_index = false;
	for (size_t i = 0; i < n; i++)
		events += (int64_t)reqs[i]->n;
	if (events < DLOG_SQLITE_INLINE_INDEX)
		return 0;
	rc = meta_get(&c->w, "indexed_seq", &indexed);
	if (rc == 0)
		rc = meta_get(&c->w, "last_seq", &last);
	if (rc == 0 && indexed != last && last - indexed <= DLOG_SQLITE_INDEX_MAX) {
		struct index_range r = {0};

		rc = index_step(c, &r);
		if (rc == 0)
			c->caught_up = indexed = r.hi;
	}
	c->inline_index = rc == 0 && indexed == last;
	return rc;
}

static int sqlite_append_group(void *vctx, struct dlog_append_req **reqs, size_t n)
{
	struct ctx *c = vctx;
	uint64_t group_seq0;
	dlog_time now = dlog_time_now();
	int rc;

	pthread_mutex_lock(&c->wlock);
	group_seq0 = c->next_seq;
	/* created never goes backwards, so id order (seq, created) stays creation order even if
	 * the clock steps back */
	if (now > c->last_created)
		c->last_created = now;
	tail_group(c, false);
	rc = exec_cached(&c->w, "BEGIN IMMEDIATE");
	if (rc != 0)
		goto out;
	rc = inline_decide(c, reqs, n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct dlog_append_req *q = reqs[i];
		uint64_t seq0 = c->next_seq;

		rc = exec_cached(&c->w, "SAVEPOINT req");
		if (rc != 0)
			break;
		q->rc = append_all(c, q->account_id, q->ev, q->n, q->results, &q->conflict_index);
		if (q->rc != 0) {
			snprintf(q->errmsg, sizeof(q->errmsg), "%.255s", errmsg);
			c->next_seq = seq0;
			rc = exec_cached(&c->w, "ROLLBACK TO req");
			tail_undo(c, (int64_t)seq0);
			/* ids the request added to the dictionaries are gone with it */
			dict_forget(&c->strings);
			dict_forget(&c->devices);
			attrs_forget(&c->attrs);
		}
		if (rc == 0)
			rc = exec_cached(&c->w, "RELEASE req");
		if (rc != 0)
			break;
	}
	if (rc == 0 && c->next_seq != group_seq0)
		rc = meta_set(&c->w, "last_seq", (int64_t)c->next_seq - 1);
	if (rc == 0 && c->inline_index && c->next_seq != group_seq0)
		rc = meta_set(&c->w, "indexed_seq", (int64_t)c->next_seq - 1);
	if (rc == 0)
		rc = exec_cached(&c->w, "COMMIT");
	if (rc != 0) {
		sqlite3_exec(c->w.db, "ROLLBACK", NULL, NULL, NULL);
		tail_undo(c, (int64_t)group_seq0);
		c->next_seq = group_seq0;
		dict_forget(&c->strings);
		dict_forget(&c->devices);
		attrs_forget(&c->attrs);
	} else {
		tail_group(c, true);
	}
out:
	pthread_mutex_unlock(&c->wlock);
	return rc;
}

/* One request alone: the same path as a group of one. */
static int sqlite_append(void *vctx, int64_t account_id, const struct dlog_event *ev, size_t n,
			 struct dlog_append_result *results, size_t *conflict_index)
{
	struct dlog_append_req req = {.account_id = account_id, .ev = ev, .n = n,
				      .results = results};
	struct dlog_append_req *one = &req;
	int rc = sqlite_append_group(vctx, &one, 1);

	if (rc == 0)
		rc = req.rc;
	if (rc == DLOG_ECONFLICT && conflict_index != NULL)
		*conflict_index = req.conflict_index;
	if (req.rc != 0 && rc == req.rc)
		snprintf(errmsg, sizeof(errmsg), "%s", req.errmsg);
	return rc;
}

/* ---- reads ---- */

/* The slots are made here, once (their untouched pages cost no memory): their place never
 * changes, so a lock-free reader never sees them move. */
static int id_map_init(struct id_map *m, size_t max)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->max = max;
	m->cap = 16;
	while (m->cap < 2 * max)
		m->cap *= 2;
	m->slot = calloc(m->cap, sizeof(*m->slot));
	return m->slot != NULL ? 0 : DLOG_ENOMEM;
}

static void id_map_free(struct id_map *m)
{
	while (m->chunk != NULL) {
		char *next = *(char **)m->chunk;

		free(m->chunk);
		m->chunk = next;
	}
	free(m->slot);
	pthread_mutex_destroy(&m->lock);
	memset(m, 0, sizeof(*m));
}

static size_t id_slot_of(const struct id_map *m, int64_t id)
{
	return (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15ULL) >> 17) & (m->cap - 1);
}

/* Lock-free: NULL when id is not (yet) in the map. */
static const char *id_map_find(struct id_map *m, int64_t id)
{
	struct id_slot *slot = m->slot;

	for (size_t i = id_slot_of(m, id);; i = (i + 1) & (m->cap - 1)) {
		int64_t k = atomic_load_explicit(&slot[i].id, memory_order_acquire);

		if (k == id)
			return slot[i].text;
		if (k == 0)
			return NULL;
	}
}

/* A copy of text kept until close, or NULL when the map is full (or memory is short). */
static const char *id_map_add(struct id_map *m, int64_t id, const char *text, size_t len)
{
	const char *out = NULL;
	size_t i;

	pthread_mutex_lock(&m->lock);
	if (m->n >= m->max)
		goto out;
	for (i = id_slot_of(m, id); m->slot[i].id != 0; i = (i + 1) & (m->cap - 1))
		if (m->slot[i].id == id) {
			out = m->slot[i].text;
			goto out;
		}
	if (m->chunk == NULL || m->chunk_used + len + 1 > m->chunk_size) {
		size_t size = sizeof(char *) + len + 1 > 65536 ? sizeof(char *) + len + 1 : 65536;
		char *chunk = malloc(size);

		if (chunk == NULL)
			goto out;
		*(char **)chunk = m->chunk;
		m->chunk = chunk;
		m->chunk_size = size;
		m->chunk_used = sizeof(char *);
	}
	char *copy = m->chunk + m->chunk_used;

	memcpy(copy, text, len);
	copy[len] = '\0';
	m->chunk_used += len + 1;
	m->slot[i].text = copy;
	atomic_store_explicit(&m->slot[i].id, id, memory_order_release);
	m->n++;
	out = copy;
out:
	pthread_mutex_unlock(&m->lock);
	return out;
}

/* The text of dictionary row id: from the map, else read on r (and remembered); "" if the row
 * cannot be read. Valid until the next call for the same column on r. */
static const char *id_text(struct ctx *c, struct conn *r, int col, int64_t id)
{
	bool device = col == TX_DEVICE;
	struct id_map *m = device ? &c->rdevices : &c->rstrings;
	const char *t = id_map_find(m, id);
	sqlite3_stmt *st;

	if (t != NULL)
		return t;
	if (conn_prepare(r, device ? "SELECT device_id FROM devices WHERE id = ?1"
				   : "SELECT s FROM strings WHERE id = ?1",
			 &st) != 0)
		return "";
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(st, 0);
		size_t len = (size_t)sqlite3_column_bytes(st, 0);

		t = id_map_add(m, id, text, len);
		if (t == NULL) {
			dlog_buf_reset(&r->spill[col]);
			if (dlog_buf_add(&r->spill[col], text, len) == 0)
				t = r->spill[col].data;
		}
	}
	stmt_done(st);
	return t != NULL ? t : "";
}


/* Dictionary columns come back as ids, turned into texts by id_text (no joins). */
#define EVENT_SELECT                                                                              \
	"SELECT e.seq, e.created, e.ts, e.dev, e.code, e.mtype, e.cat, e.descr, e.flags, e.camp,"   \
	" e.extra, e.idem FROM events e"

/* The indexed events only, when q reads them apart from the index tail: the term that lets
 * the planner use the partial indexes (they hold the rows with m = 1). */
static void merged_only(struct sqlgen *g, const struct dlog_query *q)
{
	if (store__sqlite_split(q))
		store__sql(g, " AND e.m");
}

void store__sqlite_page_sql(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
			    const struct sqlite_narrow *nw)
{
	char tail[64];

	store__sqlgen_init(g, SQL_STYLE_SQLITE);
	/* narrowed: by the event types, whatever the planner guesses of a long list of them */
	store__sql(g, nw != NULL && nw->active ? EVENT_SELECT " INDEXED BY events_code WHERE "
					       : EVENT_SELECT " WHERE ");
	store__sql_where(g, account_id, q, true);
	store__sqlite_narrow_sql(g, nw);
	merged_only(g, q);
	/* LIMIT is a literal so the statement text repeats per page size and stays cached */
	snprintf(tail, sizeof(tail), " ORDER BY e.seq %s LIMIT %d",
		 q->order == DLOG_ORDER_DESC ? "DESC" : "ASC", q->limit + 1);
	store__sql(g, tail);
}

void store__sqlite_zone_page_sql(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
				 bool dense)
{
	char tail[64];

	store__sqlgen_init(g, SQL_STYLE_SQLITE);
	/* NOT INDEXED leaves the rowid: the zone's id range is read in place */
	store__sql(g, dense ? EVENT_SELECT " NOT INDEXED WHERE " : EVENT_SELECT " WHERE ");
	g->zoned = true; /* the zone's own bounds follow */
	store__sql_where(g, account_id, q, true);
	merged_only(g, q);
	store__sql(g, " AND e.seq >= ");
	store__sql_int(g, 0);
	store__sql(g, " AND e.seq <= ");
	store__sql_int(g, 0);
	snprintf(tail, sizeof(tail), " ORDER BY e.seq %s LIMIT %d",
		 q->order == DLOG_ORDER_DESC ? "DESC" : "ASC", q->limit + 1);
	store__sql(g, tail);
}

void store__sqlite_count_sql(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
			     const struct sqlite_narrow *nw)
{
	store__sqlgen_init(g, SQL_STYLE_SQLITE);
	if (q->nterms == 0) {
		/* no filter: the maintained count (schema 4) */
		store__sql(g, "SELECT n_events FROM accounts WHERE id = ");
		store__sql_int(g, account_id);
	} else {
		store__sql(g, nw != NULL && nw->active
				      ? "SELECT count(*) FROM events e INDEXED BY events_code WHERE "
				      : "SELECT count(*) FROM events e WHERE ");
		store__sql_where(g, account_id, q, false);
		store__sqlite_narrow_sql(g, nw);
		merged_only(g, q);
	}
}

static void event_row(struct ctx *c, struct conn *r, sqlite3_stmt *st, struct dlog_event *e)
{
	memset(e, 0, sizeof(*e));
	e->id.seq = (uint64_t)sqlite3_column_int64(st, 0);
	e->id.created = sqlite3_column_int64(st, 1);
	e->date_time = sqlite3_column_int64(st, 2);
	e->device_id = id_text(c, r, TX_DEVICE, sqlite3_column_int64(st, 3));
	e->event_type = id_text(c, r, TX_CODE, sqlite3_column_int64(st, 4));
	e->mtype = (enum dlog_mtype)sqlite3_column_int(st, 5);
	e->category = id_text(c, r, TX_CAT, sqlite3_column_int64(st, 6));
	e->description = id_text(c, r, TX_DESCR, sqlite3_column_int64(st, 7));
	e->state_change = (sqlite3_column_int(st, 8) & 1) != 0;
	if (sqlite3_column_type(st, 9) != SQLITE_NULL)
		e->campaign_id = id_text(c, r, TX_CAMP, sqlite3_column_int64(st, 9));
	e->data_extra = (const char *)sqlite3_column_text(st, 10);
	e->idempotency_key = (const char *)sqlite3_column_text(st, 11);
}

int store__sqlite_bind(sqlite3_stmt *st, const struct sqlgen *g)
{
	for (size_t i = 0; i < g->nvals; i++) {
		const struct sqlv *v = &g->vals[i];
		int rc = v->type == SQLV_INT
				 ? sqlite3_bind_int64(st, (int)i + 1, v->i)
				 : sqlite3_bind_text(st, (int)i + 1, v->s, -1, SQLITE_STATIC);
		if (rc != SQLITE_OK)
			return DLOG_ESTORE;
	}
	return 0;
}

/* Prepare g's SQL on r (cached when the text repeats) with its values bound. */
static int prepare_gen(struct conn *r, const struct sqlgen *g, sqlite3_stmt **st)
{
	int rc;

	if (g->err != 0)
		return g->err;
	rc = conn_prepare_text(r, g->sql.data, st);
	if (rc == 0 && (rc = store__sqlite_bind(*st, g)) != 0)
		stmt_done(*st);
	return rc;
}

/* Steps st's rows to cb, counting into *rows; at the row past limit sets *has_more instead.
 * Leaves st reset (its bindings kept). */
static int step_rows(struct ctx *c, struct conn *r, sqlite3_stmt *st, int limit, int *rows,
		     dlog_event_cb cb, void *arg, bool *has_more)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct dlog_event e;

		if (*rows == limit) {
			*has_more = true;
			break;
		}
		event_row(c, r, st, &e);
		++*rows;
		rc = cb(arg, &e);
		if (rc != 0)
			break;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	return rc > 0 ? fail(rc, r->db, "query") : rc;
}

static int run_rows(struct ctx *c, struct conn *r, const struct sqlgen *g, int limit,
		    dlog_event_cb cb, void *arg, bool *has_more)
{
	sqlite3_stmt *st;
	int rows = 0;
	int rc = prepare_gen(r, g, &st);

	if (rc != 0)
		return rc;
	*has_more = false;
	rc = step_rows(c, r, st, limit, &rows, cb, arg, has_more);
	stmt_done(st);
	return rc;
}

/* A page that walks the account's ids, zone by zone in the page's order (zones are disjoint
 * runs of ids, so their rows concatenate in order). A dense zone (its id range at most
 * ZONE_DENSE times its events: the account's rows lie together, as after bulk ingest or in
 * a store of one account) is read in place along the rowid, rows of other accounts skipped;
 * a sparse one through events(account_id), a seek per row, as a single statement would.
 * Walking the rowid is several times cheaper per row than the seeks (measured: a rare
 * category newest first, 2M events), so a rare value costs less to look for. Every statement
 * is stepped while the zones' statement is open, so all see one snapshot. */
#define ZONE_DENSE 4

static int walk_zones(struct ctx *c, struct conn *r, int64_t account_id,
		      const struct dlog_query *q, dlog_event_cb cb, void *arg, bool *has_more)
{
	struct sqlgen zg, pg[2];
	sqlite3_stmt *zst, *st[2] = {NULL, NULL};
	int rows = 0, src = SQLITE_DONE;
	int rc;

	*has_more = false;
	store__sqlite_zone_sql(&zg, account_id, q);
	rc = prepare_gen(r, &zg, &zst);
	store__sqlgen_done(&zg);
	if (rc != 0)
		return rc;
	while (rc == 0 && !*has_more && (src = sqlite3_step(zst)) == SQLITE_ROW) {
		int64_t lo = sqlite3_column_int64(zst, 0), hi = sqlite3_column_int64(zst, 1);
		int d = hi - lo < ZONE_DENSE * sqlite3_column_int64(zst, 2);

		if (st[d] == NULL) {
			/* made on first use: a page is often served by one kind of zone */
			store__sqlite_zone_page_sql(&pg[d], account_id, q, d == 1);
			rc = prepare_gen(r, &pg[d], &st[d]);
			if (rc != 0) {
				st[d] = NULL;
				store__sqlgen_done(&pg[d]);
				break;
			}
		}
		/* the zone's bounds are the statement's last two values */
		if (sqlite3_bind_int64(st[d], (int)pg[d].nvals - 1, lo) != SQLITE_OK ||
		    sqlite3_bind_int64(st[d], (int)pg[d].nvals, hi) != SQLITE_OK)
			rc = DLOG_ESTORE;
		else
			rc = step_rows(c, r, st[d], q->limit, &rows, cb, arg, has_more);
	}
	if (rc == 0 && !*has_more && src != SQLITE_DONE)
		rc = fail(src, r->db, "zones");
	for (int d = 0; d < 2; d++) {
		if (st[d] != NULL) {
			stmt_done(st[d]);
			store__sqlgen_done(&pg[d]);
		}
	}
	stmt_done(zst);
	return rc;
}

static int count_rows(struct conn *r, int64_t account_id, const struct dlog_query *q,
		      const struct sqlite_narrow *nw, int64_t *total)
{
	struct sqlgen g;
	sqlite3_stmt *st;
	int rc;

	store__sqlite_count_sql(&g, account_id, q, nw);
	rc = prepare_gen(r, &g, &st);
	if (rc == 0)
		rc = int_row(r, st, "count", total);
	store__sqlgen_done(&g);
	return rc;
}

/* Indexed events of the account, up to max + 1, counted along events(account_id, code) (the
 * index tail's few are left out: this only weighs narrowing). */
static int code_events(struct conn *r, int64_t account_id, int64_t code, int64_t max,
		       int64_t *n)
{
	sqlite3_stmt *st;
	int rc = conn_prepare(r, "SELECT count(*) FROM (SELECT 1 FROM events"
				 " WHERE account_id = ?1 AND code = ?2 AND m LIMIT ?3)",
			      &st);

	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, code);
	sqlite3_bind_int64(st, 3, max + 1);
	return int_row(r, st, "events of an event type", n);
}

/* Narrows q to the event types that carry its description, category or message type when
 * they are few (DLOG_SQLITE_NARROW_CODES) and hold few of the account's events. Read through
 * events(account_id, code), the c events of those types cost a seek each and a sort; walking
 * the account's n events for a page of 50 reads about 50 n / c rows in place, each ~15 times
 * cheaper than a seek (a rare category: 0.6 % of 100k events, 0.60 ms). Narrowing pays while
 * c * c <= DLOG_SQLITE_NARROW_FACTOR * n; a common value is left to the walk, which finds a
 * page of it soon, and a value no event has gives an empty page at once. */
static int narrow(struct conn *r, int64_t account_id, const struct dlog_query *q,
		  struct sqlite_narrow *nw)
{
	struct sqlgen g;
	sqlite3_stmt *st;
	int64_t events = 0, n_account = 0, max;
	int rc;

	nw->active = false;
	nw->n = 0;
	store__sqlite_codes_sql(&g, account_id, q);
	rc = prepare_gen(r, &g, &st);
	store__sqlgen_done(&g);
	if (rc != 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (nw->n == DLOG_SQLITE_NARROW_CODES) {
			nw->n++; /* too many types: walk */
			break;
		}
		nw->codes[nw->n++] = sqlite3_column_int64(st, 0);
	}
	stmt_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(rc, r->db, "event type attributes");
	if (nw->n > DLOG_SQLITE_NARROW_CODES) {
		nw->n = 0;
		return 0;
	}
	if (nw->n > 0) {
		rc = conn_prepare(r, "SELECT n_events FROM accounts WHERE id = ?1", &st);
		if (rc != 0)
			return rc;
		sqlite3_bind_int64(st, 1, account_id);
		if (sqlite3_step(st) == SQLITE_ROW)
			n_account = sqlite3_column_int64(st, 0);
		stmt_done(st);
	}
	max = (int64_t)sqrt((double)DLOG_SQLITE_NARROW_FACTOR * (double)n_account);
	for (size_t i = 0; i < nw->n; i++) {
		int64_t n = 0;

		rc = code_events(r, account_id, nw->codes[i], max - events, &n);
		if (rc != 0)
			return rc;
		events += n;
		if (events > max) {
			nw->n = 0;
			return 0;
		}
	}
	nw->active = true;
	return 0;
}

/* ---- a device's events: dev_blocks and the tail ----
 * A page of one device only (device_id=X) is decoded from its blocks and the rows of its tail
 * seqs (dev_page). Any other filter naming devices (device_id with other terms, device_id__in,
 * device_group_id) gathers the named devices' event ids from the tail and the blocks and
 * looks those rows up by rowid in the generated SQL, which still applies every term
 * (cand_*): the blocks and the tail stand in for an index on events(dev). */

bool store__sqlite_device_only(const struct dlog_query *q)
{
	return q->nterms == 1 && q->terms[0].field == DLOG_F_DEVICE_ID &&
	       q->terms[0].op == DLOG_OP_EQ;
}

const char *store__sqlite_blocks_sql(bool asc)
{
	/* ASC from the block holding the cursor (the last one starting at or before it) on */
	return asc ? "SELECT body FROM dev_blocks WHERE dev = ?1 AND first_seq >="
		     " coalesce((SELECT max(first_seq) FROM dev_blocks WHERE dev = ?1"
		     " AND first_seq <= ?2), 0) ORDER BY first_seq ASC"
		   : "SELECT body FROM dev_blocks WHERE dev = ?1 AND first_seq <= ?2"
		     " ORDER BY first_seq DESC";
}

struct dpage {
	struct ctx *c;
	struct conn *r;
	const struct dlog_query *q;
	dlog_event_cb cb;
	void *arg;
	int rows;
	bool *has_more;
	int64_t s, created; /* the cursor */
	int64_t live;       /* the first id not expired */
};

#define DPAGE_FULL 1 /* the page is full: stop reading */

static bool dp_after(const struct dpage *p, int64_t seq, int64_t created)
{
	if (!p->q->has_after)
		return true;
	if (p->q->order == DLOG_ORDER_ASC)
		return seq > p->s || (seq == p->s && created > p->created);
	return seq < p->s || (seq == p->s && created < p->created);
}

static int dp_emit(struct dpage *p, const struct dlog_event *e)
{
	if (p->rows == p->q->limit) {
		*p->has_more = true;
		return DPAGE_FULL;
	}
	p->rows++;
	return p->cb(p->arg, e);
}

/* The tail's events (seqs ascending), in the page's order. */
static int dp_tail(struct dpage *p, const int64_t *seqs, size_t n)
{
	bool asc = p->q->order == DLOG_ORDER_ASC;
	sqlite3_stmt *st;
	int rc = conn_prepare(p->r, EVENT_SELECT " WHERE e.seq = ?1", &st);

	if (rc != 0)
		return rc;
	for (size_t k = 0; rc == 0 && k < n; k++) {
		struct dlog_event e;
		int64_t seq = seqs[asc ? k : n - 1 - k];

		if (p->q->has_after && (asc ? seq < p->s : seq > p->s))
			continue;
		sqlite3_bind_int64(st, 1, seq);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			event_row(p->c, p->r, st, &e);
			rc = dp_after(p, seq, e.id.created) ? dp_emit(p, &e) : 0;
		} else {
			/* the view leaves out expired ids: every seq is a row of the snapshot */
			rc = rc == SQLITE_DONE ? 0 : fail(rc, p->r->db, "device tail");
		}
		sqlite3_reset(st);
	}
	stmt_done(st);
	return rc;
}

static int block_malformed(void)
{
	snprintf(errmsg, sizeof(errmsg), "device block malformed");
	return DLOG_ESTORE;
}

static int dp_block(struct dpage *p, int64_t dev, const uint8_t *body, size_t len)
{
	struct evb_event ev[EVB_MAX];
	size_t n;
	bool asc = p->q->order == DLOG_ORDER_ASC;

	if (evb_decode(body, len, ev, EVB_MAX, &n) != 0)
		return block_malformed();
	for (size_t k = 0; k < n; k++) {
		const struct evb_event *b = &ev[asc ? k : n - 1 - k];
		struct dlog_event e = {0};
		int rc;

		if (b->seq < p->live || !dp_after(p, b->seq, b->created))
			continue;
		e.id.seq = (uint64_t)b->seq;
		e.id.created = b->created;
		e.date_time = b->ts;
		e.device_id = id_text(p->c, p->r, TX_DEVICE, dev);
		e.event_type = id_text(p->c, p->r, TX_CODE, b->code);
		e.mtype = (enum dlog_mtype)b->mtype;
		e.category = id_text(p->c, p->r, TX_CAT, b->cat);
		e.description = id_text(p->c, p->r, TX_DESCR, b->descr);
		e.state_change = (b->flags & 1) != 0;
		if (b->has_camp)
			e.campaign_id = id_text(p->c, p->r, TX_CAMP, b->camp);
		e.data_extra = b->extra;
		e.idempotency_key = b->idem;
		if ((rc = dp_emit(p, &e)) != 0)
			return rc;
	}
	return 0;
}

static int dp_blocks(struct dpage *p, int64_t dev)
{
	bool asc = p->q->order == DLOG_ORDER_ASC;
	sqlite3_stmt *st;
	int rc = conn_prepare(p->r, store__sqlite_blocks_sql(asc), &st);

	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, dev);
	sqlite3_bind_int64(st, 2, p->q->has_after ? p->s : asc ? 0 : INT64_MAX);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = dp_block(p, dev, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
		if (rc != 0)
			break;
	}
	stmt_done(st);
	if (rc == SQLITE_DONE)
		return 0;
	return rc > 0 && rc != DPAGE_FULL ? fail(rc, p->r->db, "device blocks") : rc;
}

/* The ids sql finds for each of t's values (r's snapshot), into ids: the value is its last
 * parameter, the account its first when it has two. */
static int term_ids(struct conn *r, const char *sql, int64_t account_id, const struct dlog_term *t,
		    struct seqv *ids, const char *what)
{
	sqlite3_stmt *st = NULL;
	int rc = conn_prepare(r, sql, &st), nv = rc == 0 ? sqlite3_bind_parameter_count(st) : 0;

	for (size_t i = 0; rc == 0 && i < t->n; i++) {
		if (nv == 2)
			sqlite3_bind_int64(st, 1, account_id);
		sqlite3_bind_text(st, nv, t->v.strs[i], -1, SQLITE_STATIC);
		while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
			rc = seqv_add(ids, sqlite3_column_int64(st, 0));
		sqlite3_reset(st);
		rc = steps_end(rc, r->db, what);
	}
	if (st != NULL)
		stmt_done(st);
	return rc;
}

/* The ids of the devices a device_id or device_group_id term names (r's snapshot). */
static int term_devices(struct conn *r, int64_t account_id, const struct dlog_term *t, struct seqv *devs)
{
	return term_ids(r, t->field == DLOG_F_DEVICE_ID
				   ? "SELECT id FROM devices WHERE account_id = ?1 AND device_id = ?2"
				   : "SELECT gm.dev FROM device_groups g JOIN group_members gm"
				     " ON gm.group_id = g.id WHERE g.account_id = ?1 AND g.gid = ?2",
			account_id, t, devs, "devices");
}

/* Starts r's snapshot (r is in a transaction that has read nothing) with the tail's view: the
 * devices t names (devs) and their tail seqs. The tail lock is held for the snapshot's start
 * and for the copy, not over the devices' lookup; if a merge pruned seqs past the snapshot's
 * merged_seq in between, the copy would miss them, so the snapshot starts over (rare). */
static int tail_devices(struct ctx *c, struct conn *r, int64_t account_id, const struct dlog_term *t,
			struct seqv *devs, struct seqv *seqs, struct tail_view *v)
{
	for (;;) {
		bool pruned;
		int rc;

		pthread_mutex_lock(&c->tail.lock);
		rc = tail_begin(c, r, v);
		pthread_mutex_unlock(&c->tail.lock);
		devs->n = seqs->n = 0;
		if (rc == 0)
			rc = term_devices(r, account_id, t, devs);
		if (rc != 0)
			return rc;
		pthread_mutex_lock(&c->tail.lock);
		pruned = c->tail.pruned > v->merged;
		for (size_t i = 0; rc == 0 && !pruned && i < devs->n; i++)
			rc = tail_copy(&c->tail, v, devs->v[i], seqs);
		pthread_mutex_unlock(&c->tail.lock);
		if (rc != 0 || !pruned)
			return rc;
		if ((rc = exec_cached(r, "COMMIT")) != 0 || (rc = exec_cached(r, "BEGIN")) != 0)
			return rc;
	}
}

static int dev_page(struct ctx *c, struct conn *r, int64_t account_id, const struct dlog_query *q,
		    dlog_event_cb cb, void *arg, bool *has_more, int64_t *total)
{
	struct dpage p = {c, r, q, cb, arg, 0, has_more, 0, 0, 0};
	struct seqv devs = {0}, seqs = {0};
	struct tail_view v;
	sqlite3_stmt *st;
	int64_t dev, in_blocks = 0;
	int rc;

	*has_more = false;
	if (q->include_total)
		*total = 0;
	rc = tail_devices(c, r, account_id, &q->terms[0], &devs, &seqs, &v);
	if (rc != 0 || devs.n == 0)
		goto out;
	dev = devs.v[0];
	p.live = v.live;
	p.s = q->after.seq > INT64_MAX ? INT64_MAX : (int64_t)q->after.seq;
	p.created = q->after.seq > INT64_MAX || q->after.created < 0 ? INT64_MAX : q->after.created;
	if (q->order == DLOG_ORDER_ASC) {
		rc = dp_blocks(&p, dev);
		if (rc == 0)
			rc = dp_tail(&p, seqs.v, seqs.n);
	} else {
		rc = dp_tail(&p, seqs.v, seqs.n);
		if (rc == 0)
			rc = dp_blocks(&p, dev);
	}
	rc = rc == DPAGE_FULL ? 0 : rc;
	if (rc == 0 && q->include_total) {
		/* retention rewrites blocks with the rows it deletes: they hold live events only */
		rc = conn_prepare(r, "SELECT coalesce(sum(n), 0) FROM dev_blocks WHERE dev = ?1", &st);
		if (rc == 0) {
			sqlite3_bind_int64(st, 1, dev);
			rc = int_row(r, st, "device total", &in_blocks);
		}
		if (rc == 0)
			*total = in_blocks + (int64_t)seqs.n;
	}
out:
	free(devs.v);
	free(seqs.v);
	return rc;
}

const struct dlog_term *store__sqlite_device_source(const struct dlog_query *q)
{
	for (size_t i = 0; i < q->nterms; i++) {
		const struct dlog_term *t = &q->terms[i];

		if ((t->field == DLOG_F_DEVICE_ID || t->field == DLOG_F_DEVICE_GROUP_ID) &&
		    (t->op == DLOG_OP_EQ || t->op == DLOG_OP_IN))
			return t;
	}
	return NULL;
}

/* unindexed: of the ids, the rows not in the indexes yet (m = 0): the index tail's part */
static void cand_from(struct sqlgen *g, int64_t account_id, const struct dlog_query *q, const char *ids,
		      bool with_after, bool unindexed)
{
	store__sql_where(g, account_id, q, with_after);
	store__sql(g, " AND e.seq IN (SELECT value FROM json_each(");
	store__sql_text(g, ids);
	store__sql(g, unindexed ? ")) AND NOT e.m" : "))");
}

static void cand_page(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
		      const char *ids, bool unindexed)
{
	char tail[64];

	store__sqlgen_init(g, SQL_STYLE_SQLITE);
	/* NOT INDEXED: the ids are the way in, whatever the planner guesses of the terms */
	store__sql(g, EVENT_SELECT " NOT INDEXED WHERE ");
	cand_from(g, account_id, q, ids, true, unindexed);
	snprintf(tail, sizeof(tail), " ORDER BY e.seq %s LIMIT %d",
		 q->order == DLOG_ORDER_DESC ? "DESC" : "ASC", q->limit + 1);
	store__sql(g, tail);
}

static void cand_total(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
		       const char *ids, bool unindexed)
{
	store__sqlgen_init(g, SQL_STYLE_SQLITE);
	store__sql(g, "SELECT count(*) FROM events e NOT INDEXED WHERE ");
	cand_from(g, account_id, q, ids, false, unindexed);
}

void store__sqlite_cand_sql(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
			    const char *ids)
{
	cand_page(g, account_id, q, ids, false);
}

void store__sqlite_cand_count_sql(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
				  const char *ids)
{
	cand_total(g, account_id, q, ids, false);
}

void store__sqlite_tail_sql(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
			    const char *ids)
{
	cand_page(g, account_id, q, ids, true);
}

/* The ids as a JSON array (json_each reads it), into json. */
static int cand_json(const int64_t *ids, size_t n, struct dlog_buf *json)
{
	int rc;

	dlog_buf_reset(json);
	rc = dlog_buf_addc(json, '[');
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (i > 0)
			rc = dlog_buf_addc(json, ',');
		if (rc == 0)
			rc = dlog_buf_add_i64(json, ids[i]);
	}
	if (rc == 0)
		rc = dlog_buf_addc(json, ']');
	return rc;
}

/* DLOG_SQLITE_CAND_MAX; tests set less to reach the paths past it with a few events */
static size_t cand_max = DLOG_SQLITE_CAND_MAX;

void store__sqlite_set_cand_max(size_t n)
{
	cand_max = n < 1 ? 1 : n;
}

/* Gathering the named devices' event ids: the tail's were copied with the snapshot, the
 * blocks' are decoded here. Every cand_max ids, flush is called (a count adds
 * them up); without flush the gathering stops there and *over is set. */
struct cand {
	struct ctx *c;
	struct conn *r;
	int64_t account_id;
	const struct dlog_query *q;
	struct seqv ids;
	struct dlog_buf json;
	int64_t count; /* the count's sum so far */
	bool counting, over;
	bool unindexed; /* the index tail's ids: count the rows not indexed yet only */
};

static int cand_count(struct cand *k)
{
	struct sqlgen g;
	sqlite3_stmt *st;
	int64_t n = 0;
	int rc = cand_json(k->ids.v, k->ids.n, &k->json);

	if (rc != 0)
		return rc;
	cand_total(&g, k->account_id, k->q, k->json.data, k->unindexed);
	rc = prepare_gen(k->r, &g, &st);
	if (rc == 0)
		rc = int_row(k->r, st, "count", &n);
	store__sqlgen_done(&g);
	k->count += n;
	k->ids.n = 0;
	return rc;
}

static int cand_add(struct cand *k, int64_t seq)
{
	int rc = seqv_add(&k->ids, seq);

	if (rc == 0 && k->ids.n >= cand_max) {
		if (k->counting)
			rc = cand_count(k);
		else
			k->over = true;
	}
	return rc;
}

static int cand_gather(struct cand *k, const struct seqv *devs, const struct seqv *tail, int64_t live)
{
	sqlite3_stmt *st;
	int rc = 0;

	for (size_t i = 0; rc == 0 && !k->over && i < tail->n; i++)
		rc = cand_add(k, tail->v[i]);
	if (rc == 0)
		rc = conn_prepare(k->r, "SELECT body FROM dev_blocks WHERE dev = ?1", &st);
	for (size_t i = 0; rc == 0 && !k->over && i < devs->n; i++) {
		sqlite3_bind_int64(st, 1, devs->v[i]);
		while (rc == 0 && !k->over && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			struct evb_event ev[EVB_MAX];
			size_t n;

			rc = evb_decode(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
					ev, EVB_MAX, &n) != 0 ? block_malformed() : 0;
			for (size_t j = 0; rc == 0 && !k->over && j < n; j++)
				if (ev[j].seq >= live)
					rc = cand_add(k, ev[j].seq);
		}
		rc = steps_end(rc, k->r->db, "device blocks");
		sqlite3_reset(st);
	}
	if (st != NULL)
		stmt_done(st);
	return rc;
}

/* A page (and its total) of a filter naming devices with t. *done false: the named devices
 * have more than cand_max events, the page is the caller's (a walk of the
 * account's ids), and only the total was taken here. */
static int cand_query(struct ctx *c, struct conn *r, int64_t account_id, const struct dlog_query *q,
		      const struct dlog_term *t, dlog_event_cb cb, void *arg, bool *has_more,
		      int64_t *total, bool *done)
{
	struct cand k = {c, r, account_id, q, {0}, {0}, 0, false, false, false};
	struct seqv devs = {0}, tail = {0};
	struct tail_view v;
	int rc;

	*done = false;
	dlog_buf_init(&k.json, 24 * cand_max + 16);
	rc = tail_devices(c, r, account_id, t, &devs, &tail, &v);
	if (rc == 0)
		rc = cand_gather(&k, &devs, &tail, v.live);
	if (rc == 0 && !k.over) {
		struct sqlgen g;

		rc = cand_json(k.ids.v, k.ids.n, &k.json);
		if (rc == 0) {
			store__sqlite_cand_sql(&g, account_id, q, k.json.data);
			rc = run_rows(c, r, &g, q->limit, cb, arg, has_more);
			store__sqlgen_done(&g);
		}
		*done = true;
	}
	if (rc == 0 && q->include_total) {
		if (k.over) {
			/* again from the start, counting every cand_max */
			k.ids.n = 0;
			k.over = false;
			k.counting = true;
			rc = cand_gather(&k, &devs, &tail, v.live);
		}
		if (rc == 0)
			rc = cand_count(&k);
		if (rc == 0)
			*total = k.count;
	}
	free(devs.v);
	free(tail.v);
	free(k.ids.v);
	dlog_buf_done(&k.json);
	return rc;
}

/* ---- other pages: the partial indexes and the index tail ("SQLite: the index tail") ----
 * A page reads the events past indexed_seq by id from the tail's lists (an event type's, a
 * campaign's, the narrowed event types', else the account's), every term applied, and the
 * indexed ones as before with "AND e.m"; newest first the tail comes first, else last. */

/* The term whose values choose the tail's lists: an event type or a campaign, equal or in a
 * list; NULL: the narrowed event types' lists or the account's. */
static const struct dlog_term *list_term(const struct dlog_query *q)
{
	for (int pass = 0; pass < 2; pass++) {
		enum dlog_field f = pass == 0 ? DLOG_F_EVENT_TYPE : DLOG_F_CAMPAIGN_ID;

		for (size_t i = 0; i < q->nterms; i++)
			if (q->terms[i].field == f &&
			    (q->terms[i].op == DLOG_OP_EQ || q->terms[i].op == DLOG_OP_IN))
				return &q->terms[i];
	}
	return NULL;
}

/* The ids of the texts t names (r's snapshot); a text never stored names no event. */
static int term_strings(struct conn *r, const struct dlog_term *t, struct seqv *ids)
{
	return term_ids(r, "SELECT id FROM strings WHERE s = ?1", 0, t, ids, "strings");
}

static int cmp_seq(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Starts r's snapshot (r in a transaction that has read nothing) with the index tail's lists
 * q's page reads, their seqs into seqs, ascending: among them every row the snapshot holds
 * unindexed (m = 0), and maybe more (uncommitted, or indexed since: the page's SQL leaves
 * those out). The snapshot starts under the tail lock: a row it holds was added to the tail
 * before (the writer adds before it commits), and is pruned only after the index step that
 * set its m committed. The lists of an event type, a campaign or the narrowed event types are
 * known only from SQL on the snapshot, run without the lock; if an index step pruned
 * meanwhile, the snapshot starts over. Narrowing (nw) runs on the same snapshot. */
static int tail_take(struct ctx *c, struct conn *r, int64_t account_id, const struct dlog_query *q,
		     struct sqlite_narrow *nw, struct seqv *seqs)
{
	const struct dlog_term *t = list_term(q);
	bool resolve = t != NULL || store__sqlite_narrowable(q);
	struct tail_index *ti = &c->tail;
	struct seqv ids = {0};
	size_t lists = 1;
	int rc;

	for (;;) {
		bool pruned;
		int64_t p0;

		seqs->n = ids.n = 0;
		pthread_mutex_lock(&ti->lock);
		rc = tail_start(c, r);
		p0 = ti->ipruned;
		if (rc == 0 && !resolve)
			rc = tail_copy_key(ti, account_id, TK_ALL, seqs);
		pthread_mutex_unlock(&ti->lock);
		if (rc != 0 || !resolve)
			break;
		rc = t != NULL ? term_strings(r, t, &ids) : narrow(r, account_id, q, nw);
		if (rc != 0)
			break;
		pthread_mutex_lock(&ti->lock);
		pruned = ti->ipruned != p0;
		if (pruned) {
			/* start over */
		} else if (t != NULL) {
			lists = ids.n;
			for (size_t i = 0; rc == 0 && i < ids.n; i++)
				rc = tail_copy_key(ti, account_id,
						   t->field == DLOG_F_EVENT_TYPE ? tk_code(ids.v[i])
										 : tk_camp(ids.v[i]),
						   seqs);
		} else if (nw->active) {
			lists = nw->n;
			for (size_t i = 0; rc == 0 && i < nw->n; i++)
				rc = tail_copy_key(ti, account_id, tk_code(nw->codes[i]), seqs);
		} else {
			rc = tail_copy_key(ti, account_id, TK_ALL, seqs);
		}
		pthread_mutex_unlock(&ti->lock);
		if (rc != 0 || !pruned)
			break;
		if ((rc = exec_cached(r, "COMMIT")) != 0 || (rc = exec_cached(r, "BEGIN")) != 0)
			break;
	}
	if (rc == 0 && lists > 1 && seqs->n > 1) {
		size_t n = 1;

		/* a value named twice copies its list twice */
		qsort(seqs->v, seqs->n, sizeof(int64_t), cmp_seq);
		for (size_t i = 1; i < seqs->n; i++)
			if (seqs->v[i] != seqs->v[n - 1])
				seqs->v[n++] = seqs->v[i];
		seqs->n = n;
	}
	free(ids.v);
	return rc;
}

/* The index tail's part of a page (count: of its total) read in place along the rowid between
 * the seqs lo and hi, rows of other accounts and indexed ones skipped: for a list whose ids lie
 * together (a store of one account, bulk requests), as a dense zone is read. */
static void tail_range_sql(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
			   int64_t lo, int64_t hi, bool count)
{
	char tail[64];

	store__sqlgen_init(g, SQL_STYLE_SQLITE);
	store__sql(g, count ? "SELECT count(*) FROM events e NOT INDEXED WHERE "
			    : EVENT_SELECT " NOT INDEXED WHERE ");
	store__sql_where(g, account_id, q, !count);
	store__sql(g, " AND NOT e.m AND e.seq >= ");
	store__sql_int(g, lo);
	store__sql(g, " AND e.seq <= ");
	store__sql_int(g, hi);
	if (!count) {
		snprintf(tail, sizeof(tail), " ORDER BY e.seq %s LIMIT %d",
			 q->order == DLOG_ORDER_DESC ? "DESC" : "ASC", q->limit + 1);
		store__sql(g, tail);
	}
}

/* ZONE_DENSE; tests set 0 to read every tail by id */
static int64_t tail_dense_factor = ZONE_DENSE;

void store__sqlite_set_tail_dense(int64_t factor)
{
	tail_dense_factor = factor;
}

static bool tail_dense(const struct seqv *seqs)
{
	return seqs->n > 0 && seqs->v[seqs->n - 1] - seqs->v[0] < tail_dense_factor * (int64_t)seqs->n;
}

/* The page's rows among the tail's seqs (ascending), in the page's order, counting on from
 * *rows: read in place when they lie together, else looked up by id with every term applied,
 * newest or oldest first in runs that grow from 64 to cand_max ids. */
static int tail_rows(struct ctx *c, struct conn *r, int64_t account_id, const struct dlog_query *q,
		     const struct seqv *seqs, int *rows, dlog_event_cb cb, void *arg, bool *has_more)
{
	bool desc = q->order == DLOG_ORDER_DESC;
	struct dlog_buf json;
	size_t done = 0, run = cand_max < 64 ? cand_max : 64;
	int rc = 0;

	if (tail_dense(seqs)) {
		struct sqlgen g;
		sqlite3_stmt *st;

		tail_range_sql(&g, account_id, q, seqs->v[0], seqs->v[seqs->n - 1], false);
		rc = prepare_gen(r, &g, &st);
		if (rc == 0) {
			rc = step_rows(c, r, st, q->limit, rows, cb, arg, has_more);
			stmt_done(st);
		}
		store__sqlgen_done(&g);
		return rc;
	}
	dlog_buf_init(&json, 24 * cand_max + 16);
	while (rc == 0 && !*has_more && done < seqs->n) {
		size_t n = seqs->n - done < run ? seqs->n - done : run;
		struct sqlgen g;
		sqlite3_stmt *st;

		rc = cand_json(desc ? seqs->v + (seqs->n - done - n) : seqs->v + done, n, &json);
		if (rc == 0) {
			store__sqlite_tail_sql(&g, account_id, q, json.data);
			rc = prepare_gen(r, &g, &st);
			if (rc == 0) {
				rc = step_rows(c, r, st, q->limit, rows, cb, arg, has_more);
				stmt_done(st);
			}
			store__sqlgen_done(&g);
		}
		done += n;
		run = run * 4 < cand_max ? run * 4 : cand_max;
	}
	dlog_buf_done(&json);
	return rc;
}

/* How many rows of the tail's seqs match q and are not indexed yet: counted in place when
 * they lie together, else by id in runs. */
static int tail_count(struct ctx *c, struct conn *r, int64_t account_id, const struct dlog_query *q,
		      const struct seqv *seqs, int64_t *n)
{
	struct cand k = {c, r, account_id, q, {0}, {0}, 0, true, false, true};
	int rc = 0;

	*n = 0;
	if (seqs->n == 0)
		return 0;
	if (tail_dense(seqs)) {
		struct sqlgen g;
		sqlite3_stmt *st;

		tail_range_sql(&g, account_id, q, seqs->v[0], seqs->v[seqs->n - 1], true);
		rc = prepare_gen(r, &g, &st);
		if (rc == 0)
			rc = int_row(r, st, "count", n);
		store__sqlgen_done(&g);
		return rc;
	}
	dlog_buf_init(&k.json, 24 * cand_max + 16);
	for (size_t i = 0; rc == 0 && i < seqs->n; i++)
		rc = cand_add(&k, seqs->v[i]);
	if (rc == 0 && k.ids.n > 0)
		rc = cand_count(&k);
	*n = k.count;
	free(k.ids.v);
	dlog_buf_done(&k.json);
	return rc;
}

/* A callback that counts the rows it passes on. */
struct counted {
	dlog_event_cb cb;
	void *arg;
	int n;
};

static int counted_cb(void *arg, const struct dlog_event *e)
{
	struct counted *k = arg;

	k->n++;
	return k->cb(k->arg, e);
}

/* The indexed part of a page of q (limit q->limit): a walk of the account's zones, or one
 * statement the planner runs on an index. */
static int index_rows(struct ctx *c, struct conn *r, int64_t account_id, const struct dlog_query *q,
		      const struct sqlite_narrow *nw, dlog_event_cb cb, void *arg, bool *has_more)
{
	struct sqlgen g;
	int rc;

	if (store__sqlite_walks(q, nw))
		return walk_zones(c, r, account_id, q, cb, arg, has_more);
	store__sqlite_page_sql(&g, account_id, q, nw);
	rc = run_rows(c, r, &g, q->limit, cb, arg, has_more);
	store__sqlgen_done(&g);
	return rc;
}

static int sqlite_query(void *vctx, int64_t account_id, const struct dlog_query *q,
			dlog_event_cb cb, void *arg, bool *has_more, int64_t *total)
{
	struct ctx *c = vctx;
	struct conn *r;
	struct sqlite_narrow nw = {.active = false};
	bool dev_only = store__sqlite_device_only(q), split = store__sqlite_split(q);
	bool desc = q->order == DLOG_ORDER_DESC, done = false;
	const struct dlog_term *src = dev_only ? NULL : store__sqlite_device_source(q);
	struct seqv tseqs = {0};
	struct dlog_query q2 = *q;
	struct counted k = {cb, arg, 0};
	int rows = 0;
	/* One read transaction: the page, its total, the event types it is narrowed to and the
	 * tail's view see the same snapshot. */
	int rc = reader_get(c, &r);

	if (rc != 0)
		return rc;
	*has_more = false;
	if ((rc = exec_cached(r, "BEGIN")) != 0)
		goto out;
	if (dev_only) {
		rc = dev_page(c, r, account_id, q, cb, arg, has_more, total);
		goto end;
	}
	if (src != NULL) {
		rc = cand_query(c, r, account_id, q, src, cb, arg, has_more, total, &done);
		if (rc != 0 || done)
			goto end;
		/* the page walks the account: its snapshot starts with the tail's lists */
		if ((rc = exec_cached(r, "COMMIT")) != 0 || (rc = exec_cached(r, "BEGIN")) != 0)
			goto end;
	}
	if (split)
		rc = tail_take(c, r, account_id, q, &nw, &tseqs);
	else if (store__sqlite_narrowable(q))
		rc = narrow(r, account_id, q, &nw);
	if (rc != 0)
		goto end;
	if (nw.active && nw.n == 0) {
		/* no event type carries the value */
		if (q->include_total)
			*total = 0;
		goto end;
	}
	if (split && desc)
		rc = tail_rows(c, r, account_id, q, &tseqs, &rows, cb, arg, has_more);
	if (rc == 0 && !*has_more) {
		q2.limit = q->limit - rows;
		rc = index_rows(c, r, account_id, &q2, &nw, counted_cb, &k, has_more);
		rows += k.n;
	}
	if (rc == 0 && split && !desc && !*has_more)
		rc = tail_rows(c, r, account_id, q, &tseqs, &rows, cb, arg, has_more);
	/* with devices named the total was taken from their ids */
	if (q->include_total && rc == 0 && src == NULL) {
		int64_t in_tail = 0;

		rc = count_rows(r, account_id, q, &nw, total);
		/* without terms the account's maintained count has every event */
		if (rc == 0 && split && q->nterms > 0)
			rc = tail_count(c, r, account_id, q, &tseqs, &in_tail);
		*total += in_tail;
	}
end:
	(void)exec_cached(r, "COMMIT");
out:
	free(tseqs.v);
	reader_put(c, r);
	return rc;
}

static int sqlite_get(void *vctx, int64_t account_id, const struct dlog_id *id, dlog_event_cb cb,
		      void *arg)
{
	struct ctx *c = vctx;
	struct conn *r;
	sqlite3_stmt *st;
	int rc = pool_get(c, &c->points, &r);

	if (rc != 0)
		return rc;
	if (id->seq > INT64_MAX) {
		rc = DLOG_ENOTFOUND;
		goto out;
	}
	rc = conn_prepare(r, EVENT_SELECT " WHERE e.seq = ?1 AND e.created = ?2 AND e.account_id = ?3",
			  &st);
	if (rc != 0)
		goto out;
	sqlite3_bind_int64(st, 1, (int64_t)id->seq);
	sqlite3_bind_int64(st, 2, id->created);
	sqlite3_bind_int64(st, 3, account_id);
	rc = step_one(r, st, "get");
	if (rc == 0) {
		struct dlog_event e;

		event_row(c, r, st, &e);
		rc = cb(arg, &e);
	}
	stmt_done(st);
out:
	pool_put(&c->points, r);
	return rc;
}

static int sqlite_last_seq(void *vctx, uint64_t *seq)
{
	struct ctx *c = vctx;
	struct conn *r;
	int64_t v = 0;
	int rc = reader_get(c, &r);

	if (rc != 0)
		return rc;
	rc = conn_int(r, "SELECT coalesce(max(seq), 0) FROM events", &v);
	reader_put(c, r);
	*seq = (uint64_t)v;
	return rc;
}

/* The events a summary of q counts, with columns cols: the indexed ones through the indexes
 * and the index tail's past indexed_seq, read in place (at most a few index steps of
 * events), as one statement: one snapshot. */
static void summary_source(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
			   const char *cols)
{
	store__sql(g, "(SELECT ");
	store__sql(g, cols);
	store__sql(g, " FROM events e WHERE ");
	store__sql_where(g, account_id, q, false);
	if (store__sqlite_split(q)) {
		merged_only(g, q);
		store__sql(g, " UNION ALL SELECT ");
		store__sql(g, cols);
		store__sql(g, " FROM events e NOT INDEXED WHERE ");
		store__sql_where(g, account_id, q, false);
		store__sql(g, " AND e.seq > " META_INDEXED);
	}
	store__sql(g, ")");
}

static int summary_days(struct conn *r, int64_t account_id, const struct dlog_query *q,
			int64_t off, dlog_day_cb cb, void *arg)
{
	struct sqlgen g;
	sqlite3_stmt *st;
	int rc;

	store__sqlgen_init(&g, SQL_STYLE_SQLITE);
	store__sql(&g, "SELECT (ts + ");
	store__sql_int(&g, off);
	store__sql(&g, ") / 86400000000 AS day, mtype, count(*) FROM ");
	summary_source(&g, account_id, q, "e.ts, e.mtype");
	store__sql(&g, " GROUP BY day, mtype ORDER BY day, mtype");
	rc = prepare_gen(r, &g, &st);
	if (rc != 0)
		goto out;
	while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		rc = cb(arg, sqlite3_column_int64(st, 0), (enum dlog_mtype)sqlite3_column_int(st, 1),
			sqlite3_column_int64(st, 2));
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = fail(rc, r->db, "summary");
	stmt_done(st);
out:
	store__sqlgen_done(&g);
	return rc;
}

static int summary_codes(struct conn *r, int64_t account_id, const struct dlog_query *q,
			 dlog_code_count_cb cb, int top_n, void *arg)
{
	struct sqlgen g;
	sqlite3_stmt *st;
	char tail[96];
	int rc;

	store__sqlgen_init(&g, SQL_STYLE_SQLITE);
	store__sql(&g, "SELECT (SELECT s FROM strings WHERE id = code), count(*) AS n FROM ");
	summary_source(&g, account_id, q, "e.code, e.mtype");
	snprintf(tail, sizeof(tail), " WHERE mtype = %d GROUP BY code ORDER BY n DESC LIMIT %d",
		 (int)DLOG_MTYPE_FAIL, top_n);
	store__sql(&g, tail);
	rc = prepare_gen(r, &g, &st);
	if (rc != 0)
		goto out;
	while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		rc = cb(arg, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1));
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = fail(rc, r->db, "summary");
	stmt_done(st);
out:
	store__sqlgen_done(&g);
	return rc;
}

static int sqlite_summary(void *vctx, int64_t account_id, const struct dlog_query *q,
			  int64_t utc_offset_us, dlog_day_cb day_cb, dlog_code_count_cb code_cb,
			  int top_n, void *arg)
{
	struct ctx *c = vctx;
	struct conn *r;
	int rc = reader_get(c, &r);

	if (rc != 0)
		return rc;
	rc = exec_cached(r, "BEGIN");
	if (rc == 0 && day_cb != NULL)
		rc = summary_days(r, account_id, q, utc_offset_us, day_cb, arg);
	if (rc == 0 && code_cb != NULL && top_n > 0)
		rc = summary_codes(r, account_id, q, code_cb, top_n, arg);
	(void)exec_cached(r, "COMMIT");
	reader_put(c, r);
	return rc;
}

/* ---- the device directory ---- */

#define DEVICE_SELECT                                                                             \
	"SELECT d.device_id, d.state, d.first_ts, d.last_ts, lc.s, d.last_mtype, cp.s, d.n0,"    \
	" d.n1, d.n2, d.n3 FROM devices d LEFT JOIN strings lc ON lc.id = d.last_code"            \
	" LEFT JOIN strings cp ON cp.id = d.last_camp"

static void device_row(sqlite3_stmt *st, struct dlog_device *d)
{
	memset(d, 0, sizeof(*d));
	d->device_id = (const char *)sqlite3_column_text(st, 0);
	d->state = (enum dlog_device_state)sqlite3_column_int(st, 1);
	d->first_at = sqlite3_column_int64(st, 2);
	d->last_at = sqlite3_column_int64(st, 3);
	d->last_event_type = (const char *)sqlite3_column_text(st, 4);
	d->last_mtype = (enum dlog_mtype)sqlite3_column_int(st, 5);
	d->last_campaign_id = (const char *)sqlite3_column_text(st, 6);
	for (int m = 0; m < DLOG_MTYPE_COUNT; m++)
		d->counts[m] = sqlite3_column_int64(st, 7 + m);
}

/* A group's row id from its public id, or DLOG_ENOTFOUND. */
static int group_rowid(struct conn *r, int64_t account_id, const char *gid, int64_t *out)
{
	sqlite3_stmt *st;
	int rc = conn_prepare(r, "SELECT id FROM device_groups WHERE gid = ?1 AND account_id = ?2",
			      &st);

	if (rc != 0)
		return rc;
	sqlite3_bind_text(st, 1, gid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, account_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		snprintf(errmsg, sizeof(errmsg), "no device group '%.64s'", gid);
		rc = rc == SQLITE_DONE ? DLOG_ENOTFOUND : fail(rc, r->db, "group lookup");
	}
	stmt_done(st);
	return rc;
}

static int device_rows(struct conn *r, struct sqlgen *g, int limit, dlog_device_cb cb, void *arg,
		       bool *has_more)
{
	sqlite3_stmt *st;
	int rows = 0;
	int rc = prepare_gen(r, g, &st);

	if (rc != 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct dlog_device d;

		if (rows++ == limit) {
			*has_more = true;
			break;
		}
		device_row(st, &d);
		rc = cb(arg, &d);
		if (rc != 0)
			break;
	}
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		rc = 0;
	else if (rc > 0)
		rc = fail(rc, r->db, "device query");
	stmt_done(st);
	return rc;
}

static int count_gen(struct conn *r, struct sqlgen *g, int64_t *total)
{
	sqlite3_stmt *st;
	int rc = prepare_gen(r, g, &st);

	if (rc != 0)
		return rc;
	return int_row(r, st, "count", total);
}

/* The directory and the campaign counters hold the indexed events (index_step; a bulk group's
 * inline): a read that needs them whole first indexes what is pending, so that it sees every
 * event acknowledged before it, by this process or another. */
static int counters_current(struct ctx *c)
{
	struct conn *r;
	int64_t indexed = 0, last = 0;
	int rc = pool_get(c, &c->points, &r);

	if (rc != 0)
		return rc;
	rc = meta_get(r, "indexed_seq", &indexed);
	if (rc == 0)
		rc = meta_get(r, "last_seq", &last);
	pool_put(&c->points, r);
	return rc == 0 && indexed < last ? index_pending(c, true) : rc;
}

static int sqlite_device_query(void *vctx, int64_t account_id, const char *group_id,
			       const struct dlog_query *q, dlog_device_cb cb, void *arg,
			       bool *has_more, int64_t *total)
{
	struct ctx *c = vctx;
	struct conn *r;
	struct sqlgen g;
	int64_t group = 0;
	int rc = counters_current(c);

	if (rc == 0)
		rc = reader_get(c, &r);
	if (rc != 0)
		return rc;
	*has_more = false;
	rc = exec_cached(r, "BEGIN");
	if (rc != 0)
		goto out;
	if (group_id != NULL)
		rc = group_rowid(r, account_id, group_id, &group);
	if (rc == 0) {
		store__sqlgen_init(&g, SQL_STYLE_SQLITE);
		store__sql_device_page(&g, DEVICE_SELECT, account_id, group, q);
		rc = device_rows(r, &g, q->limit, cb, arg, has_more);
		store__sqlgen_done(&g);
	}
	if (rc == 0 && q->include_total) {
		store__sqlgen_init(&g, SQL_STYLE_SQLITE);
		store__sql_device_page(&g, NULL, account_id, group, q);
		rc = count_gen(r, &g, total);
		store__sqlgen_done(&g);
	}
	(void)exec_cached(r, "COMMIT");
out:
	reader_put(c, r);
	return rc;
}

/* A device's row with its events that no index step has folded in yet (m = 0: a row is
 * indexed and folded in one transaction), read in one snapshot: the directory as of every
 * event acknowledged before the read, without writing. Those events are the unindexed rows
 * past indexed_seq, at most a few index steps' worth, read along the rowid. */
static int device_now(struct ctx *c, struct conn *r, int64_t account_id, const char *device_id,
		      dlog_device_cb cb, void *arg)
{
	sqlite3_stmt *st, *ev;
	struct dev_delta d = {0};
	struct dlog_device out;
	int64_t ids[3];
	int states[3];
	int rc = conn_prepare(r, "SELECT id, device_id, state, state_ts, coalesce(first_ts, ?3),"
				 " coalesce(last_ts, ?4), coalesce(last_code, 0), coalesce(last_mtype, 0),"
				 " coalesce(last_camp, 0), last_camp_ts, n0, n1, n2, n3 FROM devices"
				 " WHERE account_id = ?1 AND device_id = ?2", &st);

	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_text(st, 2, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, INT64_MAX);
	sqlite3_bind_int64(st, 4, INT64_MIN);
	rc = step_one(r, st, "device get");
	if (rc == 0) {
		d = (struct dev_delta){
			.dev = sqlite3_column_int64(st, 0), .state = sqlite3_column_int(st, 2),
			.state_ts = sqlite3_column_int64(st, 3), .first_ts = sqlite3_column_int64(st, 4),
			.last_ts = sqlite3_column_int64(st, 5), .last_code = sqlite3_column_int64(st, 6),
			.last_mtype = sqlite3_column_int(st, 7), .camp = sqlite3_column_int64(st, 8),
			.has_camp = sqlite3_column_type(st, 9) != SQLITE_NULL,
			.camp_ts = sqlite3_column_int64(st, 9)};
		for (int k = 0; k < 4; k++)
			d.n[k] = sqlite3_column_int64(st, 10 + k);
	}
	if (rc == 0)
		rc = conn_prepare(r, "SELECT " DIR_EVENT_COLUMNS " FROM events WHERE seq > coalesce("
				     "(SELECT value FROM meta WHERE key = 'indexed_seq'), 0)"
				     " AND dev = ?1 AND NOT m ORDER BY seq", &ev);
	if (rc == 0) {
		bool coded = false; /* the state codes are looked up for a pending event only */

		sqlite3_bind_int64(ev, 1, d.dev);
		while ((rc = sqlite3_step(ev)) == SQLITE_ROW) {
			struct dir_event e;

			if (!coded && (rc = state_codes(r, ids, states)) != 0)
				break;
			coded = true;
			dir_event_row(ev, ids, states, &e);
			delta_add(&d, &e);
		}
		rc = steps_end(rc, r->db, "device get");
		stmt_done(ev);
	}
	if (rc == 0) {
		memset(&out, 0, sizeof(out));
		out.device_id = (const char *)sqlite3_column_text(st, 1);
		out.state = (enum dlog_device_state)d.state;
		out.first_at = d.first_ts;
		out.last_at = d.last_ts;
		out.last_event_type = d.last_code != 0 ? id_text(c, r, TX_CODE, d.last_code) : NULL;
		out.last_mtype = (enum dlog_mtype)d.last_mtype;
		out.last_campaign_id = d.has_camp ? id_text(c, r, TX_CAMP, d.camp) : NULL;
		memcpy(out.counts, d.n, sizeof(out.counts));
		rc = cb(arg, &out);
	}
	stmt_done(st);
	return rc;
}

static int sqlite_device_get(void *vctx, int64_t account_id, const char *device_id,
			     dlog_device_cb cb, void *arg)
{
	struct ctx *c = vctx;
	struct conn *r;
	int rc = reader_get(c, &r);

	if (rc != 0)
		return rc;
	rc = exec_cached(r, "BEGIN");
	if (rc == 0) {
		rc = device_now(c, r, account_id, device_id, cb, arg);
		(void)exec_cached(r, "COMMIT");
	}
	reader_put(c, r);
	return rc;
}

/* ---- device groups ---- */

#define GROUP_SELECT                                                                              \
	"SELECT g.gid, g.name, g.description, g.attrs, g.created_at, g.updated_at,"               \
	" (SELECT count(*) FROM group_members m WHERE m.group_id = g.id) FROM device_groups g"

static void group_row(sqlite3_stmt *st, struct dlog_group *g)
{
	memset(g, 0, sizeof(*g));
	snprintf(g->id, sizeof(g->id), "%s", (const char *)sqlite3_column_text(st, 0));
	g->name = (const char *)sqlite3_column_text(st, 1);
	g->description = (const char *)sqlite3_column_text(st, 2);
	g->custom_attributes = (const char *)sqlite3_column_text(st, 3);
	g->created_at = sqlite3_column_int64(st, 4);
	g->updated_at = sqlite3_column_int64(st, 5);
	g->devices_count = sqlite3_column_int64(st, 6);
}

static int is_unique_violation(struct conn *cn)
{
	return sqlite3_extended_errcode(cn->db) == SQLITE_CONSTRAINT_UNIQUE;
}

static int sqlite_group_create(void *vctx, int64_t account_id, struct dlog_group *g)
{
	struct ctx *c = vctx;
	sqlite3_stmt *st;
	dlog_time now = dlog_time_now();
	int rc;

	g->created_at = g->updated_at = now;
	pthread_mutex_lock(&c->wlock);
	rc = conn_prepare(&c->w,
			  "INSERT INTO device_groups(account_id, gid, name, description, attrs,"
			  " created_at, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6)",
			  &st);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, account_id);
		sqlite3_bind_text(st, 2, g->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, g->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, g->description ? g->description : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, g->custom_attributes ? g->custom_attributes : "{}", -1,
				  SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, now);
		rc = step_done(&c->w, st, "group insert");
		if (rc != 0 && is_unique_violation(&c->w)) {
			snprintf(errmsg, sizeof(errmsg), "a device group named '%.64s' exists",
				 g->name);
			rc = DLOG_ECONFLICT;
		}
	}
	pthread_mutex_unlock(&c->wlock);
	return rc;
}

static int sqlite_group_update(void *vctx, int64_t account_id, const char *id,
			       const struct dlog_group *g)
{
	struct ctx *c = vctx;
	sqlite3_stmt *st;
	int rc;

	pthread_mutex_lock(&c->wlock);
	rc = conn_prepare(&c->w,
			  "UPDATE device_groups SET name = coalesce(?3, name),"
			  " description = coalesce(?4, description), attrs = coalesce(?5, attrs),"
			  " updated_at = ?6 WHERE gid = ?1 AND account_id = ?2",
			  &st);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, account_id);
		if (g->name != NULL)
			sqlite3_bind_text(st, 3, g->name, -1, SQLITE_STATIC);
		if (g->description != NULL)
			sqlite3_bind_text(st, 4, g->description, -1, SQLITE_STATIC);
		if (g->custom_attributes != NULL)
			sqlite3_bind_text(st, 5, g->custom_attributes, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, dlog_time_now());
		rc = step_done(&c->w, st, "group update");
		if (rc != 0 && is_unique_violation(&c->w)) {
			snprintf(errmsg, sizeof(errmsg), "a device group named '%.64s' exists",
				 g->name ? g->name : "");
			rc = DLOG_ECONFLICT;
		} else if (rc == 0 && sqlite3_changes(c->w.db) == 0) {
			snprintf(errmsg, sizeof(errmsg), "no device group '%.64s'", id);
			rc = DLOG_ENOTFOUND;
		}
	}
	pthread_mutex_unlock(&c->wlock);
	return rc;
}

static int sqlite_group_delete(void *vctx, int64_t account_id, const char *id)
{
	struct ctx *c = vctx;
	int64_t rowid = 0;
	sqlite3_stmt *st;
	int rc;

	pthread_mutex_lock(&c->wlock);
	rc = exec(c->w.db, "BEGIN IMMEDIATE");
	if (rc != 0)
		goto out;
	rc = group_rowid(&c->w, account_id, id, &rowid);
	if (rc == 0)
		rc = conn_prepare(&c->w, "DELETE FROM group_members WHERE group_id = ?1", &st);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, rowid);
		rc = step_done(&c->w, st, "group delete");
	}
	if (rc == 0)
		rc = conn_prepare(&c->w, "DELETE FROM device_groups WHERE id = ?1", &st);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, rowid);
		rc = step_done(&c->w, st, "group delete");
	}
	if (rc == 0)
		rc = exec(c->w.db, "COMMIT");
	if (rc != 0)
		sqlite3_exec(c->w.db, "ROLLBACK", NULL, NULL, NULL);
out:
	pthread_mutex_unlock(&c->wlock);
	return rc;
}

static int sqlite_group_get(void *vctx, int64_t account_id, const char *id, dlog_group_cb cb,
			    void *arg)
{
	struct ctx *c = vctx;
	struct conn *r;
	sqlite3_stmt *st;
	int rc = reader_get(c, &r);

	if (rc != 0)
		return rc;
	rc = conn_prepare(r, GROUP_SELECT " WHERE g.gid = ?1 AND g.account_id = ?2", &st);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, account_id);
		rc = step_one(r, st, "group get");
		if (rc == 0) {
			struct dlog_group g;

			group_row(st, &g);
			rc = cb(arg, &g);
		}
		stmt_done(st);
	}
	reader_put(c, r);
	return rc;
}

static int sqlite_group_list(void *vctx, int64_t account_id, const struct dlog_query *q,
			     dlog_group_cb cb, void *arg, bool *has_more, int64_t *total)
{
	struct ctx *c = vctx;
	bool desc = q->order == DLOG_ORDER_DESC;
	struct conn *r;
	sqlite3_stmt *st;
	char sql[512];
	int rows = 0;
	int rc = reader_get(c, &r);

	if (rc != 0)
		return rc;
	*has_more = false;
	/* creation order; the cursor is a group id, whose row id gives its position */
	snprintf(sql, sizeof(sql),
		 GROUP_SELECT " WHERE g.account_id = ?1 AND (?2 IS NULL OR g.id %s coalesce("
			      "(SELECT id FROM device_groups WHERE gid = ?2 AND account_id = ?1), %s))"
			      " ORDER BY g.id %s LIMIT %d",
		 desc ? "<" : ">", desc ? "-1" : "9223372036854775807", desc ? "DESC" : "ASC",
		 q->limit + 1);
	rc = conn_prepare_text(r, sql, &st);
	if (rc != 0)
		goto out;
	sqlite3_bind_int64(st, 1, account_id);
	if (q->has_after && q->after_key != NULL)
		sqlite3_bind_text(st, 2, q->after_key, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct dlog_group g;

		if (rows++ == q->limit) {
			*has_more = true;
			break;
		}
		group_row(st, &g);
		rc = cb(arg, &g);
		if (rc != 0)
			break;
	}
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		rc = 0;
	else if (rc > 0)
		rc = fail(rc, r->db, "group list");
	stmt_done(st);
	if (rc == 0 && q->include_total)
		rc = pragma_int_bound(r, "SELECT count(*) FROM device_groups WHERE account_id = ?1",
				      account_id, total);
out:
	reader_put(c, r);
	return rc;
}

static int sqlite_group_member(void *vctx, int64_t account_id, const char *id,
			       const char *device_id, bool add)
{
	struct ctx *c = vctx;
	int64_t group = 0, dev = 0;
	sqlite3_stmt *st;
	int rc;

	pthread_mutex_lock(&c->wlock);
	rc = group_rowid(&c->w, account_id, id, &group);
	if (rc == 0)
		rc = conn_prepare(&c->w,
				  "SELECT id FROM devices WHERE device_id = ?1 AND account_id = ?2",
				  &st);
	if (rc != 0)
		goto out;
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, account_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		dev = sqlite3_column_int64(st, 0);
	stmt_done(st);
	if (rc != SQLITE_ROW) {
		snprintf(errmsg, sizeof(errmsg), "no device '%.128s'", device_id);
		rc = DLOG_ENOTFOUND;
		goto out;
	}
	rc = conn_prepare(&c->w,
			  add ? "INSERT OR IGNORE INTO group_members VALUES(?1, ?2)"
			      : "DELETE FROM group_members WHERE group_id = ?1 AND dev = ?2",
			  &st);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, group);
		sqlite3_bind_int64(st, 2, dev);
		rc = step_done(&c->w, st, "group member");
	}
out:
	pthread_mutex_unlock(&c->wlock);
	return rc;
}

/* ---- campaign statistics ---- */

static int sqlite_campaign_stats(void *vctx, int64_t account_id, const char *campaign_id,
				 dlog_campaign_cb cb, void *arg)
{
	struct ctx *c = vctx;
	struct conn *r;
	sqlite3_stmt *st;
	int rows = 0;
	int rc = counters_current(c);

	if (rc == 0)
		rc = reader_get(c, &r);
	if (rc != 0)
		return rc;
	rc = conn_prepare(r,
			  "SELECT s.s, k.mtype, k.events, k.devices, k.first_ts FROM camp_codes k"
			  " JOIN strings s ON s.id = k.code WHERE k.account_id = ?1"
			  " AND k.camp = (SELECT id FROM strings WHERE s = ?2) ORDER BY s.s",
			  &st);
	if (rc != 0)
		goto out;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_text(st, 2, campaign_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct dlog_campaign_code k = {
			.event_type = (const char *)sqlite3_column_text(st, 0),
			.mtype = (enum dlog_mtype)sqlite3_column_int(st, 1),
			.events = sqlite3_column_int64(st, 2),
			.devices = sqlite3_column_int64(st, 3),
			.first_at = sqlite3_column_int64(st, 4),
		};

		rows++;
		rc = cb(arg, &k);
		if (rc != 0)
			break;
	}
	if (rc == SQLITE_DONE)
		rc = rows > 0 ? 0 : DLOG_ENOTFOUND;
	else if (rc > 0)
		rc = fail(rc, r->db, "campaign statistics");
	stmt_done(st);
out:
	reader_put(c, r);
	return rc;
}

/* ---- devicelog copy: accounts, keys with their hashes, idempotency hashes ---- */

static int sqlite_account_list(void *vctx, dlog_account_cb cb, void *arg)
{
	struct ctx *c = vctx;
	struct conn *r;
	sqlite3_stmt *st;
	int rc = reader_get(c, &r);

	if (rc != 0)
		return rc;
	rc = conn_prepare(r, "SELECT id, name FROM accounts ORDER BY id", &st);
	if (rc != 0)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = cb(arg, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1));
		if (rc != 0)
			break;
	}
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = fail(rc, r->db, "account list");
	stmt_done(st);
out:
	reader_put(c, r);
	return rc;
}

static int sqlite_key_dump(void *vctx, int64_t account_id, dlog_key_hash_cb cb, void *arg)
{
	struct ctx *c = vctx;
	struct conn *r;
	sqlite3_stmt *st;
	int rc = reader_get(c, &r);

	if (rc != 0)
		return rc;
	rc = conn_prepare(r, KEY_COLUMNS " WHERE ?1 <= 0 OR k.account_id = ?1 ORDER BY k.id", &st);
	if (rc != 0)
		goto out;
	sqlite3_bind_int64(st, 1, account_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct dlog_key_info k;

		if (sqlite3_column_bytes(st, 7) != 32)
			continue; /* cannot happen: key_add stores 32 bytes */
		key_row(st, &k);
		rc = cb(arg, &k, sqlite3_column_blob(st, 7));
		if (rc != 0)
			break;
	}
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = fail(rc, r->db, "key dump");
	stmt_done(st);
out:
	reader_put(c, r);
	return rc;
}

static int sqlite_key_import(void *vctx, const struct dlog_key_info *k, const uint8_t hash[32])
{
	return insert_key(vctx, k, hash, true);
}

static int sqlite_idem_hashes(void *vctx, int64_t account_id, const char *const *keys, size_t n,
			      uint8_t (*hashes)[32], bool *found)
{
	struct ctx *c = vctx;
	struct conn *r;
	sqlite3_stmt *st;
	int rc = reader_get(c, &r);

	if (rc != 0)
		return rc;
	rc = exec_cached(r, "BEGIN");
	for (size_t i = 0; rc == 0 && i < n; i++) {
		found[i] = false;
		if (keys[i] == NULL)
			continue;
		rc = conn_prepare(r, "SELECT idem_hash FROM events WHERE account_id = ?1 AND idem = ?2",
				  &st);
		if (rc != 0)
			break;
		sqlite3_bind_int64(st, 1, account_id);
		sqlite3_bind_text(st, 2, keys[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
			memcpy(hashes[i], sqlite3_column_blob(st, 0), 32);
			found[i] = true;
		}
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(rc, r->db, "idempotency hash");
		stmt_done(st);
	}
	(void)exec_cached(r, "COMMIT");
	reader_put(c, r);
	return rc;
}

/* ---- retention ---- */

/* One bounded step: of the max_rows oldest events, those created before cutoff. created never
 * decreases with seq, so the expired events are a prefix of the rowid order and the step reads
 * at most max_rows rows, however large the table. A short write transaction: appends wait for
 * at most one step. Idempotency keys live in the rows and go with them; meta.last_seq keeps a
 * seq from being reused when every event went. */
/* The next step's rows (the oldest max_rows, of those created before cutoff) counted per
 * account and subtracted from the maintained counts. */
static int expire_counts(struct conn *cn, dlog_time cutoff, int max_rows)
{
	sqlite3_stmt *st;
	struct {
		int64_t account, n;
	} dec[64];
	size_t k = 0;
	int rc = conn_prepare(cn,
			      "SELECT account_id, count(*) FROM (SELECT account_id, created FROM events"
			      " ORDER BY seq LIMIT ?2) WHERE created < ?1 GROUP BY account_id",
			      &st);

	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, cutoff);
	sqlite3_bind_int(st, 2, max_rows);
	while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		dec[k].account = sqlite3_column_int64(st, 0);
		dec[k].n = sqlite3_column_int64(st, 1);
		rc = 0;
		if (++k == sizeof(dec) / sizeof(dec[0])) {
			/* flush: the statement is still open, so apply what we have so far */
			for (size_t i = 0; rc == 0 && i < k; i++)
				rc = add_account_events(cn, dec[i].account, -dec[i].n);
			k = 0;
		}
	}
	rc = rc == SQLITE_DONE ? 0 : rc > 0 ? fail(rc, cn->db, "retention count") : rc;
	stmt_done(st);
	for (size_t i = 0; rc == 0 && i < k; i++)
		rc = add_account_events(cn, dec[i].account, -dec[i].n);
	return rc;
}

/* Expiring events leave the blocks too. They are a prefix of the id order, so of each of
 * their devices every block before the one holding the last expiring event goes, and that
 * one is written again with the events after it (or goes, when none are). */
static int expire_dev_blocks(struct ctx *c, sqlite3_stmt *del, sqlite3_stmt *last,
			     sqlite3_stmt *ins, struct dlog_buf *b, int64_t dev, int64_t upto)
{
	struct evb_event ev[EVB_MAX];
	size_t n = 0, k = 0;
	int rc;

	sqlite3_bind_int64(last, 1, dev);
	sqlite3_bind_int64(last, 2, upto);
	rc = sqlite3_step(last);
	if (rc == SQLITE_ROW) {
		/* the block's texts are copied out before its row goes */
		dlog_buf_reset(b);
		rc = dlog_buf_add(b, sqlite3_column_blob(last, 0), (size_t)sqlite3_column_bytes(last, 0));
		sqlite3_reset(last);
		if (rc == 0 && evb_decode((const uint8_t *)b->data, b->len, ev, EVB_MAX, &n) != 0)
			rc = block_malformed();
	} else {
		sqlite3_reset(last);
		rc = rc == SQLITE_DONE ? 0 : fail(rc, c->w.db, "block retention");
	}
	if (rc != 0)
		return rc;
	/* every block of the device up to the last expiring event */
	sqlite3_bind_int64(del, 1, dev);
	sqlite3_bind_int64(del, 2, upto);
	rc = sqlite3_step(del);
	rc = rc == SQLITE_DONE ? 0 : fail(rc, c->w.db, "block retention");
	sqlite3_reset(del);
	while (k < n && ev[k].seq <= upto)
		k++;
	if (rc == 0 && k < n)
		rc = put_block(c->w.db, ins, dev, ev + k, n - k);
	return rc;
}

static int expire_blocks(struct ctx *c, dlog_time cutoff, int max_rows)
{
	sqlite3_stmt *st = NULL, *del = NULL, *last = NULL, *ins = NULL;
	struct dlog_buf b;
	int rc = conn_prepare(&c->w, "SELECT dev, max(seq) FROM (SELECT dev, seq, created FROM events"
				     " ORDER BY seq LIMIT ?2) WHERE created < ?1 GROUP BY dev", &st);

	if (rc == 0)
		rc = conn_prepare(&c->w, "DELETE FROM dev_blocks WHERE dev = ?1 AND first_seq <= ?2", &del);
	if (rc == 0)
		rc = conn_prepare(&c->w, "SELECT body FROM dev_blocks WHERE dev = ?1 AND first_seq <= ?2"
					 " ORDER BY first_seq DESC LIMIT 1", &last);
	if (rc == 0)
		rc = conn_prepare(&c->w, "INSERT INTO dev_blocks VALUES(?1, ?2, ?3, ?4)", &ins);
	dlog_buf_init(&b, 1 << 20);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, cutoff);
		sqlite3_bind_int(st, 2, max_rows);
	}
	/* the statements below change dev_blocks only, which this one does not read */
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW)
		rc = expire_dev_blocks(c, del, last, ins, &b, sqlite3_column_int64(st, 0),
				       sqlite3_column_int64(st, 1));
	dlog_buf_done(&b);
	stmt_done(ins);
	stmt_done(last);
	stmt_done(del);
	stmt_done(st);
	return rc;
}

static int sqlite_expire(void *vctx, dlog_time cutoff, int max_rows, int64_t *deleted,
			 bool *more)
{
	struct ctx *c = vctx;
	sqlite3_stmt *st;
	/* the directory keeps what it was told of expiring events: they are folded in first */
	int rc = index_pending(c, true);

	if (rc != 0)
		return rc;
	pthread_mutex_lock(&c->wlock);
	rc = exec(c->w.db, "BEGIN IMMEDIATE");
	if (rc != 0)
		goto out;
	rc = expire_counts(&c->w, cutoff, max_rows);
	if (rc == 0)
		rc = expire_blocks(c, cutoff, max_rows);
	if (rc == 0)
		rc = conn_prepare(&c->w,
				  "DELETE FROM events WHERE seq IN (SELECT seq FROM (SELECT seq, created"
				  " FROM events ORDER BY seq LIMIT ?2) WHERE created < ?1)",
				  &st);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, cutoff);
		sqlite3_bind_int(st, 2, max_rows);
		rc = step_done(&c->w, st, "retention");
	}
	if (rc == 0) {
		*deleted = sqlite3_changes64(c->w.db);
		*more = *deleted == max_rows;
		/* the expired events are a prefix of the id order: a zone ending before the first
		 * event left is empty (one partly expired keeps bounds that are still true) */
		rc = exec(c->w.db, "DELETE FROM zones WHERE last_seq < coalesce((SELECT min(seq)"
				   " FROM events), (SELECT max(last_seq) + 1 FROM zones))");
	}
	if (rc == 0)
		rc = exec(c->w.db, "COMMIT");
	if (rc != 0)
		sqlite3_exec(c->w.db, "ROLLBACK", NULL, NULL, NULL);
out:
	pthread_mutex_unlock(&c->wlock);
	return rc;
}

/* ---- backup ---- */

/* Make the new file's directory entry durable: 0 or an errno value. */
static int sync_parent(const char *path)
{
	char *copy = strdup(path);
	int fd, err = 0;

	if (copy == NULL)
		return ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0)
		err = errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return err;
}

/* A consistent copy in one read transaction (sqlite3_backup, one step: a copy made in several
 * steps starts over whenever the writer commits between them). The source is a connection of
 * its own through the direct-read VFS (walbuf.c), so the copy leaves the page cache as it was;
 * the writer goes on meanwhile. */
static int sqlite_backup(void *vctx, const char *dest, int64_t *bytes)
{
	struct ctx *c = vctx;
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_backup *b;
	int64_t page_size = 0;
	int fd, err, rc;

	*bytes = 0;
	/* the copy holds the key hashes: readable by its owner only */
	fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = errno;
		snprintf(errmsg, sizeof(errmsg), "cannot create %s: %s", dest, strerror(err));
		return err == EEXIST ? DLOG_ECONFLICT : DLOG_EIO;
	}
	close(fd);
	rc = sqlite3_open_v2(c->path, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
			     store__direct_vfs());
	if (rc != SQLITE_OK) {
		rc = fail(rc, src, "open");
		goto out;
	}
	sqlite3_busy_timeout(src, DLOG_SQLITE_BUSY_MS);
	rc = sqlite3_open_v2(dest, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = fail(rc, dst, "open the copy");
		goto out;
	}
	rc = exec(dst, "PRAGMA synchronous=FULL");
	if (rc != 0)
		goto out;
	b = sqlite3_backup_init(dst, "main", src, "main");
	if (b == NULL) {
		rc = fail(SQLITE_ERROR, dst, "backup");
		goto out;
	}
	rc = sqlite3_backup_step(b, -1);
	*bytes = (int64_t)sqlite3_backup_pagecount(b);
	sqlite3_backup_finish(b);
	rc = rc == SQLITE_DONE ? pragma_int(dst, "PRAGMA page_size", &page_size)
			       : fail(rc, dst, "backup");
	*bytes *= page_size;
out:
	sqlite3_close_v2(src);
	if (sqlite3_close_v2(dst) != SQLITE_OK && rc == 0)
		rc = fail(SQLITE_IOERR, dst, "close the copy");
	if (rc == 0 && (err = sync_parent(dest)) != 0) {
		snprintf(errmsg, sizeof(errmsg), "cannot sync the directory of %s: %s", dest,
			 strerror(err));
		rc = DLOG_EIO;
	}
	if (rc == 0 && (fd = open(dest, O_RDONLY | O_CLOEXEC)) >= 0) {
		/* the copy is synced: its pages need not push the service's out of the cache */
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
	if (rc != 0) {
		char journal[PATH_MAX];

		unlink(dest);
		if (snprintf(journal, sizeof(journal), "%s-journal", dest) < (int)sizeof(journal))
			unlink(journal);
	}
	return rc;
}

const struct dlog_store_ops store__sqlite_ops = {
	.name = "sqlite",
	.open = sqlite_open,
	.close = sqlite_close,
	.errmsg = sqlite_errmsg,
	.account = sqlite_account,
	.account_count = sqlite_account_count,
	.key_add = sqlite_key_add,
	.key_lookup = sqlite_key_lookup,
	.key_list = sqlite_key_list,
	.key_revoke = sqlite_key_revoke,
	.append = sqlite_append,
	.append_group = sqlite_append_group,
	.query = sqlite_query,
	.get = sqlite_get,
	.last_seq = sqlite_last_seq,
	.summary = sqlite_summary,
	.device_query = sqlite_device_query,
	.device_get = sqlite_device_get,
	.group_create = sqlite_group_create,
	.group_update = sqlite_group_update,
	.group_delete = sqlite_group_delete,
	.group_get = sqlite_group_get,
	.group_list = sqlite_group_list,
	.group_member = sqlite_group_member,
	.campaign_stats = sqlite_campaign_stats,
	.account_list = sqlite_account_list,
	.key_dump = sqlite_key_dump,
	.key_import = sqlite_key_import,
	.idem_hashes = sqlite_idem_hashes,
	.expire = sqlite_expire,
	.backup = sqlite_backup,
};
