/* base: error codes, time, bounded buffers, hex, UTF-8 and number helpers.
 *
 * Everything here is pure (no I/O, no globals) so every other module may use it, except the
 * logger at the end (log.c): it writes stderr and holds the process's one logging setting. */
#ifndef DLOG_BASE_H
#define DLOG_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Error codes. Fallible functions return 0 or one of these (negative). The numbers are part of
 * the project's contract (logs, exit statuses, tests): never renumber, only append. */
enum dlog_err {
	DLOG_OK = 0,
	DLOG_EINVAL = -1,      /* bad input from the caller: HTTP 400 */
	DLOG_ENOMEM = -2,      /* out of memory: HTTP 503 */
	DLOG_ENOTFOUND = -3,   /* HTTP 404 */
	DLOG_ECONFLICT = -4,   /* idempotency key reused with other content, duplicate name: 409 */
	DLOG_ESTORE = -5,      /* the store failed (I/O, corrupt): HTTP 500 */
	DLOG_EUNAVAIL = -6,    /* the store is busy, full or read-only: HTTP 503 */
	DLOG_EAUTH = -7,       /* missing, unknown or revoked key: 401 */
	DLOG_EFORBIDDEN = -8,  /* key lacks the scope: 403 */
	DLOG_ETOOBIG = -9,     /* a bounded buffer or limit was hit: 413 */
	DLOG_EMETHOD = -10,    /* 405 */
	DLOG_EMEDIA = -11,     /* unsupported Content-Type: 415 */
	DLOG_ERATE = -12,      /* rate limited: 429 */
	DLOG_EIO = -13,        /* local file or socket I/O failed */
	DLOG_ESCHEMA = -14,    /* store file is foreign, corrupt or of a newer schema */
	DLOG_EURITOOLONG = -15, /* 414 */
	DLOG_EHDRTOOBIG = -16, /* 431 */
};

/* Short stable name of an error code ("invalid", "not found", ...). Never NULL. */
const char *dlog_strerror(int err);

/* ---- time: one type everywhere, int64_t microseconds since the Unix epoch, UTC ---- */
typedef int64_t dlog_time;

/* Current wall-clock time. */
dlog_time dlog_time_now(void);

/* Parse one of the three accepted forms (pointer and length, no NUL needed):
 *   2016-11-30T16:25:12.1234Z   (1-6 fraction digits; more than 6 is rejected)
 *   2016-11-30T16:25:12Z
 *   20161130T162512Z
 * Only UTC ('Z'). Years 1970..9999. Returns 0 and sets *out, or DLOG_EINVAL. */
int dlog_time_parse(const char *s, size_t len, dlog_time *out);

/* Format as 2016-11-30T16:25:12.123400Z: always 6 fraction digits and DLOG_TIME_STRLEN - 1
 * characters (times outside the years 1970..9999 are clamped). buf must hold
 * DLOG_TIME_STRLEN bytes including the NUL. Returns buf. */
#define DLOG_TIME_STRLEN 28
char *dlog_time_format(dlog_time t, char buf[DLOG_TIME_STRLEN]);

/* ---- bounded growable buffer (curl dynbuf idea): every buffer has a maximum ---- */
struct dlog_buf {
	char *data;   /* always NUL-terminated when len > 0 or after any append */
	size_t len;
	size_t cap;
	size_t max;   /* appending past max fails with DLOG_ETOOBIG and leaves the buffer unchanged */
};

/* Initialise an empty buffer that may grow to max bytes (content, NUL excluded). No allocation. */
void dlog_buf_init(struct dlog_buf *b, size_t max);
/* Release memory; the buffer is empty and reusable after. Accepts NULL. */
void dlog_buf_done(struct dlog_buf *b);
/* Forget the content, keep the memory. */
void dlog_buf_reset(struct dlog_buf *b);
/* Make room for n more bytes (and the NUL) without changing the content: 0, DLOG_ETOOBIG or
 * DLOG_ENOMEM. */
int dlog_buf_reserve(struct dlog_buf *b, size_t n);
/* Append bytes. 0, DLOG_ETOOBIG or DLOG_ENOMEM (buffer unchanged on error). */
int dlog_buf_add(struct dlog_buf *b, const void *p, size_t n);
int dlog_buf_adds(struct dlog_buf *b, const char *s);
int dlog_buf_addc(struct dlog_buf *b, char c);
/* v in decimal, as "%lld" would write it. */
int dlog_buf_add_i64(struct dlog_buf *b, int64_t v);
int dlog_buf_printf(struct dlog_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int dlog_buf_vprintf(struct dlog_buf *b, const char *fmt, va_list ap);
/* Hand the memory to the caller (who frees it with free()); the buffer is left empty.
 * Returns NULL if nothing was ever appended. */
char *dlog_buf_steal(struct dlog_buf *b, size_t *len);

/* ---- hex ---- */
/* Write 2*n lowercase hex digits and a NUL into out (2*n+1 bytes). */
void dlog_hex_encode(const uint8_t *in, size_t n, char *out);
/* Parse exactly 16 lowercase or uppercase hex digits into *out. 0 or DLOG_EINVAL. */
int dlog_hex_u64(const char *s, size_t len, uint64_t *out);

/* ---- event ids: 32 lowercase hex = 16 hex of the store sequence number followed by 16 hex of
 * the creation time in microseconds. Sorting ids as strings sorts events by creation (commit)
 * order; an id alone tells where it stands in that order even if the event is gone. ---- */
#define DLOG_ID_STRLEN 33
struct dlog_id {
	uint64_t seq;
	dlog_time created;
};
void dlog_id_format(const struct dlog_id *id, char out[DLOG_ID_STRLEN]);
/* Exactly 32 lowercase hex digits, else DLOG_EINVAL. */
int dlog_id_parse(const char *s, size_t len, struct dlog_id *out);
/* <0, 0, >0 as the ids' string order. */
int dlog_id_cmp(const struct dlog_id *a, const struct dlog_id *b);

/* ---- text validation ---- */
/* True when s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF) and holds no
 * control character U+0000..U+001F. */
bool dlog_text_valid(const char *s, size_t len);

/* ---- checked numbers ---- */
/* Whole string is an optional '-' and 1..19 decimal digits within [min, max]. 0 or DLOG_EINVAL. */
int dlog_parse_i64(const char *s, size_t len, int64_t min, int64_t max, int64_t *out);

/* Case-insensitive compare of s[0..len) with the NUL-terminated word. */
bool dlog_word_eq(const char *s, size_t len, const char *word);

/* ---- logging (log.c): one line per call on stderr ----
 * Levels are syslog's numbers. Under systemd, when stderr is the journal ($JOURNAL_STREAM names
 * stderr's device:inode), lines start with "<6>"/"<4>"/"<3>" so the journal stores the
 * priority; anywhere else with "info: "/"warning: "/"error: ". A line is written with one
 * write(2) (whole lines even from several threads), cut at DLOG_LOG_LINE_MAX bytes, and a
 * newline inside the text is replaced by a space (one event, one line). */
enum dlog_log_level {
	DLOG_LOG_ERR = 3,
	DLOG_LOG_WARNING = 4,
	DLOG_LOG_INFO = 6,
};
#define DLOG_LOG_LINE_MAX 2048
void dlog_log(enum dlog_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Decide the line prefix style again (tests; after stderr was redirected). 1 forces the
 * journal style, 0 the plain one, -1 detects from $JOURNAL_STREAM. */
void dlog_log_init(int journal);

#endif
