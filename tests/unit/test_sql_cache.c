/*
 * sql/, the cache: hits, misses, eviction by count and by bytes, references that outlive
 * eviction, texts too long to cache, reference counting of the static results, fingerprints
 * independent of the cache. bench_costs prints what inspection costs, cached and not (figures,
 * not assertions; PGWARD_SQL_BENCH=1 for longer runs).
 */
#include "sql_test_util.h"

#include <time.h>

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
	pgw_sql_info_unref(inspect(c, "SELECT a"));
	pgw_sql_info_unref(inspect(c, "SELECT b"));
	pgw_sql_info_unref(inspect(c, "SELECT a")); /* now SELECT b is the oldest */
	pgw_sql_info_unref(inspect(c, "SELECT c")); /* evicts SELECT b */
	pgw_sql_cache_stats(c, &st);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.evictions, 1);
	assert_int_equal(st.parses, 3);
	pgw_sql_info_unref(inspect(c, "SELECT a")); /* still cached */
	pgw_sql_info_unref(inspect(c, "SELECT b")); /* parsed again */
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

/* pgbench's UPDATE (which 0) or INSERT (1) with the numbers <a> and <b>. */
static size_t tpcb_text(char *out, size_t outsz, int which, int a, int b)
{
	if (which == 0)
		return (size_t)snprintf(
			out, outsz,
			"UPDATE pgbench_accounts SET abalance = abalance + -%d WHERE aid = %d;", a,
			b);
	return (size_t)snprintf(out, outsz,
				"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES "
				"(7, 1, %d, %d, CURRENT_TIMESTAMP);",
				a, b);
}

/* Texts of one shape, each new to the cache: the cost of an answer from the shape, ns per
 * inspection. */
static double time_shape(struct pgw_sql_cache *c, int which, int rounds, int iters)
{
	enum { TEXTS = 4096 };
	char(*texts)[160] = malloc(TEXTS * sizeof(*texts));
	size_t *lens = malloc(TEXTS * sizeof(*lens));
	double best = 1e30;
	int next = 0;

	assert_non_null(texts);
	assert_non_null(lens);
	for (int i = 0; i < TEXTS; i++)
		lens[i] = tpcb_text(texts[i], sizeof(texts[i]), which, 1000 + i, 7 * i + 1);
	pgw_sql_info_unref(pgw_sql_inspect(c, texts[0], lens[0])); /* learns the shape */
	for (int r = 0; r < rounds; r++) {
		double t0 = cpu_ns();

		for (int i = 0; i < iters; i++, next = next % (TEXTS - 1) + 1)
			pgw_sql_info_unref(pgw_sql_inspect(c, texts[next], lens[next]));
		best = PGW_MIN(best, (cpu_ns() - t0) / iters);
	}
	free(texts);
	free(lens);
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
	static const char *const shapes[] = {"TPC-B UPDATE", "TPC-B INSERT"};
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
	for (size_t i = 0; i < PGW_ARRAY_LEN(shapes); i++) {
		struct pgw_sql_cache *c = pgw_sql_cache_new(BIG_CACHE);

		print_message("  %-24s new literals: from its shape %5.0f ns\n", shapes[i],
			      time_shape(c, (int)i, rounds, iters * 10));
		pgw_sql_cache_free(c);
	}
	print_message("  big-stack runner, empty call: stackcall %.1f ns, ucontext %.1f ns\n",
		      time_runner(false, rounds, iters * 50), time_runner(true, rounds, iters));
	pgw_sql_cache_free(hit);
	pgw_sql_cache_free(miss);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cache_hits_and_misses),
		cmocka_unit_test(cache_evicts_by_count),
		cmocka_unit_test(cache_evicts_by_bytes),
		cmocka_unit_test(references_outlive_eviction),
		cmocka_unit_test(long_texts_not_cached),
		cmocka_unit_test(names_and_statics),
		cmocka_unit_test(fingerprint_is_stable),
		cmocka_unit_test(bench_costs),
	};

	return cmocka_run_group_tests_name("sql_cache", tests, NULL, NULL);
}
