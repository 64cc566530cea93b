/*
 * pgw_sql_scs_off_form against the server's own scanner (scs_oracle.h): for every text of a
 * corpus (tests/data, the fuzz seeds, pg_regress-like strings, texts generated from a fixed
 * seed), the text read with standard_conforming_strings off and its form read with it on
 * must both be refused or parse to the same tree. pgward's own reading of the form
 * (pgw_text_form_read, pgw_sql_inspect) must follow: the same statements, and the values of
 * app.user_org_ids that the server sets.
 */
#include "sql_test_util.h"
#include "scs_oracle.h"

#include <ctype.h>
#include <dirent.h>
#include <cJSON.h>

#include "pgward/sql_lex.h"
#include "pgward/text_form.h"

#define GUC_WATCHED "app.user_org_ids"

struct counts {
	int texts, verdicts[SCS_DISAGREE + 1];
	int rewritten; /* the form is not the text */
	int mattered;  /* and reading the text itself with the setting on is wrong */
	int inspected, bad_encoding, guc_values;
	int failures; /* disagreements and pgward checks that failed */
};

static struct pgw_sql_cache *cache;

/* <s> for a message: escapes for what is not printable ASCII, cut after <max> bytes. */
static void print_text(const char *what, const char *s, size_t len)
{
	size_t max = 600;

	print_error("    %s: ", what);
	for (size_t i = 0; i < len && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n')
			print_error("\\n");
		else if (c < 0x20 || c >= 0x7f)
			print_error("\\x%02x", c);
		else
			print_error("%c", c);
	}
	print_error("%s\n", len > max ? "..." : "");
}

static void failed(struct counts *n, const char *where, const char *why, const char *text,
		   size_t len, const struct scs_outcome *o)
{
	if (n->failures++ >= 20)
		return;
	print_error("%s: %s\n", where, why);
	print_text("text", text, len);
	if (o) {
		print_text("form", o->form, o->form_len);
		print_text("server", o->server.tree ? o->server.tree : o->server.error,
			   strlen(o->server.tree ? o->server.tree : o->server.error));
		print_text("pgward", o->pgward.tree ? o->pgward.tree : o->pgward.error,
			   strlen(o->pgward.tree ? o->pgward.tree : o->pgward.error));
	}
}

/* ---- the values of GUC_WATCHED the server's tree sets ---- */

static const cJSON *node_of(const cJSON *wrapped, const char *type)
{
	return cJSON_GetObjectItemCaseSensitive(wrapped, type);
}

/* The text of a string constant node ({"A_Const":{"sval":{"sval":...}}}), or NULL. */
static const char *const_string(const cJSON *node)
{
	const cJSON *sval = cJSON_GetObjectItemCaseSensitive(node_of(node, "A_Const"), "sval");
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(sval, "sval");

	if (!cJSON_IsObject(sval))
		return NULL;
	return cJSON_IsString(s) ? s->valuestring : ""; /* '' has no inner sval */
}

