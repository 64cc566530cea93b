/*
 * What the session's files share: the session struct and the functions they call on
 * each other. Not for use outside src/session/.
 */
#ifndef PGWARD_SESSION_INT_H
#define PGWARD_SESSION_INT_H

#include "pgward/auth.h"
#include "pgward/auth_query.h"
#include "pgward/conn.h"
#include "pgward/metrics.h"
#include "pgward/policy.h"
#include "pgward/pool.h"
#include "pgward/proxy.h"
#include "pgward/server.h"
#include "pgward/server_auth.h"
#include "pgward/server_own.h"
#include "pgward/session.h"
#include "pgward/sql.h"
#include "pgward/startup.h"
#include "pgward/startup_view.h"
#include "pgward/tenant.h"
#include "pgward/text_form.h"
#include "pgward/tracker.h"

#include <event2/event_struct.h>
#include <uthash.h>

/*
 * How the server reads the session's text: what ParameterStatus last said, and the forms
 * the next message may be read in while a change pgward forwarded is not confirmed yet.
 */
struct pgw_text_state {
	struct pgw_text_form now; /* the server's word: client_encoding, server_encoding, scs */
	struct pgw_text_form
		login; /* at the end of login: what RESET ALL and DISCARD ALL restore */
	struct pgw_text_forms maybe; /* the next message may be read in any of these */
	struct pgw_text_forms tx;    /* held at some point of the open transaction (ROLLBACK) */
	bool prepared_changer;	     /* a Parse that may change the form passed: Binds may */
	bool portal_changer;	     /* ...and was bound in this transaction: Executes may */
	bool unsettled;		     /* maybe or tx holds more than now */
	bool login_fixed; /* login is the server's own: settings pgward applies leave it */
};

enum pgw_sess_state {
	PGW_SS_STARTUP = 0, /* waiting for SSLRequest, StartupMessage or CancelRequest */
	PGW_SS_TLS,	    /* client TLS handshake */
	PGW_SS_CLIENT_AUTH, /* pgward authenticating the client itself (client_auth.c) */
	PGW_SS_CONNECTING,  /* opening the server connection */
	PGW_SS_AUTH,	    /* logging in to the server until the first ReadyForQuery */
	PGW_SS_READY,	    /* relaying */
	PGW_SS_CLOSING,	    /* flushing the last bytes to the client */
	PGW_SS_DEAD,	    /* waiting for the sweep to free it */
	PGW_SS__COUNT
};

/* pool_mode = transaction: the client's session settings, as sets.c keeps them. */
struct pgw_sess_set {
	char *name;  /* lower-cased */
	char *value; /* NULL: RESET */
};
struct pgw_sess_sets {
	struct pgw_sess_set *v; /* kept, in the order they were last set */
	size_t n;
	struct pgw_sess_set *pending; /* of the Query in flight, kept if it commits */
	size_t npending;
	bool failed;	 /* ...an error came for it */
	bool unexecuted; /* ...a Parse whose batch has run no Execute yet */
	bool by_parse;	 /* ...noted at a Parse: the rest of its batch is watched */
	bool watch_skip; /* ...the noting Parse is not watched itself */
	uint8_t binds;	 /* ...Binds since */
	char *kind_key;	 /* the welcome key and the kept settings; NULL while there are none */
	size_t kind_keylen;
};

/* pool_mode = transaction: a Query whose PREPARE, EXECUTE or DEALLOCATE names go to the
 * server as pgward's (sql_prepared.c). */
#define PGW_SQL_RENAME_MAX 16
struct pgw_sess_sql_rename {
	char *text; /* the Query's text with pgward's names; NULL: nothing planned */
	size_t len;
	/* statements the server must hold before it (EXECUTE, DEALLOCATE), referenced */
	struct pgw_prepared *need[PGW_SQL_RENAME_MAX];
	size_t nneed;
	struct pgw_prepared *made; /* what its PREPARE makes, referenced; NULL: none */
	uint64_t gen;		   /* ...recorded in the client's map under this number */
	bool drops;		   /* it has a DEALLOCATE ALL */
	size_t ndummies;	   /* ...DEALLOCATEs of the client's statements */
	bool refuse;		   /* the Query is refused instead, as PostgreSQL would */
	bool lone_execute;	   /* its one statement is an EXECUTE */
	struct pgw_refusal refusal;
};

