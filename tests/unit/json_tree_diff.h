/*
 * Two cJSON trees compared node by node (type, key, string, numbers, children in order), for
 * test_sql_json and fuzz_json: json.c must read libpg_query's output as cJSON_Parse does.
 * Header-only (static inline), as each test and fuzzer is built from one file.
 */
#ifndef PGWARD_TEST_JSON_TREE_DIFF_H
#define PGWARD_TEST_JSON_TREE_DIFF_H

#include <stdbool.h>
#include <string.h>
#include <cJSON.h>

static inline bool json_same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static inline bool json_same_tree(const cJSON *a, const cJSON *b)
{
	const cJSON *x, *y;

	if ((a->type & 0xff) != (b->type & 0xff) || !json_same_str(a->string, b->string) ||
	    !json_same_str(a->valuestring, b->valuestring) || a->valueint != b->valueint ||
	    !(a->valuedouble == b->valuedouble ||
	      (a->valuedouble != a->valuedouble && b->valuedouble != b->valuedouble)))
		return false;
	for (x = a->child, y = b->child; x && y; x = x->next, y = y->next)
		if (!json_same_tree(x, y))
			return false;
	if (x || y)
		return false;
	/* cJSON links the first child's prev to the last */
	if (a->child && b->child && (a->child->prev == NULL) != (b->child->prev == NULL))
		return false;
	return true;
}

#endif
