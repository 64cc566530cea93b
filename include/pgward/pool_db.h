/*
 * What pgward knows of each database it has served since it started: PgBouncer's counters
 * (SHOW STATS: transactions, queries, bytes, times) and whether an administrator holds its
 * new clients back (PAUSE, KILL until RESUME). A database is known from the first login to it
 * that the server accepted, so a client cannot fill the table with names that do not exist.
 * Counting costs the relay nothing per message: a server points at its database's counters
 * (found once, when its login succeeds) and adds to them per read and per ReadyForQuery.
 */
#ifndef PGWARD_POOL_DB_H
#define PGWARD_POOL_DB_H

#include "pgward/common.h"

/* PgBouncer's PgStats: counts, bytes, and times in microseconds. */
struct pgw_db_counters {
	uint64_t server_assignment_count; /* a client got a server */
	uint64_t xact_count, query_count;
	uint64_t received, sent; /* bytes from clients, to clients */
	uint64_t xact_time, query_time, wait_time;
};

/* A server's part in its database's counters, for the client that holds it. */
struct pgw_server_stats {
	struct pgw_db_counters *db; /* NULL until the server's login succeeded */
	double since;		    /* its client began to wait for it */
	double last_ready;	    /* the last ReadyForQuery, or when the client got the server */
	double xact_start;
	char status; /* of that ReadyForQuery; 0 or 'I': no transaction open */
};

/* ---- counting (pool.c and the relay) ---- */

/* Seconds as whole microseconds. Through int64_t: one instruction, where a double's
 * conversion to uint64_t branches (it runs for every query); a duration never comes near
 * 2^63 µs. */
static inline uint64_t pgw_usec(double seconds)
{
	return seconds > 0 ? (uint64_t)(int64_t)(seconds * 1e6) : 0;
}
/* <st>'s database's counters, found or created by name; NULL out of memory. */
struct pgw_db_counters *pgw_pool_db_attach(struct pgw_server_stats *st, const char *database);

/*
 * The pool hands a server to a client that has waited since <since>: the assignment and
 * the wait count now if the server is logged in (<logged_in>), else once its login
 * succeeds (pgw_pool_db_logged_in).
 */
void pgw_pool_db_handed(struct pgw_server_stats *st, bool logged_in, const char *database,
			double since);
/* The server's login succeeded; <database> is its pool's (NULL: not pooled, not counted). */
void pgw_pool_db_logged_in(struct pgw_server_stats *st, const char *database);
/*
 * The server's ReadyForQuery with <status> went to its client, whose last message arrived
 * at <client_at>: one query, and one transaction when <status> is 'I'. A query's time runs
 * from that message, or from the previous ReadyForQuery if the client sent it earlier
 * (pipelined), so time spent waiting for the client is never counted.
 */
static inline void pgw_pool_db_ready(struct pgw_server_stats *st, const char *database, char status,
				     double client_at, double now)
{
	struct pgw_db_counters *c = st->db;
	double start = client_at > st->last_ready ? client_at : st->last_ready;

	/* a server of the client's own: its database is known from here */
	if (c == NULL && (c = pgw_pool_db_attach(st, database)) == NULL)
		return;
	if (st->status != 'T' && st->status != 'E')
		st->xact_start = start; /* this query opened the transaction, or was one */
	c->query_count++;
	c->query_time += pgw_usec(now - start);
	if (status == 'I') {
		c->xact_count++;
		c->xact_time += pgw_usec(now - st->xact_start);
	}
	st->status = status;
	st->last_ready = now;
}

/* <n> bytes went to the client of the server, or came from it. */
static inline void pgw_pool_db_sent(struct pgw_server_stats *st, size_t n)
{
	if (st->db != NULL)
		st->db->sent += n;
}

static inline void pgw_pool_db_received(struct pgw_server_stats *st, size_t n)
{
	if (st->db != NULL)
		st->db->received += n;
}

/* ---- what the console reads ---- */

/* PgBouncer's stats_period: averages cover the last full period and the running one. */
#define PGW_STATS_PERIOD 60

struct pgw_db_view {
	const char *name; /* NULL for the sum of all databases (pgw_pool_db_sum) */
	struct pgw_db_counters total;
	/* PgBouncer's averages: counts and bytes per second; xact_time, query_time per
	 * transaction and query, wait_time per assignment */
	struct pgw_db_counters avg;
	bool paused; /* the database's own PAUSE or KILL, not a PAUSE of all */
};
typedef void (*pgw_db_view_fn)(const struct pgw_db_view *v, void *arg);
/* Every known database, by name. */
void pgw_pool_db_foreach(pgw_db_view_fn fn, void *arg);
/* All databases together (SHOW TOTALS). */
void pgw_pool_db_sum(struct pgw_db_view *v);
/* The end of a stats period at <now> (a timer calls it every PGW_STATS_PERIOD seconds). */
void pgw_pool_db_rotate(double now);

/* ---- holding clients back (the console's PAUSE, KILL, RESUME) ---- */

bool pgw_pool_db_known(const char *database);
/* Whether clients of <database> get no server now: it, or every database, is paused. */
bool pgw_pool_db_held(const char *database);
/* Pauses (or resumes) known <database>; NULL: every known database. -1: not known. */
int pgw_pool_db_pause(const char *database, bool paused);
bool pgw_pool_db_paused(const char *database);
/* The PAUSE of every database, present and future, apart from their own pauses. */
void pgw_pool_db_pause_all(bool paused);
bool pgw_pool_db_all_paused(void);

/* At exit. */
void pgw_pool_db_free_all(void);

#endif