/* What one client's named statements may weigh in pgward (their texts and types). */
#define PGW_RENAMED_BYTES_MAX (16u << 20)

/* pool_mode = transaction: what a pinned client holds that it can take back (holds.c). */
struct pgw_sess_names {
	char **v;
	size_t n;
};
struct pgw_sess_holds {
	struct pgw_sess_names listens; /* channels */
	struct pgw_sess_names cursors; /* cursors WITH HOLD */
	bool temp, advisory;	       /* temporary relations, session advisory locks */
	bool other;		       /* pinned by what only DISCARD ALL takes back */
	/* the Query in flight that takes holds back: counted if it commits */
	const struct pgw_sql_info *pending;
	bool failed; /* ...an error came for it */
};

/*
 * pgward's own login, both legs (auth_type other than passthrough): the client's exchange
 * (client_auth.c), then pgward's with the server as that client (server_login.c). Lives for
 * the login only: zeroed and freed once the server has said AuthenticationOk (a client
 * welcomed without a server keeps what the server's login needs, about half a kilobyte,
 * until it has one: the exchanges' states are allocated only while they run).
 */
enum pgw_client_auth_step {
	PGW_CA_LOOKUP = 0, /* waiting for auth_query */
	PGW_CA_PASSWORD,   /* AuthenticationCleartextPassword sent */
	PGW_CA_MD5,	   /* AuthenticationMD5Password sent */
	PGW_CA_SASL_START, /* AuthenticationSASL sent */
	PGW_CA_SASL_FINISH,
	PGW_CA_DONE,
};
struct pgw_sess_auth {
	struct pgw_auth_plan plan;
	enum pgw_client_auth_step step;
	/* what pgward logs in to the server with; its secret is what the client is checked
	 * against */
	struct pgw_login_creds creds;
	bool secret_from_query; /* forgotten if the server refuses the login */
	uint8_t md5_salt[4];
	struct pgw_scram_server *scram; /* during the client's SCRAM exchange only */
	struct pgw_server_auth server;	/* pgward's login to the server */
	struct pgw_aq_wait wait;
};

struct pgw_session {
	uint64_t id;
	enum pgw_sess_state state;
	struct pgw_conn client;
	struct pgw_server *srv; /* NULL before the server connect and on the console */
	bool pooled;		/* srv comes from a pool and goes back to it (checkout.c) */
	/* pool_mode = transaction: srv goes back at the end of each transaction, and the next
	 * message fetches one again (checkout.c); what would not follow the client to another
	 * server pins it to the one it has (pin.c) */
	bool txn_pooled;
	bool renames;		   /* ...with its named statements renamed on servers (renamed.c) */
	struct pgw_sess_sets sets; /* ...and its SETs carried to every server it gets (sets.c) */
	/* ...it prepared a DISCARD ALL or DEALLOCATE: its Binds are looked at (pin.c) */
	bool stmts_discard;
	/* ...or one that leaves a hold (LISTEN, ...): its Binds pin again (pin.c) */
	bool stmts_hold;
	/* ...the classification of such a statement being bound: what it drops is dropped from
	 * the map once the Bind is sent (pgw_sess_forget_after_bind) */
	const struct pgw_sql_info *forget_after_bind;
	/* ...the body of a named Parse the job serializer rewrote, for renamed.c */
	uint8_t *renamed_body;
	size_t renamed_body_len;
	bool txn_released;		       /* ...it has given a server back at least once */
	char pinned_by[64];		       /* ...what pinned it, empty while it is not */
	struct pgw_sess_holds holds;	       /* ...and what of that it can take back (holds.c) */
	struct pgw_sess_sql_rename sql_rename; /* ...the Query being renamed (sql_prepared.c) */
	struct pgw_pool_wait pool_wait;	       /* queued for a server of the pool */
	bool settings_sent;		       /* the startup settings went to a pooled server */
	/* Told it is logged in from the welcome on record (welcome.h) before it had a server:
	 * it gets one at its first message, and its cancel key is pgward's (checkout.c). */
	bool welcomed;
	char *welcome_key; /* pooled: its database, user and settings (welcome.h) */
	size_t welcome_keylen;
	uint64_t welcome_version;     /* of the record it was told */
	uint64_t told_params_hash;    /* params_hash (server.h) of the settings it was told */
	struct pgw_startup startup;   /* the client's packet, as parsed */
	struct pgw_startup_view view; /* what every decision reads; the server gets it rebuilt */
	const char *user;	      /* the login role: view.user */
	bool authenticated;	      /* the server sent AuthenticationOk */
	bool client_tls;	      /* the client's TLS ends here */
	bool counted;		      /* counts against max_client_conn */
	bool own_auth;		      /* pgward authenticates the client (not passthrough) */
	struct pgw_sess_auth *auth;   /* during pgward's own login only */
	struct sockaddr_storage peer_addr;

