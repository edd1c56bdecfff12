/* query: one filter parameter (field, field__op) and its values into a dlog_term. */
#include "query/query_int.h"

#include <stdlib.h>
#include <string.h>

#include "base/limits.h"

#define OP(o) (1u << (o))
#define OPS_SET (OP(DLOG_OP_EQ) | OP(DLOG_OP_NEQ) | OP(DLOG_OP_IN) | OP(DLOG_OP_NIN))
/* date_time takes no __neq (SPEC §1 lists none for it). */
#define OPS_DATE                                                                                   \
	(OP(DLOG_OP_EQ) | OP(DLOG_OP_IN) | OP(DLOG_OP_NIN) | OP(DLOG_OP_LTE) | OP(DLOG_OP_GTE))

/* The fields of SPEC §1 and §2 and the operators each takes. ops_devicelog lists what the
 * deprecated /v3/devicelog/ alias accepts on top (state_change lists, as it always did). */
#define EV (1u << DLOG_DIALECT_EVENTS | 1u << DLOG_DIALECT_DEVICELOG)
#define DEV (1u << DLOG_DIALECT_DEVICES)
#define OPS_RANGE (OP(DLOG_OP_LTE) | OP(DLOG_OP_GTE))

static const struct {
	const char *name;
	enum query__kind kind;
	unsigned ops;
	unsigned ops_devicelog;
	unsigned dialects; /* where the field exists */
} fields[DLOG_F_COUNT] = {
    [DLOG_F_ID] = {"id", QUERY__ID, OPS_SET, 0, EV},
    [DLOG_F_DEVICE_ID] = {"device_id", QUERY__STR, OPS_SET, 0, EV},
    [DLOG_F_DATE_TIME] = {"date_time", QUERY__TIME, OPS_DATE, 0, EV},
    [DLOG_F_EVENT_TYPE] = {"event_type", QUERY__STR, OPS_SET, 0, EV},
    [DLOG_F_DESCRIPTION] = {"description", QUERY__STR, OPS_SET, 0, EV},
    [DLOG_F_STATE_CHANGE] = {"state_change", QUERY__FLAG, OP(DLOG_OP_EQ) | OP(DLOG_OP_NEQ),
                             OP(DLOG_OP_IN) | OP(DLOG_OP_NIN), EV},
    [DLOG_F_EVENT_TYPE_DESCRIPTION] = {"event_type_description", QUERY__STR, OPS_SET, 0, EV},
    [DLOG_F_EVENT_TYPE_CATEGORY] = {"event_type_category", QUERY__STR, OPS_SET, 0, EV},
    [DLOG_F_CAMPAIGN_ID] = {"campaign_id", QUERY__STR, OPS_SET, 0, EV},
    [DLOG_F_CREATED_AT] = {"created_at", QUERY__TIME, OPS_RANGE, 0, EV | DEV},
    [DLOG_F_DEVICE_GROUP_ID] = {"device_group_id", QUERY__STR, OP(DLOG_OP_EQ) | OP(DLOG_OP_IN), 0,
                                EV},
    [DLOG_F_DEVICE_KEY] = {"id", QUERY__STR, OPS_SET, 0, DEV},
    [DLOG_F_STATE] = {"state", QUERY__STR, OPS_SET, 0, DEV},
    [DLOG_F_LAST_EVENT_TYPE] = {"last_event_type", QUERY__STR, OPS_SET, 0, DEV},
    [DLOG_F_LAST_EVENT_TYPE_DESCRIPTION] = {"last_event_type_description", QUERY__STR, OPS_SET,
                                            0, DEV},
    [DLOG_F_UPDATED_AT] = {"updated_at", QUERY__TIME, OPS_RANGE, 0, DEV},
};

static const char *const op_names[DLOG_OP_COUNT] = {
    [DLOG_OP_EQ] = "eq",   [DLOG_OP_NEQ] = "neq", [DLOG_OP_IN] = "in",
    [DLOG_OP_NIN] = "nin", [DLOG_OP_LTE] = "lte", [DLOG_OP_GTE] = "gte",
};

const char *dlog_field_name(enum dlog_field f)
{
	return (unsigned)f < DLOG_F_COUNT ? fields[f].name : "?";
}

const char *dlog_op_name(enum dlog_op op)
{
	return (unsigned)op < DLOG_OP_COUNT ? op_names[op] : "?";
}

