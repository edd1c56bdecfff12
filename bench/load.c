/* load: a small HTTP/1.1 keep-alive load generator for bench/run.sh. 127.0.0.1 only.
 *
 *   load --port P --mode batch  --file F --keys K [--conns C]            POST each block of F
 *   load --port P --mode single --file F --keys K [--conns C]            POST one event each
 *   load --port P --mode get    --paths F --keys K [--conns C]           GET paths round-robin
 *   common: [--threads T] [--requests N] [--duration S]
 *
 * F is gen's output: blocks of NDJSON, each after a "#<account>" line; K has one bearer key per
 * line, line i for account i. A paths file has "<account> <path>" per line. Each thread runs
 * its own epoll loop over its share of the connections; work items are handed out by one atomic
 * counter, so every block is sent exactly once whatever the number of connections. It stops
 * after N requests or S seconds (whichever first), waits for the requests in flight, and
 * prints one line of key=value results: requests, errors, req/s, events/s, latency p50/p90/p99
 * (a log-linear histogram, ~3 % resolution), the server's own p50/p99 when it sends a
 * Server-Timing header, and for batch mode events/s per tenth of the data (to show whether
 * ingest holds up as the store grows). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define MAX_THREADS 16
#define MAX_KEYS 10000
#define MAX_KEY_LEN 200
#define MAX_ACCOUNTS 10000
#define MAX_PATHS 100000
#define MAX_ITEMS 20000000        /* work items indexed up front (blocks or single lines) */
#define MAX_RESPONSE (64 << 20)   /* a response larger than this is an error */
#define HIST_BUCKETS (64 + 40 * 32)
#define DRAIN_S 120               /* longest wait for requests in flight after the stop */
#define DECILES 10

enum mode { MODE_BATCH, MODE_SINGLE, MODE_GET };

struct item {
	const char *body; /* NULL for GET */
	size_t len;
	const char *path;
	unsigned account;
	unsigned events;
};

struct conn {
	int fd;
	struct item *it;
	uint64_t seq; /* the item's number in the run: picks among the account's keys */
	char head[1024];
	size_t headlen, sent;
	char *rbuf;
	size_t rlen, rcap;
	uint64_t t0;
	bool busy;
};

struct thread {
	pthread_t tid;
	unsigned first, nconns;
	uint64_t hist[HIST_BUCKETS];
	uint64_t shist[HIST_BUCKETS]; /* the server's own times (Server-Timing), when it sends them */
	uint64_t sdone;
	uint64_t done, errors, events, reconnects;
	int status_seen; /* the first non-2xx status, for the report */
};

static struct {
	enum mode mode;
	int port;
	unsigned conns, threads;
	uint64_t max_requests;
	double duration;
	char keys[MAX_KEYS][MAX_KEY_LEN];
	unsigned nkeys;
	/* an account's keys: key_first[a] .. + key_count[a] in keys[] (lines grouped by account) */
	unsigned key_first[MAX_ACCOUNTS], key_count[MAX_ACCOUNTS];
	struct item *items;
	size_t nitems;
	bool cycle; /* GET: wrap around the paths */
	uint64_t total_events;
	uint64_t start_ns, stop_ns;
	atomic_uint_fast64_t next;   /* next work item */
	atomic_uint_fast64_t events_done;
	/* completion time of each tenth of the events (batch mode) */
	atomic_uint_fast64_t decile_ns[DECILES];
	atomic_int stop;
	pthread_mutex_t errlock;
	char first_error[300];
} g;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- latency histogram: exact below 64 us, then 32 steps per power of two ---- */

static unsigned bucket(uint64_t us)
{
	unsigned e;

	if (us < 64)
		return (unsigned)us;
	e = 63u - (unsigned)__builtin_clzll(us);
	if (e - 6 >= 40)
		return HIST_BUCKETS - 1;
	return 64 + (e - 6) * 32 + (unsigned)((us >> (e - 5)) & 31);
}

static double bucket_us(unsigned b)
{
	unsigned e, sub;

	if (b < 64)
		return b;
	e = (b - 64) / 32 + 6;
	sub = (b - 64) % 32;
	/* the middle of the bucket */
	return (double)((1ULL << e) + ((uint64_t)sub << (e - 5))) + (double)(1ULL << (e - 5)) / 2;
}

