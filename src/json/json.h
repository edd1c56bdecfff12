/* json: a streaming JSON writer onto a bounded dlog_buf.
 *
 * Values are written as rows arrive; nothing is built as a tree first. Errors are sticky: every
 * call after a failure does nothing, and dlog_jw_finish() reports the first failure, so callers
 * write a whole object and check once. Parsing JSON is jansson's job, not this module's. */
#ifndef DLOG_JSON_H
#define DLOG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define DLOG_JW_MAX_DEPTH 32

struct dlog_jw {
	struct dlog_buf *b; /* borrowed */
	int err;
	unsigned depth;
	bool need_comma[DLOG_JW_MAX_DEPTH + 1];
	bool after_key;
};

/* Start writing onto b (appends to what is there). */
void dlog_jw_init(struct dlog_jw *w, struct dlog_buf *b);
/* 0, or the first error (DLOG_ETOOBIG, DLOG_ENOMEM, DLOG_EINVAL for unbalanced nesting). */
int dlog_jw_finish(struct dlog_jw *w);

void dlog_jw_obj(struct dlog_jw *w);
void dlog_jw_obj_end(struct dlog_jw *w);
void dlog_jw_arr(struct dlog_jw *w);
void dlog_jw_arr_end(struct dlog_jw *w);
/* An object key; the next call writes its value. */
void dlog_jw_key(struct dlog_jw *w, const char *k);
/* A string value (escaped); NULL writes null. */
void dlog_jw_str(struct dlog_jw *w, const char *s);
void dlog_jw_strn(struct dlog_jw *w, const char *s, size_t n);
void dlog_jw_int(struct dlog_jw *w, int64_t v);
void dlog_jw_bool(struct dlog_jw *w, bool v);
void dlog_jw_null(struct dlog_jw *w);
/* A timestamp as "2016-11-30T16:25:12.123400Z". */
void dlog_jw_time(struct dlog_jw *w, dlog_time t);
/* Already-serialised JSON text (trusted: produced by this program or by jansson). */
void dlog_jw_raw(struct dlog_jw *w, const char *json, size_t n);

/* key + value shorthands */
void dlog_jw_kstr(struct dlog_jw *w, const char *k, const char *s);
void dlog_jw_kint(struct dlog_jw *w, const char *k, int64_t v);
void dlog_jw_kbool(struct dlog_jw *w, const char *k, bool v);
void dlog_jw_ktime(struct dlog_jw *w, const char *k, dlog_time t);

/* A value written straight into the buffer, for hot paths (a page of events): the separator is
 * written, room for at most max bytes made, and the place to write returned (NULL after an
 * error). dlog_jw_direct_end() takes the end of what was written, which must be valid JSON. */
char *dlog_jw_direct(struct dlog_jw *w, size_t max);
void dlog_jw_direct_end(struct dlog_jw *w, char *end);
/* s escaped as JSON string content (no quotes) at p, which has room for 6 * n bytes; returns
 * the end of what was written. */
char *dlog_json_escape_to(char *p, const char *s, size_t n);

/* Append s escaped as JSON string content (no quotes) to b. */
int dlog_json_escape(struct dlog_buf *b, const char *s, size_t n);

#endif
