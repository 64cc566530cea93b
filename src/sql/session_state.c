/*
 * What a statement leaves in the session once its transaction is over
 * (PGW_SQL_SESSION_STATE, PGW_SQL_SESSION_HOLD). Under pool_mode = transaction a client's
 * next transaction may run on another server, where none of it would be: such a statement
 * pins the client to its server. What is looked for, by the parse tree:
 *   SET and RESET of the session (SET LOCAL and SET TRANSACTION end with the transaction;
 *   one pgward can write again elsewhere is PGW_SQL_SESSION_SET instead, and follows the
 *   client),
 *   set_config() whose third argument is not a constant true, LOAD, dblink
 *   connections, setseed() and any write of seed (its assign hook reseeds; the random
 *   state outlives a LOCAL write);
 *   and what a later statement can take back (SESSION_HOLD, counted in info->holds): LISTEN
 *   (UNLISTEN), DECLARE ... WITH HOLD (CLOSE), a temporary table, view or sequence (TEMP,
 *   or a name in pg_temp; DISCARD TEMP), the session-level advisory locks
 *   (SELECT pg_catalog.pg_advisory_unlock_all(), alone: unlocks_all). A take-back counts only
 *   as the statement itself, where the server surely runs it.
 * PREPARE is PGW_SQL_PREPARE: every PREPARE, EXECUTE and DEALLOCATE is listed in
 * info->stmt_refs, so that a client's statements can follow it from server to server.
 * What a function body does is not seen (sql.h); set_config() there is the guard's concern.
 */
#include "sql-int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <cJSON.h>

/* PostgreSQL's CURSOR_OPT_HOLD (parsenodes.h) */
#define CURSOR_OPT_HOLD 0x0020

/* The functions that take a lock held past the transaction. */
static const char *const advisory_locks[] = {
	"pg_advisory_lock",
	"pg_advisory_lock_shared",
	"pg_try_advisory_lock",
	"pg_try_advisory_lock_shared",
};

/* The functions that leave what only the end of the session takes back. */
static const char *const session_functions[] = {
	"dblink_connect", "dblink_connect_u", "setseed", /* the random() sequence of the session */
};

/* A hold of <kind> left (<take>) or taken back, on <name> (NULL: all of them); a hold left
 * raises SESSION_HOLD, described by <why>. */
static void hold(struct sql_builder *b, enum pgw_sql_hold_kind kind, bool take, const char *name,
		 const char *why)
{
	struct pgw_sql_hold *h = sql_vec_push(b, &b->holds, sizeof(*h));

	if (h == NULL)
		return;
	*h = (struct pgw_sql_hold){.kind = kind, .take = take};
	if (name != NULL && (h->name = sql_strdup(b, name, strlen(name))) == NULL)
		b->oom = true;
	if (take)
		sql_flag(b, PGW_SQL_SESSION_HOLD, why);
}

/* A RangeVar that names a temporary relation: TEMP/TEMPORARY, or a name in pg_temp. */
static bool temporary(const cJSON *rv)
{
	const char *schema = sql_json_str(rv, "schemaname");

	return sql_streq(sql_json_str(rv, "relpersistence"), "t") ||
	       (schema != NULL && strncmp(schema, "pg_temp", 7) == 0);
}

static void temp_relation(struct sql_builder *b, const cJSON *rv, const char *what)
{
	char why[SQL_MAX_DESC];

	if (rv == NULL || !temporary(rv))
		return;
	snprintf(why, sizeof(why), "%s %s", what, sql_nz(sql_json_str(rv, "relname"), "?"));
	hold(b, PGW_SQL_HOLD_TEMP, true, NULL, why);
	if (b->stmt_depth == 0)
		b->stmt_makes_temp = true;
}

/* Member <key> of <obj> is absent or the string <value>. */
static bool absent_or(const cJSON *obj, const char *key, const char *value)
{
	const cJSON *item = sql_json_item(obj, key);

	return item == NULL || sql_streq(cJSON_GetStringValue(item), value);
}

/*
 * The statement is SELECT pg_catalog.pg_advisory_unlock_all() and nothing else: the only
 * spelling of the take-back that surely runs the function once (no FROM, WHERE, CASE or
 * LIMIT that could skip it, no function of another schema: an unqualified name finds one
 * first where the search_path lists a schema before pg_catalog).
 */
