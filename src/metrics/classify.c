/*
 * Cheap looks at SQL text for metrics, on the hot path: the `kind` label from the first
 * keyword, and a "shape" hash with literals masked so the costly libpg_query fingerprint
 * runs once per statement shape rather than once per text. Neither is a security
 * decision: a text this lexer reads differently from PostgreSQL only lands in another
 * kind or shape, so it is kept simple and never reads past <len>.
 */
#include "metrics-int.h"

#include <string.h>
#include <strings.h>

const char *const pgw_mkind_names[PGW_MK__COUNT] = {
	"select", "insert", "update", "delete", "ddl", "utility", "copy", "other",
};

const char *const pgw_moutcome_names[PGW_MO__COUNT] = {"ok", "error", "refused"};

static const struct {
	const char *word;
	enum pgw_mkind kind;
} first_words[] = {
	{"select", PGW_MK_SELECT},	{"with", PGW_MK_SELECT},     {"values", PGW_MK_SELECT},
	{"table", PGW_MK_SELECT},	{"show", PGW_MK_SELECT},     {"explain", PGW_MK_SELECT},
	{"fetch", PGW_MK_SELECT},	{"insert", PGW_MK_INSERT},   {"update", PGW_MK_UPDATE},
	{"delete", PGW_MK_DELETE},	{"create", PGW_MK_DDL},	     {"alter", PGW_MK_DDL},
	{"drop", PGW_MK_DDL},		{"truncate", PGW_MK_DDL},    {"comment", PGW_MK_DDL},
	{"grant", PGW_MK_DDL},		{"revoke", PGW_MK_DDL},	     {"reindex", PGW_MK_DDL},
	{"cluster", PGW_MK_DDL},	{"security", PGW_MK_DDL},    {"refresh", PGW_MK_DDL},
	{"import", PGW_MK_DDL},		{"reassign", PGW_MK_DDL},    {"begin", PGW_MK_UTILITY},
	{"start", PGW_MK_UTILITY},	{"commit", PGW_MK_UTILITY},  {"end", PGW_MK_UTILITY},
	{"rollback", PGW_MK_UTILITY},	{"abort", PGW_MK_UTILITY},   {"savepoint", PGW_MK_UTILITY},
	{"release", PGW_MK_UTILITY},	{"prepare", PGW_MK_UTILITY}, {"execute", PGW_MK_UTILITY},
	{"deallocate", PGW_MK_UTILITY}, {"set", PGW_MK_UTILITY},     {"reset", PGW_MK_UTILITY},
	{"discard", PGW_MK_UTILITY},	{"listen", PGW_MK_UTILITY},  {"notify", PGW_MK_UTILITY},
	{"unlisten", PGW_MK_UTILITY},	{"lock", PGW_MK_UTILITY},    {"vacuum", PGW_MK_UTILITY},
	{"analyze", PGW_MK_UTILITY},	{"analyse", PGW_MK_UTILITY}, {"checkpoint", PGW_MK_UTILITY},
	{"declare", PGW_MK_UTILITY},	{"close", PGW_MK_UTILITY},   {"move", PGW_MK_UTILITY},
	{"load", PGW_MK_UTILITY},	{"do", PGW_MK_UTILITY},	     {"call", PGW_MK_UTILITY},
	{"copy", PGW_MK_COPY},
};

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_ident_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool is_ident_char(unsigned char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Skips a comment starting at s[i], if one does; returns the index after it. */
static size_t skip_comment(const char *s, size_t len, size_t i)
{
	if (i + 1 < len && s[i] == '-' && s[i + 1] == '-') {
		while (i < len && s[i] != '\n')
			i++;
		return i;
	}
	if (i + 1 < len && s[i] == '/' && s[i + 1] == '*') {
		int depth = 1; /* PostgreSQL's block comments nest */

		i += 2;
		while (i < len && depth > 0) {
			if (i + 1 < len && s[i] == '/' && s[i + 1] == '*') {
				depth++;
				i += 2;
			} else if (i + 1 < len && s[i] == '*' && s[i + 1] == '/') {
				depth--;
				i += 2;
			} else {
				i++;
			}
		}
	}
	return i;
}

enum pgw_mkind pgw_mkind_of_sql(const char *sql, size_t len)
{
	size_t i = 0, start, n;

	for (;;) {
		size_t j = skip_comment(sql, len, i);

		if (j != i) {
			i = j;
			continue;
		}
		if (i < len && (is_space((unsigned char)sql[i]) || sql[i] == '('))
			i++;
		else
			break;
	}
	start = i;
	while (i < len && is_ident_char((unsigned char)sql[i]))
		i++;
	n = i - start;
	for (size_t k = 0; k < PGW_ARRAY_LEN(first_words); k++)
		if (strlen(first_words[k].word) == n &&
		    strncasecmp(sql + start, first_words[k].word, n) == 0)
			return first_words[k].kind;
	return PGW_MK_OTHER;
}

/* ---- shape ---- */

#define FNV_OFFSET 14695981039346656037ull
#define FNV_PRIME  1099511628211ull

static inline uint64_t mix(uint64_t h, unsigned char c)
{
	return (h ^ c) * FNV_PRIME;
}

/* End of a '...' string starting at the quote s[i]; <backslash>: E'' escapes. */
static size_t skip_quoted(const char *s, size_t len, size_t i, bool backslash)
{
	for (i++; i < len; i++) {
		if (backslash && s[i] == '\\') {
			i++;
		} else if (s[i] == '\'') {
			if (i + 1 < len && s[i + 1] == '\'')
				i++;
			else
				return i + 1;
		}
	}
	return len;
}

/* A $tag$ opening at s[i]: returns the index after the closing tag, or 0 if not one. */
static size_t skip_dollar(const char *s, size_t len, size_t i)
{
	size_t t = i + 1, taglen;

	if (t < len && is_digit((unsigned char)s[t]))
		return 0; /* $1: a parameter */
	while (t < len && is_ident_char((unsigned char)s[t]) && s[t] != '$')
		t++;
	if (t >= len || s[t] != '$')
		return 0;
	taglen = t + 1 - i;
	for (size_t k = t + 1; k + taglen <= len; k++)
		if (s[k] == '$' && memcmp(s + k, s + i, taglen) == 0)
			return k + taglen;
	return len;
}

static size_t skip_number(const char *s, size_t len, size_t i)
{
	while (i < len && (is_digit((unsigned char)s[i]) || s[i] == '.' || s[i] == '_'))
		i++;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		size_t k = i + 1;

		if (k < len && (s[k] == '+' || s[k] == '-'))
			k++;
		if (k < len && is_digit((unsigned char)s[k])) {
			i = k;
			while (i < len && is_digit((unsigned char)s[i]))
				i++;
		}
	}
	return i;
}

