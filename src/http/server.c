/* The libmicrohttpd daemons and the request life cycle.
 *
 * Several single-threaded epoll daemons share the port (SO_REUSEPORT): measured to balance
 * keep-alive connections better than MHD's own thread pool (MEASUREMENTS.md). */
#include "http/http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "api/api.h"
#include "auth/auth.h"
#include "base/limits.h"

#define MAX_DAEMONS 16
/* TLS reloads whose old daemons may still be draining at once (a stream can keep one alive for
 * hours; past this a reload is refused until older ones have drained). */
#define MAX_RETIRED 8

struct dlog_server {
	struct dlog_server_config cfg;
	struct MHD_Daemon *d[MAX_DAEMONS];
	unsigned nd;
	unsigned port;
	char *cert, *key; /* PEM text, loaded once */
	uint64_t rid_base;
	atomic_uint_fast64_t rid_counter;
	struct http_hub *hub; /* live streams */
	struct http_metrics *metrics;
	struct http_ratelimit *rl_key, *rl_ip;
	struct MHD_Daemon *md; /* --metrics-listen: /metrics and /health only, no key */
	unsigned mport;
	/* daemons replaced by dlog_server_reload_tls(), still serving their connections */
	struct retired {
		struct MHD_Daemon *d[MAX_DAEMONS];
		unsigned nd;
		char *cert, *key;
	} retired[MAX_RETIRED];
};

struct http_hub *http__hub(struct dlog_server *srv)
{
	return srv->hub;
}

struct dlog_store *http__store(struct dlog_server *srv)
{
	return srv->cfg.store;
}

struct http_metrics *http__metrics(struct dlog_server *srv)
{
	return srv->metrics;
}

struct http_ratelimit *http__ratelimit(struct dlog_server *srv, bool per_key)
{
	return per_key ? srv->rl_key : srv->rl_ip;
}

