/*
 * The metrics module without a network: histogram bucketing, label escaping and the
 * exposition text, the tenant bound with "_other" aggregation and idle expiry, the
 * kind and shape of SQL texts, and the request accounting of the relay hooks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/metrics/metrics-int.h"
#include "pgward/proxy.h"

static char *render(void)
{
	struct pgw_mbuf b = {0};

	pgw_metrics_render(&b);
	assert_false(b.oom);
	pgw_mbuf_put(&b, "", 1);
	return b.p;
}

static void test_bucketing(void **state)
{
	struct pgw_hist h = {0};

	assert_int_equal(pgw_hist_bucket(0), 0);
	assert_int_equal(pgw_hist_bucket(50000), 0); /* le is inclusive */
	assert_int_equal(pgw_hist_bucket(50001), 1);
	assert_int_equal(pgw_hist_bucket(999999), 4);
	assert_int_equal(pgw_hist_bucket(1000000), 4);
	assert_int_equal(pgw_hist_bucket(10000000000ull), PGW_HIST_BOUNDS - 1);
	assert_int_equal(pgw_hist_bucket(10000000001ull), PGW_HIST_BOUNDS);
	for (unsigned i = 1; i < PGW_HIST_BOUNDS; i++)
		assert_true(pgw_hist_bound_ns[i] > pgw_hist_bound_ns[i - 1]);
	pgw_hist_observe(&h, 30000);
	pgw_hist_observe(&h, 700000);
	pgw_hist_observe(&h, 20000000000ull);
	assert_int_equal(pgw_hist_count(&h), 3);
	assert_int_equal(h.sum_ns, 30000 + 700000 + 20000000000ull);
	assert_int_equal(h.counts[0], 1);
	assert_int_equal(h.counts[4], 1);
	assert_int_equal(h.counts[PGW_HIST_BOUNDS], 1);
}

static void test_label_escaping(void **state)
{
	char out[64];

	pgw_mlabel_escape("a\"b\\c\nd", out, sizeof(out));
	assert_string_equal(out, "a\\\"b\\\\c\\nd");
	/* cut before an escape pair rather than through it */
	pgw_mlabel_escape("ab\"", out, 4);
	assert_string_equal(out, "ab");
	pgw_mlabel_escape("plain_tenant-1", out, sizeof(out));
	assert_string_equal(out, "plain_tenant-1");
}

static void test_histogram_text(void **state)
{
	struct pgw_mbuf b = {0};
	struct pgw_hist h = {0};

	pgw_hist_observe(&h, 60000);   /* 0.0001 bucket */
	pgw_hist_observe(&h, 1500000); /* 0.002 bucket */
	pgw_mbuf_hist(&b, "x_seconds", "tenant=\"t\"", &h);
	pgw_mbuf_put(&b, "", 1);
	assert_non_null(strstr(b.p, "x_seconds_bucket{tenant=\"t\",le=\"5e-05\"} 0\n"
				    "x_seconds_bucket{tenant=\"t\",le=\"0.0001\"} 1\n"));
	assert_non_null(strstr(b.p, "x_seconds_bucket{tenant=\"t\",le=\"0.002\"} 2\n"));
	assert_non_null(strstr(b.p, "x_seconds_bucket{tenant=\"t\",le=\"+Inf\"} 2\n"
				    "x_seconds_sum{tenant=\"t\"} 0.00156\n"
				    "x_seconds_count{tenant=\"t\"} 2\n"));
	pgw_mbuf_free(&b);
	pgw_mbuf_hist(&b, "y", "", &h);
	pgw_mbuf_put(&b, "", 1);
	assert_non_null(strstr(b.p,
			       "y_bucket{le=\"10\"} 2\ny_bucket{le=\"+Inf\"} 2\ny_sum 0.00156\n"
			       "y_count 2\n"));
	pgw_mbuf_free(&b);
}

