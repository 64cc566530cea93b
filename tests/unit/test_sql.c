/*
 * sql/: detections, GUC writes, INSERT extraction, kinds and relations, fingerprints
 * (table-driven from the .tsv files in tests/data/sql); the cache (hits, misses, eviction by count
 * and by bytes, references that outlive eviction); the refusals made before parsing;
 * statements nested deeply enough to kill an unprotected parser. bench_costs prints
 * what inspection costs (figures, not assertions; PGWARD_SQL_BENCH=1 for longer runs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "pgward/sql.h"
#include "../../src/sql/sql-int.h"

#define BIG_CACHE 1000, (64u << 20)

static const struct pgw_sql_info *inspect(struct pgw_sql_cache *c, const char *sql)
{
	return pgw_sql_inspect(c, sql, strlen(sql));
}

/* ---- rendering an info as the .tsv files spell it ---- */

struct str {
	char buf[2048];
	size_t n;
};

static PGW_PRINTF(2, 3) void put(struct str *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (s->n < sizeof(s->buf))
		s->n += (size_t)vsnprintf(s->buf + s->n, sizeof(s->buf) - s->n, fmt, ap);
	va_end(ap);
	if (s->n >= sizeof(s->buf))
		s->n = sizeof(s->buf) - 1;
}

static void render_gucs(const struct pgw_sql_info *info, struct str *s)
{
	for (size_t i = 0; i < info->ngucs; i++)
		put(s, "%s%s:%s%s", i ? " " : "", pgw_sql_guc_route_name(info->gucs[i].route),
		    info->gucs[i].name, info->gucs[i].reset ? ":reset" : "");
	if (info->ngucs == 0)
		put(s, "-");
}

static void render_value(const struct pgw_sql_value *v, struct str *s)
{
	switch (v->type) {
	case PGW_SQL_VAL_LITERAL:
		put(s, "'%s'", v->text);
		break;
	case PGW_SQL_VAL_PARAM:
		put(s, "$%d", v->param);
		break;
	case PGW_SQL_VAL_NULL:
		put(s, "NULL");
		break;
	case PGW_SQL_VAL_DEFAULT:
		put(s, "DEFAULT");
		break;
	default:
		put(s, "?");
	}
	if (v->cast)
		put(s, "::%s", v->cast);
}

static void render_inserts(const struct pgw_sql_info *info, struct str *s)
{
	static const char *const where[] = {"top", "prepare", "nested"};

	for (size_t i = 0; i < info->ninserts; i++) {
		const struct pgw_sql_insert *ins = &info->inserts[i];

		put(s, "%s%s(", i ? " | " : "", ins->rel.qualified);
		for (size_t c = 0; c < ins->ncols; c++)
			put(s, "%s%s", c ? "," : "", ins->cols[c]);
		put(s, "%s) %s ", ins->ncols ? "" : "*", where[ins->where]);
		if (ins->default_values)
			put(s, "default_values");
		else if (!ins->values_known)
			put(s, "select");
		for (size_t r = 0; ins->values_known && r < ins->nrows; r++) {
			put(s, "%s[", r ? ";" : "");
			for (size_t c = 0; c < ins->rowlen; c++) {
				put(s, "%s", c ? "," : "");
				render_value(&ins->values[r * ins->rowlen + c], s);
			}
			put(s, "]");
		}
		if (ins->on_conflict)
			put(s, " on_conflict");
		if (ins->returning)
			put(s, " returning");
	}
	if (info->ninserts == 0)
		put(s, "-");
}

static void render_kinds(const struct pgw_sql_info *info, struct str *s)
{
	static const char *const actions[] = {"insert",	  "update", "delete", "merge",
					      "truncate", "drop",   "alter",  "copy_from"};

	for (size_t i = 0; i < info->nstmts; i++)
		put(s, "%s%s:%s", i ? " " : "", pgw_sql_kind_name(info->stmts[i].kind),
		    info->stmts[i].tag);
	put(s, " /");
	for (size_t i = 0; i < info->nrels; i++)
		put(s, " %s:%s", actions[info->rels[i].action], info->rels[i].qualified);
	if (info->nrels == 0)
		put(s, " -");
}

/* ---- .tsv driver ---- */

typedef bool (*case_fn)(struct pgw_sql_cache *c, const char *expect, const char *sql,
			const char *sql2, struct str *got);

/* Runs every case of tests/data/sql/<file>; reports each mismatch, fails if any. */
static void run_tsv(const char *file, bool three_columns, case_fn fn)
{
	const char *dir = getenv("PGWARD_TEST_DATA");
	char path[512], line[8192];
	struct pgw_sql_cache *c = pgw_sql_cache_new(BIG_CACHE);
	int lineno = 0, cases = 0, failures = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/sql/%s", dir ? dir : "tests/data", file);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(c);
	while (fgets(line, sizeof(line), f)) {
		char *expect = line, *sql, *sql2 = NULL, *nl;
		struct str got = {.n = 0};

		lineno++;
		if ((nl = strchr(line, '\n')))
			*nl = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		sql = strchr(line, '\t');
		assert_non_null(sql);
		*sql++ = '\0';
		if (three_columns) {
			sql2 = strchr(sql, '\t');
			assert_non_null(sql2);
			*sql2++ = '\0';
		}
		cases++;
		if (!fn(c, expect, sql, sql2, &got)) {
			failures++;
			print_error("%s:%d: %s\n    expected: %s\n    got:      %s\n", file, lineno,
				    sql, expect, got.buf);
		}
	}
	fclose(f);
	pgw_sql_cache_free(c);
	print_message("%s: %d cases, %d failed\n", file, cases, failures);
	assert_int_equal(failures, 0);
}

