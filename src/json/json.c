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

int dlog_json_escape(struct dlog_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0; /* start of the pending run of bytes that need no escaping */
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6];
		size_t elen = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
		}
		rc = dlog_buf_add(b, s + run, i - run);
		if (rc == 0)
			rc = dlog_buf_add(b, esc, elen);
		run = i + 1;
	}
	if (rc == 0)
		rc = dlog_buf_add(b, s + run, n - run);
	return rc;
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
