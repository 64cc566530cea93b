/*
 * policy/, the guard: the real pipeline driven with real configurations loaded from files,
 * so [guard] and role_rules parsing are exercised too. Table-driven from
 * tests/data/policy/guard.tsv, run as Query and as Parse, in enforce and in detect mode; then
 * the cases the table cannot spell, the defaults and set_config over FunctionCall. No sockets,
 * no mocks.
 */
#include "policy_test_util.h"

static const char guard_ini[] = "[guard]\n"
				"mode = %s\n"
				"rules = all\n"
				"role_rules = migrator: drop_database; admin: none\n";

static void load_guard_config(const char *mode, struct pgw_config *cfg)
{
	char text[512];

	snprintf(text, sizeof(text), guard_ini, mode);
	load_config(text, cfg);
	assert_int_equal(cfg->guard_mode,
			 strcmp(mode, "detect") == 0 ? PGW_GUARD_DETECT : PGW_GUARD_ENFORCE);
	assert_int_equal(cfg->guard_default_rules, PGW_SQL_GUARD_RULES);
	assert_int_equal(cfg->nguard_roles, 2);
}

/* Query: the text and its NUL. Parse: name, text, no parameter types. */
static void build_sql_msg(struct buf *b, char type, const char *sql, size_t len)
{
	b->n = 0;
	if (type == 'P')
		put_cstr(b, "s1");
	put_bytes(b, sql, len);
	put_bytes(b, "", 1);
	if (type == 'P')
		put_u16(b, 0);
}

static enum pgw_verdict run_sql(struct pgw_policy_ctx *ctx, char type, const char *sql, size_t len)
{
	static struct buf b;

	build_sql_msg(&b, type, sql, len);
	return run(ctx, type, b.data, b.n);
}

/* ---- guard.tsv ---- */

struct guard_case {
	const char *file;
	int lineno;
	const char *role; /* NULL for "-" */
	bool refuse;
	const char *rule, *sqlstate;
	char sql[4096];
	size_t sqllen;
};

/* Splits one non-comment line; the pointers point into <line>. */
static void parse_case(char *line, struct guard_case *gc)
{
	char *col[5], *save = line;

	for (int i = 0; i < 4; i++) {
		char *tab = strchr(save, '\t');

		if (tab == NULL)
			fail_msg("%s:%d: expected 5 tab-separated columns", gc->file, gc->lineno);
		*tab = '\0';
		col[i] = save;
		save = tab + 1;
	}
	col[4] = save;
	gc->role = strcmp(col[0], "-") == 0 ? NULL : col[0];
	if (strcmp(col[1], "pass") != 0 && strcmp(col[1], "refuse") != 0)
		fail_msg("%s:%d: verdict must be pass or refuse", gc->file, gc->lineno);
	gc->refuse = strcmp(col[1], "refuse") == 0;
	gc->rule = col[2];
	gc->sqlstate = col[3];
	gc->sqllen = tsv_decode_sql(col[4], gc->sql, sizeof(gc->sql), gc->file, gc->lineno);
}

/* The detection behind a refusal that describes its statement; -1 for the others. */
static int rule_flag(const char *rule)
{
	int f;

	if (strcmp(rule, "text_form_unseen") == 0)
		return PGW_SQL_TEXT_FORM_UNSEEN;
	f = pgw_sql_flag_by_name(rule);
	return f >= 0 && (PGW_SQL_BIT(f) & PGW_SQL_GUARD_RULES) ? f : -1;
}

static bool is_guard_rule(const char *rule)
{
	int f = pgw_sql_flag_by_name(rule);

	return f >= 0 && (PGW_SQL_BIT(f) & PGW_SQL_GUARD_RULES);
}

