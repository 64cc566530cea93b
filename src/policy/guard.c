/*
 * The unsafe-statement guard (report sections 4, 6.1): refuses, per login role, the
 * statements [guard] names, wherever they sit in the parse tree. It also keeps what the
 * server executes equal to what pgward inspected (the text reader, first in the pipeline,
 * reads the text in the session's encoding and string syntax): what could change either
 * unseen (ALTER SYSTEM, a definition that calls set_config later) is always refused, as is
 * a statement too deeply nested to inspect. A text the parser rejects
 * is forwarded,
 * so the server reports its own syntax error, unless on_parse_error = refuse.
 */
#include "pgward/log.h"
#include "pgward/policy.h"
#include "pgward/sql.h"

#include <string.h>

static uint64_t detected[PGW_SQL_NFLAGS]; /* detect mode: what would have been refused */

static const char *const hints[PGW_SQL_NFLAGS] = {
	[PGW_SQL_DROP_TABLE] = "Archive or rename the table instead, or run the change as a role "
			       "that role_rules in [guard] allows to.",
	[PGW_SQL_DROP_SCHEMA] = "Run it as a migration role that role_rules in [guard] allows to.",
	[PGW_SQL_DROP_DATABASE] = "Drop databases outside the application path.",
	[PGW_SQL_TRUNCATE] = "Use DELETE with a WHERE clause, or run it as a migration role.",
	[PGW_SQL_DELETE_WITHOUT_WHERE] =
		"Add a WHERE clause that selects the rows meant (WHERE true "
		"or 1 = 1 does not count; give MERGE's WHEN MATCHED an "
		"AND); clear a whole table as a migration role.",
	[PGW_SQL_UPDATE_WITHOUT_WHERE] =
		"Add a WHERE clause that selects the rows meant (WHERE true "
		"or 1 = 1 does not count; give MERGE's WHEN MATCHED an "
		"AND); rewrite a whole table as a migration role.",
	[PGW_SQL_ALTER_DROP_COLUMN] = "Run schema changes as a migration role, in steps that keep "
				      "running code working.",
	[PGW_SQL_ALTER_DROP_CONSTRAINT] = "Run schema changes as a migration role.",
	[PGW_SQL_ALTER_COLUMN_TYPE] = "Add a new column and backfill it; a type change rewrites "
				      "the table under an exclusive lock.",
	[PGW_SQL_CREATE_INDEX_BLOCKING] = "Use CREATE INDEX CONCURRENTLY, which does not block "
					  "writes.",
	[PGW_SQL_DROP_INDEX_BLOCKING] = "Use DROP INDEX CONCURRENTLY.",
	[PGW_SQL_SET_ROLE] = "Sessions keep their login role; connect as the role you need.",
	[PGW_SQL_ROW_SECURITY_OFF] = "Row-level security stays on through pgward.",
	[PGW_SQL_CASCADE] = "Drop the dependent objects explicitly instead of CASCADE.",
	[PGW_SQL_GRANT_REVOKE] = "Manage privileges in migrations run as a role allowed to.",
	[PGW_SQL_ALTER_SYSTEM] = "Change server settings in postgresql.conf.",
	[PGW_SQL_DO_BLOCK] = "pgward cannot inspect a DO block's body; put the code in a function "
			     "created by a migration.",
	[PGW_SQL_RLS_WEAKENING] = "Keep row-level security on and give policies a real condition "
				  "(USING (org_id = ...)); change them as a migration role.",
	[PGW_SQL_DROP_VIEW] = "Stop reading the view first and drop it in a migration, or use "
			      "CREATE OR REPLACE VIEW.",
	[PGW_SQL_DETACH_PARTITION] = "Use ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY, which "
				     "does not block queries on the parent.",
	[PGW_SQL_RENAME_TABLE] = "Running code still names the old table: create the new one (or a "
				 "view under the new name), move readers, then drop the old one.",
	[PGW_SQL_RENAME_COLUMN] = "Running code still names the old column: add the new column, "
				  "write both, backfill, move readers, then drop the old one.",
	[PGW_SQL_VACUUM_FULL] = "Use plain VACUUM, or pg_repack to rewrite the table without an "
				"exclusive lock.",
	[PGW_SQL_CLUSTER] = "Use pg_repack --order-by to reorder the table without an exclusive "
			    "lock.",
	[PGW_SQL_REINDEX_BLOCKING] = "Use REINDEX ... CONCURRENTLY, which does not block writes.",
	[PGW_SQL_LOCK_EXCLUSIVE] =
		"Lock only the rows you change (SELECT ... FOR UPDATE), or use a "
		"weaker mode such as IN SHARE ROW EXCLUSIVE MODE.",
	[PGW_SQL_ADD_UNIQUE_CONSTRAINT] =
		"CREATE UNIQUE INDEX CONCURRENTLY first, then ALTER TABLE "
		"... ADD CONSTRAINT ... UNIQUE USING INDEX.",
	[PGW_SQL_ADD_FOREIGN_KEY] = "Add it NOT VALID, then ALTER TABLE ... VALIDATE CONSTRAINT in "
				    "a separate transaction.",
	[PGW_SQL_ADD_CHECK_CONSTRAINT] = "Add it NOT VALID, then ALTER TABLE ... VALIDATE "
					 "CONSTRAINT in a separate transaction.",
	[PGW_SQL_ADD_COLUMN_DEFAULT_VOLATILE] = "Add the column without a default (or with a "
						"constant one), then backfill it in batches.",
	[PGW_SQL_ADD_REQUIRED_COLUMN] = "Add the column with a constant DEFAULT, or nullable, "
					"backfill it, then make it required.",
	[PGW_SQL_SET_NOT_NULL] = "Add CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, then "
				 "SET NOT NULL (PostgreSQL 12+ then skips the scan).",
	[PGW_SQL_SET_UNLOGGED] =
		"Keep the table logged: SET UNLOGGED rewrites it under an exclusive "
		"lock, and a crash empties an unlogged table.",
	[PGW_SQL_DROP_NOT_NULL] = "Code reading the column may rely on it never being null: keep "
				  "the constraint, or drop it after every reader copes with nulls.",
	[PGW_SQL_DOMAIN_CONSTRAINT] = "Use table and column CHECK constraints (added NOT VALID, "
				      "then validated) instead of a constrained domain.",
};

