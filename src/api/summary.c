/* GET /v3/device-events/summary: one call for the portal's picture of a period.
 *
 * Counts per day and message type, and the most frequent failure codes with what to do about
 * them, over the events the list's filters select (default period: the last 30 days).
 * utc_offset_minutes (-840..840) puts day boundaries in the viewer's zone. */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "query/query.h"

#define DAY_US (86400LL * 1000000LL)
#define TOP_FAILURES 10

struct acc {
	struct dlog_jw *w;
	int64_t day;
	int64_t counts[DLOG_MTYPE_COUNT];
	int64_t totals[DLOG_MTYPE_COUNT];
	bool open;
};

static void flush_day(struct acc *a)
{
	char date[DLOG_TIME_STRLEN];
	int64_t total = 0;

	if (!a->open)
		return;
	dlog_time_format(a->day * DAY_US, date);
	date[10] = '\0';
	dlog_jw_obj(a->w);
	dlog_jw_kstr(a->w, "date", date);
	for (int m = 0; m < DLOG_MTYPE_COUNT; m++) {
		dlog_jw_kint(a->w, dlog_mtype_name((enum dlog_mtype)m), a->counts[m]);
		total += a->counts[m];
		a->totals[m] += a->counts[m];
		a->counts[m] = 0;
	}
	dlog_jw_kint(a->w, "total", total);
	dlog_jw_obj_end(a->w);
	a->open = false;
}

static int day_row(void *arg, int64_t day, enum dlog_mtype m, int64_t count)
{
	struct acc *a = arg;

	if (a->open && day != a->day)
		flush_day(a);
	a->day = day;
	a->open = true;
	if ((unsigned)m < DLOG_MTYPE_COUNT)
		a->counts[m] += count;
	return a->w->err;
}

static int code_row(void *arg, const char *code, int64_t count)
{
	struct acc *a = arg;
	const struct dlog_code *c = dlog_catalog_find(code, strlen(code));

	dlog_jw_obj(a->w);
	dlog_jw_kstr(a->w, "event_type", code);
	dlog_jw_kint(a->w, "count", count);
	dlog_jw_kstr(a->w, "description", c ? c->text : "");
	dlog_jw_kstr(a->w, "event_type_category", c ? c->category : "");
	dlog_jw_kstr(a->w, "corrective_action", c ? c->action : "");
	dlog_jw_obj_end(a->w);
	return a->w->err;
}

/* Remove name=value from the query string (it is not a filter) and return its value. */
static int take_offset(struct dlog_req *r, int64_t *minutes)
{
	static const char name[] = "utc_offset_minutes=";
	char *q = r->query, *p = q;

	*minutes = 0;
	while (p != NULL && *p != '\0') {
		char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);

		if (strncmp(p, name, sizeof(name) - 1) == 0) {
			const char *v = p + sizeof(name) - 1;
			size_t vlen = len - (sizeof(name) - 1);

			if (dlog_parse_i64(v, vlen, -840, 840, minutes) != 0) {
				dlog_http_error_field(r, "utc_offset_minutes",
						      "a whole number from -840 to 840");
				return dlog_http_error(r, DLOG_EINVAL, "utc_offset_minutes must be a "
						       "whole number of minutes from -840 to 840");
			}
			memmove(p, amp ? amp + 1 : p + len, strlen(amp ? amp + 1 : p + len) + 1);
			r->query_len = strlen(q);
			continue;
		}
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}

/* Without a lower time bound, the period is the last 30 days. */
static int default_period(struct dlog_query *q)
{
	struct dlog_term *t;
	dlog_time *v;

	for (size_t i = 0; i < q->nterms; i++)
		if (q->terms[i].field == DLOG_F_DATE_TIME && q->terms[i].op == DLOG_OP_GTE)
			return 0;
	t = realloc(q->terms, (q->nterms + 1) * sizeof(*t));
	if (t == NULL)
		return DLOG_ENOMEM;
	q->terms = t;
	v = malloc(sizeof(*v));
	if (v == NULL)
		return DLOG_ENOMEM;
	*v = dlog_time_now() - 30 * DAY_US;
	t[q->nterms++] = (struct dlog_term){.field = DLOG_F_DATE_TIME, .op = DLOG_OP_GTE, .n = 1,
					    .v.times = v};
	return 0;
}

int dlog_api_events_summary(struct dlog_req *r)
{
	struct dlog_query q;
	struct dlog_query_error qe;
	struct dlog_jw w;
	struct acc a;
	int64_t minutes;
	int rc = take_offset(r, &minutes);

	if (rc != 0)
		return rc;
	rc = dlog_query_parse(r->query, r->query_len, DLOG_DIALECT_EVENTS, &q, &qe);
	if (rc != 0) {
		return dlog_api_query_error(r, &qe, rc);
	}
	rc = default_period(&q);
	memset(&a, 0, sizeof(a));
	a.w = &w;
	dlog_jw_init(&w, &r->out);
	dlog_jw_obj(&w);
	dlog_jw_kstr(&w, "object", "device-event-summary");
	dlog_jw_kint(&w, "utc_offset_minutes", minutes);
	dlog_jw_key(&w, "days");
	dlog_jw_arr(&w);
	if (rc == 0)
		rc = dlog_store_summary(r->store, r->key.account_id, &q, minutes * 60 * 1000000LL,
					day_row, NULL, 0, &a);
	flush_day(&a);
	dlog_jw_arr_end(&w);
	dlog_jw_key(&w, "totals");
	dlog_jw_obj(&w);
	for (int m = 0; m < DLOG_MTYPE_COUNT; m++)
		dlog_jw_kint(&w, dlog_mtype_name((enum dlog_mtype)m), a.totals[m]);
	dlog_jw_obj_end(&w);
	dlog_jw_key(&w, "top_failures");
	dlog_jw_arr(&w);
	if (rc == 0)
		rc = dlog_store_summary(r->store, r->key.account_id, &q, 0, NULL, code_row,
					TOP_FAILURES, &a);
	dlog_jw_arr_end(&w);
	dlog_jw_obj_end(&w);
	dlog_query_done(&q);
	if (rc == 0)
		rc = dlog_jw_finish(&w);
	if (rc != 0)
		return dlog_http_error(r, rc, "cannot summarise: %s", dlog_store_errmsg(r->store));
	return 0;
}
