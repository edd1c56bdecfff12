/* Unit tests for base/: errors, time, buffers, hex, ids, UTF-8, numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/base.h"

#define T2016 INT64_C(1480523112000000) /* 2016-11-30T16:25:12Z */

static int parse_time(const char *s, dlog_time *out)
{
	return dlog_time_parse(s, strlen(s), out);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(dlog_strerror(DLOG_OK), "ok");
	assert_string_equal(dlog_strerror(DLOG_EINVAL), "invalid");
	assert_string_equal(dlog_strerror(DLOG_ENOTFOUND), "not found");
	assert_non_null(dlog_strerror(DLOG_EHDRTOOBIG));
	assert_string_equal(dlog_strerror(-999), "unknown error");
	assert_string_equal(dlog_strerror(42), "unknown error");
}

static void test_time_now(void **state)
{
	(void)state;
	dlog_time a = dlog_time_now();
	/* After 2020-01-01 and before 2100-01-01. */
	assert_true(a > INT64_C(1577836800000000));
	assert_true(a < INT64_C(4102444800000000));
	assert_true(dlog_time_now() >= a);
}

static void test_time_parse_forms(void **state)
{
	dlog_time t;

	(void)state;
	assert_int_equal(parse_time("2016-11-30T16:25:12Z", &t), 0);
	assert_int_equal(t, T2016);
	assert_int_equal(parse_time("20161130T162512Z", &t), 0);
	assert_int_equal(t, T2016);
	assert_int_equal(parse_time("2016-11-30T16:25:12.1234Z", &t), 0);
	assert_int_equal(t, T2016 + 123400);
	assert_int_equal(parse_time("2016-11-30T16:25:12.1Z", &t), 0);
	assert_int_equal(t, T2016 + 100000);
	assert_int_equal(parse_time("2016-11-30T16:25:12.000001Z", &t), 0);
	assert_int_equal(t, T2016 + 1);
	assert_int_equal(parse_time("2016-11-30T16:25:12.999999Z", &t), 0);
	assert_int_equal(t, T2016 + 999999);
	assert_int_equal(parse_time("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(parse_time("2024-02-29T00:00:00Z", &t), 0);
	assert_int_equal(t, INT64_C(1709164800000000));
	assert_int_equal(parse_time("2000-02-29T00:00:00Z", &t), 0);
	assert_int_equal(parse_time("2000-03-01T00:00:00Z", &t), 0);
	assert_int_equal(t, INT64_C(951868800000000));
	assert_int_equal(parse_time("9999-12-31T23:59:59.999999Z", &t), 0);
	assert_int_equal(t, INT64_C(253402300799999999));
}

static void test_time_parse_invalid(void **state)
{
	static const char *const bad[] = {
	    "2016-02-30T00:00:00Z",         /* Feb 30 */
	    "2023-02-29T00:00:00Z",         /* not a leap year */
	    "1900-02-29T00:00:00Z",         /* century, not a leap year (and before 1970) */
	    "2100-02-29T00:00:00Z",         /* century, not a leap year */
	    "2016-04-31T00:00:00Z",         /* April has 30 days */
	    "2016-13-01T00:00:00Z",         /* month 13 */
	    "2016-00-01T00:00:00Z",         /* month 0 */
	    "2016-01-00T00:00:00Z",         /* day 0 */
	    "2016-11-30T24:00:00Z",         /* hour 24 */
	    "2016-11-30T16:60:00Z",         /* minute 60 */
	    "2016-11-30T16:25:60Z",         /* leap second */
	    "2016-11-30T16:25:12.1234567Z", /* 7 fraction digits */
	    "2016-11-30T16:25:12.Z",        /* dot without digits */
	    "2016-11-30T16:25:12",          /* missing Z */
	    "2016-11-30T16:25:12.123",      /* missing Z after fraction */
	    "2016-11-30T16:25:12+00:00",    /* offset instead of Z */
	    "2016-11-30T16:25:12Zjunk",     /* trailing garbage */
	    "2016-11-30T16:25:12ZZ",        /* trailing garbage */
	    "2016-11-30t16:25:12z",         /* lowercase */
	    "2016-11-30 16:25:12Z",         /* space separator */
	    "20161130T162512",              /* basic without Z */
	    "20161130T162512.5Z",           /* basic with fraction */
	    "20161130162512Z",              /* basic without T */
	    "1969-12-31T23:59:59Z",         /* before the epoch */
	    "0000-01-01T00:00:00Z",
	    "2016-1-30T16:25:12Z",
	    "2016-11-30T16:25:1aZ",
	    "-016-11-30T16:25:12Z",
	    "Mon Nov 28 2026 10:00:00 GMT+0000 (Coordinated Universal Time)",
	    "",
	    "Z",
	};
	dlog_time t = 7;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_time(bad[i], &t) != DLOG_EINVAL)
			fail_msg("accepted '%s'", bad[i]);
	}
	assert_int_equal(t, 7); /* untouched on failure */
}

