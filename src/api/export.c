/* Export: every event the list's filters select, as NDJSON or CSV, for
 * GET /v3/device-events/export and `devicelog export`.
 *
 * Nothing is held in memory but one page: the store is read DLOG_EXPORT_PAGE events at a time,
 * the cursor being the last event written (the list's `after` paging, so an export runs
 * without a long transaction and sees events committed while it runs, in id order). Over HTTP
 * one page is produced each time the client has taken the previous one (dlog_http_stream), so
 * a slow client holds neither a thread nor a growing buffer. */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "query/query.h"

static const char *const format_names[] = {"ndjson", "csv"};

int dlog_export_format_parse(const char *s, size_t len, enum dlog_export_format *out)
{
	for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++) {
		if (dlog_word_eq(s, len, format_names[i])) {
			*out = (enum dlog_export_format)i;
			return 0;
		}
	}
	return DLOG_EINVAL;
}

/* ---- rows ---- */

/* The CSV columns, in order; the header row names them. */
static const char csv_header[] = "id,device_id,date_time,created_at,event_type,"
                                 "event_type_description,event_type_category,description,"
                                 "state_change,campaign_id,data,idempotency_key\r\n";

/* One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break, quotes
 * doubled. NULL is the empty field. */
static int csv_field(struct dlog_buf *b, const char *s, bool last)
{
	int rc = 0;

	if (s != NULL && s[strcspn(s, ",\"\r\n")] != '\0') {
		rc = dlog_buf_addc(b, '"');
		while (rc == 0 && *s != '\0') {
			size_t span = strcspn(s, "\"");

			rc = dlog_buf_add(b, s, span);
			s += span;
			if (rc == 0 && *s == '"') {
				rc = dlog_buf_add(b, "\"\"", 2);
				s++;
			}
		}
		if (rc == 0)
			rc = dlog_buf_addc(b, '"');
	} else if (s != NULL) {
		rc = dlog_buf_adds(b, s);
	}
	if (rc == 0)
		rc = last ? dlog_buf_add(b, "\r\n", 2) : dlog_buf_addc(b, ',');
	return rc;
}

/* The event's data object as JSON text, as the API shows it (campaign_id first). */
static int data_json(struct dlog_buf *b, const struct dlog_event *e)
{
	int rc = dlog_buf_addc(b, '{');

	if (rc == 0 && e->campaign_id != NULL) {
		rc = dlog_buf_adds(b, "\"campaign_id\":\"");
		if (rc == 0)
			rc = dlog_json_escape(b, e->campaign_id, strlen(e->campaign_id));
		if (rc == 0)
			rc = dlog_buf_addc(b, '"');
	}
	/* data_extra is a JSON object written by ingest: its members follow */
	if (rc == 0 && e->data_extra != NULL && strlen(e->data_extra) > 2) {
		if (e->campaign_id != NULL)
			rc = dlog_buf_addc(b, ',');
		if (rc == 0)
			rc = dlog_buf_add(b, e->data_extra + 1, strlen(e->data_extra) - 2);
	}
	if (rc == 0)
		rc = dlog_buf_addc(b, '}');
	return rc;
}

static int csv_row(struct dlog_buf *b, const struct dlog_event *e)
{
	char id[DLOG_ID_STRLEN], dt[DLOG_TIME_STRLEN], created[DLOG_TIME_STRLEN];
	struct dlog_buf data;
	int rc;

	dlog_id_format(&e->id, id);
	dlog_buf_init(&data, DLOG_STREAM_BUFFER);
	rc = data_json(&data, e);
	if (rc == 0)
		rc = dlog_buf_addc(&data, '\0');
	if (rc == 0)
		rc = csv_field(b, id, false);
	if (rc == 0)
		rc = csv_field(b, e->device_id, false);
	if (rc == 0)
		rc = csv_field(b, dlog_time_format(e->date_time, dt), false);
	if (rc == 0)
		rc = csv_field(b, dlog_time_format(e->id.created, created), false);
	if (rc == 0)
		rc = csv_field(b, e->event_type, false);
	if (rc == 0)
		rc = csv_field(b, dlog_mtype_name(e->mtype), false);
	if (rc == 0)
		rc = csv_field(b, e->category ? e->category : "", false);
	if (rc == 0)
		rc = csv_field(b, e->description ? e->description : "", false);
	if (rc == 0)
		rc = csv_field(b, e->state_change ? "true" : "false", false);
	if (rc == 0)
		rc = csv_field(b, e->campaign_id, false);
	if (rc == 0)
		rc = csv_field(b, data.data, false);
	if (rc == 0)
		rc = csv_field(b, e->idempotency_key, true);
	dlog_buf_done(&data);
	return rc;
}

static int ndjson_row(struct dlog_buf *b, const struct dlog_event *e)
{
	struct dlog_jw w;
	int rc;

	dlog_jw_init(&w, b);
	dlog_api_event_json(&w, e);
	rc = dlog_jw_finish(&w);
	if (rc == 0)
		rc = dlog_buf_addc(b, '\n');
	return rc;
}

/* ---- the walk, one page per step ---- */

struct export
{
	struct dlog_store *store;
	int64_t account_id;
	struct dlog_query q; /* owned; q.after is the cursor: the last event written */
	enum dlog_export_format format;
	bool started; /* the CSV header is out */
	struct dlog_buf *out;
	uint64_t rows;
};

static int write_row(void *arg, const struct dlog_event *e)
{
	struct export *x = arg;
	size_t mark = x->out->len;
	int rc = x->format == DLOG_EXPORT_CSV ? csv_row(x->out, e) : ndjson_row(x->out, e);

	if (rc != 0) {
		/* out is full: this row goes out with the next step */
		x->out->len = mark;
		return rc;
	}
	x->q.after = e->id;
	x->q.has_after = true;
	x->rows++;
	return 0;
}