static bool flags_case(struct pgw_sql_cache *c, const char *expect, const char *sql,
		       const char *sql2, struct str *got)
{
	const struct pgw_sql_info *info = inspect(c, sql);
	uint64_t want = 0, stmt_union = 0;
	char names[512], *tok, *save = NULL;
	bool ok;

	(void)sql2;
	snprintf(names, sizeof(names), "%s", expect);
	for (tok = strtok_r(names, ",", &save); tok && strcmp(tok, "-") != 0;
	     tok = strtok_r(NULL, ",", &save)) {
		int f = pgw_sql_flag_by_name(tok);

		if (f < 0) {
			put(got, "unknown rule name %s", tok);
			pgw_sql_info_unref(info);
			return false;
		}
		want |= PGW_SQL_BIT(f);
	}
	put(got, "[%s]", pgw_sql_status_name(info->status));
	for (int f = 0; f < PGW_SQL_NFLAGS; f++) {
		if (!(info->flags & PGW_SQL_BIT(f)))
			continue;
		put(got, " %s (%s)", pgw_sql_flag_name(f), pgw_sql_info_desc(info, f));
	}
	for (size_t i = 0; i < info->nstmts; i++)
		stmt_union |= info->stmts[i].flags;
	ok = info->status == PGW_SQL_OK && info->flags == want && stmt_union == want;
	for (int f = 0; ok && f < PGW_SQL_NFLAGS; f++)
		if (info->flags & PGW_SQL_BIT(f))
			ok = pgw_sql_info_desc(info, f) != NULL;
	pgw_sql_info_unref(info);
	return ok;
}

static bool render_case(struct pgw_sql_cache *c, const char *expect, const char *sql,
			void (*render)(const struct pgw_sql_info *, struct str *), struct str *got)
{
	const struct pgw_sql_info *info = inspect(c, sql);
	bool ok;

	if (info->status != PGW_SQL_OK)
		put(got, "[%s: %s] ", pgw_sql_status_name(info->status), info->error);
	render(info, got);
	ok = info->status == PGW_SQL_OK && strcmp(got->buf, expect) == 0;
	pgw_sql_info_unref(info);
	return ok;
}

static bool gucs_case(struct pgw_sql_cache *c, const char *expect, const char *sql,
		      const char *sql2, struct str *got)
{
	(void)sql2;
	return render_case(c, expect, sql, render_gucs, got);
}

static bool inserts_case(struct pgw_sql_cache *c, const char *expect, const char *sql,
			 const char *sql2, struct str *got)
{
	(void)sql2;
	return render_case(c, expect, sql, render_inserts, got);
}

static bool kinds_case(struct pgw_sql_cache *c, const char *expect, const char *sql,
		       const char *sql2, struct str *got)
{
	(void)sql2;
	return render_case(c, expect, sql, render_kinds, got);
}

static bool fingerprint_case(struct pgw_sql_cache *c, const char *expect, const char *sql,
			     const char *sql2, struct str *got)
{
	const struct pgw_sql_info *a = inspect(c, sql), *b = inspect(c, sql2);
	bool same = a->fingerprint == b->fingerprint;
	bool ok = a->status == PGW_SQL_OK && b->status == PGW_SQL_OK && a->fingerprint != 0 &&
		  same == (strcmp(expect, "same") == 0);

	put(got, "%016llx vs %016llx", (unsigned long long)a->fingerprint,
	    (unsigned long long)b->fingerprint);
	pgw_sql_info_unref(a);
	pgw_sql_info_unref(b);
	return ok;
}

static void flags_table(void **state)
{
	(void)state;
	run_tsv("flags.tsv", false, flags_case);
}

static void gucs_table(void **state)
{
	(void)state;
	run_tsv("gucs.tsv", false, gucs_case);
}

static void inserts_table(void **state)
{
	(void)state;
	run_tsv("inserts.tsv", false, inserts_case);
}

static void kinds_table(void **state)
{
	(void)state;
	run_tsv("kinds.tsv", false, kinds_case);
}

static void fingerprint_table(void **state)
{
	(void)state;
	run_tsv("fingerprint.tsv", true, fingerprint_case);
}

/* ---- detections in detail ---- */

