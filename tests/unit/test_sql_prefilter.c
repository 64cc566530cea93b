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
#include <strings.h>
#include <cmocka.h>

#include "pgward/sql.h"
#include "pgward/sql_lex.h"
#include "../../src/sql/sql-int.h"

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

/* PGW_SQL_MAY_CHANGE_SESSION: what every role needs; a statement's own words only where a
 * statement starts. */
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
		/* the other statements, and the words that count anywhere */
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
		/* the statements' own words, only where a statement starts */
		{"INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING", false},
		{"SELECT x AS alter, y AS reset FROM discard WHERE create AND do", false},
		{"SELECT 1; CREATE FUNCTION f() RETURNS int SET search_path = a AS 'select 1' "
		 "LANGUAGE sql",
		 true},
		{"/* x */ DISCARD ALL", true},
		{"SELECT 1; /* x */ deallocate p", true},
		{"SELECT 1 /* ; */ , reset FROM t", false},
		/* the built-ins that run SQL given as text run set_config unseen */
		{"SELECT query_to_xml('select "
		 "set'||'_config(''standard_conforming_strings'',''off'',"
		 "false)', true, true, '')",
		 true},
		{"SELECT query_to_xml(E'select "
		 "set\\137config(''client_encoding'',''LATIN1'',false)', "
		 "true, true, '')",
		 true},
		{"SELECT ts_stat('select to_tsvector(set'||'_config(''a'',''b'',false))')", true},
		{"SELECT ('select 1'::text).ts_stat", true},
		{"SELECT * FROM CrossTab('select 1') AS t(a int)", true},
		{"SELECT * FROM crosstab3('select 1')", true},
		{"SELECT ('x'::text).connectby", true},
		{"SELECT * FROM xpath_table('a', 'b', 'c', 'd', 'true')", true},
		{"SELECT query_to_xmlschema('x', true, true, '')", true},
		{"SELECT ts_rewrite('a'::tsquery, 'select 1')", true},
		{"SELECT crosstabs, connect, xquery_to_xml, ts_statistics FROM cross_tab", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned got = pgw_sql_prefilter(cases[i].sql, strlen(cases[i].sql),
						 PGW_SQL_MAY_CHANGE_SESSION);

		if ((got != 0) != cases[i].may)
			fail_msg("%s: expected %s", cases[i].sql, cases[i].may ? "true" : "false");
	}
}

/* Calls <fn> with each statement of the classifier's tables (tests/data/sql/<file>: a
 * name, a tab, the statement); returns how many there were. */
static int each_table_statement(const char *const *files, size_t nfiles,
				void (*fn)(char *sql, size_t len, void *arg), void *arg)
{
	const char *dir = getenv("PGWARD_TEST_DATA");
	char path[1024], line[8192];
	int n = 0;

	for (size_t f = 0; f < nfiles; f++) {
		FILE *fp;

		snprintf(path, sizeof(path), "%s/sql/%s", dir ? dir : "tests/data", files[f]);
		fp = fopen(path, "r");
		if (fp == NULL)
			fail_msg("cannot open %s", path);
		while (fgets(line, sizeof(line), fp) != NULL) {
			char *sql = strchr(line, '\t');
			size_t len;

			if (line[0] == '#' || sql == NULL)
				continue;
			sql++;
			len = strcspn(sql, "\n");
			sql[len] = '\0';
			fn(sql, len, arg);
			n++;
		}
		fclose(fp);
	}
	return n;
}

/*
 * Sound: for every statement of the classifier's tables, whatever a check that holds for every
 * role reads (a write of either text setting, RESET/DISCARD ALL, a name pgward cannot read, a
 * DO block, what changes a setting unseen) is only ever found in a text the question sends to
 * the parser.
 */
struct cover {
	struct pgw_sql_cache *cache;
	int mattered;
};

