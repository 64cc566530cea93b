/*
 * pgward's own PostgreSQL connection for the tenant context: it LISTENs on the
 * invalidation channel and runs the organization lookup, one identity at a time, with the
 * identity as a bound parameter. Entirely non-blocking (libpq's async API on the event
 * loop): a slow or absent database delays only the sessions waiting for a lookup, and each
 * of those gives up after lookup_timeout. A lost connection is re-opened with backoff;
 * since NOTIFYs sent meanwhile are lost, the cache is emptied on every reconnect.
 *
 * Any role that can connect may NOTIFY the channel, so a notification counts only once its
 * sender is known to be allowed ([tenant] notify_roles): the senders' backend pids are
 * looked up on this same connection, all senders of a batch in one query, taking turns with
 * the lookups. A sender that has disconnected is found through the record notify.sql's
 * trigger keeps; one with no record is ignored (fail closed: otherwise disconnecting would
 * be the way around the check), and cache_ttl bounds what it leaves stale. Nothing here
 * blocks: a notification only changes the cache once its check has answered.
 */
#include "tenant-int.h"

#include "pgward/log.h"
#include "pgward/proxy.h"

#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include <libpq-fe.h>

#define BACKOFF_MIN   0.1
#define BACKOFF_MAX   5.0
#define TICK_USEC     100000
#define CONNECT_LIMIT 10.0 /* seconds a connection attempt may take */
#define ROLE_NAME_MAX 63   /* NAMEDATALEN - 1 */
#define SENDER_IDS    256  /* identities kept per sender; beyond, it counts as '*' */

/* $1 is the type the query gives it: text or name for a role-name column, uuid for a
 * uuid column. Declaring it text would break "user_id = $1" (no uuid = text operator). */
#define LOOKUP_PARAM_TYPE 0

/*
 * The login role of each backend pid in $1: pid, role, superuser, the lookup connection's
 * own role, still connected. pg_stat_get_activity(NULL), the function under
 * pg_stat_activity, shows every backend's pid and user to any role, without the view's
 * joins to pg_database and pg_authid (which cost most of its time); the session user is
 * what counts, whatever the sender SET ROLE to. For a sender that has disconnected,
 * conf/tenant/notify.sql's trigger left its role in pgward.notify_senders; a record older
 * than RECORD_MAX_AGE no longer counts, which bounds how long a reused pid could pass for
 * an earlier sender.
 */
#define RECORD_MAX_AGE "5 minutes"
static const char check_sql[] =
	"SELECT p.pid, r.rolname, r.rolsuper, r.rolname = session_user, a.pid IS NOT NULL "
	"FROM unnest($1::pg_catalog.int4[]) AS p(pid) "
	"LEFT JOIN pg_catalog.pg_stat_get_activity(NULL) a ON a.pid = p.pid "
	"LEFT JOIN pgward.notify_senders s ON a.pid IS NULL AND s.pid = p.pid "
	"AND s.sent_at > pg_catalog.now() - interval '" RECORD_MAX_AGE "' "
	"JOIN pg_catalog.pg_roles r ON r.oid = COALESCE(a.usesysid, s.role)";
/* Without notify.sql's table: connected senders only. */
static const char check_live_sql[] =
	"SELECT a.pid, r.rolname, r.rolsuper, r.rolname = session_user, true "
	"FROM pg_catalog.pg_stat_get_activity(NULL) a "
	"JOIN pg_catalog.pg_roles r ON r.oid = a.usesysid WHERE a.pid = ANY "
	"($1::pg_catalog.int4[])";

/* The notifications of one backend, waiting until its role is known. */
struct sender {
	int pid;
	bool all; /* '*', or more identities than SENDER_IDS */
	unsigned nids, cap;
	char **ids;
	uint64_t notifications;
	/* the check's answer */
	bool found, allowed, live;
	char role[ROLE_NAME_MAX + 1];
	UT_hash_handle hh;
};

/* A flood is one line per sender and batch at most, and at most this many a minute. */
static struct pgw_log_limit ignored_log =
	PGW_LOG_LIMIT(PGW_LOG_WARNING, "tenant_notify_ignored", 20, 60);

