/*
 * sql/lexer.c: the token boundaries of PostgreSQL 15's scanner (letter tables, each token
 * with its kind, bytes and string flags) and pgw_sql_scs_off_form's rewriting. Every text,
 * and every prefix of it, is also lexed from a heap copy of exactly its length, so ASan
 * catches a read past the end of a text that stops inside a string or comment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgward/sql_lex.h"
#include "scs_oracle.h" /* scs_same_but_comments */

/* ---- token tables ---- */

struct want_tok {
	enum pgw_tok kind;
	const char *text;
	char prefix;
	bool escapes, backslash;
};

#define MAX_TOKS 12

struct lex_case {
	bool scs;
	const char *text;
	struct want_tok toks[MAX_TOKS]; /* up to the first with a NULL text */
};

#define W(s)                                                                                       \
	{                                                                                          \
		PGW_TOK_WORD, s, 0, false, false                                                   \
	}
#define SP(s)                                                                                      \
	{                                                                                          \
		PGW_TOK_SPACE, s, 0, false, false                                                  \
	}
#define OT(s)                                                                                      \
	{                                                                                          \
		PGW_TOK_OTHER, s, 0, false, false                                                  \
	}
#define NUM(s)                                                                                     \
	{                                                                                          \
		PGW_TOK_NUMBER, s, 0, false, false                                                 \
	}
#define PAR(s)                                                                                     \
	{                                                                                          \
		PGW_TOK_PARAM, s, 0, false, false                                                  \
	}
#define DOL(s)                                                                                     \
	{                                                                                          \
		PGW_TOK_DOLLAR, s, 0, false, false                                                 \
	}
#define QI(s, p)                                                                                   \
	{                                                                                          \
		PGW_TOK_QIDENT, s, p, false, false                                                 \
	}
#define BIT(s, p, bs)                                                                              \
	{                                                                                          \
		PGW_TOK_BITSTRING, s, p, false, bs                                                 \
	}
/* a string constant: its prefix, read with escapes, holds a backslash */
#define STR(s, p, esc, bs)                                                                         \
	{                                                                                          \
		PGW_TOK_STRING, s, p, esc, bs                                                      \
	}

#define ON  true
#define OFF false