static double percentile(const uint64_t *h, uint64_t n, double p)
{
	uint64_t want = (uint64_t)(p * (double)n), seen = 0;

	if (n == 0)
		return 0;
	if (want >= n)
		want = n - 1;
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		seen += h[b];
		if (seen > want)
			return bucket_us(b);
	}
	return bucket_us(HIST_BUCKETS - 1);
}

/* ---- inputs ---- */

static int map_file(const char *path, const char **data, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	void *p;

	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "load: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*len = (size_t)st.st_size;
	p = *len ? mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	close(fd);
	if (*len && p == MAP_FAILED) {
		fprintf(stderr, "load: mmap %s: %s\n", path, strerror(errno));
		return -1;
	}
	*data = p;
	return 0;
}

static int add_item(struct item it)
{
	static size_t cap;

	if (g.nitems == MAX_ITEMS)
		return 1; /* enough work indexed */
	if (g.nitems == cap) {
		size_t ncap = cap ? cap * 2 : 4096;
		struct item *n = realloc(g.items, ncap * sizeof(*n));

		if (n == NULL)
			return -1;
		g.items = n;
		cap = ncap;
	}
	g.items[g.nitems++] = it;
	g.total_events += it.events;
	return 0;
}

/* Single events: one from each block in turn (the file holds an account's events together,
 * and the producers of a fleet are many accounts at once, each with its own rate limit). */
static int interleave(void)
{
	struct item *out = malloc(g.nitems * sizeof(*out));
	size_t *start = malloc((g.nitems + 1) * sizeof(*start)), nblocks = 0, n = 0;

	if (out == NULL || start == NULL) {
		free(out);
		free(start);
		return -1;
	}
	for (size_t i = 0; i < g.nitems; i++)
		if (i == 0 || g.items[i].account != g.items[i - 1].account)
			start[nblocks++] = i;
	start[nblocks] = g.nitems;
	for (size_t r = 0; n < g.nitems; r++)
		for (size_t b = 0; b < nblocks; b++)
			if (start[b] + r < start[b + 1])
				out[n++] = g.items[start[b] + r];
	memcpy(g.items, out, g.nitems * sizeof(*out));
	free(out);
	free(start);
	return 0;
}

/* Blocks (batch) or single lines (single) of a gen file, at most limit items. */
static int index_events(const char *path, uint64_t limit)
{
	const char *p, *end;
	size_t len;
	struct item cur = {0};
	unsigned account = 0;

	if (map_file(path, &p, &len) != 0)
		return -1;
	end = p + len;
	while (p < end && g.nitems < limit) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl + 1 : end;

		if (*p == '#') {
			if (cur.events > 0 && add_item(cur) != 0)
				return 0;
			account = (unsigned)strtoul(p + 1, NULL, 10);
			cur = (struct item){.body = le, .account = account};
		} else if (g.mode == MODE_SINGLE) {
			if (add_item((struct item){p, (size_t)(le - p), NULL, account, 1}) != 0)
				return 0;
		} else {
			if (cur.body == NULL)
				cur.body = p;
			cur.len = (size_t)(le - cur.body);
			cur.events++;
		}
		p = le;
	}
	if (g.mode == MODE_BATCH && cur.events > 0 && g.nitems < limit)
		add_item(cur);
	if (g.mode == MODE_SINGLE)
		return interleave();
	return 0;
}

