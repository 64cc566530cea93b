/*
 * policy/, per-column limits: literals in Query and Parse texts, then bound parameters in
 * text and binary format after a Parse, through the real pipeline and the session's
 * prepared-statement map as the relay keeps it. Also the column_limits config syntax.
 */
#include "policy_test_util.h"

#include <time.h>

static const char columns_ini[] =
	"[limits]\n"
	"column_limits = messages.content: 10 chars, conversations.metadata: 16 bytes,"
	" public.\"Audit\".\"Body\": 4 B\n";

struct fixture {
	struct pgw_config cfg;
	struct pgw_stmt_map map;
	struct pgw_policy_ctx ctx;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	load_config(columns_ini, &f->cfg);
	f->ctx.cfg = &f->cfg;
	f->ctx.user = "app";
	f->ctx.stmts = &f->map;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pgw_stmt_map_clear(&f->map);
	pgw_config_free(&f->cfg);
	free(f);
	return teardown_guard(state);
}

/* A Query or Parse (named <name>) through the pipeline; a passed Parse is remembered. */
static enum pgw_verdict send_sql(struct fixture *f, char type, const char *name, const char *sql)
{
	static struct buf b;
	struct pgw_msg_view m;
	enum pgw_verdict v;

	b.n = 0;
	if (type == 'P')
		put_cstr(&b, name);
	put_cstr(&b, sql);
	if (type == 'P')
		put_u16(&b, 0);
	m = (struct pgw_msg_view){.type = type, .len = (uint32_t)b.n, .body = b.data};
	memset(&f->ctx.refusal, 0, sizeof(f->ctx.refusal));
	v = pgw_pipeline_message(&f->ctx, &m);
	if (v == PGW_PASS && type == 'P')
		assert_int_equal(pgw_stmt_map_put(&f->map, name, f->ctx.info), 0);
	pgw_policy_ctx_release(&f->ctx);
	return v;
}

/* A Bind of <stmt> with <n> parameters (NULL: SQL NULL), all in format <format>. */
static enum pgw_verdict send_bind(struct fixture *f, const char *stmt, int format, size_t n,
				  const char *const *vals, const size_t *lens)
{
	static struct buf b;
	struct pgw_msg_view m;

	b.n = 0;
	put_cstr(&b, "");
	put_cstr(&b, stmt);
	put_u16(&b, 1);
	put_u16(&b, (uint16_t)format);
	put_u16(&b, (uint16_t)n);
	for (size_t i = 0; i < n; i++) {
		if (vals[i] == NULL) {
			put_u32(&b, 0xffffffffu);
			continue;
		}
		put_u32(&b, (uint32_t)lens[i]);
		put_bytes(&b, vals[i], lens[i]);
	}
	put_u16(&b, 0);
	m = (struct pgw_msg_view){.type = 'B', .len = (uint32_t)b.n, .body = b.data};
	memset(&f->ctx.refusal, 0, sizeof(f->ctx.refusal));
	return pgw_pipeline_message(&f->ctx, &m);
}

static void expect(struct fixture *f, enum pgw_verdict v, const char *what, const char *text)
{
	if (text == NULL) {
		if (v != PGW_PASS)
			fail_msg("%s: refused: %s", what, f->ctx.refusal.message);
		return;
	}
	if (v != PGW_REFUSE)
		fail_msg("%s: passed, expected \"%s\"", what, text);
	assert_string_equal(f->ctx.refusal.rule, "column_size");
	assert_string_equal(f->ctx.refusal.sqlstate, "54000");
	assert_true(f->ctx.refusal.hint[0] != '\0');
	if (strstr(f->ctx.refusal.message, text) == NULL)
		fail_msg("%s: \"%s\" lacks \"%s\"", what, f->ctx.refusal.message, text);
}