static const struct lex_case lex_cases[] = {
	/* plain constants: doubled quotes; a backslash escapes only with the setting off */
	{ON,
	 "SELECT 'a''b' FROM t",
	 {W("SELECT"), SP(" "), STR("'a''b'", 0, 0, 0), SP(" "), W("FROM"), SP(" "), W("t")}},
	{ON, "'a\\'b'", {STR("'a\\'", 0, 0, 1), BIT("b'", 'B', 0)}},
	{OFF, "'a\\'b'", {STR("'a\\'b'", 0, 1, 1)}},
	{OFF, "'a\\\\' x", {STR("'a\\\\'", 0, 1, 1), SP(" "), W("x")}},
	{OFF, "'a\\\\''b'", {STR("'a\\\\''b'", 0, 1, 1)}},
	{ON, "'a\\\\''b'", {STR("'a\\\\''b'", 0, 0, 1)}},
	{OFF, "'a\\''''", {STR("'a\\''''", 0, 1, 1)}},
	{OFF, "'ab' 'c'", {STR("'ab'", 0, 1, 0), SP(" "), STR("'c'", 0, 1, 0)}},
	/* prefixes, either case */
	{ON, "E'a\\'b'", {STR("E'a\\'b'", 'E', 1, 1)}},
	{OFF, "e'\\\\'", {STR("e'\\\\'", 'E', 1, 1)}},
	{ON, "N'a\\b'", {STR("N'a\\b'", 'N', 0, 1)}},
	{OFF, "n'a\\'b'", {STR("n'a\\'b'", 'N', 1, 1)}},
	{OFF,
	 "U&'a\\0041' UESCAPE '!'",
	 {STR("U&'a\\0041'", 'U', 0, 1), SP(" "), W("UESCAPE"), SP(" "), STR("'!'", 0, 1, 0)}},
	{OFF, "u&'a\\'c'", {STR("u&'a\\'", 'U', 0, 1), W("c"), STR("'", 0, 1, 0)}},
	{OFF, "U&\"a\"\"b\\\"", {QI("U&\"a\"\"b\\\"", 'U')}},
	{OFF, "U& 'a'", {W("U"), OT("&"), SP(" "), STR("'a'", 0, 1, 0)}},
	{ON, "B'01' X'1F'", {BIT("B'01'", 'B', 0), SP(" "), BIT("X'1F'", 'X', 0)}},
	{OFF, "b'0\\'", {BIT("b'0\\'", 'B', 1)}},
	{ON, "b'0''1'", {BIT("b'0'", 'B', 0), STR("'1'", 0, 0, 0)}},
	{OFF, "x'1'\n'2'", {BIT("x'1'\n'2'", 'X', 0)}},
	/* dollar quotes, $n, and $ inside identifiers */
	{OFF, "$$a'b\\$$x", {DOL("$$a'b\\$$"), W("x")}},
	{OFF, "$tag$ a $ b $$ $t$ 'x\\' $tag$;", {DOL("$tag$ a $ b $$ $t$ 'x\\' $tag$"), OT(";")}},
	{OFF, "$a$$a$", {DOL("$a$$a$")}},
	{OFF, "$a$ x $ab$ $a$", {DOL("$a$ x $ab$ $a$")}},
	{OFF, "$é$'$é$", {DOL("$é$'$é$")}},
	{ON, "$1, $23a", {PAR("$1"), OT(","), SP(" "), PAR("$23"), W("a")}},
	{OFF, "a$b$ 'c'", {W("a$b$"), SP(" "), STR("'c'", 0, 1, 0)}},
	{OFF, "$a 'x'", {OT("$"), W("a"), SP(" "), STR("'x'", 0, 1, 0)}},
	{OFF, "$1$a$", {PAR("$1"), DOL("$a$")}},
	{OFF, "$", {OT("$")}},
	/* quoted identifiers */
	{OFF, "\"a\"\"b'c\\\" 'd'", {QI("\"a\"\"b'c\\\"", 0), SP(" "), STR("'d'", 0, 1, 0)}},
	{OFF, "\"\"", {QI("\"\"", 0)}},
	/* comments hold quotes; slash-star nests */
	{OFF, "-- it's\n'x'", {SP("-- it's"), SP("\n"), STR("'x'", 0, 1, 0)}},
	{OFF, "/* a /* b ' */ c */'x\\'y'", {SP("/* a /* b ' */ c */"), STR("'x\\'y'", 0, 1, 1)}},
	{OFF, "/**/x", {SP("/**/"), W("x")}},
	{OFF, "/*/ ' */x", {SP("/*/ ' */"), W("x")}},
	{OFF, "/* **/ '", {SP("/* **/"), SP(" "), STR("'", 0, 1, 0)}},
	{OFF, "+--'\n-'", {OT("+"), SP("--'"), SP("\n"), OT("-"), STR("'", 0, 1, 0)}},
	{OFF, "*/*'*/'", {OT("*"), SP("/*'*/"), STR("'", 0, 1, 0)}},
	/* continuation: whitespace holding a newline, -- comments included, then a quote */
	{OFF, "'a'\n'b\\c'", {STR("'a'\n'b\\c'", 0, 1, 1)}},
	{OFF, "'a' -- x\n'b'", {STR("'a' -- x\n'b'", 0, 1, 0)}},
	{OFF, "'a'\n-- x\n  'b'x", {STR("'a'\n-- x\n  'b'", 0, 1, 0), W("x")}},
	{OFF, "'a' \r\n\t\f'b'", {STR("'a' \r\n\t\f'b'", 0, 1, 0)}},
	{OFF, "'a'\r'b'", {STR("'a'\r'b'", 0, 1, 0)}},
	{OFF, "'a' 'b\\'c'", {STR("'a'", 0, 1, 0), SP(" "), STR("'b\\'c'", 0, 1, 1)}},
	{OFF,
	 "'a' /* c */\n'b'",
	 {STR("'a'", 0, 1, 0), SP(" "), SP("/* c */"), SP("\n"), STR("'b'", 0, 1, 0)}},
	{OFF,
	 "'a'\n/* c */'b'",
	 {STR("'a'", 0, 1, 0), SP("\n"), SP("/* c */"), STR("'b'", 0, 1, 0)}},
	/* \v is no whitespace in PostgreSQL 15's scanner */
	{OFF, "'a'\v\n'b'", {STR("'a'", 0, 1, 0), OT("\v"), SP("\n"), STR("'b'", 0, 1, 0)}},
	{OFF, "'a'\n\v'b'", {STR("'a'", 0, 1, 0), SP("\n"), OT("\v"), STR("'b'", 0, 1, 0)}},
	{OFF, "'a'\n-'b'", {STR("'a'", 0, 1, 0), SP("\n"), OT("-"), STR("'b'", 0, 1, 0)}},
	{OFF, "'a'\n--", {STR("'a'", 0, 1, 0), SP("\n"), SP("--")}},
	{OFF, "E'a'\n'\\''", {STR("E'a'\n'\\''", 'E', 1, 1)}},
	{ON, "U&'a'\n'\\'", {STR("U&'a'\n'\\'", 'U', 0, 1)}},
	{OFF, "N'a'\n'b\\'c'", {STR("N'a'\n'b\\'c'", 'N', 1, 1)}},
	/* a word right before a constant */
	{OFF, "date'2020-01-01'", {W("date"), STR("'2020-01-01'", 0, 1, 0)}},
	{OFF, "abc'x\\'y'", {W("abc"), STR("'x\\'y'", 0, 1, 1)}},
	{OFF, "xN'a\\b'", {W("xN"), STR("'a\\b'", 0, 1, 1)}},
	{OFF, "xe'a'", {W("xe"), STR("'a'", 0, 1, 0)}},
	{OFF, "xU&'a'", {W("xU"), OT("&"), STR("'a'", 0, 1, 0)}},
	{OFF, "é'\\''", {W("é"), STR("'\\''", 0, 1, 1)}},
	{OFF, "1'a'", {NUM("1"), STR("'a'", 0, 1, 0)}},
	/* multi-byte UTF-8 around backslashes: a backslash escapes one byte */
	{OFF, "'é\\'ü'", {STR("'é\\'ü'", 0, 1, 1)}},
	{OFF, "'\\é' x", {STR("'\\é'", 0, 1, 1), SP(" "), W("x")}},
	{OFF, "'€\\\\' '", {STR("'€\\\\'", 0, 1, 1), SP(" "), STR("'", 0, 1, 0)}},
	/* numbers */
	{ON,
	 "1.5e3x .5 1..2 1e+",
	 {NUM("1.5e3"), W("x"), SP(" "), NUM(".5"), SP(" "), NUM("1"), OT(".."), NUM("2"), SP(" "),
	  NUM("1"), W("e"), OT("+")}},
	/* texts that end inside something: the token runs to the end */
	{OFF, "'abc", {STR("'abc", 0, 1, 0)}},
	{OFF, "'abc\\", {STR("'abc\\", 0, 1, 1)}},
	{OFF, "'abc\\'", {STR("'abc\\'", 0, 1, 1)}},
	{ON, "E'\\", {STR("E'\\", 'E', 1, 1)}},
	{OFF, "N'", {STR("N'", 'N', 1, 0)}},
	{OFF, "U&'", {STR("U&'", 'U', 0, 0)}},
	{OFF, "U&\"x", {QI("U&\"x", 'U')}},
	{OFF, "U&", {W("U"), OT("&")}},
	{OFF, "B'01", {BIT("B'01", 'B', 0)}},
	{OFF, "\"ab\"\"", {QI("\"ab\"\"", 0)}},
	{OFF, "/* /* */ '", {SP("/* /* */ '")}},
	{OFF, "/*", {SP("/*")}},
	{OFF, "/", {OT("/")}},
	{OFF, "-", {OT("-")}},
	{OFF, "$a$ x $a", {DOL("$a$ x $a")}},
	{OFF, "$a$", {DOL("$a$")}},
	{OFF, "'a'\n", {STR("'a'", 0, 1, 0), SP("\n")}},
	{OFF, "'a'\n'", {STR("'a'\n'", 0, 1, 0)}},
	{OFF, "", {{0}}},
};

