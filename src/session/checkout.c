/*
 * Where a session gets its server and gives it back. Unpooled (pool_mode = none,
 * auth_type = passthrough, replication, the console), a server of its own is opened and
 * closed with it. Pooled, the session asks the pool of its (database, user): an idle
 * server is taken over as if it had just logged in (pgward says AuthenticationOk, the
 * server's settings and a cancel key of its own), a new one is opened and logged in with
 * no settings of the client's; either way the client's startup settings and tenant
 * context are then applied before its first message (tenant_hook.c). When the client
 * leaves, a server with nothing in flight goes back to its pool.
 */
#include "session-int.h"

#include "pgward/codec.h"
#include "pgward/log.h"
#include "pgward/pool.h"
#include "pgward/proxy.h"

#include <stdlib.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/rand.h>

/* Whether a server of this session may serve other clients later. */
static bool poolable(const struct pgw_session *s)
{
	const struct pgw_startup_view *v = &s->view;

	return s->own_auth && !s->admin && pgw.cfg.pool_mode == PGW_POOL_SESSION &&
	       v->replication == PGW_REPL_NONE && v->nproto == 0 && (v->version & 0xffff) == 0;
}

void pgw_sess_give_key(struct pgw_session *s)
{
	s->cancel_pid = s->srv->pid;
	if (RAND_bytes((unsigned char *)&s->client_secret, sizeof(s->client_secret)) != 1)
		s->client_secret = (uint32_t)random();
	pgw_cancel_register(s);
	pgw_msg_backend_key(s->client.out, s->cancel_pid, s->client_secret);
}

/* An idle server of the pool: to the client it is a login that just succeeded. */
static void take_idle(struct pgw_session *s)
{
	struct pgw_server *srv = s->srv;

	pgw_conn_set_cb(&srv->conn, pgw_sess_server_cb, s);
	pgw_sess_set_state(s, PGW_SS_AUTH);
	pgw_msg_auth(s->client.out, 0, NULL, 0);
	s->text.login_fixed = false;
	for (size_t i = 0; i < srv->nparams; i++) {
		const struct pgw_server_param *p = &srv->params[i];

		pgw_msg_parameter_status(s->client.out, p->name, p->value);
		pgw_sess_text_param(s, p->name, p->value);
	}
	pgw_sess_authenticated(s);
	if (s->state >= PGW_SS_CLOSING)
		return;
	pgw_sess_give_key(s);
	pgw_debug(s->id, "server_reused", "server_pid=%u", srv->pid);
	/* Straight after pgward's own authentication this runs inside the client's last
	 * authentication message, still in its buffer: what the client sent after it is read
	 * from the event loop, not from here. */
	pgw_conn_set_cb(&s->client, pgw_sess_client_cb, s);
	pgw_conn_set_reading(&srv->conn, true);
	pgw_conn_set_reading(&s->client, true);
	pgw_conn_kick_read(&s->client);
	pgw_sess_tenant_server_ready(s);
}

static void take(struct pgw_session *s, struct pgw_server *srv)
{
	s->srv = srv;
	srv->id = s->id;
	if (srv->state == PGW_SRV_NEW) {
		pgw_conn_set_reading(&s->client, false); /* until the server is logged in */
		pgw_sess_open_server(s);
	} else {
		take_idle(s);
	}
}

/*
 * A client waiting in its pool's queue is watched for leaving, so that its turn does not
 * go to a client that is gone. What it sends meanwhile stays in its buffer, unread beyond
 * the first read, until it has a server.
 */
static void waiting_client_cb(struct pgw_conn *c, enum pgw_conn_event ev, void *arg)
{
	struct pgw_session *s = arg;

	switch (ev) {
	case PGW_CONN_READ:
		pgw_conn_set_reading(c, false);
		return;
	case PGW_CONN_EOF:
	case PGW_CONN_ERROR:
		pgw_sess_end(s, ev == PGW_CONN_EOF ? "client closed the connection while waiting"
						   : c->err);
		return;
	case PGW_CONN_CONNECTED:
	case PGW_CONN_DRAINED:
	case PGW_CONN_HANDSHAKE_DONE:
		return;
	}
}

static void pool_ready(void *arg, struct pgw_server *srv)
{
	struct pgw_session *s = arg;

	if (srv == NULL) {
		pgw_sess_fail(s, "08P01",
			      "pgward: query_wait_timeout: no server for user \"%s\" on database "
			      "\"%s\" became free within %gs",
			      s->user, s->view.database, pgw.cfg.query_wait_timeout);
		return;
	}
	pgw_metrics_pool_wait(&s->metrics, pgw_now() - s->pool_wait.since);
	take(s, srv);
}

void pgw_sess_connect_server(struct pgw_session *s)
{
	struct pgw_server *srv;

	pgw_sess_set_state(s, PGW_SS_CONNECTING);
	pgw_conn_set_reading(&s->client, false);
	if (!poolable(s)) {
		if ((s->srv = pgw_server_new(s->id)) == NULL) {
			pgw_sess_fail(s, "53200", "pgward: out of memory");
			return;
		}
		pgw_sess_open_server(s);
		return;
	}
	s->pooled = true;
	s->pool_wait.ready = pool_ready;
	s->pool_wait.arg = s;
	srv = pgw_pool_checkout(s->view.database, s->user, s->id, &s->pool_wait);
	if (srv != NULL) {
		pgw_metrics_pool_wait(&s->metrics, 0);
		take(s, srv);
		return;
	}
	if (s->pool_wait.pool == NULL) {
		pgw_sess_fail(s, "53200", "pgward: out of memory");
		return;
	}
	/* the client is known: from here query_wait_timeout bounds the wait, not the login's */
	evtimer_del(&s->timer);
	pgw_conn_set_cb(&s->client, waiting_client_cb, s);
	pgw_conn_set_reading(&s->client, true);
	pgw_debug(s->id, "pool_wait", "user=%s", s->user);
}

void pgw_sess_release_server(struct pgw_session *s)
{
	struct pgw_server *srv = s->srv;
	bool reusable;

	pgw_pool_unwait(&s->pool_wait);
	if (srv == NULL)
		return;
	if (srv->pool == NULL) {
		/* Best effort: a Terminate the client sent should still reach the server; a
		 * failure changes nothing, the connection closes either way. The memory goes
		 * with the session's, outside the callbacks this may run in. */
		if (!srv->conn.closed && pgw_conn_flush(&srv->conn) < 0)
			pgw_debug(s->id, "server_flush_failed", "");
		pgw_server_close(srv);
		return;
	}
	s->srv = NULL;
	/* Only a server at rest goes back: nothing owed, no extended-protocol batch without its
	 * Sync, no message half sent either way, no lock_timeout of pgward's to restore, and no
	 * cancel on its way (it would hit the next client). An open transaction is rolled back
	 * (pool.c). */
	reusable = s->state == PGW_SS_READY && !pgw_server_busy(srv) && !srv->tracker.batch_open &&
		   !s->cancel_forwarded && srv->left == 0 && s->client_left == 0 &&
		   !s->lt_restore_query && !s->lt_restore_sync &&
		   evbuffer_get_length(srv->conn.out) == 0;
	pgw_debug(s->id, "server_released", "server_pid=%u reusable=%s", srv->pid,
		  reusable ? "yes" : "no");
	pgw_pool_release(srv, reusable);
}