enum link_state {
	L_OFF = 0,
	L_WAIT_RETRY, /* down; reconnect at retry_at */
	L_CONNECTING,
	L_SETUP, /* LISTEN sent */
	L_IDLE,
	L_BUSY,	 /* a lookup is in flight */
	L_CHECK, /* the senders of notifications are being checked */
};

static struct {
	struct event_base *base;
	char *conninfo, *query, *channel;
	double timeout;
	PGconn *conn;
	enum link_state state;
	struct event *io;
	int io_fd;
	short io_what;
	struct event *tick;
	double retry_at, backoff, connect_started;
	bool listening;
	char last_error[160];
	struct tenant_entry *q_head, *q_tail, *inflight;
	double busy_since; /* L_BUSY, L_CHECK: when the query was sent */
	/* notifications whose senders are to be checked, and those being checked */
	struct sender *unchecked, *checking;
	bool last_was_check;
	bool no_records; /* pgward.notify_senders is absent or unreadable: check_live_sql */
	char error_state[6];
	/* the answer being read for <inflight> */
	char *ids;
	size_t ids_len, ids_cap;
	char error[PGW_TENANT_ERR_MAX];
} L;

static void io_cb(evutil_socket_t fd, short what, void *arg);

static void want(short what)
{
	int fd = PQsocket(L.conn);

	if (L.io != NULL && L.io_fd == fd && L.io_what == what)
		return;
	if (L.io != NULL)
		event_free(L.io);
	L.io = NULL;
	if (fd < 0)
		return;
	L.io = event_new(L.base, fd, (short)(what | EV_PERSIST), io_cb, NULL);
	L.io_fd = fd;
	L.io_what = what;
	if (L.io != NULL)
		event_add(L.io, NULL);
}

static void queue_push(struct tenant_entry *e, bool front)
{
	e->q_next = NULL;
	if (L.q_head == NULL) {
		L.q_head = L.q_tail = e;
	} else if (front) {
		e->q_next = L.q_head;
		L.q_head = e;
	} else {
		L.q_tail->q_next = e;
		L.q_tail = e;
	}
}

static struct tenant_entry *queue_pop(void)
{
	struct tenant_entry *e = L.q_head;

	if (e != NULL) {
		L.q_head = e->q_next;
		if (L.q_head == NULL)
			L.q_tail = NULL;
		e->q_next = NULL;
	}
	return e;
}

static void reset_answer(void)
{
	free(L.ids);
	L.ids = NULL;
	L.ids_len = L.ids_cap = 0;
	L.error[0] = '\0';
	L.error_state[0] = '\0';
}

static void senders_free(struct sender **head)
{
	struct sender *x, *tmp;

	HASH_ITER (hh, *head, x, tmp) {
		HASH_DEL(*head, x);
		for (unsigned i = 0; i < x->nids; i++)
			free(x->ids[i]);
		free(x->ids);
		free(x);
	}
}

/* Counts <n> notifications that changed nothing and logs why, within the rate limit. */
static void ignore(const char *reason, int pid, const char *role, const char *payload, uint64_t n)
{
	char qrole[ROLE_NAME_MAX * 4 + 8], qpayload[200];

	tenant_counters.notify_ignored += n;
	pgw_log_limited(&ignored_log, 0,
			"reason=%s pid=%d role=%s payload=%s notifications=%llu "
			"ignored_total=%llu",
			reason, pid, pgw_log_quote(role, qrole, sizeof(qrole)),
			pgw_log_quote(payload, qpayload, sizeof(qpayload)), (unsigned long long)n,
			(unsigned long long)tenant_counters.notify_ignored);
}