static bool unlocks_all(const cJSON *select)
{
	static const char *const fields[] = {"targetList", "limitOption", "op"};
	const cJSON *targets = sql_json_item(select, "targetList"), *fc, *names, *m;

	cJSON_ArrayForEach(m, select)
	{
		bool known = false;

		for (size_t i = 0; i < PGW_ARRAY_LEN(fields); i++)
			known |= m->string != NULL && strcmp(m->string, fields[i]) == 0;
		if (!known)
			return false;
	}
	if (!absent_or(select, "limitOption", "LIMIT_OPTION_DEFAULT") ||
	    !absent_or(select, "op", "SETOP_NONE") || cJSON_GetArraySize(targets) != 1)
		return false;
	fc = sql_json_item(
		sql_json_item(sql_json_item(cJSON_GetArrayItem(targets, 0), "ResTarget"), "val"),
		"FuncCall");
	cJSON_ArrayForEach(m, fc)
	{
		if (m->string == NULL ||
		    (strcmp(m->string, "funcname") != 0 && strcmp(m->string, "funcformat") != 0 &&
		     strcmp(m->string, "location") != 0))
			return false;
	}
	names = sql_json_item(fc, "funcname");
	return fc != NULL && cJSON_GetArraySize(names) == 2 &&
	       sql_streq(
		       sql_json_str(sql_json_item(cJSON_GetArrayItem(names, 0), "String"), "sval"),
		       "pg_catalog") &&
	       sql_streq(
		       sql_json_str(sql_json_item(cJSON_GetArrayItem(names, 1), "String"), "sval"),
		       "pg_advisory_unlock_all");
}

/* A prepared statement named in SQL, for the renaming of src/session/sql_prepared.c. */
static void stmt_ref(struct sql_builder *b, enum pgw_sql_stmt_op op, const char *name)
{
	struct pgw_sql_stmt_ref *r = sql_vec_push(b, &b->stmt_refs, sizeof(*r));

	if (r == NULL)
		return;
	*r = (struct pgw_sql_stmt_ref){.op = op};
	if (name != NULL && (r->name = sql_strdup(b, name, strlen(name))) == NULL)
		b->oom = true;
}

void sql_session_stmt(struct sql_builder *b, const char *type, const cJSON *body)
{
	char why[SQL_MAX_DESC];

	if (b->in_definition > 0)
		return; /* a view, rule or function body runs later, as a whole */
	if (strcmp(type, "PrepareStmt") == 0) {
		stmt_ref(b, PGW_SQL_STMT_PREPARE, sql_json_str(body, "name"));
		sql_flagf(b, PGW_SQL_PREPARE, "PREPARE %s",
			  sql_nz(sql_json_str(body, "name"), "?"));
	} else if (strcmp(type, "ExecuteStmt") == 0) {
		stmt_ref(b, PGW_SQL_STMT_EXECUTE, sql_json_str(body, "name"));
	} else if (strcmp(type, "DeallocateStmt") == 0) {
		stmt_ref(b, PGW_SQL_STMT_DEALLOCATE, sql_json_str(body, "name"));
	} else if (strcmp(type, "ListenStmt") == 0) {
		const char *channel = sql_nz(sql_json_str(body, "conditionname"), "");

		snprintf(why, sizeof(why), "LISTEN %s", channel);
		hold(b, PGW_SQL_HOLD_LISTEN, true, channel, why);
	} else if (strcmp(type, "UnlistenStmt") == 0 && b->stmt_depth == 0) {
		hold(b, PGW_SQL_HOLD_LISTEN, false, sql_json_str(body, "conditionname"), NULL);
	} else if (strcmp(type, "DeclareCursorStmt") == 0) {
		const char *cursor = sql_nz(sql_json_str(body, "portalname"), "");

		snprintf(why, sizeof(why), "DECLARE %s WITH HOLD", cursor);
		if (sql_json_int(body, "options") & CURSOR_OPT_HOLD)
			hold(b, PGW_SQL_HOLD_CURSOR, true, cursor, why);
	} else if (strcmp(type, "ClosePortalStmt") == 0 && b->stmt_depth == 0) {
		hold(b, PGW_SQL_HOLD_CURSOR, false, sql_json_str(body, "portalname"), NULL);
	} else if (strcmp(type, "DiscardStmt") == 0 && b->stmt_depth == 0) {
		if (sql_streq(sql_json_str(body, "target"), "DISCARD_TEMP"))
			hold(b, PGW_SQL_HOLD_TEMP, false, NULL, NULL);
	} else if (strcmp(type, "LoadStmt") == 0) {
		sql_flag(b, PGW_SQL_SESSION_STATE, "LOAD");
		sql_flag(b, PGW_SQL_OUTLIVES_RESET, "LOAD");
	} else if (strcmp(type, "CreateStmt") == 0) {
		temp_relation(b, sql_json_item(body, "relation"), "CREATE TEMP TABLE");
	} else if (strcmp(type, "CreateSeqStmt") == 0) {
		temp_relation(b, sql_json_item(body, "sequence"), "CREATE TEMP SEQUENCE");
	} else if (strcmp(type, "ViewStmt") == 0) {
		temp_relation(b, sql_json_item(body, "view"), "CREATE TEMP VIEW");
	} else if (strcmp(type, "CreateTableAsStmt") == 0) {
		temp_relation(b, sql_json_item(sql_json_item(body, "into"), "rel"),
			      "CREATE TEMP TABLE");
	} else if (strcmp(type, "SelectStmt") == 0) {
		temp_relation(b, sql_json_item(sql_json_item(body, "intoClause"), "rel"),
			      "SELECT INTO TEMP");
		if (b->stmt_depth == 0 && unlocks_all(body))
			hold(b, PGW_SQL_HOLD_ADVISORY, false, NULL, NULL);
	}
}