/* One statement each rule refuses, for SHOW RULES (the README's table has more). */
static const char *const examples[PGW_SQL_NFLAGS] = {
	[PGW_SQL_DROP_TABLE] = "DROP TABLE t",
	[PGW_SQL_DROP_SCHEMA] = "DROP SCHEMA s",
	[PGW_SQL_DROP_DATABASE] = "DROP DATABASE d",
	[PGW_SQL_TRUNCATE] = "TRUNCATE t",
	[PGW_SQL_DELETE_WITHOUT_WHERE] = "DELETE FROM t WHERE 1 = 1",
	[PGW_SQL_UPDATE_WITHOUT_WHERE] = "UPDATE t SET a = 0 WHERE true",
	[PGW_SQL_ALTER_DROP_COLUMN] = "ALTER TABLE t DROP COLUMN a",
	[PGW_SQL_ALTER_DROP_CONSTRAINT] = "ALTER TABLE t DROP CONSTRAINT c",
	[PGW_SQL_ALTER_COLUMN_TYPE] = "ALTER TABLE t ALTER COLUMN a TYPE bigint",
	[PGW_SQL_CREATE_INDEX_BLOCKING] = "CREATE INDEX i ON t (a)",
	[PGW_SQL_DROP_INDEX_BLOCKING] = "DROP INDEX i",
	[PGW_SQL_SET_ROLE] = "SET ROLE admin",
	[PGW_SQL_ROW_SECURITY_OFF] = "SET row_security = off",
	[PGW_SQL_CASCADE] = "DROP TABLE t CASCADE",
	[PGW_SQL_GRANT_REVOKE] = "GRANT ALL ON t TO PUBLIC",
	[PGW_SQL_ALTER_SYSTEM] = "ALTER SYSTEM SET work_mem = '1GB'",
	[PGW_SQL_DO_BLOCK] = "DO $$ BEGIN PERFORM 1; END $$",
	[PGW_SQL_RLS_WEAKENING] = "ALTER TABLE t DISABLE ROW LEVEL SECURITY",
	[PGW_SQL_DROP_VIEW] = "DROP VIEW v",
	[PGW_SQL_DETACH_PARTITION] = "ALTER TABLE t DETACH PARTITION p",
	[PGW_SQL_RENAME_TABLE] = "ALTER TABLE t RENAME TO u",
	[PGW_SQL_RENAME_COLUMN] = "ALTER TABLE t RENAME COLUMN a TO b",
	[PGW_SQL_VACUUM_FULL] = "VACUUM FULL t",
	[PGW_SQL_CLUSTER] = "CLUSTER t USING i",
	[PGW_SQL_REINDEX_BLOCKING] = "REINDEX TABLE t",
	[PGW_SQL_LOCK_EXCLUSIVE] = "LOCK TABLE t",
	[PGW_SQL_ADD_UNIQUE_CONSTRAINT] = "ALTER TABLE t ADD CONSTRAINT u UNIQUE (a)",
	[PGW_SQL_ADD_FOREIGN_KEY] = "ALTER TABLE t ADD FOREIGN KEY (a) REFERENCES u",
	[PGW_SQL_ADD_CHECK_CONSTRAINT] = "ALTER TABLE t ADD CHECK (a > 0)",
	[PGW_SQL_ADD_COLUMN_DEFAULT_VOLATILE] = "ALTER TABLE t ADD c uuid DEFAULT random()",
	[PGW_SQL_ADD_REQUIRED_COLUMN] = "ALTER TABLE t ADD COLUMN c int NOT NULL",
	[PGW_SQL_SET_NOT_NULL] = "ALTER TABLE t ALTER COLUMN a SET NOT NULL",
	[PGW_SQL_SET_UNLOGGED] = "ALTER TABLE t SET UNLOGGED",
	[PGW_SQL_DROP_NOT_NULL] = "ALTER TABLE t ALTER COLUMN a DROP NOT NULL",
	[PGW_SQL_DOMAIN_CONSTRAINT] = "ALTER DOMAIN d ADD CHECK (VALUE > 0)",
};

