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
#include "pgward/sql.h"
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
		pgw_sess_fail(s, "08006", "pgward: could not connect to the server %s:%d: %s",
			      pgw.cfg.server_host, pgw.cfg.server_port, why ? why : "failed");
		return;
	}
	pgw_debug(s->id, "server_connected", "tls=%s", s->server.ssl ? "yes" : "no");
	pgw_conn_set_cb(&s->server, pgw_sess_server_cb, s);
	pgw_startup_write(&s->startup, s->server.out);
	pgw_sess_set_state(s, PGW_SS_AUTH);
	pgw_sess_relay_start(s);
}

static void connect_server(struct pgw_session *s)
{
	struct pgw_link_target t = {
		.addr = (const struct sockaddr *)&pgw.server_addr,
		.addrlen = pgw.server_addrlen,
		.host = pgw.cfg.server_host,
		.tls = pgw.server_tls,
		.mode = pgw.cfg.server_tls_sslmode,
		.timeout = pgw.cfg.server_connect_timeout,
	};

	pgw_sess_set_state(s, PGW_SS_CONNECTING);
	pgw_conn_set_reading(&s->client, false);
	s->server_open = true;
	pgw_metrics_connect_start(&s->metrics);
	if (pgw_server_link_start(&s->link, &s->server, pgw.base, &t, link_done, s) < 0)
		link_done(s, false, s->server.err);
}

/*
 * The settings that would make the server lex differently from pgward's parser, set in the
 * startup packet directly or through -c / --name= in options. Returns the offending
 * setting's name, or NULL.
 */
static const char *lexing_setting(const char *name, const char *value)
{
	if (strcasecmp(name, "client_encoding") == 0 && !pgw_sql_encoding_is_utf8(value))
		return "client_encoding";
	if (strcasecmp(name, "standard_conforming_strings") == 0 && pgw_sql_parse_bool(value) != 1)
		return "standard_conforming_strings";
	return NULL;
}

static const char *startup_lexing_violation(const struct pgw_startup *st)
{
	const char *options = pgw_startup_get(st, "options"), *bad;
	char buf[1024], *save = NULL;

	for (size_t i = 0; i < st->nparams; i++)
		if ((bad = lexing_setting(st->params[i].name, st->params[i].value)) != NULL)
			return bad;
	if (options == NULL)
		return NULL;
	snprintf(buf, sizeof(buf), "%s", options);
	for (char *tok = strtok_r(buf, " \t", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t", &save)) {
		char *eq;

		if (strcmp(tok, "-c") == 0)
			continue;
		tok += strncmp(tok, "--", 2) == 0 ? 2 : strncmp(tok, "-c", 2) == 0 ? 2 : 0;
		eq = strchr(tok, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		for (char *c = tok; *c; c++)
			if (*c == '-')
				*c = '_';
		if ((bad = lexing_setting(tok, eq + 1)) != NULL)
			return bad;
	}
	return NULL;
}

/* The checks PostgreSQL would make, plus pgward's own, before any server is contacted. */
static void on_startup(struct pgw_session *s)
{
	const char *user = pgw_startup_get(&s->startup, "user");
	char quoted_user[96], quoted_db[96];
	char cn[256];
	const char *bad;

	if (pgw.cfg.client_tls_sslmode >= PGW_SSL_REQUIRE && !s->client_tls) {
		pgw_sess_fail(s, "28000", "pgward: TLS is required (client_tls_sslmode=%s)",
			      pgw_sslmode_name(pgw.cfg.client_tls_sslmode));
		return;
	}
	if (user == NULL || user[0] == '\0') {
		pgw_sess_fail(s, "28000", "no PostgreSQL user name specified in startup packet");
		return;
	}
	bad = startup_lexing_violation(&s->startup);
	if (bad != NULL) {
		pgw_sess_fail(
			s, "42501",
			"pgward: %s must be %s for sessions through pgward (rule %s): it changes "
			"how the server reads SQL text",
			bad, strcmp(bad, "client_encoding") == 0 ? "UTF8" : "on", bad);
		return;
	}
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
	s->user = user;
	if (pgw_admin_is_console(&pgw.cfg, pgw_startup_get(&s->startup, "database"))) {
		if (!pgw_sess_admin_startup(s))
			return;
	} else {
		if (!pgw_sess_tenant_begin(s))
			return;
		/* The metrics tenant: the session's identity, or its login role without one. */
		pgw_metrics_login(&s->metrics, s->tenant.identity[0] ? s->tenant.identity : user);
	}
	pgw_info(s->id, "login", "peer=%s user=%s database=%s tls=%s", s->peer,
		 pgw_log_quote(user, quoted_user, sizeof(quoted_user)),
		 pgw_log_quote(pgw_startup_get(&s->startup, "database") ?: user, quoted_db,
			       sizeof(quoted_db)),
		 s->client_tls ? "yes" : "no");
	connect_server(s);
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
