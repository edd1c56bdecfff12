/* /v3/device-groups/: named sets of devices, as the original API has them.
 *
 * A group's devices are the filter behind device_group_id on the event routes, so "the events
 * of a group of devices" is one query. */
#include "api/api.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "base/limits.h"
#include "query/query.h"

#define MAX_NAME 128
#define MAX_DESCRIPTION 2000
#define MAX_ATTRS 32

static void group_json(struct dlog_jw *w, const struct dlog_group *g)
{
	dlog_jw_obj(w);
	dlog_jw_kstr(w, "object", "device-group");
	dlog_jw_kstr(w, "id", g->id);
	dlog_jw_kstr(w, "name", g->name);
	dlog_jw_kstr(w, "description", g->description);
	dlog_jw_key(w, "custom_attributes");
	dlog_jw_raw(w, g->custom_attributes, strlen(g->custom_attributes));
	dlog_jw_kint(w, "devices_count", g->devices_count);
	dlog_jw_ktime(w, "created_at", g->created_at);
	dlog_jw_ktime(w, "updated_at", g->updated_at);
	dlog_jw_ktime(w, "etag", g->updated_at);
	dlog_jw_obj_end(w);
}

static int write_group(void *arg, const struct dlog_group *g)
{
	struct dlog_jw *w = arg;

	group_json(w, g);
	return w->err;
}

static int field_error(struct dlog_req *r, const char *name, const char *msg)
{
	dlog_http_error_field(r, name, "%s", msg);
	return dlog_http_error(r, DLOG_EINVAL, "%s: %s", name, msg);
}

static int text_member(struct dlog_req *r, json_t *body, const char *key, size_t max,
		       const char **out)
{
	json_t *v = json_object_get(body, key);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v) || json_string_length(v) > max ||
	    !dlog_text_valid(json_string_value(v), json_string_length(v)))
		return field_error(r, key, "must be a string of valid text within the size limit");
	*out = json_string_value(v);
	return 0;
}

/* name, description, custom_attributes from a JSON body into g; attrs_out owns the attribute
 * JSON text. need_name: the name is required (create). */
static int read_group(struct dlog_req *r, json_t *body, bool need_name, struct dlog_group *g,
		      char **attrs_out)
{
	json_t *attrs = json_object_get(body, "custom_attributes"), *v;
	const char *k;
	int rc;

	memset(g, 0, sizeof(*g));
	*attrs_out = NULL;
	rc = text_member(r, body, "name", MAX_NAME, &g->name);
	if (rc == 0)
		rc = text_member(r, body, "description", MAX_DESCRIPTION, &g->description);
	if (rc != 0)
		return rc;
	if (need_name && (g->name == NULL || g->name[0] == '\0'))
		return field_error(r, "name", "a name is required");
	if (g->name != NULL && g->name[0] == '\0')
		return field_error(r, "name", "must not be empty");
	if (attrs == NULL)
		return 0;
	if (!json_is_object(attrs) || json_object_size(attrs) > MAX_ATTRS)
		return field_error(r, "custom_attributes", "must be an object of strings");
	json_object_foreach(attrs, k, v) {
		if (!json_is_string(v) || json_string_length(v) > DLOG_MAX_DATA_VALUE_LEN ||
		    strlen(k) > DLOG_MAX_DATA_KEY_LEN || !dlog_text_valid(k, strlen(k)) ||
		    !dlog_text_valid(json_string_value(v), json_string_length(v)))
			return field_error(r, "custom_attributes",
					   "must be an object of short strings");
	}
	*attrs_out = json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS);
	if (*attrs_out == NULL)
		return dlog_http_error(r, DLOG_ENOMEM, "out of memory");
	g->custom_attributes = *attrs_out;
	return 0;
}

static json_t *body_object(struct dlog_req *r)
{
	json_error_t je;
	json_t *body = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &je);

	if (body == NULL || !json_is_object(body)) {
		json_decref(body);
		dlog_http_error(r, DLOG_EINVAL, "the body must be a JSON object");
		return NULL;
	}
	return body;
}

