/*
 * The admin console's pure parts: how a command is read (command.c: PgBouncer's word and
 * optional argument, quoted names, the errors), and how SHOW STATS counts (pool_db.c:
 * queries, transactions and their times from ReadyForQuery alone, assignments and waits,
 * PgBouncer's averages). Times are given, not read from a clock; no event loop runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../src/admin/admin-int.h"
#include "pgward/pool_db.h"
#include "pgward/proxy.h"

/* ---- command.c ---- */

static int parse(const char *sql, struct pgw_admin_cmd *cmd, char *err)
{
	return pgw_admin_parse(sql, strlen(sql), cmd, err, 200);
}

static void test_parse_words(void **state)
{
	static const struct {
		const char *sql, *verb, *arg;
	} ok[] = {
		{"SHOW POOLS", "SHOW", "POOLS"},
		{"  show\tpools ;  ", "SHOW", "pools"},
		{"pause", "PAUSE", ""},
		{"PAUSE MyDb;", "PAUSE", "MyDb"}, /* the argument keeps its case */
		{"kill \"my-db\"", "KILL", "my-db"},
		{"RESUME \"a \"\"quoted\"\" name\"", "RESUME", "a \"quoted\" name"},
		{"wait_close db_1", "WAIT_CLOSE", "db_1"},
		{"", "", ""},
		{" ; ", "", ""},
	};
	struct pgw_admin_cmd cmd;
	char err[200];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(parse(ok[i].sql, &cmd, err), 0);
		assert_string_equal(cmd.verb, ok[i].verb);
		assert_string_equal(cmd.arg, ok[i].arg);
		assert_int_equal(cmd.has_arg, ok[i].arg[0] != '\0');
	}
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *sql, *err;
	} bad[] = {
		{"PAUSE a b", "PAUSE takes at most one argument"},
		{"PAUSE my-db", "unexpected \"-\" in the argument of PAUSE"},
		{"PAUSE \"open", "a quoted name is not closed"},
		{"PAUSE \"\"", "a quoted name is empty"},
		{"\"PAUSE\" x", "a command begins with a word"},
		{"PAUSE-x", "unexpected \"-\" after PAUSE"},
		{"'x'", "unexpected \"'\""},
		{"PAUSE aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		 "a word is longer than 63 bytes"},
	};
	struct pgw_admin_cmd cmd;
	char err[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(bad[i].sql, &cmd, err), -1);
		if (strstr(err, bad[i].err) == NULL)
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].sql, err, bad[i].err);
	}
	/* a NUL inside quotes (PostgreSQL names cannot hold one) */
	assert_int_equal(pgw_admin_parse("PAUSE \"a\0b\"", 11, &cmd, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL"));
	/* the verb is known even when its argument is not readable: SQL is named as such */
	assert_int_equal(parse("DROP TABLE x", &cmd, err), -1);
	assert_string_equal(cmd.verb, "DROP");
}

/* ---- pool_db.c ---- */

static struct pgw_db_view seen[4];
static int nseen;

static void collect(const struct pgw_db_view *v, void *arg)
{
	if (nseen < 4)
		seen[nseen++] = *v;
}

static const struct pgw_db_view *find(const char *name)
{
	nseen = 0;
	pgw_pool_db_foreach(collect, NULL);
	for (int i = 0; i < nseen; i++)
		if (strcmp(seen[i].name, name) == 0)
			return &seen[i];
	return NULL;
}

static int teardown(void **state)
{
	pgw_pool_db_free_all();
	return 0;
}

/* A client of a fresh server, served at <t0>. */
static void fresh(struct pgw_server_stats *st, double t0)
{
	memset(st, 0, sizeof(*st));
	st->last_ready = t0;
}

static void test_queries_and_transactions(void **state)
{
	struct pgw_server_stats st;
	const struct pgw_db_view *v;

	fresh(&st, 100.0);
	assert_null(find("app"));
	/* two statements alone: 2 queries, 2 transactions */
	pgw_pool_db_ready(&st, "app", 'I', 101.0, 101.5);
	pgw_pool_db_ready(&st, "app", 'I', 102.0, 102.25);
	/* BEGIN at 103, a query at 104 that takes 1 s, the client thinks 2 s, COMMIT at 107 */
	pgw_pool_db_ready(&st, "app", 'T', 103.0, 103.0);
	pgw_pool_db_ready(&st, "app", 'T', 104.0, 105.0);
	pgw_pool_db_ready(&st, "app", 'I', 107.0, 107.5);
	v = find("app");
	assert_non_null(v);
	assert_int_equal(v->total.query_count, 5);
	assert_int_equal(v->total.xact_count, 3);
	/* 0.5 + 0.25 + 0 + 1 + 0.5 s of queries; the transaction ran from 103 to 107.5 */
	assert_int_equal(v->total.query_time, 2250000);
	assert_int_equal(v->total.xact_time, 500000 + 250000 + 4500000);
	assert_false(v->paused);
}

static void test_pipelined_query_counts_from_the_previous_answer(void **state)
{
	struct pgw_server_stats st;
	const struct pgw_db_view *v;

	fresh(&st, 10.0);
	/* both queries sent at 11; the first answered at 12, the second at 15 */
	pgw_pool_db_ready(&st, "pipe", 'I', 11.0, 12.0);
	pgw_pool_db_ready(&st, "pipe", 'I', 11.0, 15.0);
	v = find("pipe");
	assert_int_equal(v->total.query_time, 1000000 + 3000000);
	/* an aborted transaction ends with ROLLBACK like any other */
	pgw_pool_db_ready(&st, "pipe", 'E', 20.0, 20.5);
	pgw_pool_db_ready(&st, "pipe", 'I', 21.0, 21.5);
	v = find("pipe");
	assert_int_equal(v->total.xact_count, 3);
	assert_int_equal(v->total.xact_time, 1000000 + 3000000 + 1500000);
}

static void test_assignments_waits_and_bytes(void **state)
{
	struct pgw_server_stats idle, fresh_one;
	const struct pgw_db_view *v;

	memset(&idle, 0, sizeof(idle));
	memset(&fresh_one, 0, sizeof(fresh_one));
	/* a server not yet logged in counts nothing, bytes included */
	pgw_pool_db_handed(&fresh_one, false, "w", 0.0);
	pgw_pool_db_sent(&fresh_one, 100);
	assert_null(find("w"));
	/* unpooled: no pool, nothing counted at login */
	pgw_pool_db_logged_in(&fresh_one, NULL);
	assert_null(find("w"));
	pgw_pool_db_logged_in(&fresh_one, "w");
	v = find("w");
	assert_non_null(v);
	assert_int_equal(v->total.server_assignment_count, 1);
	assert_true(v->total.wait_time > 0); /* from 0.0 on the monotonic clock to now */
	pgw_pool_db_sent(&fresh_one, 100);
	pgw_pool_db_received(&fresh_one, 7);
	v = find("w");
	assert_int_equal(v->total.sent, 100);
	assert_int_equal(v->total.received, 7);
	/* a logged-in server handed over counts at once, and forgets its last client's state */
	idle = fresh_one;
	idle.status = 'T';
	pgw_pool_db_handed(&idle, true, "w", 1e12); /* "since" in the future: no wait */
	assert_int_equal(idle.status, 'I');
	v = find("w");
	assert_int_equal(v->total.server_assignment_count, 2);
}

static void test_averages_and_pauses(void **state)
{
	struct pgw_server_stats st;
	struct pgw_db_view all;
	const struct pgw_db_view *v;
	double now;

	fresh(&st, 1.0);
	pgw_pool_db_ready(&st, "a", 'I', 1.0, 1.5);
	fresh(&st, 1.0);
	pgw_pool_db_ready(&st, "b", 'I', 1.0, 1.25);
	pgw_pool_db_ready(&st, "b", 'I', 2.0, 2.25);
	pgw_pool_db_sum(&all);
	assert_null(all.name);
	assert_int_equal(all.total.query_count, 3);
	assert_int_equal(all.total.query_time, 1000000);
	/* PgBouncer's averages: per query for times */
	assert_int_equal(all.avg.query_time, 1000000 / 3);
	/* two period ends, 2 s and 1 s ago: averages cover what came since the older one */
	now = pgw_now();
	pgw_pool_db_rotate(now - 2);
	pgw_pool_db_rotate(now - 1);
	v = find("b");
	assert_int_equal(v->total.query_count, 2);
	assert_int_equal(v->avg.query_count, 0);
	assert_int_equal(v->avg.query_time, 0);
	for (int i = 0; i < 10; i++)
		pgw_pool_db_ready(&st, "b", 'I', now + i / 64.0, now + i / 64.0 + 1 / 1024.0);
	v = find("b");
	assert_in_range(v->avg.query_count, 4, 5); /* 10 queries in 2 s and a little */
	assert_int_equal(v->avg.query_time, 976);  /* 1/1024 s */
	assert_int_equal(v->avg.xact_count, v->avg.query_count);

	assert_int_equal(pgw_pool_db_pause("nosuch", true), -1);
	assert_int_equal(pgw_pool_db_pause("a", true), 0);
	assert_true(pgw_pool_db_held("a"));
	assert_false(pgw_pool_db_held("b"));
	assert_false(pgw_pool_db_held("nosuch"));
	pgw_pool_db_pause_all(true);
	assert_true(pgw_pool_db_held("b") && pgw_pool_db_held("nosuch"));
	assert_false(pgw_pool_db_paused("b")); /* the pause of all is not b's own */
	pgw_pool_db_pause_all(false);
	assert_int_equal(pgw_pool_db_pause(NULL, false), 0);
	assert_false(pgw_pool_db_held("a"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_words),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test_teardown(test_queries_and_transactions, teardown),
		cmocka_unit_test_teardown(test_pipelined_query_counts_from_the_previous_answer,
					  teardown),
		cmocka_unit_test_teardown(test_assignments_waits_and_bytes, teardown),
		cmocka_unit_test_teardown(test_averages_and_pauses, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