static int read_lines(const char *path, int (*cb)(char *line))
{
	FILE *f = fopen(path, "r");
	char line[8192];
	int rc = 0;

	if (f == NULL) {
		fprintf(stderr, "load: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] != '\0')
			rc = cb(line);
	}
	fclose(f);
	return rc;
}

/* "KEY" (the account is the line number) or "ACCOUNT KEY" (an account's lines together):
 * several keys per account spread the requests over several per-key rate limits, as a fleet
 * of producers with their own keys would. */
static int key_line(char *line)
{
	char *sp = strchr(line, ' ');
	unsigned long a = sp ? strtoul(line, NULL, 10) : g.nkeys;
	const char *key = sp ? sp + 1 : line;

	if (g.nkeys == MAX_KEYS || strlen(key) >= MAX_KEY_LEN || a >= MAX_ACCOUNTS)
		return -1;
	if (g.key_count[a] == 0)
		g.key_first[a] = g.nkeys;
	else if (g.key_first[a] + g.key_count[a] != g.nkeys)
		return -1; /* not grouped */
	g.key_count[a]++;
	snprintf(g.keys[g.nkeys++], MAX_KEY_LEN, "%s", key);
	return 0;
}

static int path_line(char *line)
{
	char *sp = strchr(line, ' ');
	char *path;

	if (sp == NULL || sp[1] != '/' || g.nitems >= MAX_PATHS)
		return -1;
	path = strdup(sp + 1);
	if (path == NULL)
		return -1;
	return add_item((struct item){NULL, 0, path, (unsigned)strtoul(line, NULL, 10), 0}) < 0
		       ? -1
		       : 0;
}

/* ---- connections ---- */

static int conn_open(struct conn *c, int ep)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g.port)};
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	int one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* connect blocking (loopback: immediate), then non-blocking for the loop */
	if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		fprintf(stderr, "load: connect 127.0.0.1:%d: %s\n", g.port, strerror(errno));
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void conn_want(struct conn *c, int ep, bool out)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};

	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static bool time_up(void)
{
	return atomic_load(&g.stop) || now_ns() >= g.stop_ns;
}

/* The next work item, or NULL when the run is over. */
static struct item *take(uint64_t *seq)
{
	uint64_t i;

	if (time_up())
		return NULL;
	i = atomic_fetch_add(&g.next, 1);
	if (i >= g.max_requests || (!g.cycle && i >= g.nitems))
		return NULL;
	*seq = i;
	return &g.items[i % g.nitems];
}

static void build_head(struct conn *c)
{
	const struct item *it = c->it;
	unsigned a = it->account < MAX_ACCOUNTS && g.key_count[it->account] ? it->account : 0;
	/* a hash of the request number: every key of the account in turn, whatever the paths */
	uint64_t h = (c->seq + 1) * 0x9e3779b97f4a7c15ULL;
	const char *key = g.keys[g.key_first[a] + (h >> 32) % g.key_count[a]];
	int n;

	if (g.mode == MODE_GET)
		n = snprintf(c->head, sizeof(c->head),
			     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n",
			     it->path, key);
	else
		n = snprintf(c->head, sizeof(c->head),
			     "POST /v3/device-events/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			     "Authorization: Bearer %s\r\nContent-Type: %s\r\n"
			     "Content-Length: %zu\r\n\r\n",
			     key, g.mode == MODE_BATCH ? "application/x-ndjson" : "application/json",
			     it->len);
	c->headlen = n > 0 && (size_t)n < sizeof(c->head) ? (size_t)n : 0;
}

/* Sends what the socket takes; 1 when the whole request is out, 0 for later, -1 on error. */
static int conn_send(struct conn *c)
{
	size_t total = c->headlen + (c->it->body ? c->it->len : 0);

	while (c->sent < total) {
		struct iovec iov[2];
		int n = 0;
		ssize_t w;

		if (c->sent < c->headlen)
			iov[n++] = (struct iovec){c->head + c->sent, c->headlen - c->sent};
		if (c->it->body != NULL) {
			size_t off = c->sent > c->headlen ? c->sent - c->headlen : 0;

			iov[n++] = (struct iovec){(void *)(c->it->body + off), c->it->len - off};
		}
		w = writev(c->fd, iov, n);
		if (w < 0)
			return errno == EAGAIN ? 0 : -1;
		c->sent += (size_t)w;
	}
	return 1;
}

static int start_request(struct conn *c, int ep)
{
	int rc;

	c->it = take(&c->seq);
	if (c->it == NULL) {
		c->busy = false;
		return 0;
	}
	build_head(c);
	c->sent = 0;
	c->rlen = 0;
	c->busy = true;
	c->t0 = now_ns();
	rc = conn_send(c);
	if (rc < 0)
		return -1;
	conn_want(c, ep, rc == 0);
	return 0;
}

/* Length of a complete chunked body at b (after the headers), or 0 when not all there yet. */
static size_t chunked_len(const char *b, size_t n)
{
	size_t off = 0;

	for (int guard = 0; guard < 1000000; guard++) {
		const char *crlf = memmem(b + off, n - off, "\r\n", 2);
		unsigned long sz;

		if (crlf == NULL)
			return 0;
		sz = strtoul(b + off, NULL, 16);
		off = (size_t)(crlf - b) + 2;
		if (sz == 0) {
			/* no trailers from our servers: the last chunk ends with one more CRLF */
			return n - off >= 2 ? off + 2 : 0;
		}
		if (n - off < sz + 2)
			return 0;
		off += sz + 2;
	}
	return 0;
}

