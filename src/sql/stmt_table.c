/*
 * Statement node names (PostgreSQL 15 parse nodes, as libpg_query's JSON spells them)
 * to kind and command tag. DDL is exactly what GetCommandLogLevel() calls LOGSTMT_DDL,
 * so "ddl" means what log_statement = 'ddl' logs. Sorted by name for bsearch.
 */
#include "sql-int.h"

#include <stdlib.h>
#include <string.h>

#define K(k) PGW_SQL_KIND_##k

static const struct sql_stmt_type types[] = {
	{"AlterCollationStmt", K(DDL), "ALTER COLLATION"},
	{"AlterDatabaseRefreshCollStmt", K(DDL), "ALTER DATABASE"},
	{"AlterDatabaseSetStmt", K(DDL), "ALTER DATABASE"},
	{"AlterDatabaseStmt", K(DDL), "ALTER DATABASE"},
	{"AlterDefaultPrivilegesStmt", K(DDL), "ALTER DEFAULT PRIVILEGES"},
	{"AlterDomainStmt", K(DDL), "ALTER DOMAIN"},
	{"AlterEnumStmt", K(DDL), "ALTER TYPE"},
	{"AlterEventTrigStmt", K(DDL), "ALTER EVENT TRIGGER"},
	{"AlterExtensionContentsStmt", K(DDL), "ALTER EXTENSION"},
	{"AlterExtensionStmt", K(DDL), "ALTER EXTENSION"},
	{"AlterFdwStmt", K(DDL), "ALTER FOREIGN DATA WRAPPER"},
	{"AlterForeignServerStmt", K(DDL), "ALTER SERVER"},
	{"AlterFunctionStmt", K(DDL), "ALTER FUNCTION"},
	{"AlterObjectDependsStmt", K(DDL), "ALTER OBJECT DEPENDS"},
	{"AlterObjectSchemaStmt", K(DDL), "ALTER SET SCHEMA"},
	{"AlterOpFamilyStmt", K(DDL), "ALTER OPERATOR FAMILY"},
	{"AlterOperatorStmt", K(DDL), "ALTER OPERATOR"},
	{"AlterOwnerStmt", K(DDL), "ALTER OWNER"},
	{"AlterPolicyStmt", K(DDL), "ALTER POLICY"},
	{"AlterPublicationStmt", K(DDL), "ALTER PUBLICATION"},
	{"AlterRoleSetStmt", K(DDL), "ALTER ROLE"},
	{"AlterRoleStmt", K(DDL), "ALTER ROLE"},
	{"AlterSeqStmt", K(DDL), "ALTER SEQUENCE"},
	{"AlterStatsStmt", K(DDL), "ALTER STATISTICS"},
	{"AlterSubscriptionStmt", K(DDL), "ALTER SUBSCRIPTION"},
	{"AlterSystemStmt", K(DDL), "ALTER SYSTEM"},
	{"AlterTSConfigurationStmt", K(DDL), "ALTER TEXT SEARCH CONFIGURATION"},
	{"AlterTSDictionaryStmt", K(DDL), "ALTER TEXT SEARCH DICTIONARY"},
	{"AlterTableMoveAllStmt", K(DDL), "ALTER TABLE"},
	{"AlterTableSpaceOptionsStmt", K(DDL), "ALTER TABLESPACE"},
	{"AlterTableStmt", K(DDL), "ALTER TABLE"},
	{"AlterTypeStmt", K(DDL), "ALTER TYPE"},
	{"AlterUserMappingStmt", K(DDL), "ALTER USER MAPPING"},
	{"CallStmt", K(UTILITY), "CALL"},
	{"CheckPointStmt", K(UTILITY), "CHECKPOINT"},
	{"ClosePortalStmt", K(UTILITY), "CLOSE CURSOR"},
	{"ClusterStmt", K(UTILITY), "CLUSTER"},
	{"CommentStmt", K(DDL), "COMMENT"},
	{"CompositeTypeStmt", K(DDL), "CREATE TYPE"},
	{"ConstraintsSetStmt", K(UTILITY), "SET CONSTRAINTS"},
	{"CopyStmt", K(COPY), "COPY"},
	{"CreateAmStmt", K(DDL), "CREATE ACCESS METHOD"},
	{"CreateCastStmt", K(DDL), "CREATE CAST"},
	{"CreateConversionStmt", K(DDL), "CREATE CONVERSION"},
	{"CreateDomainStmt", K(DDL), "CREATE DOMAIN"},
	{"CreateEnumStmt", K(DDL), "CREATE TYPE"},
	{"CreateEventTrigStmt", K(DDL), "CREATE EVENT TRIGGER"},
	{"CreateExtensionStmt", K(DDL), "CREATE EXTENSION"},
	{"CreateFdwStmt", K(DDL), "CREATE FOREIGN DATA WRAPPER"},
	{"CreateForeignServerStmt", K(DDL), "CREATE SERVER"},
	{"CreateForeignTableStmt", K(DDL), "CREATE FOREIGN TABLE"},
	{"CreateFunctionStmt", K(DDL), "CREATE FUNCTION"},
	{"CreateOpClassStmt", K(DDL), "CREATE OPERATOR CLASS"},
	{"CreateOpFamilyStmt", K(DDL), "CREATE OPERATOR FAMILY"},
	{"CreatePLangStmt", K(DDL), "CREATE LANGUAGE"},
	{"CreatePolicyStmt", K(DDL), "CREATE POLICY"},
	{"CreatePublicationStmt", K(DDL), "CREATE PUBLICATION"},
	{"CreateRangeStmt", K(DDL), "CREATE TYPE"},
	{"CreateRoleStmt", K(DDL), "CREATE ROLE"},
	{"CreateSchemaStmt", K(DDL), "CREATE SCHEMA"},
	{"CreateSeqStmt", K(DDL), "CREATE SEQUENCE"},
	{"CreateStatsStmt", K(DDL), "CREATE STATISTICS"},
	{"CreateStmt", K(DDL), "CREATE TABLE"},
	{"CreateSubscriptionStmt", K(DDL), "CREATE SUBSCRIPTION"},
	{"CreateTableAsStmt", K(DDL), "CREATE TABLE AS"},
	{"CreateTableSpaceStmt", K(DDL), "CREATE TABLESPACE"},
	{"CreateTransformStmt", K(DDL), "CREATE TRANSFORM"},
	{"CreateTrigStmt", K(DDL), "CREATE TRIGGER"},
	{"CreateUserMappingStmt", K(DDL), "CREATE USER MAPPING"},
	{"CreatedbStmt", K(DDL), "CREATE DATABASE"},
	{"DeallocateStmt", K(UTILITY), "DEALLOCATE"},
	{"DeclareCursorStmt", K(UTILITY), "DECLARE CURSOR"},
	{"DefineStmt", K(DDL), "CREATE"},
	{"DeleteStmt", K(DELETE), "DELETE"},
	{"DiscardStmt", K(UTILITY), "DISCARD"},
	{"DoStmt", K(UTILITY), "DO"},
	{"DropOwnedStmt", K(DDL), "DROP OWNED"},
	{"DropRoleStmt", K(DDL), "DROP ROLE"},
	{"DropStmt", K(DDL), "DROP"},
	{"DropSubscriptionStmt", K(DDL), "DROP SUBSCRIPTION"},
	{"DropTableSpaceStmt", K(DDL), "DROP TABLESPACE"},
	{"DropUserMappingStmt", K(DDL), "DROP USER MAPPING"},
	{"DropdbStmt", K(DDL), "DROP DATABASE"},
	{"ExecuteStmt", K(UTILITY), "EXECUTE"},
	{"ExplainStmt", K(UTILITY), "EXPLAIN"},
	{"FetchStmt", K(UTILITY), "FETCH"},
	{"GrantRoleStmt", K(DDL), "GRANT ROLE"},
	{"GrantStmt", K(DDL), "GRANT"},
	{"ImportForeignSchemaStmt", K(DDL), "IMPORT FOREIGN SCHEMA"},
	{"IndexStmt", K(DDL), "CREATE INDEX"},
	{"InsertStmt", K(INSERT), "INSERT"},
	{"ListenStmt", K(UTILITY), "LISTEN"},
	{"LoadStmt", K(UTILITY), "LOAD"},
	{"LockStmt", K(UTILITY), "LOCK TABLE"},
	{"MergeStmt", K(MERGE), "MERGE"},
	{"NotifyStmt", K(UTILITY), "NOTIFY"},
	{"PrepareStmt", K(UTILITY), "PREPARE"},
	{"ReassignOwnedStmt", K(DDL), "REASSIGN OWNED"},
	{"RefreshMatViewStmt", K(UTILITY), "REFRESH MATERIALIZED VIEW"},
	{"ReindexStmt", K(UTILITY), "REINDEX"},
	{"RenameStmt", K(DDL), "ALTER"},
	{"RuleStmt", K(DDL), "CREATE RULE"},
	{"SecLabelStmt", K(DDL), "SECURITY LABEL"},
	{"SelectStmt", K(SELECT), "SELECT"},
	{"TransactionStmt", K(TRANSACTION), "TRANSACTION"},
	{"TruncateStmt", K(UTILITY), "TRUNCATE TABLE"},
	{"UnlistenStmt", K(UTILITY), "UNLISTEN"},
	{"UpdateStmt", K(UPDATE), "UPDATE"},
	{"VacuumStmt", K(UTILITY), "VACUUM"},
	{"VariableSetStmt", K(SET), "SET"},
	{"VariableShowStmt", K(UTILITY), "SHOW"},
	{"ViewStmt", K(DDL), "CREATE VIEW"},
};