	/* Cancel key given to the client: its server's pid, and a secret of pgward's own. */
	uint32_t cancel_pid;
	uint32_t client_secret;
	bool cancel_registered;
	bool cancel_forwarded;	/* a CancelRequest went to its server: not reused (checkout.c) */
	bool client_terminated; /* it sent Terminate: what it sent before runs, no cancel */
	UT_hash_handle hh;	/* cancel registry, keyed by cancel_pid */

	/* Relay: bytes of a client message still to stream through (the server's: srv). */
	uint32_t client_left;
	char discard_type; /* client_left bytes belong to a refused message of this type */
	struct pgw_refusal discard_refusal; /* its answer, once it is all gone */
	bool copy_refused;		    /* a CopyData was refused: drop the rest of that COPY */
	struct pgw_stmt_map stmts;	    /* prepared statements and their classifications */
	/* DDL lock_timeout injection (lock_timeout.c) */
	bool lt_client_owns;   /* the client wrote lock_timeout itself: leave it alone */
	bool lt_ddl;	       /* the message being relayed runs DDL */
	bool lt_restore_query; /* restore after this Query */
	bool lt_restore_sync;  /* set before a Bind: restore after the batch's Sync */
	double last_client_activity;
	double connected_at;
	uint64_t refused; /* messages a policy refused */
	bool admin;	  /* the admin console: pgward answers once the login succeeded */
	bool admin_active;
	bool admin_skip;	  /* an extended-protocol message was refused: skip to Sync */
	char *admin_database;	  /* the real database the console's login is checked against */
	double busy_since;	  /* when the tick first saw a request pending; 0 when idle */
	struct pgw_msess metrics; /* per-tenant latency and counters */
	struct pgw_tenant_sess tenant; /* tenant context (tenant_hook.c) */
	struct pgw_text_state text;    /* how the server reads the client's text (text_state.c) */

	struct event timer; /* login timeout, then the closing flush deadline */
	struct pgw_session *prev, *next;
	char peer[64];
};

/* session.c */
void pgw_sess_set_state(struct pgw_session *s, enum pgw_sess_state to);
void pgw_sess_fail(struct pgw_session *s, const char *sqlstate, const char *fmt, ...)
	PGW_PRINTF(3, 4);
void pgw_sess_end(struct pgw_session *s, const char *reason);
bool pgw_sess_busy(const struct pgw_session *s);
/* The session's timer fires in <seconds>: the login's timeout (a welcomed client's server
 * setup, checkout.c), then the closing flush's deadline. */
void pgw_sess_arm_timer(struct pgw_session *s, double seconds);
/* Counts <s> against max_client_conn; false if the limit is reached. */
bool pgw_sess_count_client(struct pgw_session *s);

/* handshake.c: the client's first packets, then the server link */
void pgw_sess_startup_cb(struct pgw_conn *c, enum pgw_conn_event ev, void *arg);
/* The server's AuthenticationOk: from here on the client is known, so its tenant context
 * is resolved, its metrics counted and its login logged. */
void pgw_sess_authenticated(struct pgw_session *s);
/* An ErrorResponse before the first ReadyForQuery: the login failed with <sqlstate>. */
void pgw_sess_login_failed(struct pgw_session *s, const char *sqlstate);

/* client_auth.c: pgward authenticates the client (auth_type other than passthrough), then
 * connects to the server. */
void pgw_sess_auth_begin(struct pgw_session *s);
/* Zeroes and frees what the login held. */
void pgw_sess_auth_free(struct pgw_session *s);
/* A server took the client's login: what it held goes, but a client of pool_mode =
 * transaction keeps its credentials for the servers of its later transactions. */
