/*
 * policy/, payload limits: size_guard in the real pipeline, with [limits] loaded from a file;
 * message headers, Queries over max_query_size, Bind parameters (sizes, counts, malformed
 * Binds) from C tables. No sockets, no mocks.
 */
#include "policy_test_util.h"

static const char limits_ini[] = "[limits]\n"
				 "max_message_size = 4kB\n"
				 "max_query_size = 1kB\n"
				 "max_bind_param_size = 100B\n"
				 "max_bind_params = 3\n"
				 "max_copy_data_size = 2kB\n";

/* ---- payload limits ---- */

static void size_headers(void **state)
{
	static const struct {
		char type;
		uint32_t len;
		const char *rule; /* NULL: pass */
		const char *text; /* in the message */
	} cases[] = {
		{'Q', 1024, NULL, NULL},
		{'Q', 1025, "query_size", "query of 1025 bytes exceeds the limit of 1024 bytes"},
		{'P', 1024, NULL, NULL},
		{'P', 1025, "query_size", "Parse message of 1025 bytes"},
		{'d', 2048, NULL, NULL},
		{'d', 2049, "copy_data_size", "CopyData message of 2049 bytes"},
		{'B', 4096, NULL, NULL},
		{'B', 4097, "message_size", "message of 4097 bytes exceeds the limit of 4096"},
		{'Q', 4097, "message_size", "(rule message_size, max_message_size)"},
		{'d', 4097, "message_size", "(rule message_size, max_message_size)"},
		{'F', 4097, "message_size", NULL},
		{'p', 4097, "message_size", NULL},
		{'f', 4097, "message_size", NULL},
		{'D', 4096, NULL, NULL},
		{'X', 0, NULL, NULL},
		{'S', 0, NULL, NULL},
		{'H', 0, NULL, NULL},
		{'Q', 0xffffffffu, "message_size", "of 4294967295 bytes"},
	};
	struct pgw_config cfg;
	struct pgw_policy_ctx ctx = {.cfg = NULL, .user = "app"};

	(void)state;
	load_config(limits_ini, &cfg);
	assert_int_equal(cfg.max_message_size, 4096);
	assert_int_equal(cfg.max_query_size, 1024);
	assert_int_equal(cfg.max_bind_param_size, 100);
	assert_int_equal(cfg.max_bind_params, 3);
	assert_int_equal(cfg.max_copy_data_size, 2048);
	ctx.cfg = &cfg;
	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		struct pgw_msg_view m = {.type = cases[i].type, .len = cases[i].len};
		enum pgw_verdict v;
		char want[96];

		memset(&ctx.refusal, 0, sizeof(ctx.refusal));
		v = pgw_pipeline_header(&ctx, &m);
		if (v != (cases[i].rule ? PGW_REFUSE : PGW_PASS))
			fail_msg("'%c' %u: %s", cases[i].type, cases[i].len,
				 v == PGW_PASS ? "pass" : ctx.refusal.message);
		if (cases[i].rule == NULL) {
			assert_null(ctx.refusal.rule);
			continue;
		}
		assert_string_equal(ctx.refusal.rule, cases[i].rule);
		assert_string_equal(ctx.refusal.sqlstate, "54000");
		snprintf(want, sizeof(want), "(rule %s, max_%s)", cases[i].rule, cases[i].rule);
		assert_non_null(strstr(ctx.refusal.message, want));
		if (cases[i].text != NULL && strstr(ctx.refusal.message, cases[i].text) == NULL)
			fail_msg("'%c' %u: \"%s\" lacks \"%s\"", cases[i].type, cases[i].len,
				 ctx.refusal.message, cases[i].text);
		assert_true(ctx.refusal.hint[0] != '\0');
	}
	pgw_config_free(&cfg);
}

