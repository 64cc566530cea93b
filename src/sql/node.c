/*
 * Reading libpg_query's JSON nodes: small accessors, constants in text form (including
 * the negative integers 15-4.0.0 leaves out of its JSON), and relation names as written.
 */
#include "sql-int.h"

#include <stdio.h>
#include <string.h>
#include <cJSON.h>

/* ---- JSON helpers ---- */

const cJSON *sql_node_body(const cJSON *wrapper, const char **type)
{
	if (!cJSON_IsObject(wrapper) || !wrapper->child || !wrapper->child->string)
		return NULL;
	*type = wrapper->child->string;
	return wrapper->child;
}

const char *sql_json_str(const cJSON *obj, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

bool sql_json_bool(const cJSON *obj, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

const cJSON *sql_json_item(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* Integer nodes: libpg_query 15-4.0.0 writes "ival" only when it is > 0. */
int sql_json_int(const cJSON *obj, const char *key)
{
	const cJSON *it = sql_json_item(obj, key);

	return cJSON_IsNumber(it) ? it->valueint : 0;
}

/* ---- constants ---- */

/*
 * The text of a negative or zero Integer, which the JSON leaves empty: read it back from
 * the statement at the constant's location ("-5", "- 5", "0"). NULL if it is anything
 * else (e.g. a comment between sign and digits): the caller then treats it as unknown.
 */
static const char *int_from_text(struct sql_builder *b, int loc, char *buf, size_t bufsz)
{
	const char *p, *end = b->text + b->len;
	bool neg = false;
	long long v = 0;
	int digits = 0;

	if (loc < 0 || (size_t)loc >= b->len)
		return NULL;
	p = b->text + loc;
	if (*p == '-') {
		neg = true;
		for (p++; p < end && (*p == ' ' || (*p >= '\t' && *p <= '\r')); p++)
			;
	}
	for (; p < end && *p >= '0' && *p <= '9' && digits < 12; p++, digits++)
		v = v * 10 + (*p - '0');
	if (digits == 0 || digits == 12)
		return NULL;
	snprintf(buf, bufsz, "%lld", neg ? -v : v);
	return buf;
}

static const char *const_text(struct sql_builder *b, const cJSON *ac, bool *isnull)
{
	static _Thread_local char buf[32];
	const cJSON *v;

	*isnull = false;
	if (sql_json_bool(ac, "isnull")) {
		*isnull = true;
		return NULL;
	}
	if ((v = sql_json_item(ac, "sval"))) {
		const char *s = sql_json_str(v, "sval");
		return s ? s : "";
	}
	if ((v = sql_json_item(ac, "ival"))) {
		if (sql_json_item(v, "ival")) {
			snprintf(buf, sizeof(buf), "%d", sql_json_int(v, "ival"));
			return buf;
		}
		return int_from_text(b, sql_json_int(ac, "location"), buf, sizeof(buf));
	}
	if ((v = sql_json_item(ac, "fval")))
		return sql_json_str(v, "fval");
	if ((v = sql_json_item(ac, "boolval")))
		return sql_json_bool(v, "boolval") ? "true" : "false";
	if ((v = sql_json_item(ac, "bsval")))
		return sql_json_str(v, "bsval");
	return NULL;
}

const char *sql_const_text(struct sql_builder *b, const cJSON *ac, bool *isnull)
{
	sql_slot_read(b, ac, SQL_SLOT_DECIDES);
	return const_text(b, ac, isnull);
}

const char *sql_const_value_text(struct sql_builder *b, const cJSON *ac, bool *isnull,
				 uint32_t *slot)
{
	*slot = sql_slot_read(b, ac, SQL_SLOT_VALUE);
	return const_text(b, ac, isnull);
}

/* ---- relations ---- */

/* Appends <id> to <out>, double-quoted unless it is a plain lower-case identifier. */
static void put_ident(char *out, size_t outsz, size_t *pos, const char *id)
{
	bool plain = (*id >= 'a' && *id <= 'z') || *id == '_';
	size_t need;

	for (const char *p = id; *p && plain; p++)
		plain = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
			*p == '$';
	need = strlen(id) * 2 + 3;
	if (*pos + need >= outsz)
		return; /* only descriptions can be this long (names have <= 63 bytes): skip it */
	if (plain) {
		*pos += (size_t)snprintf(out + *pos, outsz - *pos, "%s", id);
		return;
	}
	out[(*pos)++] = '"';
	for (const char *p = id; *p; p++) {
		if (*p == '"')
			out[(*pos)++] = '"';
		out[(*pos)++] = *p;
	}
	out[(*pos)++] = '"';
	out[*pos] = '\0';
}

/* <schema> may be NULL. The components are the parser's (case-folded unless quoted). */
static bool rel_from_names(struct sql_builder *b, const char *schema, const char *name,
			   struct pgw_sql_rel *out)
{
	char q[2 * 64 * 2 + 8];
	size_t pos = 0;

	memset(out, 0, sizeof(*out));
	if (!name)
		return false;
	q[0] = '\0';
	if (schema) {
		put_ident(q, sizeof(q), &pos, schema);
		if (pos + 1 < sizeof(q))
			q[pos++] = '.';
		q[pos] = '\0';
	}
	put_ident(q, sizeof(q), &pos, name);
	out->schema = schema ? sql_strdup(b, schema, strlen(schema)) : NULL;
	out->name = sql_strdup(b, name, strlen(name));
	out->qualified = sql_strdup(b, q, pos);
	return out->name && out->qualified;
}

bool sql_rel_from_rangevar(struct sql_builder *b, const cJSON *rv, struct pgw_sql_rel *out)
{
	return rel_from_names(b, sql_json_str(rv, "schemaname"), sql_json_str(rv, "relname"), out);
}

void sql_add_rel(struct sql_builder *b, const struct pgw_sql_rel *rel,
		 enum pgw_sql_rel_action action)
{
	const struct pgw_sql_rel *all = b->rels.p;
	struct pgw_sql_rel *r;

	if (!rel->qualified || b->suppress > 0)
		return;
	/* only recent entries are compared: linear in the text even for 10^5 statements */
	for (size_t i = b->rels.n; i > 0 && i + 8 > b->rels.n; i--)
		if (all[i - 1].action == action &&
		    strcmp(all[i - 1].qualified, rel->qualified) == 0)
			return;
	r = sql_vec_push(b, &b->rels, sizeof(*r));
	if (r) {
		*r = *rel;
		r->action = action;
	}
}

/* "a.b, c" from a DropStmt's objects (lists of String, or String); bounded. */
void sql_describe_objects(const cJSON *objects, char *out, size_t outsz)
{
	const cJSON *obj;
	size_t pos = 0;
	const char *type;

	out[0] = '\0';
	cJSON_ArrayForEach(obj, objects)
	{
		const cJSON *body = sql_node_body(obj, &type);
		const cJSON *part;
		bool first = true;

		if (!body)
			continue;
		if (pos > 0 && pos + 2 < outsz) {
			memcpy(out + pos, ", ", 3);
			pos += 2;
		}
		if (strcmp(type, "String") == 0) {
			put_ident(out, outsz, &pos, sql_nz(sql_json_str(body, "sval"), ""));
		} else if (strcmp(type, "List") == 0) {
			cJSON_ArrayForEach(part, sql_json_item(body, "items"))
			{
				const cJSON *s = sql_node_body(part, &type);

				if (!s || strcmp(type, "String") != 0)
					continue;
				if (!first && pos + 1 < outsz)
					out[pos++] = '.';
				out[pos] = '\0';
				put_ident(out, outsz, &pos, sql_nz(sql_json_str(s, "sval"), ""));
				first = false;
			}
		} else if (pos + 3 < outsz) {
			memcpy(out + pos, "...", 4);
			pos += 3;
		}
	}
}

static bool is_relation_object(const char *objtype)
{
	static const char *const rel_types[] = {"OBJECT_TABLE",	   "OBJECT_VIEW",
						"OBJECT_MATVIEW",  "OBJECT_INDEX",
						"OBJECT_SEQUENCE", "OBJECT_FOREIGN_TABLE"};

	for (size_t i = 0; objtype && i < PGW_ARRAY_LEN(rel_types); i++)
		if (strcmp(objtype, rel_types[i]) == 0)
			return true;
	return false;
}

/* Relations named by a DropStmt of a relation type, recorded as PGW_SQL_REL_DROP. */
void sql_drop_rels(struct sql_builder *b, const char *objtype, const cJSON *objects)
{
	const cJSON *obj, *part;
	const char *type;

	if (!is_relation_object(objtype))
		return;
	cJSON_ArrayForEach(obj, objects)
	{
		const cJSON *body = sql_node_body(obj, &type);
		const char *names[3] = {NULL, NULL, NULL};
		int n = 0;
		struct pgw_sql_rel rel;

		if (!body || strcmp(type, "List") != 0)
			continue;
		cJSON_ArrayForEach(part, sql_json_item(body, "items"))
		{
			const cJSON *s = sql_node_body(part, &type);

			if (s && strcmp(type, "String") == 0 && n < 3)
				names[n++] = sql_json_str(s, "sval");
		}
		if (n == 0)
			continue;
		if (rel_from_names(b, n >= 2 ? names[n - 2] : NULL, names[n - 1], &rel))
			sql_add_rel(b, &rel, PGW_SQL_REL_DROP);
	}
}
