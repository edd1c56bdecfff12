/* base: error names, time, bounded buffers, hex, ids, UTF-8 and number helpers; see base.h. */
#include "base/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- errors ---- */

static const struct {
	int code;
	const char *name;
} err_names[] = {
    {DLOG_OK, "ok"},
    {DLOG_EINVAL, "invalid"},
    {DLOG_ENOMEM, "out of memory"},
    {DLOG_ENOTFOUND, "not found"},
    {DLOG_ECONFLICT, "conflict"},
    {DLOG_ESTORE, "store failure"},
    {DLOG_EUNAVAIL, "unavailable"},
    {DLOG_EAUTH, "unauthorized"},
    {DLOG_EFORBIDDEN, "forbidden"},
    {DLOG_ETOOBIG, "too big"},
    {DLOG_EMETHOD, "method not supported"},
    {DLOG_EMEDIA, "unsupported media type"},
    {DLOG_ERATE, "rate limited"},
    {DLOG_EIO, "i/o error"},
    {DLOG_ESCHEMA, "foreign or newer store schema"},
    {DLOG_EURITOOLONG, "uri too long"},
    {DLOG_EHDRTOOBIG, "headers too big"},
};

const char *dlog_strerror(int err)
{
	for (size_t i = 0; i < sizeof(err_names) / sizeof(err_names[0]); i++)
		if (err_names[i].code == err)
			return err_names[i].name;
	return "unknown error";
}

/* ---- time ---- */

#define US_PER_SEC INT64_C(1000000)
#define US_PER_DAY (INT64_C(86400) * US_PER_SEC)
/* 10000-01-01 as days since the epoch: the end of the range dlog_time_parse accepts. */
#define DAYS_MAX INT64_C(2932897)

dlog_time dlog_time_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return 0;
	return (dlog_time)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). Used
 * instead of timegm() because that depends on the C library's range and the TZ machinery. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse, for formatting. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
	static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* n decimal digits at s into *out; false if any is not a digit. */
static bool digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

struct civil {
	unsigned year, mon, day, hour, min, sec, usec;
};

/* The fraction between the seconds and 'Z': ".d" with 1-6 digits, scaled to microseconds. */
static bool parse_fraction(const char *s, size_t len, unsigned *usec)
{
	if (len < 2 || len > 7 || s[0] != '.' || !digits(s + 1, len - 1, usec))
		return false;
	for (size_t i = len - 1; i < 6; i++)
		*usec *= 10;
	return true;
}

/* Extended form: 2016-11-30T16:25:12[.f]Z. len includes the 'Z'. */
static bool parse_extended(const char *s, size_t len, struct civil *c)
{
	if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
		return false;
	if (!digits(s, 4, &c->year) || !digits(s + 5, 2, &c->mon) || !digits(s + 8, 2, &c->day) ||
	    !digits(s + 11, 2, &c->hour) || !digits(s + 14, 2, &c->min) ||
	    !digits(s + 17, 2, &c->sec))
		return false;
	c->usec = 0;
	if (len == 20)
		return true;
	return parse_fraction(s + 19, len - 20, &c->usec);
}

/* Basic form: 20161130T162512Z, exactly 16 bytes. */
static bool parse_basic(const char *s, size_t len, struct civil *c)
{
	if (len != 16 || s[8] != 'T')
		return false;
	c->usec = 0;
	return digits(s, 4, &c->year) && digits(s + 4, 2, &c->mon) && digits(s + 6, 2, &c->day) &&
	       digits(s + 9, 2, &c->hour) && digits(s + 11, 2, &c->min) &&
	       digits(s + 13, 2, &c->sec);
}

static bool civil_valid(const struct civil *c)
{
	return c->year >= 1970 && c->year <= 9999 && c->mon >= 1 && c->mon <= 12 && c->day >= 1 &&
	       c->day <= days_in_month(c->year, c->mon) && c->hour <= 23 && c->min <= 59 &&
	       c->sec <= 59;
}