static void test_cardinality_bound(void **state)
{
	struct pgw_mregistry r;
	struct pgw_mtenant *t[6];
	char name[16];

	assert_int_equal(pgw_mreg_init(&r), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		t[i] = pgw_mreg_acquire(&r, name, 3);
	}
	assert_int_equal(r.count, 3);
	assert_ptr_not_equal(t[0], t[1]);
	assert_ptr_equal(t[3], r.other);
	assert_ptr_equal(t[4], r.other);
	assert_int_equal(r.other->conns, 2);
	assert_int_equal(r.overflow, 2);
	/* a tracked tenant is found again; nobody can claim _other's name */
	assert_ptr_equal(pgw_mreg_acquire(&r, "user1", 3), t[1]);
	assert_int_equal(t[1]->conns, 2);
	t[5] = pgw_mreg_acquire(&r, PGW_MT_OTHER, 3);
	assert_ptr_equal(t[5], r.other);
	/* a million distinct names never grow the table past the bound */
	for (int i = 0; i < 100000; i++) {
		snprintf(name, sizeof(name), "many%d", i);
		pgw_mreg_release(&r, pgw_mreg_acquire(&r, name, 3), 0);
	}
	assert_int_equal(r.count, 3);
	assert_int_equal(HASH_COUNT(r.by_name), 3);
	pgw_mreg_free(&r);
}

static void test_idle_expiry(void **state)
{
	struct pgw_mregistry r;
	struct pgw_mtenant *busy, *idle;

	assert_int_equal(pgw_mreg_init(&r), 0);
	busy = pgw_mreg_acquire(&r, "busy", 10);
	idle = pgw_mreg_acquire(&r, "idle", 10);
	pgw_mreg_release(&r, idle, 100.0);
	pgw_mreg_expire(&r, 150.0, 60.0);
	assert_int_equal(r.count, 2);
	pgw_mreg_expire(&r, 161.0, 60.0);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.expired, 1);
	pgw_mreg_expire(&r, 1e9, 60.0); /* a tenant with sessions never expires */
	assert_int_equal(r.count, 1);
	assert_int_equal(busy->conns, 1);
	/* an expired name comes back as a new tenant, from zero */
	idle = pgw_mreg_acquire(&r, "idle", 10);
	assert_int_equal(pgw_hist_count(&idle->query[PGW_MK_SELECT]), 0);
	assert_int_equal(r.count, 2);
	pgw_mreg_free(&r);
}

static void test_kind_of_sql(void **state)
{
	static const struct {
		const char *sql;
		enum pgw_mkind kind;
	} cases[] = {
		{"SELECT 1", PGW_MK_SELECT},
		{"  \n\t-- c\n/* a /* nested */ b */ (select 1)", PGW_MK_SELECT},
		{"with x as (select 1) select * from x", PGW_MK_SELECT},
		{"VALUES (1)", PGW_MK_SELECT},
		{"TABLE t", PGW_MK_SELECT},
		{"show work_mem", PGW_MK_SELECT},
		{"Insert into t values (1)", PGW_MK_INSERT},
		{"UPDATE t SET a = 1", PGW_MK_UPDATE},
		{"delete from t", PGW_MK_DELETE},
		{"CREATE TABLE t (a int)", PGW_MK_DDL},
		{"alter table t add b int", PGW_MK_DDL},
		{"DROP TABLE t", PGW_MK_DDL},
		{"TRUNCATE t", PGW_MK_DDL},
		{"COPY t FROM STDIN", PGW_MK_COPY},
		{"BEGIN", PGW_MK_UTILITY},
		{"commit", PGW_MK_UTILITY},
		{"SET search_path = x", PGW_MK_UTILITY},
		{"MERGE INTO t USING s ON true WHEN MATCHED THEN DO NOTHING", PGW_MK_OTHER},
		{"", PGW_MK_OTHER},
		{"/* unterminated", PGW_MK_OTHER},
		{"selection", PGW_MK_OTHER},
	};

	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++)
		if (pgw_mkind_of_sql(cases[i].sql, strlen(cases[i].sql)) != cases[i].kind)
			fail_msg("%s: expected %s", cases[i].sql, pgw_mkind_names[cases[i].kind]);
}

