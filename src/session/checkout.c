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
#include "pgward/random.h"
#include "pgward/welcome.h"

#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/event.h>

/* Whether a server of this session may serve other clients later. */
static bool poolable(const struct pgw_session *s)
{
	const struct pgw_startup_view *v = &s->view;

	return s->own_auth && !s->admin && pgw.cfg.pool_mode != PGW_POOL_NONE &&
	       v->replication == PGW_REPL_NONE && v->nproto == 0 && (v->version & 0xffff) == 0;
}

/*
 * Cancel keys of clients whose server is not theirs for good (welcomed, or pool_mode =
 * transaction): the pid is pgward's, above any Linux pid (at most 2^22) so that it never
 * meets a server's in the cancel registry.
 */
#define OWN_PID_BASE 0x40000000u
static uint32_t own_pids;

static uint32_t own_pid(void)
{
	return OWN_PID_BASE | (own_pids++ & (OWN_PID_BASE - 1));
}

/* BackendKeyData with <pid> and a secret of pgward's own; cancels for it are registered. */
static void give_key(struct pgw_session *s, uint32_t pid)
{
	s->cancel_pid = pid;
	if (pgw_random_bytes(&s->client_secret, sizeof(s->client_secret)) < 0)
		s->client_secret = (uint32_t)random();
	pgw_cancel_register(s);
	pgw_msg_backend_key(s->client.out, s->cancel_pid, s->client_secret);
}

void pgw_sess_give_key(struct pgw_session *s)
{
	/* under transaction pooling the server's pid would be another client's key soon */
	give_key(s, s->txn_pooled ? own_pid() : s->srv->pid);
}

/* AuthenticationOk and <params> to the client: to it, a login that just succeeded. */
static void tell_logged_in(struct pgw_session *s, const struct pgw_server_param *params,
			   size_t nparams)
{
	pgw_msg_auth(s->client.out, 0, NULL, 0);
	s->text.login_fixed = false;
	for (size_t i = 0; i < nparams; i++) {
		pgw_msg_parameter_status(s->client.out, params[i].name, params[i].value);
		pgw_sess_text_param(s, params[i].name, params[i].value);
	}
}

/* An idle server of the pool: to a client not yet told, it is a login that just
 * succeeded; a welcomed one was told already. */
