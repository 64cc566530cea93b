/*
 * The admin console: a virtual database (by default "pgward") where roles listed in
 * [admin] users run SHOW SESSIONS, SHOW TENANTS, SHOW RULES, SHOW COUNTERS, SHOW CONFIG,
 * PgBouncer's own SHOW POOLS, CLIENTS, SERVERS, DATABASES, USERS, LISTS, STATS, TOTALS,
 * STATE and VERSION, its PAUSE, RESUME, RECONNECT, KILL and WAIT_CLOSE, and RELOAD,
 * answered by pgward itself as ordinary rows, in the style of PgBouncer's console.
 * The login is still checked by PostgreSQL (against [admin] auth_database); once it
 * succeeds pgward drops that server connection and answers on its own.
 */
#ifndef PGWARD_ADMIN_H
#define PGWARD_ADMIN_H

#include "pgward/common.h"
#include "pgward/config.h"
#include "pgward/startup_view.h"

#include <sys/socket.h>

struct evbuffer;
struct pgw_server;

/* True when <database> names the console (and the console is enabled). */
bool pgw_admin_is_console(const struct pgw_config *cfg, const char *database);
/* True when <user> is listed in [admin] users. */
bool pgw_admin_user_allowed(const struct pgw_config *cfg, const char *user);

/*
 * Runs one Query's text for console session <sid> and appends the answer to <out>:
 * RowDescription, DataRows and CommandComplete, or one ErrorResponse (never ReadyForQuery;
 * the caller sends it). False when the command waits (PAUSE, WAIT_CLOSE): the session then
 * reads nothing more until its answer and ReadyForQuery come (pgw_session_admin_answer).
 */
bool pgw_admin_query(uint64_t sid, const char *sql, size_t len, struct evbuffer *out);

/* ---- what the console shows, supplied by the session layer ---- */

struct pgw_session_view {
	uint64_t id;
	const char *user;
	const char *database;
	const char *tenant; /* the metrics/RLS identity; the login role when none; NULL until
			       the server accepted the login */
	const char *peer;
	const char *state; /* "startup", "auth", "active", "idle", "idle in transaction", ... */
	bool tls;
	bool admin;
	uint32_t server_pid;
	double connected_at; /* pgw_now() clock */
	double last_activity;
	uint64_t refused;      /* messages refused by a policy */
	const char *pinned_by; /* pool_mode = transaction: what pinned it to its server, or NULL */
	/* what PgBouncer's SHOW CLIENTS / SERVERS / POOLS need (show_pools.c) */
	bool logged_in;	   /* AuthenticationOk: the server's, or a pool's server taken */
	bool waiting;	   /* queued for a server of its pool */
	double wait_since; /* ...since then, pgw_now() clock */
	const struct pgw_server *server; /* the server the client holds; NULL if none */
	enum pgw_replication replication;
	const char *application_name; /* "" when not set */
	const struct sockaddr_storage *peer_addr;
	struct sockaddr_storage local_addr; /* where the client connected; AF_UNSPEC if unknown */
	const char *tls_version;	    /* the client's TLS; NULL on a plain connection */
	const char *tls_cipher;
};

typedef void (*pgw_session_view_fn)(const struct pgw_session_view *v, void *arg);
/* Calls <fn> for every live session (session.c). */
void pgw_session_foreach(pgw_session_view_fn fn, void *arg);

/* ---- what the console does to sessions, supplied by the session layer (admin_control.c) ---- */

/* Closes every client of <database> (NULL: of every database) that holds a server or waits
 * for one, with FATAL <sqlstate> <message>; console sessions stay. Returns how many. */
unsigned pgw_session_kill(const char *database, const char *sqlstate, const char *message);
/* Console session <sid> waited for its answer: <answer> (moved out) and ReadyForQuery go
 * to it, and it reads again. False if that session is gone. */
bool pgw_session_admin_answer(uint64_t sid, struct evbuffer *answer);
/* Whether console session <sid> is still open. */
bool pgw_session_admin_alive(uint64_t sid);

#endif