static void descriptions(void **state)
{
	static const struct {
		const char *sql;
		enum pgw_sql_flag flag;
		const char *desc;
	} cases[] = {
		{"DROP TABLE public.users", PGW_SQL_DROP_TABLE, "DROP TABLE public.users"},
		{"drop table \"Users\", b.c cascade", PGW_SQL_CASCADE,
		 "DROP TABLE \"Users\", b.c CASCADE"},
		{"DROP SCHEMA app", PGW_SQL_DROP_SCHEMA, "DROP SCHEMA app"},
		{"DROP DATABASE prod", PGW_SQL_DROP_DATABASE, "DROP DATABASE prod"},
		{"TRUNCATE a, b", PGW_SQL_TRUNCATE, "TRUNCATE a, ..."},
		{"UPDATE t SET secret = 'hunter2'", PGW_SQL_UPDATE_WITHOUT_WHERE, "UPDATE t"},
		{"WITH d AS (DELETE FROM s.t RETURNING *) SELECT 1", PGW_SQL_DELETE_WITHOUT_WHERE,
		 "DELETE FROM s.t"},
		{"ALTER TABLE t DROP COLUMN c", PGW_SQL_ALTER_DROP_COLUMN,
		 "ALTER TABLE t DROP COLUMN c"},
		{"ALTER TABLE t DROP CONSTRAINT k", PGW_SQL_ALTER_DROP_CONSTRAINT,
		 "ALTER TABLE t DROP CONSTRAINT k"},
		{"ALTER TABLE t ALTER c TYPE int", PGW_SQL_ALTER_COLUMN_TYPE,
		 "ALTER TABLE t ALTER COLUMN c TYPE"},
		{"CREATE INDEX i ON t (a)", PGW_SQL_CREATE_INDEX_BLOCKING, "CREATE INDEX i ON t"},
		{"CREATE INDEX ON t (a)", PGW_SQL_CREATE_INDEX_BLOCKING, "CREATE INDEX ON t"},
		{"DROP INDEX i", PGW_SQL_DROP_INDEX_BLOCKING, "DROP INDEX i"},
		{"SET ROLE admin", PGW_SQL_SET_ROLE, "SET ROLE"},
		{"RESET ROLE", PGW_SQL_SET_ROLE, "RESET ROLE"},
		{"SET SESSION AUTHORIZATION x", PGW_SQL_SET_ROLE, "SET SESSION AUTHORIZATION"},
		{"SELECT set_config('role', 'x', false)", PGW_SQL_SET_ROLE, "set_config('role')"},
		{"SET row_security = off", PGW_SQL_ROW_SECURITY_OFF, "SET row_security"},
		{"GRANT SELECT ON t TO u", PGW_SQL_GRANT_REVOKE, "GRANT ON TABLE"},
		{"REVOKE r FROM u", PGW_SQL_GRANT_REVOKE, "REVOKE role"},
		{"ALTER SYSTEM SET x.y = 1", PGW_SQL_ALTER_SYSTEM, "ALTER SYSTEM"},
		{"DO $$ BEGIN END $$", PGW_SQL_DO_BLOCK, "DO"},
		{"CREATE TABLE s.t (a int)", PGW_SQL_DDL, "CREATE TABLE s.t"},
		{"ALTER INDEX i RENAME TO j", PGW_SQL_DDL, "ALTER INDEX i"},
		{"RESET ALL", PGW_SQL_RESET_ALL, "RESET ALL"},
		{"DISCARD ALL", PGW_SQL_DISCARD_ALL, "DISCARD ALL"},
		{"SELECT set_config($1, 'x', false)", PGW_SQL_SET_CONFIG_DYNAMIC,
		 "set_config() with a non-constant name"},
		{"ALTER ROLE app SET app.user_id = 'u'", PGW_SQL_ALTER_ROLE_SET,
		 "ALTER ROLE app SET app.user_id"},
		{"ALTER DATABASE d RESET ALL", PGW_SQL_ALTER_ROLE_SET,
		 "ALTER DATABASE d RESET ALL"},
		{"SET client_encoding = 'SJIS'", PGW_SQL_ENCODING_NOT_UTF8, "SET client_encoding"},
		{"SET LOCAL standard_conforming_strings = off", PGW_SQL_SCS_OFF,
		 "SET LOCAL standard_conforming_strings"},
		/* the first statement that raised it is the one described */
		{"DELETE FROM a; DELETE FROM b", PGW_SQL_DELETE_WITHOUT_WHERE, "DELETE FROM a"},
	};
	struct pgw_sql_cache *c = pgw_sql_cache_new(BIG_CACHE);

	(void)state;
	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		const struct pgw_sql_info *info = inspect(c, cases[i].sql);
		const char *desc = pgw_sql_info_desc(info, cases[i].flag);

		if (!desc || strcmp(desc, cases[i].desc) != 0)
			print_error("%s: want \"%s\", got \"%s\"\n", cases[i].sql, cases[i].desc,
				    desc ? desc : "(null)");
		assert_non_null(desc);
		assert_string_equal(desc, cases[i].desc);
		pgw_sql_info_unref(info);
	}
	pgw_sql_cache_free(c);
}

static void statements_and_offsets(void **state)
{
	const char *sql = "BEGIN; SELECT 1;UPDATE t SET a=1 WHERE id=$1; COMMIT";
	struct pgw_sql_cache *c = pgw_sql_cache_new(BIG_CACHE);
	const struct pgw_sql_info *info = inspect(c, sql);
	static const uint32_t want[][2] = {{0, 5}, {6, 9}, {16, 28}, {45, 7}};

	(void)state;
	assert_int_equal(info->status, PGW_SQL_OK);
	assert_int_equal(info->nstmts, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(info->stmts[i].offset, want[i][0]);
		assert_int_equal(info->stmts[i].len, want[i][1]);
	}
	assert_int_equal(info->stmts[2].kind, PGW_SQL_KIND_UPDATE);
	assert_int_equal(pgw_sql_kind_metrics(info->stmts[0].kind), PGW_SQL_MKIND_UTILITY);
	pgw_sql_info_unref(info);

	info = inspect(c, "SELECT 1; DROP TABLE x; SELECT 2");
	assert_int_equal(info->nstmts, 3);
	assert_int_equal(info->stmts[0].flags, 0);
	assert_true(info->stmts[1].flags & PGW_SQL_BIT(PGW_SQL_DROP_TABLE));
	assert_int_equal(info->stmts[2].flags, 0);
	pgw_sql_info_unref(info);

	/* comments and empty statements only: no statement, no error */
	info = inspect(c, "/* nothing */ ; -- here\n;");
	assert_int_equal(info->status, PGW_SQL_OK);
	assert_int_equal(info->nstmts, 0);
	pgw_sql_info_unref(info);

	/* a newline ends a -- comment: the second DROP is real, the first is not */
	info = inspect(c, "SELECT 1; -- DROP TABLE y\n DROP TABLE x");
	assert_int_equal(info->nstmts, 2);
	assert_string_equal(pgw_sql_info_desc(info, PGW_SQL_DROP_TABLE), "DROP TABLE x");
	pgw_sql_info_unref(info);
	pgw_sql_cache_free(c);
}

