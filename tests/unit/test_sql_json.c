/*
 * src/sql/json.c reads libpg_query's JSON as cJSON_Parse does: the same tree for the parse
 * tree of every statement of the classifier's tables and of PostgreSQL 15.18's regression SQL
 * (tests/data/regress), and for hand-written JSON of every form it may meet (escapes,
 * surrogate pairs, numbers of every size, nesting at and beyond cJSON's limit).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pg_query.h>

#include "../../src/sql/sql-int.h"
#include "json_tree_diff.h"
#include "sql_corpus.h"

/* Both readers on <json>: they must agree on success, and on the tree when they succeed. */
static void check_json(const char *json)
{
	cJSON *want = cJSON_Parse(json), *got;

	sql_json_arena_begin();
	got = sql_json_parse(json);
	if ((want == NULL) != (got == NULL))
		fail_msg("cJSON %s, json.c %s: %.200s", want ? "reads" : "refuses",
			 got ? "reads" : "refuses", json);
	if (want && !json_same_tree(want, got))
		fail_msg("the trees differ: %.200s", json);
	sql_json_arena_end();
	cJSON_Delete(want);
}

static size_t statements;

static void check_sql(const char *sql, size_t len)
{
	char *text = strndup(sql, len);
	PgQueryParseResult r;

	assert_non_null(text);
	r = pg_query_parse(text);
	if (!r.error) {
		check_json(r.parse_tree);
		statements++;
	}
	pg_query_free_parse_result(r);
	free(text);
}

static void check_corpus_statement(const char *sql, size_t len, void *arg)
{
	(void)arg;
	check_sql(sql, len);
}

static void parse_trees(void **state)
{
	(void)state;
	sql_corpus_tables(check_corpus_statement, NULL);
	assert_true(sql_corpus_regress(check_corpus_statement, NULL) >= 10);
	print_message("%zu parse trees read alike\n", statements);
	assert_true(statements > 10000);
}

static char *nested(int depth)
{
	char *s = malloc((size_t)depth * 2 + 1);

	assert_non_null(s);
	for (int i = 0; i < depth; i++) {
		s[i] = '[';
		s[2 * depth - 1 - i] = ']';
	}
	s[2 * depth] = '\0';
	return s;
}

static void forms(void **state)
{
	static const char *const cases[] = {
		"{}",
		"[]",
		" { \"a\" : [ 1 , -2 , 3 ] , \"b\" : { } } ",
		"true",
		"false",
		"null",
		"0",
		"-0",
		"-1",
		"2147483647",
		"2147483648",
		"-2147483648",
		"-2147483649",
		"123456789012345678",
		"1234567890123456789012",
		"1.5",
		"-1.5e3",
		"1e",
		"1E+2",
		"012",
		"-",
		"--1",
		"\"\"",
		"\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
		"\"\\u00e9\\u4e2d\"",
		"\"\\ud83d\\ude00\"",
		"\"\\ud800\"",
		"\"\\udc00\"",
		"\"\\ud800\\u0041\"",
		"\"\\u0000x\"",
		"\"\\u12\"",
		"\"\\x\"",
		"\"abc",
		"\"\xc3\xa9\x01\"",
		"{\"a\":1,\"a\":2}",
		"[1,]",
		"[,1]",
		"{\"a\"}",
		"{\"a\":}",
		"{1:2}",
		"[1 2]",
		"[1] trailing",
		"",
		"   ",
		"{\"stmts\":[{\"stmt\":{\"SelectStmt\":{}}}]}",
		/* a number longer than any buffer: cJSON reads it whole */
		"77777777777777777777777777777777777777777777777777777777777777777777777777",
	};
	char *deep;

	(void)state;
	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++)
		check_json(cases[i]);
	deep = nested(1000);
	check_json(deep);
	free(deep);
	deep = nested(1001);
	check_json(deep);
	free(deep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(forms),
		cmocka_unit_test(parse_trees),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