/* Closes the connection; the lookup in flight goes back to the head of the queue. */
static void lost(const char *why)
{
	char quoted[200];

	pgw_log_one_line(L.last_error, sizeof(L.last_error), why);
	pgw_warn(0, "tenant_lookup_down", "error=%s retry_in=%gs",
		 pgw_log_quote(L.last_error, quoted, sizeof(quoted)),
		 L.backoff > 0 ? L.backoff : BACKOFF_MIN);
	if (L.inflight != NULL) {
		L.inflight->sent = false;
		L.inflight->stale = false;
		queue_push(L.inflight, true);
		L.inflight = NULL;
	}
	reset_answer();
	/* the reconnect empties the cache, which covers whatever these asked for */
	senders_free(&L.unchecked);
	senders_free(&L.checking);
	L.last_was_check = false;
	L.no_records = false; /* notify.sql may have been loaded meanwhile */
	if (L.io != NULL)
		event_free(L.io);
	L.io = NULL;
	PQfinish(L.conn);
	L.conn = NULL;
	L.listening = false;
	L.backoff = L.backoff > 0 ? PGW_MIN(L.backoff * 2, BACKOFF_MAX) : BACKOFF_MIN;
	L.retry_at = pgw_now() + L.backoff;
	L.state = L_WAIT_RETRY;
}

static void flush(void)
{
	int f = PQflush(L.conn);

	if (f < 0)
		lost(PQerrorMessage(L.conn));
	else
		want(f == 1 ? EV_READ | EV_WRITE : EV_READ);
}

/* Adds <identity> to what <x> asks for; too many (or no memory) become '*', a superset. */
static void sender_add(struct sender *x, const char *identity)
{
	unsigned i;

	for (i = 0; i < x->nids && strcmp(x->ids[i], identity) != 0; i++)
		;
	if (i < x->nids)
		return;
	if (x->nids == x->cap) {
		unsigned cap = x->cap ? x->cap * 2 : 4;
		char **p = cap <= SENDER_IDS ? realloc(x->ids, cap * sizeof(*p)) : NULL;

		if (p == NULL) {
			x->all = true;
			return;
		}
		x->ids = p;
		x->cap = cap;
	}
	if ((x->ids[x->nids] = strdup(identity)) != NULL)
		x->nids++;
	else
		x->all = true;
}

/*
 * Keeps the notification of backend <pid> until its role is checked. The identity mode and
 * notify_roles are read from the live configuration (pgw.cfg, which tenant.c was started
 * with and a reload replaces in place), so a SIGHUP applies to the next notification.
 */
static void note(int pid, const char *payload)
{
	enum pgw_tenant_identity mode = pgw.cfg.tenant_identity;
	char identity[PGW_IDENTITY_MAX];
	enum tenant_notice what = tenant_notify_payload(payload, mode, identity);
	struct sender *x = NULL;

	if (what == TENANT_NOTICE_MALFORMED) {
		ignore("malformed_payload", pid, NULL, payload, 1);
		return;
	}
	HASH_FIND_INT(L.unchecked, &pid, x);
	if (x == NULL) {
		x = calloc(1, sizeof(*x));
		if (x == NULL) {
			ignore("out_of_memory", pid, NULL, payload, 1);
			return;
		}
		x->pid = pid;
		HASH_ADD_INT(L.unchecked, pid, x);
	}
	x->notifications++;
	if (what == TENANT_NOTICE_ALL)
		x->all = true;
	if (!x->all)
		sender_add(x, identity);
}

/* Asks for the role of every sender in L.checking (taken from those noted so far if empty). */
static void send_check(void)
{
	struct sender *x, *tmp;
	size_t cap = 3, len = 0;
	char *pids;
	const char *params[1];

	if (L.checking == NULL) {
		L.checking = L.unchecked;
		L.unchecked = NULL;
	}
	HASH_ITER (hh, L.checking, x, tmp)
		cap += 12;
	pids = malloc(cap);
	if (pids == NULL) {
		lost("out of memory");
		return;
	}
	pids[len++] = '{';
	HASH_ITER (hh, L.checking, x, tmp)
		len += (size_t)snprintf(pids + len, cap - len, "%s%d", len > 1 ? "," : "", x->pid);
	snprintf(pids + len, cap - len, "}");
	params[0] = pids;
	L.last_was_check = true;
	if (!PQsendQueryParams(L.conn, L.no_records ? check_live_sql : check_sql, 1, NULL, params,
			       NULL, NULL, 0)) {
		free(pids);
		lost(PQerrorMessage(L.conn));
		return;
	}
	free(pids);
	L.busy_since = pgw_now();
	L.state = L_CHECK;
	flush();
}

