/*
 * The shape cache (src/sql/shape.c): a text answered from the shape of another must get the
 * classification a fresh parse gives it, field by field. The differential test runs the
 * classifier's tables, pgbench's statements, the cases below and PostgreSQL 15's regression
 * SQL (tests/data/regress), each with many other literal values, through one cache, and
 * compares every answer with a parse of the same text by a cache that keeps nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgward/sql.h"
#include "pgward/sql_lex.h"
#include "sql_corpus.h"
#include "sql_info_diff.h"

/* ---- the differential run ---- */

struct run {
	struct pgw_sql_cache *shaped; /* keeps texts and shapes */
	struct pgw_sql_cache *fresh;  /* keeps nothing: every text parsed */
	uint64_t rng;
	size_t statements, texts;
	bool tokens_only;
};

static uint64_t next_rand(struct run *r)
{
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 7;
	r->rng ^= r->rng << 17;
	return r->rng;
}

/* pgw_lex_next_literal gives exactly the constants (and U&"" names) pgw_lex_next gives. */
static void check_literal_tokens(const char *sql, size_t len)
{
	struct pgw_lexer all, lit;
	struct pgw_lex_tok a, b;

	pgw_lex_init(&all, sql, len, true);
	pgw_lex_init(&lit, sql, len, true);
	for (;;) {
		bool more;

		do
			more = pgw_lex_next(&all, &a);
		while (more && !(a.kind == PGW_TOK_STRING || a.kind == PGW_TOK_BITSTRING ||
				 a.kind == PGW_TOK_DOLLAR || a.kind == PGW_TOK_NUMBER ||
				 (a.kind == PGW_TOK_QIDENT && a.prefix == 'U')));
		if (pgw_lex_next_literal(&lit, &b) != more)
			fail_msg("pgw_lex_next_literal ends %s in: %.*s", more ? "early" : "late",
				 (int)len, sql);
		if (!more)
			return;
		if (a.kind != b.kind || a.start != b.start || a.len != b.len ||
		    a.prefix != b.prefix)
			fail_msg("pgw_lex_next_literal reads the token at %zu otherwise in: %.*s",
				 a.start, (int)len, sql);
	}
}

static void check_text(struct run *r, const char *sql, size_t len)
{
	check_literal_tokens(sql, len);
	if (r->tokens_only)
		return;
	const struct pgw_sql_info *a = pgw_sql_inspect(r->shaped, sql, len);
	const struct pgw_sql_info *b = pgw_sql_inspect(r->fresh, sql, len);
	const char *diff = info_diff(a, b);

	if (diff)
		fail_msg("the shape cache and a parse differ in %s for: %.*s", diff, (int)len, sql);
	pgw_sql_info_unref(a);
	pgw_sql_info_unref(b);
	r->texts++;
}

/* Values that decide things (booleans, settings, channels) and that are merely reported. */
static const char *const strings[] = {
	"''",
	"'x'",
	"'on'",
	"'off'",
	"'t'",
	"'f'",
	"'true'",
	"'false'",
	"'1'",
	"'0'",
	"'yes'",
	"'no'",
	"'it''s'",
	"''''",
	"'a b c'",
	"'\xc3\xa9t\xc3\xa9'",
	"'-'",
	"'app.user_org_ids'",
	"'search_path'",
	"'row_security'",
	"'public'",
	"'%'",
	"'\\'",
	"'{1,2}'",
	"'2026-12-07'",
};
static const char *const ints[] = {"0",	 "1",	 "2",	       "7",	     "10",
				   "42", "1000", "2147483647", "0000000001", "99999"};
static const char *const numerics[] = {"1.5",	     "0.0",	".5",	       "1e3",
				       "2147483648", "3.14e-2", "99999999999", "0.1"};

static const char *pick(struct run *r, const char *const *v, size_t n)
{
	return v[next_rand(r) % n];
}

