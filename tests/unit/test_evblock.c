/* Unit tests for store/evblock: the per-device block codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/evblock.h"

static void same(const struct evb_event *a, const struct evb_event *b)
{
	assert_int_equal(a->seq, b->seq);
	assert_int_equal(a->created, b->created);
	assert_int_equal(a->ts, b->ts);
	assert_int_equal(a->code, b->code);
	assert_int_equal(a->cat, b->cat);
	assert_int_equal(a->descr, b->descr);
	assert_int_equal(a->mtype, b->mtype);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->has_camp, b->has_camp);
	if (a->has_camp)
		assert_int_equal(a->camp, b->camp);
	if (a->extra == NULL)
		assert_null(b->extra);
	else
		assert_string_equal(a->extra, b->extra);
	if (a->idem == NULL)
		assert_null(b->idem);
	else
		assert_string_equal(a->idem, b->idem);
}

/* Random blocks, times going back and forth, extremes included: decode(encode(x)) == x. */
static void test_roundtrip(void **state)
{
	static const char *texts[] = {"{\"k\":1}", "", "retry-\xc3\xa9", "{}"};
	struct evb_event ev[EVB_MAX], out[EVB_MAX];
	struct dlog_buf b;

	(void)state;
	srand(7);
	dlog_buf_init(&b, 1 << 20);
	for (int round = 0; round < 2000; round++) {
		size_t n = 1 + (size_t)rand() % EVB_MAX, got = 0;
		int64_t seq = rand() % 3 == 0 ? INT64_MAX - 100000 : (int64_t)rand();

		for (size_t i = 0; i < n; i++) {
			struct evb_event *e = &ev[i];

			memset(e, 0, sizeof(*e));
			seq += 1 + rand() % 1000;
			e->seq = seq;
			e->created = (int64_t)rand() * 1000000 + (round == 0 ? INT64_MIN / 2 : 0);
			e->ts = i == 1 ? INT64_MIN : i == 2 ? INT64_MAX : (int64_t)rand() * 977 - 5;
			e->code = rand() % 5 == 0 ? INT64_MAX : rand();
			e->cat = rand() % 100;
			e->descr = rand() % 100000;
			e->mtype = rand() % 4;
			e->flags = rand() % 3;
			e->has_camp = rand() % 2;
			e->camp = e->has_camp ? rand() : 0;
			e->extra = rand() % 3 == 0 ? texts[rand() % 4] : NULL;
			e->idem = rand() % 4 == 0 ? texts[rand() % 4] : NULL;
		}
		dlog_buf_reset(&b);
		assert_int_equal(evb_encode(&b, ev, n), 0);
		assert_int_equal(evb_decode((const uint8_t *)b.data, b.len, out, EVB_MAX, &got), 0);
		assert_int_equal(got, n);
		for (size_t i = 0; i < n; i++)
			same(&ev[i], &out[i]);
	}
	dlog_buf_done(&b);
}

/* A typical event takes a few bytes: ids small, times close together. */
static void test_compact(void **state)
{
	struct evb_event ev[EVB_MAX];
	struct dlog_buf b;

	(void)state;
	for (int i = 0; i < EVB_MAX; i++)
		ev[i] = (struct evb_event){.seq = 9000000 + i * 97, .created = INT64_C(1790000000000000) + i * 3600000000,
					   .ts = INT64_C(1790000000000000) + i * 3599000000, .code = 12, .cat = 3,
					   .descr = 40, .mtype = 1};
	dlog_buf_init(&b, 1 << 20);
	assert_int_equal(evb_encode(&b, ev, EVB_MAX), 0);
	assert_true(b.len < (size_t)EVB_MAX * 20);
	dlog_buf_done(&b);
}

/* Every truncation of a valid block, and a text without its terminator, are refused. */
static void test_malformed(void **state)
{
	struct evb_event ev[3] = {{.seq = 5, .ts = 1, .code = 300, .extra = "{\"a\":2}"},
				  {.seq = 9, .ts = 2, .code = 1, .idem = "k1", .has_camp = true, .camp = 77},
				  {.seq = 10, .ts = 3, .code = 2, .flags = 1}};
	struct evb_event out[3];
	struct dlog_buf b;
	size_t n;

	(void)state;
	dlog_buf_init(&b, 1 << 16);
	assert_int_equal(evb_encode(&b, ev, 3), 0);
	for (size_t cut = 1; cut < b.len; cut++) {
		int rc = evb_decode((const uint8_t *)b.data, cut, out, 3, &n);
		/* a cut at an event boundary is a shorter valid block */
		if (rc == 0)
			assert_true(n < 3);
		else
			assert_int_equal(rc, DLOG_EINVAL);
	}
	/* more events than room: the rest is not silently dropped */
	assert_int_equal(evb_decode((const uint8_t *)b.data, b.len, out, 2, &n), DLOG_EINVAL);
	/* the first event's text loses its NUL */
	char *p = memchr(b.data, '}', b.len);
	assert_non_null(p);
	p[1] = 'x';
	assert_int_equal(evb_decode((const uint8_t *)b.data, b.len, out, 3, &n), DLOG_EINVAL);
	dlog_buf_done(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_compact),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
