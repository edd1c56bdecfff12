/* The store's public wrappers: pick a backend by URL scheme, then forward. */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"

static const struct {
	const char *prefix;
	const struct dlog_store_ops *ops;
	bool keep_prefix; /* the backend wants the whole URL (libpq parses it) */
} backends[] = {
	{"sqlite:", &store__sqlite_ops, false},
	{"postgresql://", &store__pg_ops, true},
	{"postgres://", &store__pg_ops, true},
};

static const char *const scope_names[] = {"read", "write", "admin"};

const char *dlog_scope_name(enum dlog_scope s)
{
	if ((unsigned)s < sizeof(scope_names) / sizeof(scope_names[0]))
		return scope_names[s];
	return "?";
}

int dlog_scope_parse(const char *s, enum dlog_scope *out)
{
	for (size_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++) {
		if (strcmp(s, scope_names[i]) == 0) {
			*out = (enum dlog_scope)i;
			return 0;
		}
	}
	return DLOG_EINVAL;
}

int dlog_store_open(const char *url, struct dlog_store **out, char *errbuf, size_t errlen)
{
	*out = NULL;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		size_t plen = strlen(backends[i].prefix);
		struct dlog_store *s;
		int rc;

		if (strncmp(url, backends[i].prefix, plen) != 0)
			continue;
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return DLOG_ENOMEM;
		s->ops = backends[i].ops;
		pthread_mutex_init(&s->qlock, NULL);
		pthread_cond_init(&s->qwake, NULL);
		rc = s->ops->open(backends[i].keep_prefix ? url : url + plen, &s->ctx, errbuf,
				  errlen);
		if (rc != 0) {
			pthread_cond_destroy(&s->qwake);
			pthread_mutex_destroy(&s->qlock);
			free(s);
			return rc;
		}
		*out = s;
		return 0;
	}
	if (errbuf != NULL)
		snprintf(errbuf, errlen,
			 "unsupported store URL '%s' (expected sqlite:PATH or postgresql://...)", url);
	return DLOG_EINVAL;
}

static void committer_stop(struct dlog_store *s);

void dlog_store_close(struct dlog_store *s)
{
	if (s == NULL)
		return;
	committer_stop(s); /* what was queued is committed first */
	s->ops->close(s->ctx);
	pthread_cond_destroy(&s->qwake);
	pthread_mutex_destroy(&s->qlock);
	free(s);
}

const char *dlog_store_errmsg(struct dlog_store *s)
{
	return s->ops->errmsg(s->ctx);
}

int dlog_store_account(struct dlog_store *s, const char *name, bool create, int64_t *account_id)
{
	return s->ops->account(s->ctx, name, create, account_id);
}

int dlog_store_account_count(struct dlog_store *s, int64_t *count)
{
	return s->ops->account_count(s->ctx, count);
}

int dlog_store_key_add(struct dlog_store *s, const struct dlog_key_info *k,
		       const uint8_t hash[32])
{
	return s->ops->key_add(s->ctx, k, hash);
}

int dlog_store_key_lookup(struct dlog_store *s, const char *key_id, struct dlog_key_info *out,
			  uint8_t hash[32])
{
	return s->ops->key_lookup(s->ctx, key_id, out, hash);
}

int dlog_store_key_list(struct dlog_store *s, int64_t account_id,
			int (*cb)(void *arg, const struct dlog_key_info *k), void *arg)
{
	return s->ops->key_list(s->ctx, account_id, cb, arg);
}

int dlog_store_key_revoke(struct dlog_store *s, int64_t account_id, const char *key_id)
{
	return s->ops->key_revoke(s->ctx, account_id, key_id);
}

int dlog_store_append(struct dlog_store *s, int64_t account_id, const struct dlog_event *ev,
		      size_t n, struct dlog_append_result *results, size_t *conflict_index)
{
	return s->ops->append(s->ctx, account_id, ev, n, results, conflict_index);
}

int dlog_store_query(struct dlog_store *s, int64_t account_id, const struct dlog_query *q,
		     dlog_event_cb cb, void *arg, bool *has_more, int64_t *total)
{
	return s->ops->query(s->ctx, account_id, q, cb, arg, has_more, total);
}

int dlog_store_get(struct dlog_store *s, int64_t account_id, const struct dlog_id *id,
		   dlog_event_cb cb, void *arg)
{
	return s->ops->get(s->ctx, account_id, id, cb, arg);
}

int dlog_store_last_seq(struct dlog_store *s, uint64_t *seq)
{
	return s->ops->last_seq(s->ctx, seq);
}