static uint64_t shape(const char *s)
{
	return pgw_msql_shape(s, strlen(s));
}

static void test_shape(void **state)
{
	/* the same shape: only constants, blanks, comments and keyword case differ */
	assert_int_equal(shape("SELECT * FROM t WHERE a = 1"),
			 shape("select *  from T\n where a = 12345 -- x"));
	assert_int_equal(shape("SELECT 'a', 1.5e3"), shape("SELECT 'b''c', .5"));
	assert_int_equal(shape("SELECT E'\\''"), shape("SELECT 'x'"));
	assert_int_equal(shape("SELECT $$a'b$$, $q$x$q$"), shape("SELECT 'a', 'b'"));
	/* different shapes */
	assert_int_not_equal(shape("SELECT a1 FROM t"), shape("SELECT a2 FROM t"));
	assert_int_not_equal(shape("SELECT $1"), shape("SELECT $2"));
	assert_int_not_equal(shape("SELECT \"A\""), shape("SELECT \"a\""));
	assert_int_not_equal(shape("SELECT 1"), shape("SELECT 1, 2"));
	/* broken texts end safely */
	assert_int_not_equal(shape("SELECT 'unterminated"), 0);
	assert_int_not_equal(shape("SELECT $tag$ unterminated"), 0);
	assert_int_not_equal(shape(""), 0);
}

static void query(struct pgw_msess *m, const char *sql)
{
	pgw_metrics_client_msg(m, 'Q', (const uint8_t *)sql, strlen(sql) + 1, false);
	pgw_metrics_sent(m, 'Q');
}

static void metrics_on(unsigned max_tenants)
{
	memset(&pgw.cfg, 0, sizeof(pgw.cfg));
	pgw.cfg.metrics_listen_port = 9187;
	pgw.cfg.metrics_max_tenants = (int)max_tenants;
	pgw_metrics_init();
	assert_true(pgw_metrics_enabled());
}

static void test_other_aggregation(void **state)
{
	struct pgw_msess a = {0}, b = {0}, c = {0};
	char *text;

	metrics_on(1);
	pgw_metrics_login(&a, "alice");
	pgw_metrics_login(&b, "bob\n\"x\"");
	pgw_metrics_login(&c, "carol");
	query(&a, "SELECT 1");
	query(&b, "SELECT 2");
	query(&c, "insert into t values (1)");
	pgw_metrics_ready(&a, 'I');
	pgw_metrics_ready(&b, 'I');
	pgw_metrics_ready(&c, 'I');
	text = render();
	assert_non_null(strstr(text, "pgward_queries_total{tenant=\"alice\",kind=\"select\","
				     "outcome=\"ok\"} 1\n"));
	assert_non_null(strstr(text, "pgward_queries_total{tenant=\"_other\",kind=\"select\","
				     "outcome=\"ok\"} 1\n"));
	assert_non_null(strstr(text, "pgward_queries_total{tenant=\"_other\",kind=\"insert\","
				     "outcome=\"ok\"} 1\n"));
	assert_non_null(strstr(text, "pgward_client_connections{tenant=\"_other\"} 2\n"));
	assert_null(strstr(text, "bob"));
	free(text);
	pgw_metrics_session_end(&a);
	pgw_metrics_session_end(&b);
	pgw_metrics_session_end(&c);
	pgw_metrics_shutdown();
}

static void test_escaped_tenant_in_exposition(void **state)
{
	struct pgw_msess a = {0};
	char *text;

	metrics_on(10);
	pgw_metrics_login(&a, "evil\"} 1\nfake_metric{x=\"\\");
	query(&a, "SELECT 1");
	pgw_metrics_ready(&a, 'I');
	text = render();
	assert_non_null(strstr(text, "pgward_client_connections{tenant=\"evil\\\"} 1\\nfake_metric"
				     "{x=\\\"\\\\\"} 1\n"));
	/* every line is a comment or one sample: no injected line starts with fake_metric */
	assert_null(strstr(text, "\nfake_metric"));
	free(text);
	pgw_metrics_session_end(&a);
	pgw_metrics_shutdown();
}