static bool watched(const char *name)
{
	char low[sizeof(GUC_WATCHED)];
	size_t i;

	if (!name || strlen(name) != sizeof(GUC_WATCHED) - 1)
		return false;
	for (i = 0; name[i]; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[i] = '\0';
	return strcmp(low, GUC_WATCHED) == 0;
}

/* pgward saw a write of <value> to GUC_WATCHED by <route>. */
static bool pgward_has(const struct pgw_sql_info *info, enum pgw_sql_guc_route route,
		       const char *value)
{
	for (size_t i = 0; i < info->ngucs; i++) {
		const struct pgw_sql_guc *g = &info->gucs[i];

		if (g->route == route && !g->reset && g->value &&
		    strcmp(g->name, GUC_WATCHED) == 0 && strcmp(g->value, value) == 0)
			return true;
	}
	return false;
}

/*
 * Every set_config('app.user_org_ids', '<value>', ...) of the server's tree (but under
 * EXPLAIN, which runs nothing) and SET app.user_org_ids = '<value>' statement, arguments
 * plain constants: pgward must report that value. How many were checked, -1 after a miss.
 */
static int check_gucs(const cJSON *node, const struct pgw_sql_info *info, bool top)
{
	const cJSON *fc = node_of(node, "FuncCall");
	const cJSON *vs = top ? node_of(node, "VariableSetStmt") : NULL;
	const cJSON *child;
	int checked = 0;

	if (node_of(node, "ExplainStmt"))
		return 0;
	if (fc) {
		const cJSON *names = cJSON_GetObjectItemCaseSensitive(fc, "funcname");
		const cJSON *args = cJSON_GetObjectItemCaseSensitive(fc, "args");
		const cJSON *last = cJSON_GetArrayItem(names, cJSON_GetArraySize(names) - 1);
		const cJSON *fname =
			cJSON_GetObjectItemCaseSensitive(node_of(last, "String"), "sval");
		const char *value = const_string(cJSON_GetArrayItem(args, 1));

		if (cJSON_IsString(fname) && strcmp(fname->valuestring, "set_config") == 0 &&
		    watched(const_string(cJSON_GetArrayItem(args, 0))) && value) {
			if (!pgward_has(info, PGW_SQL_GUC_SET_CONFIG, value))
				return -1;
			checked++;
		}
	}
	if (vs) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(vs, "name");
		const cJSON *args = cJSON_GetObjectItemCaseSensitive(vs, "args");
		const char *value = const_string(cJSON_GetArrayItem(args, 0));

		if (cJSON_IsString(name) && watched(name->valuestring) &&
		    cJSON_GetArraySize(args) == 1 && value) {
			if (!pgward_has(info, PGW_SQL_GUC_SESSION, value) &&
			    !pgward_has(info, PGW_SQL_GUC_LOCAL, value))
				return -1;
			checked++;
		}
	}
	cJSON_ArrayForEach(child, node)
	{
		/* {"stmts":[{"stmt":{"VariableSetStmt":...}}]}: a statement of its own */
		int c = check_gucs(child, info,
				   child->string && (strcmp(child->string, "stmts") == 0 ||
						     strcmp(child->string, "stmt") == 0));

		if (c < 0)
			return -1;
		checked += c;
	}
	return checked;
}

/* ---- one text ---- */

/* What pgward makes of <text> with the setting off agrees with the server's tree. */
static void check_pgward(const char *where, const char *text, size_t len,
			 const struct scs_outcome *o, struct counts *n)
{
	static const struct pgw_text_form off = {PGW_ENC_UTF8, PGW_ENC_UTF8, false};
	struct pgw_enc_error err;
	char *read = NULL;
	size_t read_len = 0;
	int r = pgw_text_form_read(&off, text, len, &read, &read_len, &err);
	const struct pgw_sql_info *info;

	if (r == PGW_ENC_INVALID) {
		n->bad_encoding++; /* the server refuses it before its scanner sees it */
		return;
	}
	if (r != (o->form_result ? PGW_ENC_CONVERTED : PGW_ENC_SAME) ||
	    (r == PGW_ENC_CONVERTED &&
	     (read_len != o->form_len || memcmp(read, o->form, read_len) != 0))) {
		failed(n, where, "pgw_text_form_read is not pgw_sql_server_form", text, len, o);
		free(read);
		return;
	}
	free(read);
	info = pgw_sql_inspect(cache, o->form, o->form_len);
	n->inspected++;
	if (o->server.tree && o->verdict == SCS_SAME_TREE) {
		cJSON *tree = cJSON_Parse(o->server.tree);
		int stmts = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(tree, "stmts"));
		int checked = 0;

		if (info->status == PGW_SQL_OK && tree)
			checked = check_gucs(tree, info, false);
		if (info->status == PGW_SQL_OK && tree && (size_t)stmts != info->nstmts)
			failed(n, where, "pgw_sql_inspect counts other statements", text, len, o);
		else if (info->status != PGW_SQL_OK && info->status != PGW_SQL_TOO_COMPLEX)
			failed(n, where, "pgw_sql_inspect refuses what the server runs", text, len,
			       o);
		else if (checked < 0)
			failed(n, where, "pgw_sql_inspect misses a value of " GUC_WATCHED, text,
			       len, o);
		else
			n->guc_values += checked;
		cJSON_Delete(tree);
	} else if (!o->pgward.tree && info->status == PGW_SQL_OK) {
		failed(n, where, "pgw_sql_inspect reads what libpg_query refuses", text, len, o);
	}
	pgw_sql_info_unref(info);
}