static bool contains(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

/*
 * Checks one refusal in detail: the rule and SQLSTATE, a message that names the rule and
 * the statement (as sql/ describes it), a hint for every rule that can give one.
 */
static bool check_refusal(const struct guard_case *gc, const struct pgw_refusal *r,
			  struct pgw_sql_cache *own, char *why, size_t whylen)
{
	char want[128];
	int flag = rule_flag(gc->rule);

	if (r->rule == NULL || strcmp(r->rule, gc->rule) != 0 || r->sqlstate == NULL ||
	    strcmp(r->sqlstate, gc->sqlstate) != 0) {
		snprintf(why, whylen, "refused as %s/%s", r->rule ? r->rule : "(null)",
			 r->sqlstate ? r->sqlstate : "(null)");
		return false;
	}
	snprintf(want, sizeof(want), "(rule %s)", gc->rule);
	if (strncmp(r->message, "pgward: ", 8) != 0 || !contains(r->message, want)) {
		snprintf(why, whylen, "message does not name the rule: %s", r->message);
		return false;
	}
	if (flag >= 0) {
		const struct pgw_sql_info *info = pgw_sql_inspect(own, gc->sql, gc->sqllen);
		const char *desc = pgw_sql_info_desc(info, (enum pgw_sql_flag)flag);
		bool ok = desc != NULL && contains(r->message, desc);

		snprintf(why, whylen, "message lacks the statement \"%s\": %s",
			 desc ? desc : "(null)", r->message);
		pgw_sql_info_unref(info);
		if (!ok)
			return false;
	}
	if (is_guard_rule(gc->rule)) {
		snprintf(want, sizeof(want), "role \"%s\"", gc->role ? gc->role : "");
		if (!contains(r->message, want)) {
			snprintf(why, whylen, "message does not name %s: %s", want, r->message);
			return false;
		}
	}
	if (flag >= 0 && r->hint[0] == '\0') {
		snprintf(why, whylen, "no hint");
		return false;
	}
	return true;
}

typedef bool (*guard_case_fn)(const struct guard_case *gc, struct pgw_policy_ctx *ctx,
			      struct pgw_sql_cache *own, char *why, size_t whylen);

/* Runs <fn> on every case of tests/data/policy/guard.tsv; reports each mismatch and returns
 * how many there were. */
static int run_guard_tsv(const struct pgw_config *cfg, guard_case_fn fn)
{
	const char *dir = getenv("PGWARD_TEST_DATA");
	char path[512], line[8192], orig[8192], why[1024];
	struct pgw_sql_cache *own = pgw_sql_cache_new(1000, 64u << 20);
	int cases = 0, failures = 0;
	struct guard_case gc = {.file = "guard.tsv"};
	FILE *f;

	snprintf(path, sizeof(path), "%s/policy/guard.tsv", dir ? dir : "tests/data");
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(own);
	while (fgets(line, sizeof(line), f)) {
		struct pgw_policy_ctx ctx = {.cfg = cfg, .sid = 1};

		gc.lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		memcpy(orig, line, strlen(line) + 1);
		parse_case(line, &gc);
		ctx.user = gc.role;
		cases++;
		why[0] = '\0';
		if (!fn(&gc, &ctx, own, why, sizeof(why))) {
			failures++;
			print_error("guard.tsv:%d: [%s] %s\n    expected: %s %s %s\n    got:      "
				    "%s\n",
				    gc.lineno, gc.role ? gc.role : "-", orig,
				    gc.refuse ? "refuse" : "pass", gc.rule, gc.sqlstate, why);
		}
	}
	fclose(f);
	pgw_sql_cache_free(own);
	print_message("guard.tsv: %d cases, %d failed\n", cases, failures);
	return cases >= 100 ? failures : -1;
}

/* The expected verdict, as Query and as Parse. */
static bool enforce_case(const struct guard_case *gc, struct pgw_policy_ctx *ctx,
			 struct pgw_sql_cache *own, char *why, size_t whylen)
{
	static const char types[] = {'Q', 'P'};

	for (size_t i = 0; i < sizeof(types); i++) {
		enum pgw_verdict v = run_sql(ctx, types[i], gc->sql, gc->sqllen);
		size_t n;

		if (v != (gc->refuse ? PGW_REFUSE : PGW_PASS)) {
			snprintf(why, whylen, "'%c': %s %s", types[i],
				 v == PGW_PASS ? "pass" : "refuse",
				 v == PGW_PASS ? "" : ctx->refusal.message);
			return false;
		}
		if (v == PGW_PASS)
			continue;
		n = (size_t)snprintf(why, whylen, "'%c': ", types[i]);
		if (!check_refusal(gc, &ctx->refusal, own, why + n, whylen - n))
			return false;
	}
	return true;
}

static uint64_t detected_total(void)
{
	uint64_t n = 0;

	for (int f = 0; f < PGW_SQL_NFLAGS; f++)
		n += pgw_guard_detected(f);
	return n;
}

/* Detect mode: guard rules let the statement through and count it; integrity still refuses. */
static bool detect_case(const struct guard_case *gc, struct pgw_policy_ctx *ctx,
			struct pgw_sql_cache *own, char *why, size_t whylen)
{
	bool guard_rule = gc->refuse && is_guard_rule(gc->rule);
	int flag = guard_rule ? pgw_sql_flag_by_name(gc->rule) : 0;
	uint64_t before = pgw_guard_detected(flag), total = detected_total();
	enum pgw_verdict v = run_sql(ctx, 'Q', gc->sql, gc->sqllen);

	if (guard_rule) {
		if (v != PGW_PASS) {
			snprintf(why, whylen, "refused in detect mode: %s", ctx->refusal.message);
			return false;
		}
		if (pgw_guard_detected(flag) != before + 1 || detected_total() != total + 1) {
			snprintf(why, whylen, "detected[%s] %llu -> %llu, total %llu -> %llu",
				 gc->rule, (unsigned long long)before,
				 (unsigned long long)pgw_guard_detected(flag),
				 (unsigned long long)total, (unsigned long long)detected_total());
			return false;
		}
		return true;
	}
	if (v != (gc->refuse ? PGW_REFUSE : PGW_PASS)) {
		snprintf(why, whylen, "%s in detect mode", v == PGW_PASS ? "pass" : "refuse");
		return false;
	}
	if (detected_total() != total) {
		snprintf(why, whylen, "counted, but no guard rule applies");
		return false;
	}
	return v == PGW_PASS || check_refusal(gc, &ctx->refusal, own, why, whylen);
}

static void guard_table(void **state)
{
	struct pgw_config cfg;
	int failures;

	(void)state;
	load_guard_config("enforce", &cfg);
	failures = run_guard_tsv(&cfg, enforce_case);
	pgw_config_free(&cfg);
	assert_int_equal(failures, 0);
}

static void guard_table_detect(void **state)
{
	struct pgw_config cfg;
	int failures;

	(void)state;
	load_guard_config("detect", &cfg);
	failures = run_guard_tsv(&cfg, detect_case);
	pgw_config_free(&cfg);
	assert_int_equal(failures, 0);
}

/* Detect mode, one statement in detail: passes, counts once per message, under its rule. */
static void detect_counts(void **state)
{
	struct pgw_config cfg;
	struct pgw_policy_ctx ctx = {.cfg = NULL, .user = "app"};
	uint64_t drop = pgw_guard_detected(PGW_SQL_DROP_TABLE);
	uint64_t cascade = pgw_guard_detected(PGW_SQL_CASCADE);
	const char *sql = "DROP TABLE users CASCADE";

	(void)state;
	load_guard_config("detect", &cfg);
	ctx.cfg = &cfg;
	for (int i = 0; i < 3; i++)
		assert_int_equal(run_sql(&ctx, 'Q', sql, strlen(sql)), PGW_PASS);
	assert_null(ctx.refusal.rule);
	assert_int_equal(pgw_guard_detected(PGW_SQL_DROP_TABLE), drop + 3);
	assert_int_equal(pgw_guard_detected(PGW_SQL_CASCADE), cascade);
	/* admin has no rules: nothing to detect */
	ctx.user = "admin";
	assert_int_equal(run_sql(&ctx, 'Q', sql, strlen(sql)), PGW_PASS);
	assert_int_equal(pgw_guard_detected(PGW_SQL_DROP_TABLE), drop + 3);
	/* out of range */
	assert_int_equal(pgw_guard_detected(-1), 0);
	assert_int_equal(pgw_guard_detected(PGW_SQL_NFLAGS), 0);
	pgw_config_free(&cfg);
}

/* The ones the table cannot spell. */
static void guard_special_cases(void **state)
{
	struct pgw_config cfg;
	struct pgw_policy_ctx ctx = {.cfg = NULL, .user = "admin"};
	size_t n = 20000, len = 7 + 2 * n + 1;
	char *deep = malloc(len + 1 + 8);
	static struct buf b;

	(void)state;
	load_guard_config("enforce", &cfg);
	ctx.cfg = &cfg;

	/* nested too deeply to inspect: refused for every role, even admin */
	assert_non_null(deep);
	memcpy(deep, "SELECT ", 7);
	for (size_t i = 0; i < n; i++)
		memcpy(deep + 7 + 2 * i, "1+", 2);
	deep[len - 1] = '1';
	/* a keyword every role needs makes the guard parse it (not in a comment: those are
	 * spaces to the reading pgward inspects); without one it is not parsed */
	memcpy(deep + len, ";RESET x", 8);
	len += 8;
	deep[len] = '\0';
	assert_int_equal(run_sql(&ctx, 'Q', deep, len), PGW_REFUSE);
	assert_string_equal(ctx.refusal.rule, "too_complex");
	assert_string_equal(ctx.refusal.sqlstate, "54001");
	assert_non_null(strstr(ctx.refusal.message, "(rule too_complex)"));
	assert_true(ctx.refusal.hint[0] != '\0');
	/* again, from the cache or not: same answer */
	assert_int_equal(run_sql(&ctx, 'P', deep, len), PGW_REFUSE);
	assert_string_equal(ctx.refusal.rule, "too_complex");
	free(deep);

	/* a Query ends at its first NUL, as the server reads it (which then rejects the rest) */
	ctx.user = "app";
	assert_int_equal(run_sql(&ctx, 'Q', "SELECT 1\0DROP TABLE x", 21), PGW_PASS);
	assert_int_equal(run_sql(&ctx, 'Q', "DROP TABLE x\0SELECT 1", 21), PGW_REFUSE);
	assert_string_equal(ctx.refusal.rule, "drop_table");

	/* Parse with an unnamed statement, and with parameter types */
	b.n = 0;
	put_cstr(&b, "");
	put_cstr(&b, "DELETE FROM t");
	put_u16(&b, 1);
	put_u32(&b, 23);
	assert_int_equal(run(&ctx, 'P', b.data, b.n), PGW_REFUSE);
	assert_string_equal(ctx.refusal.rule, "delete_without_where");
	assert_non_null(strstr(ctx.refusal.message, "DELETE FROM t"));

	/* the statement name is not SQL */
	b.n = 0;
	put_cstr(&b, "DROP TABLE x");
	put_cstr(&b, "SELECT 1");
	put_u16(&b, 0);
	assert_int_equal(run(&ctx, 'P', b.data, b.n), PGW_PASS);

	/* malformed: no NUL anywhere; the server reports it */
	assert_int_equal(run(&ctx, 'Q', (const uint8_t *)"DROP TABLE x", 12), PGW_PASS);
	assert_int_equal(run(&ctx, 'P', (const uint8_t *)"s1", 2), PGW_PASS);
	b.n = 0;
	put_cstr(&b, "s1");
	put_bytes(&b, "DROP TABLE x", 12);
	assert_int_equal(run(&ctx, 'P', b.data, b.n), PGW_PASS);
	assert_int_equal(run(&ctx, 'Q', (const uint8_t *)"", 0), PGW_PASS);

	/* Bind is not SQL: the guard leaves it alone */
	b.n = 0;
	put_cstr(&b, "");
	put_cstr(&b, "DROP TABLE x");
	put_u16(&b, 0);
	put_u16(&b, 0);
	put_u16(&b, 0);
	assert_int_equal(run(&ctx, 'B', b.data, b.n), PGW_PASS);

	/* no login role: the default rules */
	ctx.user = NULL;
	assert_int_equal(run_sql(&ctx, 'Q', "TRUNCATE t", 10), PGW_REFUSE);
	assert_string_equal(ctx.refusal.rule, "truncate");
	assert_non_null(strstr(ctx.refusal.message, "role \"\""));
	pgw_config_free(&cfg);
}

/* Without [guard], nothing but the integrity rules is refused. */
static void guard_defaults(void **state)
{
	struct pgw_config cfg;
	struct pgw_policy_ctx ctx = {.cfg = NULL, .user = "app"};
	static const char *const harmless_by_default[] = {
		"DROP TABLE users",   "DELETE FROM t",	    "SET ROLE admin",
		"DO $$ BEGIN END $$", "GRANT admin TO app",
	};

	(void)state;
	pgw_config_defaults(&cfg);
	ctx.cfg = &cfg;
	assert_int_equal(pgw_config_guard_rules(&cfg, "app"), 0);
	for (size_t i = 0; i < PGW_ARRAY_LEN(harmless_by_default); i++)
		assert_int_equal(
			run_sql(&ctx, 'Q', harmless_by_default[i], strlen(harmless_by_default[i])),
			PGW_PASS);
	assert_int_equal(run_sql(&ctx, 'Q', "ALTER SYSTEM SET client_encoding = 'SJIS'", 41),
			 PGW_REFUSE);
	assert_string_equal(ctx.refusal.rule, "text_form_unseen");
	pgw_config_free(&cfg);
}

/*
 * A FunctionCall ('F') message runs a function by OID with no SQL text: 2078 is
 * set_config(text, text, bool). set_config('standard_conforming_strings', 'off', false)
 * this way changes how the server reads every later string literal while pgward goes on
 * parsing with it on, e.g. SELECT 'a\' , ' ; DROP TABLE t; --' is one harmless SELECT to
 * pgward and a DROP TABLE to the server. The same route sets role and client_encoding.
 */
static void function_call_set_config(void **state)
{
	static const struct {
		const char *name, *value;
	} gucs[] = {
		{"standard_conforming_strings", "off"},
		{"client_encoding", "SJIS"},
		{"role", "postgres"},
	};
	struct pgw_config cfg;
	struct pgw_policy_ctx ctx = {.cfg = NULL, .user = "app"};
	static struct buf b;
	int missed = 0;

	(void)state;
	load_guard_config("enforce", &cfg);
	ctx.cfg = &cfg;
	for (size_t i = 0; i < PGW_ARRAY_LEN(gucs); i++) {
		b.n = 0;
		put_u32(&b, 2078); /* set_config */
		put_u16(&b, 0);	   /* all arguments in text format */
		put_u16(&b, 3);
		put_u32(&b, (uint32_t)strlen(gucs[i].name));
		put_bytes(&b, gucs[i].name, strlen(gucs[i].name));
		put_u32(&b, (uint32_t)strlen(gucs[i].value));
		put_bytes(&b, gucs[i].value, strlen(gucs[i].value));
		put_u32(&b, 5);
		put_bytes(&b, "false", 5);
		put_u16(&b, 0); /* result in text */
		if (run(&ctx, 'F', b.data, b.n) == PGW_REFUSE)
			continue;
		print_error("FunctionCall set_config('%s', '%s', false) was let through\n",
			    gucs[i].name, gucs[i].value);
		missed++;
	}
	pgw_config_free(&cfg);
	assert_int_equal(missed, 0);
}

/* SHOW RULES' example for each statement rule raises that rule, and each has a safe form. */
static void rule_examples_raise_their_rule(void **state)
{
	struct pgw_sql_cache *cache = pgw_sql_cache_new(100, 16u << 20);
	int missed = 0;

	(void)state;
	for (int f = 0; f < PGW_SQL_NFLAGS; f++) {
		const struct pgw_sql_info *info;
		const char *example, *instead;

		if (!(PGW_SQL_BIT(f) & PGW_SQL_GUARD_RULES))
			continue;
		pgw_guard_rule_doc(f, &example, &instead);
		info = pgw_sql_inspect(cache, example, strlen(example));
		if (instead[0] == '\0' || info == NULL || info->status != PGW_SQL_OK ||
		    !(info->flags & PGW_SQL_BIT(f))) {
			print_error("%s: example \"%s\" does not raise it, or no safe form\n",
				    pgw_sql_flag_name((enum pgw_sql_flag)f), example);
			missed++;
		}
		pgw_sql_info_unref(info);
	}
	pgw_sql_cache_free(cache);
	assert_int_equal(missed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* guard.tsv */
		cmocka_unit_test(guard_table),
		cmocka_unit_test(guard_table_detect),
		/* in detail */
		cmocka_unit_test(detect_counts),
		cmocka_unit_test(guard_special_cases),
		cmocka_unit_test(guard_defaults),
		cmocka_unit_test(function_call_set_config),
		cmocka_unit_test(rule_examples_raise_their_rule),
	};

	/* detect mode logs every statement it lets through; keep the output to the results */
	pgw_log_min_level = PGW_LOG_ERROR;
	return cmocka_run_group_tests_name("policy_guard", tests, NULL, teardown_guard);
}