uint64_t pgw_guard_detected(int rule)
{
	return (unsigned)rule < PGW_SQL_NFLAGS ? detected[rule] : 0;
}

void pgw_guard_rule_doc(int rule, const char **example, const char **instead)
{
	bool known = (unsigned)rule < PGW_SQL_NFLAGS;

	*example = known && examples[rule] ? examples[rule] : "";
	*instead = known && hints[rule] ? hints[rule] : "";
}

/* Refusals that hold for every role and mode: pgward must see what the server runs. */
static enum pgw_verdict integrity(struct pgw_policy_ctx *ctx, const struct pgw_sql_info *info)
{
	switch (info->status) {
	case PGW_SQL_BAD_ENCODING:
		return pgw_refuse(ctx, "utf8", "22021", NULL, "pgward: %s (rule utf8)",
				  info->error);
	case PGW_SQL_TOO_LARGE:
		return pgw_refuse(ctx, "query_size", "54000", NULL,
				  "pgward: statement too large to inspect (rule query_size)");
	case PGW_SQL_TOO_COMPLEX:
	case PGW_SQL_NO_MEMORY:
		return pgw_refuse(
			ctx, "too_complex", "54001",
			"Simplify the statement (fewer nested expressions or subqueries).",
			"pgward: statement too complex to inspect (rule too_complex)");
	default:
		break;
	}
	if (info->flags & PGW_SQL_BIT(PGW_SQL_TEXT_FORM_UNSEEN))
		return pgw_refuse(
			ctx, "text_form_unseen", "42501",
			"Set client_encoding and standard_conforming_strings per database or "
			"role (ALTER DATABASE/ROLE ... SET), which sessions report when they "
			"start, or with SET.",
			"pgward: %s is not allowed: it could change client_encoding or "
			"standard_conforming_strings where pgward does not see it, and pgward "
			"reads each statement in the session's current ones (rule "
			"text_form_unseen)",
			pgw_sql_info_desc(info, PGW_SQL_TEXT_FORM_UNSEEN));
	return PGW_PASS;
}

