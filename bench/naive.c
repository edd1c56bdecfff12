/* naive: the baseline of the benchmark (bench/run.sh), the straightforward design that
 * devicelog must beat: libmicrohttpd + SQLite + jansson, every event one all-text row
 *   events(id TEXT PRIMARY KEY, account, device_id, event_type, date_time, created_at, data)
 * with three B-tree indexes (device_id, event_type, date_time), one durable transaction per
 * request (WAL, synchronous=FULL, as devicelog), and JSON pages built as jansson trees.
 *
 * It speaks just enough of devicelog's API for the benchmark: POST /v3/device-events/ with
 * NDJSON or one JSON object, GET /v3/device-events/ with device_id, event_type, date_time__gte,
 * order and limit, and GET /health. The bearer token is taken as the account name without any
 * check (no key hashing: that favours the baseline). 127.0.0.1 only; prints "port N". */
#include <arpa/inet.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_BODY (32 << 20)
#define MAX_LIMIT 1000

static const char *db_path;
static pthread_mutex_t wlock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t next_seq = 1; /* guarded by wlock */
static __thread sqlite3 *tdb; /* one connection per MHD thread */

struct req {
	char *body;
	size_t len, cap;
	bool too_big;
};

static int64_t now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static sqlite3 *db(void)
{
	if (tdb != NULL)
		return tdb;
	if (sqlite3_open(db_path, &tdb) != SQLITE_OK)
		return NULL;
	sqlite3_busy_timeout(tdb, 30000);
	sqlite3_exec(tdb, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL);
	return tdb;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *text)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (text == NULL)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* The compact text of j, which is released. */
