/* evblock: per event, varints of the seq, created and date_time deltas from the previous
 * event (zigzag for the times), the dictionary ids, one byte of message type and flags, then
 * the campaign, the other data and the idempotency key when present. */
#include "store/evblock.h"

#include <string.h>

enum { H_CAMP = 4, H_EXTRA = 8, H_IDEM = 16, H_FLAGS = 32 };

static int put(struct dlog_buf *b, uint64_t v)
{
	uint8_t t[10];
	size_t k = 0;

	while (v >= 0x80) {
		t[k++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	t[k++] = (uint8_t)v;
	return dlog_buf_add(b, t, k);
}

static uint64_t zz(int64_t v)
{
	return ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0);
}

static int64_t unzz(uint64_t v)
{
	return (int64_t)((v >> 1) ^ (0 - (v & 1)));
}

/* Differences wrap modulo 2^64 (no signed overflow for far-apart times); undone the same way. */
static int64_t sub(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a - (uint64_t)b);
}

static int64_t add(int64_t a, int64_t d)
{
	return (int64_t)((uint64_t)a + (uint64_t)d);
}

static int put_text(struct dlog_buf *b, const char *s)
{
	size_t len = strlen(s) + 1;

	return put(b, len) != 0 ? DLOG_ENOMEM : dlog_buf_add(b, s, len);
}

int evb_append(struct dlog_buf *out, const struct evb_event *prev, const struct evb_event *e)
{
	static const struct evb_event none = {0};
	unsigned h = (unsigned)e->mtype & 3;
	int rc = 0;

	if (prev == NULL)
		prev = &none;
	h |= e->has_camp ? H_CAMP : 0;
	h |= e->extra != NULL ? H_EXTRA : 0;
	h |= e->idem != NULL ? H_IDEM : 0;
	h |= e->flags != 0 ? H_FLAGS : 0;
	rc |= put(out, (uint64_t)sub(e->seq, prev->seq));
	rc |= put(out, zz(sub(e->created, prev->created)));
	rc |= put(out, zz(sub(e->ts, prev->ts)));
	rc |= put(out, h);
	rc |= put(out, (uint64_t)e->code);
	rc |= put(out, (uint64_t)e->cat);
	rc |= put(out, (uint64_t)e->descr);
	if (e->flags != 0)
		rc |= put(out, (uint64_t)e->flags);
	if (e->has_camp)
		rc |= put(out, (uint64_t)e->camp);
	if (e->extra != NULL)
		rc |= put_text(out, e->extra);
	if (e->idem != NULL)
		rc |= put_text(out, e->idem);
	return rc != 0 ? DLOG_ENOMEM : 0;
}

int evb_encode(struct dlog_buf *out, const struct evb_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = evb_append(out, i == 0 ? NULL : &ev[i - 1], &ev[i]);

		if (rc != 0)
			return rc;
	}
	return 0;
}

struct rd {
	const uint8_t *p, *end;
	bool bad;
};

static uint64_t get(struct rd *r)
{
	uint64_t v = 0;

	for (unsigned s = 0; s < 64; s += 7) {
		if (r->p == r->end) {
			r->bad = true;
			return 0;
		}
		uint8_t c = *r->p++;
		v |= (uint64_t)(c & 0x7f) << s;
		if ((c & 0x80) == 0)
			return v;
	}
	r->bad = true;
	return 0;
}

static const char *get_text(struct rd *r)
{
	uint64_t len = get(r);
	const char *s = (const char *)r->p;

	if (r->bad || len == 0 || len > (uint64_t)(r->end - r->p) || s[len - 1] != '\0') {
		r->bad = true;
		return NULL;
	}
	r->p += len;
	return s;
}

int evb_decode(const uint8_t *p, size_t len, struct evb_event *ev, size_t max, size_t *n)
{
	struct rd r = {p, p + len, false};
	struct evb_event prev = {0};
	size_t k = 0;

	while (r.p < r.end && k < max) {
		struct evb_event *e = &ev[k];
		unsigned h;

		e->seq = add(prev.seq, (int64_t)get(&r));
		e->created = add(prev.created, unzz(get(&r)));
		e->ts = add(prev.ts, unzz(get(&r)));
		h = (unsigned)get(&r);
		e->mtype = (int)(h & 3);
		e->code = (int64_t)get(&r);
		e->cat = (int64_t)get(&r);
		e->descr = (int64_t)get(&r);
		e->flags = (h & H_FLAGS) != 0 ? (int)get(&r) : 0;
		e->has_camp = (h & H_CAMP) != 0;
		e->camp = e->has_camp ? (int64_t)get(&r) : 0;
		e->extra = (h & H_EXTRA) != 0 ? get_text(&r) : NULL;
		e->idem = (h & H_IDEM) != 0 ? get_text(&r) : NULL;
		if (r.bad)
			return DLOG_EINVAL;
		prev = *e;
		k++;
	}
	*n = k;
	return r.p == r.end ? 0 : DLOG_EINVAL;
}
