/*
 * Server → client. Frames the server's messages by their headers and sends runs of them
 * to the client straight from the input block (pgw_conn_relay). Each message is matched
 * to the client request it answers (tracker.h): answers to what pgward injected are
 * swallowed, and the error for a refused-and-substituted message becomes pgward's own, at
 * the same place. Decodes only ReadyForQuery (status byte, in place), ParameterStatus (in
 * place), BackendKeyData and, during authentication, AuthenticationSASL.
 */
#include "session-int.h"

#include "pgward/codec.h"
#include "pgward/jobs.h"
#include "pgward/log.h"
#include "pgward/pool.h"
#include "pgward/proxy.h"

#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/event.h>

/* A server message pgward decodes is small; anything bigger means the stream is lost. */
#define DECODED_MSG_MAX (64 * 1024)
/* DataRow and CopyData can legitimately reach 1 GB; the header check only rules out junk. */
#define SERVER_MSG_MAX 0x7fffffffu

void pgw_sess_login_ready(struct pgw_session *s)
{
	if (s->state == PGW_SS_AUTH) {
		if (s->srv->state == PGW_SRV_NEW)
			pgw_pool_logged_in(s->srv);
		if (s->pooled)
			pgw_sess_welcome_learn(s);
		pgw_sess_set_state(s, PGW_SS_READY);
		evtimer_del(&s->timer); /* login done: no more login timeout */
		s->last_client_activity = pgw_now();
		pgw_debug(s->id, "ready", "server_pid=%u", s->srv->pid);
	}
}

/* The SQLSTATE of the whole ErrorResponse <run> bytes into the input, or NULL. */
static const char *error_sqlstate(struct pgw_session *s, size_t run, const struct pgw_msg_hdr *h,
				  char code[6])
{
	struct pgw_error_fields f;

	if (h->len > DECODED_MSG_MAX)
		return NULL;
	pgw_read_error_fields(pgw_rbuf_data(&s->srv->conn.in) + run + PGW_HDR_LEN, h->len - 4, &f);
	if (f.code[0] == '\0')
		return NULL;
	memcpy(code, f.code, 6);
	return code;
}

/* ParameterStatus (whole, <run> bytes into the input): the settings that decide how the
 * server reads the client's text are followed; the message goes on to the client. */
static void on_parameter_status(struct pgw_session *s, size_t run, const struct pgw_msg_hdr *h)
{
	struct pgw_reader r;
	const char *name, *value;

	pgw_reader_init(&r, pgw_rbuf_data(&s->srv->conn.in) + run + PGW_HDR_LEN, h->len - 4);
	name = pgw_read_cstr(&r);
	value = pgw_read_cstr(&r);
	if (name == NULL || value == NULL)
		return;
	pgw_sess_text_param(s, name, value);
	/* pool_mode = transaction: a change pgward did not write (a function the client ran
	 * set it, or the server's configuration was reloaded) makes the server nobody's for
	 * sure: the next client resets it (handover.c) */
	if (s->txn_pooled && s->state == PGW_SS_READY && !pgw_sess_sets_explain(s, name))
		pgw_server_session_unknown(s->srv);
	/* what the next client of a pooled server is told; out of memory, it is not reused */
	if (s->srv->pool != NULL && pgw_server_param_set(s->srv, name, value) < 0)
		s->srv->gone = true;
}

/* BackendKeyData: the client gets the server's pid but pgward's own secret (a welcomed
 * client has its key already). */
static void on_backend_key(struct pgw_session *s, const uint8_t *body, size_t len)
{
	struct pgw_reader r;

	pgw_reader_init(&r, body, len);
	s->srv->pid = pgw_read_u32(&r);
	s->srv->secret = pgw_read_u32(&r);
	if (!s->welcomed)
		pgw_sess_give_key(s);
}

static bool auth_ok(const uint8_t *body, size_t len)
{
	return len == 4 && body[0] == 0 && body[1] == 0 && body[2] == 0 && body[3] == 0;
}

/*
 * A server message that must be read whole: K always, R and E during authentication.
 * Consumes it from the server's input. Returns false if the session was closed.
 */
