/*
 * Detections of schema changes that lock or rewrite a table, break running code or weaken
 * row-level security: the ALTER TABLE sub-commands, renames, VACUUM FULL, CLUSTER, REINDEX,
 * LOCK and policies. Decided from the tree only; a table created earlier in the same text
 * has no rows nor readers yet, so the lock and rewrite rules leave it alone (the RLS ones
 * never do: a permissive policy outlives the migration that adds it).
 */
#include "sql-int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <cJSON.h>

/* The last <name> option of a VACUUM or REINDEX option list, read as defGetBoolean does. */
static bool option_on(const cJSON *options, const char *name)
{
	const cJSON *opt;
	const char *type;
	bool on = false;

	cJSON_ArrayForEach(opt, options)
	{
		const cJSON *de = sql_node_body(opt, &type);
		const cJSON *val;
		const char *s;

		if (!de || !sql_streq(sql_json_str(de, "defname"), name))
			continue;
		val = sql_node_body(sql_json_item(de, "arg"), &type);
		if (!val) {
			on = true;
		} else if (strcmp(type, "Integer") == 0) {
			on = sql_json_int(val, "ival") != 0;
		} else if (strcmp(type, "String") == 0 || strcmp(type, "Boolean") == 0) {
			s = sql_json_str(val, "sval");
			on = strcmp(type, "Boolean") == 0
				     ? sql_json_bool(val, "boolval")
				     : !(s && (!strcasecmp(s, "false") || !strcasecmp(s, "off")));
		} else {
			on = true; /* anything odd counts as on: err towards refusing */
		}
	}
	return on;
}

/* serial types: their default is nextval(), a new value per row */
static bool is_serial(const cJSON *type_name)
{
	const cJSON *names = sql_json_item(type_name, "names");
	const char *t = NULL;
	const char *s = sql_json_str(
		sql_node_body(cJSON_GetArrayItem(names, cJSON_GetArraySize(names) - 1), &t),
		"sval");
	static const char *const serials[] = {"serial",	 "serial2",	"serial4",
					      "serial8", "smallserial", "bigserial"};

	for (size_t i = 0; s && i < PGW_ARRAY_LEN(serials); i++)
		if (strcmp(s, serials[i]) == 0)
			return true;
	return false;
}

/* A table constraint added to an existing table: unique index build or full validation. */
static void add_constraint(struct sql_builder *b, const cJSON *con, const char *word, const char *q,
			   const char *col)
{
	const char *ct = sql_json_str(con, "contype");
	const char *name = sql_json_str(con, "conname");
	char what[SQL_MAX_DESC];

	if (col)
		snprintf(what, sizeof(what), "ADD COLUMN %s", col);
	else if (name)
		snprintf(what, sizeof(what), "ADD CONSTRAINT %s", name);
	else
		snprintf(what, sizeof(what), "ADD");
	/* an exclusion constraint builds its index under the same exclusive lock */
	if ((sql_streq(ct, "CONSTR_UNIQUE") || sql_streq(ct, "CONSTR_PRIMARY") ||
	     sql_streq(ct, "CONSTR_EXCLUSION")) &&
	    !sql_json_str(con, "indexname"))
		sql_flagf(b, PGW_SQL_ADD_UNIQUE_CONSTRAINT, "ALTER %s %s %s %s", word, q, what,
			  ct[7] == 'U'	 ? "UNIQUE"
			  : ct[7] == 'P' ? "PRIMARY KEY"
					 : "EXCLUDE");
	else if (sql_streq(ct, "CONSTR_FOREIGN") && !sql_json_bool(con, "skip_validation"))
		sql_flagf(b, PGW_SQL_ADD_FOREIGN_KEY, "ALTER %s %s %s FOREIGN KEY", word, q, what);
	else if (sql_streq(ct, "CONSTR_CHECK") && !sql_json_bool(con, "skip_validation"))
		sql_flagf(b, PGW_SQL_ADD_CHECK_CONSTRAINT, "ALTER %s %s %s CHECK", word, q, what);
}

/*
 * ADD COLUMN: a default that differs per row rewrites the table under an exclusive lock; NOT
 * NULL without a default fails on any existing row; inline constraints act as added ones.
 */
