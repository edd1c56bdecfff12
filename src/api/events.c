/* GET /v3/device-events/ and /v3/devicelog/ (lists) and their single-event routes. */
#include "api/api.h"

#include <string.h>

#include "query/query.h"

/* Literal text at p; returns its end. */
#define PUT_LIT(p, lit) (memcpy((p), (lit), sizeof(lit) - 1), (p) + sizeof(lit) - 1)

static char *put_str(char *p, const char *s, size_t n)
{
	*p++ = '"';
	p = dlog_json_escape_to(p, s, n);
	*p++ = '"';
	return p;
}

/* A text that never needs escaping (hex ids, formatted times), quoted. */
static char *put_plain(char *p, const char *s, size_t n)
{
	*p++ = '"';
	memcpy(p, s, n);
	p += n;
	*p++ = '"';
	return p;
}

static char *put_time(char *p, dlog_time t)
{
	*p++ = '"';
	dlog_time_format(t, p);
	p += DLOG_TIME_STRLEN - 1; /* fixed width */
	*p++ = '"';
	return p;
}

/* The creation time's text: the events of one commit share it, and a page's events are often
 * one commit's, so the last one formatted on this thread is kept. */
static const char *created_text(dlog_time t)
{
	static _Thread_local dlog_time last = -1;
	static _Thread_local char text[DLOG_TIME_STRLEN];

	if (t != last) {
		dlog_time_format(t, text);
		last = t;
	}
	return text;
}

/* One event as the API's JSON object. Written straight into the response buffer (one size
 * check per event): a page of events spent a fifth of its time in per-value writer calls. */
void dlog_api_event_json(struct dlog_jw *w, const struct dlog_event *e)
{
	const char *cat = e->category ? e->category : "";
	const char *descr = e->description ? e->description : "";
	const char *mtype = dlog_mtype_name(e->mtype);
	size_t ldev = strlen(e->device_id), ltype = strlen(e->event_type), lcat = strlen(cat);
	size_t ldescr = strlen(descr), lmtype = strlen(mtype);
	size_t lcamp = e->campaign_id ? strlen(e->campaign_id) : 0;
	size_t lidem = e->idempotency_key ? strlen(e->idempotency_key) : 0;
	size_t lextra = e->data_extra ? strlen(e->data_extra) : 0;
	char id[DLOG_ID_STRLEN];
	const char *created;
	char *p;

	/* every text escaped at worst 6 bytes per byte, plus keys, punctuation and dates */
	p = dlog_jw_direct(w, 512 + 6 * (ldev + ltype + lcat + ldescr + lmtype + lcamp + lidem) +
				      lextra);
	if (p == NULL)
		return;
	dlog_id_format(&e->id, id);
	p = PUT_LIT(p, "{\"id\":");
	p = put_plain(p, id, DLOG_ID_STRLEN - 1);
	p = PUT_LIT(p, ",\"object\":\"device-event\",\"device_id\":");
	p = put_str(p, e->device_id, ldev);
	p = PUT_LIT(p, ",\"date_time\":");
	p = put_time(p, e->date_time);
	/* events are never modified: the version timestamp (etag) is the creation time */
	created = created_text(e->id.created);
	p = PUT_LIT(p, ",\"created_at\":");
	p = put_plain(p, created, DLOG_TIME_STRLEN - 1);
	p = PUT_LIT(p, ",\"etag\":");
	p = put_plain(p, created, DLOG_TIME_STRLEN - 1);
	p = PUT_LIT(p, ",\"event_type\":");
	p = put_str(p, e->event_type, ltype);
	p = PUT_LIT(p, ",\"event_type_description\":");
	p = put_str(p, mtype, lmtype);
	p = PUT_LIT(p, ",\"event_type_category\":");
	p = put_str(p, cat, lcat);
	p = PUT_LIT(p, ",\"description\":");
	p = put_str(p, descr, ldescr);
	p = e->state_change ? PUT_LIT(p, ",\"state_change\":true,\"data\":{")
			    : PUT_LIT(p, ",\"state_change\":false,\"data\":{");
	if (e->campaign_id != NULL) {
		p = PUT_LIT(p, "\"campaign_id\":");
		p = put_str(p, e->campaign_id, lcamp);
	}
	/* the other data members, stored by ingest as a JSON object: spliced in after
	 * campaign_id */
	if (lextra > 2) {
		if (e->campaign_id != NULL)
			*p++ = ',';
		memcpy(p, e->data_extra + 1, lextra - 2);
		p += lextra - 2;
	}
	p = PUT_LIT(p, "},\"changes\":{},\"idempotency_key\":");
	p = e->idempotency_key ? put_str(p, e->idempotency_key, lidem) : PUT_LIT(p, "null");
	*p++ = '}';
	dlog_jw_direct_end(w, p);
}

