/* libFuzzer target for the ingest body parser (systemd fuzz-journal-remote idea): any bytes, as
 * JSON and as NDJSON, must give a parsed batch or a validation error naming a place, never a
 * crash, a leak or a read past the body. The HTTP layer's pre-parse shape check (nesting and
 * value count) sees the same bytes first, as it does in the server. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "base/limits.h"
#include "http/http_int.h"

static void check(const char *s, size_t len, bool ndjson)
{
	struct dlog_ingest *in = NULL;
	struct dlog_ingest_error err;
	int rc = dlog_ingest_parse(s, len, ndjson, &in, &err);

	if (rc == 0) {
		if (in == NULL)
			abort();
		dlog_ingest_free(in);
		return;
	}
	if (in != NULL)
		abort(); /* nothing handed out on failure */
	if (rc != DLOG_EINVAL && rc != DLOG_ENOMEM && rc != DLOG_ETOOBIG)
		abort();
	/* the error detail goes into an answer: bounded, terminated, and says something */
	if (memchr(err.field, '\0', sizeof(err.field)) == NULL ||
	    memchr(err.message, '\0', sizeof(err.message)) == NULL)
		abort();
	if (rc == DLOG_EINVAL && err.message[0] == '\0')
		abort();
	if (err.index < -1)
		abort();
}

/* The server's limits and a tiny budget (so the refusing paths run too): refusals say why. */
static void check_shape(const char *s, size_t len)
{
	char why[96];
	int rc = http__json_shape(s, len, 2, 16, why, sizeof(why));

	if (rc != 0 && (rc != DLOG_EINVAL || memchr(why, '\0', sizeof(why)) == NULL || !why[0]))
		abort();
	rc = http__json_shape(s, len, DLOG_MAX_JSON_DEPTH, DLOG_MAX_JSON_VALUES, why, sizeof(why));
	if (rc != 0 && rc != DLOG_EINVAL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A private copy of exactly size bytes, so reading past len is caught by ASan. */
	char *s = malloc(size ? size : 1);

	if (s == NULL)
		return 0;
	if (size > 0)
		memcpy(s, data, size);
	check_shape(s, size);
	check(s, size, false);
	check(s, size, true);
	free(s);
	return 0;
}