static void check_cover(char *sql, size_t len, void *arg)
{
	const uint64_t matter = PGW_SQL_BIT(PGW_SQL_TEXT_FORM_UNSEEN) |
				PGW_SQL_BIT(PGW_SQL_RESET_ALL) | PGW_SQL_BIT(PGW_SQL_DISCARD_ALL) |
				PGW_SQL_BIT(PGW_SQL_SET_CONFIG_DYNAMIC) |
				PGW_SQL_BIT(PGW_SQL_DO_BLOCK);
	struct cover *c = arg;
	const struct pgw_sql_info *info = pgw_sql_inspect(c->cache, sql, len);
	bool matters = false;

	if (info->status == PGW_SQL_OK) {
		matters = (info->flags & matter) != 0;
		for (size_t g = 0; g < info->ngucs; g++)
			matters |= strcmp(info->gucs[g].name, "client_encoding") == 0 ||
				   strcmp(info->gucs[g].name, "standard_conforming_strings") == 0 ||
				   strcmp(info->gucs[g].name, "all") == 0;
	}
	if (matters && !pgw_sql_prefilter(sql, len, PGW_SQL_MAY_CHANGE_SESSION))
		fail_msg("not sent to the parser, but its %s matters", sql);
	c->mattered += matters;
	pgw_sql_info_unref(info);
}

static void test_session_words_cover_the_tables(void **state)
{
	static const char *const files[] = {"flags.tsv",   "gucs.tsv",	  "kinds.tsv",
					    "inserts.tsv", "updates.tsv", "notifies.tsv"};
	struct cover c = {.cache = pgw_sql_cache_new(0, 0)};
	int checked;

	(void)state;
	assert_non_null(c.cache);
	checked = each_table_statement(files, PGW_ARRAY_LEN(files), check_cover, &c);
	pgw_sql_cache_free(c.cache);
	assert_true(checked > 400 && c.mattered > 30);
}

/* What transaction pooling reads (session state, DISCARD ALL) is only ever found in a text
 * PGW_SQL_MAY_PIN sends to the parser. */
static void check_pin_cover(char *sql, size_t len, void *arg)
{
	const uint64_t matter =
		PGW_SQL_BIT(PGW_SQL_SESSION_STATE) | PGW_SQL_BIT(PGW_SQL_SESSION_HOLD) |
		PGW_SQL_BIT(PGW_SQL_PREPARE) | PGW_SQL_BIT(PGW_SQL_DISCARD_ALL) |
		PGW_SQL_BIT(PGW_SQL_DDL) | PGW_SQL_BIT(PGW_SQL_DO_BLOCK) |
		PGW_SQL_BIT(PGW_SQL_SQL_FROM_STRING) | PGW_SQL_BIT(PGW_SQL_SET_CONFIG_DYNAMIC);
	struct cover *c = arg;
	const struct pgw_sql_info *info = pgw_sql_inspect(c->cache, sql, len);
	/* and what takes a hold back (UNLISTEN, CLOSE, ...): it unpins */
	bool matters = info->status == PGW_SQL_OK &&
		       ((info->flags & matter) != 0 || info->nholds > 0 || info->nstmt_refs > 0);
	const char *ddl = pgw_sql_info_desc(info, PGW_SQL_DDL);

	/* SELECT INTO without TEMP: as the DDL question, no word for it (INTO would send
	 * every INSERT to the parser); a temporary table it makes under a search_path that
	 * puts pg_temp first is the one thing of a session it leaves unpinned (README) */
	if ((info->flags & matter) == PGW_SQL_BIT(PGW_SQL_DDL) && ddl != NULL &&
	    strncmp(ddl, "SELECT INTO", 11) == 0)
		matters = false;
	if (matters && !pgw_sql_prefilter(sql, len, PGW_SQL_MAY_PIN))
		fail_msg("not sent to the parser, but its session state matters: %s", sql);
	c->mattered += matters;
	pgw_sql_info_unref(info);
}

