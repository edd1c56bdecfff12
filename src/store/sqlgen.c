/* SQL generation from a parsed query. See sqlgen.h. */
#include "store/sqlgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"

/* How a field is stored in the events table. */
enum col_kind {
	COL_ID,      /* (seq, created) pair */
	COL_INT,     /* plain integer column: times */
	COL_DEVICE,  /* devices.id through the per-account dictionary */
	COL_STRING,  /* strings.id through the shared string dictionary */
	COL_OPTSTR,  /* like COL_STRING but NULL when absent (neq/nin match NULL) */
	COL_FLAG,    /* a bit of e.flags */
	COL_MTYPE,   /* small integer with a fixed name table */
	COL_GROUP,   /* e.dev through group membership */
	COL_NONE,    /* not an events column (a directory field) */
};

static const struct {
	enum col_kind kind;
	const char *col;
} columns[DLOG_F_COUNT] = {
	[DLOG_F_ID] = {COL_ID, NULL},
	[DLOG_F_DEVICE_ID] = {COL_DEVICE, "e.dev"},
	[DLOG_F_DATE_TIME] = {COL_INT, "e.ts"},
	[DLOG_F_EVENT_TYPE] = {COL_STRING, "e.code"},
	[DLOG_F_DESCRIPTION] = {COL_STRING, "e.descr"},
	[DLOG_F_STATE_CHANGE] = {COL_FLAG, "(e.flags & 1)"},
	[DLOG_F_EVENT_TYPE_DESCRIPTION] = {COL_MTYPE, "e.mtype"},
	[DLOG_F_EVENT_TYPE_CATEGORY] = {COL_STRING, "e.cat"},
	[DLOG_F_CAMPAIGN_ID] = {COL_OPTSTR, "e.camp"},
	[DLOG_F_CREATED_AT] = {COL_INT, "e.created"},
	[DLOG_F_DEVICE_GROUP_ID] = {COL_GROUP, "e.dev"},
	[DLOG_F_DEVICE_KEY] = {COL_NONE, NULL},
	[DLOG_F_STATE] = {COL_NONE, NULL},
	[DLOG_F_LAST_EVENT_TYPE] = {COL_NONE, NULL},
	[DLOG_F_LAST_EVENT_TYPE_DESCRIPTION] = {COL_NONE, NULL},
	[DLOG_F_UPDATED_AT] = {COL_NONE, NULL},
};

void store__sqlgen_init(struct sqlgen *g, enum sql_style style)
{
	g->vals = NULL;
	g->nvals = g->cap = 0;
	g->style = style;
	g->zoned = false;
	g->err = 0;
	dlog_buf_init(&g->sql, DLOG_MAX_QUERY_LEN * 4);
}

void store__sqlgen_done(struct sqlgen *g)
{
	dlog_buf_done(&g->sql);
	free(g->vals);
	g->vals = NULL;
	g->nvals = g->cap = 0;
}

void store__sql(struct sqlgen *g, const char *text)
{
	if (g->err == 0)
		g->err = dlog_buf_adds(&g->sql, text);
}

static struct sqlv *new_value(struct sqlgen *g)
{
	if (g->err != 0)
		return NULL;
	if (g->nvals == g->cap) {
		size_t ncap = g->cap ? g->cap * 2 : 16;
		struct sqlv *nv = realloc(g->vals, ncap * sizeof(*nv));

		if (nv == NULL) {
			g->err = DLOG_ENOMEM;
			return NULL;
		}
		g->vals = nv;
		g->cap = ncap;
	}
	g->err = dlog_buf_printf(&g->sql, g->style == SQL_STYLE_PG ? "$%zu" : "?%zu",
				 g->nvals + 1);
	if (g->err != 0)
		return NULL;
	return &g->vals[g->nvals++];
}

