/*
 * Token boundaries as PostgreSQL 15's scanner finds them (sql_lex.h). The rules that
 * decide where a constant ends are copied in spirit from scan.l: a quote doubled inside
 * '...', a backslash escaping the next byte wherever escapes are read, a constant that
 * continues past whitespace holding a newline, dollar quotes closed by the same tag, and
 * comments that nest. Everything else only needs to be one token or another.
 */
#include "pgward/sql_lex.h"

#include <stdlib.h>
#include <string.h>

static bool ident_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool ident_cont(unsigned char c)
{
	return ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* scan.l's {space}: \v is not one in PostgreSQL 15. */
static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static bool is_newline(unsigned char c)
{
	return c == '\n' || c == '\r';
}

static size_t line_comment_end(const char *s, size_t len, size_t at)
{
	while (at < len && !is_newline((unsigned char)s[at]))
		at++;
	return at;
}

/* Past a slash-star comment starting at <at>, nested ones included; <len> if unterminated,
 * and then *closed false. */
static size_t block_comment_close(const char *s, size_t len, size_t at, bool *closed)
{
	int depth = 0;

	*closed = true;

	at += 2;
	while (at < len) {
		if (s[at] == '/' && at + 1 < len && s[at + 1] == '*') {
			depth++;
			at += 2;
		} else if (s[at] == '*' && at + 1 < len && s[at + 1] == '/') {
			at += 2;
			if (depth-- == 0)
				return at;
		} else {
			at++;
		}
	}
	*closed = false;
	return len;
}

static size_t block_comment_end(const char *s, size_t len, size_t at)
{
	bool closed;

	return block_comment_close(s, len, at, &closed);
}

/*
 * {quotecontinue} after a closing quote at <at>: whitespace (or -- comments) holding a
 * newline, then a quote. Returns the position just past that quote, or 0 if the constant
 * ends here.
 */
static size_t continuation(const char *s, size_t len, size_t at)
{
	bool newline = false;

	while (at < len) {
		unsigned char c = (unsigned char)s[at];

		if (is_newline(c)) {
			newline = true;
			at++;
		} else if (c == ' ' || c == '\t' || c == '\f') {
			at++;
		} else if (c == '-' && at + 1 < len && s[at + 1] == '-') {
			/* a comment before the newline, or one ending in a newline after it */
			at = line_comment_end(s, len, at);
			if (newline && at >= len)
				return 0;
		} else {
			break;
		}
	}
	return newline && at < len && s[at] == '\'' ? at + 1 : 0;
}

/* Spaces for the -- comments of <s> from <at> to <end>, whitespace between two parts of a
 * constant: there a '-' can only start a comment, which runs to a newline. */
static void blank_comments(char *s, size_t at, size_t end)
{
	for (; at < end; at++)
		if (s[at] == '-')
			for (; at < end && !is_newline((unsigned char)s[at]); at++)
				s[at] = ' ';
}

/*
 * The body of a quoted constant from <at> (past its opening quote) to past its end. Sets
 * <commented> if a -- comment lies between two of its parts; with <blank> (a writable
 * copy of <s>), those comments become spaces there.
 */
static size_t string_end(const char *s, size_t len, size_t at, char kind, bool *backslash,
			 bool *commented, char *blank)
{
	for (;;) {
		size_t next;

		while (at < len && s[at] != '\'') {
			if (s[at] == '\\') {
				*backslash = true;
				if (kind == 'e')
					at++; /* escapes the next byte, a quote included */
			}
			at++;
		}
		if (at >= len)
			return len; /* unterminated: the server refuses the text */
		at++;
		if (kind != 'b' && at < len && s[at] == '\'') {
			at++; /* '' inside '...', E'...' and U&'...' */
			continue;
		}
		next = continuation(s, len, at);
		if (next == 0)
			return at;
		if (memchr(s + at, '-', next - 1 - at) != NULL)
			*commented = true;
		if (blank)
			blank_comments(blank, at, next - 1);
		at = next;
	}
}

static size_t quoted_ident_end(const char *s, size_t len, size_t at)
{
	for (;;) {
		const char *q = memchr(s + at, '"', len - at);

		if (q == NULL)
			return len;
		at = (size_t)(q - s) + 1;
		if (at >= len || s[at] != '"')
			return at;
		at++;
	}
}

/* $tag$ or $$ at <at>: its length, or 0. */
static size_t dollar_delim(const char *s, size_t len, size_t at)
{
	size_t p = at + 1;

	if (p < len && s[p] != '$') {
		if (!ident_start((unsigned char)s[p]))
			return 0;
		while (p < len && ident_cont((unsigned char)s[p]) && s[p] != '$')
			p++;
	}
	return p < len && s[p] == '$' ? p + 1 - at : 0;
}

/* Past the closing delimiter (the first equal one: every '$' is a candidate). */
static size_t dollar_end(const char *s, size_t len, size_t body, size_t dlen)
{
	const char *d = s + body - dlen;

	for (size_t at = body; at + dlen <= len; at++)
		if (s[at] == '$' && memcmp(s + at, d, dlen) == 0)
			return at + dlen;
	return len;
}

static size_t number_end(const char *s, size_t len, size_t at)
{
	while (at < len && is_digit((unsigned char)s[at]))
		at++;
	if (at < len && s[at] == '.' && !(at + 1 < len && s[at + 1] == '.')) {
		at++;
		while (at < len && is_digit((unsigned char)s[at]))
			at++;
	}
	if (at < len && (s[at] == 'e' || s[at] == 'E')) {
		size_t p = at + 1;

		if (p < len && (s[p] == '+' || s[p] == '-'))
			p++;
		if (p < len && is_digit((unsigned char)s[p])) {
			while (p < len && is_digit((unsigned char)s[p]))
				p++;
			at = p;
		}
	}
	/* digits glued to an identifier are an error in PostgreSQL 15: any split will do */
	return at;
}

bool pgw_sql_has_dashdash(const char *s, size_t len)
{
	const char *end = s + len, *p = s;

	while ((p = memchr(p, '-', (size_t)(end - p))) != NULL) {
		if (++p < end && *p == '-')
			return true;
	}
	return false;
}

void pgw_lex_init(struct pgw_lexer *lx, const char *s, size_t len, bool scs)
{
	lx->s = s;
	lx->len = len;
	lx->pos = 0;
	lx->scs = scs;
}

static void quoted(struct pgw_lexer *lx, struct pgw_lex_tok *t, size_t quote, char prefix)
{
	char kind = 'q';
	bool commented = false;

	t->kind = PGW_TOK_STRING;
	t->prefix = prefix;
	if (prefix == 'B' || prefix == 'X') {
		t->kind = PGW_TOK_BITSTRING;
		kind = 'b';
	} else if (prefix == 'E' || ((prefix == 0 || prefix == 'N') && !lx->scs)) {
		kind = 'e';
	}
	t->escapes = kind == 'e';
	lx->pos = string_end(lx->s, lx->len, quote + 1, kind, &t->backslash, &commented, NULL);
}

/* A word at lx->pos: an identifier, or the prefix of a constant or U& identifier. */
static void word(struct pgw_lexer *lx, struct pgw_lex_tok *t)
{
	const char *s = lx->s;
	size_t at = lx->pos, len = lx->len;
	char c = s[at];
	char up = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);

	if (at + 1 < len && s[at + 1] == '\'' && strchr("EBXN", up) != NULL) {
		quoted(lx, t, at + 1, up);
		return;
	}
	if (up == 'U' && at + 2 < len && s[at + 1] == '&') {
		if (s[at + 2] == '\'') {
			quoted(lx, t, at + 2, 'U');
			return;
		}
		if (s[at + 2] == '"') {
			t->kind = PGW_TOK_QIDENT;
			t->prefix = 'U';
			lx->pos = quoted_ident_end(s, len, at + 3);
			return;
		}
	}
	t->kind = PGW_TOK_WORD;
	do
		at++;
	while (at < len && ident_cont((unsigned char)s[at]));
	lx->pos = at;
}