static void test_pin_words_cover_the_tables(void **state)
{
	static const char *const files[] = {"flags.tsv",       "gucs.tsv",	    "kinds.tsv",
					    "inserts.tsv",     "updates.tsv",	    "notifies.tsv",
					    "deallocates.tsv", "session_state.tsv", "holds.tsv",
					    "stmt_refs.tsv"};
	struct cover c = {.cache = pgw_sql_cache_new(0, 0)};
	int checked;

	(void)state;
	assert_non_null(c.cache);
	checked = each_table_statement(files, PGW_ARRAY_LEN(files), check_pin_cover, &c);
	pgw_sql_cache_free(c.cache);
	assert_true(checked > 450 && c.mattered > 60);
	/* and the plain statements of a transaction need no parse for it */
	assert_int_equal(pgw_sql_prefilter("SELECT abalance FROM pgbench_accounts WHERE aid = 7",
					   51, PGW_SQL_MAY_PIN),
			 0);
	assert_int_equal(
		pgw_sql_prefilter("UPDATE t SET a = 1 WHERE b = 'temp_x'", 37, PGW_SQL_MAY_PIN), 0);
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

/* ---- the one-pass scan against the definitions it answers ---- */

/* Each question's words (sql.h), spelled here apart from the scan's own table. */
static const char *const rule_words[] = {
	"drop",	  "truncate",  "delete",   "update",  "alter",	 "create",     "set",
	"reset",  "grant",     "revoke",   "do",      "merge",	 "set_config", "discard",
	"copy",	  "call",      "security", "role",    "system",	 "explain",    "prepare",
	"notify", "pg_notify", "vacuum",   "cluster", "reindex", "lock",
};
static const char *const ddl_words[] = {
	"alter",  "comment",  "create",	  "drop",	  "grant",	"import",
	"revoke", "reassign", "security", "lock_timeout", "set_config",
};
static const char *const session_words[] = {"set_config", "pg_settings"};
static const char *const pin_words[] = {
	"prepare",
	"listen",
	"declare",
	"load",
	"temp",
	"temporary",
	"pg_temp",
	"pg_advisory_lock",
	"pg_advisory_lock_shared",
	"pg_try_advisory_lock",
	"pg_try_advisory_lock_shared",
	"dblink_connect",
	"dblink_connect_u",
	"setseed",
	"unlisten",
	"close",
	"pg_advisory_unlock_all",
	"execute",
};

/* One of calls.c's built-ins that run SQL given as text: a word of RULES and SESSION. */
static bool from_string_name(const char *w, size_t n)
{
	const char *name;

	for (size_t i = 0; (name = pgw_sql_from_string_name(i)) != NULL; i++)
		if (strlen(name) == n && strncasecmp(w, name, n) == 0)
			return true;
	return false;
}

static bool word_byte(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

static bool listed(const char *w, size_t n, const char *const *list, size_t nlist)
{
	for (size_t i = 0; i < nlist; i++)
		if (strlen(list[i]) == n && strncasecmp(w, list[i], n) == 0)
			return true;
	return false;
}

/* The answers as defined: a listed word as a whole word anywhere, U& anywhere, and for
 * SESSION also the words the lexer finds at a statement's start (SET, ALTER, ...). */
static unsigned defined_answers(const char *sql, size_t len)
{
	unsigned may = 0;

	for (size_t i = 0; i < len;) {
		size_t j = i;

		if (!word_byte((unsigned char)sql[i])) {
			i++;
			continue;
		}
		while (j < len && word_byte((unsigned char)sql[j]))
			j++;
		if (j - i == 1 && (sql[i] | 0x20) == 'u' && j < len && sql[j] == '&')
			return PGW_SQL_MAY_ALL;
		if (listed(sql + i, j - i, rule_words, PGW_ARRAY_LEN(rule_words)))
			may |= PGW_SQL_MAY_BREAK_RULES;
		if (from_string_name(sql + i, j - i))
			may |= PGW_SQL_MAY_BREAK_RULES | PGW_SQL_MAY_CHANGE_SESSION;
		if (listed(sql + i, j - i, ddl_words, PGW_ARRAY_LEN(ddl_words)))
			may |= PGW_SQL_MAY_RUN_DDL;
		if (listed(sql + i, j - i, session_words, PGW_ARRAY_LEN(session_words)))
			may |= PGW_SQL_MAY_CHANGE_SESSION;
		if (listed(sql + i, j - i, pin_words, PGW_ARRAY_LEN(pin_words)))
			may |= PGW_SQL_MAY_PIN;
		i = j;
	}
	if (sql_statement_changes_session(sql, len))
		may |= PGW_SQL_MAY_CHANGE_SESSION;
	if (may & (PGW_SQL_MAY_CHANGE_SESSION | PGW_SQL_MAY_RUN_DDL))
		may |= PGW_SQL_MAY_PIN;
	return may;
}

/* Whether a ';' or a byte that is neither a word's nor a space comes before the first
 * word of a statement: where the scan may send a text to the parser that the definition
 * lets pass (a SET after a ';' in a constant, "(SET"). */
static bool set_after_punctuation(const char *sql, size_t len)
{
	return memchr(sql, ';', len) != NULL || (len > 0 && !word_byte((unsigned char)sql[0]));
}

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % n);
}

