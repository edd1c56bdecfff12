/* Private to src/http/. */
#ifndef DLOG_HTTP_INT_H
#define DLOG_HTTP_INT_H

#include "http/http.h"

struct MHD_Response;

typedef int (*dlog_handler)(struct dlog_req *r);

enum body_kind {
	BODY_NONE = 0,   /* no body expected */
	BODY_EVENTS,     /* JSON or NDJSON event batches, large */
	BODY_JSON,       /* a small JSON object */
};

struct dlog_route {
	const char *method;
	const char *pattern;  /* segments; "*" captures one into r->param. Trailing '/' optional */
	dlog_handler fn;
	bool auth;            /* needs a key */
	enum dlog_scope scope;
	enum body_kind body;
};

struct dlog_store *http__store(struct dlog_server *srv);

/* stream.c: the hub that wakes waiting streams (one per server). */
struct http_hub;
struct http_hub *http__hub(struct dlog_server *srv);
struct http_hub *http__hub_new(struct dlog_store *store);
/* Stop the hub's thread and end every stream (their readers return end-of-stream). */
void http__hub_stop(struct http_hub *h);
void http__hub_free(struct http_hub *h);
/* The MHD response for a request whose handler called dlog_http_stream(). NULL on OOM. */
struct MHD_Response *http__stream_response(struct dlog_req *r);
/* First callback: route, method, size, type and auth checks. Sets r->failed on error. */
void http__begin(struct dlog_req *r);
/* The shape of a JSON (or NDJSON) text, without parsing it: 0, or DLOG_EINVAL with why set
 * when containers nest deeper than max_depth or it holds more than max_values values. Strings
 * are skipped (with their escapes); anything else is left for the parser to judge. */
int http__json_shape(const char *p, size_t n, unsigned max_depth, size_t max_values, char *why,
		     size_t whylen);
/* Body complete: run the handler. */
void http__dispatch(struct dlog_req *r);
/* Render the error body if the response is an error. */
void http__finish_response(struct dlog_req *r);
void http__add_headers(struct dlog_req *r, struct MHD_Response *resp);
void http__log_request(struct dlog_req *r, bool aborted);
/* static.c: the portal's embedded files ("/" is /index.html); 404 for anything else. */
int http__static(struct dlog_req *r);

/* routes.c: the route table, for the metrics' labels */
size_t http__route_count(void);
const struct dlog_route *http__route_at(size_t i);
size_t http__route_index(const struct dlog_route *rt);

/* ratelimit.c: token buckets by name (a key id or a client address), bounded memory.
 * rate 0 turns limiting off (every take succeeds). NULL on OOM; free accepts NULL. */
struct http_ratelimit;
struct http_ratelimit *http__ratelimit_new(unsigned rate, unsigned burst);
void http__ratelimit_free(struct http_ratelimit *rl);
/* 0 when name has a token (taken when take is set), else the seconds until it has one again
 * (>= 1, for Retry-After). Thread-safe; rl may be NULL (no limit). */
unsigned http__ratelimit_take(struct http_ratelimit *rl, const char *name, bool take);

/* metrics.c: counters for GET /metrics. Thread-safe, lock-free updates. */
enum http_metric {
	HTTP_M_EVENTS_INGESTED,
	HTTP_M_STORE_ERRORS,
	HTTP_M_RATE_LIMITED_KEY,
	HTTP_M_RATE_LIMITED_IP,
	HTTP_M_RATE_LIMITED_STREAMS,
	HTTP_M_COUNT
};
/* Values read at scrape time (server.c fills them). */
struct http_gauges {
	uint64_t connections;
	bool store_up;
	struct dlog_commit_stats commits;
};
struct http_metrics;
struct http_metrics *http__metrics_new(void);
void http__metrics_free(struct http_metrics *m);
/* One finished request: route NULL when none matched; streamed answers count without latency. */
void http__metrics_request(struct http_metrics *m, const struct dlog_route *route,
			   unsigned status, dlog_time took_us, bool streamed);
void http__metrics_add(struct http_metrics *m, enum http_metric c, uint64_t n);
void http__metrics_streams(struct http_metrics *m, int delta);
/* Append the Prometheus text to b. 0 or the buffer's error. */
int http__metrics_render(struct http_metrics *m, const struct http_gauges *g,
			 struct dlog_buf *b);

/* server.c: the server's parts for routes.c and the handlers below */
struct http_metrics *http__metrics(struct dlog_server *srv);
struct http_ratelimit *http__ratelimit(struct dlog_server *srv, bool per_key);
void http__gauges(struct dlog_server *srv, struct http_gauges *g);
/* GET /metrics: the Prometheus text (server.c; admin key on the main listener, none on the
 * --metrics-listen one). */
int http__metrics_page(struct dlog_req *r);

#endif