void http__gauges(struct dlog_server *srv, struct http_gauges *g)
{
	uint64_t seq;

	g->connections = 0;
	for (unsigned i = 0; i < srv->nd; i++) {
		const union MHD_DaemonInfo *info =
			MHD_get_daemon_info(srv->d[i], MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

		g->connections += info ? info->num_connections : 0;
	}
	g->store_up = dlog_store_last_seq(srv->cfg.store, &seq) == 0;
	dlog_store_commit_stats(srv->cfg.store, &g->commits);
}

int http__metrics_page(struct dlog_req *r)
{
	struct http_gauges g;
	int rc;

	http__gauges(r->srv, &g);
	dlog_buf_reset(&r->out);
	rc = http__metrics_render(r->srv->metrics, &g, &r->out);
	if (rc != 0)
		return dlog_http_error(r, rc, "cannot render the metrics");
	r->resp_type = "text/plain; version=0.0.4; charset=utf-8";
	return 0;
}

static void request_id(struct dlog_server *srv, char out[DLOG_ID_STRLEN])
{
	/* time + (random base + counter): unique per process, unguessable-ish, sortable */
	struct dlog_id id;

	id.seq = (uint64_t)dlog_time_now();
	id.created = (dlog_time)(srv->rid_base + atomic_fetch_add(&srv->rid_counter, 1));
	dlog_id_format(&id, out);
}

/* The peer's address as text into out ("-" when unknown). */
static void socket_address(struct MHD_Connection *conn, char *out, size_t outlen)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	const void *a = NULL;

	snprintf(out, outlen, "-");
	if (sa != NULL && sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa != NULL && sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (a != NULL && inet_ntop(sa->sa_family, a, out, (socklen_t)outlen) == NULL)
		snprintf(out, outlen, "-");
}

/* Behind a trusted proxy the client is the first X-Forwarded-For entry. It is taken only when
 * it parses as an address: the header is client text and goes into the log line. */
static void forwarded_address(struct dlog_req *r)
{
	size_t len, n;
	const char *h = dlog_http_header(r, "X-Forwarded-For", &len);
	char ip[sizeof(r->client)];
	unsigned char bin[sizeof(struct in6_addr)];

	if (h == NULL)
		return;
	while (len > 0 && (*h == ' ' || *h == '\t'))
		h++, len--;
	for (n = 0; n < len && h[n] != ',' && h[n] != ' ' && h[n] != '\t'; n++)
		;
	if (n == 0 || n >= sizeof(ip))
		return;
	memcpy(ip, h, n);
	ip[n] = '\0';
	if (inet_pton(AF_INET, ip, bin) == 1 || inet_pton(AF_INET6, ip, bin) == 1)
		memcpy(r->client, ip, n + 1);
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
	socket_address(conn, r->client, sizeof(r->client));
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

/* The request's numbers for GET /metrics. */
static void record(struct dlog_server *srv, struct dlog_req *r)
{
	struct http_metrics *m = srv->metrics;

	http__metrics_request(m, r->route, r->status, dlog_time_now() - r->started, r->streaming);
	if (r->streaming)
		http__metrics_streams(m, -1);
	if (r->ingested > 0)
		http__metrics_add(m, HTTP_M_EVENTS_INGESTED, r->ingested);
	if (r->err == DLOG_ESTORE || r->err == DLOG_EUNAVAIL || r->err == DLOG_ESCHEMA)
		http__metrics_add(m, HTTP_M_STORE_ERRORS, 1);
	/* the buckets count their own 429s; the other one is the open-streams cap */
	if (r->err == DLOG_ERATE && !r->rate_limited)
		http__metrics_add(m, HTTP_M_RATE_LIMITED_STREAMS, 1);
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
	record(srv, r);
	request_free(r);
	*req_cls = NULL;
}

/* ---- response compression ----
 * Every response body leaves through queue(), so compression lives there and nowhere else.
 * Bodies are built whole in memory (at most DLOG_MAX_RESPONSE), so one deflate() call does it. */

/* Below this a body fits in a packet or two: gzip's 18 bytes of framing and the CPU are not
 * worth it. */
#define GZIP_MIN_BYTES 1024
/* Level 1 (measured on a 1000-event page: docs/DEPLOYMENT.md): nearly the ratio of the
 * default level 6 at a fraction of the CPU, which the single-threaded daemon pays inline. */
#define GZIP_LEVEL 1

/* Types worth compressing (text); anything else, e.g. images, is already compact. */
static const char *const compressible_types[] = {
	"application/json", "application/x-ndjson", "application/javascript", "text/",
	"image/svg+xml",
};

static bool compressible(const char *type)
{
	for (size_t i = 0; i < sizeof(compressible_types) / sizeof(compressible_types[0]); i++)
		if (strncasecmp(type, compressible_types[i], strlen(compressible_types[i])) == 0)
			return true;
	return false;
}

/* An Accept-Encoding q-value of zero means "not this coding" (RFC 9110 §12.4.2): "0", "0.",
 * "0.0" .. "0.000". Anything else, malformed included, counts as acceptable. */
static bool q_is_zero(const char *p, size_t n)
{
	if (n == 0 || p[0] != '0')
		return false;
	if (n > 1 && p[1] != '.')
		return false;
	for (size_t i = 2; i < n; i++)
		if (p[i] != '0')
			return false;
	return true;
}

/* One Accept-Encoding element "coding [; q=V]": its coding and whether q is zero. */
static void coding_element(const char *p, size_t n, const char **coding, size_t *clen,
			   bool *refused)
{
	const char *semi = memchr(p, ';', n), *end = semi ? semi : p + n, *stop = p + n;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*coding = p;
	*clen = (size_t)(end - p);
	*refused = false;
	if (semi == NULL)
		return;
	/* parameters (OWS ";" OWS name "=" value): only q matters */
	for (const char *q = semi; q != NULL && q < stop; q = memchr(q, ';', (size_t)(stop - q))) {
		const char *v, *ve;

		q++;
		while (q < stop && (*q == ' ' || *q == '\t'))
			q++;
		if (stop - q < 2 || (*q != 'q' && *q != 'Q') || q[1] != '=')
			continue;
		for (v = ve = q + 2; ve < stop && *ve != ';' && *ve != ' ' && *ve != '\t'; ve++)
			;
		*refused = q_is_zero(v, (size_t)(ve - v));
		return;
	}
}

/* Does the request accept gzip? Listed with q>0, or not listed and "*" is, with q>0. */
static bool accepts_gzip(struct dlog_req *r)
{
	size_t len;
	const char *h = dlog_http_header(r, MHD_HTTP_HEADER_ACCEPT_ENCODING, &len);
	int gzip = -1, star = -1; /* -1 not listed, 0 refused, 1 accepted */

	while (h != NULL && len > 0) {
		const char *comma = memchr(h, ',', len), *coding;
		size_t n = comma ? (size_t)(comma - h) : len, clen;
		bool refused;

		coding_element(h, n, &coding, &clen, &refused);
		if ((clen == 4 && strncasecmp(coding, "gzip", 4) == 0) ||
		    (clen == 6 && strncasecmp(coding, "x-gzip", 6) == 0))
			gzip = !refused;
		else if (clen == 1 && coding[0] == '*')
			star = !refused;
		h += comma ? n + 1 : n;
		len -= comma ? n + 1 : n;
	}
	return gzip == 1 || (gzip == -1 && star == 1);
}

/* gzip len bytes of src into a new buffer no larger than src (a body that does not shrink goes
 * out plain, so memory stays bounded by the plain body). NULL when not worth it or on failure:
 * then the caller sends src as it is. */
static char *gzip_body(const char *src, size_t len, size_t *outlen)
{
	z_stream zs;
	char *out = NULL, *shrunk;

	memset(&zs, 0, sizeof(zs));
	if (len > UINT32_MAX || deflateInit2(&zs, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8,
					      Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	out = malloc(len);
	if (out == NULL)
		goto done;
	zs.next_in = (Bytef *)(uintptr_t)src; /* zlib's API lacks const; it does not write */
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)len;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		free(out);
		out = NULL;
		goto done;
	}
	*outlen = zs.total_out;
	/* the response is held until sent: give back what compression saved */
	shrunk = realloc(out, *outlen);
	if (shrunk != NULL)
		out = shrunk;
done:
	deflateEnd(&zs);
	return out;
}

/* Replace *data by its gzip form when the client takes it and it pays. Takes ownership of
 * *data (freed when replaced). Sets r->gzipped. */
static void maybe_gzip(struct dlog_req *r, char **data, size_t *len)
{
	char *z;
	size_t zlen = 0;

	if (*len <= GZIP_MIN_BYTES || !accepts_gzip(r))
		return;
	z = gzip_body(*data, *len, &zlen);
	if (z == NULL)
		return;
	free(*data);
	*data = z;
	*len = zlen;
	r->gzipped = true;
}

static enum MHD_Result queue(struct dlog_req *r)
{
	struct MHD_Response *resp;
	size_t len = 0;
	char *data;
	bool vary;
	enum MHD_Result ret;

	r->queued = true;
	http__finish_response(r);
	if (r->stream != NULL && r->err == 0) {
		resp = http__stream_response(r);
		if (resp == NULL)
			return MHD_NO;
		r->streaming = true;
		http__metrics_streams(r->srv->metrics, 1);
		http__add_headers(r, resp);
		ret = MHD_queue_response(r->conn, r->status, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	data = dlog_buf_steal(&r->out, &len);
	vary = compressible(r->resp_type ? r->resp_type : "application/json");
	if (vary)
		maybe_gzip(r, &data, &len);
	r->resp_len = len;
	resp = MHD_create_response_from_buffer_with_free_callback(len, data, free);
	if (resp == NULL) {
		free(data);
		return MHD_NO;
	}
	http__add_headers(r, resp);
	/* caches must not hand a gzip body to a client that did not ask for one */
	if (vary)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
	if (r->gzipped)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	ret = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Does the request announce a body (a non-zero Content-Length, or chunked)? */
static bool has_body(struct dlog_req *r)
{
	const char *cl = dlog_http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH, NULL);

	if (dlog_http_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING, NULL) != NULL)
		return true;
	return cl != NULL && strcmp(cl, "0") != 0;
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
		if (r->srv->cfg.trust_proxy)
			forwarded_address(r);
		if (r->path == NULL)
			dlog_http_error(r, DLOG_ENOMEM, "out of memory");
		else
			http__begin(r);
		/* A failure with a body still coming is answered now (the connection then closes,
		 * and the body is never read); otherwise answer on the next call, which keeps
		 * keep-alive (MEASUREMENTS.md). */
		if (r->failed && (*upload_data_size > 0 || has_body(r)))
			return queue(r);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		/* The idle timeout restarts with every byte; this deadline does not, so a client
		 * trickling its body cannot hold the connection and its buffer for ever. No answer
		 * can be sent in the middle of a body: the connection is closed. */
		if (dlog_time_now() - r->started > (dlog_time)DLOG_REQUEST_TIMEOUT_S * 1000000) {
			dlog_log(DLOG_LOG_WARNING, "request_id=%s client=%s: body not complete after "
				 "%d s; closing", r->request_id, r->client, DLOG_REQUEST_TIMEOUT_S);
			return MHD_NO;
		}
		*upload_data_size = 0;
		if (!r->failed && dlog_buf_add(&r->body, upload_data, n) != 0) {
			dlog_http_error(r, DLOG_ETOOBIG, "request body exceeds %zu bytes",
					r->body.max);
			return queue(r);
		}
		return MHD_YES;
	}
	if (r->deferred) {
		/* resumed by dlog_http_wake: the work is done, answer now */
		int rc;

		r->deferred = false;
		rc = r->finish(r, r->finish_arg);
		if (rc != 0 && r->err == 0)
			dlog_http_error(r, rc, "%s", dlog_strerror(rc));
		return queue(r);
	}
	if (!r->failed)
		http__dispatch(r);
	if (r->deferred)
		return MHD_YES; /* suspended until dlog_http_wake */
	return queue(r);
}

void dlog_http_defer(struct dlog_req *r, int (*finish)(struct dlog_req *r, void *arg), void *arg)
{
	r->finish = finish;
	r->finish_arg = arg;
	r->deferred = true;
	MHD_suspend_connection(r->conn);
}

void dlog_http_wake(struct dlog_req *r)
{
	MHD_resume_connection(r->conn);
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

/* The daemons share the port through SO_REUSEPORT, which would as well let them join a port
 * that another program, or a second devicelog, already listens on: the two would then split the
 * connections without a word. A probe bound without SO_REUSEPORT finds such a listener first. */
static int check_port_free(const struct sockaddr_in *sa, const char *listen, char *errbuf,
			   size_t errlen)
{
	int one = 1, fd, rc = 0;

	if (sa->sin_port == 0)
		return 0;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0; /* starting the daemons will fail and say so */
	/* connections of an earlier run in TIME_WAIT are no listener */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0 && errno == EADDRINUSE) {
		snprintf(errbuf, errlen, "cannot listen on %s: the address is in use", listen);
		rc = DLOG_EIO;
	}
	close(fd);
	return rc;
}

static char *read_file(const char *path, char *errbuf, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	struct dlog_buf b;
	char chunk[4096];
	size_t n;
	char *out = NULL;

	if (f == NULL) {
		snprintf(errbuf, errlen, "cannot read %s: %m", path);
		return NULL;
	}
	/* a PEM certificate chain or key is a few KiB; a bigger file is the wrong file */
	dlog_buf_init(&b, 1024 * 1024);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (dlog_buf_add(&b, chunk, n) != 0) {
			snprintf(errbuf, errlen, "%s is larger than 1 MiB", path);
			goto done;
		}
	}
	if (ferror(f)) {
		snprintf(errbuf, errlen, "cannot read %s: %m", path);
		goto done;
	}
	/* the buffer keeps a NUL after the content: libmicrohttpd takes C strings */
	out = dlog_buf_steal(&b, &n);
	if (out == NULL)
		snprintf(errbuf, errlen, "%s is empty", path);
done:
	fclose(f);
	dlog_buf_done(&b);
	return out;
}

static gnutls_datum_t datum(const char *pem)
{
	gnutls_datum_t d = {(unsigned char *)(uintptr_t)pem, (unsigned)strlen(pem)};

	return d;
}

/* Check the PEM pair with GnuTLS (the library libmicrohttpd serves TLS with) before any daemon
 * starts: libmicrohttpd would only say it cannot start, which an operator cannot act on. Each
 * file is parsed alone first so the message names the file at fault. */
static int check_tls(const char *cert, const char *key, char *errbuf, size_t errlen)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_x509_privkey_t pk = NULL;
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_datum_t c = datum(cert), k = datum(key);
	int rc = DLOG_EINVAL, g;

	if (gnutls_x509_crt_init(&crt) < 0 || gnutls_x509_privkey_init(&pk) < 0 ||
	    gnutls_certificate_allocate_credentials(&cred) < 0) {
		snprintf(errbuf, errlen, "--tls-cert/--tls-key: out of memory");
		rc = DLOG_ENOMEM;
		goto done;
	}
	g = gnutls_x509_crt_import(crt, &c, GNUTLS_X509_FMT_PEM);
	if (g < 0) {
		snprintf(errbuf, errlen, "--tls-cert: not a PEM certificate (%s)", gnutls_strerror(g));
		goto done;
	}
	g = gnutls_x509_privkey_import2(pk, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (g < 0) {
		snprintf(errbuf, errlen, "--tls-key: not an unencrypted PEM private key (%s)",
			 gnutls_strerror(g));
		goto done;
	}
	g = gnutls_certificate_set_x509_key_mem2(cred, &c, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (g == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
		snprintf(errbuf, errlen, "--tls-cert/--tls-key: the certificate and key do not match");
		goto done;
	}
	if (g < 0) {
		snprintf(errbuf, errlen, "--tls-cert/--tls-key: unusable pair (%s)",
			 gnutls_strerror(g));
		goto done;
	}
	rc = 0;
done:
	gnutls_certificate_free_credentials(cred);
	gnutls_x509_privkey_deinit(pk);
	gnutls_x509_crt_deinit(crt);
	return rc;
}

static int load_tls(struct dlog_server *srv, char *errbuf, size_t errlen)
{
	char why[400];

	if ((srv->cfg.tls_cert == NULL) != (srv->cfg.tls_key == NULL)) {
		snprintf(errbuf, errlen, "--tls-cert and --tls-key go together");
		return DLOG_EINVAL;
	}
	if (srv->cfg.tls_cert == NULL)
		return 0;
	srv->cert = read_file(srv->cfg.tls_cert, why, sizeof(why));
	if (srv->cert == NULL) {
		snprintf(errbuf, errlen, "--tls-cert: %s", why);
		return DLOG_EIO;
	}
	srv->key = read_file(srv->cfg.tls_key, why, sizeof(why));
	if (srv->key == NULL) {
		snprintf(errbuf, errlen, "--tls-key: %s", why);
		return DLOG_EIO;
	}
	return check_tls(srv->cert, srv->key, errbuf, errlen);
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
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		/* behind a proxy every connection has the proxy's address: the proxy caps clients */
		(unsigned)(srv->cfg.trust_proxy ? DLOG_MAX_CONNECTIONS : DLOG_MAX_CONNECTIONS_PER_IP),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)DLOG_CONN_TIMEOUT_S, MHD_OPTION_ARRAY,
		srv->cert != NULL ? tls : none, MHD_OPTION_END);
}