/* <text> must hold no NUL (the protocol's strings end at one): the part before one is used. */
static void check_text(const char *where, const char *text, size_t len, struct counts *n)
{
	struct scs_outcome o;
	struct scs_reading plain;
	char *s;

	len = strnlen(text, len);
	s = scs_must(malloc(len + 1));
	memcpy(s, text, len);
	s[len] = '\0';
	n->texts++;
	if (!scs_tiles(s, len, true) || !scs_tiles(s, len, false))
		failed(n, where, "the tokens do not tile the text", s, len, NULL);
	scs_compare(s, len, &o);
	n->verdicts[o.verdict]++;
	if (o.verdict == SCS_DISAGREE)
		failed(n, where, "the server and pgward read the text differently", s, len, &o);
	if (o.form_result == 1) {
		n->rewritten++;
		if (!scs_form_tokens_match(s, len, o.form, o.form_len))
			failed(n, where, "the form's tokens are not the text's", s, len, &o);
		scs_read(o.server_text, true, &plain);
		if (!plain.tree != !o.server.tree ||
		    (plain.tree && strcmp(plain.tree, o.server.tree) != 0))
			n->mattered++;
		scs_reading_free(&plain);
	}
	if (o.verdict != SCS_LIBPG_COMMENT)
		check_pgward(where, s, len, &o, n);
	scs_outcome_free(&o);
	free(s);
}

static void report(const char *name, const struct counts *n)
{
	print_message("%s: %d texts: %d parsed alike, %d refused by both, %d refused by the "
		      "server only (U&'' with the setting off), %d misread by libpg_query "
		      "whatever the setting (-- inside a constant, no form), %d disagreements; "
		      "%d rewritten, %d of them misread without the rewrite; pgward: %d "
		      "inspected, %d bad encoding, %d values of " GUC_WATCHED " checked; %d "
		      "failures\n",
		      name, n->texts, n->verdicts[SCS_SAME_TREE], n->verdicts[SCS_BOTH_REFUSE],
		      n->verdicts[SCS_SERVER_REFUSES_UNICODE], n->verdicts[SCS_LIBPG_COMMENT],
		      n->verdicts[SCS_DISAGREE], n->rewritten, n->mattered, n->inspected,
		      n->bad_encoding, n->guc_values, n->failures);
}

/* ---- the oracle itself ---- */

static int setup(void **state)
{
	(void)state;
	if (!scs_oracle_works()) {
		print_error("test_sql_scs_oracle: the oracle does not work, nothing it says could "
			    "be believed\n");
		return -1;
	}
	cache = pgw_sql_cache_new(BIG_CACHE);
	return cache ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	pgw_sql_cache_free(cache);
	return 0;
}