static int answer_group(struct dlog_req *r, const char *id)
{
	struct dlog_jw w;
	int rc;

	dlog_jw_init(&w, &r->out);
	rc = dlog_store_group_get(r->store, r->key.account_id, id, write_group, &w);
	if (rc == 0)
		rc = dlog_jw_finish(&w);
	if (rc == DLOG_ENOTFOUND)
		return dlog_http_error(r, rc, "no device group '%.64s'", id);
	if (rc != 0)
		return dlog_http_error(r, rc, "cannot read the group: %s",
				       dlog_store_errmsg(r->store));
	return 0;
}

static int store_failed(struct dlog_req *r, int rc)
{
	return dlog_http_error(r, rc, "%s", dlog_store_errmsg(r->store));
}

int dlog_api_groups_create(struct dlog_req *r)
{
	json_t *body = body_object(r);
	struct dlog_group g;
	char *attrs = NULL;
	uint8_t raw[16];
	int rc;

	if (body == NULL)
		return DLOG_EINVAL;
	rc = read_group(r, body, true, &g, &attrs);
	if (rc == 0 && (rc = dlog_random(raw, sizeof(raw))) != 0)
		dlog_http_error(r, rc, "no randomness");
	if (rc == 0) {
		dlog_hex_encode(raw, sizeof(raw), g.id);
		rc = dlog_store_group_create(r->store, r->key.account_id, &g);
		if (rc != 0)
			store_failed(r, rc);
	}
	if (rc == 0) {
		rc = answer_group(r, g.id);
		r->status = 201;
	}
	free(attrs);
	json_decref(body);
	return rc;
}

int dlog_api_groups_update(struct dlog_req *r)
{
	json_t *body = body_object(r);
	struct dlog_group g;
	char *attrs = NULL;
	int rc;

	if (body == NULL)
		return DLOG_EINVAL;
	rc = read_group(r, body, false, &g, &attrs);
	if (rc == 0) {
		rc = dlog_store_group_update(r->store, r->key.account_id, r->param, &g);
		if (rc != 0)
			store_failed(r, rc);
	}
	if (rc == 0)
		rc = answer_group(r, r->param);
	free(attrs);
	json_decref(body);
	return rc;
}

int dlog_api_groups_get(struct dlog_req *r)
{
	return answer_group(r, r->param);
}

int dlog_api_groups_delete(struct dlog_req *r)
{
	int rc = dlog_store_group_delete(r->store, r->key.account_id, r->param);

	if (rc != 0)
		return store_failed(r, rc);
	r->status = 204;
	return 0;
}

int dlog_api_groups_list(struct dlog_req *r)
{
	struct dlog_query q;
	struct dlog_query_error qe;
	struct dlog_jw w;
	bool has_more = false;
	int64_t total = 0;
	int rc = dlog_query_parse(r->query, r->query_len, DLOG_DIALECT_PLAIN, &q, &qe);

	if (rc != 0)
		return dlog_api_query_error(r, &qe, rc);
	dlog_jw_init(&w, &r->out);
	dlog_api_page_begin(&w, &q);
	rc = dlog_store_group_list(r->store, r->key.account_id, &q, write_group, &w, &has_more,
				   &total);
	rc = dlog_api_page_end(r, &w, &q, has_more, total, rc);
	dlog_query_done(&q);
	return rc;
}

int dlog_api_groups_devices(struct dlog_req *r)
{
	return dlog_api_devices_page(r, r->param);
}

/* POST .../devices/add/ and .../devices/remove/ with {"device_id": ...}: 204. */
static int membership(struct dlog_req *r, bool add)
{
	json_t *body = body_object(r);
	json_t *id = body ? json_object_get(body, "device_id") : NULL;
	int rc;

	if (body == NULL)
		return DLOG_EINVAL;
	if (!json_is_string(id) || json_string_length(id) == 0 ||
	    json_string_length(id) > DLOG_MAX_DEVICE_ID_LEN) {
		json_decref(body);
		return field_error(r, "device_id", "a device id is required");
	}
	rc = dlog_store_group_member(r->store, r->key.account_id, r->param,
				     json_string_value(id), add);
	json_decref(body);
	if (rc != 0)
		return store_failed(r, rc);
	r->status = 204;
	return 0;
}

int dlog_api_groups_add(struct dlog_req *r)
{
	return membership(r, true);
}

int dlog_api_groups_remove(struct dlog_req *r)
{
	return membership(r, false);
}
