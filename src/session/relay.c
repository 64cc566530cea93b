/*
 * The relay's event handling: which direction to run when a side has bytes or has
 * drained, and the backpressure rule that pauses a side whose peer has too much queued.
 * The directions themselves are relay_client.c and relay_server.c.
 */
#include "session-int.h"

#include "pgward/codec.h"
#include "pgward/log.h"
#include "pgward/proxy.h"

#include <event2/buffer.h>
#include <event2/event.h>

/* A side whose peer has too much queued stops reading until the peer drains. */
void pgw_relay_client_backpressure(struct pgw_session *s)
{
	bool full = evbuffer_get_length(s->srv->conn.out) > PGW_CONN_HIGH_WATERMARK;

	if (full) {
		s->srv->conn.above_high = true;
		pgw_conn_set_reading(&s->client, false);
	} else if (!s->client.reading) {
		pgw_conn_set_reading(&s->client, true);
	}
}

void pgw_relay_server_backpressure(struct pgw_session *s)
{
	bool full = evbuffer_get_length(s->client.out) > PGW_CONN_HIGH_WATERMARK;

	if (full) {
		s->client.above_high = true;
		pgw_conn_set_reading(&s->srv->conn, false);
	} else if (!s->srv->conn.reading) {
		pgw_conn_set_reading(&s->srv->conn, true);
	}
}

void pgw_sess_relay_start(struct pgw_session *s)
{
	pgw_conn_set_cb(&s->client, pgw_sess_client_cb, s);
	pgw_conn_set_reading(&s->srv->conn, true);
	pgw_conn_set_reading(&s->client, true);
	/* Anything the client sent early waits in its buffer; the StartupMessage goes first. */
	if (pgw_rbuf_len(&s->client.in) > 0)
		pgw_relay_client(s);
	else if (pgw_conn_flush(&s->srv->conn) < 0)
		pgw_sess_fail(s, "08006", "pgward: lost the server connection: %s",
			      s->srv->conn.err);
}

void pgw_sess_client_cb(struct pgw_conn *c, enum pgw_conn_event ev, void *arg)
{
	struct pgw_session *s = arg;

	switch (ev) {
	case PGW_CONN_READ:
		pgw_relay_client(s);
		return;
	case PGW_CONN_DRAINED: /* the client took enough: read the server again */
		pgw_conn_set_reading(&s->srv->conn, true);
		if (pgw_rbuf_len(&s->srv->conn.in) > 0)
			pgw_relay_server(s);
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
		pgw_relay_server(s);
		return;
	case PGW_CONN_DRAINED:
		pgw_conn_set_reading(&s->client, true);
		if (pgw_rbuf_len(&s->client.in) > 0)
			pgw_relay_client(s);
		return;
	case PGW_CONN_EOF:
		s->srv->gone = true;
		pgw_sess_end(s, "server closed the connection");
		return;
	case PGW_CONN_ERROR:
		s->srv->gone = true;
		pgw_sess_end(s, c->err);
		return;
	case PGW_CONN_CONNECTED:
	case PGW_CONN_HANDSHAKE_DONE:
		return;
	}
}
