/*
 * pool_mode = transaction: what a pinned client holds on its server that it can take back
 * itself (PGW_SQL_SESSION_HOLD, info->holds): the channels it listens on, its cursors WITH
 * HOLD, temporary relations, session advisory locks. A statement that leaves one pins the
 * client at once, whether it runs or not. UNLISTEN, CLOSE, DISCARD TEMP and SELECT
 * pg_catalog.pg_advisory_unlock_all() take them back once the Query that runs them has
 * committed: a Query alone in flight, outside a transaction block, with no error before its
 * ReadyForQuery 'I', and nothing that holds sent behind it meanwhile (a take-back anywhere
 * else is not counted, and the client stays pinned). When nothing is held any more and
 * nothing else pinned the client (holds->other: what no statement takes back but DISCARD
 * ALL), the client is unpinned there, and its server goes back to the pool at that
 * ReadyForQuery like any other.
 */
#include "session-int.h"

#include "pgward/log.h"
#include "pgward/sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* More names of one kind than this pin the client for good. */
#define HOLD_NAMES_MAX 64

static void names_clear(struct pgw_sess_names *n)
{
	for (size_t i = 0; i < n->n; i++)
		free(n->v[i]);
	n->n = 0;
}

void pgw_sess_holds_free(struct pgw_sess_holds *h)
{
	names_clear(&h->listens);
	names_clear(&h->cursors);
	free(h->listens.v);
	free(h->cursors.v);
	pgw_sql_info_unref(h->pending);
	memset(h, 0, sizeof(*h));
}

static bool names_has(const struct pgw_sess_names *n, const char *name)
{
	for (size_t i = 0; i < n->n; i++)
		if (strcmp(n->v[i], name) == 0)
			return true;
	return false;
}

/* False if it did not fit: the caller pins for good. */
static bool names_add(struct pgw_sess_names *n, const char *name)
{
	char *copy;

	if (names_has(n, name))
		return true;
	if (n->v == NULL && (n->v = calloc(HOLD_NAMES_MAX, sizeof(*n->v))) == NULL)
		return false;
	if (n->n == HOLD_NAMES_MAX || (copy = strdup(name)) == NULL)
		return false;
	n->v[n->n++] = copy;
	return true;
}

static void names_remove(struct pgw_sess_names *n, const char *name)
{
	if (name == NULL) {
		names_clear(n);
		return;
	}
	for (size_t i = 0; i < n->n; i++)
		if (strcmp(n->v[i], name) == 0) {
			free(n->v[i]);
			n->v[i] = n->v[--n->n];
			return;
		}
}

/* One hold of a statement, in text order. False if it did not fit. */
static bool apply(struct pgw_sess_holds *h, const struct pgw_sql_hold *o, bool takes_only)
{
	struct pgw_sess_names *names = o->kind == PGW_SQL_HOLD_LISTEN	? &h->listens
				       : o->kind == PGW_SQL_HOLD_CURSOR ? &h->cursors
									: NULL;

	if (!o->take) {
		if (takes_only)
			return true;
		if (names != NULL)
			names_remove(names, o->name);
		else if (o->kind == PGW_SQL_HOLD_TEMP)
			h->temp = false;
		else
			h->advisory = false;
		return true;
	}
	if (names != NULL)
		return names_add(names, o->name != NULL ? o->name : "");
	if (o->kind == PGW_SQL_HOLD_TEMP)
		h->temp = true;
	else
		h->advisory = true;
	return true;
}

static bool holds_any(const struct pgw_sess_holds *h)
{
	return h->other || h->listens.n > 0 || h->cursors.n > 0 || h->temp || h->advisory;
}

/* What SHOW CLIENTS says pins the client: the reason that nothing takes back, else the
 * first hold left. */
static void describe(struct pgw_session *s)
{
	const struct pgw_sess_holds *h = &s->holds;

	if (h->other)
		return; /* pgw_sess_pin wrote it */
	if (h->listens.n > 0)
		snprintf(s->pinned_by, sizeof(s->pinned_by), "LISTEN %s", h->listens.v[0]);
	else if (h->cursors.n > 0)
		snprintf(s->pinned_by, sizeof(s->pinned_by), "DECLARE %s WITH HOLD",
			 h->cursors.v[0]);
	else if (h->temp)
		snprintf(s->pinned_by, sizeof(s->pinned_by), "a temporary relation");
	else if (h->advisory)
		snprintf(s->pinned_by, sizeof(s->pinned_by), "a session advisory lock");
}

void pgw_sess_holds_note(struct pgw_session *s, const struct pgw_msg_view *m,
			 const struct pgw_sql_info *info)
{
	struct pgw_sess_holds *h = &s->holds;
	bool was = s->pinned_by[0] != '\0';
	bool takes_back = false;

	for (size_t i = 0; i < info->nholds; i++) {
		takes_back |= !info->holds[i].take;
		/* a hold sent behind a take-back not yet settled: the take-back no longer counts,
		 * it would take this one back too */
		if (info->holds[i].take && h->pending != NULL) {
			pgw_sql_info_unref(h->pending);
			h->pending = NULL;
		}
		if (!apply(h, &info->holds[i], true)) {
			pgw_sess_pin(s, "too many LISTEN or WITH HOLD cursors");
			return;
		}
	}
	if (!was && holds_any(h)) {
		describe(s);
		pgw_sess_pinned(s);
	}
	/* counted once its ReadyForQuery comes: a Query alone in flight, outside a block */
	if (takes_back && s->pinned_by[0] != '\0' && m->type == 'Q' && h->pending == NULL &&
	    pgw_sess_commits_alone(s, info)) {
		h->pending = pgw_sql_info_ref(info);
		h->failed = false;
	}
}

void pgw_sess_holds_settle(struct pgw_session *s, char tx_status)
{
	struct pgw_sess_holds *h = &s->holds;
	const struct pgw_sql_info *info = h->pending;
	char quoted[200];

	h->pending = NULL;
	if (!h->failed && tx_status == 'I' && s->pinned_by[0] != '\0') {
		for (size_t i = 0; i < info->nholds; i++)
			if (!apply(h, &info->holds[i], false)) {
				pgw_sess_pin(s, "too many LISTEN or WITH HOLD cursors");
				break;
			}
		if (!holds_any(h)) {
			pgw_info(s->id, "client_unpinned", "server_pid=%u pinned_by=%s",
				 s->srv->pid, pgw_log_quote(s->pinned_by, quoted, sizeof(quoted)));
			s->pinned_by[0] = '\0';
			s->srv->pinned = false;
		} else {
			describe(s);
		}
	}
	pgw_sql_info_unref(info);
}

void pgw_sess_holds_clear(struct pgw_session *s)
{
	struct pgw_sess_holds *h = &s->holds;

	names_clear(&h->listens);
	names_clear(&h->cursors);
	h->temp = h->advisory = h->other = false;
	pgw_sql_info_unref(h->pending);
	h->pending = NULL;
}
