/*
 * policy/: the real pipeline (size_guard, then guard) driven with real configurations loaded
 * from files, so [limits], [guard] and role_rules parsing are exercised too. The guard is
 * table-driven from tests/data/policy/guard.tsv, run as Query and as Parse, in enforce and
 * in detect mode; payload limits from C tables. No sockets, no mocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgward/config.h"
#include "pgward/log.h"
#include "pgward/policy.h"
#include "pgward/sql.h"

#define ERRLEN 512

static const char guard_ini[] = "[guard]\n"
				"mode = %s\n"
				"rules = all\n"
				"role_rules = migrator: drop_database; admin: none\n";

static const char limits_ini[] = "[limits]\n"
				 "max_message_size = 4kB\n"
				 "max_query_size = 1kB\n"
				 "max_bind_param_size = 100B\n"
				 "max_bind_params = 3\n"
				 "max_copy_data_size = 2kB\n";

/* Writes <text> to a temporary file and loads it into <cfg>; fails the test on error. */
static void load_config(const char *text, struct pgw_config *cfg)
{
	char path[] = "/tmp/pgward-test-policy-XXXXXX", err[ERRLEN];
	int fd = mkstemp(path);
	size_t len = strlen(text);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	if (pgw_config_load(path, cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	unlink(path);
}

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

/* ---- messages ---- */

struct buf {
	uint8_t data[65536];
	size_t n;
};

static void put_bytes(struct buf *b, const void *p, size_t len)
{
	assert_true(b->n + len <= sizeof(b->data));
	memcpy(b->data + b->n, p, len);
	b->n += len;
}

static void put_cstr(struct buf *b, const char *s)
{
	put_bytes(b, s, strlen(s) + 1);
}

static void put_u16(struct buf *b, uint16_t v)
{
	uint8_t be[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	put_bytes(b, be, sizeof(be));
}

static void put_u32(struct buf *b, uint32_t v)
{
	uint8_t be[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	put_bytes(b, be, sizeof(be));
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

/* What the relay does: the header stage, then, if it passed, the whole message. */
static enum pgw_verdict run(struct pgw_policy_ctx *ctx, char type, const uint8_t *body, size_t len)
{
	struct pgw_msg_view m = {.type = type, .len = (uint32_t)len, .body = NULL};

	memset(&ctx->refusal, 0, sizeof(ctx->refusal));
	if (pgw_pipeline_header(ctx, &m) != PGW_PASS)
		return PGW_REFUSE;
	assert_true(pgw_policy_needs_body(type));
	m.body = body;
	return pgw_pipeline_message(ctx, &m);
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

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes \\ \n \t \xHH; any other backslash is a mistake in the table. */
static void decode_sql(struct guard_case *gc, const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		char c = *s;

		if (c == '\\') {
			s++;
			if (*s == '\\')
				c = '\\';
			else if (*s == 'n')
				c = '\n';
			else if (*s == 't')
				c = '\t';
			else if (*s == 'x' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
				c = (char)(hexval(s[1]) * 16 + hexval(s[2]));
				s += 2;
			} else
				fail_msg("%s:%d: bad escape \\%c", gc->file, gc->lineno, *s);
		}
		assert_true(n < sizeof(gc->sql));
		gc->sql[n++] = c;
	}
	gc->sqllen = n;
}

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
	decode_sql(gc, col[4]);
}

/* The detection behind a refusal that describes its statement; -1 for the others. */
static int rule_flag(const char *rule)
{
	int f;

	if (strcmp(rule, "client_encoding") == 0)
		return PGW_SQL_ENCODING_NOT_UTF8;
	if (strcmp(rule, "standard_conforming_strings") == 0)
		return PGW_SQL_SCS_OFF;
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
	char *deep = malloc(len + 1);
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
	assert_int_equal(run_sql(&ctx, 'Q', "SET client_encoding = 'SJIS'", 28), PGW_REFUSE);
	assert_string_equal(ctx.refusal.rule, "client_encoding");
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
	put_bytes(&b, "SELECT ", 7);
	while (b.n < 1999)
		put_bytes(&b, " ", 1);
	put_bytes(&b, "1", 2);
	m.len = (uint32_t)b.n;
	m.body = b.data;
	assert_int_equal(pgw_pipeline_message(&ctx, &m), PGW_REFUSE);
	assert_string_equal(ctx.refusal.rule, "query_size");
	assert_string_equal(ctx.refusal.sqlstate, "54000");
	/* the largest Query the header admits is parsed */
	b.n = 0;
	put_bytes(&b, "SELECT ", 7);
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

static int teardown_guard(void **state)
{
	(void)state;
	pgw_guard_shutdown();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(guard_table),
		cmocka_unit_test(guard_table_detect),
		cmocka_unit_test(detect_counts),
		cmocka_unit_test(guard_special_cases),
		cmocka_unit_test(guard_defaults),
		cmocka_unit_test(function_call_set_config),
		cmocka_unit_test(size_headers),
		cmocka_unit_test(size_query_not_parsed),
		cmocka_unit_test(size_bind),
		cmocka_unit_test(size_bind_malformed),
		cmocka_unit_test(size_bind_negative_length),
	};

	/* detect mode logs every statement it lets through; keep the output to the results */
	pgw_log_min_level = PGW_LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, teardown_guard);
}