void store__sql_int(struct sqlgen *g, int64_t v)
{
	struct sqlv *sv = new_value(g);

	if (sv != NULL) {
		sv->type = SQLV_INT;
		sv->i = v;
		sv->s = NULL;
	}
}

void store__sql_text(struct sqlgen *g, const char *s)
{
	struct sqlv *sv = new_value(g);

	if (sv != NULL) {
		sv->type = SQLV_TEXT;
		sv->s = s;
		sv->i = 0;
	}
}

static bool negated(enum dlog_op op)
{
	return op == DLOG_OP_NEQ || op == DLOG_OP_NIN;
}

/* A message type name as stored; an unknown name is -1, which is never stored, so it matches
 * no event. */
static int64_t mtype_value(const char *s)
{
	enum dlog_mtype m;

	return dlog_mtype_parse(s, strlen(s), &m) == 0 ? (int64_t)m : -1;
}

/* Value i of the term as the column stores it. */
static void put_value(struct sqlgen *g, const struct dlog_term *t, size_t i, enum col_kind kind)
{
	switch (kind) {
	case COL_INT:
		store__sql_int(g, t->v.times[i]);
		break;
	case COL_FLAG:
		store__sql_int(g, t->v.flags[i] ? 1 : 0);
		break;
	case COL_MTYPE:
		store__sql_int(g, mtype_value(t->v.strs[i]));
		break;
	default:
		store__sql_text(g, t->v.strs[i]);
	}
}

/* "(v1, v2, ...)" of the term's values as the column stores them. */
static void value_list(struct sqlgen *g, const struct dlog_term *t, enum col_kind kind)
{
	store__sql(g, "(");
	for (size_t i = 0; i < t->n; i++) {
		if (i > 0)
			store__sql(g, ",");
		put_value(g, t, i, kind);
	}
	store__sql(g, ")");
}

static void term_id(struct sqlgen *g, const struct dlog_term *t)
{
	bool neg = negated(t->op);

	if (!neg) {
		/* a plain seq list first: the planner turns it into rowid lookups, which a row-value
		 * IN over VALUES alone does not get */
		store__sql(g, "e.seq IN (");
		for (size_t i = 0; i < t->n; i++) {
			store__sql(g, i ? "," : "");
			store__sql_int(g, t->v.ids[i].seq > INT64_MAX ? -1 : (int64_t)t->v.ids[i].seq);
		}
		store__sql(g, ") AND ");
	}
	if (neg)
		store__sql(g, "NOT ");
	store__sql(g, "(e.seq, e.created) IN (VALUES ");
	for (size_t i = 0; i < t->n; i++) {
		store__sql(g, i ? ",(" : "(");
		store__sql_int(g, (int64_t)t->v.ids[i].seq);
		store__sql(g, ",");
		store__sql_int(g, t->v.ids[i].created);
		store__sql(g, ")");
	}
	store__sql(g, ")");
}

/* Dictionary-coded columns compare ids: resolve the texts by subquery. One value compares
 * with a scalar subquery, which lets the planner walk (account, code, seq) in id order; a
 * missing text gives NULL and matches nothing, as it should for __eq. */
static void term_dict(struct sqlgen *g, int64_t account_id, const struct dlog_term *t,
		      enum col_kind kind, const char *col)
{
	bool neg = negated(t->op);
	bool scalar = t->op == DLOG_OP_EQ;