static unsigned bound_port(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);

	return info ? info->port : 0;
}

/* ---- the metrics listener (--metrics-listen) ----
 * For a scraper on a private address: GET /metrics and GET /health, no key, nothing else. It
 * has its own few connections, so a flood on the main port cannot blind the monitoring. */
static int metrics_route(struct dlog_req *r)
{
	const char *p = r->path;
	size_t n = strlen(p);

	if (n > 1 && p[n - 1] == '/')
		n--;
	if ((n == 8 && strncmp(p, "/metrics", 8) == 0) || (n == 7 && strncmp(p, "/health", 7) == 0)) {
		if (strcmp(r->method, "GET") != 0) {
			r->allow = "GET";
			return dlog_http_error(r, DLOG_EMETHOD, "only GET is supported here");
		}
		return p[1] == 'm' ? http__metrics_page(r) : dlog_api_health(r);
	}
	return dlog_http_error(r, DLOG_ENOTFOUND, "only /metrics and /health are served here");
}

static enum MHD_Result metrics_access(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **req_cls)
{
	static int seen; /* a marker: the first call only notes the request (keep-alive) */
	struct dlog_server *srv = cls;
	struct dlog_req *r;
	enum MHD_Result ret;

	(void)version;
	(void)upload_data;
	if (*req_cls == NULL) {
		*req_cls = &seen;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		*upload_data_size = 0; /* nothing here takes a body */
		return MHD_YES;
	}
	r = uri_log(srv, url, conn);
	if (r == NULL || r->path == NULL) {
		request_free(r);
		return MHD_NO;
	}
	r->method = method;
	metrics_route(r);
	ret = queue(r);
	request_free(r);
	return ret;
}

