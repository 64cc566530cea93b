/*
 * The servers a pool opens on its own. While a pool that has served a client has fewer
 * servers than min_pool_size, it opens one more at a time and logs it in with the
 * credentials of that client's login (its ClientKey, or a cleartext password; PgBouncer
 * keeps its clients' SCRAM keys the same way), so that the client after a quiet period does
 * not pay for a backend's start. No client is there to relay to: the pool reads the login
 * itself up to ReadyForQuery, and the server joins the idle ones. Credentials the server
 * refuses are forgotten; the next client's login gives new ones.
 */
#include "pool-int.h"

#include "pgward/codec.h"
#include "pgward/log.h"
#include "pgward/pool_db.h"
#include "pgward/proxy.h"

#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <utlist.h>

/* What a server sends while logging in is small; anything bigger means the stream is lost. */
#define LOGIN_MSG_MAX (64 * 1024)
/* Without server_connect_timeout, a login that has not finished in this time is given up. */
#define LOGIN_TIMEOUT_SECONDS 15

unsigned pgw_pool_min_size(void)
{
	const struct pgw_config *c = &pgw.cfg;

	return (unsigned)(c->min_pool_size < c->default_pool_size ? c->min_pool_size
								  : c->default_pool_size);
}

void pgw_pool_forget_creds(struct pgw_pool *p)
{
	if (p->creds == NULL)
		return;
	pgw_login_creds_clear(p->creds);
	free(p->creds);
	p->creds = NULL;
}

void pgw_pool_login_accepted(struct pgw_server *srv, const struct pgw_login_creds *c)
{
	struct pgw_login_creds *copy;

	if (pgw_pool_min_size() == 0 || srv->pool == NULL || srv->pool->creds != NULL ||
	    srv->login_creds != NULL || (copy = calloc(1, sizeof(*copy))) == NULL)
		return;
	if (pgw_login_creds_copy(copy, c) < 0) {
		free(copy); /* cleared by the failed copy */
		return;
	}
	srv->login_creds = copy;
}

void pgw_pool_adopt_login(struct pgw_server *srv)
{
	struct pgw_pool *p = srv->pool;
	const char *app = pgw_server_param(srv, "application_name");
	char *app_copy = NULL;

	if (srv->login_creds == NULL)
		return;
	/* the server reports the application_name it logged in with */
	if (p != NULL && p->creds == NULL &&
	    (app == NULL || app[0] == '\0' || (app_copy = strdup(app)) != NULL)) {
		p->creds = srv->login_creds;
		free(p->application_name);
		p->application_name = app_copy;
		srv->login_creds = NULL;
		return;
	}
	pgw_login_creds_clear(srv->login_creds);
	free(srv->login_creds);
	srv->login_creds = NULL;
}

/* The login failed: <sqlstate> (NULL: no connection) and why. */
static void warm_failed(struct pgw_server *srv, const char *sqlstate, const char *why)
{
	struct pgw_pool *p = srv->pool;
	char quoted[600], database[256], user[256];

	if (p == NULL) {
		pgw_pool_drop(srv);
		return;
	}
	pgw_warn(srv->id, "min_pool_login_failed", "database=%s user=%s sqlstate=%s msg=%s",
		 pgw_log_quote(p->database, database, sizeof(database)),
		 pgw_log_quote(p->user, user, sizeof(user)), sqlstate != NULL ? sqlstate : "-",
		 pgw_log_quote(why, quoted, sizeof(quoted)));
	/* unreachable, starting, shutting down or full: tried again after server_login_retry;
	 * anything else (a refused secret, a dropped database) until a client logs in again */
	if (sqlstate == NULL || strncmp(sqlstate, "57P0", 4) == 0 || strcmp(sqlstate, "53300") == 0)
		p->retry_after = pgw_now() + pgw.cfg.server_login_retry;
	else
		pgw_pool_forget_creds(p);
	pgw_pool_drop(srv);
}

