/* /v3/devices/: the device directory the event log implies.
 *
 * Every device that has events, with its state from its latest lifecycle event, its first and
 * latest event and counts per message type; kept up to date by the store in the same
 * transaction as the events. POST registers a device (records SYS_106), DELETE deregisters it
 * (records SYS_105); its history stays. */
#include "api/api.h"

#include <jansson.h>
#include <string.h>

#include "base/limits.h"
#include "catalog/catalog.h"
#include "query/query.h"

void dlog_api_device_json(struct dlog_jw *w, const struct dlog_device *d)
{
	dlog_jw_obj(w);
	dlog_jw_kstr(w, "object", "device");
	dlog_jw_kstr(w, "id", d->device_id);
	dlog_jw_kstr(w, "state", dlog_device_state_name(d->state));
	dlog_jw_ktime(w, "created_at", d->first_at);
	dlog_jw_ktime(w, "updated_at", d->last_at);
	dlog_jw_ktime(w, "etag", d->last_at);
	dlog_jw_kstr(w, "last_event_type", d->last_event_type);
	dlog_jw_kstr(w, "last_event_type_description", dlog_mtype_name(d->last_mtype));
	dlog_jw_kstr(w, "last_campaign_id", d->last_campaign_id);
	dlog_jw_key(w, "event_counts");
	dlog_jw_obj(w);
	for (int m = 0; m < DLOG_MTYPE_COUNT; m++)
		dlog_jw_kint(w, dlog_mtype_name((enum dlog_mtype)m), d->counts[m]);
	dlog_jw_obj_end(w);
	dlog_jw_obj_end(w);
}

static int write_device(void *arg, const struct dlog_device *d)
{
	struct dlog_jw *w = arg;

	dlog_api_device_json(w, d);
	return w->err;
}

int dlog_api_query_error(struct dlog_req *r, const struct dlog_query_error *qe, int rc)
{
	if (rc != DLOG_EINVAL)
		return dlog_http_error(r, rc, "cannot parse the query");
	dlog_http_error_field(r, qe->name, "%s", qe->message);
	/* SDKs show only the message (the JS SDK's error is the API's message): name the
	 * parameter in it too, unless the message already starts with it */
	if (qe->name[0] != '\0' && strncmp(qe->message, qe->name, strlen(qe->name)) != 0)
		return dlog_http_error(r, rc, "%s: %s", qe->name, qe->message);
	return dlog_http_error(r, rc, "%s", qe->message);
}

void dlog_api_page_begin(struct dlog_jw *w, const struct dlog_query *q)
{
	dlog_jw_obj(w);
	dlog_jw_kstr(w, "object", "list");
	dlog_jw_kint(w, "limit", q->limit);
	dlog_jw_kstr(w, "order", q->order == DLOG_ORDER_DESC ? "DESC" : "ASC");
	dlog_jw_kstr(w, "after", q->has_after ? q->after_key : NULL);
	dlog_jw_key(w, "data");
	dlog_jw_arr(w);
}

int dlog_api_page_end(struct dlog_req *r, struct dlog_jw *w, const struct dlog_query *q,
		      bool has_more, int64_t total, int rc)
{
	if (rc == 0) {
		dlog_jw_arr_end(w);
		dlog_jw_kbool(w, "has_more", has_more);
		if (q->include_total)
			dlog_jw_kint(w, "total_count", total);
		dlog_jw_obj_end(w);
		rc = dlog_jw_finish(w);
	}
	if (rc == DLOG_ENOTFOUND)
		return dlog_http_error(r, rc, "%s", dlog_store_errmsg(r->store));
	if (rc != 0)
		return dlog_http_error(r, rc, "cannot list: %s", dlog_store_errmsg(r->store));
	return 0;
}

/* Devices of the account, or of one group (group_id not NULL). */
int dlog_api_devices_page(struct dlog_req *r, const char *group_id)
{
	struct dlog_query q;
	struct dlog_query_error qe;
	struct dlog_jw w;
	bool has_more = false;
	int64_t total = 0;
	int rc = dlog_query_parse(r->query, r->query_len, DLOG_DIALECT_DEVICES, &q, &qe);

	if (rc != 0)
		return dlog_api_query_error(r, &qe, rc);
	dlog_jw_init(&w, &r->out);
	dlog_api_page_begin(&w, &q);
	rc = dlog_store_device_query(r->store, r->key.account_id, group_id, &q, write_device, &w,
				     &has_more, &total);
	rc = dlog_api_page_end(r, &w, &q, has_more, total, rc);
	dlog_query_done(&q);
	return rc;
}

