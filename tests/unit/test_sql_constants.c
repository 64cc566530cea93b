/*
 * src/sql/constants.c: numbers read as int4in and numeric_in read them, compared exactly, and
 * strings read as boolin reads them. Each case's expectation is what PostgreSQL 15 answers
 * for SELECT a < b, a = b (or the error it raises).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../src/sql/sql-int.h"

/* 2: not read as a number of that type: the server refuses it (or, for NaN and Infinity,
 * pgward does not say) */
#define REFUSED 2

static int cmp(const char *a, const char *b, bool int_only)
{
	struct sql_decimal x, y;

	if (!sql_parse_decimal(a, int_only, &x) || !sql_parse_decimal(b, int_only, &y))
		return REFUSED;
	return sql_decimal_cmp(&x, &y);
}

static void numbers(void **state)
{
	static const struct {
		const char *a, *b;
		bool int_only;
		int want;
	} cases[] = {
		{"1", "1", true, 0},
		{"-1", "0", true, -1},
		{"0", "-0", true, 0},
		{" 7 ", "7", true, 0},
		{"0012", "12", true, 0},
		{"2147483647", "2147483646", true, 1},
		{"2147483648", "1", true, REFUSED},
		{"-2147483648", "-2147483647", true, -1},
		{"-2147483649", "1", true, REFUSED},
		{"2200000000", "1", true, REFUSED},
		{"1.5", "1", true, REFUSED},
		{"1e1", "10", true, REFUSED},
		{"", "1", true, REFUSED},
		{"+", "1", true, REFUSED},
		{"1.5", "1", false, 1},
		{"1e2", "100", false, 0},
		{"0.05", "5e-2", false, 0},
		{".5", "0.50", false, 0},
		{"5.", "5", false, 0},
		{"-1.5", "-1.25", false, -1},
		{"1.00000000000000000001", "1", false, 1},
		{"0.0", "-0", false, 0},
		{"-0.001", "0", false, -1},
		{"123.456e-1", "12.3456", false, 0},
		{"1e", "1", false, REFUSED},
		{".", "1", false, REFUSED},
		{"1 2", "12", false, REFUSED},
		{"NaN", "1", false, REFUSED},
	};

	(void)state;
	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		int got = cmp(cases[i].a, cases[i].b, cases[i].int_only);

		if (got != cases[i].want)
			fail_msg("%s vs %s (%s): %d, expected %d", cases[i].a, cases[i].b,
				 cases[i].int_only ? "int4" : "numeric", got, cases[i].want);
		if (got != REFUSED && cmp(cases[i].b, cases[i].a, cases[i].int_only) != -got)
			fail_msg("%s vs %s: not antisymmetric", cases[i].a, cases[i].b);
	}
}

static void booleans(void **state)
{
	(void)state;
	assert_int_equal(sql_bool_of_text("true"), 1);
	assert_int_equal(sql_bool_of_text(" t "), 1);
	assert_int_equal(sql_bool_of_text("\tyes\n"), 1);
	assert_int_equal(sql_bool_of_text("on"), 1);
	assert_int_equal(sql_bool_of_text("of"), 0);
	assert_int_equal(sql_bool_of_text("0"), 0);
	assert_int_equal(sql_bool_of_text("o"), -1);
	assert_int_equal(sql_bool_of_text(""), -1);
	assert_int_equal(sql_bool_of_text("x"), -1);
	assert_int_equal(sql_bool_of_text("truest"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(numbers),
		cmocka_unit_test(booleans),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