static void config_syntax(void **state)
{
	static const struct {
		const char *value;
		bool ok;
	} cases[] = {
		{"t.c: 1 chars", true},
		{"s.t.c: 5 characters; u.d: 3 kB", true},
		{"'\"Odd,Name\".c: 7 bytes'", true}, /* a leading quote would quote the value */
		{"t.c: 0 chars", false},
		{"t.c 5 chars", false},
		{"c: 5 chars", false},
		{"a.b.c.d: 5 chars", false},
		{"t.c: 5 lines", false},
		{"t.c: 2GB", false},
		{"t.\"unterminated: 5 chars", false},
	};
	struct fixture *f = *state;
	char ini[256], err[ERRLEN], path[] = "/tmp/pgward-test-columns-XXXXXX";
	struct pgw_config cfg;

	/* the fixture's own entries, folded as PostgreSQL folds names */
	assert_int_equal(f->cfg.ncol_limits, 3);
	assert_null(f->cfg.col_limits[0].schema);
	assert_string_equal(f->cfg.col_limits[0].table, "messages");
	assert_true(f->cfg.col_limits[0].chars);
	assert_int_equal(f->cfg.col_limits[1].max, 16);
	assert_false(f->cfg.col_limits[1].chars);
	assert_string_equal(f->cfg.col_limits[2].schema, "public");
	assert_string_equal(f->cfg.col_limits[2].table, "Audit");
	assert_string_equal(f->cfg.col_limits[2].column, "Body");
	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		int fd = mkstemp(path);
		int len = snprintf(ini, sizeof(ini), "[limits]\ncolumn_limits = %s\n",
				   cases[i].value);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, ini, (size_t)len), len);
		close(fd);
		if ((pgw_config_load(path, &cfg, err, sizeof(err)) == 0) != cases[i].ok)
			fail_msg("%s: %s", cases[i].value, cases[i].ok ? err : "accepted");
		if (cases[i].ok)
			pgw_config_free(&cfg);
		else
			assert_non_null(strstr(err, ":2: column_limits entry"));
		unlink(path);
		strcpy(path, "/tmp/pgward-test-columns-XXXXXX");
	}
}

