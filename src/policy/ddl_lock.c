/*
 * DDL lock_timeout ([guard] ddl_lock_timeout): marks the Query or Bind that runs a DDL
 * statement, so the relay can have the server run it with a bounded lock wait: a migration
 * queued behind a long transaction would otherwise queue every later query on that table
 * behind itself. Also notes a client that writes lock_timeout itself: its choice wins.
 * Refuses nothing.
 */
#include "pgward/codec.h"
#include "pgward/policy.h"
#include "pgward/sql.h"

#include <string.h>

static bool writes_lock_timeout(const struct pgw_sql_info *info)
{
	if (info->flags & PGW_SQL_BIT(PGW_SQL_SET_CONFIG_DYNAMIC))
		return true; /* set_config() with a computed name may be lock_timeout */
	for (size_t i = 0; i < info->ngucs; i++)
		if (strcmp(info->gucs[i].name, "lock_timeout") == 0 &&
		    (info->gucs[i].route == PGW_SQL_GUC_SESSION ||
		     info->gucs[i].route == PGW_SQL_GUC_LOCAL ||
		     info->gucs[i].route == PGW_SQL_GUC_SET_CONFIG))
			return true;
	return false;
}

/*
 * A CONCURRENTLY statement gets no lock_timeout of pgward's: next to pgward's SET in one
 * extended-protocol batch the server would refuse it (25001), and it takes no lock that
 * blocks reads or writes, which is what the timeout is for.
 */
static bool runs_ddl(const struct pgw_sql_info *info)
{
	return info != NULL && info->status == PGW_SQL_OK &&
	       (info->flags & PGW_SQL_BIT(PGW_SQL_DDL)) &&
	       !(info->flags & PGW_SQL_BIT(PGW_SQL_CONCURRENTLY));
}

static enum pgw_verdict on_message(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *m)
{
	const struct pgw_sql_info *info = ctx->info;
	struct pgw_reader r;
	const char *text;
	size_t len;

	if (ctx->cfg->ddl_lock_timeout <= 0)
		return PGW_PASS;
	if (m->type == 'B') {
		pgw_reader_init(&r, m->body, m->len);
		pgw_read_cstr(&r);
		text = pgw_read_cstr(&r);
		ctx->runs_ddl = !r.bad && ctx->stmts != NULL &&
				runs_ddl(pgw_stmt_map_get(ctx->stmts, text));
		return PGW_PASS;
	}
	if (!pgw_policy_sql_text(ctx, m, &text, &len))
		return PGW_PASS;
	/* a Parse is inspected too, so that its Binds find the classification */
	if (info == NULL && pgw_policy_prefilter(ctx, text, len, PGW_SQL_MAY_RUN_DDL))
		info = pgw_policy_inspect(ctx, text, len);
	if (info == NULL || info->status != PGW_SQL_OK)
		return PGW_PASS;
	ctx->sets_lock_timeout = writes_lock_timeout(info);
	ctx->runs_ddl = m->type == 'Q' && runs_ddl(info);
	return PGW_PASS;
}

const struct pgw_policy pgw_ddl_lock = {
	.name = "ddl_lock",
	.on_message = on_message,
	.reads = "QPB",
	.needs = PGW_POLICY_NEEDS_DDL_LOCK_TIMEOUT,
};
