/* Ingest: POST /v3/device-events/ and `devicelog import`.
 *
 * A body is parsed whole and every event validated before anything is written, so one request
 * is all or nothing; the store then appends the batch in one durable transaction. */
#include "api/api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "base/limits.h"
#include "catalog/catalog.h"

/* One event being built; strings point into the jansson tree or the catalog. */
struct pending {
	struct dlog_event ev;
	char *extra;   /* malloc'd JSON of the other data keys */
	uint8_t hash[32];
};

struct batch {
	json_t **docs;  /* parsed roots, kept alive while events point into them */
	size_t ndocs, capdocs;
	struct pending *p;
	size_t n, cap;
};

static void batch_done(struct batch *b)
{
	for (size_t i = 0; i < b->ndocs; i++)
		json_decref(b->docs[i]);
	for (size_t i = 0; i < b->n; i++)
		free(b->p[i].extra);
	free(b->docs);
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *np;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	while (ncap < need)
		ncap *= 2;
	np = realloc(*arr, ncap * elem);
	if (np == NULL)
		return DLOG_ENOMEM;
	*arr = np;
	*cap = ncap;
	return 0;
}

static int bad(struct dlog_ingest_error *err, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(struct dlog_ingest_error *err, const char *field, const char *fmt, ...)
{
	va_list ap;

	snprintf(err->field, sizeof(err->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return DLOG_EINVAL;
}

/* A string member within max bytes of valid text; *out NULL when absent and optional. */
static int get_string(json_t *obj, const char *key, size_t max, bool required, const char **out,
		      struct dlog_ingest_error *err)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return bad(err, key, "%s is required", key);
		return 0;
	}
	if (!json_is_string(v))
		return bad(err, key, "%s must be a string", key);
	if (json_string_length(v) == 0 && required)
		return bad(err, key, "%s must not be empty", key);
	if (json_string_length(v) > max)
		return bad(err, key, "%s is longer than %zu bytes", key, max);
	if (!dlog_text_valid(json_string_value(v), json_string_length(v)))
		return bad(err, key, "%s must be valid UTF-8 without control characters", key);
	*out = json_string_value(v);
	return 0;
}

/* data: a flat string-to-string map. campaign_id is pulled out (it is indexed); the rest is
 * kept as compact JSON text. */
static int take_data(json_t *obj, struct pending *p, struct dlog_ingest_error *err)
{
	json_t *data = json_object_get(obj, "data"), *rest, *v;
	const char *k;

	if (data == NULL || json_is_null(data))
		return 0;
	if (!json_is_object(data))
		return bad(err, "data", "data must be an object of strings");
	if (json_object_size(data) > DLOG_MAX_DATA_KEYS)
		return bad(err, "data", "data has more than %d keys", DLOG_MAX_DATA_KEYS);
	rest = json_object();
	if (rest == NULL)
		return DLOG_ENOMEM;
	json_object_foreach(data, k, v) {
		char name[DLOG_MAX_DATA_KEY_LEN + 8];
		size_t klen = strlen(k);

		snprintf(name, sizeof(name), "data.%.*s", DLOG_MAX_DATA_KEY_LEN, k);
		if (klen == 0 || klen > DLOG_MAX_DATA_KEY_LEN || !dlog_text_valid(k, klen)) {
			json_decref(rest);
			return bad(err, "data", "data keys must be 1..%d bytes of valid text",
				   DLOG_MAX_DATA_KEY_LEN);
		}
		if (!json_is_string(v) || json_string_length(v) > DLOG_MAX_DATA_VALUE_LEN ||
		    !dlog_text_valid(json_string_value(v), json_string_length(v))) {
			json_decref(rest);
			return bad(err, name, "%s must be a string of at most %d bytes of valid text",
				   name, DLOG_MAX_DATA_VALUE_LEN);
		}
		if (strcmp(k, "campaign_id") == 0)
			p->ev.campaign_id = json_string_value(v);
		else
			json_object_set(rest, k, v);
	}
	if (json_object_size(rest) > 0)
		p->extra = json_dumps(rest, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	json_decref(rest);
	if (json_object_size(data) > (p->ev.campaign_id ? 1u : 0u) && p->extra == NULL)
		return DLOG_ENOMEM;
	p->ev.data_extra = p->extra;
	return 0;
}

/* Members a producer may send. Output-only members (what an export writes) are accepted and
 * ignored so exported NDJSON imports back as it is. */
static const char *const known_members[] = {
	"device_id", "event_type", "date_time", "data", "state_change", "description",
	"event_type_category", "event_type_description", "id",
	/* output only */
	"object", "created_at", "etag", "changes", "idempotency_key",
};

static int check_members(json_t *obj, struct dlog_ingest_error *err)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		size_t i;

		for (i = 0; i < sizeof(known_members) / sizeof(known_members[0]); i++)
			if (strcmp(k, known_members[i]) == 0)
				break;
		if (i == sizeof(known_members) / sizeof(known_members[0]))
			return bad(err, k, "unknown field '%.64s'", k);
	}
	return 0;
}

