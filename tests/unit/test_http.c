/* Unit tests for the HTTP layer's own parts: the rate limiter's buckets and the metrics page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/limits.h"
#include "http/http_int.h"

static void burst_then_limited(void **state)
{
	struct http_ratelimit *rl = http__ratelimit_new(2, 5);
	unsigned wait;

	(void)state;
	assert_non_null(rl);
	for (int i = 0; i < 5; i++)
		assert_int_equal(http__ratelimit_take(rl, "k1", true), 0);
	wait = http__ratelimit_take(rl, "k1", true);
	assert_true(wait >= 1 && wait <= 1); /* 2/s: one token back within a second */
	/* a peek never takes, another name has its own bucket */
	assert_int_not_equal(http__ratelimit_take(rl, "k1", false), 0);
	assert_int_equal(http__ratelimit_take(rl, "k2", true), 0);
	usleep(600 * 1000); /* 2/s for 0.6 s: one token */
	assert_int_equal(http__ratelimit_take(rl, "k1", true), 0);
	assert_int_not_equal(http__ratelimit_take(rl, "k1", true), 0);
	http__ratelimit_free(rl);
}

static void rate_zero_is_off_and_null_is_off(void **state)
{
	struct http_ratelimit *rl = http__ratelimit_new(0, 1);

	(void)state;
	for (int i = 0; i < 1000; i++)
		assert_int_equal(http__ratelimit_take(rl, "x", true), 0);
	assert_int_equal(http__ratelimit_take(NULL, "x", true), 0);
	http__ratelimit_free(rl);
	http__ratelimit_free(NULL);
}

static void retry_after_is_capped(void **state)
{
	/* 1 token per second, burst 1: the second request waits 1 s, never 0 */
	struct http_ratelimit *rl = http__ratelimit_new(1, 1);

	(void)state;
	assert_int_equal(http__ratelimit_take(rl, "a", true), 0);
	assert_int_equal(http__ratelimit_take(rl, "a", true), 1);
	assert_true(http__ratelimit_take(rl, "a", true) <= DLOG_RATE_RETRY_MAX_S);
	http__ratelimit_free(rl);
}

/* Far more names than the table holds: memory stays fixed, and a name pushed out comes back
 * with a full bucket (lenient, never stricter than configured). */
static void table_is_bounded(void **state)
{
	struct http_ratelimit *rl = http__ratelimit_new(1, 1);
	char name[32];

	(void)state;
	for (int i = 0; i < 4 * DLOG_RATE_TABLE; i++) {
		snprintf(name, sizeof(name), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255,
		         i & 255);
		assert_int_equal(http__ratelimit_take(rl, name, true), 0);
	}
	/* a long name is cut to the bucket's size, not overflowed */
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(http__ratelimit_take(rl, name, true), 0);
	http__ratelimit_free(rl);
}

static void metrics_render(void **state)
{
	struct http_metrics *m = http__metrics_new();
	struct http_gauges g = {.connections = 3, .store_up = true,
				.commits = {.groups = 5, .requests = 40, .events = 400}};
	struct dlog_buf b;

	(void)state;
	assert_non_null(m);
	http__metrics_request(m, http__route_at(0), 200, 700, false);
	http__metrics_request(m, http__route_at(0), 200, 3000000, false);
	http__metrics_request(m, NULL, 404, 10, false);
	http__metrics_request(m, http__route_at(1), 599, 10, true);
	http__metrics_add(m, HTTP_M_EVENTS_INGESTED, 42);
	http__metrics_add(m, HTTP_M_RATE_LIMITED_IP, 2);
	http__metrics_streams(m, 1);
	dlog_buf_init(&b, 1 << 20);
	assert_int_equal(http__metrics_render(m, &g, &b), 0);
	assert_non_null(strstr(b.data, "devicelog_http_requests_total{method=\"GET\",route=\""
	                               "/v3/device-events\",status=\"200\"} 2\n"));
	assert_non_null(strstr(b.data, "route=\"unmatched\",status=\"404\"} 1\n"));
	assert_non_null(strstr(b.data, "status=\"other\"} 1\n"));
	/* cumulative buckets; the stream is not in the histogram */
	assert_non_null(strstr(b.data, "_bucket{le=\"0.0005\"} 1\n"));
	assert_non_null(strstr(b.data, "_bucket{le=\"0.001\"} 2\n"));
	assert_non_null(strstr(b.data, "_bucket{le=\"5\"} 3\n"));
	assert_non_null(strstr(b.data, "_bucket{le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(b.data, "devicelog_http_request_duration_seconds_count 3\n"));
	assert_non_null(strstr(b.data, "devicelog_events_ingested_total 42\n"));
	assert_non_null(strstr(b.data, "devicelog_rate_limited_total{limit=\"address\"} 2\n"));
	assert_non_null(strstr(b.data, "devicelog_streams_open 1\n"));
	assert_non_null(strstr(b.data, "devicelog_connections_open 3\n"));
	assert_non_null(strstr(b.data, "devicelog_store_up 1\n"));
	assert_non_null(strstr(b.data, "\ndevicelog_store_commits_total 5\n"));
	assert_non_null(strstr(b.data, "\ndevicelog_store_commit_requests_total 40\n"));
	assert_non_null(strstr(b.data, "\ndevicelog_store_commit_events_total 400\n"));
	/* a too small buffer is an error, not a cut page */
	dlog_buf_done(&b);
	dlog_buf_init(&b, 100);
	assert_int_equal(http__metrics_render(m, &g, &b), DLOG_ETOOBIG);
	dlog_buf_done(&b);
	http__metrics_free(m);
}

static int shape(const char *s, unsigned depth, size_t values)
{
	char why[96];

	return http__json_shape(s, strlen(s), depth, values, why, sizeof(why));
}

static void json_shape(void **state)
{
	(void)state;
	assert_int_equal(shape("{\"a\":{\"b\":[1,2]}}", 3, 100), 0);
	assert_int_equal(shape("{\"a\":{\"b\":[1,2]}}", 2, 100), DLOG_EINVAL);
	/* brackets, commas and escaped quotes inside strings do not count */
	assert_int_equal(shape("[\"[[[[,,,,\\\"[[[\"]", 1, 2), 0);
	assert_int_equal(shape("[1,2,3]", 8, 3), 0);
	assert_int_equal(shape("[1,2,3,4]", 8, 3), DLOG_EINVAL);
	/* NDJSON: each line starts again at depth 0 */
	assert_int_equal(shape("{\"a\":1}\n{\"a\":[2]}\n", 2, 100), 0);
	/* unbalanced closers do not underflow; the parser reports them */
	assert_int_equal(shape("]]]]{[", 2, 100), 0);
	assert_int_equal(shape("]]]]{[[", 2, 100), DLOG_EINVAL);
	/* a trailing backslash in an unterminated string is not read past the end */
	assert_int_equal(shape("[\"\\", 8, 100), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(burst_then_limited),
	    cmocka_unit_test(rate_zero_is_off_and_null_is_off),
	    cmocka_unit_test(retry_after_is_capped),
	    cmocka_unit_test(table_is_bounded),
	    cmocka_unit_test(metrics_render),
	    cmocka_unit_test(json_shape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