enum query__kind query__field_kind(enum dlog_field f)
{
	return (unsigned)f < DLOG_F_COUNT ? fields[f].kind : QUERY__STR;
}

static bool word_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(s, word, n) == 0;
}

/* ---- the key ---- */

/* Resolve "field" or "field__op". Field names hold single underscores only, so the first "__"
 * ends the field. */
static int parse_key(struct query__ctx *c, const char *k, size_t kn, enum dlog_field *f,
                     enum dlog_op *op)
{
	char shown[QUERY__ECHO_MAX];
	size_t fl = 0;
	int fi = -1, oi = -1;

	while (fl < kn && !(k[fl] == '_' && fl + 1 < kn && k[fl + 1] == '_'))
		fl++;
	for (int i = 0; i < DLOG_F_COUNT && fi < 0; i++)
		if ((fields[i].dialects & (1u << c->dialect)) && word_is(k, fl, fields[i].name))
			fi = i;
	if (fi < 0) {
		query__echo(shown, sizeof(shown), sizeof(shown), k, fl);
		return query__fail(c, k, kn, "unknown filter field '%s'", shown);
	}
	if (fl == kn) {
		oi = DLOG_OP_EQ; /* bare field=value */
	} else {
		for (int i = 0; i < DLOG_OP_COUNT && oi < 0; i++)
			if (word_is(k + fl + 2, kn - fl - 2, op_names[i]))
				oi = i;
	}
	if (oi < 0) {
		query__echo(shown, sizeof(shown), sizeof(shown), k + fl, kn - fl);
		return query__fail(c, k, kn, "unknown operator '%s'; use one of %s", shown,
		                   "__eq __neq __in __nin __lte __gte");
	}
	*f = (enum dlog_field)fi;
	*op = (enum dlog_op)oi;
	return 0;
}

static bool op_allowed(const struct query__ctx *c, enum dlog_field f, enum dlog_op op)
{
	unsigned ops = fields[f].ops;

	if (c->dialect == DLOG_DIALECT_DEVICELOG)
		ops |= fields[f].ops_devicelog;
	return (ops & OP(op)) != 0;
}

/* The "not supported" message, with a hint when the other route family would take it. */
static int op_refused(struct query__ctx *c, const char *k, size_t kn, enum dlog_field f,
                      enum dlog_op op)
{
	bool elsewhere = c->dialect == DLOG_DIALECT_EVENTS && (fields[f].ops_devicelog & OP(op));

	return query__fail(c, k, kn, "operator __%s is not supported for '%s'%s", op_names[op],
	                   fields[f].name, elsewhere ? " here (only on /v3/devicelog/)" : "");
}

/* Append an empty term (values come next, so dlog_query_done can always free what is there). */
static int add_term(struct query__ctx *c, const char *k, size_t kn, struct dlog_term **out)
{
	struct dlog_query *q = c->q;

	if (q->nterms >= DLOG_MAX_TERMS)
		return query__fail(c, k, kn, "at most %d filter terms per request", DLOG_MAX_TERMS);
	if (q->nterms == c->terms_cap) {
		size_t cap = c->terms_cap ? c->terms_cap * 2 : 4;
		if (cap > DLOG_MAX_TERMS)
			cap = DLOG_MAX_TERMS;
		struct dlog_term *t = realloc(q->terms, cap * sizeof(*t));
		if (t == NULL)
			return DLOG_ENOMEM;
		q->terms = t;
		c->terms_cap = cap;
	}
	*out = &q->terms[q->nterms++];
	memset(*out, 0, sizeof(**out));
	return 0;
}

/* ---- values ---- */

static const char TIME_ADVICE[] =
    "use e.g. 2016-11-30T16:25:12.1234Z, 2016-11-30T16:25:12Z or 20161130T162512Z";

static int parse_str(struct query__ctx *c, const char *k, size_t kn, const char *v, size_t n,
                     char **out)
{
	if (n > DLOG_MAX_VALUE_LEN)
		return query__fail(c, k, kn, "value longer than %d bytes", DLOG_MAX_VALUE_LEN);
	if (!dlog_text_valid(v, n))
		return query__fail(c, k, kn, "must be valid UTF-8 without control characters");
	*out = malloc(n + 1);
	if (*out == NULL)
		return DLOG_ENOMEM;
	memcpy(*out, v, n);
	(*out)[n] = '\0';
	return 0;
}

