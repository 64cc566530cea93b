/*
 * Which casts leave a string constant as written, for the names pgward compares (setting
 * names, NOTIFY channels), and the statements that would change that. It must never look
 * through a cast that can change a string: 'app.user_org_idsX'::varchar(16) is
 * app.user_org_ids to the server.
 */
#include "sql-int.h"

#include <stdio.h>
#include <string.h>
#include <cJSON.h>

static bool string_type_name(const char *name)
{
	return sql_streq(name, "text") || sql_streq(name, "varchar");
}

/* The last String of a list of names (a qualified name), or NULL. */
static const char *last_name(const cJSON *names)
{
	const char *type = NULL;
	const cJSON *s =
		sql_node_body(cJSON_GetArrayItem(names, cJSON_GetArraySize(names) - 1), &type);

	return s && strcmp(type, "String") == 0 ? sql_json_str(s, "sval") : NULL;
}

/*
 * Only text and varchar without a length keep every string. Any other type may cut or change
 * it (char(n), name, a domain over varchar(16)). Unqualified, the name is looked up on the
 * search_path, where a type the client created could come first: sql_casts_stmt refuses to
 * let one be created.
 */
static bool keeps_string(const cJSON *type_name)
{
	const cJSON *names = sql_json_item(type_name, "names");
	int n = cJSON_GetArraySize(names);
	const char *type = NULL;
	const cJSON *first = sql_node_body(cJSON_GetArrayItem(names, 0), &type);

	if (!type_name || sql_json_item(type_name, "typmods") ||
	    sql_json_item(type_name, "arrayBounds") || sql_json_bool(type_name, "setof") ||
	    sql_json_bool(type_name, "pct_type"))
		return false;
	if (n == 2 && !(first && strcmp(type, "String") == 0 &&
			sql_streq(sql_json_str(first, "sval"), "pg_catalog")))
		return false;
	return (n == 1 || n == 2) && string_type_name(last_name(names));
}

const cJSON *sql_const_under(const cJSON *wrapper)
{
	const char *type = NULL;
	const cJSON *body = sql_node_body(wrapper, &type);

	while (body && strcmp(type, "TypeCast") == 0) {
		if (!keeps_string(sql_json_item(body, "typeName")))
			return NULL;
		body = sql_node_body(sql_json_item(body, "arg"), &type);
	}
	return body && strcmp(type, "A_Const") == 0 ? body : NULL;
}

/*
 * A type named text or varchar (a domain, enum, range, composite or base type, created or
 * renamed to it), in any schema: in pg_temp, which is searched for types before pg_catalog,
 * it would turn a later 'app.user_org_idsX'::text into a cut value. pgward cannot tell which
 * casts it would change, so it counts as a write of any setting.
 */
void sql_casts_stmt(struct sql_builder *b, const char *type, const cJSON *body)
{
	const char *name = NULL, *what = NULL;

	switch (type[0]) {
	case 'C':
		if (strcmp(type, "CreateDomainStmt") == 0) {
			name = last_name(sql_json_item(body, "domainname"));
			what = "CREATE DOMAIN";
		} else if (strcmp(type, "CreateEnumStmt") == 0 ||
			   strcmp(type, "CreateRangeStmt") == 0) {
			name = last_name(sql_json_item(body, "typeName"));
			what = "CREATE TYPE";
		} else if (strcmp(type, "CompositeTypeStmt") == 0) {
			name = sql_json_str(sql_json_item(body, "typevar"), "relname");
			what = "CREATE TYPE";
		}
		break;
	case 'D':
		if (strcmp(type, "DefineStmt") == 0 &&
		    sql_streq(sql_json_str(body, "kind"), "OBJECT_TYPE")) {
			name = last_name(sql_json_item(body, "defnames"));
			what = "CREATE TYPE";
		}
		break;
	case 'R':
		if (strcmp(type, "RenameStmt") == 0 &&
		    (sql_streq(sql_json_str(body, "renameType"), "OBJECT_TYPE") ||
		     sql_streq(sql_json_str(body, "renameType"), "OBJECT_DOMAIN"))) {
			name = sql_json_str(body, "newname");
			what = "ALTER TYPE ... RENAME TO";
		}
		break;
	}
	if (string_type_name(name)) {
		char desc[SQL_MAX_DESC];

		snprintf(desc, sizeof(desc), "%s %s, which would shadow pg_catalog.%s", what, name,
			 name);
		sql_guc_dynamic(b, desc);
		sql_flag(b, PGW_SQL_TEXT_FORM_UNSEEN, desc); /* its casts run later, unseen */
	}
}
