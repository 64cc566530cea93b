/*
 * sql/, hostile input: the refusals made before and by the parser (parse errors, bad encoding,
 * texts too large), and statements nested deeply enough to kill an unprotected parser, on
 * both ways onto the big stack.
 */
#include "sql_test_util.h"

#include <sys/mman.h>
#include <unistd.h>

/* ---- refusals before and by the parser ---- */

static void parse_errors(void **state)
{
	struct pgw_sql_cache *c = pgw_sql_cache_new(BIG_CACHE);
	const struct pgw_sql_info *info = inspect(c, "SELEC 1");
	struct pgw_sql_cache_stats st;

	(void)state;
	assert_int_equal(info->status, PGW_SQL_PARSE_ERROR);
	assert_string_equal(info->error, "syntax error at or near \"SELEC\"");
	assert_int_equal(info->error_cursor, 1);
	assert_int_equal(info->nstmts, 0);
	assert_int_equal(info->flags, 0);
	pgw_sql_info_unref(info);

	/* negative results are cached too: no second parse */
	info = inspect(c, "SELEC 1");
	assert_int_equal(info->status, PGW_SQL_PARSE_ERROR);
	pgw_sql_info_unref(info);
	pgw_sql_cache_stats(c, &st);
	assert_int_equal(st.parses, 1);
	assert_int_equal(st.hits, 1);

	/* the cursor counts characters, not bytes */
	info = inspect(c, "SELECT 'é' FROM");
	assert_int_equal(info->status, PGW_SQL_PARSE_ERROR);
	assert_int_equal(info->error_cursor, 16);
	pgw_sql_info_unref(info);

	/* one bad statement fails the whole string, as in the server */
	info = inspect(c, "SELECT 1; SELEC 2; DROP TABLE x");
	assert_int_equal(info->status, PGW_SQL_PARSE_ERROR);
	assert_int_equal(info->flags, 0);
	pgw_sql_info_unref(info);

	info = inspect(c, "SELECT 'unterminated");
	assert_int_equal(info->status, PGW_SQL_PARSE_ERROR);
	pgw_sql_info_unref(info);
	info = inspect(c, "SELECT ?");
	assert_int_equal(info->status, PGW_SQL_PARSE_ERROR);
	pgw_sql_info_unref(info);
	pgw_sql_cache_free(c);
}

static void bad_encoding(void **state)
{
	static const struct {
		const char *text;
		size_t len;
		int at;
		const char *msg;
	} bad[] = {
#define B(s, at, msg) {s, sizeof(s) - 1, at, msg}
		B("SELECT '\xff'", 8, "invalid byte sequence for encoding \"UTF8\": 0xff"),
		B("SELECT '\xc3\x28'", 8, "invalid byte sequence for encoding \"UTF8\": 0xc3 0x28"),
		B("SELECT '\xc0\x80'", 8, "invalid byte sequence for encoding \"UTF8\": 0xc0 0x80"),
		B("SELECT '\xed\xa0\x80'", 8,
		  "invalid byte sequence for encoding \"UTF8\": 0xed 0xa0 0x80"),
		B("SELECT '\xf4\x90\x80\x80'", 8,
		  "invalid byte sequence for encoding \"UTF8\": 0xf4 0x90 0x80 0x80"),
		B("SELECT '\xe2\x82", 8, "invalid byte sequence for encoding \"UTF8\": 0xe2 0x82"),
		B("SELECT 1;\0DROP TABLE x", 9,
		  "invalid byte sequence for encoding \"UTF8\": 0x00"),
		B("SELECT 'abcdefgh\0'", 16, "invalid byte sequence for encoding \"UTF8\": 0x00"),
		B("/* \xfe */ SELECT 1", 3, "invalid byte sequence for encoding \"UTF8\": 0xfe"),
#undef B
	};
	struct pgw_sql_cache *c = pgw_sql_cache_new(BIG_CACHE);
	const struct pgw_sql_info *info;
	char longtext[2100];

	(void)state;
	for (size_t i = 0; i < PGW_ARRAY_LEN(bad); i++) {
		info = pgw_sql_inspect(c, bad[i].text, bad[i].len);
		assert_int_equal(info->status, PGW_SQL_BAD_ENCODING);
		assert_int_equal(info->error_cursor, bad[i].at);
		assert_string_equal(info->error, bad[i].msg);
		pgw_sql_info_unref(info);
	}
	info = inspect(c, "SELECT 'é€𝄞', \"ïdent\"");
	assert_int_equal(info->status, PGW_SQL_OK);
	pgw_sql_info_unref(info);

	/* past the 8-byte fast path */
	memset(longtext, 'x', sizeof(longtext));
	memcpy(longtext, "SELECT '", 8);
	memcpy(longtext + sizeof(longtext) - 1, "'", 1);
	longtext[2001] = (char)0x80;
	info = pgw_sql_inspect(c, longtext, sizeof(longtext));
	assert_int_equal(info->status, PGW_SQL_BAD_ENCODING);
	assert_int_equal(info->error_cursor, 2001);
	pgw_sql_info_unref(info);
	assert_int_equal(sql_utf8_check("abcdefg\0ijklmnop", 16), 7);
	assert_int_equal(sql_utf8_check("abcdefghijklmnop", 16), 16);
	pgw_sql_cache_free(c);
}

