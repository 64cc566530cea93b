/*
 * The server's reading of a text with standard_conforming_strings off, for
 * test_sql_scs_oracle.c and tests/fuzz/fuzz_scs.c: libpg_query's scanner reads a text so
 * once its thread-local flag is false. CMakeLists.txt links libpg_query's static library
 * whole and first into those two, so that flag is the one every pg_query_parse() reads;
 * scs_oracle_works() proves it before anything else is believed. Header-only (static
 * inline), as each test and fuzzer is built from one file.
 */
#ifndef PGWARD_TEST_SCS_ORACLE_H
#define PGWARD_TEST_SCS_ORACLE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pg_query.h>

#include "pgward/sql_lex.h"

/* src/backend/parser/scan.l's settings, thread-local in libpg_query */
extern __thread bool standard_conforming_strings;
extern __thread bool escape_string_warning;

static inline void *scs_must(void *p)
{
	if (p == NULL) {
		fprintf(stderr, "scs_oracle: out of memory\n");
		abort();
	}
	return p;
}

static inline bool scs_key_at(const char *s, const char *key)
{
	return strncmp(s, key, strlen(key)) == 0;
}

/*
 * <json> without its byte offsets, which rewriting shifts: every "location", and RawStmt's
 * "stmt_location" and "stmt_len". Keys are only looked for outside strings.
 */
static inline char *scs_strip_locations(const char *json)
{
	static const char *const keys[] = {"\"location\":", "\"stmt_location\":", "\"stmt_len\":"};
	size_t n = 0;
	char *out = scs_must(malloc(strlen(json) + 1));
	bool in_string = false;

	for (const char *p = json; *p;) {
		bool dropped = false;

		if (in_string) {
			if (*p == '\\' && p[1]) {
				out[n++] = *p++;
			} else if (*p == '"') {
				in_string = false;
			}
			out[n++] = *p++;
			continue;
		}
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]) && !dropped; k++) {
			if (!scs_key_at(p, keys[k]))
				continue;
			p += strlen(keys[k]);
			if (*p == '-')
				p++;
			while (*p >= '0' && *p <= '9')
				p++;
			/* the comma before it goes, or the one after it if it came first */
			if (n > 0 && out[n - 1] == ',')
				n--;
			else if (*p == ',')
				p++;
			dropped = true;
		}
		if (dropped)
			continue;
		if (*p == '"')
			in_string = true;
		out[n++] = *p++;
	}
	out[n] = '\0';
	return out;
}

struct scs_reading {
	char *tree;  /* the parse tree's JSON without locations; NULL when refused */
	char *error; /* the parser's message when refused */
};

/* <text> (NUL-terminated) as libpg_query reads it with the setting <scs>. */
static inline void scs_read(const char *text, bool scs, struct scs_reading *r)
{
	PgQueryParseResult res;

	escape_string_warning = false; /* warnings change nothing in the tree */
	standard_conforming_strings = scs;
	res = pg_query_parse(text);
	standard_conforming_strings = true; /* pgward's own parses read with it on */
	r->tree = res.error ? NULL : scs_strip_locations(res.parse_tree);
	r->error = res.error ? scs_must(strdup(res.error->message)) : NULL;
	pg_query_free_parse_result(res);
}

static inline void scs_reading_free(struct scs_reading *r)
{
	free(r->tree);
	free(r->error);
	r->tree = r->error = NULL;
}

/* The static library is the parser linked, and its flag changes how it reads a constant. */
static inline bool scs_oracle_works(void)
{
	struct scs_reading off, on;
	bool ok;

	scs_read("SELECT 'a\\'b'", false, &off);
	scs_read("SELECT 'a\\'b'", true, &on);
	ok = off.tree && strstr(off.tree, "\"sval\":\"a'b\"") && !on.tree &&
	     standard_conforming_strings;
	if (!ok)
		fprintf(stderr,
			"scs_oracle: setting standard_conforming_strings does not change how "
			"pg_query_parse reads SELECT 'a\\'b' (off: %s; on: %s): is libpg_query.a "
			"linked whole before pgward_core (CMakeLists.txt)?\n",
			off.tree ? off.tree : off.error, on.tree ? on.tree : on.error);
	scs_reading_free(&off);
	scs_reading_free(&on);
	return ok;
}