static void test_request_accounting(void **state)
{
	struct pgw_msess m = {0};
	struct pgw_mtenant *t;
	static const uint8_t parse_ins[] = "ins\0INSERT INTO t VALUES ($1)\0\0";
	static const uint8_t bind_ins[] = "\0ins\0\0\0\0\0\0";

	metrics_on(10);
	pgw_metrics_login(&m, "app");
	t = m.tenant;
	/* 40 pipelined queries: the ring grows, every one is counted once, in order */
	for (int i = 0; i < 40; i++)
		query(&m, i % 2 ? "SELECT 1" : "UPDATE t SET a = 1 WHERE b");
	for (int i = 0; i < 40; i++)
		pgw_metrics_ready(&m, 'I');
	assert_int_equal(t->queries[PGW_MK_SELECT][PGW_MO_OK], 20);
	assert_int_equal(t->queries[PGW_MK_UPDATE][PGW_MO_OK], 20);
	pgw_metrics_ready(&m, 'I'); /* no request pending: not counted */
	assert_int_equal(pgw_hist_count(&t->query[PGW_MK_SELECT]), 20);

	/* extended protocol: a named statement's kind comes back at Bind; an error counts */
	pgw_metrics_client_msg(&m, 'P', parse_ins, sizeof(parse_ins) - 1, false);
	pgw_metrics_sent(&m, 'P');
	pgw_metrics_sent(&m, 'S');
	pgw_metrics_ready(&m, 'I');
	pgw_metrics_client_msg(&m, 'B', bind_ins, sizeof(bind_ins) - 1, false);
	pgw_metrics_sent(&m, 'B');
	pgw_metrics_sent(&m, 'E');
	pgw_metrics_server_error(&m);
	pgw_metrics_sent(&m, 'S');
	pgw_metrics_ready(&m, 'I');
	assert_int_equal(t->queries[PGW_MK_INSERT][PGW_MO_OK], 1);
	assert_int_equal(t->queries[PGW_MK_INSERT][PGW_MO_ERROR], 1);

	/* a refusal; then a transaction block I -> T -> I */
	pgw_metrics_client_msg(&m, 'Q', (const uint8_t *)"DROP TABLE t", 13, true);
	pgw_metrics_refused(&m, 'Q', "drop_table");
	pgw_metrics_ready(&m, 'I');
	assert_int_equal(t->queries[PGW_MK_DDL][PGW_MO_REFUSED], 1);
	assert_string_equal(t->refused[0].rule, "drop_table");
	assert_int_equal(t->refused[0].n, 1);
	query(&m, "BEGIN");
	pgw_metrics_ready(&m, 'T');
	query(&m, "COMMIT");
	pgw_metrics_ready(&m, 'I');
	assert_int_equal(pgw_hist_count(&t->tx), 1);

	pgw_metrics_bytes(&m, true, 100);
	pgw_metrics_bytes(&m, false, 250);
	assert_int_equal(t->bytes[0], 100);
	assert_int_equal(t->bytes[1], 250);
	pgw_metrics_session_end(&m);
	assert_int_equal(t->conns, 0);
	pgw_metrics_shutdown();
}

static void test_off_is_inert(void **state)
{
	struct pgw_msess m = {0};

	memset(&pgw.cfg, 0, sizeof(pgw.cfg));
	pgw_metrics_init();
	assert_false(pgw_metrics_enabled());
	pgw_metrics_login(&m, "app");
	assert_null(m.tenant);
	query(&m, "SELECT 1");
	pgw_metrics_ready(&m, 'I');
	assert_null(m.ring);
	pgw_metrics_session_end(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucketing),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_histogram_text),
		cmocka_unit_test(test_cardinality_bound),
		cmocka_unit_test(test_idle_expiry),
		cmocka_unit_test(test_kind_of_sql),
		cmocka_unit_test(test_shape),
		cmocka_unit_test(test_other_aggregation),
		cmocka_unit_test(test_escaped_tenant_in_exposition),
		cmocka_unit_test(test_request_accounting),
		cmocka_unit_test(test_off_is_inert),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