static int start_metrics(struct dlog_server *srv, char *errbuf, size_t errlen)
{
	struct sockaddr_in sa;
	int rc = parse_listen(srv->cfg.metrics_listen, &sa, errbuf, errlen);

	if (rc == 0)
		rc = check_port_free(&sa, srv->cfg.metrics_listen, errbuf, errlen);
	if (rc != 0)
		return rc;
	srv->md = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
		metrics_access, srv, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)DLOG_METRICS_CONN_MEMORY, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)DLOG_METRICS_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)DLOG_CONN_TIMEOUT_S, MHD_OPTION_END);
	if (srv->md == NULL) {
		snprintf(errbuf, errlen, "cannot listen on %s (--metrics-listen)",
			 srv->cfg.metrics_listen);
		return DLOG_EIO;
	}
	srv->mport = bound_port(srv->md);
	dlog_log(DLOG_LOG_INFO, "serving /metrics and /health without a key on http://%.*s:%u",
		 (int)(strrchr(srv->cfg.metrics_listen, ':') - srv->cfg.metrics_listen),
		 srv->cfg.metrics_listen, srv->mport);
	return 0;
}

unsigned dlog_server_metrics_port(const struct dlog_server *srv)
{
	return srv->mport;
}

/* A configured rate: 0 means the default, negative none (0 to the limiter). */
static unsigned rate_of(int v, unsigned dflt)
{
	return v == 0 ? dflt : v < 0 ? 0 : (unsigned)v;
}