/* <s> in a heap block of exactly <len> bytes, no NUL after it: ASan sees any overread. */
static char *exact_copy(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);

	assert_non_null(p);
	memcpy(p, s, len);
	return p;
}

/* Lexes <s> to its end: the tokens tile it (each starts where the last ended, none empty). */
static size_t lex_all(const char *s, size_t len, bool scs, struct pgw_lex_tok *toks, size_t max)
{
	struct pgw_lexer lx;
	struct pgw_lex_tok t;
	size_t n = 0, at = 0;

	pgw_lex_init(&lx, s, len, scs);
	while (pgw_lex_next(&lx, &t)) {
		assert_int_equal(t.start, at);
		assert_true(t.len > 0);
		assert_true(t.kind != PGW_TOK_END);
		at += t.len;
		assert_true(at <= len);
		if (n < max)
			toks[n] = t;
		n++;
	}
	assert_int_equal(t.kind, PGW_TOK_END);
	assert_int_equal(t.start, len);
	assert_int_equal(at, len);
	assert_false(pgw_lex_next(&lx, &t)); /* and stays at the end */
	return n;
}

static void lex_tokens(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(lex_cases) / sizeof(lex_cases[0]); i++) {
		const struct lex_case *c = &lex_cases[i];
		size_t len = strlen(c->text), want = 0, n;
		struct pgw_lex_tok got[MAX_TOKS + 1];
		char *s = exact_copy(c->text, len);

		while (want < MAX_TOKS && c->toks[want].text)
			want++;
		n = lex_all(s, len, c->scs, got, MAX_TOKS + 1);
		if (n != want)
			fail_msg("case %zu (%s): %zu tokens, want %zu", i, c->text, n, want);
		for (size_t k = 0; k < n; k++) {
			const struct want_tok *w = &c->toks[k];
			const struct pgw_lex_tok *g = &got[k];

			if (g->kind != w->kind || g->len != strlen(w->text) ||
			    memcmp(s + g->start, w->text, g->len) != 0 || g->prefix != w->prefix ||
			    g->escapes != w->escapes || g->backslash != w->backslash)
				fail_msg(
					"case %zu (%s), token %zu: kind %d '%.*s' prefix %d esc %d "
					"bs %d; want kind %d '%s' prefix %d esc %d bs %d",
					i, c->text, k, g->kind, (int)g->len, s + g->start,
					g->prefix, g->escapes, g->backslash, w->kind, w->text,
					w->prefix, w->escapes, w->backslash);
		}
		free(s);
	}
}

