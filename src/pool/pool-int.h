/*
 * Inside the pools: pool.c (checkout, release, reset, queueing, timeouts) and pool_min.c
 * (the servers a pool opens on its own for min_pool_size).
 */
#ifndef PGWARD_POOL_INT_H
#define PGWARD_POOL_INT_H

#include "pgward/pool.h"
#include "pgward/server_auth.h"
#include "pgward/startup_view.h"

#include <uthash.h>

struct pgw_pool {
	char key[2 * (PGW_NAME_MAX + 1)]; /* database, NUL, user */
	size_t keylen;
	const char *database, *user; /* in key */
	unsigned nservers;	     /* every state, NEW included */
	unsigned count[PGW_SRV_IDLE + 1];
	struct pgw_server *idle;      /* most recently used first */
	struct pgw_server *resetting; /* their clients left: server_reset_query runs */
	struct pgw_server *warming;   /* NEW, opened by the pool itself (pool_min.c) */
	struct pgw_server *all;	      /* every server counted in the pool */
	struct pgw_pool_wait *waiters;
	double retry_after; /* a server could not be reached: no new one before this */
	/* min_pool_size: what the pool logs its own servers in with, from its last client */
	struct pgw_login_creds *creds;
	char *application_name; /* ...and that client's application_name, or NULL */
	UT_hash_handle hh;
};

/* The pool of (<database>, <user>), created if <create>; NULL if none or out of memory. */
struct pgw_pool *pgw_pool_of(const char *database, const char *user, bool create);
/* Whether <p> may open one more server now: its size (and its reserve, once a client has
 * waited reserve_pool_timeout), the database's and the user's limits, server_login_retry. */
bool pgw_pool_room_for_new(const struct pgw_pool *p, double now);
/* Whether <p> may open one more server now, closing an idle server of a sibling pool if only
 * max_db_connections or max_user_connections stands in the way. */
bool pgw_pool_make_room(struct pgw_pool *p, double now);
/* A NEW server, counted in <p> from now on; NULL out of memory. */
struct pgw_server *pgw_pool_open_new(struct pgw_pool *p, uint64_t id);
/* <srv> is logged in or reset, and fit: the first waiting client gets it, or it waits idle. */
void pgw_pool_make_idle(struct pgw_server *srv);
/* Closes <srv>, and its place goes to a waiting client. */
void pgw_pool_drop(struct pgw_server *srv);
/* Reads what a server sends while no client holds it (its conn's callback). */
void pgw_pool_server_cb(struct pgw_conn *c, enum pgw_conn_event ev, void *arg);

/* ---- pool_min.c ---- */

/* min_pool_size, at most default_pool_size. */
unsigned pgw_pool_min_size(void);
/* Opens servers on their own while <p> has fewer than min_pool_size. */
void pgw_pool_keep_min(struct pgw_pool *p, double now);
/* Warming servers whose login did not finish in server_connect_timeout are closed. */
void pgw_pool_warming_tick(struct pgw_pool *p, double now);
/* Forgets <p>'s credentials (and zeroes them). */
void pgw_pool_forget_creds(struct pgw_pool *p);
/* The login of <srv> is complete: its pool keeps the credentials noted at its
 * AuthenticationOk if it has none. */
void pgw_pool_adopt_login(struct pgw_server *srv);
/* Whether a client of another pool of <p>'s database or user waits while a limit shared
 * with <p> (max_db_connections, max_user_connections) is reached, and only that limit. */
bool pgw_pool_sibling_waits(const struct pgw_pool *p);

#endif
