/*
 * pgward authenticating a client itself (auth_type other than passthrough): the method from
 * auth_type or the matching hba rule, the secret from auth_file or auth_query, and the
 * exchange of Authentication messages PostgreSQL would have had with the client. Only a
 * client that has proved who it is gets a server connection; pgward logs in there with what
 * the exchange left it (server_login.c). Failures read as PostgreSQL's and never tell whether
 * the role exists; no secret is ever logged.
 */
#include "session-int.h"

#include "pgward/auth_file.h"
#include "pgward/codec.h"
#include "pgward/log.h"
#include "pgward/md5_auth.h"
#include "pgward/proxy.h"
#include "pgward/random.h"
#include "pgward/tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#define AUTH_MSG_MAX 65535 /* PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH */

static int login_method(const struct pgw_session *s)
{
	return s->own_auth && s->auth != NULL ? (int)s->auth->plan.method : PGW_LOGIN_PASSTHROUGH;
}

void pgw_sess_auth_count(struct pgw_session *s, enum pgw_login_outcome outcome)
{
	pgw_login_counts[login_method(s)][outcome]++;
	if (outcome == PGW_LOGIN_FAILED && s->own_auth) /* with passthrough, the server counts */
		pgw_auth_failure((const struct sockaddr *)&s->peer_addr, pgw_now(),
				 pgw.cfg.auth_failure_limit, pgw.cfg.auth_failure_period);
}

void pgw_sess_auth_scram_done(struct pgw_sess_auth *a)
{
	if (a->scram == NULL)
		return;
	pgw_scram_server_clear(a->scram);
	free(a->scram);
	a->scram = NULL;
}

void pgw_sess_auth_free(struct pgw_session *s)
{
	struct pgw_sess_auth *a = s->auth;

	if (a == NULL)
		return;
	pgw_auth_query_cancel(&a->wait);
	pgw_login_creds_clear(&a->creds);
	pgw_sess_auth_scram_done(a);
	pgw_server_auth_clear(&a->server);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
	s->auth = NULL;
}

void pgw_sess_auth_login_done(struct pgw_session *s)
{
	if (!s->txn_pooled || s->auth == NULL) {
		pgw_sess_auth_free(s);
		return;
	}
	pgw_sess_auth_scram_done(s->auth);
	pgw_server_auth_clear(&s->auth->server);
}

const char *pgw_sess_auth_dbname(const struct pgw_session *s)
{
	return pgw_auth_query_database(pgw.cfg.auth_dbname, s->view.database);
}

/* The client's address as PostgreSQL's messages name it: without the port. */
static const char *host_of(const struct pgw_session *s, char *out, size_t outlen)
{
	const struct sockaddr *sa = (const struct sockaddr *)&s->peer_addr;
	const void *addr = sa->sa_family == AF_INET6
				   ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
				   : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;

	if (inet_ntop(sa->sa_family, addr, out, (socklen_t)outlen) == NULL)
		snprintf(out, outlen, "?");
	return out;
}

/* The database the client asked for (the console's name, not the one it logs in to). */
static const char *asked_database(const struct pgw_session *s)
{
	return s->admin ? pgw.cfg.admin_database : s->view.database;
}

/*
 * The one way a login fails here: PostgreSQL's FATAL to the client, event=auth_failed in the
 * log (rate-limited: anyone can fail logins in a loop), a failure against the address.
 */
static void auth_failed(struct pgw_session *s, const char *sqlstate, const char *detail,
			const char *fmt, ...) PGW_PRINTF(4, 5);
static void auth_failed(struct pgw_session *s, const char *sqlstate, const char *detail,
			const char *fmt, ...)
{
	static struct pgw_log_limit limit = PGW_LOG_LIMIT(PGW_LOG_INFO, "auth_failed", 20, 10.0);
	char msg[300], quoted_user[96], quoted_db[96], quoted_msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pgw_sess_auth_count(s, PGW_LOGIN_FAILED);
	pgw_log_limited(&limit, s->id, "peer=%s user=%s database=%s method=%s sqlstate=%s msg=%s",
			s->peer, pgw_log_quote(s->user, quoted_user, sizeof(quoted_user)),
			pgw_log_quote(asked_database(s), quoted_db, sizeof(quoted_db)),
			pgw_login_method_name(login_method(s)), sqlstate,
			pgw_log_quote(msg, quoted_msg, sizeof(quoted_msg)));
	if (!s->client.closed)
		pgw_msg_error_detail(s->client.out, "FATAL", sqlstate, msg,
				     detail != NULL && detail[0] != '\0' ? detail : NULL, NULL);
	pgw_sess_end(s, "authentication failed");
}

