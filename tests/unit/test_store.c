/* Contract tests for store/: one suite, run unchanged against every backend.
 *
 * The backend is named by DLOG_TEST_STORE: unset or "sqlite:..." gives a fresh SQLite file in
 * a temporary directory per test; "postgresql://..." (or "postgres://...") names a server on
 * which each test creates and finally drops a database of its own, so runs never see each
 * other's rows. Expected results are computed here from a model of what was appended, not
 * from SQL, so both backends are held to the same answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/limits.h"
#include "store/sqlgen.h"
#include "store/store.h"
#include "store/walbuf.h"

/* ---- fresh stores ---- */

static bool is_pg;
/* SQLite: events the merger waits for (DLOG_TEST_MERGE_EVENTS; make unit also runs with 1) */
static int64_t merge_default = DLOG_SQLITE_MERGE_EVENTS;
static const char *base_url; /* DLOG_TEST_STORE for PostgreSQL */
static unsigned fresh_count;

struct fixture {
	struct dlog_store *s;
	char url[2048];
	char dir[256];    /* SQLite: the temporary directory */
	char dbname[64];  /* PostgreSQL: the database made for this test */
	int64_t acc1, acc2;
};

static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Run one admin statement on the database url names. */
static void pg_admin(const char *url, const char *sql)
{
	PGconn *pg = PQconnectdb(url);
	PGresult *res;

	if (PQstatus(pg) != CONNECTION_OK)
		fail_msg("connect %s: %s", url, PQerrorMessage(pg));
	PQsetNoticeProcessor(pg, quiet, NULL);
	res = PQexec(pg, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(pg));
	PQclear(res);
	PQfinish(pg);
}

static void url_add_encoded(char *out, size_t len, const char *s)
{
	size_t n = strlen(out);

	for (; *s != '\0' && n + 4 < len; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_' || ch == '.' || ch == '/')
			out[n++] = (char)ch;
		else
			n += (size_t)snprintf(out + n, len - n, "%%%02X", ch);
	}
	out[n] = '\0';
}

/* The URL of database dbname on the server of base: every connection option of base kept. */
static void pg_url_for(const char *base, const char *dbname, char *out, size_t len)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(base, &err);
	bool first = true;

	if (opts == NULL)
		fail_msg("bad DLOG_TEST_STORE: %s", err ? err : "?");
	snprintf(out, len, "postgresql:///%s", dbname);
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || *o->val == '\0' || strcmp(o->keyword, "dbname") == 0)
			continue;
		size_t n = strlen(out);

		snprintf(out + n, len - n, "%s%s=", first ? "?" : "&", o->keyword);
		url_add_encoded(out, len, o->val);
		first = false;
	}
	PQconninfoFree(opts);
}

static void fresh_url(struct fixture *f)
{
	if (is_pg) {
		char sql[128];

		snprintf(f->dbname, sizeof(f->dbname), "dlog_test_%ld_%u", (long)getpid(),
			 fresh_count++);
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", f->dbname);
		pg_admin(base_url, sql);
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->dbname);
		pg_admin(base_url, sql);
		pg_url_for(base_url, f->dbname, f->url, sizeof(f->url));
		return;
	}
	snprintf(f->dir, sizeof(f->dir), "/tmp/dlog-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->url, sizeof(f->url), "sqlite:%s/store.db", f->dir);
}

static void drop_fresh(struct fixture *f)
{
	if (is_pg && f->dbname[0] != '\0') {
		char sql[128];

		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->dbname);
		pg_admin(base_url, sql);
	} else if (f->dir[0] != '\0') {
		static const char *const files[] = {"store.db", "store.db-wal", "store.db-shm",
						    "foreign.db", "backup.db", "backup.db-wal",
						    "backup.db-shm"};
		char path[300];

		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
			unlink(path);
		}
		rmdir(f->dir);
	}
}

static void open_store(struct fixture *f)
{
	char err[512] = "";
	int rc = dlog_store_open(f->url, &f->s, err, sizeof(err));

	if (rc != 0)
		fail_msg("open %s: %d %s", f->url, rc, err);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fresh_url(f);
	open_store(f);
	assert_int_equal(dlog_store_account(f->s, "acme", true, &f->acc1), 0);
	assert_int_equal(dlog_store_account(f->s, "globex", true, &f->acc2), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	dlog_store_close(f->s);
	drop_fresh(f);
	free(f);
	return 0;
}

/* ---- events and the model ---- */

/* What the test appended, as the store must give it back. */
struct mev {
	struct dlog_id id;
	int64_t account;
	dlog_time ts;
	const char *dev, *code, *cat, *descr, *camp, *extra, *idem;
	enum dlog_mtype mtype;
	bool sc;
};

#define MAX_MODEL 256
static struct mev model[MAX_MODEL];
static size_t nmodel;

static const uint8_t *hash_of(int v)
{
	static uint8_t hashes[8][32];

	memset(hashes[v & 7], 0x40 + (v & 7), 32);
	return hashes[v & 7];
}

static struct dlog_event ev_of(const struct mev *m, int hash)
{
	struct dlog_event e = {
		.date_time = m->ts,
		.device_id = m->dev,
		.event_type = m->code,
		.mtype = m->mtype,
		.category = m->cat,
		.description = m->descr,
		.state_change = m->sc,
		.campaign_id = m->camp,
		.data_extra = m->extra,
		.idempotency_key = m->idem,
		.content_hash = m->idem ? hash_of(hash) : NULL,
	};
	return e;
}

/* Tricky texts on purpose: quotes, backslashes, braces, "NULL" and non-ASCII must survive every
 * backend's encoding (PostgreSQL array literals among them). */
static const char *const devs[] = {"dev-a", "dev-b", "dev \"q\" {x} \\y", "NULL", "d\xc3\xa9v"};
static const char *const codes[] = {"UPD4_FAIL_24", "SYS_106", "UPD2_OK_18", "UPD4_FAIL_7"};
static const enum dlog_mtype mtypes[] = {DLOG_MTYPE_FAIL, DLOG_MTYPE_INFO, DLOG_MTYPE_SUCCESS,
					 DLOG_MTYPE_FAIL};
static const char *const cats[] = {"FAIL_NETWORK", "INFO_REGISTRATION", "SUCCESS", "FAIL_STORAGE"};
static const char *const descrs[] = {"Connection lost.", "Registered", "NULL", "a \"b\" \\c"};
static const char *const camps[] = {"camp-1", "camp-2"};
#define T0 INT64_C(1780000000000000)
#define HOUR INT64_C(3600000000)

/* Append model entries [from, to) in batches of batch, recording the ids. */
static void append_model(struct fixture *f, size_t from, size_t to, size_t batch)
{
	struct dlog_event ev[16];
	struct dlog_append_result res[16];

	assert_true(batch <= 16);
	for (size_t i = from; i < to; i += batch) {
		size_t n = to - i < batch ? to - i : batch;

		for (size_t j = 0; j < n; j++)
			ev[j] = ev_of(&model[i + j], 0);
		assert_int_equal(dlog_store_append(f->s, model[i].account, ev, n, res, NULL), 0);
		for (size_t j = 0; j < n; j++) {
			assert_false(res[j].duplicate);
			model[i + j].id = res[j].id;
		}
	}
}

/* A deterministic mixed data set over two accounts, appended in uneven batches (every batch
 * holds events of one account). */
static void load_model(struct fixture *f)
{
	nmodel = 0;
	for (int k = 0; k < 90; k++) {
		struct mev *m = &model[nmodel++];
		int c = (k * 7) % 4;

		memset(m, 0, sizeof(*m));
		m->account = (k / 10) % 3 == 2 ? f->acc2 : f->acc1;
		m->dev = devs[k % 5];
		m->code = codes[c];
		m->mtype = mtypes[c];
		m->cat = cats[c];
		m->descr = descrs[(k / 3) % 4];
		m->sc = k % 2 == 0;
		m->camp = k % 3 == 0 ? NULL : camps[k % 2];
		m->extra = k % 4 == 1 ? "{\"fw\":\"1.2\"}" : NULL;
		/* some equal timestamps, not in append order */
		m->ts = T0 + ((k * 37) % 50) * HOUR;
	}
	for (size_t i = 0; i < nmodel; i += 10)
		append_model(f, i, i + 10, i % 20 == 0 ? 3 : 7);
}

/* ---- the reference evaluator ---- */

/* Device groups as the tests made them: membership for the device_group_id filter. */
struct mgroup {
	char id[33];
	int64_t account;
	const char *devs[8];
	size_t ndevs;
};

#define MAX_MGROUPS 8
static struct mgroup mgroups[MAX_MGROUPS];
static size_t nmgroups;

static bool group_has(const char *gid, int64_t account, const char *dev)
{
	for (size_t g = 0; g < nmgroups; g++) {
		if (strcmp(mgroups[g].id, gid) != 0 || mgroups[g].account != account)
			continue;
		for (size_t i = 0; i < mgroups[g].ndevs; i++) {
			if (strcmp(mgroups[g].devs[i], dev) == 0)
				return true;
		}
	}
	return false;
}

static bool str_in(const char *v, const struct dlog_term *t)
{
	for (size_t i = 0; i < t->n; i++) {
		if (v != NULL && strcmp(v, t->v.strs[i]) == 0)
			return true;
	}
	return false;
}

static bool time_match(dlog_time v, const struct dlog_term *t)
{
	bool any = false;

	switch (t->op) {
	case DLOG_OP_LTE:
		return v <= t->v.times[0];
	case DLOG_OP_GTE:
		return v >= t->v.times[0];
	default:
		for (size_t i = 0; i < t->n; i++)
			any = any || v == t->v.times[i];
		return t->op == DLOG_OP_NEQ || t->op == DLOG_OP_NIN ? !any : any;
	}
}

static bool term_match(const struct mev *m, const struct dlog_term *t)
{
	bool neg = t->op == DLOG_OP_NEQ || t->op == DLOG_OP_NIN;
	bool in = false;

	switch (t->field) {
	case DLOG_F_DATE_TIME:
		return time_match(m->ts, t);
	case DLOG_F_CREATED_AT:
		return time_match(m->id.created, t);
	case DLOG_F_ID:
		for (size_t i = 0; i < t->n; i++)
			in = in || (t->v.ids[i].seq == m->id.seq &&
				    t->v.ids[i].created == m->id.created);
		break;
	case DLOG_F_STATE_CHANGE:
		for (size_t i = 0; i < t->n; i++)
			in = in || t->v.flags[i] == m->sc;
		break;
	case DLOG_F_DEVICE_ID:
		in = str_in(m->dev, t);
		break;
	case DLOG_F_EVENT_TYPE:
		in = str_in(m->code, t);
		break;
	case DLOG_F_DESCRIPTION:
		in = str_in(m->descr, t);
		break;
	case DLOG_F_EVENT_TYPE_CATEGORY:
		in = str_in(m->cat, t);
		break;
	case DLOG_F_EVENT_TYPE_DESCRIPTION:
		in = str_in(dlog_mtype_name(m->mtype), t);
		break;
	case DLOG_F_CAMPAIGN_ID:
		/* SPEC: an event without a campaign is "not in" any list */
		in = str_in(m->camp, t);
		break;
	case DLOG_F_DEVICE_GROUP_ID:
		for (size_t i = 0; i < t->n; i++)
			in = in || group_has(t->v.strs[i], m->account, m->dev);
		break;
	default:
		fail_msg("the evaluator lacks field %d", (int)t->field);
	}
	return neg ? !in : in;
}

static bool query_match(const struct mev *m, int64_t account, const struct dlog_query *q)
{
	if (m->account != account)
		return false;
	for (size_t i = 0; i < q->nterms; i++) {
		if (!term_match(m, &q->terms[i]))
			return false;
	}
	return true;
}

/* Model indexes q matches for account, in q's order, after q's cursor. */
static size_t expected(int64_t account, const struct dlog_query *q, size_t *out)
{
	size_t n = 0;

	for (size_t k = 0; k < nmodel; k++) {
		size_t i = q->order == DLOG_ORDER_DESC ? nmodel - 1 - k : k;
		int cmp;

		if (!query_match(&model[i], account, q))
			continue;
		if (q->has_after) {
			cmp = dlog_id_cmp(&model[i].id, &q->after);
			if (q->order == DLOG_ORDER_ASC ? cmp <= 0 : cmp >= 0)
				continue;
		}
		out[n++] = i;
	}
	return n;
}

/* ---- walking the store ---- */

struct page {
	size_t n;
	struct dlog_id ids[MAX_MODEL];
	int mismatches; /* rows whose fields differ from the model */
};

static const struct mev *model_find(const struct dlog_id *id)
{
	for (size_t i = 0; i < nmodel; i++) {
		if (model[i].id.seq == id->seq && model[i].id.created == id->created)
			return &model[i];
	}
	return NULL;
}

static bool str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool event_equal(const struct mev *m, const struct dlog_event *e)
{
	return m != NULL && e->date_time == m->ts && str_eq(e->device_id, m->dev) &&
	       str_eq(e->event_type, m->code) && e->mtype == m->mtype &&
	       str_eq(e->category, m->cat ? m->cat : "") &&
	       str_eq(e->description, m->descr ? m->descr : "") && e->state_change == m->sc &&
	       str_eq(e->campaign_id, m->camp) && str_eq(e->data_extra, m->extra) &&
	       str_eq(e->idempotency_key, m->idem);
}

static int page_cb(void *arg, const struct dlog_event *e)
{
	struct page *p = arg;

	if (p->n < MAX_MODEL)
		p->ids[p->n++] = e->id;
	if (!event_equal(model_find(&e->id), e))
		p->mismatches++;
	return 0;
}

static void parse_ok(const char *qs, enum dlog_query_dialect d, struct dlog_query *q)
{
	struct dlog_query_error err;
	int rc = dlog_query_parse(qs, strlen(qs), d, q, &err);

	if (rc != 0)
		fail_msg("parse '%s': %d %s: %s", qs, rc, err.name, err.message);
}

/* Page through qs for account with the given page size and order; every page, has_more and
 * total_count must agree with the model. */
static void check_walk(struct fixture *f, int64_t account, const char *filters,
		       enum dlog_query_dialect d, int limit, const char *order)
{
	char qs[4096];
	struct dlog_query q;
	size_t want[MAX_MODEL], nwant, got = 0;

	snprintf(qs, sizeof(qs), "%s%slimit=%d&order=%s&include=total_count", filters,
		 *filters ? "&" : "", limit, order);
	parse_ok(qs, d, &q);
	nwant = expected(account, &q, want);
	for (int pages = 0;; pages++) {
		struct page p = {0};
		bool more = true;
		int64_t total = -1;
		size_t left = nwant - got;

		assert_true(pages <= MAX_MODEL);
		assert_int_equal(dlog_store_query(f->s, account, &q, page_cb, &p, &more, &total),
				 0);
		if (total != (int64_t)nwant)
			fail_msg("%s: total_count %lld, want %zu", qs, (long long)total, nwant);
		if (p.n != (left < (size_t)q.limit ? left : (size_t)q.limit))
			fail_msg("%s: page %d has %zu rows, want %zu of %zu left", qs, pages, p.n,
				 left < (size_t)q.limit ? left : (size_t)q.limit, left);
		assert_int_equal(p.mismatches, 0);
		for (size_t i = 0; i < p.n; i++) {
			const struct mev *m = &model[want[got + i]];

			if (dlog_id_cmp(&p.ids[i], &m->id) != 0)
				fail_msg("%s: row %zu is not the expected event", qs, got + i);
		}
		got += p.n;
		if (more != (got < nwant))
			fail_msg("%s: has_more %d with %zu of %zu seen", qs, more, got, nwant);
		if (!more)
			break;
		q.has_after = true;
		q.after = p.ids[p.n - 1];
	}
	dlog_query_done(&q);
}

static void check_all_ways(struct fixture *f, const char *filters, enum dlog_query_dialect d)
{
	static const int limits[] = {2, 7, 1000};

	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		check_walk(f, f->acc1, filters, d, limits[i], "ASC");
		check_walk(f, f->acc1, filters, d, limits[i], "DESC");
	}
	check_walk(f, f->acc2, filters, d, 1000, "ASC");
}

/* ---- tests: open and schema ---- */

/* SQL taking a SQLite store back from schema 8 (device blocks) to 7 */
/* Back to schema 7 (after events_camp went): no index tail (9), no device blocks (8). */
#define UNDO_BLOCKS                                                                               \
	" DROP INDEX events_account; DROP INDEX events_code; ALTER TABLE events DROP COLUMN m;"   \
	" DELETE FROM meta WHERE key = 'indexed_seq'; CREATE INDEX events_account ON"             \
	" events(account_id); CREATE INDEX events_code ON events(account_id, code);"              \
	" DROP TABLE dev_blocks; DELETE FROM meta WHERE key = 'merged_seq';"                      \
	" CREATE INDEX events_dev ON events(dev);"

static int count_cb(void *arg, const struct dlog_event *e)
{
	(void)e;
	++*(int *)arg;
	return 0;
}

static int64_t count_events(struct dlog_store *s, int64_t account)
{
	struct dlog_query q;
	bool more;
	int64_t total = -1;
	int rows = 0;

	parse_ok("include=total_count&limit=2", DLOG_DIALECT_EVENTS, &q);
	assert_int_equal(dlog_store_query(s, account, &q, count_cb, &rows, &more, &total), 0);
	dlog_query_done(&q);
	return total;
}

/* The rows of qs's first page (limit 1000) for account, which must be its total_count too. */
static int64_t rows_and_total(struct dlog_store *s, int64_t account, const char *filters)
{
	char qs[512];
	struct dlog_query q;
	bool more;
	int64_t total = -1;
	int rows = 0;

	snprintf(qs, sizeof(qs), "%s&include=total_count&limit=1000", filters);
	parse_ok(qs, DLOG_DIALECT_EVENTS, &q);
	assert_int_equal(dlog_store_query(s, account, &q, count_cb, &rows, &more, &total), 0);
	dlog_query_done(&q);
	assert_false(more);
	assert_int_equal(total, rows);
	return total;
}

static void test_open_reopen(void **state)
{
	struct fixture *f = *state;
	struct dlog_id first;
	uint64_t seq = 99;
	int64_t id;

	assert_int_equal(dlog_store_last_seq(f->s, &seq), 0);
	assert_int_equal(seq, 0);
	load_model(f);
	first = model[nmodel - 1].id;
	dlog_store_close(f->s);
	f->s = NULL;
	/* opening again finds the schema current and the data in place */
	open_store(f);
	assert_int_equal(dlog_store_account(f->s, "acme", false, &id), 0);
	assert_int_equal(id, f->acc1);
	assert_int_equal(count_events(f->s, f->acc1) + count_events(f->s, f->acc2), 90);
	assert_int_equal(dlog_store_last_seq(f->s, &seq), 0);
	assert_int_equal(seq, first.seq);
	/* ids keep growing after a reopen: a sequence number is never handed out twice */
	append_model(f, 0, 1, 1);
	assert_true(dlog_id_cmp(&model[0].id, &first) > 0);
}