/*
 * The -- comments of <s> between the parts of a constant, as spaces; how many there were.
 * The server takes them for whitespace there; libpg_query, which returns comments as tokens
 * of their own, does not continue a constant past one. With them blank, libpg_query reads
 * <s> as the server does. The constants are the lexer's; their parts are found here anew.
 */
static inline int scs_blank_continuation_comments(char *s, size_t len, bool scs)
{
	struct pgw_lexer lx;
	struct pgw_lex_tok t;
	int n = 0;

	pgw_lex_init(&lx, s, len, scs);
	while (pgw_lex_next(&lx, &t)) {
		size_t end = t.start + t.len, at;
		char kind = t.escapes ? 'e' : t.kind == PGW_TOK_BITSTRING ? 'b' : 'q';

		if (t.kind != PGW_TOK_STRING && t.kind != PGW_TOK_BITSTRING)
			continue;
		at = t.start + (t.prefix == 0 ? 0 : t.prefix == 'U' ? 2 : 1) + 1;
		while (at < end) {
			if (kind == 'e' && s[at] == '\\') {
				at += 2;
				continue;
			}
			if (s[at++] != '\'')
				continue;
			if (kind != 'b' && at < end && s[at] == '\'') {
				at++;
				continue;
			}
			/* between two parts: whitespace and comments up to the next quote */
			for (; at < end && s[at] != '\''; at++) {
				if (s[at] != '-')
					continue;
				n++;
				for (; at < end && s[at] != '\n' && s[at] != '\r'; at++)
					s[at] = ' ';
			}
			at++;
		}
	}
	return n;
}

enum scs_verdict {
	SCS_SAME_TREE,	 /* both parse, to the same tree but for locations */
	SCS_BOTH_REFUSE, /* the server refuses the text, and so does libpg_query the form */
	/*
	 * The server refuses U&'...' with the setting off ("unsafe use of string constant
	 * with Unicode escapes"), which the form leaves as it is and libpg_query reads. Not a
	 * disagreement that matters: the server runs none of a text it refuses.
	 */
	SCS_SERVER_REFUSES_UNICODE,
	/*
	 * pgward inspects a text that holds a comment between the parts of a constant (only
	 * when there is no form: pgw_sql_scs_off_form blanks them), which libpg_query reads
	 * otherwise than the server whatever the setting; with it blank, it reads alike.
	 */
	SCS_LIBPG_COMMENT,
	SCS_DISAGREE,
};

struct scs_outcome {
	enum scs_verdict verdict;
	int form_result; /* pgw_sql_server_form's, setting off */
	char *form;	 /* the text pgward inspects: the form, or a copy of the text */
	size_t form_len;
	char *server_text;		      /* the text, its continuation comments blank */
	int server_comments, pgward_comments; /* blanked in the text, left in the form */
	struct scs_reading server;	      /* server_text, setting off */
	struct scs_reading pgward;	      /* the form, setting on */
};

static inline bool scs_unicode_refusal(const struct scs_reading *r)
{
	return r->error && strstr(r->error, "unsafe use of string constant with Unicode escapes");
}

/* <text>: <len> bytes, NUL-terminated, no NUL before. */
static inline void scs_compare(const char *text, size_t len, struct scs_outcome *o)
{
	memset(o, 0, sizeof(*o));
	o->form_result = pgw_sql_server_form(text, len, false, &o->form, &o->form_len);
	if (o->form_result < 0)
		scs_must(NULL);
	if (o->form_result == 0) {
		o->form = scs_must(strdup(text));
		o->form_len = len;
	}
	o->server_text = scs_must(strdup(text));
	o->server_comments = scs_blank_continuation_comments(o->server_text, len, false);
	scs_read(o->server_text, false, &o->server);
	scs_read(o->form, true, &o->pgward);
	if (o->server.tree && o->pgward.tree)
		o->verdict =
			strcmp(o->server.tree, o->pgward.tree) == 0 ? SCS_SAME_TREE : SCS_DISAGREE;
	else if (!o->server.tree && !o->pgward.tree)
		o->verdict = SCS_BOTH_REFUSE;
	else if (o->pgward.tree && scs_unicode_refusal(&o->server))
		o->verdict = SCS_SERVER_REFUSES_UNICODE;
	else
		o->verdict = SCS_DISAGREE;
	if (o->verdict == SCS_DISAGREE && o->form_result == 0) {
		char *blank = scs_must(strdup(o->form));
		struct scs_reading r;

		o->pgward_comments = scs_blank_continuation_comments(blank, o->form_len, true);
		if (o->pgward_comments > 0) {
			scs_read(blank, true, &r);
			if (r.tree ? o->server.tree && strcmp(r.tree, o->server.tree) == 0
				   : !o->server.tree || scs_unicode_refusal(&o->server))
				o->verdict = SCS_LIBPG_COMMENT;
			scs_reading_free(&r);
		}
		free(blank);
	}
}

