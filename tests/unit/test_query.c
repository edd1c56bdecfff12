/* Unit tests for query/: the list API's query-string grammar (SPEC §1, §2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/limits.h"
#include "query/query.h"

#define EV DLOG_DIALECT_EVENTS
#define DL DLOG_DIALECT_DEVICELOG
#define ID1 "0000000000000001000541898d1b1600"
#define ID2 "00000000000000020005418990000000"
#define T2016 INT64_C(1480523112000000) /* 2016-11-30T16:25:12Z */

static int parse(const char *s, enum dlog_query_dialect d, struct dlog_query *q,
                 struct dlog_query_error *e)
{
	return dlog_query_parse(s, strlen(s), d, q, e);
}

/* Parse must succeed; the caller releases q. */
static void ok(const char *s, enum dlog_query_dialect d, struct dlog_query *q)
{
	struct dlog_query_error e;
	int rc = parse(s, d, q, &e);

	if (rc != 0)
		fail_msg("'%s' failed: %d name='%s' message='%s'", s, rc, e.name, e.message);
}

/* Parse must fail with DLOG_EINVAL naming `name`; and the message must hold `msg` if given. */
static void bad(const char *s, enum dlog_query_dialect d, const char *name, const char *msg)
{
	struct dlog_query q;
	struct dlog_query_error e;
	int rc = parse(s, d, &q, &e);

	if (rc != DLOG_EINVAL)
		fail_msg("'%s' gave %d, want EINVAL", s, rc);
	if (strcmp(e.name, name) != 0)
		fail_msg("'%s' named '%s', want '%s' (%s)", s, e.name, name, e.message);
	if (msg != NULL && strstr(e.message, msg) == NULL)
		fail_msg("'%s' message '%s' lacks '%s'", s, e.message, msg);
	/* On error the query is released. */
	assert_null(q.terms);
	assert_int_equal(q.nterms, 0);
}

static void test_defaults(void **state)
{
	struct dlog_query q;

	(void)state;
	ok("", EV, &q);
	assert_int_equal(q.limit, DLOG_LIMIT_DEFAULT);
	assert_int_equal(q.limit, 50);
	assert_int_equal(q.order, DLOG_ORDER_ASC);
	assert_false(q.has_after);
	assert_false(q.include_total);
	assert_int_equal(q.nterms, 0);
	dlog_query_done(&q);
	ok("&&&", EV, &q);
	assert_int_equal(q.nterms, 0);
	dlog_query_done(&q);
	/* NULL error pointer is tolerated. */
	assert_int_equal(dlog_query_parse("limit=x", 7, EV, &q, NULL), DLOG_EINVAL);
}

/* What SPEC §1/§2 allow, written out independently of the implementation's table. */
static bool spec_allows(enum dlog_field f, enum dlog_op op, enum dlog_query_dialect d)
{
	bool set = op == DLOG_OP_EQ || op == DLOG_OP_NEQ || op == DLOG_OP_IN || op == DLOG_OP_NIN;

	switch (f) {
	case DLOG_F_DATE_TIME:
		return op != DLOG_OP_NEQ;
	case DLOG_F_STATE_CHANGE:
		return op == DLOG_OP_EQ || op == DLOG_OP_NEQ || (d == DL && set);
	case DLOG_F_CREATED_AT:
	case DLOG_F_UPDATED_AT:
		return op == DLOG_OP_LTE || op == DLOG_OP_GTE;
	case DLOG_F_DEVICE_GROUP_ID:
		return op == DLOG_OP_EQ || op == DLOG_OP_IN;
	default:
		return set;
	}
}

/* The fields of the event routes end at DLOG_F_DEVICE_KEY; the directory's follow. */
#define EVENT_FIELDS DLOG_F_DEVICE_KEY

static const char *sample_value(enum dlog_field f)
{
	switch (f) {
	case DLOG_F_ID:
		return ID1;
	case DLOG_F_DATE_TIME:
	case DLOG_F_CREATED_AT:
		return "2016-11-30T16:25:12Z";
	case DLOG_F_STATE_CHANGE:
		return "true";
	default:
		return "X1";
	}
}

