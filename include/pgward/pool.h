/*
 * Pools of servers per (database, user), PgBouncer's session pooling: a client takes a
 * server for as long as it stays, and gives it back when it leaves; after
 * server_reset_query the next client of the same database and user gets it. A pool never
 * opens more than default_pool_size servers; clients beyond that wait, first come first
 * served. Knows nothing of sessions: a waiting client is a callback.
 */
#ifndef PGWARD_POOL_H
#define PGWARD_POOL_H

#include "pgward/common.h"
#include "pgward/server.h"
#include "pgward/server_auth.h"

/*
 * A client waiting for a server. <ready> is called once, from the event loop: with a
 * server that is now the client's (IDLE: logged in and reset; NEW: to be connected), or
 * with NULL when query_wait_timeout passed.
 */
typedef void (*pgw_pool_ready_fn)(void *arg, struct pgw_server *srv);
/* Whether idle <srv> holds what the client would otherwise have to write (NULL: any will
 * do). */
typedef bool (*pgw_pool_fits_fn)(const struct pgw_server *srv, void *arg);
struct pgw_pool_wait {
	pgw_pool_ready_fn ready;
	pgw_pool_fits_fn fits;
	void *arg;
	struct pgw_pool *pool; /* NULL: not waiting */
	double since;
	struct pgw_pool_wait *prev, *next;
};

/*
 * A server for <user> on <database>: an idle one of the pool (state IDLE: the most recently
 * used, or one of the few used before it that <w>'s fits() prefers), or a NEW one
 * counted in the pool, for the caller to connect and log in. NULL when the pool is full
 * (the caller waits: <w> is queued) or out of memory (<w> not queued).
 */
struct pgw_server *pgw_pool_checkout(const char *database, const char *user, uint64_t id,
				     struct pgw_pool_wait *w);
/* The waiting client went away. */
void pgw_pool_unwait(struct pgw_pool_wait *w);
/*
 * The client of pooled <srv> left. <reusable>: nothing is in flight and no transaction is
 * open, so after server_reset_query the server can serve another client; otherwise it is
 * closed. Either way the pool owns it from here.
 */
void pgw_pool_release(struct pgw_server *srv, bool reusable);
/*
 * pool_mode = transaction: the client of <srv> ended a transaction with nothing in flight.
 * The server is idle at once, with no reset: the next client of its pool gets it as it is,
 * and brings it to its own state (tenant_hook.c). The pool owns it from here.
 */
void pgw_pool_checkin(struct pgw_server *srv);
/*
 * The server of NEW <srv> accepted the credentials <c> (its AuthenticationOk): with
 * min_pool_size, a pool that has none keeps a copy to open servers of its own, once the
 * login is complete (pgw_pool_logged_in; pool_min.c). A login refused after its
 * AuthenticationOk (no such database, no CONNECT privilege, too many connections) leaves
 * nothing.
 */
void pgw_pool_login_accepted(struct pgw_server *srv, const struct pgw_login_creds *c);
/* The NEW server finished its login: it is its client's now (ACTIVE). */
void pgw_pool_logged_in(struct pgw_server *srv);
/* The server of NEW <srv> could not be reached or would not take a login now: its pool
 * opens no new server for server_login_retry; its clients wait (query_wait_timeout). */
void pgw_pool_unreachable(struct pgw_server *srv);

/* Every tick: idle servers past server_idle_timeout or server_lifetime close, clients past
 * query_wait_timeout are told. */
void pgw_pool_tick(double now);
/* Closes every idle server. */
void pgw_pool_close_idle(void);
/* The configuration was reloaded (the server's address, TLS or credentials may differ):
 * idle servers close now, busy ones when their clients leave. */
void pgw_pool_reconfigured(void);
/* At exit. */
void pgw_pool_free_all(void);

/* One row of SHOW POOLS. */
struct pgw_pool_view {
	const char *database, *user;
	unsigned active, idle, resetting, connecting, waiting;
	unsigned unchecked; /* of the idle ones, those server_check_query must run on first */
	unsigned pinned;    /* of the active ones, those a client keeps past its transactions */
	double max_wait;    /* seconds the oldest waiting client has waited */
};
typedef void (*pgw_pool_view_fn)(const struct pgw_pool_view *v, void *arg);
void pgw_pool_foreach(pgw_pool_view_fn fn, void *arg);

/* Whether pooled <srv> will be closed rather than reused: past server_lifetime, opened
 * before the last reload, or pooling turned off. */
bool pgw_pool_server_stale(const struct pgw_server *srv, double now);
/* Every server counted in a pool, with its pool's database and user (SHOW SERVERS). */
typedef void (*pgw_pool_server_fn)(const char *database, const char *user,
				   const struct pgw_server *srv, void *arg);
void pgw_pool_foreach_server(pgw_pool_server_fn fn, void *arg);

/* ---- the admin console's PAUSE, KILL, RECONNECT and WAIT_CLOSE (pool.c, last section) ---- */

enum pgw_pool_close {
	PGW_POOL_CLOSE_IDLE,	 /* idle servers now (PAUSE: a held pool closes the rest as
				    their clients leave) */
	PGW_POOL_CLOSE_RELEASED, /* idle ones now, every other once its client leaves
				    (RECONNECT: close_needed) */
	PGW_POOL_CLOSE_ALL,	 /* ...and those being reset now (KILL, which closes the clients) */
};
/* Closes the servers of <database>'s pools (NULL: of every pool) as <how> says. */
void pgw_pool_close(const char *database, enum pgw_pool_close how);
/* Servers counted in the pools of <database> (NULL: all); <to_close>: only those that will be
 * closed rather than reused (SHOW SERVERS' close_needed). */
unsigned pgw_pool_count_servers(const char *database, bool to_close);
/* A hold was lifted (RESUME): waiting clients get servers. */
void pgw_pool_serve_waiters(void);

#endif