/* A literal of the same kind as <tok> (or, with <cross>, of any kind). */
static const char *other_literal(struct run *r, const char *sql, const struct pgw_lex_tok *t,
				 bool cross)
{
	unsigned kind = cross ? (unsigned)(next_rand(r) % 3) : 0;

	if (!cross) {
		bool digits = true;

		for (size_t i = 0; i < t->len; i++)
			digits = digits && sql[t->start + i] >= '0' && sql[t->start + i] <= '9';
		if (t->kind == PGW_TOK_NUMBER)
			kind = digits && t->len <= 10 ? 1 : 2;
		else
			kind = 0;
	}
	switch (kind) {
	case 1:
		return pick(r, ints, PGW_ARRAY_LEN(ints));
	case 2:
		return pick(r, numerics, PGW_ARRAY_LEN(numerics));
	default:
		return next_rand(r) % 8 == 0 ? "$$x$$" : pick(r, strings, PGW_ARRAY_LEN(strings));
	}
}

/* <sql> with its literals replaced; NULL if it has none the test changes. */
static char *variant(struct run *r, const char *sql, size_t len, bool cross, size_t *out_len)
{
	struct pgw_lexer lx;
	struct pgw_lex_tok t;
	size_t cap = len * 4 + 64, n = 0, copied = 0;
	char *out = malloc(cap);
	bool changed = false;

	assert_non_null(out);
	pgw_lex_init(&lx, sql, len, true);
	while (pgw_lex_next(&lx, &t)) {
		const char *lit;
		size_t ln;

		if (!(t.kind == PGW_TOK_NUMBER || t.kind == PGW_TOK_DOLLAR ||
		      (t.kind == PGW_TOK_STRING && (t.prefix == 0 || t.prefix == 'N'))))
			continue;
		lit = other_literal(r, sql, &t, cross);
		ln = strlen(lit);
		if (n + (t.start - copied) + ln + 2 >= cap) {
			cap = (cap + t.start - copied + ln) * 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
		memcpy(out + n, sql + copied, t.start - copied);
		n += t.start - copied;
		if (t.prefix == 'N')
			out[n++] = 'N';
		if (t.prefix == 'N' && lit[0] != '\'') {
			lit = "'n'";
			ln = 3;
		}
		memcpy(out + n, lit, ln);
		n += ln;
		copied = t.start + t.len;
		changed = true;
	}
	if (!changed) {
		free(out);
		return NULL;
	}
	if (n + (len - copied) + 1 >= cap) {
		out = realloc(out, n + (len - copied) + 1);
		assert_non_null(out);
	}
	memcpy(out + n, sql + copied, len - copied);
	n += len - copied;
	out[n] = '\0';
	*out_len = n;
	return out;
}

/* One statement and 12 others of its shape (and 2 with other kinds of literal). */
static void check_statement(struct run *r, const char *sql, size_t len)
{
	r->statements++;
	check_text(r, sql, len);
	for (int i = 0; i < 14; i++) {
		size_t vlen;
		char *v = variant(r, sql, len, i >= 12, &vlen);

		if (!v)
			return;
		check_text(r, v, vlen);
		free(v);
	}
}

static void check_corpus_statement(const char *sql, size_t len, void *arg)
{
	check_statement(arg, sql, len);
}

/* What a rule decides on, what is merely reported, and what the grammar keeps for itself. */
static const char *const cases[] = {
	"UPDATE pgbench_accounts SET abalance = abalance + -1234 WHERE aid = 5678;",
	"SELECT abalance FROM pgbench_accounts WHERE aid = 5678;",
	"UPDATE pgbench_tellers SET tbalance = tbalance + 1234 WHERE tid = 7;",
	"UPDATE pgbench_branches SET bbalance = bbalance + 1234 WHERE bid = 1;",
	"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, 5678, -1234, "
	"CURRENT_TIMESTAMP);",
	"BEGIN; UPDATE pgbench_accounts SET abalance = abalance + 5 WHERE aid = 12; SELECT "
	"abalance FROM pgbench_accounts WHERE aid = 12; END;",
	"DELETE FROM t WHERE 1 = 1",
	"DELETE FROM t WHERE 1 = 1 AND 2 = 2",
	"DELETE FROM t WHERE 1 = 2 OR x",
	"DELETE FROM t WHERE 5 = a",
	"UPDATE t SET a = 1 WHERE 't'::boolean",
	"UPDATE t SET a = 1 WHERE 1::boolean",
	"UPDATE t SET a = 1 WHERE NOT 0::bool",
	"UPDATE t SET a = 1 WHERE 'a' = 'a'",
	"UPDATE t SET a = 1 WHERE 1 IS NOT NULL",
	"UPDATE t SET a = 1 WHERE (2 > 1) IS TRUE",
	"CREATE POLICY p ON t USING (1 = 1)",
	"CREATE POLICY p ON t USING ('x' = 'x') WITH CHECK (1 < 2)",
	"MERGE INTO t USING s ON t.id = s.id WHEN MATCHED AND 1 = 1 THEN DELETE",
	"ALTER TABLE t ADD COLUMN c int DEFAULT 5",
	"ALTER TABLE t ADD COLUMN c varchar(10) DEFAULT 'x' NOT NULL",
	"SELECT set_config('search_path', 'x', false)",
	"SELECT set_config('app.user_org_ids', '1', true)",
	"SELECT set_config('row_security', 'off', false)",
	"SELECT pg_notify('chan', 'payload')",
	"NOTIFY chan, 'x'",
	"SET search_path = 'a', 'b'",
	"SET row_security = 'on'",
	"SET lock_timeout = 5000",
	"SET SESSION AUTHORIZATION 'bob'",
	"ALTER ROLE r SET search_path = 'a'",
	"ALTER SYSTEM SET work_mem = '64MB'",
	"EXPLAIN (ANALYZE 1) DELETE FROM t",
	"EXPLAIN (ANALYZE 'on') DELETE FROM t",
	"FETCH 5 FROM c",
	"COPY t FROM '/tmp/x'",
	"COMMENT ON TABLE t IS 'x'",
	"SELECT 1::varchar(10), 2::numeric(10, 2)",
	"SELECT 1::float(53)",
	"SELECT interval(3) '1 day', interval '1' day",
	"SELECT 1.5::float(24)",
	"UPDATE t SET (a, b) = (1, 'x') WHERE id = 2",
	"UPDATE t SET (a, b) = (SELECT 1, 'x') WHERE id = 2",
	"INSERT INTO t VALUES (-1, - 2, -1.5, '-', 'it''s', 'a'\n'b', $$x$$, N'n', 2147483648, "
	"00000000001, -2147483648, - 0)",
	"INSERT INTO scrape_jobs (domain, job_type, status) VALUES ('example.com', 'full_crawl', "
	"'pending'), ('b.com', 'quick', 'done')",
	"INSERT INTO t (a, b) SELECT 1, 'x'",
	"INSERT INTO t VALUES (1, 'a') ON CONFLICT (a) DO UPDATE SET b = 'x', c = 5",
	"INSERT INTO t VALUES ('x'::text, 1::int, '5'::varchar(3), -'5', CAST(7 AS bigint))",
	"PREPARE p AS INSERT INTO t VALUES (1, 'a', $1)",
	"WITH x AS (INSERT INTO t VALUES (1, 'q') RETURNING *) SELECT * FROM x",
	"SELECT 1; DELETE FROM t WHERE id = 'abc'; SELECT 'xyz', 12345678",
	"SELECT * FROM t LIMIT 10 OFFSET 5",
	"VALUES (1, 'a'), (2, 'b')",
	"SELECT - 'x', -0, - 0.0, - -5",
	"SELECT 'a' -- comment\n'b'",
	"SELECT 'a'\n'b', 'c'\n\n'd'",
	"SELECT $a$x$a$, $$y$$",
	"SELECT E'\\x41', B'101', X'ff'",
	"SELECT U&'\\0041'",
	"SELECT 'x' FROM t WHERE a LIKE 'b%' ESCAPE '!'",
	"SELECT substring('abc' FROM 1 FOR 2), position('b' IN 'abc'), trim(both 'x' FROM 'xax')",
	"SELECT extract(year FROM '2020-01-01'::date), '1 day'::interval",
	"SELECT * FROM t TABLESAMPLE bernoulli (10) REPEATABLE (42)",
	"SELECT query_to_xml('select 1', true, false, '')",
	"SELECT crosstab('select 1')",
	"CREATE TABLE t (a int DEFAULT 1, b text DEFAULT 'x' CHECK (b <> ''))",
	"CREATE INDEX i ON t (a) WHERE b > 5",
	"CREATE TABLE t (a int) WITH (fillfactor = 70)",
	"ALTER TABLE t SET (autovacuum_enabled = 0)",
	"CREATE SEQUENCE s START 5 INCREMENT 2",
	"DO 'begin null; end'",
	"CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql",
	"DEALLOCATE p",
	"LISTEN c",
	"SELECT 1 FROM t WHERE a = 1 AND b = 'x' OR c IN (1, 2, 3) OR d BETWEEN 1 AND 5",
	"SELECT 'a' || 'b', 1 + 2.5, ARRAY[1, 2], '{1}'::int[]",
	"SELECT 1 AS \"x'y\", 'z'",
	"SELECT 123abc",
	"SELECT 'unterminated",
	"SELECT $$unterminated",
	"SELECT 1 /* a 'comment' */, '/* not a comment */'",
};

static void shape_answers_equal_a_parse(void **state)
{
	struct run r = {.rng = 0x9e3779b97f4a7c15ull};
	struct pgw_sql_cache_stats st;
	size_t files = 0;

	(void)state;
	r.shaped = pgw_sql_cache_new(200000, 512u << 20);
	r.fresh = pgw_sql_cache_new(0, 0);
	assert_non_null(r.shaped);
	assert_non_null(r.fresh);
	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++)
		check_statement(&r, cases[i], strlen(cases[i]));
	sql_corpus_tables(check_corpus_statement, &r);
	files = sql_corpus_regress(check_corpus_statement, &r);
	pgw_sql_cache_stats(r.shaped, &st);
	print_message("%zu statements (%zu regression files), %zu texts: %llu answered from a "
		      "shape, %llu parsed with a shape, %zu shapes\n",
		      r.statements, files, r.texts, (unsigned long long)st.shape_hits,
		      (unsigned long long)st.shape_misses, st.shape_entries);
	/* the run proves something only if shapes answered a good share of it */
	assert_true(files >= 10);
	assert_true(st.shape_hits > r.texts / 4);
	pgw_sql_cache_free(r.shaped);
	pgw_sql_cache_free(r.fresh);
}

