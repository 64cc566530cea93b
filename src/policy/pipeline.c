/*
 * The pipeline: runs the policies in order, cheapest first; the first refusal wins.
 */
#include "pgward/policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The text reader runs before every policy that reads SQL; the tenant policies before the guard, so
 * a refusal names the tenant setting (and tenant_guard before tenant_code, so CREATE FUNCTION ...
 * SET app.user_org_ids names it too); ddl_lock is last: it refuses nothing, it marks what passed.
 */
static const struct pgw_policy *const pipeline[] = {
	&pgw_size_guard,   &pgw_text_reader,   &pgw_function_call,
	&pgw_tenant_guard, &pgw_tenant_notify, &pgw_tenant_code,
	&pgw_guard,	   &pgw_column_limits, &pgw_ddl_lock,
};

bool pgw_policy_needs_body(char type)
{
	return type == 'Q' || type == 'P' || type == 'B' || type == 'F' || type == 'C';
}

enum pgw_verdict pgw_pipeline_header(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *msg)
{
	for (size_t i = 0; i < PGW_ARRAY_LEN(pipeline); i++)
		if (pipeline[i]->on_header != NULL && pipeline[i]->on_header(ctx, msg) != PGW_PASS)
			return PGW_REFUSE;
	return PGW_PASS;
}

enum pgw_verdict pgw_pipeline_message(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *msg)
{
	for (size_t i = 0; i < PGW_ARRAY_LEN(pipeline); i++)
		if (pipeline[i]->on_message != NULL &&
		    pipeline[i]->on_message(ctx, msg) != PGW_PASS)
			return PGW_REFUSE;
	return PGW_PASS;
}

enum pgw_verdict pgw_refuse(struct pgw_policy_ctx *ctx, const char *rule, const char *sqlstate,
			    const char *hint, const char *fmt, ...)
{
	va_list ap;

	ctx->refusal.rule = rule;
	ctx->refusal.sqlstate = sqlstate;
	va_start(ap, fmt);
	vsnprintf(ctx->refusal.message, sizeof(ctx->refusal.message), fmt, ap);
	va_end(ap);
	snprintf(ctx->refusal.hint, sizeof(ctx->refusal.hint), "%s", hint ? hint : "");
	return PGW_REFUSE;
}