/* Message type, category, description and state_change: the producer's when given, else the
 * catalog's; an unknown code must bring its message type. */
static int resolve_code(json_t *obj, struct pending *p, struct dlog_ingest_error *err)
{
	const struct dlog_code *c = dlog_catalog_find(p->ev.event_type, strlen(p->ev.event_type));
	const char *mtype, *cat, *desc;
	json_t *sc = json_object_get(obj, "state_change");
	int rc;

	rc = get_string(obj, "event_type_description", 16, false, &mtype, err);
	if (rc == 0)
		rc = get_string(obj, "event_type_category", DLOG_MAX_CATEGORY_LEN, false, &cat, err);
	if (rc == 0)
		rc = get_string(obj, "description", DLOG_MAX_DESCRIPTION_LEN, false, &desc, err);
	if (rc != 0)
		return rc;
	if (mtype != NULL && dlog_mtype_parse(mtype, strlen(mtype), &p->ev.mtype) != 0)
		return bad(err, "event_type_description",
			   "event_type_description must be SUCCESS, FAIL, SKIPPED or INFO");
	if (mtype == NULL && c == NULL)
		return bad(err, "event_type_description",
			   "event_type '%.100s' is not in the catalog: event_type_description "
			   "(SUCCESS, FAIL, SKIPPED or INFO) is required",
			   p->ev.event_type);
	if (mtype == NULL)
		p->ev.mtype = c->mtype;
	p->ev.category = cat ? cat : c ? c->category : "";
	p->ev.description = desc ? desc : c ? c->text : "";
	if (sc != NULL && !json_is_null(sc) && !json_is_boolean(sc))
		return bad(err, "state_change", "state_change must be true or false");
	p->ev.state_change = sc && json_is_boolean(sc) ? json_is_true(sc) : c ? c->state_change
									       : false;
	return 0;
}

/* Is obj an event as the API writes it (an export line) rather than a producer's event? */
static bool exported(json_t *obj)
{
	json_t *o = json_object_get(obj, "object");

	return json_is_string(o) && strcmp(json_string_value(o), "device-event") == 0;
}

/* What the producer sent, canonically: a retry of it hashes the same. For an exported event,
 * without the members a store assigns (id, created_at, etag), so the same event exported from
 * two stores hashes the same and imports once. */
static int content_hash(json_t *obj, uint8_t hash[32])
{
	static const char *const assigned[] = {"id", "created_at", "etag"};
	json_t *copy = exported(obj) ? json_copy(obj) : json_incref(obj);
	char *canon;
	int rc;

	if (copy == NULL)
		return DLOG_ENOMEM;
	for (size_t i = 0; exported(obj) && i < sizeof(assigned) / sizeof(assigned[0]); i++)
		json_object_del(copy, assigned[i]);
	canon = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(copy);
	if (canon == NULL)
		return DLOG_ENOMEM;
	rc = dlog_sha256(canon, strlen(canon), hash);
	free(canon);
	return rc;
}