static void oracle_reads_setting(void **state)
{
	struct scs_reading r;

	(void)state;
	assert_true(scs_oracle_works());
	/* the injection the rewriting exists for: one constant with the setting off */
	scs_read("SELECT 'a\\'; DROP TABLE x; --'", false, &r);
	assert_non_null(r.tree);
	assert_null(strstr(r.tree, "DropStmt"));
	scs_reading_free(&r);
	scs_read("SELECT 'a\\'; DROP TABLE x; --'", true, &r);
	assert_non_null(r.tree);
	assert_non_null(strstr(r.tree, "DropStmt"));
	scs_reading_free(&r);
	/* U&'' is refused with the setting off */
	scs_read("SELECT U&'a'", false, &r);
	assert_true(scs_unicode_refusal(&r));
	scs_reading_free(&r);
	/*
	 * Where libpg_query is not the server (PostgreSQL 15.20 reads 'ab' for both): it returns
	 * -- comments as tokens and so continues no constant past one. The oracle reads texts
	 * with those comments blank (scs_compare); should this ever change, so may the oracle.
	 */
	scs_read("SELECT 'a' -- c\n'b'", true, &r);
	assert_null(r.tree);
	scs_reading_free(&r);
	scs_read("SELECT 'a'     \n'b'", true, &r);
	assert_non_null(r.tree);
	assert_non_null(strstr(r.tree, "\"sval\":\"ab\""));
	scs_reading_free(&r);
	/* and the locations are gone, wherever they were in an object */
	{
		char *s = scs_strip_locations("{\"location\":1,\"a\":{\"b\":\"\\\"location\\\":2\","
					      "\"location\":-1},\"stmt_len\":3,\"c\":[{\"d\":1,"
					      "\"location\":4,\"e\":2}]}");

		assert_string_equal(s, "{\"a\":{\"b\":\"\\\"location\\\":2\"},\"c\":[{\"d\":1,"
				       "\"e\":2}]}");
		free(s);
	}
}

/* ---- tests/data and the fuzz seeds ---- */

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long size;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = scs_must(malloc((size_t)size + 1));
		*len = fread(buf, 1, (size_t)size, f);
		buf[*len] = '\0';
	}
	fclose(f);
	return buf;
}

/* The escapes of the policy tables (tests/data/policy): \\ \n \t \xHH. */
static size_t unescape(const char *s, size_t len, char *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned int x;

		if (s[i] != '\\' || i + 1 >= len) {
			out[n++] = s[i];
		} else if (s[i + 1] == 'n' || s[i + 1] == 't' || s[i + 1] == '\\') {
			out[n++] = s[i + 1] == 'n' ? '\n' : s[i + 1] == 't' ? '\t' : '\\';
			i++;
		} else if (s[i + 1] == 'x' && i + 3 < len && sscanf(s + i + 2, "%2x", &x) == 1) {
			out[n++] = (char)x;
			i += 3;
		} else {
			out[n++] = s[i];
		}
	}
	return n;
}

/* Each line's last column, as written and unescaped. */
static void tsv_texts(const char *where, char *buf, struct counts *n)
{
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		char *sql = strrchr(line, '\t'), *un;
		size_t len, un_len;

		if (line[0] == '#' || !sql)
			continue;
		sql++;
		len = strlen(sql);
		check_text(where, sql, len, n);
		un = scs_must(malloc(len + 1));
		un_len = unescape(sql, len, un);
		if (un_len != len || memcmp(un, sql, len) != 0)
			check_text(where, un, un_len, n);
		free(un);
	}
}

/* The whole script, and each statement of it (cut at ';' outside parentheses). */
static void sql_texts(const char *where, const char *buf, size_t len, struct counts *n)
{
	struct pgw_lexer lx;
	struct pgw_lex_tok t;
	size_t from = 0;
	int depth = 0;

	check_text(where, buf, len, n);
	pgw_lex_init(&lx, buf, len, true);
	while (pgw_lex_next(&lx, &t)) {
		char c = buf[t.start];

		if (t.kind != PGW_TOK_OTHER)
			continue;
		depth += c == '(' ? 1 : c == ')' ? -1 : 0;
		if (c == ';' && depth <= 0) {
			check_text(where, buf + from, t.start + 1 - from, n);
			from = t.start + 1;
			depth = 0;
		}
	}
	if (from < len)
		check_text(where, buf + from, len - from, n);
}

