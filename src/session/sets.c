/*
 * pool_mode = transaction: the client's session SETs follow it. A Query whose SETs and
 * RESETs pgward can write again on another backend (PGW_SQL_SESSION_SET: the parse tree
 * gives the value as set_config() needs it) does not pin: its settings are noted, kept once
 * the Query's implicit transaction has committed (no error before its ReadyForQuery 'I'),
 * and become part of the client's kind, the key a server's settings_of records
 * (handover.c). On a server of another kind they are written after the client's startup
 * settings, with set_config(name, value, false) and bound parameters (a RESET as a NULL
 * value), in the order the client ran them, the last of each name only.
 * The extended protocol's one-shot SET (the unnamed statement parsed, bound and executed in
 * one batch, as pgJDBC sends its own) is kept likewise at its Sync's ReadyForQuery. What is
 * not certain to commit alone pins as before: a SET inside a transaction block, next to
 * anything else in flight, or as a named statement (it could run again unseen).
 */
#include "session-int.h"

#include "pgward/sql.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* More than this many distinct settings pin the client. */
#define SETS_MAX 64

static void entry_free(struct pgw_sess_set *e)
{
	free(e->name);
	free(e->value);
}

static void list_clear(struct pgw_sess_set *v, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		entry_free(&v[i]);
	*n = 0;
}

void pgw_sess_sets_free(struct pgw_sess_sets *t)
{
	list_clear(t->v, &t->n);
	list_clear(t->pending, &t->npending);
	free(t->v);
	free(t->pending);
	free(t->kind_key);
	memset(t, 0, sizeof(*t));
}

/* Appends a copy of (<name>, <value>) to <v>, of capacity SETS_MAX. */
static bool append(struct pgw_sess_set *v, size_t *n, const char *name, const char *value)
{
	struct pgw_sess_set *e = &v[*n];

	e->name = strdup(name);
	e->value = value != NULL ? strdup(value) : NULL;
	if (e->name == NULL || (value != NULL && e->value == NULL)) {
		entry_free(e);
		return false;
	}
	(*n)++;
	return true;
}

static bool ensure(struct pgw_sess_set **v)
{
	if (*v == NULL)
		*v = calloc(SETS_MAX, sizeof(**v));
	return *v != NULL;
}

bool pgw_sess_commits_alone(const struct pgw_session *s, const struct pgw_sql_info *info)
{
	const struct pgw_server *srv = s->srv;

	if (srv->tx_status != 'I' || !pgw_tracker_only_swallowed(&srv->tracker) ||
	    srv->tracker.batch_open)
		return false;
	for (size_t i = 0; i < info->nstmts; i++)
		if (info->stmts[i].kind == PGW_SQL_KIND_TRANSACTION)
			return false;
	return true;
}

bool pgw_sess_sets_note(struct pgw_session *s, const struct pgw_msg_view *m,
			const struct pgw_sql_info *info)
{
	struct pgw_sess_sets *t = &s->sets;

	/* a Query, or the unnamed statement's Parse opening a batch (a driver's one-shot SET:
	 * Parse, Bind, Execute, Sync); a named one could run again later, unseen. Nothing of the
	 * client's in flight: only pgward's own messages, such as the Close of an unnamed
	 * statement a handover put in front. */
	bool parse = m->type == 'P' && m->len > 0 && m->body[0] == '\0';

	if ((m->type != 'Q' && !parse) || t->npending > 0 || !pgw_sess_commits_alone(s, info) ||
	    !ensure(&t->pending))
		return false;
	for (size_t i = 0; i < info->ngucs; i++) {
		const struct pgw_sql_guc *g = &info->gucs[i];

		if (g->route != PGW_SQL_GUC_SESSION)
			continue;
		if (!g->replayable || t->npending == SETS_MAX ||
		    !append(t->pending, &t->npending, g->name, g->replay)) {
			list_clear(t->pending, &t->npending);
			return false;
		}
	}
	if (t->n + t->npending > SETS_MAX) {
		list_clear(t->pending, &t->npending);
		return false;
	}
	t->failed = false;
	t->unexecuted = parse; /* kept only if an Execute runs it before the Sync */
	t->by_parse = t->watch_skip = parse;
	t->binds = 0;
	return t->npending > 0;
}

