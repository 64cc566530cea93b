/*
 * libFuzzer target for src/sql/json.c: the input as SQL, whose libpg_query parse tree json.c
 * must read to the tree cJSON_Parse reads; and the input itself as JSON, which, where both
 * read it, both must read to the same tree. Under ASan: no read past the text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pg_query.h>

#include "../../src/sql/sql-int.h"
#include "../unit/json_tree_diff.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The deepest nesting of arrays and objects in <json>, strings skipped. */
static int nesting(const char *json)
{
	int depth = 0, deepest = 0;
	bool in_string = false;

	for (const char *p = json; *p != '\0'; p++) {
		if (in_string) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				in_string = false;
		} else if (*p == '"') {
			in_string = true;
		} else if (*p == '{' || *p == '[') {
			deepest = ++depth > deepest ? depth : deepest;
		} else if (*p == '}' || *p == ']') {
			depth--;
		}
	}
	return deepest;
}

/* <alike>: both must read it, to one tree (libpg_query's output; both refuse one nested
 * deeper than CJSON_NESTING_LIMIT, and the inspection fails closed); otherwise json.c may
 * refuse malformed JSON cJSON takes ("\\uZZZZ" is U+0000 to cJSON), but what both read must
 * match. */
static void both_read(const char *json, bool alike)
{
	cJSON *want = cJSON_Parse(json), *got;

	sql_json_arena_begin();
	got = sql_json_parse(json);
	CHECK(!alike || (want != NULL && got != NULL) ||
	      (want == NULL && got == NULL && nesting(json) > CJSON_NESTING_LIMIT));
	CHECK(!(want && got) || json_same_tree(want, got));
	sql_json_arena_end();
	cJSON_Delete(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	PgQueryParseResult r;

	if (size > 16384)
		return 0;
	text = malloc(size + 1);
	CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	both_read(text, false);
	r = pg_query_parse(text);
	if (!r.error)
		both_read(r.parse_tree, true);
	pg_query_free_parse_result(r);
	free(text);
	return 0;
}