void pgw_sess_auth_login_done(struct pgw_session *s);
/* The client's SCRAM exchange is over: its state is zeroed and freed. */
void pgw_sess_auth_scram_done(struct pgw_sess_auth *a);
/* Counts a login of <s> with <outcome>; failures also count against its address. */
void pgw_sess_auth_count(struct pgw_session *s, enum pgw_login_outcome outcome);

/* The database auth_query runs in for <s>. */
const char *pgw_sess_auth_dbname(const struct pgw_session *s);

/* server_login.c: an Authentication request (not Ok) from the server while pgward logs in
 * as the client: answered here. False if the session was closed. */
bool pgw_sess_server_auth(struct pgw_session *s, const uint8_t *body, size_t len);

/* checkout.c: the session's server, once the client is authenticated (by pgward or, with
 * passthrough, about to be by the server): from its pool, or a server of its own. */
void pgw_sess_connect_server(struct pgw_session *s);
/* The client leaves: a pooled server goes back to its pool (reset) if it is at rest,
 * otherwise it is closed. */
void pgw_sess_release_server(struct pgw_session *s);
/* pool_mode = transaction: the client's transaction is over and nothing it sent is in
 * flight; its server goes back to the pool (true if it did). */
bool pgw_sess_txn_release(struct pgw_session *s);
/* The server accepted pgward's login with the client's credentials: a pool that keeps
 * min_pool_size servers may log its own in with them. */
void pgw_sess_server_accepted(struct pgw_session *s);
/* BackendKeyData to the client: its server's pid, a secret of pgward's own. */
void pgw_sess_give_key(struct pgw_session *s);
/* The server was set up for the client (its first ReadyForQuery, pgward's or the
 * server's): what the client was told is recorded for the next of its kind, and a
 * welcomed client learns what differs from what it was told. */
void pgw_sess_welcome_learn(struct pgw_session *s);
/* The client's login is complete without a server (tenant_hook.c, once its context is
 * resolved): ReadyForQuery, and its first message will fetch a server. */
void pgw_sess_welcome_done(struct pgw_session *s);
/* handshake.c: connects s->srv (NEW) and logs in to it. */
void pgw_sess_open_server(struct pgw_session *s);

/* relay.c, relay_client.c, relay_server.c; the directions return false if they closed
 * the session */
void pgw_sess_relay_start(struct pgw_session *s);
bool pgw_relay_client(struct pgw_session *s);
bool pgw_relay_server(struct pgw_session *s);
void pgw_relay_client_backpressure(struct pgw_session *s);
void pgw_relay_server_backpressure(struct pgw_session *s);
/* The login's ReadyForQuery went to the client: the session is READY. */
void pgw_sess_login_ready(struct pgw_session *s);
/* ReadyForQuery with <status> went to the client: a query of the client's ends, or the
 * login. Inline: once per query. */
static inline void pgw_sess_on_ready(struct pgw_session *s, char status)
{
	s->srv->tx_status = status;
	pgw_metrics_ready(&s->metrics, status);
	if (s->state == PGW_SS_READY)
		pgw_pool_db_ready(&s->srv->stats, s->view.database, status, s->last_client_activity,
				  pgw_now());
	else
		pgw_sess_login_ready(s);
}
void pgw_sess_client_cb(struct pgw_conn *c, enum pgw_conn_event ev, void *arg);
void pgw_sess_server_cb(struct pgw_conn *c, enum pgw_conn_event ev, void *arg);

/* text_state.c */
void pgw_sess_text_init(struct pgw_session *s);
/* ParameterStatus <name> = <value> from the server. */
void pgw_sess_text_param(struct pgw_session *s, const char *name, const char *value);
/* A ReadyForQuery with <status>: with nothing pending, the server's word is all there is.
 * Inline: once per query, and usually there is nothing to settle. */
void pgw_sess_text_settle(struct pgw_session *s, char status);
static inline void pgw_sess_text_ready(struct pgw_session *s, char status)
{
	if (s->text.unsettled || s->text.portal_changer)
		pgw_sess_text_settle(s, status);
}
/* Message <m> passed the pipeline and goes to the server; <info> is its classification
 * if it was inspected. Adds the forms it may leave the session in. */
void pgw_sess_text_sent(struct pgw_session *s, const struct pgw_msg_view *m,
			const struct pgw_sql_info *info);