/* ---- refusals before and by the parser ---- */

static void parse_errors(void **state)
{
	struct pgw_sql_cache *c = pgw_sql_cache_new(BIG_CACHE);
	const struct pgw_sql_info *info = inspect(c, "SELEC 1");
	struct pgw_sql_cache_stats st;

	(void)state;
	assert_int_equal(info->status, PGW_SQL_PARSE_ERROR);
	assert_string_equal(info->error, "syntax error at or near \"SELEC\"");
	assert_int_equal(info->error_cursor, 1);
	assert_int_equal(info->nstmts, 0);
	assert_int_equal(info->flags, 0);
	pgw_sql_info_unref(info);

	/* negative results are cached too: no second parse */
	info = inspect(c, "SELEC 1");
	assert_int_equal(info->status, PGW_SQL_PARSE_ERROR);
	pgw_sql_info_unref(info);
	pgw_sql_cache_stats(c, &st);
	assert_int_equal(st.parses, 1);
	assert_int_equal(st.hits, 1);

	/* the cursor counts characters, not bytes */
	info = inspect(c, "SELECT 'é' FROM");
	assert_int_equal(info->status, PGW_SQL_PARSE_ERROR);
	assert_int_equal(info->error_cursor, 16);
	pgw_sql_info_unref(info);

	/* one bad statement fails the whole string, as in the server */
	info = inspect(c, "SELECT 1; SELEC 2; DROP TABLE x");
	assert_int_equal(info->status, PGW_SQL_PARSE_ERROR);
	assert_int_equal(info->flags, 0);
	pgw_sql_info_unref(info);

	info = inspect(c, "SELECT 'unterminated");
	assert_int_equal(info->status, PGW_SQL_PARSE_ERROR);
	pgw_sql_info_unref(info);
	info = inspect(c, "SELECT ?");
	assert_int_equal(info->status, PGW_SQL_PARSE_ERROR);
	pgw_sql_info_unref(info);
	pgw_sql_cache_free(c);
}

static void bad_encoding(void **state)
{
	static const struct {
		const char *text;
		size_t len;
		int at;
		const char *msg;
	} bad[] = {
#define B(s, at, msg) {s, sizeof(s) - 1, at, msg}
		B("SELECT '\xff'", 8, "invalid byte sequence for encoding \"UTF8\": 0xff"),
		B("SELECT '\xc3\x28'", 8, "invalid byte sequence for encoding \"UTF8\": 0xc3 0x28"),
		B("SELECT '\xc0\x80'", 8, "invalid byte sequence for encoding \"UTF8\": 0xc0 0x80"),
		B("SELECT '\xed\xa0\x80'", 8,
		  "invalid byte sequence for encoding \"UTF8\": 0xed 0xa0 0x80"),
		B("SELECT '\xf4\x90\x80\x80'", 8,
		  "invalid byte sequence for encoding \"UTF8\": 0xf4 0x90 0x80 0x80"),
		B("SELECT '\xe2\x82", 8, "invalid byte sequence for encoding \"UTF8\": 0xe2 0x82"),
		B("SELECT 1;\0DROP TABLE x", 9,
		  "invalid byte sequence for encoding \"UTF8\": 0x00"),
		B("SELECT 'abcdefgh\0'", 16, "invalid byte sequence for encoding \"UTF8\": 0x00"),
		B("/* \xfe */ SELECT 1", 3, "invalid byte sequence for encoding \"UTF8\": 0xfe"),
#undef B
	};
	struct pgw_sql_cache *c = pgw_sql_cache_new(BIG_CACHE);
	const struct pgw_sql_info *info;
	char longtext[2100];

	(void)state;
	for (size_t i = 0; i < PGW_ARRAY_LEN(bad); i++) {
		info = pgw_sql_inspect(c, bad[i].text, bad[i].len);
		assert_int_equal(info->status, PGW_SQL_BAD_ENCODING);
		assert_int_equal(info->error_cursor, bad[i].at);
		assert_string_equal(info->error, bad[i].msg);
		pgw_sql_info_unref(info);
	}
	info = inspect(c, "SELECT 'é€𝄞', \"ïdent\"");
	assert_int_equal(info->status, PGW_SQL_OK);
	pgw_sql_info_unref(info);

	/* past the 8-byte fast path */
	memset(longtext, 'x', sizeof(longtext));
	memcpy(longtext, "SELECT '", 8);
	memcpy(longtext + sizeof(longtext) - 1, "'", 1);
	longtext[2001] = (char)0x80;
	info = pgw_sql_inspect(c, longtext, sizeof(longtext));
	assert_int_equal(info->status, PGW_SQL_BAD_ENCODING);
	assert_int_equal(info->error_cursor, 2001);
	pgw_sql_info_unref(info);
	assert_int_equal(sql_utf8_check("abcdefg\0ijklmnop", 16), 7);
	assert_int_equal(sql_utf8_check("abcdefghijklmnop", 16), 16);
	pgw_sql_cache_free(c);
}