/* ---- pgw_sql_scs_off_form ---- */

struct form_case {
	const char *text;
	const char *want; /* NULL: returns 0, the text reads the same with the setting on */
};

static const struct form_case form_cases[] = {
	{"SELECT 'a\\'b'", "SELECT  E'a\\'b'"},
	{"SELECT 'a\\\\'", "SELECT  E'a\\\\'"},
	{"SELECT 'a\\'; DROP TABLE x; --'", "SELECT  E'a\\'; DROP TABLE x; --'"},
	{"SELECT '\\\\', '\\''", "SELECT  E'\\\\',  E'\\''"},
	/* no backslash in a plain constant: nothing to do */
	{"SELECT 'ab'", NULL},
	{"", NULL},
	{"SELECT 'ab', E'\\n', e'\\''", NULL},
	{"SELECT U&'a\\0041', U&\"b\\0041\", u&'\\'", NULL},
	{"SELECT B'0\\1', X'\\'", NULL},
	{"SELECT $$a\\'b$$, $a$ '\\' $a$", NULL},
	{"SELECT \"a\\\", 'b'", NULL},
	{"-- it's \\\nSELECT 'x'", NULL},
	{"SELECT 1 /* \\ ' */", NULL},
	{"SELECT \\", NULL},
	{"SELECT N'ab', n'c'", NULL},
	/* N'...' is NCHAR and a plain constant */
	{"SELECT N'a\\b'", "SELECT  NCHAR E'a\\b'"},
	{"SELECT n'a\\'b'", "SELECT  NCHAR E'a\\'b'"},
	{"SELECT N'ab', 'c\\d'", "SELECT N'ab',  E'c\\d'"},
	{"SELECT xN'a\\b'", "SELECT xN E'a\\b'"},
	/* the backslash may be where the server does not look for one */
	{"/* ' \\ */ SELECT 'x\\y'", "/* ' \\ */ SELECT  E'x\\y'"},
	{"SELECT \"\\\" || 'x\\y'", "SELECT \"\\\" ||  E'x\\y'"},
	/* continuation: one constant, one E; the same line does not continue */
	{"SELECT 'a'\n'b\\c'", "SELECT  E'a'\n'b\\c'"},
	/*
	 * libpg_query returns -- comments as tokens, so unlike the server it does not continue a
	 * constant past one: a comment between the parts becomes spaces, or libpg_query would
	 * read the second part without escapes (here: a DROP that the server does not run, or
	 * none where the server runs one).
	 */
	{"SELECT 'a' -- c\n'b\\c'", "SELECT  E'a'     \n'b\\c'"},
	{"SELECT 'a'\n-- c '\n\t-- d\n'b\\''", "SELECT  E'a'\n      \n\t    \n'b\\''"},
	{"DO 'BEGIN END; --' -- c\n'\\'' ; DROP TABLE x; -- '",
	 "DO  E'BEGIN END; --'     \n'\\'' ; DROP TABLE x; -- '"},
	{"SELECT 'a\\\\'--c\n'b' -- d\n'c' -- e", "SELECT  E'a\\\\'   \n'b'     \n'c' -- e"},
	{"SELECT N'a'--c\n'\\\\'", "SELECT  NCHAR E'a'   \n'\\\\'"},
	/* in every constant of a text rewritten, so that all of it reads as the server reads it */
	{"SELECT 'a' -- c\n'b', 'c\\d', B'1' -- e\n'0', E'\\\\' -- f\n'g'",
	 "SELECT 'a'     \n'b',  E'c\\d', B'1'     \n'0', E'\\\\'     \n'g'"},
	{"SELECT 'a' -- c\n'b'", NULL},
	{"SELECT 'a' 'b\\c'", "SELECT 'a'  E'b\\c'"},
	{"SELECT 'a'\v\n'b\\c'", "SELECT 'a'\v\n E'b\\c'"},
	{"SELECT N'a'\n'b\\c'", "SELECT  NCHAR E'a'\n'b\\c'"},
	{"SELECT E'a'\n'b\\c'", NULL},
	/* a word or a number right before: the space keeps E a word of its own */
	{"SELECT abc'x\\'y'", "SELECT abc E'x\\'y'"},
	{"SELECT date'2020\\-01-01'", "SELECT date E'2020\\-01-01'"},
	{"SELECT $1'a\\b'", "SELECT $1 E'a\\b'"},
	{"SELECT 1'a\\b'", "SELECT 1 E'a\\b'"},
	{"SELECT set_config('app.user\\_org_ids', '1', false)",
	 "SELECT set_config( E'app.user\\_org_ids', '1', false)"},
	/* multi-byte UTF-8 */
	{"SELECT 'é\\'ü', é'\\é'", "SELECT  E'é\\'ü', é E'\\é'"},
	/* unterminated: rewritten all the same (the server refuses the text either way) */
	{"SELECT 'a\\", "SELECT  E'a\\"},
	{"SELECT 'a\\'", "SELECT  E'a\\'"},
	{"'\\", " E'\\"},
	{"N'\\", " NCHAR E'\\"},
};

