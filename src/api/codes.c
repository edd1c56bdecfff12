/* GET /v3/device-event-codes/ and /v3/device-event-codes/{code}/: the catalog. */
#include "api/api.h"

#include <string.h>

#include "catalog/catalog.h"

static void code_json(struct dlog_jw *w, const struct dlog_code *c)
{
	const struct dlog_category *cat = dlog_catalog_category_find(c->category,
								     strlen(c->category));

	dlog_jw_obj(w);
	dlog_jw_kstr(w, "object", "device-event-code");
	dlog_jw_kstr(w, "code", c->code);
	dlog_jw_kstr(w, "event_type_description", dlog_mtype_name(c->mtype));
	dlog_jw_kstr(w, "event_type_category", c->category);
	dlog_jw_kstr(w, "category_summary", cat ? cat->summary : "");
	dlog_jw_kstr(w, "category_reason", cat ? cat->reason : "");
	dlog_jw_kstr(w, "description", c->text);
	dlog_jw_kstr(w, "explanation", c->explanation);
	dlog_jw_kstr(w, "corrective_action", c->action);
	dlog_jw_kstr(w, "source", c->source == DLOG_SOURCE_SERVICE ? "service" : "client");
	dlog_jw_kbool(w, "state_change", c->state_change);
	dlog_jw_obj_end(w);
}

int dlog_api_codes_list(struct dlog_req *r)
{
	size_t n;
	const struct dlog_code *codes = dlog_catalog_codes(&n);
	struct dlog_jw w;

	dlog_jw_init(&w, &r->out);
	dlog_jw_obj(&w);
	dlog_jw_kstr(&w, "object", "list");
	dlog_jw_kint(&w, "limit", (int64_t)n);
	dlog_jw_kstr(&w, "order", "ASC");
	dlog_jw_kstr(&w, "after", NULL);
	dlog_jw_kbool(&w, "has_more", false);
	dlog_jw_kint(&w, "total_count", (int64_t)n);
	dlog_jw_key(&w, "data");
	dlog_jw_arr(&w);
	for (size_t i = 0; i < n; i++)
		code_json(&w, &codes[i]);
	dlog_jw_arr_end(&w);
	dlog_jw_obj_end(&w);
	return dlog_jw_finish(&w);
}

int dlog_api_codes_get(struct dlog_req *r)
{
	const struct dlog_code *c = dlog_catalog_find(r->param, strlen(r->param));
	struct dlog_jw w;

	if (c == NULL)
		return dlog_http_error(r, DLOG_ENOTFOUND, "no event code '%.100s'", r->param);
	dlog_jw_init(&w, &r->out);
	code_json(&w, c);
	return dlog_jw_finish(&w);
}