static void test_two_handles(void **state)
{
	struct fixture *f = *state;
	struct dlog_store *other = NULL;
	char err[256];

	/* a second open of a migrated store (a second server instance) just works */
	assert_int_equal(dlog_store_open(f->url, &other, err, sizeof(err)), 0);
	load_model(f);
	assert_int_equal(count_events(other, f->acc1), count_events(f->s, f->acc1));
	/* SQLite: the events the first appended are in its tail only; the second reads them in */
	for (size_t i = 0; i < 2; i++) { /* dev-a, dev-b: plain ids in a query string */
		char qs[128];
		int64_t want = 0;

		for (size_t k = 0; k < nmodel; k++)
			want += model[k].account == f->acc1 && strcmp(model[k].dev, devs[i]) == 0;
		snprintf(qs, sizeof(qs), "device_id=%s", devs[i]);
		assert_int_equal(rows_and_total(other, f->acc1, qs), want);
		snprintf(qs, sizeof(qs), "device_id__in=%s,nosuch&event_type__neq=nosuch", devs[i]);
		assert_int_equal(rows_and_total(other, f->acc1, qs), want);
	}
	/* and its lists per event type and per campaign (the index tail) */
	for (size_t i = 0; i < 2; i++) {
		static const char *const qs[] = {"event_type=SYS_106", "campaign_id=camp-1"};
		int64_t want = 0;

		for (size_t k = 0; k < nmodel; k++)
			want += model[k].account == f->acc1 &&
				(i == 0 ? strcmp(model[k].code, "SYS_106") == 0
					: model[k].camp != NULL && strcmp(model[k].camp, "camp-1") == 0);
		assert_true(want > 0);
		assert_int_equal(rows_and_total(other, f->acc1, qs[i]), want);
	}
	dlog_store_close(other);
}

static void test_foreign_refused(void **state)
{
	struct fixture *f = *state;
	struct dlog_store *s = NULL;
	char err[512] = "", url[400], path[300];
	sqlite3 *db;

	if (is_pg) {
		/* PostgreSQL: a database whose schema holds some other program's tables */
		dlog_store_close(f->s);
		f->s = NULL;
		drop_fresh(f);
		fresh_url(f);
		pg_admin(f->url, "CREATE TABLE invoices(id integer)");
		assert_int_equal(dlog_store_open(f->url, &s, err, sizeof(err)), DLOG_ESCHEMA);
		assert_null(s);
		assert_non_null(strstr(err, "not a devicelog database"));
		return;
	}
	snprintf(path, sizeof(path), "%s/foreign.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE invoices(id INTEGER)", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	snprintf(url, sizeof(url), "sqlite:%s", path);
	assert_int_equal(dlog_store_open(url, &s, err, sizeof(err)), DLOG_ESCHEMA);
	assert_null(s);
}

static void test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	struct dlog_store *s = NULL;
	char err[512] = "";

	dlog_store_close(f->s);
	f->s = NULL;
	if (is_pg) {
		pg_admin(f->url, "UPDATE meta SET value = '9999' WHERE key = 'schema_version'");
	} else {
		sqlite3 *db;
		char path[300];

		snprintf(path, sizeof(path), "%s/store.db", f->dir);
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=9999", NULL, NULL, NULL), 0);
		sqlite3_close(db);
	}
	assert_int_equal(dlog_store_open(f->url, &s, err, sizeof(err)), DLOG_ESCHEMA);
	assert_null(s);
	assert_non_null(strstr(err, "newer"));
}

/* ---- tests: accounts and keys ---- */

static void test_accounts(void **state)
{
	struct fixture *f = *state;
	int64_t id = 0, again = 0, n = 0;

	assert_int_not_equal(f->acc1, f->acc2);
	assert_int_equal(dlog_store_account(f->s, "acme", false, &id), 0);
	assert_int_equal(id, f->acc1);
	assert_int_equal(dlog_store_account(f->s, "acme", true, &again), 0);
	assert_int_equal(again, f->acc1);
	assert_int_equal(dlog_store_account(f->s, "nobody", false, &id), DLOG_ENOTFOUND);
	assert_int_equal(dlog_store_account_count(f->s, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(dlog_store_account(f->s, "initech \"x\"", true, &id), 0);
	assert_int_equal(dlog_store_account_count(f->s, &n), 0);
	assert_int_equal(n, 3);
}

static struct dlog_key_info key_info(const char *key_id, int64_t account, enum dlog_scope scope,
				     const char *name, dlog_time at)
{
	struct dlog_key_info k;

	memset(&k, 0, sizeof(k));
	snprintf(k.key_id, sizeof(k.key_id), "%s", key_id);
	k.account_id = account;
	k.scope = scope;
	k.created_at = at;
	snprintf(k.name, sizeof(k.name), "%s", name);
	return k;
}

struct key_list {
	int n;
	char ids[8][33];
};

static int key_cb(void *arg, const struct dlog_key_info *k)
{
	struct key_list *l = arg;

	if (l->n < 8)
		snprintf(l->ids[l->n++], 33, "%s", k->key_id);
	return 0;
}

static void test_keys(void **state)
{
	struct fixture *f = *state;
	struct dlog_key_info k1 = key_info("0123456789abcdef0123456789abcdef", f->acc1,
					   DLOG_SCOPE_WRITE, "ingest", T0);
	struct dlog_key_info k2 = key_info("fedcba9876543210fedcba9876543210", f->acc2,
					   DLOG_SCOPE_ADMIN, "", T0 + 1);
	struct dlog_key_info k3 = key_info("00000000000000000000000000000003", f->acc1,
					   DLOG_SCOPE_READ, "portal", T0 + 2);
	struct dlog_key_info got;
	struct key_list all = {0}, one = {0};
	uint8_t h[32];
	dlog_time revoked;

	assert_int_equal(dlog_store_key_add(f->s, &k1, hash_of(1)), 0);
	assert_int_equal(dlog_store_key_add(f->s, &k2, hash_of(2)), 0);
	assert_int_equal(dlog_store_key_add(f->s, &k3, hash_of(3)), 0);
	assert_int_equal(dlog_store_key_lookup(f->s, k1.key_id, &got, h), 0);
	assert_memory_equal(h, hash_of(1), 32);
	assert_string_equal(got.key_id, k1.key_id);
	assert_int_equal(got.account_id, f->acc1);
	assert_string_equal(got.account, "acme");
	assert_int_equal(got.scope, DLOG_SCOPE_WRITE);
	assert_int_equal(got.created_at, T0);
	assert_int_equal(got.revoked_at, 0);
	assert_string_equal(got.name, "ingest");
	assert_int_equal(dlog_store_key_lookup(f->s, "11111111111111111111111111111111", &got, h),
			 DLOG_ENOTFOUND);
	/* oldest first; per account or all */
	assert_int_equal(dlog_store_key_list(f->s, 0, key_cb, &all), 0);
	assert_int_equal(all.n, 3);
	assert_string_equal(all.ids[0], k1.key_id);
	assert_string_equal(all.ids[2], k3.key_id);
	assert_int_equal(dlog_store_key_list(f->s, f->acc1, key_cb, &one), 0);
	assert_int_equal(one.n, 2);
	assert_string_equal(one.ids[1], k3.key_id);
	/* revoke: not across accounts; idempotent, keeping the first time */
	assert_int_equal(dlog_store_key_revoke(f->s, f->acc2, k1.key_id), DLOG_ENOTFOUND);
	assert_int_equal(dlog_store_key_revoke(f->s, f->acc1, "nope"), DLOG_ENOTFOUND);
	assert_int_equal(dlog_store_key_revoke(f->s, f->acc1, k1.key_id), 0);
	assert_int_equal(dlog_store_key_lookup(f->s, k1.key_id, &got, h), 0);
	assert_true(got.revoked_at > 0);
	revoked = got.revoked_at;
	assert_int_equal(dlog_store_key_revoke(f->s, 0, k1.key_id), 0);
	assert_int_equal(dlog_store_key_lookup(f->s, k1.key_id, &got, h), 0);
	assert_int_equal(got.revoked_at, revoked);
	assert_int_equal(dlog_store_key_lookup(f->s, k2.key_id, &got, h), 0);
	assert_int_equal(got.revoked_at, 0);
}

/* ---- tests: append ---- */

static void test_append_ids(void **state)
{
	struct fixture *f = *state;
	uint64_t last = 0;

	load_model(f);
	for (size_t i = 1; i < nmodel; i++) {
		const struct dlog_id *a = &model[i - 1].id, *b = &model[i].id;

		/* later commits have greater ids; created never goes backwards */
		assert_true(dlog_id_cmp(b, a) > 0);
		assert_true(b->seq > a->seq);
		assert_true(b->created >= a->created);
	}
	assert_int_equal(dlog_store_last_seq(f->s, &last), 0);
	assert_int_equal(last, model[nmodel - 1].id.seq);
	/* an empty batch is fine and changes nothing */
	assert_int_equal(dlog_store_append(f->s, f->acc1, NULL, 0, NULL, NULL), 0);
}

struct got {
	int calls;
	struct dlog_id id;
	bool equal;
};

static int get_cb(void *arg, const struct dlog_event *e)
{
	struct got *g = arg;

	g->calls++;
	g->id = e->id;
	g->equal = event_equal(model_find(&e->id), e);
	return 0;
}

static void test_get(void **state)
{
	struct fixture *f = *state;
	struct got g = {0};
	struct dlog_id id;

	load_model(f);
	for (size_t i = 0; i < nmodel; i += 13) {
		memset(&g, 0, sizeof(g));
		assert_int_equal(dlog_store_get(f->s, model[i].account, &model[i].id, get_cb, &g),
				 0);
		assert_int_equal(g.calls, 1);
		assert_true(g.equal);
		/* another account never sees it */
		assert_int_equal(dlog_store_get(f->s, model[i].account == f->acc1 ? f->acc2
										  : f->acc1,
						&model[i].id, get_cb, &g),
				 DLOG_ENOTFOUND);
	}
	/* seq and created must both match */
	id = model[0].id;
	id.created++;
	assert_int_equal(dlog_store_get(f->s, model[0].account, &id, get_cb, &g), DLOG_ENOTFOUND);
	id = model[0].id;
	id.seq = UINT64_MAX;
	assert_int_equal(dlog_store_get(f->s, model[0].account, &id, get_cb, &g), DLOG_ENOTFOUND);
}

static struct mev keyed(struct fixture *f, const char *dev, const char *idem)
{
	struct mev m = {.account = f->acc1, .ts = T0, .dev = dev, .code = "SYS_106",
			.cat = "INFO_REGISTRATION", .descr = "Registered", .idem = idem,
			.mtype = DLOG_MTYPE_INFO};
	return m;
}

static void test_idempotent(void **state)
{
	struct fixture *f = *state;
	struct mev a = keyed(f, "dev-a", "key-1"), b = keyed(f, "dev-b", "key-2");
	struct mev c = keyed(f, "dev-c", NULL);
	struct dlog_event ev[4];
	struct dlog_append_result r[4], first;

	ev[0] = ev_of(&a, 1);
	assert_int_equal(dlog_store_append(f->s, f->acc1, ev, 1, r, NULL), 0);
	first = r[0];
	assert_false(first.duplicate);
	/* the same key and content again: no second copy, the first id */
	assert_int_equal(dlog_store_append(f->s, f->acc1, ev, 1, r, NULL), 0);
	assert_true(r[0].duplicate);
	assert_int_equal(dlog_id_cmp(&r[0].id, &first.id), 0);
	/* mixed: new, stored duplicate, new without key, in-batch duplicate of the first */
	ev[0] = ev_of(&b, 2);
	ev[1] = ev_of(&a, 1);
	ev[2] = ev_of(&c, 0);
	ev[3] = ev_of(&b, 2);
	assert_int_equal(dlog_store_append(f->s, f->acc1, ev, 4, r, NULL), 0);
	assert_false(r[0].duplicate);
	assert_true(r[1].duplicate);
	assert_int_equal(dlog_id_cmp(&r[1].id, &first.id), 0);
	assert_false(r[2].duplicate);
	assert_true(dlog_id_cmp(&r[2].id, &r[0].id) > 0);
	assert_true(r[3].duplicate);
	assert_int_equal(dlog_id_cmp(&r[3].id, &r[0].id), 0);
	assert_int_equal(count_events(f->s, f->acc1), 3);
	/* keys are per account: account 2 may use key-1 for its own event */
	ev[0] = ev_of(&a, 5);
	assert_int_equal(dlog_store_append(f->s, f->acc2, ev, 1, r, NULL), 0);
	assert_false(r[0].duplicate);
	assert_int_equal(count_events(f->s, f->acc2), 1);
}

static void test_conflict_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	struct mev a = keyed(f, "dev-a", "key-1"), n1 = keyed(f, "dev-n", NULL);
	struct mev n2 = keyed(f, "dev-new", "key-new"), d = keyed(f, "dev-d", "key-d");
	struct dlog_event ev[3];
	struct dlog_append_result r[3];
	size_t at = 99;
	uint64_t before, after;

	ev[0] = ev_of(&a, 1);
	assert_int_equal(dlog_store_append(f->s, f->acc1, ev, 1, r, NULL), 0);
	assert_int_equal(dlog_store_last_seq(f->s, &before), 0);
	/* the third event reuses key-1 with other content: nothing of the batch is stored */
	ev[0] = ev_of(&n1, 0);
	ev[1] = ev_of(&n2, 2);
	ev[2] = ev_of(&a, 3);
	assert_int_equal(dlog_store_append(f->s, f->acc1, ev, 3, r, &at), DLOG_ECONFLICT);
	assert_int_equal(at, 2);
	assert_int_equal(count_events(f->s, f->acc1), 1);
	assert_int_equal(dlog_store_last_seq(f->s, &after), 0);
	assert_int_equal(after, before);
	/* key-new was not kept either: other content under it is new, not a conflict */
	ev[0] = ev_of(&n2, 4);
	assert_int_equal(dlog_store_append(f->s, f->acc1, ev, 1, r, NULL), 0);
	assert_false(r[0].duplicate);
	/* a conflict inside one batch */
	at = 99;
	ev[0] = ev_of(&d, 1);
	ev[1] = ev_of(&d, 2);
	assert_int_equal(dlog_store_append(f->s, f->acc1, ev, 2, r, &at), DLOG_ECONFLICT);
	assert_int_equal(at, 1);
	assert_int_equal(count_events(f->s, f->acc1), 2);
}

/* Several writers and one reader tailing with `after`: the reader must see every event exactly
 * once, in increasing id order. Ids handed out before commit (not in commit order) would let
 * a later commit with a lower id slip behind the reader's cursor. */
#define WRITERS 4
#define BATCHES 30
#define PER_BATCH 3

struct race {
	struct fixture *f;
	int64_t account;
	int done;
	int errors;
	size_t seen;
};

static void *writer(void *arg)
{
	struct race *r = arg;
	struct mev m = keyed(r->f, "dev-w", NULL);
	struct dlog_event ev[PER_BATCH];
	struct dlog_append_result res[PER_BATCH];

	for (int i = 0; i < PER_BATCH; i++)
		ev[i] = ev_of(&m, 0);
	for (int b = 0; b < BATCHES; b++) {
		if (dlog_store_append(r->f->s, r->account, ev, PER_BATCH, res, NULL) != 0)
			__atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
		for (int i = 1; i < PER_BATCH; i++) {
			if (res[i].id.seq != res[i - 1].id.seq + 1)
				__atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
		}
	}
	return NULL;
}

struct tail {
	struct dlog_id last;
	bool any;
	size_t n;
	int disorder;
};

static int tail_cb(void *arg, const struct dlog_event *e)
{
	struct tail *t = arg;

	if (t->any && dlog_id_cmp(&e->id, &t->last) <= 0)
		t->disorder++;
	t->last = e->id;
	t->any = true;
	t->n++;
	return 0;
}

static void *reader(void *arg)
{
	struct race *r = arg;
	struct tail t = {0};
	struct dlog_query q;
	struct dlog_query_error err;

	if (dlog_query_parse("limit=1000", 10, DLOG_DIALECT_EVENTS, &q, &err) != 0)
		return NULL;
	for (;;) {
		int done = __atomic_load_n(&r->done, __ATOMIC_SEQ_CST);
		size_t before = t.n;
		bool more;

		if (dlog_store_query(r->f->s, r->account, &q, tail_cb, &t, &more, NULL) != 0) {
			__atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
			break;
		}
		q.has_after = t.any;
		q.after = t.last;
		if (done && t.n == before)
			break;
	}
	r->seen = t.n;
	if (t.disorder)
		__atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
	dlog_query_done(&q);
	return NULL;
}

static void test_commit_order_race(void **state)
{
	struct fixture *f = *state;
	struct race r = {.f = f, .account = f->acc1};
	pthread_t w[WRITERS], rd;

	assert_int_equal(pthread_create(&rd, NULL, reader, &r), 0);
	for (int i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_create(&w[i], NULL, writer, &r), 0);
	for (int i = 0; i < WRITERS; i++)
		pthread_join(w[i], NULL);
	__atomic_store_n(&r.done, 1, __ATOMIC_SEQ_CST);
	pthread_join(rd, NULL);
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.seen, WRITERS * BATCHES * PER_BATCH);
	assert_int_equal(count_events(f->s, f->acc1), WRITERS * BATCHES * PER_BATCH);
}

/* ---- tests: queries ---- */

static char *id_text(size_t i)
{
	static char buf[8][DLOG_ID_STRLEN];
	static int next;
	char *b = buf[next++ & 7];

	dlog_id_format(&model[i].id, b);
	return b;
}

static char *time_text(dlog_time t)
{
	static char buf[8][DLOG_TIME_STRLEN];
	static int next;

	return dlog_time_format(t, buf[next++ & 7]);
}

static void test_query_plain(void **state)
{
	struct fixture *f = *state;

	load_model(f);
	check_all_ways(f, "", DLOG_DIALECT_EVENTS);
}

static void test_query_strings(void **state)
{
	static const char *const filters[] = {
		"device_id=dev-a",
		"device_id__eq=dev%20%22q%22%20%7Bx%7D%20%5Cy",
		"device_id__neq=NULL",
		"device_id__in=dev-a,d%C3%A9v,nosuch",
		"device_id__nin=dev-a,NULL",
		"event_type=UPD4_FAIL_24",
		"event_type__neq=SYS_106",
		"event_type__in=SYS_106,UPD2_OK_18",
		"event_type__nin=SYS_106,UPD2_OK_18",
		"description=NULL",
		"description__neq=Registered",
		"description__in=a%20%22b%22%20%5Cc,Registered",
		"description__nin=a%20%22b%22%20%5Cc,Registered",
		"event_type_description=FAIL",
		"event_type_description__neq=FAIL",
		"event_type_description__in=INFO,SUCCESS",
		"event_type_description__nin=INFO,SUCCESS",
		"event_type_description=fail", /* names are case-sensitive: matches nothing */
		"event_type_category=FAIL_NETWORK",
		"event_type_category__neq=FAIL_NETWORK",
		"event_type_category__in=SUCCESS,FAIL_STORAGE",
		"event_type_category__nin=SUCCESS,FAIL_STORAGE",
		"campaign_id=camp-1",
		"campaign_id__neq=camp-1",
		"campaign_id__in=camp-1,camp-2",
		"campaign_id__nin=camp-2",
		"state_change=true",
		"state_change__neq=TRUE",
		"state_change=false&device_id__in=dev-a,dev-b&event_type__neq=SYS_106",
		"filter=device_id%3Ddev-b%26event_type_description__in%3DFAIL",
	};
	struct fixture *f = *state;

	load_model(f);
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
		check_all_ways(f, filters[i], DLOG_DIALECT_EVENTS);
	check_all_ways(f, "state_change__in=true", DLOG_DIALECT_DEVICELOG);
	check_all_ways(f, "state_change__nin=true,false", DLOG_DIALECT_DEVICELOG);
}