static void check_sample(const struct dlog_term *t)
{
	switch (t->field) {
	case DLOG_F_ID:
		assert_true(t->v.ids[0].seq == 1);
		break;
	case DLOG_F_DATE_TIME:
	case DLOG_F_CREATED_AT:
		assert_int_equal(t->v.times[0], T2016);
		break;
	case DLOG_F_STATE_CHANGE:
		assert_true(t->v.flags[0]);
		break;
	default:
		assert_string_equal(t->v.strs[0], "X1");
		break;
	}
}

static void test_every_field_op(void **state)
{
	char qs[256], key[64];

	(void)state;
	for (int d = EV; d <= DL; d++) {
		for (int f = 0; f < EVENT_FIELDS; f++) {
			for (int op = 0; op < DLOG_OP_COUNT; op++) {
				snprintf(key, sizeof(key), "%s__%s", dlog_field_name(f),
				         dlog_op_name(op));
				snprintf(qs, sizeof(qs), "%s=%s", key, sample_value(f));
				if (!spec_allows(f, op, d)) {
					bad(qs, d, key, "is not supported");
					continue;
				}
				struct dlog_query q;
				ok(qs, d, &q);
				assert_int_equal(q.nterms, 1);
				assert_int_equal(q.terms[0].field, f);
				assert_int_equal(q.terms[0].op, op);
				assert_int_equal(q.terms[0].n, 1);
				check_sample(&q.terms[0]);
				dlog_query_done(&q);
			}
		}
	}
}

static void test_bare_is_eq(void **state)
{
	char qs[256];

	(void)state;
	for (int f = 0; f < EVENT_FIELDS; f++) {
		snprintf(qs, sizeof(qs), "%s=%s", dlog_field_name(f), sample_value(f));
		if (f == DLOG_F_CREATED_AT) {
			bad(qs, EV, "created_at",
			    "operator __eq is not supported for 'created_at'");
			continue;
		}
		struct dlog_query q;
		ok(qs, EV, &q);
		assert_int_equal(q.nterms, 1);
		assert_int_equal(q.terms[0].field, f);
		assert_int_equal(q.terms[0].op, DLOG_OP_EQ);
		check_sample(&q.terms[0]);
		dlog_query_done(&q);
	}
}

/* /v3/devices/ has its own fields: "id" is a device id there, and event fields are unknown. */
static void test_devices_dialect(void **state)
{
	static const struct {
		const char *qs;
		enum dlog_field f;
		enum dlog_op op;
	} good[] = {
		{"id=abc", DLOG_F_DEVICE_KEY, DLOG_OP_EQ},
		{"id__nin=a,b", DLOG_F_DEVICE_KEY, DLOG_OP_NIN},
		{"state__in=registered,bootstrapped", DLOG_F_STATE, DLOG_OP_IN},
		{"last_event_type__neq=SYS_106", DLOG_F_LAST_EVENT_TYPE, DLOG_OP_NEQ},
		{"last_event_type_description=FAIL", DLOG_F_LAST_EVENT_TYPE_DESCRIPTION, DLOG_OP_EQ},
		{"created_at__gte=2016-11-30T16:25:12Z", DLOG_F_CREATED_AT, DLOG_OP_GTE},
		{"updated_at__lte=2016-11-30T16:25:12Z", DLOG_F_UPDATED_AT, DLOG_OP_LTE},
	};
	struct dlog_query q;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ok(good[i].qs, DLOG_DIALECT_DEVICES, &q);
		assert_int_equal(q.nterms, 1);
		assert_int_equal(q.terms[0].field, good[i].f);
		assert_int_equal(q.terms[0].op, good[i].op);
		dlog_query_done(&q);
	}
	bad("device_id=x", DLOG_DIALECT_DEVICES, "device_id", "unknown filter field");
	bad("state=x", EV, "state", "unknown filter field");
	bad("updated_at__eq=2016-11-30T16:25:12Z", DLOG_DIALECT_DEVICES, "updated_at__eq",
	    "not supported");
	/* the cursor is a device id, echoed back as given */
	ok("after=dev%2F1&limit=5", DLOG_DIALECT_DEVICES, &q);
	assert_true(q.has_after);
	assert_string_equal(q.after_key, "dev/1");
	dlog_query_done(&q);
}

