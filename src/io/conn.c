/*
 * Socket I/O for one connection, plain or TLS. Writes are attempted immediately, so a
 * relayed message costs one send(2), not an extra loop iteration; only what the socket
 * refuses waits for EV_WRITE. Events are (de)armed only when the wanted set changes.
 */
#include "pgward/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/err.h>

#define TLS_WRITE_CHUNK (16 * 1024) /* one TLS record */
#define WRITE_IOVECS	16
/* Least room a read asks of the input block; a whole message may need more (it grows). */
#define READ_ROOM_MIN 1024

static void conn_cb(evutil_socket_t fd, short what, void *arg);

static void set_err(struct pgw_conn *c, const char *what, int errnum)
{
	snprintf(c->err, sizeof(c->err), "%s: %s", what, strerror(errnum));
}

static void set_tls_err(struct pgw_conn *c, const char *what)
{
	unsigned long e = ERR_get_error();
	long vr = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;

	if (vr != X509_V_OK)
		snprintf(c->err, sizeof(c->err), "%s: certificate verify failed: %s", what,
			 X509_verify_cert_error_string(vr));
	else if (e != 0)
		snprintf(c->err, sizeof(c->err), "%s: %s", what, ERR_reason_error_string(e));
	else
		snprintf(c->err, sizeof(c->err), "%s: %s", what,
			 errno ? strerror(errno) : "connection closed");
	ERR_clear_error();
}

static void arm(struct event *ev, bool *on, bool want)
{
	if (want == *on)
		return;
	if (want)
		event_add(ev, NULL);
	else
		event_del(ev);
	*on = want;
}

/* Arms exactly the events the connection's current state needs, <has_output> saying whether
 * c->out holds anything (callers that just looked pass it on). */
static void update_events_with(struct pgw_conn *c, bool has_output)
{
	bool want_read, want_write;

	if (c->closed)
		return;
	if (c->connecting) {
		want_read = false;
		want_write = true;
	} else if (c->handshaking) {
		want_read = !c->hs_wants_write;
		want_write = c->hs_wants_write;
	} else {
		want_read = (c->reading && !c->read_wants_write) || c->write_wants_read;
		want_write = c->read_wants_write || (has_output && !c->write_wants_read);
	}
	arm(&c->rev, &c->rev_on, want_read);
	arm(&c->wev, &c->wev_on, want_write);
}

static void update_events(struct pgw_conn *c)
{
	update_events_with(c, evbuffer_get_length(c->out) > 0);
}

static void set_socket_options(int fd)
{
	int one = 1;

	/* Protocol messages are small and latency-bound: never wait to coalesce them. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

void pgw_conn_init(struct pgw_conn *c, struct event_base *base, int fd, pgw_conn_fn cb, void *arg)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->cb = cb;
	c->arg = arg;
	c->out = evbuffer_new();
	set_socket_options(fd);
	event_assign(&c->rev, base, fd, EV_READ | EV_PERSIST, conn_cb, c);
	event_assign(&c->wev, base, fd, EV_WRITE | EV_PERSIST, conn_cb, c);
}

int pgw_conn_connect(struct pgw_conn *c, struct event_base *base, const struct sockaddr *addr,
		     socklen_t addrlen, pgw_conn_fn cb, void *arg)
{
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		memset(c, 0, sizeof(*c));
		c->fd = -1;
		c->closed = true;
		set_err(c, "socket", errno);
		return -1;
	}
	pgw_conn_init(c, base, fd, cb, arg);
	if (connect(fd, addr, addrlen) < 0 && errno != EINPROGRESS) {
		set_err(c, "connect", errno);
		pgw_conn_close(c);
		return -1;
	}
	/* Even an immediate success is reported from the loop, never from inside this call. */
	c->connecting = true;
	update_events(c);
	return 0;
}

void pgw_conn_set_cb(struct pgw_conn *c, pgw_conn_fn cb, void *arg)
{
	c->cb = cb;
	c->arg = arg;
}

void pgw_conn_set_reading(struct pgw_conn *c, bool on)
{
	c->reading = on;
	update_events(c);
}

void pgw_conn_kick_read(struct pgw_conn *c)
{
	if (!c->closed)
		event_active(&c->rev, EV_TIMEOUT, 1);
}

static void do_handshake(struct pgw_conn *c)
{
	int r;

	ERR_clear_error();
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->handshaking = false;
		c->hs_wants_write = false;
		update_events(c);
		c->cb(c, PGW_CONN_HANDSHAKE_DONE, c->arg);
		return;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		c->hs_wants_write = false;
		break;
	case SSL_ERROR_WANT_WRITE:
		c->hs_wants_write = true;
		break;
	default:
		set_tls_err(c, "TLS handshake");
		c->cb(c, PGW_CONN_ERROR, c->arg);
		return;
	}
	update_events(c);
}

