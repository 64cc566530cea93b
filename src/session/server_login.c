/*
 * pgward logging in to the server as the client it has authenticated (server_auth.h): the
 * session's part is to flush the answers and to end the client on a failure. The server's
 * AuthenticationOk goes on to the client (relay_server.c), and the credentials are zeroed
 * there and then.
 */
#include "session-int.h"

#include "pgward/proxy.h"

bool pgw_sess_server_auth(struct pgw_session *s, const uint8_t *body, size_t len)
{
	struct pgw_server_auth_error err;

	if (s->auth == NULL) {
		pgw_sess_fail(s, "08P01", "pgward: the server asked for authentication twice");
		return false;
	}
	switch (pgw_server_auth_answer(&s->auth->server, &s->auth->creds, s->user, &s->srv->conn,
				       s->id, body, len, &err)) {
	case PGW_SAUTH_ANSWERED:
		if (pgw_conn_flush(&s->srv->conn) < 0) {
			pgw_sess_fail(s, "08006", "pgward: lost the server connection: %s",
				      s->srv->conn.err);
			return false;
		}
		return true;
	case PGW_SAUTH_PROVEN:
		return true;
	case PGW_SAUTH_FAILED:
		break;
	}
	pgw_sess_auth_count(s, PGW_LOGIN_ERROR);
	pgw_sess_fail(s, err.sqlstate, "pgward: %s", err.message);
	return false;
}