/* An address past auth_failure_limit: refused before any secret is looked at. */
static void refuse_throttled(struct pgw_session *s, double retry_in)
{
	char host[INET6_ADDRSTRLEN];

	pgw_sess_auth_count(s, PGW_LOGIN_THROTTLED);
	pgw_sess_fail(s, "28000",
		      "pgward: too many failed logins from %s; retry in %.0f s "
		      "(auth_failure_limit=%d per auth_failure_period=%gs)",
		      host_of(s, host, sizeof(host)), retry_in + 0.5, pgw.cfg.auth_failure_limit,
		      pgw.cfg.auth_failure_period);
}

/*
 * Checked at the start of the login and again just before a password or proof is checked:
 * guesses opened in parallel before the first of them failed are cut off there, without
 * telling whether they were right.
 */
static bool throttled(struct pgw_session *s)
{
	double retry_in = 0;

	if (!pgw_auth_throttled((const struct sockaddr *)&s->peer_addr, pgw_now(),
				pgw.cfg.auth_failure_limit, pgw.cfg.auth_failure_period, &retry_in))
		return false;
	refuse_throttled(s, retry_in);
	return true;
}

static void password_failed(struct pgw_session *s)
{
	auth_failed(s, "28P01", NULL, "password authentication failed for user \"%s\"", s->user);
}

static void send_request(struct pgw_session *s, uint32_t code, const void *data, size_t len)
{
	pgw_msg_auth(s->client.out, code, data, len);
	if (pgw_conn_flush(&s->client) < 0)
		pgw_sess_end(s, s->client.err);
}

static void start_scram(struct pgw_session *s)
{
	struct pgw_sess_auth *a = s->auth;
	struct pgw_scram_secret derived, *secret = NULL;
	uint8_t cb[PGW_SCRAM_CB_MAX], mechs[64];
	/* -PLUS binds to pgward's own certificate, when the client is on TLS */
	X509 *own = s->client.ssl != NULL ? SSL_get_certificate(s->client.ssl) : NULL;
	size_t cb_len = pgw_scram_cb_data(own, cb), n;

	if (a->creds.secret.kind == PGW_SECRET_SCRAM) {
		secret = &a->creds.secret.scram;
	} else if (a->creds.secret.kind == PGW_SECRET_PLAIN) {
		/* a plain password: a secret of pgward's own, with a salt of its own */
		if (pgw_auth_plain_scram(&pgw.auth, s->user, a->creds.secret.text, &derived) < 0) {
			pgw_sess_fail(s, "58000", "pgward: cannot derive a SCRAM secret");
			return;
		}
		secret = &derived;
	}
	/* no SCRAM secret (none, or md5): the exchange runs on a mock one and fails at the
	 * proof, as PostgreSQL's does */
	if (a->scram == NULL && (a->scram = calloc(1, sizeof(*a->scram))) == NULL) {
		OPENSSL_cleanse(&derived, sizeof(derived));
		pgw_sess_fail(s, "53200", "pgward: out of memory");
		return;
	}
	pgw_scram_server_init(a->scram, s->user, secret, cb, cb_len);
	OPENSSL_cleanse(&derived, sizeof(derived));
	n = pgw_scram_server_mechanisms(a->scram, mechs, sizeof(mechs));
	a->step = PGW_CA_SASL_START;
	send_request(s, PGW_AUTHREQ_SASL, mechs, n);
}