static void test_unknown_keys(void **state)
{
	(void)state;
	bad("foo=1", EV, "foo", "unknown filter field 'foo'");
	bad("foo__eq=1", EV, "foo__eq", "unknown filter field 'foo'");
	bad("Device_id=1", EV, "Device_id", "unknown filter field");
	bad("device_id__like=1", EV, "device_id__like", "unknown operator '__like'");
	bad("device_id__=1", EV, "device_id__", "unknown operator");
	bad("device_id__EQ=1", EV, "device_id__EQ", "unknown operator");
	bad("device_id__in__x=1", EV, "device_id__in__x", "unknown operator");
	bad("device_id__lte=1", EV, "device_id__lte",
	    "operator __lte is not supported for 'device_id'");
	bad("date_time__neq=2016-11-30T16:25:12Z", EV, "date_time__neq", "__neq");
	bad("=1", EV, "", "unknown filter field ''");
	bad("_=123", EV, "_", "unknown filter field");
	/* The name is reported decoded. */
	bad("foo%5Fbar=1", EV, "foo_bar", "unknown filter field 'foo_bar'");
	bad("device%5Fid__lte=1", EV, "device_id__lte", "not supported");
	/* A key without '=' is a filter with an empty value, so unknown ones still fail. */
	bad("nonsense", EV, "nonsense", "unknown filter field");
	/* Names that are not text are shown sanitised. */
	bad("a%FFb=1", EV, "a?b", "unknown filter field 'a?b'");
	bad("a%0Ab=1", EV, "a?b", NULL);
}

static void test_values(void **state)
{
	struct dlog_query q;

	(void)state;
	ok("device_id=a%20b&event_type=c+d&description=caf%C3%A9&campaign_id=&"
	   "event_type_category=x%2By",
	   EV, &q);
	assert_int_equal(q.nterms, 5);
	assert_string_equal(q.terms[0].v.strs[0], "a b");
	assert_string_equal(q.terms[1].v.strs[0], "c d");
	assert_string_equal(q.terms[2].v.strs[0], "caf\xc3\xa9");
	assert_string_equal(q.terms[3].v.strs[0], "");
	assert_string_equal(q.terms[4].v.strs[0], "x+y");
	dlog_query_done(&q);

	/* A key without '=' has the value "". */
	ok("device_id", EV, &q);
	assert_int_equal(q.nterms, 1);
	assert_string_equal(q.terms[0].v.strs[0], "");
	dlog_query_done(&q);

	/* A comma is part of an __eq value. */
	ok("description=a,b", EV, &q);
	assert_int_equal(q.terms[0].n, 1);
	assert_string_equal(q.terms[0].v.strs[0], "a,b");
	dlog_query_done(&q);

	ok("state_change=TRUE&state_change__neq=False&id=" ID2, EV, &q);
	assert_true(q.terms[0].v.flags[0]);
	assert_false(q.terms[1].v.flags[0]);
	assert_true(q.terms[2].v.ids[0].seq == 2);
	assert_true(q.terms[2].v.ids[0].created == INT64_C(0x0005418990000000));
	dlog_query_done(&q);

	ok("date_time__gte=2016-11-30T16:25:12.1234Z&date_time__lte=20161130T162512Z", EV, &q);
	assert_int_equal(q.terms[0].v.times[0], T2016 + 123400);
	assert_int_equal(q.terms[1].v.times[0], T2016);
	dlog_query_done(&q);

	bad("state_change=yes", EV, "state_change", "'yes' is not a boolean");
	bad("state_change=", EV, "state_change", NULL);
	bad("id="
	    "0000000000000001000541898D1B1600",
	    EV, "id", "is not an event id");
	bad("id__in=" ID1 ",abc", EV, "id__in", "'abc' is not an event id");
	bad("device_id=a%01b", EV, "device_id", "must be valid UTF-8 without control characters");
	bad("device_id=%C0%80", EV, "device_id", "valid UTF-8");
	bad("device_id=%ED%A0%80", EV, "device_id", "valid UTF-8");
	bad("device_id=%F4%90%80%80", EV, "device_id", "valid UTF-8");
	bad("device_id=a%00", EV, "device_id", "valid UTF-8");
	bad("event_type__in=A,%FF", EV, "event_type__in", "valid UTF-8");
	bad("device_id=a%zz", EV, "device_id", "percent-escape");
	bad("device_id=a%4", EV, "device_id", "percent-escape");
	bad("device_id=a%", EV, "device_id", "percent-escape");
	bad("dev%ice_id=1", EV, "dev%ice_id", "percent-escape in parameter name");
}

