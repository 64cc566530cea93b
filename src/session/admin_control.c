/*
 * What the admin console does to sessions: KILL closes the clients of a database, and a
 * console session that waited for PAUSE or WAIT_CLOSE gets its answer. Sessions are found
 * through pgw_session_foreach, whose view points into its session (peer_addr), and are
 * only ever closed through the one close path (pgw_sess_fail).
 */
#include "session-int.h"

#include "pgward/admin.h"
#include "pgward/codec.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

/* The session a view of pgw_session_foreach shows. */
static struct pgw_session *session_of(const struct pgw_session_view *v)
{
	return (struct pgw_session *)((const char *)v->peer_addr -
				      offsetof(struct pgw_session, peer_addr));
}

/* ---- KILL ---- */

struct victims {
	const char *database; /* NULL: every database */
	struct pgw_session **list;
	size_t n, cap;
};

/* A client that holds a server or waits for one: connecting (its pool's queue included),
 * logging in to its server, or relaying. */
static bool has_server_side(const struct pgw_session *s)
{
	return s->state == PGW_SS_CONNECTING || s->state == PGW_SS_AUTH || s->state == PGW_SS_READY;
}

static void collect(const struct pgw_session_view *v, void *arg)
{
	struct victims *vs = arg;
	struct pgw_session *s = session_of(v);
	struct pgw_session **grown;

	if (s->admin || !has_server_side(s) ||
	    (vs->database != NULL && strcmp(s->view.database, vs->database) != 0))
		return;
	if (vs->n == vs->cap) {
		size_t cap = vs->cap ? 2 * vs->cap : 16;

		/* out of memory: this one stays, the administrator can KILL again */
		if ((grown = realloc(vs->list, cap * sizeof(*grown))) == NULL)
			return;
		vs->list = grown;
		vs->cap = cap;
	}
	vs->list[vs->n++] = s;
}

unsigned pgw_session_kill(const char *database, const char *sqlstate, const char *message)
{
	struct victims vs = {.database = database};

	/* collected first: closing a client gives its place in the pool to another, which
	 * must not happen while the list of sessions is being walked */
	pgw_session_foreach(collect, &vs);
	for (size_t i = 0; i < vs.n; i++)
		pgw_sess_fail(vs.list[i], sqlstate, "%s", message);
	free(vs.list);
	return (unsigned)vs.n;
}

/* ---- the answer to a console command that waited ---- */

struct lookup {
	uint64_t sid;
	struct pgw_session *s;
};

static void find_console(const struct pgw_session_view *v, void *arg)
{
	struct lookup *l = arg;
	struct pgw_session *s;

	if (v->id != l->sid || !v->admin)
		return;
	s = session_of(v);
	if (s->admin_active && s->state == PGW_SS_READY)
		l->s = s;
}

static struct pgw_session *console(uint64_t sid)
{
	struct lookup l = {.sid = sid};

	pgw_session_foreach(find_console, &l);
	return l.s;
}

bool pgw_session_admin_alive(uint64_t sid)
{
	return console(sid) != NULL;
}

bool pgw_session_admin_answer(uint64_t sid, struct evbuffer *answer)
{
	struct pgw_session *s = console(sid);

	if (s == NULL)
		return false;
	evbuffer_add_buffer(s->client.out, answer);
	pgw_msg_ready(s->client.out, 'I');
	if (pgw_conn_flush(&s->client) < 0) {
		pgw_sess_end(s, s->client.err);
		return false;
	}
	/* what the client sent while it waited is read now, from the event loop */
	pgw_conn_set_reading(&s->client, true);
	if (pgw_rbuf_len(&s->client.in) > 0)
		pgw_conn_kick_read(&s->client);
	return true;
}