static void test_time_parse_bounded(void **state)
{
	/* Never reads past len: a valid time followed by more text parses when cut to length,
	 * and a cut-short buffer (no NUL in it) is refused without reading beyond. */
	const char buf[] = "2016-11-30T16:25:12.5Zxxxx";
	char *heap = malloc(20);
	dlog_time t;

	(void)state;
	assert_int_equal(dlog_time_parse(buf, 22, &t), 0);
	assert_int_equal(t, T2016 + 500000);
	assert_int_equal(dlog_time_parse(buf, 21, &t), DLOG_EINVAL);
	assert_int_equal(dlog_time_parse(buf, 26, &t), DLOG_EINVAL);
	assert_non_null(heap);
	memcpy(heap, "2016-11-30T16:25:12Z", 20); /* exactly 20 bytes, no NUL */
	assert_int_equal(dlog_time_parse(heap, 20, &t), 0);
	assert_int_equal(t, T2016);
	for (size_t n = 0; n < 20; n++)
		assert_int_equal(dlog_time_parse(heap, n, &t), DLOG_EINVAL);
	free(heap);
	assert_int_equal(dlog_time_parse(NULL, 0, &t), DLOG_EINVAL);
}

static void test_time_format(void **state)
{
	char buf[DLOG_TIME_STRLEN];
	dlog_time t;

	(void)state;
	assert_string_equal(dlog_time_format(T2016 + 123400, buf), "2016-11-30T16:25:12.123400Z");
	assert_string_equal(dlog_time_format(T2016, buf), "2016-11-30T16:25:12.000000Z");
	assert_string_equal(dlog_time_format(0, buf), "1970-01-01T00:00:00.000000Z");
	assert_string_equal(dlog_time_format(INT64_C(253402300799999999), buf),
	                    "9999-12-31T23:59:59.999999Z");
	assert_string_equal(dlog_time_format(INT64_C(1709164800000000) - 1, buf),
	                    "2024-02-28T23:59:59.999999Z");
	/* Out of range clamps to the parseable range rather than overflowing the buffer. */
	assert_string_equal(dlog_time_format(-1, buf), "1970-01-01T00:00:00.000000Z");
	assert_string_equal(dlog_time_format(INT64_MAX, buf), "9999-12-31T23:59:59.999999Z");
	assert_int_equal(strlen(dlog_time_format(INT64_MIN, buf)), DLOG_TIME_STRLEN - 1);

	/* Round trip over a spread of instants, leap days included. */
	for (int64_t x = 0; x < INT64_C(253402300799999999); x += INT64_C(3777777777777)) {
		dlog_time_format(x, buf);
		assert_int_equal(dlog_time_parse(buf, strlen(buf), &t), 0);
		assert_int_equal(t, x);
	}
	for (int64_t day = 0; day < 2932897; day += 13) {
		dlog_time x = day * INT64_C(86400000000) + 86399999999;
		dlog_time_format(x, buf);
		assert_int_equal(dlog_time_parse(buf, strlen(buf), &t), 0);
		assert_int_equal(t, x);
	}
}