void pgw_conn_start_tls(struct pgw_conn *c, SSL *ssl)
{
	c->ssl = ssl;
	SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				  SSL_MODE_RELEASE_BUFFERS);
	SSL_set_fd(ssl, c->fd);
	c->handshaking = true;
	do_handshake(c);
}

/* Reads what the TLS layer has, up to one chunk. Returns bytes read, 0 on EOF, -1 on error,
 * -2 when nothing was available. */
static ssize_t tls_read(struct pgw_conn *c)
{
	ssize_t total = 0;

	c->read_wants_write = false;
	while (total < PGW_CONN_READ_CHUNK) {
		size_t room;
		uint8_t *at;
		int r;

		if (total > 0 && c->in.cap - c->in.tail < READ_ROOM_MIN)
			break; /* the block is full: the relay consumes before it grows */
		at = pgw_rbuf_space(&c->in, READ_ROOM_MIN, &room);
		if (at == NULL) {
			snprintf(c->err, sizeof(c->err), "TLS read: out of memory");
			return -1;
		}
		ERR_clear_error();
		r = SSL_read(c->ssl, at, (int)PGW_MIN(room, (size_t)PGW_CONN_READ_CHUNK));
		if (r > 0) {
			pgw_rbuf_commit(&c->in, (size_t)r);
			total += r;
			continue;
		}
		switch (SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_WANT_READ:
			return total > 0 ? total : -2;
		case SSL_ERROR_WANT_WRITE:
			c->read_wants_write = true;
			return total > 0 ? total : -2;
		case SSL_ERROR_ZERO_RETURN:
			return total > 0 ? total : 0;
		case SSL_ERROR_SYSCALL:
			if (ERR_peek_error() == 0 && (errno == 0 || errno == ECONNRESET))
				return total > 0 ? total : 0; /* EOF without close_notify */
							      /* fall through */
		default:
			set_tls_err(c, "TLS read");
			return total > 0 ? total : -1;
		}
	}
	/* More may sit decrypted inside OpenSSL, where epoll cannot see it. */
	if (SSL_pending(c->ssl) > 0)
		pgw_conn_kick_read(c);
	return total;
}

/* One recv(2) into the input block. Returns bytes read, 0 on EOF, -1 on error, -2 when
 * nothing was available. */
static ssize_t plain_read(struct pgw_conn *c)
{
	size_t room;
	uint8_t *at = pgw_rbuf_space(&c->in, READ_ROOM_MIN, &room);
	ssize_t n;

	if (at == NULL) {
		snprintf(c->err, sizeof(c->err), "read: out of memory");
		return -1;
	}
	n = recv(c->fd, at, PGW_MIN(room, (size_t)PGW_CONN_READ_CHUNK), 0);
	if (n > 0) {
		pgw_rbuf_commit(&c->in, (size_t)n);
		return n;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return -2;
	if (n < 0)
		set_err(c, "read", errno);
	return n;
}

static void do_read(struct pgw_conn *c)
{
	ssize_t n;

	if (c->ssl != NULL) {
		n = tls_read(c);
	} else {
		n = plain_read(c);
	}
	if (n == -2) {
		/* nothing came: an empty input keeps no block, so an idle connection costs none */
		if (pgw_rbuf_len(&c->in) == 0)
			pgw_rbuf_trim(&c->in);
		update_events(c);
		return;
	}
	if (n > 0) {
		c->cb(c, PGW_CONN_READ, c->arg);
		return;
	}
	c->cb(c, n == 0 ? PGW_CONN_EOF : PGW_CONN_ERROR, c->arg);
}

/*
 * Writes what the socket takes of what is queued (a relayed run normally went out directly,
 * pgw_conn_relay): send(2) when the output is one chain, sendmsg(2) with up to
 * WRITE_IOVECS chains otherwise. Returns 0, or -1 with c->err set.
 */
static int plain_write(struct pgw_conn *c)
{
	while (evbuffer_get_length(c->out) > 0) {
		struct evbuffer_iovec v[WRITE_IOVECS];
		int nv = evbuffer_peek(c->out, -1, NULL, v, WRITE_IOVECS);
		ssize_t n;

		if (nv <= 1) {
			n = send(c->fd, v[0].iov_base, v[0].iov_len, MSG_NOSIGNAL);
		} else {
			struct msghdr mh = {.msg_iov = (struct iovec *)v,
					    .msg_iovlen = (size_t)PGW_MIN(nv, WRITE_IOVECS)};

			n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			set_err(c, "write", errno);
			return -1;
		}
		evbuffer_drain(c->out, (size_t)n);
	}
	return 0;
}

/* Returns 0, or -1 with c->err set. */
static int write_now(struct pgw_conn *c)
{
	if (c->ssl == NULL)
		return plain_write(c);
	c->write_wants_read = false;
	while (evbuffer_get_length(c->out) > 0) {
		size_t len = PGW_MIN(evbuffer_get_length(c->out), (size_t)TLS_WRITE_CHUNK);
		unsigned char *p = evbuffer_pullup(c->out, (ev_ssize_t)len);
		int r;

		ERR_clear_error();
		r = SSL_write(c->ssl, p, (int)len);
		if (r > 0) {
			evbuffer_drain(c->out, (size_t)r);
			continue;
		}
		switch (SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_WANT_WRITE:
			return 0;
		case SSL_ERROR_WANT_READ:
			c->write_wants_read = true;
			return 0;
		default:
			set_tls_err(c, "TLS write");
			return -1;
		}
	}
	return 0;
}

void pgw_conn_queue(struct pgw_conn *to, struct pgw_rbuf *from, size_t n)
{
	if (pgw_rbuf_give(from, n, to->out) < 0 && !to->failed) {
		to->failed = true;
		snprintf(to->err, sizeof(to->err), "write: out of memory");
	}
}

void pgw_conn_relay(struct pgw_conn *to, struct pgw_rbuf *from, size_t n)
{
	ssize_t sent;

	if (n == 0)
		return;
	if (to->ssl != NULL || to->connecting || to->closed || to->failed ||
	    evbuffer_get_length(to->out) > 0) {
		pgw_conn_queue(to, from, n);
		return;
	}
	sent = send(to->fd, pgw_rbuf_data(from), n, MSG_NOSIGNAL);
	if (sent < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			set_err(to, "write", errno);
			to->failed = true;
		}
		sent = 0;
	}
	pgw_rbuf_drain(from, (size_t)sent);
	if ((size_t)sent < n)
		pgw_conn_queue(to, from, n - (size_t)sent);
}