static void literals(void **state)
{
	static const struct {
		const char *sql;
		const char *refusal; /* NULL: pass */
	} cases[] = {
		{"INSERT INTO messages (id, content) VALUES (1, '0123456789')", NULL},
		{"INSERT INTO messages (id, content) VALUES (1, '0123456789a')",
		 "value of 11 characters for messages.content (a literal in VALUES row 1) exceeds "
		 "the limit of 10 characters (rule column_size)"},
		/* ten characters, twenty bytes: characters are what count */
		{"INSERT INTO messages (content) VALUES ('éééééééééé')", NULL},
		{"INSERT INTO messages (content) VALUES ('ok'), ('also ok'), ('far too long!')",
		 "VALUES row 3"},
		{"insert into public.MESSAGES (CONTENT) values ('far too long!')", "13 characters"},
		{"INSERT INTO \"messages\" (\"content\") VALUES ('far too long!')",
		 "13 characters"},
		{"INSERT INTO \"Messages\" (content) VALUES ('far too long!')", NULL},
		{"INSERT INTO messages (other) VALUES ('far too long!')", NULL},
		{"INSERT INTO messages (content) VALUES ($1), (NULL), (DEFAULT)", NULL},
		{"INSERT INTO messages (content) VALUES (lower('far too long!'))", NULL},
		{"INSERT INTO messages (content) VALUES ('far too long!'::text)", "13 characters"},
		/* no column list: every value is held to the table's limits */
		{"INSERT INTO messages VALUES (1, 'far too long!')", "13 characters"},
		{"UPDATE messages SET content = 'far too long!' WHERE id = 1", "(a literal)"},
		{"UPDATE messages SET (id, content) = (1, 'far too long!') WHERE id = 1",
		 "13 characters"},
		{"UPDATE messages SET content = 'short' WHERE id = 1", NULL},
		{"INSERT INTO messages (id, content) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE "
		 "SET content = 'far too long!'",
		 "13 characters"},
		{"WITH m AS (INSERT INTO messages (content) VALUES ('far too long!') RETURNING id) "
		 "SELECT * FROM m",
		 "13 characters"},
		{"PREPARE p AS INSERT INTO messages (content) VALUES ('far too long!')",
		 "13 characters"},
		{"SELECT 1; INSERT INTO conversations (metadata) VALUES ('{\"k\": "
		 "\"0123456789\"}')",
		 "value of 19 bytes for conversations.metadata (a literal in VALUES row 1) exceeds "
		 "the limit of 16 bytes"},
		{"INSERT INTO conversations (metadata) VALUES ('{\"k\": \"012345\"}'::jsonb)",
		 NULL},
		{"INSERT INTO public.\"Audit\" (\"Body\") VALUES ('12345')",
		 "public.Audit.Body (a literal in VALUES row 1) exceeds the limit of 4 bytes"},
		{"INSERT INTO other.\"Audit\" (\"Body\") VALUES ('12345')", NULL},
		{"INSERT INTO \"Audit\" (\"Body\") VALUES ('12345')", "5 bytes"},
		{"INSERT INTO U&\"\\0061udit\" (\"Body\") VALUES ('12345')", NULL},
		{"INSERT INTO U&\"\\0041udit\" (\"Body\") VALUES ('12345')", "5 bytes"},
		{"SELECT 'far too long!' AS content FROM messages", NULL},
	};
	struct fixture *f = *state;
	static const char types[] = {'Q', 'P'};

	struct pgw_sql_cache_stats before, after;

	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++)
		for (size_t t = 0; t < sizeof(types); t++)
			expect(f, send_sql(f, types[t], "", cases[i].sql), cases[i].sql,
			       cases[i].refusal);
	/* reads of a limited table are not even parsed */
	pgw_policy_sql_stats(&before);
	expect(f, send_sql(f, 'Q', "", "SELECT content FROM messages WHERE id = 12345"), "read",
	       NULL);
	pgw_policy_sql_stats(&after);
	assert_int_equal(after.hits + after.misses, before.hits + before.misses);
}