static enum pgw_verdict role_rules(struct pgw_policy_ctx *ctx, const struct pgw_sql_info *info)
{
	uint64_t hit = info->flags & pgw_config_guard_rules(ctx->cfg, ctx->user);
	int rule;
	const char *what, *name;

	if (hit == 0)
		return PGW_PASS;
	rule = __builtin_ctzll(hit);
	what = pgw_sql_info_desc(info, (enum pgw_sql_flag)rule);
	name = pgw_sql_flag_name((enum pgw_sql_flag)rule);
	if (ctx->cfg->guard_mode == PGW_GUARD_DETECT) {
		detected[rule]++;
		pgw_warn(ctx->sid, "guard_detect", "rule=%s role=\"%s\" statement=\"%s\"", name,
			 ctx->user ? ctx->user : "", what ? what : "");
		return PGW_PASS;
	}
	return pgw_refuse(ctx, name, "42501", hints[rule],
			  "pgward: %s is not allowed for role \"%s\" (rule %s)",
			  what ? what : "statement", ctx->user ? ctx->user : "", name);
}

/*
 * A text the parser rejects is the server's to reject too, except where the two read it
 * differently: escapes in a constant (E'\xe9') that spell bytes invalid in UTF-8, which
 * the parser refuses and a database in another encoding takes as characters. Forwarding
 * it unread would pass whatever follows the constant.
 */
static enum pgw_verdict parse_error(struct pgw_policy_ctx *ctx, const struct pgw_sql_info *info)
{
	int server_enc = ctx->forms ? ctx->forms->server_enc : PGW_ENC_UTF8;

	if (server_enc != PGW_ENC_UTF8 && info->error != NULL &&
	    strncmp(info->error, "invalid byte sequence for encoding", 34) == 0)
		return pgw_refuse(
			ctx, "encoding", "22021",
			"Write the characters themselves, or \\u escapes, instead of byte "
			"escapes.",
			"pgward: cannot inspect a constant whose escapes spell bytes that are "
			"not UTF-8 in a %s database (rule encoding)",
			pgw_enc_name(server_enc));
	return pgw_policy_parse_error(ctx, info);
}

/* No rule for this role and nothing that refuses texts for failing to parse: only the checks
 * that hold for every role (integrity) look at the classification. */
static bool only_integrity(const struct pgw_policy_ctx *ctx)
{
	return ctx->cfg->on_parse_error != PGW_PARSE_ERROR_REFUSE &&
	       pgw_config_guard_rules(ctx->cfg, ctx->user) == 0;
}

static enum pgw_verdict on_message(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *m)
{
	const struct pgw_sql_info *info;
	enum pgw_verdict v;
	const char *text;
	size_t len;

	if (!pgw_policy_sql_text(ctx, m, &text, &len))
		return PGW_PASS;
	/* Most statements name none of the keywords any rule needs: no parse for those, which
	 * matters for literal-heavy simple-protocol traffic, where every text is new. A role
	 * with no rule needs only what holds for every role (UPDATE ... SET is not parsed). */
	if (!pgw_policy_prefilter(ctx, text, len,
				  only_integrity(ctx) ? PGW_SQL_MAY_CHANGE_SESSION
						      : PGW_SQL_MAY_BREAK_RULES))
		return PGW_PASS;
	info = pgw_policy_inspect(ctx, text, len);
	if (info == NULL)
		return pgw_refuse(ctx, "too_complex", "53200", NULL, "pgward: out of memory");
	v = integrity(ctx, info);
	if (v == PGW_PASS && info->status == PGW_SQL_OK)
		v = role_rules(ctx, info);
	else if (v == PGW_PASS && info->status == PGW_SQL_PARSE_ERROR)
		v = parse_error(ctx, info);
	return v;
}

const struct pgw_policy pgw_guard = {
	.name = "guard",
	.on_message = on_message,
	.reads = "QP",
};
