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
/* First callback: route, method, size, type and auth checks. Sets r->failed on error. */
void http__begin(struct dlog_req *r);
/* Body complete: run the handler. */
void http__dispatch(struct dlog_req *r);
/* Render the error body if the response is an error. */
void http__finish_response(struct dlog_req *r);
void http__add_headers(struct dlog_req *r, struct MHD_Response *resp);
void http__log_request(struct dlog_req *r, bool aborted);

#endif