static bool auth_ok(const uint8_t *body, size_t len)
{
	return len == 4 && body[0] == 0 && body[1] == 0 && body[2] == 0 && body[3] == 0;
}

/* The login is done (its ReadyForQuery): the server is an idle one of its pool. */
static void warm_done(struct pgw_server *srv)
{
	struct pgw_pool *p = srv->pool;

	DL_DELETE(p->warming, srv);
	pgw_server_auth_clear(srv->warm_login);
	free(srv->warm_login);
	srv->warm_login = NULL;
	srv->tx_status = 'I';
	pgw_rbuf_trim(&srv->conn.in);
	pgw_conn_set_cb(&srv->conn, pgw_pool_server_cb, srv);
	pgw_debug(srv->id, "min_pool_server_ready", "server_pid=%u", srv->pid);
	pgw_pool_make_idle(srv);
	/* the next one at once, if any; if this one was closed rather than kept (too old, its
	 * place given up), at the next tick, not in a loop of logins */
	if (srv->pool != NULL)
		pgw_pool_keep_min(p, pgw_now());
}

/* One message of the login before its ReadyForQuery; false when the server was closed. */
static bool warm_message(struct pgw_server *srv, char type, const uint8_t *body, size_t len)
{
	struct pgw_pool *p = srv->pool;
	struct pgw_server_auth_error err;
	struct pgw_error_fields f;

	if (type == 'E') {
		pgw_read_error_fields(body, len, &f);
		warm_failed(srv, f.code[0] != '\0' ? f.code : "08P01",
			    f.message != NULL ? f.message : "malformed ErrorResponse");
		return false;
	}
	if (type == 'N')
		return true;
	if (type == 'R' && !srv->logged_in) {
		if (auth_ok(body, len)) {
			if (!pgw_server_auth_ok_allowed(srv->warm_login)) {
				warm_failed(
					srv, "08P01",
					"the server accepted the login without completing SCRAM");
				return false;
			}
			srv->logged_in = true;
			return true;
		}
		switch (pgw_server_auth_answer(srv->warm_login, p->creds, p->user, &srv->conn,
					       srv->id, body, len, &err)) {
		case PGW_SAUTH_ANSWERED:
			if (pgw_conn_flush(&srv->conn) < 0) {
				warm_failed(srv, NULL, srv->conn.err);
				return false;
			}
			return true;
		case PGW_SAUTH_PROVEN:
			return true;
		case PGW_SAUTH_FAILED:
			warm_failed(srv, err.sqlstate, err.message);
			return false;
		}
	}
	if (srv->logged_in && type == 'S') {
		struct pgw_reader r;
		const char *name, *value;

		pgw_reader_init(&r, body, len);
		name = pgw_read_cstr(&r);
		value = pgw_read_cstr(&r);
		if (name != NULL && value != NULL && pgw_server_param_set(srv, name, value) < 0) {
			warm_failed(srv, "53200", "out of memory");
			return false;
		}
		return true;
	}
	if (srv->logged_in && type == 'K' && len == 8) {
		struct pgw_reader r;

		pgw_reader_init(&r, body, len);
		srv->pid = pgw_read_u32(&r);
		srv->secret = pgw_read_u32(&r);
		return true;
	}
	warm_failed(srv, "08P01", "unexpected message during the login");
	return false;
}

static void warm_read(struct pgw_server *srv)
{
	struct pgw_rbuf *in = &srv->conn.in;

	for (;;) {
		struct pgw_msg_hdr h;
		enum pgw_frame_status st = pgw_frame_whole(in, LOGIN_MSG_MAX, &h);
		const uint8_t *data = pgw_rbuf_data(in);
		size_t total;

		if (st == PGW_FRAME_NEED_MORE)
			return;
		if (st == PGW_FRAME_BAD_LENGTH) {
			warm_failed(srv, "08P01", "invalid message length during the login");
			return;
		}
		total = (size_t)h.len + 1;
		if (h.type == 'Z' && srv->logged_in && h.len == 5 && data[PGW_HDR_LEN] == 'I') {
			pgw_rbuf_drain(in, total);
			/* nothing was asked after the login: anything more makes the server unfit,
			 * as for an idle one (pool.c) */
			if (pgw_rbuf_len(in) > 0)
				warm_failed(srv, "08P01", "the server sent data after its login");
			else
				warm_done(srv);
			return;
		}
		if (!warm_message(srv, h.type, data + PGW_HDR_LEN, h.len - 4))
			return;
		pgw_rbuf_drain(in, total);
	}
}