static int scans_checked, session_wider;

/* The scan answers exactly what the definitions answer (SESSION: at least that, and more
 * only where punctuation could start a statement), validity as sql_utf8_check, comment as
 * pgw_sql_has_comment_start. */
static void check_scan(const char *sql, size_t len)
{
	struct pgw_sql_scan sc, session;
	unsigned want = defined_answers(sql, len);

	const unsigned wide = PGW_SQL_MAY_CHANGE_SESSION | PGW_SQL_MAY_PIN;

	pgw_sql_scan(sql, len, PGW_SQL_MAY_ALL, &sc);
	/* PIN follows SESSION, which may be the wider answer */
	if ((sc.may & ~wide) != (want & ~wide) ||
	    ((want & PGW_SQL_MAY_CHANGE_SESSION) && !(sc.may & PGW_SQL_MAY_CHANGE_SESSION)) ||
	    ((sc.may & PGW_SQL_MAY_PIN) != 0) !=
		    ((want & PGW_SQL_MAY_PIN) != 0 ||
		     (sc.may & (PGW_SQL_MAY_CHANGE_SESSION | PGW_SQL_MAY_RUN_DDL)) != 0))
		fail_msg("scan answers %u, the definition %u: [%.*s]", sc.may, want, (int)len, sql);
	if ((sc.may & ~PGW_SQL_MAY_PIN) != (want & ~PGW_SQL_MAY_PIN)) {
		if (!set_after_punctuation(sql, len) || pgw_sql_has_comment_start(sql, len))
			fail_msg("SESSION without cause: [%.*s]", (int)len, sql);
		session_wider++;
	}
	/* asked alone, SESSION reads first words only, and answers the same */
	pgw_sql_scan(sql, len, PGW_SQL_MAY_CHANGE_SESSION, &session);
	if (session.may != (sc.may & PGW_SQL_MAY_CHANGE_SESSION))
		fail_msg("SESSION alone answers %u, with the rest %u: [%.*s]", session.may,
			 sc.may & PGW_SQL_MAY_CHANGE_SESSION, (int)len, sql);
	assert_int_equal(sc.valid == len, pgw_sql_utf8_valid(sql, len));
	assert_int_equal(session.valid, sc.valid);
	assert_int_equal(sc.comment, pgw_sql_has_comment_start(sql, len));
	assert_int_equal(session.comment, sc.comment);
	scans_checked++;
}

/* Pieces the mutations splice in: keywords, near misses, what ends or hides a word. */
static const char *const pieces[] = {
	"set",
	"SET ",
	" Set",
	";",
	"; ",
	"--",
	"/*",
	"*/",
	"'",
	"\"",
	"$$",
	"U&",
	"u&\"x\"",
	"\xc3\xa9",
	"\xc3",
	"\xff",
	"\0",
	" ",
	"\n",
	"drop",
	"DELETE",
	"settings",
	"xset",
	"set_config",
	"reset",
	"do",
	"(",
	"lock_timeout",
	"pg_notify",
	"e'",
	"\\",
	"1",
	"deallocate",
	"temp",
	"LISTEN",
	"pg_advisory_lock",
	"temporary_x",
	"alter",
	"update t set a = 1",
	"select ",
	"$1",
	"\t;\t",
	"sEt",
	"_set",
	"CrossTab",
	"crosstab4",
	"connectby",
	"ts_stat",
	"query_to_xml",
	"xpath_table",
	"co",
	"c",
	"ts_rewrite",
	"pg_settings",
	"query_to_xml_and_xmlschema",
	"x_",
	"cr",
};