static void test_value_length(void **state)
{
	char qs[DLOG_MAX_VALUE_LEN + 64];
	struct dlog_query q;

	(void)state;
	size_t n = (size_t)snprintf(qs, sizeof(qs), "device_id=");
	memset(qs + n, 'v', DLOG_MAX_VALUE_LEN);
	qs[n + DLOG_MAX_VALUE_LEN] = '\0';
	ok(qs, EV, &q);
	assert_int_equal(strlen(q.terms[0].v.strs[0]), DLOG_MAX_VALUE_LEN);
	dlog_query_done(&q);
	qs[n + DLOG_MAX_VALUE_LEN] = 'v';
	qs[n + DLOG_MAX_VALUE_LEN + 1] = '\0';
	bad(qs, EV, "device_id", "longer than");
}

static void test_dates(void **state)
{
	struct dlog_query q;
	struct dlog_query_error e;

	(void)state;
	/* What the JS SDK sends for Date objects: Date.toString() text. */
	const char *js = "date_time__in=Mon%20Nov%2028%202026%2010%3A00%3A00%20GMT%2B0000%20"
	                 "(Coordinated%20Universal%20Time)";
	assert_int_equal(parse(js, EV, &q, &e), DLOG_EINVAL);
	assert_string_equal(e.name, "date_time__in");
	assert_string_equal(e.message,
	                    "'Mon Nov 28 2026 10:00:00 GMT+0000 (Coordinated Universal Time)' is "
	                    "not a date-time; use e.g. 2016-11-30T16:25:12.1234Z, "
	                    "2016-11-30T16:25:12Z or 20161130T162512Z");
	bad("date_time=2016-02-30T00:00:00Z", EV, "date_time", "is not a date-time");
	bad("date_time=2016-11-30T16:25:12.1234567Z", EV, "date_time", "is not a date-time");
	bad("created_at__gte=2016-11-30", EV, "created_at__gte", "is not a date-time");
	bad("date_time__in=2016-11-30T16:25:12Z,2023-02-29T00:00:00Z", EV, "date_time__in",
	    "'2023-02-29T00:00:00Z' is not a date-time");

	/* A long bad value is echoed truncated, and the message still ends with the advice. */
	char qs[600];
	memcpy(qs, "date_time=", 10);
	memset(qs + 10, 'x', 500);
	qs[510] = '\0';
	assert_int_equal(parse(qs, EV, &q, &e), DLOG_EINVAL);
	assert_non_null(strstr(e.message, "...' is not a date-time"));
	assert_non_null(strstr(e.message, "20161130T162512Z"));
	/* Non-text bytes never reach the message. */
	assert_int_equal(parse("date_time=%FF%01", EV, &q, &e), DLOG_EINVAL);
	assert_non_null(strstr(e.message, "'?"
	                                  "?' is not a date-time"));
}

static void test_lists(void **state)
{
	struct dlog_query q;

	(void)state;
	ok("event_type__in=A,B,C&device_id__nin=x", EV, &q);
	assert_int_equal(q.nterms, 2);
	assert_int_equal(q.terms[0].n, 3);
	assert_string_equal(q.terms[0].v.strs[0], "A");
	assert_string_equal(q.terms[0].v.strs[2], "C");
	assert_int_equal(q.terms[1].n, 1);
	dlog_query_done(&q);

	/* %2C decodes before splitting, so it separates like a comma. */
	ok("event_type__in=A%2CB", EV, &q);
	assert_int_equal(q.terms[0].n, 2);
	dlog_query_done(&q);

	ok("date_time__nin=2016-11-30T16:25:12Z,20161130T162512Z", EV, &q);
	assert_int_equal(q.terms[0].n, 2);
	assert_int_equal(q.terms[0].v.times[1], T2016);
	dlog_query_done(&q);

	bad("event_type__in=", EV, "event_type__in", "empty value in list");
	bad("event_type__in=A,,B", EV, "event_type__in", "empty value in list");
	bad("event_type__in=A,", EV, "event_type__in", "empty value in list");
	bad("event_type__in=,A", EV, "event_type__in", "empty value in list");

	/* 1000 values pass, 1001 fail. */
	size_t cap = 20 + 1001 * 5;
	char *qs = malloc(cap);
	assert_non_null(qs);
	size_t o = (size_t)snprintf(qs, cap, "device_id__in=");
	for (int i = 0; i < 1000; i++)
		o += (size_t)snprintf(qs + o, cap - o, "%s%d", i ? "," : "", i);
	ok(qs, EV, &q);
	assert_int_equal(q.terms[0].n, 1000);
	assert_string_equal(q.terms[0].v.strs[999], "999");
	dlog_query_done(&q);
	snprintf(qs + o, cap - o, ",x");
	bad(qs, EV, "device_id__in", "at most 1000 values");
	free(qs);
}