/*
 * The rewritten text read with the setting on gives <text>'s tokens read with it off, but
 * for the spaces: each rewritten constant now E'...', after NCHAR for N'...', and comments
 * inside constants spaces.
 */
static void check_form_tokens(const char *text, size_t len, const char *out, size_t out_len)
{
	struct pgw_lexer a, b;
	struct pgw_lex_tok ta, tb;

	pgw_lex_init(&a, text, len, false);
	pgw_lex_init(&b, out, out_len, true);
	for (;;) {
		bool more_a, more_b;

		do
			more_a = pgw_lex_next(&a, &ta);
		while (more_a && ta.kind == PGW_TOK_SPACE);
		do
			more_b = pgw_lex_next(&b, &tb);
		while (more_b && tb.kind == PGW_TOK_SPACE);
		assert_int_equal(more_a, more_b);
		if (!more_a)
			break;
		if (ta.kind == PGW_TOK_STRING && ta.backslash &&
		    (ta.prefix == 0 || ta.prefix == 'N')) {
			size_t skip = ta.prefix == 'N' ? 1 : 0;

			if (ta.prefix == 'N') {
				assert_int_equal(tb.kind, PGW_TOK_WORD);
				assert_int_equal(tb.len, 5);
				assert_memory_equal(out + tb.start, "NCHAR", 5);
				do
					more_b = pgw_lex_next(&b, &tb);
				while (more_b && tb.kind == PGW_TOK_SPACE);
				assert_true(more_b);
			}
			assert_int_equal(tb.kind, PGW_TOK_STRING);
			assert_int_equal(tb.prefix, 'E');
			assert_int_equal(tb.len, ta.len - skip + 1);
			assert_true(scs_same_but_comments(text + ta.start + skip,
							  out + tb.start + 1, ta.len - skip));
			continue;
		}
		assert_int_equal(ta.kind, tb.kind);
		assert_int_equal(ta.len, tb.len);
		assert_true(scs_same_but_comments(text + ta.start, out + tb.start, ta.len));
	}
}

