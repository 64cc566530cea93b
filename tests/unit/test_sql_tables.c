/*
 * sql/, table-driven: detections, GUC writes, INSERT extraction, notifications, kinds and
 * relations, fingerprints, each from its .tsv file in tests/data/sql; then the detections in
 * detail (descriptions, statements and their offsets).
 */
#include "sql_test_util.h"

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

/* Session SETs as transaction pooling replays them: name=value, name:reset, or name:no. */
static void render_replays(const struct pgw_sql_info *info, struct str *s)
{
	size_t n = 0;

	for (size_t i = 0; i < info->ngucs; i++) {
		const struct pgw_sql_guc *g = &info->gucs[i];

		if (g->route != PGW_SQL_GUC_SESSION)
			continue;
		put(s, "%s", n++ ? " " : "");
		if (!g->replayable)
			put(s, "%s:no", g->name);
		else if (g->replay == NULL)
			put(s, "%s:reset", g->name);
		else
			put(s, "%s=%s", g->name, g->replay);
	}
	if (n == 0)
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

static void render_updates(const struct pgw_sql_info *info, struct str *s)
{
	static const char *const where[] = {"top", "prepare", "nested"};

	for (size_t i = 0; i < info->nupdates; i++) {
		const struct pgw_sql_update *u = &info->updates[i];

		put(s, "%s%s %s", i ? " | " : "", u->rel.qualified, where[u->where]);
		for (size_t c = 0; c < u->nsets; c++) {
			put(s, "%s%s=", c ? "," : " ", u->cols[c]);
			render_value(&u->values[c], s);
		}
	}
	if (info->nupdates == 0)
		put(s, "-");
}

static void render_notifies(const struct pgw_sql_info *info, struct str *s)
{
	for (size_t i = 0; i < info->nnotifies; i++)
		put(s, "%s%s:%s", i ? " " : "", info->notifies[i].function ? "pg_notify" : "notify",
		    info->notifies[i].channel);
	if (info->nnotifies == 0)
		put(s, "-");
}

static void render_deallocates(const struct pgw_sql_info *info, struct str *s)
{
	for (size_t i = 0; i < info->ndeallocates; i++)
		put(s, "%s%s", i ? " " : "",
		    info->deallocates[i] != NULL ? info->deallocates[i] : "(all)");
	if (info->ndeallocates == 0)
		put(s, "-");
}

static void render_holds(const struct pgw_sql_info *info, struct str *s)
{
	static const char *const kinds[] = {"listen", "cursor", "temp", "advisory"};

	for (size_t i = 0; i < info->nholds; i++) {
		const struct pgw_sql_hold *h = &info->holds[i];

		put(s, "%s%s%s", i ? " " : "", h->take ? "+" : "-", kinds[h->kind]);
		if (h->name != NULL)
			put(s, ":%s", h->name);
	}
	if (info->nholds == 0)
		put(s, "-");
}

static void render_stmt_refs(const struct pgw_sql_info *info, struct str *s)
{
	static const char *const ops[] = {"prepare", "execute", "deallocate"};

	for (size_t i = 0; i < info->nstmt_refs; i++)
		put(s, "%s%s:%s", i ? " " : "", ops[info->stmt_refs[i].op],
		    info->stmt_refs[i].name != NULL ? info->stmt_refs[i].name : "(all)");
	if (info->nstmt_refs == 0)
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

/* The detections of <mask> in <sql> are exactly <expect>'s. */
static bool flags_of(struct pgw_sql_cache *c, const char *expect, const char *sql, uint64_t mask,
		     struct str *got)
{
	const struct pgw_sql_info *info = inspect(c, sql);
	uint64_t want = 0, stmt_union = 0;
	char names[512], *tok, *save = NULL;
	bool ok;

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
	ok = info->status == PGW_SQL_OK && (info->flags & mask) == want &&
	     (stmt_union & mask) == want;
	for (int f = 0; ok && f < PGW_SQL_NFLAGS; f++)
		if (info->flags & PGW_SQL_BIT(f))
			ok = pgw_sql_info_desc(info, f) != NULL;
	pgw_sql_info_unref(info);
	return ok;
}

/* What transaction pooling reads: session_state.tsv covers it, flags.tsv the rest. */
#define SESSION_FLAGS                                                                              \
	(PGW_SQL_BIT(PGW_SQL_SESSION_STATE) | PGW_SQL_BIT(PGW_SQL_OUTLIVES_RESET) |                \
	 PGW_SQL_BIT(PGW_SQL_SESSION_SET) | PGW_SQL_BIT(PGW_SQL_SESSION_HOLD) |                    \
	 PGW_SQL_BIT(PGW_SQL_PREPARE))

static bool flags_case(struct pgw_sql_cache *c, const char *expect, const char *sql,
		       const char *sql2, struct str *got)
{
	(void)sql2;
	return flags_of(c, expect, sql, ~SESSION_FLAGS, got);
}

static bool session_state_case(struct pgw_sql_cache *c, const char *expect, const char *sql,
			       const char *sql2, struct str *got)
{
	(void)sql2;
	return flags_of(c, expect, sql, SESSION_FLAGS, got);
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

static bool replays_case(struct pgw_sql_cache *c, const char *expect, const char *sql,
			 const char *sql2, struct str *got)
{
	(void)sql2;
	return render_case(c, expect, sql, render_replays, got);
}

static bool inserts_case(struct pgw_sql_cache *c, const char *expect, const char *sql,
			 const char *sql2, struct str *got)
{
	(void)sql2;
	return render_case(c, expect, sql, render_inserts, got);
}

static bool updates_case(struct pgw_sql_cache *c, const char *expect, const char *sql,
			 const char *sql2, struct str *got)
{
	(void)sql2;
	return render_case(c, expect, sql, render_updates, got);
}

static bool notifies_case(struct pgw_sql_cache *c, const char *expect, const char *sql,
			  const char *sql2, struct str *got)
{
	(void)sql2;
	return render_case(c, expect, sql, render_notifies, got);
}

static bool deallocates_case(struct pgw_sql_cache *c, const char *expect, const char *sql,
			     const char *sql2, struct str *got)
{
	(void)sql2;
	return render_case(c, expect, sql, render_deallocates, got);
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

static void session_state_table(void **state)
{
	(void)state;
	run_tsv("session_state.tsv", false, session_state_case);
}

static void gucs_table(void **state)
{
	(void)state;
	run_tsv("gucs.tsv", false, gucs_case);
}

static void replays_table(void **state)
{
	(void)state;
	run_tsv("replays.tsv", false, replays_case);
}

static void inserts_table(void **state)
{
	(void)state;
	run_tsv("inserts.tsv", false, inserts_case);
}

static void updates_table(void **state)
{
	(void)state;
	run_tsv("updates.tsv", false, updates_case);
}

static void notifies_table(void **state)
{
	(void)state;
	run_tsv("notifies.tsv", false, notifies_case);
}

static bool holds_case(struct pgw_sql_cache *c, const char *expect, const char *sql,
		       const char *sql2, struct str *got)
{
	(void)sql2;
	return render_case(c, expect, sql, render_holds, got);
}

static bool stmt_refs_case(struct pgw_sql_cache *c, const char *expect, const char *sql,
			   const char *sql2, struct str *got)
{
	(void)sql2;
	return render_case(c, expect, sql, render_stmt_refs, got);
}

static void stmt_refs_table(void **state)
{
	(void)state;
	run_tsv("stmt_refs.tsv", false, stmt_refs_case);
}

static void holds_table(void **state)
{
	(void)state;
	run_tsv("holds.tsv", false, holds_case);
}

static void deallocates_table(void **state)
{
	(void)state;
	run_tsv("deallocates.tsv", false, deallocates_case);
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
		{"ALTER SYSTEM SET client_encoding = 'SJIS'", PGW_SQL_TEXT_FORM_UNSEEN,
		 "ALTER SYSTEM SET client_encoding"},
		{"ALTER SYSTEM RESET standard_conforming_strings", PGW_SQL_TEXT_FORM_UNSEEN,
		 "ALTER SYSTEM RESET standard_conforming_strings"},
		{"SELECT QUERY_TO_XML('SELECT 1', true, true, '')", PGW_SQL_SQL_FROM_STRING,
		 "query_to_xml()"},
		{"SELECT ('SELECT 1'::text).ts_stat", PGW_SQL_SQL_FROM_STRING, "(...).ts_stat"},
		{"CREATE OPERATOR @@@ (LEFTARG = tsquery, RIGHTARG = text, FUNCTION = ts_rewrite)",
		 PGW_SQL_SQL_FROM_STRING, "CREATE OPERATOR naming ts_rewrite"},
		{"CREATE AGGREGATE a(text, bool) (SFUNC = set_config, STYPE = text)",
		 PGW_SQL_SET_CONFIG_DYNAMIC, "CREATE AGGREGATE naming set_config"},
		{"CREATE CAST (a AS b) WITH FUNCTION pg_notify(text, text)", PGW_SQL_NOTIFY_DYNAMIC,
		 "CREATE CAST naming pg_notify"},
		{"SELECT pg_notify($1, 'x')", PGW_SQL_NOTIFY_DYNAMIC,
		 "pg_notify() with a channel that is not a constant"},
		{"CREATE OR REPLACE FUNCTION pg_temp.f() RETURNS int RETURN 1",
		 PGW_SQL_CREATE_FUNCTION, "CREATE OR REPLACE FUNCTION pg_temp.f"},
		{"CREATE PROCEDURE \"P\"() LANGUAGE sql AS ''", PGW_SQL_CREATE_FUNCTION,
		 "CREATE PROCEDURE P"},
		{"CREATE EXTENSION tablefunc", PGW_SQL_CREATE_FUNCTION,
		 "CREATE EXTENSION tablefunc"},
		{"ALTER EXTENSION x UPDATE", PGW_SQL_CREATE_FUNCTION, "ALTER EXTENSION x UPDATE"},
		{"CREATE DOMAIN pg_temp.text AS varchar(16)", PGW_SQL_SET_CONFIG_DYNAMIC,
		 "CREATE DOMAIN text, which would shadow pg_catalog.text"},
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flags_table),	  cmocka_unit_test(session_state_table),
		cmocka_unit_test(gucs_table),	  cmocka_unit_test(replays_table),
		cmocka_unit_test(inserts_table),  cmocka_unit_test(updates_table),
		cmocka_unit_test(notifies_table), cmocka_unit_test(deallocates_table),
		cmocka_unit_test(holds_table),	  cmocka_unit_test(stmt_refs_table),
		cmocka_unit_test(kinds_table),	  cmocka_unit_test(fingerprint_table),
		cmocka_unit_test(descriptions),	  cmocka_unit_test(statements_and_offsets),
	};

	return cmocka_run_group_tests_name("sql_tables", tests, NULL, NULL);
}