/* A description or category that few events carry, or none, is looked for through the event
 * types that carry it (SQLite: table code_attrs, filled by append); one type may carry several
 * categories, so the category still decides. The combinations of a request that rolled back
 * are not taken for stored: the next request with them stores them, and filters find it. */
static void test_query_rare_attrs(void **state)
{
	static const char *const filters[] = {
		"event_type_category=RARE_CAT",
		"event_type_category__in=RARE_CAT,nosuch",
		"description=Rare%20one",
		"description=Rare%20one&event_type_category=RARE_CAT&state_change=false",
		"event_type_description=INFO&event_type_category__in=RARE_CAT,FAIL_NETWORK",
		"event_type_category=RARE_CAT&date_time__gte=2026-05-28T22:00:00Z",
		"event_type_category=nosuch",
		"description__in=nosuch,also%20not",
		"event_type_description=fail",
	};
	struct fixture *f = *state;
	struct mev key = keyed(f, "dev-k", "rare-key"), clash = key;
	struct dlog_event ev[2];
	struct dlog_append_result r[2];
	size_t at = 99, from;

	load_model(f);
	ev[0] = ev_of(&key, 1);
	assert_int_equal(dlog_store_append(f->s, f->acc1, ev, 1, r, NULL), 0);
	key.id = r[0].id;
	model[nmodel++] = key;
	/* RARE_CODE with RARE_CAT, then a clash on rare-key: the request stores nothing */
	from = nmodel;
	for (int k = 0; k < 4; k++) {
		struct mev *m = &model[nmodel++];

		memset(m, 0, sizeof(*m));
		m->account = k < 3 ? f->acc1 : f->acc2;
		m->dev = devs[k];
		m->code = "RARE_CODE";
		m->mtype = DLOG_MTYPE_INFO;
		m->cat = k == 1 ? "FAIL_NETWORK" : "RARE_CAT";
		m->descr = k == 1 ? "Connection lost." : "Rare one";
		m->ts = T0 + (k * 3 + 1) * HOUR;
	}
	ev[0] = ev_of(&model[from], 0);
	ev[1] = ev_of(&clash, 2);
	assert_int_equal(dlog_store_append(f->s, f->acc1, ev, 2, r, &at), DLOG_ECONFLICT);
	assert_int_equal(at, 1);
	append_model(f, from, from + 3, 2);
	append_model(f, from + 3, nmodel, 1);
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
		check_all_ways(f, filters[i], DLOG_DIALECT_EVENTS);
	/* and after the store is opened again, from what it holds */
	dlog_store_close(f->s);
	f->s = NULL;
	open_store(f);
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
		check_all_ways(f, filters[i], DLOG_DIALECT_EVENTS);
}

static void test_query_times_and_ids(void **state)
{
	struct fixture *f = *state;
	char qs[1024];
	struct dlog_id gone;

	load_model(f);
	snprintf(qs, sizeof(qs), "date_time=%s", time_text(model[5].ts));
	check_all_ways(f, qs, DLOG_DIALECT_EVENTS);
	snprintf(qs, sizeof(qs), "date_time__in=%s,%s", time_text(model[5].ts),
		 time_text(model[8].ts));
	check_all_ways(f, qs, DLOG_DIALECT_EVENTS);
	snprintf(qs, sizeof(qs), "date_time__nin=%s,%s", time_text(model[5].ts),
		 time_text(model[8].ts));
	check_all_ways(f, qs, DLOG_DIALECT_EVENTS);
	snprintf(qs, sizeof(qs), "date_time__gte=%s&date_time__lte=%s", time_text(T0 + 10 * HOUR),
		 time_text(T0 + 30 * HOUR));
	check_all_ways(f, qs, DLOG_DIALECT_EVENTS);
	snprintf(qs, sizeof(qs), "created_at__gte=%s", time_text(model[40].id.created));
	check_all_ways(f, qs, DLOG_DIALECT_EVENTS);
	snprintf(qs, sizeof(qs), "created_at__lte=%s", time_text(model[40].id.created));
	check_all_ways(f, qs, DLOG_DIALECT_EVENTS);
	snprintf(qs, sizeof(qs), "id=%s", id_text(3));
	check_all_ways(f, qs, DLOG_DIALECT_EVENTS);
	snprintf(qs, sizeof(qs), "id__neq=%s", id_text(3));
	check_all_ways(f, qs, DLOG_DIALECT_EVENTS);
	snprintf(qs, sizeof(qs), "id__in=%s,%s,%s", id_text(3), id_text(4), id_text(25));
	check_all_ways(f, qs, DLOG_DIALECT_EVENTS);
	snprintf(qs, sizeof(qs), "id__nin=%s,%s", id_text(3), id_text(25));
	check_all_ways(f, qs, DLOG_DIALECT_EVENTS);
	/* the right seq with the wrong created is another id */
	gone = model[3].id;
	gone.created++;
	dlog_id_format(&gone, qs + 3);
	memcpy(qs, "id=", 3);
	check_all_ways(f, qs, DLOG_DIALECT_EVENTS);
}

/* after = an id no event has: the page starts at its position in id order. */
static void check_after(struct fixture *f, const char *after, const char *order)
{
	char qs[256];
	struct dlog_query q;
	size_t want[MAX_MODEL], nwant;
	struct page p = {0};
	bool more;
	int64_t total = 0;

	snprintf(qs, sizeof(qs), "after=%s&order=%s&limit=1000&include=total_count", after, order);
	parse_ok(qs, DLOG_DIALECT_EVENTS, &q);
	nwant = expected(f->acc1, &q, want);
	assert_int_equal(dlog_store_query(f->s, f->acc1, &q, page_cb, &p, &more, &total), 0);
	if (p.n != nwant)
		fail_msg("%s: %zu rows, want %zu", qs, p.n, nwant);
	for (size_t i = 0; i < p.n; i++)
		assert_int_equal(dlog_id_cmp(&p.ids[i], &model[want[i]].id), 0);
	assert_false(more);
	/* total_count ignores after */
	assert_int_equal(total, count_events(f->s, f->acc1));
	dlog_query_done(&q);
}

/* ---- date_time filters over many zones (SQLite bounds the ids from its zone map) ---- */

#define MINUTE INT64_C(60000000)
#define ZONE_BIG 5000 /* more than one zone's worth: one request still goes in one zone */

static void append_dated(struct fixture *f, int64_t account, const dlog_time *ts, size_t n)
{
	struct dlog_event *ev = calloc(n, sizeof(*ev));
	struct dlog_append_result *res = calloc(n, sizeof(*res));

	assert_non_null(ev);
	assert_non_null(res);
	for (size_t i = 0; i < n; i++) {
		ev[i].date_time = ts[i];
		ev[i].device_id = devs[i % 5];
		ev[i].event_type = codes[i % 4];
		ev[i].mtype = mtypes[i % 4];
		ev[i].category = cats[i % 4];
		ev[i].description = descrs[i % 4];
	}
	assert_int_equal(dlog_store_append(f->s, account, ev, n, res, NULL), 0);
	free(ev);
	free(res);
}

struct dated_page {
	size_t n;
	struct dlog_id last;
	bool desc, in_order;
};

static int dated_cb(void *arg, const struct dlog_event *e)
{
	struct dated_page *p = arg;

	if (p->n > 0 && dlog_id_cmp(&e->id, &p->last) * (p->desc ? -1 : 1) <= 0)
		p->in_order = false;
	p->last = e->id;
	p->n++;
	return 0;
}

/* Walks qs in pages of 7 both ways: every page's total_count and the rows seen must be want. */
static void check_dated(struct fixture *f, int64_t account, const char *qs, size_t want)
{
	for (int desc = 0; desc < 2; desc++) {
		char full[512];
		struct dlog_query q;
		size_t seen = 0;

		snprintf(full, sizeof(full), "%s&limit=7&order=%s&include=total_count", qs,
			 desc ? "DESC" : "ASC");
		parse_ok(full, DLOG_DIALECT_EVENTS, &q);
		for (;;) {
			struct dated_page p = {.desc = desc != 0, .in_order = true};
			bool more = false;
			int64_t total = -1;

			assert_int_equal(
				dlog_store_query(f->s, account, &q, dated_cb, &p, &more, &total), 0);
			if (total != (int64_t)want)
				fail_msg("%s: total_count %lld, want %zu", full, (long long)total,
					 want);
			assert_true(p.in_order);
			seen += p.n;
			if (!more || p.n == 0)
				break;
			q.has_after = true;
			q.after = p.last;
		}
		if (seen != want)
			fail_msg("%s: %zu rows seen, want %zu", full, seen, want);
		dlog_query_done(&q);
	}
}

static void check_dated_set(struct fixture *f)
{
	char qs[256];

	snprintf(qs, sizeof(qs), "date_time=%s", time_text(T0 + 7 * MINUTE));
	check_dated(f, f->acc1, qs, 1);
	snprintf(qs, sizeof(qs), "date_time=%s", time_text(T0 - 10 * HOUR - 3 * MINUTE));
	check_dated(f, f->acc1, qs, 1);
	/* between two events of a zone, and outside every zone */
	snprintf(qs, sizeof(qs), "date_time=%s", time_text(T0 + 7 * MINUTE + 1));
	check_dated(f, f->acc1, qs, 0);
	snprintf(qs, sizeof(qs), "date_time=%s", time_text(T0 + 1000 * HOUR));
	check_dated(f, f->acc1, qs, 0);
	snprintf(qs, sizeof(qs), "date_time__in=%s,", time_text(T0 - 10 * HOUR - 3 * MINUTE));
	snprintf(qs + strlen(qs), sizeof(qs) - strlen(qs), "%s,",
		 time_text(T0 + (ZONE_BIG - 1) * MINUTE));
	snprintf(qs + strlen(qs), sizeof(qs) - strlen(qs), "%s", time_text(T0 + 200 * HOUR + 5));
	check_dated(f, f->acc1, qs, 3);
	snprintf(qs, sizeof(qs), "date_time__gte=%s", time_text(T0 + 100 * HOUR));
	check_dated(f, f->acc1, qs, 50);
	snprintf(qs, sizeof(qs), "date_time__lte=%s", time_text(T0 - 9 * HOUR));
	check_dated(f, f->acc1, qs, 50 + 5);
	snprintf(qs, sizeof(qs), "date_time__gte=%s", time_text(T0 + (ZONE_BIG - 10) * MINUTE));
	check_dated(f, f->acc1, qs, 60);
	snprintf(qs, sizeof(qs), "date_time__gte=%s&date_time__lte=",
		 time_text(T0 - 10 * HOUR - 9 * MINUTE));
	snprintf(qs + strlen(qs), sizeof(qs) - strlen(qs), "%s", time_text(T0 + 2 * MINUTE));
	check_dated(f, f->acc1, qs, 10 + 3);
	snprintf(qs, sizeof(qs), "date_time__nin=%s", time_text(T0 + 7 * MINUTE));
	check_dated(f, f->acc2, qs, 10);
	snprintf(qs, sizeof(qs), "date_time=%s", time_text(T0 + 5 * MINUTE));
	check_dated(f, f->acc2, qs, 10);
	check_dated(f, f->acc1, qs, 1);
}

static void test_query_date_zones(void **state)
{
	struct fixture *f = *state;
	static dlog_time ts[ZONE_BIG];

	/* A: one large request, in date order; B: older than all of A; D: another account, dated
	 * inside A's range; C: far newer */
	for (size_t i = 0; i < ZONE_BIG; i++)
		ts[i] = T0 + (dlog_time)i * MINUTE;
	append_dated(f, f->acc1, ts, ZONE_BIG);
	for (size_t i = 0; i < 50; i++)
		ts[i] = T0 - 10 * HOUR - (dlog_time)i * MINUTE;
	append_dated(f, f->acc1, ts, 50);
	for (size_t i = 0; i < 10; i++)
		ts[i] = T0 + 5 * MINUTE;
	append_dated(f, f->acc2, ts, 10);
	for (size_t i = 0; i < 50; i++)
		ts[i] = T0 + 200 * HOUR + (dlog_time)i;
	append_dated(f, f->acc1, ts, 50);
	/* E: older than everything, into the zone of B and C (its bounds widen both ways) */
	for (size_t i = 0; i < 5; i++)
		ts[i] = T0 - 20 * HOUR;
	append_dated(f, f->acc1, ts, 5);
	check_dated_set(f);
	if (!is_pg) {
		/* a store from before zones (schema 4): the migration cuts them from the events */
		sqlite3 *db;
		char path[300];

		dlog_store_close(f->s);
		f->s = NULL;
		snprintf(path, sizeof(path), "%s/store.db", f->dir);
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db,
					      "DROP TABLE zones; DROP INDEX events_camp;"
					      " DROP TABLE code_attrs;" UNDO_BLOCKS " PRAGMA user_version=4;",
					      NULL, NULL, NULL),
				 SQLITE_OK);
		sqlite3_close(db);
		open_store(f);
		check_dated_set(f);
	}
}

/* ---- tests: pages that walk an account's ids, zone by zone ---- */

/* SQLite reads such a page zone by zone: a dense zone (the account's rows together) along the
 * rowid, a sparse one (interleaved with another account's) through the account index. Every
 * layout must give exactly the matching events, in order, across zones and pages. */
#define WALK_RARE 97 /* every 97th event of the account has the rare category */

struct walk_set {
	struct dlog_id *ids;
	bool *rare, *code0; /* the rare category; event type codes[0] */
	size_t n, cap;
	size_t k; /* events appended to either account, for their date_time */
};

static void append_walk(struct fixture *f, int64_t account, size_t n, struct walk_set *w)
{
	struct dlog_event *ev = calloc(n, sizeof(*ev));
	struct dlog_append_result *res = calloc(n, sizeof(*res));

	assert_non_null(ev);
	assert_non_null(res);
	for (size_t i = 0; i < n; i++) {
		bool rare = account == f->acc1 && (w->n + i) % WALK_RARE == 0;

		ev[i].date_time = T0 + (dlog_time)(w->k + i) * MINUTE;
		ev[i].device_id = devs[i % 5];
		ev[i].event_type = codes[i % 4];
		ev[i].mtype = mtypes[i % 4];
		ev[i].category = rare ? "WALK_RARE" : cats[i % 4];
		ev[i].description = descrs[i % 4];
	}
	assert_int_equal(dlog_store_append(f->s, account, ev, n, res, NULL), 0);
	w->k += n;
	if (account == f->acc1) {
		if (w->n + n > w->cap) {
			w->cap = (w->n + n) * 2;
			w->ids = realloc(w->ids, w->cap * sizeof(*w->ids));
			w->rare = realloc(w->rare, w->cap * sizeof(*w->rare));
			w->code0 = realloc(w->code0, w->cap * sizeof(*w->code0));
			assert_non_null(w->ids);
			assert_non_null(w->rare);
			assert_non_null(w->code0);
		}
		for (size_t i = 0; i < n; i++) {
			w->ids[w->n] = res[i].id;
			w->rare[w->n] = strcmp(ev[i].category, "WALK_RARE") == 0;
			w->code0[w->n] = ev[i].event_type == codes[0];
			w->n++;
		}
	}
	free(ev);
	free(res);
}

struct walk_page {
	struct dlog_id *got;
	size_t n, cap;
};

static int walk_cb(void *arg, const struct dlog_event *e)
{
	struct walk_page *p = arg;

	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 256;
		p->got = realloc(p->got, p->cap * sizeof(*p->got));
		assert_non_null(p->got);
	}
	p->got[p->n++] = e->id;
	return 0;
}

/* Pages through qs (limit) both ways; the rows must be want[] (ASC order) exactly. */
static void check_zone_walk(struct fixture *f, const char *qs, int limit, const struct dlog_id *want,
		       size_t nwant)
{
	for (int desc = 0; desc < 2; desc++) {
		char full[512];
		struct dlog_query q;
		struct walk_page p = {0};
		size_t pages = 0;

		snprintf(full, sizeof(full), "%s%slimit=%d&order=%s&include=total_count", qs,
			 *qs ? "&" : "", limit, desc ? "DESC" : "ASC");
		parse_ok(full, DLOG_DIALECT_EVENTS, &q);
		for (;;) {
			size_t before = p.n;
			bool more = false;
			int64_t total = -1;

			assert_int_equal(dlog_store_query(f->s, f->acc1, &q, walk_cb, &p, &more, &total),
					 0);
			if (total != (int64_t)nwant)
				fail_msg("%s: total_count %lld, want %zu", full, (long long)total, nwant);
			pages++;
			if (!more)
				break;
			assert_int_equal(p.n - before, limit);
			q.has_after = true;
			q.after = p.got[p.n - 1];
		}
		if (p.n != nwant)
			fail_msg("%s: %zu rows in %zu pages, want %zu", full, p.n, pages, nwant);
		for (size_t i = 0; i < nwant; i++) {
			const struct dlog_id *w = &want[desc ? nwant - 1 - i : i];

			if (dlog_id_cmp(&p.got[i], w) != 0)
				fail_msg("%s: row %zu is not the expected event", full, i);
		}
		free(p.got);
		dlog_query_done(&q);
	}
}