static int cmp_type(const void *key, const void *elem)
{
	return strcmp(key, ((const struct sql_stmt_type *)elem)->name);
}

const struct sql_stmt_type *sql_stmt_type(const char *name)
{
	return bsearch(name, types, PGW_ARRAY_LEN(types), sizeof(types[0]), cmp_type);
}

/* ObjectType enum string -> SQL words, for DROP tags and descriptions. */
static const struct {
	const char *objtype, *word, *drop_tag, *alter_tag;
} objects[] = {
	{"OBJECT_ACCESS_METHOD", "ACCESS METHOD", "DROP ACCESS METHOD", "ALTER ACCESS METHOD"},
	{"OBJECT_AGGREGATE", "AGGREGATE", "DROP AGGREGATE", "ALTER AGGREGATE"},
	{"OBJECT_CAST", "CAST", "DROP CAST", "ALTER CAST"},
	{"OBJECT_COLLATION", "COLLATION", "DROP COLLATION", "ALTER COLLATION"},
	{"OBJECT_CONVERSION", "CONVERSION", "DROP CONVERSION", "ALTER CONVERSION"},
	{"OBJECT_DATABASE", "DATABASE", "DROP DATABASE", "ALTER DATABASE"},
	{"OBJECT_DOMAIN", "DOMAIN", "DROP DOMAIN", "ALTER DOMAIN"},
	{"OBJECT_EVENT_TRIGGER", "EVENT TRIGGER", "DROP EVENT TRIGGER", "ALTER EVENT TRIGGER"},
	{"OBJECT_EXTENSION", "EXTENSION", "DROP EXTENSION", "ALTER EXTENSION"},
	{"OBJECT_FDW", "FOREIGN DATA WRAPPER", "DROP FOREIGN DATA WRAPPER",
	 "ALTER FOREIGN DATA WRAPPER"},
	{"OBJECT_FOREIGN_SERVER", "SERVER", "DROP SERVER", "ALTER SERVER"},
	{"OBJECT_FOREIGN_TABLE", "FOREIGN TABLE", "DROP FOREIGN TABLE", "ALTER FOREIGN TABLE"},
	{"OBJECT_FUNCTION", "FUNCTION", "DROP FUNCTION", "ALTER FUNCTION"},
	{"OBJECT_INDEX", "INDEX", "DROP INDEX", "ALTER INDEX"},
	{"OBJECT_LANGUAGE", "LANGUAGE", "DROP LANGUAGE", "ALTER LANGUAGE"},
	{"OBJECT_MATVIEW", "MATERIALIZED VIEW", "DROP MATERIALIZED VIEW",
	 "ALTER MATERIALIZED VIEW"},
	{"OBJECT_OPCLASS", "OPERATOR CLASS", "DROP OPERATOR CLASS", "ALTER OPERATOR CLASS"},
	{"OBJECT_OPERATOR", "OPERATOR", "DROP OPERATOR", "ALTER OPERATOR"},
	{"OBJECT_OPFAMILY", "OPERATOR FAMILY", "DROP OPERATOR FAMILY", "ALTER OPERATOR FAMILY"},
	{"OBJECT_POLICY", "POLICY", "DROP POLICY", "ALTER POLICY"},
	{"OBJECT_PROCEDURE", "PROCEDURE", "DROP PROCEDURE", "ALTER PROCEDURE"},
	{"OBJECT_PUBLICATION", "PUBLICATION", "DROP PUBLICATION", "ALTER PUBLICATION"},
	{"OBJECT_ROUTINE", "ROUTINE", "DROP ROUTINE", "ALTER ROUTINE"},
	{"OBJECT_RULE", "RULE", "DROP RULE", "ALTER RULE"},
	{"OBJECT_SCHEMA", "SCHEMA", "DROP SCHEMA", "ALTER SCHEMA"},
	{"OBJECT_SEQUENCE", "SEQUENCE", "DROP SEQUENCE", "ALTER SEQUENCE"},
	{"OBJECT_STATISTIC_EXT", "STATISTICS", "DROP STATISTICS", "ALTER STATISTICS"},
	{"OBJECT_TABLE", "TABLE", "DROP TABLE", "ALTER TABLE"},
	{"OBJECT_TRANSFORM", "TRANSFORM", "DROP TRANSFORM", "ALTER TRANSFORM"},
	{"OBJECT_TRIGGER", "TRIGGER", "DROP TRIGGER", "ALTER TRIGGER"},
	{"OBJECT_TSCONFIGURATION", "TEXT SEARCH CONFIGURATION", "DROP TEXT SEARCH CONFIGURATION",
	 "ALTER TEXT SEARCH CONFIGURATION"},
	{"OBJECT_TSDICTIONARY", "TEXT SEARCH DICTIONARY", "DROP TEXT SEARCH DICTIONARY",
	 "ALTER TEXT SEARCH DICTIONARY"},
	{"OBJECT_TSPARSER", "TEXT SEARCH PARSER", "DROP TEXT SEARCH PARSER",
	 "ALTER TEXT SEARCH PARSER"},
	{"OBJECT_TSTEMPLATE", "TEXT SEARCH TEMPLATE", "DROP TEXT SEARCH TEMPLATE",
	 "ALTER TEXT SEARCH TEMPLATE"},
	{"OBJECT_TYPE", "TYPE", "DROP TYPE", "ALTER TYPE"},
	{"OBJECT_VIEW", "VIEW", "DROP VIEW", "ALTER VIEW"},
};

static int object_index(const char *objtype)
{
	if (!objtype)
		return -1;
	for (size_t i = 0; i < PGW_ARRAY_LEN(objects); i++)
		if (strcmp(objects[i].objtype, objtype) == 0)
			return (int)i;
	return -1;
}

const char *sql_object_word(const char *objtype)
{
	int i = object_index(objtype);

	return i < 0 ? NULL : objects[i].word;
}

const char *sql_drop_tag(const char *objtype)
{
	int i = object_index(objtype);

	return i < 0 ? "DROP" : objects[i].drop_tag;
}

const char *sql_alter_tag(const char *objtype, const char *dflt)
{
	int i = object_index(objtype);

	return i < 0 ? dflt : objects[i].alter_tag;
}
