/* Server-Sent Events transport: suspended connections and the hub that wakes them.
 *
 * A stream with nothing to send suspends its connection (libmicrohttpd's flow control), so
 * waiting costs no thread and no polling per connection. One hub thread per server watches the
 * store's highest committed sequence number (one cheap query every DLOG_STREAM_POLL_MS, which
 * also sees commits made by other processes and other instances) and resumes the waiting
 * streams when it moves, or when a heartbeat is due. */
#include "http/http_int.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"

struct http_stream {
	struct http_hub *hub;
	struct MHD_Connection *conn;
	const struct dlog_stream_ops *ops;
	void *cls;
	char key_id[33];
	bool finished;           /* produce() said the answer is complete */
	struct dlog_buf pending; /* produced, not yet handed to MHD */
	size_t sent;             /* bytes of pending already handed over */
	dlog_time last_write;
	uint64_t seen_seq;       /* hub's sequence number before the last produce() */
	bool suspended;          /* guarded by hub->lock */
	struct http_stream *next, *prev; /* hub's list, guarded by hub->lock */
};

struct http_hub {
	struct dlog_store *store;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool running, stopping;
	uint64_t last_seq;
	struct http_stream *head;
	size_t count;
};

static void resume_locked(struct http_stream *s)
{
	if (s->suspended) {
		s->suspended = false;
		MHD_resume_connection(s->conn);
	}
}

static void *hub_main(void *arg)
{
	struct http_hub *h = arg;

	pthread_mutex_lock(&h->lock);
	while (!h->stopping) {
		struct timespec until;
		uint64_t seq = h->last_seq;
		dlog_time now;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += DLOG_STREAM_POLL_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&h->wake, &h->lock, &until);
		if (h->stopping || h->head == NULL)
			continue;
		pthread_mutex_unlock(&h->lock);
		/* the store is queried without the lock: streams keep suspending meanwhile */
		if (dlog_store_last_seq(h->store, &seq) != 0)
			seq = h->last_seq;
		now = dlog_time_now();
		pthread_mutex_lock(&h->lock);
		h->last_seq = seq;
		for (struct http_stream *s = h->head; s != NULL; s = s->next)
			if (s->suspended &&
			    (s->seen_seq != seq ||
			     now - s->last_write >= DLOG_STREAM_HEARTBEAT_S * 1000000LL))
				resume_locked(s);
	}
	/* wake everyone so their readers see the end of the stream */
	for (struct http_stream *s = h->head; s != NULL; s = s->next)
		resume_locked(s);
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

struct http_hub *http__hub_new(struct dlog_store *store)
{
	struct http_hub *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->store = store;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->wake, NULL);
	dlog_store_last_seq(store, &h->last_seq);
	if (pthread_create(&h->thread, NULL, hub_main, h) != 0) {
		http__hub_free(h);
		return NULL;
	}
	h->running = true;
	return h;
}

void http__hub_stop(struct http_hub *h)
{
	if (h == NULL || !h->running)
		return;
	pthread_mutex_lock(&h->lock);
	h->stopping = true;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	h->running = false;
}

void http__hub_free(struct http_hub *h)
{
	if (h == NULL)
		return;
	http__hub_stop(h);
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static ssize_t hand_over(struct http_stream *s, char *buf, size_t max)
{
	size_t n = s->pending.len - s->sent;

	if (n > max)
		n = max;
	memcpy(buf, s->pending.data + s->sent, n);
	s->sent += n;
	if (s->sent == s->pending.len) {
		dlog_buf_reset(&s->pending);
		s->sent = 0;
	}
	s->last_write = dlog_time_now();
	return (ssize_t)n;
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_stream *s = cls;
	struct http_hub *h = s->hub;
	bool stopping;
	int rc;

	(void)pos;
	if (s->pending.len > s->sent)
		return hand_over(s, buf, max);
	if (s->finished)
		return MHD_CONTENT_READER_END_OF_STREAM;
	pthread_mutex_lock(&h->lock);
	stopping = h->stopping;
	/* read before produce(): a commit after this point moves the hub past it and wakes us */
	s->seen_seq = h->last_seq;
	pthread_mutex_unlock(&h->lock);
	if (stopping)
		return MHD_CONTENT_READER_END_OF_STREAM;
	rc = s->ops->produce(s->cls, &s->pending);
	if (rc < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (rc > 0) {
		s->finished = true;
		if (s->pending.len == 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
		return hand_over(s, buf, max);
	}
	if (s->pending.len == 0 && s->ops->heartbeat &&
	    dlog_time_now() - s->last_write >= DLOG_STREAM_HEARTBEAT_S * 1000000LL)
		dlog_buf_adds(&s->pending, ": ping\n\n");
	if (s->pending.len > 0)
		return hand_over(s, buf, max);
	pthread_mutex_lock(&h->lock);
	s->suspended = true;
	MHD_suspend_connection(s->conn);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static void stream_free(void *cls)
{
	struct http_stream *s = cls;
	struct http_hub *h = s->hub;

	pthread_mutex_lock(&h->lock);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else if (h->head == s)
		h->head = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	h->count--;
	pthread_mutex_unlock(&h->lock);
	s->ops->done(s->cls);
	dlog_buf_done(&s->pending);
	free(s);
}

int dlog_http_stream(struct dlog_req *r, const struct dlog_stream_ops *ops, void *cls)
{
	struct http_hub *h = http__hub(r->srv);
	struct http_stream *s = calloc(1, sizeof(*s));
	size_t per_key = 0;

	if (s == NULL) {
		ops->done(cls);
		return dlog_http_error(r, DLOG_ENOMEM, "out of memory");
	}
	s->hub = h;
	s->conn = r->conn;
	s->ops = ops;
	s->cls = cls;
	s->last_write = dlog_time_now();
	snprintf(s->key_id, sizeof(s->key_id), "%s", r->key.key_id);
	dlog_buf_init(&s->pending, DLOG_STREAM_BUFFER);
	if (ops->heartbeat) /* the opening comment tells an SSE client the stream is live */
		dlog_buf_adds(&s->pending, ": devicelog stream\nretry: 2000\n\n");
	pthread_mutex_lock(&h->lock);
	for (struct http_stream *o = h->head; o != NULL; o = o->next)
		per_key += strcmp(o->key_id, s->key_id) == 0;
	if (per_key >= DLOG_MAX_STREAMS_PER_KEY || h->count >= DLOG_MAX_STREAMS) {
		pthread_mutex_unlock(&h->lock);
		ops->done(cls);
		dlog_buf_done(&s->pending);
		free(s);
		r->retry_after = 5;
		return dlog_http_error(r, DLOG_ERATE, "too many open streams (at most %d per key)",
				       DLOG_MAX_STREAMS_PER_KEY);
	}
	s->next = h->head;
	if (h->head != NULL)
		h->head->prev = s;
	h->head = s;
	h->count++;
	pthread_mutex_unlock(&h->lock);
	r->stream = s;
	r->resp_type = ops->heartbeat ? "text/event-stream" : "application/octet-stream";
	return 0;
}

struct MHD_Response *http__stream_response(struct dlog_req *r)
{
	struct http_stream *s = r->stream;
	struct MHD_Response *resp;

	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, reader, s,
						 stream_free);
	if (resp == NULL) {
		stream_free(s);
		return NULL;
	}
	/* proxies must not buffer a live stream */
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	return resp;
}
