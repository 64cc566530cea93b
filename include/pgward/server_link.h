/*
 * Opening a server connection: TCP connect, then SSLRequest and TLS handshake as
 * server_tls_sslmode asks, bounded by server_connect_timeout. Reports once through a
 * callback; knows nothing of sessions.
 */
#ifndef PGWARD_SERVER_LINK_H
#define PGWARD_SERVER_LINK_H

#include "pgward/common.h"
#include "pgward/config.h"
#include "pgward/conn.h"

typedef void (*pgw_link_done_fn)(void *arg, bool ok, const char *why);

enum pgw_link_step {
	PGW_LINK_IDLE = 0,
	PGW_LINK_CONNECTING,
	PGW_LINK_SSL_ANSWER, /* SSLRequest sent, waiting for 'S' or 'N' */
	PGW_LINK_TLS,	     /* handshake */
	PGW_LINK_READY,
};

struct pgw_server_link {
	struct pgw_conn *conn; /* borrowed: the owner's server connection */
	enum pgw_link_step step;
	enum pgw_sslmode mode;
	SSL_CTX *ctx; /* a reference of the link's own */
	char *host;   /* a copy, for SNI and verify-full */
	struct event timer;
	bool timer_set;
	pgw_link_done_fn done;
	void *arg;
};

struct pgw_link_target {
	const struct sockaddr *addr;
	socklen_t addrlen;
	const char *host;
	SSL_CTX *tls; /* NULL: plain */
	enum pgw_sslmode mode;
	double timeout; /* seconds; 0 = none */
};

/*
 * Starts connecting <conn> (not yet initialised) to <t>. <done> is called exactly once,
 * from the event loop, unless pgw_server_link_stop comes first. -1 with <why> set in
 * conn->err if it fails at once.
 */
int pgw_server_link_start(struct pgw_server_link *l, struct pgw_conn *conn, struct event_base *base,
			  const struct pgw_link_target *t, pgw_link_done_fn done,
			  void *arg) PGW_MUSTCHECK;

/* Cancels the timeout; the link will not call back any more. */
void pgw_server_link_stop(struct pgw_server_link *l);

#endif
