/*
 * The tree walk over libpg_query's JSON: visits every node of a statement (CTEs,
 * subqueries, FROM functions, PREPARE and EXPLAIN bodies, rule actions), hashes its
 * shape for the fingerprint and raises the detections of the statement nodes and function
 * calls it meets.
 * Decisions come from the tree only, never from the text. JSON conventions: a member
 * whose key starts with an upper-case letter is a node of that type; a few fields hold
 * a bare struct instead (RangeVar "relation", the VariableSetStmt of ALTER ROLE ... SET,
 * CallStmt's FuncCall, ALTER DEFAULT PRIVILEGES' GrantStmt): those are read in place.
 */
#include "sql-int.h"

#include <string.h>
#include <cJSON.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

/* ---- the walk ---- */

static inline void fp_mix(struct sql_builder *b, const char *s)
{
	b->fp = XXH3_64bits_withSeed(s, strlen(s), b->fp);
}

/* Byte offsets: they differ with spacing and comments, so they stay out of the hash. */
static bool is_location(const char *key)
{
	if (!key || (key[0] != 'l' && key[0] != 's'))
		return false;
	return strcmp(key, "location") == 0 || strcmp(key, "stmt_location") == 0 ||
	       strcmp(key, "stmt_len") == 0;
}

static void walk_node(struct sql_builder *b, const char *type, const cJSON *body, int depth);

static void walk_children(struct sql_builder *b, const cJSON *obj, int depth)
{
	const cJSON *m;

	if (depth > SQL_MAX_WALK_DEPTH) {
		b->too_complex = true;
		return;
	}
	for (m = obj->child; m && !b->oom && !b->too_complex; m = m->next) {
		if (is_location(m->string))
			continue;
		if (m->string)
			fp_mix(b, m->string);
		if (cJSON_IsObject(m)) {
			if (m->string && m->string[0] >= 'A' && m->string[0] <= 'Z')
				walk_node(b, m->string, m, depth + 1);
			else
				walk_children(b, m, depth + 1);
		} else if (cJSON_IsArray(m)) {
			walk_children(b, m, depth + 1);
		} else if (cJSON_IsString(m)) {
			fp_mix(b, m->valuestring);
		} else if (cJSON_IsNumber(m)) {
			double v = m->valuedouble; /* the bits: no conversion can overflow */

			b->fp = XXH3_64bits_withSeed(&v, sizeof(v), b->fp);
		} else if (cJSON_IsBool(m)) {
			fp_mix(b, cJSON_IsTrue(m) ? "t" : "f");
		}
	}
}

static void walk_node(struct sql_builder *b, const char *type, const cJSON *body, int depth)
{
	int suppress = b->suppress, in_prepare = b->in_prepare;
	int in_definition = b->in_definition, guc_route = b->guc_route;
	int in_func_ref = b->in_func_ref;
	const char *func_ref_what = b->func_ref_what;
	size_t n;

	/* constants and $n numbers stay out of the fingerprint; nothing inside them matters */
	if (type[0] == 'A' && strcmp(type, "A_Const") == 0) {
		sql_slot_seen(b, body);
		return;
	}
	if (type[0] == 'P' && strcmp(type, "ParamRef") == 0)
		return;
	if (type[0] == 'F' && strcmp(type, "FuncCall") == 0) {
		sql_guc_funccall(b, body);
		sql_calls_funccall(b, body);
		sql_session_funccall(b, body);
	} else if (b->in_func_ref > 0 && type[0] == 'S' && strcmp(type, "String") == 0) {
		sql_calls_named(b, sql_json_str(body, "sval"));
	} else if (type[0] == 'A' && strcmp(type, "A_Indirection") == 0) {
		sql_calls_indirection(b, body);
	} else if (type[0] == 'R' && strcmp(type, "RangeVar") == 0 && b->in_definition > 0) {
		/* a view or rule over pg_settings can call set_config() on UPDATE later */
		if (sql_streq(sql_json_str(body, "relname"), "pg_settings"))
			sql_guc_dynamic(b, "a definition over pg_settings");
	}
	n = strlen(type);
	if (n < 4 || strcmp(type + n - 4, "Stmt") != 0) {
		walk_children(b, body, depth);
		return;
	}
	sql_stmt_fields(b, type, body);
	b->stmt_depth++;
	walk_children(b, body, depth);
	b->stmt_depth--;
	b->suppress = suppress;
	b->in_prepare = in_prepare;
	b->in_definition = in_definition;
	b->guc_route = guc_route;
	b->in_func_ref = in_func_ref;
	b->func_ref_what = func_ref_what;
}

void sql_walk_stmt(struct sql_builder *b, const cJSON *raw)
{
	const cJSON *wrapper = sql_json_item(raw, "stmt");
	const char *type = NULL;
	const cJSON *body = sql_node_body(wrapper, &type);
	const struct sql_stmt_type *t;
	struct pgw_sql_stmt *st;
	int loc = sql_json_int(raw, "stmt_location"), len = sql_json_int(raw, "stmt_len");
	size_t idx = b->stmts.n;

	if (!sql_vec_push(b, &b->stmts, sizeof(*st)))
		return;
	st = (struct pgw_sql_stmt *)b->stmts.p + idx;
	st->kind = PGW_SQL_KIND_OTHER;
	st->tag = "?";
	if (!body)
		return;
	t = sql_stmt_type(type);
	st->kind = t ? t->kind : PGW_SQL_KIND_OTHER;
	st->tag = t ? t->tag : "?";
	st->tag = sql_stmt_tag(type, body, t);
	if (strcmp(type, "SelectStmt") == 0 && sql_json_item(body, "intoClause"))
		st->kind = PGW_SQL_KIND_DDL;
	if (loc < 0 || (size_t)loc > b->len)
		loc = 0;
	st->offset = (uint32_t)loc;
	st->len = (uint32_t)(len > 0 ? (size_t)len : b->len - (size_t)loc);
	b->stmt_flags = 0;
	b->stmt_makes_temp = false;
	b->stmt_depth = 0;
	fp_mix(b, type);
	walk_node(b, type, wrapper->child, 1);
	/* the walk pushes to other vectors only, so <st> is still where it was */
	((struct pgw_sql_stmt *)b->stmts.p)[idx].flags = b->stmt_flags;
	((struct pgw_sql_stmt *)b->stmts.p)[idx].makes_temp = b->stmt_makes_temp;
}