/* A whole response in rbuf: its status, whether the server will close and the server's own
 * time in microseconds (its Server-Timing "dur", or -1); 0 = not yet. */
static int response_done(struct conn *c, int *status, bool *closing, double *server_us)
{
	const char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
	size_t hlen, blen = 0;
	bool chunked = false, have_len = false;
	const char *p;

	if (end == NULL)
		return 0;
	hlen = (size_t)(end - c->rbuf) + 4;
	*status = (int)strtol(c->rbuf + 9, NULL, 10);
	*closing = false;
	*server_us = -1;
	for (p = c->rbuf; p < end;) {
		const char *nl = memmem(p, (size_t)(end - p), "\r\n", 2);
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (l > 15 && strncasecmp(p, "Content-Length:", 15) == 0) {
			blen = strtoul(p + 15, NULL, 10);
			have_len = true;
		} else if (l > 18 && strncasecmp(p, "Transfer-Encoding:", 18) == 0 &&
			   memmem(p, l, "chunked", 7)) {
			chunked = true;
		} else if (l > 11 && strncasecmp(p, "Connection:", 11) == 0 &&
			   memmem(p, l, "close", 5)) {
			*closing = true;
		} else if (l > 14 && strncasecmp(p, "Server-Timing:", 14) == 0) {
			const char *d = memmem(p, l, "dur=", 4);

			if (d != NULL)
				*server_us = strtod(d + 4, NULL) * 1000.0;
		}
		p = nl ? nl + 2 : end;
	}
	if (chunked) {
		size_t cl = chunked_len(c->rbuf + hlen, c->rlen - hlen);

		return cl > 0 ? 1 : 0;
	}
	if (!have_len)
		return 0; /* read to close: handled as an error by the caller */
	return c->rlen - hlen >= blen ? 1 : 0;
}

static void note_error(struct thread *t, int status, const struct conn *c)
{
	t->errors++;
	pthread_mutex_lock(&g.errlock);
	if (g.first_error[0] == '\0') {
		const char *b = c->rbuf ? memmem(c->rbuf, c->rlen, "\r\n\r\n", 4) : NULL;

		snprintf(g.first_error, sizeof(g.first_error), "status %d: %.200s", status,
			 b ? b + 4 : "(no response)");
		for (char *q = g.first_error; *q; q++)
			if (*q == '\n' || *q == '\r')
				*q = ' ';
	}
	pthread_mutex_unlock(&g.errlock);
}

static void finish(struct thread *t, struct conn *c, int status, double server_us)
{
	uint64_t us = (now_ns() - c->t0) / 1000;

	t->hist[bucket(us)]++;
	t->done++;
	if (server_us >= 0) {
		t->shist[bucket((uint64_t)server_us)]++;
		t->sdone++;
	}
	if (status < 200 || status > 299) {
		note_error(t, status, c);
		return;
	}
	t->events += c->it->events;
	if (g.mode == MODE_BATCH) {
		uint64_t before = atomic_fetch_add(&g.events_done, c->it->events);
		uint64_t after = before + c->it->events, now = now_ns();

		for (unsigned d = 0; d < DECILES; d++) {
			uint64_t mark = g.total_events * (d + 1) / DECILES, zero = 0;

			if (before < mark && after >= mark)
				atomic_compare_exchange_strong(&g.decile_ns[d], &zero, now);
		}
	}
}

/* Reads what is there; completes the request when the response is whole. -1: reconnect. */
static int conn_read(struct thread *t, struct conn *c, int ep)
{
	for (;;) {
		ssize_t r;
		int status = 0;
		bool closing = false;
		double server_us = -1;

		if (c->rcap - c->rlen < 65536) {
			size_t ncap = c->rcap ? c->rcap * 2 : 262144;
			char *nb;

			if (ncap > MAX_RESPONSE)
				return -1;
			nb = realloc(c->rbuf, ncap);
			if (nb == NULL)
				return -1;
			c->rbuf = nb;
			c->rcap = ncap;
		}
		r = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
		if (r < 0)
			return errno == EAGAIN ? 0 : -1;
		if (r == 0)
			return -1;
		c->rlen += (size_t)r;
		if (!c->busy)
			continue; /* nothing asked: discard */
		if (response_done(c, &status, &closing, &server_us) == 0)
			continue;
		finish(t, c, status, server_us);
		if (closing)
			return -2;
		return start_request(c, ep);
	}
}