static int validate(json_t *obj, dlog_time now, struct pending *p, struct dlog_ingest_error *err)
{
	const char *dt;
	int rc;

	memset(p, 0, sizeof(*p));
	if (!json_is_object(obj))
		return bad(err, "", "each event must be a JSON object");
	rc = check_members(obj, err);
	if (rc == 0)
		rc = get_string(obj, "device_id", DLOG_MAX_DEVICE_ID_LEN, true, &p->ev.device_id,
				err);
	if (rc == 0)
		rc = get_string(obj, "event_type", DLOG_MAX_EVENT_TYPE_LEN, true,
				&p->ev.event_type, err);
	/* An exported event (object "device-event") names its own event id in id, which a store
	 * that imports it assigns anew; its idempotency key, if any, is idempotency_key. */
	if (rc == 0)
		rc = get_string(obj, exported(obj) ? "idempotency_key" : "id",
				DLOG_MAX_IDEMPOTENCY_KEY_LEN, false, &p->ev.idempotency_key, err);
	if (rc == 0)
		rc = get_string(obj, "date_time", 64, false, &dt, err);
	if (rc != 0)
		return rc;
	p->ev.date_time = now;
	if (dt != NULL && dlog_time_parse(dt, strlen(dt), &p->ev.date_time) != 0)
		return bad(err, "date_time",
			   "date_time '%.40s' is not a UTC date-time like 2016-11-30T16:25:12.1234Z",
			   dt);
	rc = resolve_code(obj, p, err);
	if (rc == 0)
		rc = take_data(obj, p, err);
	if (rc == 0 && p->ev.idempotency_key != NULL)
		rc = content_hash(obj, p->hash);
	return rc;
}

static int add_doc(struct batch *b, json_t *doc)
{
	if (grow((void **)&b->docs, &b->capdocs, b->ndocs + 1, sizeof(*b->docs)) != 0) {
		json_decref(doc);
		return DLOG_ENOMEM;
	}
	b->docs[b->ndocs++] = doc;
	return 0;
}

static int add_event(struct batch *b, json_t *obj, dlog_time now, struct dlog_ingest_error *err)
{
	int rc;

	if (b->n == DLOG_MAX_BATCH)
		return bad(err, "", "a request holds at most %d events", DLOG_MAX_BATCH);
	if (grow((void **)&b->p, &b->cap, b->n + 1, sizeof(*b->p)) != 0)
		return DLOG_ENOMEM;
	err->index = (long)b->n;
	rc = validate(obj, now, &b->p[b->n], err);
	if (rc != 0) {
		free(b->p[b->n].extra);
		return rc;
	}
	b->n++;
	return 0;
}

static int parse_json(struct batch *b, const char *body, size_t len, dlog_time now, bool *single,
		      struct dlog_ingest_error *err)
{
	json_error_t je;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	int rc;

	if (root == NULL)
		return bad(err, "", "invalid JSON at line %d column %d: %s", je.line, je.column,
			   je.text);
	rc = add_doc(b, root);
	if (rc != 0)
		return rc;
	if (json_is_array(root)) {
		size_t i;
		json_t *v;

		*single = false;
		if (json_array_size(root) > DLOG_MAX_BATCH)
			return bad(err, "", "a request holds at most %d events", DLOG_MAX_BATCH);
		json_array_foreach(root, i, v) {
			rc = add_event(b, v, now, err);
			if (rc != 0)
				return rc;
		}
		return 0;
	}
	*single = true;
	rc = add_event(b, root, now, err);
	if (rc == DLOG_EINVAL)
		err->index = -1;
	return rc;
}

static int parse_ndjson(struct batch *b, const char *body, size_t len, dlog_time now,
			struct dlog_ingest_error *err)
{
	const char *p = body, *end = body + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		json_error_t je;
		json_t *doc;
		int rc;

		while (p < le && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++;
		if (p == le) {
			p = le + 1;
			continue;
		}
		doc = json_loadb(p, (size_t)(le - p), JSON_REJECT_DUPLICATES, &je);
		err->index = (long)b->n;
		if (doc == NULL)
			return bad(err, "", "invalid JSON: %s", je.text);
		rc = add_doc(b, doc);
		if (rc == 0)
			rc = add_event(b, doc, now, err);
		if (rc != 0)
			return rc;
		p = le + 1;
	}
	return 0;
}

/* A parsed, validated body ready to append: the events and room for their results. */
struct dlog_ingest {
	struct batch b;
	struct dlog_event *ev;
	struct dlog_append_result *res;
	size_t n;
	bool single;
	struct dlog_append_req req; /* for the group committer */
	void (*done)(struct dlog_ingest *in, void *arg);
	void *done_arg;
};