static void test_limit(void **state)
{
	static const struct {
		const char *qs;
		int want;
	} cases[] = {
	    {"limit=10", 10},
	    {"limit=0", 2},
	    {"limit=1", 2},
	    {"limit=2", 2},
	    {"limit=1000", 1000},
	    {"limit=5000", 1000},
	    {"limit=-7", 2},
	    {"limit=007", 7},
	    {"limit=99999999999999999999999", 1000},
	    {"limit=-99999999999999999999999", 2},
	    {"limit=3&limit=4", 4},
	};
	struct dlog_query q;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ok(cases[i].qs, EV, &q);
		assert_int_equal(q.limit, cases[i].want);
		dlog_query_done(&q);
	}
	bad("limit=abc", EV, "limit", "limit must be an integer");
	bad("limit=", EV, "limit", "integer");
	bad("limit", EV, "limit", "integer");
	bad("limit=1.5", EV, "limit", "integer");
	bad("limit=+5", EV, "limit", "integer");
	bad("limit=10x", EV, "limit", "integer");
	bad("limit=-", EV, "limit", "integer");
}

static void test_order(void **state)
{
	struct dlog_query q;

	(void)state;
	ok("", EV, &q);
	assert_int_equal(q.order, DLOG_ORDER_ASC);
	dlog_query_done(&q);
	ok("order=DESC", EV, &q);
	assert_int_equal(q.order, DLOG_ORDER_DESC);
	dlog_query_done(&q);
	ok("order=desc", EV, &q);
	assert_int_equal(q.order, DLOG_ORDER_DESC);
	dlog_query_done(&q);
	ok("order=DESC&order=ASC", EV, &q);
	assert_int_equal(q.order, DLOG_ORDER_ASC);
	dlog_query_done(&q);
	bad("order=up", EV, "order", "ASC or DESC");
	bad("order=", EV, "order", "ASC or DESC");
	bad("order=ASCENDING", EV, "order", NULL);
}

static void test_after(void **state)
{
	struct dlog_query q;

	(void)state;
	ok("after=" ID1, EV, &q);
	assert_true(q.has_after);
	assert_string_equal(q.after_text, ID1);
	assert_true(q.after.seq == 1);
	assert_true(q.after.created == INT64_C(0x000541898d1b1600));
	dlog_query_done(&q);
	bad("after=0000000000000001000541898D1B1600", EV, "after", "32 lowercase hex");
	bad("after=0000000000000001000541898d1b160", EV, "after", NULL);
	bad("after=0000000000000001000541898d1b16000", EV, "after", NULL);
	bad("after=", EV, "after", NULL);
	bad("after=xyz", EV, "after", NULL);
}

static void test_include(void **state)
{
	static const struct {
		const char *qs;
		bool want;
	} cases[] = {
	    {"", false},
	    {"include=total_count", true},
	    {"include=totalCount", true},
	    {"include=foo,total_count", true},
	    {"include=foo&include=total_count", true},
	    {"include=total_count&include=foo", true},
	    {"include=foo%2Ctotal_count", true},
	    {"include=foo", false},
	    {"include=", false},
	    {"include", false},
	    {"include=,,", false},
	    {"include=total_counts", false},
	};
	struct dlog_query q;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ok(cases[i].qs, EV, &q);
		if (q.include_total != cases[i].want)
			fail_msg("'%s': include_total %d", cases[i].qs, q.include_total);
		dlog_query_done(&q);
	}
}