static bool relay_decoded(struct pgw_session *s, const struct pgw_msg_hdr *h)
{
	size_t total = (size_t)h->len + 1, body_len = h->len - 4;
	const uint8_t *msg = pgw_rbuf_data(&s->srv->conn.in);
	const uint8_t *body = msg + PGW_HDR_LEN;

	if (h->type == 'K') {
		if (body_len != 8) {
			/* Protocol 3.2 (PostgreSQL 18) allows longer keys; pgward maps 3.0's. */
			pgw_sess_fail(
				s, "0A000",
				"pgward: unsupported cancel key length %zu from the server: "
				"pgward supports protocol 3.0 keys (use max_protocol_version=3.0)",
				body_len);
			return false;
		}
		on_backend_key(s, body, body_len);
	} else if (h->type == 'E') {
		char code[6];

		pgw_sess_login_failed(s, error_sqlstate(s, 0, h, code));
		evbuffer_add(s->client.out, msg, total);
	} else if (s->own_auth && !auth_ok(body, body_len)) {
		/* pgward logs in itself: the server's requests are for pgward, not the client */
		if (!pgw_sess_server_auth(s, body, body_len))
			return false;
	} else if (body_len >= 4 && body[0] == 0 && body[1] == 0 && body[2] == 0 && body[3] == 10) {
		if (pgw_msg_sasl_without_plus(s->client.out, body, body_len) < 0) {
			pgw_sess_fail(s, "08P01",
				      "pgward: malformed AuthenticationSASL from the server");
			return false;
		}
	} else {
		if (auth_ok(body, body_len) && s->auth != NULL &&
		    !pgw_server_auth_ok_allowed(&s->auth->server)) {
			/* an Ok without the SASLFinal that proves the server knows the secret: an
			 * impostor skipping the proof */
			pgw_sess_fail(s, "08P01",
				      "pgward: the server accepted the login without completing "
				      "SCRAM");
			return false;
		}
		if (auth_ok(body, body_len)) {
			s->srv->logged_in = true;
			pgw_sess_server_accepted(s);
			if (s->welcomed) { /* the client was told long ago */
				pgw_sess_auth_login_done(s);
				pgw_rbuf_drain(&s->srv->conn.in, total);
				return true;
			}
			pgw_sess_authenticated(s);
		}
		evbuffer_add(s->client.out, msg, total);
	}
	pgw_rbuf_drain(&s->srv->conn.in, total);
	return true;
}

static bool needs_decode(const struct pgw_session *s, char type)
{
	return type == 'K' || (s->state == PGW_SS_AUTH && (type == 'R' || type == 'E'));
}

/* Metrics: an error the client will see, or a command's row count from its tag. */
static void note_result(struct pgw_session *s, const struct pgw_msg_hdr *h, size_t offset,
			size_t avail)
{
	size_t n = (size_t)h->len - 4;

	if (h->type == 'E') {
		pgw_sess_sets_error(s);
		pgw_metrics_server_error(&s->metrics);
		return;
	}
	if (!pgw_metrics_wants_rows(&s->metrics) || n > 64 || avail - offset < n + 5)
		return;
	pgw_metrics_command_complete(
		&s->metrics, (const char *)pgw_rbuf_data(&s->srv->conn.in) + offset + PGW_HDR_LEN,
		n);
}

/* Drops (the start of) a message the client must not see; the rest follows as it comes. */
static void discard(struct pgw_session *s, size_t total)
{
	size_t now = PGW_MIN(total, pgw_rbuf_len(&s->srv->conn.in));

	pgw_rbuf_drain(&s->srv->conn.in, now);
	s->srv->left = (uint32_t)(total - now);
	s->srv->discarding = s->srv->left > 0;
}

