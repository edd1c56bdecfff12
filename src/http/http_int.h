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
/* Body complete: run the handler. */
void http__dispatch(struct dlog_req *r);
/* Render the error body if the response is an error. */
void http__finish_response(struct dlog_req *r);
void http__add_headers(struct dlog_req *r, struct MHD_Response *resp);
void http__log_request(struct dlog_req *r, bool aborted);
/* static.c: the portal's embedded files ("/" is /index.html); 404 for anything else. */
int http__static(struct dlog_req *r);

#endif
