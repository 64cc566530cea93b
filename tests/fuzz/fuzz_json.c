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

/* <alike>: both must read it, to one tree (libpg_query's output); otherwise json.c may refuse
 * malformed JSON cJSON takes ("\\uZZZZ" is U+0000 to cJSON), but what both read must match. */
static void both_read(const char *json, bool alike)
{
	cJSON *want = cJSON_Parse(json), *got;

	sql_json_arena_begin();
	got = sql_json_parse(json);
	CHECK(!alike || (want != NULL && got != NULL));
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