/* Every file of <dir>: .tsv and .sql by their rows and statements, others whole. */
static void dir_texts(const char *dir, size_t skip, struct counts *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int files = 0;

	if (!d)
		fail_msg("cannot open %s", dir);
	while ((e = readdir(d)) != NULL) {
		char path[1024];
		size_t len = 0, nlen = strlen(e->d_name);
		char *buf;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		buf = read_file(path, &len);
		if (!buf)
			continue;
		files++;
		if (nlen > 4 && strcmp(e->d_name + nlen - 4, ".tsv") == 0)
			tsv_texts(path, buf, n);
		else if (nlen > 4 && strcmp(e->d_name + nlen - 4, ".sql") == 0)
			sql_texts(path, buf, len, n);
		else if (len >= skip)
			check_text(path, buf + skip, len - skip, n);
		free(buf);
	}
	closedir(d);
	assert_true(files > 0);
}

static void data_corpus(void **state)
{
	const char *data = getenv("PGWARD_TEST_DATA");
	static const char *const dirs[] = {"sql", "policy", "squawk", "../fuzz/corpus/sql"};
	struct counts n = {0};
	char path[1024];

	(void)state;
	if (!data)
		data = "tests/data";
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", data, dirs[i]);
		dir_texts(path, 0, &n);
	}
	/* fuzz_scs's seeds: a byte that says how to read the rest, then the text */
	snprintf(path, sizeof(path), "%s/../fuzz/corpus/scs", data);
	dir_texts(path, 1, &n);
	report("tests/data and fuzz seeds", &n);
	assert_true(n.texts > 1000);
	assert_int_equal(n.failures, 0);
}

/* ---- pg_regress-like texts: what clients of a server with the setting off send ---- */

static const char *const regress_texts[] = {
	/* strings.sql, "SET standard_conforming_strings = off" */
	"SELECT 'a\\\\bcd' AS f1, 'a\\\\b\\'cd' AS f2, 'a\\\\b\\'''cd' AS f3, 'abcd\\\\'   AS f4, "
	"'ab\\\\\\'cd' AS f5, '\\\\\\\\' AS f6",
	"SELECT E'a\\\\bcd' AS f1, E'a\\\\b\\'cd' AS f2, E'a\\\\b\\'''cd' AS f3, E'abcd\\\\'   AS "
	"f4, E'ab\\\\\\'cd' AS f5, E'\\\\\\\\' AS f6",
	"SELECT 'first line'\n' - next line'\n\t' - third line'\n\tAS \"Three lines to one\"",
	"SELECT 'first line'\n' - next line' /* this comment is not allowed here */\n' - third "
	"line'\n\tAS \"Illegal comment within continuation\"",
	"SELECT U&'d\\0061t\\+000061' AS U&\"d\\0061t\\+000061\"",
	"SELECT U&'d!0061t\\+000061' UESCAPE '!' AS U&\"d*0061t\\+000061\" UESCAPE '*'",
	"SELECT 'tricky' AS U&\"\\\" UESCAPE '!'",
	"SELECT U&'wrong: \\061'",
	"SELECT E'\\\\xDeAdBeEf'::bytea, '\\\\x'::bytea, 'De\\\\123dBeEf'::bytea",
	"SELECT E'De\\\\678dBeEf'::bytea",
	"SELECT 'De\\\\000dBeEf'::bytea",
	"SELECT E'\\u0061\\U00000062', 'caf\\u00e9', 'caf\\xc3\\xa9', 'x\\0y'",
	"SELECT '\\ud83d\\ude00', '\\ud83d', 'a\\u00'",
	"SELECT 'abc' LIKE 'a\\\\_c' ESCAPE '\\\\', 'a_c' LIKE 'a\\_c'",
	"SELECT regexp_replace('a\\\\b', '\\\\\\\\', '/', 'g')",
	"SELECT $$\\$$, $q$'\\'$q$, $q$ $$ \\ ' $q$",
	"COPY t FROM STDIN WITH (NULL '\\N', DELIMITER '\\t')",
	"CREATE FUNCTION f() RETURNS text LANGUAGE sql AS 'SELECT ''a\\\\b'' || ''\\''''",
	"DO 'BEGIN RAISE NOTICE ''%'', ''\\''; END'",
	"SELECT 1 AS \"a\\\", 'b\\'c' AS \"\\\"",
	"SELECT N'a\\'b', n'\\\\', N'plain', NCHAR 'x', NATIONAL CHARACTER '\\z'",
	"SELECT B'10\\', X'1F', b'1'\n'0', x'a'\n-- c\n'b'",
	"SELECT 'a' -- c ' \\\n'\\'b', 'c'\n\n\n'd\\'e'",
	"SELECT date'2020-01-01', abc'x\\'y', int4'1\\2'",
	"SELECT 'a\\'; DROP TABLE x; --'",
	"SELECT set_config('app.user_org_ids', '1\\', false); DROP TABLE x; --', false)",
	"SELECT set_config('app.user\\_org_ids', '7', false)",
	"SELECT set_config(E'app.user\\x5forg_ids', '8\\'9', true)",
	"SELECT set_config('app.user_org_ids', N'1\\,2', false)",
	"SET app.user_org_ids = '1\\'; SET row_security = off; --'",
	"SET app.user_org_ids TO 'a\\\\'",
	"INSERT INTO t VALUES ('\\x41\\102\\u0043', E'\\'', 'it''s', '\\'\\'')",
	"UPDATE t SET a = 'x\\' WHERE b = 1; DELETE FROM t; --' WHERE c = 2",
	"SELECT '\\\\' || '\\\\\\'' || $1 || 'é\\ü' || '\\€'",
	"SELECT 'a'\r\n'\\b'\r'\\c'",
	"SELECT 'a'\v\n'\\b'",
	"SELECT 'a' /* '\\' */ , '\\'' -- '\\",
	"SELECT /* /* '\\' */ ' */ 'x\\'y'",
	"PREPARE p AS SELECT '\\'' || $1; EXECUTE p('\\\\')",
	"SELECT 'unterminated\\",
	"SELECT 'unterminated\\'",
	"SELECT 1; SELECT '\\';",
	"NOTIFY ch, 'a\\'b'; SELECT pg_notify('c\\h', 'x')",
	"SELECT 'x' UESCAPE '\\'",
	"SELECT U&'x' UESCAPE '\\'",
	"SELECT 'a' '\\b'",
	"SELECT array['\\'', '\\\\']::text[], '{\"\\\\\"}'::text[]",
	"SELECT '\\\n'",
	"SELECT ''''\\''",
	"SELECT '\\''''",
};