/* One result of the check: pid, role, superuser, the lookup role, still connected. */
static void check_collect(PGresult *r)
{
	const char *roles = pgw.cfg.tenant_notify_roles, *state;

	if (L.error[0] != '\0')
		return;
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQnfields(r) != 5) {
		pgw_log_one_line(L.error, sizeof(L.error), PQresultErrorMessage(r));
		state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		snprintf(L.error_state, sizeof(L.error_state), "%s", state ? state : "");
		return;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		int pid = atoi(PQgetvalue(r, i, 0));
		struct sender *x = NULL;

		HASH_FIND_INT(L.checking, &pid, x);
		if (x == NULL)
			continue;
		x->found = true;
		x->live = PQgetvalue(r, i, 4)[0] == 't';
		snprintf(x->role, sizeof(x->role), "%s", PQgetvalue(r, i, 1));
		x->allowed = tenant_notify_allowed(roles, x->role, PQgetvalue(r, i, 2)[0] == 't',
						   PQgetvalue(r, i, 3)[0] == 't');
	}
}

/*
 * Without conf/tenant/notify.sql's pgward.notify_senders (undefined table or schema, or no
 * SELECT on it) only connected senders can be checked: said once per connection, and the
 * batch asked again.
 */
static bool records_unusable(void)
{
	static const char *const states[] = {"42P01", "3F000", "42501"};
	char quoted[PGW_TENANT_ERR_MAX + 20];

	if (L.no_records)
		return false;
	for (size_t i = 0; i < PGW_ARRAY_LEN(states); i++) {
		if (strcmp(L.error_state, states[i]) != 0)
			continue;
		pgw_warn(0, "tenant_notify_no_sender_records",
			 "error=%s msg=\"senders that disconnect before pgward checks them are "
			 "ignored; load conf/tenant/notify.sql\"",
			 pgw_log_quote(L.error, quoted, sizeof(quoted)));
		L.no_records = true;
		return true;
	}
	return false;
}

/* Applies what allowed senders asked for; the rest is ignored and counted. */
static void check_finished(void)
{
	struct sender *x, *tmp;
	char quoted[PGW_TENANT_ERR_MAX + 20];
	bool failed = L.error[0] != '\0';

	L.state = L_IDLE;
	if (failed && records_unusable()) {
		reset_answer();
		send_check(); /* the same senders, connected ones only */
		return;
	}
	if (failed)
		pgw_warn(0, "tenant_notify_check_failed", "error=%s senders=%u",
			 pgw_log_quote(L.error, quoted, sizeof(quoted)), HASH_COUNT(L.checking));
	HASH_ITER (hh, L.checking, x, tmp) {
		const char *first = x->all ? "*" : x->ids[0];

		if (failed) {
			ignore("check_failed", x->pid, NULL, first, x->notifications);
			continue;
		}
		if (!x->found) {
			ignore("sender_gone", x->pid, NULL, first, x->notifications);
			continue;
		}
		if (!x->allowed) {
			ignore("role_not_allowed", x->pid, x->role, first, x->notifications);
			continue;
		}
		if (x->all)
			tenant_cache_clear(true);
		for (unsigned i = 0; !x->all && i < x->nids; i++)
			tenant_cache_invalidate(x->ids[i]);
		pgw_debug(0, "tenant_invalidated",
			  "pid=%d role=%s via=%s all=%s identities=%u notifications=%llu", x->pid,
			  pgw_log_quote(x->role, quoted, sizeof(quoted)),
			  x->live ? "pg_stat_activity" : "notify_senders", x->all ? "yes" : "no",
			  x->nids, (unsigned long long)x->notifications);
	}
	senders_free(&L.checking);
	reset_answer();
}

static void send_lookup(void)
{
	static const Oid types[1] = {LOOKUP_PARAM_TYPE};
	struct tenant_entry *e;
	const char *params[1];

	if ((e = queue_pop()) == NULL)
		return;
	params[0] = e->identity;
	e->sent = true;
	L.inflight = e;
	L.last_was_check = false;
	if (!PQsendQueryParams(L.conn, L.query, 1, types, params, NULL, NULL, 0)) {
		lost(PQerrorMessage(L.conn));
		return;
	}
	L.busy_since = pgw_now();
	L.state = L_BUSY;
	tenant_counters.lookups++;
	flush();
}

