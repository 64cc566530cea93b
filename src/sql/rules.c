/*
 * Detections raised by the fields of statement nodes: what DROP, TRUNCATE, DELETE,
 * UPDATE, ALTER TABLE, CREATE INDEX, GRANT, SET, EXPLAIN and friends say about
 * themselves. Called once per statement node met by the walk, before its children.
 */
#include "sql-int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <cJSON.h>

bool sql_created_earlier(struct sql_builder *b, const char *qualified)
{
	const char *const *names = b->created.p;

	for (size_t i = 0; i < b->created.n; i++)
		if (names[i] && strcmp(names[i], qualified) == 0)
			return true;
	return false;
}

void sql_forget_created(struct sql_builder *b, const char *qualified)
{
	const char **names = b->created.p;

	for (size_t i = 0; i < b->created.n; i++)
		if (names[i] && strcmp(names[i], qualified) == 0)
			names[i] = NULL;
}

/* IF NOT EXISTS is a no-op on a table that exists, with its rows and readers: not new. */
static void remember_created(struct sql_builder *b, const cJSON *rv, bool if_not_exists)
{
	struct pgw_sql_rel rel;
	const char **slot;

	if (if_not_exists || b->created.n >= SQL_MAX_CREATED || !sql_rel_from_rangevar(b, rv, &rel))
		return;
	slot = sql_vec_push(b, &b->created, sizeof(*slot));
	if (slot)
		*slot = rel.qualified;
}

/* EXPLAIN runs its statement only with ANALYZE; the last option wins, as in the server. */
static bool explain_runs(const cJSON *body)
{
	const cJSON *opt;
	const char *type;
	bool analyze = false;

	cJSON_ArrayForEach(opt, sql_json_item(body, "options"))
	{
		const cJSON *de = sql_node_body(opt, &type);
		const char *name = de ? sql_json_str(de, "defname") : NULL;
		const cJSON *arg, *val;

		if (!name || (strcasecmp(name, "analyze") && strcasecmp(name, "analyse")))
			continue;
		arg = sql_json_item(de, "arg");
		val = sql_node_body(arg, &type);
		if (!val) {
			analyze = true;
		} else if (strcmp(type, "Integer") == 0) {
			/* 0 (or negative, which the server rejects) is the only "off" */
			analyze = sql_json_int(val, "ival") > 0;
		} else if (strcmp(type, "String") == 0) {
			const char *s = sql_json_str(val, "sval");

			/* defGetBoolean: only false/off are off; anything odd counts as on */
			analyze = !(s && (!strcasecmp(s, "false") || !strcasecmp(s, "off")));
		} else {
			analyze = true;
		}
	}
	return analyze;
}

static void alter_table(struct sql_builder *b, const cJSON *body, const struct pgw_sql_rel *rel)
{
	const char *word = sql_nz(sql_object_word(sql_json_str(body, "objtype")), "TABLE");
	const char *q = sql_nz(rel->qualified, "?");
	const cJSON *cmd;
	const char *type;

	cJSON_ArrayForEach(cmd, sql_json_item(body, "cmds"))
	{
		const cJSON *c = sql_node_body(cmd, &type);
		const char *sub = c ? sql_json_str(c, "subtype") : NULL;
		const char *col = c ? sql_json_str(c, "name") : NULL;
		bool drop = false;

		if (!sub)
			continue;
		sql_alter_table_cmd(b, c, word, rel);
		if (strcmp(sub, "AT_DropColumn") == 0) {
			sql_flagf(b, PGW_SQL_ALTER_DROP_COLUMN, "ALTER %s %s DROP COLUMN %s", word,
				  q, sql_nz(col, "?"));
			drop = true;
		} else if (strcmp(sub, "AT_DropConstraint") == 0) {
			sql_flagf(b, PGW_SQL_ALTER_DROP_CONSTRAINT,
				  "ALTER %s %s DROP CONSTRAINT %s", word, q, sql_nz(col, "?"));
			drop = true;
		} else if (strcmp(sub, "AT_AlterColumnType") == 0) {
			sql_flagf(b, PGW_SQL_ALTER_COLUMN_TYPE, "ALTER %s %s ALTER COLUMN %s TYPE",
				  word, q, sql_nz(col, "?"));
		}
		if (drop && sql_streq(sql_json_str(c, "behavior"), "DROP_CASCADE"))
			sql_flagf(b, PGW_SQL_CASCADE, "ALTER %s %s DROP %s CASCADE", word, q,
				  sql_nz(col, "?"));
	}
}