/*
 * handover.c: before the client's first message on a server, the server is brought to the
 * client's state (its startup settings, its tenant context) with pgward's own statements.
 * 1 if any were written (a Sync is to follow, and the client waits for its ReadyForQuery),
 * 0 if the server holds that state already, -1 out of memory. *<context_written> says
 * whether the context was among them.
 */
int pgw_sess_bring_server(struct pgw_session *s, bool *context_written);
/* Whether <srv> holds the state of session <arg> already (pgw_pool_fits_fn). */
bool pgw_sess_server_fits(const struct pgw_server *srv, void *arg);

/* pin.c: message <m> passed the pipeline under pool_mode = transaction; if it leaves state
 * in the session that another server would not have, the client keeps its server (a
 * DISCARD ALL of a pinned client's that will run unpins it). */
void pgw_sess_pin_check(struct pgw_session *s, struct pgw_policy_ctx *ctx,
			const struct pgw_msg_view *m);
/* Pins the client to its server for <why> (logged). */
void pgw_sess_pin(struct pgw_session *s, const char *why);
/* The client has just been pinned (pinned_by says by what): the server stays with it. */
void pgw_sess_pinned(struct pgw_session *s);

/* holds.c: what a pinned client can take back (LISTEN, cursors WITH HOLD, temporary
 * relations, session advisory locks). A text with info->holds passed: what it leaves pins
 * now; what it takes back counts at its ReadyForQuery (pgw_sess_holds_settle). */
void pgw_sess_holds_note(struct pgw_session *s, const struct pgw_msg_view *m,
			 const struct pgw_sql_info *info);
/* The ReadyForQuery after such a text (holds.pending): unpins if nothing is held. */
void pgw_sess_holds_settle(struct pgw_session *s, char tx_status);
/* DISCARD ALL: nothing held. */
void pgw_sess_holds_clear(struct pgw_session *s);
void pgw_sess_holds_free(struct pgw_sess_holds *h);

/* refuse.c: replaces a refused message of <type> (Parse: named <stmt_name>) with one the
 * server rejects, and arranges for the client to get <r> instead of the server's error.
 * False if the session was closed. */
bool pgw_sess_refuse(struct pgw_session *s, char type, const char *stmt_name,
		     const struct pgw_refusal *r);

/* admin_link.c: the admin console session */
/* Startup for the console database: false (session closed) if <s>'s role may not use it. */
bool pgw_sess_admin_startup(struct pgw_session *s);
/* The console login succeeded: drop the server connection and answer locally. */
void pgw_sess_admin_begin(struct pgw_session *s);
/* relay_client.c: what a Query's DISCARD ALL or DEALLOCATE drops of the session's
 * prepared statements, dropped from its map. */
void pgw_sess_stmts_forget(struct pgw_session *s, const struct pgw_sql_info *info);
static inline void pgw_sess_forget_after_bind(struct pgw_session *s)
{
	if (s->forget_after_bind != NULL) {
		pgw_sess_stmts_forget(s, s->forget_after_bind);
		pgw_sql_info_unref(s->forget_after_bind);
		s->forget_after_bind = NULL;
	}
}

/* handover.c: what identifies the client's tenant context (identity, organizations) into
 * <out>; 0 without a context or when it does not fit. */
size_t pgw_sess_context_key(const struct pgw_session *s, char *out, size_t outsz);

/* sets.c: pool_mode = transaction, the client's session SETs on every server it gets. */
/* Whether a text sent now commits on its own, its fate known at its ReadyForQuery: nothing of
 * the client's in flight, outside a transaction block, no statement of it opening or ending
 * one. */
bool pgw_sess_commits_alone(const struct pgw_session *s, const struct pgw_sql_info *info);
/* A Query with PGW_SQL_SESSION_SET passed: true if its settings are noted (kept once it
 * commits), false if the client must be pinned instead. */
/* A client message of <type> went to the server behind a SET noted at its Parse: anything
 * but that statement's one Bind and Execute (or a Describe, a Flush) could end its
 * transaction or replace it unseen (a ROLLBACK, a Query, another Parse), and the SET is
 * then the client's no more for sure. */
void pgw_sess_sets_watch(struct pgw_session *s, char type);
bool pgw_sess_sets_note(struct pgw_session *s, const struct pgw_msg_view *m,
			const struct pgw_sql_info *info);