static void test_query_walk_zones(void **state)
{
	struct fixture *f = *state;
	struct walk_set w = {0};
	struct dlog_id *sel;
	size_t nsel = 0, from;
	char qs[128];

	/* zones of acc1: one request (dense); 21 rounds of 200 between another account's 1,000
	 * (sparse: its id range is six times its events); one request again (dense); a few
	 * small ones between the other account's (a sparse newest zone) */
	append_walk(f, f->acc1, ZONE_BIG, &w);
	for (int i = 0; i < 21; i++) {
		append_walk(f, f->acc1, 200, &w);
		append_walk(f, f->acc2, 1000, &w);
	}
	append_walk(f, f->acc1, ZONE_BIG, &w);
	for (int i = 0; i < 3; i++) {
		append_walk(f, f->acc1, 10, &w);
		append_walk(f, f->acc2, 100, &w);
	}
	if (!is_pg) {
		/* the layout above is what the test is about: both kinds of zone exist */
		sqlite3 *db;
		sqlite3_stmt *st;
		char path[300];

		snprintf(path, sizeof(path), "%s/store.db", f->dir);
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db,
						     "SELECT sum(last_seq - first_seq < 4 * n),"
						     " sum(last_seq - first_seq >= 4 * n), count(*)"
						     " FROM zones WHERE account_id = ?1",
						     -1, &st, NULL),
				 SQLITE_OK);
		sqlite3_bind_int64(st, 1, f->acc1);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(st, 0), 2);
		assert_int_equal(sqlite3_column_int(st, 1), 2);
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	check_zone_walk(f, "", 50, w.ids, w.n);
	sel = calloc(w.n, sizeof(*sel));
	assert_non_null(sel);
	for (size_t i = 0; i < w.n; i++)
		if (w.rare[i])
			sel[nsel++] = w.ids[i];
	assert_true(nsel > 100);
	check_zone_walk(f, "event_type_category=WALK_RARE", 7, sel, nsel);
	/* a date_time bound starting inside the sparse zone: the zones before it are skipped */
	from = ZONE_BIG + 2000;
	snprintf(qs, sizeof(qs), "date_time__gte=%s&event_type_category=WALK_RARE",
		 time_text(T0 + (dlog_time)(ZONE_BIG + 2000 / 200 * 1200) * MINUTE));
	nsel = 0;
	for (size_t i = from; i < w.n; i++)
		if (w.rare[i])
			sel[nsel++] = w.ids[i];
	check_zone_walk(f, qs, 7, sel, nsel);
	/* a negated term walks too */
	nsel = 0;
	for (size_t i = 0; i < w.n; i++)
		if (!w.code0[i])
			sel[nsel++] = w.ids[i];
	check_zone_walk(f, "event_type__neq=UPD4_FAIL_24", 200, sel, nsel);
	free(sel);
	free(w.ids);
	free(w.rare);
	free(w.code0);
}

static void test_query_after(void **state)
{
	struct fixture *f = *state;
	char id[DLOG_ID_STRLEN];
	struct dlog_id gone;

	load_model(f);
	for (size_t i = 0; i < nmodel; i += 17) {
		check_after(f, id_text(i), "ASC");
		check_after(f, id_text(i), "DESC");
		/* just before and just after an existing id, on both sides of it */
		gone = model[i].id;
		gone.created--;
		dlog_id_format(&gone, id);
		check_after(f, id, "ASC");
		check_after(f, id, "DESC");
		gone.created += 2;
		dlog_id_format(&gone, id);
		check_after(f, id, "ASC");
		check_after(f, id, "DESC");
	}
	check_after(f, "00000000000000000000000000000000", "ASC");
	check_after(f, "00000000000000000000000000000000", "DESC");
	/* beyond what a column holds: clamped, still the right position */
	check_after(f, "ffffffffffffffffffffffffffffffff", "ASC");
	check_after(f, "ffffffffffffffffffffffffffffffff", "DESC");
	check_after(f, "7fffffffffffffffffffffffffffffff", "DESC");
}

static void test_tenant_isolation(void **state)
{
	struct fixture *f = *state;
	struct dlog_query q;
	struct page p = {0};
	bool more;
	int64_t total = 0, other;

	load_model(f);
	/* a filter naming only account 1's ids finds nothing for account 2 */
	parse_ok("include=total_count&limit=1000", DLOG_DIALECT_EVENTS, &q);
	assert_int_equal(dlog_store_query(f->s, f->acc2, &q, page_cb, &p, &more, &total), 0);
	for (size_t i = 0; i < p.n; i++)
		assert_int_equal(model_find(&p.ids[i])->account, f->acc2);
	dlog_query_done(&q);
	assert_int_equal(dlog_store_account(f->s, "initech", true, &other), 0);
	assert_int_equal(count_events(f->s, other), 0);
	check_walk(f, f->acc2, "device_id=dev-a", DLOG_DIALECT_EVENTS, 1000, "ASC");
}

/* ---- tests: summary ---- */

struct sum {
	int64_t days[64][DLOG_MTYPE_COUNT];
	int64_t first_day;
	int ndays_calls;
	char codes[8][32];
	int64_t counts[8];
	int ncodes;
	int64_t last_day;
};

static int day_cb(void *arg, int64_t day, enum dlog_mtype m, int64_t n)
{
	struct sum *s = arg;

	assert_true(s->ndays_calls == 0 || day >= s->last_day);
	s->last_day = day;
	s->ndays_calls++;
	assert_true(day >= s->first_day && day < s->first_day + 64);
	s->days[day - s->first_day][m] = n;
	return 0;
}

static int code_cb(void *arg, const char *code, int64_t n)
{
	struct sum *s = arg;

	assert_true(s->ncodes < 8);
	snprintf(s->codes[s->ncodes], 32, "%s", code);
	s->counts[s->ncodes++] = n;
	return 0;
}

static void test_summary(void **state)
{
	struct fixture *f = *state;
	const int64_t off = -5 * HOUR, day_us = 24 * HOUR;
	struct sum got = {0}, want = {0};
	struct dlog_query q;

	load_model(f);
	got.first_day = want.first_day = (T0 + off) / day_us - 1;
	parse_ok("device_id__neq=dev-b", DLOG_DIALECT_EVENTS, &q);
	for (size_t i = 0; i < nmodel; i++) {
		if (query_match(&model[i], f->acc1, &q))
			want.days[(model[i].ts + off) / day_us - want.first_day][model[i].mtype]++;
	}
	assert_int_equal(dlog_store_summary(f->s, f->acc1, &q, off, day_cb, code_cb, 8, &got), 0);
	assert_memory_equal(got.days, want.days, sizeof(want.days));
	/* FAIL codes only, most frequent first, each with its count */
	assert_true(got.ncodes >= 1 && got.ncodes <= 2);
	for (int i = 0; i < got.ncodes; i++) {
		int64_t n = 0;

		for (size_t k = 0; k < nmodel; k++)
			n += query_match(&model[k], f->acc1, &q) &&
			     strcmp(model[k].code, got.codes[i]) == 0 &&
			     model[k].mtype == DLOG_MTYPE_FAIL;
		assert_int_equal(got.counts[i], n);
		assert_true(n > 0);
		assert_true(i == 0 || got.counts[i] <= got.counts[i - 1]);
	}
	dlog_query_done(&q);
}

/* ---- tests: the device directory ---- */

/* Every device name the directory tests use. */
static const char *const all_devs[] = {"dev-a",	    "dev-b",	 "dev \"q\" {x} \\y", "NULL",
				       "d\xc3\xa9v", "dev-only-1", "dev-quiet",	    "dev-new"};
#define NDEVS (sizeof(all_devs) / sizeof(all_devs[0]))

/* load_model plus lifecycle events out of date_time order (some in campaigns), a device only
 * account 1 has and one without lifecycle events. */
static void load_dir_model(struct fixture *f)
{
	static const char *const life[] = {"SYS_107", "SYS_105", "SYS_106"};
	size_t from;

	load_model(f);
	nmgroups = 0;
	from = nmodel;
	for (int k = 0; k < 18; k++) {
		struct mev *m = &model[nmodel++];

		memset(m, 0, sizeof(*m));
		m->account = k < 14 ? f->acc1 : f->acc2;
		m->dev = k == 12 ? "dev-only-1" : devs[(k * 3) % 5];
		m->code = life[k % 3];
		m->mtype = DLOG_MTYPE_INFO;
		m->cat = "INFO_REGISTRATION";
		m->descr = "Lifecycle";
		m->camp = k % 5 == 0 ? camps[k % 2] : NULL;
		m->ts = T0 + ((k * 23) % 50) * HOUR;
		if (k == 13) {
			m->dev = "dev-quiet";
			m->code = codes[0];
			m->mtype = mtypes[0];
			m->cat = cats[0];
		}
	}
	append_model(f, from, from + 14, 5);
	append_model(f, from + 14, nmodel, 4);
}

/* A directory row as the tests compare it. */
struct mdev {
	char id[64];
	enum dlog_device_state state;
	dlog_time first, last;
	char last_code[32];
	enum dlog_mtype last_mtype;
	char last_camp[32]; /* "" when none */
	int64_t counts[DLOG_MTYPE_COUNT];
};

/* Is a later than b in the directory's sense: greater (date_time, id)? */
static bool mev_after(const struct mev *a, const struct mev *b)
{
	return b == NULL || a->ts > b->ts || (a->ts == b->ts && a->id.seq > b->id.seq);
}

/* The directory row of dev in account from the model; false when it has no events there. */
static bool model_device(int64_t account, const char *dev, struct mdev *d)
{
	const struct mev *last = NULL, *camp = NULL, *life = NULL;

	memset(d, 0, sizeof(*d));
	for (size_t i = 0; i < nmodel; i++) {
		const struct mev *m = &model[i];

		if (m->account != account || strcmp(m->dev, dev) != 0)
			continue;
		if (last == NULL || m->ts < d->first)
			d->first = m->ts;
		d->counts[m->mtype]++;
		if (mev_after(m, last))
			last = m;
		if (m->camp != NULL && mev_after(m, camp))
			camp = m;
		if (dlog_device_state_of(m->code) != DLOG_STATE_UNENROLLED && mev_after(m, life))
			life = m;
	}
	if (last == NULL)
		return false;
	snprintf(d->id, sizeof(d->id), "%s", dev);
	d->last = last->ts;
	snprintf(d->last_code, sizeof(d->last_code), "%s", last->code);
	d->last_mtype = last->mtype;
	if (camp != NULL)
		snprintf(d->last_camp, sizeof(d->last_camp), "%s", camp->camp);
	d->state = life != NULL ? dlog_device_state_of(life->code) : DLOG_STATE_UNENROLLED;
	return true;
}

struct dpage {
	size_t n;
	struct mdev d[16];
};

static int dev_cb(void *arg, const struct dlog_device *x)
{
	struct dpage *p = arg;
	struct mdev *d;

	assert_true(p->n < 16);
	d = &p->d[p->n++];
	memset(d, 0, sizeof(*d));
	snprintf(d->id, sizeof(d->id), "%s", x->device_id);
	d->state = x->state;
	d->first = x->first_at;
	d->last = x->last_at;
	snprintf(d->last_code, sizeof(d->last_code), "%s", x->last_event_type);
	d->last_mtype = x->last_mtype;
	if (x->last_campaign_id != NULL)
		snprintf(d->last_camp, sizeof(d->last_camp), "%s", x->last_campaign_id);
	memcpy(d->counts, x->counts, sizeof(d->counts));
	return 0;
}

static void check_dev(const struct mdev *got, const struct mdev *want)
{
	if (strcmp(got->id, want->id) != 0)
		fail_msg("device '%s', want '%s'", got->id, want->id);
	if (got->state != want->state || got->first != want->first || got->last != want->last ||
	    strcmp(got->last_code, want->last_code) != 0 || got->last_mtype != want->last_mtype ||
	    strcmp(got->last_camp, want->last_camp) != 0 ||
	    memcmp(got->counts, want->counts, sizeof(got->counts)) != 0)
		fail_msg("device '%s': state %d first %lld last %lld code %s mtype %d camp '%s'"
			 " counts %lld/%lld/%lld/%lld; want state %d first %lld last %lld code %s"
			 " mtype %d camp '%s' counts %lld/%lld/%lld/%lld",
			 got->id, (int)got->state, (long long)got->first, (long long)got->last,
			 got->last_code, (int)got->last_mtype, got->last_camp,
			 (long long)got->counts[0], (long long)got->counts[1],
			 (long long)got->counts[2], (long long)got->counts[3], (int)want->state,
			 (long long)want->first, (long long)want->last, want->last_code,
			 (int)want->last_mtype, want->last_camp, (long long)want->counts[0],
			 (long long)want->counts[1], (long long)want->counts[2],
			 (long long)want->counts[3]);
}

/* Every device of the model in account, one by one. */
static void check_directory(struct fixture *f, int64_t account)
{
	for (size_t i = 0; i < NDEVS; i++) {
		struct mdev want;
		struct dpage p = {0};
		bool has = model_device(account, all_devs[i], &want);
		int rc = dlog_store_device_get(f->s, account, all_devs[i], dev_cb, &p);

		if (!has) {
			if (rc != DLOG_ENOTFOUND)
				fail_msg("device '%s': %d, want not found", all_devs[i], rc);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(p.n, 1);
		check_dev(&p.d[0], &want);
	}
}

static bool dev_term_match(const struct mdev *d, const struct dlog_term *t)
{
	bool neg = t->op == DLOG_OP_NEQ || t->op == DLOG_OP_NIN;
	bool in = false;

	switch (t->field) {
	case DLOG_F_CREATED_AT:
		return time_match(d->first, t);
	case DLOG_F_UPDATED_AT:
		return time_match(d->last, t);
	case DLOG_F_DEVICE_KEY:
		in = str_in(d->id, t);
		break;
	case DLOG_F_STATE:
		in = str_in(dlog_device_state_name(d->state), t);
		break;
	case DLOG_F_LAST_EVENT_TYPE:
		in = str_in(d->last_code, t);
		break;
	case DLOG_F_LAST_EVENT_TYPE_DESCRIPTION:
		in = str_in(dlog_mtype_name(d->last_mtype), t);
		break;
	default:
		fail_msg("the device evaluator lacks field %d", (int)t->field);
	}
	return neg ? !in : in;
}

static int mdev_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mdev *)a)->id, ((const struct mdev *)b)->id);
}

/* The devices of account (of group when not NULL) q's filters select, in q's order. */
static size_t model_devices(int64_t account, const char *group, const struct dlog_query *q,
			    struct mdev *out)
{
	size_t n = 0;

	for (size_t i = 0; i < NDEVS; i++) {
		struct mdev d;
		bool ok;

		if (!model_device(account, all_devs[i], &d))
			continue;
		if (group != NULL && !group_has(group, account, all_devs[i]))
			continue;
		ok = true;
		for (size_t k = 0; k < q->nterms; k++)
			ok = ok && dev_term_match(&d, &q->terms[k]);
		if (ok)
			out[n++] = d;
	}
	qsort(out, n, sizeof(*out), mdev_cmp);
	for (size_t i = 0; q->order == DLOG_ORDER_DESC && i < n / 2; i++) {
		struct mdev t = out[i];

		out[i] = out[n - 1 - i];
		out[n - 1 - i] = t;
	}
	return n;
}

/* Page through the directory like check_walk: rows, has_more and total_count. */
static void check_dev_walk(struct fixture *f, int64_t account, const char *group,
			   const char *filters, int limit, const char *order)
{
	char qs[1024];
	struct dlog_query q;
	struct mdev want[16];
	size_t nwant, got = 0;

	snprintf(qs, sizeof(qs), "%s%slimit=%d&order=%s&include=total_count", filters,
		 *filters ? "&" : "", limit, order);
	parse_ok(qs, DLOG_DIALECT_DEVICES, &q);
	nwant = model_devices(account, group, &q, want);
	for (int pages = 0;; pages++) {
		struct dpage p = {0};
		bool more = true;
		int64_t total = -1;
		size_t left = nwant - got, page = left < (size_t)q.limit ? left : (size_t)q.limit;
		int rc;

		assert_true(pages <= 16);
		rc = dlog_store_device_query(f->s, account, group, &q, dev_cb, &p, &more, &total);
		assert_int_equal(rc, 0);
		if (total != (int64_t)nwant)
			fail_msg("%s: total_count %lld, want %zu", qs, (long long)total, nwant);
		if (p.n != page)
			fail_msg("%s: page %d has %zu rows, want %zu", qs, pages, p.n, page);
		for (size_t i = 0; i < p.n; i++)
			check_dev(&p.d[i], &want[got + i]);
		got += p.n;
		if (more != (got < nwant))
			fail_msg("%s: has_more %d with %zu of %zu seen", qs, more, got, nwant);
		if (!more)
			break;
		free(q.after_key);
		q.after_key = strdup(p.d[p.n - 1].id);
		assert_non_null(q.after_key);
		q.has_after = true;
	}
	dlog_query_done(&q);
}

static void test_directory(void **state)
{
	struct fixture *f = *state;
	struct mev extra[2];
	struct mdev a;
	struct dpage p = {0};
	bool more = true;
	int64_t other, total = -1;
	struct dlog_query q;
	int states = 0;

	load_dir_model(f);
	check_directory(f, f->acc1);
	check_directory(f, f->acc2);
	/* the data set reaches every lifecycle state and the unenrolled one */
	for (size_t i = 0; i < NDEVS; i++) {
		struct mdev d;

		if (model_device(f->acc1, all_devs[i], &d))
			states |= 1 << d.state;
	}
	assert_int_equal(states, 0xf);
	/* one batch: an event older than all of dev-a's, then one at its latest date_time, which
	 * (a greater id) becomes the latest; an event of another device in between */
	assert_true(model_device(f->acc1, "dev-a", &a));
	extra[0] = (struct mev){.account = f->acc1, .ts = T0 - HOUR, .dev = "dev-a",
				.code = "UPD2_OK_18", .mtype = DLOG_MTYPE_SUCCESS, .cat = "SUCCESS",
				.descr = "ok", .camp = "camp-3"};
	extra[1] = extra[0];
	extra[1].ts = a.last;
	extra[1].code = "UPD4_FAIL_7";
	extra[1].mtype = DLOG_MTYPE_FAIL;
	extra[1].camp = NULL;
	model[nmodel++] = extra[0];
	model[nmodel] = extra[0];
	model[nmodel].dev = "dev-b";
	model[nmodel++].ts = T0 + 100 * HOUR;
	model[nmodel++] = extra[1];
	append_model(f, nmodel - 3, nmodel, 3);
	check_directory(f, f->acc1);
	check_directory(f, f->acc2);
	assert_true(model_device(f->acc1, "dev-a", &a));
	assert_string_equal(a.last_code, "UPD4_FAIL_7");
	/* another account sees none of it */
	assert_int_equal(dlog_store_account(f->s, "initech", true, &other), 0);
	assert_int_equal(dlog_store_device_get(f->s, other, "dev-a", dev_cb, &p), DLOG_ENOTFOUND);
	assert_int_equal(dlog_store_device_get(f->s, f->acc2, "dev-only-1", dev_cb, &p),
			 DLOG_ENOTFOUND);
	parse_ok("include=total_count", DLOG_DIALECT_DEVICES, &q);
	assert_int_equal(dlog_store_device_query(f->s, other, NULL, &q, dev_cb, &p, &more, &total),
			 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(total, 0);
	assert_false(more);
	dlog_query_done(&q);
}

static void test_device_query(void **state)
{
	static const char *const filters[] = {
		"",
		"id=dev-a",
		"id__neq=dev-a",
		"id__in=dev-a,NULL,nope",
		"id__nin=dev-b,NULL",
		"state=registered",
		"state=unenrolled",
		"state__neq=unenrolled",
		"state__in=bootstrapped,deregistered",
		"state__nin=registered,bootstrapped",
		"state=nonsense",
		"last_event_type=SYS_106",
		"last_event_type__neq=SYS_106",
		"last_event_type__in=SYS_105,UPD4_FAIL_24,UPD2_OK_18",
		"last_event_type__nin=SYS_105,SYS_107",
		"last_event_type_description=FAIL",
		"last_event_type_description__neq=INFO",
		"last_event_type_description__in=SUCCESS,FAIL",
		"last_event_type_description__nin=INFO",
		"state__neq=deregistered&last_event_type_description__neq=FAIL",
	};
	static const int limits[] = {2, 3, 1000};
	struct fixture *f = *state;
	struct mdev a;
	char qs[512];

	load_dir_model(f);
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		for (size_t k = 0; k < sizeof(limits) / sizeof(limits[0]); k++) {
			check_dev_walk(f, f->acc1, NULL, filters[i], limits[k], "ASC");
			check_dev_walk(f, f->acc1, NULL, filters[i], limits[k], "DESC");
		}
		check_dev_walk(f, f->acc2, NULL, filters[i], 2, "ASC");
		check_dev_walk(f, f->acc2, NULL, filters[i], 1000, "DESC");
	}
	/* created_at is the first event's date_time, updated_at the latest's */
	assert_true(model_device(f->acc1, "dev-a", &a));
	snprintf(qs, sizeof(qs), "created_at__lte=%s", time_text(a.first));
	check_dev_walk(f, f->acc1, NULL, qs, 2, "ASC");
	snprintf(qs, sizeof(qs), "created_at__gte=%s", time_text(a.first));
	check_dev_walk(f, f->acc1, NULL, qs, 2, "DESC");
	snprintf(qs, sizeof(qs), "updated_at__lte=%s", time_text(a.last));
	check_dev_walk(f, f->acc1, NULL, qs, 2, "ASC");
	snprintf(qs, sizeof(qs), "updated_at__gte=%s&created_at__lte=%s", time_text(a.last),
		 time_text(T0 + 3 * HOUR));
	check_dev_walk(f, f->acc1, NULL, qs, 2, "ASC");
	check_dev_walk(f, f->acc2, NULL, qs, 2, "ASC");
}