static void test_filter_param(void **state)
{
	struct dlog_query q;

	(void)state;
	ok("filter=device_id%3DX%26date_time__gte%3D2016-11-30T16%3A25%3A12Z%26event_type__in%3DA"
	   "%2CB&limit=10",
	   DL, &q);
	assert_int_equal(q.nterms, 3);
	assert_int_equal(q.terms[0].field, DLOG_F_DEVICE_ID);
	assert_int_equal(q.terms[0].op, DLOG_OP_EQ);
	assert_string_equal(q.terms[0].v.strs[0], "X");
	assert_int_equal(q.terms[1].field, DLOG_F_DATE_TIME);
	assert_int_equal(q.terms[1].op, DLOG_OP_GTE);
	assert_int_equal(q.terms[1].v.times[0], T2016);
	assert_int_equal(q.terms[2].field, DLOG_F_EVENT_TYPE);
	assert_int_equal(q.terms[2].op, DLOG_OP_IN);
	assert_int_equal(q.terms[2].n, 2);
	assert_string_equal(q.terms[2].v.strs[1], "B");
	assert_int_equal(q.limit, 10);
	dlog_query_done(&q);

	/* Filter terms and top-level terms are ANDed together, in order. */
	ok("device_id=Y&filter=state_change%3Dtrue", EV, &q);
	assert_int_equal(q.nterms, 2);
	assert_int_equal(q.terms[1].field, DLOG_F_STATE_CHANGE);
	dlog_query_done(&q);

	/* Inside filter= the value is decoded a second time. */
	ok("filter=description%3Da%2520b", EV, &q);
	assert_string_equal(q.terms[0].v.strs[0], "a b");
	dlog_query_done(&q);

	ok("filter=", EV, &q);
	assert_int_equal(q.nterms, 0);
	dlog_query_done(&q);
	ok("filter", EV, &q);
	assert_int_equal(q.nterms, 0);
	dlog_query_done(&q);

	bad("filter=limit%3D5", EV, "limit", "not allowed inside filter=");
	bad("filter=order%3DDESC", EV, "order", "not allowed inside filter=");
	bad("filter=after%3D" ID1, EV, "after", "not allowed inside filter=");
	bad("filter=include%3Dtotal_count", EV, "include", "not allowed inside filter=");
	bad("filter=filter%3Ddevice_id%253DX", EV, "filter", "not allowed inside filter=");
	bad("filter=foo%3D1", EV, "foo", "unknown filter field");
	bad("filter=device_id__lte%3D1", EV, "device_id__lte", "not supported");
	bad("filter=device_id%3D%25zz", EV, "device_id", "percent-escape");
	/* The dialect applies inside filter= too. */
	bad("filter=state_change__in%3Dtrue", EV, "state_change__in", "not supported");
	ok("filter=state_change__in%3Dtrue%2Cfalse", DL, &q);
	assert_int_equal(q.terms[0].n, 2);
	dlog_query_done(&q);
}

static void test_state_change_dialect(void **state)
{
	struct dlog_query q;

	(void)state;
	bad("state_change__in=true", EV, "state_change__in", "only on /v3/devicelog/");
	bad("state_change__nin=true", EV, "state_change__nin", "not supported");
	ok("state_change__in=true,FALSE", DL, &q);
	assert_int_equal(q.terms[0].n, 2);
	assert_true(q.terms[0].v.flags[0]);
	assert_false(q.terms[0].v.flags[1]);
	dlog_query_done(&q);
	ok("state_change__nin=false", DL, &q);
	assert_int_equal(q.terms[0].op, DLOG_OP_NIN);
	dlog_query_done(&q);
	/* Other fields are the same in both dialects. */
	bad("state_change__lte=true", DL, "state_change__lte", "not supported");
	bad("created_at=2016-11-30T16:25:12Z", DL, "created_at", "not supported");
}