static void bound_parameters(void **state)
{
	struct fixture *f = *state;
	const char *ok[] = {"1", "0123456789"}, *big[] = {"1", "0123456789a"};
	const char *utf8[] = {"1", "ééééééééé"}, *nul[] = {"1", NULL};
	size_t ok_len[] = {1, 10}, big_len[] = {1, 11}, utf8_len[] = {1, 18}, nul_len[] = {1, 0};
	const char json[] = "\x01{\"k\": \"0123456\"}"; /* binary jsonb: version 1, 16 bytes */
	const char *js[] = {json}, *jt[] = {json + 1};
	size_t js_len[] = {17}, jt_len[] = {16}, jbig_len[] = {17};

	assert_int_equal(send_sql(f, 'P', "ins",
				  "INSERT INTO messages (id, content) "
				  "VALUES ($1, $2)"),
			 PGW_PASS);
	expect(f, send_bind(f, "ins", 0, 2, ok, ok_len), "text, at the limit", NULL);
	expect(f, send_bind(f, "ins", 0, 2, big, big_len), "text, over",
	       "value of 11 characters for messages.content (parameter $2) exceeds the limit of "
	       "10 characters (rule column_size)");
	expect(f, send_bind(f, "ins", 1, 2, big, big_len), "binary text, over", "(parameter $2)");
	expect(f, send_bind(f, "ins", 0, 2, utf8, utf8_len), "9 characters in 18 bytes", NULL);
	expect(f, send_bind(f, "ins", 0, 2, nul, nul_len), "NULL", NULL);
	expect(f, send_bind(f, "ins", 0, 1, big, big_len), "too few parameters", NULL);
	expect(f, send_bind(f, "other", 0, 2, big, big_len), "unknown statement", NULL);

	/* the unnamed statement, replaced by each Parse; a multi-row INSERT */
	send_sql(f, 'P', "", "INSERT INTO messages (content) VALUES ($2), ($1)");
	expect(f, send_bind(f, "", 0, 2, big, big_len), "row 2's $1 is short", "(parameter $2)");
	send_sql(f, 'P', "", "UPDATE messages SET content = $2::text WHERE id = $1::int");
	expect(f, send_bind(f, "", 0, 2, big, big_len), "UPDATE", "11 characters");
	send_sql(f, 'P', "", "SELECT $2::text FROM messages WHERE id = $1::int");
	expect(f, send_bind(f, "", 0, 2, big, big_len), "SELECT", NULL);
	send_sql(f, 'P', "", "PREPARE q(text) AS INSERT INTO messages (content) VALUES ($1)");
	expect(f, send_bind(f, "", 0, 2, big, big_len), "PREPARE's own $1", NULL);

	/* jsonb in binary format: the version byte is not part of the value */
	send_sql(f, 'P', "j", "INSERT INTO conversations (metadata) VALUES ($1::jsonb)");
	expect(f, send_bind(f, "j", 1, 1, js, js_len), "binary jsonb of 16 bytes", NULL);
	expect(f, send_bind(f, "j", 0, 1, jt, jt_len), "text json of 16 bytes", NULL);
	send_sql(f, 'P', "t", "INSERT INTO conversations (metadata) VALUES ($1)");
	expect(f, send_bind(f, "t", 0, 1, js, jbig_len), "text of 17 bytes",
	       "value of 17 bytes for conversations.metadata (parameter $1)");
	/* ... or when the Parse declares the parameter jsonb (OID 3802) */
	{
		static struct buf pb;
		struct pgw_msg_view m;

		pb.n = 0;
		put_cstr(&pb, "typed");
		put_cstr(&pb, "INSERT INTO conversations (metadata) VALUES ($1)");
		put_u16(&pb, 1);
		put_u32(&pb, 3802);
		m = (struct pgw_msg_view){.type = 'P', .len = (uint32_t)pb.n, .body = pb.data};
		assert_int_equal(pgw_pipeline_message(&f->ctx, &m), PGW_PASS);
		assert_int_equal(pgw_stmt_map_put_parse(&f->map, pb.data, pb.n, f->ctx.info, NULL),
				 0);
		pgw_policy_ctx_release(&f->ctx);
		assert_int_equal(pgw_stmt_map_param_type(&f->map, "typed", 1), 3802);
		assert_int_equal(pgw_stmt_map_param_type(&f->map, "typed", 2), 0);
	}
	expect(f, send_bind(f, "typed", 1, 1, js, js_len), "binary jsonb declared", NULL);
	expect(f, send_bind(f, "typed", 0, 1, js, jbig_len), "text, declared jsonb",
	       "value of 17 bytes");
	/* a Close forgets the statement; its Binds then pass (the server refuses them) */
	pgw_stmt_map_remove(&f->map, "ins");
	expect(f, send_bind(f, "ins", 0, 2, big, big_len), "after Close", NULL);
}

static void off_by_default(void **state)
{
	struct pgw_config cfg;
	struct pgw_policy_ctx ctx = {0};
	struct pgw_sql_cache_stats before, after;
	static struct buf b;
	struct pgw_msg_view m;

	(void)state;
	pgw_config_defaults(&cfg);
	assert_int_equal(cfg.ncol_limits, 0);
	ctx.cfg = &cfg;
	b.n = 0;
	put_cstr(&b,
		 "INSERT INTO messages (content) VALUES ('far too long, but there is no limit')");
	m = (struct pgw_msg_view){.type = 'Q', .len = (uint32_t)b.n, .body = b.data};
	pgw_policy_sql_stats(&before);
	assert_int_equal(pgw_pipeline_message(&ctx, &m), PGW_PASS);
	pgw_policy_ctx_release(&ctx);
	/* nothing needed the parse: neither the guard (no rule keyword) nor the limits */
	pgw_policy_sql_stats(&after);
	assert_int_equal(after.misses + after.hits, before.misses + before.hits);
	pgw_config_free(&cfg);
}

