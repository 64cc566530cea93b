/*
 * A session's first steps: the client's SSLRequest/GSSENCRequest/CancelRequest/
 * StartupMessage, client TLS, the checks a StartupMessage must pass, and opening the
 * server link. Hands over to the relay once the StartupMessage has been sent on.
 */
#include "session-int.h"

#include "pgward/admin.h"

#include "pgward/codec.h"
#include "pgward/log.h"
#include "pgward/proxy.h"
#include "pgward/startup_view.h"
#include "pgward/tls.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <event2/buffer.h>

static void send_byte(struct pgw_session *s, char b)
{
	evbuffer_add(s->client.out, &b, 1);
	if (pgw_conn_flush(&s->client) < 0)
		pgw_sess_end(s, s->client.err);
}

static void on_ssl_request(struct pgw_session *s)
{
	SSL *ssl;

	if (s->client_tls) {
		pgw_sess_fail(s, "08P01", "pgward: SSLRequest after TLS was established");
		return;
	}
	if (pgw_rbuf_len(&s->client.in) > 0) {
		/* Plain bytes queued behind the request would be read as if they were encrypted
		 * (CVE-2021-23214): refuse instead. */
		pgw_sess_fail(s, "08P01", "pgward: unencrypted data after SSL request");
		return;
	}
	if (pgw.client_tls == NULL) {
		send_byte(s, 'N');
		return;
	}
	ssl = pgw_tls_client_ssl(pgw.client_tls);
	if (ssl == NULL) {
		pgw_sess_end(s, "cannot create TLS state");
		return;
	}
	send_byte(s, 'S');
	if (s->state >= PGW_SS_CLOSING) {
		SSL_free(ssl);
		return;
	}
	pgw_sess_set_state(s, PGW_SS_TLS);
	pgw_conn_start_tls(&s->client, ssl);
}

static void link_done(void *arg, bool ok, const char *why)
{
	struct pgw_session *s = arg;

	pgw_metrics_connect_done(&s->metrics, ok);
	if (!ok) {
		pgw_pool_unreachable(s->srv);
		pgw_sess_fail(s, "08006", "pgward: could not connect to the server %s:%d: %s",
			      pgw.cfg.server_host, pgw.cfg.server_port, why ? why : "failed");
		return;
	}
	pgw_debug(s->id, "server_connected", "tls=%s", s->srv->conn.ssl ? "yes" : "no");
	pgw_conn_set_cb(&s->srv->conn, pgw_sess_server_cb, s);
	if (s->pooled) {
		int app = pgw_startup_view_find(&s->view, "application_name");

		pgw_server_write_startup(s->srv->conn.out, s->view.user, s->view.database,
					 app < 0 ? NULL : s->view.settings[app].value);
	} else {
		pgw_startup_view_write(&s->view, s->srv->conn.out);
	}
	pgw_sess_set_state(s, PGW_SS_AUTH);
	pgw_sess_relay_start(s);
}

void pgw_sess_open_server(struct pgw_session *s)
{
	pgw_metrics_connect_start(&s->metrics);
	if (pgw_server_connect(s->srv, link_done, s) < 0)
		link_done(s, false, s->srv->conn.err);
}

/* A standard-conforming string literal at <out> (NULL: only counted): quotes doubled,
 * nothing else escaped. Its length. */
static size_t put_literal(char *out, const char *s)
{
	size_t n = 0;

	if (out != NULL)
		out[n] = '\'';
	n++;
	for (; *s != '\0'; s++) {
		if (out != NULL)
			out[n] = *s;
		n++;
		if (*s == '\'') {
			if (out != NULL)
				out[n] = '\'';
			n++;
		}
	}
	if (out != NULL)
		out[n] = '\'';
	return n + 1;
}

/* SELECT set_config('<name>', '<value>', false) at <out> (NULL: only counted), with the
 * NUL a Query carries; its length. */
static size_t put_set_config(char *out, const char *name, const char *value)
{
	static const char head[] = "SELECT set_config(", mid[] = ", ", tail[] = ", false)";
	size_t n = sizeof(head) - 1;

	if (out != NULL)
		memcpy(out, head, n);
	n += put_literal(out != NULL ? out + n : NULL, name);
	if (out != NULL)
		memcpy(out + n, mid, sizeof(mid) - 1);
	n += sizeof(mid) - 1;
	n += put_literal(out != NULL ? out + n : NULL, value);
	if (out != NULL)
		memcpy(out + n, tail, sizeof(tail));
	return n + sizeof(tail);
}