/* A Query over max_query_size that reached the guard anyway is not parsed. */
static void size_query_not_parsed(void **state)
{
	struct pgw_config cfg;
	struct pgw_policy_ctx ctx = {.cfg = NULL, .user = "admin"};
	static struct buf b;
	struct pgw_msg_view m = {.type = 'Q'};

	(void)state;
	load_config(limits_ini, &cfg);
	ctx.cfg = &cfg;
	b.n = 0;
	put_bytes(&b, "RESET  ", 7); /* a keyword every role needs: the guard must parse it */
	while (b.n < 1999)
		put_bytes(&b, " ", 1);
	put_bytes(&b, "1", 2);
	m.len = (uint32_t)b.n;
	m.body = b.data;
	assert_int_equal(pgw_pipeline_message(&ctx, &m), PGW_REFUSE);
	assert_string_equal(ctx.refusal.rule, "query_size");
	assert_string_equal(ctx.refusal.sqlstate, "54000");
	pgw_policy_ctx_release(&ctx);
	/* the largest Query the header admits is parsed */
	b.n = 0;
	put_bytes(&b, "RESET  ", 7); /* a keyword every role needs: the guard must parse it */
	while (b.n < 1022)
		put_bytes(&b, " ", 1);
	put_bytes(&b, "1", 2);
	assert_int_equal(b.n, 1024);
	assert_int_equal(run(&ctx, 'Q', b.data, b.n), PGW_PASS);
	pgw_config_free(&cfg);
}

#define NUL_PARAM 0xffffffffu

/* Bind to statement "s1": no format codes, <n> parameters of <lens> bytes, then no result
 * format codes. */
static void build_bind(struct buf *b, size_t n, const uint32_t *lens)
{
	static const uint8_t fill[200] = {0};

	b->n = 0;
	put_cstr(b, "");
	put_cstr(b, "s1");
	put_u16(b, 0);
	put_u16(b, (uint16_t)n);
	for (size_t i = 0; i < n; i++) {
		put_u32(b, lens[i]);
		if (lens[i] != NUL_PARAM) {
			assert_true(lens[i] <= sizeof(fill));
			put_bytes(b, fill, lens[i]);
		}
	}
	put_u16(b, 0);
}

static void size_bind(void **state)
{
	static const struct {
		size_t n;
		uint32_t lens[6];
		const char *rule; /* NULL: pass */
		const char *text;
	} cases[] = {
		{0, {0}, NULL, NULL},
		{3, {100, 100, 100}, NULL, NULL},
		{3, {0, 1, 2}, NULL, NULL},
		{1, {101}, "bind_param_size", "parameter $1 of 101 bytes exceeds the limit of 100"},
		{3, {10, 101, 5}, "bind_param_size", "parameter $2 of 101 bytes"},
		{3, {10, 5, 200}, "bind_param_size", "parameter $3 of 200 bytes"},
		{4,
		 {1, 1, 1, 1},
		 "bind_param_count",
		 "Bind with 4 parameters exceeds the limit of 3"},
		{6, {1, 1, 1, 1, 1, 1}, "bind_param_count", "6 parameters"},
		{3, {NUL_PARAM, NUL_PARAM, NUL_PARAM}, NULL, NULL},
		{2, {NUL_PARAM, 100}, NULL, NULL},
		{2, {NUL_PARAM, 101}, "bind_param_size", "parameter $2 of 101 bytes"},
	};
	struct pgw_config cfg;
	struct pgw_policy_ctx ctx = {.cfg = NULL, .user = "app"};
	static struct buf b;

	(void)state;
	load_config(limits_ini, &cfg);
	ctx.cfg = &cfg;
	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		enum pgw_verdict v;
		char want[96];

		build_bind(&b, cases[i].n, cases[i].lens);
		v = run(&ctx, 'B', b.data, b.n);
		if (v != (cases[i].rule ? PGW_REFUSE : PGW_PASS))
			fail_msg("case %zu: %s", i, v == PGW_PASS ? "pass" : ctx.refusal.message);
		if (cases[i].rule == NULL)
			continue;
		assert_string_equal(ctx.refusal.rule, cases[i].rule);
		assert_string_equal(ctx.refusal.sqlstate, "54000");
		snprintf(want, sizeof(want), "(rule %s, ", cases[i].rule);
		assert_non_null(strstr(ctx.refusal.message, want));
		if (strstr(ctx.refusal.message, cases[i].text) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, ctx.refusal.message,
				 cases[i].text);
		assert_true(ctx.refusal.hint[0] != '\0');
	}

	/* max_bind_params = 0 admits only parameterless Binds */
	cfg.max_bind_params = 0;
	build_bind(&b, 0, NULL);
	assert_int_equal(run(&ctx, 'B', b.data, b.n), PGW_PASS);
	build_bind(&b, 1, (const uint32_t[]){NUL_PARAM});
	assert_int_equal(run(&ctx, 'B', b.data, b.n), PGW_REFUSE);
	assert_string_equal(ctx.refusal.rule, "bind_param_count");
	pgw_config_free(&cfg);
}

