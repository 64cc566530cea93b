/*
 * policy/, what a session with a tenant context may not run: built-ins that run SQL from text,
 * function creation and DO (tenant_code.c), NOTIFY of the invalidation channel
 * (tenant_notify.c) and FunctionCall by OID (function_call.c). The real pipeline with a real
 * configuration, table-driven from tests/data/policy/tenant.tsv as Query and as Parse, then
 * FunctionCall and the configuration in detail. No sockets, no mocks.
 */
#include "policy_test_util.h"

static const char tenant_ini[] = "[tenant]\n"
				 "mode = on\n"
				 "map_file = /dev/null\n"
				 "[guard]\n"
				 "function_roles = migrator ,Mixed Case\n";

/* Query: the text and its NUL. Parse: name, text, no parameter types. */
static enum pgw_verdict run_sql(struct pgw_policy_ctx *ctx, char type, const char *sql, size_t len)
{
	static struct buf b;

	b.n = 0;
	if (type == 'P')
		put_cstr(&b, "s1");
	put_bytes(&b, sql, len);
	put_bytes(&b, "", 1);
	if (type == 'P')
		put_u16(&b, 0);
	return run(ctx, type, b.data, b.n);
}

/* ---- tenant.tsv ---- */

struct tenant_case {
	int lineno;
	bool context;
	const char *role; /* NULL for "-" */
	bool refuse;
	const char *rule, *sqlstate, *words;
	char sql[4096];
	size_t sqllen;
};

/* Splits one non-comment line; the pointers point into <line>. */
static void parse_case(char *line, struct tenant_case *tc)
{
	char *col[7], *p = line;

	for (int i = 0; i < 6; i++) {
		char *tab = strchr(p, '\t');

		if (tab == NULL)
			fail_msg("tenant.tsv:%d: expected 7 tab-separated columns", tc->lineno);
		*tab = '\0';
		col[i] = p;
		p = tab + 1;
	}
	col[6] = p;
	if (strcmp(col[0], "ctx") != 0 && strcmp(col[0], "plain") != 0)
		fail_msg("tenant.tsv:%d: session must be ctx or plain", tc->lineno);
	if (strcmp(col[2], "pass") != 0 && strcmp(col[2], "refuse") != 0)
		fail_msg("tenant.tsv:%d: verdict must be pass or refuse", tc->lineno);
	tc->context = strcmp(col[0], "ctx") == 0;
	tc->role = strcmp(col[1], "-") == 0 ? NULL : col[1];
	tc->refuse = strcmp(col[2], "refuse") == 0;
	tc->rule = col[3];
	tc->sqlstate = col[4];
	tc->words = strcmp(col[5], "-") == 0 ? NULL : col[5];
	tc->sqllen = tsv_decode_sql(col[6], tc->sql, sizeof(tc->sql), "tenant.tsv", tc->lineno);
}

/* The rule, SQLSTATE, a message that names the rule and the words, and a hint. */
static bool check_refusal(const struct tenant_case *tc, const struct pgw_refusal *r, char *why,
			  size_t whylen)
{
	char want[64];

	if (r->rule == NULL || strcmp(r->rule, tc->rule) != 0 ||
	    strcmp(r->sqlstate, tc->sqlstate) != 0) {
		snprintf(why, whylen, "refused as %s/%s: %s", r->rule ? r->rule : "(null)",
			 r->sqlstate ? r->sqlstate : "(null)", r->message);
		return false;
	}
	snprintf(want, sizeof(want), "(rule %s)", tc->rule);
	if (strncmp(r->message, "pgward: ", 8) != 0 || strstr(r->message, want) == NULL ||
	    (tc->words && strstr(r->message, tc->words) == NULL)) {
		snprintf(why, whylen, "message lacks \"%s\" or \"%s\": %s", want,
			 tc->words ? tc->words : "", r->message);
		return false;
	}
	if (r->hint[0] == '\0') {
		snprintf(why, whylen, "no hint: %s", r->message);
		return false;
	}
	return true;
}