/* Statements with bytes that start or end tokens put in at random places. */
static void literal_tokens_on_broken_texts(void **state)
{
	static const char bytes[] = "'\"$-/*.0123456789eE+&\n \\UuNnBbXx_a;";
	struct run r = {.rng = 0x2545f4914f6cdd1dull, .tokens_only = true};
	char buf[256];

	(void)state;
	for (int i = 0; i < 200000; i++) {
		const char *base = cases[next_rand(&r) % PGW_ARRAY_LEN(cases)];
		size_t len = PGW_MIN(strlen(base), sizeof(buf));
		int edits = 1 + (int)(next_rand(&r) % 4);

		memcpy(buf, base, len);
		while (edits-- > 0)
			buf[next_rand(&r) % len] = bytes[next_rand(&r) % (sizeof(bytes) - 1)];
		check_text(&r, buf, len - next_rand(&r) % 4);
	}
}

/* ---- behaviour ---- */

static const struct pgw_sql_info *inspect(struct pgw_sql_cache *c, const char *sql)
{
	return pgw_sql_inspect(c, sql, strlen(sql));
}

/* pgbench's transaction with new literals each time: one parse per statement shape. */
static void shapes_spare_the_parser(void **state)
{
	struct pgw_sql_cache *c = pgw_sql_cache_new(1000, 16u << 20);
	struct pgw_sql_cache_stats st;
	char sql[256];

	(void)state;
	for (int i = 1; i <= 100; i++) {
		const struct pgw_sql_info *info;
		int n;

		snprintf(sql, sizeof(sql),
			 "UPDATE pgbench_accounts SET abalance = abalance + %d WHERE aid = %d;",
			 i * 37, i * 1009);
		pgw_sql_info_unref(inspect(c, sql));
		n = snprintf(
			sql, sizeof(sql),
			"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (%d, "
			"1, %d, -%d, CURRENT_TIMESTAMP);",
			i % 10, i * 1009, i * 37);
		info = inspect(c, sql);
		/* the values are this text's, the grammar's negation included */
		assert_int_equal(info->status, PGW_SQL_OK);
		assert_int_equal(info->ninserts, 1);
		assert_int_equal(info->inserts[0].values[3].type, PGW_SQL_VAL_LITERAL);
		snprintf(sql, sizeof(sql), "-%d", i * 37);
		assert_string_equal(info->inserts[0].values[3].text, sql);
		assert_int_equal(info->stmts[0].len, n - 1);
		pgw_sql_info_unref(info);
		/* and statement offsets follow the lengths of the literals before them */
		n = snprintf(sql, sizeof(sql), "SELECT %d; DELETE FROM t WHERE id = '%.*s'", i,
			     i % 40, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		info = inspect(c, sql);
		assert_int_equal(info->nstmts, 2);
		assert_int_equal(info->stmts[1].offset, strchr(sql, ';') + 1 - sql);
		assert_int_equal(info->stmts[1].offset + info->stmts[1].len, n);
		pgw_sql_info_unref(info);
	}
	pgw_sql_cache_stats(c, &st);
	assert_int_equal(st.parses, 3);
	assert_int_equal(st.shape_hits, 297);
	assert_int_equal(st.shape_entries, 3);
	pgw_sql_cache_free(c);
}

struct listed {
	char text[200];
	uint64_t parses;
	const char *why;
	int n;
};

static void list_one(const char *shape, size_t len, uint64_t parses, const char *why, void *arg)
{
	struct listed *l = arg;

	if (l->n++ == 0) {
		pgw_sql_shape_text(shape, len, l->text, sizeof(l->text));
		l->parses = parses;
		l->why = why;
	}
}

/* A WHERE folded to true on its literals' values: each text is parsed, and the shape says why. */
static void shapes_that_cannot_serve_are_listed(void **state)
{
	struct pgw_sql_cache *c = pgw_sql_cache_new(1000, 16u << 20);
	const struct pgw_sql_info *always = inspect(c, "DELETE FROM t WHERE 1 = 1");
	const struct pgw_sql_info *never = inspect(c, "DELETE FROM t WHERE 1 = 2");
	struct pgw_sql_cache_stats st;
	struct listed l = {0};

	(void)state;
	assert_true(always->flags & PGW_SQL_BIT(PGW_SQL_DELETE_WITHOUT_WHERE));
	assert_false(never->flags & PGW_SQL_BIT(PGW_SQL_DELETE_WITHOUT_WHERE));
	pgw_sql_info_unref(inspect(c, "DELETE FROM t WHERE 3 = 4"));
	pgw_sql_info_unref(inspect(c, "UPDATE t SET a = 5 WHERE id = 6"));
	pgw_sql_info_unref(inspect(c, "UPDATE t SET a = 7 WHERE id = 8"));
	pgw_sql_cache_stats(c, &st);
	assert_int_equal(st.parses, 4);
	assert_int_equal(st.shape_hits, 1);
	pgw_sql_cache_uncached(c, 10, list_one, &l);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.text, "DELETE FROM t WHERE ? = ?");
	assert_int_equal(l.parses, 3);
	assert_string_equal(l.why, "a rule decides on a literal's value");
	pgw_sql_info_unref(always);
	pgw_sql_info_unref(never);
	pgw_sql_cache_free(c);
}

