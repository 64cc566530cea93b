/*
 * One non-blocking socket, plain or TLS, with a flat input (rbuf.h) and an output evbuffer.
 * Writes go out at once when the socket takes them (no extra event-loop round); what it
 * does not take waits for EV_WRITE. Never frees itself inside its own callback:
 * pgw_conn_close stops all I/O at once, pgw_conn_release frees later.
 */
#ifndef PGWARD_CONN_H
#define PGWARD_CONN_H

#include "pgward/common.h"
#include "pgward/rbuf.h"

#include <sys/socket.h>
#include <event2/event_struct.h>
#include <openssl/ssl.h>

struct evbuffer;
struct event_base;
struct pgw_conn;

/* Output above HIGH pauses the peer's reading; it resumes once output is down to LOW. */
#define PGW_CONN_HIGH_WATERMARK (256 * 1024)
#define PGW_CONN_LOW_WATERMARK	(64 * 1024)
#define PGW_CONN_READ_CHUNK	(64 * 1024)

enum pgw_conn_event {
	PGW_CONN_READ = 0,	 /* new bytes in conn->in */
	PGW_CONN_DRAINED,	 /* output fell to the low watermark (or to empty, if asked) */
	PGW_CONN_CONNECTED,	 /* an outgoing connect finished */
	PGW_CONN_HANDSHAKE_DONE, /* TLS handshake finished */
	PGW_CONN_EOF,		 /* the peer closed its side */
	PGW_CONN_ERROR,		 /* conn->err says what happened */
};

typedef void (*pgw_conn_fn)(struct pgw_conn *c, enum pgw_conn_event ev, void *arg);

struct pgw_conn {
	int fd;
	struct event rev, wev;
	struct pgw_rbuf in;
	struct evbuffer *out;
	SSL *ssl; /* NULL on a plain connection */
	pgw_conn_fn cb;
	void *arg;
	bool reading;	       /* the owner wants input */
	bool connecting;       /* outgoing connect in progress */
	bool handshaking;      /* TLS handshake in progress */
	bool hs_wants_write;   /* the handshake waits for the socket to take data */
	bool read_wants_write; /* SSL_read needs the socket writable first */
	bool write_wants_read; /* SSL_write needs the socket readable first */
	bool above_high;       /* output crossed the high watermark: report the drain */
	bool notify_empty;     /* report DRAINED when the output is empty */
	bool rev_on, wev_on;   /* what is armed in the event loop */
	bool closed;
	bool failed; /* a write failed (c->err): the next flush reports it */
	char err[192];
};

/* Sets up <c> around connected socket <fd>, already non-blocking and close-on-exec as the
 * listener accepts it (taken: closed by pgw_conn_close). */
void pgw_conn_init(struct pgw_conn *c, struct event_base *base, int fd, pgw_conn_fn cb, void *arg);

/* Starts a non-blocking connect; reports CONNECTED or ERROR. -1 with c->err if it fails now. */
int pgw_conn_connect(struct pgw_conn *c, struct event_base *base, const struct sockaddr *addr,
		     socklen_t addrlen, pgw_conn_fn cb, void *arg) PGW_MUSTCHECK;

void pgw_conn_set_cb(struct pgw_conn *c, pgw_conn_fn cb, void *arg);
void pgw_conn_set_reading(struct pgw_conn *c, bool on);

/* Takes <ssl> and runs the handshake (accepting or connecting as <ssl> is set up). */
void pgw_conn_start_tls(struct pgw_conn *c, SSL *ssl);

/*
 * Writes as much of c->out as the socket takes now, arming EV_WRITE for the rest.
 * Returns -1 (with c->err) if the connection failed; the owner then closes it.
 */
int pgw_conn_flush(struct pgw_conn *c) PGW_MUSTCHECK;

/*
 * Sends the first <n> bytes of <from> on <to> and consumes them from <from>: straight from
 * <from>'s block when nothing is queued ahead of them on a plain connection, so a relayed
 * run costs one send(2) and no buffer work; what the socket does not take now is queued.
 * The caller flushes <to> afterwards, as after any write.
 */
void pgw_conn_relay(struct pgw_conn *to, struct pgw_rbuf *from, size_t n);

/* Queues the first <n> bytes of <from> on <to> behind what is queued, consuming them. */
void pgw_conn_queue(struct pgw_conn *to, struct pgw_rbuf *from, size_t n);

/* Schedules a read callback for bytes already buffered (e.g. after a pause). */
void pgw_conn_kick_read(struct pgw_conn *c);

/* Stops all I/O and closes the socket; buffers stay until pgw_conn_release. Idempotent. */
void pgw_conn_close(struct pgw_conn *c);

/* Closes and frees everything <c> holds (not <c> itself). Idempotent. */
void pgw_conn_release(struct pgw_conn *c);

#endif