static void too_large(void **state)
{
	struct pgw_sql_cache *c = pgw_sql_cache_new(BIG_CACHE);
	struct pgw_sql_limits lim;
	struct pgw_sql_cache_stats st;
	const struct pgw_sql_info *info;
	char text[101];

	(void)state;
	pgw_sql_cache_get_limits(c, &lim);
	assert_int_equal(lim.max_parse_bytes, PGW_SQL_MAX_PARSE_BYTES);
	assert_int_equal(lim.max_cached_text, PGW_SQL_MAX_CACHED_TEXT);
	lim.max_parse_bytes = 100;
	assert_int_equal(pgw_sql_cache_set_limits(c, &lim), 0);
	memset(text, ' ', sizeof(text));
	memcpy(text, "DROP TABLE x", 12);

	info = pgw_sql_inspect(c, text, 101);
	assert_int_equal(info->status, PGW_SQL_TOO_LARGE);
	assert_int_equal(info->flags, 0);
	pgw_sql_info_unref(info);
	info = pgw_sql_inspect(c, text, 100);
	assert_int_equal(info->status, PGW_SQL_OK);
	assert_true(info->flags & PGW_SQL_BIT(PGW_SQL_DROP_TABLE));
	pgw_sql_info_unref(info);
	pgw_sql_cache_stats(c, &st);
	assert_int_equal(st.too_large, 1);
	assert_int_equal(st.parses, 1);

	lim.max_parse_bytes = 0;
	assert_int_equal(pgw_sql_cache_set_limits(c, &lim), -1);
	lim.max_parse_bytes = PGW_SQL_PARSE_BYTES_CAP + 1;
	assert_int_equal(pgw_sql_cache_set_limits(c, &lim), -1);
	pgw_sql_cache_free(c);
}

/* ---- the cache ---- */

static void cache_hits_and_misses(void **state)
{
	struct pgw_sql_cache *c = pgw_sql_cache_new(BIG_CACHE);
	struct pgw_sql_cache_stats st;
	const struct pgw_sql_info *a, *b, *d;

	(void)state;
	a = inspect(c, "SELECT abalance FROM pgbench_accounts WHERE aid = $1");
	b = inspect(c, "SELECT abalance FROM pgbench_accounts WHERE aid = $1");
	assert_ptr_equal(a, b); /* the same cached info, one more reference */
	assert_int_equal(a->refcnt, 3);
	d = inspect(c, "SELECT abalance FROM pgbench_accounts WHERE aid = $1 "); /* exact text */
	assert_ptr_not_equal(a, d);
	assert_int_equal(a->fingerprint, d->fingerprint);
	pgw_sql_cache_stats(c, &st);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.parses, 2);
	assert_int_equal(st.entries, 2);
	assert_true(st.bytes > 2 * 53);
	pgw_sql_info_unref(a);
	pgw_sql_info_unref(b);
	pgw_sql_info_unref(d);

	/* a repeated statement is never parsed again, however often it comes */
	for (int i = 0; i < 100; i++)
		pgw_sql_info_unref(
			inspect(c, "SELECT abalance FROM pgbench_accounts WHERE aid = $1"));
	pgw_sql_cache_stats(c, &st);
	assert_int_equal(st.parses, 2);
	assert_int_equal(st.hits, 101);
	pgw_sql_cache_free(c);
}

static void cache_evicts_by_count(void **state)
{
	struct pgw_sql_cache *c = pgw_sql_cache_new(2, 1u << 20);
	struct pgw_sql_cache_stats st;

	(void)state;
	pgw_sql_info_unref(inspect(c, "SELECT 1"));
	pgw_sql_info_unref(inspect(c, "SELECT 2"));
	pgw_sql_info_unref(inspect(c, "SELECT 1")); /* now SELECT 2 is the oldest */
	pgw_sql_info_unref(inspect(c, "SELECT 3")); /* evicts SELECT 2 */
	pgw_sql_cache_stats(c, &st);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.evictions, 1);
	assert_int_equal(st.parses, 3);
	pgw_sql_info_unref(inspect(c, "SELECT 1")); /* still cached */
	pgw_sql_info_unref(inspect(c, "SELECT 2")); /* parsed again */
	pgw_sql_cache_stats(c, &st);
	assert_int_equal(st.parses, 4);
	assert_int_equal(st.hits, 2);
	assert_int_equal(st.evictions, 2);
	pgw_sql_cache_free(c);
}

static void cache_evicts_by_bytes(void **state)
{
	struct pgw_sql_cache *c = pgw_sql_cache_new(1000, 1u << 20);
	struct pgw_sql_cache_stats st;
	struct pgw_sql_limits lim;
	size_t one;

	(void)state;
	pgw_sql_info_unref(inspect(c, "SELECT a FROM t1"));
	pgw_sql_cache_stats(c, &st);
	one = st.bytes;
	/* room for two entries of this size, not three */
	pgw_sql_cache_get_limits(c, &lim);
	lim.max_bytes = 2 * one + one / 2;
	assert_int_equal(pgw_sql_cache_set_limits(c, &lim), 0);
	pgw_sql_info_unref(inspect(c, "SELECT a FROM t2"));
	pgw_sql_info_unref(inspect(c, "SELECT a FROM t3"));
	pgw_sql_cache_stats(c, &st);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.evictions, 1);
	assert_true(st.bytes <= lim.max_bytes);

	/* lowering the bound evicts at once; an entry bigger than it is never kept */
	lim.max_bytes = one + one / 2;
	assert_int_equal(pgw_sql_cache_set_limits(c, &lim), 0);
	pgw_sql_cache_stats(c, &st);
	assert_int_equal(st.entries, 1);
	lim.max_bytes = 10;
	assert_int_equal(pgw_sql_cache_set_limits(c, &lim), 0);
	pgw_sql_info_unref(inspect(c, "SELECT a FROM t4"));
	pgw_sql_cache_stats(c, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.bytes, 0);
	pgw_sql_cache_free(c);
}