/* ---- tests: device groups ---- */

struct gpage {
	size_t n;
	struct {
		char id[33], name[64], descr[64], attrs[64];
		int64_t devices;
		dlog_time created, updated;
	} g[8];
};

static int group_cb(void *arg, const struct dlog_group *g)
{
	struct gpage *p = arg;

	assert_true(p->n < 8);
	snprintf(p->g[p->n].id, sizeof(p->g[0].id), "%s", g->id);
	snprintf(p->g[p->n].name, sizeof(p->g[0].name), "%s", g->name);
	snprintf(p->g[p->n].descr, sizeof(p->g[0].descr), "%s", g->description);
	snprintf(p->g[p->n].attrs, sizeof(p->g[0].attrs), "%s", g->custom_attributes);
	p->g[p->n].devices = g->devices_count;
	p->g[p->n].created = g->created_at;
	p->g[p->n].updated = g->updated_at;
	p->n++;
	return 0;
}

#define G1 "00000000000000000000000000000001"
#define G2 "00000000000000000000000000000002"
#define G3 "00000000000000000000000000000003"
#define G4 "00000000000000000000000000000004"
#define GX "ffffffffffffffffffffffffffffffff"

static int group_new(struct fixture *f, int64_t account, const char *id, const char *name,
		     const char *descr, const char *attrs)
{
	struct dlog_group g = {.name = name, .description = descr, .custom_attributes = attrs};
	int rc;

	snprintf(g.id, sizeof(g.id), "%s", id);
	rc = dlog_store_group_create(f->s, account, &g);
	if (rc == 0) {
		assert_true(g.created_at > 0);
		assert_int_equal(g.created_at, g.updated_at);
	}
	return rc;
}

static struct gpage group_read(struct fixture *f, int64_t account, const char *id)
{
	struct gpage p = {0};

	assert_int_equal(dlog_store_group_get(f->s, account, id, group_cb, &p), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.g[0].id, id);
	return p;
}

/* One page of account's groups; the ids joined by ',' into out (256 bytes). */
static void group_page(struct fixture *f, int64_t account, const char *qs, char *out,
		       bool *more, int64_t *total)
{
	struct dlog_query q;
	struct gpage p = {0};
	size_t len = 0;

	parse_ok(qs, DLOG_DIALECT_PLAIN, &q);
	assert_int_equal(dlog_store_group_list(f->s, account, &q, group_cb, &p, more, total), 0);
	out[0] = '\0';
	for (size_t i = 0; i < p.n && len < 256; i++)
		len += (size_t)snprintf(out + len, 256 - len, "%s%s", i > 0 ? "," : "", p.g[i].id);
	dlog_query_done(&q);
}

static void member(struct fixture *f, int64_t account, const char *id, const char *dev, bool add,
		   int want)
{
	int rc = dlog_store_group_member(f->s, account, id, dev, add);

	if (rc != want)
		fail_msg("member %s %s: %d, want %d (%s)", id, dev, rc, want,
			 dlog_store_errmsg(f->s));
}

static void test_group_crud(void **state)
{
	struct fixture *f = *state;
	struct dlog_group upd = {0};
	struct gpage p;
	char ids[256];
	bool more;
	int64_t total;

	load_dir_model(f);
	assert_int_equal(group_new(f, f->acc1, G1, "north", "North site", "{\"a\":1}"), 0);
	assert_int_equal(group_new(f, f->acc1, G2, "south", NULL, NULL), 0);
	assert_int_equal(group_new(f, f->acc1, G3, "east", "", "{}"), 0);
	assert_int_equal(group_new(f, f->acc1, GX, "north", "again", NULL), DLOG_ECONFLICT);
	/* names are per account */
	assert_int_equal(group_new(f, f->acc2, G4, "north", NULL, NULL), 0);
	p = group_read(f, f->acc1, G1);
	assert_string_equal(p.g[0].name, "north");
	assert_string_equal(p.g[0].descr, "North site");
	assert_string_equal(p.g[0].attrs, "{\"a\":1}");
	assert_int_equal(p.g[0].devices, 0);
	p = group_read(f, f->acc1, G2);
	assert_string_equal(p.g[0].descr, "");
	assert_string_equal(p.g[0].attrs, "{}");
	/* update: NULL keeps, a taken name is a conflict, unknown or foreign ids are not found */
	upd.name = "north";
	assert_int_equal(dlog_store_group_update(f->s, f->acc1, G2, &upd), DLOG_ECONFLICT);
	upd.name = NULL;
	upd.description = "South site";
	assert_int_equal(dlog_store_group_update(f->s, f->acc1, G2, &upd), 0);
	p = group_read(f, f->acc1, G2);
	assert_string_equal(p.g[0].name, "south");
	assert_string_equal(p.g[0].descr, "South site");
	assert_string_equal(p.g[0].attrs, "{}");
	assert_true(p.g[0].updated >= p.g[0].created);
	upd.name = "west";
	upd.custom_attributes = "{\"b\":2}";
	assert_int_equal(dlog_store_group_update(f->s, f->acc1, G2, &upd), 0);
	p = group_read(f, f->acc1, G2);
	assert_string_equal(p.g[0].name, "west");
	assert_string_equal(p.g[0].attrs, "{\"b\":2}");
	assert_int_equal(dlog_store_group_update(f->s, f->acc1, GX, &upd), DLOG_ENOTFOUND);
	assert_int_equal(dlog_store_group_update(f->s, f->acc2, G1, &upd), DLOG_ENOTFOUND);
	assert_int_equal(dlog_store_group_get(f->s, f->acc2, G1, group_cb, &p), DLOG_ENOTFOUND);
	/* the list: creation order, paged by group id */
	group_page(f, f->acc1, "limit=2&include=total_count", ids, &more, &total);
	assert_string_equal(ids, G1 "," G2);
	assert_true(more);
	assert_int_equal(total, 3);
	group_page(f, f->acc1, "limit=2&after=" G2, ids, &more, &total);
	assert_string_equal(ids, G3);
	assert_false(more);
	group_page(f, f->acc1, "limit=2&order=DESC", ids, &more, &total);
	assert_string_equal(ids, G3 "," G2);
	assert_true(more);
	group_page(f, f->acc1, "limit=2&order=DESC&after=" G2, ids, &more, &total);
	assert_string_equal(ids, G1);
	assert_false(more);
	group_page(f, f->acc2, "include=total_count", ids, &more, &total);
	assert_string_equal(ids, G4);
	assert_int_equal(total, 1);
	/* delete: gone, once; a foreign account cannot */
	assert_int_equal(dlog_store_group_delete(f->s, f->acc2, G3), DLOG_ENOTFOUND);
	assert_int_equal(dlog_store_group_delete(f->s, f->acc1, G3), 0);
	assert_int_equal(dlog_store_group_delete(f->s, f->acc1, G3), DLOG_ENOTFOUND);
	assert_non_null(strstr(dlog_store_errmsg(f->s), "no device group"));
	assert_int_equal(dlog_store_group_get(f->s, f->acc1, G3, group_cb, &p), DLOG_ENOTFOUND);
	group_page(f, f->acc1, "include=total_count", ids, &more, &total);
	assert_string_equal(ids, G1 "," G2);
	assert_int_equal(total, 2);
	/* its name is free again */
	assert_int_equal(group_new(f, f->acc1, G3, "east", NULL, NULL), 0);
}

static void test_group_members(void **state)
{
	struct fixture *f = *state;
	struct mgroup *g1 = &mgroups[0], *g2 = &mgroups[1], *g4 = &mgroups[2];
	struct dpage dp = {0};
	struct dlog_query q;
	bool more;
	char qs[128];

	load_dir_model(f);
	assert_int_equal(group_new(f, f->acc1, G1, "north", NULL, NULL), 0);
	assert_int_equal(group_new(f, f->acc1, G2, "south", NULL, NULL), 0);
	assert_int_equal(group_new(f, f->acc2, G4, "north", NULL, NULL), 0);
	*g1 = (struct mgroup){.id = G1, .account = f->acc1, .devs = {"dev-a", "NULL"}, .ndevs = 2};
	*g2 = (struct mgroup){.id = G2, .account = f->acc1, .devs = {"dev-b"}, .ndevs = 1};
	*g4 = (struct mgroup){.id = G4, .account = f->acc2, .devs = {"dev-a"}, .ndevs = 1};
	nmgroups = 3;
	member(f, f->acc1, G1, "dev-a", true, 0);
	member(f, f->acc1, G1, "dev-a", true, 0); /* idempotent */
	member(f, f->acc1, G1, "NULL", true, 0);
	member(f, f->acc1, G1, devs[2], true, 0);
	member(f, f->acc1, G1, devs[2], false, 0);
	member(f, f->acc1, G1, devs[2], false, 0); /* idempotent */
	member(f, f->acc1, G2, "dev-b", true, 0);
	member(f, f->acc2, G4, "dev-a", true, 0);
	assert_int_equal(group_read(f, f->acc1, G1).g[0].devices, 2);
	assert_int_equal(group_read(f, f->acc2, G4).g[0].devices, 1);
	/* unknown or foreign group or device: not found, named in the message */
	member(f, f->acc1, G1, "nope", true, DLOG_ENOTFOUND);
	assert_non_null(strstr(dlog_store_errmsg(f->s), "no device 'nope'"));
	member(f, f->acc1, GX, "dev-a", true, DLOG_ENOTFOUND);
	assert_non_null(strstr(dlog_store_errmsg(f->s), "no device group '" GX "'"));
	member(f, f->acc2, G1, "dev-a", true, DLOG_ENOTFOUND);
	member(f, f->acc2, G1, "dev-a", false, DLOG_ENOTFOUND);
	member(f, f->acc2, G4, "dev-only-1", true, DLOG_ENOTFOUND);
	/* the devices of a group, with filters and paging */
	check_dev_walk(f, f->acc1, G1, "", 2, "ASC");
	check_dev_walk(f, f->acc1, G1, "", 1000, "DESC");
	check_dev_walk(f, f->acc1, G1, "id__neq=dev-a", 2, "ASC");
	check_dev_walk(f, f->acc1, G2, "", 2, "ASC");
	check_dev_walk(f, f->acc2, G4, "", 2, "ASC");
	parse_ok("include=total_count", DLOG_DIALECT_DEVICES, &q);
	assert_int_equal(dlog_store_device_query(f->s, f->acc2, G1, &q, dev_cb, &dp, &more, NULL),
			 DLOG_ENOTFOUND);
	assert_int_equal(dlog_store_device_query(f->s, f->acc1, GX, &q, dev_cb, &dp, &more, NULL),
			 DLOG_ENOTFOUND);
	assert_non_null(strstr(dlog_store_errmsg(f->s), "no device group"));
	dlog_query_done(&q);
	/* the events of a group's devices */
	check_all_ways(f, "device_group_id=" G1, DLOG_DIALECT_EVENTS);
	check_all_ways(f, "device_group_id__in=" G1 "," G2, DLOG_DIALECT_EVENTS);
	check_all_ways(f, "device_group_id=" G4, DLOG_DIALECT_EVENTS);
	check_all_ways(f, "device_group_id=" GX "&event_type__neq=SYS_106", DLOG_DIALECT_EVENTS);
	check_walk(f, f->acc2, "device_group_id=" G4, DLOG_DIALECT_EVENTS, 2, "DESC");
	snprintf(qs, sizeof(qs), "device_group_id=%s&device_id=dev-a", G1);
	check_all_ways(f, qs, DLOG_DIALECT_EVENTS);
	/* a deleted group takes its memberships along */
	assert_int_equal(dlog_store_group_delete(f->s, f->acc1, G1), 0);
	g1->ndevs = 0;
	check_all_ways(f, "device_group_id__in=" G1 "," G2, DLOG_DIALECT_EVENTS);
	member(f, f->acc1, G1, "dev-a", true, DLOG_ENOTFOUND);
}

/* ---- tests: campaign statistics ---- */

struct cstat {
	char code[32];
	enum dlog_mtype mtype;
	int64_t events, devices;
	dlog_time first;
};

struct cpage {
	size_t n;
	struct cstat c[16];
};

static int camp_cb(void *arg, const struct dlog_campaign_code *k)
{
	struct cpage *p = arg;
	struct cstat *c;

	assert_true(p->n < 16);
	c = &p->c[p->n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->code, sizeof(c->code), "%s", k->event_type);
	c->mtype = k->mtype;
	c->events = k->events;
	c->devices = k->devices;
	c->first = k->first_at;
	return 0;
}

static struct cstat *cstat_of(struct cpage *p, const char *code)
{
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->c[i].code, code) == 0)
			return &p->c[i];
	}
	assert_true(p->n < 16);
	memset(&p->c[p->n], 0, sizeof(p->c[0]));
	snprintf(p->c[p->n].code, sizeof(p->c[0].code), "%s", code);
	return &p->c[p->n++];
}

static int cstat_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cstat *)a)->code, ((const struct cstat *)b)->code);
}

/* Per code of campaign camp in account: events, devices counted under the code of their latest
 * event there, earliest date_time, the mtype of the code's first event. */
static void model_campaign(int64_t account, const char *camp, struct cpage *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < nmodel; i++) {
		const struct mev *m = &model[i];
		const struct mev *last = NULL;
		struct cstat *c;
		bool seen = false;

		if (m->account != account || m->camp == NULL || strcmp(m->camp, camp) != 0)
			continue;
		c = cstat_of(out, m->code);
		if (c->events == 0 || m->ts < c->first)
			c->first = m->ts;
		if (c->events++ == 0)
			c->mtype = m->mtype;
		/* the device's first event in the campaign counts it, under its latest's code */
		for (size_t k = 0; k < nmodel; k++) {
			const struct mev *o = &model[k];

			if (o->account != account || o->camp == NULL ||
			    strcmp(o->camp, camp) != 0 || strcmp(o->dev, m->dev) != 0)
				continue;
			seen = seen || k < i;
			if (mev_after(o, last))
				last = o;
		}
		if (!seen)
			cstat_of(out, last->code)->devices++;
	}
	qsort(out->c, out->n, sizeof(out->c[0]), cstat_cmp);
}

static void check_campaign(struct fixture *f, int64_t account, const char *camp)
{
	struct cpage want, got = {0};
	int rc = dlog_store_campaign_stats(f->s, account, camp, camp_cb, &got);

	model_campaign(account, camp, &want);
	if (want.n == 0) {
		assert_int_equal(rc, DLOG_ENOTFOUND);
		return;
	}
	assert_int_equal(rc, 0);
	if (got.n != want.n)
		fail_msg("campaign %s: %zu codes, want %zu", camp, got.n, want.n);
	for (size_t i = 0; i < want.n; i++) {
		const struct cstat *g = &got.c[i], *w = &want.c[i];

		if (strcmp(g->code, w->code) != 0 || g->mtype != w->mtype ||
		    g->events != w->events || g->devices != w->devices || g->first != w->first)
			fail_msg("campaign %s row %zu: %s mtype %d events %lld devices %lld"
				 " first %lld; want %s %d %lld %lld %lld",
				 camp, i, g->code, (int)g->mtype, (long long)g->events,
				 (long long)g->devices, (long long)g->first, w->code, (int)w->mtype,
				 (long long)w->events, (long long)w->devices, (long long)w->first);
	}
}

static void check_campaigns(struct fixture *f)
{
	static const char *const all[] = {"camp-1", "camp-2", "camp-3", "camp-none"};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		check_campaign(f, f->acc1, all[i]);
		check_campaign(f, f->acc2, all[i]);
	}
}

/* Both accounts' device directories and every campaign's statistics are the model's. */
static void check_counters(struct fixture *f)
{
	check_directory(f, f->acc1);
	check_directory(f, f->acc2);
	check_campaigns(f);
}

static struct mev camp_event(int64_t account, const char *dev, const char *code,
			     enum dlog_mtype mtype, dlog_time ts, const char *idem)
{
	struct mev m = {.account = account, .ts = ts, .dev = dev, .code = code, .mtype = mtype,
			.cat = "SUCCESS", .descr = "", .camp = "camp-3", .idem = idem};
	return m;
}