static void test_term_limit(void **state)
{
	char qs[2048];
	size_t o = 0;
	struct dlog_query q;

	(void)state;
	for (int i = 0; i < DLOG_MAX_TERMS; i++)
		o += (size_t)snprintf(qs + o, sizeof(qs) - o, "%sdevice_id=d%d", i ? "&" : "", i);
	ok(qs, EV, &q);
	assert_int_equal(q.nterms, DLOG_MAX_TERMS);
	assert_string_equal(q.terms[DLOG_MAX_TERMS - 1].v.strs[0], "d31");
	dlog_query_done(&q);
	snprintf(qs + o, sizeof(qs) - o, "&event_type=z");
	bad(qs, EV, "event_type", "at most 32 filter terms");

	/* Terms inside filter= count too. */
	o = (size_t)snprintf(qs, sizeof(qs), "filter=");
	for (int i = 0; i < DLOG_MAX_TERMS; i++)
		o += (size_t)snprintf(qs + o, sizeof(qs) - o, "%sdevice_id%%3Dd%d", i ? "%26" : "",
		                      i);
	ok(qs, EV, &q);
	assert_int_equal(q.nterms, DLOG_MAX_TERMS);
	dlog_query_done(&q);
	snprintf(qs + o, sizeof(qs) - o, "&device_id=z");
	bad(qs, EV, "device_id", "at most 32 filter terms");
}

static void test_query_length(void **state)
{
	size_t n = DLOG_MAX_QUERY_LEN + 1;
	char *qs = malloc(n);
	struct dlog_query q;
	struct dlog_query_error e;

	(void)state;
	assert_non_null(qs);
	memset(qs, '&', n);
	assert_int_equal(dlog_query_parse(qs, n - 1, EV, &q, &e), 0);
	dlog_query_done(&q);
	assert_int_equal(dlog_query_parse(qs, n, EV, &q, &e), DLOG_EINVAL);
	assert_string_equal(e.name, "query");
	/* Pointer and length: bytes past len are never looked at. */
	assert_int_equal(dlog_query_parse("limit=5&junk", 7, EV, &q, &e), 0);
	assert_int_equal(q.limit, 5);
	dlog_query_done(&q);
	free(qs);
}

static void test_done(void **state)
{
	struct dlog_query q;

	(void)state;
	memset(&q, 0, sizeof(q));
	dlog_query_done(&q);
	dlog_query_done(NULL);
	ok("device_id__in=a,b&id=" ID1 "&date_time=20161130T162512Z&state_change=true", EV, &q);
	dlog_query_done(&q);
	assert_null(q.terms);
	assert_int_equal(q.nterms, 0);
	dlog_query_done(&q);
}

static void test_url_decode(void **state)
{
	char *out;
	size_t n;

	(void)state;
	assert_int_equal(dlog_url_decode("a+b%20c%2fd%2F%41", 17, &out, &n), 0);
	assert_string_equal(out, "a b c/d/A");
	assert_int_equal(n, 9);
	free(out);
	assert_int_equal(dlog_url_decode("%00x", 4, &out, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], '\0');
	assert_int_equal(out[1], 'x');
	free(out);
	assert_int_equal(dlog_url_decode("", 0, &out, &n), 0);
	assert_string_equal(out, "");
	assert_int_equal(n, 0);
	free(out);
	assert_int_equal(dlog_url_decode("%2", 2, &out, &n), DLOG_EINVAL);
	assert_null(out);
	assert_int_equal(dlog_url_decode("%", 1, &out, &n), DLOG_EINVAL);
	assert_int_equal(dlog_url_decode("%g0", 3, &out, &n), DLOG_EINVAL);
	assert_int_equal(dlog_url_decode("%0g", 3, &out, &n), DLOG_EINVAL);
	/* Bounded by len: "%41" cut to "%4" is broken. */
	assert_int_equal(dlog_url_decode("%41", 2, &out, &n), DLOG_EINVAL);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(dlog_field_name(DLOG_F_EVENT_TYPE_DESCRIPTION),
	                    "event_type_description");
	assert_string_equal(dlog_field_name(DLOG_F_CAMPAIGN_ID), "campaign_id");
	assert_string_equal(dlog_op_name(DLOG_OP_NIN), "nin");
	assert_string_equal(dlog_op_name(DLOG_OP_GTE), "gte");
}

