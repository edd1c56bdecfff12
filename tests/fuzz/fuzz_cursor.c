/* libFuzzer target for the event id (the paging cursor, after= and Last-Event-ID): exactly the
 * 32-lowercase-hex strings parse, and they format back byte for byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

static bool lower_hex32(const char *s, size_t n)
{
	if (n != 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size ? size : 1);
	char out[DLOG_ID_STRLEN];
	struct dlog_id id, id2;
	int rc;

	if (s == NULL)
		return 0;
	if (size > 0)
		memcpy(s, data, size);
	rc = dlog_id_parse(s, size, &id);
	if ((rc == 0) != lower_hex32(s, size))
		abort();
	if (rc == 0) {
		dlog_id_format(&id, out);
		if (memcmp(out, s, 32) != 0 || out[32] != '\0')
			abort();
		if (dlog_id_parse(out, 32, &id2) != 0 || dlog_id_cmp(&id, &id2) != 0)
			abort();
	}
	free(s);
	return 0;
}
