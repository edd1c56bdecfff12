/* Private to src/store/: the backend operations table. Nobody outside store.c calls ops. */
#ifndef DLOG_STORE_INT_H
#define DLOG_STORE_INT_H

#include "store/store.h"

struct dlog_store_ops {
	const char *name; /* "sqlite" */
	/* rest: the URL after "sqlite:" (or the whole URL for postgresql). */
	int (*open)(const char *url, void **ctx, char *errbuf, size_t errlen);
	void (*close)(void *ctx);
	const char *(*errmsg)(void *ctx);
	int (*account)(void *ctx, const char *name, bool create, int64_t *id);
	int (*account_count)(void *ctx, int64_t *count);
	int (*key_add)(void *ctx, const struct dlog_key_info *k, const uint8_t hash[32]);
	int (*key_lookup)(void *ctx, const char *key_id, struct dlog_key_info *out, uint8_t hash[32]);
	int (*key_list)(void *ctx, int64_t account_id,
			int (*cb)(void *arg, const struct dlog_key_info *k), void *arg);
	int (*key_revoke)(void *ctx, int64_t account_id, const char *key_id);
	int (*append)(void *ctx, int64_t account_id, const struct dlog_event *ev, size_t n,
		      struct dlog_append_result *results, size_t *conflict_index);
	/* Optional: append every request in one durable transaction, each all-or-nothing
	 * (req->rc, req->results, req->conflict_index, req->errmsg set). Without it, store.c
	 * appends the requests one by one. Returns 0 or an error that failed them all. */
	int (*append_group)(void *ctx, struct dlog_append_req **reqs, size_t n);
	int (*query)(void *ctx, int64_t account_id, const struct dlog_query *q, dlog_event_cb cb,
		     void *arg, bool *has_more, int64_t *total);
	int (*get)(void *ctx, int64_t account_id, const struct dlog_id *id, dlog_event_cb cb,
		   void *arg);
	int (*last_seq)(void *ctx, uint64_t *seq);
	int (*summary)(void *ctx, int64_t account_id, const struct dlog_query *q,
		       int64_t utc_offset_us, dlog_day_cb day_cb, dlog_code_count_cb code_cb,
		       int top_n, void *arg);
	int (*device_query)(void *ctx, int64_t account_id, const char *group_id,
			    const struct dlog_query *q, dlog_device_cb cb, void *arg,
			    bool *has_more, int64_t *total);
	int (*device_get)(void *ctx, int64_t account_id, const char *device_id, dlog_device_cb cb,
			  void *arg);
	int (*group_create)(void *ctx, int64_t account_id, struct dlog_group *g);
	int (*group_update)(void *ctx, int64_t account_id, const char *id,
			    const struct dlog_group *g);
	int (*group_delete)(void *ctx, int64_t account_id, const char *id);
	int (*group_get)(void *ctx, int64_t account_id, const char *id, dlog_group_cb cb,
			 void *arg);
	int (*group_list)(void *ctx, int64_t account_id, const struct dlog_query *q,
			  dlog_group_cb cb, void *arg, bool *has_more, int64_t *total);
	int (*group_member)(void *ctx, int64_t account_id, const char *id, const char *device_id,
			    bool add);
	int (*campaign_stats)(void *ctx, int64_t account_id, const char *campaign_id,
			      dlog_campaign_cb cb, void *arg);
	/* devicelog copy and retention (store.h) */
	int (*account_list)(void *ctx, dlog_account_cb cb, void *arg);
	int (*key_dump)(void *ctx, int64_t account_id, dlog_key_hash_cb cb, void *arg);
	int (*key_import)(void *ctx, const struct dlog_key_info *k, const uint8_t hash[32]);
	int (*idem_hashes)(void *ctx, int64_t account_id, const char *const *keys, size_t n,
			   uint8_t (*hashes)[32], bool *found);
	int (*expire)(void *ctx, dlog_time cutoff, int max_rows, int64_t *deleted, bool *more);
	/* Optional (dlog_store_backup): NULL for a backend backed up with its own tools. */
	int (*backup)(void *ctx, const char *dest, int64_t *bytes);
};

#include <pthread.h>
#include <stdatomic.h>

struct dlog_store {
	const struct dlog_store_ops *ops;
	void *ctx;
	/* the group committer (store.c), started by the first dlog_store_submit */
	pthread_mutex_t qlock;
	pthread_cond_t qwake;
	pthread_t committer;
	bool committer_running, closing;
	struct dlog_append_req *qhead, *qtail;
	/* dlog_store_commit_stats: written by the committer, read by anyone */
	atomic_uint_fast64_t groups, group_requests, group_events;
};

extern const struct dlog_store_ops store__sqlite_ops;
extern const struct dlog_store_ops store__pg_ops;

#endif