static void dollar(struct pgw_lexer *lx, struct pgw_lex_tok *t)
{
	const char *s = lx->s;
	size_t at = lx->pos, len = lx->len, dlen;

	if (at + 1 < len && is_digit((unsigned char)s[at + 1])) {
		t->kind = PGW_TOK_PARAM;
		at++;
		while (at < len && is_digit((unsigned char)s[at]))
			at++;
		lx->pos = at;
		return;
	}
	dlen = dollar_delim(s, len, at);
	if (dlen == 0) {
		t->kind = PGW_TOK_OTHER;
		lx->pos = at + 1;
		return;
	}
	t->kind = PGW_TOK_DOLLAR;
	lx->pos = dollar_end(s, len, at + dlen, dlen);
}

bool pgw_lex_next(struct pgw_lexer *lx, struct pgw_lex_tok *t)
{
	const char *s = lx->s;
	size_t at = lx->pos, len = lx->len;
	unsigned char c;

	memset(t, 0, sizeof(*t));
	t->start = at;
	if (at >= len)
		return false;
	c = (unsigned char)s[at];
	if (is_space(c)) {
		t->kind = PGW_TOK_SPACE;
		while (at < len && is_space((unsigned char)s[at]))
			at++;
		lx->pos = at;
	} else if (c == '-' && at + 1 < len && s[at + 1] == '-') {
		t->kind = PGW_TOK_SPACE;
		lx->pos = line_comment_end(s, len, at);
	} else if (c == '/' && at + 1 < len && s[at + 1] == '*') {
		t->kind = PGW_TOK_SPACE;
		lx->pos = block_comment_end(s, len, at);
	} else if (c == '\'') {
		quoted(lx, t, at, 0);
	} else if (c == '"') {
		t->kind = PGW_TOK_QIDENT;
		lx->pos = quoted_ident_end(s, len, at + 1);
	} else if (c == '$') {
		dollar(lx, t);
	} else if (ident_start(c)) {
		word(lx, t);
	} else if (c == '.' && at + 1 < len && s[at + 1] == '.') {
		t->kind = PGW_TOK_OTHER; /* scan.l's dot_dot: 1..2 is 1, .., 2 */
		lx->pos = at + 2;
	} else if (is_digit(c) ||
		   (c == '.' && at + 1 < len && is_digit((unsigned char)s[at + 1]))) {
		t->kind = PGW_TOK_NUMBER;
		lx->pos = number_end(s, len, at);
	} else {
		t->kind = PGW_TOK_OTHER;
		lx->pos = at + 1;
	}
	t->len = lx->pos - t->start;
	return true;
}