	if (neg && kind == COL_OPTSTR) {
		/* SPEC: an event without the field is "not in" any list. */
		store__sql(g, "(");
		store__sql(g, col);
		store__sql(g, " IS NULL OR ");
	}
	store__sql(g, col);
	store__sql(g, neg ? " NOT IN " : scalar && kind != COL_GROUP ? " = " : " IN ");
	if (kind == COL_DEVICE) {
		store__sql(g, "(SELECT id FROM devices WHERE account_id = ");
		store__sql_int(g, account_id);
		store__sql(g, " AND device_id");
	} else if (kind == COL_GROUP) {
		/* on PostgreSQL members carry account_id (distributable by account): join on it */
		store__sql(g, g->style == SQL_STYLE_PG
				      ? "(SELECT m.dev FROM group_members m JOIN device_groups gr"
					" ON gr.id = m.group_id AND gr.account_id = m.account_id"
					" WHERE gr.account_id = "
				      : "(SELECT m.dev FROM group_members m JOIN device_groups gr"
					" ON gr.id = m.group_id WHERE gr.account_id = ");
		store__sql_int(g, account_id);
		store__sql(g, " AND gr.gid");
	} else {
		store__sql(g, "(SELECT id FROM strings WHERE s");
	}
	if (scalar && kind != COL_GROUP) {
		store__sql(g, " = ");
		store__sql_text(g, t->v.strs[0]);
	} else {
		store__sql(g, " IN ");
		value_list(g, t, COL_STRING);
	}
	store__sql(g, ")");
	if (neg && kind == COL_OPTSTR)
		store__sql(g, ")");
}

static void term_plain(struct sqlgen *g, const struct dlog_term *t, enum col_kind kind,
		       const char *col)
{
	static const char *const ops[DLOG_OP_COUNT] = {
		[DLOG_OP_EQ] = " = ",	   [DLOG_OP_NEQ] = " <> ",  [DLOG_OP_IN] = " IN ",
		[DLOG_OP_NIN] = " NOT IN ", [DLOG_OP_LTE] = " <= ", [DLOG_OP_GTE] = " >= ",
	};

	store__sql(g, col);
	store__sql(g, ops[t->op]);
	if (t->op == DLOG_OP_IN || t->op == DLOG_OP_NIN) {
		value_list(g, t, kind);
		return;
	}
	put_value(g, t, 0, kind);
}

/* PostgreSQL: a text that no event has ever had (it is not in the dictionary) or a message
 * type name that does not exist matches nothing, yet `e.cat = (SELECT ...)` with the sub-select
 * giving NULL still walks the account's rows to find that out (13-27 ms at 100k events). A
 * condition on no row of events is a one-time filter there: false, and the page's scan is
 * not run at all. SQLite narrows such pages by event type instead (sqlite.c, narrow). */
static void pg_guard(struct sqlgen *g, const struct dlog_term *t, enum col_kind kind)
{
	bool any = false;

	if (g->style != SQL_STYLE_PG || (t->op != DLOG_OP_EQ && t->op != DLOG_OP_IN))
		return;
	if (kind == COL_STRING || kind == COL_OPTSTR) {
		store__sql(g, " AND EXISTS (SELECT 1 FROM strings WHERE s IN ");
		value_list(g, t, COL_STRING);
		store__sql(g, ")");
	} else if (kind == COL_MTYPE) {
		for (size_t i = 0; i < t->n; i++)
			any = any || mtype_value(t->v.strs[i]) >= 0;
		if (!any)
			store__sql(g, " AND FALSE");
	}
}

static void term(struct sqlgen *g, int64_t account_id, const struct dlog_term *t)
{
	enum col_kind kind = columns[t->field].kind;
	const char *col = columns[t->field].col;

	switch (kind) {
	case COL_ID:
		term_id(g, t);
		break;
	case COL_DEVICE:
	case COL_STRING:
	case COL_OPTSTR:
	case COL_GROUP:
		term_dict(g, account_id, t, kind, col);
		break;
	case COL_NONE:
		/* the parser's dialects keep directory fields out of event queries */
		if (g->err == 0)
			g->err = DLOG_EINVAL;
		break;
	default:
		term_plain(g, t, kind, col);
	}
	pg_guard(g, t, kind);
}