static void too_large(void **state)
{
	struct pgw_sql_cache *c = pgw_sql_cache_new(BIG_CACHE);
	struct pgw_sql_limits lim;
	struct pgw_sql_cache_stats st;
	const struct pgw_sql_info *info;
	char text[101];

	(void)state;
	pgw_sql_cache_get_limits(c, &lim);
	assert_int_equal(lim.max_parse_bytes, PGW_SQL_MAX_PARSE_BYTES);
	assert_int_equal(lim.max_cached_text, PGW_SQL_MAX_CACHED_TEXT);
	lim.max_parse_bytes = 100;
	assert_int_equal(pgw_sql_cache_set_limits(c, &lim), 0);
	memset(text, ' ', sizeof(text));
	memcpy(text, "DROP TABLE x", 12);

	info = pgw_sql_inspect(c, text, 101);
	assert_int_equal(info->status, PGW_SQL_TOO_LARGE);
	assert_int_equal(info->flags, 0);
	pgw_sql_info_unref(info);
	info = pgw_sql_inspect(c, text, 100);
	assert_int_equal(info->status, PGW_SQL_OK);
	assert_true(info->flags & PGW_SQL_BIT(PGW_SQL_DROP_TABLE));
	pgw_sql_info_unref(info);
	pgw_sql_cache_stats(c, &st);
	assert_int_equal(st.too_large, 1);
	assert_int_equal(st.parses, 1);

	lim.max_parse_bytes = 0;
	assert_int_equal(pgw_sql_cache_set_limits(c, &lim), -1);
	lim.max_parse_bytes = PGW_SQL_PARSE_BYTES_CAP + 1;
	assert_int_equal(pgw_sql_cache_set_limits(c, &lim), -1);
	pgw_sql_cache_free(c);
}

/* ---- deep nesting: must yield a result or an error, never kill the process ---- */

static char *repeat(const char *head, const char *unit, size_t n, const char *mid,
		    const char *tail_unit, const char *tail)
{
	size_t hl = strlen(head), ul = strlen(unit), ml = strlen(mid), tl = strlen(tail_unit);
	char *s = malloc(hl + n * (ul + tl) + ml + strlen(tail) + 1), *p = s;

	assert_non_null(s);
	memcpy(p, head, hl);
	p += hl;
	for (size_t i = 0; i < n; i++, p += ul)
		memcpy(p, unit, ul);
	memcpy(p, mid, ml);
	p += ml;
	for (size_t i = 0; i < n; i++, p += tl)
		memcpy(p, tail_unit, tl);
	strcpy(p, tail);
	return s;
}

struct deep {
	const char *name;
	char *sql;
};

static size_t make_deep(struct deep *d)
{
	size_t n = 0;

	d[n++] = (struct deep){"+-+- 5 KB", repeat("SELECT ", "+-", 2500, "1", "", "")};
	d[n++] = (struct deep){"+-+- 50 KB", repeat("SELECT ", "+-", 25000, "1", "", "")};
	d[n++] = (struct deep){"1+1+... 200 KB", repeat("SELECT 1", "+1", 100000, "", "", "")};
	d[n++] = (struct deep){"(SELECT (SELECT ... 3000 levels",
			       repeat("SELECT ", "(SELECT ", 3000, "1", ")", "")};
	d[n++] = (struct deep){"NOT NOT ... 9000", repeat("SELECT ", "NOT ", 9000, "true", "", "")};
	d[n++] = (struct deep){"f(f(... 3000", repeat("SELECT ", "f(", 3000, "1", ")", "")};
	d[n++] = (struct deep){"ARRAY[ARRAY[... 2000",
			       repeat("SELECT ", "ARRAY[", 2000, "1", "]", "")};
	d[n++] = (struct deep){"1::int::int... 20000",
			       repeat("SELECT 1", "::int", 20000, "", "", "")};
	d[n++] = (struct deep){"a||a||... 600", repeat("SELECT a", "||a", 600, "", "", " FROM t")};
	d[n++] = (struct deep){"((((1)))) 100000", repeat("SELECT ", "(", 100000, "1", ")", "")};
	return n;
}