void dlog_ingest_free(struct dlog_ingest *in)
{
	if (in == NULL)
		return;
	free(in->ev);
	free(in->res);
	batch_done(&in->b);
	free(in);
}

int dlog_ingest_parse(const char *body, size_t len, bool ndjson, struct dlog_ingest **out,
		      struct dlog_ingest_error *err)
{
	struct dlog_ingest *in = calloc(1, sizeof(*in));
	dlog_time now = dlog_time_now();
	int rc;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	err->index = -1;
	if (in == NULL)
		return DLOG_ENOMEM;
	rc = ndjson ? parse_ndjson(&in->b, body, len, now, err)
		    : parse_json(&in->b, body, len, now, &in->single, err);
	if (rc == 0 && in->b.n == 0)
		rc = bad(err, "", "the body holds no events");
	if (rc == 0) {
		in->n = in->b.n;
		in->ev = malloc(in->n * sizeof(*in->ev));
		in->res = calloc(in->n, sizeof(*in->res));
		if (in->ev == NULL || in->res == NULL)
			rc = DLOG_ENOMEM;
	}
	if (rc != 0) {
		dlog_ingest_free(in);
		return rc;
	}
	for (size_t i = 0; i < in->n; i++) {
		in->ev[i] = in->b.p[i].ev;
		/* b.p moved while it grew: point at the hash where it lives now */
		in->ev[i].content_hash = in->ev[i].idempotency_key ? in->b.p[i].hash : NULL;
	}
	*out = in;
	return 0;
}

/* The outcome of an append as the ingest error (a 409 names the event and its id). */
static int append_outcome(const struct dlog_ingest *in, int rc, size_t conflict,
			  struct dlog_ingest_error *err)
{
	memset(err, 0, sizeof(*err));
	err->index = -1;
	if (rc == DLOG_ECONFLICT) {
		err->index = in->single ? -1 : (long)conflict;
		bad(err, "id", "id '%.128s' was used before for an event with other content",
		    in->ev[conflict].idempotency_key);
	}
	return rc;
}

int dlog_ingest(struct dlog_store *s, int64_t account_id, const char *body, size_t len,
		bool ndjson, size_t *count, size_t *dups, struct dlog_id **ids, bool *single,
		struct dlog_ingest_error *err)
{
	struct dlog_ingest *in;
	size_t conflict = 0;
	int rc;

	*count = *dups = 0;
	*single = false;
	if (ids != NULL)
		*ids = NULL;
	rc = dlog_ingest_parse(body, len, ndjson, &in, err);
	if (rc != 0)
		return rc;
	*single = in->single;
	rc = dlog_store_append(s, account_id, in->ev, in->n, in->res, &conflict);
	rc = append_outcome(in, rc, conflict, err);
	if (rc == 0) {
		*count = in->n;
		for (size_t i = 0; i < in->n; i++)
			*dups += in->res[i].duplicate ? 1 : 0;
	}
	if (rc == 0 && ids != NULL) {
		*ids = malloc(in->n * sizeof(**ids));
		if (*ids == NULL)
			rc = DLOG_ENOMEM; /* committed already: the caller reports it as such */
		for (size_t i = 0; *ids != NULL && i < in->n; i++)
			(*ids)[i] = in->res[i].id;
	}
	dlog_ingest_free(in);
	return rc;
}

static void submitted_done(struct dlog_append_req *req)
{
	struct dlog_ingest *in = req->arg;

	in->done(in, in->done_arg);
}

int dlog_ingest_submit(struct dlog_store *s, int64_t account_id, struct dlog_ingest *in,
		       void (*done)(struct dlog_ingest *in, void *arg), void *arg)
{
	in->done = done;
	in->done_arg = arg;
	in->req.account_id = account_id;
	in->req.ev = in->ev;
	in->req.n = in->n;
	in->req.results = in->res;
	in->req.done = submitted_done;
	in->req.arg = in;
	return dlog_store_submit(s, &in->req);
}

int dlog_ingest_outcome(const struct dlog_ingest *in, size_t *count, size_t *dups,
			struct dlog_ingest_error *err, const char **detail)
{
	int rc = append_outcome(in, in->req.rc, in->req.conflict_index, err);

