/* `devicelog copy`: move accounts from one store to another (SQLite to PostgreSQL, or any store
 * to any store) through the public store interface only, so every pair of backends works.
 *
 * What moves, per account: its access keys (their hashes: the secrets keep working, revoked
 * keys stay revoked), its device groups (same ids), its events in id order, then the groups'
 * members. The device directory and the campaign counters are not copied: the target's
 * appends maintain them, exactly as they would have been had the events been ingested there.
 * Events get new ids and created_at in the target (ids are commit-order positions of the store
 * that holds them); date_time, everything the producer sent and idempotency keys are kept, with
 * the content hashes, so a producer's retry after the move is still recognised as a repeat. */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"

/* One copied event: the strings of a row live only during the row callback, so each event's
 * strings are copied into one block. */
struct held {
	struct dlog_event ev;
	char *mem;
};

struct batch {
	struct held *h;
	size_t n;
	struct dlog_event *ev;
	const char **keys;
	uint8_t (*hashes)[32];
	bool *found;
	struct dlog_append_result *res;
};

struct copy {
	struct dlog_store *from, *to;
	int64_t src, dst; /* account ids */
	const char *account;
	struct dlog_copy_stats *st;
	dlog_copy_progress_fn progress;
	void *arg;
	char *err;
	size_t errlen;
	struct batch b;
};

static int say(struct copy *c, int rc, const char *fmt, const char *detail)
{
	snprintf(c->err, c->errlen, fmt, c->account, detail);
	return rc;
}

/* ---- keys ---- */

static int copy_key(void *arg, const struct dlog_key_info *k, const uint8_t hash[32])
{
	struct copy *c = arg;
	struct dlog_key_info t = *k;
	int rc;

	t.account_id = c->dst;
	rc = dlog_store_key_import(c->to, &t, hash);
	if (rc == 0)
		c->st->keys++;
	return rc;
}

/* ---- groups ---- */

static int copy_group(struct copy *c, const struct dlog_group *g)
{
	struct dlog_group t = *g;
	int rc = dlog_store_group_create(c->to, c->dst, &t);

	/* a second run finds the group there */
	if (rc == DLOG_ECONFLICT)
		return 0;
	if (rc == 0)
		c->st->groups++;
	return rc;
}

struct member_walk {
	struct copy *c;
	const char *gid;
	char last[DLOG_MAX_DEVICE_ID_LEN + 1];
	size_t n;
};

static int copy_member(void *arg, const struct dlog_device *d)
{
	struct member_walk *m = arg;
	int rc = dlog_store_group_member(m->c->to, m->c->dst, m->gid, d->device_id, true);

	snprintf(m->last, sizeof(m->last), "%s", d->device_id);
	m->n++;
	if (rc == 0)
		m->c->st->members++;
	return rc;
}

/* Every member of one group, a page of devices at a time (cursor: the last device id). */
static int copy_members(struct copy *c, const struct dlog_group *g)
{
	struct member_walk m = {.c = c, .gid = g->id};
	struct dlog_query q = {.limit = DLOG_EXPORT_PAGE, .order = DLOG_ORDER_ASC};
	char cursor[DLOG_MAX_DEVICE_ID_LEN + 1] = "";
	bool more = true;
	int rc = 0;

	while (rc == 0 && more) {
		int64_t total = 0;

		/* the store may read the cursor while rows are delivered: a copy of it */
		memcpy(cursor, m.last, sizeof(cursor));
		q.has_after = cursor[0] != '\0';
		q.after_key = cursor;
		m.n = 0;
		rc = dlog_store_device_query(c->from, c->src, g->id, &q, copy_member, &m, &more,
		                             &total);
		if (m.n == 0)
			break;
	}
	return rc;
}

struct group_walk {
	struct copy *c;
	int (*each)(struct copy *c, const struct dlog_group *g);
	char last[33];
	size_t n;
};

static int group_step(void *arg, const struct dlog_group *g)
{
	struct group_walk *w = arg;

	snprintf(w->last, sizeof(w->last), "%s", g->id);
	w->n++;
	return w->each(w->c, g);
}

