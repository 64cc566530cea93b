/*
 * The lexical pre-filter: texts that name no rule keyword skip the parser; everything that
 * could break a rule or touch a protected setting must be sent to it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
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
		"VACUUM FULL t",
		"vacuum (full) t",
		"CLUSTER t",
		"REINDEX TABLE t",
		"LOCK t",
		"lock table t in exclusive mode",
		"MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
		"DROP POLICY p ON t",
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
		"NOTIFY pgward_tenant_changed, '*'",
		"SELECT pg_notify('pgward_tenant_changed', '*')",
		"SELECT pg_catalog.\"pg_notify\"('x', '*')",
		"SELECT query_to_xml('SELECT 1', true, true, '')",
		"SELECT \"QUERY_TO_XML\"('SELECT 1', true, true, '')",
		"SELECT * FROM pg_catalog.ts_stat('SELECT v FROM t')",
		"SELECT ('SELECT v FROM t'::text).ts_stat",
		"SELECT ts_rewrite('a'::tsquery, 'SELECT t, s FROM aliases')",
	};

	for (size_t i = 0; i < sizeof(risky) / sizeof(risky[0]); i++)
		if (!may(risky[i]))
			fail_msg("not sent to the parser: %s", risky[i]);
}

/* Every built-in sql/ knows to run SQL given as text is a word that sends a text to the
 * parser, called in any case, qualified or quoted. */