/* The first request of the method, once the secret is known. */
static void challenge(struct pgw_session *s)
{
	struct pgw_sess_auth *a = s->auth;

	switch (a->plan.method) {
	case PGW_AUTH_PASSWORD:
		a->step = PGW_CA_PASSWORD;
		send_request(s, PGW_AUTHREQ_CLEARTEXT, NULL, 0);
		return;
	case PGW_AUTH_MD5:
		/* PostgreSQL: md5 only for an md5 secret; any other, and an unknown role (which
		 * gets password_encryption's kind, scram-sha-256 by default), run SCRAM. So the
		 * challenge tells nothing about which roles exist. */
		if (a->creds.secret.kind != PGW_SECRET_MD5) {
			start_scram(s);
			return;
		}
		if (pgw_random_bytes(a->md5_salt, sizeof(a->md5_salt)) < 0) {
			pgw_sess_fail(s, "58000", "pgward: no random bytes for the md5 salt");
			return;
		}
		a->step = PGW_CA_MD5;
		send_request(s, PGW_AUTHREQ_MD5, a->md5_salt, sizeof(a->md5_salt));
		return;
	case PGW_AUTH_SCRAM:
		start_scram(s);
		return;
	default:
		pgw_sess_fail(s, "XX000", "pgward: no exchange for method %s",
			      pgw_auth_method_name(a->plan.method));
		return;
	}
}

/* The client passed: what pgward will log in to the server with, then the server link. */
static void passed(struct pgw_session *s)
{
	struct pgw_sess_auth *a = s->auth;

	a->step = PGW_CA_DONE;
	if (a->creds.password == NULL && a->creds.secret.kind == PGW_SECRET_PLAIN &&
	    (a->creds.password = strdup(a->creds.secret.text)) == NULL) {
		pgw_sess_fail(s, "53200", "pgward: out of memory");
		return;
	}
	pgw_debug(s->id, "client_authenticated", "method=%s", pgw_auth_method_name(a->plan.method));
	pgw_sess_connect_server(s);
}

/* A cleartext password checked against any form of the secret, in constant time. */
static bool password_matches(struct pgw_session *s, const char *password)
{
	const struct pgw_auth_secret *sec = &s->auth->creds.secret;
	struct pgw_scram_secret derived;
	char md5[36];
	bool ok = false;

	switch (sec->kind) {
	case PGW_SECRET_PLAIN:
		ok = strlen(sec->text) == strlen(password) &&
		     CRYPTO_memcmp(sec->text, password, strlen(password)) == 0;
		break;
	case PGW_SECRET_MD5:
		pgw_md5_secret(password, s->user, md5);
		ok = CRYPTO_memcmp(md5, sec->text, 36) == 0;
		OPENSSL_cleanse(md5, sizeof(md5));
		break;
	case PGW_SECRET_SCRAM:
		if (pgw_scram_secret_from_password(password, sec->scram.salt, sec->scram.salt_len,
						   sec->scram.iterations, &derived) == 0)
			ok = CRYPTO_memcmp(derived.stored_key, sec->scram.stored_key,
					   PGW_SCRAM_KEY_LEN) == 0 &&
			     CRYPTO_memcmp(derived.server_key, sec->scram.server_key,
					   PGW_SCRAM_KEY_LEN) == 0;
		OPENSSL_cleanse(&derived, sizeof(derived));
		break;
	case PGW_SECRET_NONE:
		break;
	}
	return ok;
}

static const char *read_password(struct pgw_session *s, const uint8_t *body, size_t len)
{
	const char *pw = pgw_read_password_message(body, len);

	if (pw == NULL)
		pgw_sess_fail(s, "08P01", "invalid password packet size");
	return pw;
}

static void on_password(struct pgw_session *s, const uint8_t *body, size_t len)
{
	struct pgw_sess_auth *a = s->auth;
	const char *pw = read_password(s, body, len);

	if (pw == NULL || throttled(s))
		return;
	if (a->step == PGW_CA_MD5) {
		/* asked only of roles with an md5 secret (challenge) */
		if (a->creds.secret.kind != PGW_SECRET_MD5 ||
		    !pgw_md5_verify(a->creds.secret.text, a->md5_salt, pw)) {
			password_failed(s);
			return;
		}
		passed(s);
		return;
	}
	if (pw[0] == '\0' || !password_matches(s, pw)) {
		password_failed(s);
		return;
	}
	if ((a->creds.password = strdup(pw)) == NULL) {
		pgw_sess_fail(s, "53200", "pgward: out of memory");
		return;
	}
	passed(s);
}

