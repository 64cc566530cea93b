/*
 * INSERT extraction for the job serializer: the target, the column list as written and
 * each VALUES item as a literal, $n, NULL, DEFAULT or unknown. Anything we cannot read
 * exactly (INSERT ... SELECT, VALUES with ORDER BY/LIMIT, ragged rows, expressions) is
 * reported as unknown, never guessed: the serializer forwards such inserts unguarded.
 */
#include "sql-int.h"

#include <string.h>
#include <cJSON.h>

static const cJSON *get(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* Name of a TypeCast's type: the last name component, "[]" added for arrays. */
static const char *cast_name(struct sql_builder *b, const cJSON *cast)
{
	const cJSON *tn = get(cast, "typeName");
	const cJSON *names = get(tn, "names");
	const char *type, *s;
	const cJSON *last =
		sql_node_body(cJSON_GetArrayItem(names, cJSON_GetArraySize(names) - 1), &type);
	char buf[80];
	size_t n;

	if (!last || strcmp(type, "String") != 0 || !(s = sql_json_str(last, "sval")))
		return NULL;
	n = strlen(s);
	if (n + 3 > sizeof(buf))
		return sql_strdup(b, s, n);
	memcpy(buf, s, n);
	if (get(tn, "arrayBounds")) {
		memcpy(buf + n, "[]", 2);
		n += 2;
	}
	return sql_strdup(b, buf, n);
}

void sql_value_of(struct sql_builder *b, const cJSON *wrapper, struct pgw_sql_value *v)
{
	const char *type = NULL, *text;
	const cJSON *body = sql_node_body(wrapper, &type);
	bool isnull;

	v->type = PGW_SQL_VAL_UNKNOWN;
	while (body && strcmp(type, "TypeCast") == 0) {
		if (!v->cast)
			v->cast = cast_name(b, body);
		body = sql_node_body(get(body, "arg"), &type);
	}
	if (!body)
		return;
	if (strcmp(type, "A_Const") == 0) {
		text = sql_const_value_text(b, body, &isnull, &v->slot);
		if (isnull) {
			v->type = PGW_SQL_VAL_NULL;
		} else if (text) {
			v->type = PGW_SQL_VAL_LITERAL;
			v->text = sql_strdup(b, text, strlen(text));
		}
	} else if (strcmp(type, "ParamRef") == 0) {
		const cJSON *num = get(body, "number");

		if (cJSON_IsNumber(num) && num->valueint > 0) {
			v->type = PGW_SQL_VAL_PARAM;
			v->param = num->valueint;
		}
	} else if (strcmp(type, "SetToDefault") == 0) {
		v->type = PGW_SQL_VAL_DEFAULT;
	}
}

/* A VALUES list we can read row by row: no ORDER BY, LIMIT, OFFSET, FOR UPDATE, WITH. */
static const cJSON *plain_values(const cJSON *sel)
{
	static const char *const extra[] = {"sortClause", "limitCount", "limitOffset",
					    "lockingClause", "withClause"};

	for (size_t i = 0; i < PGW_ARRAY_LEN(extra); i++)
		if (get(sel, extra[i]))
			return NULL;
	return get(sel, "valuesLists");
}

static void read_rows(struct sql_builder *b, size_t idx, const cJSON *rows)
{
	struct pgw_sql_insert *ins;
	size_t start = b->values.n, rowlen = 0, nrows = 0;
	const cJSON *row, *it;
	const char *type;

	cJSON_ArrayForEach(row, rows)
	{
		const cJSON *list = sql_node_body(row, &type);
		const cJSON *items = list ? get(list, "items") : NULL;
		size_t n = (size_t)cJSON_GetArraySize(items);

		if (nrows == 0)
			rowlen = n;
		if (!list || n != rowlen || n == 0) {
			b->values.n = start; /* ragged rows: the server refuses them anyway */
			return;
		}
		cJSON_ArrayForEach(it, items)
		{
			struct pgw_sql_value *v = sql_vec_push(b, &b->values, sizeof(*v));

			if (!v)
				return;
			sql_value_of(b, it, v);
		}
		nrows++;
	}
	ins = (struct pgw_sql_insert *)b->inserts.p + idx;
	ins->values_known = nrows > 0;
	ins->nrows = nrows;
	ins->rowlen = rowlen;
	/* an index into b->values until sql_builder_finish makes it a pointer */
	ins->values = (const struct pgw_sql_value *)(uintptr_t)start;
}

enum pgw_sql_insert_where sql_where_now(const struct sql_builder *b)
{
	if (b->stmt_depth == 0)
		return PGW_SQL_INS_TOP;
	if (b->in_prepare > 0 && b->stmt_depth == 1)
		return PGW_SQL_INS_PREPARE;
	return PGW_SQL_INS_NESTED;
}

void sql_insert_extract(struct sql_builder *b, const cJSON *body, const struct pgw_sql_rel *rel)
{
	size_t idx = b->inserts.n, start = b->cols.n;
	struct pgw_sql_insert *ins = sql_vec_push(b, &b->inserts, sizeof(*ins));
	const cJSON *c, *sel;
	const char *type;

	if (!ins)
		return;
	ins->rel = *rel;
	ins->stmt = b->stmt_index;
	ins->where = sql_where_now(b);
	ins->on_conflict = get(body, "onConflictClause") != NULL;
	ins->returning = get(body, "returningList") != NULL;

	cJSON_ArrayForEach(c, get(body, "cols"))
	{
		const cJSON *rt = sql_node_body(c, &type);
		const char *name = rt ? sql_json_str(rt, "name") : NULL;
		const char **slot = sql_vec_push(b, &b->cols, sizeof(*slot));

		if (!slot)
			return;
		*slot = name ? sql_strdup(b, name, strlen(name)) : "?";
	}
	ins = (struct pgw_sql_insert *)b->inserts.p + idx;
	ins->ncols = b->cols.n - start;
	ins->cols = (const char *const *)(uintptr_t)start;

	c = get(body, "onConflictClause");
	if (c && sql_streq(sql_json_str(c, "action"), "ONCONFLICT_UPDATE"))
		sql_update_extract(b, get(c, "targetList"), rel);
	sel = sql_node_body(get(body, "selectStmt"), &type);
	if (!sel) {
		ins->default_values = true;
		return;
	}
	if (strcmp(type, "SelectStmt") == 0 && plain_values(sel))
		read_rows(b, idx, plain_values(sel));
}
