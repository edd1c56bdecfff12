/* GET /v3/device-events/ and /v3/devicelog/ (lists) and their single-event routes. */
#include "api/api.h"

#include <string.h>

#include "query/query.h"

void dlog_api_event_json(struct dlog_jw *w, const struct dlog_event *e)
{
	char id[DLOG_ID_STRLEN];

	dlog_id_format(&e->id, id);
	dlog_jw_obj(w);
	dlog_jw_kstr(w, "id", id);
	dlog_jw_kstr(w, "object", "device-event");
	dlog_jw_kstr(w, "device_id", e->device_id);
	dlog_jw_ktime(w, "date_time", e->date_time);
	dlog_jw_ktime(w, "created_at", e->id.created);
	/* events are never modified: the version timestamp is the creation time */
	dlog_jw_ktime(w, "etag", e->id.created);
	dlog_jw_kstr(w, "event_type", e->event_type);
	dlog_jw_kstr(w, "event_type_description", dlog_mtype_name(e->mtype));
	dlog_jw_kstr(w, "event_type_category", e->category ? e->category : "");
	dlog_jw_kstr(w, "description", e->description ? e->description : "");
	dlog_jw_kbool(w, "state_change", e->state_change);
	dlog_jw_key(w, "data");
	dlog_jw_obj(w);
	if (e->campaign_id != NULL)
		dlog_jw_kstr(w, "campaign_id", e->campaign_id);
	dlog_jw_obj_end(w);
	if (e->data_extra != NULL) {
		/* stored as a JSON object by ingest: splice its members in after campaign_id */
		size_t n = strlen(e->data_extra);

		if (n > 2 && w->err == 0) {
			w->b->len--; /* drop the '}' just written */
			if (e->campaign_id != NULL)
				dlog_buf_addc(w->b, ',');
			dlog_buf_add(w->b, e->data_extra + 1, n - 1);
		}
	}
	dlog_jw_key(w, "changes");
	dlog_jw_obj(w);
	dlog_jw_obj_end(w);
	dlog_jw_kstr(w, "idempotency_key", e->idempotency_key);
	dlog_jw_obj_end(w);
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
