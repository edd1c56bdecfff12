/* api: one file per resource; each handler reads a dlog_req and fills its response.
 * Handlers return 0 or an error code after calling dlog_http_error(). */
#ifndef DLOG_API_H
#define DLOG_API_H

#include "http/http.h"
#include "json/json.h"
#include "store/store.h"

/* events.c */
int dlog_api_events_list(struct dlog_req *r);
int dlog_api_devicelog_list(struct dlog_req *r);
int dlog_api_events_get(struct dlog_req *r);
/* stream.c: Server-Sent Events */
int dlog_api_events_stream(struct dlog_req *r);
/* summary.c: per-day counts and top failures */
int dlog_api_events_summary(struct dlog_req *r);
/* devices.c: the device directory */
int dlog_api_devices_list(struct dlog_req *r);
int dlog_api_devices_get(struct dlog_req *r);
int dlog_api_devices_create(struct dlog_req *r);
int dlog_api_devices_delete(struct dlog_req *r);
/* A page of devices (of one group when group_id is not NULL) answered on r. */
int dlog_api_devices_page(struct dlog_req *r, const char *group_id);
void dlog_api_device_json(struct dlog_jw *w, const struct dlog_device *d);
/* groups.c */
int dlog_api_groups_list(struct dlog_req *r);
int dlog_api_groups_create(struct dlog_req *r);
int dlog_api_groups_get(struct dlog_req *r);
int dlog_api_groups_update(struct dlog_req *r);
int dlog_api_groups_delete(struct dlog_req *r);
int dlog_api_groups_devices(struct dlog_req *r);
int dlog_api_groups_add(struct dlog_req *r);
int dlog_api_groups_remove(struct dlog_req *r);
/* campaigns.c: update-campaign statistics */
int dlog_api_campaign_statistics(struct dlog_req *r);
int dlog_api_campaign_status(struct dlog_req *r);
int dlog_api_campaign_event_types(struct dlog_req *r);
int dlog_api_campaign_event_type(struct dlog_req *r);

/* Shared page helpers (devices.c): a parse error as a 400 naming the parameter; the list
 * frame around rows written between begin and end (end reports rc or the frame's error). */
struct dlog_query;
struct dlog_query_error;
int dlog_api_query_error(struct dlog_req *r, const struct dlog_query_error *qe, int rc);
void dlog_api_page_begin(struct dlog_jw *w, const struct dlog_query *q);
int dlog_api_page_end(struct dlog_req *r, struct dlog_jw *w, const struct dlog_query *q,
		      bool has_more, int64_t total, int rc);

/* health.c: GET /health, no key, no detail: 200 {"status":"ok"}, 503 when the store is not
 * answering */
int dlog_api_health(struct dlog_req *r);
/* keys.c: /v3/api-keys, an admin's management of its own account's access keys */
int dlog_api_keys_list(struct dlog_req *r);
int dlog_api_keys_create(struct dlog_req *r);
int dlog_api_keys_me(struct dlog_req *r);
int dlog_api_keys_get(struct dlog_req *r);
int dlog_api_keys_revoke(struct dlog_req *r);

/* openapi.c: the embedded docs/openapi.json (no key needed) */
int dlog_api_openapi(struct dlog_req *r);
/* ingest.c */
int dlog_api_events_ingest(struct dlog_req *r);
/* codes.c */
int dlog_api_codes_list(struct dlog_req *r);
int dlog_api_codes_get(struct dlog_req *r);

/* Write one event as the API's device-event object. */
void dlog_api_event_json(struct dlog_jw *w, const struct dlog_event *e);

/* ---- export.c: every matching event as NDJSON or CSV (GET /v3/device-events/export and
 * `devicelog export`) ---- */
enum dlog_export_format { DLOG_EXPORT_NDJSON = 0, DLOG_EXPORT_CSV = 1 };
/* "ndjson" or "csv" (any case). 0 or DLOG_EINVAL. */
int dlog_export_format_parse(const char *s, size_t len, enum dlog_export_format *out);
/* Receives the export in pieces of at most DLOG_STREAM_BUFFER bytes; non-zero stops it. */
typedef int (*dlog_export_write_fn)(void *arg, const char *data, size_t len);
/* Write every event of account_id that q's filters select, in q's order starting after q's
 * after (q's limit and include_total do not apply), one page of DLOG_EXPORT_PAGE events at a
 * time: NDJSON lines (the API's event objects) or CSV (a header row, RFC 4180 quoting, CRLF).
 * Takes q over (released here, also on error). *rows (may be NULL): events written.
 * 0, DLOG_EIO when write failed, store errors. */
int dlog_export(struct dlog_store *s, int64_t account_id, struct dlog_query *q,
		enum dlog_export_format format, dlog_export_write_fn write, void *arg,
		uint64_t *rows);
/* GET /v3/device-events/export?format=ndjson|csv and the list's filters. */
int dlog_api_events_export(struct dlog_req *r);

/* ---- ingest as a library call, shared by the HTTP route and `devicelog import` ---- */

/* Validation failure detail: which event (index in the batch, -1 for a single object) and
 * field, and why. */
struct dlog_ingest_error {
	long index;
	char field[64];
	char message[256];
};

/* A parsed, validated body (opaque). */
struct dlog_ingest;
/* Parse and validate a body (JSON object or array, or NDJSON) with catalog defaults filled;
 * nothing is stored. 0 and *out (free with dlog_ingest_free), DLOG_EINVAL (*err says where),
 * DLOG_ENOMEM. */
int dlog_ingest_parse(const char *body, size_t len, bool ndjson, struct dlog_ingest **out,
		      struct dlog_ingest_error *err);
void dlog_ingest_free(struct dlog_ingest *in);
/* Hand a parsed body to the store's group committer (it shares one durable commit with other
 * submissions, all-or-nothing on its own). done(in, arg) runs on the committer's thread once
 * the outcome is known; in stays the caller's. 0, or DLOG_EUNAVAIL when the store is closing
 * (done is then not called). */
int dlog_ingest_submit(struct dlog_store *s, int64_t account_id, struct dlog_ingest *in,
		       void (*done)(struct dlog_ingest *in, void *arg), void *arg);
/* After done: 0 with the number of events and how many were idempotent repeats, or the error
 * (*err says where for DLOG_EINVAL/DLOG_ECONFLICT; *detail the store's text otherwise). */
int dlog_ingest_outcome(const struct dlog_ingest *in, size_t *count, size_t *dups,
			struct dlog_ingest_error *err, const char **detail);

/* Parse and validate a body (a JSON object, a JSON array of objects, or NDJSON when ndjson is
 * set), fill catalog defaults, and append all of it in one transaction for account_id.
 * On success *count events were taken, *dups of them idempotent repeats, and ids (when not
 * NULL) receives a malloc'd array of count ids (caller frees). single tells whether the body
 * was one object. DLOG_EINVAL (*err says where), DLOG_ECONFLICT (index in *err), DLOG_ETOOBIG
 * (batch over DLOG_MAX_BATCH), store errors. */
int dlog_ingest(struct dlog_store *s, int64_t account_id, const char *body, size_t len,
		bool ndjson, size_t *count, size_t *dups, struct dlog_id **ids, bool *single,
		struct dlog_ingest_error *err);

#endif