int pgw_conn_flush(struct pgw_conn *c)
{
	if (c->closed || c->failed)
		return -1;
	if (c->connecting || c->handshaking)
		return 0;
	/* After a relayed run went straight out, the output is empty: one look settles it. */
	if (evbuffer_get_length(c->out) == 0) {
		update_events_with(c, false);
		return 0;
	}
	if (write_now(c) < 0)
		return -1;
	update_events(c);
	return 0;
}

static void on_writable(struct pgw_conn *c)
{
	size_t left;

	if (pgw_conn_flush(c) < 0) {
		c->cb(c, PGW_CONN_ERROR, c->arg);
		return;
	}
	left = evbuffer_get_length(c->out);
	if ((c->above_high && left <= PGW_CONN_LOW_WATERMARK) || (c->notify_empty && left == 0)) {
		c->above_high = false;
		c->cb(c, PGW_CONN_DRAINED, c->arg);
	}
}

static void on_connected(struct pgw_conn *c)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	c->connecting = false;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr != 0) {
		set_err(c, "connect", soerr);
		arm(&c->wev, &c->wev_on, false);
		c->cb(c, PGW_CONN_ERROR, c->arg);
		return;
	}
	update_events(c);
	c->cb(c, PGW_CONN_CONNECTED, c->arg);
}

static void conn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgw_conn *c = arg;

	if (c->closed)
		return;
	if (what & EV_TIMEOUT) { /* a kick: bytes already buffered */
		if (c->reading && c->ssl != NULL && SSL_pending(c->ssl) > 0)
			do_read(c);
		else if (c->reading && pgw_rbuf_len(&c->in) > 0)
			c->cb(c, PGW_CONN_READ, c->arg);
		return;
	}
	if (c->connecting) {
		on_connected(c);
		return;
	}
	if (c->handshaking) {
		do_handshake(c);
		return;
	}
	if (what & EV_WRITE) {
		if (c->read_wants_write)
			do_read(c);
		else
			on_writable(c);
		return;
	}
	if (c->write_wants_read)
		on_writable(c);
	else
		do_read(c);
}

void pgw_conn_close(struct pgw_conn *c)
{
	if (c->closed && c->fd < 0)
		return;
	c->closed = true;
	if (c->rev_on)
		event_del(&c->rev);
	if (c->wev_on)
		event_del(&c->wev);
	c->rev_on = c->wev_on = false;
	if (c->fd >= 0) {
		/* Cancel any pending kick as well. */
		event_del(&c->rev);
		if (c->ssl != NULL && !c->handshaking)
			SSL_shutdown(c->ssl); /* best effort close_notify */
		close(c->fd);
		c->fd = -1;
	}
}

void pgw_conn_release(struct pgw_conn *c)
{
	pgw_conn_close(c);
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	pgw_rbuf_free(&c->in);
	if (c->out != NULL) {
		evbuffer_free(c->out);
		c->out = NULL;
	}
}