/* Call each for every group of the source account, in creation order. */
static int each_group(struct copy *c, int (*each)(struct copy *c, const struct dlog_group *g))
{
	struct group_walk w = {.c = c, .each = each};
	struct dlog_query q = {.limit = DLOG_EXPORT_PAGE, .order = DLOG_ORDER_ASC};
	char cursor[33] = "";
	bool more = true;
	int rc = 0;

	while (rc == 0 && more) {
		int64_t total = 0;

		memcpy(cursor, w.last, sizeof(cursor));
		q.has_after = cursor[0] != '\0';
		q.after_key = cursor;
		w.n = 0;
		rc = dlog_store_group_list(c->from, c->src, &q, group_step, &w, &more, &total);
		if (w.n == 0)
			break;
	}
	return rc;
}

/* ---- events ---- */

static void batch_clear(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->h[i].mem);
	b->n = 0;
}

static void batch_free(struct batch *b)
{
	if (b->h != NULL)
		batch_clear(b);
	free(b->h);
	free(b->ev);
	free(b->keys);
	free(b->hashes);
	free(b->found);
	free(b->res);
	memset(b, 0, sizeof(*b));
}

static int batch_alloc(struct batch *b)
{
	size_t n = DLOG_MAX_BATCH;

	b->h = calloc(n, sizeof(*b->h));
	b->ev = calloc(n, sizeof(*b->ev));
	b->keys = calloc(n, sizeof(*b->keys));
	b->hashes = calloc(n, sizeof(*b->hashes));
	b->found = calloc(n, sizeof(*b->found));
	b->res = calloc(n, sizeof(*b->res));
	if (b->h == NULL || b->ev == NULL || b->keys == NULL || b->hashes == NULL ||
	    b->found == NULL || b->res == NULL) {
		batch_free(b);
		return DLOG_ENOMEM;
	}
	return 0;
}

/* Copy s into the block at *at (NULL stays NULL). */
static const char *keep(char **at, const char *s)
{
	char *d = *at;
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	memcpy(d, s, n);
	*at += n;
	return d;
}