static void add_column(struct sql_builder *b, const cJSON *cd, const char *word, const char *q)
{
	const char *col = sql_nz(sql_json_str(cd, "colname"), "?");
	bool not_null = false, has_default = false, volatile_default = false;
	const cJSON *w;
	const char *type;

	if (is_serial(sql_json_item(cd, "typeName")))
		has_default = volatile_default = true;
	cJSON_ArrayForEach(w, sql_json_item(cd, "constraints"))
	{
		const cJSON *con = sql_node_body(w, &type);
		const char *ct = con ? sql_json_str(con, "contype") : NULL;

		if (!ct)
			continue;
		if (strcmp(ct, "CONSTR_NOTNULL") == 0 || strcmp(ct, "CONSTR_PRIMARY") == 0)
			not_null = true;
		if (strcmp(ct, "CONSTR_DEFAULT") == 0) {
			has_default = true;
			if (!sql_default_is_stable(sql_json_item(con, "raw_expr")))
				volatile_default = true;
		} else if (strcmp(ct, "CONSTR_IDENTITY") == 0 ||
			   strcmp(ct, "CONSTR_GENERATED") == 0) {
			/* identity draws a sequence value per row; a stored generated column
			 * is computed for every row: both rewrite the table */
			has_default = volatile_default = true;
		} else {
			add_constraint(b, con, word, q, col);
		}
	}
	if (volatile_default)
		sql_flagf(b, PGW_SQL_ADD_COLUMN_DEFAULT_VOLATILE,
			  "ALTER %s %s ADD COLUMN %s DEFAULT", word, q, col);
	if (not_null && !has_default)
		sql_flagf(b, PGW_SQL_ADD_REQUIRED_COLUMN, "ALTER %s %s ADD COLUMN %s NOT NULL",
			  word, q, col);
}

void sql_alter_table_cmd(struct sql_builder *b, const cJSON *c, const char *word,
			 const struct pgw_sql_rel *rel)
{
	const char *sub = sql_json_str(c, "subtype");
	const char *q = sql_nz(rel->qualified, "?");
	const char *col = sql_nz(sql_json_str(c, "name"), "?");
	const cJSON *def = sql_json_item(c, "def");
	const char *type = NULL;
	const cJSON *d = sql_node_body(def, &type);

	if (!sub)
		return;
	if (strcmp(sub, "AT_DisableRowSecurity") == 0) {
		sql_flagf(b, PGW_SQL_RLS_WEAKENING, "ALTER %s %s DISABLE ROW LEVEL SECURITY", word,
			  q);
		return;
	}
	if (strcmp(sub, "AT_NoForceRowSecurity") == 0) {
		sql_flagf(b, PGW_SQL_RLS_WEAKENING, "ALTER %s %s NO FORCE ROW LEVEL SECURITY", word,
			  q);
		return;
	}
	if (strcmp(sub, "AT_DetachPartition") == 0 && sql_json_bool(d, "concurrent"))
		sql_flagf(b, PGW_SQL_CONCURRENTLY, "ALTER %s %s DETACH PARTITION CONCURRENTLY",
			  word, q);
	if (rel->qualified && sql_created_earlier(b, rel->qualified))
		return;
	if (strcmp(sub, "AT_DetachPartition") == 0 && !sql_json_bool(d, "concurrent"))
		sql_flagf(b, PGW_SQL_DETACH_PARTITION, "ALTER %s %s DETACH PARTITION %s", word, q,
			  sql_nz(sql_json_str(sql_json_item(d, "name"), "relname"), "?"));
	else if (strcmp(sub, "AT_AddConstraint") == 0 && d && strcmp(type, "Constraint") == 0)
		add_constraint(b, d, word, q, NULL);
	else if (strcmp(sub, "AT_AddColumn") == 0 && d && strcmp(type, "ColumnDef") == 0)
		add_column(b, d, word, q);
	else if (strcmp(sub, "AT_SetNotNull") == 0)
		sql_flagf(b, PGW_SQL_SET_NOT_NULL, "ALTER %s %s ALTER COLUMN %s SET NOT NULL", word,
			  q, col);
	else if (strcmp(sub, "AT_DropNotNull") == 0)
		sql_flagf(b, PGW_SQL_DROP_NOT_NULL, "ALTER %s %s ALTER COLUMN %s DROP NOT NULL",
			  word, q, col);
	else if (strcmp(sub, "AT_SetUnLogged") == 0)
		sql_flagf(b, PGW_SQL_SET_UNLOGGED, "ALTER %s %s SET UNLOGGED", word, q);
}