static void references_outlive_eviction(void **state)
{
	struct pgw_sql_cache *c = pgw_sql_cache_new(1, 1u << 20);
	const struct pgw_sql_info *held, *other;
	struct pgw_sql_cache_stats st;

	(void)state;
	held = inspect(c, "DROP TABLE kept_alive");
	other = inspect(c, "SELECT 1"); /* evicts the DROP's entry */
	pgw_sql_cache_stats(c, &st);
	assert_int_equal(st.evictions, 1);
	/* still whole: ASan would report any use after free here */
	assert_true(held->flags & PGW_SQL_BIT(PGW_SQL_DROP_TABLE));
	assert_string_equal(pgw_sql_info_desc(held, PGW_SQL_DROP_TABLE), "DROP TABLE kept_alive");
	assert_string_equal(held->rels[0].qualified, "kept_alive");
	pgw_sql_cache_free(c); /* and the cache may go first */
	assert_int_equal(other->nstmts, 1);
	assert_int_equal(held->refcnt, 1);
	pgw_sql_info_unref(other);
	pgw_sql_info_unref(held);
}

static void long_texts_not_cached(void **state)
{
	struct pgw_sql_cache *c = pgw_sql_cache_new(BIG_CACHE);
	struct pgw_sql_cache_stats st;
	struct pgw_sql_limits lim;
	const char *sql = "SELECT a, b, c FROM some_table WHERE d = 1";
	const struct pgw_sql_info *a, *b;

	(void)state;
	pgw_sql_cache_get_limits(c, &lim);
	lim.max_cached_text = 16;
	assert_int_equal(pgw_sql_cache_set_limits(c, &lim), 0);
	a = inspect(c, sql);
	b = inspect(c, sql);
	assert_ptr_not_equal(a, b);
	assert_int_equal(a->status, PGW_SQL_OK);
	assert_int_equal(a->fingerprint, b->fingerprint);
	pgw_sql_cache_stats(c, &st);
	assert_int_equal(st.parses, 2);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.entries, 0);
	pgw_sql_info_unref(a);
	pgw_sql_info_unref(b);
	pgw_sql_cache_free(c);

	/* max_entries 0: no caching at all, inspection still works */
	c = pgw_sql_cache_new(0, 0);
	a = inspect(c, "DELETE FROM t");
	assert_true(a->flags & PGW_SQL_BIT(PGW_SQL_DELETE_WITHOUT_WHERE));
	pgw_sql_info_unref(a);
	pgw_sql_cache_free(c);
}

static void names_and_statics(void **state)
{
	(void)state;
	for (int f = 0; f < PGW_SQL_NFLAGS; f++)
		assert_int_equal(pgw_sql_flag_by_name(pgw_sql_flag_name(f)), f);
	assert_int_equal(pgw_sql_flag_by_name("no_such_rule"), -1);
	assert_string_equal(pgw_sql_flag_name(PGW_SQL_DELETE_WITHOUT_WHERE),
			    "delete_without_where");
	assert_string_equal(pgw_sql_kind_name(PGW_SQL_KIND_TRANSACTION), "transaction");
	assert_string_equal(pgw_sql_mkind_name(pgw_sql_kind_metrics(PGW_SQL_KIND_MERGE)), "other");
	assert_string_equal(pgw_sql_mkind_name(pgw_sql_kind_metrics(PGW_SQL_KIND_SET)), "utility");
	assert_string_equal(pgw_sql_status_name(PGW_SQL_TOO_COMPLEX), "too_complex");
	/* static results ignore reference counting */
	pgw_sql_info_unref(pgw_sql_info_ref(sql_info_static(PGW_SQL_TOO_LARGE)));
	pgw_sql_info_unref(NULL);
	assert_int_equal(sql_info_static(PGW_SQL_TOO_LARGE)->status, PGW_SQL_TOO_LARGE);
}

static void fingerprint_is_stable(void **state)
{
	struct pgw_sql_cache *c1 = pgw_sql_cache_new(BIG_CACHE), *c2 = pgw_sql_cache_new(0, 0);
	const struct pgw_sql_info *a = inspect(c1, "SELECT * FROM t WHERE a = 1");
	const struct pgw_sql_info *b = inspect(c2, "SELECT * FROM t WHERE a = 2");

	(void)state;
	/* caches hash with random seeds, the fingerprint must not depend on them */
	assert_int_equal(a->fingerprint, b->fingerprint);
	assert_int_not_equal(a->fingerprint, 0);
	pgw_sql_info_unref(a);
	pgw_sql_info_unref(b);
	pgw_sql_cache_free(c1);
	pgw_sql_cache_free(c2);
}

/* ---- deep nesting: must yield a result or an error, never kill the process ---- */