/* Malformed Binds pass: the server reports them as it would without pgward. */
static void size_bind_malformed(void **state)
{
	struct pgw_config cfg;
	struct pgw_policy_ctx ctx = {.cfg = NULL, .user = "app"};
	static struct buf b;

	(void)state;
	load_config(limits_ini, &cfg);
	ctx.cfg = &cfg;

	assert_int_equal(run(&ctx, 'B', (const uint8_t *)"", 0), PGW_PASS);
	/* portal name without its NUL */
	assert_int_equal(run(&ctx, 'B', (const uint8_t *)"portal", 6), PGW_PASS);
	/* statement name without its NUL */
	assert_int_equal(run(&ctx, 'B', (const uint8_t *)"\0s1", 3), PGW_PASS);
	/* 5 format codes announced, none there */
	b.n = 0;
	put_cstr(&b, "");
	put_cstr(&b, "s1");
	put_u16(&b, 5);
	assert_int_equal(run(&ctx, 'B', b.data, b.n), PGW_PASS);
	/* format codes, then no parameter count */
	b.n = 0;
	put_cstr(&b, "");
	put_cstr(&b, "s1");
	put_u16(&b, 1);
	put_u16(&b, 1);
	assert_int_equal(run(&ctx, 'B', b.data, b.n), PGW_PASS);
	/* two parameters announced, one there */
	b.n = 0;
	put_cstr(&b, "");
	put_cstr(&b, "s1");
	put_u16(&b, 0);
	put_u16(&b, 2);
	put_u32(&b, 3);
	put_bytes(&b, "abc", 3);
	assert_int_equal(run(&ctx, 'B', b.data, b.n), PGW_PASS);
	/* a parameter of 50 bytes of which 10 arrived, then nothing */
	b.n = 0;
	put_cstr(&b, "");
	put_cstr(&b, "s1");
	put_u16(&b, 0);
	put_u16(&b, 2);
	put_u32(&b, 50);
	put_bytes(&b, "0123456789", 10);
	assert_int_equal(run(&ctx, 'B', b.data, b.n), PGW_PASS);
	/* half a length word */
	b.n = 0;
	put_cstr(&b, "");
	put_cstr(&b, "s1");
	put_u16(&b, 0);
	put_u16(&b, 1);
	put_u16(&b, 0);
	assert_int_equal(run(&ctx, 'B', b.data, b.n), PGW_PASS);
	pgw_config_free(&cfg);
}

/*
 * A parameter length below -1 is malformed (the server answers 08P01 "insufficient data left
 * in message"); size_guard reads it as unsigned and refuses "parameter $1 of 4294967294
 * bytes" under bind_param_size, which is not what the client sent.
 */
static void size_bind_negative_length(void **state)
{
	struct pgw_config cfg;
	struct pgw_policy_ctx ctx = {.cfg = NULL, .user = "app"};
	static struct buf b;

	(void)state;
	load_config(limits_ini, &cfg);
	ctx.cfg = &cfg;
	b.n = 0;
	put_cstr(&b, "");
	put_cstr(&b, "s1");
	put_u16(&b, 0);
	put_u16(&b, 1);
	put_u32(&b, 0xfffffffeu); /* -2 */
	put_u16(&b, 0);
	if (run(&ctx, 'B', b.data, b.n) != PGW_PASS) {
		print_error("refused: %s\n", ctx.refusal.message);
		pgw_config_free(&cfg);
		fail();
	}
	pgw_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(size_headers),
		cmocka_unit_test(size_query_not_parsed),
		cmocka_unit_test(size_bind),
		cmocka_unit_test(size_bind_malformed),
		cmocka_unit_test(size_bind_negative_length),
	};

	/* detect mode logs every statement it lets through; keep the output to the results */
	pgw_log_min_level = PGW_LOG_ERROR;
	return cmocka_run_group_tests_name("policy_size", tests, NULL, teardown_guard);
}