/* A SCRAM error: a wrong proof is 28P01 for user "..."; anything else PostgreSQL's own. */
static void scram_failed(struct pgw_session *s, const struct pgw_auth_error *err)
{
	if (strcmp(err->sqlstate, "28P01") == 0)
		password_failed(s);
	else
		auth_failed(s, err->sqlstate, err->detail, "%s", err->message);
}

/* SASLInitialResponse, read as PostgreSQL reads it (errors included). A client that sent
 * no data gets an empty SASLContinue and sends its first message next. */
static void on_sasl_initial(struct pgw_session *s, const uint8_t *body, size_t len)
{
	struct pgw_sess_auth *a = s->auth;
	struct pgw_auth_error err = {.sqlstate = ""};
	char out[PGW_SCRAM_OUT_MAX];
	size_t outlen = 0;

	if (pgw_scram_server_start_msg(a->scram, body, len, out, sizeof(out), &outlen, &err) !=
	    PGW_SCRAM_CONTINUE) {
		scram_failed(s, &err);
		return;
	}
	a->step = PGW_CA_SASL_FINISH;
	send_request(s, PGW_AUTHREQ_SASL_CONTINUE, out, outlen);
}

static void on_sasl_response(struct pgw_session *s, const uint8_t *body, size_t len)
{
	struct pgw_sess_auth *a = s->auth;
	struct pgw_auth_error err = {.sqlstate = ""};
	char out[PGW_SCRAM_OUT_MAX];
	size_t outlen = 0;

	if (throttled(s))
		return;
	switch (pgw_scram_server_finish(a->scram, body, len, out, sizeof(out), &outlen, &err)) {
	case PGW_SCRAM_CONTINUE: /* the first message came late (see on_sasl_initial) */
		send_request(s, PGW_AUTHREQ_SASL_CONTINUE, out, outlen);
		return;
	case PGW_SCRAM_FAILED:
		scram_failed(s, &err);
		return;
	case PGW_SCRAM_DONE:
		break;
	}
	/* The ClientKey only opens the server's door when the secret is the server's own: a
	 * secret derived here from auth_file's password logs in with that password instead. */
	if (a->creds.secret.kind == PGW_SECRET_SCRAM) {
		memcpy(a->creds.client_key, pgw_scram_server_client_key(a->scram),
		       PGW_SCRAM_KEY_LEN);
		a->creds.has_client_key = true;
	}
	pgw_sess_auth_scram_done(a);
	send_request(s, PGW_AUTHREQ_SASL_FINAL, out, outlen);
	if (s->state < PGW_SS_CLOSING)
		passed(s);
}

/* PostgreSQL's answer to anything but a password message while it waits for one. */
static void on_message(struct pgw_session *s, char type, const uint8_t *body, size_t len)
{
	bool sasl = s->auth->step == PGW_CA_SASL_START || s->auth->step == PGW_CA_SASL_FINISH;

	if (type != 'p') {
		pgw_sess_fail(s, "08P01", "expected %s response, got message type %d",
			      sasl ? "SASL" : "password", (unsigned char)type);
		return;
	}
	switch (s->auth->step) {
	case PGW_CA_PASSWORD:
	case PGW_CA_MD5:
		on_password(s, body, len);
		return;
	case PGW_CA_SASL_START:
		on_sasl_initial(s, body, len);
		return;
	case PGW_CA_SASL_FINISH:
		on_sasl_response(s, body, len);
		return;
	default:
		pgw_sess_fail(s, "08P01", "pgward: unexpected message during authentication");
		return;
	}
}

