/*
 * One text to one info: the encoding check the server would make, then libpg_query's
 * JSON parse, read into cJSON nodes by json.c, and the walk, all on the big stack. The JSON
 * path is 2-2.5x faster than protobuf-c unpacking, and nesting beyond 1000 levels is
 * refused by the reader, which we report as "too complex" (fail closed) rather than recurse
 * without bound.
 */
#include "sql-int.h"

#include <stdio.h>
#include <string.h>
#include <cJSON.h>
#include <pg_query.h>

/* Bytes of one UTF-8 sequence judged from its first byte, as pg_utf_mblen does. */
static size_t utf8_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		return 2;
	if ((c & 0xf0) == 0xe0)
		return 3;
	if ((c & 0xf8) == 0xf0)
		return 4;
	return 1;
}

/* pg_utf8_islegal(): no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_legal(const unsigned char *s, size_t n)
{
	unsigned char a;

	switch (n) {
	case 4:
		if (s[3] < 0x80 || s[3] > 0xbf)
			return false;
		/* fall through */
	case 3:
		if (s[2] < 0x80 || s[2] > 0xbf)
			return false;
		/* fall through */
	case 2:
		a = s[1];
		switch (s[0]) {
		case 0xe0:
			if (a < 0xa0 || a > 0xbf)
				return false;
			break;
		case 0xed:
			if (a < 0x80 || a > 0x9f)
				return false;
			break;
		case 0xf0:
			if (a < 0x90 || a > 0xbf)
				return false;
			break;
		case 0xf4:
			if (a < 0x80 || a > 0x8f)
				return false;
			break;
		default:
			if (a < 0x80 || a > 0xbf)
				return false;
			break;
		}
		/* fall through */
	case 1:
		a = s[0];
		if (a >= 0x80 && a < 0xc2)
			return false;
		if (a > 0xf4)
			return false;
		return true;
	default:
		return false;
	}
}

size_t sql_utf8_char(const unsigned char *s, size_t avail)
{
	size_t n = utf8_len(s[0]);

	return n <= avail && utf8_legal(s, n) ? n : 0;
}

size_t sql_utf8_check(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;

	while (i < len) {
		uint64_t w;
		size_t n;

		/* fast path: 8 ASCII bytes, none of them NUL */
		if (len - i >= 8) {
			memcpy(&w, s + i, 8);
			if (!(w & UINT64_C(0x8080808080808080)) &&
			    !((w - UINT64_C(0x0101010101010101)) & ~w &
			      UINT64_C(0x8080808080808080))) {
				i += 8;
				continue;
			}
		}
		if (s[i] == 0)
			return i;
		n = sql_utf8_char(s + i, len - i);
		if (n == 0)
			return i;
		i += n;
	}
	return len;
}

static struct pgw_sql_info *bad_encoding(const char *text, size_t len, size_t at)
{
	/* the server's own wording (report_invalid_encoding), so a client sees no change */
	char msg[96];
	size_t n = PGW_MIN(utf8_len((unsigned char)text[at]), len - at);
	int off = snprintf(msg, sizeof(msg), "invalid byte sequence for encoding \"UTF8\":");

	for (size_t i = 0; i < n; i++)
		off += snprintf(msg + off, sizeof(msg) - (size_t)off, " 0x%02x",
				(unsigned char)text[at + i]);
	return sql_info_error(PGW_SQL_BAD_ENCODING, msg, (int)at);
}

struct job {
	const char *text;
	size_t len;
	struct sql_slots *slots;
	struct pgw_sql_info *out;
};

/* Runs on the big stack. Everything libpg_query allocates, and the JSON tree (at once, from
 * its arena), is freed here. */
static void parse_job(void *arg)
{
	struct job *j = arg;
	PgQueryParseResult r = pg_query_parse(j->text);
	struct sql_builder b;
	const cJSON *stmt;
	cJSON *root;

	if (r.error) {
		j->out = sql_info_error(PGW_SQL_PARSE_ERROR, r.error->message, r.error->cursorpos);
		goto out;
	}
	sql_json_arena_begin();
	root = sql_json_parse(r.parse_tree);
	if (!root) {
		/* nesting beyond CJSON_NESTING_LIMIT (or no memory): fail closed either way */
		j->out = (struct pgw_sql_info *)sql_info_static(PGW_SQL_TOO_COMPLEX);
		sql_json_arena_end();
		goto out;
	}
	sql_builder_init(&b, j->text, j->len);
	b.slots = j->slots;
	cJSON_ArrayForEach(stmt, cJSON_GetObjectItemCaseSensitive(root, "stmts"))
	{
		if (b.oom || b.too_complex)
			break;
		sql_walk_stmt(&b, stmt);
		b.stmt_index++;
	}
	j->out = sql_builder_finish(&b);
	sql_json_arena_end(); /* the whole tree: no cJSON_Delete walk over it */
out:
	pg_query_free_parse_result(r);
}

struct pgw_sql_info *sql_analyze(struct sql_stack *stack, const char *text, size_t len,
				 struct sql_slots *slots)
{
	size_t bad = sql_utf8_check(text, len);
	struct job j = {.text = text, .len = len, .slots = slots};

	if (bad < len)
		j.out = bad_encoding(text, len, bad);
	else
		sql_stack_run(stack, parse_job, &j);
	return j.out ? j.out : (struct pgw_sql_info *)sql_info_static(PGW_SQL_NO_MEMORY);
}