static size_t len0(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

/* Row callback: hold a copy of the event. */
static int hold(void *arg, const struct dlog_event *e)
{
	struct batch *b = arg;
	struct held *h = &b->h[b->n];
	size_t need = len0(e->device_id) + len0(e->event_type) + len0(e->category) +
	              len0(e->description) + len0(e->campaign_id) + len0(e->data_extra) +
	              len0(e->idempotency_key);
	char *at;

	h->mem = malloc(need + 1);
	if (h->mem == NULL)
		return DLOG_ENOMEM;
	at = h->mem;
	h->ev = *e;
	h->ev.device_id = keep(&at, e->device_id);
	h->ev.event_type = keep(&at, e->event_type);
	h->ev.category = keep(&at, e->category);
	h->ev.description = keep(&at, e->description);
	h->ev.campaign_id = keep(&at, e->campaign_id);
	h->ev.data_extra = keep(&at, e->data_extra);
	h->ev.idempotency_key = keep(&at, e->idempotency_key);
	h->ev.content_hash = NULL;
	b->n++;
	return 0;
}

/* Append the held events to the target with their idempotency keys' content hashes. */
static int flush(struct copy *c)
{
	struct batch *b = &c->b;
	size_t conflict = 0;
	int rc;

	for (size_t i = 0; i < b->n; i++) {
		b->ev[i] = b->h[i].ev;
		b->keys[i] = b->ev[i].idempotency_key;
	}
	rc = dlog_store_idem_hashes(c->from, c->src, b->keys, b->n, b->hashes, b->found);
	if (rc != 0)
		return say(c, rc, "account '%s': reading idempotency hashes: %s",
		           dlog_store_errmsg(c->from));
	for (size_t i = 0; i < b->n; i++) {
		if (b->keys[i] == NULL)
			continue;
		if (!b->found[i])
			return say(c, DLOG_ESTORE,
			           "account '%s': idempotency key '%.128s' has no "
			           "hash in the source store",
			           b->keys[i]);
		b->ev[i].content_hash = b->hashes[i];
	}
	rc = dlog_store_append(c->to, c->dst, b->ev, b->n, b->res, &conflict);
	if (rc == DLOG_ECONFLICT)
		return say(c, rc,
		           "account '%s': idempotency key '%.128s' is used in the target "
		           "for other content",
		           b->keys[conflict]);
	if (rc != 0)
		return say(c, rc, "account '%s': writing events: %s", dlog_store_errmsg(c->to));
	for (size_t i = 0; i < b->n; i++) {
		c->st->events++;
		c->st->duplicates += b->res[i].duplicate ? 1 : 0;
	}
	batch_clear(b);
	if (c->progress != NULL)
		c->progress(c->arg, c->st);
	return 0;
}

/* Every event of the source account in id order, DLOG_MAX_BATCH per target transaction. */
static int copy_events(struct copy *c)
{
	struct dlog_query q = {.limit = DLOG_MAX_BATCH, .order = DLOG_ORDER_ASC};
	bool more = true;
	int rc = 0;

	while (rc == 0 && more) {
		rc = dlog_store_query(c->from, c->src, &q, hold, &c->b, &more, NULL);
		if (rc != 0) {
			rc = say(c, rc, "account '%s': reading events: %s",
			         dlog_store_errmsg(c->from));
			break;
		}
		if (c->b.n == 0)
			break;
		q.has_after = true;
		q.after = c->b.h[c->b.n - 1].ev.id;
		rc = flush(c);
	}
	batch_clear(&c->b);
	return rc;
}

static int target_empty(struct copy *c)
{
	struct dlog_query q = {.limit = 1, .order = DLOG_ORDER_ASC};
	bool more = false;
	int rc = dlog_store_query(c->to, c->dst, &q, hold, &c->b, &more, NULL);
	bool empty = c->b.n == 0;

	batch_clear(&c->b);
	if (rc != 0)
		return say(c, rc, "account '%s': reading the target: %s", dlog_store_errmsg(c->to));
	if (!empty)
		return say(c, DLOG_ECONFLICT,
		           "account '%s' has events in the target already%s: "
		           "copy fills an empty account",
		           "");
	return 0;
}

/* One account: keys, groups, events, members. */
static int copy_account(struct copy *c)
{
	int rc = dlog_store_account(c->to, c->account, true, &c->dst);

	if (rc != 0)
		return say(c, rc, "account '%s': %s", dlog_store_errmsg(c->to));
	rc = target_empty(c);
	if (rc != 0)
		return rc;
	c->st->accounts++;
	rc = dlog_store_key_dump(c->from, c->src, copy_key, c);
	if (rc != 0)
		return say(c, rc, "account '%s': copying keys: %s", dlog_store_errmsg(c->to));
	rc = each_group(c, copy_group);
	if (rc != 0)
		return say(c, rc, "account '%s': copying groups: %s", dlog_store_errmsg(c->to));
	rc = copy_events(c);
	if (rc != 0)
		return rc;
	rc = each_group(c, copy_members);
	if (rc != 0)
		return say(c, rc, "account '%s': copying group members: %s",
		           dlog_store_errmsg(c->to));
	return 0;
}

/* dlog_store_account_list callback: copy this account when it is the one asked for (or all). */
struct which {
	struct copy *c;
	const char *only;
	bool seen;
};

static int each_account(void *arg, int64_t id, const char *name)
{
	struct which *w = arg;
	struct copy *c = w->c;
	char copy_name[DLOG_MAX_ACCOUNT_NAME_LEN + 1];

	if (w->only != NULL && strcmp(w->only, name) != 0)
		return 0;
	w->seen = true;
	/* name lives in the source's result: keep it for the whole account */
	snprintf(copy_name, sizeof(copy_name), "%s", name);
	c->account = copy_name;
	c->src = id;
	return copy_account(c);
}

int dlog_store_copy(struct dlog_store *from, struct dlog_store *to, const char *account,
                    dlog_copy_progress_fn progress, void *arg, struct dlog_copy_stats *st,
                    char *err, size_t errlen)
{
	struct copy c = {.from = from,
	                 .to = to,
	                 .st = st,
	                 .progress = progress,
	                 .arg = arg,
	                 .err = err,
	                 .errlen = errlen,
	                 .account = account ? account : ""};
	struct which w = {.c = &c, .only = account};
	int rc;

	memset(st, 0, sizeof(*st));
	err[0] = '\0';
	rc = batch_alloc(&c.b);
	if (rc != 0)
		return say(&c, rc, "%s%s", "out of memory");
	rc = dlog_store_account_list(from, each_account, &w);
	if (rc != 0 && err[0] == '\0')
		say(&c, rc, "account '%s': %s", dlog_store_errmsg(from));
	else if (rc == 0 && account != NULL && !w.seen)
		rc = say(&c, DLOG_ENOTFOUND, "no account '%s' in the source store%s", "");
	batch_free(&c.b);
	return rc;
}