/* Whether a ParameterStatus for <name> is the noted Query's own doing. */
bool pgw_sess_sets_explain(const struct pgw_session *s, const char *name);
/* An error reached the client: the noted settings are not kept, nor what the Query took
 * back (holds.c). */
static inline void pgw_sess_sets_error(struct pgw_session *s)
{
	s->sets.failed = true;
	s->holds.failed = true;
}
/* The ReadyForQuery after the noted Query: kept if it committed. False out of memory. */
bool pgw_sess_sets_settle(struct pgw_session *s, char tx_status);
/* DISCARD ALL: none left. */
void pgw_sess_sets_clear(struct pgw_session *s);
void pgw_sess_sets_free(struct pgw_sess_sets *t);
/* What a server holding this client's kind records (server.h settings_of): the welcome
 * key, and the kept settings. */
const char *pgw_sess_kind_key(const struct pgw_session *s, size_t *len);

/* renamed.c: pool_mode = transaction, the client's named statements under pgward's names. */
struct pgw_msg_hdr;
enum pgw_rename {
	PGW_RENAME_FORWARD = 0, /* not renamed: forward the client's message as it is */
	PGW_RENAME_SENT,	/* what stands for it went to the server; it is drained */
	PGW_RENAME_FAILED,	/* out of memory: the caller ends the session */
	PGW_RENAME_CLOSED,	/* the session was closed */
};
/* The passed message at the head of the client's input, whole (Parse, Bind, Describe,
 * Close), once everything before it is in the server's output. */
enum pgw_rename pgw_sess_rename(struct pgw_session *s, const struct pgw_msg_hdr *h);
/* A Parse of statement <name> whose body after the name is the <len> bytes at <rest>
 * (recorded in the session's map already). False out of memory. */
bool pgw_sess_rename_parse(struct pgw_session *s, const char *name, const uint8_t *rest,
			   size_t len);
/* Whether <m> is a Parse to refuse with <r>: of a name the client has (42P05, as PostgreSQL
 * refuses it), or beyond what a client's statements may weigh (54000). */
bool pgw_sess_rename_refusal(struct pgw_session *s, const struct pgw_msg_view *m,
			     struct pgw_refusal *r);
static inline bool pgw_sess_renames(const struct pgw_session *s, char type)
{
	return s->renames &&
	       (type == 'P' || type == 'B' || type == 'D' || type == 'C' ||
		(type == 'Q' && (s->sql_rename.text != NULL || s->sql_rename.refuse)));
}
/* Before a Query of the client's that uses <p> (sql_prepared.c): prepared on the server
 * first where it lacks it, pgward's answers swallowed but an error. False out of memory. */
bool pgw_sess_prepare_before_query(struct pgw_session *s, struct pgw_prepared *p);
/* Before the client's PREPARE that makes <p> under pgward's name: room for it, its name
 * closed, and <p> recorded as held. False out of memory. */
bool pgw_sess_prepare_by_query(struct pgw_session *s, struct pgw_prepared *p);
/* The newest request's undo (tracker.h): statement <server_id> forgotten on the server,
 * the client's <client_gen> in its map, should the server not run it. */
void pgw_sess_rename_undo(struct pgw_session *s, uint64_t server_id, uint64_t client_gen);
/* Who shares a statement of pgward's (prepared.h): the clients of one database and user with
 * one tenant context (identity and organizations; one client alone when the context is too
 * long to key), into <out>; its length. */
#define PGW_SCOPE_MAX 1200
size_t pgw_sess_statement_scope(const struct pgw_session *s, char *out, size_t outsz);
/* What PostgreSQL tells a session of its statement <name>: 42P05 (it exists already) or
 * 26000 (it does not exist), into <r>. */
void pgw_sess_statement_refusal(struct pgw_refusal *r, const char *sqlstate, const char *name);
/* Whether <name> is one of pgward's names, which no client reaches. */
bool pgw_sess_reserved_name(const char *name);

/* sql_prepared.c: pool_mode = transaction, statements prepared in SQL follow the client. */
/* A Parse whose SQL (EXECUTE, DEALLOCATE, PREPARE) names one of pgward's statements, which
 * are other clients' as much as this one's: <ctx>'s refusal says so, as for a Query. */
bool pgw_sess_sql_names_refused(struct pgw_session *s, struct pgw_policy_ctx *ctx,
				const struct pgw_msg_view *m);