uint64_t pgw_msql_shape(const char *s, size_t len)
{
	uint64_t h = FNV_OFFSET;
	bool space = false;
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		size_t j = skip_comment(s, len, i);

		if (j != i || is_space(c)) {
			i = j != i ? j : i + 1;
			space = true;
			continue;
		}
		if (space) {
			h = mix(h, ' ');
			space = false;
		}
		if (c == '\'') {
			i = skip_quoted(s, len, i, false);
			h = mix(h, '?');
		} else if (c == '$' && i + 1 < len && is_digit((unsigned char)s[i + 1])) {
			/* a parameter: $1 and $2 are different statements */
			for (h = mix(h, c), i++; i < len && is_digit((unsigned char)s[i]); i++)
				h = mix(h, (unsigned char)s[i]);
		} else if (c == '$' && (j = skip_dollar(s, len, i)) != 0) {
			i = j;
			h = mix(h, '?');
		} else if (is_digit(c) ||
			   (c == '.' && i + 1 < len && is_digit((unsigned char)s[i + 1]))) {
			i = skip_number(s, len, i);
			h = mix(h, '?');
		} else if (is_ident_start(c)) {
			size_t start = i;
			uint64_t before = h;

			/* unquoted names and keywords fold to lower case, as the server folds them
			 */
			for (; i < len && is_ident_char((unsigned char)s[i]); i++)
				h = mix(h, lower((unsigned char)s[i]));
			/* E'...', B'...', X'...', N'...' and U&'...': one literal */
			if (i - start == 1 && i < len && s[i] == '\'') {
				i = skip_quoted(s, len, i, (s[start] | 0x20) == 'e');
				h = mix(before, '?');
			}
		} else if (c == '"') {
			size_t k = i + 1;

			while (k < len && s[k] != '"')
				k++;
			k = PGW_MIN(k + 1, len);
			for (; i < k; i++)
				h = mix(h, (unsigned char)s[i]);
		} else {
			h = mix(h, c);
			i++;
		}
	}
	return h != 0 ? h : 1;
}
