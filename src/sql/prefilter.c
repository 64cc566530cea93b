/*
 * A lexical pre-filter that lets the guard skip the parser for statements that cannot
 * break any rule. Every guard rule and every protected setting needs one of a few
 * keywords (DROP, DELETE, SET, NOTIFY, ...) or the name of a function that matters
 * (set_config, pg_notify, the built-ins that run SQL from text: calls.c) in the text.
 * Keywords can be neither quoted nor split by comments, and a quoted name is still a word
 * between its quotes; so a text without any of them, as a whole word, needs no parse. It
 * must only ever err towards parsing: Unicode-escaped identifiers (U&"...") and anything it
 * cannot read plainly send the text to the parser.
 */
#include "sql-int.h"

#include "pgward/sql_lex.h"

#include <string.h>
#include <strings.h>

/* A keyword and its length, so that most words are ruled out without a string compare
 * (this scan runs on every simple-protocol Query). */
struct trigger {
	const char *word;
	size_t len;
};
/* clang-format off */
#define T(w) {w, sizeof(w) - 1}
/* clang-format on */

/* The rules' keywords and function names (POLICY and RENAME come after ALTER, CREATE or
 * DROP); from query_to_xml on, calls.c's built-ins that run
 * SQL given as text. */
/* clang-format off */
static const struct trigger triggers[] = {
	T("drop"), T("truncate"), T("delete"), T("update"), T("alter"), T("create"), T("set"),
	T("reset"), T("grant"), T("revoke"), T("do"), T("merge"), T("set_config"), T("discard"),
	T("copy"), T("call"), T("security"), T("role"), T("system"), T("explain"), T("prepare"),
	T("notify"), T("pg_notify"), T("vacuum"), T("cluster"), T("reindex"), T("lock"),
	T("query_to_xml"), T("query_to_xmlschema"), T("query_to_xml_and_xmlschema"), T("ts_stat"),
	T("ts_rewrite"), T("crosstab"), T("crosstab2"), T("crosstab3"), T("crosstab4"),
	T("connectby"), T("xpath_table"),
};
/* clang-format on */

static bool is_word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$' || c >= 0x80;
}

/* is_word_char as a table: the scan looks at every byte of every simple-protocol Query. */
static bool word_chars[256];

/* The words that may start a DDL statement (kind DDL but SELECT INTO), or name lock_timeout
 * in a write to it (set_config can spell it any way). */