/* No WHERE, or one that holds for every row (WHERE true, WHERE 1 = 1): the whole table. */
static void where_clause(struct sql_builder *b, const cJSON *body, enum pgw_sql_flag flag,
			 const char *verb, const struct pgw_sql_rel *rel)
{
	const cJSON *where = sql_json_item(body, "whereClause");

	if (!where)
		sql_flagf(b, flag, "%s %s", verb, sql_nz(rel->qualified, "?"));
	else if (sql_always_true(b, where))
		sql_flagf(b, flag, "%s %s WHERE (always true)", verb, sql_nz(rel->qualified, "?"));
}

/* DEALLOCATE name or ALL: the session's map of prepared statements follows it (protocol
 * and SQL-level statements share one namespace in the server). */
static void deallocate_stmt(struct sql_builder *b, const cJSON *body)
{
	const char *name = sql_json_str(body, "name");
	const char **slot = sql_vec_push(b, &b->deallocates, sizeof(*slot));

	if (slot != NULL)
		*slot = name != NULL ? sql_strdup(b, name, strlen(name)) : NULL;
}

static void drop_stmt(struct sql_builder *b, const cJSON *body)
{
	const char *objtype = sql_json_str(body, "removeType");
	const char *tag = sql_drop_tag(objtype);
	const cJSON *objects = sql_json_item(body, "objects");
	char names[SQL_MAX_DESC];

	sql_describe_objects(objects, names, sizeof(names));
	if (sql_streq(objtype, "OBJECT_TABLE"))
		sql_flagf(b, PGW_SQL_DROP_TABLE, "%s %s", tag, names);
	else if (sql_streq(objtype, "OBJECT_SCHEMA"))
		sql_flagf(b, PGW_SQL_DROP_SCHEMA, "%s %s", tag, names);
	else if (sql_streq(objtype, "OBJECT_INDEX") && !sql_json_bool(body, "concurrent"))
		sql_flagf(b, PGW_SQL_DROP_INDEX_BLOCKING, "%s %s", tag, names);
	else if (sql_streq(objtype, "OBJECT_INDEX"))
		sql_flagf(b, PGW_SQL_CONCURRENTLY, "%s CONCURRENTLY %s", tag, names);
	else if (sql_streq(objtype, "OBJECT_VIEW") || sql_streq(objtype, "OBJECT_MATVIEW"))
		sql_flagf(b, PGW_SQL_DROP_VIEW, "%s %s", tag, names);
	else if (sql_streq(objtype, "OBJECT_POLICY"))
		sql_flagf(b, PGW_SQL_RLS_WEAKENING, "%s %s", tag, names);
	if (sql_streq(sql_json_str(body, "behavior"), "DROP_CASCADE"))
		sql_flagf(b, PGW_SQL_CASCADE, "%s %s CASCADE", tag, names);
	sql_drop_rels(b, objtype, objects);
	sql_flagf(b, PGW_SQL_DDL, "%s %s", tag, names);
}

static void truncate_stmt(struct sql_builder *b, const cJSON *body)
{
	const cJSON *w;
	const char *type, *first = NULL;
	struct pgw_sql_rel rel;
	size_t n = 0;

	cJSON_ArrayForEach(w, sql_json_item(body, "relations"))
	{
		const cJSON *rv = sql_node_body(w, &type);

		if (rv && sql_rel_from_rangevar(b, rv, &rel)) {
			sql_add_rel(b, &rel, PGW_SQL_REL_TRUNCATE);
			if (!first)
				first = rel.qualified;
			n++;
		}
	}
	sql_flagf(b, PGW_SQL_TRUNCATE, "TRUNCATE %s%s", sql_nz(first, "?"), n > 1 ? ", ..." : "");
	if (sql_streq(sql_json_str(body, "behavior"), "DROP_CASCADE"))
		sql_flagf(b, PGW_SQL_CASCADE, "TRUNCATE %s%s CASCADE", sql_nz(first, "?"),
			  n > 1 ? ", ..." : "");
}