bool pgw_relay_server(struct pgw_session *s)
{
	/* kept in a register: the calls below cannot change which server this is */
	struct pgw_server *srv = s->srv;
	struct pgw_rbuf *in = &srv->conn.in;
	size_t avail = pgw_rbuf_len(in), run = 0;
	size_t arrived = avail;

	if (srv->left > 0) {
		size_t n = PGW_MIN(avail, srv->left);

		srv->left -= (uint32_t)n;
		if (srv->discarding) {
			pgw_rbuf_drain(in, n);
			avail -= n;
			srv->discarding = srv->left > 0;
		} else {
			run = n;
		}
	}
	while (srv->left == 0 && run < avail) {
		struct pgw_msg_hdr h;
		enum pgw_frame_status st =
			pgw_frame_peek(pgw_rbuf_data(in) + run, avail - run, SERVER_MSG_MAX, &h);
		struct pgw_resp_verdict v;
		size_t total, take;

		if (st == PGW_FRAME_NEED_MORE)
			break;
		if (st == PGW_FRAME_BAD_LENGTH) {
			pgw_conn_queue(&s->client, in, run);
			pgw_sess_fail(s, "08P01", "pgward: invalid message length from the server");
			return false;
		}
		total = (size_t)h.len + 1;
		/* NegotiateProtocolVersion comes before authentication, as PostgreSQL sends it */
		if (s->own_auth && !srv->logged_in && h.type != 'R' && h.type != 'E' &&
		    h.type != 'N' && h.type != 'v') {
			/* pgward logs in itself: until the server has said AuthenticationOk (after
			 * proving it knows the secret), nothing of a session may reach the client
			 */
			pgw_conn_queue(&s->client, in, run);
			pgw_sess_fail(s, "08P01",
				      "pgward: the server sent message 0x%02x before accepting the "
				      "login",
				      (unsigned char)h.type);
			return false;
		}
		if (h.type == 'Z' || h.type == 'S' || needs_decode(s, h.type) ||
		    pgw_sess_tenant_wants(s, h.type)) {
			if (h.len > DECODED_MSG_MAX) {
				pgw_conn_queue(&s->client, in, run);
				pgw_sess_fail(s, "08P01",
					      "pgward: oversized message 0x%02x from the server",
					      (unsigned char)h.type);
				return false;
			}
			if (avail - run < total)
				break; /* wait for the whole of it */
		}
		if (pgw_sess_tenant_wants(s, h.type)) {
			pgw_conn_queue(&s->client, in, run);
			run = 0;
			if (!pgw_sess_tenant_server_msg(s, &h))
				return false;
			avail = pgw_rbuf_len(in);
			continue;
		}
		if (h.type == 'S') {
			on_parameter_status(s, run, &h);
			if (s->welcomed && s->state == PGW_SS_AUTH) {
				/* the client learns what differs once the setup is done */
				pgw_conn_queue(&s->client, in, run);
				run = 0;
				discard(s, total);
				avail = pgw_rbuf_len(in);
				continue;
			}
		}
		if (h.type == 'E' && pgw_tracker_wants_sqlstate(&srv->tracker)) {
			char code[6];

			/* pgward's own statement failed: its SQLSTATE says what the client sees */
			if (h.len <= DECODED_MSG_MAX && avail - run < total)
				break;
			v = pgw_tracker_on_error(&srv->tracker, error_sqlstate(s, run, &h, code));
		} else {
			v = pgw_tracker_on_backend(&srv->tracker, h.type);
		}
		if (v.note != 0)
			pgw_jobs_lock_waited(v.note - 1u, pgw_now() - v.sent_at);
		if (v.swap_note != 0)
			pgw_jobs_count(v.swap_note - 1u, 0, 1, 0);
		if (h.type == 'Z') { /* whole: its status byte follows the header */
			srv->tx_status = (char)pgw_rbuf_data(in)[run + PGW_HDR_LEN];
			if (srv->held_doubt) {
				pgw_held_clear(&srv->held);
				srv->held_doubt = false;
			}
			pgw_sess_text_ready(s, srv->tx_status); /* pgward's own ones too */
		}
		if (v.action == PGW_RESP_SWALLOW || v.error != NULL) {
			pgw_conn_queue(&s->client, in, run);
			run = 0;
			if (v.error != NULL) {
				pgw_sess_sets_error(s);
				evbuffer_add(s->client.out, v.error, v.error_len);
				free(v.error);
			}
			discard(s, total);
			/* the end of a welcomed client's setup (tenant_hook.c) */
			if (h.type == 'Z' && s->state == PGW_SS_AUTH)
				pgw_sess_on_ready(s, srv->tx_status);
			avail = pgw_rbuf_len(in);
			continue;
		}
		if (h.type == 'E' || h.type == 'C')
			note_result(s, &h, run, avail);
		if (h.type == 'Z') {
			if (s->sets.npending > 0 && !pgw_sess_sets_settle(s, srv->tx_status)) {
				pgw_conn_queue(&s->client, in, run);
				pgw_sess_fail(s, "53200", "pgward: out of memory");
				return false;
			}
			if (s->holds.pending != NULL)
				pgw_sess_holds_settle(s, srv->tx_status);
			pgw_sess_on_ready(s, srv->tx_status);
		} else if (needs_decode(s, h.type)) {
			pgw_conn_queue(&s->client, in, run);
			run = 0;
			if (!relay_decoded(s, &h))
				return false;
			avail = pgw_rbuf_len(in);
			continue;
		}
		take = PGW_MIN(total, avail - run);
		run += take;
		srv->left = (uint32_t)(total - take);
	}
	pgw_conn_relay(&s->client, in, run);
	pgw_metrics_bytes(&s->metrics, false, arrived - pgw_rbuf_len(in));
	pgw_pool_db_sent(&srv->stats, arrived - pgw_rbuf_len(in));
	if (pgw_conn_flush(&s->client) < 0) {
		pgw_sess_end(s, s->client.err);
		return false;
	}
	if (s->admin && s->state == PGW_SS_READY) {
		/* The console's login is done: pgward answers from here on, and the server
		 * side is gone, which callers learn from the false. */
		pgw_sess_admin_begin(s);
		return false;
	}
	pgw_rbuf_trim(in);
	pgw_relay_server_backpressure(s);
	if (!pgw_sess_tenant_release(s))
		return false;
	/* pool_mode = transaction: a transaction ended with nothing more to do */
	if (s->txn_pooled && s->srv != NULL && srv->tx_status == 'I')
		pgw_sess_txn_release(s);
	return true;
}
