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

typedef enum pgw_verdict (*policy_fn)(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *msg);

/* The message types read whole, in the order of the lists below. */
static const char body_types[] = "QPBFC";

/* Where <type> is in body_types; -1 for a type not read whole. */
static int body_index(char type)
{
	switch (type) {
	case 'Q':
		return 0;
	case 'P':
		return 1;
	case 'B':
		return 2;
	case 'F':
		return 3;
	case 'C':
		return 4;
	default:
		return -1;
	}
}

/* The policies of each pass, in pipeline order, built on first use: the on_header functions,
 * and for each of body_types the policies whose on_message reads it (most messages concern a
 * few policies, and every one of them passes here). */
static struct {
	bool built;
	uint8_t nheader, nmessage[sizeof(body_types) - 1];
	policy_fn header[PGW_ARRAY_LEN(pipeline)];
	const struct pgw_policy *message[sizeof(body_types) - 1][PGW_ARRAY_LEN(pipeline)];
} lists;

static void lists_build(void)
{
	for (size_t i = 0; i < PGW_ARRAY_LEN(pipeline); i++) {
		const struct pgw_policy *p = pipeline[i];

		if (p->on_header != NULL)
			lists.header[lists.nheader++] = p->on_header;
		for (size_t t = 0; t < sizeof(body_types) - 1; t++)
			if (p->on_message != NULL &&
			    (p->reads == NULL || strchr(p->reads, body_types[t]) != NULL))
				lists.message[t][lists.nmessage[t]++] = p;
	}
	lists.built = true;
}

bool pgw_policy_needs_body(char type)
{
	return body_index(type) >= 0;
}

enum pgw_verdict pgw_pipeline_header(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *msg)
{
	if (!lists.built)
		lists_build();
	for (size_t i = 0; i < lists.nheader; i++)
		if (lists.header[i](ctx, msg) != PGW_PASS)
			return PGW_REFUSE;
	return PGW_PASS;
}

/* The PGW_POLICY_NEEDS_* that do not hold for <ctx>. */
static unsigned unmet_needs(const struct pgw_policy_ctx *ctx)
{
	const struct pgw_config *cfg = ctx->cfg;

	return (cfg->tenant_mode != PGW_TENANT_MODE_ON ? PGW_POLICY_NEEDS_TENANT_MODE : 0) |
	       (!ctx->tenant_context ? PGW_POLICY_NEEDS_TENANT_CONTEXT : 0) |
	       (cfg->ncol_limits == 0 ? PGW_POLICY_NEEDS_COLUMN_LIMITS : 0) |
	       (cfg->ddl_lock_timeout <= 0 ? PGW_POLICY_NEEDS_DDL_LOCK_TIMEOUT : 0);
}

enum pgw_verdict pgw_pipeline_message(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *msg)
{
	int k = body_index(msg->type);
	unsigned unmet;

	if (k < 0)
		return PGW_PASS;
	if (!lists.built)
		lists_build();
	unmet = unmet_needs(ctx);
	for (size_t i = 0; i < lists.nmessage[k]; i++) {
		const struct pgw_policy *p = lists.message[k][i];

		if (!(p->needs & unmet) && p->on_message(ctx, msg) != PGW_PASS)
			return PGW_REFUSE;
	}
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