int dlog_store_summary(struct dlog_store *s, int64_t account_id, const struct dlog_query *q,
		       int64_t utc_offset_us, dlog_day_cb day_cb, dlog_code_count_cb code_cb,
		       int top_n, void *arg)
{
	return s->ops->summary(s->ctx, account_id, q, utc_offset_us, day_cb, code_cb, top_n, arg);
}

static const char *const state_names[] = {"unenrolled", "registered", "bootstrapped",
					  "deregistered"};

const char *dlog_device_state_name(enum dlog_device_state st)
{
	return (unsigned)st < 4 ? state_names[st] : "unenrolled";
}

enum dlog_device_state dlog_device_state_of(const char *event_type)
{
	if (strcmp(event_type, "SYS_106") == 0)
		return DLOG_STATE_REGISTERED;
	if (strcmp(event_type, "SYS_107") == 0)
		return DLOG_STATE_BOOTSTRAPPED;
	if (strcmp(event_type, "SYS_105") == 0)
		return DLOG_STATE_DEREGISTERED;
	return DLOG_STATE_UNENROLLED;
}

int dlog_store_device_query(struct dlog_store *s, int64_t account_id, const char *group_id,
			    const struct dlog_query *q, dlog_device_cb cb, void *arg,
			    bool *has_more, int64_t *total)
{
	return s->ops->device_query(s->ctx, account_id, group_id, q, cb, arg, has_more, total);
}

int dlog_store_device_get(struct dlog_store *s, int64_t account_id, const char *device_id,
			  dlog_device_cb cb, void *arg)
{
	return s->ops->device_get(s->ctx, account_id, device_id, cb, arg);
}

int dlog_store_group_create(struct dlog_store *s, int64_t account_id, struct dlog_group *g)
{
	return s->ops->group_create(s->ctx, account_id, g);
}

int dlog_store_group_update(struct dlog_store *s, int64_t account_id, const char *id,
			    const struct dlog_group *g)
{
	return s->ops->group_update(s->ctx, account_id, id, g);
}

int dlog_store_group_delete(struct dlog_store *s, int64_t account_id, const char *id)
{
	return s->ops->group_delete(s->ctx, account_id, id);
}

int dlog_store_group_get(struct dlog_store *s, int64_t account_id, const char *id,
			 dlog_group_cb cb, void *arg)
{
	return s->ops->group_get(s->ctx, account_id, id, cb, arg);
}

int dlog_store_group_list(struct dlog_store *s, int64_t account_id, const struct dlog_query *q,
			  dlog_group_cb cb, void *arg, bool *has_more, int64_t *total)
{
	return s->ops->group_list(s->ctx, account_id, q, cb, arg, has_more, total);
}

int dlog_store_group_member(struct dlog_store *s, int64_t account_id, const char *id,
			    const char *device_id, bool add)
{
	return s->ops->group_member(s->ctx, account_id, id, device_id, add);
}

int dlog_store_campaign_stats(struct dlog_store *s, int64_t account_id, const char *campaign_id,
			      dlog_campaign_cb cb, void *arg)
{
	return s->ops->campaign_stats(s->ctx, account_id, campaign_id, cb, arg);
}

int dlog_store_account_list(struct dlog_store *s, dlog_account_cb cb, void *arg)
{
	return s->ops->account_list(s->ctx, cb, arg);
}

int dlog_store_key_dump(struct dlog_store *s, int64_t account_id, dlog_key_hash_cb cb,
			void *arg)
{
	return s->ops->key_dump(s->ctx, account_id, cb, arg);
}

int dlog_store_key_import(struct dlog_store *s, const struct dlog_key_info *k,
			  const uint8_t hash[32])
{
	return s->ops->key_import(s->ctx, k, hash);
}

int dlog_store_idem_hashes(struct dlog_store *s, int64_t account_id, const char *const *keys,
			   size_t n, uint8_t (*hashes)[32], bool *found)
{
	if (n > DLOG_MAX_BATCH)
		return DLOG_ETOOBIG;
	return s->ops->idem_hashes(s->ctx, account_id, keys, n, hashes, found);
}

int dlog_store_expire(struct dlog_store *s, dlog_time cutoff, int max_rows, int64_t *deleted,
		      bool *more)
{
	*deleted = 0;
	*more = false;
	if (max_rows < 1)
		return DLOG_EINVAL;
	return s->ops->expire(s->ctx, cutoff, max_rows, deleted, more);
}

int dlog_store_backup(struct dlog_store *s, const char *dest, int64_t *bytes)
{
	*bytes = 0;
	if (s->ops->backup == NULL)
		return DLOG_EUNAVAIL;
	return s->ops->backup(s->ctx, dest, bytes);
}

/* ---- the group committer ---- */