static void deep_nesting(void **state)
{
	struct pgw_sql_cache *c = pgw_sql_cache_new(BIG_CACHE);
	struct deep d[16];
	size_t n = make_deep(d);
	char *worst;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		const struct pgw_sql_info *info = inspect(c, d[i].sql);

		print_message("deep %-32s %7zu B -> %s%s%s\n", d[i].name, strlen(d[i].sql),
			      pgw_sql_status_name(info->status), info->error ? ": " : "",
			      info->error ? info->error : "");
		assert_true(info->status == PGW_SQL_OK || info->status == PGW_SQL_PARSE_ERROR ||
			    info->status == PGW_SQL_TOO_COMPLEX);
		pgw_sql_info_unref(info);
		free(d[i].sql);
	}
	/* the worst case the default limit admits: a 1 MB left-deep chain */
	worst = repeat("SELECT 1", "+1", (PGW_SQL_MAX_PARSE_BYTES - 8) / 2, "", "", "");
	{
		const struct pgw_sql_info *info = inspect(c, worst);

		print_message("deep %-32s %7zu B -> %s\n", "1+1+... 1 MB (max_parse_bytes)",
			      strlen(worst), pgw_sql_status_name(info->status));
		assert_true(info->status == PGW_SQL_TOO_COMPLEX || info->status == PGW_SQL_OK);
		pgw_sql_info_unref(info);
	}
	free(worst);
	pgw_sql_cache_free(c);
}

static size_t resident(const struct sql_stack *s)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t pages = s->map_size / (size_t)page, n = 0;
	unsigned char *vec = malloc(pages);

	assert_non_null(vec);
	assert_int_equal(mincore(s->map, s->map_size, vec), 0);
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	return n * (size_t)page;
}

/* Touched pages of a fresh parser stack after one analysis; checks that a trim frees them. */
static size_t stack_used(bool use_ucontext, const char *sql, enum pgw_sql_status *status)
{
	struct sql_stack s = {0};
	struct pgw_sql_info *info;
	size_t used;

	assert_int_equal(sql_stack_init(&s, sql_stack_size_for(PGW_SQL_MAX_PARSE_BYTES)), 0);
	s.use_ucontext = use_ucontext;
	info = sql_analyze(&s, sql, strlen(sql), NULL);
	*status = info->status;
	pgw_sql_info_unref(info);
	used = resident(&s);
	sql_stack_trim(&s);
	assert_true(resident(&s) <= (1u << 20));
	sql_stack_free(&s);
	return used;
}

/* Both ways onto the big stack survive the deep cases; prints how much stack they use. */
static void stack_runners(void **state)
{
	struct deep d[16];
	size_t n = make_deep(d);

	(void)state;
	for (int uc = 0; uc < 2; uc++) {
		for (size_t i = 0; i < n; i++) {
			enum pgw_sql_status st;
			size_t used = stack_used(uc, d[i].sql, &st);

			print_message("%-9s %-32s -> %-11s stack %6zu KB (%.0f B/byte)\n",
				      uc ? "ucontext" : "stackcall", d[i].name,
				      pgw_sql_status_name(st), used >> 10,
				      (double)used / (double)strlen(d[i].sql));
			assert_true(st == PGW_SQL_OK || st == PGW_SQL_PARSE_ERROR ||
				    st == PGW_SQL_TOO_COMPLEX);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(d[i].sql);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* refusals before and by the parser */
		cmocka_unit_test(parse_errors),
		cmocka_unit_test(bad_encoding),
		cmocka_unit_test(too_large),
		/* deep nesting */
		cmocka_unit_test(deep_nesting),
		cmocka_unit_test(stack_runners),
	};

	return cmocka_run_group_tests_name("sql_hazards", tests, NULL, NULL);
}