static void *run_thread(void *arg)
{
	struct thread *t = arg;
	struct conn *conns = calloc(t->nconns, sizeof(*conns));
	struct epoll_event evs[64];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	unsigned active;
	uint64_t drain_deadline = 0;

	if (conns == NULL || ep < 0)
		goto out;
	for (unsigned i = 0; i < t->nconns; i++) {
		conns[i].fd = -1;
		if (conn_open(&conns[i], ep) != 0 || start_request(&conns[i], ep) != 0) {
			atomic_store(&g.stop, 1);
			goto out;
		}
	}
	for (;;) {
		int n;

		active = 0;
		for (unsigned i = 0; i < t->nconns; i++)
			active += conns[i].busy;
		if (active == 0)
			break;
		if (time_up()) {
			if (drain_deadline == 0)
				drain_deadline = now_ns() + (uint64_t)DRAIN_S * 1000000000ULL;
			else if (now_ns() > drain_deadline)
				break;
		}
		n = epoll_wait(ep, evs, 64, 100);
		for (int k = 0; k < n; k++) {
			struct conn *c = evs[k].data.ptr;
			int rc = 0;

			if (evs[k].events & EPOLLOUT && c->busy) {
				rc = conn_send(c);
				if (rc == 1)
					conn_want(c, ep, false);
				rc = rc < 0 ? -1 : 0;
			}
			if (rc == 0 && evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				rc = conn_read(t, c, ep);
			if (rc < 0) {
				/* lost connection (or Connection: close): count, reopen, go on */
				bool was_busy = c->busy && rc == -1;

				if (was_busy)
					note_error(t, 0, c), t->done++;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				c->busy = false;
				t->reconnects++;
				if (conn_open(c, ep) == 0)
					start_request(c, ep);
			}
		}
	}
out:
	for (unsigned i = 0; conns != NULL && i < t->nconns; i++) {
		if (conns[i].fd >= 0)
			close(conns[i].fd);
		free(conns[i].rbuf);
	}
	free(conns);
	if (ep >= 0)
		close(ep);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: load --port P --mode batch|single|get (--file F | --paths F) "
			"--keys K [--conns C] [--threads T] [--requests N] [--duration S]\n");
}

static int parse_args(int argc, char **argv, const char **file, const char **paths,
		      const char **keys)
{
	for (int i = 1; i < argc; i += 2) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL)
			return -1;
		if (strcmp(k, "--port") == 0)
			g.port = (int)strtol(v, NULL, 10);
		else if (strcmp(k, "--mode") == 0)
			g.mode = strcmp(v, "batch") == 0    ? MODE_BATCH
				 : strcmp(v, "single") == 0 ? MODE_SINGLE
				 : strcmp(v, "get") == 0    ? MODE_GET
							    : (enum mode)-1;
		else if (strcmp(k, "--file") == 0)
			*file = v;
		else if (strcmp(k, "--paths") == 0)
			*paths = v;
		else if (strcmp(k, "--keys") == 0)
			*keys = v;
		else if (strcmp(k, "--conns") == 0)
			g.conns = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(k, "--threads") == 0)
			g.threads = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(k, "--requests") == 0)
			g.max_requests = strtoull(v, NULL, 10);
		else if (strcmp(k, "--duration") == 0)
			g.duration = strtod(v, NULL);
		else
			return -1;
	}
	if (g.port <= 0 || g.port > 65535 || (int)g.mode < 0 || keys == NULL || *keys == NULL ||
	    g.conns == 0 || g.conns > MAX_CONNS || g.threads == 0 || g.threads > MAX_THREADS ||
	    g.duration <= 0 || g.max_requests == 0)
		return -1;
	if (g.mode == MODE_GET ? *paths == NULL : *file == NULL)
		return -1;
	if (g.threads > g.conns)
		g.threads = g.conns;
	return 0;
}