static void index_stmt(struct sql_builder *b, const cJSON *body, const struct pgw_sql_rel *rel)
{
	const char *idx = sql_json_str(body, "idxname");

	if (sql_json_bool(body, "concurrent")) {
		sql_flagf(b, PGW_SQL_CONCURRENTLY, "CREATE INDEX CONCURRENTLY %s%sON %s",
			  sql_nz(idx, ""), idx ? " " : "", sql_nz(rel->qualified, "?"));
		return;
	}
	if (!rel->qualified)
		return;
	if (sql_created_earlier(b, rel->qualified))
		return;
	sql_flagf(b, PGW_SQL_CREATE_INDEX_BLOCKING, "CREATE INDEX %s%sON %s", sql_nz(idx, ""),
		  idx ? " " : "", rel->qualified);
}

/* A RoleSpec: the name, CURRENT_USER and the like, or ALL when absent. */
static const char *role_name(const cJSON *role)
{
	const char *kind = sql_json_str(role, "roletype");

	if (!role)
		return "ALL";
	if (sql_streq(kind, "ROLESPEC_CSTRING"))
		return sql_nz(sql_json_str(role, "rolename"), "?");
	return kind && strncmp(kind, "ROLESPEC_", 9) == 0 ? kind + 9 : "?";
}

static void grant_desc(struct sql_builder *b, const cJSON *body, bool role)
{
	const char *word = sql_object_word(sql_json_str(body, "objtype"));
	const char *verb = sql_json_bool(body, "is_grant") ? "GRANT" : "REVOKE";

	if (role)
		sql_flagf(b, PGW_SQL_GRANT_REVOKE, "%s role", verb);
	else
		sql_flagf(b, PGW_SQL_GRANT_REVOKE, "%s ON %s", verb, sql_nz(word, "?"));
}

/* CREATE [OR REPLACE] FUNCTION/PROCEDURE: its body is code pgward does not inspect. */
static void create_function(struct sql_builder *b, const cJSON *body)
{
	char name[SQL_MAX_DESC];
	size_t n = 0;
	const cJSON *w;

	name[0] = '\0';
	cJSON_ArrayForEach(w, sql_json_item(body, "funcname"))
	{
		const char *type = NULL;
		const cJSON *s = sql_node_body(w, &type);
		const char *part =
			s && strcmp(type, "String") == 0 ? sql_json_str(s, "sval") : NULL;
		int k = snprintf(name + n, sizeof(name) - n, "%s%s", n ? "." : "",
				 sql_nz(part, "?"));

		if (k < 0 || (size_t)k >= sizeof(name) - n)
			break;
		n += (size_t)k;
	}
	sql_flagf(b, PGW_SQL_CREATE_FUNCTION, "CREATE %s%s %s",
		  sql_json_bool(body, "replace") ? "OR REPLACE " : "",
		  sql_json_bool(body, "is_procedure") ? "PROCEDURE" : "FUNCTION", name);
}

/* The command tag, more precise than the table's where the object type says more. */
const char *sql_stmt_tag(const char *type, const cJSON *body, const struct sql_stmt_type *t)
{
	const char *dflt = t ? t->tag : "?";
	const char *obj;

	if (strcmp(type, "DropStmt") == 0)
		return sql_drop_tag(sql_json_str(body, "removeType"));
	if (strcmp(type, "AlterTableStmt") == 0)
		return sql_alter_tag(sql_json_str(body, "objtype"), dflt);
	if (strcmp(type, "RenameStmt") == 0) {
		obj = sql_json_str(body, "renameType");
		/* renaming a column or constraint is an ALTER of its relation */
		if (sql_streq(obj, "OBJECT_COLUMN") || sql_streq(obj, "OBJECT_TABCONSTRAINT"))
			obj = sql_json_str(body, "relationType");
		return sql_alter_tag(obj, "ALTER");
	}
	if (strcmp(type, "SelectStmt") == 0 && sql_json_item(body, "intoClause"))
		return "SELECT INTO";
	return dflt;
}

