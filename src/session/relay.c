/*
 * The relay: frames messages in both directions by their headers and moves their bytes
 * on without copying (evbuffer chains). Only ReadyForQuery, BackendKeyData and, during
 * authentication, AuthenticationSASL are decoded. Never buffers a message it only
 * forwards: bodies stream through as they arrive.
 */
#include "session-int.h"

#include "pgward/codec.h"
#include "pgward/log.h"
#include "pgward/proxy.h"

#include <arpa/inet.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/rand.h>

/* A server message pgward decodes is small; anything bigger means the stream is lost. */
#define DECODED_MSG_MAX (64 * 1024)
/* DataRow and CopyData can legitimately reach 1 GB; the header check only rules out junk. */
#define SERVER_MSG_MAX 0x7fffffffu

static void client_backpressure(struct pgw_session *s);
static void server_backpressure(struct pgw_session *s);

static void note_frontend(struct pgw_session *s, char type)
{
	if (type == 'Q' || type == 'S' || type == 'F')
		s->pending_rfq++;
	if (type != 'H')
		s->sent_since_rfq = true;
}

/* Client → server. Returns false if the session was closed. */
static bool relay_client(struct pgw_session *s)
{
	struct evbuffer *in = s->client.in;
	size_t avail = evbuffer_get_length(in), run = 0;
	bool terminate = false;

	s->last_client_activity = pgw_now();
	if (s->client_left > 0) {
		run = PGW_MIN(avail, s->client_left);
		s->client_left -= (uint32_t)run;
	}
	while (s->client_left == 0 && run < avail) {
		struct pgw_msg_hdr h;
		enum pgw_frame_status st = pgw_frame_peek(in, run, pgw.cfg.max_packet_size, &h);
		size_t total, take;

		if (st == PGW_FRAME_NEED_MORE)
			break;
		if (st == PGW_FRAME_BAD_LENGTH) {
			pgw_sess_fail(s, "08P01",
				      "pgward: invalid message length %u for message type 0x%02x "
				      "(max_packet_size=%u)",
				      h.len, (unsigned char)h.type, pgw.cfg.max_packet_size);
			return false;
		}
		if (!pgw_frontend_type_valid(h.type)) {
			pgw_sess_fail(s, "08P01", "pgward: invalid frontend message type 0x%02x",
				      (unsigned char)h.type);
			return false;
		}
		note_frontend(s, h.type);
		total = (size_t)h.len + 1;
		take = PGW_MIN(total, avail - run);
		run += take;
		s->client_left = (uint32_t)(total - take);
		if (h.type == 'X') {
			terminate = true;
			break;
		}
	}
	if (run > 0)
		evbuffer_remove_buffer(in, s->server.out, run);
	if (pgw_conn_flush(&s->server) < 0) {
		s->server_gone = true;
		pgw_sess_fail(s, "08006", "pgward: lost the server connection: %s", s->server.err);
		return false;
	}
	if (terminate) {
		pgw_sess_end(s, "client sent Terminate");
		return false;
	}
	client_backpressure(s);
	return true;
}

static void on_ready_for_query(struct pgw_session *s, char status)
{
	s->tx_status = status;
	if (s->pending_rfq > 0)
		s->pending_rfq--;
	if (s->pending_rfq == 0)
		s->sent_since_rfq = false;
	if (s->state == PGW_SS_AUTH) {
		pgw_sess_set_state(s, PGW_SS_READY);
		evtimer_del(&s->timer); /* login done: no more login timeout */
		s->last_client_activity = pgw_now();
		pgw_debug(s->id, "ready", "server_pid=%u", s->server_pid);
	}
}

/* BackendKeyData: the client gets the server's pid but pgward's own secret. */
static void on_backend_key(struct pgw_session *s, const uint8_t *body, size_t len)
{
	struct pgw_reader r;

	pgw_reader_init(&r, body, len);
	s->server_pid = pgw_read_u32(&r);
	s->server_secret = pgw_read_u32(&r);
	if (RAND_bytes((unsigned char *)&s->client_secret, sizeof(s->client_secret)) != 1)
		s->client_secret = (uint32_t)random();
	pgw_cancel_register(s);
	pgw_msg_backend_key(s->client.out, s->server_pid, s->client_secret);
}

/*
 * A server message that must be read whole: K always, R during authentication.
 * Consumes it from the server's input. Returns false if the session was closed.
 */
static bool relay_decoded(struct pgw_session *s, const struct pgw_msg_hdr *h)
{
	size_t total = (size_t)h->len + 1, body_len = h->len - 4;
	const uint8_t *msg = evbuffer_pullup(s->server.in, (ev_ssize_t)total);
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
	} else if (body_len >= 4 && body[0] == 0 && body[1] == 0 && body[2] == 0 && body[3] == 10) {
		if (pgw_msg_sasl_without_plus(s->client.out, body, body_len) < 0) {
			pgw_sess_fail(s, "08P01",
				      "pgward: malformed AuthenticationSASL from the server");
			return false;
		}
	} else {
		evbuffer_add(s->client.out, msg, total);
	}
	evbuffer_drain(s->server.in, total);
	return true;
}

static bool needs_decode(const struct pgw_session *s, char type)
{
	return type == 'K' || (type == 'R' && s->state == PGW_SS_AUTH);
}

