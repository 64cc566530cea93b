/*
 * A server: one PostgreSQL connection of pgward's, apart from the client that uses it.
 * It owns the socket and its connect, the relay's place in the server's stream, what the
 * server still owes (the tracker), its transaction status and its cancel key.
 */
#ifndef PGWARD_SERVER_H
#define PGWARD_SERVER_H

#include "pgward/common.h"
#include "pgward/conn.h"
#include "pgward/pool_db.h"
#include "pgward/prepared.h"
#include "pgward/server_auth.h"
#include "pgward/server_link.h"
#include "pgward/tracker.h"

struct pgw_pool;

enum pgw_server_state {
	PGW_SRV_NEW = 0,   /* connecting and logging in, for the client that asked for it */
	PGW_SRV_ACTIVE,	   /* a client's */
	PGW_SRV_RESETTING, /* its client left: server_reset_query runs */
	PGW_SRV_IDLE,	   /* in its pool, waiting for a client */
};

/* A setting the server reported (ParameterStatus): what a client it is handed to sees. */
struct pgw_server_param {
	char *name;
	char *value;
};

struct pgw_server {
	uint64_t id; /* for logs */
	enum pgw_server_state state;
	struct pgw_pool *pool;		/* NULL: not pooled, closed when its client leaves */
	struct pgw_server *prev, *next; /* in its pool's idle or resetting list */
	struct pgw_server *pool_prev, *pool_next; /* every server of its pool */
	unsigned generation; /* of the configuration it was opened under (pool.c) */
	uint64_t checkout;   /* the last number a signed tenant context was bound to */
	double connected_at;
	double idle_since;
	struct pgw_server_param *params;
	size_t nparams;
	uint64_t params_hash; /* of params, in any order: equal hashes, the same settings */
	unsigned resets;      /* RESETTING: ReadyForQuery still to come for pgward's reset */
	double reset_since;   /* ...since when */
	struct pgw_conn conn;
	struct pgw_server_link link;
	bool gone;	   /* the server closed its side or failed */
	bool logged_in;	   /* it said AuthenticationOk */
	bool terminated;   /* it was sent a client's Terminate: never reused */
	uint32_t pid;	   /* BackendKeyData */
	uint32_t secret;   /* ...what a CancelRequest for it must carry */
	bool unnamed_stmt; /* a client's Parse made the unnamed statement (handover.c) */
	/* pool_mode = transaction: the statements of pgward's it holds (renamed.c) */
	struct pgw_held_stmts held;
	bool held_doubt; /* ...may lose them before its next ReadyForQuery: forgotten then */
	bool pinned;	 /* its client (pool_mode = transaction) keeps it until it leaves (pin.c) */
	bool unresettable; /* holds what no DISCARD ALL clears (LOAD, a dblink connection): closed
			      when its client leaves, never reused */
	uint32_t left;	   /* bytes of a server message still to stream through */
	bool discarding;   /* ...to be dropped, not relayed */
	char tx_status;	   /* from the last ReadyForQuery: 'I', 'T' or 'E' */
	struct pgw_tracker tracker; /* what the server still owes, and what to do with it */
	/* NEW, opened by its pool with no client (min_pool_size): the pool's login exchange */
	struct pgw_server_auth *warm_login;
	/* NEW, a client's: a copy of what it logged in with, for its pool once the login is
	 * complete (min_pool_size) */
	struct pgw_login_creds *login_creds;
	/* its part in its database's counters (SHOW STATS, pool_db.h) */
	struct pgw_server_stats stats;
	/* What a client left in it for the next client of pool_mode = transaction to find
	 * (tenant_hook.c); NULL once a reset cleared it, empty when unknown. The startup
	 * settings of the client
	 * whose welcome key (welcome.h) this is, over its login's: */
	char *settings_of;
	size_t settings_of_len;
	/* ...and the tenant context set by pgward, as pgw_tenant_context_key() gives it */
	char *context_of;
	size_t context_of_len;
};

/* A server not yet connected (its conn is initialised by pgw_server_link_start); NULL
 * when out of memory. */
struct pgw_server *pgw_server_new(uint64_t id);
/* Starts connecting <srv> to server_host as server_tls_sslmode says (server_link.h);
 * -1 with <srv>'s conn.err set if it fails at once. */
int pgw_server_connect(struct pgw_server *srv, pgw_link_done_fn done, void *arg) PGW_MUSTCHECK;
/* Closes the socket (a no-op if closed) and stops the connect; the memory stays. */
void pgw_server_close(struct pgw_server *srv);
/* Releases everything. NULL is fine. */
void pgw_server_free(struct pgw_server *srv);
/* True while the server owes answers to what was sent. */
bool pgw_server_busy(const struct pgw_server *srv);
/* The number the next client's signed tenant context binds: the time in microseconds, and
 * always above the last one, so it grows on this backend whatever reuses its pid. */
uint64_t pgw_server_next_checkout(struct pgw_server *srv);
/*
 * The StartupMessage of a pooled server: <user>, <database>, and <application_name> (NULL:
 * none) as its only setting. It serves clients with other settings: each client's are applied
 * to it and undone by the reset. application_name survives the reset (DISCARD ALL restores
 * the login's value), so the next client of the same application needs nothing applied: it
 * is the one setting most clients send, and always the same.
 */
void pgw_server_write_startup(struct evbuffer *out, const char *user, const char *database,
			      const char *application_name);
/* Records <len> bytes of <key> in *<field> (NULL: nothing); -1 out of memory, with nothing
 * recorded. */
int pgw_server_remember(char **field, size_t *field_len, const char *key, size_t len);
/* Whether *<field> holds the <len> bytes of <key>. */
bool pgw_server_holds(const char *field, size_t field_len, const char *key, size_t len);
/* Forgets what a client left in it, its prepared statements too: a reset cleared it. */
void pgw_server_forget_session(struct pgw_server *srv);
/* What it holds is no client's for sure (a DISCARD ALL that may have failed): the next
 * client's settings and context are written after a reset of its own, and its prepared
 * statements are prepared again. */
void pgw_server_session_unknown(struct pgw_server *srv);
/* What the server last reported for <name> (ParameterStatus), or NULL. */
const char *pgw_server_param(const struct pgw_server *srv, const char *name);
/* ParameterStatus <name> = <value>: remembered for the next client. 0, or -1 out of memory. */
int pgw_server_param_set(struct pgw_server *srv, const char *name, const char *value);

#endif