/*
 * pgw_lex_next_literal looks only at the bytes that may start a constant or end a region its
 * content is hidden in: quotes, $, digits, '.', '-', '/', '&'. The bytes between are words,
 * spaces and operators, whose only effect is that a digit, '$' or quote glued to a word
 * belongs to it: a byte starts a token where the byte before it is no word character (or
 * was the end of the last token read).
 */
enum { L_PLAIN = 0, L_WORD = 1, L_LOOK = 2 };

static const uint8_t literal_role[256] = {
	['a' ... 'z'] = L_WORD,
	['A' ... 'Z'] = L_WORD,
	['_'] = L_WORD,
	[0x80 ... 0xff] = L_WORD,
	['0' ... '9'] = L_WORD | L_LOOK,
	['$'] = L_WORD | L_LOOK,
	['\''] = L_LOOK,
	['"'] = L_LOOK,
	['.'] = L_LOOK,
	['-'] = L_LOOK,
	['/'] = L_LOOK,
	['&'] = L_LOOK,
};

/* pgw_lex_next from <at>: the token there. */
static bool token_at(struct pgw_lexer *lx, size_t at, struct pgw_lex_tok *t)
{
	lx->pos = at;
	return pgw_lex_next(lx, t);
}

/* Whether a token starts at <p>, given that the last one read ended at <from>. */
static bool starts_token(const char *s, size_t from, size_t p)
{
	return p == from || !(literal_role[(unsigned char)s[p - 1]] & L_WORD);
}