static void test_sql_from_string_names(void **state)
{
	char sql[160], upper[64];
	size_t n = 0;

	(void)state;
	for (const char *name; (name = pgw_sql_from_string_name(n)) != NULL; n++) {
		for (size_t k = 0; k <= strlen(name) && k < sizeof(upper); k++)
			upper[k] = (char)toupper((unsigned char)name[k]);
		snprintf(sql, sizeof(sql), "SELECT * FROM %s('SELECT 1')", name);
		if (!may(sql))
			fail_msg("not sent to the parser: %s", sql);
		snprintf(sql, sizeof(sql), "SELECT pg_catalog.\"%s\"('SELECT 1')", upper);
		if (!may(sql))
			fail_msg("not sent to the parser: %s", sql);
		snprintf(sql, sizeof(sql), "SELECT ('SELECT 1'::text).%s", name);
		if (!may(sql))
			fail_msg("not sent to the parser: %s", sql);
	}
	assert_true(n >= 6);
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

/* PGW_SQL_MAY_CHANGE_SESSION: what every role needs; SET only where a statement starts. */
static void test_session_words(void **state)
{
	static const struct {
		const char *sql;
		bool may;
	} cases[] = {
		/* pgbench's writes, and other plain statements: no parse */
		{"UPDATE pgbench_accounts SET abalance = abalance + -2345 WHERE aid = 12;", false},
		{"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, 3, 4, "
		 "CURRENT_TIMESTAMP);",
		 false},
		{"SELECT abalance FROM pgbench_accounts WHERE aid = 1", false},
		{"UPDATE t SET a = 1; UPDATE u SET b = 2", false},
		{"BEGIN", false},
		{"DELETE FROM t", false},
		{"DROP TABLE t", false},
		/* SET as a statement, wherever the statement starts */
		{"SET client_encoding = 'SJIS'", true},
		{"  set standard_conforming_strings = off", true},
		{"BEGIN; SET LOCAL standard_conforming_strings = off", true},
		{"UPDATE t SET a = 1; SET client_encoding = 'LATIN1'", true},
		{"/* update */ SET client_encoding = 'LATIN1'", true},
		{"-- update t\nSET client_encoding = 'LATIN1'", true},
		{"SELECT 'x;'; SET NAMES 'GBK'", true},
		{"UPDATE t SET a = ';' ; SET x = 1", true},
		/* one statement (no ';'): only its first token counts */
		{"/* c */ -- d\n SET x = 1", true},
		{"UPDATE t SET x = 1 /* ; SET y = 2 */", false},
		{"UPDATE t SET x = 'a;b' WHERE y = $$;SET$$", false},
		{"UPDATE t SET x = 1 ;; \n", false},
		{"SET x = 1;\n", true},
		{"UPDATE t SET x = 1 ;\nSET y = 2;", true},
		/* the other words, anywhere */
		{"RESET ALL", true},
		{"DISCARD ALL", true},
		{"ALTER SYSTEM SET standard_conforming_strings = off", true},
		{"CREATE AGGREGATE a(text) (SFUNC = f, STYPE = text)", true},
		{"SELECT set_config('client_encoding', 'SJIS', false)", true},
		{"UPDATE pg_settings SET setting = 'off' WHERE name = "
		 "'standard_conforming_strings'",
		 true},
		{"DO $$BEGIN PERFORM 1; END$$", true},
		{"SELECT U&\"\\0073et_config\"('a', 'b', false)", true},
		{"INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING",
		 true}, /* "do": errs to a parse */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned got = pgw_sql_prefilter(cases[i].sql, strlen(cases[i].sql),
						 PGW_SQL_MAY_CHANGE_SESSION);

		if ((got != 0) != cases[i].may)
			fail_msg("%s: expected %s", cases[i].sql, cases[i].may ? "true" : "false");
	}
}

/*
 * Sound: for every statement of the classifier's tables, whatever a check that holds for every
 * role reads (a write of either text setting, RESET/DISCARD ALL, a name pgward cannot read, a
 * DO block, what changes a setting unseen) is only ever found in a text the question sends to
 * the parser.
 */
static void test_session_words_cover_the_tables(void **state)
{
	static const char *const files[] = {"flags.tsv",   "gucs.tsv",	  "kinds.tsv",
					    "inserts.tsv", "updates.tsv", "notifies.tsv"};
	const uint64_t matter = PGW_SQL_BIT(PGW_SQL_TEXT_FORM_UNSEEN) |
				PGW_SQL_BIT(PGW_SQL_RESET_ALL) | PGW_SQL_BIT(PGW_SQL_DISCARD_ALL) |
				PGW_SQL_BIT(PGW_SQL_SET_CONFIG_DYNAMIC) |
				PGW_SQL_BIT(PGW_SQL_DO_BLOCK);
	struct pgw_sql_cache *cache = pgw_sql_cache_new(0, 0);
	const char *dir = getenv("PGWARD_TEST_DATA");
	char path[1024], line[8192];
	int checked = 0, mattered = 0;

	(void)state;
	assert_non_null(cache);
	for (size_t f = 0; f < PGW_ARRAY_LEN(files); f++) {
		FILE *fp;

		snprintf(path, sizeof(path), "%s/sql/%s", dir ? dir : "tests/data", files[f]);
		fp = fopen(path, "r");
		if (fp == NULL)
			fail_msg("cannot open %s", path);
		while (fgets(line, sizeof(line), fp) != NULL) {
			char *sql = strchr(line, '\t');
			const struct pgw_sql_info *info;
			bool matters = false;
			size_t len;

			if (line[0] == '#' || sql == NULL)
				continue;
			sql++;
			len = strcspn(sql, "\n");
			sql[len] = '\0';
			info = pgw_sql_inspect(cache, sql, len);
			if (info->status == PGW_SQL_OK) {
				matters = (info->flags & matter) != 0;
				for (size_t g = 0; g < info->ngucs; g++)
					matters |= strcmp(info->gucs[g].name, "client_encoding") ==
							   0 ||
						   strcmp(info->gucs[g].name,
							  "standard_conforming_strings") == 0 ||
						   strcmp(info->gucs[g].name, "all") == 0;
			}
			if (matters && !pgw_sql_prefilter(sql, len, PGW_SQL_MAY_CHANGE_SESSION))
				fail_msg("%s: not sent to the parser, but its %s matters", files[f],
					 sql);
			mattered += matters;
			checked++;
			pgw_sql_info_unref(info);
		}
		fclose(fp);
	}
	pgw_sql_cache_free(cache);
	assert_true(checked > 400 && mattered > 30);
}

/* Each keyword of both filters is found in any case, as a whole word anywhere in the text;
 * near misses (a letter more or less, a keyword inside a longer name) are not. */
static void test_every_keyword_any_case(void **state)
{
	static const char *const rules[] = {
		"drop",	      "truncate",   "delete",	"update", "alter",     "create",
		"set",	      "reset",	    "grant",	"revoke", "do",	       "merge",
		"set_config", "discard",    "copy",	"call",	  "role",      "system",
		"explain",    "prepare",    "security", "notify", "pg_notify", "query_to_xml",
		"ts_stat",    "ts_rewrite", "crosstab",
	};
	static const char *const ddl[] = {
		"alter",  "comment",  "create",	  "drop",	  "grant",	"import",
		"revoke", "reassign", "security", "lock_timeout", "set_config",
	};
	char sql[128], word[32];

	(void)state;
	for (int list = 0; list < 2; list++) {
		const char *const *words = list == 0 ? rules : ddl;
		size_t n = list == 0 ? PGW_ARRAY_LEN(rules) : PGW_ARRAY_LEN(ddl);
		bool (*filter)(const char *, size_t) =
			list == 0 ? pgw_sql_may_break_rules : pgw_sql_may_run_ddl;

		for (size_t i = 0; i < n; i++) {
			size_t len = strlen(words[i]);

			for (int variant = 0; variant < 3; variant++) {
				for (size_t k = 0; k <= len; k++) /* lower, UPPER, mIxEd */
					word[k] =
						variant == 0 || (variant == 2 && k % 2)
							? words[i][k]
							: (char)toupper((unsigned char)words[i][k]);
				snprintf(sql, sizeof(sql), "%s", word);
				assert_true(filter(sql, strlen(sql)));
				snprintf(sql, sizeof(sql), "select a,%s(b) from t", word);
				assert_true(filter(sql, strlen(sql)));
			}
			snprintf(sql, sizeof(sql), "select %sx, x%s, %.*s from t", words[i],
				 words[i], (int)len - 1, words[i]);
			if (filter(sql, strlen(sql)))
				fail_msg("near misses of %s taken for it: %s", words[i], sql);
		}
	}
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
		cmocka_unit_test(test_sql_from_string_names),
		cmocka_unit_test(test_ddl_and_lock_timeout_words),
		cmocka_unit_test(test_session_words),
		cmocka_unit_test(test_session_words_cover_the_tables),
		cmocka_unit_test(test_every_keyword_any_case),
		cmocka_unit_test(test_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
