/* Unit tests for catalog/: the code table against the product description and SPEC §3.
 *
 * The expectations below are written out independently of catalog_data.h (not generated from it),
 * so that a wrong edit of the data shows up here instead of being copied into the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "base/base.h"
#include "catalog/catalog.h"

#define SVC DLOG_SOURCE_SERVICE
#define CLI DLOG_SOURCE_CLIENT
#define OK DLOG_MTYPE_SUCCESS
#define FAIL DLOG_MTYPE_FAIL
#define SKIP DLOG_MTYPE_SKIPPED
#define INFO DLOG_MTYPE_INFO

/* Every code of the seed's two tables, in catalog order. Message types are SPEC §3; categories
 * and default state_change are the mapping decided for catalog_data.h. */
static const struct expect {
	const char *code;
	enum dlog_mtype mtype;
	const char *category;
	enum dlog_source source;
	bool state_change;
} expected[] = {
    {"SYS_100", INFO, "INFO_SERVICE", SVC, false},
    {"SYS_101", FAIL, "FAIL_SERVICE", SVC, true},
    {"SYS_102", FAIL, "FAIL_SERVICE", SVC, true},
    {"SYS_103", FAIL, "FAIL_CAMPAIGN_STOPPED", SVC, true},
    {"SYS_104", FAIL, "FAIL_CAMPAIGN_STOPPED", SVC, true},
    {"SYS_105", INFO, "INFO_LIFECYCLE", SVC, true},
    {"SYS_106", INFO, "INFO_LIFECYCLE", SVC, true},
    {"SYS_107", INFO, "INFO_LIFECYCLE", SVC, true},
    {"SYS_108", INFO, "INFO_CAMPAIGN", SVC, false},
    {"SYS_109", INFO, "INFO_CAMPAIGN", SVC, false},
    {"SYS_110", SKIP, "SKIPPED", SVC, true},
    {"SYS_111", FAIL, "FAIL_SERVICE", SVC, true},
    {"SYS_112", OK, "SUCCESS", SVC, true},
    {"UPD2_OK_18", OK, "SUCCESS", CLI, true},
    {"UPD4_FAIL_21", FAIL, "FAIL_MANIFEST_REJECTED", CLI, true},
    {"UPD4_FAIL_22", FAIL, "FAIL_MANIFEST_REJECTED", CLI, true},
    {"UPD4_FAIL_23", FAIL, "FAIL_INTEGRITY", CLI, true},
    {"UPD4_FAIL_24", FAIL, "FAIL_NETWORK", CLI, true},
    {"UPD4_FAIL_25", FAIL, "FAIL_MANIFEST_REJECTED", CLI, true},
    {"UPD4_FAIL_26", FAIL, "FAIL_INTEGRITY", CLI, true},
    {"UPD4_FAIL_27", FAIL, "FAIL_MANIFEST_REJECTED", CLI, true},
    {"UPD4_FAIL_28", FAIL, "FAIL_MANIFEST_REJECTED", CLI, true},
    {"UPD4_FAIL_29", FAIL, "FAIL_MANIFEST_REJECTED", CLI, true},
    {"UPD4_FAIL_30", FAIL, "FAIL_MANIFEST_REJECTED", CLI, true},
    {"UPD4_FAIL_31", FAIL, "FAIL_MANIFEST_REJECTED", CLI, true},
    {"UPD4_FAIL_32", FAIL, "FAIL_INTEGRITY", CLI, true},
    {"UPD4_FAIL_33", FAIL, "FAIL_STORAGE", CLI, true},
    {"UPD4_FAIL_34", FAIL, "FAIL_RESOURCES", CLI, true},
    {"UPD4_FAIL_35", FAIL, "FAIL_STORAGE", CLI, true},
    {"UPD4_FAIL_36", FAIL, "FAIL_STORAGE", CLI, true},
    {"UPD4_FAIL_37", FAIL, "FAIL_APPLICATION", CLI, true},
    {"UPD4_FAIL_38", FAIL, "FAIL_APPLICATION", CLI, true},
    {"UPD4_FAIL_39", FAIL, "FAIL_MANIFEST_REJECTED", CLI, true},
    {"UPD4_FAIL_40", FAIL, "FAIL_APPLICATION", CLI, true},
    {"UPD4_FAIL_41", FAIL, "FAIL_INTERNAL", CLI, true},
    {"UPD4_FAIL_42", FAIL, "FAIL_INTERNAL", CLI, true},
    {"UPD4_FAIL_43", FAIL, "FAIL_INTERNAL", CLI, true},
    {"UPD4_FAIL_44", FAIL, "FAIL_STORAGE", CLI, true},
    {"UPD4_FAIL_45", FAIL, "FAIL_NETWORK", CLI, true},
    {"UPD4_FAIL_46", FAIL, "FAIL_PACKAGE", CLI, true},
    {"UPD4_FAIL_47", FAIL, "FAIL_PACKAGE", CLI, true},
    {"UPD4_FAIL_48", FAIL, "FAIL_PACKAGE", CLI, true},
    {"UPD4_FAIL_49", FAIL, "FAIL_PACKAGE", CLI, true},
};
#define N_EXPECTED (sizeof(expected) / sizeof(expected[0]))