static void read_client(struct pgw_session *s)
{
	struct pgw_rbuf *in = &s->client.in;

	while (s->state == PGW_SS_CLIENT_AUTH && s->auth != NULL &&
	       s->auth->step != PGW_CA_LOOKUP && s->auth->step != PGW_CA_DONE &&
	       pgw_rbuf_len(in) > 0) {
		struct pgw_msg_hdr h;
		enum pgw_frame_status st = pgw_frame_whole(in, AUTH_MSG_MAX + 4, &h);
		size_t total;

		if (st == PGW_FRAME_NEED_MORE)
			return;
		if (st == PGW_FRAME_BAD_LENGTH) {
			pgw_sess_fail(s, "08P01", "invalid message length");
			return;
		}
		total = (size_t)h.len + 1;
		on_message(s, h.type, pgw_rbuf_data(in) + PGW_HDR_LEN, h.len - 4);
		/* a password, a proof: nothing of it stays in the buffer for the session's life */
		OPENSSL_cleanse(in->data + in->head, total);
		if (s->state >= PGW_SS_CLOSING)
			return;
		pgw_rbuf_drain(in, total);
	}
	/* the login is over: its input block (64 kB) goes, so that a client welcomed without a
	 * server (checkout.c) keeps none while idle */
	if (s->state > PGW_SS_CLIENT_AUTH && s->state < PGW_SS_CLOSING)
		pgw_rbuf_trim(in);
}

static void client_auth_cb(struct pgw_conn *c, enum pgw_conn_event ev, void *arg)
{
	struct pgw_session *s = arg;

	switch (ev) {
	case PGW_CONN_READ:
		read_client(s);
		return;
	case PGW_CONN_EOF:
		/* libpq hangs up when it has no password to give: not a failure to count */
		pgw_sess_end(s, "client closed the connection during authentication");
		return;
	case PGW_CONN_ERROR:
		pgw_sess_end(s, c->err);
		return;
	default:
		return;
	}
}

/* The secret is known (or known absent): on with the method's exchange. */
static void secret_known(struct pgw_session *s)
{
	pgw_conn_set_cb(&s->client, client_auth_cb, s);
	pgw_conn_set_reading(&s->client, true);
	challenge(s);
	if (s->state == PGW_SS_CLIENT_AUTH && pgw_rbuf_len(&s->client.in) > 0)
		read_client(s);
}

static void lookup_done(void *arg, enum pgw_aq_status st, const char *secret, const char *why)
{
	struct pgw_session *s = arg;

	/* a session closed while it waited (login timeout, the client gone) is only waiting
	 * for the sweep: nothing more of its login happens */
	if (s->state != PGW_SS_CLIENT_AUTH)
		return;

	if (st == PGW_AQ_ERROR) {
		static struct pgw_log_limit limit =
			PGW_LOG_LIMIT(PGW_LOG_WARNING, "auth_lookup_failed", 20, 10.0);
		char quoted_user[96], quoted_why[300];

		/* the why is for the operator: a client that has not logged in learns nothing of
		 * the server (its address, which databases exist) */
		pgw_log_limited(&limit, s->id, "user=%s error=%s",
				pgw_log_quote(s->user, quoted_user, sizeof(quoted_user)),
				pgw_log_quote(why, quoted_why, sizeof(quoted_why)));
		pgw_sess_auth_count(s, PGW_LOGIN_ERROR);
		pgw_sess_fail(s, "08006", "pgward: could not look up the password of user \"%s\"",
			      s->user);
		return;
	}
	if (st == PGW_AQ_FOUND) {
		if (pgw_auth_secret_set(&s->auth->creds.secret, secret) < 0) {
			pgw_sess_fail(s, "53200", "pgward: out of memory");
			return;
		}
		s->auth->secret_from_query = true;
	}
	secret_known(s);
}

/* auth_file first, as PgBouncer; then auth_query. False if the answer is still coming. */
static bool find_secret(struct pgw_session *s, bool query)
{
	struct pgw_sess_auth *a = s->auth;
	const char *text = pgw.auth.users ? pgw_auth_file_lookup(pgw.auth.users, s->user) : NULL;
	char *found = NULL, why[256];
	const char *db = pgw_sess_auth_dbname(s);

	if (text != NULL || !query || pgw.cfg.auth_user == NULL) {
		if (pgw_auth_secret_set(&a->creds.secret, text) < 0)
			goto oom;
		return true;
	}
	a->step = PGW_CA_LOOKUP; /* the answer may come before the call returns */
	switch (pgw_auth_query_lookup(&a->wait, s->user, db, lookup_done, s, &found, why,
				      sizeof(why))) {
	case PGW_AQ_FOUND:
		a->secret_from_query = true;
		if (pgw_auth_secret_set(&a->creds.secret, found) < 0) {
			OPENSSL_cleanse(found, strlen(found));
			free(found);
			goto oom;
		}
		OPENSSL_cleanse(found, strlen(found));
		free(found);
		return true;
	case PGW_AQ_NOT_FOUND:
		return true;
	case PGW_AQ_ERROR:
		lookup_done(s, PGW_AQ_ERROR, NULL, why);
		return false;
	case PGW_AQ_PENDING:
		return false;
	}
	return false;
oom:
	pgw_sess_fail(s, "53200", "pgward: out of memory");
	return false;
}

