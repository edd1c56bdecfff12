/* query: splitting the query string, control keys, errors and cleanup; see query.h. */
#include "query/query_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"

/* ---- errors ---- */

int query__fail(struct query__ctx *c, const char *name, size_t name_len, const char *fmt, ...)
{
	va_list ap;

	query__echo(c->err->name, sizeof(c->err->name), sizeof(c->err->name), name, name_len);
	va_start(ap, fmt);
	vsnprintf(c->err->message, sizeof(c->err->message), fmt, ap);
	va_end(ap);
	return DLOG_EINVAL;
}

/* Bytes of the character at s[0..len) if it is valid text, else 0. Valid UTF-8 is prefix-free,
 * so the one length that validates is the character's. */
static size_t text_char_len(const char *s, size_t len)
{
	for (size_t k = 1; k <= 4 && k <= len; k++)
		if (dlog_text_valid(s, k))
			return k;
	return 0;
}

void query__echo(char *out, size_t cap, size_t max, const char *s, size_t len)
{
	size_t limit = max < cap ? max : cap;
	/* Sanitising replaces byte for byte, so the output is as long as the input: when that
	 * fits, all of it is shown; else as much as leaves room for "..." and the NUL. */
	size_t room = len < limit ? len : limit - 4;
	size_t o = 0, i = 0;

	while (i < len) {
		size_t k = text_char_len(s + i, len - i);
		size_t w = k ? k : 1;
		if (o + w > room)
			break;
		if (k)
			memcpy(out + o, s + i, k);
		else
			out[o] = '?';
		o += w;
		i += w;
	}
	if (i < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* ---- percent-decoding ---- */

static int hex_nibble(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int dlog_url_decode(const char *s, size_t len, char **out, size_t *out_len)
{
	char *d = malloc(len + 1);
	size_t o = 0;

	*out = NULL;
	if (d == NULL)
		return DLOG_ENOMEM;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			d[o++] = ' ';
		} else if (s[i] != '%') {
			d[o++] = s[i];
		} else {
			int hi = i + 2 < len ? hex_nibble(s[i + 1]) : -1;
			int lo = hi >= 0 ? hex_nibble(s[i + 2]) : -1;
			if (lo < 0) {
				free(d);
				return DLOG_EINVAL;
			}
			d[o++] = (char)(hi << 4 | lo);
			i += 2;
		}
	}
	d[o] = '\0';
	*out = d;
	if (out_len != NULL)
		*out_len = o;
	return 0;
}

/* ---- control keys ---- */

/* Syntactically an integer (optional '-', then digits), whatever its size. */
static bool looks_integer(const char *v, size_t n)
{
	size_t i = n > 0 && v[0] == '-';

	if (i == n)
		return false;
	for (; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return false;
	return true;
}

static int parse_limit(struct query__ctx *c, const char *k, size_t kn, const char *v, size_t n)
{
	int64_t x;

	if (dlog_parse_i64(v, n, INT64_MIN, INT64_MAX, &x) != 0) {
		/* SPEC §1 clamps rather than rejects, so a 30-digit limit is just "the most". */
		if (!looks_integer(v, n))
			return query__fail(c, k, kn,
			                   "limit must be an integer (clamped into %d..%d)",
			                   DLOG_LIMIT_MIN, DLOG_LIMIT_MAX);
		x = v[0] == '-' ? INT64_MIN : INT64_MAX;
	}
	if (x < DLOG_LIMIT_MIN)
		x = DLOG_LIMIT_MIN;
	if (x > DLOG_LIMIT_MAX)
		x = DLOG_LIMIT_MAX;
	c->q->limit = (int)x;
	return 0;
}

static int parse_order(struct query__ctx *c, const char *k, size_t kn, const char *v, size_t n)
{
	if (dlog_word_eq(v, n, "ASC"))
		c->q->order = DLOG_ORDER_ASC;
	else if (dlog_word_eq(v, n, "DESC"))
		c->q->order = DLOG_ORDER_DESC;
	else
		return query__fail(c, k, kn, "order must be ASC or DESC");
	return 0;
}

static int parse_after(struct query__ctx *c, const char *k, size_t kn, const char *v, size_t n)
{
	if (c->dialect == DLOG_DIALECT_DEVICES || c->dialect == DLOG_DIALECT_PLAIN) {
		/* devices page by device id, groups by group id: text names a position */
		if (n == 0 || n > DLOG_MAX_VALUE_LEN || !dlog_text_valid(v, n))
			return query__fail(c, k, kn, "after must be a device id");
		free(c->q->after_key);
		c->q->after_key = strndup(v, n);
		if (c->q->after_key == NULL)
			return DLOG_ENOMEM;
		c->q->has_after = true;
		return 0;
	}
	if (dlog_id_parse(v, n, &c->q->after) != 0)
		return query__fail(c, k, kn, "after must be an event id (32 lowercase hex digits)");
	memcpy(c->q->after_text, v, n);
	c->q->after_text[n] = '\0';
	c->q->has_after = true;
	return 0;
}

/* include: a comma list of words; unknown words are ignored (SPEC §1) so newer clients asking
 * for more do not break. */
static int parse_include(struct query__ctx *c, const char *k, size_t kn, const char *v, size_t n)
{
	size_t start = 0;

	(void)k;
	(void)kn;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && v[i] != ',')
			continue;
		const char *w = v + start;
		size_t wl = i - start;
		if (dlog_word_eq(w, wl, "total_count") || dlog_word_eq(w, wl, "totalCount"))
			c->q->include_total = true;
		start = i + 1;
	}
	return 0;
}

