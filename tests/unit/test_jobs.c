/*
 * The job serializer's pure part: [job <table>] sections, which INSERTs it takes (every
 * spelling of the table, columns in any order, multi-row, casts, $n) and which it leaves
 * uncovered, the key values it puts in its statements, the VALUES list finder and the
 * skip-mode rewrite.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "pgward/config.h"
#include "pgward/jobs.h"
#include "pgward/sql.h"

static const char CONFIG[] = "[job scrape_jobs]\n"
			     "key_columns = domain, job_type\n"
			     "active = status IN ('pending', 'running')\n"
			     "[job public.\"Queue\"]\n"
			     "key_columns = page_id\n"
			     "active = status = 'pending'\n"
			     "on_conflict = skip\n";

struct fixture {
	struct pgw_config cfg;
	struct pgw_sql_cache *cache;
};

static int load(const char *text, struct pgw_config *cfg, char *err, size_t errlen)
{
	char path[] = "/tmp/pgward-test-jobs-XXXXXX";
	int fd = mkstemp(path), rc;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	rc = pgw_config_load(path, cfg, err, errlen);
	unlink(path);
	return rc;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	if (load(CONFIG, &f->cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	f->cache = pgw_sql_cache_new(100, 1 << 20);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pgw_config_free(&f->cfg);
	pgw_sql_cache_free(f->cache);
	free(f);
	return 0;
}

static void test_config_sections(void **state)
{
	struct fixture *f = *state;
	const struct pgw_job_table *q = &f->cfg.jobs[1];

	assert_int_equal(f->cfg.njobs, 2);
	assert_string_equal(f->cfg.jobs[0].name, "scrape_jobs");
	assert_null(f->cfg.jobs[0].schema);
	assert_int_equal(f->cfg.jobs[0].ncols, 2);
	assert_string_equal(f->cfg.jobs[0].cols[1], "job_type");
	assert_int_equal(f->cfg.jobs[0].on_conflict, PGW_JOB_ERROR);
	assert_string_equal(q->schema, "public");
	assert_string_equal(q->name, "Queue");
	assert_int_equal(q->on_conflict, PGW_JOB_SKIP);
}

static void test_config_errors(void **state)
{
	static const struct {
		const char *text, *error;
	} cases[] = {
		{"[job]\nkey_columns = a\n", "without a name"},
		{"[job t]\nactive = true\n", "key_columns is required"},
		{"[job t]\nkey_columns = a, a\n", "distinct column names"},
		{"[job t]\nkey_columns = a,\n", "distinct column names"},
		{"[job t]\nkey_columns = a\non_conflict = ignore\n", "on_conflict"},
		{"[job t]\nkey_columns = a\nactive = true); DROP TABLE t; --\n",
		 "one SQL condition"},
		{"[job t]\nkey_columns = a\nactive = status = \n", "one SQL condition"},
		{"[job t]\nkey_columns = a\n[job t]\nkey_columns = b\n", "duplicate section"},
		{"[job t]\nkey_columns = a\nkey_columns = b\n", "duplicate key"},
		{"[guard x]\n", "unknown section"},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pgw_config cfg;
		char err[256];

		if (load(cases[i].text, &cfg, err, sizeof(err)) == 0) {
			pgw_config_free(&cfg);
			fail_msg("case %zu loaded", i);
		}
		if (strstr(err, cases[i].error) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].error);
	}
}

/* Matches <sql>; returns the verdict and, when serialized, the lock statement. */
static enum pgw_job_verdict match(struct fixture *f, const char *sql, struct pgw_job_plan *plan,
				  const struct pgw_sql_info **info)
{
	*info = pgw_sql_inspect(f->cache, sql, strlen(sql));
	return pgw_jobs_match(&f->cfg, *info, plan);
}

static void expect_lock_values(struct fixture *f, const char *sql, const char *values,
			       uint16_t nparams)
{
	const struct pgw_sql_info *info;
	struct pgw_job_plan plan;
	struct pgw_job_sql out;

	if (match(f, sql, &plan, &info) != PGW_JOB_SERIALIZE)
		fail_msg("not serialized (%s): %s", plan.why ? plan.why : "none", sql);
	assert_int_equal(pgw_jobs_build(&plan, &out), 0);
	if (strstr(out.lock, values) == NULL)
		fail_msg("%s\nlock lacks %s:\n%s", sql, values, out.lock);
	assert_int_equal(out.nparams, nparams);
	pgw_jobs_sql_free(&out);
	pgw_sql_info_unref(info);
}

