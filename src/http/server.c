/* The libmicrohttpd daemons and the request life cycle.
 *
 * Several single-threaded epoll daemons share the port (SO_REUSEPORT): measured to balance
 * keep-alive connections better than MHD's own thread pool (MEASUREMENTS.md). */
#include "http/http_int.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/auth.h"
#include "base/limits.h"

#define MAX_DAEMONS 16

struct dlog_server {
	struct dlog_server_config cfg;
	struct MHD_Daemon *d[MAX_DAEMONS];
	unsigned nd;
	unsigned port;
	char *cert, *key; /* PEM text, loaded once */
	uint64_t rid_base;
	atomic_uint_fast64_t rid_counter;
	struct http_hub *hub; /* live streams */
};

struct http_hub *http__hub(struct dlog_server *srv)
{
	return srv->hub;
}

struct dlog_store *http__store(struct dlog_server *srv)
{
	return srv->cfg.store;
}

static void request_id(struct dlog_server *srv, char out[DLOG_ID_STRLEN])
{
	/* time + (random base + counter): unique per process, unguessable-ish, sortable */
	struct dlog_id id;

	id.seq = (uint64_t)dlog_time_now();
	id.created = (dlog_time)(srv->rid_base + atomic_fetch_add(&srv->rid_counter, 1));
	dlog_id_format(&id, out);
}

/* The URI log hook runs before anything else and sees the raw URI: the request starts here. */
static void *uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct dlog_server *srv = cls;
	struct dlog_req *r = calloc(1, sizeof(*r));
	const char *q;
	size_t plen;

	if (r == NULL)
		return NULL;
	r->srv = srv;
	r->conn = conn;
	r->store = srv->cfg.store;
	r->started = dlog_time_now();
	r->status = 200;
	request_id(srv, r->request_id);
	dlog_buf_init(&r->out, DLOG_MAX_RESPONSE);
	dlog_buf_init(&r->body, 0);
	q = strchr(uri, '?');
	plen = q ? (size_t)(q - uri) : strlen(uri);
	r->path = strndup(uri, plen);
	r->query = strdup(q ? q + 1 : "");
	r->query_len = r->query ? strlen(r->query) : 0;
	if (r->path == NULL || r->query == NULL)
		r->failed = true; /* answered 503 by the access handler */
	return r;
}

static void request_free(struct dlog_req *r)
{
	if (r == NULL)
		return;
	dlog_buf_done(&r->out);
	dlog_buf_done(&r->body);
	free(r->path);
	free(r->query);
	free(r);
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct dlog_server *srv = cls;
	struct dlog_req *r = *req_cls;

	(void)conn;
	if (r == NULL)
		return;
	if (srv->cfg.log_requests)
		http__log_request(r, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
	request_free(r);
	*req_cls = NULL;
}

static enum MHD_Result queue(struct dlog_req *r)
{
	struct MHD_Response *resp;
	size_t len = 0;
	char *data;
	enum MHD_Result ret;

	r->queued = true;
	http__finish_response(r);
	if (r->stream != NULL && r->err == 0) {
		resp = http__stream_response(r);
		if (resp == NULL)
			return MHD_NO;
		http__add_headers(r, resp);
		ret = MHD_queue_response(r->conn, r->status, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	data = dlog_buf_steal(&r->out, &len);
	r->resp_len = len;
	resp = MHD_create_response_from_buffer_with_free_callback(len, data, free);
	if (resp == NULL) {
		free(data);
		return MHD_NO;
	}
	http__add_headers(r, resp);
	ret = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **req_cls)
{
	struct dlog_req *r = *req_cls;

	(void)cls;
	(void)url;
	(void)version;
	if (r == NULL)
		return MHD_NO; /* out of memory in uri_log: drop the connection */
	r->conn = conn;
	if (r->queued)
		return MHD_YES;
	if (!r->seen) {
		r->seen = true;
		r->method = method;
		if (r->path == NULL)
			dlog_http_error(r, DLOG_ENOMEM, "out of memory");
		else
			http__begin(r);
		/* A failure with a body still coming is answered now (the connection then closes);
		 * otherwise answer on the next call, which keeps keep-alive (MEASUREMENTS.md). */
		if (r->failed && *upload_data_size > 0)
			return queue(r);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (!r->failed && dlog_buf_add(&r->body, upload_data, n) != 0) {
			dlog_http_error(r, DLOG_ETOOBIG, "request body exceeds %zu bytes",
					r->body.max);
			return queue(r);
		}
		return MHD_YES;
	}
	if (!r->failed)
		http__dispatch(r);
	return queue(r);
}

static int parse_listen(const char *listen, struct sockaddr_in *sa, char *errbuf, size_t errlen)
{
	char host[64];
	const char *colon = strrchr(listen, ':');
	int64_t port;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (colon == NULL || (size_t)(colon - listen) >= sizeof(host) ||
	    dlog_parse_i64(colon + 1, strlen(colon + 1), 0, 65535, &port) != 0)
		goto bad;
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (host[0] == '\0')
		snprintf(host, sizeof(host), "0.0.0.0");
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		goto bad;
	sa->sin_port = htons((uint16_t)port);
	return 0;
bad:
	snprintf(errbuf, errlen, "--listen '%s': expected IPV4:PORT, e.g. 127.0.0.1:8080", listen);
	return DLOG_EINVAL;
}

static char *read_file(const char *path, char *errbuf, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	struct dlog_buf b;
	char chunk[4096];
	size_t n;
	char *out;

	if (f == NULL) {
		snprintf(errbuf, errlen, "cannot read %s: %m", path);
		return NULL;
	}
	dlog_buf_init(&b, 1024 * 1024);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (dlog_buf_add(&b, chunk, n) != 0) {
			snprintf(errbuf, errlen, "%s is larger than 1 MiB", path);
			break;
		}
	}
	fclose(f);
	out = dlog_buf_steal(&b, &n);
	dlog_buf_done(&b);
	if (out == NULL)
		snprintf(errbuf, errlen, "%s is empty or too large", path);
	return out;
}

static int load_tls(struct dlog_server *srv, char *errbuf, size_t errlen)
{
	if ((srv->cfg.tls_cert == NULL) != (srv->cfg.tls_key == NULL)) {
		snprintf(errbuf, errlen, "--tls-cert and --tls-key go together");
		return DLOG_EINVAL;
	}
	if (srv->cfg.tls_cert == NULL)
		return 0;
	srv->cert = read_file(srv->cfg.tls_cert, errbuf, errlen);
	if (srv->cert == NULL)
		return DLOG_EIO;
	srv->key = read_file(srv->cfg.tls_key, errbuf, errlen);
	if (srv->key == NULL)
		return DLOG_EIO;
	return 0;
}

static struct MHD_Daemon *start_one(struct dlog_server *srv, const struct sockaddr_in *sa)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
			 MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
	struct MHD_OptionItem tls[] = {
		{MHD_OPTION_HTTPS_MEM_CERT, 0, srv->cert},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, srv->key},
		/* TLS 1.2 and 1.3 only */
		{MHD_OPTION_HTTPS_PRIORITIES, 0,
		 (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE"},
		{MHD_OPTION_END, 0, NULL},
	};
	struct MHD_OptionItem none[] = {{MHD_OPTION_END, 0, NULL}};

	if (srv->cert != NULL)
		flags |= MHD_USE_TLS;
	return MHD_start_daemon(
		flags, 0, NULL, NULL, access_handler, srv, MHD_OPTION_SOCK_ADDR, sa,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_URI_LOG_CALLBACK,
		uri_log, srv, MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)DLOG_CONN_MEMORY,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)DLOG_MAX_CONNECTIONS,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)DLOG_MAX_CONNECTIONS_PER_IP,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)DLOG_CONN_TIMEOUT_S, MHD_OPTION_ARRAY,
		srv->cert != NULL ? tls : none, MHD_OPTION_END);
}