/* A one-letter word at <p> - 1 before a quote: a prefix (E'', N'', B'', X'', U&). */
static bool prefix_before(const char *s, size_t from, size_t p, const char *letters)
{
	return p > from && strchr(letters, s[p - 1] | 0x20) != NULL && starts_token(s, from, p - 1);
}

bool pgw_lex_next_literal(struct pgw_lexer *lx, struct pgw_lex_tok *t)
{
	const char *s = lx->s;
	size_t from = lx->pos, at = from, len = lx->len;

	for (; at < len; at++) {
		unsigned char c = (unsigned char)s[at];

		if (!(literal_role[c] & L_LOOK))
			continue;
		switch (c) {
		case '\'':
			if (prefix_before(s, from, at, "ebxn"))
				return token_at(lx, at - 1, t);
			return token_at(lx, at, t); /* a word glued before is a word: 'ab'c' */
		case '&':
			if (at + 1 < len && (s[at + 1] == '\'' || s[at + 1] == '"') &&
			    prefix_before(s, from, at, "u"))
				return token_at(lx, at - 1, t);
			continue;
		case '"':
			from = at = quoted_ident_end(s, len, at + 1);
			at--;
			continue;
		case '-':
			if (at + 1 < len && s[at + 1] == '-') {
				from = at = line_comment_end(s, len, at);
				at--;
			}
			continue;
		case '/':
			if (at + 1 < len && s[at + 1] == '*') {
				from = at = block_comment_end(s, len, at);
				at--;
			}
			continue;
		case '.':
			if (at + 1 < len && s[at + 1] == '.')
				at++; /* .. is one token: 1..2 holds no .2 */
			else if (at + 1 < len && is_digit((unsigned char)s[at + 1]))
				return token_at(lx, at, t); /* .5, also after a word: x.5 */
			continue;
		case '$':
			if (!starts_token(s, from, at))
				continue; /* a$b is one word */
			token_at(lx, at, t);
			if (t->kind == PGW_TOK_DOLLAR)
				return true;
			from = lx->pos; /* $1, or a lone $ */
			at = from - 1;
			continue;
		default: /* a digit */
			if (starts_token(s, from, at))
				return token_at(lx, at, t);
			continue;
		}
	}
	lx->pos = len;
	memset(t, 0, sizeof(*t));
	t->start = len;
	return false;
}

/* A plain or N'' constant whose meaning changes with the setting. */
static bool reads_escapes(const struct pgw_lex_tok *t)
{
	return t->kind == PGW_TOK_STRING && t->backslash && (t->prefix == 0 || t->prefix == 'N');
}

/* Whether the next character of <s> from <at> that is not whitespace is a quote. */
static bool quote_follows(const char *s, size_t len, size_t at)
{
	while (at < len && is_space((unsigned char)s[at]))
		at++;
	return at < len && s[at] == '\'';
}

/*
 * Whether <s> (read with <scs>) holds a comment; with <blank> (a writable copy of <s>), every
 * comment becomes spaces there, newlines kept: those between two tokens and those between
 * the parts of a continued constant. A comment is whitespace to the server's grammar, but
 * libpg_query returns comments as tokens, and a token in the wrong place (NOT / * * / IN,
 * WITH -- c<newline> TIME ZONE, NULLS / * * / FIRST, U&'..' / * * / UESCAPE) makes it fail to
 * parse what the server runs. <between_tokens> false: only those inside continued constants.
 */