static void regress_corpus(void **state)
{
	struct counts n = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(regress_texts) / sizeof(regress_texts[0]); i++) {
		char where[32];

		snprintf(where, sizeof(where), "regress_texts[%zu]", i);
		check_text(where, regress_texts[i], strlen(regress_texts[i]), &n);
	}
	report("pg_regress-like", &n);
	assert_true(n.rewritten > 30);
	assert_true(n.mattered > 20);
	assert_int_equal(n.failures, 0);
}

/* ---- texts generated from a fixed seed ---- */

struct gen {
	uint64_t state;
	char buf[2048];
	size_t len;
};

static uint64_t next_random(struct gen *g)
{
	uint64_t z = (g->state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static size_t below(struct gen *g, size_t n)
{
	return (size_t)(next_random(g) % n);
}

#define PICK(g, a) ((a)[below(g, sizeof(a) / sizeof((a)[0]))])

static void put(struct gen *g, const char *s)
{
	size_t len = strlen(s);

	if (g->len + len < sizeof(g->buf)) {
		memcpy(g->buf + g->len, s, len);
		g->len += len;
	}
}

/*
 * What may be inside a constant: escapes, quotes, comment starts, UTF-8. The rare ones
 * mostly make the text one the server refuses (an invalid escape, a quote that ends the
 * constant early), so they come one time in eight.
 */
static const char *const body_bits[] = {
	"a",
	"b c",
	"\\'",
	"''",
	"\\\\",
	"\\n",
	"\\t",
	"\\b",
	"\\x41",
	"\\101",
	"\\7",
	"\\u00e9",
	"\\U0001F600",
	"\\ud83d\\ude00",
	"é",
	"€",
	"\\é",
	"--",
	"/*",
	"*/",
	"$$",
	"$a$",
	"\"",
	";",
	" DROP TABLE x; ",
	"\n",
	"\r\n",
	"%",
	"_",
	"\\_",
	"\\\n",
	",",
	"1",
	"\\xc3\\xa9",
	"\\\\'' ; --",
};
static const char *const rare_body_bits[] = {
	"\\", "'", "\\x80", "\\0", "\\u", "\\ud83d", "\\x4", "'';",
};

static const char *const prefixes[] = {"", "", "", "", "", "", "E", "e", "N", "n"};
static const char *const rare_prefixes[] = {"U&", "B", "X", "date", "abc", "x", " "};

/* Between the parts of a constant: whitespace with a newline, -- comments. */
static const char *const continuations[] = {
	"\n", " \n ", "\r\n", " -- c\n", "\n-- c '\n", "\n  --\n\t", "--c\n", "\n\n", "\f\n",
};
/* Not one (two constants in a row: the server mostly refuses them) */
static const char *const rare_continuations[] = {" ", "\t", "\v\n", "\n/* c */"};

#define PICK_RARELY(g, common, rare) (below(g, 8) ? PICK(g, common) : PICK(g, rare))

static void body(struct gen *g)
{
	for (size_t i = below(g, 6); i > 0; i--)
		put(g, PICK_RARELY(g, body_bits, rare_body_bits));
}

static void literal(struct gen *g)
{
	put(g, PICK_RARELY(g, prefixes, rare_prefixes));
	put(g, "'");
	body(g);
	put(g, "'");
	while (below(g, 4) == 0) {
		put(g, PICK_RARELY(g, continuations, rare_continuations));
		put(g, "'");
		body(g);
		put(g, "'");
	}
}

static void guc_name(struct gen *g)
{
	static const char *const names[] = {
		"'app.user_org_ids'",	   "'app.user_org_ids'",      "'app.user\\_org_ids'",
		"E'app.user\\x5forg_ids'", "'app.user_org_ids\\'",    "N'app.user_org_ids'",
		"'APP.user_org_ids'",	   "'app.user_org_ids'\n'x'", "'app.user''_org_ids'",
	};

	put(g, PICK(g, names));
}

static void item(struct gen *g)
{
	static const char *const idents[] = {"abc", "\"q\"\"i\"", "U&\"a\\0041\"", "é", "\"\\\""};
	static const char *const dollars[] = {"$$", "$a$", "$é$"};
	const char *d;

	switch (below(g, 14)) {
	case 0:
		put(g, PICK(g, idents));
		break;
	case 1:
		put(g, below(g, 2) ? "1" : "$1");
		break;
	case 2:
		d = PICK(g, dollars);
		put(g, d);
		body(g);
		put(g, d);
		break;
	case 3:
		literal(g);
		put(g, "::text");
		break;
	case 4:
		put(g, "(");
		literal(g);
		put(g, " || ");
		literal(g);
		put(g, ")");
		break;
	case 5:
		put(g, "/* c ' */ ");
		literal(g);
		break;
	case 6:
		literal(g);
		put(g, " -- c '\n");
		break;
	case 7:
		put(g, "NCHAR ");
		literal(g);
		break;
	case 8:
		put(g, "set_config(");
		guc_name(g);
		put(g, ", ");
		literal(g);
		put(g, ", false)");
		break;
	case 9:
		put(g, "ARRAY[");
		literal(g);
		put(g, ", ");
		literal(g);
		put(g, "]");
		break;
	case 10:
		literal(g);
		put(g, " AS \"x\"");
		break;
	case 11:
		put(g, "U&'d!0061t' UESCAPE ");
		literal(g);
		break;
	default:
		literal(g);
		break;
	}
}

static void statement(struct gen *g)
{
	switch (below(g, 13)) {
	case 0:
	case 1:
	case 2:
		put(g, "SELECT ");
		item(g);
		while (below(g, 2)) {
			put(g, ", ");
			item(g);
		}
		if (below(g, 3) == 0) {
			put(g, " FROM t WHERE a = ");
			item(g);
		}
		break;
	case 3:
	case 4:
		put(g, "SELECT set_config(");
		guc_name(g);
		put(g, ", ");
		literal(g);
		put(g, below(g, 2) ? ", false)" : ", true)");
		break;
	case 5:
		put(g, below(g, 2) ? "SET app.user_org_ids = " : "SET LOCAL app.user_org_ids TO ");
		literal(g);
		break;
	case 6:
		put(g, "INSERT INTO t VALUES (");
		literal(g);
		put(g, ", ");
		item(g);
		put(g, ")");
		break;
	case 7:
		put(g, "UPDATE t SET a = ");
		literal(g);
		put(g, " WHERE b = ");
		item(g);
		break;
	case 8:
		put(g, "COMMENT ON TABLE t IS ");
		literal(g);
		break;
	case 9:
		put(g, "DO ");
		literal(g);
		break;
	case 10:
		put(g, "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS ");
		literal(g);
		break;
	case 11:
		put(g, "SELECT ");
		literal(g);
		put(g, " LIKE ");
		literal(g);
		put(g, " ESCAPE ");
		literal(g);
		break;
	default:
		put(g, "SELECT pg_notify(");
		literal(g);
		put(g, ", ");
		literal(g);
		put(g, ")");
		break;
	}
}

/* Statements of the shapes above, one to three, with ';' between. */
static void gen_statements(struct gen *g)
{
	static const char *const seps[] = {"; ", ";\n", ";", "; -- '\n"};

	g->len = 0;
	statement(g);
	while (below(g, 3) == 0) {
		put(g, PICK(g, seps));
		statement(g);
	}
	if (below(g, 4) == 0)
		put(g, ";");
}

/* Any sequence of the pieces that decide where tokens end. */
static void gen_soup(struct gen *g)
{
	static const char *const bits[] = {
		"SELECT ",
		"'",
		"''",
		"\\'",
		"\\\\",
		"\\",
		"E'",
		"N'",
		"n'",
		"U&'",
		"U&\"",
		"B'",
		"X'",
		"$$",
		"$a$",
		"$1",
		"a$b$",
		"\"",
		"--",
		"/*",
		"*/",
		"\n",
		" ",
		"\t",
		"\r",
		"\v",
		"\f",
		"x",
		"abc",
		"1",
		"1.5",
		",",
		"(",
		")",
		"||",
		"::",
		"set_config('app.user_org_ids', ",
		", false)",
		";",
		"é",
		"\\x41",
		"\\u00e9",
		"DROP TABLE t",
		" FROM t",
		"a",
		"'a'",
		"E",
		"N",
		"U&",
		"&",
		"-",
		"/",
		"*",
		"\\n",
		"$",
		"'\n'",
		"'--\n'",
	};

	g->len = 0;
	if (below(g, 2))
		put(g, "SELECT ");
	for (size_t i = 1 + below(g, 24); i > 0; i--)
		put(g, PICK(g, bits));
}

static void generated_corpus(void **state)
{
	struct gen g = {.state = UINT64_C(0x5c5c5c5c20231206)};
	struct counts n = {0};

	(void)state;
	for (int i = 0; i < 20000; i++) {
		char where[32];

		snprintf(where, sizeof(where), "generated[%d]", i);
		if (i % 3 == 2)
			gen_soup(&g);
		else
			gen_statements(&g);
		check_text(where, g.buf, g.len, &n);
	}
	report("generated", &n);
	assert_true(n.verdicts[SCS_SAME_TREE] > 4000);
	assert_true(n.mattered > 3000);
	assert_true(n.guc_values > 800);
	assert_int_equal(n.failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(oracle_reads_setting),
		cmocka_unit_test(data_corpus),
		cmocka_unit_test(regress_corpus),
		cmocka_unit_test(generated_corpus),
	};

	return cmocka_run_group_tests_name("sql_scs_oracle", tests, setup, teardown);
}
