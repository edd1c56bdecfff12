/* Metrics in the Prometheus text format (version 0.0.4): what an operator graphs and alerts on.
 *
 * Counters are relaxed atomics updated once per request in the completion hook: no lock on the
 * request path. Labels come from fixed tables only (the route table's patterns, a fixed list of
 * statuses), never from client text, so the output is bounded and cannot be injected into. */
#include "http/http_int.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUTES 64 /* rows of routes.c; one more column counts unmatched requests */

/* Statuses the server answers with; anything else lands in "other". */
static const unsigned statuses[] = {200, 201, 204, 206, 304, 400, 401, 403, 404,
                                    405, 409, 413, 414, 415, 429, 431, 500, 503};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]) + 1)

/* Upper bounds of the latency buckets, microseconds: 0.5 ms (a cached page) to 10 s. */
static const int64_t bounds_us[] = {500,    1000,   2500,   5000,    10000,   25000,   50000,
                                    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
#define NBOUNDS (sizeof(bounds_us) / sizeof(bounds_us[0]))

struct http_metrics {
	size_t nroutes;
	atomic_uint_fast64_t requests[MAX_ROUTES + 1][NSTATUS];
	atomic_uint_fast64_t latency[NBOUNDS + 1]; /* per bucket, not cumulative; last: +Inf */
	atomic_uint_fast64_t latency_sum_us;
	atomic_uint_fast64_t counter[HTTP_M_COUNT];
	atomic_int_fast64_t streams;
};

struct http_metrics *http__metrics_new(void)
{
	struct http_metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->nroutes = http__route_count();
	if (m->nroutes > MAX_ROUTES)
		m->nroutes = MAX_ROUTES; /* rows past it count as unmatched; raise MAX_ROUTES */
	return m;
}

void http__metrics_free(struct http_metrics *m)
{
	free(m);
}

static size_t status_col(unsigned status)
{
	for (size_t i = 0; i < NSTATUS - 1; i++)
		if (statuses[i] == status)
			return i;
	return NSTATUS - 1;
}

void http__metrics_request(struct http_metrics *m, const struct dlog_route *route, unsigned status,
                           dlog_time took_us, bool streamed)
{
	size_t row = route != NULL ? http__route_index(route) : m->nroutes;
	size_t b = 0;

	if (row > m->nroutes)
		row = m->nroutes;
	atomic_fetch_add_explicit(&m->requests[row][status_col(status)], 1, memory_order_relaxed);
	/* a stream's duration is how long the client watched, not how fast we answered */
	if (streamed)
		return;
	if (took_us < 0)
		took_us = 0;
	while (b < NBOUNDS && took_us > bounds_us[b])
		b++;
	atomic_fetch_add_explicit(&m->latency[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->latency_sum_us, (uint64_t)took_us, memory_order_relaxed);
}

void http__metrics_add(struct http_metrics *m, enum http_metric c, uint64_t n)
{
	if (m != NULL && (unsigned)c < HTTP_M_COUNT)
		atomic_fetch_add_explicit(&m->counter[c], n, memory_order_relaxed);
}

void http__metrics_streams(struct http_metrics *m, int delta)
{
	atomic_fetch_add_explicit(&m->streams, delta, memory_order_relaxed);
}

/* printf onto b; the first failure sticks in *rc and later calls do nothing */
static void put(struct dlog_buf *b, int *rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void put(struct dlog_buf *b, int *rc, const char *fmt, ...)
{
	va_list ap;

	if (*rc != 0)
		return;
	va_start(ap, fmt);
	*rc = dlog_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

static uint64_t get(atomic_uint_fast64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

static void render_requests(struct http_metrics *m, struct dlog_buf *b, int *rc)
{
	put(b, rc,
	    "# HELP devicelog_http_requests_total Requests answered, by route and "
	    "status.\n# TYPE devicelog_http_requests_total counter\n");
	for (size_t row = 0; row <= m->nroutes; row++) {
		const struct dlog_route *rt = row < m->nroutes ? http__route_at(row) : NULL;

		for (size_t col = 0; col < NSTATUS; col++) {
			uint64_t v = get(&m->requests[row][col]);
			char st[8];

			if (v == 0)
				continue;
			if (col < NSTATUS - 1)
				snprintf(st, sizeof(st), "%u", statuses[col]);
			else
				snprintf(st, sizeof(st), "other");
			put(b, rc,
			    "devicelog_http_requests_total{method=\"%s\",route=\"%s\","
			    "status=\"%s\"} %llu\n",
			    rt ? rt->method : "", rt ? rt->pattern : "unmatched", st,
			    (unsigned long long)v);
		}
	}
}

static void render_latency(struct http_metrics *m, struct dlog_buf *b, int *rc)
{
	uint64_t cum = 0;

	put(b, rc,
	    "# HELP devicelog_http_request_duration_seconds Time from the request "
	    "line to the answer's end (streams excluded).\n"
	    "# TYPE devicelog_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i <= NBOUNDS; i++) {
		cum += get(&m->latency[i]);
		if (i < NBOUNDS)
			put(b, rc,
			    "devicelog_http_request_duration_seconds_bucket{le=\"%g\"} "
			    "%llu\n",
			    (double)bounds_us[i] / 1e6, (unsigned long long)cum);
		else
			put(b, rc,
			    "devicelog_http_request_duration_seconds_bucket{le=\"+Inf\"} "
			    "%llu\n",
			    (unsigned long long)cum);
	}
	put(b, rc, "devicelog_http_request_duration_seconds_sum %.6f\n",
	    (double)get(&m->latency_sum_us) / 1e6);
	put(b, rc, "devicelog_http_request_duration_seconds_count %llu\n", (unsigned long long)cum);
}

/* name, help, type of each counter of enum http_metric, in its order */
static const struct {
	const char *name, *labels, *help;
} counters[HTTP_M_COUNT] = {
    [HTTP_M_EVENTS_INGESTED] = {"devicelog_events_ingested_total", "",
                                "Events stored by ingest (idempotent repeats excluded)."},
    [HTTP_M_STORE_ERRORS] = {"devicelog_store_errors_total", "",
                             "Requests that failed because the store did (answered 500/503)."},
    [HTTP_M_RATE_LIMITED_KEY] = {"devicelog_rate_limited_total", "{limit=\"key\"}",
                                 "Requests answered 429 by a rate limit."},
    [HTTP_M_RATE_LIMITED_IP] = {"devicelog_rate_limited_total", "{limit=\"address\"}", NULL},
    [HTTP_M_RATE_LIMITED_STREAMS] = {"devicelog_rate_limited_total", "{limit=\"streams\"}", NULL},
};

int http__metrics_render(struct http_metrics *m, const struct http_gauges *g, struct dlog_buf *b)
{
	int ret = 0, *rc = &ret;

	render_requests(m, b, rc);
	render_latency(m, b, rc);
	for (size_t i = 0; i < HTTP_M_COUNT; i++) {
		if (counters[i].help != NULL)
			put(b, rc, "# HELP %s %s\n# TYPE %s counter\n", counters[i].name,
			    counters[i].help, counters[i].name);
		put(b, rc, "%s%s %llu\n", counters[i].name, counters[i].labels,
		    (unsigned long long)get(&m->counter[i]));
	}
	put(b, rc,
	    "# HELP devicelog_streams_open Live streams and exports in progress.\n"
	    "# TYPE devicelog_streams_open gauge\ndevicelog_streams_open %lld\n",
	    (long long)atomic_load_explicit(&m->streams, memory_order_relaxed));
	put(b, rc,
	    "# HELP devicelog_connections_open Client connections open.\n"
	    "# TYPE devicelog_connections_open gauge\n"
	    "devicelog_connections_open %llu\n",
	    (unsigned long long)g->connections);
	put(b, rc,
	    "# HELP devicelog_store_commits_total Ingest commits, each of the requests waiting at"
	    " its start (group commit).\n"
	    "# TYPE devicelog_store_commits_total counter\ndevicelog_store_commits_total %llu\n"
	    "# HELP devicelog_store_commit_requests_total Ingest requests carried by those commits.\n"
	    "# TYPE devicelog_store_commit_requests_total counter\n"
	    "devicelog_store_commit_requests_total %llu\n"
	    "# HELP devicelog_store_commit_events_total Events in those requests (a request that"
	    " failed counts too).\n"
	    "# TYPE devicelog_store_commit_events_total counter\n"
	    "devicelog_store_commit_events_total %llu\n",
	    (unsigned long long)g->commits.groups, (unsigned long long)g->commits.requests,
	    (unsigned long long)g->commits.events);
	put(b, rc,
	    "# HELP devicelog_store_up 1 when the store answered a read just now.\n"
	    "# TYPE devicelog_store_up gauge\ndevicelog_store_up %d\n",
	    g->store_up ? 1 : 0);
	return ret;
}