void sql_session_setstmt(struct sql_builder *b, const cJSON *body)
{
	const char *kind = sql_json_str(body, "kind");
	const char *name = sql_json_str(body, "name");

	if (b->in_definition > 0)
		return; /* a function's SET clause runs with each call */
	/* SET TRANSACTION ... is VAR_SET_MULTI named TRANSACTION: it ends with it; the random
	 * state a seed sets does not, LOCAL or not */
	if (b->guc_route < 0 && name != NULL && strcasecmp(name, "seed") == 0) {
		sql_flag(b, PGW_SQL_SESSION_STATE, "SET seed");
		return;
	}
	if (b->guc_route >= 0 || sql_json_bool(body, "is_local") ||
	    (sql_streq(kind, "VAR_SET_MULTI") && name != NULL &&
	     strncmp(name, "TRANSACTION", 11) == 0))
		return;
	/* one pgward can write again on another backend follows the client (guc.c) */
	sql_flagf(b, b->set_replayable ? PGW_SQL_SESSION_SET : PGW_SQL_SESSION_STATE, "%s %s",
		  sql_streq(kind, "VAR_RESET") || sql_streq(kind, "VAR_RESET_ALL") ? "RESET"
										   : "SET",
		  sql_nz(name, "ALL"));
}

/* The third argument of set_config() is a constant that boolin reads as true. */
static bool surely_local(struct sql_builder *b, const cJSON *arg)
{
	const cJSON *ac = sql_const_under(arg), *boolval;
	const char *text;
	bool isnull = false;

	if (ac == NULL)
		return false;
	if ((boolval = sql_json_item(ac, "boolval")) != NULL)
		return sql_json_bool(boolval, "boolval");
	text = sql_const_text(b, ac, &isnull);
	return text != NULL && !isnull && sql_bool_of_text(text) == 1;
}

void sql_session_funccall(struct sql_builder *b, const cJSON *fc)
{
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(fc, "args");
	const char *fname = sql_funccall_name(fc);

	if (fname == NULL || b->in_definition > 0 || b->in_func_ref > 0)
		return;
	if (strcasecmp(fname, "set_config") == 0) {
		const cJSON *ac = sql_const_under(cJSON_GetArrayItem(args, 0));
		bool isnull = false;
		const char *name = ac != NULL ? sql_const_text(b, ac, &isnull) : NULL;

		if (name != NULL && !isnull && strcasecmp(name, "seed") == 0)
			sql_flag(b, PGW_SQL_SESSION_STATE, "set_config('seed', ...)");
		else if (cJSON_GetArraySize(args) != 3 || sql_json_bool(fc, "func_variadic") ||
			 !surely_local(b, cJSON_GetArrayItem(args, 2)))
			sql_flag(b, PGW_SQL_SESSION_STATE, "set_config(..., false)");
		return;
	}
	for (size_t i = 0; i < PGW_ARRAY_LEN(advisory_locks); i++)
		if (strcasecmp(fname, advisory_locks[i]) == 0) {
			char why[SQL_MAX_DESC];

			snprintf(why, sizeof(why), "%s()", advisory_locks[i]);
			hold(b, PGW_SQL_HOLD_ADVISORY, true, NULL, why);
			return;
		}
	for (size_t i = 0; i < PGW_ARRAY_LEN(session_functions); i++)
		if (strcasecmp(fname, session_functions[i]) == 0) {
			sql_flagf(b, PGW_SQL_SESSION_STATE, "%s()", session_functions[i]);
			/* DISCARD ALL closes no dblink connection */
			if (strncasecmp(fname, "dblink_connect", 14) == 0)
				sql_flagf(b, PGW_SQL_OUTLIVES_RESET, "%s()", session_functions[i]);
			return;
		}
}
