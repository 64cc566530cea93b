/*
 * auth_query: a role's secret read from PostgreSQL on pgward's own connection (as auth_user,
 * to auth_dbname or the client's database), the role name a bound parameter. Answers are
 * cached for auth_cache_ttl; a login that fails with a cached secret forgets it. Never
 * blocks: a lookup that takes longer than auth_query_timeout answers PGW_AQ_ERROR.
 */
#ifndef PGWARD_AUTH_QUERY_H
#define PGWARD_AUTH_QUERY_H

#include "pgward/common.h"

#include <event2/event_struct.h>

enum pgw_aq_status {
	PGW_AQ_FOUND = 0, /* the secret ("" when the role has no password) */
	PGW_AQ_NOT_FOUND, /* no such role (or it may not log in) */
	PGW_AQ_ERROR,	  /* the query could not be run: <why> */
	PGW_AQ_PENDING,	  /* the callback will tell */
};

/* <secret> and <why> are borrowed for the call. */
typedef void (*pgw_aq_done_fn)(void *arg, enum pgw_aq_status st, const char *secret,
			       const char *why);

/* A waiting lookup; lives in its caller (a session), which must cancel it before freeing. */
struct pgw_aq_wait {
	struct pgw_aq_wait *next; /* in its connection's queue */
	struct aq_conn *conn;
	char user[64];
	pgw_aq_done_fn done;
	void *arg;
	struct event timer;
	bool active;
};

/*
 * Looks <user> up in <dbname>. From the cache: FOUND with a copy in <*secret> (the caller
 * frees it, zeroed) or NOT_FOUND; ERROR with <why> when no connection can be had; else
 * PENDING, and <done> is called exactly once: usually later from the event loop, but before
 * this returns if the connection fails at once (so the caller must be ready for it first).
 */
enum pgw_aq_status pgw_auth_query_lookup(struct pgw_aq_wait *w, const char *user,
					 const char *dbname, pgw_aq_done_fn done, void *arg,
					 char **secret, char *why, size_t whylen);
void pgw_auth_query_cancel(struct pgw_aq_wait *w);
/* A login with <user>'s cached secret failed: ask the server again next time. */
void pgw_auth_query_forget(const char *user, const char *dbname);
/* Every tick: drops expired answers. */
void pgw_auth_query_tick(double now);
/* Reload: cached answers and connections go (the query or auth_user may have changed). */
void pgw_auth_query_reset(void);
void pgw_auth_query_shutdown(void);

#endif