/* The few statements whose fields, not their children, carry a detection. */
void sql_stmt_fields(struct sql_builder *b, const char *type, const cJSON *body)
{
	const cJSON *rv = sql_json_item(body, "relation");
	struct pgw_sql_rel rel = {0};
	bool has_rel = cJSON_IsObject(rv) && sql_rel_from_rangevar(b, rv, &rel);
	const cJSON *sub;

	sql_calls_stmt(b, type, body);
	sql_casts_stmt(b, type, body);
	sql_session_stmt(b, type, body);
	sql_migration_stmt(b, type, body, &rel);
	switch (type[0]) {
	case 'A':
		if (strcmp(type, "AlterTableStmt") == 0) {
			if (has_rel)
				sql_add_rel(b, &rel, PGW_SQL_REL_ALTER);
			alter_table(b, body, &rel);
		} else if (strcmp(type, "AlterRoleSetStmt") == 0 ||
			   strcmp(type, "AlterDatabaseSetStmt") == 0) {
			bool db = type[5] == 'D';
			const cJSON *set = sql_json_item(body, "setstmt");
			const cJSON *role = sql_json_item(body, "role");
			const char *who = db ? sql_json_str(body, "dbname") : role_name(role);
			bool reset = sql_streq(sql_json_str(set, "kind"), "VAR_RESET") ||
				     sql_streq(sql_json_str(set, "kind"), "VAR_RESET_ALL");

			sql_flagf(b, PGW_SQL_ALTER_ROLE_SET, "ALTER %s %s %s %s",
				  db ? "DATABASE" : "ROLE", sql_nz(who, db ? "?" : "ALL"),
				  reset ? "RESET" : "SET",
				  sql_nz(sql_json_str(set, "name"), "ALL"));
			sql_guc_setstmt(b, set,
					db ? PGW_SQL_GUC_ALTER_DATABASE : PGW_SQL_GUC_ALTER_ROLE);
		} else if (strcmp(type, "AlterSystemStmt") == 0) {
			sql_flag(b, PGW_SQL_ALTER_SYSTEM, "ALTER SYSTEM");
			sql_guc_setstmt(b, sql_json_item(body, "setstmt"),
					PGW_SQL_GUC_ALTER_SYSTEM);
		} else if (strcmp(type, "AlterDefaultPrivilegesStmt") == 0) {
			sql_flag(b, PGW_SQL_GRANT_REVOKE, "ALTER DEFAULT PRIVILEGES");
		} else if (strcmp(type, "AlterFunctionStmt") == 0) {
			b->guc_route = PGW_SQL_GUC_FUNCTION;
		} else if (strcmp(type, "AlterExtensionStmt") == 0) {
			/* an update script creates and replaces functions */
			sql_flagf(b, PGW_SQL_CREATE_FUNCTION, "ALTER EXTENSION %s UPDATE",
				  sql_nz(sql_json_str(body, "extname"), "?"));
		} else if (strcmp(type, "AlterObjectSchemaStmt") == 0 && has_rel) {
			sql_add_rel(b, &rel, PGW_SQL_REL_ALTER);
			sql_forget_created(b, rel.qualified); /* SET SCHEMA: another name now */
		}
		break;
	case 'C':
		if (strcmp(type, "CreateStmt") == 0) {
			remember_created(b, rv, sql_json_bool(body, "if_not_exists"));
		} else if (strcmp(type, "CreateForeignTableStmt") == 0) {
			sub = sql_json_item(body, "base");
			remember_created(b, sql_json_item(sub, "relation"),
					 sql_json_bool(sub, "if_not_exists"));
		} else if (strcmp(type, "CreateTableAsStmt") == 0) {
			remember_created(b, sql_json_item(sql_json_item(body, "into"), "rel"),
					 sql_json_bool(body, "if_not_exists"));
		} else if (strcmp(type, "CreateFunctionStmt") == 0) {
			b->guc_route = PGW_SQL_GUC_FUNCTION;
			b->in_definition++;
			create_function(b, body);
		} else if (strcmp(type, "CreateExtensionStmt") == 0) {
			/* its script creates functions */
			sql_flagf(b, PGW_SQL_CREATE_FUNCTION, "CREATE EXTENSION %s",
				  sql_nz(sql_json_str(body, "extname"), "?"));
		} else if (strcmp(type, "CallStmt") == 0) {
			/* a bare FuncCall */
			sql_guc_funccall(b, sql_json_item(body, "funccall"));
			sql_calls_funccall(b, sql_json_item(body, "funccall"));
			sql_session_funccall(b, sql_json_item(body, "funccall"));
		} else if (strcmp(type, "CopyStmt") == 0 && has_rel &&
			   sql_json_bool(body, "is_from")) {
			sql_add_rel(b, &rel, PGW_SQL_REL_COPY_FROM);
		}
		break;
	case 'D':
		if (strcmp(type, "DeleteStmt") == 0) {
			if (has_rel)
				sql_add_rel(b, &rel, PGW_SQL_REL_DELETE);
			where_clause(b, body, PGW_SQL_DELETE_WITHOUT_WHERE, "DELETE FROM", &rel);
		} else if (strcmp(type, "DropStmt") == 0) {
			drop_stmt(b, body);
		} else if (strcmp(type, "DropdbStmt") == 0) {
			sql_flagf(b, PGW_SQL_DROP_DATABASE, "DROP DATABASE %s",
				  sql_nz(sql_json_str(body, "dbname"), "?"));
		} else if (strcmp(type, "DeallocateStmt") == 0) {
			deallocate_stmt(b, body);
		} else if (strcmp(type, "DiscardStmt") == 0) {
			if (sql_streq(sql_json_str(body, "target"), "DISCARD_ALL"))
				sql_flag(b, PGW_SQL_DISCARD_ALL, "DISCARD ALL");
		} else if (strcmp(type, "DoStmt") == 0) {
			sql_flag(b, PGW_SQL_DO_BLOCK, "DO");
		} else if (strcmp(type, "DropOwnedStmt") == 0 &&
			   sql_streq(sql_json_str(body, "behavior"), "DROP_CASCADE")) {
			sql_flag(b, PGW_SQL_CASCADE, "DROP OWNED CASCADE");
		}
		break;
	case 'E':
		if (strcmp(type, "ExplainStmt") == 0 && !explain_runs(body))
			b->suppress++;
		break;
	case 'G':
		if (strcmp(type, "GrantStmt") == 0)
			grant_desc(b, body, false);
		else if (strcmp(type, "GrantRoleStmt") == 0)
			grant_desc(b, body, true);
		break;
	case 'I':
		if (strcmp(type, "InsertStmt") == 0 && has_rel) {
			sql_add_rel(b, &rel, PGW_SQL_REL_INSERT);
			if (b->suppress == 0)
				sql_insert_extract(b, body, &rel);
		} else if (strcmp(type, "IndexStmt") == 0) {
			index_stmt(b, body, &rel);
		}
		break;
	case 'M':
		if (strcmp(type, "MergeStmt") == 0 && has_rel)
			sql_add_rel(b, &rel, PGW_SQL_REL_MERGE);
		break;
	case 'P':
		if (strcmp(type, "PrepareStmt") == 0)
			b->in_prepare++;
		break;
	case 'R':
		if (strcmp(type, "RuleStmt") == 0)
			b->in_definition++;
		else if (strcmp(type, "RenameStmt") == 0 && has_rel)
			sql_add_rel(b, &rel, PGW_SQL_REL_ALTER);
		break;
	case 'S':
		if (strcmp(type, "SelectStmt") == 0 && (sub = sql_json_item(body, "intoClause"))) {
			remember_created(b, sql_json_item(sub, "rel"), false);
			sql_flag(b, PGW_SQL_DDL, "SELECT INTO");
		}
		break;
	case 'T':
		if (strcmp(type, "TruncateStmt") == 0)
			truncate_stmt(b, body);
		break;
	case 'U':
		if (strcmp(type, "UpdateStmt") == 0) {
			if (has_rel)
				sql_add_rel(b, &rel, PGW_SQL_REL_UPDATE);
			if (has_rel && b->suppress == 0)
				sql_update_extract(b, sql_json_item(body, "targetList"), &rel);
			where_clause(b, body, PGW_SQL_UPDATE_WITHOUT_WHERE, "UPDATE", &rel);
			/* pg_settings' update rule calls set_config() with the row's name */
			if (sql_streq(rel.name, "pg_settings"))
				sql_guc_dynamic(b, "UPDATE pg_settings");
		}
		break;
	case 'V':
		if (strcmp(type, "VariableSetStmt") == 0) {
			sql_guc_setstmt(b, body, b->guc_route);
			sql_session_setstmt(b, body); /* reads what sql_guc_setstmt learnt */
		} else if (strcmp(type, "ViewStmt") == 0)
			b->in_definition++;
		break;
	}
	if (strcmp(type, "DropStmt") != 0) { /* drop_stmt() describes its objects itself */
		const struct sql_stmt_type *t = sql_stmt_type(type);

		if (t && t->kind == PGW_SQL_KIND_DDL)
			sql_flagf(b, PGW_SQL_DDL, "%s%s%s", sql_stmt_tag(type, body, t),
				  has_rel ? " " : "", has_rel ? rel.qualified : "");
	}
}
