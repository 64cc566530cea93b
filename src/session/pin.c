/*
 * pool_mode = transaction: what pins a client to its server. A client's next transaction may
 * run on another server, where nothing of its session would be found: a named prepared
 * statement when max_prepared_statements = 0 (renamed.c makes them follow it otherwise), a
 * FunctionCall (pgward cannot tell what the function keeps), a PREPARE sql_prepared.c cannot
 * rename, and whatever the SQL inspection calls session state (PGW_SQL_SESSION_STATE: a SET
 * that cannot follow the client, set_config(..., false), LOAD, setseed, ...) or a hold
 * (PGW_SQL_SESSION_HOLD: LISTEN, cursors WITH HOLD, temporary relations, session advisory
 * locks). Once one passes, the client keeps the server it has, as under pool_mode =
 * session, until it leaves, until a DISCARD ALL of its own runs, or, when only holds pinned
 * it, until it has taken all of them back (holds.c). What even DISCARD ALL leaves (LOAD, a
 * dblink connection) closes the server with its client. While pinned, its SETs are noted as
 * before (sets.c), so that the server it leaves holds what its kind says. A text pgward
 * cannot read through (too large, too deep, out of memory) pins too; one the parser refuses
 * the server refuses as well.
 */
#include "session-int.h"

#include "pgward/codec.h"
#include "pgward/log.h"
#include "pgward/sql.h"

#include <stdio.h>
#include <string.h>

/*
 * What pins: session state (a PREPARE only where sql_prepared.c cannot rename it), and what
 * may create it where pgward cannot see: DDL (a CREATE
 * under a search_path that puts pg_temp first makes a temporary object, and an object
 * created in pg_temp by its name shadows a table or type of the next client's), a DO block,
 * SQL given as text, a setting written by a name pgward cannot read.
 */
static const enum pgw_sql_flag pinning[] = {
	PGW_SQL_SESSION_STATE, PGW_SQL_PREPARE,		PGW_SQL_DDL,
	PGW_SQL_DO_BLOCK,      PGW_SQL_SQL_FROM_STRING, PGW_SQL_SET_CONFIG_DYNAMIC,
};

void pgw_sess_pinned(struct pgw_session *s)
{
	char quoted[200];

	s->srv->pinned = true;
	pgw_info(s->id, "client_pinned", "server_pid=%u reason=%s", s->srv->pid,
		 pgw_log_quote(s->pinned_by, quoted, sizeof(quoted)));
}

void pgw_sess_pin(struct pgw_session *s, const char *why)
{
	bool was = s->pinned_by[0] != '\0';

	if (s->holds.other)
		return;
	s->holds.other = true;
	snprintf(s->pinned_by, sizeof(s->pinned_by), "%s", why);
	if (!was)
		pgw_sess_pinned(s);
}

/*
 * A pinned client's DISCARD ALL, alone, outside a transaction and with nothing before it in
 * flight (a transaction block or a pipeline would refuse it): it clears what pinned, unless
 * something that outlives it is there. If it fails all the same, the server's next handover
 * resets it itself.
 */
static bool unpin(struct pgw_session *s, const struct pgw_msg_view *m,
		  const struct pgw_sql_info *info)
{
	char quoted[200];

	if (s->srv->unresettable || m->type != 'Q' || info->nstmts != 1 ||
	    !(info->flags & PGW_SQL_BIT(PGW_SQL_DISCARD_ALL)) || s->srv->tx_status != 'I' ||
	    pgw_server_busy(s->srv) || s->srv->tracker.batch_open)
		return false;
	pgw_info(s->id, "client_unpinned", "server_pid=%u pinned_by=%s", s->srv->pid,
		 pgw_log_quote(s->pinned_by, quoted, sizeof(quoted)));
	s->pinned_by[0] = '\0';
	s->srv->pinned = false;
	pgw_server_session_unknown(s->srv);
	pgw_sess_sets_clear(s);
	pgw_sess_holds_clear(s);
	return true;
}

/* DDL that pins: a statement of kind DDL other than one that is itself the making of a
 * temporary relation (which holds.c counts, and DISCARD TEMP takes back). */
static bool pinning_ddl(const struct pgw_sql_info *info)
{
	for (size_t i = 0; i < info->nstmts; i++)
		if ((info->stmts[i].flags & PGW_SQL_BIT(PGW_SQL_DDL)) && !info->stmts[i].makes_temp)
			return true;
	return false;
}

static bool discards(const struct pgw_sql_info *info)
{
	return (info->flags & PGW_SQL_BIT(PGW_SQL_DISCARD_ALL)) || info->ndeallocates > 0;
}

/*
 * A text that runs DISCARD ALL or DEALLOCATE: pgward's statements on the server may go with
 * it, and are prepared again where needed (forgetting one the server keeps is harmless). A
 * Parse's runs later, at an Execute, maybe on another server: its statement is marked so
 * that each Bind of it does the same (bound_statement), and the server's statements are
 * forgotten again at its next ReadyForQuery.
 */
static void parsed_discard(struct pgw_session *s, const struct pgw_msg_view *m,
			   const struct pgw_sql_info *info)
{
	pgw_held_clear(&s->srv->held);
	if (m->type == 'Q')
		pgw_sess_stmts_forget(s, info); /* again if the pipeline had the text parsed */
	if (m->type != 'P')
		return;
	s->srv->held_doubt = true;
	s->stmts_discard = true;
	pgw_stmt_map_set_info(&s->stmts, (const char *)m->body, info);
}