static int write_row(void *arg, const struct dlog_event *e)
{
	struct dlog_jw *w = arg;

	dlog_api_event_json(w, e);
	return w->err;
}

static int list(struct dlog_req *r, enum dlog_query_dialect dialect)
{
	struct dlog_query q;
	struct dlog_query_error qe;
	struct dlog_jw w;
	bool has_more = false;
	int64_t total = 0;
	int rc = dlog_query_parse(r->query, r->query_len, dialect, &q, &qe);

	if (rc != 0)
		return dlog_api_query_error(r, &qe, rc);
	dlog_jw_init(&w, &r->out);
	dlog_jw_obj(&w);
	dlog_jw_kstr(&w, "object", "list");
	dlog_jw_kint(&w, "limit", q.limit);
	dlog_jw_kstr(&w, "order", q.order == DLOG_ORDER_DESC ? "DESC" : "ASC");
	dlog_jw_kstr(&w, "after", q.has_after ? q.after_text : NULL);
	dlog_jw_key(&w, "data");
	dlog_jw_arr(&w);
	rc = dlog_store_query(r->store, r->key.account_id, &q, write_row, &w, &has_more, &total);
	if (rc == 0) {
		dlog_jw_arr_end(&w);
		dlog_jw_kbool(&w, "has_more", has_more);
		if (q.include_total)
			dlog_jw_kint(&w, "total_count", total);
		dlog_jw_obj_end(&w);
		rc = dlog_jw_finish(&w);
	}
	dlog_query_done(&q);
	if (rc == DLOG_ETOOBIG || rc == DLOG_ENOMEM)
		return dlog_http_error(r, DLOG_ENOMEM, "the page does not fit in memory");
	if (rc != 0)
		return dlog_http_error(r, rc, "cannot list events: %s", dlog_store_errmsg(r->store));
	return 0;
}

int dlog_api_events_list(struct dlog_req *r)
{
	return list(r, DLOG_DIALECT_EVENTS);
}

int dlog_api_devicelog_list(struct dlog_req *r)
{
	return list(r, DLOG_DIALECT_DEVICELOG);
}

int dlog_api_events_get(struct dlog_req *r)
{
	struct dlog_id id;
	struct dlog_jw w;
	int rc;

	if (dlog_id_parse(r->param, strlen(r->param), &id) != 0)
		return dlog_http_error(r, DLOG_ENOTFOUND, "no device event with id '%.64s'",
				       r->param);
	dlog_jw_init(&w, &r->out);
	rc = dlog_store_get(r->store, r->key.account_id, &id, write_row, &w);
	if (rc == 0)
		rc = dlog_jw_finish(&w);
	if (rc == DLOG_ENOTFOUND)
		return dlog_http_error(r, rc, "no device event with id '%s'", r->param);
	if (rc != 0)
		return dlog_http_error(r, rc, "cannot read the event: %s",
				       dlog_store_errmsg(r->store));
	return 0;
}
