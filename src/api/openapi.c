/* GET /v3/openapi.json: the API description, docs/openapi.json embedded at build time (Makefile,
 * scripts/embed-file.sh). One source: the document served is the document in the repository,
 * and tests/integration/openapi.test.mjs checks it against the route table and the daemon. */
#include "api/api.h"

/* build/gen/openapi_doc.c */
extern const unsigned char dlog_openapi_json[];
extern const size_t dlog_openapi_json_len;

int dlog_api_openapi(struct dlog_req *r)
{
	int rc = dlog_buf_add(&r->out, dlog_openapi_json, dlog_openapi_json_len);

	if (rc != 0)
		return dlog_http_error(r, rc, "cannot answer the API description");
	r->resp_type = "application/json";
	return 0;
}