static const struct dlog_code *find_str(const char *s)
{
	return dlog_catalog_find(s, strlen(s));
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* 13 service codes, one UPD2 and 29 UPD4 codes: 43, service codes first. */
static void test_counts(void **state)
{
	(void)state;
	size_t n = 0, svc = 0, upd2 = 0, upd4 = 0;
	const struct dlog_code *c = dlog_catalog_codes(&n);

	assert_non_null(c);
	assert_int_equal(n, 43);
	assert_int_equal(N_EXPECTED, 43);
	for (size_t i = 0; i < n; i++) {
		if (has_prefix(c[i].code, "SYS_")) {
			svc++;
			assert_int_equal(c[i].source, DLOG_SOURCE_SERVICE);
			assert_int_equal(i, svc - 1); /* service codes come first */
		} else if (has_prefix(c[i].code, "UPD2_")) {
			upd2++;
			assert_int_equal(c[i].source, DLOG_SOURCE_CLIENT);
		} else if (has_prefix(c[i].code, "UPD4_")) {
			upd4++;
			assert_int_equal(c[i].source, DLOG_SOURCE_CLIENT);
		} else {
			fail_msg("unexpected code %s", c[i].code);
		}
	}
	assert_int_equal(svc, 13);
	assert_int_equal(upd2, 1);
	assert_int_equal(upd4, 29);
	/* a NULL count is allowed */
	assert_ptr_equal(dlog_catalog_codes(NULL), c);
}

/* Every expected code is present with its message type, category, source and state_change, in
 * the expected order. */
static void test_codes_match_spec(void **state)
{
	(void)state;
	size_t n = 0;
	const struct dlog_code *all = dlog_catalog_codes(&n);

	assert_int_equal(n, N_EXPECTED);
	for (size_t i = 0; i < N_EXPECTED; i++) {
		const struct expect *e = &expected[i];
		const struct dlog_code *c = find_str(e->code);

		if (c == NULL)
			fail_msg("%s missing", e->code);
		assert_ptr_equal(c, &all[i]);
		assert_string_equal(c->code, e->code);
		if (c->mtype != e->mtype)
			fail_msg("%s: mtype %s, SPEC says %s", e->code, dlog_mtype_name(c->mtype),
			         dlog_mtype_name(e->mtype));
		assert_string_equal(c->category, e->category);
		assert_int_equal(c->source, e->source);
		if (c->state_change != e->state_change)
			fail_msg("%s: state_change %d", e->code, c->state_change);
	}
}

/* The state_change rule in catalog_data.h: every outcome (non-INFO) is a state change; of the
 * INFO codes only the lifecycle ones are. */
static void test_state_change_rule(void **state)
{
	(void)state;
	size_t n = 0;
	const struct dlog_code *c = dlog_catalog_codes(&n);

	for (size_t i = 0; i < n; i++) {
		bool want =
		    c[i].mtype != DLOG_MTYPE_INFO || strcmp(c[i].category, "INFO_LIFECYCLE") == 0;
		if (c[i].state_change != want)
			fail_msg("%s breaks the state_change rule", c[i].code);
	}
}

/* Every code's category exists and has the code's message type. */
static void test_categories_of_codes(void **state)
{
	(void)state;
	size_t n = 0;
	const struct dlog_code *c = dlog_catalog_codes(&n);

	for (size_t i = 0; i < n; i++) {
		const struct dlog_category *cat =
		    dlog_catalog_category_find(c[i].category, strlen(c[i].category));
		if (cat == NULL)
			fail_msg("%s: category %s does not exist", c[i].code, c[i].category);
		assert_string_equal(cat->name, c[i].category);
		if (cat->mtype != c[i].mtype)
			fail_msg("%s is %s but its category %s is %s", c[i].code,
			         dlog_mtype_name(c[i].mtype), cat->name,
			         dlog_mtype_name(cat->mtype));
	}
}

/* Categories: the listed families exist, names are unique, each is used by a code, each has a
 * summary and a reason, and each name starts with its message type. */
static void test_category_table(void **state)
{
	(void)state;
	static const char *const required[] = {
	    "FAIL_SERVICE",     "FAIL_NETWORK",   "FAIL_MANIFEST_REJECTED",
	    "FAIL_INTEGRITY",   "FAIL_RESOURCES", "FAIL_STORAGE",
	    "FAIL_APPLICATION", "FAIL_INTERNAL",  "FAIL_PACKAGE",
	    "SUCCESS",          "SKIPPED",        "INFO_SERVICE",
	    "INFO_LIFECYCLE",   "INFO_CAMPAIGN",  "FAIL_CAMPAIGN_STOPPED",
	};
	size_t ncat = 0, ncode = 0;
	const struct dlog_category *cat = dlog_catalog_categories(&ncat);
	const struct dlog_code *code = dlog_catalog_codes(&ncode);

	assert_non_null(cat);
	assert_int_equal(ncat, sizeof(required) / sizeof(required[0]));
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (dlog_catalog_category_find(required[i], strlen(required[i])) == NULL)
			fail_msg("category %s missing", required[i]);

	for (size_t i = 0; i < ncat; i++) {
		const char *name = cat[i].name;
		size_t used = 0;

		for (size_t j = i + 1; j < ncat; j++)
			assert_string_not_equal(name, cat[j].name);
		for (size_t j = 0; j < ncode; j++)
			used += strcmp(code[j].category, name) == 0;
		if (used == 0)
			fail_msg("category %s has no code", name);
		assert_true(strlen(cat[i].summary) > 0);
		assert_true(strlen(cat[i].reason) > 0);
		assert_true(has_prefix(name, dlog_mtype_name(cat[i].mtype)));
		assert_ptr_equal(dlog_catalog_category_find(name, strlen(name)), &cat[i]);
	}
	assert_ptr_equal(dlog_catalog_categories(NULL), cat);
}

static void test_category_find_rejects(void **state)
{
	(void)state;
	assert_null(dlog_catalog_category_find("FAIL_NET", 8));
	assert_null(dlog_catalog_category_find("FAIL_NETWORKS", 13));
	assert_null(dlog_catalog_category_find("fail_network", 12));
	assert_null(dlog_catalog_category_find("", 0));
	assert_null(dlog_catalog_category_find(NULL, 0));
	/* pointer and length: the bytes after len are not part of the name */
	assert_non_null(dlog_catalog_category_find("FAIL_NETWORKS", 12));
}

/* No code appears twice. */
static void test_no_duplicate_codes(void **state)
{
	(void)state;
	size_t n = 0;
	const struct dlog_code *c = dlog_catalog_codes(&n);

	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(c[i].code, c[j].code) == 0)
				fail_msg("%s appears twice", c[i].code);
}