static void test_buf_basic(void **state)
{
	struct dlog_buf b;
	size_t len;

	(void)state;
	dlog_buf_init(&b, 1000);
	assert_null(b.data);
	assert_int_equal(dlog_buf_add(&b, "", 0), 0);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	assert_int_equal(dlog_buf_adds(&b, "abc"), 0);
	assert_int_equal(dlog_buf_addc(&b, 'd'), 0);
	assert_int_equal(dlog_buf_printf(&b, "-%d-%s", 42, "x"), 0);
	assert_int_equal(b.len, 9);
	assert_string_equal(b.data, "abcd-42-x");
	/* past the room it has (the buffer grows) and past max (unchanged) */
	assert_int_equal(dlog_buf_printf(&b, "%300s|", "y"), 0);
	assert_int_equal(b.len, 310);
	assert_string_equal(b.data + 308, "y|");
	assert_int_equal(dlog_buf_printf(&b, "%700s", "z"), DLOG_ETOOBIG);
	assert_int_equal(b.len, 310);
	assert_int_equal(strlen(b.data), 310);
	assert_int_equal(dlog_buf_printf(&b, "%689s", "w"), 0);
	assert_int_equal(b.len, 999);
	assert_int_equal(dlog_buf_printf(&b, "%s", "ab"), DLOG_ETOOBIG);
	assert_int_equal(strlen(b.data), 999);
	assert_int_equal(dlog_buf_printf(&b, "%s", "a"), 0);
	assert_int_equal(b.len, 1000);
	dlog_buf_reset(&b);
	{
		static const int64_t v[] = {0, 7, -5, 1234567890123, INT64_MAX, INT64_MIN};
		char want[32];

		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
			dlog_buf_reset(&b);
			assert_int_equal(dlog_buf_add_i64(&b, v[i]), 0);
			snprintf(want, sizeof(want), "%lld", (long long)v[i]);
			assert_string_equal(b.data, want);
		}
	}
	dlog_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(dlog_buf_adds(&b, "xyz"), 0);
	char *p = dlog_buf_steal(&b, &len);
	assert_string_equal(p, "xyz");
	assert_int_equal(len, 3);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	free(p);
	assert_null(dlog_buf_steal(&b, &len));
	assert_int_equal(len, 0);
	dlog_buf_done(&b);
	dlog_buf_done(&b);
	dlog_buf_done(NULL);
}

static void test_buf_max(void **state)
{
	struct dlog_buf b;
	char big[300];

	(void)state;
	memset(big, 'x', sizeof(big));
	dlog_buf_init(&b, 10);
	assert_int_equal(dlog_buf_add(&b, big, 8), 0);
	assert_true(b.cap <= 11);
	assert_int_equal(dlog_buf_add(&b, "abc", 3), DLOG_ETOOBIG);
	assert_int_equal(b.len, 8); /* unchanged */
	assert_memory_equal(b.data, "xxxxxxxx", 9);
	assert_int_equal(dlog_buf_printf(&b, "%d", 123), DLOG_ETOOBIG);
	assert_int_equal(b.len, 8);
	assert_int_equal(b.data[8], '\0');
	assert_int_equal(dlog_buf_add(&b, "ab", 2), 0); /* exactly max */
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "xxxxxxxxab");
	assert_int_equal(dlog_buf_addc(&b, 'z'), DLOG_ETOOBIG);
	assert_int_equal(dlog_buf_add(&b, "", 0), 0);
	assert_int_equal(b.cap, 11);
	dlog_buf_done(&b);

	/* Growth doubles but stops at max + 1. */
	dlog_buf_init(&b, 200);
	for (int i = 0; i < 200; i++)
		assert_int_equal(dlog_buf_addc(&b, 'y'), 0);
	assert_int_equal(b.len, 200);
	assert_int_equal(b.cap, 201);
	assert_int_equal(dlog_buf_addc(&b, 'y'), DLOG_ETOOBIG);
	assert_int_equal(dlog_buf_add(&b, big, SIZE_MAX), DLOG_ETOOBIG);
	dlog_buf_done(&b);

	/* A huge maximum does not overflow the size arithmetic. */
	dlog_buf_init(&b, SIZE_MAX);
	assert_int_equal(dlog_buf_add(&b, big, sizeof(big)), 0);
	assert_int_equal(dlog_buf_add(&b, big, SIZE_MAX), DLOG_ETOOBIG);
	assert_int_equal(b.len, sizeof(big));
	dlog_buf_done(&b);

	dlog_buf_init(&b, 0);
	assert_int_equal(dlog_buf_addc(&b, 'a'), DLOG_ETOOBIG);
	assert_int_equal(dlog_buf_add(&b, "", 0), 0);
	assert_string_equal(b.data, "");
	dlog_buf_done(&b);
}