/* ---- costs (printed, not asserted): the pipeline per pgbench TPC-B transaction ---- */

static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* pgbench's seven TPC-B statements, -M simple (new literals every time), through the
 * pipeline as the relay runs it; µs per transaction. */
static double tpcb_simple(const struct pgw_config *cfg, int txs)
{
	static struct buf b;
	static int delta; /* never repeats: every text is new to the cache, as in pgbench */
	struct pgw_stmt_map map = {0};
	double t0 = cpu_ns();

	for (int i = 0; i < txs; i++) {
		int aid = (i * 7919) % 1000000, tid = i % 100, bid = i % 10, d = ++delta;
		char sql[7][160];

		snprintf(sql[0], sizeof(sql[0]), "BEGIN;");
		snprintf(sql[1], sizeof(sql[1]),
			 "UPDATE pgbench_accounts SET abalance = abalance + %d WHERE aid = %d;", d,
			 aid);
		snprintf(sql[2], sizeof(sql[2]),
			 "SELECT abalance FROM pgbench_accounts WHERE aid = %d;", aid);
		snprintf(sql[3], sizeof(sql[3]),
			 "UPDATE pgbench_tellers SET tbalance = tbalance + %d WHERE tid = %d;", d,
			 tid);
		snprintf(sql[4], sizeof(sql[4]),
			 "UPDATE pgbench_branches SET bbalance = bbalance + %d WHERE bid = %d;", d,
			 bid);
		snprintf(sql[5], sizeof(sql[5]),
			 "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (%d, "
			 "%d, %d, %d, CURRENT_TIMESTAMP);",
			 tid, bid, aid, d);
		snprintf(sql[6], sizeof(sql[6]), "END;");
		for (int q = 0; q < 7; q++) {
			struct pgw_policy_ctx ctx = {.cfg = cfg, .user = "bench", .stmts = &map};
			struct pgw_msg_view m;

			b.n = 0;
			put_cstr(&b, sql[q]);
			m = (struct pgw_msg_view){
				.type = 'Q', .len = (uint32_t)b.n, .body = b.data};
			assert_int_equal(pgw_pipeline_message(&ctx, &m), PGW_PASS);
			pgw_policy_ctx_release(&ctx);
		}
	}
	return (cpu_ns() - t0) / txs / 1000;
}

static void costs(void **state)
{
	struct pgw_config on, off;
	double best_on = 1e30, best_off = 1e30;

	(void)state;
	/* guard_bench.sh's two configurations */
	load_config("[limits]\ncolumn_limits = pgbench_accounts.filler: 84 chars, "
		    "pgbench_history.filler: 22 chars\n[guard]\nrules = all\n"
		    "on_parse_error = refuse\nddl_lock_timeout = 2s\n",
		    &on);
	load_config("[guard]\nrules = none\n", &off);
	for (int r = 0; r < 5; r++) {
		best_off = PGW_MIN(best_off, tpcb_simple(&off, 2000));
		best_on = PGW_MIN(best_on, tpcb_simple(&on, 2000));
	}
	print_message(
		"pipeline per TPC-B -M simple transaction: rules none %.1f us, all on %.1f us\n",
		best_off, best_on);
	pgw_config_free(&on);
	pgw_config_free(&off);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(config_syntax, setup, teardown),
		cmocka_unit_test_setup_teardown(literals, setup, teardown),
		cmocka_unit_test_setup_teardown(bound_parameters, setup, teardown),
		cmocka_unit_test_setup_teardown(off_by_default, setup, teardown),
		cmocka_unit_test_setup_teardown(costs, setup, teardown),
	};

	return cmocka_run_group_tests_name("policy_columns", tests, NULL, NULL);
}