/*
 * Every setting the startup packet makes goes through the policies as the set_config() it
 * amounts to, so a startup setting is refused exactly when the same SET would be (role,
 * row_security, protected names...). client_encoding and standard_conforming_strings pass:
 * pgward follows them from the server's ParameterStatus (text_state.c).
 */
static bool check_settings(struct pgw_session *s)
{
	struct pgw_startup_view *v = &s->view;

	for (size_t i = 0; i < v->nsettings; i++) {
		struct pgw_policy_ctx ctx;
		struct pgw_msg_view m = {.type = 'Q'};
		const struct pgw_startup_setting *set = &v->settings[i];
		size_t len = put_set_config(NULL, set->name, set->value);
		char stack[256], *sql = len <= sizeof(stack) ? stack : malloc(len);
		enum pgw_verdict verdict;
		const char *msg;

		if (sql == NULL)
			goto oom;
		m.len = (uint32_t)put_set_config(sql, set->name, set->value);
		m.body = (const uint8_t *)sql;
		pgw_policy_ctx_init(&ctx, &pgw.cfg, s->user, s->id, NULL);
		verdict = pgw_pipeline_message(&ctx, &m);
		if (ctx.sets_lock_timeout)
			s->lt_client_owns = true;
		pgw_policy_ctx_release(&ctx);
		if (sql != stack)
			free(sql);
		if (verdict == PGW_PASS)
			continue;
		msg = ctx.refusal.message;
		if (strncmp(msg, "pgward: ", 8) == 0)
			msg += 8;
		pgw_sess_fail(s, ctx.refusal.sqlstate, "pgward: startup parameter \"%s\": %s",
			      v->settings[i].name, msg);
		return false;
	}
	return true;
oom:
	pgw_sess_fail(s, "53200", "pgward: out of memory");
	return false;
}

/*
 * The checks PostgreSQL would make, plus pgward's own, before any server is contacted.
 * Nothing is recorded about the client here (no tenant, metrics label or login line):
 * that waits for the server's AuthenticationOk (pgw_sess_authenticated), which with
 * pgward's own authentication comes after the client passed it (client_auth.c).
 */
static void on_startup(struct pgw_session *s)
{
	struct pgw_startup_error err;
	const char *user;
	char cn[256];

	if (pgw.cfg.client_tls_sslmode >= PGW_SSL_REQUIRE && !s->client_tls) {
		pgw_sess_fail(s, "28000", "pgward: TLS is required (client_tls_sslmode=%s)",
			      pgw_sslmode_name(pgw.cfg.client_tls_sslmode));
		return;
	}
	if (pgw_startup_view_build(&s->startup, &s->view, &err) < 0) {
		pgw_sess_fail(s, err.sqlstate, "%s", err.message);
		return;
	}
	user = s->user = s->view.user;
	if (pgw.cfg.client_tls_sslmode == PGW_SSL_VERIFY_FULL &&
	    (!pgw_tls_peer_cn(s->client.ssl, cn, sizeof(cn)) || strcmp(cn, user) != 0)) {
		pgw_sess_fail(s, "28000",
			      "pgward: certificate common name does not match user \"%s\"", user);
		return;
	}
	if (!pgw_sess_count_client(s)) {
		pgw_sess_fail(s, "53300",
			      "pgward: too many client connections (max_client_conn=%d)",
			      pgw.cfg.max_client_conn);
		return;
	}
	if (pgw_admin_is_console(&pgw.cfg, s->view.database)) {
		if (!pgw_sess_admin_startup(s))
			return;
	} else if (!pgw_sess_tenant_begin(s) || !check_settings(s)) {
		return;
	}
	if (pgw.cfg.auth_type != PGW_AUTH_TYPE_PASSTHROUGH)
		pgw_sess_auth_begin(s);
	else
		pgw_sess_connect_server(s);
}

void pgw_sess_authenticated(struct pgw_session *s)
{
	char quoted_user[96], quoted_db[96];

	if (s->authenticated)
		return;
	s->authenticated = true;
	pgw_sess_auth_count(s, PGW_LOGIN_OK);
	if (s->own_auth) {
		/* the server took pgward's word for the client: its credentials are no longer
		 * needed, and the client, held while pgward logged in, may speak (welcomed
		 * without a server, they are kept for the server's login: checkout.c) */
		if (!s->welcomed)
			pgw_sess_auth_login_done(s);
		pgw_conn_set_reading(&s->client, true);
		if (pgw_rbuf_len(&s->client.in) > 0)
			pgw_conn_kick_read(&s->client);
	}
	if (!s->admin) {
		pgw_sess_tenant_authenticated(s);
		/* The metrics tenant: the session's identity, or its login role without one. */
		pgw_metrics_login(&s->metrics,
				  s->tenant.identity[0] ? s->tenant.identity : s->user);
	}
	pgw_info(s->id, "login", "peer=%s user=%s database=%s tls=%s", s->peer,
		 pgw_log_quote(s->user, quoted_user, sizeof(quoted_user)),
		 pgw_log_quote(s->view.database, quoted_db, sizeof(quoted_db)),
		 s->client_tls ? "yes" : "no");
}

