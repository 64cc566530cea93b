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

/* A keyword and its length, so that most words are ruled out without a string compare
 * (this scan runs on every simple-protocol Query). */
struct trigger {
	const char *word;
	size_t len;
};
/* clang-format off */
#define T(w) {w, sizeof(w) - 1}
/* clang-format on */

static const struct trigger triggers[] = {
	T("drop"),	 T("truncate"), T("delete"),  T("update"), T("alter"),	  T("create"),
	T("set"),	 T("reset"),	T("grant"),   T("revoke"), T("do"),	  T("merge"),
	T("set_config"), T("discard"),	T("copy"),    T("call"),   T("security"), T("role"),
	T("system"),	 T("explain"),	T("prepare"),
};

static bool word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$' || c >= 0x80;
}

/* The words that may start a DDL statement (kind DDL but SELECT INTO), or name lock_timeout
 * in a write to it (set_config can spell it any way). */
static const struct trigger ddl_triggers[] = {
	T("alter"),  T("comment"),  T("create"),   T("drop"),	      T("grant"),      T("import"),
	T("revoke"), T("reassign"), T("security"), T("lock_timeout"), T("set_config"),
};
#undef T

/* <w> (any case) is <word> (lower case letters and '_'). */
static bool same_word(const char *w, const char *word, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = w[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != word[i])
			return false;
	}
	return true;
}

static bool is_trigger(const char *w, size_t n, const struct trigger *list, size_t nlist)
{
	for (size_t i = 0; i < nlist; i++)
		if (list[i].len == n && same_word(w, list[i].word, n))
			return true;
	return false;
}

/* True when <sql> has one of <list> as a whole word, or a U& escape. */
static bool has_word(const char *sql, size_t len, const struct trigger *list, size_t nlist)
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
		if (is_trigger(sql + start, i - start, list, nlist))
			return true;
	}
	return false;
}

bool pgw_sql_may_break_rules(const char *sql, size_t len)
{
	return has_word(sql, len, triggers, PGW_ARRAY_LEN(triggers));
}

bool pgw_sql_may_run_ddl(const char *sql, size_t len)
{
	return has_word(sql, len, ddl_triggers, PGW_ARRAY_LEN(ddl_triggers));
}

bool pgw_sql_utf8_valid(const char *sql, size_t len)
{
	return sql_utf8_check(sql, len) == len;
}