static int start_limits(struct dlog_server *srv)
{
	const struct dlog_server_config *c = &srv->cfg;

	srv->metrics = http__metrics_new();
	srv->rl_key = http__ratelimit_new(rate_of(c->rate_key, DLOG_RATE_KEY),
					  rate_of(c->rate_key_burst, DLOG_RATE_KEY_BURST));
	srv->rl_ip = http__ratelimit_new(rate_of(c->rate_ip, DLOG_RATE_IP),
					 rate_of(c->rate_ip_burst, DLOG_RATE_IP_BURST));
	return srv->metrics && srv->rl_key && srv->rl_ip ? 0 : DLOG_ENOMEM;
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
	if (rc == 0)
		rc = check_port_free(&sa, cfg->listen, errbuf, errlen);
	if (rc == 0 && (rc = start_limits(srv)) != 0)
		snprintf(errbuf, errlen, "out of memory");
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
	if (cfg->metrics_listen != NULL && (rc = start_metrics(srv, errbuf, errlen)) != 0)
		goto fail;
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

static void retired_stop(struct dlog_server *srv, bool all);

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
	retired_stop(srv, true);
	if (srv->md != NULL)
		MHD_stop_daemon(srv->md);
	http__hub_free(srv->hub);
	http__metrics_free(srv->metrics);
	http__ratelimit_free(srv->rl_key);
	http__ratelimit_free(srv->rl_ip);
	free(srv->cert);
	free(srv->key);
	free(srv);
}