static char *repeat(const char *head, const char *unit, size_t n, const char *mid,
		    const char *tail_unit, const char *tail)
{
	size_t hl = strlen(head), ul = strlen(unit), ml = strlen(mid), tl = strlen(tail_unit);
	char *s = malloc(hl + n * (ul + tl) + ml + strlen(tail) + 1), *p = s;

	assert_non_null(s);
	memcpy(p, head, hl);
	p += hl;
	for (size_t i = 0; i < n; i++, p += ul)
		memcpy(p, unit, ul);
	memcpy(p, mid, ml);
	p += ml;
	for (size_t i = 0; i < n; i++, p += tl)
		memcpy(p, tail_unit, tl);
	strcpy(p, tail);
	return s;
}

struct deep {
	const char *name;
	char *sql;
};

static size_t make_deep(struct deep *d)
{
	size_t n = 0;

	d[n++] = (struct deep){"+-+- 5 KB", repeat("SELECT ", "+-", 2500, "1", "", "")};
	d[n++] = (struct deep){"+-+- 50 KB", repeat("SELECT ", "+-", 25000, "1", "", "")};
	d[n++] = (struct deep){"1+1+... 200 KB", repeat("SELECT 1", "+1", 100000, "", "", "")};
	d[n++] = (struct deep){"(SELECT (SELECT ... 3000 levels",
			       repeat("SELECT ", "(SELECT ", 3000, "1", ")", "")};
	d[n++] = (struct deep){"NOT NOT ... 9000", repeat("SELECT ", "NOT ", 9000, "true", "", "")};
	d[n++] = (struct deep){"f(f(... 3000", repeat("SELECT ", "f(", 3000, "1", ")", "")};
	d[n++] = (struct deep){"ARRAY[ARRAY[... 2000",
			       repeat("SELECT ", "ARRAY[", 2000, "1", "]", "")};
	d[n++] = (struct deep){"1::int::int... 20000",
			       repeat("SELECT 1", "::int", 20000, "", "", "")};
	d[n++] = (struct deep){"a||a||... 600", repeat("SELECT a", "||a", 600, "", "", " FROM t")};
	d[n++] = (struct deep){"((((1)))) 100000", repeat("SELECT ", "(", 100000, "1", ")", "")};
	return n;
}

static void deep_nesting(void **state)
{
	struct pgw_sql_cache *c = pgw_sql_cache_new(BIG_CACHE);
	struct deep d[16];
	size_t n = make_deep(d);
	char *worst;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		const struct pgw_sql_info *info = inspect(c, d[i].sql);

		print_message("deep %-32s %7zu B -> %s%s%s\n", d[i].name, strlen(d[i].sql),
			      pgw_sql_status_name(info->status), info->error ? ": " : "",
			      info->error ? info->error : "");
		assert_true(info->status == PGW_SQL_OK || info->status == PGW_SQL_PARSE_ERROR ||
			    info->status == PGW_SQL_TOO_COMPLEX);
		pgw_sql_info_unref(info);
		free(d[i].sql);
	}
	/* the worst case the default limit admits: a 1 MB left-deep chain */
	worst = repeat("SELECT 1", "+1", (PGW_SQL_MAX_PARSE_BYTES - 8) / 2, "", "", "");
	{
		const struct pgw_sql_info *info = inspect(c, worst);

		print_message("deep %-32s %7zu B -> %s\n", "1+1+... 1 MB (max_parse_bytes)",
			      strlen(worst), pgw_sql_status_name(info->status));
		assert_true(info->status == PGW_SQL_TOO_COMPLEX || info->status == PGW_SQL_OK);
		pgw_sql_info_unref(info);
	}
	free(worst);
	pgw_sql_cache_free(c);
}

static size_t resident(const struct sql_stack *s)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t pages = s->map_size / (size_t)page, n = 0;
	unsigned char *vec = malloc(pages);

	assert_non_null(vec);
	assert_int_equal(mincore(s->map, s->map_size, vec), 0);
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	return n * (size_t)page;
}

/* Touched pages of a fresh parser stack after one analysis; checks that a trim frees them. */
static size_t stack_used(bool use_ucontext, const char *sql, enum pgw_sql_status *status)
{
	struct sql_stack s = {0};
	struct pgw_sql_info *info;
	size_t used;

	assert_int_equal(sql_stack_init(&s, sql_stack_size_for(PGW_SQL_MAX_PARSE_BYTES)), 0);
	s.use_ucontext = use_ucontext;
	info = sql_analyze(&s, sql, strlen(sql));
	*status = info->status;
	pgw_sql_info_unref(info);
	used = resident(&s);
	sql_stack_trim(&s);
	assert_true(resident(&s) <= (1u << 20));
	sql_stack_free(&s);
	return used;
}