static void test_spellings(void **state)
{
	struct fixture *f = *state;

	expect_lock_values(f,
			   "INSERT INTO scrape_jobs (domain, job_type, status) VALUES "
			   "('example.com', 'full', 'pending')",
			   " UNION ALL SELECT E'example.com', E'full') AS pgward_v", 0);
	/* column order, case, schema, quoting, comments */
	expect_lock_values(f,
			   "insert /* x */ into Public.\"scrape_jobs\" (job_type, \"domain\") "
			   "values ('full', 'it''s.com')",
			   "UNION ALL SELECT E'it''s.com', E'full')", 0);
	/* values read the same whatever the session's standard_conforming_strings and
	 * client_encoding: E'' with backslashes doubled, non-ASCII as Unicode escapes */
	expect_lock_values(f,
			   "INSERT INTO scrape_jobs (domain, job_type) VALUES "
			   "(E'caf\\u00e9\\\\x', 'it''s')",
			   "UNION ALL SELECT E'caf\\u00E9\\\\x', E'it''s')", 0);
	expect_lock_values(f,
			   "INSERT INTO scrape_jobs (domain, job_type) VALUES "
			   "('\xf0\x9f\x98\x80.example', 'full')",
			   "UNION ALL SELECT E'\\U0001F600.example', E'full')", 0);
	/* multi-row, casts, NULL */
	expect_lock_values(f,
			   "INSERT INTO scrape_jobs (domain, job_type) VALUES ('a'::text, 'x'), "
			   "(CAST('b' AS varchar), NULL)",
			   "SELECT E'a'::\"text\", E'x' UNION ALL SELECT E'b'::\"varchar\", NULL)",
			   0);
	/* parameters are renumbered in order of use; others are left out */
	expect_lock_values(
		f,
		"INSERT INTO scrape_jobs (n, job_type, domain) VALUES ($1, $3, $2::text), "
		"($4, $3, $5)",
		"SELECT $1::\"text\", $2 UNION ALL SELECT $3, $2)", 3);
	expect_lock_values(
		f, "INSERT INTO public.\"Queue\" (page_id) VALUES (42) RETURNING id",
		"SELECT \"page_id\" FROM public.\"Queue\" WHERE false UNION ALL SELECT E'42'", 0);
}

static void test_not_jobs_and_uncovered(void **state)
{
	static const struct {
		const char *sql;
		enum pgw_job_verdict verdict;
		const char *why;
	} cases[] = {
		{"INSERT INTO other (domain) VALUES ('a')", PGW_JOB_NONE, NULL},
		{"INSERT INTO Queue (page_id) VALUES (1)", PGW_JOB_NONE, NULL}, /* folds to queue */
		{"INSERT INTO other.scrape_jobs (domain, job_type) VALUES ('a', 'b')",
		 PGW_JOB_SERIALIZE, NULL},
		{"SELECT * FROM scrape_jobs", PGW_JOB_NONE, NULL},
		{"INSERT INTO scrape_jobs (domain, job_type) SELECT 'a', 'b'", PGW_JOB_UNCOVERED,
		 "not_values"},
		{"INSERT INTO scrape_jobs DEFAULT VALUES", PGW_JOB_UNCOVERED, "default_values"},
		{"INSERT INTO scrape_jobs VALUES (1, 'a', 'b')", PGW_JOB_UNCOVERED,
		 "no_column_list"},
		{"INSERT INTO scrape_jobs (domain) VALUES ('a')", PGW_JOB_UNCOVERED,
		 "key_column_missing"},
		{"INSERT INTO scrape_jobs (domain, job_type) VALUES ('a', DEFAULT)",
		 PGW_JOB_UNCOVERED, "key_default"},
		{"INSERT INTO scrape_jobs (domain, job_type) VALUES (lower($1), 'b')",
		 PGW_JOB_UNCOVERED, "key_expression"},
		{"INSERT INTO scrape_jobs (domain, job_type) VALUES ('a', 'b'); SELECT 1",
		 PGW_JOB_UNCOVERED, "several_statements"},
		{"WITH x AS (INSERT INTO scrape_jobs (domain, job_type) VALUES ('a', 'b') "
		 "RETURNING 1) "
		 "SELECT * FROM x",
		 PGW_JOB_UNCOVERED, "nested_insert"},
		{"PREPARE p AS INSERT INTO scrape_jobs (domain, job_type) VALUES ($1, $2)",
		 PGW_JOB_UNCOVERED, "nested_insert"},
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pgw_sql_info *info;
		struct pgw_job_plan plan;
		enum pgw_job_verdict v = match(f, cases[i].sql, &plan, &info);

		if (v != cases[i].verdict)
			fail_msg("%s: verdict %d, expected %d", cases[i].sql, v, cases[i].verdict);
		if (cases[i].why != NULL && (plan.why == NULL || strcmp(plan.why, cases[i].why)))
			fail_msg("%s: why %s, expected %s", cases[i].sql, plan.why, cases[i].why);
		pgw_sql_info_unref(info);
	}
}

