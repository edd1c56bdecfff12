/* demo: a realistic, deterministic fleet history for `make run` and for tests.
 *
 * Devices register and bootstrap, some re-register, a few are deregistered or unreachable;
 * three update campaigns run with SUCCESS/SKIPPED/FAIL mixes that use every failure code of
 * the catalog. Ids are 32 hex, as in the original service. */
#ifndef DLOG_DEMO_H
#define DLOG_DEMO_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct dlog_demo_config {
	unsigned devices; /* >= 1 */
	unsigned days;    /* >= 1: the history ends now and starts this many days ago */
	uint64_t seed;    /* same seed, same fleet (apart from the end time) */
};

/* Generate and append the fleet for account_id. *events_out gets the number appended.
 * progress (may be NULL) is called after every batch with the running count. */
int dlog_demo_generate(struct dlog_store *s, int64_t account_id,
		       const struct dlog_demo_config *cfg, size_t *events_out,
		       void (*progress)(void *arg, size_t done, size_t total), void *arg);

#endif