static bool run_case(const struct tenant_case *tc, struct pgw_policy_ctx *ctx, char *why,
		     size_t whylen)
{
	static const char types[] = {'Q', 'P'};

	for (size_t i = 0; i < sizeof(types); i++) {
		enum pgw_verdict v = run_sql(ctx, types[i], tc->sql, tc->sqllen);
		size_t n;

		if (v != (tc->refuse ? PGW_REFUSE : PGW_PASS)) {
			snprintf(why, whylen, "'%c': %s %s", types[i],
				 v == PGW_PASS ? "pass" : "refuse",
				 v == PGW_PASS ? "" : ctx->refusal.message);
			return false;
		}
		if (v == PGW_PASS)
			continue;
		n = (size_t)snprintf(why, whylen, "'%c': ", types[i]);
		if (!check_refusal(tc, &ctx->refusal, why + n, whylen - n))
			return false;
	}
	return true;
}

static void tenant_table(void **state)
{
	const char *dir = getenv("PGWARD_TEST_DATA");
	char path[512], line[8192], orig[8192], why[1024];
	struct tenant_case tc = {.lineno = 0};
	struct pgw_config cfg;
	int cases = 0, failures = 0;
	FILE *f;

	(void)state;
	load_config(tenant_ini, &cfg);
	snprintf(path, sizeof(path), "%s/policy/tenant.tsv", dir ? dir : "tests/data");
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		struct pgw_policy_ctx ctx = {.cfg = &cfg, .sid = 1};

		tc.lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		memcpy(orig, line, strlen(line) + 1);
		parse_case(line, &tc);
		ctx.user = tc.role;
		ctx.tenant_context = tc.context;
		cases++;
		why[0] = '\0';
		if (!run_case(&tc, &ctx, why, sizeof(why))) {
			failures++;
			print_error("tenant.tsv:%d: %s\n    got: %s\n", tc.lineno, orig, why);
		}
	}
	fclose(f);
	pgw_config_free(&cfg);
	print_message("tenant.tsv: %d cases, %d failed\n", cases, failures);
	assert_true(cases >= 80);
	assert_int_equal(failures, 0);
}

/* With tenant mode off nothing of this applies (and no session has a context). */
static void tenant_mode_off(void **state)
{
	static const char *const sql[] = {
		"NOTIFY pgward_tenant_changed, '*'",
		"SELECT pg_notify($1, '*')",
		"SELECT query_to_xml('SELECT 1', true, true, '')",
		"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
		"DO $$ BEGIN NULL; END $$",
	};
	struct pgw_config cfg;
	struct pgw_policy_ctx ctx = {.cfg = NULL, .user = "app"};

	(void)state;
	load_config("[guard]\nrules = drop_table\n", &cfg);
	ctx.cfg = &cfg;
	assert_null(cfg.function_roles);
	for (size_t i = 0; i < PGW_ARRAY_LEN(sql); i++)
		if (run_sql(&ctx, 'Q', sql[i], strlen(sql[i])) != PGW_PASS)
			fail_msg("refused with tenant mode off: %s: %s", sql[i],
				 ctx.refusal.message);
	pgw_config_free(&cfg);
}

static enum pgw_verdict query(struct pgw_policy_ctx *ctx, const char *sql)
{
	return run_sql(ctx, 'Q', sql, strlen(sql));
}

/* The channel is [tenant] listen_channel, compared as the server reads each spelling; an
 * overlong one is cut to 63 bytes on both sides. */
