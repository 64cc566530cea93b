/*
 * DDL lock_timeout injection ([guard] ddl_lock_timeout). A statement the pipeline marked as
 * DDL runs with lock_timeout set, and the session's setting is restored after it; the
 * answers to pgward's own messages are swallowed (tracker.h), so the client sees only its
 * own. Simple protocol: a Query before and after the client's Query (never spliced into
 * its text: CREATE INDEX CONCURRENTLY must stay alone in its Query). Extended protocol: a
 * named statement and portal of pgward's own before the Bind, and the restore after the
 * next Sync, in the extended protocol too, because a simple Query would drop the client's
 * unnamed statement. Should the DDL fail, its transaction's rollback undoes the SET and
 * the restore is harmless. A client that writes lock_timeout itself is left alone.
 */
#include "session-int.h"

#include "pgward/codec.h"
#include "pgward/proxy.h"

#include <stdio.h>
#include <string.h>
#include <event2/buffer.h>

/* Names no client uses, as for refusals (refuse.c). */
static const char lt_name[] = "pgward.lock_timeout";

/* One message of pgward's, its answer swallowed (<a> NULL) or as <a> says; false (the
 * session failed) out of memory. */
static bool own(struct pgw_session *s, const struct pgw_own_msg *m, const struct pgw_own_answer *a)
{
	if (pgw_server_own(s->srv, m, a) == 0)
		return true;
	pgw_sess_fail(s, "53200", "pgward: out of memory");
	return false;
}

static void set_sql(char *buf, size_t len)
{
	long ms = (long)(pgw.cfg.ddl_lock_timeout * 1000 + 0.5);

	snprintf(buf, len, "SET lock_timeout = '%ldms'", ms > 0 ? ms : 1);
}

static bool query(struct pgw_session *s, const char *sql)
{
	return own(s, &(struct pgw_own_msg){.type = 'Q', .text = sql}, NULL);
}

/*
 * <sql> run on pgward's own statement and portal, closed before (in case an earlier run was
 * cut short: closing what does not exist is no error) and after (pg_prepared_statements
 * must not show it). Then a Sync if <sync>, the restore after the client's batch, whose
 * answers are all swallowed; without one, in front of the client's Bind, an error is the
 * client's: the transaction may have failed since the last ReadyForQuery (the client
 * pipelines), and the server then skips the client's Bind as it would have refused it.
 */
static bool extended(struct pgw_session *s, const char *sql, bool sync)
{
	static const struct pgw_own_answer hide = {.action = PGW_RESP_HIDE};
	const struct pgw_own_msg seq[] = {
		{.type = 'C', .kind = 'S', .name = lt_name},
		{.type = 'C', .kind = 'P', .name = lt_name},
		{.type = 'P', .name = lt_name, .text = sql},
		{.type = 'B', .name = lt_name, .stmt = lt_name},
		{.type = 'E', .name = lt_name},
		{.type = 'C', .kind = 'P', .name = lt_name},
		{.type = 'C', .kind = 'S', .name = lt_name},
		{.type = 'S'},
	};

	for (size_t i = 0; i < PGW_ARRAY_LEN(seq) - (sync ? 0 : 1); i++)
		if (!own(s, &seq[i], sync ? NULL : &hide))
			return false;
	return true;
}

void pgw_lt_note(struct pgw_session *s, const struct pgw_policy_ctx *ctx)
{
	if (ctx->sets_lock_timeout)
		s->lt_client_owns = true;
	s->lt_ddl = ctx->runs_ddl;
}

/* The message the pipeline marked as DDL is next: lock_timeout goes before it. */
bool pgw_lt_set(struct pgw_session *s, char type)
{
	char sql[64];

	s->lt_ddl = false;
	/* in a failed transaction the server refuses the DDL anyway */
	if (s->lt_client_owns || s->srv->tx_status == 'E' || pgw.cfg.ddl_lock_timeout <= 0)
		return true;
	set_sql(sql, sizeof(sql));
	if (type == 'Q') {
		s->lt_restore_query = true;
		return query(s, sql);
	}
	if (type != 'B' || s->lt_restore_sync)
		return true; /* set already for this batch */
	s->lt_restore_sync = true;
	return extended(s, sql, false);
}

bool pgw_lt_after(struct pgw_session *s, char type)
{
	static const char reset[] = "RESET lock_timeout";

	if (type == 'Q') {
		/* a Query also ends an extended batch left without Sync */
		s->lt_restore_query = s->lt_restore_sync = false;
		return query(s, reset);
	}
	s->lt_restore_sync = false;
	return extended(s, reset, true);
}