static char *dump(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

static char *error_text(const char *msg)
{
	return dump(json_pack("{s:s,s:s}", "object", "error", "message", msg));
}

static const char *account_of(struct MHD_Connection *c)
{
	const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");

	if (a == NULL || strncmp(a, "Bearer ", 7) != 0 || a[7] == '\0')
		return NULL;
	return a + 7;
}

/* One event line into the table: texts as the producer sent them. */
static int insert_one(sqlite3_stmt *st, const char *account, json_t *ev, int64_t created)
{
	json_t *data = json_object_get(ev, "data");
	const char *dev = json_string_value(json_object_get(ev, "device_id"));
	const char *code = json_string_value(json_object_get(ev, "event_type"));
	const char *dt = json_string_value(json_object_get(ev, "date_time"));
	char id[33], *data_text = data ? json_dumps(data, JSON_COMPACT) : NULL;
	char created_text[32];
	int rc;

	if (dev == NULL || code == NULL) {
		free(data_text);
		return -1;
	}
	/* time-ordered ids like devicelog's, so that id order is creation order */
	snprintf(id, sizeof(id), "%016" PRIx64 "%016" PRIx64, next_seq++, (uint64_t)created);
	snprintf(created_text, sizeof(created_text), "%" PRId64, created);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, dev, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, code, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, dt ? dt : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, created_text, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 7, data_text ? data_text : "{}", -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	free(data_text);
	return rc == SQLITE_DONE ? 0 : -1;
}

static enum MHD_Result ingest(struct MHD_Connection *c, const char *account, struct req *q)
{
	sqlite3 *d = db();
	sqlite3_stmt *st = NULL;
	int64_t created = now_us();
	size_t count = 0, off = 0;
	int ok = 0;

	if (d == NULL)
		return reply(c, 503, error_text("no database"));
	pthread_mutex_lock(&wlock);
	if (sqlite3_exec(d, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(d, "INSERT INTO events VALUES(?1,?2,?3,?4,?5,?6,?7)", -1, &st,
			       NULL) != SQLITE_OK)
		ok = -1;
	while (ok == 0 && off < q->len) {
		char *nl = memchr(q->body + off, '\n', q->len - off);
		size_t l = nl ? (size_t)(nl - (q->body + off)) : q->len - off;
		json_t *ev = l > 0 ? json_loadb(q->body + off, l, 0, NULL) : NULL;

		if (l > 0 && (ev == NULL || insert_one(st, account, ev, created) != 0))
			ok = -1;
		count += l > 0;
		json_decref(ev);
		off += l + 1;
	}
	sqlite3_finalize(st);
	if (ok == 0 && sqlite3_exec(d, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		ok = -1;
	if (ok != 0)
		sqlite3_exec(d, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&wlock);
	if (ok != 0)
		return reply(c, 400, error_text("bad event or store error"));
	return reply(c, 201, dump(json_pack("{s:s,s:I}", "object", "ingest", "count",
					     (json_int_t)count)));
}

static json_t *row_json(sqlite3_stmt *st)
{
	json_t *o = json_object();
	const char *names[] = {"id", "device_id", "event_type", "date_time", "created_at"};
	json_t *data;

	for (int i = 0; i < 5; i++)
		json_object_set_new(o, names[i], json_string((const char *)sqlite3_column_text(st, i)));
	json_object_set_new(o, "object", json_string("device-event"));
	data = json_loads((const char *)sqlite3_column_text(st, 5), 0, NULL);
	json_object_set_new(o, "data", data ? data : json_object());
	return o;
}

/* The list: the three filters of the benchmark and paging, straightforward SQL. */
static enum MHD_Result list(struct MHD_Connection *c, const char *account)
{
	const char *dev = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "device_id");
	const char *code = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "event_type");
	const char *gte = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "date_time__gte");
	const char *order = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "order");
	const char *lim = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	bool desc = order != NULL && strcmp(order, "DESC") == 0;
	long limit = lim ? strtol(lim, NULL, 10) : 50;
	char sql[512];
	sqlite3 *d = db();
	sqlite3_stmt *st;
	json_t *page, *arr;
	int n = 0;

	if (d == NULL)
		return reply(c, 503, error_text("no database"));
	limit = limit < 2 ? 2 : limit > MAX_LIMIT ? MAX_LIMIT : limit;
	snprintf(sql, sizeof(sql),
		 "SELECT id, device_id, event_type, date_time, created_at, data FROM events"
		 " WHERE account = ?1%s%s%s ORDER BY id %s LIMIT ?5",
		 dev ? " AND device_id = ?2" : "", code ? " AND event_type = ?3" : "",
		 gte ? " AND date_time >= ?4" : "", desc ? "DESC" : "ASC");
	if (sqlite3_prepare_v2(d, sql, -1, &st, NULL) != SQLITE_OK)
		return reply(c, 500, error_text(sqlite3_errmsg(d)));
	sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
	if (dev)
		sqlite3_bind_text(st, 2, dev, -1, SQLITE_STATIC);
	if (code)
		sqlite3_bind_text(st, 3, code, -1, SQLITE_STATIC);
	if (gte)
		sqlite3_bind_text(st, 4, gte, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, limit + 1);
	arr = json_array();
	while (sqlite3_step(st) == SQLITE_ROW && n++ < limit)
		json_array_append_new(arr, row_json(st));
	sqlite3_finalize(st);
	page = json_pack("{s:s,s:i,s:s,s:b,s:o}", "object", "list", "limit", (int)limit, "order",
			 desc ? "DESC" : "ASC", "has_more", n > limit, "data", arr);
	return reply(c, 200, dump(page));
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct req *q = *con_cls;
	const char *account;

	(void)cls;
	(void)version;
	if (q == NULL) {
		/* answer on a later call: 0.9.75 drops keep-alive when queued on the first one */
		q = calloc(1, sizeof(*q));
		*con_cls = q;
		return q ? MHD_YES : MHD_NO;
	}
	if (*upload_size > 0) {
		if (q->len + *upload_size > MAX_BODY) {
			q->too_big = true;
		} else {
			if (q->len + *upload_size > q->cap) {
				size_t ncap = (q->len + *upload_size) * 2;
				char *nb = realloc(q->body, ncap);

				if (nb == NULL)
					return MHD_NO;
				q->body = nb;
				q->cap = ncap;
			}
			memcpy(q->body + q->len, upload, *upload_size);
			q->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/health") == 0)
		return reply(c, 200, strdup("{\"status\":\"ok\"}"));
	account = account_of(c);
	if (account == NULL)
		return reply(c, 401, error_text("no key"));
	if (strncmp(url, "/v3/device-events", 17) != 0 || (url[17] != '\0' && strcmp(url + 17, "/")))
		return reply(c, 404, error_text("no route"));
	if (strcmp(method, "POST") == 0)
		return q->too_big ? reply(c, 413, error_text("too big")) : ingest(c, account, q);
	if (strcmp(method, "GET") == 0)
		return list(c, account);
	return reply(c, 405, error_text("method"));
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct req *q = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (q != NULL) {
		free(q->body);
		free(q);
	}
	*con_cls = NULL;
}

static int init_db(void)
{
	sqlite3 *d = db();
	sqlite3_stmt *st;

	if (d == NULL ||
	    sqlite3_exec(d,
			 "CREATE TABLE IF NOT EXISTS events(id TEXT PRIMARY KEY, account TEXT,"
			 " device_id TEXT, event_type TEXT, date_time TEXT, created_at TEXT,"
			 " data TEXT);"
			 "CREATE INDEX IF NOT EXISTS events_device ON events(device_id);"
			 "CREATE INDEX IF NOT EXISTS events_type ON events(event_type);"
			 "CREATE INDEX IF NOT EXISTS events_time ON events(date_time);",
			 NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	/* a restart continues the id sequence */
	if (sqlite3_prepare_v2(d, "SELECT count(*) FROM events", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		next_seq = (uint64_t)sqlite3_column_int64(st, 0) + 1;
	sqlite3_finalize(st);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	sigset_t set;
	int sig;

	if (argc != 3) {
		fprintf(stderr, "usage: naive DBPATH PORT\n");
		return 2;
	}
	db_path = argv[1];
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)strtoul(argv[2], NULL, 10));
	if (init_db() != 0) {
		fprintf(stderr, "naive: %s: %s\n", db_path, tdb ? sqlite3_errmsg(tdb) : "open");
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* the plain textbook setup: epoll, a pool of one thread per CPU */
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, handle,
			     NULL, MHD_OPTION_SOCK_ADDR, &a, MHD_OPTION_THREAD_POOL_SIZE,
			     (unsigned)sysconf(_SC_NPROCESSORS_ONLN), MHD_OPTION_NOTIFY_COMPLETED,
			     completed, NULL, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)256 * 1024,
			     MHD_OPTION_CONNECTION_LIMIT, 1000u, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
			     MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "naive: cannot start the HTTP daemon\n");
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	printf("port %u\n", info ? info->port : 0);
	fflush(stdout);
	while (sigwait(&set, &sig) != 0)
		;
	MHD_stop_daemon(d);
	sqlite3_close(tdb);
	return 0;
}
