/* Every response leaves through here: error bodies, common headers, the request log line. */
#include "http/http_int.h"

#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "json/json.h"

/* One row per error code: the HTTP status and the API's error type. */
static const struct {
	int err;
	unsigned status;
	const char *type;
} error_map[] = {
	{DLOG_EINVAL, 400, "validation_error"},
	{DLOG_EAUTH, 401, "unauthorized"},
	{DLOG_EFORBIDDEN, 403, "forbidden"},
	{DLOG_ENOTFOUND, 404, "not_found"},
	{DLOG_EMETHOD, 405, "method_not_supported"},
	{DLOG_ECONFLICT, 409, "duplicate"},
	{DLOG_ETOOBIG, 413, "request_entity_too_large"},
	{DLOG_EURITOOLONG, 414, "request_uri_too_long"},
	{DLOG_EMEDIA, 415, "unsupported_media_type"},
	{DLOG_EHDRTOOBIG, 431, "request_header_fields_too_large"},
	{DLOG_ERATE, 429, "rate_limit_exceeded"},
	{DLOG_ESTORE, 500, "internal_server_error"},
	{DLOG_EIO, 500, "internal_server_error"},
	{DLOG_ESCHEMA, 500, "internal_server_error"},
	{DLOG_ENOMEM, 503, "system_unavailable"},
	{DLOG_EUNAVAIL, 503, "system_unavailable"},
};

static size_t error_row(int err)
{
	for (size_t i = 0; i < sizeof(error_map) / sizeof(error_map[0]); i++)
		if (error_map[i].err == err)
			return i;
	return sizeof(error_map) / sizeof(error_map[0]) - 5; /* internal_server_error */
}

int dlog_http_error(struct dlog_req *r, int err, const char *fmt, ...)
{
	va_list ap;

	r->failed = true;
	r->err = err;
	r->status = error_map[error_row(err)].status;
	va_start(ap, fmt);
	vsnprintf(r->err_message, sizeof(r->err_message), fmt, ap);
	va_end(ap);
	return err;
}

void dlog_http_error_field(struct dlog_req *r, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (r->nfields == DLOG_MAX_ERR_FIELDS)
		return;
	snprintf(r->fields[r->nfields].name, sizeof(r->fields[0].name), "%s", name);
	va_start(ap, fmt);
	vsnprintf(r->fields[r->nfields].message, sizeof(r->fields[0].message), fmt, ap);
	va_end(ap);
	r->nfields++;
}

const char *dlog_http_header(struct dlog_req *r, const char *name, size_t *len)
{
	const char *v = NULL;
	size_t vlen = 0;

	if (MHD_lookup_connection_value_n(r->conn, MHD_HEADER_KIND, name, strlen(name), &v,
					  &vlen) != MHD_YES)
		v = NULL;
	if (len != NULL)
		*len = v ? vlen : 0;
	return v;
}

/* The error body of SPEC §1. Detail text is escaped: it may quote client input. */
static void render_error(struct dlog_req *r)
{
	struct dlog_jw w;

	dlog_buf_reset(&r->out);
	dlog_jw_init(&w, &r->out);
	dlog_jw_obj(&w);
	dlog_jw_kstr(&w, "object", "error");
	dlog_jw_kint(&w, "code", r->status);
	dlog_jw_kstr(&w, "type", error_map[error_row(r->err)].type);
	dlog_jw_kstr(&w, "message", r->err_message);
	dlog_jw_kstr(&w, "request_id", r->request_id);
	dlog_jw_key(&w, "fields");
	dlog_jw_arr(&w);
	for (size_t i = 0; i < r->nfields; i++) {
		dlog_jw_obj(&w);
		dlog_jw_kstr(&w, "name", r->fields[i].name);
		dlog_jw_kstr(&w, "message", r->fields[i].message);
		dlog_jw_obj_end(&w);
	}
	dlog_jw_arr_end(&w);
	dlog_jw_obj_end(&w);
	if (dlog_jw_finish(&w) != 0) {
		/* cannot happen with these sizes; still answer something well-formed */
		dlog_buf_reset(&r->out);
		dlog_buf_adds(&r->out, "{\"object\":\"error\",\"code\":500,"
				       "\"type\":\"internal_server_error\",\"message\":\"\"}");
	}
	r->resp_type = "application/json";
}

void http__finish_response(struct dlog_req *r)
{
	if (r->err != 0)
		render_error(r);
}

void http__add_headers(struct dlog_req *r, struct MHD_Response *resp)
{
	char tmp[48];

	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				r->resp_type ? r->resp_type : "application/json");
	MHD_add_response_header(resp, "X-Request-Id", r->request_id);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (r->allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (r->csp != NULL)
		MHD_add_response_header(resp, "Content-Security-Policy", r->csp);
	if (r->disposition != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, r->disposition);
	if (r->retry_after > 0) {
		snprintf(tmp, sizeof(tmp), "%u", r->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, tmp);
	}
	/* the server's own time for the request, from its first line to the answer (W3C Server
	 * Timing): what a client's clock adds (network, queueing, parsing) is left out */
	dlog_time took = dlog_time_now() - r->started;

	if (took < 0)
		took = 0;
	snprintf(tmp, sizeof(tmp), "app;dur=%lld.%03lld", (long long)(took / 1000),
		 (long long)(took % 1000));
	MHD_add_response_header(resp, "Server-Timing", tmp);
}

void http__log_request(struct dlog_req *r, bool aborted)
{
	dlog_time took = dlog_time_now() - r->started;

	/* The path only: query strings may carry device ids of other people's fleets, and never
	 * a secret (keys travel in the Authorization header, which is never logged). The client
	 * is the socket's peer, or with --trust-proxy the proxy's X-Forwarded-For (server.c
	 * checks it is an address: it is client text). bytes= counts what went on the wire. */
	dlog_log(DLOG_LOG_INFO, "request_id=%s client=%s method=%s path=%s status=%u bytes=%zu%s"
			" us=%" PRId64 " account=%" PRId64 "%s",
		r->request_id, r->client[0] ? r->client : "-", r->method ? r->method : "-",
		r->path ? r->path : "-", r->status, r->resp_len, r->gzipped ? " gzip=1" : "", took,
		r->key.account_id, aborted ? " aborted=1" : "");
}