static void cursor(struct sqlgen *g, const struct dlog_query *q)
{
	/* Ids order as (seq, created); seq is unique, so the pair compare reduces to a seq range
	 * (which the rowid B-tree serves) plus a tie-break on the cursor's own seq. */
	bool asc = q->order == DLOG_ORDER_ASC;
	/* A well-formed id may exceed what a column holds: clamp, which keeps its position. */
	int64_t seq = q->after.seq > INT64_MAX ? INT64_MAX : (int64_t)q->after.seq;
	int64_t created = q->after.seq > INT64_MAX || q->after.created < 0 ? INT64_MAX
									  : q->after.created;

	store__sql(g, asc ? " AND e.seq >= " : " AND e.seq <= ");
	store__sql_int(g, seq);
	store__sql(g, asc ? " AND (e.seq > " : " AND (e.seq < ");
	store__sql_int(g, seq);
	store__sql(g, asc ? " OR e.created > " : " OR e.created < ");
	store__sql_int(g, created);
	store__sql(g, ")");
}

/* A zone (SQLite: table zones) is a run of one account's events in id order with the least
 * and greatest date_time among them. "A zone that may hold a match of date term t", over
 * min_ts/max_ts, for __lte, __gte, __eq and __in (zone_bounds leaves __neq and __nin out:
 * almost every zone may satisfy them). */
static void zone_cond(struct sqlgen *g, const struct dlog_term *t)
{
	switch (t->op) {
	case DLOG_OP_LTE:
		store__sql(g, "min_ts <= ");
		store__sql_int(g, t->v.times[0]);
		break;
	case DLOG_OP_GTE:
		store__sql(g, "max_ts >= ");
		store__sql_int(g, t->v.times[0]);
		break;
	case DLOG_OP_EQ:
	case DLOG_OP_IN:
		store__sql(g, "(");
		for (size_t i = 0; i < t->n; i++) {
			store__sql(g, i ? " OR (min_ts <= " : "(min_ts <= ");
			store__sql_int(g, t->v.times[i]);
			store__sql(g, " AND max_ts >= ");
			store__sql_int(g, t->v.times[i]);
			store__sql(g, ")");
		}
		store__sql(g, ")");
		break;
	default:
		break;
	}
}

/* SQLite: a date_time term also bounds the ids, from the zones that may hold a match: the
 * account's id order is then walked from the first such zone to the last instead of from
 * its start (a month page in ascending order skipped nearly two years of rows that way).
 * No zone: no event can match, and the NULL bound selects nothing. */
static bool zone_bounded(const struct dlog_term *t)
{
	return t->field == DLOG_F_DATE_TIME && (t->op == DLOG_OP_LTE || t->op == DLOG_OP_GTE ||
						t->op == DLOG_OP_EQ || t->op == DLOG_OP_IN);
}

static void zone_bounds(struct sqlgen *g, int64_t account_id, const struct dlog_term *t)
{
	if (!zone_bounded(t))
		return;
	for (int hi = 0; hi < 2; hi++) {
		store__sql(g, hi ? " AND e.seq <= (SELECT max(last_seq)"
				 : " AND e.seq >= (SELECT min(first_seq)");
		store__sql(g, " FROM zones WHERE account_id = ");
		store__sql_int(g, account_id);
		store__sql(g, " AND ");
		zone_cond(g, t);
		store__sql(g, ")");
	}
}

void store__sql_where(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
		      bool with_after)
{
	store__sql(g, "e.account_id = ");
	store__sql_int(g, account_id);
	for (size_t i = 0; i < q->nterms; i++) {
		store__sql(g, " AND ");
		term(g, account_id, &q->terms[i]);
		if (g->style == SQL_STYLE_SQLITE && !g->zoned)
			zone_bounds(g, account_id, &q->terms[i]);
	}
	if (with_after && q->has_after)
		cursor(g, q);
}

/* SQLite: does a page of q walk the account's ids? It does unless a term names rows an index
 * finds by itself: device, group, event type, campaign or id (equal or in a list), or the page
 * is narrowed to event types. */