static bool is_relation_type(const char *obj)
{
	return sql_streq(obj, "OBJECT_TABLE") || sql_streq(obj, "OBJECT_VIEW") ||
	       sql_streq(obj, "OBJECT_MATVIEW") || sql_streq(obj, "OBJECT_FOREIGN_TABLE");
}

/* ALTER TABLE/VIEW ... RENAME [COLUMN]: code that names the old name breaks at once. */
static void rename_stmt(struct sql_builder *b, const cJSON *body, const struct pgw_sql_rel *rel)
{
	const char *obj = sql_json_str(body, "renameType");
	const char *word = sql_nz(sql_object_word(obj), "TABLE");
	const char *q = sql_nz(rel->qualified, "?");
	bool fresh = rel->qualified && sql_created_earlier(b, rel->qualified);

	if (is_relation_type(obj)) {
		if (!fresh)
			sql_flagf(b, PGW_SQL_RENAME_TABLE, "ALTER %s %s RENAME TO %s", word, q,
				  sql_nz(sql_json_str(body, "newname"), "?"));
		/* neither name is a table this text created any more: a new table renamed into
		 * an old one's place is followed by statements meant for live data */
		if (rel->qualified)
			sql_forget_created(b, rel->qualified);
	} else if (sql_streq(obj, "OBJECT_COLUMN") &&
		   is_relation_type(sql_json_str(body, "relationType")) && !fresh) {
		word = sql_nz(sql_object_word(sql_json_str(body, "relationType")), "TABLE");
		sql_flagf(b, PGW_SQL_RENAME_COLUMN, "ALTER %s %s RENAME COLUMN %s", word, q,
			  sql_nz(sql_json_str(body, "subname"), "?"));
	}
}

/* CREATE/ALTER POLICY whose USING or WITH CHECK admits every row. */
static void policy_stmt(struct sql_builder *b, const char *type, const cJSON *body)
{
	struct pgw_sql_rel rel = {0};
	const cJSON *rv = sql_json_item(body, "table");
	bool create = type[0] == 'C';
	const char *clause = NULL;

	/* a RESTRICTIVE policy is ANDed with the others: true there takes nothing away */
	if (create && !sql_json_bool(body, "permissive"))
		return;
	if (sql_always_true(b, sql_json_item(body, "qual")))
		clause = "USING";
	else if (sql_always_true(b, sql_json_item(body, "with_check")))
		clause = "WITH CHECK";
	if (!clause)
		return;
	if (cJSON_IsObject(rv))
		(void)sql_rel_from_rangevar(b, rv, &rel);
	sql_flagf(b, PGW_SQL_RLS_WEAKENING, "%s POLICY %s ON %s %s (always true)",
		  create ? "CREATE" : "ALTER", sql_nz(sql_json_str(body, "policy_name"), "?"),
		  sql_nz(rel.qualified, "?"), clause);
}

/*
 * A domain's constraint is checked against every column of that type, in every table, under
 * their locks, and cannot be changed without touching them all again: CREATE DOMAIN with a
 * CHECK, ALTER DOMAIN ... ADD CONSTRAINT (NOT VALID or not, as squawk judges it).
 */
static void domain_stmt(struct sql_builder *b, const char *type, const cJSON *body)
{
	const cJSON *w;
	const char *t;

	if (strcmp(type, "AlterDomainStmt") == 0) {
		if (sql_streq(sql_json_str(body, "subtype"), "C"))
			sql_flagf(b, PGW_SQL_DOMAIN_CONSTRAINT, "ALTER DOMAIN ... ADD CONSTRAINT");
		return;
	}
	cJSON_ArrayForEach(w, sql_json_item(body, "constraints"))
	{
		const cJSON *con = sql_node_body(w, &t);

		if (con && sql_streq(sql_json_str(con, "contype"), "CONSTR_CHECK")) {
			sql_flagf(b, PGW_SQL_DOMAIN_CONSTRAINT, "CREATE DOMAIN ... CHECK");
			return;
		}
	}
}