/* Every FAIL code tells the operator what to do; every code has a portal text and an
 * explanation; a SUCCESS or SKIPPED code has nothing to correct. */
static void test_texts_present(void **state)
{
	(void)state;
	size_t n = 0;
	const struct dlog_code *c = dlog_catalog_codes(&n);

	for (size_t i = 0; i < n; i++) {
		assert_non_null(c[i].text);
		assert_non_null(c[i].explanation);
		assert_non_null(c[i].action);
		if (c[i].text[0] == '\0' || c[i].explanation[0] == '\0')
			fail_msg("%s lacks a text or an explanation", c[i].code);
		if (c[i].mtype == DLOG_MTYPE_FAIL && c[i].action[0] == '\0')
			fail_msg("%s is FAIL without a corrective action", c[i].code);
		if ((c[i].mtype == DLOG_MTYPE_SUCCESS || c[i].mtype == DLOG_MTYPE_SKIPPED) &&
		    c[i].action[0] != '\0')
			fail_msg("%s is %s with a corrective action", c[i].code,
			         dlog_mtype_name(c[i].mtype));
	}
}

/* Copy mistakes show as stray whitespace ("package ."), a missing full stop or a cut sentence. */
static void check_sentence(const char *code, const char *what, const char *s)
{
	size_t len = strlen(s);

	if (len == 0)
		return;
	if (s[0] == ' ' || s[len - 1] != '.' || strstr(s, "  ") || strstr(s, " .") ||
	    strchr(s, '\t') || strchr(s, '\n'))
		fail_msg("%s %s is not a clean sentence: \"%s\"", code, what, s);
}