static void test_prefilter(void **state)
{
	struct fixture *f = *state;
	const char *yes[] = {"insert into SCRAPE_JOBS values (1)",
			     "INSERT INTO \"Queue\" VALUES (1)"};
	const char *no[] = {"SELECT * FROM scrape_jobs", "INSERT INTO pages VALUES (1)"};

	for (size_t i = 0; i < 2; i++) {
		assert_true(pgw_jobs_may_match(&f->cfg, yes[i], strlen(yes[i])));
		assert_false(pgw_jobs_may_match(&f->cfg, no[i], strlen(no[i])));
	}
}

static void test_values_range(void **state)
{
	static const char sql[] = "INSERT INTO t (a, \"values\") VALUES ('x)'',', $$)$$), "
				  "(E'\\')', (1 + (2))) /* VALUES (9) */ RETURNING a";
	struct pgw_jobs_row rows[2];
	size_t start, end;
	(void)state;

	assert_true(pgw_jobs_values_range(sql, strlen(sql), &start, &end, rows, 2));
	assert_int_equal(strncmp(sql + start, "VALUES ('x", 10), 0);
	assert_int_equal(strncmp(sql + end, " /* VALUES", 10), 0);
	assert_int_equal(
		strncmp(sql + rows[0].start, "'x)'',', $$)$$", rows[0].end - rows[0].start), 0);
	assert_int_equal(strncmp(sql + rows[1].start, "E'\\')', (1 + (2))", 17), 0);
	assert_int_equal(rows[1].end - rows[1].start, 17);
	assert_false(pgw_jobs_values_range(sql, strlen(sql), &start, &end, rows, 1));
	assert_false(pgw_jobs_values_range("INSERT INTO t SELECT 1", 22, &start, &end, rows, 1));
}

static void test_skip_rewrite(void **state)
{
	struct fixture *f = *state;
	const char *sql =
		"INSERT INTO public.\"Queue\" (page_id, note) VALUES ($1, now()), (7, 'x') "
		"RETURNING id";
	const struct pgw_sql_info *info;
	struct pgw_job_plan plan;
	size_t len;
	char *out;

	assert_int_equal(match(f, sql, &plan, &info), PGW_JOB_SERIALIZE);
	out = pgw_jobs_rewrite(&plan, sql, strlen(sql), &len);
	assert_non_null(out);
	assert_string_equal(out,
			    "INSERT INTO public.\"Queue\" (page_id, note) SELECT * FROM (SELECT "
			    "\"page_id\", \"note\" FROM public.\"Queue\" WHERE false UNION ALL "
			    "SELECT $1, now() UNION ALL SELECT E'7', E'x') AS pgward_v WHERE NOT "
			    "EXISTS (SELECT 1 FROM public.\"Queue\" AS pgward_j WHERE "
			    "pgward_j.\"page_id\" = pgward_v.\"page_id\" AND (status = "
			    "'pending')) RETURNING id");
	assert_int_equal(len, strlen(out));
	free(out);
	pgw_sql_info_unref(info);
	/* DEFAULT cannot stand in a SELECT: not rewritable */
	sql = "INSERT INTO public.\"Queue\" (page_id, note) VALUES (1, DEFAULT)";
	assert_int_equal(match(f, sql, &plan, &info), PGW_JOB_SERIALIZE);
	assert_null(pgw_jobs_rewrite(&plan, sql, strlen(sql), &len));
	pgw_sql_info_unref(info);
}

static void test_detail(void **state)
{
	struct fixture *f = *state;
	const char *sql = "INSERT INTO scrape_jobs (job_type, domain) VALUES ($1, $2), ('x', NULL)";
	struct pgw_job_param params[2] = {{(const uint8_t *)"full", 4, 0},
					  {(const uint8_t *)"\x01\xff", 2, 1}};
	const struct pgw_sql_info *info;
	struct pgw_job_plan plan;
	char detail[256];

	assert_int_equal(match(f, sql, &plan, &info), PGW_JOB_SERIALIZE);
	pgw_jobs_detail(&plan, params, 2, detail, sizeof(detail));
	assert_string_equal(detail, "Key (domain, job_type)=(\\x01ff, full), (null, x): one of "
				    "them already has an active job.");
	pgw_sql_info_unref(info);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_sections, setup, teardown),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test_setup_teardown(test_spellings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_jobs_and_uncovered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefilter, setup, teardown),
		cmocka_unit_test(test_values_range),
		cmocka_unit_test_setup_teardown(test_skip_rewrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detail, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