bool store__sqlite_walks(const struct dlog_query *q, const struct sqlite_narrow *nw)
{
	if (nw != NULL && nw->active)
		return false;
	for (size_t i = 0; i < q->nterms; i++) {
		const struct dlog_term *t = &q->terms[i];
		enum col_kind kind = columns[t->field].kind;

		if (negated(t->op))
			continue;
		if (kind == COL_ID || kind == COL_DEVICE || kind == COL_GROUP ||
		    t->field == DLOG_F_EVENT_TYPE || t->field == DLOG_F_CAMPAIGN_ID)
			return false;
	}
	return true;
}

/* SQLite: does a query of q read the indexed events (through the partial indexes, "AND e.m")
 * and the index tail (by id, from memory) apart? Unless a term names event ids, which find
 * their rows by rowid, indexed or not. */
bool store__sqlite_split(const struct dlog_query *q)
{
	for (size_t i = 0; i < q->nterms; i++)
		if (columns[q->terms[i].field].kind == COL_ID && !negated(q->terms[i].op))
			return false;
	return true;
}

static bool narrows(const struct dlog_term *t)
{
	return (t->op == DLOG_OP_EQ || t->op == DLOG_OP_IN) &&
	       (t->field == DLOG_F_DESCRIPTION || t->field == DLOG_F_EVENT_TYPE_CATEGORY ||
		t->field == DLOG_F_EVENT_TYPE_DESCRIPTION);
}

bool store__sqlite_narrowable(const struct dlog_query *q)
{
	if (!store__sqlite_walks(q, NULL))
		return false;
	for (size_t i = 0; i < q->nterms; i++)
		if (narrows(&q->terms[i]))
			return true;
	return false;
}

/* code_attrs is aliased "e" and has the events table's names for these columns, so the
 * terms are written as for events */
void store__sqlite_codes_sql(struct sqlgen *g, int64_t account_id, const struct dlog_query *q)
{
	char tail[32];

	store__sqlgen_init(g, SQL_STYLE_SQLITE);
	store__sql(g, "SELECT DISTINCT e.code FROM code_attrs e WHERE e.account_id = ");
	store__sql_int(g, account_id);
	for (size_t i = 0; i < q->nterms; i++) {
		if (!narrows(&q->terms[i]))
			continue;
		store__sql(g, " AND ");
		term(g, account_id, &q->terms[i]);
	}
	snprintf(tail, sizeof(tail), " LIMIT %d", DLOG_SQLITE_NARROW_CODES + 1);
	store__sql(g, tail);
}

void store__sqlite_narrow_sql(struct sqlgen *g, const struct sqlite_narrow *nw)
{
	if (nw == NULL || !nw->active)
		return;
	store__sql(g, " AND e.code IN (");
	for (size_t i = 0; i < nw->n; i++) {
		store__sql(g, i ? "," : "");
		store__sql_int(g, nw->codes[i]);
	}
	store__sql(g, ")");
}

void store__sqlite_zone_sql(struct sqlgen *g, int64_t account_id, const struct dlog_query *q)
{
	bool asc = q->order == DLOG_ORDER_ASC;

	store__sqlgen_init(g, SQL_STYLE_SQLITE);
	store__sql(g, "SELECT first_seq, last_seq, n FROM zones WHERE account_id = ");
	store__sql_int(g, account_id);
	for (size_t i = 0; i < q->nterms; i++) {
		if (!zone_bounded(&q->terms[i]))
			continue;
		store__sql(g, " AND ");
		zone_cond(g, &q->terms[i]);
	}
	if (q->has_after) {
		/* zones wholly on the far side of the cursor hold nothing of the page */
		store__sql(g, asc ? " AND last_seq >= " : " AND first_seq <= ");
		store__sql_int(g, q->after.seq > INT64_MAX ? INT64_MAX : (int64_t)q->after.seq);
	}
	store__sql(g, asc ? " ORDER BY first_seq ASC" : " ORDER BY first_seq DESC");
}