/* A Query that passed the pipeline, before its statements are tracked: the plan of its
 * renaming (s->sql_rename), if it names a statement; false if a PREPARE in it cannot
 * follow the client (it pins). */
bool pgw_sess_sql_rename_plan(struct pgw_session *s, struct pgw_policy_ctx *ctx,
			      const struct pgw_msg_view *m);
/* The planned Query at the head of the client's input, whole: sent renamed (or refused). */
enum pgw_rename pgw_sess_sql_rename_send(struct pgw_session *s, const struct pgw_msg_hdr *h);
void pgw_sess_sql_rename_clear(struct pgw_session *s);

/* inject.c: the job serializer's statements ahead of a job INSERT (jobs.h). */
enum pgw_inject {
	PGW_INJ_FORWARD = 0, /* forward the client's message (pgward's own may precede it) */
	PGW_INJ_REPLACED,    /* a substitute went to the server: drop the client's message */
	PGW_INJ_UNCOVERED,   /* internal: a job INSERT forwarded as is */
	PGW_INJ_FAILED,	     /* out of memory */
};
enum pgw_inject pgw_sess_jobs(struct pgw_session *s, struct pgw_policy_ctx *ctx,
			      const struct pgw_msg_view *m);
/* tenant_hook.c: the tenant context. begin: at the StartupMessage (false: refused).
 * wants: the relay hands this server message (whole) to server_msg instead. blocks_client:
 * client messages of <type> wait until the context is set. release: once READY, reads the
 * client again (false if the session closed). */
struct pgw_msg_hdr;
bool pgw_sess_tenant_begin(struct pgw_session *s);
void pgw_sess_tenant_authenticated(struct pgw_session *s);
/* Whether the server's message of <type> is the setup's (settings and tenant context before
 * the client's first message), not the client's. Inline: asked of every server message. */
static inline bool pgw_sess_tenant_wants(const struct pgw_session *s, char type)
{
	const struct pgw_tenant_sess *t = &s->tenant;

	if (s->state != PGW_SS_AUTH || (t->status == PGW_TENANT_OFF && !s->pooled))
		return false;
	return (type == 'Z' && !t->held) || (type == 'E' && (t->injected || s->settings_sent));
}
bool pgw_sess_tenant_server_msg(struct pgw_session *s, const struct pgw_msg_hdr *h);
bool pgw_sess_tenant_blocks_client(const struct pgw_session *s, char type);
bool pgw_sess_tenant_release(struct pgw_session *s);
/* The server is logged in (a pooled one taken over): apply the client's settings and
 * tenant context, then let the client speak. */
void pgw_sess_tenant_server_ready(struct pgw_session *s);
/* lock_timeout.c: around a passed message of <type> the pipeline marked (pgw_lt_note);
 * pgw_lt_before when every earlier message is in server.out, pgw_lt_after once this whole
 * message is. False if the session was closed. */
void pgw_lt_note(struct pgw_session *s, const struct pgw_policy_ctx *ctx);
bool pgw_lt_set(struct pgw_session *s, char type);
bool pgw_lt_after(struct pgw_session *s, char type);
/* Inline: they run for every message the client sends, and do nothing for almost all. */
static inline bool pgw_lt_before(struct pgw_session *s, char type)
{
	return !s->lt_ddl || pgw_lt_set(s, type);
}
static inline bool pgw_lt_after_due(const struct pgw_session *s, char type)
{
	return (type == 'Q' && (s->lt_restore_query || s->lt_restore_sync)) ||
	       (type == 'S' && s->lt_restore_sync);
}

/* cancel.c */
void pgw_cancel_register(struct pgw_session *s);
void pgw_cancel_unregister(struct pgw_session *s);
/* A client's CancelRequest: forwarded only when pid and secret match a session. */
void pgw_cancel_request(uint64_t sid, uint32_t pid, uint32_t secret);
/* Asks the server to cancel what session <s>'s backend is running. */
void pgw_cancel_send(struct pgw_session *s);
/* For a busy session that is closing: the cancel now, again 0.2 s later, then 1 s and 5 s
 * after that. */
void pgw_cancel_send_leaving(struct pgw_session *s);
/* At exit: frees cancel requests still in flight. */
void pgw_cancel_free_all(void);

#endif
