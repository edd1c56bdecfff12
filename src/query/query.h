/* query: the list API's query-string grammar (SPEC.md §1 and §2) parsed into a dlog_query.
 *
 * Input is the raw query string (after '?', still percent-encoded), pointer and length.
 * The parser decodes, validates and produces a self-contained struct (it owns copies of every
 * value), so nothing downstream ever sees request text. The store turns a dlog_query into SQL
 * using only fixed column names and bound values. */
#ifndef DLOG_QUERY_H
#define DLOG_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

enum dlog_field {
	DLOG_F_ID = 0,
	DLOG_F_DEVICE_ID,
	DLOG_F_DATE_TIME,
	DLOG_F_EVENT_TYPE,
	DLOG_F_DESCRIPTION,
	DLOG_F_STATE_CHANGE,
	DLOG_F_EVENT_TYPE_DESCRIPTION, /* message type */
	DLOG_F_EVENT_TYPE_CATEGORY,
	DLOG_F_CAMPAIGN_ID,            /* data.campaign_id */
	DLOG_F_CREATED_AT,
	DLOG_F_DEVICE_GROUP_ID,        /* events of the devices in a group */
	/* the device directory (/v3/devices/) */
	DLOG_F_DEVICE_KEY,             /* a device's "id": its device id */
	DLOG_F_STATE,
	DLOG_F_LAST_EVENT_TYPE,
	DLOG_F_LAST_EVENT_TYPE_DESCRIPTION,
	DLOG_F_UPDATED_AT,
	DLOG_F_COUNT
};

enum dlog_op {
	DLOG_OP_EQ = 0,
	DLOG_OP_NEQ,
	DLOG_OP_IN,
	DLOG_OP_NIN,
	DLOG_OP_LTE,
	DLOG_OP_GTE,
	DLOG_OP_COUNT
};

/* One filter term: field op values. Values are typed by field:
 *   ID               -> ids[]    (parsed dlog_id)
 *   DATE_TIME, CREATED_AT -> times[]
 *   STATE_CHANGE     -> flags[]  (bools)
 *   every other      -> strs[]   (NUL-terminated, validated UTF-8, no control chars)
 * EQ/NEQ/LTE/GTE carry exactly one value; IN/NIN 1..DLOG_MAX_IN_VALUES. */
struct dlog_term {
	enum dlog_field field;
	enum dlog_op op;
	size_t n;
	union {
		char **strs;
		dlog_time *times;
		struct dlog_id *ids;
		bool *flags;
	} v;
};

enum dlog_order { DLOG_ORDER_ASC = 0, DLOG_ORDER_DESC = 1 };

struct dlog_query {
	struct dlog_term *terms;
	size_t nterms;
	int limit;              /* clamped into [2, 1000], default 50 */
	enum dlog_order order;  /* default ASC */
	bool has_after;
	struct dlog_id after;
	char after_text[DLOG_ID_STRLEN]; /* echoed back in the page's "after" */
	char *after_key;        /* DEVICES dialect: the cursor is a device id (malloc'd) */
	bool include_total;
};

/* Which route family parses: the deprecated /v3/devicelog/ alias also allows __in/__nin on
 * state_change. */
enum dlog_query_dialect {
	DLOG_DIALECT_EVENTS = 0,
	DLOG_DIALECT_DEVICELOG = 1,
	DLOG_DIALECT_DEVICES = 2, /* /v3/devices/: directory fields; after is a device id */
	DLOG_DIALECT_PLAIN = 3,   /* paging only (no filters); after is the resource's id */
};

/* Where a parse failed: the parameter's name as the client wrote it (decoded, truncated to fit)
 * and a human message. Filled on DLOG_EINVAL. */
struct dlog_query_error {
	char name[128];
	char message[256];
};

/* Parse a raw query string into *q (which the caller provides; it is initialised here).
 * Handles: limit, order, after, include (comma lists and repeats; total_count/totalCount),
 * filter= (decoded once and parsed as a nested query string of filters only; not nestable),
 * every field__op of SPEC §1/§2, bare field=value as __eq. Repeated filter keys are ANDed.
 * Returns 0; DLOG_EINVAL with *err filled; DLOG_ENOMEM. On error *q is released.
 * Limits (base/limits.h): query length, term count, values per list, value length. */
int dlog_query_parse(const char *qs, size_t len, enum dlog_query_dialect dialect,
		     struct dlog_query *q, struct dlog_query_error *err);

/* Release what dlog_query_parse allocated. Accepts NULL and an already-released query. */
void dlog_query_done(struct dlog_query *q);

/* Print *q back as a canonical query string (percent-encoded; every term as field__op=value,
 * lists comma-joined, then limit/order/after/include). Parsing the output gives an equal query.
 * Appends to b. 0, DLOG_ETOOBIG, DLOG_ENOMEM. */
int dlog_query_print(const struct dlog_query *q, struct dlog_buf *b);

/* Names for messages and printing: "device_id", "__in" without underscores: "in". */
const char *dlog_field_name(enum dlog_field f);
const char *dlog_op_name(enum dlog_op op);

/* Decode percent-escapes and '+' (as space) of s[0..len) into out (a fresh malloc'd,
 * NUL-terminated string; *out_len its length). DLOG_EINVAL for a broken escape. */
int dlog_url_decode(const char *s, size_t len, char **out, size_t *out_len);

#endif
