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
/* ingest.c */
int dlog_api_events_ingest(struct dlog_req *r);
/* codes.c */
int dlog_api_codes_list(struct dlog_req *r);
int dlog_api_codes_get(struct dlog_req *r);

/* Write one event as the API's device-event object. */
void dlog_api_event_json(struct dlog_jw *w, const struct dlog_event *e);

/* ---- ingest as a library call, shared by the HTTP route and `devicelog import` ---- */

/* Validation failure detail: which event (index in the batch, -1 for a single object) and
 * field, and why. */
struct dlog_ingest_error {
	long index;
	char field[64];
	char message[256];
};

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