static void mutate_and_check(const char *base, size_t len)
{
	char buf[512];

	for (int round = 0; round < 40; round++) {
		size_t n = len < sizeof(buf) - 64 ? len : sizeof(buf) - 64;

		memcpy(buf, base, n);
		for (int edits = 1 + (int)rnd(3); edits > 0; edits--) {
			const char *piece = pieces[rnd(PGW_ARRAY_LEN(pieces))];
			size_t plen = piece[0] ? strlen(piece) : 1,
			       at = n ? rnd((unsigned)n + 1) : 0;

			if (n + plen >= sizeof(buf))
				break;
			if (rnd(4) == 0 && at < n) { /* overwrite */
				size_t k = plen < n - at ? plen : n - at;

				memcpy(buf + at, piece, k);
			} else { /* insert */
				memmove(buf + at + plen, buf + at, n - at);
				memcpy(buf + at, piece, plen);
				n += plen;
			}
		}
		check_scan(buf, n);
	}
}

/*
 * Differential: over the classifier's tables and forty random mutations of each of their
 * statements (keywords and near misses spliced in, split by comments, quotes, ';', bytes
 * that are not UTF-8, NUL), the one-pass scan gives what the plain definitions give.
 */
static void check_with_mutations(char *sql, size_t len, void *arg)
{
	(void)arg;
	check_scan(sql, len);
	mutate_and_check(sql, len);
}

static void test_scan_matches_the_definitions(void **state)
{
	static const char *const files[] = {"flags.tsv",       "gucs.tsv",	   "kinds.tsv",
					    "inserts.tsv",     "updates.tsv",	   "notifies.tsv",
					    "deallocates.tsv", "session_state.tsv"};
	int lines;

	(void)state;
	lines = each_table_statement(files, PGW_ARRAY_LEN(files), check_with_mutations, NULL);
	for (int i = 0; i < 20000; i++) { /* texts of pieces alone */
		char buf[256];
		size_t n = 0;

		for (int k = (int)rnd(12); k >= 0; k--) {
			const char *piece = pieces[rnd(PGW_ARRAY_LEN(pieces))];
			size_t plen = piece[0] ? strlen(piece) : 1;

			if (n + plen > sizeof(buf))
				break;
			memcpy(buf + n, piece, plen);
			n += plen;
		}
		check_scan(buf, n);
	}
	/* the wider SESSION answer stays the exception it is meant to be */
	assert_true(lines > 500 && scans_checked > 40000);
	assert_true(session_wider * 20 < scans_checked);
}

/* The SSE2 and AVX2 masks equal the portable ones, for every byte value in every lane,
 * whatever the length of the block and however much of the text comes before it. */
