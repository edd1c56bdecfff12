/* /v3/api-keys: access keys managed over the API by an admin key, within its own account.
 *
 * Shapes follow the original API's api-key object where they fit; "scope" is ours. The secret
 * is in the create answer only: the store keeps its SHA-256 (auth.c), so it cannot be shown
 * again, and it is never logged (the request log has no bodies). A revoked key fails its very
 * next request: every request looks its key up in the store, there is no cache to expire. */
#include "api/api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "base/limits.h"
#include "query/query.h"

static void key_json(struct dlog_jw *w, const struct dlog_key_info *k, const char *secret)
{
	dlog_time updated = k->revoked_at ? k->revoked_at : k->created_at;

	dlog_jw_obj(w);
	dlog_jw_kstr(w, "object", "api-key");
	dlog_jw_kstr(w, "id", k->key_id);
	dlog_jw_kstr(w, "name", k->name);
	dlog_jw_kstr(w, "account", k->account);
	dlog_jw_kstr(w, "scope", dlog_scope_name(k->scope));
	dlog_jw_kstr(w, "status", k->revoked_at ? "INACTIVE" : "ACTIVE");
	dlog_jw_ktime(w, "created_at", k->created_at);
	dlog_jw_ktime(w, "updated_at", updated);
	dlog_jw_key(w, "revoked_at");
	if (k->revoked_at)
		dlog_jw_time(w, k->revoked_at);
	else
		dlog_jw_null(w);
	dlog_jw_ktime(w, "etag", updated);
	if (secret != NULL)
		dlog_jw_kstr(w, "key", secret);
	dlog_jw_obj_end(w);
}

/* The account's keys, oldest first. */
struct key_set {
	struct dlog_key_info *k;
	size_t n, cap;
	size_t active;
};

static int collect(void *arg, const struct dlog_key_info *k)
{
	struct key_set *set = arg;

	if (set->n == DLOG_MAX_LISTED_KEYS)
		return DLOG_ETOOBIG;
	if (set->n == set->cap) {
		size_t ncap = set->cap ? set->cap * 2 : 16;
		struct dlog_key_info *nk = realloc(set->k, ncap * sizeof(*nk));

		if (nk == NULL)
			return DLOG_ENOMEM;
		set->k = nk;
		set->cap = ncap;
	}
	set->k[set->n++] = *k;
	set->active += k->revoked_at == 0;
	return 0;
}

static int load_keys(struct dlog_req *r, struct key_set *set)
{
	int rc;

	memset(set, 0, sizeof(*set));
	rc = dlog_store_key_list(r->store, r->key.account_id, collect, set);
	if (rc != 0)
		dlog_http_error(r, rc, "cannot list the keys: %s",
		                rc == DLOG_ENOMEM || rc == DLOG_ETOOBIG
		                    ? dlog_strerror(rc)
		                    : dlog_store_errmsg(r->store));
	return rc;
}

/* Index of the first key of the page: after the key named by after, in the order asked. A key
 * id that is not (or no longer) in the account ends the listing: ids are random, so there is
 * no position to resume from. */
static size_t page_start(const struct key_set *set, const struct dlog_query *q)
{
	if (!q->has_after)
		return 0;
	for (size_t i = 0; i < set->n; i++) {
		size_t at = q->order == DLOG_ORDER_DESC ? set->n - 1 - i : i;

		if (strcmp(set->k[at].key_id, q->after_key) == 0)
			return i + 1;
	}
	return set->n;
}

int dlog_api_keys_list(struct dlog_req *r)
{
	struct dlog_query q;
	struct dlog_query_error qe;
	struct key_set set;
	struct dlog_jw w;
	size_t i, end;
	int rc = dlog_query_parse(r->query, r->query_len, DLOG_DIALECT_PLAIN, &q, &qe);

	if (rc != 0)
		return dlog_api_query_error(r, &qe, rc);
	rc = load_keys(r, &set);
	if (rc != 0)
		goto done;
	i = page_start(&set, &q);
	end = i + (size_t)q.limit < set.n ? i + (size_t)q.limit : set.n;
	dlog_jw_init(&w, &r->out);
	dlog_api_page_begin(&w, &q);
	for (; i < end; i++)
		key_json(&w, &set.k[q.order == DLOG_ORDER_DESC ? set.n - 1 - i : i], NULL);
	rc = dlog_api_page_end(r, &w, &q, end < set.n, (int64_t)set.n, 0);
done:
	free(set.k);
	dlog_query_done(&q);
	return rc;
}

static int field_error(struct dlog_req *r, const char *name, const char *msg)
{
	dlog_http_error_field(r, name, "%s", msg);
	return dlog_http_error(r, DLOG_EINVAL, "%s: %s", name, msg);
}

