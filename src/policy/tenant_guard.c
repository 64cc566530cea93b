/*
 * The tenant guard: no client may change the tenant context pgward set. It refuses, for
 * every role, any statement that writes a protected setting by any route the SQL module
 * sees (SET, SET LOCAL, RESET, SET ... TO DEFAULT, set_config() anywhere in a tree,
 * ALTER ROLE/DATABASE/SYSTEM ... SET, CREATE/ALTER FUNCTION ... SET, which would run the
 * function under a forged or captured context), a set_config() whose name is not a
 * constant (or UPDATE pg_settings, an aggregate or operator that calls set_config later, a
 * cast or a type named text that could change a name: sql/casts.c), and RESET ALL and DISCARD
 * ALL, which would clear it. Reading it (SHOW, current_setting) stays allowed. In a session
 * with a tenant context, any ALTER ROLE or ALTER DATABASE too (a default setting, the
 * password): the tenants share the role, and every later server of it would get one
 * tenant's choice.
 */
#include "pgward/policy.h"
#include "pgward/sql.h"
#include "pgward/tenant.h"

#include <string.h>

static const char hint[] = "pgward sets the tenant context for each session; it cannot be "
			   "changed from SQL.";

static enum pgw_verdict refuse_setting(struct pgw_policy_ctx *ctx, const char *name,
				       const struct pgw_sql_guc *g)
{
	return pgw_refuse(ctx, "tenant_context", "42501", hint,
			  "pgward: %s of %s is not allowed: it is the tenant context "
			  "(rule tenant_context)",
			  g->route == PGW_SQL_GUC_SET_CONFIG ? "set_config()"
			  : g->route == PGW_SQL_GUC_FUNCTION ? "a function's SET"
			  : g->reset			     ? "RESET"
							     : "SET",
			  name);
}

/* ALTER ROLE (its password, its defaults: PostgreSQL lets a role change its own) and ALTER
 * DATABASE (its defaults, for the database's owner) reach every tenant of the role. */
static bool shared_by_tenants(const char *tag)
{
	return tag != NULL &&
	       (strcmp(tag, "ALTER ROLE") == 0 || strcmp(tag, "ALTER DATABASE") == 0);
}

static enum pgw_verdict check(struct pgw_policy_ctx *ctx, const struct pgw_sql_info *info)
{
	const char *org_ids = ctx->cfg->tenant_org_ids_setting;

	for (size_t i = 0; i < info->ngucs; i++) {
		const char *name;

		if (pgw_tenant_protected(ctx->cfg, info->gucs[i].name, &name))
			return refuse_setting(ctx, name, &info->gucs[i]);
	}
	if (info->flags & PGW_SQL_BIT(PGW_SQL_SET_CONFIG_DYNAMIC))
		return pgw_refuse(ctx, "tenant_context", "42501",
				  "Name the setting as a string constant.",
				  "pgward: %s is not allowed: it could change %s, the tenant "
				  "context (rule tenant_context)",
				  pgw_sql_info_desc(info, PGW_SQL_SET_CONFIG_DYNAMIC), org_ids);
	for (size_t i = 0; ctx->tenant_context && i < info->nstmts; i++)
		if (shared_by_tenants(info->stmts[i].tag))
			return pgw_refuse(
				ctx, "tenant_context", "42501",
				"Change the role or the database from a session without a tenant "
				"context.",
				"pgward: %s is not allowed in a tenant's session: it changes the "
				"role or database every later session uses, other tenants' too "
				"(rule tenant_context)",
				info->stmts[i].tag);
	if (info->flags & PGW_SQL_BIT(PGW_SQL_RESET_ALL))
		return pgw_refuse(ctx, "tenant_context", "42501",
				  "RESET the settings you changed by name.",
				  "pgward: RESET ALL is not allowed: it would clear %s, the tenant "
				  "context (rule tenant_context)",
				  org_ids);
	if (info->flags & PGW_SQL_BIT(PGW_SQL_DISCARD_ALL))
		return pgw_refuse(
			ctx, "tenant_context", "42501",
			"Use DISCARD PLANS, DISCARD SEQUENCES, DISCARD TEMP or "
			"DEALLOCATE ALL.",
			"pgward: DISCARD ALL is not allowed: it would clear %s, the tenant "
			"context (rule tenant_context)",
			org_ids);
	return PGW_PASS;
}

static enum pgw_verdict on_message(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *m)
{
	if (ctx->cfg->tenant_mode != PGW_TENANT_MODE_ON)
		return PGW_PASS;
	/* Every route needs SET, RESET, DISCARD, ALTER, CREATE, UPDATE or set_config as a
	 * word, all of which the pre-filter looks for. */
	return pgw_policy_judge_sql(ctx, m, "tenant_context", check);
}

const struct pgw_policy pgw_tenant_guard = {
	.name = "tenant_guard",
	.on_message = on_message,
	.reads = "QP",
	.needs = PGW_POLICY_NEEDS_TENANT_MODE,
};