static void take_idle(struct pgw_session *s)
{
	struct pgw_server *srv = s->srv;

	pgw_conn_set_cb(&srv->conn, pgw_sess_server_cb, s);
	pgw_sess_set_state(s, PGW_SS_AUTH);
	if (s->welcomed) {
		pgw_sess_auth_login_done(s); /* no server login: the credentials can go */
	} else {
		tell_logged_in(s, srv->params, srv->nparams);
		pgw_sess_authenticated(s);
		if (s->state >= PGW_SS_CLOSING)
			return;
		pgw_sess_give_key(s);
	}
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
	/* a welcomed client's server is set up within the login's time, as its login was (a
	 * client back for another transaction: a new server's login only) */
	if (s->welcomed && pgw.cfg.client_login_timeout > 0 &&
	    (!s->txn_released || srv->state == PGW_SRV_NEW))
		pgw_sess_arm_timer(s, pgw.cfg.client_login_timeout);
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

/* A server of the pool for <s>: an idle one, a new one, or a place in the queue. */
static void checkout(struct pgw_session *s)
{
	struct pgw_server *srv;

	pgw_sess_set_state(s, PGW_SS_CONNECTING);
	s->pool_wait.ready = pool_ready;
	s->pool_wait.fits = s->txn_pooled ? pgw_sess_server_fits : NULL;
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
	if (!s->welcomed)
		evtimer_del(&s->timer);
	pgw_conn_set_cb(&s->client, waiting_client_cb, s);
	pgw_conn_set_reading(&s->client, true);
	pgw_debug(s->id, "pool_wait", "user=%s", s->user);
}

/*
 * Whether <in> holds what a server is taken for: a whole message, or at least half a block
 * of one too long for pgward to hold whole (it streams through). Less than that waits for
 * the rest without a server, so a client that stops in the middle of a message holds none.
 */
static bool whole_message_waits(const struct pgw_rbuf *in)
{
	struct pgw_msg_hdr h;
	size_t have = pgw_rbuf_len(in);

	if (have == 0)
		return false;
	switch (pgw_frame_peek(pgw_rbuf_data(in), have, pgw.cfg.max_packet_size, &h)) {
	case PGW_FRAME_NEED_MORE:
		return false;
	case PGW_FRAME_OK:
		return have >= (size_t)h.len + 1 ||
		       ((size_t)h.len + 1 > PGW_RBUF_BLOCK && have >= PGW_RBUF_BLOCK / 2);
	default:
		return true; /* the relay refuses it */
	}
}

/* The first message of a welcomed client (or its leaving) arrived. */
static void welcomed_client_cb(struct pgw_conn *c, enum pgw_conn_event ev, void *arg)
{
	struct pgw_session *s = arg;
	const uint8_t *in = pgw_rbuf_data(&c->in);

	switch (ev) {
	case PGW_CONN_READ:
		/* a client that leaves without a word (a health check) needs no server */
		if (pgw_rbuf_len(&c->in) == 5 && in[0] == 'X' && in[4] == 4) {
			pgw_sess_end(s, "client sent Terminate");
			return;
		}
		if (!whole_message_waits(&c->in))
			return;
		s->tenant.held = s->tenant.released = s->tenant.injected = false;
		s->settings_sent = false;
		checkout(s);
		return;
	case PGW_CONN_EOF:
	case PGW_CONN_ERROR:
		pgw_sess_end(s, ev == PGW_CONN_EOF ? "client closed the connection" : c->err);
		return;
	case PGW_CONN_CONNECTED:
	case PGW_CONN_DRAINED:
	case PGW_CONN_HANDSHAKE_DONE:
		return;
	}
}

/* Tells the client it is logged in, from the welcome on record; false if there is none. */
static bool welcome(struct pgw_session *s)
{
	const struct pgw_welcome *w = pgw_welcome_find(s->welcome_key, s->welcome_keylen);

	if (w == NULL)
		return false;
	s->welcomed = true;
	s->welcome_version = w->version;
	pgw_sess_set_state(s, PGW_SS_CONNECTING);
	pgw_sess_set_state(s, PGW_SS_AUTH);
	tell_logged_in(s, w->params, w->nparams);
	give_key(s, own_pid()); /* no server pid is known yet */
	/* what it sends before its ReadyForQuery waits (its context may be looked up) */
	pgw_conn_set_cb(&s->client, waiting_client_cb, s);
	pgw_sess_authenticated(s);
	if (s->state >= PGW_SS_CLOSING)
		return true;
	pgw_debug(s->id, "welcomed", "");
	pgw_sess_tenant_server_ready(s); /* its context is resolved first */
	return true;
}

void pgw_sess_welcome_done(struct pgw_session *s)
{
	pgw_msg_ready(s->client.out, 'I');
	pgw_sess_set_state(s, PGW_SS_READY);
	evtimer_del(&s->timer); /* logged in: no more login timeout */
	s->last_client_activity = pgw_now();
	if (pgw_conn_flush(&s->client) < 0) {
		pgw_sess_end(s, s->client.err);
		return;
	}
	/* An idle client keeps no input block (64 kB): an empty one goes now, one with the
	 * client's last authentication message in it once that is read (client_auth.c). This
	 * may run inside that message: what the client sent next is read from the event loop. */
	if (pgw_rbuf_len(&s->client.in) == 0)
		pgw_rbuf_trim(&s->client.in);
	pgw_conn_set_cb(&s->client, welcomed_client_cb, s);
	pgw_conn_set_reading(&s->client, true);
	if (pgw_rbuf_len(&s->client.in) > 0)
		pgw_conn_kick_read(&s->client);
}

void pgw_sess_welcome_learn(struct pgw_session *s)
{
	const struct pgw_welcome *w;
	const struct pgw_server *srv = s->srv;

	if (s->welcome_key == NULL)
		return;
	/* back for another transaction, on a server that reports what it was told: nothing new */
	if (s->txn_released && srv->params_hash == s->told_params_hash)
		return;
	s->told_params_hash = srv->params_hash;
	w = pgw_welcome_find(s->welcome_key, s->welcome_keylen);
	/* A client back for another transaction was told what its last server said, which the
	 * record need not say: it is told everything this server says. */
	if (s->welcomed && !s->txn_released && w != NULL && w->version == s->welcome_version &&
	    w->params_hash == srv->params_hash) {
		/* told from the record, which says what this server says: nothing to add */
		pgw_welcome_touch(w);
		return;
	}
	if (s->welcomed) {
		/* what the server says and the client was not told, it is told now */
		bool same_record =
			!s->txn_released && w != NULL && w->version == s->welcome_version;

		for (size_t i = 0; i < srv->nparams; i++) {
			const char *name = srv->params[i].name, *told = NULL;

			/* the record was a server's list: the same order, as a rule */
			if (same_record && i < w->nparams && strcmp(w->params[i].name, name) == 0)
				told = w->params[i].value;
			for (size_t j = 0; same_record && told == NULL && j < w->nparams; j++)
				if (strcmp(w->params[j].name, name) == 0)
					told = w->params[j].value;
			if (told == NULL || strcmp(told, srv->params[i].value) != 0) {
				pgw_msg_parameter_status(s->client.out, srv->params[i].name,
							 srv->params[i].value);
				/* and pgward reads the client's text as this server will */
				pgw_sess_text_param(s, srv->params[i].name, srv->params[i].value);
			}
		}
	}
	/* a client of pool_mode = transaction back for another transaction adds nothing new */
	if (s->txn_released)
		return;
	if (pgw_welcome_store(s->welcome_key, s->welcome_keylen, srv->params, srv->nparams,
			      srv->params_hash) < 0) {
		pgw_debug(s->id, "welcome_not_recorded", "out of memory");
		return;
	}
	/* what the client was told is the record now: its next server is compared with it */
	w = pgw_welcome_find(s->welcome_key, s->welcome_keylen);
	if (w != NULL)
		s->welcome_version = w->version;
}

void pgw_sess_connect_server(struct pgw_session *s)
{
	if (!poolable(s)) {
		pgw_sess_set_state(s, PGW_SS_CONNECTING);
		pgw_conn_set_reading(&s->client, false);
		if ((s->srv = pgw_server_new(s->id)) == NULL) {
			pgw_sess_fail(s, "53200", "pgward: out of memory");
			return;
		}
		pgw_sess_open_server(s);
		return;
	}
	s->pooled = true;
	s->txn_pooled = pgw.cfg.pool_mode == PGW_POOL_TRANSACTION;
	s->renames = s->txn_pooled && pgw.cfg.max_prepared_statements > 0;
	if (pgw_welcome_key(&s->view, &s->welcome_key, &s->welcome_keylen) < 0) {
		pgw_sess_fail(s, "53200", "pgward: out of memory");
		return;
	}
	if (!welcome(s))
		checkout(s);
}

void pgw_sess_server_accepted(struct pgw_session *s)
{
	if (s->pooled && s->auth != NULL && s->srv->state == PGW_SRV_NEW)
		pgw_pool_login_accepted(s->srv, &s->auth->creds);
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
	srv->tracker.undo = NULL; /* what it still owes is no longer this client's */
	/* Only a server at rest goes back: nothing owed, no extended-protocol batch without its
	 * Sync, no message half sent either way, no lock_timeout of pgward's to restore, and no
	 * cancel on its way (it would hit the next client). An open transaction is rolled back
	 * (pool.c). */
	reusable = s->state == PGW_SS_READY && !srv->unresettable && !pgw_server_busy(srv) &&
		   !srv->tracker.batch_open && !s->cancel_forwarded && !srv->terminated &&
		   srv->left == 0 && s->client_left == 0 && !s->lt_restore_query &&
		   !s->lt_restore_sync && evbuffer_get_length(srv->conn.out) == 0;
	pgw_debug(s->id, "server_released", "server_pid=%u reusable=%s", srv->pid,
		  reusable ? "yes" : "no");
	pgw_pool_release(srv, reusable);
}

/*
 * At rest: the transaction is over (ReadyForQuery 'I') and nothing is in flight either way:
 * no answer owed, no extended-protocol batch without its Sync, no message half relayed or
 * waiting in a buffer, no lock_timeout of pgward's to restore, no cancel on its way (it
 * would hit the next client).
 */
static bool txn_at_rest(const struct pgw_session *s, const struct pgw_server *srv)
{
	return s->state == PGW_SS_READY && s->pinned_by[0] == '\0' && srv->tx_status == 'I' &&
	       !pgw_server_busy(srv) && !srv->tracker.batch_open && srv->left == 0 &&
	       s->client_left == 0 && s->discard_type == 0 && !s->lt_restore_query &&
	       !s->lt_restore_sync && !whole_message_waits(&s->client.in) &&
	       pgw_rbuf_len(&srv->conn.in) == 0 && evbuffer_get_length(srv->conn.out) == 0;
}

bool pgw_sess_txn_release(struct pgw_session *s)
{
	struct pgw_server *srv = s->srv;

	if (!txn_at_rest(s, srv))
		return false;
	s->srv = NULL;
	s->welcomed = s->txn_released = true; /* its next message fetches a server */
	/* the unnamed statement stays with the server: a Bind of it next time finds none,
	 * as behind any transaction pooler */
	pgw_stmt_map_remove(&s->stmts, "");
	pgw_debug(s->id, "server_released", "server_pid=%u reusable=%s", srv->pid,
		  s->cancel_forwarded ? "no" : "yes");
	if (s->cancel_forwarded || srv->terminated) {
		s->cancel_forwarded = false;
		pgw_pool_release(srv, false);
	} else {
		pgw_pool_checkin(srv);
	}
	pgw_conn_set_cb(&s->client, welcomed_client_cb, s);
	pgw_conn_set_reading(&s->client, true);
	return true;
}
