/*
 * Function calls the tenant rules look at by name (any schema, any case, quoted or not): the
 * built-ins that run SQL given as text, and pg_notify(), whose channel is recorded with
 * NOTIFY's. A definition that names a function for later calls (an aggregate's SFUNC, an
 * operator's FUNCTION, a cast's WITH FUNCTION) counts as a call with arguments pgward never
 * sees: CREATE AGGREGATE ... (SFUNC = set_config) sets whatever setting its state names.
 */
#include "sql-int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <cJSON.h>

/*
 * Built-ins whose C code runs one of their text arguments as SQL through SPI, so that a
 * statement runs SQL pgward never parsed: SELECT query_to_xml('SELECT set_config(...)', ...).
 * Found in PostgreSQL 15.18's sources by following every SPI_execute, SPI_exec, SPI_prepare
 * and SPI_cursor_open call in src/backend and contrib back to the SQL-callable function, and
 * checked against pg_proc.prosrc of an initdb'd 15 cluster (their OIDs, for FunctionCall, are
 * in policy/function_call.c):
 * - xml.c: query_to_xml, query_to_xmlschema, query_to_xml_and_xmlschema;
 * - tsvector_op.c: ts_stat(text) and ts_stat(text, text);
 * - tsquery_rewrite.c: ts_rewrite(tsquery, text); ts_rewrite(tsquery, tsquery, tsquery) runs
 *   nothing;
 * - contrib, in case it is installed: tablefunc (a trusted extension: any role with CREATE on
 *   the database may install it) crosstab, crosstab2, crosstab3, crosstab4, and connectby,
 *   which splices its text arguments into a query; xml2's xpath_table likewise.
 * The other SPI callers run fixed queries or SQL pgward has seen: ri_triggers.c, ruleutils.c
 * and matview.c (internal); table_to_xml, schema_to_xml, database_to_xml and their xmlschema
 * forms read tables named by OID or schema; cursor_to_xml reads a cursor the client declared
 * in SQL; dblink runs its SQL on another connection, not in this session.
 * The prefilter (prefilter.c) must name every one of them.
 */
static const struct builtin {
	const char *name;
	int safe_nargs; /* an overload with this many arguments runs no SQL; 0: none */
	bool one_arg;	/* has a one-argument form, which (text).name calls too */
} builtins[] = {
	{"query_to_xml", 0, false},
	{"query_to_xmlschema", 0, false},
	{"query_to_xml_and_xmlschema", 0, false},
	{"ts_stat", 0, true},
	{"ts_rewrite", 3, false},
	{"crosstab", 0, true},
	{"crosstab2", 0, true},
	{"crosstab3", 0, true},
	{"crosstab4", 0, true},
	{"connectby", 0, false},
	{"xpath_table", 0, false},
};

const char *pgw_sql_from_string_name(size_t i)
{
	return i < PGW_ARRAY_LEN(builtins) ? builtins[i].name : NULL;
}

static const struct builtin *builtin_named(const char *name)
{
	for (size_t i = 0; name && i < PGW_ARRAY_LEN(builtins); i++)
		if (strcasecmp(name, builtins[i].name) == 0)
			return &builtins[i];
	return NULL;
}

/* The function's own name: the last part of a FuncCall's funcname. */
static const char *func_name(const cJSON *fc)
{
	const cJSON *names = sql_json_item(fc, "funcname");
	const char *type = NULL;
	const cJSON *last =
		sql_node_body(cJSON_GetArrayItem(names, cJSON_GetArraySize(names) - 1), &type);

	return last && strcmp(type, "String") == 0 ? sql_json_str(last, "sval") : NULL;
}

static void add_notify(struct sql_builder *b, const char *channel, bool function)
{
	struct pgw_sql_notify *n;

	if (b->suppress > 0 || !channel)
		return;
	n = sql_vec_push(b, &b->notifies, sizeof(*n));
	if (n) {
		n->channel = sql_strdup(b, channel, strlen(channel));
		n->function = function;
	}
}

/* pg_notify(channel, payload): the channel is case-sensitive, taken exactly as written. */
static void notify_call(struct sql_builder *b, const cJSON *fc)
{
	const cJSON *args = sql_json_item(fc, "args");
	const cJSON *ac = sql_const_under(cJSON_GetArrayItem(args, 0));
	const char *channel = NULL;
	bool isnull = false;

	if (cJSON_GetArraySize(args) == 0)
		return; /* the server rejects it */
	if (ac && !sql_json_bool(fc, "func_variadic"))
		channel = sql_const_text(b, ac, &isnull);
	if (!channel && isnull)
		return; /* pg_notify(NULL, ...) is an error */
	if (!channel) {
		sql_flag(b, PGW_SQL_NOTIFY_DYNAMIC,
			 "pg_notify() with a channel that is not a constant");
		return;
	}
	add_notify(b, channel, true);
}