/* ---- the device directory ("d" is the devices table) ---- */

static int64_t state_value(const char *s)
{
	for (int st = 0; st < 4; st++)
		if (strcmp(s, dlog_device_state_name((enum dlog_device_state)st)) == 0)
			return st;
	return -1; /* matches no device */
}

static void device_term(struct sqlgen *g, const struct dlog_term *t)
{
	bool neg = negated(t->op);
	bool list = t->op == DLOG_OP_IN || t->op == DLOG_OP_NIN;

	switch (t->field) {
	case DLOG_F_CREATED_AT:
	case DLOG_F_UPDATED_AT:
		store__sql(g, t->field == DLOG_F_CREATED_AT ? "d.first_ts" : "d.last_ts");
		store__sql(g, t->op == DLOG_OP_LTE ? " <= " : " >= ");
		store__sql_int(g, t->v.times[0]);
		return;
	case DLOG_F_LAST_EVENT_TYPE:
		store__sql(g, neg ? "(d.last_code IS NULL OR d.last_code NOT IN" : "d.last_code IN");
		store__sql(g, " (SELECT id FROM strings WHERE s IN ");
		value_list(g, t, COL_STRING);
		store__sql(g, neg ? "))" : ")");
		return;
	default:
		break;
	}
	store__sql(g, t->field == DLOG_F_DEVICE_KEY	 ? "d.device_id"
		      : t->field == DLOG_F_STATE ? "d.state"
						 : "d.last_mtype");
	store__sql(g, neg ? (list ? " NOT IN (" : " <> ") : (list ? " IN (" : " = "));
	for (size_t i = 0; i < t->n; i++) {
		const char *v = t->v.strs[i];

		if (i > 0)
			store__sql(g, ",");
		if (t->field == DLOG_F_DEVICE_KEY)
			store__sql_text(g, v);
		else if (t->field == DLOG_F_STATE)
			store__sql_int(g, state_value(v));
		else
			store__sql_int(g, mtype_value(v));
	}
	if (list)
		store__sql(g, ")");
}

void store__sql_device_where(struct sqlgen *g, int64_t account_id, const struct dlog_query *q,
			     bool with_after)
{
	store__sql(g, "d.account_id = ");
	store__sql_int(g, account_id);
	for (size_t i = 0; i < q->nterms; i++) {
		store__sql(g, " AND ");
		device_term(g, &q->terms[i]);
	}
	if (with_after && q->has_after && q->after_key != NULL) {
		store__sql(g, q->order == DLOG_ORDER_DESC ? " AND d.device_id < "
							  : " AND d.device_id > ");
		store__sql_text(g, q->after_key);
	}
}

void store__sql_device_page(struct sqlgen *g, const char *select, int64_t account_id,
			    int64_t group, const struct dlog_query *q)
{
	char tail[64];

	store__sql(g, select != NULL ? select : "SELECT count(*) FROM devices d");
	store__sql(g, " WHERE ");
	store__sql_device_where(g, account_id, q, select != NULL);
	if (group > 0) {
		/* on PostgreSQL members carry account_id (distributable by account): name it */
		store__sql(g, " AND d.id IN (SELECT dev FROM group_members WHERE ");
		if (g->style == SQL_STYLE_PG) {
			store__sql(g, "account_id = ");
			store__sql_int(g, account_id);
			store__sql(g, " AND ");
		}
		store__sql(g, "group_id = ");
		store__sql_int(g, group);
		store__sql(g, ")");
	}
	if (select == NULL)
		return;
	/* device ids compare as bytes on both backends (PostgreSQL: COLLATE "C"), so the order
	 * and the cursor agree */
	snprintf(tail, sizeof(tail), " ORDER BY d.device_id %s LIMIT %d",
		 q->order == DLOG_ORDER_DESC ? "DESC" : "ASC", q->limit + 1);
	store__sql(g, tail);
}