/* Append the next page to out. 0: more may follow; 1: the export is complete; negative: an
 * error (a row larger than out's room is DLOG_ETOOBIG). */
static int export_step(struct export *x, struct dlog_buf *out)
{
	size_t before = out->len;
	bool has_more = false;
	int rc = 0;

	x->out = out;
	if (!x->started && x->format == DLOG_EXPORT_CSV)
		rc = dlog_buf_add(out, csv_header, sizeof(csv_header) - 1);
	if (rc != 0)
		return rc;
	x->started = true;
	rc = dlog_store_query(x->store, x->account_id, &x->q, write_row, x, &has_more, NULL);
	if (rc == DLOG_ETOOBIG && out->len > before)
		return 0;
	if (rc != 0)
		return rc;
	return has_more ? 0 : 1;
}

/* Take over q (the caller's copy is cleared): paging by cursor from q's own after, in q's
 * order; limit and include_total do not apply. */
static void export_init(struct export *x, struct dlog_store *s, int64_t account_id,
                        struct dlog_query *q, enum dlog_export_format format)
{
	memset(x, 0, sizeof(*x));
	x->store = s;
	x->account_id = account_id;
	x->q = *q;
	memset(q, 0, sizeof(*q));
	x->q.limit = DLOG_EXPORT_PAGE;
	x->q.include_total = false;
	x->format = format;
}

int dlog_export(struct dlog_store *s, int64_t account_id, struct dlog_query *q,
                enum dlog_export_format format, dlog_export_write_fn write, void *arg,
                uint64_t *rows)
{
	struct export x;
	struct dlog_buf out;
	int rc;

	export_init(&x, s, account_id, q, format);
	dlog_buf_init(&out, DLOG_STREAM_BUFFER);
	do {
		rc = export_step(&x, &out);
		if (rc >= 0 && out.len > 0 && write(arg, out.data, out.len) != 0)
			rc = DLOG_EIO;
		dlog_buf_reset(&out);
	} while (rc == 0);
	if (rows != NULL)
		*rows = x.rows;
	dlog_buf_done(&out);
	dlog_query_done(&x.q);
	return rc == 1 ? 0 : rc;
}

/* ---- GET /v3/device-events/export ---- */

static int produce(void *cls, struct dlog_buf *out)
{
	/* a store failure (negative) ends the answer mid-way: the client sees a truncated
	 * chunked transfer, never a complete-looking file */
	return export_step(cls, out);
}

static void done(void *cls)
{
	struct export *x = cls;

	dlog_query_done(&x->q);
	free(x);
}

static const struct dlog_stream_ops export_ops = {produce, done, false};

/* Split format= off the query string: the rest is the list's grammar, which refuses unknown
 * keys. *rest is malloc'd (the raw text, still percent-encoded). */
static int take_format(struct dlog_req *r, enum dlog_export_format *format, char **rest,
                       size_t *rest_len)
{
	const char *p = r->query, *end = r->query + r->query_len;
	struct dlog_buf b;
	int rc = 0;

	*format = DLOG_EXPORT_NDJSON;
	dlog_buf_init(&b, r->query_len + 1);
	while (rc == 0 && p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp ? amp : end;

		if ((size_t)(pe - p) >= 7 && strncmp(p, "format=", 7) == 0) {
			if (dlog_export_format_parse(p + 7, (size_t)(pe - p - 7), format) != 0) {
				dlog_http_error_field(r, "format", "must be ndjson or csv");
				rc =
				    dlog_http_error(r, DLOG_EINVAL, "format must be ndjson or csv");
			}
		} else if (pe > p) {
			if (b.len > 0)
				rc = dlog_buf_addc(&b, '&');
			if (rc == 0)
				rc = dlog_buf_add(&b, p, (size_t)(pe - p));
		}
		p = pe + 1;
	}
	if (rc == 0)
		rc = dlog_buf_addc(&b, '\0');
	if (rc == 0) {
		*rest = dlog_buf_steal(&b, rest_len);
		(*rest_len)--;
	}
	dlog_buf_done(&b);
	return rc;
}

int dlog_api_events_export(struct dlog_req *r)
{
	struct dlog_query_error qe;
	struct dlog_query q;
	enum dlog_export_format format;
	struct export *x = NULL;
	char *rest = NULL;
	size_t rest_len = 0;
	int rc = take_format(r, &format, &rest, &rest_len);

	if (rc != 0)
		return r->err != 0 ? rc : dlog_http_error(r, rc, "out of memory");
	rc = dlog_query_parse(rest, rest_len, DLOG_DIALECT_EVENTS, &q, &qe);
	free(rest);
	if (rc != 0)
		return dlog_api_query_error(r, &qe, rc);
	x = malloc(sizeof(*x));
	if (x == NULL) {
		dlog_query_done(&q);
		return dlog_http_error(r, DLOG_ENOMEM, "out of memory");
	}
	export_init(x, r->store, r->key.account_id, &q, format);
	rc = dlog_http_stream(r, &export_ops, x);
	if (rc != 0)
		return rc;
	r->resp_type =
	    format == DLOG_EXPORT_CSV ? "text/csv; charset=utf-8" : "application/x-ndjson";
	r->disposition = format == DLOG_EXPORT_CSV
	                     ? "attachment; filename=\"device-events.csv\""
	                     : "attachment; filename=\"device-events.ndjson\"";
	return 0;
}
