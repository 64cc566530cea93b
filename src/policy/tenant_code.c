/*
 * Code pgward cannot inspect, in a session with a tenant context: a built-in that runs SQL
 * given as text (query_to_xml, ts_stat, ...: sql/calls.c), wherever it sits in a statement,
 * could change the context unseen, and so could a function or procedure the session creates
 * (any language, any schema, pg_temp included) or a DO block. The last two stay open to the
 * roles in [guard] function_roles.
 */
#include "pgward/policy.h"
#include "pgward/sql.h"

#include <string.h>

/* <role> is one of the comma-separated names of <list>. */
static bool listed(const char *list, const char *role)
{
	size_t n = role ? strlen(role) : 0;

	for (const char *p = list; p != NULL && *p != '\0' && role != NULL;) {
		const char *end = strchr(p, ','), *a = p, *b = end ? end : p + strlen(p);

		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if ((size_t)(b - a) == n && memcmp(a, role, n) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

static enum pgw_verdict check(struct pgw_policy_ctx *ctx, const struct pgw_sql_info *info)
{
	const char *user = ctx->user ? ctx->user : "";
	static const char code_hint[] = "Create functions in a migration, outside sessions with a "
					"tenant context, or list the role in [guard] "
					"function_roles.";

	if (info->flags & PGW_SQL_BIT(PGW_SQL_SQL_FROM_STRING))
		return pgw_refuse(
			ctx, "sql_from_string", "42501",
			"Run the query itself: pgward inspects SQL only where it is written as a "
			"statement.",
			"pgward: %s is not allowed in a session with a tenant context: it runs SQL "
			"given as text, which pgward cannot inspect (rule sql_from_string)",
			pgw_sql_info_desc(info, PGW_SQL_SQL_FROM_STRING));
	if (!(info->flags &
	      (PGW_SQL_BIT(PGW_SQL_CREATE_FUNCTION) | PGW_SQL_BIT(PGW_SQL_DO_BLOCK))) ||
	    listed(ctx->cfg->function_roles, ctx->user))
		return PGW_PASS;
	if (info->flags & PGW_SQL_BIT(PGW_SQL_CREATE_FUNCTION))
		return pgw_refuse(ctx, "create_function", "42501", code_hint,
				  "pgward: %s is not allowed for role \"%s\" in a session with a "
				  "tenant context: pgward cannot inspect the code it creates "
				  "(rule create_function)",
				  pgw_sql_info_desc(info, PGW_SQL_CREATE_FUNCTION), user);
	return pgw_refuse(ctx, "do_block", "42501", code_hint,
			  "pgward: DO is not allowed for role \"%s\" in a session with a tenant "
			  "context: pgward cannot inspect its body (rule do_block)",
			  user);
}

static enum pgw_verdict on_message(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *m)
{
	if (!ctx->tenant_context)
		return PGW_PASS;
	/* every built-in's name, CREATE, ALTER (EXTENSION) and DO are pre-filter words */
	return pgw_policy_judge_sql(ctx, m, "sql_from_string", check);
}

const struct pgw_policy pgw_tenant_code = {
	.name = "tenant_code",
	.on_message = on_message,
	.reads = "QP",
	.needs = PGW_POLICY_NEEDS_TENANT_CONTEXT,
};
