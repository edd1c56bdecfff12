/* GET /v3/device-events/stream: live events as Server-Sent Events.
 *
 * The list's filters apply. Each message's SSE id is the event id; Last-Event-ID (or after=)
 * resumes right after that event, so a reconnecting client loses and repeats nothing. Without
 * either, the stream starts after the newest committed event. */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "query/query.h"

struct sse {
	struct dlog_store *store;
	int64_t account_id;
	struct dlog_query q; /* q.after is the cursor: the last event sent */
	struct dlog_buf *out;
	int err;
};

static int write_message(void *arg, const struct dlog_event *e)
{
	struct sse *s = arg;
	char id[DLOG_ID_STRLEN];
	struct dlog_jw w;
	size_t mark = s->out->len;
	int rc;

	dlog_id_format(&e->id, id);
	rc = dlog_buf_printf(s->out, "id: %s\nevent: device-event\ndata: ", id);
	if (rc == 0) {
		dlog_jw_init(&w, s->out);
		dlog_api_event_json(&w, e);
		rc = dlog_jw_finish(&w);
	}
	if (rc == 0)
		rc = dlog_buf_adds(s->out, "\n\n");
	if (rc != 0) {
		/* the buffer is full: this event goes out on the next call */
		s->out->len = mark;
		return rc;
	}
	s->q.after = e->id;
	return 0;
}

static int produce(void *cls, struct dlog_buf *out)
{
	struct sse *s = cls;
	bool has_more;
	int rc;

	s->out = out;
	rc = dlog_store_query(s->store, s->account_id, &s->q, write_message, s, &has_more, NULL);
	if (rc == DLOG_ETOOBIG && out->len > 0)
		return 0;
	/* a store hiccup ends this stream (negative); the client reconnects with Last-Event-ID */
	return rc > 0 ? -rc : rc;
}

static void done(void *cls)
{
	struct sse *s = cls;

	dlog_query_done(&s->q);
	free(s);
}

static const struct dlog_stream_ops sse_ops = {produce, done, true};

/* Where to start: Last-Event-ID, else after=, else after the newest event. */
static int start_cursor(struct dlog_req *r, struct sse *s)
{
	size_t len;
	const char *last = dlog_http_header(r, "Last-Event-ID", &len);
	uint64_t seq = 0;
	int rc;

	if (last != NULL && len > 0) {
		if (dlog_id_parse(last, len, &s->q.after) != 0) {
			dlog_http_error_field(r, "Last-Event-ID", "must be an event id (32 hex)");
			return dlog_http_error(r, DLOG_EINVAL,
					       "Last-Event-ID must be an event id (32 lowercase hex)");
		}
		s->q.has_after = true;
		return 0;
	}
	if (s->q.has_after)
		return 0;
	rc = dlog_store_last_seq(s->store, &seq);
	if (rc != 0)
		return dlog_http_error(r, rc, "cannot read the store: %s",
				       dlog_store_errmsg(s->store));
	s->q.has_after = true;
	s->q.after.seq = seq;
	s->q.after.created = INT64_MAX;
	return 0;
}

int dlog_api_events_stream(struct dlog_req *r)
{
	struct dlog_query_error qe;
	struct sse *s = calloc(1, sizeof(*s));
	int rc;

	if (s == NULL)
		return dlog_http_error(r, DLOG_ENOMEM, "out of memory");
	s->store = r->store;
	s->account_id = r->key.account_id;
	rc = dlog_query_parse(r->query, r->query_len, DLOG_DIALECT_EVENTS, &s->q, &qe);
	if (rc != 0) {
		free(s);
		return dlog_api_query_error(r, &qe, rc);
	}
	rc = start_cursor(r, s);
	if (rc != 0) {
		done(s);
		return rc;
	}
	/* streams always run forward in id order, a bounded batch per wake-up */
	s->q.order = DLOG_ORDER_ASC;
	s->q.limit = DLOG_STREAM_BATCH;
	s->q.include_total = false;
	return dlog_http_stream(r, &sse_ops, s);
}