static void scs_off_form(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(form_cases) / sizeof(form_cases[0]); i++) {
		const struct form_case *c = &form_cases[i];
		size_t len = strlen(c->text), out_len = 0;
		char *s = exact_copy(c->text, len), *out = NULL;
		int r = pgw_sql_scs_off_form(s, len, &out, &out_len);

		if (c->want == NULL) {
			if (r != 0)
				fail_msg("case %zu (%s): %d '%s', want 0", i, c->text, r, out);
			assert_null(out);
		} else {
			if (r != 1 || out_len != strlen(c->want) || strcmp(out, c->want) != 0)
				fail_msg("case %zu (%s): %d '%s', want '%s'", i, c->text, r,
					 r == 1 ? out : "", c->want);
			check_form_tokens(s, len, out, out_len);
		}
		free(out);
		free(s);
	}
}

/* ---- pgw_sql_server_form with the setting on: only the continuation comments go ---- */

static const struct form_case server_form_cases[] = {
	/* the server reads one constant 'ab' and a DROP; libpg_query, a syntax error */
	{"DROP TABLE x; SELECT 'a' -- c\n'b'", "DROP TABLE x; SELECT 'a'     \n'b'"},
	{"SELECT set_config('app.user_org_ids', '1' -- c\n'2', false)",
	 "SELECT set_config('app.user_org_ids', '1'     \n'2', false)"},
	{"SELECT B'1' -- c\n'0', E'\\\\' -- d\n'x'", "SELECT B'1'     \n'0', E'\\\\'     \n'x'"},
	/* every other comment goes too (a -- inside a constant is no comment), but one
	 * between two constants, which the server reads as a syntax error either way */
	{"SELECT 'a--b' -- c\n", "SELECT 'a--b'     \n"},
	{"SELECT 'a' -- c\n, 'b'", "SELECT 'a'     \n, 'b'"},
	{"SELECT 1 -- 'x'\n", "SELECT 1       \n"},
	{"SELECT $$ 'a' -- c\n'b' $$", NULL},
	{"SELECT 'a' /* c */\n'b'", NULL},
	{"SELECT 1 WHERE 1 NOT /**/ IN (2); DROP TABLE x",
	 "SELECT 1 WHERE 1 NOT      IN (2); DROP TABLE x"},
	{"SELECT U&'!0061' /* c */ UESCAPE '!'", "SELECT U&'!0061'         UESCAPE '!'"},
	{"SELECT 1 ORDER BY 1 NULLS -- c\nFIRST", "SELECT 1 ORDER BY 1 NULLS     \nFIRST"},
	{"SELECT 'a\\\\' -- c\n'b'", "SELECT 'a\\\\'     \n'b'"},
};

