/*
 * A cheap look at SQL text for metrics, on the hot path: the `kind` label from the first
 * keyword (the statement's shape, whose fingerprint is computed once, is pgw_sql_shape_hash).
 * Not a security decision: a text this reads differently from PostgreSQL only lands in
 * another kind, so it is kept simple and never reads past <len>.
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
	if (n == 0)
		return PGW_MK_OTHER;
	for (size_t k = 0; k < PGW_ARRAY_LEN(first_words); k++)
		if (first_words[k].word[0] == (sql[start] | 0x20) &&
		    strlen(first_words[k].word) == n &&
		    strncasecmp(sql + start, first_words[k].word, n) == 0)
			return first_words[k].kind;
	return PGW_MK_OTHER;
}