int dlog_api_devices_list(struct dlog_req *r)
{
	return dlog_api_devices_page(r, NULL);
}

int dlog_api_devices_get(struct dlog_req *r)
{
	struct dlog_jw w;
	int rc;

	dlog_jw_init(&w, &r->out);
	rc = dlog_store_device_get(r->store, r->key.account_id, r->param, write_device, &w);
	if (rc == 0)
		rc = dlog_jw_finish(&w);
	if (rc == DLOG_ENOTFOUND)
		return dlog_http_error(r, rc, "no device '%.128s'", r->param);
	if (rc != 0)
		return dlog_http_error(r, rc, "cannot read the device: %s",
				       dlog_store_errmsg(r->store));
	return 0;
}

/* Record one lifecycle event for a device, as ingest would. */
static int lifecycle_event(struct dlog_req *r, const char *device_id, const char *code)
{
	const struct dlog_code *c = dlog_catalog_find(code, strlen(code));
	struct dlog_event e = {
		.date_time = dlog_time_now(),
		.device_id = device_id,
		.event_type = c->code,
		.mtype = c->mtype,
		.category = c->category,
		.description = c->text,
		.state_change = c->state_change,
	};
	struct dlog_append_result res;
	int rc = dlog_store_append(r->store, r->key.account_id, &e, 1, &res, NULL);

	if (rc != 0)
		return dlog_http_error(r, rc, "cannot record the event: %s",
				       dlog_store_errmsg(r->store));
	return 0;
}

/* POST /v3/devices/ {"id": "<device id>"}: register (SYS_106). "device_id" is accepted too. */
int dlog_api_devices_create(struct dlog_req *r)
{
	json_error_t je;
	json_t *body = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &je);
	json_t *id = body ? json_object_get(body, "id") : NULL;
	const char *device_id;
	struct dlog_jw w;
	int rc;

	if (body != NULL && id == NULL)
		id = json_object_get(body, "device_id");
	if (body == NULL || !json_is_object(body)) {
		json_decref(body);
		return dlog_http_error(r, DLOG_EINVAL, "the body must be a JSON object");
	}
	device_id = json_string_value(id);
	if (device_id == NULL || json_string_length(id) == 0 ||
	    json_string_length(id) > DLOG_MAX_DEVICE_ID_LEN ||
	    !dlog_text_valid(device_id, json_string_length(id))) {
		json_decref(body);
		dlog_http_error_field(r, "id", "a device id of 1..%d bytes of text is required",
				      DLOG_MAX_DEVICE_ID_LEN);
		return dlog_http_error(r, DLOG_EINVAL, "id: a device id is required");
	}
	rc = lifecycle_event(r, device_id, "SYS_106");
	if (rc == 0) {
		dlog_jw_init(&w, &r->out);
		rc = dlog_store_device_get(r->store, r->key.account_id, device_id, write_device,
					   &w);
		if (rc == 0)
			rc = dlog_jw_finish(&w);
		r->status = 201;
		if (rc != 0)
			rc = dlog_http_error(r, rc, "registered, but the answer failed");
	}
	json_decref(body);
	return rc;
}

static int exists(void *arg, const struct dlog_device *d)
{
	(void)arg;
	(void)d;
	return 0;
}

/* DELETE /v3/devices/{id}/: deregister (SYS_105); the history stays. */
int dlog_api_devices_delete(struct dlog_req *r)
{
	int rc = dlog_store_device_get(r->store, r->key.account_id, r->param, exists, NULL);

	if (rc == DLOG_ENOTFOUND)
		return dlog_http_error(r, rc, "no device '%.128s'", r->param);
	if (rc != 0)
		return dlog_http_error(r, rc, "cannot read the device: %s",
				       dlog_store_errmsg(r->store));
	rc = lifecycle_event(r, r->param, "SYS_105");
	if (rc == 0)
		r->status = 204;
	return rc;
}