/* Both ways onto the big stack survive the deep cases; prints how much stack they use. */
static void stack_runners(void **state)
{
	struct deep d[16];
	size_t n = make_deep(d);

	(void)state;
	for (int uc = 0; uc < 2; uc++) {
		for (size_t i = 0; i < n; i++) {
			enum pgw_sql_status st;
			size_t used = stack_used(uc, d[i].sql, &st);

			print_message("%-9s %-32s -> %-11s stack %6zu KB (%.0f B/byte)\n",
				      uc ? "ucontext" : "stackcall", d[i].name,
				      pgw_sql_status_name(st), used >> 10,
				      (double)used / (double)strlen(d[i].sql));
			assert_true(st == PGW_SQL_OK || st == PGW_SQL_PARSE_ERROR ||
				    st == PGW_SQL_TOO_COMPLEX);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(d[i].sql);
}

/* ---- costs (printed, not asserted) ---- */

static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Best of <rounds> batches of <iters> inspections, ns per inspection. */
static double time_inspect(struct pgw_sql_cache *c, const char *sql, int rounds, int iters)
{
	size_t len = strlen(sql);
	double best = 1e30;

	pgw_sql_info_unref(pgw_sql_inspect(c, sql, len)); /* warm: cached when c caches */
	for (int r = 0; r < rounds; r++) {
		double t0 = cpu_ns();

		for (int i = 0; i < iters; i++)
			pgw_sql_info_unref(pgw_sql_inspect(c, sql, len));
		best = PGW_MIN(best, (cpu_ns() - t0) / iters);
	}
	return best;
}

static void nothing(void *arg)
{
	*(volatile int *)arg += 1;
}

static double time_runner(bool use_ucontext, int rounds, int iters)
{
	struct sql_stack s = {0};
	volatile int counter = 0;
	double best = 1e30;

	assert_int_equal(sql_stack_init(&s, 1u << 20), 0);
	s.use_ucontext = use_ucontext;
	for (int r = 0; r < rounds; r++) {
		double t0 = cpu_ns();

		for (int i = 0; i < iters; i++)
			sql_stack_run(&s, nothing, (void *)&counter);
		best = PGW_MIN(best, (cpu_ns() - t0) / iters);
	}
	assert_int_equal(counter, rounds * iters);
	sql_stack_free(&s);
	return best;
}

static const char analytic_20l[] =
	"WITH recent AS (\n"
	"  SELECT o.id, o.customer_id, o.total, o.created_at\n"
	"  FROM orders o\n"
	"  WHERE o.created_at > now() - interval '30 days' AND o.status IN ('paid', 'shipped')\n"
	"), ranked AS (\n"
	"  SELECT r.customer_id, r.total,\n"
	"         row_number() OVER (PARTITION BY r.customer_id ORDER BY r.total DESC) AS rn\n"
	"  FROM recent r\n"
	")\n"
	"SELECT c.id, c.name, sum(r.total)::numeric(12,2) AS revenue, count(*) AS orders,\n"
	"       max(p.category) AS top_category\n"
	"FROM customers c\n"
	"JOIN ranked r ON r.customer_id = c.id\n"
	"JOIN order_items oi ON oi.order_id = r.customer_id\n"
	"LEFT JOIN products p ON p.id = oi.product_id\n"
	"WHERE c.region = $1 AND r.rn <= 10 AND c.id IN (SELECT customer_id FROM vip)\n"
	"GROUP BY c.id, c.name\n"
	"HAVING sum(r.total) > 1000\n"
	"ORDER BY revenue DESC\n"
	"LIMIT 50";

static void bench_costs(void **state)
{
	static const struct {
		const char *name, *sql;
	} stmts[] = {
		{"pgbench select-only", "SELECT abalance FROM pgbench_accounts WHERE aid = $1;"},
		{"TPC-B UPDATE",
		 "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;"},
		{"TPC-B UPDATE, literals",
		 "UPDATE pgbench_accounts SET abalance = abalance + -4242 WHERE aid = 31337;"},
		{"BEGIN", "BEGIN;"},
		{"analytic 20 lines", analytic_20l},
	};
	bool longer = getenv("PGWARD_SQL_BENCH") != NULL;
	int rounds = longer ? 9 : 3, iters = longer ? 2000 : 200;
	struct pgw_sql_cache *hit = pgw_sql_cache_new(BIG_CACHE), *miss = pgw_sql_cache_new(0, 0);

	(void)state;
	print_message("cost per statement, ns of thread CPU, best of %d x %d%s\n", rounds, iters,
#ifdef NDEBUG
		      ""
#else
		      " (assertions on: build Release for real figures)"
#endif
	);
	for (size_t i = 0; i < PGW_ARRAY_LEN(stmts); i++) {
		double h = time_inspect(hit, stmts[i].sql, rounds, iters * 50);
		double m = time_inspect(miss, stmts[i].sql, rounds, iters);

		print_message("  %-24s %4zu B  hit %8.0f ns  miss %8.0f ns\n", stmts[i].name,
			      strlen(stmts[i].sql), h, m);
	}
	print_message("  big-stack runner, empty call: stackcall %.1f ns, ucontext %.1f ns\n",
		      time_runner(false, rounds, iters * 50), time_runner(true, rounds, iters));
	pgw_sql_cache_free(hit);
	pgw_sql_cache_free(miss);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flags_table),
		cmocka_unit_test(gucs_table),
		cmocka_unit_test(inserts_table),
		cmocka_unit_test(kinds_table),
		cmocka_unit_test(fingerprint_table),
		cmocka_unit_test(descriptions),
		cmocka_unit_test(statements_and_offsets),
		cmocka_unit_test(parse_errors),
		cmocka_unit_test(bad_encoding),
		cmocka_unit_test(too_large),
		cmocka_unit_test(cache_hits_and_misses),
		cmocka_unit_test(cache_evicts_by_count),
		cmocka_unit_test(cache_evicts_by_bytes),
		cmocka_unit_test(references_outlive_eviction),
		cmocka_unit_test(long_texts_not_cached),
		cmocka_unit_test(names_and_statics),
		cmocka_unit_test(fingerprint_is_stable),
		cmocka_unit_test(deep_nesting),
		cmocka_unit_test(stack_runners),
		cmocka_unit_test(bench_costs),
	};

	return cmocka_run_group_tests_name("sql", tests, NULL, NULL);
}
