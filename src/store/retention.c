/* Retention: a background thread of the server removes events older than N days.
 *
 * It works in bounded steps (dlog_store_expire: at most DLOG_RETENTION_BATCH rows per
 * transaction, or one PostgreSQL partition dropped) with a pause between steps, so ingest and
 * reads never wait behind it for long; once caught up it looks again every
 * DLOG_RETENTION_INTERVAL_S. Several instances on one PostgreSQL database may all run it: their
 * steps take turns (an advisory lock), the others skip. */
#include "store/store.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "base/limits.h"

struct dlog_retention {
	struct dlog_store *store;
	int64_t keep_us;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
};

/* Wait ms milliseconds or until stopped; false when stopping. */
static bool pause_ms(struct dlog_retention *r, int64_t ms)
{
	struct timespec until;
	bool go_on;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&r->lock);
	while (!r->stopping && pthread_cond_timedwait(&r->wake, &r->lock, &until) == 0)
		;
	go_on = !r->stopping;
	pthread_mutex_unlock(&r->lock);
	return go_on;
}

/* One pass: steps until nothing older than the cutoff is left (or a store error). */
static void pass(struct dlog_retention *r)
{
	dlog_time cutoff = dlog_time_now() - r->keep_us;
	char when[DLOG_TIME_STRLEN];
	int64_t total = 0;
	bool more = true;

	while (more) {
		int64_t n = 0;
		int rc = dlog_store_expire(r->store, cutoff, DLOG_RETENTION_BATCH, &n, &more);

		if (rc != 0) {
			dlog_log(DLOG_LOG_WARNING, "retention: %s; trying again later",
			         dlog_store_errmsg(r->store));
			break;
		}
		total += n;
		/* a step that could not work (a lock was busy) waits longer than one that did */
		if (more && !pause_ms(r, n > 0 ? DLOG_RETENTION_PAUSE_MS : 1000))
			break;
	}
	if (total > 0)
		dlog_log(DLOG_LOG_INFO, "retention: removed %lld events created before %s",
		         (long long)total, dlog_time_format(cutoff, when));
}

static void *retention_main(void *arg)
{
	struct dlog_retention *r = arg;

	do
		pass(r);
	while (pause_ms(r, (int64_t)DLOG_RETENTION_INTERVAL_S * 1000));
	return NULL;
}

int dlog_retention_start(struct dlog_store *s, int days, struct dlog_retention **out)
{
	struct dlog_retention *r;

	*out = NULL;
	if (days < 1)
		return DLOG_EINVAL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return DLOG_ENOMEM;
	r->store = s;
	r->keep_us = (int64_t)days * 86400 * 1000000;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	if (pthread_create(&r->thread, NULL, retention_main, r) != 0) {
		pthread_cond_destroy(&r->wake);
		pthread_mutex_destroy(&r->lock);
		free(r);
		return DLOG_ENOMEM;
	}
	*out = r;
	return 0;
}

void dlog_retention_stop(struct dlog_retention *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	/* a step in progress finishes first: it is short by construction */
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