/*
 * A named Parse that leaves a hold (holds.c: LISTEN, a cursor WITH HOLD, ...): it pins now,
 * and each Bind of it again (bound_statement), since it may run after its client was
 * unpinned, on any server.
 */
static void parsed_hold(struct pgw_session *s, const struct pgw_msg_view *m,
			const struct pgw_sql_info *info)
{
	for (size_t i = 0; i < info->nholds; i++)
		if (info->holds[i].take && m->type == 'P' && m->body[0] != '\0') {
			s->stmts_hold = true;
			pgw_stmt_map_set_info(&s->stmts, (const char *)m->body, info);
			return;
		}
}

/*
 * A Bind of a statement that leaves a hold: pinned again. A Bind of one that runs DISCARD
 * ALL or DEALLOCATE, maybe on another server than the one it was parsed on: that server's
 * statements of pgward's are forgotten, after a DISCARD ALL so is whose settings it holds
 * (its next client resets it), and the client's statements it drops are gone from its map,
 * as directly (when its Execute follows).
 */
static void bound_statement(struct pgw_session *s, const struct pgw_msg_view *m)
{
	const struct pgw_sql_info *info;
	struct pgw_reader r;
	const char *stmt;

	pgw_reader_init(&r, m->body, m->len);
	pgw_read_cstr(&r); /* the portal */
	if ((stmt = pgw_read_cstr(&r)) == NULL)
		return; /* malformed: the server refuses it */
	info = pgw_stmt_map_get(&s->stmts, stmt);
	if (info != NULL && info->nholds > 0)
		pgw_sess_holds_note(s, m, info);
	if (info == NULL || !discards(info))
		return;
	pgw_held_clear(&s->srv->held);
	s->srv->held_doubt = true;
	if (info->flags & PGW_SQL_BIT(PGW_SQL_DISCARD_ALL)) {
		pgw_server_session_unknown(s->srv);
		pgw_sess_sets_clear(s);
	}
	/* once the Bind has gone under its statement's name */
	pgw_sql_info_unref(s->forget_after_bind);
	s->forget_after_bind = pgw_sql_info_ref(info);
}

void pgw_sess_pin_check(struct pgw_session *s, struct pgw_policy_ctx *ctx,
			const struct pgw_msg_view *m)
{
	const struct pgw_sql_info *info;
	const char *text;
	size_t len;

	switch (m->type) {
	case 'B':
		if (s->stmts_discard || s->stmts_hold)
			bound_statement(s, m);
		return;
	case 'P':
		if (!s->renames && m->len > 0 && m->body[0] != '\0') {
			pgw_sess_pin(s, "a named prepared statement");
			return;
		}
		break;
	case 'Q':
		break;
	case 'F':
		pgw_sess_pin(s, "a FunctionCall");
		return;
	default:
		return;
	}
	if (!pgw_policy_sql_text(ctx, m, &text, &len))
		return; /* malformed: the server refuses it */
	if (ctx->info == NULL && !pgw_policy_prefilter(ctx, text, len, PGW_SQL_MAY_PIN))
		return; /* no word any of it needs: nothing to parse */
	info = ctx->info != NULL ? ctx->info : pgw_policy_inspect(ctx, text, len);
	if (info == NULL) {
		pgw_sess_pin(s, "out of memory");
		return;
	}
	switch (info->status) {
	case PGW_SQL_OK:
		if (s->renames && discards(info))
			parsed_discard(s, m, info);
		/* a library loaded, a dblink connection: no reset clears them, the server goes
		 * with its client */
		if (info->flags & PGW_SQL_BIT(PGW_SQL_OUTLIVES_RESET))
			s->srv->unresettable = true;
		if (s->pinned_by[0] != '\0' && unpin(s, m, info))
			return;
		if (info->nholds > 0) {
			pgw_sess_holds_note(s, m, info);
			parsed_hold(s, m, info);
		}
		for (size_t i = 0; i < PGW_ARRAY_LEN(pinning); i++)
			if ((info->flags & PGW_SQL_BIT(pinning[i])) &&
			    (pinning[i] != PGW_SQL_DDL || pinning_ddl(info)) &&
			    (pinning[i] != PGW_SQL_PREPARE || !pgw_sess_renames(s, 'Q'))) {
				pgw_sess_pin(s, pgw_sql_info_desc(info, pinning[i]));
				return;
			}
		/* a SET pgward carries to the client's next servers (sets.c), or a pin */
		if ((info->flags & PGW_SQL_BIT(PGW_SQL_SESSION_SET)) &&
		    !pgw_sess_sets_note(s, m, info)) {
			pgw_sess_pin(s, pgw_sql_info_desc(info, PGW_SQL_SESSION_SET));
			return;
		}
		if (info->flags & PGW_SQL_BIT(PGW_SQL_DISCARD_ALL)) {
			/* back to the login's settings if it runs, not if a transaction block
			 * refuses it: the next client resets the server itself */
			pgw_server_session_unknown(s->srv);
			pgw_sess_sets_clear(s);
		}
		return;
	case PGW_SQL_PARSE_ERROR:
	case PGW_SQL_BAD_ENCODING:
		return;
	case PGW_SQL_TOO_LARGE:
	case PGW_SQL_TOO_COMPLEX:
	case PGW_SQL_NO_MEMORY:
		pgw_sess_pin(s, pgw_sql_status_name(info->status));
		return;
	}
}