static void report(struct thread *ts)
{
	uint64_t hist[HIST_BUCKETS] = {0}, shist[HIST_BUCKETS] = {0}, sdone = 0;
	uint64_t done = 0, errors = 0, events = 0, reconnects = 0;
	double secs = (double)(now_ns() - g.start_ns) / 1e9;
	uint64_t prev = g.start_ns;

	for (unsigned i = 0; i < g.threads; i++) {
		for (unsigned b = 0; b < HIST_BUCKETS; b++) {
			hist[b] += ts[i].hist[b];
			shist[b] += ts[i].shist[b];
		}
		sdone += ts[i].sdone;
		done += ts[i].done;
		errors += ts[i].errors;
		events += ts[i].events;
		reconnects += ts[i].reconnects;
	}
	printf("mode=%s conns=%u requests=%" PRIu64 " errors=%" PRIu64 " reconnects=%" PRIu64
	       " secs=%.3f rps=%.1f events=%" PRIu64 " eps=%.1f p50_ms=%.3f p90_ms=%.3f"
	       " p99_ms=%.3f max_ms=%.3f",
	       g.mode == MODE_BATCH ? "batch" : g.mode == MODE_SINGLE ? "single" : "get", g.conns,
	       done, errors, reconnects, secs, (double)done / secs, events, (double)events / secs,
	       percentile(hist, done, 0.50) / 1000, percentile(hist, done, 0.90) / 1000,
	       percentile(hist, done, 0.99) / 1000, percentile(hist, done, 1.0) / 1000);
	/* the server's own times, from its Server-Timing header (the naive baseline sends none) */
	if (sdone > 0)
		printf(" server_p50_ms=%.3f server_p99_ms=%.3f", percentile(shist, sdone, 0.50) / 1000,
		       percentile(shist, sdone, 0.99) / 1000);
	if (g.mode == MODE_BATCH && errors == 0) {
		/* events/s within each tenth of the data: the store growing from 0 to full */
		printf(" deciles_eps=");
		for (unsigned d = 0; d < DECILES; d++) {
			uint64_t t = atomic_load(&g.decile_ns[d]);
			double dt = (double)(t - prev) / 1e9;

			printf("%s%.0f", d ? "," : "", t > prev && dt > 0 ? (double)g.total_events /
										 DECILES / dt
								 : 0.0);
			if (t > prev)
				prev = t;
		}
	}
	printf("\n");
	if (g.first_error[0] != '\0')
		fprintf(stderr, "load: first error: %s\n", g.first_error);
}

int main(int argc, char **argv)
{
	const char *file = NULL, *paths = NULL, *keys = NULL;
	struct thread *ts;
	unsigned per, extra, first = 0;

	g.conns = 1;
	g.threads = 1;
	g.max_requests = UINT64_MAX;
	g.duration = 60;
	pthread_mutex_init(&g.errlock, NULL);
	if (parse_args(argc, argv, &file, &paths, &keys) != 0) {
		usage();
		return 2;
	}
	if (read_lines(keys, key_line) != 0 || g.nkeys == 0) {
		fprintf(stderr, "load: no keys in %s\n", keys);
		return 2;
	}
	if (g.mode == MODE_GET) {
		g.cycle = true;
		if (read_lines(paths, path_line) != 0 || g.nitems == 0) {
			fprintf(stderr, "load: bad paths file %s\n", paths);
			return 2;
		}
	} else if (index_events(file, g.max_requests < MAX_ITEMS ? g.max_requests : MAX_ITEMS) !=
			   0 ||
		   g.nitems == 0) {
		fprintf(stderr, "load: no events in %s\n", file);
		return 2;
	}
	ts = calloc(g.threads, sizeof(*ts));
	if (ts == NULL)
		return 1;
	per = g.conns / g.threads;
	extra = g.conns % g.threads;
	g.start_ns = now_ns();
	g.stop_ns = g.start_ns + (uint64_t)(g.duration * 1e9);
	for (unsigned i = 0; i < g.threads; i++) {
		ts[i].first = first;
		ts[i].nconns = per + (i < extra);
		first += ts[i].nconns;
		if (pthread_create(&ts[i].tid, NULL, run_thread, &ts[i]) != 0)
			return 1;
	}
	for (unsigned i = 0; i < g.threads; i++)
		pthread_join(ts[i].tid, NULL);
	report(ts);
	free(ts);
	return 0;
}
