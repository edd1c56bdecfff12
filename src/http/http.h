/* http: the HTTP server (libmicrohttpd), routing, authentication and every response.
 *
 * Each request gets a dlog_req on libmicrohttpd's first callback (created in the URI log hook,
 * so the raw query string is kept) and freed in the completion hook. Handlers in api/ fill the
 * response through the helpers below; every error leaves through dlog_http_error(), which
 * writes the API's error body. */
#ifndef DLOG_HTTP_H
#define DLOG_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "store/store.h"

struct dlog_server;
struct dlog_route;
struct MHD_Connection;

struct dlog_server_config {
	const char *listen;       /* "HOST:PORT"; port 0 picks a free one */
	unsigned threads;         /* listening threads sharing the port; 0 = one per CPU */
	struct dlog_store *store; /* borrowed; outlives the server */
	const char *tls_cert;     /* PEM files; both or neither */
	const char *tls_key;
	bool log_requests;        /* one line per request on stderr */
	bool trust_proxy;         /* behind a reverse proxy: the client is X-Forwarded-For's first
				   * entry, and the per-address connection cap is lifted (every
				   * connection comes from the proxy) */
	/* Rate limits, requests per second and burst: per access key, and per client address for
	 * requests without a valid key. 0: the default of limits.h; negative: no limit. */
	int rate_key, rate_key_burst;
	int rate_ip, rate_ip_burst;
	const char *metrics_listen; /* "HOST:PORT" of a second listener serving only /metrics
				     * and /health, without a key; NULL: none */
};

#define DLOG_MAX_ERR_FIELDS 8

/* One request. Handlers read the request fields and write the response fields. */
struct dlog_req {
	/* request */
	struct dlog_server *srv;
	struct MHD_Connection *conn;
	const char *method;
	char *path;              /* decoded path, without the query */
	char *query;             /* raw query string (percent-encoded), "" when none */
	size_t query_len;
	const char *param;       /* the first {id} path segment of the matched route, or NULL */
	const char *params[3];   /* every captured segment, in order */
	char request_id[DLOG_ID_STRLEN];
	struct dlog_key_info key; /* the caller, once authenticated */
	char client[48];         /* client address for the log (fits an IPv6 text), "-" unknown */
	struct dlog_store *store;
	struct dlog_buf body;    /* request body (bounded by the route) */
	const char *content_type;
	dlog_time started;
	/* response */
	unsigned status;
	const char *resp_type;   /* Content-Type; default application/json */
	struct dlog_buf out;     /* response body */
	size_t resp_len;         /* bytes sent (after compression), for the log line */
	bool gzipped;            /* the body went out gzip-encoded */
	const char *allow;       /* Allow header for 405 */
	const char *csp;         /* Content-Security-Policy header (the portal's pages), static */
	const char *disposition; /* Content-Disposition header (exports), static */
	char allow_buf[64];
	unsigned retry_after;    /* seconds, for 429/503 */
	/* error detail for dlog_http_error */
	int err;
	char err_message[512];
	size_t nfields;
	struct {
		char name[96];
		char message[256];
	} fields[DLOG_MAX_ERR_FIELDS];
	/* a deferred answer (see dlog_http_defer) */
	int (*finish)(struct dlog_req *r, void *arg);
	void *finish_arg;
	bool deferred;
	/* an endless text/event-stream answer instead of out (see dlog_http_stream) */
	struct http_stream *stream;
	size_t ingested;         /* events stored by this request (idempotent repeats excluded),
				  * for the metrics */
	/* internal state */
	const struct dlog_route *route;
	bool seen, failed, queued;
	bool streaming;          /* a stream response went out: counted in the open streams */
	bool rate_limited;       /* answered 429 by a bucket (already counted) */
	size_t header_bytes;
};

/* Start listening and serving. On failure *out is NULL and errbuf says why. */
int dlog_server_start(const struct dlog_server_config *cfg, struct dlog_server **out,
		      char *errbuf, size_t errlen);
/* The port actually bound (useful with port 0). */
unsigned dlog_server_port(const struct dlog_server *srv);
/* The metrics listener's port, 0 without --metrics-listen. */
unsigned dlog_server_metrics_port(const struct dlog_server *srv);
/* Stop accepting, let in-flight requests finish, free. Accepts NULL. */
void dlog_server_stop(struct dlog_server *srv);
/* Serve a new TLS certificate and key (PEM files, read and checked now) without dropping a
 * connection: new daemons with the new pair join the same port (SO_REUSEPORT), the old ones
 * stop accepting, hand the connections waiting in their accept queues to the new ones, and
 * keep serving the connections they have (streams too) until those end; they are freed at a
 * later reload or at dlog_server_stop(). Only for a server started with TLS. On failure the
 * server is unchanged and err says why. Call from one thread at a time (the signal loop). */
int dlog_server_reload_tls(struct dlog_server *srv, const char *cert, const char *key,
			   char *err, size_t len);

/* Set an error response: status and type from err (base.h code), message printf-style.
 * Returns err so handlers can `return dlog_http_error(r, DLOG_EINVAL, ...)`. */
int dlog_http_error(struct dlog_req *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Add a {"name","message"} entry to the next error's fields (at most DLOG_MAX_ERR_FIELDS). */
void dlog_http_error_field(struct dlog_req *r, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Value of a request header (case-insensitive name) or NULL; *len gets its length. */
const char *dlog_http_header(struct dlog_req *r, const char *name, size_t *len);

/* ---- deferred answers ----
 * A handler whose work completes on another thread (the store's group committer) calls
 * dlog_http_defer() and returns 0: the connection is suspended, so no thread waits for it.
 * The worker calls dlog_http_wake(r) when done; finish(r, arg) then runs on the connection's
 * thread and fills the response as a handler would (its error return is answered as usual).
 * Call dlog_http_defer() before handing the work over: wake may come at once. */
void dlog_http_defer(struct dlog_req *r, int (*finish)(struct dlog_req *r, void *arg),
		     void *arg);
/* Thread-safe. */
void dlog_http_wake(struct dlog_req *r);

/* ---- streamed answers: Server-Sent Events and exports ----
 * produce() runs on the connection's thread whenever the client can take more, and appends
 * what is to be sent to out (bounded). Returning 0 with nothing appended makes the connection
 * wait, without using a thread, until new events may exist (a commit was seen; polled every
 * DLOG_STREAM_POLL_MS). Returning 1 ends the answer after what was appended (an export);
 * a negative return aborts it. With heartbeat set (SSE), a comment goes out when nothing was
 * sent for DLOG_STREAM_HEARTBEAT_S and the type is text/event-stream (a handler may set
 * r->resp_type after dlog_http_stream for other types). done() frees cls at the end. */
struct dlog_stream_ops {
	int (*produce)(void *cls, struct dlog_buf *out);
	void (*done)(void *cls);
	bool heartbeat;
};
/* Answer r with a stream. Takes ownership of cls (done() is called on every path, also when
 * this fails). DLOG_ERATE when the key or the server has too many open streams. */
int dlog_http_stream(struct dlog_req *r, const struct dlog_stream_ops *ops, void *cls);

#endif
