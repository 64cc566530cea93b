/*
 * Server connection set-up: connect, optional SSLRequest + handshake, bounded in time.
 * The result goes to one callback; the relay takes the connection over from there.
 */
#include "pgward/server_link.h"
#include "pgward/startup.h"
#include "pgward/tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/event.h>

static void finish(struct pgw_server_link *l, bool ok, const char *why)
{
	l->step = ok ? PGW_LINK_READY : PGW_LINK_IDLE;
	pgw_server_link_stop(l);
	l->done(l->arg, ok, why);
}

static void begin_tls(struct pgw_server_link *l)
{
	SSL *ssl = pgw_tls_server_ssl(l->ctx, l->mode, l->host);

	if (ssl == NULL) {
		finish(l, false, "cannot set up TLS towards the server");
		return;
	}
	l->step = PGW_LINK_TLS;
	pgw_conn_start_tls(l->conn, ssl);
}

static void on_ssl_answer(struct pgw_server_link *l)
{
	char answer;

	if (pgw_rbuf_len(&l->conn->in) < 1)
		return;
	answer = (char)pgw_rbuf_data(&l->conn->in)[0];
	pgw_rbuf_drain(&l->conn->in, 1);
	pgw_conn_set_reading(l->conn, false);
	if (pgw_rbuf_len(&l->conn->in) > 0) {
		/* Bytes after the answer could only be injected by a man in the middle. */
		finish(l, false, "the server sent unencrypted data after its TLS answer");
		return;
	}
	if (answer == 'S') {
		begin_tls(l);
	} else if (answer == 'N' && l->mode == PGW_SSL_PREFER) {
		finish(l, true, NULL);
	} else if (answer == 'N') {
		finish(l, false,
		       "the server does not support TLS, and server_tls_sslmode requires it");
	} else {
		finish(l, false, "the server answered the TLS request with an error");
	}
}

static void link_conn_cb(struct pgw_conn *c, enum pgw_conn_event ev, void *arg)
{
	struct pgw_server_link *l = arg;
	uint32_t req[2] = {htonl(8), htonl(PGW_CODE_SSL)};

	if (l->step == PGW_LINK_IDLE || l->step == PGW_LINK_READY)
		return; /* stopped, or already reported */
	switch (ev) {
	case PGW_CONN_CONNECTED:
		if (l->ctx == NULL) {
			finish(l, true, NULL);
			return;
		}
		l->step = PGW_LINK_SSL_ANSWER;
		evbuffer_add(c->out, req, sizeof(req));
		pgw_conn_set_reading(c, true);
		if (pgw_conn_flush(c) < 0)
			finish(l, false, c->err);
		return;
	case PGW_CONN_READ:
		if (l->step == PGW_LINK_SSL_ANSWER)
			on_ssl_answer(l);
		return;
	case PGW_CONN_HANDSHAKE_DONE:
		finish(l, true, NULL);
		return;
	case PGW_CONN_EOF:
		finish(l, false, "the server closed the connection");
		return;
	case PGW_CONN_ERROR:
		finish(l, false, c->err);
		return;
	case PGW_CONN_DRAINED:
		return;
	}
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgw_server_link *l = arg;

	l->timer_set = false;
	finish(l, false, "timed out (server_connect_timeout)");
}

int pgw_server_link_start(struct pgw_server_link *l, struct pgw_conn *conn, struct event_base *base,
			  const struct pgw_link_target *t, pgw_link_done_fn done, void *arg)
{
	memset(l, 0, sizeof(*l));
	l->conn = conn;
	l->mode = t->mode;
	/* a reload frees the configuration and TLS context of its time: the link keeps its own */
	if ((t->host != NULL && (l->host = strdup(t->host)) == NULL) ||
	    (t->tls != NULL && SSL_CTX_up_ref(t->tls) != 1)) {
		free(l->host);
		l->host = NULL;
		snprintf(conn->err, sizeof(conn->err), "out of memory");
		return -1;
	}
	l->ctx = t->tls;
	l->done = done;
	l->arg = arg;
	l->step = PGW_LINK_CONNECTING;
	if (pgw_conn_connect(conn, base, t->addr, t->addrlen, link_conn_cb, l) < 0) {
		l->step = PGW_LINK_IDLE;
		return -1;
	}
	evtimer_assign(&l->timer, base, timeout_cb, l);
	if (t->timeout > 0) {
		struct timeval tv = {(time_t)t->timeout,
				     (suseconds_t)((t->timeout - (time_t)t->timeout) * 1e6)};

		evtimer_add(&l->timer, &tv);
		l->timer_set = true;
	}
	return 0;
}

void pgw_server_link_stop(struct pgw_server_link *l)
{
	SSL_CTX_free(l->ctx);
	l->ctx = NULL;
	free(l->host);
	l->host = NULL;
	if (l->step != PGW_LINK_READY)
		l->step = PGW_LINK_IDLE;
	if (l->timer_set) {
		evtimer_del(&l->timer);
		l->timer_set = false;
	}
}