static void test_campaign_stats(void **state)
{
	struct fixture *f = *state;
	struct mev b[4];
	struct dlog_event ev[4];
	struct dlog_append_result r[4];
	size_t at = 99, base;

	load_dir_model(f);
	check_campaigns(f);
	/* keyed events in a new campaign: a device moves codes, out of date_time order */
	base = nmodel;
	b[0] = camp_event(f->acc1, "dev-a", "UPD2_OK_18", DLOG_MTYPE_SUCCESS, T0 + 5 * HOUR, "c-1");
	b[1] = camp_event(f->acc1, "dev-a", "UPD4_FAIL_7", DLOG_MTYPE_FAIL, T0 + 2 * HOUR, "c-2");
	b[2] = camp_event(f->acc1, "dev-b", "UPD4_FAIL_7", DLOG_MTYPE_FAIL, T0 + 2 * HOUR, "c-3");
	b[3] = camp_event(f->acc1, "dev-b", "UPD2_OK_18", DLOG_MTYPE_SUCCESS, T0 + 2 * HOUR, NULL);
	for (size_t i = 0; i < 4; i++) {
		model[nmodel++] = b[i];
		ev[i] = ev_of(&b[i], 0);
	}
	assert_int_equal(dlog_store_append(f->s, f->acc1, ev, 4, r, NULL), 0);
	for (size_t i = 0; i < 4; i++)
		model[base + i].id = r[i].id;
	check_campaigns(f);
	check_directory(f, f->acc1);
	/* the keyed ones again, twice in one batch: nothing changes */
	ev[3] = ev[0];
	assert_int_equal(dlog_store_append(f->s, f->acc1, ev, 4, r, NULL), 0);
	for (size_t i = 0; i < 4; i++)
		assert_true(r[i].duplicate);
	check_campaigns(f);
	check_directory(f, f->acc1);
	/* a re-send with a new event: only the new one counts */
	b[3] = camp_event(f->acc1, "dev-b", "UPD4_FAIL_7", DLOG_MTYPE_FAIL, T0 + 9 * HOUR, "c-4");
	ev[0] = ev_of(&b[3], 0);
	ev[1] = ev_of(&b[1], 0);
	assert_int_equal(dlog_store_append(f->s, f->acc1, ev, 2, r, NULL), 0);
	assert_false(r[0].duplicate);
	assert_true(r[1].duplicate);
	b[3].id = r[0].id;
	model[nmodel++] = b[3];
	check_campaigns(f);
	check_directory(f, f->acc1);
	/* a conflicting batch changes nothing, not even through its first event */
	b[0].dev = "dev-new";
	b[0].idem = NULL;
	ev[0] = ev_of(&b[0], 0);
	ev[1] = ev_of(&b[2], 1);
	assert_int_equal(dlog_store_append(f->s, f->acc1, ev, 2, r, &at), DLOG_ECONFLICT);
	assert_int_equal(at, 1);
	check_campaigns(f);
	check_directory(f, f->acc1);
	/* account 2 has none of camp-3, then its own */
	b[0] = camp_event(f->acc2, "dev-b", "UPD2_OK_18", DLOG_MTYPE_SUCCESS, T0, "c-1");
	model[nmodel++] = b[0];
	append_model(f, nmodel - 1, nmodel, 1);
	check_campaigns(f);
	check_directory(f, f->acc2);
}

/* ---- tests: the schema migration folds existing events in ---- */

static void downgrade_to_v1(struct fixture *f)
{
	static const char *const cols[] = {"state",	"state_ts",   "first_ts", "last_ts",
					   "last_seq",	"last_code",  "last_mtype", "last_camp",
					   "last_camp_ts", "n0", "n1", "n2", "n3"};
	char sql[2048] = "DROP TABLE group_members; DROP TABLE device_groups;"
			 " DROP TABLE camp_codes; DROP TABLE camp_devices;";

	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		size_t n = strlen(sql);

		snprintf(sql + n, sizeof(sql) - n, " ALTER TABLE devices DROP COLUMN %s;", cols[i]);
	}
	if (is_pg) {
		size_t n = strlen(sql);

		/* schema 1 compared device ids in the database's collation */
		snprintf(sql + n, sizeof(sql) - n,
			 " ALTER TABLE devices ALTER COLUMN device_id TYPE text COLLATE \"default\";"
			 " UPDATE meta SET value = '1' WHERE key = 'schema_version'");
		pg_admin(f->url, sql);
	} else {
		sqlite3 *db;
		char path[300];
		size_t n = strlen(sql);

		/* schema 4 (SQLite only) counts events per account */
		snprintf(sql + n, sizeof(sql) - n,
			 " ALTER TABLE accounts DROP COLUMN n_events; DROP TABLE zones;"
			 " DROP INDEX events_camp; DROP TABLE code_attrs;" UNDO_BLOCKS
			 " PRAGMA user_version=1;");
		snprintf(path, sizeof(path), "%s/store.db", f->dir);
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
			fail_msg("downgrade: %s", sqlite3_errmsg(db));
		sqlite3_close(db);
	}
}

static void test_migration_backfill(void **state)
{
	struct fixture *f = *state;

	load_dir_model(f);
	dlog_store_close(f->s);
	f->s = NULL;
	downgrade_to_v1(f);
	open_store(f);
	check_counters(f);
	/* SQLite: the event types' combinations are folded in (a rare category is found) */
	check_all_ways(f, "event_type_category=FAIL_STORAGE", DLOG_DIALECT_EVENTS);
	check_all_ways(f, "description=Lifecycle&event_type_category=INFO_REGISTRATION",
		       DLOG_DIALECT_EVENTS);
	/* appends go on from the folded-in rows */
	model[nmodel] = model[1];
	model[nmodel].ts = T0 + 99 * HOUR;
	nmodel++;
	append_model(f, nmodel - 1, nmodel, 1);
	check_directory(f, model[1].account);
	check_campaigns(f);
}

/* ---- tests: group commit ---- */

#define SUBMITS 6

struct submit_state {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
};

struct submit {
	struct dlog_append_req req;
	struct dlog_store *s;
	struct mev m[2];
	struct dlog_event ev[2];
	struct dlog_append_result res[2];
	int calls, submit_rc;
	struct submit_state *st;
};

static void submit_done(struct dlog_append_req *req)
{
	struct submit *sb = req->arg;

	pthread_mutex_lock(&sb->st->lock);
	sb->calls++;
	sb->st->done++;
	pthread_cond_signal(&sb->st->cond);
	pthread_mutex_unlock(&sb->st->lock);
}

static void *submitter(void *arg)
{
	struct submit *sb = arg;

	sb->submit_rc = dlog_store_submit(sb->s, &sb->req);
	return NULL;
}

static int mev_id_cmp(const void *a, const void *b)
{
	return dlog_id_cmp(&((const struct mev *)a)->id, &((const struct mev *)b)->id);
}

static void test_submit(void **state)
{
	struct fixture *f = *state;
	struct submit_state st = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	struct submit sb[SUBMITS];
	pthread_t th[SUBMITS];
	struct mev k = keyed(f, "dev-k", "sk-1");
	struct dlog_append_result first;
	struct dpage dp = {0};
	struct timespec until;

	nmodel = 0;
	nmgroups = 0;
	model[nmodel++] = k;
	append_model(f, 0, 1, 1);
	first.id = model[0].id;
	memset(sb, 0, sizeof(sb));
	for (int i = 0; i < SUBMITS; i++) {
		sb[i].s = f->s;
		sb[i].st = &st;
		for (int j = 0; j < 2; j++) {
			sb[i].m[j] = keyed(f, all_devs[(i + j) % 5], NULL);
			sb[i].m[j].account = i % 2 ? f->acc2 : f->acc1;
			sb[i].m[j].ts = T0 + (i * 2 + j) * HOUR;
			sb[i].m[j].camp = "camp-1";
			sb[i].ev[j] = ev_of(&sb[i].m[j], 0);
		}
		sb[i].req = (struct dlog_append_req){.account_id = sb[i].m[0].account,
						     .ev = sb[i].ev,
						     .n = 2,
						     .results = sb[i].res,
						     .done = submit_done,
						     .arg = &sb[i]};
	}
	/* request 2 reuses sk-1 with other content after a new event of a new device; request 4
	 * re-sends sk-1 as it was (both of account 1, as sk-1) */
	sb[2].m[0].dev = "dev-new";
	sb[2].ev[0] = ev_of(&sb[2].m[0], 0);
	sb[2].ev[1] = ev_of(&k, 2);
	sb[4].m[0] = k;
	sb[4].ev[0] = ev_of(&k, 0);
	for (int i = 0; i < SUBMITS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, submitter, &sb[i]), 0);
	for (int i = 0; i < SUBMITS; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 60;
	pthread_mutex_lock(&st.lock);
	while (st.done < SUBMITS)
		assert_int_equal(pthread_cond_timedwait(&st.cond, &st.lock, &until), 0);
	pthread_mutex_unlock(&st.lock);
	/* closing drains the committer: no late second done() */
	dlog_store_close(f->s);
	open_store(f);
	for (int i = 0; i < SUBMITS; i++) {
		assert_int_equal(sb[i].submit_rc, 0);
		assert_int_equal(sb[i].calls, 1);
		if (i == 2) {
			assert_int_equal(sb[i].req.rc, DLOG_ECONFLICT);
			assert_int_equal(sb[i].req.conflict_index, 1);
			continue;
		}
		assert_int_equal(sb[i].req.rc, 0);
		for (int j = 0; j < 2; j++) {
			if (i == 4 && j == 0) {
				assert_true(sb[i].res[0].duplicate);
				assert_int_equal(dlog_id_cmp(&sb[i].res[0].id, &first.id), 0);
				continue;
			}
			assert_false(sb[i].res[j].duplicate);
			sb[i].m[j].id = sb[i].res[j].id;
			model[nmodel++] = sb[i].m[j];
		}
	}
	/* the requests committed in whatever order they were queued: the model goes by id */
	qsort(model, nmodel, sizeof(model[0]), mev_id_cmp);
	/* what committed is exactly the model: events, directory, campaign counters */
	check_walk(f, f->acc1, "", DLOG_DIALECT_EVENTS, 1000, "ASC");
	check_walk(f, f->acc2, "", DLOG_DIALECT_EVENTS, 3, "DESC");
	check_counters(f);
	/* the failed request's new device never came to be */
	assert_int_equal(dlog_store_device_get(f->s, f->acc1, "dev-new", dev_cb, &dp),
			 DLOG_ENOTFOUND);
}

/* ---- tests: devicelog copy and retention (store ops of issue 7) ---- */

struct dumped {
	int n;
	struct dlog_key_info k[8];
	uint8_t h[8][32];
};

static int dump_cb(void *arg, const struct dlog_key_info *k, const uint8_t hash[32])
{
	struct dumped *d = arg;

	if (d->n < 8) {
		d->k[d->n] = *k;
		memcpy(d->h[d->n++], hash, 32);
	}
	return 0;
}

static void test_key_dump_import(void **state)
{
	struct fixture *f = *state, g = {0};
	struct dlog_key_info a = key_info("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", f->acc1,
					  DLOG_SCOPE_WRITE, "ingest", T0);
	struct dlog_key_info b = key_info("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", f->acc1,
					  DLOG_SCOPE_READ, "gone", T0 + 1);
	struct dlog_key_info c = key_info("cccccccccccccccccccccccccccccccc", f->acc2,
					  DLOG_SCOPE_ADMIN, "", T0 + 2);
	struct dumped d = {0}, again = {0};
	struct dlog_key_info out;
	uint8_t hash[32];
	int64_t acc;

	assert_int_equal(dlog_store_key_add(f->s, &a, hash_of(1)), 0);
	assert_int_equal(dlog_store_key_add(f->s, &b, hash_of(2)), 0);
	assert_int_equal(dlog_store_key_add(f->s, &c, hash_of(3)), 0);
	assert_int_equal(dlog_store_key_revoke(f->s, 0, b.key_id), 0);
	assert_int_equal(dlog_store_key_dump(f->s, f->acc1, dump_cb, &d), 0);
	assert_int_equal(d.n, 2);
	assert_string_equal(d.k[0].key_id, a.key_id);
	assert_memory_equal(d.h[0], hash_of(1), 32);
	assert_memory_equal(d.h[1], hash_of(2), 32);
	assert_true(d.k[1].revoked_at != 0);
	/* into another store, under that store's id of the account */
	fresh_url(&g);
	open_store(&g);
	assert_int_equal(dlog_store_account(g.s, "other-first", true, &acc), 0);
	assert_int_equal(dlog_store_account(g.s, "acme", true, &acc), 0);
	for (int i = 0; i < 2; i++) {
		for (int k = 0; k < d.n; k++) {
			struct dlog_key_info t = d.k[k];

			t.account_id = acc;
			/* a second run finds them there: no error, no second row */
			assert_int_equal(dlog_store_key_import(g.s, &t, d.h[k]), 0);
		}
	}
	assert_int_equal(dlog_store_key_dump(g.s, 0, dump_cb, &again), 0);
	assert_int_equal(again.n, 2);
	assert_int_equal(dlog_store_key_lookup(g.s, b.key_id, &out, hash), 0);
	assert_memory_equal(hash, hash_of(2), 32);
	assert_int_equal(out.account_id, acc);
	assert_string_equal(out.account, "acme");
	assert_int_equal(out.revoked_at, d.k[1].revoked_at);
	assert_int_equal(out.created_at, T0 + 1);
	assert_string_equal(out.name, "gone");
	dlog_store_close(g.s);
	drop_fresh(&g);
}

static void test_idem_hashes(void **state)
{
	struct fixture *f = *state;
	struct mev m[2] = {keyed(f, "dev-a", "k-1"), keyed(f, "dev-b", "k-2")};
	struct dlog_event ev[2] = {ev_of(&m[0], 4), ev_of(&m[1], 5)};
	struct dlog_append_result r[2];
	const char *keys[4] = {"k-2", NULL, "missing", "k-1"};
	uint8_t h[4][32];
	bool found[4];

	assert_int_equal(dlog_store_append(f->s, f->acc1, ev, 2, r, NULL), 0);
	assert_int_equal(dlog_store_idem_hashes(f->s, f->acc1, keys, 4, h, found), 0);
	assert_true(found[0] && !found[1] && !found[2] && found[3]);
	assert_memory_equal(h[0], hash_of(5), 32);
	assert_memory_equal(h[3], hash_of(4), 32);
	/* another account's keys are not this one's */
	assert_int_equal(dlog_store_idem_hashes(f->s, f->acc2, keys, 4, h, found), 0);
	assert_false(found[0] || found[3]);
}

static int device_copy_cb(void *arg, const struct dlog_device *d)
{
	memcpy(arg, d->counts, sizeof(d->counts));
	return 0;
}

/* Expire in steps of max_rows until nothing is left before cutoff; the total removed. */
static int64_t expire_all(struct dlog_store *s, dlog_time cutoff, int max_rows)
{
	int64_t total = 0, n;
	bool more = true;

	for (int steps = 0; more; steps++) {
		assert_true(steps < 1000);
		assert_int_equal(dlog_store_expire(s, cutoff, max_rows, &n, &more), 0);
		total += n;
	}
	return total;
}

/* ---- tests: a commit larger than the WAL write buffer ---- */

/* A JSON object of about 1 KiB for data_extra (malloc'd). */
static char *blob_extra(void)
{
	char *extra = malloc(1024);

	assert_non_null(extra);
	memset(extra, 'x', 1023);
	memcpy(extra, "{\"blob\":\"", 9);
	memcpy(extra + 1021, "\"}", 3);
	return extra;
}

/* n events over the five devices and four codes, one microsecond apart from t0. */
static void fill_events(struct dlog_event *ev, size_t n, dlog_time t0, const char *extra)
{
	memset(ev, 0, n * sizeof(*ev));
	for (size_t i = 0; i < n; i++) {
		ev[i].date_time = t0 + (dlog_time)i;
		ev[i].device_id = devs[i % 5];
		ev[i].event_type = codes[i % 4];
		ev[i].mtype = mtypes[i % 4];
		ev[i].category = cats[i % 4];
		ev[i].description = descrs[i % 4];
		ev[i].data_extra = extra;
	}
}

struct big_check {
	size_t n;
	const char *extra;
	bool same;
};

static int big_cb(void *arg, const struct dlog_event *e)
{
	struct big_check *b = arg;

	b->n++;
	b->same = b->same && e->data_extra != NULL && strcmp(e->data_extra, b->extra) == 0;
	return 0;
}

/* One request whose rows take more WAL than DLOG_SQLITE_WALBUF gathers (SQLite: the WAL's
 * writes are gathered in memory and written in pieces): every event is there, intact, in
 * this store and after it is opened again. */
static void test_append_large_commit(void **state)
{
	struct fixture *f = *state;
	size_t n = DLOG_MAX_BATCH;
	struct dlog_event *ev = calloc(n, sizeof(*ev));
	struct dlog_append_result *res = calloc(n, sizeof(*res));
	char *extra = blob_extra();
	struct dlog_query q;

	assert_non_null(ev);
	assert_non_null(res);
	/* 10,000 x ~1 KiB: about 10 MiB of rows, more than twice the buffer */
	fill_events(ev, n, T0, extra);
	assert_int_equal(dlog_store_append(f->s, f->acc1, ev, n, res, NULL), 0);
	for (int pass = 0; pass < 2; pass++) {
		struct big_check b = {.extra = extra, .same = true};
		bool more = true;
		int64_t total = -1;

		if (pass == 1) {
			dlog_store_close(f->s);
			f->s = NULL;
			open_store(f);
		}
		parse_ok("limit=1000&include=total_count", DLOG_DIALECT_EVENTS, &q);
		while (more) {
			size_t before = b.n;

			assert_int_equal(dlog_store_query(f->s, f->acc1, &q, big_cb, &b, &more, &total),
					 0);
			assert_int_equal(total, (int64_t)n);
			if (more) {
				assert_int_equal(b.n - before, 1000);
				q.has_after = true;
				q.after = res[b.n - 1].id;
			}
		}
		assert_int_equal(b.n, n);
		assert_true(b.same);
		dlog_query_done(&q);
	}
	free(extra);
	free(ev);
	free(res);
}

/* ---- tests: the WAL starts over under steady commits (SQLite) ---- */

/* The WAL header's checkpoint sequence, which SQLite steps each time the WAL starts over. */
static uint32_t wal_seq(const struct fixture *f)
{
	char path[300];
	unsigned char h[16] = {0};
	int fd;

	snprintf(path, sizeof(path), "%s/store.db-wal", f->dir);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
	close(fd);
	return (uint32_t)h[12] << 24 | (uint32_t)h[13] << 16 | (uint32_t)h[14] << 8 | h[15];
}

/* The WAL index (the -shm file, SQLite's documented "wal-index" header): frames in the WAL
 * and frames already copied into the database, in native byte order. */
static void wal_index(const struct fixture *f, uint32_t *frames, uint32_t *copied)
{
	char path[300];
	unsigned char h[100];
	int fd;

	snprintf(path, sizeof(path), "%s/store.db-shm", f->dir);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
	close(fd);
	memcpy(frames, h + 16, sizeof(*frames));
	memcpy(copied, h + 96, sizeof(*copied));
}

/* Commits follow each other with no pause in which the checkpointer could copy the whole WAL,
 * yet the WAL starts over from its beginning well before it reaches the size at which the
 * writer has to checkpoint in its commit (back-pressure): the checkpointer hands the writer
 * the last few frames to copy. A WAL that never restarted was measured to cost single-event
 * ingest half its rate. How far the WAL gets depends on the checkpointer keeping pace (about
 * 1.7 times the checkpoint size, measured at 64 MiB), so a disk stalled by other work may let
 * a round (restart to restart) reach the back-pressure size, and a round that begins with every frame copied (after the
 * writer's back-pressure checkpoint, or an idle pause) starts over at its first commit: up to
 * six rounds are watched, and one must fill the WAL past the checkpoint size and start over
 * below the back-pressure size (the old checkpointer never did: it started over only at the
 * back-pressure size, 273 MB with the sizes of the time). */
