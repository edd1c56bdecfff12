/* evblock: a run of one device's events in id order, encoded compactly: the body of a row of
 * the SQLite store's dev_blocks (sqlite.c; docs/STORAGE.md, "SQLite: device blocks"). */
#ifndef DLOG_EVBLOCK_H
#define DLOG_EVBLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define EVB_MAX 64

struct evb_event {
	int64_t seq, created, ts, code, cat, descr, camp;
	int mtype, flags;
	bool has_camp;
	const char *extra, *idem; /* NULL or NUL-terminated; decode points into the block */
};

/* Append the encoding of ev[0..n) (ascending seq) to out. */
int evb_encode(struct dlog_buf *out, const struct evb_event *ev, size_t n);
/* Append the encoding of e, which follows prev in its block (prev NULL: e is the block's
 * first; only prev's seq, created and ts are read). A block is its events' encodings back to
 * back, so one can be built an event at a time. */
int evb_append(struct dlog_buf *out, const struct evb_event *prev, const struct evb_event *e);
/* Decode up to max events of the block; *n gets how many. DLOG_EINVAL when malformed. */
int evb_decode(const uint8_t *p, size_t len, struct evb_event *ev, size_t max, size_t *n);

#endif