static int parse_string(struct query__ctx *c, const char *s, size_t len, bool nested);

/* filter=: the legacy form, a query string of filters only, already decoded once. */
static int parse_filter_param(struct query__ctx *c, const char *k, size_t kn, const char *v,
                              size_t n)
{
	(void)k;
	(void)kn;
	return parse_string(c, v, n, true);
}

typedef int control_fn(struct query__ctx *c, const char *k, size_t kn, const char *v, size_t n);

static const struct {
	const char *name;
	control_fn *parse;
} controls[] = {
    {"limit", parse_limit},     {"order", parse_order},         {"after", parse_after},
    {"include", parse_include}, {"filter", parse_filter_param},
};

/* Index in controls[] of key k, or -1 when k is a filter parameter. */
static int find_control(const char *k, size_t kn)
{
	for (size_t i = 0; i < sizeof(controls) / sizeof(controls[0]); i++)
		if (strlen(controls[i].name) == kn && memcmp(controls[i].name, k, kn) == 0)
			return (int)i;
	return -1;
}

/* ---- splitting ---- */

/* One decoded key=value pair: a control key (top level only) or a filter term. */
static int dispatch(struct query__ctx *c, const char *k, size_t kn, const char *v, size_t vn,
                    bool nested)
{
	int i = find_control(k, kn);

	if (i < 0)
		return query__parse_filter(c, k, kn, v, vn);
	if (nested)
		return query__fail(c, k, kn,
		                   "'%s' is not allowed inside filter=, only filter terms",
		                   controls[i].name);
	return controls[i].parse(c, k, kn, v, vn);
}

/* One '&'-separated piece, still encoded. */
static int parse_piece(struct query__ctx *c, const char *p, size_t n, bool nested)
{
	const char *eq = memchr(p, '=', n);
	size_t kraw = eq ? (size_t)(eq - p) : n;
	char *k = NULL, *v = NULL;
	size_t kn, vn;
	int rc;

	rc = dlog_url_decode(p, kraw, &k, &kn);
	if (rc == DLOG_EINVAL) {
		rc = query__fail(c, p, kraw, "broken percent-escape in parameter name");
		goto out;
	}
	if (rc != 0)
		goto out;
	rc = eq ? dlog_url_decode(eq + 1, n - kraw - 1, &v, &vn) : dlog_url_decode("", 0, &v, &vn);
	if (rc == DLOG_EINVAL)
		rc = query__fail(c, k, kn, "broken percent-escape in value (use %%25 for '%%')");
	if (rc == 0)
		rc = dispatch(c, k, kn, v, vn, nested);
out:
	free(k);
	free(v);
	return rc;
}

static int parse_string(struct query__ctx *c, const char *s, size_t len, bool nested)
{
	size_t start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '&')
			continue;
		if (i > start) {
			int rc = parse_piece(c, s + start, i - start, nested);
			if (rc != 0)
				return rc;
		}
		start = i + 1;
	}
	return 0;
}

/* ---- public ---- */

int dlog_query_parse(const char *qs, size_t len, enum dlog_query_dialect dialect,
                     struct dlog_query *q, struct dlog_query_error *err)
{
	struct dlog_query_error dummy;
	struct query__ctx c = {.dialect = dialect, .q = q, .err = err ? err : &dummy};
	int rc;

	memset(q, 0, sizeof(*q));
	q->limit = DLOG_LIMIT_DEFAULT;
	q->order = DLOG_ORDER_ASC;
	memset(c.err, 0, sizeof(*c.err));
	if (len > DLOG_MAX_QUERY_LEN)
		return query__fail(&c, "query", 5, "query string longer than %d bytes",
		                   DLOG_MAX_QUERY_LEN);
	rc = parse_string(&c, qs, len, false);
	if (rc == DLOG_ENOMEM)
		query__fail(&c, "", 0, "out of memory");
	if (rc != 0)
		dlog_query_done(q);
	return rc;
}

static void term_free(struct dlog_term *t)
{
	switch (query__field_kind(t->field)) {
	case QUERY__STR:
		for (size_t i = 0; t->v.strs != NULL && i < t->n; i++)
			free(t->v.strs[i]);
		free(t->v.strs);
		break;
	case QUERY__TIME:
		free(t->v.times);
		break;
	case QUERY__ID:
		free(t->v.ids);
		break;
	case QUERY__FLAG:
		free(t->v.flags);
		break;
	}
}

void dlog_query_done(struct dlog_query *q)
{
	if (q == NULL)
		return;
	for (size_t i = 0; q->terms != NULL && i < q->nterms; i++)
		term_free(&q->terms[i]);
	free(q->terms);
	free(q->after_key);
	memset(q, 0, sizeof(*q));
}
