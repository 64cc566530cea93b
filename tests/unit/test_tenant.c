/*
 * tenant: UUID syntax, the map file, the context's signature, the tenant guard's verdicts
 * on SQL, and which NOTIFYs may invalidate the cache. No network.
 */
#include "policy_test_util.h"

#include "pgward/tenant.h"

#include "../../src/tenant/tenant-int.h"

static void uuid_syntax(void **state)
{
	(void)state;
	assert_true(pgw_uuid_valid("aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"));
	assert_true(pgw_uuid_valid("AAAAAAAA-0000-4AAA-8AAA-0123456789AB"));
	assert_false(pgw_uuid_valid(""));
	assert_false(pgw_uuid_valid("aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaa"));   /* 35 */
	assert_false(pgw_uuid_valid("aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaaa")); /* 37 */
	assert_false(pgw_uuid_valid("aaaaaaaaaaaaa-4aaa-8aaa-aaaaaaaaaaaa"));
	assert_false(pgw_uuid_valid("gaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"));
	assert_false(pgw_uuid_valid("{aaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"));
	assert_false(pgw_uuid_valid("aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaa',"));
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void map_file(void **state)
{
	char path[] = "/tmp/pgward-test-map-XXXXXX", err[ERRLEN];
	struct pgw_orgmap *m;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	write_file(path, "# comment\n\n alice = AAAAAAAA-aaaa-4aaa-8aaa-aaaaaaaaaaaa , "
			 "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb ; trailing\nnobody =\n");
	assert_int_equal(pgw_orgmap_load(path, &m, err, sizeof(err)), 0);
	assert_int_equal(pgw_orgmap_count(m), 2);
	assert_string_equal(pgw_orgmap_get(m, "alice"), "{aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa,"
							"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb}");
	assert_string_equal(pgw_orgmap_get(m, "nobody"), "{}");
	assert_null(pgw_orgmap_get(m, "bob"));
	pgw_orgmap_free(m);

	write_file(path, "alice = aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa\nbob = '},{x'\n");
	assert_int_equal(pgw_orgmap_load(path, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":2: \"'}\" is not a UUID"));
	write_file(path, "alice = aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa\nalice =\n");
	assert_int_equal(pgw_orgmap_load(path, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":2: identity \"alice\" is listed twice"));
	write_file(path, "just words\n");
	assert_int_equal(pgw_orgmap_load(path, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":1: expected"));
	unlink(path);
	assert_int_equal(pgw_orgmap_load(path, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open"));
}

/* The value pgward.org_ids() recomputes with pgcrypto; checked against Python's hmac. */
static void signature(void **state)
{
	char sig[PGW_HMAC_HEX_LEN + 1];

	(void)state;
	pgw_tenant_sign("0123456789abcdef-signing", "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
			"{11111111-1111-4111-8111-111111111111}", 4242, 1765000000000001, sig);
	assert_string_equal(sig,
			    "7b5201ee99746542037bcd55e3361c316becab97bdaf293fd28e4f752d59f00a");
	pgw_tenant_sign("0123456789abcdef-signing", "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
			"{11111111-1111-4111-8111-111111111111}", 4242, 1765000000000002, sig);
	assert_string_equal(sig,
			    "d9a86c967dfd1620f6b486d472bfb591b639db21b018bb119c7564a3c4091fe7");
	pgw_tenant_sign("0123456789abcdef-signing", "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
			"{11111111-1111-4111-8111-111111111111}", 4243, 1765000000000001, sig);
	assert_string_not_equal(sig,
				"7b5201ee99746542037bcd55e3361c316becab97bdaf293fd28e4f752d59f00a");
}

static enum pgw_verdict query(struct pgw_policy_ctx *ctx, const char *sql)
{
	struct buf b = {.n = 0};

	put_cstr(&b, sql);
	return run(ctx, 'Q', b.data, b.n);
}

static void guard_verdicts(void **state)
{
	static const char *const refused[] = {
		"SET app.user_org_ids = '{}'",
		"set APP.USER_ORG_IDS to '{}'",
		"SET LOCAL app.user_id = 'x'",
		"RESET app.tenant_sig",
		"SET app.user_org_ids TO DEFAULT",
		"RESET ALL",
		"DISCARD ALL",
		"SELECT set_config('app.user_org_ids', '{}', false)",
		"SELECT x FROM (SELECT set_config('App.User_Id', 'x', true) x) s",
		"SELECT set_config($1, 'x', false)",
		"UPDATE pg_settings SET setting = 'x' WHERE name = 'app.user_id'",
		"ALTER ROLE app SET app.user_org_ids = '{}'",
		"ALTER DATABASE app RESET app.user_org_ids",
		"CREATE FUNCTION f() RETURNS int LANGUAGE sql SET app.user_org_ids FROM CURRENT "
		"AS 'select 1'",
		"PREPARE p AS SELECT set_config('app.user_org_ids', '{}', false)",
	};
	static const char *const passed[] = {
		"SHOW app.user_org_ids",
		"SELECT current_setting('app.user_org_ids')",
		"SET work_mem = '8MB'",
		"RESET work_mem",
		"DISCARD PLANS",
		"SELECT set_config('app.other', 'x', false)",
		"ALTER ROLE app RESET ALL",
		"SELECT 'SET app.user_org_ids = 1'",
	};
	struct pgw_config cfg;
	struct pgw_policy_ctx ctx = {.cfg = &cfg, .user = "app"};

	(void)state;
	load_config("[tenant]\nmode = on\nmap_file = /dev/null\n", &cfg);
	for (size_t i = 0; i < PGW_ARRAY_LEN(refused); i++) {
		if (query(&ctx, refused[i]) != PGW_REFUSE)
			fail_msg("passed: %s", refused[i]);
		assert_string_equal(ctx.refusal.sqlstate, "42501");
		assert_string_equal(ctx.refusal.rule, "tenant_context");
		assert_non_null(strstr(ctx.refusal.message, "app."));
	}
	for (size_t i = 0; i < PGW_ARRAY_LEN(passed); i++)
		if (query(&ctx, passed[i]) != PGW_PASS)
			fail_msg("refused: %s: %s", passed[i], ctx.refusal.message);
	pgw_config_free(&cfg);
	/* with tenant context off nothing is protected */
	load_config("[tenant]\nmode = off\n", &cfg);
	assert_int_equal(query(&ctx, "SET app.user_org_ids = '{}'"), PGW_PASS);
	pgw_config_free(&cfg);
}

/* Only '*' and identities count; with startup_option every identity is a UUID. */
static void notify_payloads(void **state)
{
	static const struct {
		const char *payload;
		enum pgw_tenant_identity mode;
		enum tenant_notice want;
		const char *identity;
	} cases[] = {
		{"*", PGW_TENANT_ID_STARTUP_OPTION, TENANT_NOTICE_ALL, NULL},
		{"*", PGW_TENANT_ID_LOGIN_ROLE, TENANT_NOTICE_ALL, NULL},
		{"AAAAAAAA-aaaa-4AAA-8aaa-AAAAAAAAAAAA", PGW_TENANT_ID_STARTUP_OPTION,
		 TENANT_NOTICE_IDENTITY, "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"},
		{"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", PGW_TENANT_ID_LOGIN_ROLE,
		 TENANT_NOTICE_IDENTITY, "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"},
		{"alice", PGW_TENANT_ID_LOGIN_ROLE, TENANT_NOTICE_IDENTITY, "alice"},
		{"Mixed Case", PGW_TENANT_ID_LOGIN_ROLE, TENANT_NOTICE_IDENTITY, "Mixed Case"},
		{"alice", PGW_TENANT_ID_STARTUP_OPTION, TENANT_NOTICE_MALFORMED, NULL},
		{"", PGW_TENANT_ID_LOGIN_ROLE, TENANT_NOTICE_MALFORMED, NULL},
		{"", PGW_TENANT_ID_STARTUP_OPTION, TENANT_NOTICE_MALFORMED, NULL},
		{" * ", PGW_TENANT_ID_STARTUP_OPTION, TENANT_NOTICE_MALFORMED, NULL},
		{"**", PGW_TENANT_ID_STARTUP_OPTION, TENANT_NOTICE_MALFORMED, NULL},
		{"a\nb", PGW_TENANT_ID_LOGIN_ROLE, TENANT_NOTICE_MALFORMED, NULL},
		{"a\x7f", PGW_TENANT_ID_LOGIN_ROLE, TENANT_NOTICE_MALFORMED, NULL},
		{"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa,bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
		 PGW_TENANT_ID_STARTUP_OPTION, TENANT_NOTICE_MALFORMED, NULL},
	};
	char identity[PGW_IDENTITY_MAX], name[80];

	(void)state;
	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		memset(identity, 0, sizeof(identity));
		if (tenant_notify_payload(cases[i].payload, cases[i].mode, identity) !=
		    cases[i].want)
			fail_msg("case %zu: \"%s\"", i, cases[i].payload);
		if (cases[i].identity != NULL)
			assert_string_equal(identity, cases[i].identity);
	}
	/* a role name is at most 63 bytes */
	memset(name, 'r', 63);
	name[63] = '\0';
	assert_int_equal(tenant_notify_payload(name, PGW_TENANT_ID_LOGIN_ROLE, identity),
			 TENANT_NOTICE_IDENTITY);
	assert_string_equal(identity, name);
	name[63] = 'r';
	name[64] = '\0';
	assert_int_equal(tenant_notify_payload(name, PGW_TENANT_ID_LOGIN_ROLE, identity),
			 TENANT_NOTICE_MALFORMED);
}

static void notify_senders_allowed(void **state)
{
	(void)state;
	/* superusers and the lookup connection's role, whatever the list */
	assert_true(tenant_notify_allowed(NULL, "anyone", true, false));
	assert_true(tenant_notify_allowed(NULL, "pgward_lookup", false, true));
	assert_false(tenant_notify_allowed(NULL, "anyone", false, false));
	assert_false(tenant_notify_allowed("", "anyone", false, false));
	/* listed names, exactly as the catalog stores them */
	assert_true(tenant_notify_allowed("admin, members_app", "members_app", false, false));
	assert_true(tenant_notify_allowed(" admin ,\tmembers_app ", "admin", false, false));
	assert_false(tenant_notify_allowed("admin, members_app", "Admin", false, false));
	assert_false(tenant_notify_allowed("admin, members_app", "adm", false, false));
	assert_false(tenant_notify_allowed("admin, members_app", "members", false, false));
	assert_false(tenant_notify_allowed("admin,, ", "", false, false));
}

static void config_checks(void **state)
{
	static const char *const bad[] = {
		"[tenant]\nmode = on\n",
		"[tenant]\nmode = on\nsource = query\n",
		"[tenant]\nmode = on\nmap_file = /x\norg_ids_setting = nodot\n",
		"[tenant]\nmode = on\nmap_file = /x\nuser_id_setting = APP.USER_ORG_IDS\n",
		"[tenant]\nmode = on\nmap_file = /x\nidentity = startup_option\n",
		"[tenant]\nmode = on\nmap_file = /x\nsigning_secret = short\n",
		"[tenant]\nmode = maybe\n",
		/* role names against the default query's uuid column */
		"[tenant]\nmode = on\nsource = query\nconninfo = dbname=x\n",
		"[tenant]\nmode = on\nsource = query\nconninfo = dbname=x\nidentity = login_role\n"
		"query = " PGW_TENANT_DEFAULT_QUERY "\n",
	};
	char path[] = "/tmp/pgward-test-tenant-XXXXXX", err[ERRLEN];
	struct pgw_config cfg;

	(void)state;
	for (size_t i = 0; i < PGW_ARRAY_LEN(bad); i++) {
		int fd = mkstemp(path);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, bad[i], strlen(bad[i])), (ssize_t)strlen(bad[i]));
		close(fd);
		if (pgw_config_load(path, &cfg, err, sizeof(err)) == 0)
			fail_msg("accepted: %s", bad[i]);
		unlink(path);
		memcpy(path + strlen(path) - 6, "XXXXXX", 6);
	}
	load_config("[tenant]\nmode = on\nsource = query\nconninfo = dbname=x\n"
		    "query = SELECT o FROM m WHERE login = $1\nnotify_roles = admin, app\n",
		    &cfg);
	assert_string_equal(cfg.tenant_notify_roles, "admin, app");
	pgw_config_free(&cfg);
	load_config("[tenant]\nmode = on\nsource = query\nconninfo = dbname=x\n"
		    "identity = startup_option\ntrusted_roles = app\n",
		    &cfg);
	assert_null(cfg.tenant_notify_roles);
	assert_string_equal(cfg.tenant_query, PGW_TENANT_DEFAULT_QUERY);
	pgw_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(uuid_syntax),
		cmocka_unit_test(map_file),
		cmocka_unit_test(signature),
		cmocka_unit_test_teardown(guard_verdicts, teardown_guard),
		cmocka_unit_test(notify_payloads),
		cmocka_unit_test(notify_senders_allowed),
		cmocka_unit_test(config_checks),
	};

	pgw_log_min_level = PGW_LOG_ERROR + 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