static void test_text_whitespace(void **state)
{
	(void)state;
	size_t ncode = 0, ncat = 0;
	const struct dlog_code *c = dlog_catalog_codes(&ncode);
	const struct dlog_category *cat = dlog_catalog_categories(&ncat);

	for (size_t i = 0; i < ncode; i++) {
		check_sentence(c[i].code, "text", c[i].text);
		check_sentence(c[i].code, "explanation", c[i].explanation);
		check_sentence(c[i].code, "action", c[i].action);
	}
	for (size_t i = 0; i < ncat; i++) {
		check_sentence(cat[i].name, "summary", cat[i].summary);
		check_sentence(cat[i].name, "reason", cat[i].reason);
	}
}

/* A few texts exactly as in the product description. */
static void test_seed_texts(void **state)
{
	(void)state;
	const struct dlog_code *c;

	c = find_str("UPD4_FAIL_24");
	assert_non_null(c);
	assert_string_equal(c->text, "Connection lost during download.");
	assert_string_equal(
	    c->explanation,
	    "Network connection was lost during the download of the updated image.");
	assert_string_equal(c->action, "Check the device's connectivity.");

	c = find_str("SYS_100");
	assert_non_null(c);
	assert_string_equal(c->text, "Service error: Device could not be reached.");

	c = find_str("SYS_104");
	assert_non_null(c);
	assert_string_equal(c->text, "Campaign was manually stopped. Device may still update.");

	c = find_str("UPD2_OK_18");
	assert_non_null(c);
	assert_string_equal(c->text, "Asset update successfully completed.");
	assert_string_equal(c->explanation, "The firmware image has been updated successfully.");
	assert_string_equal(c->action, "");

	c = find_str("UPD4_FAIL_26");
	assert_non_null(c);
	assert_string_equal(c->action, "Manifest was edited or corrupted in transit. Retry.");

	c = find_str("UPD4_FAIL_32");
	assert_non_null(c);
	assert_string_equal(c->action,
	                    "Recreate the delta patch. The image you provide in the --current-fw "
	                    "argument, when you create the delta patch, must be the same as the "
	                    "firmware installed on the device.");

	/* the seed's "package ." with its stray space, fixed */
	c = find_str("UPD4_FAIL_47");
	assert_non_null(c);
	assert_string_equal(
	    c->explanation,
	    "The number of images specified in the package descriptor doesn't match "
	    "the number of images inside the package.");

	c = find_str("UPD4_FAIL_41");
	assert_non_null(c);
	assert_string_equal(c->text, "Non-specific internal error.");
	assert_string_equal(c->action, "Call FAE.");
}