/* The client's certificate, as the rule asks: valid, and for verify-full naming the role
 * (directly, or through the ident map). */
static bool certificate_ok(struct pgw_session *s)
{
	const struct pgw_auth_plan *p = &s->auth->plan;
	char cn[256];
	bool valid = s->client.ssl != NULL && SSL_get0_peer_certificate(s->client.ssl) != NULL &&
		     SSL_get_verify_result(s->client.ssl) == X509_V_OK;

	if (!valid) {
		auth_failed(s, "28000", NULL, "connection requires a valid client certificate");
		return false;
	}
	if (p->clientcert != PGW_CLIENTCERT_VERIFY_FULL)
		return true;
	if (pgw_tls_peer_cn(s->client.ssl, cn, sizeof(cn)) &&
	    (p->map[0] != '\0' ? pgw.auth.ident != NULL &&
					 pgw_ident_allows(pgw.auth.ident, p->map, cn, s->user)
			       : strcmp(cn, s->user) == 0))
		return true;
	if (p->method == PGW_AUTH_CERT)
		auth_failed(s, "28000", NULL, "certificate authentication failed for user \"%s\"",
			    s->user);
	else
		auth_failed(s, "28000", NULL,
			    "certificate validation (clientcert=verify-full) failed for user "
			    "\"%s\": CN mismatch",
			    s->user);
	return false;
}

void pgw_sess_auth_begin(struct pgw_session *s)
{
	const struct sockaddr *peer = (const struct sockaddr *)&s->peer_addr;
	struct pgw_hba_query q = {
		.tls = s->client_tls,
		.peer = peer,
		.database = asked_database(s),
		.user = s->user,
		.replication = s->view.replication == PGW_REPL_PHYSICAL,
	};
	const char *enc = s->client_tls ? "SSL encryption" : "no encryption";
	struct pgw_sess_auth *a;
	enum pgw_auth_verdict planned;
	char host[INET6_ADDRSTRLEN];

	s->own_auth = true;
	/* nothing more is read from the client until pgward asks it something */
	pgw_conn_set_reading(&s->client, false);
	if ((a = s->auth = calloc(1, sizeof(*a))) == NULL) {
		pgw_sess_fail(s, "53200", "pgward: out of memory");
		return;
	}
	planned = pgw_auth_plan(&pgw.cfg, &pgw.auth, &q, &a->plan);
	if (throttled(s))
		return;
	if (planned == PGW_AUTH_NO_ENTRY) {
		if (q.replication)
			auth_failed(s, "28000", NULL,
				    "no pg_hba.conf entry for replication connection from host "
				    "\"%s\", user \"%s\", %s",
				    host_of(s, host, sizeof(host)), s->user, enc);
		else
			auth_failed(s, "28000", NULL,
				    "no pg_hba.conf entry for host \"%s\", user \"%s\", database "
				    "\"%s\", %s",
				    host_of(s, host, sizeof(host)), s->user, q.database, enc);
		return;
	}
	if (a->plan.method == PGW_AUTH_REJECT) {
		auth_failed(s, "28000", NULL,
			    "pg_hba.conf rejects connection for host \"%s\", user \"%s\", database "
			    "\"%s\", %s",
			    host_of(s, host, sizeof(host)), s->user, q.database, enc);
		return;
	}
	if (a->plan.clientcert != PGW_CLIENTCERT_NONE && !certificate_ok(s))
		return;
	pgw_sess_set_state(s, PGW_SS_CLIENT_AUTH);
	if (a->plan.method == PGW_AUTH_TRUST || a->plan.method == PGW_AUTH_CERT) {
		/* nothing to ask the client; auth_file may still hold what the server wants */
		if (find_secret(s, false))
			passed(s);
		return;
	}
	if (find_secret(s, true))
		secret_known(s);
}