/* MERGE ... WHEN MATCHED THEN DELETE/UPDATE with no AND: every matched row. */
static void merge_stmt(struct sql_builder *b, const cJSON *body, const struct pgw_sql_rel *rel)
{
	const cJSON *w;
	const char *type;

	cJSON_ArrayForEach(w, sql_json_item(body, "mergeWhenClauses"))
	{
		const cJSON *mw = sql_node_body(w, &type);
		const char *cmd = mw ? sql_json_str(mw, "commandType") : NULL;
		const cJSON *cond = mw ? sql_json_item(mw, "condition") : NULL;

		if (!mw || !sql_json_bool(mw, "matched") || (cond && !sql_always_true(b, cond)))
			continue;
		if (sql_streq(cmd, "CMD_DELETE"))
			sql_flagf(b, PGW_SQL_DELETE_WITHOUT_WHERE,
				  "MERGE INTO %s WHEN MATCHED THEN DELETE",
				  sql_nz(rel->qualified, "?"));
		else if (sql_streq(cmd, "CMD_UPDATE"))
			sql_flagf(b, PGW_SQL_UPDATE_WITHOUT_WHERE,
				  "MERGE INTO %s WHEN MATCHED THEN UPDATE",
				  sql_nz(rel->qualified, "?"));
	}
}

/* The first relation of a VACUUM, for the description. */
static const char *vacuum_target(struct sql_builder *b, const cJSON *body, size_t *n)
{
	const cJSON *w;
	const char *type, *first = NULL;
	struct pgw_sql_rel rel;

	*n = 0;
	cJSON_ArrayForEach(w, sql_json_item(body, "rels"))
	{
		const cJSON *vr = sql_node_body(w, &type);
		const cJSON *rv = vr ? sql_json_item(vr, "relation") : NULL;

		if (rv && !first && sql_rel_from_rangevar(b, rv, &rel))
			first = rel.qualified;
		(*n)++;
	}
	return first;
}

static void lock_stmt(struct sql_builder *b, const cJSON *body)
{
	/* LockStmt.mode: 7 ExclusiveLock, 8 AccessExclusiveLock (LOCK's default) */
	int mode = sql_json_int(body, "mode");
	const cJSON *first = cJSON_GetArrayItem(sql_json_item(body, "relations"), 0);
	const char *type;
	const cJSON *rv = sql_node_body(first, &type);
	struct pgw_sql_rel rel = {0};

	if (mode < 7)
		return;
	if (rv)
		(void)sql_rel_from_rangevar(b, rv, &rel);
	sql_flagf(b, PGW_SQL_LOCK_EXCLUSIVE, "LOCK TABLE %s IN %sEXCLUSIVE MODE",
		  sql_nz(rel.qualified, "?"), mode >= 8 ? "ACCESS " : "");
}

void sql_migration_stmt(struct sql_builder *b, const char *type, const cJSON *body,
			const struct pgw_sql_rel *rel)
{
	const char *q = sql_nz(rel->qualified, "");
	const char *first;
	size_t n;

	if (strcmp(type, "RenameStmt") == 0) {
		rename_stmt(b, body, rel);
	} else if (strcmp(type, "CreatePolicyStmt") == 0 || strcmp(type, "AlterPolicyStmt") == 0) {
		policy_stmt(b, type, body);
	} else if (strcmp(type, "MergeStmt") == 0) {
		merge_stmt(b, body, rel);
	} else if (strcmp(type, "VacuumStmt") == 0) {
		if (!sql_json_bool(body, "is_vacuumcmd") ||
		    !option_on(sql_json_item(body, "options"), "full"))
			return;
		first = vacuum_target(b, body, &n);
		sql_flagf(b, PGW_SQL_VACUUM_FULL, "VACUUM FULL%s%s%s", first ? " " : "",
			  sql_nz(first, ""), n > 1 ? ", ..." : "");
	} else if (strcmp(type, "ClusterStmt") == 0) {
		sql_flagf(b, PGW_SQL_CLUSTER, "CLUSTER%s%s", *q ? " " : "", q);
	} else if (strcmp(type, "ReindexStmt") == 0) {
		if (option_on(sql_json_item(body, "params"), "concurrently")) {
			sql_flagf(b, PGW_SQL_CONCURRENTLY, "REINDEX CONCURRENTLY %s",
				  *q ? q : sql_nz(sql_json_str(body, "name"), ""));
			return;
		}
		sql_flagf(b, PGW_SQL_REINDEX_BLOCKING, "REINDEX %s",
			  *q ? q : sql_nz(sql_json_str(body, "name"), ""));
	} else if (strcmp(type, "LockStmt") == 0) {
		lock_stmt(b, body);
	} else if (strcmp(type, "CreateDomainStmt") == 0 || strcmp(type, "AlterDomainStmt") == 0) {
		domain_stmt(b, type, body);
	}
}
