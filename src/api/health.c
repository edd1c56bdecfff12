/* GET /health: for load balancers and service managers. No key, no detail: a probe learns
 * whether this instance can serve, nothing about the data or the version. */
#include "api/api.h"

#include <string.h>

int dlog_api_health(struct dlog_req *r)
{
	uint64_t seq;

	/* the cheapest read the store has: it fails when the database is gone or unreachable */
	if (dlog_store_last_seq(r->store, &seq) != 0) {
		r->retry_after = 5;
		return dlog_http_error(r, DLOG_EUNAVAIL, "the store is not answering");
	}
	r->status = 200;
	dlog_buf_reset(&r->out);
	return dlog_buf_adds(&r->out, "{\"status\":\"ok\"}");
}
