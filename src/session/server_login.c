/*
 * pgward logging in to the server as the client it has authenticated: each Authentication
 * request of the server answered with what the client's exchange left, never with anything
 * the client could choose. SCRAM uses the ClientKey recovered from the client's proof (or a
 * cleartext password), bound to pgward's TLS session with the server when the server offers
 * SCRAM-SHA-256-PLUS; md5 uses the stored md5 secret. The server's AuthenticationOk goes on
 * to the client (relay_server.c), and the credentials are zeroed there and then.
 */
#include "session-int.h"

#include "pgward/codec.h"
#include "pgward/log.h"
#include "pgward/md5_auth.h"
#include "pgward/proxy.h"

#include <string.h>
#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

static bool send_password_message(struct pgw_session *s, const void *data, size_t len)
{
	pgw_msg_header(s->srv->conn.out, 'p', (uint32_t)len);
	evbuffer_add(s->srv->conn.out, data, len);
	if (pgw_conn_flush(&s->srv->conn) < 0) {
		pgw_sess_fail(s, "08006", "pgward: lost the server connection: %s",
			      s->srv->conn.err);
		return false;
	}
	return true;
}

/* pgward cannot answer: a configuration matter, so the message says what to change. */
static bool cannot_answer(struct pgw_session *s, const char *what)
{
	pgw_sess_auth_count(s, PGW_LOGIN_ERROR);
	pgw_sess_fail(s, "08006",
		      "pgward: cannot log in to the server as \"%s\": the server asks for %s, and "
		      "pgward has no suitable secret for this role (a cleartext password in "
		      "auth_file, or the role's SCRAM secret with a SCRAM login of the client)",
		      s->user, what);
	return false;
}

static bool answer_cleartext(struct pgw_session *s)
{
	const char *pw = s->auth->password;

	if (pw == NULL)
		return cannot_answer(s, "a cleartext password");
	return send_password_message(s, pw, strlen(pw) + 1);
}

static bool answer_md5(struct pgw_session *s, struct pgw_reader *r)
{
	struct pgw_sess_auth *a = s->auth;
	const uint8_t *salt = pgw_read_bytes(r, 4);
	char secret[36], response[36];
	bool ok;

	if (salt == NULL || r->left != 0) {
		pgw_sess_fail(s, "08P01", "pgward: malformed AuthenticationMD5Password");
		return false;
	}
	if (a->password != NULL)
		pgw_md5_secret(a->password, s->user, secret);
	else if (a->secret.kind == PGW_SECRET_MD5)
		memcpy(secret, a->secret.text, sizeof(secret));
	else
		return cannot_answer(s, "an md5 password");
	pgw_md5_response(secret, salt, response);
	ok = send_password_message(s, response, strlen(response) + 1);
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(response, sizeof(response));
	return ok;
}

static bool scram_error(struct pgw_session *s, const struct pgw_auth_error *err)
{
	pgw_sess_auth_count(s, PGW_LOGIN_ERROR);
	pgw_sess_fail(s, err->sqlstate[0] ? err->sqlstate : "08006",
		      "pgward: SCRAM login to the server as \"%s\" failed: %s%s%s", s->user,
		      err->message, err->detail[0] ? ": " : "", err->detail);
	return false;
}

