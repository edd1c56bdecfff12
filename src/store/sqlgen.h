/* Private to src/store/: SQL text generated from a parsed dlog_query, shared by backends.
 * Column names come only from the fixed table in sqlgen.c; every value is a bound parameter. */
#ifndef DLOG_STORE_SQLGEN_H
#define DLOG_STORE_SQLGEN_H

#include "store/store.h"

enum sqlv_type { SQLV_INT, SQLV_TEXT };

struct sqlv {
	enum sqlv_type type;
	int64_t i;
	const char *s; /* borrowed from the dlog_query */
};

enum sql_style { SQL_STYLE_SQLITE, SQL_STYLE_PG };

struct sqlgen {
	struct dlog_buf sql;
	struct sqlv *vals;
	size_t nvals, cap;
	enum sql_style style;
	bool zoned; /* SQLite, one zone at a time: no id bounds from the zones in the WHERE */
	int err;
};

void store__sqlgen_init(struct sqlgen *g, enum sql_style style);
void store__sqlgen_done(struct sqlgen *g);
/* Append literal SQL (trusted text from this program only). */
void store__sql(struct sqlgen *g, const char *text);
/* Append a placeholder bound to an integer / a string. */
void store__sql_int(struct sqlgen *g, int64_t v);
void store__sql_text(struct sqlgen *g, const char *s);

/* Append "e.account_id = ? AND <every term>" and, when with_after and q->has_after, the cursor
 * condition. Table alias of events is "e"; it also refers to tables devices and strings. */
void store__sql_where(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
		      bool with_after);

/* The same for the device directory: "d.account_id = ? AND <terms>" (DEVICES dialect) and the
 * device-id cursor. Alias of devices is "d". */
void store__sql_device_where(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
			     bool with_after);

/* A page of the device directory: select (a "SELECT ... FROM devices d" of the backend's
 * columns) with the terms, group membership (group > 0: a device_groups row id), order and
 * LIMIT limit + 1; or, with select NULL, the count of the same devices. */
void store__sql_device_page(struct sqlgen *g, const char *select, int64_t account_id,
			    int64_t group, const struct dlog_query *q);

/* The SQLite store's statements for a page of events and for its total_count (sqlite.c), also
 * used by bench/plans.c to show their query plans. g is initialised here; the caller frees it
 * with store__sqlgen_done. */
struct sqlite_narrow;
void store__sqlite_page_sql(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
			    const struct sqlite_narrow *nw);
void store__sqlite_count_sql(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
			     const struct sqlite_narrow *nw);
/* A description, a category or a message type (equal or in a list) is not indexed: a page
 * asking for one walks the account's ids, and a value that is rare or absent meant walking
 * them all. The SQLite store keeps the account's (event type, message type, category,
 * description) combinations (table code_attrs), so such a page can be narrowed to the event
 * types that carry the value: store__sqlite_narrowable says whether q can be,
 * store__sqlite_codes_sql selects those types (at most DLOG_SQLITE_NARROW_CODES + 1 rows), and
 * with nw active the page and its total also require "e.code IN (nw->codes)" and are read
 * through events(account_id, code). Active with n == 0: no event can match. */
#define DLOG_SQLITE_NARROW_CODES 64
struct sqlite_narrow {
	bool active;
	size_t n;
	int64_t codes[DLOG_SQLITE_NARROW_CODES];
};
/* Whether SQLite reads q's indexed events and its index tail apart (sqlite.c). */
bool store__sqlite_split(const struct dlog_query *q);
bool store__sqlite_narrowable(const struct dlog_query *q);
void store__sqlite_codes_sql(struct sqlgen *g, int64_t account_id, const struct dlog_query *q);
void store__sqlite_narrow_sql(struct sqlgen *g, const struct sqlite_narrow *nw);
/* A page that walks the account's ids (no term that an index of its own serves, see
 * store__sqlite_walks) is read zone by zone: store__sqlite_zone_sql selects the account's
 * zones that may hold rows of the page, in the page's order (first_seq, last_seq, n);
 * store__sqlite_zone_page_sql is the page's statement within one zone, whose bounds are its
 * last two values. dense: the zone's ids are mostly the account's, so its rows are read in
 * place (rowid range) instead of through events(account_id) and a seek per row. */
bool store__sqlite_walks(const struct dlog_query *q, const struct sqlite_narrow *nw);
void store__sqlite_zone_sql(struct sqlgen *g, int64_t account_id, const struct dlog_query *q);
void store__sqlite_zone_page_sql(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
				 bool dense);
/* Filters naming devices (sqlite.c, "a device's events"): a page of one device only
 * (store__sqlite_device_only) is read from its blocks with store__sqlite_blocks_sql (?1 the
 * device, ?2 the cursor's id); any other with a device_id or device_group_id term
 * (store__sqlite_device_source) reads the rows of the named devices' event ids, ids being a
 * JSON array of them, with every term applied (store__sqlite_cand_sql; its count
 * store__sqlite_cand_count_sql). */
struct dlog_term;
bool store__sqlite_device_only(const struct dlog_query *q);
const char *store__sqlite_blocks_sql(bool asc);
const struct dlog_term *store__sqlite_device_source(const struct dlog_query *q);
void store__sqlite_cand_sql(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
			    const char *ids);
void store__sqlite_cand_count_sql(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
				  const char *ids);
/* The index tail's part of a page: of the ids (a JSON array), the rows the partial indexes do
 * not hold yet (m = 0), every term applied, in the page's order. */
void store__sqlite_tail_sql(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
			    const char *ids);
/* At most n ids per statement (DLOG_SQLITE_CAND_MAX unless a test sets it lower). */
void store__sqlite_set_cand_max(size_t n);
/* The index tail's ids are read in place when they span less than factor times their number
 * (4; tests set 0 to look every one up by id). */
void store__sqlite_set_tail_dense(int64_t factor);
/* A store at rest indexes its tail after ms without appends (DLOG_SQLITE_IDLE_INDEX_MS; tests
 * that keep a tail set 0: by count only). Stores opened before the call follow it too. */
void store__sqlite_set_idle_index(int64_t ms);
/* Bind g's values to st (an SQLite statement prepared from g's SQL): 0 or DLOG_ESTORE. */
struct sqlite3_stmt;
int store__sqlite_bind(struct sqlite3_stmt *st, const struct sqlgen *g);

#endif