static bool comments(const char *s, size_t len, bool scs, char *blank, bool between_tokens)
{
	struct pgw_lexer lx;
	struct pgw_lex_tok t;
	bool backslash, closed, found = false, after_string = false;

	pgw_lex_init(&lx, s, len, scs);
	while (pgw_lex_next(&lx, &t)) {
		if (t.kind == PGW_TOK_SPACE && t.len >= 2 &&
		    (s[t.start] == '-' || s[t.start] == '/')) {
			if (!between_tokens)
				continue;
			/* one between a constant and a quote stays: as spaces it would make the two
			 * one continued constant, where the server sees two and a syntax error */
			if (after_string && quote_follows(s, len, t.start + t.len))
				continue;
			/* unterminated: the server refuses the text; as spaces it would not be */
			if (s[t.start] == '/' &&
			    !(block_comment_close(s, len, t.start, &closed), closed))
				continue;
			found = true;
			for (size_t i = t.start; blank != NULL && i < t.start + t.len; i++)
				if (!is_newline((unsigned char)s[i]))
					blank[i] = ' ';
			continue;
		}
		if (t.kind != PGW_TOK_SPACE)
			after_string = t.kind == PGW_TOK_STRING || t.kind == PGW_TOK_BITSTRING;
		if (t.kind == PGW_TOK_STRING || t.kind == PGW_TOK_BITSTRING) {
			size_t quote = t.start + (t.prefix == 0 ? 0 : t.prefix == 'U' ? 2 : 1);
			char kind = t.kind == PGW_TOK_BITSTRING ? 'b' : t.escapes ? 'e' : 'q';
			bool commented = false;

			string_end(s, len, quote + 1, kind, &backslash, &commented, blank);
			found |= commented;
		}
		if (found && blank == NULL)
			break;
	}
	return found;
}

int pgw_sql_scs_off_form(const char *text, size_t len, char **out, size_t *out_len)
{
	static const char nchar[] = " NCHAR E", plain[] = " E";
	struct pgw_lexer lx;
	struct pgw_lex_tok t;
	size_t grow = 0, copied = 0, n = 0;
	char *buf;

	/* No backslash: no constant can read differently. */
	if (memchr(text, '\\', len) == NULL)
		return 0;
	pgw_lex_init(&lx, text, len, false);
	while (pgw_lex_next(&lx, &t))
		if (reads_escapes(&t))
			grow += t.prefix == 'N' ? sizeof(nchar) - 2 : sizeof(plain) - 1;
	if (grow == 0)
		return 0;
	buf = malloc(len + grow + 1);
	if (buf == NULL)
		return -1;
	pgw_lex_init(&lx, text, len, false);
	while (pgw_lex_next(&lx, &t)) {
		if (!reads_escapes(&t))
			continue;
		memcpy(buf + n, text + copied, t.start - copied);
		n += t.start - copied;
		/* a space first: the token before may be a word that E would otherwise join */
		if (t.prefix == 'N') {
			memcpy(buf + n, nchar, sizeof(nchar) - 1);
			n += sizeof(nchar) - 1;
			copied = t.start + 1; /* N'...' → NCHAR E'...' */
		} else {
			memcpy(buf + n, plain, sizeof(plain) - 1);
			n += sizeof(plain) - 1;
			copied = t.start;
		}
	}
	memcpy(buf + n, text + copied, len - copied);
	n += len - copied;
	buf[n] = '\0';
	if (pgw_sql_has_dashdash(buf, n))
		comments(buf, n, true, buf, false); /* the form read with the setting on */
	*out = buf;
	*out_len = n;
	return 1;
}

bool pgw_sql_has_comment_start(const char *s, size_t len)
{
	const char *end = s + len, *p = s;

	if (pgw_sql_has_dashdash(s, len))
		return true;
	while ((p = memchr(p, '/', (size_t)(end - p))) != NULL)
		if (++p < end && *p == '*')
			return true;
	return false;
}

int pgw_sql_server_form(const char *text, size_t len, bool scs, char **out, size_t *out_len)
{
	char *form = NULL;
	size_t form_len = len;
	int r = 0;

	if (!scs) {
		r = pgw_sql_scs_off_form(text, len, &form, &form_len);
		if (r < 0)
			return -1;
	}
	/* the form reads with standard strings; without one, the text reads alike either way
	 * unless a plain constant holds a backslash, which would have made a form */
	if (pgw_sql_has_comment_start(r == 1 ? form : text, form_len) &&
	    comments(r == 1 ? form : text, form_len, scs || r == 1, NULL, true)) {
		if (r == 0) {
			form = malloc(len + 1);
			if (form == NULL)
				return -1;
			memcpy(form, text, len);
			form[len] = '\0';
			r = 1;
		}
		comments(form, form_len, true, form, true);
	}
	if (r == 1) {
		*out = form;
		*out_len = form_len;
	}
	return r;
}
