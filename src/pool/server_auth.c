/*
 * Answering a server's authentication requests as the role pgward authenticated
 * (server_auth.h). Writes the answers; the caller flushes, reads and decides.
 */
#include "pgward/server_auth.h"

#include "pgward/codec.h"
#include "pgward/log.h"
#include "pgward/md5_auth.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

int pgw_login_creds_copy(struct pgw_login_creds *to, const struct pgw_login_creds *from)
{
	memset(to, 0, sizeof(*to));
	to->has_client_key = from->has_client_key;
	memcpy(to->client_key, from->client_key, sizeof(to->client_key));
	if ((from->password != NULL && (to->password = strdup(from->password)) == NULL) ||
	    pgw_auth_secret_set(&to->secret, from->secret.text) < 0) {
		pgw_login_creds_clear(to);
		return -1;
	}
	return 0;
}

void pgw_login_creds_clear(struct pgw_login_creds *c)
{
	pgw_auth_secret_clear(&c->secret);
	if (c->password != NULL) {
		OPENSSL_cleanse(c->password, strlen(c->password));
		free(c->password);
	}
	OPENSSL_cleanse(c, sizeof(*c));
	c->password = NULL;
}

void pgw_server_auth_clear(struct pgw_server_auth *a)
{
	if (a->scram != NULL) {
		pgw_scram_client_clear(a->scram);
		free(a->scram);
	}
	a->scram = NULL;
	a->sasl = false;
}

bool pgw_server_auth_ok_allowed(const struct pgw_server_auth *a)
{
	return !a->sasl;
}

PGW_PRINTF(3, 4)
static enum pgw_server_auth_result fail(struct pgw_server_auth_error *err, const char *sqlstate,
					const char *fmt, ...)
{
	va_list ap;

	memcpy(err->sqlstate, sqlstate, sizeof(err->sqlstate));
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return PGW_SAUTH_FAILED;
}

/* pgward cannot answer: a configuration matter, so the message says what to change. */
static enum pgw_server_auth_result cannot_answer(struct pgw_server_auth_error *err,
						 const char *user, const char *what)
{
	return fail(err, "08006",
		    "cannot log in to the server as \"%s\": the server asks for %s, and pgward has "
		    "no suitable secret for this role (a cleartext password in auth_file, or the "
		    "role's SCRAM secret with a SCRAM login of the client)",
		    user, what);
}

static enum pgw_server_auth_result scram_failed(struct pgw_server_auth_error *err, const char *user,
						const struct pgw_auth_error *e)
{
	return fail(err, e->sqlstate[0] ? e->sqlstate : "08006",
		    "SCRAM login to the server as \"%s\" failed: %s%s%s", user, e->message,
		    e->detail[0] ? ": " : "", e->detail);
}

static enum pgw_server_auth_result answer(struct pgw_conn *conn, const void *data, size_t len)
{
	pgw_msg_header(conn->out, 'p', (uint32_t)len);
	evbuffer_add(conn->out, data, len);
	return PGW_SAUTH_ANSWERED;
}

static enum pgw_server_auth_result answer_md5(const struct pgw_login_creds *c, const char *user,
					      struct pgw_conn *conn, struct pgw_reader *r,
					      struct pgw_server_auth_error *err)
{
	const uint8_t *salt = pgw_read_bytes(r, 4);
	char secret[36], response[36];

	if (salt == NULL || r->left != 0)
		return fail(err, "08P01", "malformed AuthenticationMD5Password");
	if (c->password != NULL)
		pgw_md5_secret(c->password, user, secret);
	else if (c->secret.kind == PGW_SECRET_MD5)
		memcpy(secret, c->secret.text, sizeof(secret));
	else
		return cannot_answer(err, user, "an md5 password");
	pgw_md5_response(secret, salt, response);
	answer(conn, response, strlen(response) + 1);
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(response, sizeof(response));
	return PGW_SAUTH_ANSWERED;
}