void sql_calls_funccall(struct sql_builder *b, const cJSON *fc)
{
	const char *name = func_name(fc);
	const struct builtin *f;

	if (!name)
		return;
	if (strcasecmp(name, "pg_notify") == 0) {
		notify_call(b, fc);
		return;
	}
	f = builtin_named(name);
	if (!f)
		return;
	if (f->safe_nargs > 0 && cJSON_GetArraySize(sql_json_item(fc, "args")) == f->safe_nargs &&
	    !sql_json_bool(fc, "func_variadic"))
		return;
	sql_flagf(b, PGW_SQL_SQL_FROM_STRING, "%s()", f->name);
}

/* ('SELECT ...').ts_stat is ts_stat('SELECT ...'): PostgreSQL reads a field selection that
 * names no column as a call of a one-argument function. */
void sql_calls_indirection(struct sql_builder *b, const cJSON *ind)
{
	const cJSON *item;

	cJSON_ArrayForEach(item, sql_json_item(ind, "indirection"))
	{
		const char *type = NULL;
		const cJSON *s = sql_node_body(item, &type);
		const struct builtin *f = s && strcmp(type, "String") == 0
						  ? builtin_named(sql_json_str(s, "sval"))
						  : NULL;

		if (f && f->one_arg)
			sql_flagf(b, PGW_SQL_SQL_FROM_STRING, "(...).%s", f->name);
	}
}

/* NOTIFY channel: the parser has folded and cut the identifier as the server does. */
static void notify_stmt(struct sql_builder *b, const cJSON *notify_stmt)
{
	add_notify(b, sql_json_str(notify_stmt, "conditionname"), false);
}

/* The statements whose String nodes name functions that something calls later. */
static const char *const naming_stmts[] = {
	"AlterFdwStmt",	       "AlterOpFamilyStmt", "AlterOperatorStmt",    "AlterTypeStmt",
	"CreateAmStmt",	       "CreateCastStmt",    "CreateConversionStmt", "CreateEventTrigStmt",
	"CreateFdwStmt",       "CreateOpClassStmt", "CreatePLangStmt",	    "CreateRangeStmt",
	"CreateTransformStmt", "CreateTrigStmt",    "DefineStmt",
};

/* DefineStmt's tag is "CREATE"; its kind says what it creates. */
static const char *define_what(const char *kind)
{
	static const struct {
		const char *kind, *what;
	} kinds[] = {
		{"OBJECT_AGGREGATE", "CREATE AGGREGATE"},
		{"OBJECT_OPERATOR", "CREATE OPERATOR"},
		{"OBJECT_TYPE", "CREATE TYPE"},
		{"OBJECT_COLLATION", "CREATE COLLATION"},
		{"OBJECT_TSPARSER", "CREATE TEXT SEARCH PARSER"},
		{"OBJECT_TSTEMPLATE", "CREATE TEXT SEARCH TEMPLATE"},
		{"OBJECT_TSDICTIONARY", "CREATE TEXT SEARCH DICTIONARY"},
		{"OBJECT_TSCONFIGURATION", "CREATE TEXT SEARCH CONFIGURATION"},
	};

	for (size_t i = 0; kind && i < PGW_ARRAY_LEN(kinds); i++)
		if (strcmp(kind, kinds[i].kind) == 0)
			return kinds[i].what;
	return "CREATE";
}

void sql_calls_stmt(struct sql_builder *b, const char *type, const cJSON *body)
{
	const struct sql_stmt_type *t;

	if (strcmp(type, "NotifyStmt") == 0) {
		notify_stmt(b, body);
		return;
	}
	if (type[0] != 'A' && type[0] != 'C' && type[0] != 'D')
		return;
	for (size_t i = 0; i < PGW_ARRAY_LEN(naming_stmts); i++) {
		if (strcmp(type, naming_stmts[i]) != 0)
			continue;
		t = sql_stmt_type(type);
		b->in_func_ref++;
		b->func_ref_what = strcmp(type, "DefineStmt") == 0
					   ? define_what(sql_json_str(body, "kind"))
					   : (t ? t->tag : type);
		return;
	}
}

void sql_calls_named(struct sql_builder *b, const char *name)
{
	const char *what = sql_nz(b->func_ref_what, "a definition");
	const struct builtin *f;
	char desc[SQL_MAX_DESC];

	if (!name)
		return;
	if (strcasecmp(name, "set_config") == 0) {
		snprintf(desc, sizeof(desc), "%s naming set_config", what);
		sql_guc_dynamic(b, desc);
	} else if (strcasecmp(name, "pg_notify") == 0) {
		sql_flagf(b, PGW_SQL_NOTIFY_DYNAMIC, "%s naming pg_notify", what);
	} else if ((f = builtin_named(name)) != NULL) {
		sql_flagf(b, PGW_SQL_SQL_FROM_STRING, "%s naming %s", what, f->name);
	}
}