/* A shape shown to people is cut at a character, not inside one. */
static void shape_text_is_cut_whole(void **state)
{
	char out[8];

	(void)state;
	pgw_sql_shape_text("ab\x10", 3, out, sizeof(out));
	assert_string_equal(out, "ab?");
	pgw_sql_shape_text("abcdefghij", 10, out, sizeof(out));
	assert_string_equal(out, "abcd...");
	pgw_sql_shape_text("abc\xc3\xa9"
			   "defg",
			   9, out, sizeof(out));
	assert_string_equal(out, "abc...");
	pgw_sql_shape_text("ab\xc3\xa9\xc3\xa9\xc3\xa9", 8, out, sizeof(out));
	assert_string_equal(out, "ab\xc3\xa9...");
}

/* What the scanner judges by value never shares a shape; a literal's bytes are still checked. */
static void literals_are_still_checked(void **state)
{
	struct pgw_sql_cache *c = pgw_sql_cache_new(1000, 16u << 20);
	struct pgw_sql_cache *nothing_kept = pgw_sql_cache_new(0, 0);
	const struct pgw_sql_info *info, *fresh;
	struct pgw_sql_cache_stats st;

	(void)state;
	pgw_sql_info_unref(inspect(c, "SELECT E'\\x41' FROM t"));
	info = inspect(c, "SELECT E'\\0' FROM t");
	assert_int_equal(info->status, PGW_SQL_PARSE_ERROR);
	pgw_sql_info_unref(info);
	pgw_sql_info_unref(inspect(c, "SELECT B'101' FROM t"));
	info = inspect(c, "SELECT B'102' FROM t"); /* bit_in refuses it, later, in the server */
	assert_int_equal(info->status, PGW_SQL_OK);
	pgw_sql_info_unref(info);
	/* a -- comment between the pieces of a string: libpg_query reads two tokens there */
	pgw_sql_info_unref(inspect(c, "SELECT 'a'\n'b' FROM t"));
	info = inspect(c, "SELECT 'a' -- c\n'b' FROM t");
	fresh = inspect(nothing_kept, "SELECT 'a' -- c\n'b' FROM t");
	assert_null(info_diff(info, fresh));
	pgw_sql_info_unref(info);
	pgw_sql_info_unref(fresh);
	pgw_sql_info_unref(inspect(c, "SELECT 'a' FROM t"));
	info = inspect(c, "SELECT '\xff' FROM t");
	assert_int_equal(info->status, PGW_SQL_BAD_ENCODING);
	pgw_sql_info_unref(info);
	info = pgw_sql_inspect(c, "SELECT 'a\0b' FROM t", 18);
	assert_int_equal(info->status, PGW_SQL_BAD_ENCODING);
	pgw_sql_info_unref(info);
	pgw_sql_cache_stats(c, &st);
	assert_int_equal(st.shape_hits, 0);
	assert_int_equal(st.parses, 9);
	pgw_sql_cache_free(c);
	pgw_sql_cache_free(nothing_kept);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shapes_spare_the_parser),
		cmocka_unit_test(shapes_that_cannot_serve_are_listed),
		cmocka_unit_test(literals_are_still_checked),
		cmocka_unit_test(shape_text_is_cut_whole),
		cmocka_unit_test(literal_tokens_on_broken_texts),
		cmocka_unit_test(shape_answers_equal_a_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