/* Lookups and checks take turns: a flood of notifications cannot starve the sessions
 * waiting for their organizations, nor a burst of logins hold back an invalidation. */
static void send_next(void)
{
	if (L.state != L_IDLE)
		return;
	if (L.unchecked != NULL && (L.q_head == NULL || !L.last_was_check))
		send_check();
	else
		send_lookup();
}

static void no_notices(void *arg, const char *message)
{
}

static void connect_start(void)
{
	static const char *const keys[] = {"dbname", "fallback_application_name", NULL};
	const char *values[] = {L.conninfo, "pgward", NULL};

	L.conn = PQconnectStartParams(keys, values, 1);
	L.connect_started = pgw_now();
	if (L.conn == NULL || PQstatus(L.conn) == CONNECTION_BAD) {
		lost(L.conn ? PQerrorMessage(L.conn) : "out of memory");
		return;
	}
	PQsetNoticeProcessor(L.conn, no_notices, NULL);
	L.state = L_CONNECTING;
	want(EV_WRITE);
}

static void connected(void)
{
	char *ident;
	char sql[300];

	if (PQsetnonblocking(L.conn, 1) != 0) {
		lost(PQerrorMessage(L.conn));
		return;
	}
	L.backoff = 0;
	pgw_info(0, "tenant_lookup_up", "listen=%s", L.channel ? L.channel : "");
	/* NOTIFYs sent while we were away are lost: nothing cached can be trusted. */
	tenant_cache_clear(false);
	if (L.channel == NULL) {
		L.state = L_IDLE;
		want(EV_READ);
		send_next();
		return;
	}
	/* LISTEN takes no parameters; the channel is quoted as an identifier. */
	ident = PQescapeIdentifier(L.conn, L.channel, strlen(L.channel));
	if (ident == NULL) {
		lost(PQerrorMessage(L.conn));
		return;
	}
	snprintf(sql, sizeof(sql), "LISTEN %s", ident);
	PQfreemem(ident);
	if (!PQsendQuery(L.conn, sql)) {
		lost(PQerrorMessage(L.conn));
		return;
	}
	L.state = L_SETUP;
	flush();
}

static void poll_connect(void)
{
	switch (PQconnectPoll(L.conn)) {
	case PGRES_POLLING_READING:
		want(EV_READ);
		return;
	case PGRES_POLLING_WRITING:
		want(EV_WRITE);
		return;
	case PGRES_POLLING_OK:
		connected();
		return;
	default:
		lost(PQerrorMessage(L.conn));
		return;
	}
}

static bool append_id(const char *id)
{
	size_t need = L.ids_len + strlen(id) + 3;

	if (need > L.ids_cap) {
		size_t cap = PGW_MAX(need, L.ids_cap * 2);
		char *p = realloc(L.ids, cap);

		if (p == NULL)
			return false;
		L.ids = p;
		L.ids_cap = cap;
	}
	if (L.ids_len > 0)
		L.ids[L.ids_len++] = ',';
	for (; *id; id++)
		L.ids[L.ids_len++] = (char)(*id >= 'A' && *id <= 'Z' ? *id + 32 : *id);
	L.ids[L.ids_len] = '\0';
	return true;
}

/*
 * A query written for UUID identities reads a role name as a uuid and fails for every login
 * (22P02, invalid_text_representation): say what $1 was, since the server cannot.
 */
static void explain_param(PGresult *r)
{
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	size_t n = strlen(L.error);

	if (state == NULL || strcmp(state, "22P02") != 0 || L.inflight == NULL ||
	    pgw_uuid_valid(L.inflight->identity))
		return;
	snprintf(L.error + n, sizeof(L.error) - n,
		 " ($1 is the login role's name: with identity = login_role the query must "
		 "compare it with role names)");
}

/* One result of the lookup: every non-NULL first column must be a UUID. */
static void collect(PGresult *r)
{
	if (L.error[0] != '\0')
		return;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		pgw_log_one_line(L.error, sizeof(L.error), PQresultErrorMessage(r));
		explain_param(r);
		return;
	}
	if (PQnfields(r) < 1) {
		snprintf(L.error, sizeof(L.error), "the lookup query returned no column");
		return;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		const char *v = PQgetvalue(r, i, 0);

		if (PQgetisnull(r, i, 0))
			continue;
		if (!pgw_uuid_valid(v)) {
			snprintf(L.error, sizeof(L.error),
				 "the lookup query returned a value that is not a UUID (row %d)",
				 i + 1);
			return;
		}
		if (!append_id(v)) {
			snprintf(L.error, sizeof(L.error), "out of memory");
			return;
		}
	}
}

