/* Rate limits: one token bucket per access key and one per client address.
 *
 * A bucket holds up to `burst` tokens and gains `rate` per second; a request takes one, and a
 * request finding less than one is answered 429 with the seconds until one is back. Buckets live
 * in a fixed table (DLOG_RATE_TABLE entries: memory is bounded whatever the number of clients)
 * split into shards, each with its own lock, so daemon threads rarely wait for each other. A
 * name hashes to a short probe window inside one shard; when every slot of the window holds
 * another name, the bucket idle longest is taken over (its owner comes back to a full bucket:
 * generous, never stricter than configured). */
#include "http/http_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"

#define SHARDS 64
#define PROBE 8
#define NAME_MAX_LEN 47 /* a key id (32 hex) or an IPv6 text (45) */

struct bucket {
	char name[NAME_MAX_LEN + 1]; /* "" when free */
	double tokens;
	dlog_time last;
};

struct shard {
	pthread_mutex_t lock;
	struct bucket *b;
	size_t n;
};

struct http_ratelimit {
	double rate, burst;
	struct shard shard[SHARDS];
};

/* FNV-1a: names are short; an attacker choosing many addresses that collide only evicts
 * buckets, which makes the limiter more lenient, never stuck. */
static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

struct http_ratelimit *http__ratelimit_new(unsigned rate, unsigned burst)
{
	struct http_ratelimit *rl = calloc(1, sizeof(*rl));
	size_t per = DLOG_RATE_TABLE / SHARDS;

	if (rl == NULL)
		return NULL;
	rl->rate = rate;
	rl->burst = burst > 0 ? burst : 1;
	for (size_t i = 0; i < SHARDS; i++) {
		pthread_mutex_init(&rl->shard[i].lock, NULL);
		rl->shard[i].n = per;
		rl->shard[i].b = calloc(per, sizeof(struct bucket));
		if (rl->shard[i].b == NULL) {
			http__ratelimit_free(rl);
			return NULL;
		}
	}
	return rl;
}

void http__ratelimit_free(struct http_ratelimit *rl)
{
	if (rl == NULL)
		return;
	for (size_t i = 0; i < SHARDS; i++) {
		pthread_mutex_destroy(&rl->shard[i].lock);
		free(rl->shard[i].b);
	}
	free(rl);
}

/* The bucket of name in shard sh, claimed (full) when new. */
static struct bucket *find(struct http_ratelimit *rl, struct shard *sh, uint64_t h,
                           const char *name, dlog_time now)
{
	struct bucket *oldest = NULL;

	for (size_t i = 0; i < PROBE; i++) {
		struct bucket *b = &sh->b[(h + i) % sh->n];

		/* names are cut to the bucket's size when stored: compare what was kept */
		if (b->name[0] != '\0' && strncmp(b->name, name, NAME_MAX_LEN) == 0)
			return b;
		if (oldest == NULL || b->name[0] == '\0' ||
		    (oldest->name[0] != '\0' && b->last < oldest->last))
			oldest = b;
	}
	snprintf(oldest->name, sizeof(oldest->name), "%s", name);
	oldest->tokens = rl->burst;
	oldest->last = now;
	return oldest;
}

static void refill(struct http_ratelimit *rl, struct bucket *b, dlog_time now)
{
	if (now > b->last) {
		b->tokens += rl->rate * (double)(now - b->last) / 1e6;
		if (b->tokens > rl->burst)
			b->tokens = rl->burst;
	}
	b->last = now;
}

unsigned http__ratelimit_take(struct http_ratelimit *rl, const char *name, bool take)
{
	uint64_t h;
	struct shard *sh;
	struct bucket *b;
	dlog_time now = dlog_time_now();
	unsigned wait = 0;

	if (rl == NULL || rl->rate <= 0)
		return 0; /* limiting off */
	h = hash(name);
	sh = &rl->shard[h % SHARDS];
	pthread_mutex_lock(&sh->lock);
	b = find(rl, sh, h / SHARDS, name, now);
	refill(rl, b, now);
	if (b->tokens >= 1.0) {
		if (take)
			b->tokens -= 1.0;
	} else {
		/* whole seconds until one token is back, rounded up, at least 1 (Retry-After is
		 * in seconds) */
		double secs = (1.0 - b->tokens) / rl->rate;

		if (secs >= DLOG_RATE_RETRY_MAX_S)
			wait = DLOG_RATE_RETRY_MAX_S;
		else
			wait = (unsigned)secs + ((double)(unsigned)secs < secs ? 1 : 0);
		if (wait < 1)
			wait = 1;
	}
	pthread_mutex_unlock(&sh->lock);
	return wait;
}
