/* query: private declarations shared by the files of the query module (query.h is the public
 * side). query.c splits the string and handles the control keys, query_term.c turns one filter
 * parameter into a term, query_print.c prints a parsed query back. */
#ifndef DLOG_QUERY_INT_H
#define DLOG_QUERY_INT_H

#include "query/query.h"

/* How a field's values are stored in struct dlog_term's union. */
enum query__kind { QUERY__STR, QUERY__TIME, QUERY__ID, QUERY__FLAG };

/* State of one dlog_query_parse call. */
struct query__ctx {
	enum dlog_query_dialect dialect;
	struct dlog_query *q;         /* being filled; released by the caller on error */
	struct dlog_query_error *err; /* never NULL here */
	size_t terms_cap;             /* allocated entries of q->terms */
};

/* Longest piece of client text echoed in an error message: enough to recognise the value,
 * short enough that the message (struct dlog_query_error) always has room for the advice. */
#define QUERY__ECHO_MAX 80

/* Fill c->err (name = the parameter as the client wrote it, sanitised) and return DLOG_EINVAL. */
int query__fail(struct query__ctx *c, const char *name, size_t name_len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Copy s[0..len) into out[cap] for showing it back to a client: bytes that are not valid UTF-8
 * text, and control characters, become '?'; text past the room (or past max bytes) is cut at a
 * character boundary and marked "...". Always NUL-terminates; cap must be at least 4. */
void query__echo(char *out, size_t cap, size_t max, const char *s, size_t len);

/* The value kind of a field. */
enum query__kind query__field_kind(enum dlog_field f);

/* Parse one decoded filter parameter (key field or field__op, and its value) into a new term
 * appended to c->q. 0, DLOG_EINVAL (c->err filled) or DLOG_ENOMEM. */
int query__parse_filter(struct query__ctx *c, const char *key, size_t klen, const char *val,
                        size_t vlen);

#endif