static char *braced_ids(void)
{
	size_t n = L.ids_len;
	char *out = malloc(n + 3);

	if (out == NULL)
		return NULL;
	out[0] = '{';
	if (n > 0)
		memcpy(out + 1, L.ids, n);
	out[n + 1] = '}';
	out[n + 2] = '\0';
	return out;
}

static void lookup_finished(void)
{
	struct tenant_entry *e = L.inflight;

	L.inflight = NULL;
	L.state = L_IDLE;
	if (e->stale) {
		/* invalidated while the query ran: its answer may predate the change */
		e->stale = false;
		e->sent = false;
		queue_push(e, true);
	} else if (L.error[0] != '\0') {
		tenant_lookup_done(e, NULL, L.error);
	} else {
		char *ids = braced_ids();

		tenant_lookup_done(e, ids, "out of memory");
	}
	reset_answer();
}

static void listen_done(void)
{
	char roles[300];

	L.state = L_IDLE;
	L.listening = L.error[0] == '\0';
	if (!L.listening)
		pgw_warn(0, "tenant_listen_failed", "channel=%s", L.channel);
	else
		pgw_info(0, "tenant_listening", "channel=%s notify_roles=%s", L.channel,
			 pgw_log_quote(pgw.cfg.tenant_notify_roles, roles, sizeof(roles)));
	reset_answer();
}

static void read_results(void)
{
	while (L.state == L_SETUP || L.state == L_BUSY || L.state == L_CHECK) {
		PGresult *r;

		if (PQisBusy(L.conn))
			return;
		r = PQgetResult(L.conn);
		if (r == NULL) {
			if (L.state == L_SETUP) {
				listen_done();
			} else if (L.state == L_BUSY) {
				lookup_finished();
			} else {
				check_finished();
			}
			send_next();
			continue;
		}
		if (L.state == L_SETUP) {
			if (PQresultStatus(r) != PGRES_COMMAND_OK)
				pgw_log_one_line(L.error, sizeof(L.error), PQresultErrorMessage(r));
		} else if (L.state == L_BUSY) {
			collect(r);
		} else {
			check_collect(r);
		}
		PQclear(r);
	}
}

/* Notes what arrived; nothing changes before the senders are checked. */
static void read_notifications(void)
{
	PGnotify *n;

	while (L.conn != NULL && (n = PQnotifies(L.conn)) != NULL) {
		note(n->be_pid, n->extra ? n->extra : "");
		PQfreemem(n);
	}
	if (L.conn != NULL)
		send_next();
}

static void io_cb(evutil_socket_t fd, short what, void *arg)
{
	if (L.state == L_CONNECTING) {
		poll_connect();
		return;
	}
	if (what & EV_WRITE) {
		flush();
		if (L.conn == NULL)
			return;
	}
	if (what & EV_READ) {
		if (!PQconsumeInput(L.conn)) {
			lost(PQerrorMessage(L.conn));
			return;
		}
		read_notifications();
		read_results();
		read_notifications(); /* parsed while the results were read */
	}
}

/* Gives up on what waited longer than lookup_timeout; reconnects when it is time. */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	double now = pgw_now();
	struct tenant_entry *keep_head = NULL, *keep_tail = NULL, *e;
	char why[PGW_TENANT_ERR_MAX];

	if (L.state == L_WAIT_RETRY && now >= L.retry_at)
		connect_start();
	else if (L.state == L_CONNECTING && now - L.connect_started > CONNECT_LIMIT)
		lost("timeout while connecting");
	if (L.state == L_CHECK && now - L.busy_since > L.timeout)
		lost("the notification senders' check did not answer in time");
	if (L.inflight != NULL && now - L.busy_since > L.timeout) {
		e = L.inflight;
		L.inflight = NULL;
		snprintf(why, sizeof(why), "the lookup query did not answer within %gs", L.timeout);
		lost(why); /* its answer would arrive out of step */
		tenant_lookup_done(e, NULL, why);
	}
	while ((e = queue_pop()) != NULL) {
		if (now - e->queued <= L.timeout) {
			if (keep_tail)
				keep_tail->q_next = e;
			else
				keep_head = e;
			keep_tail = e;
			continue;
		}
		snprintf(why, sizeof(why), "the lookup database is unavailable (%s)",
			 L.last_error[0] ? L.last_error : "not connected");
		tenant_lookup_done(e, NULL, why);
	}
	L.q_head = keep_head;
	L.q_tail = keep_tail;
}