/* {"name": "...", "scope": "read"|"write"|"admin"}: the label is required (the original API
 * requires it too); the scope defaults to the least, read. */
static int read_create(struct dlog_req *r, json_t *body, const char **name, enum dlog_scope *scope)
{
	json_t *n = json_object_get(body, "name"), *s = json_object_get(body, "scope");

	if (!json_is_string(n) || json_string_length(n) == 0 ||
	    json_string_length(n) >= sizeof(((struct dlog_key_info *)0)->name) ||
	    !dlog_text_valid(json_string_value(n), json_string_length(n)))
		return field_error(r, "name", "a name of 1 to 64 bytes of text is required");
	*name = json_string_value(n);
	*scope = DLOG_SCOPE_READ;
	if (s != NULL &&
	    (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s) ||
	     dlog_scope_parse(json_string_value(s), scope) != 0))
		return field_error(r, "scope", "must be read, write or admin");
	return 0;
}

int dlog_api_keys_create(struct dlog_req *r)
{
	json_error_t je;
	json_t *body = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &je);
	char secret[DLOG_KEY_STRLEN];
	struct dlog_key_info k;
	struct key_set set = {0};
	enum dlog_scope scope = DLOG_SCOPE_READ;
	const char *name = NULL;
	struct dlog_jw w;
	int rc;

	if (body == NULL || !json_is_object(body)) {
		rc = dlog_http_error(r, DLOG_EINVAL, "the body must be a JSON object");
		goto done;
	}
	rc = read_create(r, body, &name, &scope);
	if (rc == 0)
		rc = load_keys(r, &set);
	if (rc != 0)
		goto done;
	if (set.active >= DLOG_MAX_ACTIVE_KEYS) {
		rc = dlog_http_error(r, DLOG_EINVAL,
		                     "the account already has %d active keys; "
		                     "revoke some first",
		                     DLOG_MAX_ACTIVE_KEYS);
		goto done;
	}
	rc = dlog_auth_key_create(r->store, r->key.account_id, scope, name, secret, &k);
	if (rc != 0) {
		dlog_http_error(r, rc, "cannot create the key: %s",
		                rc == DLOG_EIO ? "no randomness" : dlog_store_errmsg(r->store));
		goto done;
	}
	snprintf(k.account, sizeof(k.account), "%s", r->key.account);
	dlog_jw_init(&w, &r->out);
	key_json(&w, &k, secret);
	rc = dlog_jw_finish(&w);
	r->status = 201;
done:
	/* the only copy of the secret leaves in the answer buffer */
	memset(secret, 0, sizeof(secret));
	free(set.k);
	json_decref(body);
	return rc;
}

int dlog_api_keys_me(struct dlog_req *r)
{
	struct dlog_jw w;

	dlog_jw_init(&w, &r->out);
	key_json(&w, &r->key, NULL);
	return dlog_jw_finish(&w);
}

/* The key r->param of the caller's account, into *out. 404 for any other id, so an admin
 * cannot tell another account's key ids from made-up ones. */
static int find_key(struct dlog_req *r, struct dlog_key_info *out)
{
	struct key_set set;
	int rc = load_keys(r, &set);

	if (rc != 0)
		return rc;
	rc = DLOG_ENOTFOUND;
	for (size_t i = 0; i < set.n && rc != 0; i++)
		if (strcmp(set.k[i].key_id, r->param) == 0) {
			*out = set.k[i];
			rc = 0;
		}
	free(set.k);
	if (rc != 0)
		return dlog_http_error(r, rc, "no api-key '%.40s' in this account", r->param);
	return 0;
}

int dlog_api_keys_get(struct dlog_req *r)
{
	struct dlog_key_info k;
	struct dlog_jw w;
	int rc = find_key(r, &k);

	if (rc != 0)
		return rc;
	dlog_jw_init(&w, &r->out);
	key_json(&w, &k, NULL);
	return dlog_jw_finish(&w);
}

/* DELETE: revoke (the row stays, INACTIVE, so logs that name the key id can still be traced to
 * it). Idempotent: revoking a revoked key answers 204 again. */
int dlog_api_keys_revoke(struct dlog_req *r)
{
	struct dlog_key_info k;
	int rc = find_key(r, &k);

	if (rc != 0)
		return rc;
	rc = dlog_store_key_revoke(r->store, r->key.account_id, k.key_id);
	if (rc != 0)
		return dlog_http_error(r, rc, "cannot revoke the key: %s",
		                       dlog_store_errmsg(r->store));
	r->status = 204;
	return 0;
}
