/* The event code catalog; see catalog.h. All data comes from catalog_data.h. */
#include "catalog/catalog.h"

#include "base/base.h"

#include <stdint.h>
#include <string.h>

/* ---- compile-time checks on the data ----
 * The tables are hand-edited, so the compiler checks what a typo could break instead of leaving
 * it to a test: a duplicate category or code is a duplicate enum constant, a code naming an
 * unknown category uses an undeclared identifier, and a mismatched message type or a FAIL code
 * without a corrective action fails a static assertion. */

#define DLOG_CATEGORY(name, mtype, summary, reason) CATEGORY_ID_##name,
enum category_id {
#include "catalog/catalog_data.h"
	CATEGORY_COUNT
};

#define DLOG_CATEGORY(name, mtype, summary, reason) CATEGORY_MTYPE_##name = DLOG_MTYPE_##mtype,
enum category_mtype {
#include "catalog/catalog_data.h"
};

#define DLOG_CODE(code, mtype, category, text, explanation, action, source, state_change)          \
	CODE_ID_##code,
enum code_id {
#include "catalog/catalog_data.h"
	CODE_COUNT
};

/* sizeof a string literal is 1 when it is "". */
#define DLOG_CODE(code, mtype, category, text, explanation, action, source, state_change)          \
	_Static_assert((int)CATEGORY_MTYPE_##category == (int)DLOG_MTYPE_##mtype,                  \
	               #code ": message type differs from its category's");                        \
	_Static_assert(sizeof(text) > 1, #code ": empty portal text");                             \
	_Static_assert(DLOG_MTYPE_##mtype != DLOG_MTYPE_FAIL || sizeof(action) > 1,                \
	               #code ": a FAIL code needs a corrective action");
#include "catalog/catalog_data.h"

/* ---- the tables ---- */

static const struct dlog_category categories[CATEGORY_COUNT] = {
#define DLOG_CATEGORY(name, mtype, summary, reason)                                                \
	[CATEGORY_ID_##name] = {#name, DLOG_MTYPE_##mtype, summary, reason},
#include "catalog/catalog_data.h"
};

static const struct dlog_code codes[CODE_COUNT] = {
#define DLOG_CODE(code, mtype, category, text, explanation, action, source, state_change)          \
	[CODE_ID_##code] = {#code,  DLOG_MTYPE_##mtype,   #category,   text, explanation,          \
	                    action, DLOG_SOURCE_##source, state_change},
#include "catalog/catalog_data.h"
};

static const char *const mtype_names[DLOG_MTYPE_COUNT] = {
    [DLOG_MTYPE_SUCCESS] = "SUCCESS",
    [DLOG_MTYPE_FAIL] = "FAIL",
    [DLOG_MTYPE_SKIPPED] = "SKIPPED",
    [DLOG_MTYPE_INFO] = "INFO",
};

/* s[0..len) equals the NUL-terminated name; s needs no NUL and is not read past len. */
static bool name_eq(const char *s, size_t len, const char *name)
{
	return strlen(name) == len && memcmp(s, name, len) == 0;
}

/* ---- codes ---- */

const struct dlog_code *dlog_catalog_codes(size_t *count)
{
	if (count)
		*count = CODE_COUNT;
	return codes;
}

/* A linear scan: 43 short names, looked up once per ingested event, cost less than the JSON
 * parsing around them; an index would be a second structure to keep in step. */
const struct dlog_code *dlog_catalog_find(const char *s, size_t len)
{
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < CODE_COUNT; i++)
		if (name_eq(s, len, codes[i].code))
			return &codes[i];
	return NULL;
}

/* A pointer from elsewhere gets CODE_COUNT (one past the last index) rather than garbage;
 * compared as integers because relational operators on unrelated pointers are undefined. */
size_t dlog_catalog_index(const struct dlog_code *c)
{
	uintptr_t p = (uintptr_t)c, lo = (uintptr_t)&codes[0], hi = (uintptr_t)&codes[CODE_COUNT];

	if (p < lo || p >= hi || (p - lo) % sizeof(codes[0]) != 0)
		return CODE_COUNT;
	return (p - lo) / sizeof(codes[0]);
}

/* ---- categories ---- */

const struct dlog_category *dlog_catalog_categories(size_t *count)
{
	if (count)
		*count = CATEGORY_COUNT;
	return categories;
}

const struct dlog_category *dlog_catalog_category_find(const char *s, size_t len)
{
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < CATEGORY_COUNT; i++)
		if (name_eq(s, len, categories[i].name))
			return &categories[i];
	return NULL;
}

/* ---- message types ---- */

/* An out-of-range value is a bug in the caller; "INVALID" makes it visible in output instead of
 * crashing on NULL. */
const char *dlog_mtype_name(enum dlog_mtype t)
{
	if ((unsigned)t >= DLOG_MTYPE_COUNT)
		return "INVALID";
	return mtype_names[t];
}

int dlog_mtype_parse(const char *s, size_t len, enum dlog_mtype *out)
{
	if (s == NULL)
		return DLOG_EINVAL;
	for (unsigned i = 0; i < DLOG_MTYPE_COUNT; i++) {
		if (name_eq(s, len, mtype_names[i])) {
			if (out)
				*out = (enum dlog_mtype)i;
			return 0;
		}
	}
	return DLOG_EINVAL;
}
