/* Demo fleet generator; see demo.h. */
#include "demo/demo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"

#define DAY_US (86400LL * 1000000LL)
#define HOUR_US (3600LL * 1000000LL)
#define BATCH 5000
#define NCAMPAIGNS 3

struct gen_event {
	dlog_time t;
	unsigned device;
	const char *code;
	int campaign; /* -1 when none */
};

struct gen {
	uint64_t rng;
	struct gen_event *ev;
	size_t n, cap;
	char (*device_ids)[33];
	char campaign_ids[NCAMPAIGNS][33];
	unsigned fail_cursor; /* walks every client failure code in turn */
	int err;
};

static uint64_t next(struct gen *g)
{
	/* splitmix64: small, fast, and the same on every platform */
	uint64_t z = (g->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned pct(struct gen *g)
{
	return (unsigned)(next(g) % 100);
}

static dlog_time jitter(struct gen *g, dlog_time max)
{
	return max > 0 ? (dlog_time)(next(g) % (uint64_t)max) : 0;
}

static void hex_id(struct gen *g, char out[33])
{
	uint8_t raw[16];

	for (int i = 0; i < 2; i++) {
		uint64_t v = next(g);

		memcpy(raw + 8 * i, &v, 8);
	}
	dlog_hex_encode(raw, sizeof(raw), out);
}

static void emit(struct gen *g, dlog_time t, unsigned device, const char *code, int campaign)
{
	if (g->err != 0)
		return;
	if (g->n == g->cap) {
		size_t ncap = g->cap ? g->cap * 2 : 4096;
		struct gen_event *ne = realloc(g->ev, ncap * sizeof(*ne));

		if (ne == NULL) {
			g->err = DLOG_ENOMEM;
			return;
		}
		g->ev = ne;
		g->cap = ncap;
	}
	g->ev[g->n++] = (struct gen_event){t, device, code, campaign};
}

/* The next client failure code, so every UPD4_FAIL_* appears in each campaign. */
static const char *next_failure(struct gen *g)
{
	size_t n;
	const struct dlog_code *codes = dlog_catalog_codes(&n);

	for (size_t tries = 0; tries < n; tries++) {
		const struct dlog_code *c = &codes[g->fail_cursor++ % n];

		if (c->source == DLOG_SOURCE_CLIENT && c->mtype == DLOG_MTYPE_FAIL)
			return c->code;
	}
	return "UPD4_FAIL_41";
}

static void lifecycle(struct gen *g, unsigned d, dlog_time start, dlog_time end)
{
	dlog_time t = start + jitter(g, (end - start) / 3);

	emit(g, t, d, "SYS_106", -1);
	emit(g, t + jitter(g, 60 * 1000000LL) + 1000, d, "SYS_107", -1);
	/* re-registrations every few days */
	for (dlog_time r = t + 3 * DAY_US + jitter(g, 4 * DAY_US); r < end;
	     r += 3 * DAY_US + jitter(g, 6 * DAY_US)) {
		unsigned p = pct(g);

		if (p < 40)
			emit(g, r, d, "SYS_106", -1);
		else if (p < 45)
			emit(g, r, d, "SYS_100", -1);
	}
	if (pct(g) < 3)
		emit(g, end - jitter(g, 2 * DAY_US) - HOUR_US, d, "SYS_105", -1);
}

/* One device's path through campaign k starting at t. */
static void campaign_outcome(struct gen *g, unsigned d, int k, dlog_time t)
{
	unsigned p = pct(g);
	dlog_time done = t + HOUR_US + jitter(g, 2 * DAY_US);

	emit(g, t, d, "SYS_108", k);
	if (p < 70) {
		emit(g, done, d, "UPD2_OK_18", k);
		emit(g, done + 2000000, d, "SYS_112", k);
	} else if (p < 76) {
		emit(g, done, d, "SYS_110", k);
	} else if (p < 92) {
		emit(g, done, d, next_failure(g), k);
		emit(g, done + 2000000, d, "SYS_111", k);
	} else if (p < 94) {
		emit(g, done, d, "SYS_101", k);
	} else if (p < 95) {
		emit(g, done, d, "SYS_102", k);
	} else if (p < 97) {
		emit(g, done, d, "SYS_100", k);
		emit(g, done + HOUR_US, d, "UPD2_OK_18", k);
		emit(g, done + HOUR_US + 2000000, d, "SYS_112", k);
	} else if (k == NCAMPAIGNS - 1) {
		emit(g, done, d, p < 99 ? "SYS_103" : "SYS_104", k);
	} else {
		emit(g, done, d, "SYS_109", k);
	}
}

static void campaigns(struct gen *g, unsigned devices, dlog_time start, dlog_time end)
{
	static const unsigned reach[NCAMPAIGNS] = {60, 80, 90}; /* % of devices targeted */

	for (int k = 0; k < NCAMPAIGNS; k++) {
		/* campaigns start at 40 %, 60 % and 85 % of the period */
		static const unsigned at[NCAMPAIGNS] = {40, 60, 85};
		dlog_time t0 = start + (end - start) / 100 * at[k];

		hex_id(g, g->campaign_ids[k]);
		for (unsigned d = 0; d < devices; d++)
			if (pct(g) < reach[k])
				campaign_outcome(g, d, k, t0 + jitter(g, 6 * HOUR_US));
	}
}

static int by_time(const void *a, const void *b)
{
	const struct gen_event *x = a, *y = b;

	return (x->t > y->t) - (x->t < y->t);
}

static int append_all(struct gen *g, struct dlog_store *s, int64_t account_id, dlog_time now,
		      void (*progress)(void *, size_t, size_t), void *arg)
{
	struct dlog_event *batch = calloc(BATCH, sizeof(*batch));
	struct dlog_append_result *res = calloc(BATCH, sizeof(*res));
	int rc = 0;

	if (batch == NULL || res == NULL) {
		rc = DLOG_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < g->n && rc == 0; i += BATCH) {
		size_t m = g->n - i < BATCH ? g->n - i : BATCH;

		for (size_t j = 0; j < m; j++) {
			const struct gen_event *ge = &g->ev[i + j];
			const struct dlog_code *c = dlog_catalog_find(ge->code, strlen(ge->code));
			struct dlog_event *e = &batch[j];

			memset(e, 0, sizeof(*e));
			e->date_time = ge->t < now ? ge->t : now - 1000;
			e->device_id = g->device_ids[ge->device];
			e->event_type = c->code;
			e->mtype = c->mtype;
			e->category = c->category;
			e->description = c->text;
			e->state_change = c->state_change;
			e->campaign_id = ge->campaign >= 0 ? g->campaign_ids[ge->campaign] : NULL;
		}
		rc = dlog_store_append(s, account_id, batch, m, res, NULL);
		if (rc == 0 && progress != NULL)
			progress(arg, i + m, g->n);
	}
out:
	free(batch);
	free(res);
	return rc;
}

int dlog_demo_generate(struct dlog_store *s, int64_t account_id,
		       const struct dlog_demo_config *cfg, size_t *events_out,
		       void (*progress)(void *arg, size_t done, size_t total), void *arg)
{
	struct gen g;
	dlog_time now = dlog_time_now();
	dlog_time start = now - (dlog_time)cfg->days * DAY_US;
	int rc;

	*events_out = 0;
	if (cfg->devices < 1 || cfg->days < 1)
		return DLOG_EINVAL;
	memset(&g, 0, sizeof(g));
	g.rng = cfg->seed;
	g.device_ids = calloc(cfg->devices, sizeof(*g.device_ids));
	if (g.device_ids == NULL)
		return DLOG_ENOMEM;
	for (unsigned d = 0; d < cfg->devices; d++)
		hex_id(&g, g.device_ids[d]);
	for (unsigned d = 0; d < cfg->devices; d++)
		lifecycle(&g, d, start, now);
	campaigns(&g, cfg->devices, start, now);
	rc = g.err;
	if (rc == 0) {
		/* ids follow insertion order: insert in time order, as a live fleet would */
		qsort(g.ev, g.n, sizeof(*g.ev), by_time);
		rc = append_all(&g, s, account_id, now, progress, arg);
	}
	if (rc == 0)
		*events_out = g.n;
	free(g.ev);
	free(g.device_ids);
	return rc;
}
