/*
 * A lexical pre-filter that lets the guard skip the parser for statements that cannot
 * break any rule. Every guard rule and every protected setting needs one of a few
 * keywords (DROP, DELETE, SET, ...) or the name set_config in the text, and keywords can
 * be neither quoted nor split by comments; so a text without any of them, as a whole
 * word, needs no parse. It must only ever err towards parsing: Unicode-escaped
 * identifiers (U&"...") and anything it cannot read plainly send the text to the parser.
 */
#include "sql-int.h"

#include <string.h>
#include <strings.h>

static const char *const triggers[] = {
	"drop",	 "truncate", "delete",	 "update", "alter",  "create",	   "set",
	"reset", "grant",    "revoke",	 "do",	   "merge",  "set_config", "discard",
	"copy",	 "call",     "security", "role",   "system", "explain",	   "prepare",
};

static bool word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$' || c >= 0x80;
}

static bool is_trigger(const char *w, size_t n)
{
	for (size_t i = 0; i < PGW_ARRAY_LEN(triggers); i++)
		if (strlen(triggers[i]) == n && strncasecmp(w, triggers[i], n) == 0)
			return true;
	return false;
}

bool pgw_sql_may_break_rules(const char *sql, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)sql[i];
		size_t start;

		if (!word_char(c)) {
			i++;
			continue;
		}
		start = i;
		while (i < len && word_char((unsigned char)sql[i]))
			i++;
		/* U&"..." and U&'...' spell names with escapes the scan cannot read. */
		if (i - start == 1 && (c == 'u' || c == 'U') && i < len && sql[i] == '&')
			return true;
		if (is_trigger(sql + start, i - start))
			return true;
	}
	return false;
}

bool pgw_sql_utf8_valid(const char *sql, size_t len)
{
	return sql_utf8_check(sql, len) == len;
}