/* Without a backend group append: one transaction per request, same outcome. */
static void append_each(struct dlog_store *s, struct dlog_append_req **reqs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct dlog_append_req *q = reqs[i];

		q->rc = s->ops->append(s->ctx, q->account_id, q->ev, q->n, q->results,
				       &q->conflict_index);
		if (q->rc != 0)
			snprintf(q->errmsg, sizeof(q->errmsg), "%.255s", s->ops->errmsg(s->ctx));
	}
}

static void commit_group(struct dlog_store *s, struct dlog_append_req **reqs, size_t n)
{
	int rc;

	if (s->ops->append_group == NULL) {
		append_each(s, reqs, n);
		return;
	}
	rc = s->ops->append_group(s->ctx, reqs, n);
	for (size_t i = 0; rc != 0 && i < n; i++) {
		reqs[i]->rc = rc;
		snprintf(reqs[i]->errmsg, sizeof(reqs[i]->errmsg), "%.255s", s->ops->errmsg(s->ctx));
	}
}

/* Take queued requests up to DLOG_MAX_GROUP_EVENTS events (at least one). Lock held. */
static size_t take(struct dlog_store *s, struct dlog_append_req **reqs)
{
	size_t n = 0, events = 0;

	while (s->qhead != NULL && n < DLOG_MAX_GROUP_REQUESTS &&
	       (n == 0 || events + s->qhead->n <= DLOG_MAX_GROUP_EVENTS)) {
		struct dlog_append_req *q = s->qhead;

		s->qhead = q->next;
		if (s->qhead == NULL)
			s->qtail = NULL;
		q->next = NULL;
		events += q->n;
		reqs[n++] = q;
	}
	return n;
}

static void count_group(struct dlog_store *s, struct dlog_append_req *const *reqs, size_t n)
{
	uint64_t events = 0;

	for (size_t i = 0; i < n; i++)
		events += reqs[i]->n;
	atomic_fetch_add_explicit(&s->groups, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->group_requests, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->group_events, events, memory_order_relaxed);
}

void dlog_store_commit_stats(struct dlog_store *s, struct dlog_commit_stats *out)
{
	out->groups = atomic_load_explicit(&s->groups, memory_order_relaxed);
	out->requests = atomic_load_explicit(&s->group_requests, memory_order_relaxed);
	out->events = atomic_load_explicit(&s->group_events, memory_order_relaxed);
}

static void *committer_main(void *arg)
{
	struct dlog_store *s = arg;
	struct dlog_append_req **reqs = calloc(DLOG_MAX_GROUP_REQUESTS, sizeof(*reqs));

	pthread_mutex_lock(&s->qlock);
	for (;;) {
		size_t n;

		while (s->qhead == NULL && !s->closing)
			pthread_cond_wait(&s->qwake, &s->qlock);
		if (s->qhead == NULL)
			break;
		if (reqs == NULL) {
			/* no memory for the group: fail the head request, keep going */
			struct dlog_append_req *q = s->qhead;

			s->qhead = q->next;
			if (s->qhead == NULL)
				s->qtail = NULL;
			pthread_mutex_unlock(&s->qlock);
			q->rc = DLOG_ENOMEM;
			q->done(q);
			pthread_mutex_lock(&s->qlock);
			continue;
		}
		n = take(s, reqs);
		pthread_mutex_unlock(&s->qlock);
		commit_group(s, reqs, n);
		count_group(s, reqs, n);
		for (size_t i = 0; i < n; i++)
			reqs[i]->done(reqs[i]);
		pthread_mutex_lock(&s->qlock);
	}
	pthread_mutex_unlock(&s->qlock);
	free(reqs);
	return NULL;
}

int dlog_store_submit(struct dlog_store *s, struct dlog_append_req *req)
{
	int rc = 0;

	req->next = NULL;
	req->rc = 0;
	req->errmsg[0] = '\0';
	pthread_mutex_lock(&s->qlock);
	if (s->closing) {
		rc = DLOG_EUNAVAIL;
	} else if (!s->committer_running) {
		if (pthread_create(&s->committer, NULL, committer_main, s) != 0)
			rc = DLOG_ENOMEM;
		else
			s->committer_running = true;
	}
	if (rc == 0) {
		if (s->qtail != NULL)
			s->qtail->next = req;
		else
			s->qhead = req;
		s->qtail = req;
		pthread_cond_signal(&s->qwake);
	}
	pthread_mutex_unlock(&s->qlock);
	return rc;
}

static void committer_stop(struct dlog_store *s)
{
	bool running;

	pthread_mutex_lock(&s->qlock);
	s->closing = true;
	running = s->committer_running;
	pthread_cond_signal(&s->qwake);
	pthread_mutex_unlock(&s->qlock);
	if (running)
		pthread_join(s->committer, NULL);
}
