/*
 * Per-tenant metrics: latency histograms, counters and per-statement stats, updated by
 * the relay as requests complete and rendered for Prometheus by src/http/. The hooks run
 * on the hot path: they never allocate per query, take no locks and format no strings;
 * everything costly (fingerprints, text) happens once per distinct statement shape or at
 * scrape time. With [metrics] listen_port = 0 every hook returns at once.
 */
#ifndef PGWARD_METRICS_H
#define PGWARD_METRICS_H

#include "pgward/common.h"

#include <stdio.h>

/* The `kind` label of a query. */
enum pgw_mkind {
	PGW_MK_SELECT = 0, /* SELECT, WITH, VALUES, TABLE, SHOW, EXPLAIN, FETCH */
	PGW_MK_INSERT,
	PGW_MK_UPDATE,
	PGW_MK_DELETE,
	PGW_MK_DDL, /* CREATE, ALTER, DROP, TRUNCATE, COMMENT, GRANT, REVOKE, ... */
	PGW_MK_UTILITY,
	PGW_MK_COPY,
	PGW_MK_OTHER,
	PGW_MK__COUNT
};

/* The `outcome` label. */
enum pgw_moutcome {
	PGW_MO_OK = 0,
	PGW_MO_ERROR,	/* the server sent an ErrorResponse */
	PGW_MO_REFUSED, /* pgward refused (a policy) */
	PGW_MO__COUNT
};

struct pgw_mtenant;

/* One request (a Query, a FunctionCall, or the extended-protocol messages up to Sync). */
struct pgw_mreq {
	uint64_t start_ns;
	uint64_t fp; /* statement fingerprint; 0: none known */
	uint64_t rows;
	uint8_t kind;
	uint8_t outcome;
};

/* A session's metrics state; zeroed with the session. */
struct pgw_msess {
	struct pgw_mtenant *tenant; /* NULL: not counted (metrics off, or not logged in) */
	struct pgw_mreq open;	    /* extended-protocol messages sent since the last Sync */
	bool open_started;
	struct pgw_mreq *ring; /* sent, waiting for ReadyForQuery; grows with pipelining */
	uint32_t cap, head, count;
	char tx_status;	      /* from the last ReadyForQuery */
	uint64_t tx_start_ns; /* when the open transaction block began */
	uint64_t connect_start_ns;
	uint64_t pool_wait_ns; /* the last wait for a pool's server, not yet counted */
	bool pool_wait_pending;
};

/* ---- process-wide ---- */

/* Called once at start (after the configuration is loaded). */
void pgw_metrics_init(void);
/* Periodic housekeeping: expires idle tenants. */
void pgw_metrics_tick(void);
/* At exit: frees everything. */
void pgw_metrics_shutdown(void);
/* True when [metrics] is on. */
bool pgw_metrics_enabled(void);

/* ---- session hooks ---- */

/*
 * The session logged in as <tenant> (its identity, organization id or login role). Starts
 * counting the session under that tenant, or under "_other" when max_tenants are tracked
 * already. Call it only once the server has accepted the login (AuthenticationOk): a
 * client that never authenticates must not take a tenant entry, or a flood of made-up
 * user names would fill max_tenants. <tenant> may hold any bytes: it is counted under its
 * clean form (invalid UTF-8 replaced by U+FFFD, cut between characters to 127 bytes), so
 * names equal in that form share one tenant.
 */
void pgw_metrics_login(struct pgw_msess *m, const char *tenant);
/* The session's tenant label changes (its organization became known): later requests
 * count under <tenant> (cleaned as above). A no-op before pgw_metrics_login. */
void pgw_metrics_relabel(struct pgw_msess *m, const char *tenant);
/* The session ended: releases its tenant and memory. Safe on a session never logged in. */
void pgw_metrics_session_end(struct pgw_msess *m);

/* A client message that pgward read whole (Query, Parse, Bind, FunctionCall). A Parse's
 * fingerprint and kind go to <tag>, to be kept with the statement; a Bind's come from the
 * tag of its statement in <stmts> (policy.h). */
struct pgw_stmt_map;
struct pgw_stmt_tag;
void pgw_metrics_client_msg(struct pgw_msess *m, char type, const uint8_t *body, size_t len,
			    bool refused, const struct pgw_stmt_map *stmts,
			    struct pgw_stmt_tag *tag);
/* A client message the server will answer was sent on (Q F S P B C D E). */
void pgw_metrics_sent(struct pgw_msess *m, char type);
/* A client message of <type> was refused under <rule> (its stand-in was sent). */
void pgw_metrics_refused(struct pgw_msess *m, char type, const char *rule);
/* The server sent an ErrorResponse the client will see. */
void pgw_metrics_server_error(struct pgw_msess *m);
/* The server sent CommandComplete with tag <tag> (<len> bytes, not NUL-terminated). */
void pgw_metrics_command_complete(struct pgw_msess *m, const char *tag, size_t len);
/* Whether pgw_metrics_command_complete is wanted (statement stats are on). */
bool pgw_metrics_wants_rows(const struct pgw_msess *m);
/* ReadyForQuery with transaction status <status> reached the client. Inline: once per
 * query, and an uncounted session only notes the status. */
void pgw_metrics_ready_counted(struct pgw_msess *m, char status);
static inline void pgw_metrics_ready(struct pgw_msess *m, char status)
{
	if (m->tenant == NULL && !m->pool_wait_pending)
		m->tx_status = status;
	else
		pgw_metrics_ready_counted(m, status);
}
/* <n> bytes passed from the client (<from_client>) or from the server. */
void pgw_metrics_bytes(struct pgw_msess *m, bool from_client, size_t n);
/* Opening the server connection starts / finished (<ok>). */
void pgw_metrics_connect_start(struct pgw_msess *m);
void pgw_metrics_connect_done(struct pgw_msess *m, bool ok);
/*
 * The session asked its pool for a server and got one after <seconds> (0: one was free at
 * once; every checkout is reported, so the histogram's count is the clients served and its
 * sum their total wait, PgBouncer's total_wait_time). Counted in pgward_pool_wait_seconds
 * at the session's next ReadyForQuery, under the tenant its queries count under: the login
 * that follows a checkout has not labelled the session yet, and with tenant_label =
 * organization the label is known only once the context is resolved. A session that never
 * reaches ReadyForQuery is not counted, nor is a client that left or hit
 * query_wait_timeout while waiting (there is no server to report).
 */
void pgw_metrics_pool_wait(struct pgw_msess *m, double seconds);

/* ---- for other modules ---- */

/* A job insert waited <seconds> for its lock on <table> (cleaned as tenants are). */
void pgw_metrics_job_lock_wait(const char *table, double seconds);

/* ---- exposition (src/http/) ---- */

/* A growable text buffer; oom is set (and further appends dropped) if memory runs out. */
struct pgw_mbuf {
	char *p;
	size_t len, cap;
	bool oom;
};
void pgw_mbuf_free(struct pgw_mbuf *b);
/* Room for <n> more bytes; false (and b->oom) when memory runs out. */
bool pgw_mbuf_reserve(struct pgw_mbuf *b, size_t n);

/* Appends every metric in the Prometheus text format 0.0.4. */
void pgw_metrics_render(struct pgw_mbuf *out);
/* The top-K statements by total time as a JSON array; NULL if memory runs out. Caller frees. */
char *pgw_metrics_statements_json(void);

#endif
