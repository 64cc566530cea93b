/*
 * UPDATE ... SET extraction for the per-column limits: each assigned column with its value
 * as a literal, $n, NULL, DEFAULT or unknown, read exactly as INSERT values are. Also the
 * SET list of INSERT ... ON CONFLICT DO UPDATE. Never guesses: an expression is unknown.
 */
#include "sql-int.h"

#include <string.h>
#include <cJSON.h>

/* SET (a, b) = (x, y): the value for column number <colno> (1-based), or unknown. */
static void multi_assign_value(struct sql_builder *b, const cJSON *mar, struct pgw_sql_value *v)
{
	const char *type;
	const cJSON *src = sql_node_body(sql_json_item(mar, "source"), &type);
	int colno = sql_json_int(mar, "colno");

	v->type = PGW_SQL_VAL_UNKNOWN;
	if (!src || strcmp(type, "RowExpr") != 0 || colno < 1)
		return;
	sql_value_of(b, cJSON_GetArrayItem(sql_json_item(src, "args"), colno - 1), v);
}

void sql_update_extract(struct sql_builder *b, const cJSON *target_list,
			const struct pgw_sql_rel *rel)
{
	size_t idx = b->updates.n, cstart = b->cols.n, vstart = b->values.n;
	struct pgw_sql_update *upd = sql_vec_push(b, &b->updates, sizeof(*upd));
	const cJSON *it;
	const char *type;

	if (!upd)
		return;
	upd->rel = *rel;
	upd->stmt = b->stmt_index;
	upd->where = sql_where_now(b);
	cJSON_ArrayForEach(it, target_list)
	{
		const cJSON *rt = sql_node_body(it, &type);
		const char *name = rt ? sql_json_str(rt, "name") : NULL;
		const cJSON *val = rt ? sql_json_item(rt, "val") : NULL;
		const cJSON *vbody = sql_node_body(val, &type);
		const char **slot;
		struct pgw_sql_value *v;

		if (!name)
			continue;
		slot = sql_vec_push(b, &b->cols, sizeof(*slot));
		v = sql_vec_push(b, &b->values, sizeof(*v));
		if (!slot || !v)
			return;
		*slot = sql_strdup(b, name, strlen(name));
		if (vbody && strcmp(type, "MultiAssignRef") == 0)
			multi_assign_value(b, vbody, v);
		else
			sql_value_of(b, val, v);
	}
	upd = (struct pgw_sql_update *)b->updates.p + idx;
	upd->nsets = b->cols.n - cstart;
	/* indexes into b->cols and b->values until sql_builder_finish makes them pointers */
	upd->cols = (const char *const *)(uintptr_t)cstart;
	upd->values = (const struct pgw_sql_value *)(uintptr_t)vstart;
}