static unsigned bound_port(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);

	return info ? info->port : 0;
}

int dlog_server_start(const struct dlog_server_config *cfg, struct dlog_server **out,
		      char *errbuf, size_t errlen)
{
	struct dlog_server *srv = calloc(1, sizeof(*srv));
	struct sockaddr_in sa;
	unsigned want;
	int rc;

	*out = NULL;
	if (srv == NULL)
		return DLOG_ENOMEM;
	srv->cfg = *cfg;
	dlog_random(&srv->rid_base, sizeof(srv->rid_base));
	rc = parse_listen(cfg->listen, &sa, errbuf, errlen);
	if (rc == 0)
		rc = load_tls(srv, errbuf, errlen);
	if (rc != 0)
		goto fail;
	srv->hub = http__hub_new(cfg->store);
	if (srv->hub == NULL) {
		snprintf(errbuf, errlen, "cannot start the stream hub");
		rc = DLOG_ENOMEM;
		goto fail;
	}
	want = cfg->threads ? cfg->threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (want < 1)
		want = 1;
	if (want > MAX_DAEMONS)
		want = MAX_DAEMONS;
	for (srv->nd = 0; srv->nd < want; srv->nd++) {
		srv->d[srv->nd] = start_one(srv, &sa);
		if (srv->d[srv->nd] == NULL) {
			snprintf(errbuf, errlen,
				 "cannot listen on %s (address in use, or a bad TLS certificate/key)",
				 cfg->listen);
			rc = DLOG_EIO;
			goto fail;
		}
		if (srv->nd == 0) {
			/* the others must join the port the first one got */
			srv->port = bound_port(srv->d[0]);
			sa.sin_port = htons((uint16_t)srv->port);
		}
	}
	*out = srv;
	return 0;
fail:
	dlog_server_stop(srv);
	return rc;
}

unsigned dlog_server_port(const struct dlog_server *srv)
{
	return srv->port;
}

void dlog_server_stop(struct dlog_server *srv)
{
	if (srv == NULL)
		return;
	/* stop accepting on every daemon first, then let each finish its connections */
	for (unsigned i = 0; i < srv->nd; i++)
		MHD_quiesce_daemon(srv->d[i]);
	/* streams are suspended connections: wake them to end before the daemons stop */
	http__hub_stop(srv->hub);
	for (unsigned i = 0; i < srv->nd; i++)
		MHD_stop_daemon(srv->d[i]);
	http__hub_free(srv->hub);
	free(srv->cert);
	free(srv->key);
	free(srv);
}
