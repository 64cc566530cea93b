/*
 * The lexical pre-filter: texts that name no rule keyword skip the parser; everything that
 * could break a rule or touch a protected setting must be sent to it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "pgward/sql.h"

static bool may(const char *sql)
{
	return pgw_sql_may_break_rules(sql, strlen(sql));
}

static void test_plain_statements_skip_the_parser(void **state)
{
	static const char *const plain[] = {
		"SELECT abalance FROM pgbench_accounts WHERE aid = 123456;",
		"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, 3, 4, "
		"CURRENT_TIMESTAMP);",
		"BEGIN;",
		"END;",
		"SELECT 'drop table x' AS not_a_keyword_in_a_string_is_still_a_word",
		"SELECT dropped, settings, updated_at, do_not FROM t",
		"WITH x AS (SELECT 1) SELECT * FROM x",
		"",
	};

	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		bool got = may(plain[i]);

		/* the string literal one names DROP TABLE as words: parsing it is the safe answer
		 */
		if (strstr(plain[i], "'drop") != NULL)
			assert_true(got);
		else if (got)
			fail_msg("parsed needlessly: %s", plain[i]);
	}
}

static void test_rule_keywords_are_parsed(void **state)
{
	static const char *const risky[] = {
		"DROP TABLE t",
		"drop table t",
		"TRUNCATE t",
		"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
		"UPDATE t SET a = 1",
		"ALTER TABLE t DROP COLUMN c",
		"CREATE INDEX i ON t (a)",
		"SET ROLE admin",
		"RESET ALL",
		"GRANT SELECT ON t TO PUBLIC",
		"REVOKE ALL ON t FROM PUBLIC",
		"DO $$ BEGIN NULL; END $$",
		"SELECT set_config('role', 'x', false)",
		"SELECT pg_catalog.set_config('standard_conforming_strings', 'off', false)",
		"SELECT \"set_config\"('client_encoding', 'SJIS', false)",
		"SELECT U&\"\\0073et_config\"('role', 'x', false)",
		"SELECT u&'\\0064rop'",
		"EXPLAIN ANALYZE DELETE FROM t",
		"PREPARE p AS DELETE FROM t",
		"DISCARD ALL",
		"select 1; Drop Table t",
		"SELECT 1 /* DROP */",
	};

	for (size_t i = 0; i < sizeof(risky) / sizeof(risky[0]); i++)
		if (!may(risky[i]))
			fail_msg("not sent to the parser: %s", risky[i]);
}

/* The DDL lock_timeout policy's filter: DDL statements and writes of lock_timeout. */
static void test_ddl_and_lock_timeout_words(void **state)
{
	static const struct {
		const char *sql;
		bool may;
	} cases[] = {
		{"SELECT abalance FROM pgbench_accounts WHERE aid = 1", false},
		{"UPDATE t SET a = 1 WHERE id = 2", false},
		/* inside a string too: the filter errs towards parsing */
		{"INSERT INTO t (a) VALUES ('create table')", true},
		{"CREATE TABLE t (a int)", true},
		{"alter table t add column b int", true},
		{"COMMENT ON TABLE t IS 'x'", true},
		{"REASSIGN OWNED BY a TO b", true},
		{"IMPORT FOREIGN SCHEMA s FROM SERVER x INTO y", true},
		{"SECURITY LABEL ON TABLE t IS 'x'", true},
		{"SET lock_timeout = '5s'", true},
		{"SELECT set_config('lock_' || 'timeout', '1s', false)", true},
		{"SET U&\"\006cock_timeout\" = '1s'", true},
		{"SET statement_timeout = '5s'", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (pgw_sql_may_run_ddl(cases[i].sql, strlen(cases[i].sql)) != cases[i].may)
			fail_msg("%s: expected %s", cases[i].sql, cases[i].may ? "true" : "false");
}

static void test_utf8(void **state)
{
	assert_true(pgw_sql_utf8_valid("SELECT 'é'", strlen("SELECT 'é'")));
	assert_false(pgw_sql_utf8_valid("SELECT '\xc3\x28'", 11));
	assert_false(pgw_sql_utf8_valid("SELECT '\0'", 10));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_statements_skip_the_parser),
		cmocka_unit_test(test_rule_keywords_are_parsed),
		cmocka_unit_test(test_ddl_and_lock_timeout_words),
		cmocka_unit_test(test_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