static void test_hex(void **state)
{
	const uint8_t in[] = {0x00, 0x9f, 0xab, 0xff};
	char out[9];
	uint64_t v;

	(void)state;
	dlog_hex_encode(in, sizeof(in), out);
	assert_string_equal(out, "009fabff");
	dlog_hex_encode(in, 0, out);
	assert_string_equal(out, "");
	assert_int_equal(dlog_hex_u64("0123456789abcdef", 16, &v), 0);
	assert_true(v == UINT64_C(0x0123456789abcdef));
	assert_int_equal(dlog_hex_u64("FFFFFFFFFFFFFFFF", 16, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(dlog_hex_u64("0123456789abcde", 15, &v), DLOG_EINVAL);
	assert_int_equal(dlog_hex_u64("0123456789abcdef0", 17, &v), DLOG_EINVAL);
	assert_int_equal(dlog_hex_u64("0123456789abcdeg", 16, &v), DLOG_EINVAL);
}

static void test_id(void **state)
{
	struct dlog_id id = {.seq = 0x1234, .created = T2016}, back;
	char s[DLOG_ID_STRLEN];

	(void)state;
	dlog_id_format(&id, s);
	assert_string_equal(s, "000000000000123400054287262c2a00");
	assert_int_equal(dlog_id_parse(s, 32, &back), 0);
	assert_true(back.seq == id.seq && back.created == id.created);
	assert_int_equal(dlog_id_cmp(&id, &back), 0);

	/* Uppercase, wrong lengths, non-hex. */
	assert_int_equal(dlog_id_parse("000000000000123400054287262C2A00", 32, &back), DLOG_EINVAL);
	assert_int_equal(dlog_id_parse(s, 31, &back), DLOG_EINVAL);
	assert_int_equal(dlog_id_parse("000000000000123400054287262c2a000", 33, &back),
	                 DLOG_EINVAL);
	assert_int_equal(dlog_id_parse("000000000000123400054287262c2a0g", 32, &back), DLOG_EINVAL);
	assert_int_equal(dlog_id_parse("", 0, &back), DLOG_EINVAL);
	assert_int_equal(dlog_id_parse(NULL, 32, &back), DLOG_EINVAL);

	/* All-ones round-trips (created is stored as the uint64's bits). */
	assert_int_equal(dlog_id_parse("ffffffffffffffffffffffffffffffff", 32, &back), 0);
	dlog_id_format(&back, s);
	assert_string_equal(s, "ffffffffffffffffffffffffffffffff");

	/* Order is the string order: seq first, then created as unsigned. */
	struct dlog_id a = {1, 5}, b = {2, 0}, c = {1, 6}, d = {1, -1};
	assert_true(dlog_id_cmp(&a, &b) < 0);
	assert_true(dlog_id_cmp(&b, &a) > 0);
	assert_true(dlog_id_cmp(&a, &c) < 0);
	assert_true(dlog_id_cmp(&c, &d) < 0); /* -1 is 0xfff...f as text */
	char sa[DLOG_ID_STRLEN], sd[DLOG_ID_STRLEN];
	dlog_id_format(&c, sa);
	dlog_id_format(&d, sd);
	assert_true(strcmp(sa, sd) < 0);
}

static bool valid(const char *s)
{
	return dlog_text_valid(s, strlen(s));
}

static void test_utf8(void **state)
{
	(void)state;
	assert_true(valid(""));
	assert_true(valid("plain ascii ~!"));
	assert_true(valid("caf\xc3\xa9"));       /* U+00E9 */
	assert_true(valid("\xe2\x82\xac"));      /* U+20AC */
	assert_true(valid("\xed\x9f\xbf"));      /* U+D7FF, just below surrogates */
	assert_true(valid("\xee\x80\x80"));      /* U+E000, just above */
	assert_true(valid("\xf0\x9f\x98\x80"));  /* U+1F600 */
	assert_true(valid("\xf4\x8f\xbf\xbf"));  /* U+10FFFF */
	assert_true(valid("\x7f"));              /* DEL is not in 0..1F */
	assert_false(valid("\xc0\x80"));         /* overlong NUL */
	assert_false(valid("\xc1\xbf"));         /* overlong */
	assert_false(valid("\xe0\x80\xaf"));     /* overlong '/' */
	assert_false(valid("\xf0\x8f\xbf\xbf")); /* overlong U+FFFF */
	assert_false(valid("\xed\xa0\x80"));     /* U+D800 surrogate */
	assert_false(valid("\xed\xbf\xbf"));     /* U+DFFF surrogate */
	assert_false(valid("\xf4\x90\x80\x80")); /* U+110000 */
	assert_false(valid("\xf5\x80\x80\x80"));
	assert_false(valid("\xff"));
	assert_false(valid("\x80"));         /* lone continuation */
	assert_false(valid("\xc3"));         /* truncated */
	assert_false(valid("\xe2\x82"));     /* truncated */
	assert_false(valid("\xe2\x82\x41")); /* bad continuation */
	assert_false(valid("a\x01"
	                   "b")); /* control */
	assert_false(valid("line\nbreak"));
	assert_false(valid("tab\there"));
	assert_false(valid("\x1f"));
	assert_false(dlog_text_valid("a\0b", 3));       /* NUL */
	assert_true(dlog_text_valid("\xc3\xa9xyz", 2)); /* bounded by len */
	assert_false(dlog_text_valid("\xc3\xa9", 1));
}

static int pi64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	return dlog_parse_i64(s, strlen(s), min, max, out);
}

static void test_parse_i64(void **state)
{
	int64_t v = 0;

	(void)state;
	assert_int_equal(pi64("0", INT64_MIN, INT64_MAX, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(pi64("-0", INT64_MIN, INT64_MAX, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(pi64("00042", INT64_MIN, INT64_MAX, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(pi64("9223372036854775807", INT64_MIN, INT64_MAX, &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(pi64("-9223372036854775808", INT64_MIN, INT64_MAX, &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(pi64("9223372036854775808", INT64_MIN, INT64_MAX, &v), DLOG_EINVAL);
	assert_int_equal(pi64("-9223372036854775809", INT64_MIN, INT64_MAX, &v), DLOG_EINVAL);
	assert_int_equal(pi64("9999999999999999999", INT64_MIN, INT64_MAX, &v), DLOG_EINVAL);
	assert_int_equal(pi64("18446744073709551617", INT64_MIN, INT64_MAX, &v), DLOG_EINVAL);
	assert_int_equal(pi64("00000000000000000001", INT64_MIN, INT64_MAX, &v), DLOG_EINVAL);
	assert_int_equal(pi64("", INT64_MIN, INT64_MAX, &v), DLOG_EINVAL);
	assert_int_equal(pi64("-", INT64_MIN, INT64_MAX, &v), DLOG_EINVAL);
	assert_int_equal(pi64("+5", INT64_MIN, INT64_MAX, &v), DLOG_EINVAL);
	assert_int_equal(pi64(" 5", INT64_MIN, INT64_MAX, &v), DLOG_EINVAL);
	assert_int_equal(pi64("5 ", INT64_MIN, INT64_MAX, &v), DLOG_EINVAL);
	assert_int_equal(pi64("5x", INT64_MIN, INT64_MAX, &v), DLOG_EINVAL);
	assert_int_equal(pi64("0x10", INT64_MIN, INT64_MAX, &v), DLOG_EINVAL);
	assert_int_equal(pi64("1e3", INT64_MIN, INT64_MAX, &v), DLOG_EINVAL);
	assert_int_equal(pi64("--1", INT64_MIN, INT64_MAX, &v), DLOG_EINVAL);
	v = 7;
	assert_int_equal(pi64("11", 0, 10, &v), DLOG_EINVAL);
	assert_int_equal(pi64("-1", 0, 10, &v), DLOG_EINVAL);
	assert_int_equal(v, 7);
	assert_int_equal(pi64("10", 0, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(dlog_parse_i64("123", 2, 0, 100, &v), 0); /* bounded by len */
	assert_int_equal(v, 12);
	assert_int_equal(dlog_parse_i64(NULL, 0, 0, 100, &v), DLOG_EINVAL);
}

static void test_word_eq(void **state)
{
	(void)state;
	assert_true(dlog_word_eq("DESC", 4, "desc"));
	assert_true(dlog_word_eq("dEsC", 4, "DESC"));
	assert_true(dlog_word_eq("", 0, ""));
	assert_false(dlog_word_eq("DES", 3, "desc"));
	assert_false(dlog_word_eq("DESCX", 5, "desc"));
	assert_false(dlog_word_eq("DESC", 4, "DESX"));
	assert_false(dlog_word_eq("a\0", 2, "a"));
	/* ASCII only: a Latin-1 byte is not folded. */
	assert_false(dlog_word_eq("\xc9", 1, "\xe9"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strerror),
	    cmocka_unit_test(test_time_now),
	    cmocka_unit_test(test_time_parse_forms),
	    cmocka_unit_test(test_time_parse_invalid),
	    cmocka_unit_test(test_time_parse_bounded),
	    cmocka_unit_test(test_time_format),
	    cmocka_unit_test(test_buf_basic),
	    cmocka_unit_test(test_buf_max),
	    cmocka_unit_test(test_hex),
	    cmocka_unit_test(test_id),
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_parse_i64),
	    cmocka_unit_test(test_word_eq),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