/* find() matches whole names only, case-sensitively, reading exactly len bytes. */
static void test_find(void **state)
{
	(void)state;
	char big[4096];

	assert_non_null(find_str("SYS_100"));
	assert_non_null(find_str("UPD4_FAIL_49"));
	assert_null(find_str("SYS_10"));       /* prefix of SYS_100..SYS_109 */
	assert_null(find_str("SYS_1000"));     /* SYS_100 plus one */
	assert_null(find_str("UPD4_FAIL_2"));  /* prefix */
	assert_null(find_str("UPD4_FAIL_50")); /* just past the table */
	assert_null(find_str("UPD4_FAIL_20"));
	assert_null(find_str("sys_100"));
	assert_null(find_str(" SYS_100"));
	assert_null(find_str("SYS_100 "));
	assert_null(find_str(""));
	assert_null(dlog_catalog_find(NULL, 0));
	assert_null(dlog_catalog_find("SYS_100", 0));
	/* "SYS_100\0" with the NUL counted is not the name */
	assert_null(dlog_catalog_find("SYS_100", 8));

	/* no NUL needed: only s[0..len) is the name */
	const struct dlog_code *c = dlog_catalog_find("SYS_100X", 7);
	assert_non_null(c);
	assert_string_equal(c->code, "SYS_100");
	assert_null(dlog_catalog_find("SYS_100X", 8));

	/* far too long */
	memset(big, 'A', sizeof(big));
	memcpy(big, "SYS_100", 7);
	assert_null(dlog_catalog_find(big, sizeof(big)));
}

static void test_index(void **state)
{
	(void)state;
	size_t n = 0;
	const struct dlog_code *c = dlog_catalog_codes(&n);

	for (size_t i = 0; i < n; i++)
		assert_int_equal(dlog_catalog_index(&c[i]), i);
	assert_int_equal(dlog_catalog_index(find_str("UPD4_FAIL_24")), 13 + 1 + 3);
	/* a foreign pointer does not get a valid index */
	struct dlog_code other = c[0];
	assert_true(dlog_catalog_index(&other) >= n);
}

static void test_mtype_names(void **state)
{
	(void)state;
	static const char *const names[DLOG_MTYPE_COUNT] = {"SUCCESS", "FAIL", "SKIPPED", "INFO"};

	for (int t = 0; t < DLOG_MTYPE_COUNT; t++) {
		enum dlog_mtype got = (enum dlog_mtype)DLOG_MTYPE_COUNT;
		const char *name = dlog_mtype_name((enum dlog_mtype)t);

		assert_string_equal(name, names[t]);
		assert_int_equal(dlog_mtype_parse(name, strlen(name), &got), 0);
		assert_int_equal(got, t);
	}
	assert_int_equal(DLOG_MTYPE_SUCCESS, 0);
	assert_int_equal(DLOG_MTYPE_FAIL, 1);
	assert_int_equal(DLOG_MTYPE_SKIPPED, 2);
	assert_int_equal(DLOG_MTYPE_INFO, 3);
	assert_non_null(dlog_mtype_name((enum dlog_mtype)DLOG_MTYPE_COUNT));
}

static void test_mtype_parse_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",         "fail", "Fail", "FAI",   "FAILED", " FAIL", "FAIL ",        "SUCCES",
	    "SUCCESSX", "SKIP", "info", "ERROR", "WARN",   "0",     "FAIL_NETWORK",
	};
	enum dlog_mtype out = DLOG_MTYPE_SKIPPED;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (dlog_mtype_parse(bad[i], strlen(bad[i]), &out) != DLOG_EINVAL)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_int_equal(out, DLOG_MTYPE_SKIPPED); /* untouched on error */
	}
	assert_int_equal(dlog_mtype_parse(NULL, 0, &out), DLOG_EINVAL);
	assert_int_equal(dlog_mtype_parse("FAIL", 5, &out), DLOG_EINVAL); /* NUL counted */
	/* pointer and length */
	assert_int_equal(dlog_mtype_parse("FAILED", 4, &out), 0);
	assert_int_equal(out, DLOG_MTYPE_FAIL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counts),
	    cmocka_unit_test(test_codes_match_spec),
	    cmocka_unit_test(test_state_change_rule),
	    cmocka_unit_test(test_categories_of_codes),
	    cmocka_unit_test(test_category_table),
	    cmocka_unit_test(test_category_find_rejects),
	    cmocka_unit_test(test_no_duplicate_codes),
	    cmocka_unit_test(test_texts_present),
	    cmocka_unit_test(test_text_whitespace),
	    cmocka_unit_test(test_seed_texts),
	    cmocka_unit_test(test_find),
	    cmocka_unit_test(test_index),
	    cmocka_unit_test(test_mtype_names),
	    cmocka_unit_test(test_mtype_parse_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