static void server_form_scs_on(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(server_form_cases) / sizeof(server_form_cases[0]); i++) {
		const struct form_case *c = &server_form_cases[i];
		size_t len = strlen(c->text), out_len = 0;
		char *s = exact_copy(c->text, len), *out = NULL;
		int r = pgw_sql_server_form(s, len, true, &out, &out_len);

		if (c->want == NULL) {
			if (r != 0)
				fail_msg("case %zu (%s): %d '%s', want 0", i, c->text, r, out);
		} else if (r != 1 || out_len != len || strcmp(out, c->want) != 0) {
			fail_msg("case %zu (%s): %d '%s', want '%s'", i, c->text, r,
				 r == 1 ? out : "", c->want);
		}
		free(out);
		free(s);
	}
	assert_true(pgw_sql_has_dashdash("a-b--", 5));
	assert_false(pgw_sql_has_dashdash("a-b-c-", 6));
	assert_false(pgw_sql_has_dashdash("a--", 2)); /* the length bounds the search */
	/* with the setting off the E'' form is made and its comments blanked too */
	{
		const char *t = "SELECT 'a' -- c\n'b'";
		char *out = NULL;
		size_t out_len = 0;

		assert_int_equal(pgw_sql_server_form(t, strlen(t), false, &out, &out_len), 1);
		assert_string_equal(out, "SELECT 'a'     \n'b'");
		free(out);
	}
}

/*
 * Every prefix of every text above, from a copy of exactly its length: lexing ends and
 * tiles it with the setting either way, and the rewritten form lexes as the original.
 */
static void prefixes(void **state)
{
	size_t ncases = sizeof(lex_cases) / sizeof(lex_cases[0]);
	size_t nforms = sizeof(form_cases) / sizeof(form_cases[0]);

	(void)state;
	for (size_t i = 0; i < ncases + nforms; i++) {
		const char *text = i < ncases ? lex_cases[i].text : form_cases[i - ncases].text;
		size_t full = strlen(text);

		for (size_t len = 0; len <= full; len++) {
			char *s = exact_copy(text, len), *out = NULL;
			size_t out_len = 0;
			int r;

			lex_all(s, len, true, NULL, 0);
			lex_all(s, len, false, NULL, 0);
			r = pgw_sql_scs_off_form(s, len, &out, &out_len);
			assert_true(r == 0 || r == 1);
			if (r == 1) {
				assert_int_equal(strlen(out), out_len); /* NUL-terminated, no NUL */
				check_form_tokens(s, len, out, out_len);
			}
			free(out);
			free(s);
		}
	}
}

/* A NUL is a byte like any other to the lexer (the protocol layer refuses it). */
static void nul_bytes(void **state)
{
	static const char text[] = "'a\0\\'b' \0";
	struct pgw_lex_tok toks[4];
	char *out = NULL;
	size_t out_len = 0;

	(void)state;
	assert_int_equal(lex_all(text, sizeof(text) - 1, false, toks, 4), 3);
	assert_int_equal(toks[0].len, 7);
	assert_int_equal(toks[2].kind, PGW_TOK_OTHER);
	assert_int_equal(pgw_sql_scs_off_form(text, sizeof(text) - 1, &out, &out_len), 1);
	assert_int_equal(out_len, sizeof(text) - 1 + 2);
	assert_memory_equal(out, " E'a\0\\'b' \0", out_len + 1);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lex_tokens),	      cmocka_unit_test(scs_off_form),
		cmocka_unit_test(server_form_scs_on), cmocka_unit_test(prefixes),
		cmocka_unit_test(nul_bytes),
	};

	return cmocka_run_group_tests_name("sql_lex", tests, NULL, NULL);
}