/* ---- TLS reload (SIGHUP) ----
 * New daemons with the new pair bind the same port beside the old ones (SO_REUSEPORT, as the
 * daemons of one generation already do). Then the old ones are quiesced; the kernel still
 * queues new connections on a quiesced listening socket, and closing it would reset them, so
 * its queue is accepted here and handed to the new daemons before it is closed. The old
 * daemons keep their open connections (keep-alive, streams) until those end: stopping them
 * now would cut requests in flight, and a daemon with a suspended stream cannot be stopped. */

/* Stop retired daemons that have no connection left (all: every one, at server stop, after
 * the hub ended the streams). A quiesced daemon without connections gets no new ones. */
static void retired_stop(struct dlog_server *srv, bool all)
{
	for (unsigned g = 0; g < MAX_RETIRED; g++) {
		struct retired *r = &srv->retired[g];
		bool busy = false;

		for (unsigned i = 0; i < r->nd && !all && !busy; i++) {
			const union MHD_DaemonInfo *info =
				MHD_get_daemon_info(r->d[i], MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

			busy = info == NULL || info->num_connections > 0;
		}
		if (busy || r->nd == 0)
			continue;
		for (unsigned i = 0; i < r->nd; i++)
			MHD_stop_daemon(r->d[i]);
		free(r->cert);
		free(r->key);
		memset(r, 0, sizeof(*r));
	}
}

/* Accept what waits in a quiesced daemon's queue and give it to the new daemons; close it. */
static void hand_over_queue(struct dlog_server *srv, MHD_socket fd, unsigned *next)
{
	if (fd == MHD_INVALID_SOCKET)
		return;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		struct sockaddr_storage sa;
		socklen_t salen = sizeof(sa);
		int c = accept4(fd, (struct sockaddr *)&sa, &salen, SOCK_CLOEXEC);

		if (c < 0 && errno == EINTR)
			continue;
		if (c < 0)
			break;
		/* on failure libmicrohttpd closes the socket: that client sees a reset, as it
		 * would have without the hand-over */
		MHD_add_connection(srv->d[*next % srv->nd], c, (struct sockaddr *)&sa, salen);
		(*next)++;
	}
	close(fd);
}