static enum pgw_server_auth_result answer_sasl(struct pgw_server_auth *a,
					       const struct pgw_login_creds *c, const char *user,
					       struct pgw_conn *conn, struct pgw_reader *r,
					       struct pgw_server_auth_error *err)
{
	struct pgw_auth_error e = {.sqlstate = ""};
	uint8_t cb[PGW_SCRAM_CB_MAX], out[PGW_SCRAM_OUT_MAX];
	/* bound to the server's certificate when pgward's link to it is TLS */
	X509 *cert = conn->ssl != NULL ? SSL_get0_peer_certificate(conn->ssl) : NULL;
	size_t cb_len = pgw_scram_cb_data(cert, cb), outlen = 0;
	bool key = c->has_client_key && c->secret.kind == PGW_SECRET_SCRAM;

	if (c->password == NULL && !key)
		return cannot_answer(err, user, "a SCRAM login");
	if (a->scram == NULL && (a->scram = calloc(1, sizeof(*a->scram))) == NULL)
		return cannot_answer(err, user, "a SCRAM login");
	if (pgw_scram_client_init(a->scram, key ? NULL : c->password, key ? c->client_key : NULL,
				  key ? &c->secret.scram : NULL, cb, cb_len) < 0)
		return cannot_answer(err, user, "a SCRAM login");
	if (pgw_scram_client_start(a->scram, r->p, r->left, out, sizeof(out), &outlen, &e) !=
	    PGW_SCRAM_CONTINUE)
		return scram_failed(err, user, &e);
	a->sasl = true;
	return answer(conn, out, outlen);
}

static enum pgw_server_auth_result answer_sasl_continue(struct pgw_server_auth *a, const char *user,
							struct pgw_conn *conn, uint64_t id,
							struct pgw_reader *r,
							struct pgw_server_auth_error *err)
{
	struct pgw_auth_error e = {.sqlstate = ""};
	char out[PGW_SCRAM_OUT_MAX];
	size_t outlen = 0;

	if (!a->sasl)
		return fail(err, "08P01", "the server continued a SASL exchange never begun");
	if (pgw_scram_client_continue(a->scram, r->p, r->left, out, sizeof(out), &outlen, &e) !=
	    PGW_SCRAM_CONTINUE)
		return scram_failed(err, user, &e);
	if (a->scram->key_stale)
		pgw_warn(id, "server_secret_mismatch",
			 "user=%s msg=\"the server's SCRAM salt is not that of the secret pgward "
			 "has for this role: its password changed on the server (auth_query's "
			 "answer is forgotten), an auth_file secret that is not the server's, or a "
			 "role past VALID UNTIL; the server will refuse the login\"",
			 user);
	return answer(conn, out, outlen);
}

static enum pgw_server_auth_result check_sasl_final(struct pgw_server_auth *a, const char *user,
						    struct pgw_reader *r,
						    struct pgw_server_auth_error *err)
{
	struct pgw_auth_error e = {.sqlstate = ""};

	if (!a->sasl)
		return fail(err, "08P01", "the server ended a SASL exchange never begun");
	a->sasl = false;
	if (pgw_scram_client_finish(a->scram, r->p, r->left, &e) != PGW_SCRAM_DONE)
		return scram_failed(err, user, &e);
	return PGW_SAUTH_PROVEN;
}

enum pgw_server_auth_result pgw_server_auth_answer(struct pgw_server_auth *a,
						   const struct pgw_login_creds *c,
						   const char *user, struct pgw_conn *conn,
						   uint64_t id, const uint8_t *body, size_t len,
						   struct pgw_server_auth_error *err)
{
	struct pgw_reader r;
	uint32_t code;

	pgw_reader_init(&r, body, len);
	code = pgw_read_u32(&r);
	if (r.bad)
		return fail(err, "08P01", "malformed Authentication message from the server");
	switch (code) {
	case PGW_AUTHREQ_CLEARTEXT:
		if (c->password == NULL)
			return cannot_answer(err, user, "a cleartext password");
		return answer(conn, c->password, strlen(c->password) + 1);
	case PGW_AUTHREQ_MD5:
		return answer_md5(c, user, conn, &r, err);
	case PGW_AUTHREQ_SASL:
		return answer_sasl(a, c, user, conn, &r, err);
	case PGW_AUTHREQ_SASL_CONTINUE:
		return answer_sasl_continue(a, user, conn, id, &r, err);
	case PGW_AUTHREQ_SASL_FINAL:
		return check_sasl_final(a, user, &r, err);
	default:
		return fail(err, "08006",
			    "cannot log in to the server as \"%s\": it asks for authentication "
			    "method %u, which pgward does not speak",
			    user, code);
	}
}