static const struct trigger ddl_triggers[] = {
	T("alter"),  T("comment"),  T("create"),   T("drop"),	      T("grant"),      T("import"),
	T("revoke"), T("reassign"), T("security"), T("lock_timeout"), T("set_config"),
};
/* PGW_SQL_MAY_CHANGE_SESSION's words; "set" counts only where a statement starts. */
static const struct trigger session_triggers[] = {
	T("alter"), T("create"),     T("reset"),       T("discard"), T("deallocate"),
	T("do"),    T("set_config"), T("pg_settings"), T("set"),
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

/*
 * Which word lengths start with which letter, per list (bit n of lens[c - 'a']: some keyword
 * of length n starts with c). Most words of a query (column and table names, values) are
 * ruled out by one lookup, without comparing them with any keyword.
 */
struct trigger_index {
	uint32_t lens[26];
};

static struct trigger_index rules_index, ddl_index, session_index;
static bool tables_ready;

static void index_build(struct trigger_index *x, const struct trigger *list, size_t nlist)
{
	for (size_t i = 0; i < nlist; i++)
		x->lens[list[i].word[0] - 'a'] |= 1u << list[i].len;
}

/* The word-character table and both indexes, once, on the first scan. */
static void tables_build(void)
{
	for (unsigned c = 0; c < 256; c++)
		word_chars[c] = is_word_char((unsigned char)c);
	index_build(&rules_index, triggers, PGW_ARRAY_LEN(triggers));
	index_build(&ddl_index, ddl_triggers, PGW_ARRAY_LEN(ddl_triggers));
	index_build(&session_index, session_triggers, PGW_ARRAY_LEN(session_triggers));
	tables_ready = true;
}

static bool is_trigger(const unsigned char *w, size_t n, const struct trigger *list, size_t nlist,
		       const struct trigger_index *x)
{
	unsigned c = w[0] | 0x20u; /* lower case, for letters */

	if (n > 31 || c < 'a' || c > 'z' || !(x->lens[c - 'a'] & (1u << n)))
		return false;
	for (size_t i = 0; i < nlist; i++)
		if (list[i].len == n && same_word((const char *)w, list[i].word, n))
			return true;
	return false;
}

/* True when <sql> has one of <list> as a whole word, or a U& escape. With <set_word>, the
 * word "set" only sets it, and the scan goes on. */
static bool has_word(const char *sql, size_t len, const struct trigger *list, size_t nlist,
		     const struct trigger_index *x, bool *set_word)
{
	const unsigned char *p = (const unsigned char *)sql, *end = p + len;

	while (p < end) {
		const unsigned char *start = p;

		if (!word_chars[*p]) {
			p++;
			continue;
		}
		do
			p++;
		while (p < end && word_chars[*p]);
		/* U&"..." and U&'...' spell names with escapes the scan cannot read. */
		if (p - start == 1 && (*start | 0x20u) == 'u' && p < end && *p == '&')
			return true;
		if (!is_trigger(start, (size_t)(p - start), list, nlist, x))
			continue;
		if (set_word == NULL || p - start != 3 ||
		    strncasecmp((const char *)start, "set", 3) != 0)
			return true;
		*set_word = true;
	}
	return false;
}

/*
 * Whether a statement of <sql> starts with SET, read with the server's token boundaries
 * (the text is the one pgward inspects: standard strings). Comments and constants are
 * single tokens, so neither a SET inside them nor an UPDATE in a comment before a real
 * SET can mislead it.
 */
static bool set_starts_statement(const char *sql, size_t len)
{
	struct pgw_lexer lx;
	struct pgw_lex_tok t;
	bool at_start = true;
	bool one_statement;
	size_t body = len;

	/* Without a ';' before the final ones (pgbench and most drivers end a statement with
	 * one) there is one statement: its first token decides, and the rest of the text (an
	 * UPDATE's SET list, its values) need not be lexed. */
	while (body > 0 &&
	       (sql[body - 1] == ';' || sql[body - 1] == ' ' || sql[body - 1] == '\n' ||
		sql[body - 1] == '\t' || sql[body - 1] == '\r' || sql[body - 1] == '\f'))
		body--;
	one_statement = memchr(sql, ';', body) == NULL;

	pgw_lex_init(&lx, sql, len, true);
	while (pgw_lex_next(&lx, &t)) {
		if (t.kind == PGW_TOK_SPACE)
			continue;
		if (at_start && t.kind == PGW_TOK_WORD && t.len == 3 &&
		    strncasecmp(sql + t.start, "set", 3) == 0)
			return true;
		if (one_statement)
			return false;
		at_start = t.kind == PGW_TOK_OTHER && sql[t.start] == ';';
	}
	return false;
}

unsigned pgw_sql_prefilter(const char *sql, size_t len, unsigned want)
{
	unsigned found = 0;

	if (!tables_ready)
		tables_build();
	if ((want & PGW_SQL_MAY_BREAK_RULES) &&
	    has_word(sql, len, triggers, PGW_ARRAY_LEN(triggers), &rules_index, NULL))
		found |= PGW_SQL_MAY_BREAK_RULES;
	if ((want & PGW_SQL_MAY_RUN_DDL) &&
	    has_word(sql, len, ddl_triggers, PGW_ARRAY_LEN(ddl_triggers), &ddl_index, NULL))
		found |= PGW_SQL_MAY_RUN_DDL;
	if (want & PGW_SQL_MAY_CHANGE_SESSION) {
		bool set_word = false;

		if (has_word(sql, len, session_triggers, PGW_ARRAY_LEN(session_triggers),
			     &session_index, &set_word) ||
		    (set_word && set_starts_statement(sql, len)))
			found |= PGW_SQL_MAY_CHANGE_SESSION;
	}
	return found;
}

bool pgw_sql_may_break_rules(const char *sql, size_t len)
{
	return pgw_sql_prefilter(sql, len, PGW_SQL_MAY_BREAK_RULES) != 0;
}

bool pgw_sql_may_run_ddl(const char *sql, size_t len)
{
	return pgw_sql_prefilter(sql, len, PGW_SQL_MAY_RUN_DDL) != 0;
}

bool pgw_sql_utf8_valid(const char *sql, size_t len)
{
	return sql_utf8_check(sql, len) == len;
}