	*count = *dups = 0;
	*detail = in->req.errmsg;
	if (rc != 0)
		return rc;
	*count = in->n;
	for (size_t i = 0; i < in->n; i++)
		*dups += in->res[i].duplicate ? 1 : 0;
	return 0;
}

/* ---- the HTTP route ---- */

static int ingest_failed(struct dlog_req *r, int rc, const struct dlog_ingest_error *e,
			 const char *detail)
{
	char name[96];

	if (rc != DLOG_EINVAL && rc != DLOG_ECONFLICT)
		return dlog_http_error(r, rc, "cannot store the events: %s",
				       rc == DLOG_ENOMEM ? "out of memory" : detail);
	if (e->index >= 0)
		snprintf(name, sizeof(name), "[%ld]%s%s", e->index, e->field[0] ? "." : "",
			 e->field);
	else
		snprintf(name, sizeof(name), "%s", e->field[0] ? e->field : "body");
	dlog_http_error_field(r, name, "%s", e->message);
	return dlog_http_error(r, rc, "%s: %s", name, e->message);
}

static int write_single(void *arg, const struct dlog_event *e)
{
	struct dlog_jw *w = arg;

	dlog_api_event_json(w, e);
	return w->err;
}

/* The answer once the commit is durable (runs on the connection's thread). */
static int ingest_finish(struct dlog_req *r, void *arg)
{
	struct dlog_ingest *in = arg;
	struct dlog_ingest_error e;
	size_t dups = 0;
	struct dlog_jw w;
	char id[DLOG_ID_STRLEN];
	int rc = append_outcome(in, in->req.rc, in->req.conflict_index, &e);

	if (rc != 0) {
		rc = ingest_failed(r, rc, &e, in->req.errmsg);
		dlog_ingest_free(in);
		return rc;
	}
	for (size_t i = 0; i < in->n; i++)
		dups += in->res[i].duplicate ? 1 : 0;
	r->ingested = in->n - dups;
	dlog_jw_init(&w, &r->out);
	r->status = dups == in->n ? 200 : 201;
	if (in->single) {
		rc = dlog_store_get(r->store, r->key.account_id, &in->res[0].id, write_single, &w);
	} else {
		dlog_jw_obj(&w);
		dlog_jw_kstr(&w, "object", "ingest");
		dlog_jw_kint(&w, "count", (int64_t)in->n);
		dlog_jw_kint(&w, "created", (int64_t)(in->n - dups));
		dlog_jw_kint(&w, "duplicates", (int64_t)dups);
		dlog_jw_key(&w, "ids");
		dlog_jw_arr(&w);
		for (size_t i = 0; i < in->n; i++) {
			dlog_id_format(&in->res[i].id, id);
			dlog_jw_str(&w, id);
		}
		dlog_jw_arr_end(&w);
		dlog_jw_obj_end(&w);
	}
	dlog_ingest_free(in);
	if (rc == 0)
		rc = dlog_jw_finish(&w);
	if (rc != 0) /* the events are stored; only the answer failed */
		return dlog_http_error(r, rc, "events stored, but the answer failed: %s",
				       dlog_strerror(rc));
	return 0;
}

/* Committer thread: the commit is durable (or failed); wake the connection. */
static void ingest_done(struct dlog_ingest *in, void *arg)
{
	(void)in;
	dlog_http_wake(arg);
}

int dlog_api_events_ingest(struct dlog_req *r)
{
	const char *ct = r->content_type;
	bool ndjson = ct != NULL && strncasecmp(ct, "application/x-ndjson", 20) == 0;
	struct dlog_ingest_error e;
	struct dlog_ingest *in;
	int rc = dlog_ingest_parse(r->body.data ? r->body.data : "", r->body.len, ndjson, &in, &e);

	if (rc != 0)
		return ingest_failed(r, rc, &e, "");
	/* many requests share one durable commit; this connection waits suspended */
	dlog_http_defer(r, ingest_finish, in);
	rc = dlog_ingest_submit(r->store, r->key.account_id, in, ingest_done, r);
	if (rc != 0) {
		in->req.rc = rc;
		snprintf(in->req.errmsg, sizeof(in->req.errmsg), "the store is closing");
		dlog_http_wake(r);
	}
	return 0;
}
