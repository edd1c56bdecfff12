/* query: printing a parsed query back as its canonical query string. */
#include "query/query_int.h"

#include <string.h>

static bool unreserved(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/* Percent-encode every byte but RFC 3986's unreserved ones, so no value can be taken for a
 * separator ('&', '=', ',', '+') when the text is parsed again. Encoded in chunks to spare a
 * call per byte. */
static int put_encoded(struct dlog_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	char chunk[192];
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (o > sizeof(chunk) - 3) {
			int rc = dlog_buf_add(b, chunk, o);
			if (rc != 0)
				return rc;
			o = 0;
		}
		if (unreserved(ch)) {
			chunk[o++] = (char)ch;
		} else {
			chunk[o++] = '%';
			chunk[o++] = hex[ch >> 4];
			chunk[o++] = hex[ch & 15];
		}
	}
	return dlog_buf_add(b, chunk, o);
}

static int put_value(struct dlog_buf *b, const struct dlog_term *t, size_t i)
{
	char tmp[DLOG_TIME_STRLEN > DLOG_ID_STRLEN ? DLOG_TIME_STRLEN : DLOG_ID_STRLEN];

	switch (query__field_kind(t->field)) {
	case QUERY__STR:
		return put_encoded(b, t->v.strs[i], strlen(t->v.strs[i]));
	case QUERY__TIME:
		dlog_time_format(t->v.times[i], tmp);
		return put_encoded(b, tmp, strlen(tmp));
	case QUERY__ID:
		dlog_id_format(&t->v.ids[i], tmp);
		return dlog_buf_adds(b, tmp);
	case QUERY__FLAG:
		return dlog_buf_adds(b, t->v.flags[i] ? "true" : "false");
	}
	return DLOG_EINVAL;
}

static int put_term(struct dlog_buf *b, const struct dlog_term *t)
{
	int rc = dlog_buf_printf(b, "%s__%s=", dlog_field_name(t->field), dlog_op_name(t->op));

	for (size_t i = 0; rc == 0 && i < t->n; i++) {
		if (i > 0)
			rc = dlog_buf_addc(b, ',');
		if (rc == 0)
			rc = put_value(b, t, i);
	}
	return rc;
}

static int put_controls(struct dlog_buf *b, const struct dlog_query *q)
{
	char id[DLOG_ID_STRLEN];
	int rc = dlog_buf_printf(b, "limit=%d&order=%s", q->limit,
	                         q->order == DLOG_ORDER_DESC ? "DESC" : "ASC");

	if (rc == 0 && q->has_after && q->after_key != NULL) {
		rc = dlog_buf_adds(b, "&after=");
		if (rc == 0)
			rc = put_encoded(b, q->after_key, strlen(q->after_key));
	} else if (rc == 0 && q->has_after) {
		dlog_id_format(&q->after, id);
		rc = dlog_buf_printf(b, "&after=%s", id);
	}
	if (rc == 0 && q->include_total)
		rc = dlog_buf_adds(b, "&include=total_count");
	return rc;
}

int dlog_query_print(const struct dlog_query *q, struct dlog_buf *b)
{
	size_t start = b->len;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < q->nterms; i++) {
		rc = put_term(b, &q->terms[i]);
		if (rc == 0)
			rc = dlog_buf_addc(b, '&');
	}
	if (rc == 0)
		rc = put_controls(b, q);
	if (rc != 0) {
		/* All or nothing: a half-printed query must not look like a shorter one. */
		b->len = start;
		if (b->data != NULL)
			b->data[start] = '\0';
	}
	return rc;
}