static int parse_flag(struct query__ctx *c, const char *k, size_t kn, const char *v, size_t n,
                      bool *out)
{
	char shown[QUERY__ECHO_MAX];

	if (dlog_word_eq(v, n, "true") || dlog_word_eq(v, n, "false")) {
		*out = dlog_word_eq(v, n, "true");
		return 0;
	}
	query__echo(shown, sizeof(shown), sizeof(shown), v, n);
	return query__fail(c, k, kn, "'%s' is not a boolean; use true or false", shown);
}

/* One value (a whole value, or one item of a list) into slot i of the term. */
static int parse_value(struct query__ctx *c, const char *k, size_t kn, struct dlog_term *t,
                       size_t i, const char *v, size_t n)
{
	char shown[QUERY__ECHO_MAX];

	switch (fields[t->field].kind) {
	case QUERY__STR:
		return parse_str(c, k, kn, v, n, &t->v.strs[i]);
	case QUERY__FLAG:
		return parse_flag(c, k, kn, v, n, &t->v.flags[i]);
	case QUERY__TIME:
		if (dlog_time_parse(v, n, &t->v.times[i]) == 0)
			return 0;
		query__echo(shown, sizeof(shown), sizeof(shown), v, n);
		return query__fail(c, k, kn, "'%s' is not a date-time; %s", shown, TIME_ADVICE);
	case QUERY__ID:
		if (dlog_id_parse(v, n, &t->v.ids[i]) == 0)
			return 0;
		query__echo(shown, sizeof(shown), sizeof(shown), v, n);
		return query__fail(c, k, kn, "'%s' is not an event id (32 lowercase hex digits)",
		                   shown);
	}
	return DLOG_EINVAL;
}

/* The value array for n values of the term's kind; NULL entries for strings. */
static int alloc_values(struct dlog_term *t, size_t n)
{
	void *p = NULL;

	switch (fields[t->field].kind) {
	case QUERY__STR:
		p = t->v.strs = calloc(n, sizeof(*t->v.strs));
		break;
	case QUERY__TIME:
		p = t->v.times = calloc(n, sizeof(*t->v.times));
		break;
	case QUERY__ID:
		p = t->v.ids = calloc(n, sizeof(*t->v.ids));
		break;
	case QUERY__FLAG:
		p = t->v.flags = calloc(n, sizeof(*t->v.flags));
		break;
	}
	if (p == NULL)
		return DLOG_ENOMEM;
	t->n = n;
	return 0;
}

/* Number of values: 1, or the items of an __in/__nin list. Counted before allocating so a huge
 * list is refused without work. */
static int count_values(struct query__ctx *c, const char *k, size_t kn, const struct dlog_term *t,
                        const char *v, size_t n, size_t *count)
{
	*count = 1;
	if (t->op != DLOG_OP_IN && t->op != DLOG_OP_NIN)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == ',' && ++*count > DLOG_MAX_IN_VALUES)
			return query__fail(c, k, kn, "at most %d values in a list",
			                   DLOG_MAX_IN_VALUES);
	}
	return 0;
}

static int parse_values(struct query__ctx *c, const char *k, size_t kn, struct dlog_term *t,
                        const char *v, size_t n)
{
	bool list = t->op == DLOG_OP_IN || t->op == DLOG_OP_NIN;
	size_t count, start = 0, slot = 0;
	int rc;

	if ((rc = count_values(c, k, kn, t, v, n, &count)) != 0 ||
	    (rc = alloc_values(t, count)) != 0)
		return rc;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && !(list && v[i] == ','))
			continue;
		if (list && i == start)
			return query__fail(c, k, kn, "empty value in list");
		rc = parse_value(c, k, kn, t, slot++, v + start, i - start);
		if (rc != 0)
			return rc;
		start = i + 1;
	}
	return 0;
}

int query__parse_filter(struct query__ctx *c, const char *key, size_t klen, const char *val,
                        size_t vlen)
{
	/* Initialised because the compiler cannot see that query__fail() never returns 0. */
	enum dlog_field f = DLOG_F_ID;
	enum dlog_op op = DLOG_OP_EQ;
	struct dlog_term *t = NULL;
	int rc;

	if ((rc = parse_key(c, key, klen, &f, &op)) != 0)
		return rc;
	if (!op_allowed(c, f, op))
		return op_refused(c, key, klen, f, op);
	if ((rc = add_term(c, key, klen, &t)) != 0)
		return rc;
	t->field = f;
	t->op = op;
	return parse_values(c, key, klen, t, val, vlen);
}