static void warm_conn_cb(struct pgw_conn *c, enum pgw_conn_event ev, void *arg)
{
	struct pgw_server *srv = arg;

	switch (ev) {
	case PGW_CONN_READ:
		warm_read(srv);
		return;
	case PGW_CONN_EOF:
	case PGW_CONN_ERROR:
		srv->gone = true;
		warm_failed(srv, NULL,
			    ev == PGW_CONN_EOF ? "the server closed the connection" : c->err);
		return;
	case PGW_CONN_CONNECTED:
	case PGW_CONN_DRAINED:
	case PGW_CONN_HANDSHAKE_DONE:
		return;
	}
}

static void warm_link_done(void *arg, bool ok, const char *why)
{
	struct pgw_server *srv = arg;
	struct pgw_pool *p = srv->pool;

	if (p == NULL || p->creds == NULL) {
		pgw_pool_drop(srv); /* no longer wanted (a reload): not a failure of the server's */
		return;
	}
	if (!ok) {
		warm_failed(srv, NULL, why != NULL ? why : "failed");
		return;
	}
	pgw_conn_set_cb(&srv->conn, warm_conn_cb, srv);
	pgw_server_write_startup(srv->conn.out, p->user, p->database, p->application_name);
	pgw_conn_set_reading(&srv->conn, true);
	if (pgw_conn_flush(&srv->conn) < 0)
		warm_failed(srv, NULL, srv->conn.err);
}

void pgw_pool_keep_min(struct pgw_pool *p, double now)
{
	char database[256], user[256]; /* quoted: up to 4 bytes each */
	struct pgw_server *srv;

	if (p->creds == NULL)
		return;
	if (pgw_pool_min_size() == 0 || pgw.cfg.pool_mode == PGW_POOL_NONE) {
		pgw_pool_forget_creds(p);
		return;
	}
	/* one at a time: a server that cannot be reached is found out once, not min times; and
	 * never a place a client of another pool waits for (a shared limit) */
	if (p->warming != NULL || p->nservers >= pgw_pool_min_size() ||
	    pgw_pool_db_held(p->database) || pgw_pool_sibling_waits(p) ||
	    !pgw_pool_room_for_new(p, now))
		return;
	if ((srv = pgw_pool_open_new(p, 0)) == NULL)
		return;
	if ((srv->warm_login = calloc(1, sizeof(*srv->warm_login))) == NULL) {
		pgw_pool_drop(srv);
		return;
	}
	DL_APPEND(p->warming, srv);
	pgw_debug(srv->id, "min_pool_server_open", "database=%s user=%s servers=%u min=%u",
		  pgw_log_quote(p->database, database, sizeof(database)),
		  pgw_log_quote(p->user, user, sizeof(user)), p->nservers, pgw_pool_min_size());
	if (pgw_server_connect(srv, warm_link_done, srv) < 0)
		warm_failed(srv, NULL, srv->conn.err);
}

void pgw_pool_warming_tick(struct pgw_pool *p, double now)
{
	double limit = pgw.cfg.server_connect_timeout > 0 ? pgw.cfg.server_connect_timeout
							  : LOGIN_TIMEOUT_SECONDS;
	struct pgw_server *srv, *tmp;

	DL_FOREACH_SAFE (p->warming, srv, tmp) {
		if (now - srv->connected_at > limit)
			warm_failed(srv, NULL,
				    "the login did not finish within server_connect_timeout");
	}
}