static void other_channel(void **state)
{
	static const char ini[] = "[tenant]\nmode = on\nmap_file = /dev/null\n"
				  "listen_channel = Cache_Flush\n";
	/* 64 bytes: pgward LISTENs on its first 63, ...890XY */
	static const char long_ini[] = "[tenant]\nmode = on\nmap_file = /dev/null\n"
				       "listen_channel = c123456789012345678901234567890123456789"
				       "012345678901234567890XYZ\n";
	struct pgw_config cfg;
	struct pgw_policy_ctx ctx = {.cfg = NULL, .user = "app", .tenant_context = true};

	(void)state;
	load_config(ini, &cfg);
	ctx.cfg = &cfg;
	/* pgward LISTENs on the quoted name: NOTIFY must quote it too, pg_notify spell it so */
	assert_int_equal(query(&ctx, "NOTIFY \"Cache_Flush\""), PGW_REFUSE);
	assert_non_null(strstr(ctx.refusal.message, "NOTIFY Cache_Flush"));
	assert_int_equal(query(&ctx, "SELECT pg_notify('Cache_Flush', '*')"), PGW_REFUSE);
	assert_int_equal(query(&ctx, "NOTIFY Cache_Flush"), PGW_PASS);
	assert_int_equal(query(&ctx, "NOTIFY pgward_tenant_changed"), PGW_PASS);
	assert_int_equal(query(&ctx, "SELECT pg_notify($1, '*')"), PGW_REFUSE);
	assert_non_null(strstr(ctx.refusal.message, "could notify Cache_Flush"));
	pgw_config_free(&cfg);

	load_config(long_ini, &cfg);
	ctx.cfg = &cfg;
	/* the parser cuts NOTIFY's identifier to 63 bytes after folding it: ...890xy */
	assert_int_equal(query(&ctx, "NOTIFY c123456789012345678901234567890123456789"
				     "012345678901234567890XYZZY"),
			 PGW_PASS);
	assert_int_equal(query(&ctx, "NOTIFY \"c123456789012345678901234567890123456789"
				     "012345678901234567890XYZZY\""),
			 PGW_REFUSE);
	assert_int_equal(query(&ctx, "SELECT pg_notify('c12345678901234567890123456789012345678"
				     "9012345678901234567890XY', '*')"),
			 PGW_REFUSE);
	pgw_config_free(&cfg);
}

/* ---- FunctionCall ---- */

/* A FunctionCall body: OID, no format codes, <nargs> text arguments "x", text result. */
static enum pgw_verdict call_oid(struct pgw_policy_ctx *ctx, uint32_t oid, uint16_t nargs)
{
	static struct buf b;

	b.n = 0;
	put_u32(&b, oid);
	put_u16(&b, 0);
	put_u16(&b, nargs);
	for (uint16_t i = 0; i < nargs; i++) {
		put_u32(&b, 1);
		put_bytes(&b, "x", 1);
	}
	put_u16(&b, 0);
	return run(ctx, 'F', b.data, b.n);
}

/*
 * A session with a tenant context may call the large-object functions libpq and pgJDBC call
 * by OID (PostgreSQL 15's pg_proc), nothing else; a refusal names the OID, and the function
 * when pgward knows it.
 */
