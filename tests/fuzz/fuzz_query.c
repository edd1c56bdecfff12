/* libFuzzer target for the filter grammar: whatever parses must print, parse again and print
 * the same text (SQLite fuzzinvariants idea: a parser and its printer must agree), in both
 * dialects. Printing is byte-exact per value, so equal texts mean equal queries. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "query/query.h"

/* Percent-encoding at most triples a byte, plus fixed control keys. */
#define PRINT_MAX (4 * DLOG_MAX_QUERY_LEN)

static void check_shape(const struct dlog_query *q)
{
	if (q->limit < DLOG_LIMIT_MIN || q->limit > DLOG_LIMIT_MAX || q->nterms > DLOG_MAX_TERMS)
		abort();
	for (size_t i = 0; i < q->nterms; i++) {
		const struct dlog_term *t = &q->terms[i];
		bool list = t->op == DLOG_OP_IN || t->op == DLOG_OP_NIN;
		if (t->n < 1 || t->n > DLOG_MAX_IN_VALUES || (!list && t->n != 1))
			abort();
		if ((unsigned)t->field >= DLOG_F_COUNT || (unsigned)t->op >= DLOG_OP_COUNT)
			abort();
	}
}

static void round_trip(const char *s, size_t len, enum dlog_query_dialect d)
{
	struct dlog_query q1, q2;
	struct dlog_query_error err;
	struct dlog_buf b1, b2;

	if (dlog_query_parse(s, len, d, &q1, &err) != 0)
		return;
	check_shape(&q1);
	dlog_buf_init(&b1, PRINT_MAX);
	dlog_buf_init(&b2, PRINT_MAX);
	if (dlog_query_print(&q1, &b1) != 0)
		abort();
	/* The canonical text may be longer than the input; past the input limit it is refused
	 * by design, which is not a disagreement. */
	if (b1.len <= DLOG_MAX_QUERY_LEN) {
		if (dlog_query_parse(b1.data, b1.len, d, &q2, &err) != 0)
			abort();
		check_shape(&q2);
		if (dlog_query_print(&q2, &b2) != 0 || b1.len != b2.len ||
		    memcmp(b1.data, b2.data, b1.len) != 0)
			abort();
		dlog_query_done(&q2);
	}
	dlog_buf_done(&b1);
	dlog_buf_done(&b2);
	dlog_query_done(&q1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A private copy of exactly size bytes, so reading past len is caught by ASan. */
	char *s = malloc(size ? size : 1);

	if (s == NULL)
		return 0;
	if (size > 0)
		memcpy(s, data, size);
	round_trip(s, size, DLOG_DIALECT_EVENTS);
	round_trip(s, size, DLOG_DIALECT_DEVICELOG);
	free(s);
	return 0;
}