/* Print q, parse the text again and print that: both texts must be equal, and so the queries. */
static void round_trip(const char *qs, enum dlog_query_dialect d, const char *want)
{
	struct dlog_query q1, q2;
	struct dlog_buf b1, b2;

	ok(qs, d, &q1);
	dlog_buf_init(&b1, 1 << 20);
	dlog_buf_init(&b2, 1 << 20);
	assert_int_equal(dlog_query_print(&q1, &b1), 0);
	ok(b1.data, d, &q2);
	assert_int_equal(dlog_query_print(&q2, &b2), 0);
	assert_string_equal(b1.data, b2.data);
	if (want != NULL)
		assert_string_equal(b1.data, want);
	assert_int_equal(q1.nterms, q2.nterms);
	assert_int_equal(q1.limit, q2.limit);
	assert_int_equal(q1.order, q2.order);
	assert_int_equal(q1.has_after, q2.has_after);
	assert_string_equal(q1.after_text, q2.after_text);
	assert_int_equal(q1.include_total, q2.include_total);
	for (size_t i = 0; i < q1.nterms; i++) {
		assert_int_equal(q1.terms[i].field, q2.terms[i].field);
		assert_int_equal(q1.terms[i].op, q2.terms[i].op);
		assert_int_equal(q1.terms[i].n, q2.terms[i].n);
	}
	dlog_buf_done(&b1);
	dlog_buf_done(&b2);
	dlog_query_done(&q1);
	dlog_query_done(&q2);
}

static void test_print(void **state)
{
	(void)state;
	round_trip("", EV, "limit=50&order=ASC");
	round_trip("device_id=X&limit=5000&order=desc&include=totalCount&after=" ID1, EV,
	           "device_id__eq=X&limit=1000&order=DESC&after=" ID1 "&include=total_count");
	round_trip("date_time=20161130T162512Z&date_time__in=2016-11-30T16:25:12.1234Z,"
	           "2016-11-30T16:25:12Z",
	           EV,
	           "date_time__eq=2016-11-30T16%3A25%3A12.000000Z&date_time__in=2016-11-30T16%3A25"
	           "%3A12.123400Z,2016-11-30T16%3A25%3A12.000000Z&limit=50&order=ASC");
	round_trip("description=a%26b%3Dc%2Cd+e%25f%2B~._-&state_change__neq=TRUE", EV,
	           "description__eq=a%26b%3Dc%2Cd%20e%25f%2B~._-&state_change__neq=true&limit=50&"
	           "order=ASC");
	round_trip("id__nin=" ID1 "," ID2 "&event_type__in=A,B&campaign_id__neq=caf%C3%A9", EV,
	           "id__nin=" ID1 "," ID2 "&event_type__in=A,B&campaign_id__neq=caf%C3%A9&"
	           "limit=50&order=ASC");
	round_trip("filter=device_id%3DX%26date_time__gte%3D2016-11-30T16%3A25%3A12Z%26event_type"
	           "__in%3DA%2CB",
	           DL,
	           "device_id__eq=X&date_time__gte=2016-11-30T16%3A25%3A12.000000Z&event_type__in="
	           "A,B&limit=50&order=ASC");
	round_trip("state_change__in=true,false&created_at__lte=2016-11-30T16:25:12.000001Z&"
	           "event_type_category__nin=FAIL_NETWORK&event_type_description=FAIL&"
	           "device_id=",
	           DL, NULL);
}

static void test_print_bounded(void **state)
{
	struct dlog_query q;
	struct dlog_buf b;

	(void)state;
	ok("device_id=0123456789", EV, &q);
	dlog_buf_init(&b, 20);
	assert_int_equal(dlog_buf_adds(&b, "pre"), 0);
	assert_int_equal(dlog_query_print(&q, &b), DLOG_ETOOBIG);
	assert_string_equal(b.data, "pre"); /* nothing half-written */
	dlog_buf_done(&b);
	dlog_query_done(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),      cmocka_unit_test(test_every_field_op),
	    cmocka_unit_test(test_bare_is_eq),    cmocka_unit_test(test_unknown_keys),
	    cmocka_unit_test(test_devices_dialect),
	    cmocka_unit_test(test_values),        cmocka_unit_test(test_value_length),
	    cmocka_unit_test(test_dates),         cmocka_unit_test(test_lists),
	    cmocka_unit_test(test_limit),         cmocka_unit_test(test_order),
	    cmocka_unit_test(test_after),         cmocka_unit_test(test_include),
	    cmocka_unit_test(test_filter_param),  cmocka_unit_test(test_state_change_dialect),
	    cmocka_unit_test(test_term_limit),    cmocka_unit_test(test_query_length),
	    cmocka_unit_test(test_done),          cmocka_unit_test(test_url_decode),
	    cmocka_unit_test(test_names),         cmocka_unit_test(test_print),
	    cmocka_unit_test(test_print_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