/* Server → client. Returns false if the session was closed. */
static bool relay_server(struct pgw_session *s)
{
	struct evbuffer *in = s->server.in;
	size_t avail = evbuffer_get_length(in), run = 0;

	if (s->server_left > 0) {
		run = PGW_MIN(avail, s->server_left);
		s->server_left -= (uint32_t)run;
	}
	while (s->server_left == 0 && run < avail) {
		struct pgw_msg_hdr h;
		enum pgw_frame_status st = pgw_frame_peek(in, run, SERVER_MSG_MAX, &h);
		size_t total, take;

		if (st == PGW_FRAME_NEED_MORE)
			break;
		if (st == PGW_FRAME_BAD_LENGTH) {
			evbuffer_remove_buffer(in, s->client.out, run);
			pgw_sess_fail(s, "08P01", "pgward: invalid message length from the server");
			return false;
		}
		total = (size_t)h.len + 1;
		if (h.type == 'Z' || needs_decode(s, h.type)) {
			if (h.len > DECODED_MSG_MAX) {
				evbuffer_remove_buffer(in, s->client.out, run);
				pgw_sess_fail(s, "08P01",
					      "pgward: oversized message 0x%02x from the server",
					      (unsigned char)h.type);
				return false;
			}
			if (avail - run < total)
				break; /* wait for the whole of it */
		}
		if (h.type == 'Z') {
			struct evbuffer_ptr pos;
			char status = 'I';

			/* Stays in the run: only its status byte is read. */
			if (h.len == 5 &&
			    evbuffer_ptr_set(in, &pos, run + PGW_HDR_LEN, EVBUFFER_PTR_SET) == 0)
				evbuffer_copyout_from(in, &pos, &status, 1);
			on_ready_for_query(s, status);
		} else if (needs_decode(s, h.type)) {
			evbuffer_remove_buffer(in, s->client.out, run);
			run = 0;
			if (!relay_decoded(s, &h))
				return false;
			avail = evbuffer_get_length(in);
			continue;
		}
		take = PGW_MIN(total, avail - run);
		run += take;
		s->server_left = (uint32_t)(total - take);
	}
	if (run > 0)
		evbuffer_remove_buffer(in, s->client.out, run);
	if (pgw_conn_flush(&s->client) < 0) {
		pgw_sess_end(s, s->client.err);
		return false;
	}
	server_backpressure(s);
	return true;
}

/* A side whose peer has too much queued stops reading until the peer drains. */
static void client_backpressure(struct pgw_session *s)
{
	bool full = evbuffer_get_length(s->server.out) > PGW_CONN_HIGH_WATERMARK;

	if (full) {
		s->server.above_high = true;
		pgw_conn_set_reading(&s->client, false);
	} else if (!s->client.reading) {
		pgw_conn_set_reading(&s->client, true);
	}
}

static void server_backpressure(struct pgw_session *s)
{
	bool full = evbuffer_get_length(s->client.out) > PGW_CONN_HIGH_WATERMARK;

	if (full) {
		s->client.above_high = true;
		pgw_conn_set_reading(&s->server, false);
	} else if (!s->server.reading) {
		pgw_conn_set_reading(&s->server, true);
	}
}

void pgw_sess_relay_start(struct pgw_session *s)
{
	pgw_conn_set_cb(&s->client, pgw_sess_client_cb, s);
	pgw_conn_set_reading(&s->server, true);
	pgw_conn_set_reading(&s->client, true);
	/* Anything the client sent early waits in its buffer; the StartupMessage goes first. */
	if (evbuffer_get_length(s->client.in) > 0)
		relay_client(s);
	else if (pgw_conn_flush(&s->server) < 0)
		pgw_sess_fail(s, "08006", "pgward: lost the server connection: %s", s->server.err);
}

void pgw_sess_client_cb(struct pgw_conn *c, enum pgw_conn_event ev, void *arg)
{
	struct pgw_session *s = arg;

	switch (ev) {
	case PGW_CONN_READ:
		relay_client(s);
		return;
	case PGW_CONN_DRAINED: /* the client took enough: read the server again */
		pgw_conn_set_reading(&s->server, true);
		if (evbuffer_get_length(s->server.in) > 0)
			relay_server(s);
		return;
	case PGW_CONN_EOF:
	case PGW_CONN_ERROR:
		pgw_sess_end(s, ev == PGW_CONN_EOF ? "client closed the connection" : c->err);
		return;
	case PGW_CONN_CONNECTED:
	case PGW_CONN_HANDSHAKE_DONE:
		return;
	}
}

void pgw_sess_server_cb(struct pgw_conn *c, enum pgw_conn_event ev, void *arg)
{
	struct pgw_session *s = arg;

	switch (ev) {
	case PGW_CONN_READ:
		relay_server(s);
		return;
	case PGW_CONN_DRAINED:
		pgw_conn_set_reading(&s->client, true);
		if (evbuffer_get_length(s->client.in) > 0)
			relay_client(s);
		return;
	case PGW_CONN_EOF:
		s->server_gone = true;
		pgw_sess_end(s, "server closed the connection");
		return;
	case PGW_CONN_ERROR:
		s->server_gone = true;
		pgw_sess_end(s, c->err);
		return;
	case PGW_CONN_CONNECTED:
	case PGW_CONN_HANDSHAKE_DONE:
		return;
	}
}