int dlog_server_reload_tls(struct dlog_server *srv, const char *cert, const char *key,
			   char *err, size_t len)
{
	struct MHD_Daemon *fresh[MAX_DAEMONS] = {NULL};
	char *old_cert = srv->cert, *old_key = srv->key, why[400];
	struct retired *slot = NULL;
	struct sockaddr_in sa;
	unsigned next = 0;
	MHD_socket fds[MAX_DAEMONS];
	int rc;

	if (old_cert == NULL) {
		snprintf(err, len, "the server was started without TLS");
		return DLOG_EINVAL;
	}
	retired_stop(srv, false);
	for (unsigned g = 0; g < MAX_RETIRED && slot == NULL; g++)
		if (srv->retired[g].nd == 0)
			slot = &srv->retired[g];
	if (slot == NULL) {
		snprintf(err, len, "%d earlier reloads still have connections open; try later",
			 MAX_RETIRED);
		return DLOG_EUNAVAIL;
	}
	rc = parse_listen(srv->cfg.listen, &sa, err, len);
	if (rc != 0)
		return rc;
	sa.sin_port = htons((uint16_t)srv->port);
	srv->cert = read_file(cert, why, sizeof(why));
	srv->key = srv->cert ? read_file(key, why, sizeof(why)) : NULL;
	if (srv->cert == NULL || srv->key == NULL) {
		snprintf(err, len, "--tls-%s: %s", srv->cert ? "key" : "cert", why);
		rc = DLOG_EIO;
		goto fail;
	}
	rc = check_tls(srv->cert, srv->key, err, len);
	for (unsigned i = 0; rc == 0 && i < srv->nd; i++) {
		fresh[i] = start_one(srv, &sa);
		if (fresh[i] == NULL) {
			snprintf(err, len, "cannot start a daemon on port %u with the new pair",
				 srv->port);
			rc = DLOG_EIO;
		}
	}
	if (rc != 0)
		goto fail;
	/* from here on nothing fails: the new generation takes over */
	for (unsigned i = 0; i < srv->nd; i++) {
		slot->d[i] = srv->d[i];
		srv->d[i] = fresh[i];
		fds[i] = MHD_quiesce_daemon(slot->d[i]);
	}
	slot->nd = srv->nd;
	slot->cert = old_cert;
	slot->key = old_key;
	/* let a daemon thread that was already inside its accept loop finish it */
	usleep(50 * 1000);
	for (unsigned i = 0; i < slot->nd; i++)
		hand_over_queue(srv, fds[i], &next);
	return 0;
fail:
	for (unsigned i = 0; i < srv->nd; i++)
		if (fresh[i] != NULL)
			MHD_stop_daemon(fresh[i]);
	free(srv->cert);
	free(srv->key);
	srv->cert = old_cert;
	srv->key = old_key;
	return rc;
}
