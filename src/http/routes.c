/* The route table and the checks every request passes before its handler runs. */
#include "http/http_int.h"

#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "auth/auth.h"
#include "base/limits.h"

/* Order matters only where a literal segment and "*" compete: literal rows first. */
static const struct dlog_route routes[] = {
	{"GET", "/v3/device-events", dlog_api_events_list, true, DLOG_SCOPE_READ, BODY_NONE},
	{"POST", "/v3/device-events", dlog_api_events_ingest, true, DLOG_SCOPE_WRITE, BODY_EVENTS},
	{"GET", "/v3/device-events/stream", dlog_api_events_stream, true, DLOG_SCOPE_READ,
	 BODY_NONE},
	{"GET", "/v3/device-events/summary", dlog_api_events_summary, true, DLOG_SCOPE_READ,
	 BODY_NONE},
	{"GET", "/v3/device-events/export", dlog_api_events_export, true, DLOG_SCOPE_READ,
	 BODY_NONE},
	{"GET", "/v3/device-events/*", dlog_api_events_get, true, DLOG_SCOPE_READ, BODY_NONE},
	{"GET", "/v3/devicelog", dlog_api_devicelog_list, true, DLOG_SCOPE_READ, BODY_NONE},
	{"GET", "/v3/devicelog/*", dlog_api_events_get, true, DLOG_SCOPE_READ, BODY_NONE},
	{"GET", "/v3/device-event-codes", dlog_api_codes_list, true, DLOG_SCOPE_READ, BODY_NONE},
	{"GET", "/v3/device-event-codes/*", dlog_api_codes_get, true, DLOG_SCOPE_READ, BODY_NONE},
	{"GET", "/v3/devices", dlog_api_devices_list, true, DLOG_SCOPE_READ, BODY_NONE},
	{"POST", "/v3/devices", dlog_api_devices_create, true, DLOG_SCOPE_WRITE, BODY_JSON},
	{"GET", "/v3/devices/*", dlog_api_devices_get, true, DLOG_SCOPE_READ, BODY_NONE},
	{"DELETE", "/v3/devices/*", dlog_api_devices_delete, true, DLOG_SCOPE_WRITE, BODY_NONE},
	{"GET", "/v3/device-groups", dlog_api_groups_list, true, DLOG_SCOPE_READ, BODY_NONE},
	{"POST", "/v3/device-groups", dlog_api_groups_create, true, DLOG_SCOPE_WRITE, BODY_JSON},
	{"GET", "/v3/device-groups/*", dlog_api_groups_get, true, DLOG_SCOPE_READ, BODY_NONE},
	{"PUT", "/v3/device-groups/*", dlog_api_groups_update, true, DLOG_SCOPE_WRITE, BODY_JSON},
	{"DELETE", "/v3/device-groups/*", dlog_api_groups_delete, true, DLOG_SCOPE_WRITE,
	 BODY_NONE},
	{"GET", "/v3/device-groups/*/devices", dlog_api_groups_devices, true, DLOG_SCOPE_READ,
	 BODY_NONE},
	{"POST", "/v3/device-groups/*/devices/add", dlog_api_groups_add, true, DLOG_SCOPE_WRITE,
	 BODY_JSON},
	{"POST", "/v3/device-groups/*/devices/remove", dlog_api_groups_remove, true,
	 DLOG_SCOPE_WRITE, BODY_JSON},
	{"GET", "/v3/update-campaigns/*/statistics", dlog_api_campaign_statistics, true,
	 DLOG_SCOPE_READ, BODY_NONE},
	{"GET", "/v3/update-campaigns/*/statistics/*", dlog_api_campaign_status, true,
	 DLOG_SCOPE_READ, BODY_NONE},
	{"GET", "/v3/update-campaigns/*/statistics/*/event_types", dlog_api_campaign_event_types,
	 true, DLOG_SCOPE_READ, BODY_NONE},
	{"GET", "/v3/update-campaigns/*/statistics/*/event_types/*", dlog_api_campaign_event_type,
	 true, DLOG_SCOPE_READ, BODY_NONE},
	{"GET", "/v3/openapi.json", dlog_api_openapi, false, DLOG_SCOPE_READ, BODY_NONE},
	{"GET", "/v3/api-keys", dlog_api_keys_list, true, DLOG_SCOPE_ADMIN, BODY_NONE},
	{"POST", "/v3/api-keys", dlog_api_keys_create, true, DLOG_SCOPE_ADMIN, BODY_JSON},
	{"GET", "/v3/api-keys/me", dlog_api_keys_me, true, DLOG_SCOPE_READ, BODY_NONE},
	{"GET", "/v3/api-keys/*", dlog_api_keys_get, true, DLOG_SCOPE_ADMIN, BODY_NONE},
	{"DELETE", "/v3/api-keys/*", dlog_api_keys_revoke, true, DLOG_SCOPE_ADMIN, BODY_NONE},
	{"GET", "/health", dlog_api_health, false, DLOG_SCOPE_READ, BODY_NONE},
	/* server-wide numbers cross accounts: admin only here; --metrics-listen serves them
	 * without a key on an address of the operator's choosing */
	{"GET", "/metrics", http__metrics_page, true, DLOG_SCOPE_ADMIN, BODY_NONE},
	{"GET", "/", http__static, false, DLOG_SCOPE_READ, BODY_NONE},
	{"GET", "/*", http__static, false, DLOG_SCOPE_READ, BODY_NONE},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

size_t http__route_count(void)
{
	return NROUTES;
}

const struct dlog_route *http__route_at(size_t i)
{
	return i < NROUTES ? &routes[i] : NULL;
}

size_t http__route_index(const struct dlog_route *rt)
{
	return rt >= routes && rt < routes + NROUTES ? (size_t)(rt - routes) : NROUTES;
}

/* Does path match pattern? Segments compare literally, "*" takes one non-empty segment (up to
 * three are captured, start and length). One trailing '/' is optional. */
struct capture {
	const char *at[3];
	size_t len[3];
	int n;
};

static bool match(const char *pattern, const char *path, struct capture *cap)
{
	const char *p = pattern, *s = path;

	cap->n = 0;
	while (*p != '\0') {
		if (*p == '*') {
			const char *end = strchr(s, '/');
			size_t n = end ? (size_t)(end - s) : strlen(s);

			if (n == 0 || cap->n == 3)
				return false;
			cap->at[cap->n] = s;
			cap->len[cap->n++] = n;
			s += n;
			p++;
			continue;
		}
		if (*p != *s)
			return false;
		p++;
		s++;
	}
	return *s == '\0' || (s[0] == '/' && s[1] == '\0');
}

/* Route for method+path; allow lists the methods the path has (for a 405). */
static const struct dlog_route *find_route(struct dlog_req *r, char *allow, size_t alen,
					   bool *path_known)
{
	const struct dlog_route *found = NULL;
	struct capture cap, fcap = {0};

	*path_known = false;
	allow[0] = '\0';
	for (size_t i = 0; i < NROUTES; i++) {
		if (!match(routes[i].pattern, r->path, &cap))
			continue;
		if (strstr(allow, routes[i].method) == NULL) {
			size_t used = strlen(allow);

			snprintf(allow + used, alen - used, "%s%s", used ? ", " : "",
				 routes[i].method);
		}
		*path_known = true;
		if (found == NULL && strcmp(routes[i].method, r->method) == 0) {
			found = &routes[i];
			fcap = cap;
		}
	}
	/* the path is our own copy: cut the parameters out in place */
	for (int i = 0; found != NULL && i < fcap.n; i++) {
		((char *)fcap.at[i])[fcap.len[i]] = '\0';
		r->params[i] = fcap.at[i];
	}
	r->param = r->params[0];
	return found;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
				    size_t key_size, const char *value, size_t value_size)
{
	struct dlog_req *r = cls;

	(void)kind;
	(void)key;
	(void)value;
	r->header_bytes += key_size + value_size + 4;
	return MHD_YES;
}

static bool type_is(const char *ct, const char *want)
{
	size_t n = strlen(want);

	return ct != NULL && strncasecmp(ct, want, n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static int check_body(struct dlog_req *r)
{
	const char *cl = dlog_http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH, NULL);
	size_t max = r->route->body == BODY_EVENTS ? DLOG_MAX_BODY
		     : r->route->body == BODY_JSON ? DLOG_MAX_SMALL_BODY
						   : 0;
	int64_t n = 0;

	if (cl != NULL && dlog_parse_i64(cl, strlen(cl), 0, INT64_MAX, &n) == 0 &&
	    (uint64_t)n > max)
		return dlog_http_error(r, DLOG_ETOOBIG, "request body of %lld bytes exceeds %zu",
				       (long long)n, max);
	r->body.max = max;
	if (r->route->body == BODY_NONE)
		return 0;
	r->content_type = dlog_http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, NULL);
	if (type_is(r->content_type, "application/json") ||
	    (r->route->body == BODY_EVENTS && type_is(r->content_type, "application/x-ndjson")))
		return 0;
	return dlog_http_error(r, DLOG_EMEDIA, "Content-Type must be application/json%s",
			       r->route->body == BODY_EVENTS ? " or application/x-ndjson" : "");
}

static int check_auth(struct dlog_req *r)
{
	size_t len;
	const char *h = dlog_http_header(r, MHD_HTTP_HEADER_AUTHORIZATION, &len);
	int rc;

	if (h != NULL && len > DLOG_MAX_KEY_LEN + 16)
		h = NULL;
	rc = dlog_auth_check(r->store, h, len, &r->key);
	if (rc == DLOG_EAUTH)
		return dlog_http_error(r, rc, h ? "the access key is not valid or was revoked"
						: "missing Authorization: Bearer <access key>");
	if (rc != 0)
		return dlog_http_error(r, rc, "cannot check the access key: %s",
				       dlog_store_errmsg(r->store));
	if (r->key.scope < r->route->scope)
		return dlog_http_error(r, DLOG_EFORBIDDEN, "this key's scope '%s' does not allow it "
				       "(needs '%s')", dlog_scope_name(r->key.scope),
				       dlog_scope_name(r->route->scope));
	return 0;
}

/* Take a token for name from the per-key or per-address bucket; 429 when there is none. */
static int limit(struct dlog_req *r, bool per_key, const char *name)
{
	unsigned wait = http__ratelimit_take(http__ratelimit(r->srv, per_key), name, true);

	if (wait == 0)
		return 0;
	http__metrics_add(http__metrics(r->srv),
			  per_key ? HTTP_M_RATE_LIMITED_KEY : HTTP_M_RATE_LIMITED_IP, 1);
	r->retry_after = wait;
	r->rate_limited = true;
	r->nfields = 0;
	r->failed = false;
	return dlog_http_error(r, DLOG_ERATE, "too many requests %s; retry in %u s",
			       per_key ? "with this access key" : "from this address without a key",
			       wait);
}

/* A request that needs no key (the portal, /health, an unknown path): cheaper to serve, open
 * to anyone, so the tighter caps and the per-address bucket apply. */
static void begin_open(struct dlog_req *r, bool known)
{
	if (limit(r, false, r->client) != 0)
		return;
	if (r->query_len > DLOG_MAX_QUERY_LEN_UNAUTH) {
		dlog_http_error(r, DLOG_EURITOOLONG, "query string longer than %d bytes",
				DLOG_MAX_QUERY_LEN_UNAUTH);
		return;
	}
	if (r->header_bytes > DLOG_MAX_HEADER_BYTES_UNAUTH) {
		dlog_http_error(r, DLOG_EHDRTOOBIG, "request headers exceed %d bytes",
				DLOG_MAX_HEADER_BYTES_UNAUTH);
		return;
	}
	if (r->route != NULL) {
		check_body(r);
		return;
	}
	if (!known) {
		dlog_http_error(r, DLOG_ENOTFOUND, "no such resource: %s", r->path);
		return;
	}
	r->allow = r->allow_buf;
	dlog_http_error(r, DLOG_EMETHOD, "method %s is not supported here; allowed: %s", r->method,
			r->allow_buf);
}

void http__begin(struct dlog_req *r)
{
	bool known;

	if (r->query_len > DLOG_MAX_QUERY_LEN) {
		dlog_http_error(r, DLOG_EURITOOLONG, "query string longer than %d bytes",
				DLOG_MAX_QUERY_LEN);
		return;
	}
	MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, count_header, r);
	if (r->header_bytes > DLOG_MAX_HEADER_BYTES) {
		dlog_http_error(r, DLOG_EHDRTOOBIG, "request headers exceed %d bytes",
				DLOG_MAX_HEADER_BYTES);
		return;
	}
	r->route = find_route(r, r->allow_buf, sizeof(r->allow_buf), &known);
	if (r->route == NULL || !r->route->auth) {
		begin_open(r, known);
		return;
	}
	/* A failed authentication is charged to the address, and past its budget answered 429:
	 * guessing keys costs the guesser time. A valid key is charged to the key alone, so one
	 * address serving many keys (NAT, a proxy) is not throttled as one client. */
	if (check_auth(r) != 0) {
		if (r->err == DLOG_EAUTH)
			limit(r, false, r->client);
		return;
	}
	if (limit(r, true, r->key.key_id) != 0)
		return;
	check_body(r);
}