static void test_wal_restarts(void **state)
{
	struct fixture *f = *state;
	size_t n = 2000;
	struct dlog_event *ev = calloc(n, sizeof(*ev));
	struct dlog_append_result *res = calloc(n, sizeof(*res));
	char *extra = blob_extra();
	const off_t back_pressure = (off_t)DLOG_SQLITE_WAL_MAX_FRAMES * 4096;
	uint32_t seq0, seq = 0, frames = 0, copied = 0;
	off_t most = 0;
	int commits = 0;
	bool restarted = false;

	if (is_pg)
		skip();
	assert_non_null(ev);
	assert_non_null(res);
	fill_events(ev, 1, T0, extra);
	assert_int_equal(dlog_store_append(f->s, f->acc1, ev, 1, res, NULL), 0);
	for (int round = 0; round < 6 && !restarted; round++) {
		seq0 = wal_seq(f);
		most = 0;
		/* ~2.3 MiB of WAL per commit; bounded at twice the back-pressure size */
		for (seq = seq0; seq == seq0 && most < 2 * back_pressure; commits++) {
			fill_events(ev, n, T0 + 1 + (dlog_time)(commits * n), extra);
			assert_int_equal(dlog_store_append(f->s, f->acc1, ev, n, res, NULL), 0);
			seq = wal_seq(f);
			wal_index(f, &frames, &copied);
			/* what the WAL holds, not its file's size: the file keeps its size */
			if (32 + (off_t)frames * (24 + 4096) > most)
				most = 32 + (off_t)frames * (24 + 4096);
		}
		assert_int_not_equal(seq, seq0);
		restarted = most > (off_t)DLOG_SQLITE_CKPT_FRAMES * 4096 && most < back_pressure;
	}
	assert_true(restarted);
	free(extra);
	free(ev);
	free(res);
}

/* A few commits, far below the checkpoint size, then nothing: the checkpointer copies them
 * once the writer is idle, so readers need not look in the WAL. */
static void test_wal_copied_when_idle(void **state)
{
	struct fixture *f = *state;
	struct dlog_append_result r[5];
	uint32_t frames = 0, copied = 0;

	if (is_pg)
		skip();
	for (int b = 0; b < 3; b++) {
		struct dlog_event ev[5];

		fill_events(ev, 5, T0 + b * 5, NULL);
		assert_int_equal(dlog_store_append(f->s, f->acc1, ev, 5, r, NULL), 0);
	}
	wal_index(f, &frames, &copied);
	assert_true(frames > 0);
	assert_true(copied < frames);
	/* up to 25 times the idle delay */
	for (int i = 0; i < 50 && copied != frames; i++) {
		usleep(DLOG_SQLITE_CKPT_IDLE_MS * 1000 / 2);
		wal_index(f, &frames, &copied);
	}
	assert_true(frames > 0);
	assert_int_equal(copied, frames);
}

/* ---- what opening and backing up read of the database file (SQLite) ---- */

/* Pages of the fixture's file name that the kernel holds in its page cache; with drop, after
 * writing them back and asking it to drop them. *total: the file's pages. */
static long cached_pages(const struct fixture *f, const char *name, bool drop, long *total)
{
	long page = sysconf(_SC_PAGESIZE), n = 0;
	unsigned char *vec;
	char path[300];
	struct stat st;
	void *map;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(st.st_size > 0);
	if (drop) {
		assert_int_equal(fdatasync(fd), 0);
		assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	}
	*total = (long)((st.st_size + page - 1) / page);
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	vec = calloc((size_t)*total, 1);
	assert_non_null(vec);
	assert_int_equal(mincore(map, (size_t)st.st_size, vec), 0);
	for (long i = 0; i < *total; i++)
		n += vec[i] & 1;
	free(vec);
	munmap(map, (size_t)st.st_size);
	close(fd);
	return n;
}

/* Wait until the merger has moved all but fewer than n of the events into device blocks. */
/* The store's file, opened read-only beside the store. */
static sqlite3 *store_file(struct fixture *f)
{
	char path[300];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/store.db", f->dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	return db;
}

/* Until fewer than n events are past the meta key's id (merged_seq, indexed_seq). */
static void wait_meta(struct fixture *f, const char *key, int64_t n)
{
	sqlite3 *db;
	int64_t left = -1;

	db = store_file(f);
	for (int i = 0; i < 400; i++) {
		sqlite3_stmt *st;

		assert_int_equal(sqlite3_prepare_v2(db, "SELECT coalesce((SELECT value FROM meta"
						    " WHERE key = 'last_seq'), 0) - coalesce((SELECT value"
						    " FROM meta WHERE key = ?1), 0)",
						    -1, &st, NULL),
				 SQLITE_OK);
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		left = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		if (left < n)
			break;
		usleep(25000);
	}
	sqlite3_close(db);
	if (left >= n)
		fail_msg("the merger left %lld events past %s", (long long)left, key);
}

static void wait_merged(struct fixture *f, int64_t n)
{
	wait_meta(f, "merged_seq", n);
}

/* Drop the file's cached pages; false when this file system keeps them (tmpfs). */
static bool drop_cached(const struct fixture *f, const char *name)
{
	long total, n = cached_pages(f, name, true, &total);

	return n <= total / 20;
}

/* n events for acc1 in requests of 5,000, then wait until the checkpointer has copied the WAL
 * (it does once the writer is idle), so that nothing writes the database file afterwards. */
static void append_quiet(struct fixture *f, size_t n, dlog_time t0)
{
	struct dlog_event *ev = calloc(5000, sizeof(*ev));
	struct dlog_append_result *res = calloc(5000, sizeof(*res));
	uint32_t frames = 0, copied = 0;

	assert_non_null(ev);
	assert_non_null(res);
	for (size_t done = 0; done < n; done += 5000) {
		size_t k = n - done < 5000 ? n - done : 5000;

		fill_events(ev, k, t0 + (dlog_time)done, NULL);
		assert_int_equal(dlog_store_append(f->s, f->acc1, ev, k, res, NULL), 0);
	}
	free(ev);
	free(res);
	for (int i = 0; i < 50; i++) {
		wal_index(f, &frames, &copied);
		if (copied == frames)
			break;
		usleep(DLOG_SQLITE_CKPT_IDLE_MS * 1000 / 2);
	}
	assert_int_equal(copied, frames);
}

/* Opening a store reads a few pages, whatever its size: it found the latest creation time
 * with max(created), a scan of the whole table at every start (434 MB at 10M events). */
static void test_open_reads_little(void **state)
{
	struct fixture *f = *state;
	long total;

	if (is_pg)
		skip();
	/* the tail past the last merge is read at open: a small one here */
	dlog_store_set_merge_events(2000);
	append_quiet(f, 100000, T0);
	wait_merged(f, 2000);
	dlog_store_set_merge_events(merge_default);
	dlog_store_close(f->s);
	f->s = NULL;
	if (!drop_cached(f, "store.db"))
		skip();
	open_store(f);
	assert_true(cached_pages(f, "store.db", false, &total) < total / 10);
	assert_int_equal(count_events(f->s, f->acc1), 100000);
}

/* One integer from sql. */
static int64_t sql_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The backup's VFS reads the database file a chunk at a time and keeps the chunk within a read
 * transaction only: a later transaction on the same connection sees what was checkpointed
 * into the file since (here with the WAL emptied, so the page comes from the file). */
