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
	if (rc == 0)
		rc = get_string(obj, "id", DLOG_MAX_IDEMPOTENCY_KEY_LEN, false,
				&p->ev.idempotency_key, err);
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
	if (rc == 0 && p->ev.idempotency_key != NULL) {
		/* what the producer sent, canonically: a retry of it hashes the same */
		char *canon = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);

		if (canon == NULL)
			return DLOG_ENOMEM;
		rc = dlog_sha256(canon, strlen(canon), p->hash);
		free(canon);
	}
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

int dlog_ingest(struct dlog_store *s, int64_t account_id, const char *body, size_t len,
		bool ndjson, size_t *count, size_t *dups, struct dlog_id **ids, bool *single,
		struct dlog_ingest_error *err)
{
	struct batch b;
	struct dlog_event *ev = NULL;
	struct dlog_append_result *res = NULL;
	dlog_time now = dlog_time_now();
	size_t conflict = 0;
	int rc;

	memset(&b, 0, sizeof(b));
	memset(err, 0, sizeof(*err));
	err->index = -1;
	*count = *dups = 0;
	*single = false;
	if (ids != NULL)
		*ids = NULL;
	rc = ndjson ? parse_ndjson(&b, body, len, now, err)
		    : parse_json(&b, body, len, now, single, err);
	if (rc == 0 && b.n == 0)
		rc = bad(err, "", "the body holds no events");
	if (rc != 0)
		goto out;
	ev = malloc(b.n * sizeof(*ev));
	res = malloc(b.n * sizeof(*res));
	if (ev == NULL || res == NULL) {
		rc = DLOG_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < b.n; i++) {
		ev[i] = b.p[i].ev;
		/* b.p moved while it grew: point at the hash where it lives now */
		ev[i].content_hash = ev[i].idempotency_key ? b.p[i].hash : NULL;
	}
	rc = dlog_store_append(s, account_id, ev, b.n, res, &conflict);
	if (rc == DLOG_ECONFLICT) {
		err->index = *single ? -1 : (long)conflict;
		bad(err, "id", "id '%.128s' was used before for an event with other content",
		    ev[conflict].idempotency_key);
		goto out;
	}
	if (rc != 0)
		goto out;
	*count = b.n;
	for (size_t i = 0; i < b.n; i++)
		*dups += res[i].duplicate ? 1 : 0;
	if (ids != NULL) {
		*ids = malloc(b.n * sizeof(**ids));
		if (*ids == NULL) {
			rc = DLOG_ENOMEM; /* committed already: the caller reports it as such */
			goto out;
		}
		for (size_t i = 0; i < b.n; i++)
			(*ids)[i] = res[i].id;
	}
out:
	free(ev);
	free(res);
	batch_done(&b);
	return rc;
}

/* ---- the HTTP route ---- */

static int ingest_failed(struct dlog_req *r, int rc, const struct dlog_ingest_error *e)
{
	char name[96];

	if (rc != DLOG_EINVAL && rc != DLOG_ECONFLICT)
		return dlog_http_error(r, rc, "cannot store the events: %s",
				       rc == DLOG_ENOMEM ? "out of memory"
							 : dlog_store_errmsg(r->store));
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

int dlog_api_events_ingest(struct dlog_req *r)
{
	const char *ct = r->content_type;
	bool ndjson = ct != NULL && strncasecmp(ct, "application/x-ndjson", 20) == 0;
	struct dlog_ingest_error e;
	struct dlog_id *ids = NULL;
	size_t count, dups;
	bool single;
	struct dlog_jw w;
	int rc;

	rc = dlog_ingest(r->store, r->key.account_id, r->body.data ? r->body.data : "",
			 r->body.len, ndjson, &count, &dups, &ids, &single, &e);
	if (rc != 0) {
		free(ids);
		return ingest_failed(r, rc, &e);
	}
	dlog_jw_init(&w, &r->out);
	r->status = dups == count ? 200 : 201;
	if (single) {
		rc = dlog_store_get(r->store, r->key.account_id, &ids[0], write_single, &w);
	} else {
		char id[DLOG_ID_STRLEN];

		dlog_jw_obj(&w);
		dlog_jw_kstr(&w, "object", "ingest");
		dlog_jw_kint(&w, "count", (int64_t)count);
		dlog_jw_kint(&w, "created", (int64_t)(count - dups));
		dlog_jw_kint(&w, "duplicates", (int64_t)dups);
		dlog_jw_key(&w, "ids");
		dlog_jw_arr(&w);
		for (size_t i = 0; i < count; i++) {
			dlog_id_format(&ids[i], id);
			dlog_jw_str(&w, id);
		}
		dlog_jw_arr_end(&w);
		dlog_jw_obj_end(&w);
	}
	free(ids);
	if (rc == 0)
		rc = dlog_jw_finish(&w);
	if (rc != 0) /* the events are stored; only the answer failed */
		return dlog_http_error(r, rc, "events stored, but the answer failed: %s",
				       dlog_strerror(rc));
	return 0;
}