void pgw_sess_sets_watch(struct pgw_session *s, char type)
{
	struct pgw_sess_sets *t = &s->sets;

	if (t->npending == 0 || !t->by_parse)
		return;
	if (t->watch_skip) {
		t->watch_skip = false;
		return;
	}
	if (type == 'B' && t->binds++ == 0)
		return;
	if (type == 'P' || type == 'Q' || type == 'F' || type == 'C' || type == 'B')
		t->failed = true;
}

bool pgw_sess_sets_explain(const struct pgw_session *s, const char *name)
{
	for (size_t i = 0; i < s->sets.npending; i++)
		if (strcasecmp(s->sets.pending[i].name, name) == 0)
			return true;
	return false;
}

/* The kind key: the welcome key, then each setting as name NUL ('v' value | 'r') NUL. */
static int make_key(struct pgw_session *s)
{
	struct pgw_sess_sets *t = &s->sets;
	size_t len = s->welcome_keylen;
	char *key, *p;

	free(t->kind_key);
	t->kind_key = NULL;
	t->kind_keylen = 0;
	if (t->n == 0)
		return 0;
	for (size_t i = 0; i < t->n; i++)
		len += strlen(t->v[i].name) + 3 + (t->v[i].value ? strlen(t->v[i].value) : 0);
	if ((key = malloc(len)) == NULL)
		return -1;
	memcpy(key, s->welcome_key, s->welcome_keylen);
	p = key + s->welcome_keylen;
	for (size_t i = 0; i < t->n; i++) {
		size_t nl = strlen(t->v[i].name) + 1;

		memcpy(p, t->v[i].name, nl);
		p += nl;
		*p++ = t->v[i].value ? 'v' : 'r';
		if (t->v[i].value) {
			size_t vl = strlen(t->v[i].value);

			memcpy(p, t->v[i].value, vl);
			p += vl;
		}
		*p++ = '\0';
	}
	t->kind_key = key;
	t->kind_keylen = len;
	return 0;
}

const char *pgw_sess_kind_key(const struct pgw_session *s, size_t *len)
{
	if (s->sets.kind_key != NULL) {
		*len = s->sets.kind_keylen;
		return s->sets.kind_key;
	}
	*len = s->welcome_keylen;
	return s->welcome_key;
}

/* The pending settings join the kept ones: a name set again moves to the end. */
static bool commit(struct pgw_session *s)
{
	struct pgw_sess_sets *t = &s->sets;

	if (!ensure(&t->v))
		return false;
	for (size_t i = 0; i < t->npending; i++) {
		struct pgw_sess_set *p = &t->pending[i];
		size_t j;

		for (j = 0; j < t->n && strcmp(t->v[j].name, p->name) != 0; j++)
			;
		if (j < t->n) {
			entry_free(&t->v[j]);
			memmove(&t->v[j], &t->v[j + 1], (t->n - j - 1) * sizeof(*t->v));
			t->n--;
		}
		t->v[t->n++] = *p; /* moved; room: pgw_sess_sets_note counted it */
	}
	t->npending = 0;
	return true;
}

bool pgw_sess_sets_settle(struct pgw_session *s, char tx_status)
{
	struct pgw_sess_sets *t = &s->sets;
	struct pgw_server *srv = s->srv;
	size_t oldlen;
	const char *old = pgw_sess_kind_key(s, &oldlen);
	bool held = pgw_server_holds(srv->settings_of, srv->settings_of_len, old, oldlen);
	const char *key;
	size_t keylen;

	if (t->failed || t->unexecuted || tx_status != 'I') {
		/* Not the client's for sure, but maybe the server's: a COMMIT between the SET and
		 * the error, or a transaction it is part of now, keeps it there. The server is
		 * nobody's: the next client resets it (handover.c). */
		if (t->npending > 0)
			pgw_server_session_unknown(srv);
		list_clear(t->pending, &t->npending);
		return true;
	}
	if (!commit(s) || make_key(s) < 0) {
		list_clear(t->pending, &t->npending);
		return false;
	}
	/* the server holds the client's new kind now, if it held the one before */
	key = pgw_sess_kind_key(s, &keylen);
	if (held && pgw_server_remember(&srv->settings_of, &srv->settings_of_len, key, keylen) < 0)
		return false;
	return true;
}

void pgw_sess_sets_clear(struct pgw_session *s)
{
	list_clear(s->sets.v, &s->sets.n);
	list_clear(s->sets.pending, &s->sets.npending);
	(void)make_key(s); /* none left: nothing to allocate */
}
