/*
 * The token boundaries of PostgreSQL 15's SQL scanner (scan.l), without its values: where
 * comments, quoted identifiers and each kind of string constant begin and end, with
 * standard_conforming_strings on or off. Used to read a text the way the server will
 * when libpg_query cannot be told how (it always scans with standard_conforming_strings
 * on), and to find the literals of a statement. Works on the UTF-8 text pgward inspects.
 *
 * Only texts the server accepts need be read exactly: for any other, the server rejects
 * the whole message before running any of it, so what pgward makes of it cannot matter.
 */
#ifndef PGWARD_SQL_LEX_H
#define PGWARD_SQL_LEX_H

#include "pgward/common.h"

enum pgw_tok {
	PGW_TOK_END = 0,
	PGW_TOK_SPACE,	   /* whitespace and comments (--, nested slash-star) */
	PGW_TOK_WORD,	   /* identifier or keyword */
	PGW_TOK_QIDENT,	   /* "quoted" or U&"quoted" identifier */
	PGW_TOK_STRING,	   /* '...', E'...', N'...', U&'...', continuations included */
	PGW_TOK_BITSTRING, /* B'...', X'...' */
	PGW_TOK_DOLLAR,	   /* $tag$...$tag$ */
	PGW_TOK_NUMBER,
	PGW_TOK_PARAM, /* $1 */
	PGW_TOK_OTHER, /* operators and punctuation, one character at a time */
};

struct pgw_lex_tok {
	enum pgw_tok kind;
	size_t start, len; /* bytes of the text, prefix and quotes included */
	char prefix;	   /* STRING/BITSTRING/QIDENT: 0, 'E', 'N', 'U' (U&), 'B', 'X' */
	bool escapes;	   /* STRING read with backslash escapes (E'', or '' with scs off) */
	bool backslash;	   /* STRING: a backslash occurs in its body */
};

struct pgw_lexer {
	const char *s;
	size_t len, pos;
	bool scs; /* standard_conforming_strings */
};

/* Whether <s> holds "--" (a comment, or a constant's content): memchr's speed, for the
 * check every Query passes. */
bool pgw_sql_has_dashdash(const char *s, size_t len);
/* Whether <s> holds "--" or a slash-star: a comment may start there. */
bool pgw_sql_has_comment_start(const char *s, size_t len);

void pgw_lex_init(struct pgw_lexer *lx, const char *s, size_t len, bool scs);
/* The next token into <t>; false (and PGW_TOK_END) at the end of the text. */
bool pgw_lex_next(struct pgw_lexer *lx, struct pgw_lex_tok *t);
/* The next constant (STRING, BITSTRING, DOLLAR, NUMBER) or U&"..." identifier, skipping the
 * tokens between with less work than pgw_lex_next: the tokens it returns are exactly those
 * of these kinds pgw_lex_next would. False at the end of the text. */
bool pgw_lex_next_literal(struct pgw_lexer *lx, struct pgw_lex_tok *t);

/*
 * The text that libpg_query, which scans with standard_conforming_strings on, reads as the
 * server reads <text> with it off: each '...' constant holding a backslash becomes E'...'
 * and N'...' becomes NCHAR E'...' (the server reads N'...' as the keyword NCHAR and a
 * plain constant), the token stream otherwise unchanged but for the comments
 * pgw_sql_server_form blanks. Constants without a backslash
 * read the same either way and are left alone, so most texts need no copy.
 * 0: <text> reads the same with the setting on (*out untouched); 1: *out (malloc'd,
 * NUL-terminated, *out_len bytes) is the text to inspect; -1: out of memory.
 */
int pgw_sql_scs_off_form(const char *text, size_t len, char **out, size_t *out_len);

/*
 * The text libpg_query must parse to read <text> as the server does with
 * standard_conforming_strings <scs>: pgw_sql_scs_off_form's reading when it is off, and,
 * either way, every comment made spaces (newlines kept). The server's grammar reads comments
 * as whitespace; libpg_query returns them as tokens, so one inside a constant that continues
 * over lines ('a' -- c<newline>'b' is 'ab') or between two words the grammar reads as a
 * pair (NOT IN, WITH TIME ZONE, NULLS FIRST, UESCAPE) would make it see two constants or a
 * syntax error, and a text that fails to parse is forwarded uninspected. Results as above.
 */
int pgw_sql_server_form(const char *text, size_t len, bool scs, char **out, size_t *out_len);

#endif