static bool answer_sasl(struct pgw_session *s, struct pgw_reader *r)
{
	struct pgw_sess_auth *a = s->auth;
	struct pgw_auth_error err = {.sqlstate = ""};
	uint8_t cb[PGW_SCRAM_CB_MAX], out[PGW_SCRAM_OUT_MAX];
	/* bound to the server's certificate when pgward's link to it is TLS */
	X509 *cert = s->srv->conn.ssl != NULL ? SSL_get0_peer_certificate(s->srv->conn.ssl) : NULL;
	size_t cb_len = pgw_scram_cb_data(cert, cb), outlen = 0;
	bool key = a->has_client_key && a->secret.kind == PGW_SECRET_SCRAM;

	if (a->password == NULL && !key)
		return cannot_answer(s, "a SCRAM login");
	if (a->server_scram == NULL &&
	    (a->server_scram = calloc(1, sizeof(*a->server_scram))) == NULL)
		return cannot_answer(s, "a SCRAM login");
	if (pgw_scram_client_init(a->server_scram, key ? NULL : a->password,
				  key ? a->client_key : NULL, key ? &a->secret.scram : NULL, cb,
				  cb_len) < 0)
		return cannot_answer(s, "a SCRAM login");
	if (pgw_scram_client_start(a->server_scram, r->p, r->left, out, sizeof(out), &outlen,
				   &err) != PGW_SCRAM_CONTINUE)
		return scram_error(s, &err);
	a->server_sasl = true;
	return send_password_message(s, out, outlen);
}

static bool answer_sasl_continue(struct pgw_session *s, struct pgw_reader *r)
{
	struct pgw_sess_auth *a = s->auth;
	struct pgw_auth_error err = {.sqlstate = ""};
	char out[PGW_SCRAM_OUT_MAX];
	size_t outlen = 0;

	if (!a->server_sasl) {
		pgw_sess_fail(s, "08P01",
			      "pgward: the server continued a SASL exchange never begun");
		return false;
	}
	if (pgw_scram_client_continue(a->server_scram, r->p, r->left, out, sizeof(out), &outlen,
				      &err) != PGW_SCRAM_CONTINUE)
		return scram_error(s, &err);
	if (a->server_scram->key_stale)
		pgw_warn(s->id, "server_secret_mismatch",
			 "user=%s msg=\"the server's SCRAM salt is not that of the secret pgward "
			 "has for this role: its password changed on the server (auth_query's "
			 "answer is forgotten), an auth_file secret that is not the server's, or a "
			 "role past VALID UNTIL; the server will refuse the login\"",
			 s->user);
	return send_password_message(s, out, outlen);
}

static bool check_sasl_final(struct pgw_session *s, struct pgw_reader *r)
{
	struct pgw_sess_auth *a = s->auth;
	struct pgw_auth_error err = {.sqlstate = ""};

	if (!a->server_sasl) {
		pgw_sess_fail(s, "08P01", "pgward: the server ended a SASL exchange never begun");
		return false;
	}
	a->server_sasl = false;
	if (pgw_scram_client_finish(a->server_scram, r->p, r->left, &err) != PGW_SCRAM_DONE)
		return scram_error(s, &err);
	return true;
}

bool pgw_sess_server_auth(struct pgw_session *s, const uint8_t *body, size_t len)
{
	struct pgw_reader r;
	uint32_t code;

	if (s->auth == NULL) {
		pgw_sess_fail(s, "08P01", "pgward: the server asked for authentication twice");
		return false;
	}
	pgw_reader_init(&r, body, len);
	code = pgw_read_u32(&r);
	if (r.bad) {
		pgw_sess_fail(s, "08P01",
			      "pgward: malformed Authentication message from the server");
		return false;
	}
	switch (code) {
	case PGW_AUTHREQ_CLEARTEXT:
		return answer_cleartext(s);
	case PGW_AUTHREQ_MD5:
		return answer_md5(s, &r);
	case PGW_AUTHREQ_SASL:
		return answer_sasl(s, &r);
	case PGW_AUTHREQ_SASL_CONTINUE:
		return answer_sasl_continue(s, &r);
	case PGW_AUTHREQ_SASL_FINAL:
		return check_sasl_final(s, &r);
	default:
		pgw_sess_auth_count(s, PGW_LOGIN_ERROR);
		pgw_sess_fail(s, "08006",
			      "pgward: cannot log in to the server as \"%s\": it asks for "
			      "authentication method %u, which pgward does not speak",
			      s->user, code);
		return false;
	}
}
