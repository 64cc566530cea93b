/*
 * The invalidation channel: while tenant mode is on no client may notify [tenant]
 * listen_channel, where a NOTIFY with payload '*' empties the lookup cache of every pgward
 * instance. It refuses NOTIFY of the channel and pg_notify() of it anywhere in a statement,
 * and a pg_notify() whose channel it cannot read. LISTEN stays allowed.
 */
#include "pgward/policy.h"
#include "pgward/sql.h"

#include <string.h>

/* Identifiers are cut to NAMEDATALEN - 1 bytes, at a character boundary (UTF-8). */
#define PG_NAME_MAX 63

/*
 * The length of the channel pgward LISTENs on: the configured name, which it quotes, so the
 * server keeps its case and cuts only its length.
 */
static size_t listened_length(const char *channel)
{
	size_t n = strlen(channel);

	if (n <= PG_NAME_MAX)
		return n;
	n = PG_NAME_MAX;
	while (n > 0 && ((unsigned char)channel[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/* NOTIFY's identifier arrives folded and cut by the parser; pg_notify()'s channel is used as
 * written (a longer one is an error), so both compare exactly with the listened name. */
static bool is_channel(const char *written, const char *channel, size_t len)
{
	return strlen(written) == len && memcmp(written, channel, len) == 0;
}

static enum pgw_verdict check(struct pgw_policy_ctx *ctx, const struct pgw_sql_info *info)
{
	const char *channel = ctx->cfg->tenant_listen_channel;
	size_t len = listened_length(channel);
	static const char hint[] = "pgward's lookup cache is invalidated by the database's own "
				   "triggers (conf/tenant/notify.sql); use another channel for "
				   "your notifications.";

	for (size_t i = 0; i < info->nnotifies; i++) {
		const struct pgw_sql_notify *n = &info->notifies[i];

		if (is_channel(n->channel, channel, len))
			return pgw_refuse(ctx, "notify_channel", "42501", hint,
					  "pgward: %s%s%s is not allowed: it is pgward's cache "
					  "invalidation channel ([tenant] listen_channel) "
					  "(rule notify_channel)",
					  n->function ? "pg_notify('" : "NOTIFY ", n->channel,
					  n->function ? "')" : "");
	}
	if (info->flags & PGW_SQL_BIT(PGW_SQL_NOTIFY_DYNAMIC))
		return pgw_refuse(
			ctx, "notify_channel", "42501", "Name the channel as a string constant.",
			"pgward: %s is not allowed: it could notify %.*s, pgward's cache "
			"invalidation channel ([tenant] listen_channel) "
			"(rule notify_channel)",
			pgw_sql_info_desc(info, PGW_SQL_NOTIFY_DYNAMIC), (int)len, channel);
	return PGW_PASS;
}

static enum pgw_verdict on_message(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *m)
{
	if (ctx->cfg->tenant_mode != PGW_TENANT_MODE_ON || ctx->cfg->tenant_listen_channel == NULL)
		return PGW_PASS;
	/* NOTIFY and pg_notify are among the pre-filter's words */
	return pgw_policy_judge_sql(ctx, m, "notify_channel", check);
}

const struct pgw_policy pgw_tenant_notify = {
	.name = "tenant_notify",
	.on_message = on_message,
	.reads = "QP",
	.needs = PGW_POLICY_NEEDS_TENANT_MODE,
};