static void test_scan_blocks_alike(void **state)
{
	unsigned char buf[128], *blk = buf + 64;
	struct sql_scan_block a, b;
	int avx2_checked = 0;

	(void)state;
	for (int round = 0; round < 40000; round++) {
		size_t n = 1 + (size_t)rnd(64), before = rnd(65);
		bool words = round % 2 == 0;

		for (unsigned i = 0; i < 128; i++)
			buf[i] = round < 512 ? (unsigned char)(round + i * 7)
					     : (unsigned char)rnd(256);
		sql_scan_block_portable(blk, n, before, words, &a);
#ifdef __SSE2__
		sql_scan_block_simd(blk, n, before, words, &b);
		assert_true(a.word == b.word && a.high == b.high && a.mark == b.mark &&
			    a.c == b.c && a.ro == b.ro);
#if defined(__x86_64__) && defined(__GNUC__)
		if (__builtin_cpu_supports("avx2")) {
			sql_scan_block_avx2(blk, n, before, words, &b);
			assert_true(a.word == b.word && a.high == b.high && a.mark == b.mark &&
				    a.c == b.c && a.ro == b.ro);
			avx2_checked++;
		}
#endif
#endif
	}
	printf("AVX2 masks checked in %d rounds\n", avx2_checked);
	/* and the portable ones say what the scan means by each byte */
	memcpy(blk, "aZ09_$\x80\xff;-/ \0\"'(&*", 18);
	memset(blk + 18, '+', 46);
	sql_scan_block_portable(blk, 64, 0, true, &a);
	assert_true(a.word == 0xffu && a.high == 0xc0u && a.mark == ((0x7u << 8) | (1u << 12)));
	sql_scan_block_portable(blk, 64, 0, false, &b);
	assert_true(b.word == 0 && b.mark == ((0x7u << 8) | (1u << 12) | (1u << 4) | (1u << 16)));
}

/* Keywords across the scan's 64-byte blocks, after words longer than a block, and SET after a
 * ';' at a block's end are all found where they are; near misses stay near misses. */
static void test_scan_blocks_edges(void **state)
{
	char sql[400];

	(void)state;
	for (size_t at = 40; at < 200; at++) {
		memset(sql, ' ', at);
		memcpy(sql, "select", 6);
		snprintf(sql + at, sizeof(sql) - at, "drop");
		check_scan(sql, strlen(sql));
		assert_true(pgw_sql_may_run_ddl(sql, strlen(sql)));
		memset(sql, 'x', at); /* one long word, then the keyword */
		snprintf(sql + at, sizeof(sql) - at, " drop");
		check_scan(sql, strlen(sql));
		assert_true(pgw_sql_may_run_ddl(sql, strlen(sql)));
		snprintf(sql + at, sizeof(sql) - at, "drop"); /* a longer word, not the keyword */
		check_scan(sql, strlen(sql));
		assert_false(pgw_sql_may_break_rules(sql, strlen(sql)));
		memset(sql, 'y', at);
		sql[at - 1] = ';';
		snprintf(sql + at, sizeof(sql) - at, "set a = 1");
		check_scan(sql, strlen(sql));
		assert_true(pgw_sql_prefilter(sql, strlen(sql), PGW_SQL_MAY_CHANGE_SESSION));
		sql[at - 1] = '\xc3'; /* half a character before the word: not UTF-8 */
		check_scan(sql, strlen(sql));
	}
}

/* The scan reads no byte past the text (under ASan, each text sits alone in a heap block of
 * its exact length): texts that end in a ';', spaces, a '_', a 'c', a '-' or a word. */
static void test_scan_stays_inside_the_text(void **state)
{
	static const char *const texts[] = {
		"SELECT 1;", "SELECT 1; ",	  ";",	 "a_",	 "_",
		"c",	     "SELECT crosstab",	  "x -", "u&",	 "SET",
		"BEGIN; ",   "select set_config", "/",	 "\xc3", "",
	};

	(void)state;
	for (size_t i = 0; i < PGW_ARRAY_LEN(texts); i++) {
		size_t len = strlen(texts[i]);
		char *copy = malloc(len ? len : 1);
		struct pgw_sql_scan sc;

		assert_non_null(copy);
		memcpy(copy, texts[i], len);
		pgw_sql_scan(copy, len, PGW_SQL_MAY_CHANGE_SESSION, &sc);
		pgw_sql_scan(copy, len, PGW_SQL_MAY_ALL, &sc);
		free(copy);
	}
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
		cmocka_unit_test(test_pin_words_cover_the_tables),
		cmocka_unit_test(test_every_keyword_any_case),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_scan_matches_the_definitions),
		cmocka_unit_test(test_scan_blocks_alike),
		cmocka_unit_test(test_scan_blocks_edges),
		cmocka_unit_test(test_scan_stays_inside_the_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