int dlog_time_parse(const char *s, size_t len, dlog_time *out)
{
	struct civil c;
	bool ok;

	if (s == NULL || len < 16 || s[len - 1] != 'Z')
		return DLOG_EINVAL;
	/* The two forms differ at byte 4: '-' in the extended one, a digit in the basic one. */
	ok = s[4] == '-' ? parse_extended(s, len, &c) : parse_basic(s, len, &c);
	if (!ok || !civil_valid(&c))
		return DLOG_EINVAL;
	int64_t days = days_from_civil(c.year, c.mon, c.day);
	int64_t secs = days * 86400 + c.hour * 3600 + c.min * 60 + c.sec;
	*out = secs * US_PER_SEC + c.usec;
	return 0;
}

/* Write v as exactly n decimal digits, zero-padded. */
static char *put_digits(char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

char *dlog_time_format(dlog_time t, char buf[DLOG_TIME_STRLEN])
{
	/* Clamp into the years 1970..9999 that dlog_time_parse accepts, so the text always has
	 * the fixed width the buffer is sized for and always parses back. */
	if (t < 0)
		t = 0;
	if (t >= DAYS_MAX * US_PER_DAY)
		t = DAYS_MAX * US_PER_DAY - 1;
	int64_t days = t / US_PER_DAY;
	int64_t rem = t % US_PER_DAY;
	int64_t y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);

	char *p = buf;
	p = put_digits(p, (uint64_t)y, 4);
	*p++ = '-';
	p = put_digits(p, m, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p++ = 'T';
	p = put_digits(p, (uint64_t)(rem / (3600 * US_PER_SEC)), 2);
	*p++ = ':';
	p = put_digits(p, (uint64_t)(rem / (60 * US_PER_SEC) % 60), 2);
	*p++ = ':';
	p = put_digits(p, (uint64_t)(rem / US_PER_SEC % 60), 2);
	*p++ = '.';
	p = put_digits(p, (uint64_t)(rem % US_PER_SEC), 6);
	*p++ = 'Z';
	*p = '\0';
	return buf;
}

/* ---- bounded buffer ---- */

#define BUF_MIN_CAP 64

void dlog_buf_init(struct dlog_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void dlog_buf_done(struct dlog_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void dlog_buf_reset(struct dlog_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/* Make room for n more content bytes plus the NUL. cap counts allocated bytes (NUL included),
 * so it never exceeds max + 1. */
int dlog_buf_reserve(struct dlog_buf *b, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return DLOG_ETOOBIG;
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	size_t ceiling = b->max < SIZE_MAX ? b->max + 1 : SIZE_MAX;
	size_t cap = b->cap ? b->cap : BUF_MIN_CAP;
	/* Double, but never past max + 1: a buffer near its maximum gets exactly that. */
	while (cap < need)
		cap = cap > ceiling / 2 ? ceiling : cap * 2;
	if (cap > ceiling)
		cap = ceiling;
	char *p = realloc(b->data, cap);
	if (p == NULL)
		return DLOG_ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int dlog_buf_add(struct dlog_buf *b, const void *p, size_t n)
{
	int rc = dlog_buf_reserve(b, n);

	if (rc != 0)
		return rc;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int dlog_buf_adds(struct dlog_buf *b, const char *s)
{
	return dlog_buf_add(b, s, strlen(s));
}

int dlog_buf_addc(struct dlog_buf *b, char c)
{
	return dlog_buf_add(b, &c, 1);
}

/* Formats into the room the buffer has; only what does not fit is formatted twice. */
int dlog_buf_vprintf(struct dlog_buf *b, const char *fmt, va_list ap)
{
	size_t room = b->data != NULL && b->cap > b->len ? b->cap - b->len : 0;
	va_list ap2;

	va_copy(ap2, ap);
	int n = vsnprintf(room > 0 ? b->data + b->len : NULL, room, fmt, ap2);
	va_end(ap2);
	if (n < 0 || (size_t)n >= room) {
		if (room > 0)
			b->data[b->len] = '\0'; /* the part that was written is not content */
		if (n < 0)
			return DLOG_EINVAL;
		int rc = dlog_buf_reserve(b, (size_t)n);
		if (rc != 0)
			return rc;
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	}
	/* in place: cap never exceeds max + 1, so what fit is within max */
	b->len += (size_t)n;
	return 0;
}

int dlog_buf_add_i64(struct dlog_buf *b, int64_t v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	return dlog_buf_add(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

int dlog_buf_printf(struct dlog_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int rc = dlog_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

char *dlog_buf_steal(struct dlog_buf *b, size_t *len)
{
	char *p = b->data;

	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

/* ---- hex ---- */

static const char hex_digits[] = "0123456789abcdef";

void dlog_hex_encode(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex_digits[in[i] >> 4];
		out[2 * i + 1] = hex_digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Value of a hex digit, or -1. Uppercase only when allowed: ids are lowercase by contract so
 * that one event has exactly one id text. */
static int hex_val(char c, bool upper_ok)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (upper_ok && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hex16(const char *s, bool upper_ok, uint64_t *out)
{
	uint64_t v = 0;

	for (size_t i = 0; i < 16; i++) {
		int d = hex_val(s[i], upper_ok);
		if (d < 0)
			return DLOG_EINVAL;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return 0;
}

int dlog_hex_u64(const char *s, size_t len, uint64_t *out)
{
	if (s == NULL || len != 16)
		return DLOG_EINVAL;
	return hex16(s, true, out);
}

/* ---- ids ---- */

static void put_hex_u64(char *out, uint64_t v)
{
	for (int i = 15; i >= 0; i--) {
		out[i] = hex_digits[v & 15];
		v >>= 4;
	}
}

void dlog_id_format(const struct dlog_id *id, char out[DLOG_ID_STRLEN])
{
	put_hex_u64(out, id->seq);
	put_hex_u64(out + 16, (uint64_t)id->created);
	out[32] = '\0';
}

int dlog_id_parse(const char *s, size_t len, struct dlog_id *out)
{
	uint64_t seq, created;

	if (s == NULL || len != 32 || hex16(s, false, &seq) != 0 ||
	    hex16(s + 16, false, &created) != 0)
		return DLOG_EINVAL;
	out->seq = seq;
	out->created = (dlog_time)created;
	return 0;
}

int dlog_id_cmp(const struct dlog_id *a, const struct dlog_id *b)
{
	/* Fixed-width hex sorts like the unsigned numbers it encodes. */
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	uint64_t ca = (uint64_t)a->created, cb = (uint64_t)b->created;
	if (ca != cb)
		return ca < cb ? -1 : 1;
	return 0;
}

/* ---- text ---- */

/* Length of the UTF-8 sequence starting at s[0..len), or 0 if it is invalid.
 * The ranges of the second byte are those of RFC 3629's table, which excludes overlongs,
 * surrogates and code points past U+10FFFF without decoding first. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	unsigned c = s[0];
	size_t n;
	unsigned lo = 0x80, hi = 0xBF;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n;
}

bool dlog_text_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		if (p[i] < 0x20)
			return false;
		size_t n = utf8_seq(p + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* ---- numbers ---- */

int dlog_parse_i64(const char *s, size_t len, int64_t min, int64_t max, int64_t *out)
{
	bool neg = false;
	uint64_t v = 0;
	size_t i = 0;

	if (s == NULL || len == 0)
		return DLOG_EINVAL;
	if (s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (len - i < 1 || len - i > 19)
		return DLOG_EINVAL;
	/* 19 digits stay below 10^19 < 2^64, so the unsigned sum cannot wrap. */
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return DLOG_EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	int64_t r;
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return DLOG_EINVAL;
		r = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > (uint64_t)INT64_MAX)
			return DLOG_EINVAL;
		r = (int64_t)v;
	}
	if (r < min || r > max)
		return DLOG_EINVAL;
	*out = r;
	return 0;
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool dlog_word_eq(const char *s, size_t len, const char *word)
{
	size_t wl = strlen(word);

	if (len != wl)
		return false;
	for (size_t i = 0; i < len; i++)
		if (ascii_lower(s[i]) != ascii_lower(word[i]))
			return false;
	return true;
}
