/*
 * Finds the VALUES list of an INSERT in its text, for the skip mode's rewrite, which
 * keeps the list's own text. A small SQL lexer: it knows quotes, dollar quotes, escape
 * strings, comments and parentheses, just enough never to take a keyword or parenthesis
 * inside a string for a real one. Anything it does not expect makes it give up.
 */
#include "pgward/jobs.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

struct lexer {
	const char *s;
	size_t len, pos;
};

static bool ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

/* Skips a quoted run closed by <q>, where a doubled <q> is literal; <backslash> escapes. */
static bool skip_quoted(struct lexer *l, char q, bool backslash)
{
	for (l->pos++; l->pos < l->len; l->pos++) {
		char c = l->s[l->pos];

		if (backslash && c == '\\') {
			l->pos++;
		} else if (c == q) {
			if (l->pos + 1 < l->len && l->s[l->pos + 1] == q) {
				l->pos++;
				continue;
			}
			l->pos++;
			return true;
		}
	}
	return false;
}

/* $tag$ ... $tag$; a '$' not opening a dollar quote ($1) is left to the caller. */
static bool skip_dollar(struct lexer *l, bool *was_quote)
{
	size_t tag_end = l->pos + 1, n;

	*was_quote = false;
	if (tag_end < l->len && isdigit((unsigned char)l->s[tag_end]))
		return true;
	while (tag_end < l->len && ident_char(l->s[tag_end]) && l->s[tag_end] != '$')
		tag_end++;
	if (tag_end >= l->len || l->s[tag_end] != '$')
		return true;
	*was_quote = true;
	n = tag_end + 1 - l->pos;
	for (size_t p = tag_end + 1; p + n <= l->len; p++) {
		if (memcmp(l->s + p, l->s + l->pos, n) == 0) {
			l->pos = p + n;
			return true;
		}
	}
	return false;
}

static bool skip_comment(struct lexer *l)
{
	const char *s = l->s;
	int depth = 0;

	if (s[l->pos] == '-') {
		while (l->pos < l->len && s[l->pos] != '\n')
			l->pos++;
		return true;
	}
	for (; l->pos + 1 < l->len; l->pos++) {
		if (s[l->pos] == '/' && s[l->pos + 1] == '*') {
			depth++;
			l->pos++;
		} else if (s[l->pos] == '*' && s[l->pos + 1] == '/') {
			l->pos++;
			if (--depth == 0) {
				l->pos++;
				return true;
			}
		}
	}
	return false;
}

enum tok { TOK_END, TOK_BAD, TOK_WORD, TOK_OPEN, TOK_CLOSE, TOK_COMMA, TOK_OTHER };

/* The next token's kind; l->pos is left after it, *start at its first byte. */
static enum tok next(struct lexer *l, size_t *start)
{
	const char *s = l->s;
	bool dq;

	for (;;) {
		while (l->pos < l->len && isspace((unsigned char)s[l->pos]))
			l->pos++;
		if (l->pos >= l->len)
			return TOK_END;
		if ((s[l->pos] == '-' && l->pos + 1 < l->len && s[l->pos + 1] == '-') ||
		    (s[l->pos] == '/' && l->pos + 1 < l->len && s[l->pos + 1] == '*')) {
			if (!skip_comment(l))
				return TOK_BAD;
			continue;
		}
		break;
	}
	*start = l->pos;
	switch (s[l->pos]) {
	case '(':
		l->pos++;
		return TOK_OPEN;
	case ')':
		l->pos++;
		return TOK_CLOSE;
	case ',':
		l->pos++;
		return TOK_COMMA;
	case '\'':
		return skip_quoted(l, '\'', false) ? TOK_OTHER : TOK_BAD;
	case '"':
		return skip_quoted(l, '"', false) ? TOK_OTHER : TOK_BAD;
	case '$':
		if (!skip_dollar(l, &dq))
			return TOK_BAD;
		if (!dq)
			for (l->pos++; l->pos < l->len && isdigit((unsigned char)s[l->pos]);)
				l->pos++;
		return TOK_OTHER;
	default:
		break;
	}
	if (ident_char(s[l->pos])) {
		while (l->pos < l->len && ident_char(s[l->pos]))
			l->pos++;
		/* E'...' takes backslash escapes */
		if (l->pos - *start == 1 && (s[*start] == 'e' || s[*start] == 'E') &&
		    l->pos < l->len && s[l->pos] == '\'')
			return skip_quoted(l, '\'', true) ? TOK_OTHER : TOK_BAD;
		return TOK_WORD;
	}
	l->pos++;
	return TOK_OTHER;
}

/* Skips a parenthesised group whose '(' was just read. */
static bool skip_group(struct lexer *l)
{
	size_t at;
	int depth = 1;

	while (depth > 0) {
		switch (next(l, &at)) {
		case TOK_END:
		case TOK_BAD:
			return false;
		case TOK_OPEN:
			depth++;
			break;
		case TOK_CLOSE:
			depth--;
			break;
		default:
			break;
		}
	}
	return true;
}

bool pgw_jobs_values_range(const char *sql, size_t len, size_t *start, size_t *end,
			   struct pgw_jobs_row *rows, size_t nrows)
{
	struct lexer l = {sql, len, 0};
	size_t at, row = 0;
	enum tok t;

	/* The first VALUES outside parentheses is the INSERT's own. */
	for (;;) {
		t = next(&l, &at);
		if (t == TOK_END || t == TOK_BAD)
			return false;
		if (t == TOK_OPEN && !skip_group(&l))
			return false;
		if (t == TOK_WORD && l.pos - at == 6 && strncasecmp(sql + at, "values", 6) == 0)
			break;
	}
	*start = at;
	for (;; row++) {
		if (row == nrows || next(&l, &at) != TOK_OPEN)
			return false;
		rows[row].start = l.pos;
		if (!skip_group(&l))
			return false;
		rows[row].end = l.pos - 1;
		*end = l.pos;
		if (next(&l, &at) != TOK_COMMA) {
			/* what follows the list is read again from its start */
			l.pos = at;
			return row + 1 == nrows;
		}
	}
}

size_t pgw_jobs_split_items(const char *sql, struct pgw_jobs_row row, struct pgw_jobs_row *items,
			    size_t max)
{
	struct lexer l = {sql, row.end, row.start};
	size_t at, n = 0, first = 0, last = 0;
	bool empty = true;
	enum tok t;

	for (;;) {
		t = next(&l, &at);
		if (t == TOK_BAD || (t == TOK_OPEN && !skip_group(&l)))
			return 0;
		if (t == TOK_COMMA || t == TOK_END) {
			if (n == max || empty)
				return 0;
			items[n].start = first;
			items[n++].end = last;
			empty = true;
			if (t == TOK_END)
				return n;
			continue;
		}
		if (empty)
			first = at;
		empty = false;
		last = l.pos; /* the item ends with its last token: no blanks or comments */
	}
}