void pgw_sess_login_failed(struct pgw_session *s, const char *sqlstate)
{
	char quoted_user[96], quoted_db[96];

	static struct pgw_log_limit limit = PGW_LOG_LIMIT(PGW_LOG_INFO, "login_failed", 20, 10.0);

	pgw_log_limited(&limit, s->id, "peer=%s user=%s database=%s sqlstate=%s authenticated=%s",
			s->peer, pgw_log_quote(s->user, quoted_user, sizeof(quoted_user)),
			pgw_log_quote(s->view.database, quoted_db, sizeof(quoted_db)),
			sqlstate ? sqlstate : "?", s->authenticated ? "yes" : "no");
	/* the server is starting, shutting down or full: its pool waits server_login_retry */
	if (s->srv != NULL && sqlstate != NULL &&
	    (strncmp(sqlstate, "57P0", 4) == 0 || strcmp(sqlstate, "53300") == 0))
		pgw_pool_unreachable(s->srv);
	/* the server refused a secret auth_query gave (before its AuthenticationOk; a client
	 * welcomed without a server meets this at its first query): it may have changed since */
	if (s->srv != NULL && !s->srv->logged_in && s->auth != NULL && s->auth->secret_from_query)
		pgw_auth_query_forget(s->user, pgw_sess_auth_dbname(s));
	if (s->authenticated)
		return; /* the login itself succeeded (a missing database, too many connections) */
	pgw_sess_auth_count(s, PGW_LOGIN_FAILED);
}

/* Handles every complete initial packet waiting in the client's input. */
static void read_initial(struct pgw_session *s)
{
	while (s->state == PGW_SS_STARTUP) {
		struct pgw_startup st;
		enum pgw_initial_kind kind = pgw_startup_read(&s->client.in, &st);

		switch (kind) {
		case PGW_INIT_NEED_MORE:
			return;
		case PGW_INIT_BAD_LENGTH:
			pgw_sess_fail(s, "08P01", "pgward: invalid startup packet length");
			return;
		case PGW_INIT_MALFORMED:
			pgw_sess_fail(s, "08P01", "pgward: invalid startup packet layout");
			return;
		case PGW_INIT_BAD_VERSION:
			pgw_sess_fail(
				s, "0A000",
				"pgward: unsupported frontend protocol %u.%u: pgward supports "
				"protocol 3.x",
				st.version >> 16, st.version & 0xffff);
			return;
		case PGW_INIT_SSL:
			on_ssl_request(s);
			break;
		case PGW_INIT_GSSENC:
			/* pgward has no GSSAPI: 'N' lets the client go on with SSL or plain. */
			if (s->client_tls) {
				pgw_sess_fail(s, "08P01", "pgward: GSSENCRequest after TLS");
				return;
			}
			send_byte(s, 'N');
			break;
		case PGW_INIT_CANCEL:
			pgw_cancel_request(s->id, st.cancel_pid, st.cancel_key);
			pgw_sess_end(s, "cancel request handled");
			return;
		case PGW_INIT_STARTUP:
			s->startup = st;
			on_startup(s);
			return;
		}
	}
}

void pgw_sess_startup_cb(struct pgw_conn *c, enum pgw_conn_event ev, void *arg)
{
	struct pgw_session *s = arg;

	switch (ev) {
	case PGW_CONN_READ:
		read_initial(s);
		return;
	case PGW_CONN_HANDSHAKE_DONE:
		s->client_tls = true;
		pgw_sess_set_state(s, PGW_SS_STARTUP);
		pgw_conn_set_reading(c, true);
		read_initial(s);
		return;
	case PGW_CONN_EOF:
		pgw_sess_end(s, "client closed the connection during startup");
		return;
	case PGW_CONN_ERROR:
		pgw_sess_end(s, c->err);
		return;
	case PGW_CONN_CONNECTED:
	case PGW_CONN_DRAINED:
		return;
	}
}