int http__json_shape(const char *p, size_t n, unsigned max_depth, size_t max_values, char *why,
		     size_t whylen)
{
	unsigned depth = 0;
	size_t values = 0;
	bool in_str = false;

	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (in_str) {
			if (c == '\\')
				i++; /* the escaped byte cannot end the string */
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max_depth) {
				snprintf(why, whylen, "JSON nested deeper than %u levels", max_depth);
				return DLOG_EINVAL;
			}
			values++;
		} else if (c == '}' || c == ']') {
			depth -= depth > 0; /* unbalanced: the parser will say so */
		} else if (c == ',' || c == ':') {
			values++;
		}
		if (values > max_values) {
			snprintf(why, whylen, "more than %zu JSON values in one body", max_values);
			return DLOG_EINVAL;
		}
	}
	return 0;
}

/* A body is checked for its shape before any parser builds a tree of it: nesting and value
 * count bound the parser's memory, which the byte size alone does not (limits.h). */
static int check_shape(struct dlog_req *r)
{
	char why[96];

	if (r->route->body == BODY_NONE || r->body.len == 0)
		return 0;
	if (http__json_shape(r->body.data, r->body.len, DLOG_MAX_JSON_DEPTH, DLOG_MAX_JSON_VALUES,
			     why, sizeof(why)) == 0)
		return 0;
	dlog_http_error_field(r, "body", "%s", why);
	return dlog_http_error(r, DLOG_EINVAL, "body: %s", why);
}

void http__dispatch(struct dlog_req *r)
{
	int rc = check_shape(r);

	if (rc != 0)
		return;
	rc = r->route->fn(r);
	if (rc != 0 && r->err == 0)
		dlog_http_error(r, rc, "%s", dlog_strerror(rc));
}
