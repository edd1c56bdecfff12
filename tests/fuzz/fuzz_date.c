/* libFuzzer target for the date-time parser of filters and ingest: whatever parses must format
 * to the canonical form, which parses back to the same instant; the formatter never writes past
 * DLOG_TIME_STRLEN. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size ? size : 1);
	char out[DLOG_TIME_STRLEN];
	dlog_time t = 0, t2 = 0;

	if (s == NULL)
		return 0;
	if (size > 0)
		memcpy(s, data, size);
	if (dlog_time_parse(s, size, &t) == 0) {
		/* years 1970..9999 only, so never negative and never past 9999-12-31 */
		if (t < 0 || t >= INT64_C(253402300800000000))
			abort();
		dlog_time_format(t, out);
		if (strlen(out) != DLOG_TIME_STRLEN - 1 || out[DLOG_TIME_STRLEN - 2] != 'Z')
			abort();
		if (dlog_time_parse(out, strlen(out), &t2) != 0 || t2 != t)
			abort();
	}
	free(s);
	return 0;
}