static int set_str(char **dst, const char *src)
{
	char *copy = src && *src ? strdup(src) : NULL;

	if (src && *src && copy == NULL)
		return -1;
	free(*dst);
	*dst = copy;
	return 0;
}

static bool same(const char *a, const char *b)
{
	return (a == NULL || *a == '\0') ? (b == NULL || *b == '\0') : (b != NULL && !strcmp(a, b));
}

int tenant_lookup_start(struct event_base *base, const struct tenant_lookup_cfg *cfg)
{
	struct timeval tv = {0, TICK_USEC};
	bool changed = !same(L.conninfo, cfg->conninfo) || !same(L.query, cfg->query) ||
		       !same(L.channel, cfg->channel);

	L.base = base;
	L.timeout = cfg->timeout;
	if (!changed && L.state != L_OFF)
		return 0;
	if (set_str(&L.conninfo, cfg->conninfo) < 0 || set_str(&L.query, cfg->query) < 0 ||
	    set_str(&L.channel, cfg->channel) < 0)
		return -1;
	if (L.tick == NULL) {
		L.tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
		if (L.tick == NULL)
			return -1;
		event_add(L.tick, &tv);
	}
	if (L.conn != NULL)
		lost("configuration changed");
	L.backoff = 0;
	connect_start();
	return 0;
}

void tenant_lookup_stop(void)
{
	if (L.io != NULL)
		event_free(L.io);
	if (L.tick != NULL)
		event_free(L.tick);
	PQfinish(L.conn);
	reset_answer();
	senders_free(&L.unchecked);
	senders_free(&L.checking);
	free(L.conninfo);
	free(L.query);
	free(L.channel);
	memset(&L, 0, sizeof(L));
}

void tenant_lookup_enqueue(struct tenant_entry *e)
{
	e->queued = pgw_now();
	queue_push(e, false);
	send_next();
}

bool tenant_lookup_listening(void)
{
	return L.listening;
}

enum tenant_notice tenant_notify_payload(const char *payload, enum pgw_tenant_identity mode,
					 char identity[PGW_IDENTITY_MAX])
{
	size_t n = strlen(payload);

	if (strcmp(payload, "*") == 0)
		return TENANT_NOTICE_ALL;
	if (pgw_uuid_valid(payload)) {
		for (size_t i = 0; i <= n; i++)
			identity[i] =
				(char)(payload[i] >= 'A' && payload[i] <= 'Z' ? payload[i] + 32
									      : payload[i]);
		return TENANT_NOTICE_IDENTITY;
	}
	/* with startup_option every identity is a UUID; a role name is at most 63 bytes */
	if (mode != PGW_TENANT_ID_LOGIN_ROLE || n == 0 || n > ROLE_NAME_MAX)
		return TENANT_NOTICE_MALFORMED;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)payload[i] < 0x20 || payload[i] == 0x7f)
			return TENANT_NOTICE_MALFORMED;
	memcpy(identity, payload, n + 1);
	return TENANT_NOTICE_IDENTITY;
}

bool tenant_notify_allowed(const char *notify_roles, const char *role, bool superuser,
			   bool own_role)
{
	size_t n = strlen(role);

	if (superuser || own_role)
		return true;
	/* names as the catalog stores them: exact, around each comma only blanks trimmed */
	for (const char *p = notify_roles; p != NULL && *p;) {
		const char *end = strchr(p, ','), *a = p, *b = end ? end : p + strlen(p);

		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (n > 0 && (size_t)(b - a) == n && strncmp(a, role, n) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}