static inline void scs_outcome_free(struct scs_outcome *o)
{
	free(o->form);
	free(o->server_text);
	scs_reading_free(&o->server);
	scs_reading_free(&o->pgward);
}

/* Lexing <s> ends, and its tokens tile it: each starts where the last ended, none empty. */
static inline bool scs_tiles(const char *s, size_t len, bool scs)
{
	struct pgw_lexer lx;
	struct pgw_lex_tok t;
	size_t at = 0;

	pgw_lex_init(&lx, s, len, scs);
	while (pgw_lex_next(&lx, &t)) {
		if (t.start != at || t.len == 0 || t.len > len - at || t.kind == PGW_TOK_END)
			return false;
		at += t.len;
	}
	return t.kind == PGW_TOK_END && t.start == len && at == len && !pgw_lex_next(&lx, &t);
}

/* <a> and <b> are the same bytes, but for -- comments of <a> that are spaces in <b>. */
static inline bool scs_same_but_comments(const char *a, const char *b, size_t len)
{
	for (size_t i = 0; i < len;) {
		if (a[i] == b[i]) {
			i++;
		} else if (a[i] == '-' && i + 1 < len && a[i + 1] == '-') {
			for (; i < len && a[i] != '\n' && a[i] != '\r'; i++)
				if (b[i] != ' ')
					return false;
		} else {
			return false;
		}
	}
	return true;
}

static inline bool scs_next_solid(struct pgw_lexer *lx, struct pgw_lex_tok *t)
{
	bool more;

	do
		more = pgw_lex_next(lx, t);
	while (more && t->kind == PGW_TOK_SPACE);
	return more;
}

/*
 * The form read with the setting on has the tokens of <text> read with it off, spaces
 * aside: each constant it rewrote now E'...' (after the word NCHAR for N'...'), every
 * other token the same bytes, but for comments inside constants, now spaces.
 */
static inline bool scs_form_tokens_match(const char *text, size_t len, const char *form,
					 size_t form_len)
{
	struct pgw_lexer a, b;
	struct pgw_lex_tok ta, tb;

	pgw_lex_init(&a, text, len, false);
	pgw_lex_init(&b, form, form_len, true);
	for (;;) {
		bool more = scs_next_solid(&a, &ta);
		size_t skip;

		if (more != scs_next_solid(&b, &tb))
			return false;
		if (!more)
			return true;
		if (!(ta.kind == PGW_TOK_STRING && ta.backslash &&
		      (ta.prefix == 0 || ta.prefix == 'N'))) {
			if (ta.kind != tb.kind || ta.len != tb.len ||
			    !scs_same_but_comments(text + ta.start, form + tb.start, ta.len))
				return false;
			continue;
		}
		skip = ta.prefix == 'N' ? 1 : 0;
		if (skip && (tb.kind != PGW_TOK_WORD || tb.len != 5 ||
			     memcmp(form + tb.start, "NCHAR", 5) != 0 || !scs_next_solid(&b, &tb)))
			return false;
		if (tb.kind != PGW_TOK_STRING || tb.prefix != 'E' || tb.len != ta.len - skip + 1 ||
		    !scs_same_but_comments(text + ta.start + skip, form + tb.start + 1,
					   ta.len - skip))
			return false;
	}
}

#endif
