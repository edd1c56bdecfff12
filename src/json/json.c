/* Streaming JSON writer; see json.h. */
#include "json/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void dlog_jw_init(struct dlog_jw *w, struct dlog_buf *b)
{
	memset(w, 0, sizeof(*w));
	w->b = b;
}

int dlog_jw_finish(struct dlog_jw *w)
{
	if (w->err == 0 && (w->depth != 0 || w->after_key))
		w->err = DLOG_EINVAL;
	return w->err;
}

static void put(struct dlog_jw *w, const char *s, size_t n)
{
	if (w->err == 0)
		w->err = dlog_buf_add(w->b, s, n);
}

/* Separator before a value or key at the current level. */
static void before_value(struct dlog_jw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->need_comma[w->depth])
		put(w, ",", 1);
	w->need_comma[w->depth] = true;
}

static void open_level(struct dlog_jw *w, char c)
{
	before_value(w);
	if (w->depth >= DLOG_JW_MAX_DEPTH) {
		if (w->err == 0)
			w->err = DLOG_EINVAL;
		return;
	}
	put(w, &c, 1);
	w->depth++;
	w->need_comma[w->depth] = false;
}

static void close_level(struct dlog_jw *w, char c)
{
	if (w->depth == 0 || w->after_key) {
		if (w->err == 0)
			w->err = DLOG_EINVAL;
		return;
	}
	w->depth--;
	put(w, &c, 1);
}

void dlog_jw_obj(struct dlog_jw *w)
{
	open_level(w, '{');
}

void dlog_jw_obj_end(struct dlog_jw *w)
{
	close_level(w, '}');
}

void dlog_jw_arr(struct dlog_jw *w)
{
	open_level(w, '[');
}

void dlog_jw_arr_end(struct dlog_jw *w)
{
	close_level(w, ']');
}

static bool needs_escape(unsigned char c)
{
	return c < 0x20 || c == '"' || c == '\\';
}

/* True when none of w's eight bytes needs escaping. Each term is the classic "some byte is
 * less than n" test (exact for the whole word, n <= 128): below 0x20, or equal to the quote
 * or the backslash once xored to zero. Byte order does not matter. */
static bool word_clean(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	uint64_t quote = w ^ (ones * '"'), bslash = w ^ (ones * '\\');

	return ((((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) | ((bslash - ones) & ~bslash)) &
		high) == 0;
}

/* Length of s's leading bytes that need no escaping: eight at a time, then one at a time up
 * to the first that does. Texts are mostly clean, and a page of events is mostly texts:
 * the byte loop alone was 6-7 % of a page's time. */
static size_t clean_span(const char *s, size_t n)
{
	size_t i = 0;

	for (; n - i >= 8; i += 8) {
		uint64_t w;

		memcpy(&w, s + i, 8);
		if (!word_clean(w))
			break;
	}
	while (i < n && !needs_escape((unsigned char)s[i]))
		i++;
	return i;
}

char *dlog_json_escape_to(char *p, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (;;) {
		size_t k = clean_span(s, n);

		memcpy(p, s, k);
		p += k;
		if (k == n)
			return p;
		unsigned char c = (unsigned char)s[k];

		s += k + 1;
		n -= k + 1;
		*p++ = '\\';
		switch (c) {
		case '"': *p++ = '"'; break;
		case '\\': *p++ = '\\'; break;
		case '\n': *p++ = 'n'; break;
		case '\r': *p++ = 'r'; break;
		case '\t': *p++ = 't'; break;
		default:
			memcpy(p, "u00", 3);
			p[3] = hex[c >> 4];
			p[4] = hex[c & 15];
			p += 5;
		}
	}
}

int dlog_json_escape(struct dlog_buf *b, const char *s, size_t n)
{
	size_t clean = clean_span(s, n);
	int rc;

	if (clean == n) /* the common case: nothing to escape */
		return dlog_buf_add(b, s, n);
	rc = dlog_buf_add(b, s, clean);
	/* the rest a slice at a time, so a buffer near its maximum takes exactly what fits */
	for (size_t i = clean; i < n && rc == 0;) {
		char tmp[6 * 256];
		size_t k = n - i < 256 ? n - i : 256;

		rc = dlog_buf_add(b, tmp, (size_t)(dlog_json_escape_to(tmp, s + i, k) - tmp));
		i += k;
	}
	return rc;
}

char *dlog_jw_direct(struct dlog_jw *w, size_t max)
{
	before_value(w);
	if (w->err == 0)
		w->err = dlog_buf_reserve(w->b, max);
	return w->err == 0 ? w->b->data + w->b->len : NULL;
}

void dlog_jw_direct_end(struct dlog_jw *w, char *end)
{
	if (w->err != 0 || end == NULL)
		return;
	w->b->len = (size_t)(end - w->b->data);
	w->b->data[w->b->len] = '\0';
}

static void put_string(struct dlog_jw *w, const char *s, size_t n)
{
	put(w, "\"", 1);
	if (w->err == 0)
		w->err = dlog_json_escape(w->b, s, n);
	put(w, "\"", 1);
}

void dlog_jw_key(struct dlog_jw *w, const char *k)
{
	before_value(w);
	put_string(w, k, strlen(k));
	put(w, ":", 1);
	w->after_key = true;
}

void dlog_jw_strn(struct dlog_jw *w, const char *s, size_t n)
{
	before_value(w);
	put_string(w, s, n);
}

void dlog_jw_str(struct dlog_jw *w, const char *s)
{
	if (s == NULL)
		dlog_jw_null(w);
	else
		dlog_jw_strn(w, s, strlen(s));
}

void dlog_jw_int(struct dlog_jw *w, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);

	before_value(w);
	put(w, tmp, (size_t)n);
}

void dlog_jw_bool(struct dlog_jw *w, bool v)
{
	before_value(w);
	if (v)
		put(w, "true", 4);
	else
		put(w, "false", 5);
}

void dlog_jw_null(struct dlog_jw *w)
{
	before_value(w);
	put(w, "null", 4);
}

void dlog_jw_time(struct dlog_jw *w, dlog_time t)
{
	char tmp[DLOG_TIME_STRLEN];

	dlog_time_format(t, tmp);
	dlog_jw_strn(w, tmp, strlen(tmp));
}

void dlog_jw_raw(struct dlog_jw *w, const char *json, size_t n)
{
	before_value(w);
	put(w, json, n);
}

void dlog_jw_kstr(struct dlog_jw *w, const char *k, const char *s)
{
	dlog_jw_key(w, k);
	dlog_jw_str(w, s);
}

void dlog_jw_kint(struct dlog_jw *w, const char *k, int64_t v)
{
	dlog_jw_key(w, k);
	dlog_jw_int(w, v);
}

void dlog_jw_kbool(struct dlog_jw *w, const char *k, bool v)
{
	dlog_jw_key(w, k);
	dlog_jw_bool(w, v);
}

void dlog_jw_ktime(struct dlog_jw *w, const char *k, dlog_time t)
{
	dlog_jw_key(w, k);
	dlog_jw_time(w, t);
}