static void function_call_tenant(void **state)
{
	static const struct {
		uint32_t oid;
		const char *name;
	} large_objects[] = {
		{715, "lo_create"},	 {952, "lo_open"},     {953, "lo_close"},
		{954, "loread"},	 {955, "lowrite"},     {956, "lo_lseek"},
		{957, "lo_creat"},	 {958, "lo_tell"},     {964, "lo_unlink"},
		{1004, "lo_truncate"},	 {3170, "lo_lseek64"}, {3171, "lo_tell64"},
		{3172, "lo_truncate64"},
	};
	static const struct {
		uint32_t oid;
		const char *name; /* NULL: named by its OID only */
	} refused[] = {
		{2078, "set_config"},
		{2924, "query_to_xml"},
		{2927, "query_to_xmlschema"},
		{2930, "query_to_xml_and_xmlschema"},
		{3036, "pg_notify"},
		{3685, "ts_rewrite"},
		{3689, "ts_stat"},
		{3690, "ts_stat"},
		{764, NULL} /* lo_import, server side */,
		{1242, NULL},
		{0, NULL},
		{4294967295u, NULL},
	};
	struct pgw_config cfg;
	struct pgw_policy_ctx ctx = {.cfg = NULL, .user = "migrator", .tenant_context = true};
	char want[64];

	(void)state;
	load_config(tenant_ini, &cfg);
	ctx.cfg = &cfg;
	for (size_t i = 0; i < PGW_ARRAY_LEN(large_objects); i++)
		if (call_oid(&ctx, large_objects[i].oid, 2) != PGW_PASS)
			fail_msg("%s (%u) refused: %s", large_objects[i].name, large_objects[i].oid,
				 ctx.refusal.message);
	for (size_t i = 0; i < PGW_ARRAY_LEN(refused); i++) {
		if (call_oid(&ctx, refused[i].oid, 1) != PGW_REFUSE)
			fail_msg("OID %u let through", refused[i].oid);
		assert_string_equal(ctx.refusal.rule, "function_call");
		assert_string_equal(ctx.refusal.sqlstate, "42501");
		assert_non_null(strstr(ctx.refusal.message, "(rule function_call)"));
		assert_non_null(strstr(ctx.refusal.message, "tenant context"));
		snprintf(want, sizeof(want), "OID %u", refused[i].oid);
		assert_non_null(strstr(ctx.refusal.message, want));
		if (refused[i].name) {
			snprintf(want, sizeof(want), "calling %s (OID", refused[i].name);
			assert_non_null(strstr(ctx.refusal.message, want));
		}
		assert_true(ctx.refusal.hint[0] != '\0');
	}
	/* too short to hold an OID: the server reports it */
	assert_int_equal(run(&ctx, 'F', (const uint8_t *)"\0\0\x03", 3), PGW_PASS);
	pgw_config_free(&cfg);
}

/* Without a context: everything but set_config, and pg_notify while tenant mode is on. */
static void function_call_plain(void **state)
{
	struct pgw_config cfg;
	struct pgw_policy_ctx ctx = {.cfg = NULL, .user = "app"};

	(void)state;
	load_config(tenant_ini, &cfg);
	ctx.cfg = &cfg;
	assert_int_equal(call_oid(&ctx, 2924, 4), PGW_PASS); /* query_to_xml */
	assert_int_equal(call_oid(&ctx, 1242, 1), PGW_PASS);
	assert_int_equal(call_oid(&ctx, 952, 2), PGW_PASS);
	assert_int_equal(call_oid(&ctx, 2078, 3), PGW_REFUSE);
	assert_string_equal(ctx.refusal.rule, "function_call");
	assert_non_null(strstr(ctx.refusal.message, "set_config"));
	assert_int_equal(call_oid(&ctx, 3036, 2), PGW_REFUSE);
	assert_non_null(strstr(ctx.refusal.message, "pg_notify"));
	assert_true(ctx.refusal.hint[0] != '\0');
	pgw_config_free(&cfg);

	load_config("[tenant]\nmode = off\n", &cfg);
	ctx.cfg = &cfg;
	assert_int_equal(call_oid(&ctx, 3036, 2), PGW_PASS);
	assert_int_equal(call_oid(&ctx, 2078, 3), PGW_REFUSE);
	pgw_config_free(&cfg);
}

/* The relay's context starts without a tenant context; the relay sets it per session. */
static void ctx_init(void **state)
{
	struct pgw_config cfg;
	struct pgw_policy_ctx ctx;

	(void)state;
	pgw_config_defaults(&cfg);
	memset(&ctx, 0xff, sizeof(ctx));
	pgw_policy_ctx_init(&ctx, &cfg, "app", 7, NULL);
	assert_false(ctx.tenant_context);
	assert_null(ctx.info);
	pgw_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tenant_table),	       cmocka_unit_test(tenant_mode_off),
		cmocka_unit_test(other_channel),       cmocka_unit_test(function_call_tenant),
		cmocka_unit_test(function_call_plain), cmocka_unit_test(ctx_init),
	};

	return cmocka_run_group_tests_name("policy_tenant", tests, NULL, teardown_guard);
}