static void test_direct_reads_new_transactions(void **state)
{
	struct fixture *f = *state;
	char path[300];
	sqlite3 *w = NULL, *r = NULL;

	if (is_pg)
		skip();
	snprintf(path, sizeof(path), "%s/foreign.db", f->dir);
	assert_int_equal(sqlite3_open(path, &w), SQLITE_OK);
	assert_int_equal(sqlite3_exec(w, "PRAGMA journal_mode=WAL; CREATE TABLE t(v);"
					 "INSERT INTO t VALUES(1); PRAGMA wal_checkpoint(TRUNCATE);",
				      NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_open_v2(path, &r, SQLITE_OPEN_READONLY, store__direct_vfs()),
			 SQLITE_OK);
	assert_int_equal(sql_int(r, "SELECT v FROM t"), 1);
	assert_int_equal(sqlite3_exec(w, "UPDATE t SET v = 2; PRAGMA wal_checkpoint(TRUNCATE);",
				      NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sql_int(w, "PRAGMA wal_checkpoint(TRUNCATE)"), 0); /* not busy: all copied */
	assert_int_equal(sql_int(r, "SELECT v FROM t"), 2);
	sqlite3_close(r);
	sqlite3_close(w);
}

/* A backup is a store holding every event committed before it; it reads the database file
 * around the page cache; it never overwrites a file; appends go on after it. PostgreSQL is
 * backed up with its own tools: no backup here. */
static void test_backup(void **state)
{
	struct fixture *f = *state;
	char dest[300], url[320], err[512] = "";
	struct dlog_store *copy = NULL;
	struct dlog_append_result r[5];
	struct dlog_event ev[5];
	int64_t bytes = -1, acc = 0;
	long total;
	bool dropped;

	if (is_pg) {
		snprintf(dest, sizeof(dest), "/tmp/dlog-backup-%ld.db", (long)getpid());
		assert_int_equal(dlog_store_backup(f->s, dest, &bytes), DLOG_EUNAVAIL);
		assert_int_equal(bytes, 0);
		assert_int_equal(access(dest, F_OK), -1);
		return;
	}
	append_quiet(f, 20000, T0);
	snprintf(dest, sizeof(dest), "%s/backup.db", f->dir);
	dropped = drop_cached(f, "store.db");
	assert_int_equal(dlog_store_backup(f->s, dest, &bytes), 0);
	if (dropped)
		assert_true(cached_pages(f, "store.db", false, &total) < total / 10);
	assert_true(bytes > 20000 * 10);
	fill_events(ev, 5, T0 + 20000, NULL);
	assert_int_equal(dlog_store_append(f->s, f->acc1, ev, 5, r, NULL), 0);
	assert_int_equal(dlog_store_backup(f->s, dest, &bytes), DLOG_ECONFLICT);
	snprintf(url, sizeof(url), "sqlite:%s", dest);
	if (dlog_store_open(url, &copy, err, sizeof(err)) != 0)
		fail_msg("open the copy: %s", err);
	assert_int_equal(dlog_store_account(copy, "acme", false, &acc), 0);
	assert_int_equal(count_events(copy, acc), 20000);
	assert_int_equal(count_events(f->s, f->acc1), 20005);
	dlog_store_close(copy);
}

static void test_expire(void **state)
{
	struct fixture *f = *state;
	struct mev m[3][5];
	struct dlog_append_result r[3][5];
	int64_t before[DLOG_MTYPE_COUNT], after[DLOG_MTYPE_COUNT];
	const char *keys[2] = {"old-0", "new-0"};
	bool found[2];
	uint8_t h[2][32];
	char key[3][5][16];

	/* three commits a few milliseconds apart: created grows from one to the next */
	for (int b = 0; b < 3; b++) {
		struct dlog_event ev[5];

		for (int i = 0; i < 5; i++) {
			snprintf(key[b][i], sizeof(key[b][i]), "%s-%d", b == 0 ? "old" : "new", b * 5 + i);
			m[b][i] = keyed(f, i % 2 ? "dev-a" : "dev-b", key[b][i]);
			m[b][i].account = b == 1 ? f->acc2 : f->acc1;
			ev[i] = ev_of(&m[b][i], 1);
		}
		assert_int_equal(dlog_store_append(f->s, m[b][0].account, ev, 5, r[b], NULL), 0);
		usleep(3000);
	}
	keys[1] = key[2][0];
	assert_int_equal(dlog_store_device_get(f->s, f->acc1, "dev-a", device_copy_cb, before), 0);
	/* nothing is older than the first commit */
	assert_int_equal(expire_all(f->s, r[0][0].id.created, 2), 0);
	assert_int_equal(count_events(f->s, f->acc1), 10);
	/* the first commit goes, in steps of 2; the others stay */
	assert_int_equal(expire_all(f->s, r[1][0].id.created, 2), 5);
	assert_int_equal(count_events(f->s, f->acc1), 5);
	assert_int_equal(count_events(f->s, f->acc2), 5);
	/* its idempotency keys went with it; the kept ones still answer */
	assert_int_equal(dlog_store_idem_hashes(f->s, f->acc1, keys, 2, h, found), 0);
	assert_false(found[0]);
	assert_true(found[1]);
	/* the directory keeps lifetime counts */
	assert_int_equal(dlog_store_device_get(f->s, f->acc1, "dev-a", device_copy_cb, after), 0);
	assert_memory_equal(before, after, sizeof(before));
	/* every account's events before the cutoff: all of them now */
	assert_int_equal(expire_all(f->s, r[2][4].id.created + 1, 10000), 10);
	assert_int_equal(count_events(f->s, f->acc1), 0);
	assert_int_equal(count_events(f->s, f->acc2), 0);
	/* a seq is never reused after every event went */
	{
		struct dlog_event ev = ev_of(&m[0][0], 1);
		struct dlog_append_result nr;

		assert_int_equal(dlog_store_append(f->s, f->acc1, &ev, 1, &nr, NULL), 0);
		assert_false(nr.duplicate);
		assert_true(nr.id.seq > r[2][4].id.seq);
	}
}

/* ---- tests: device blocks and the index tail (SQLite) ---- */

static void check_filters(struct fixture *f, const char *const *filters, size_t n)
{
	for (size_t i = 0; i < n; i++)
		check_all_ways(f, filters[i], DLOG_DIALECT_EVENTS);
}

/* The model's first 20 events again, an hour later, as two requests (a request's events are of
 * one account: the model's first ten are acme's, the next ten globex's). */
static void append_twenty_more(struct fixture *f)
{
	for (size_t i = 0; i < 20; i++) {
		model[nmodel + i] = model[i];
		model[nmodel + i].ts += HOUR;
	}
	assert_true(model[0].account == model[9].account && model[10].account == model[19].account);
	append_model(f, nmodel, nmodel + 10, 5);
	append_model(f, nmodel + 10, nmodel + 20, 5);
	nmodel += 20;
}

/* Retention: the commits before model[40]'s go, from the model too. */
static void expire_before_40(struct fixture *f)
{
	size_t gone;
	int64_t removed = expire_all(f->s, model[40].id.created, 7);

	for (gone = 0; gone < nmodel && model[gone].id.created < model[40].id.created; gone++)
		;
	assert_int_equal(removed, (int64_t)gone);
	memmove(model, model + gone, (nmodel - gone) * sizeof(model[0]));
	nmodel -= gone;
}


/* Filters naming devices read the blocks and the tail; every page, cursor and total must be
 * the same whether an event was merged or not, after retention and after a reopen. */
static void check_device_filters(struct fixture *f)
{
	static const char *const filters[] = {
		"device_id=dev-a",
		"device_id=d%C3%A9v",
		"device_id=NULL",
		"device_id=nosuch",
		"device_id__eq=dev%20%22q%22%20%7Bx%7D%20%5Cy",
		"device_id__in=dev-a,d%C3%A9v,nosuch",
		"device_id=dev-b&event_type__in=SYS_106,UPD4_FAIL_7",
		"device_id=dev-a&date_time__gte=2026-05-29T10:00:00Z",
		"state_change=false&device_id__in=dev-a,dev-b&event_type__neq=SYS_106",
		"device_id__in=dev-b,NULL&campaign_id=camp-1",
	};

	check_filters(f, filters, sizeof(filters) / sizeof(filters[0]));
}

/* Retention takes the first 40 events' commits; then (more) twenty more events; then a reopen
 * reads the tail back: check after each. */
static void expire_and_reopen(struct fixture *f, void (*check)(struct fixture *f), bool more)
{
	expire_before_40(f);
	check(f);
	if (more) {
		append_twenty_more(f);
		check(f);
	}
	dlog_store_set_merge_events(merge_default);
	dlog_store_close(f->s);
	f->s = NULL;
	open_store(f);
	check(f);
}

static void test_blocks_merge(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;

	if (is_pg)
		skip();
	dlog_store_set_merge_events(4);
	load_model(f);
	wait_merged(f, 4);
	db = store_file(f);
	/* all but the last few are in blocks, and events(dev) is gone */
	assert_true(sql_int(db, "SELECT sum(n) FROM dev_blocks") > (int64_t)nmodel - 4);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'events_dev'"), 0);
	sqlite3_close(db);
	check_device_filters(f);
	/* devices with more events than one statement takes: the page walks the account's ids
	 * and the total is counted in runs of ids (3 here) */
	store__sqlite_set_cand_max(3);
	check_device_filters(f);
	store__sqlite_set_cand_max(DLOG_SQLITE_CAND_MAX);
	/* retention (from the blocks too), more events merged with the rest, a reopen */
	expire_and_reopen(f, check_device_filters, true);
}

/* ---- tests: the index tail (SQLite) ---- */

/* Pages without devices read the indexed events through the partial indexes and the newer
 * ones by id from the tail's lists: every page, cursor and total must be the same wherever
 * indexed_seq lies, after retention and after a reopen. */
static void check_index_filters(struct fixture *f)
{
	static const char *const filters[] = {
		"",
		"event_type=UPD4_FAIL_24",
		"event_type__in=SYS_106,UPD4_FAIL_7,nosuch",
		"event_type__neq=SYS_106",
		"event_type=SYS_106&state_change=true",
		"campaign_id=camp-1",
		"campaign_id__in=camp-2,nosuch",
		"campaign_id__neq=camp-1",
		"event_type_category=FAIL_STORAGE",
		"description=Registered&event_type_category=INFO_REGISTRATION",
		"event_type_description=FAIL",
		"date_time__gte=2026-05-29T10:00:00Z",
		"state_change=false&date_time__lte=2026-05-29T10:00:00Z",
	};

	check_filters(f, filters, sizeof(filters) / sizeof(filters[0]));
}

static void test_index_tail(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;

	if (is_pg)
		skip();
	/* the model indexed but for its last few events ... */
	dlog_store_set_merge_events(4);
	load_model(f);
	wait_meta(f, "indexed_seq", 4);
	/* ... and 20 more that stay in the tail */
	dlog_store_set_merge_events(INT64_C(1) << 40);
	append_twenty_more(f);
	db = store_file(f);
	assert_true(sql_int(db, "SELECT count(*) FROM events WHERE m") >= (int64_t)nmodel - 24);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM events WHERE NOT m"),
			 sql_int(db, "SELECT count(*) FROM events WHERE seq > (SELECT value FROM meta"
				     " WHERE key = 'indexed_seq')"));
	assert_true(sql_int(db, "SELECT count(*) FROM events WHERE NOT m") >= 20);
	sqlite3_close(db);
	check_index_filters(f);
	/* the tail looked up by id, not read in place; then in runs of 3 ids */
	store__sqlite_set_tail_dense(0);
	check_index_filters(f);
	store__sqlite_set_cand_max(3);
	check_index_filters(f);
	store__sqlite_set_cand_max(DLOG_SQLITE_CAND_MAX);
	store__sqlite_set_tail_dense(4);
	/* retention; a reopen reads the tail back from indexed_seq on */
	expire_and_reopen(f, check_index_filters, false);
}

/* n events of account, their event types in turn from codes[] */
static void append_many(struct fixture *f, int64_t account, size_t n)
{
	struct dlog_event *ev = calloc(n, sizeof(*ev));
	struct dlog_append_result *res = calloc(n, sizeof(*res));

	assert_non_null(ev);
	assert_non_null(res);
	for (size_t i = 0; i < n; i++) {
		struct mev m = {.account = account, .dev = devs[i % 5], .code = codes[i % 4],
				.mtype = mtypes[i % 4], .cat = cats[i % 4], .descr = descrs[1],
				.ts = T0 + (int64_t)i * HOUR};

		ev[i] = ev_of(&m, 0);
	}
	assert_int_equal(dlog_store_append(f->s, account, ev, n, res, NULL), 0);
	free(ev);
	free(res);
}

static int64_t total_of(struct fixture *f, const char *filters)
{
	char qs[256];
	struct dlog_query q;
	bool more;
	int64_t total = -1;
	int rows = 0;

	snprintf(qs, sizeof(qs), "%s&include=total_count&limit=2", filters);
	parse_ok(qs, DLOG_DIALECT_EVENTS, &q);
	assert_int_equal(dlog_store_query(f->s, f->acc1, &q, count_cb, &rows, &more, &total), 0);
	dlog_query_done(&q);
	return total;
}

/* A bulk group goes into the indexes as it is appended; small groups go to the tail, and a
 * bulk group behind them indexes them first; pages and the directory see them all. */
static void test_inline_index(void **state)
{
	struct fixture *f = *state;
	const int64_t n = DLOG_SQLITE_INLINE_INDEX;
	sqlite3 *db;

	if (is_pg)
		skip();
	dlog_store_set_merge_events(INT64_C(1) << 40); /* no index step meanwhile */
	db = store_file(f);
	append_many(f, f->acc1, (size_t)n);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM events WHERE NOT m"), 0);
	assert_int_equal(sql_int(db, "SELECT value FROM meta WHERE key = 'indexed_seq'"),
			 sql_int(db, "SELECT value FROM meta WHERE key = 'last_seq'"));
	append_many(f, f->acc1, 3);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM events WHERE NOT m"), 3);
	assert_int_equal(sql_int(db, "SELECT sum(n0 + n1 + n2 + n3) FROM devices"), n);
	/* a bulk group behind them indexes them first, then itself as it appends */
	append_many(f, f->acc1, (size_t)n);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM events WHERE NOT m"), 0);
	assert_int_equal(sql_int(db, "SELECT value FROM meta WHERE key = 'indexed_seq'"),
			 sql_int(db, "SELECT value FROM meta WHERE key = 'last_seq'"));
	assert_int_equal(sql_int(db, "SELECT sum(n0 + n1 + n2 + n3) FROM devices"), 2 * n + 3);
	sqlite3_close(db);
	/* codes[1] is every fourth event's, and the second of the three */
	assert_int_equal(rows_and_total(f->s, f->acc1, "event_type=SYS_106"), n / 2 + 1);
	assert_int_equal(rows_and_total(f->s, f->acc1, "event_type=UPD4_FAIL_24"), n / 2 + 1);
	assert_int_equal(total_of(f, "event_type__neq=nosuch"), 2 * n + 3);
	assert_int_equal(total_of(f, "event_type_category=FAIL_STORAGE"), n / 2);
	dlog_store_set_merge_events(merge_default);
}

static void sql_exec(struct fixture *f, const char *sql)
{
	char path[300];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/store.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

#define DIR_EVENTS "SELECT sum(n0 + n1 + n2 + n3) FROM devices"
#define CAMP_EVENTS "SELECT coalesce(sum(events), 0) FROM camp_codes"

/* The devices of the model's account, listed by the store (a page of 16 at most), are the
 * model's. */
static void check_listed(struct fixture *f, int64_t account)
{
	struct dlog_query q;
	struct dpage p = {0};
	bool more = true;
	int64_t total = -1;
	size_t want = 0;

	for (size_t i = 0; i < NDEVS; i++) {
		struct mdev d;

		want += model_device(account, all_devs[i], &d);
	}
	parse_ok("include=total_count&limit=16", DLOG_DIALECT_DEVICES, &q);
	assert_int_equal(dlog_store_device_query(f->s, account, NULL, &q, dev_cb, &p, &more, &total),
			 0);
	dlog_query_done(&q);
	assert_false(more);
	assert_int_equal(total, (int64_t)want);
	assert_int_equal(p.n, want);
	for (size_t i = 0; i < p.n; i++) {
		struct mdev d;

		assert_true(model_device(account, p.d[i].id, &d));
		check_dev(&p.d[i], &d);
	}
}

/* SQLite: small groups leave the device directory and the campaign counters to the index
 * step. Reading a device adds its unindexed events to its row, writing nothing; listing
 * devices (whose filters and order need the rows) and campaign statistics index what is
 * pending first; retention folds in what it is about to remove; a store of schema 9, whose
 * counters already held its unindexed events, does not count them twice. */
static void test_directory_deferred(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;
	int64_t events;

	if (is_pg)
		skip();
	dlog_store_set_merge_events(INT64_C(1) << 40); /* no index step meanwhile */
	load_dir_model(f);
	db = store_file(f);
	events = sql_int(db, "SELECT count(*) FROM events");
	assert_int_equal(sql_int(db, "SELECT count(*) FROM events WHERE NOT m"), events);
	assert_int_equal(sql_int(db, DIR_EVENTS), 0);
	assert_int_equal(sql_int(db, CAMP_EVENTS), 0);
	check_directory(f, f->acc1);
	check_directory(f, f->acc2);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM events WHERE NOT m"), events);
	check_listed(f, f->acc1);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM events WHERE NOT m"), 0);
	assert_int_equal(sql_int(db, DIR_EVENTS), events);
	check_listed(f, f->acc2);
	check_directory(f, f->acc1);
	check_campaigns(f);
	/* campaign statistics index what is pending too */
	for (size_t k = 0;; k++) {
		assert_true(k < nmodel);
		if (model[k].camp != NULL) {
			model[nmodel++] = model[k];
			break;
		}
	}
	append_model(f, nmodel - 1, nmodel, 1);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM events WHERE NOT m"), 1);
	check_campaigns(f);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM events WHERE NOT m"), 0);
	events++;
	sqlite3_close(db);

	/* schema 9 with five events the merger had not indexed, already in the directory */
	dlog_store_close(f->s);
	f->s = NULL;
	sql_exec(f, "UPDATE events SET m = 0 WHERE seq > (SELECT max(seq) - 5 FROM events);"
		    " UPDATE meta SET value = value - 5 WHERE key = 'indexed_seq';"
		    " PRAGMA user_version = 9;");
	open_store(f);
	check_counters(f);

	/* retention removes every event, three of them not folded in yet: the directory keeps
	 * each device's lifetime, all of it */
	for (int i = 0; i < 3; i++)
		model[nmodel + (size_t)i] = model[(size_t)i];
	nmodel += 3;
	append_model(f, nmodel - 3, nmodel, 1);
	db = store_file(f);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM events WHERE NOT m"), 3);
	assert_int_equal(expire_all(f->s, dlog_time_now() + 1000000, 1000), events + 3);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM events"), 0);
	assert_int_equal(sql_int(db, DIR_EVENTS), events + 3);
	sqlite3_close(db);
	check_counters(f);
	dlog_store_set_merge_events(merge_default);
}

/* SQLite: a store at rest indexes its tail (and folds it into the directory) once appends
 * have stopped for DLOG_SQLITE_IDLE_INDEX_MS, however few events it holds. */
static void test_idle_index(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;

	if (is_pg)
		skip();
	append_many(f, f->acc1, 3);
	db = store_file(f);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM events WHERE NOT m"), 3);
	store__sqlite_set_idle_index(DLOG_SQLITE_IDLE_INDEX_MS);
	wait_meta(f, "indexed_seq", 1);
	store__sqlite_set_idle_index(0);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM events WHERE NOT m"), 0);
	assert_int_equal(sql_int(db, DIR_EVENTS), 3);
	sqlite3_close(db);
}

struct collected {
	size_t n;
	struct mev m[MAX_MODEL];
	char text[MAX_MODEL][7][160];
};

static const char *keep_text(struct collected *c, int slot, const char *s)
{
	if (s == NULL)
		return NULL;
	snprintf(c->text[c->n][slot], sizeof(c->text[0][0]), "%s", s);
	return c->text[c->n][slot];
}

static int collect_cb(void *arg, const struct dlog_event *e)
{
	struct collected *c = arg;
	struct mev *m = &c->m[c->n];

	assert_true(c->n < MAX_MODEL);
	m->id = e->id;
	m->ts = e->date_time;
	m->mtype = e->mtype;
	m->sc = e->state_change;
	m->dev = keep_text(c, 0, e->device_id);
	m->code = keep_text(c, 1, e->event_type);
	m->cat = keep_text(c, 2, e->category);
	m->descr = keep_text(c, 3, e->description);
	m->camp = keep_text(c, 4, e->campaign_id);
	m->extra = keep_text(c, 5, e->data_extra);
	m->idem = keep_text(c, 6, e->idempotency_key);
	c->n++;
	return 0;
}

static void collect(struct dlog_store *s, int64_t account, struct collected *c)
{
	struct dlog_query q;
	bool more;

	c->n = 0;
	parse_ok("limit=1000", DLOG_DIALECT_EVENTS, &q);
	assert_int_equal(dlog_store_query(s, account, &q, collect_cb, c, &more, NULL), 0);
	assert_false(more);
	dlog_query_done(&q);
}

static int stats_cb(void *arg, const struct dlog_campaign_code *k)
{
	struct dlog_buf *b = arg;

	return dlog_buf_printf(b, "%s/%d/%lld/%lld/%lld;", k->event_type, (int)k->mtype,
			       (long long)k->events, (long long)k->devices, (long long)k->first_at);
}

static void test_copy(void **state)
{
	struct fixture *f = *state, g = {0};
	static struct collected src, dst;
	struct dlog_group grp = {.id = "0123456789abcdef0123456789abcdef", .name = "north"};
	struct dlog_copy_stats st;
	struct dlog_buf sa, sb;
	char err[512];
	int64_t acc;

	load_model(f);
	assert_int_equal(dlog_store_group_create(f->s, f->acc1, &grp), 0);
	assert_int_equal(dlog_store_group_member(f->s, f->acc1, grp.id, devs[0], true), 0);
	assert_int_equal(dlog_store_group_member(f->s, f->acc1, grp.id, devs[2], true), 0);
	fresh_url(&g);
	open_store(&g);
	assert_int_equal(dlog_store_copy(f->s, g.s, NULL, NULL, NULL, &st, err, sizeof(err)), 0);
	assert_int_equal(st.accounts, 2);
	assert_int_equal(st.events, nmodel);
	assert_int_equal(st.groups, 1);
	assert_int_equal(st.members, 2);
	/* the same events in the same order; new ids, in the target's commit order */
	for (int a = 0; a < 2; a++) {
		int64_t from = a == 0 ? f->acc1 : f->acc2;

		assert_int_equal(dlog_store_account(g.s, a == 0 ? "acme" : "globex", false, &acc), 0);
		collect(f->s, from, &src);
		collect(g.s, acc, &dst);
		assert_int_equal(src.n, dst.n);
		for (size_t i = 0; i < src.n; i++) {
			struct dlog_event e = ev_of(&dst.m[i], 0);

			assert_true(event_equal(&src.m[i], &e));
			assert_true(i == 0 || dlog_id_cmp(&dst.m[i - 1].id, &dst.m[i].id) < 0);
		}
	}
	/* campaign counters rebuilt by the target's appends: the same */
	assert_int_equal(dlog_store_account(g.s, "acme", false, &acc), 0);
	dlog_buf_init(&sa, 65536);
	dlog_buf_init(&sb, 65536);
	assert_int_equal(dlog_store_campaign_stats(f->s, f->acc1, camps[0], stats_cb, &sa), 0);
	assert_int_equal(dlog_store_campaign_stats(g.s, acc, camps[0], stats_cb, &sb), 0);
	assert_int_equal(sa.len, sb.len);
	assert_memory_equal(sa.data, sb.data, sa.len);
	dlog_buf_done(&sa);
	dlog_buf_done(&sb);
	/* a target account with events is refused */
	assert_int_equal(dlog_store_copy(f->s, g.s, "acme", NULL, NULL, &st, err, sizeof(err)),
			 DLOG_ECONFLICT);
	assert_non_null(strstr(err, "acme"));
	assert_int_equal(dlog_store_copy(f->s, g.s, "nobody", NULL, NULL, &st, err, sizeof(err)),
			 DLOG_ENOTFOUND);
	dlog_store_close(g.s);
	drop_fresh(&g);
}

/* ---- tests: distributing by account (PostgreSQL only) ---- */

/* The first column of every row sql gives on url, joined by spaces ("" when no row). */
static void pg_names(const char *url, const char *sql, char *out, size_t len)
{
	PGconn *pg = PQconnectdb(url);
	PGresult *res;

	if (PQstatus(pg) != CONNECTION_OK)
		fail_msg("connect %s: %s", url, PQerrorMessage(pg));
	res = PQexec(pg, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(pg));
	out[0] = '\0';
	for (int i = 0; i < PQntuples(res); i++) {
		size_t n = strlen(out);

		snprintf(out + n, len - n, "%s%s", i ? " " : "", PQgetvalue(res, i, 0));
	}
	PQclear(res);
	PQfinish(pg);
}

/* The tables that are not distributed by account (docs/STORAGE.md): reference tables and the
 * coordinator's own. Every other table of the schema is per account. */
#define NOT_DISTRIBUTED "('accounts', 'api_keys', 'strings', 'meta', 'append_state')"
/* A per-account table: every table (partitions included) but those. */
#define PER_ACCOUNT(rel)                                                                          \
	" JOIN pg_namespace n ON n.oid = " rel ".relnamespace AND n.nspname = current_schema()"   \
	" WHERE " rel ".relkind IN ('r', 'p') AND " rel ".relname NOT IN " NOT_DISTRIBUTED
#define ACCOUNT_ATTNUM(rel)                                                                       \
	"(SELECT attnum FROM pg_attribute WHERE attrelid = " rel ".oid AND attname = 'account_id')"

/* What Citus needs to distribute every per-account table by account_id as it is (one
 * create_distributed_table per table, colocated): each has account_id, each of its primary keys
 * and unique constraints contains it, and each foreign key between two of them pairs
 * account_id with account_id. Checked on the catalog, with month partitions made. */
static void test_pg_distributable(void **state)
{
	struct fixture *f = *state;
	char bad[4096];

	if (!is_pg)
		skip();
	load_dir_model(f);
	pg_names(f->url,
		 "SELECT c.relname FROM pg_class c" PER_ACCOUNT("c")
		 " AND c.relname LIKE 'events_p%' LIMIT 1",
		 bad, sizeof(bad));
	assert_string_not_equal(bad, ""); /* the check below sees a month partition */
	pg_names(f->url,
		 "SELECT c.relname FROM pg_class c" PER_ACCOUNT("c")
		 " AND " ACCOUNT_ATTNUM("c") " IS NULL ORDER BY 1",
		 bad, sizeof(bad));
	if (bad[0] != '\0')
		fail_msg("per-account tables without account_id: %s", bad);
	pg_names(f->url,
		 "SELECT i.indexrelid::regclass::text FROM pg_index i"
		 " JOIN pg_class c ON c.oid = i.indrelid" PER_ACCOUNT("c")
		 " AND i.indisunique AND NOT " ACCOUNT_ATTNUM("c")
		 " = ANY((i.indkey::int2[])[0:i.indnkeyatts - 1]) ORDER BY 1",
		 bad, sizeof(bad));
	if (bad[0] != '\0')
		fail_msg("unique indexes without account_id: %s", bad);
	pg_names(f->url,
		 "SELECT k.conname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid"
		 " JOIN pg_class r ON r.oid = k.confrelid" PER_ACCOUNT("c")
		 " AND k.contype = 'f' AND r.relname NOT IN " NOT_DISTRIBUTED
		 " AND coalesce(array_position(k.conkey, " ACCOUNT_ATTNUM("c") "), 0)"
		 " IS DISTINCT FROM array_position(k.confkey, " ACCOUNT_ATTNUM("r") ")"
		 " ORDER BY 1",
		 bad, sizeof(bad));
	if (bad[0] != '\0')
		fail_msg("foreign keys not pairing account_id: %s", bad);
	/* retention drops months: events stays partitioned by its commit time */
	pg_names(f->url, "SELECT pg_get_partkeydef('events'::regclass)", bad, sizeof(bad));
	assert_string_equal(bad, "RANGE (created)");
}

/* The store's sessions run without parallel workers and JIT (conn_connect in pg.c): a column
 * default, evaluated in the session of the store's own INSERT, records what it had set. */
static void test_pg_session_settings(void **state)
{
	struct fixture *f = *state;
	int64_t id;
	char got[256];

	if (!is_pg)
		skip();
	pg_admin(f->url, "ALTER TABLE accounts ADD COLUMN probe text DEFAULT"
			 " current_setting('max_parallel_workers_per_gather') || ','"
			 " || current_setting('jit')");
	assert_int_equal(dlog_store_account(f->s, "probe-account", true, &id), 0);
	pg_names(f->url, "SELECT probe FROM accounts WHERE name = 'probe-account'", got,
		 sizeof(got));
	assert_string_equal(got, "0,off");
}

int main(void)
{
	const char *env = getenv("DLOG_TEST_STORE");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accounts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_order_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_strings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_rare_attrs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_times_and_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_date_zones, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_walk_zones, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tenant_isolation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_summary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_campaign_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_backfill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_submit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_dump_import, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idem_hashes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_large_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_restarts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_copied_when_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_reads_little, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_reads_new_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocks_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inline_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory_deferred, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_distributable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_session_settings, setup, teardown),
	};

	is_pg = env != NULL &&
		(strncmp(env, "postgresql://", 13) == 0 || strncmp(env, "postgres://", 11) == 0);
	base_url = env;
	if (getenv("DLOG_TEST_MERGE_EVENTS") != NULL)
		merge_default = atoll(getenv("DLOG_TEST_MERGE_EVENTS"));
	dlog_store_set_merge_events(merge_default);
	/* the tests keep their tails for as long as they read them (test_idle_index: not) */
	store__sqlite_set_idle_index(0);
	printf("store backend: %s\n", is_pg ? "postgresql" : "sqlite (fresh temporary file)");
	if (!is_pg)
		printf("merges into device blocks every %lld events\n", (long long)merge_default);
	return cmocka_run_group_tests_name(is_pg ? "store-postgresql" : "store-sqlite", tests, NULL,
					   NULL);
}
