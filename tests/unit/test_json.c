/* Unit tests for the streaming JSON writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "json/json.h"

static void writes_nested_document(void **state)
{
	struct dlog_buf b;
	struct dlog_jw w;

	(void)state;
	dlog_buf_init(&b, 4096);
	dlog_jw_init(&w, &b);
	dlog_jw_obj(&w);
	dlog_jw_kstr(&w, "a", "x");
	dlog_jw_kint(&w, "n", -42);
	dlog_jw_kbool(&w, "t", true);
	dlog_jw_key(&w, "arr");
	dlog_jw_arr(&w);
	dlog_jw_int(&w, 1);
	dlog_jw_str(&w, NULL);
	dlog_jw_obj(&w);
	dlog_jw_obj_end(&w);
	dlog_jw_arr_end(&w);
	dlog_jw_ktime(&w, "when", 1480523112123400LL);
	dlog_jw_obj_end(&w);
	assert_int_equal(dlog_jw_finish(&w), 0);
	assert_string_equal(b.data, "{\"a\":\"x\",\"n\":-42,\"t\":true,\"arr\":[1,null,{}],"
				    "\"when\":\"2016-11-30T16:25:12.123400Z\"}");
	dlog_buf_done(&b);
}

/* Whatever bytes a string holds, the output parses back to the same string. */
static void escapes_round_trip(void **state)
{
	const char *in = "quote\" back\\ nl\n tab\t cr\r bell\x07 esc\x1b del\x7f é ✓";
	struct dlog_buf b;
	struct dlog_jw w;
	json_t *v;

	(void)state;
	dlog_buf_init(&b, 4096);
	dlog_jw_init(&w, &b);
	dlog_jw_arr(&w);
	dlog_jw_str(&w, in);
	dlog_jw_arr_end(&w);
	assert_int_equal(dlog_jw_finish(&w), 0);
	v = json_loads(b.data, 0, NULL);
	assert_non_null(v);
	assert_string_equal(json_string_value(json_array_get(v, 0)), in);
	assert_non_null(strstr(b.data, "\\u0007"));
	json_decref(v);
	dlog_buf_done(&b);
}

/* The escaper reads eight bytes at a time: every byte value, at every offset of a word and
 * past the last whole word, comes out as the byte-at-a-time rule says. */
static char *escape_ref(char *p, const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			p += sprintf(p, "\\%c", s[i]);
		else if (s[i] == '\n')
			p += sprintf(p, "\\n");
		else if (s[i] == '\r')
			p += sprintf(p, "\\r");
		else if (s[i] == '\t')
			p += sprintf(p, "\\t");
		else if (s[i] < 0x20)
			p += sprintf(p, "\\u%04x", s[i]);
		else
			*p++ = (char)s[i];
	}
	*p = '\0';
	return p;
}

static void escapes_every_byte_at_every_offset(void **state)
{
	unsigned char in[19];
	char got[6 * sizeof(in) + 1], want[6 * sizeof(in) + 1];
	struct dlog_buf b;

	(void)state;
	dlog_buf_init(&b, 4096);
	for (int c = 0; c < 256; c++)
		for (size_t len = 1; len <= sizeof(in); len++)
			for (size_t at = 0; at < len; at++) {
				memset(in, 'a' + (int)(len % 26), sizeof(in));
				in[at] = (unsigned char)c;
				if (at + 2 < len) /* a second byte in the same or the next word */
					in[at + 2] = c % 3 == 0 ? '"' : 0x80 | (unsigned char)c;
				escape_ref(want, in, len);
				*dlog_json_escape_to(got, (const char *)in, len) = '\0';
				assert_string_equal(got, want);
				dlog_buf_reset(&b);
				assert_int_equal(dlog_json_escape(&b, (const char *)in, len), 0);
				assert_int_equal(b.len, strlen(want));
				assert_memory_equal(b.data, want, b.len);
			}
	dlog_buf_done(&b);
}

static void unbalanced_is_an_error(void **state)
{
	struct dlog_buf b;
	struct dlog_jw w;

	(void)state;
	dlog_buf_init(&b, 4096);
	dlog_jw_init(&w, &b);
	dlog_jw_obj(&w);
	assert_int_equal(dlog_jw_finish(&w), DLOG_EINVAL);
	dlog_buf_reset(&b);
	dlog_jw_init(&w, &b);
	dlog_jw_arr_end(&w);
	assert_int_equal(dlog_jw_finish(&w), DLOG_EINVAL);
	dlog_buf_reset(&b);
	dlog_jw_init(&w, &b);
	dlog_jw_obj(&w);
	dlog_jw_key(&w, "dangling");
	dlog_jw_obj_end(&w);
	assert_int_equal(dlog_jw_finish(&w), DLOG_EINVAL);
	dlog_buf_done(&b);
}

/* Hitting the buffer's maximum is reported once and sticks. */
static void full_buffer_is_sticky(void **state)
{
	struct dlog_buf b;
	struct dlog_jw w;

	(void)state;
	dlog_buf_init(&b, 16);
	dlog_jw_init(&w, &b);
	dlog_jw_arr(&w);
	for (int i = 0; i < 100; i++)
		dlog_jw_str(&w, "0123456789");
	dlog_jw_arr_end(&w);
	assert_int_equal(dlog_jw_finish(&w), DLOG_ETOOBIG);
	assert_true(b.len <= 16);
	dlog_buf_done(&b);
}

static void depth_is_bounded(void **state)
{
	struct dlog_buf b;
	struct dlog_jw w;

	(void)state;
	dlog_buf_init(&b, 4096);
	dlog_jw_init(&w, &b);
	for (int i = 0; i < DLOG_JW_MAX_DEPTH + 1; i++)
		dlog_jw_arr(&w);
	assert_int_equal(dlog_jw_finish(&w), DLOG_EINVAL);
	dlog_buf_done(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(writes_nested_document),
		cmocka_unit_test(escapes_round_trip),
		cmocka_unit_test(escapes_every_byte_at_every_offset),
		cmocka_unit_test(unbalanced_is_an_error),
		cmocka_unit_test(full_buffer_is_sticky),
		cmocka_unit_test(depth_is_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
