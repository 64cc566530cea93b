/*
 * pgward's own PostgreSQL connection for the tenant context: it LISTENs on the
 * invalidation channel and runs the organization lookup, one identity at a time, with the
 * identity as a bound parameter. Entirely non-blocking (libpq's async API on the event
 * loop): a slow or absent database delays only the sessions waiting for a lookup, and each
 * of those gives up after lookup_timeout. A lost connection is re-opened with backoff;
 * since NOTIFYs sent meanwhile are lost, the cache is emptied on every reconnect.
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

enum link_state {
	L_OFF = 0,
	L_WAIT_RETRY, /* down; reconnect at retry_at */
	L_CONNECTING,
	L_SETUP, /* LISTEN sent */
	L_IDLE,
	L_BUSY, /* a lookup is in flight */
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
	double inflight_since;
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

static void copy_error(char *dst, size_t len, const char *msg)
{
	size_t n;

	snprintf(dst, len, "%s", msg && *msg ? msg : "unknown error");
	n = strlen(dst);
	while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == ' '))
		dst[--n] = '\0';
	for (char *c = dst; *c; c++)
		if (*c == '\n')
			*c = ' ';
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
}

/* Closes the connection; the lookup in flight goes back to the head of the queue. */
static void lost(const char *why)
{
	char quoted[200];

	copy_error(L.last_error, sizeof(L.last_error), why);
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

static void send_next(void)
{
	struct tenant_entry *e;
	const char *params[1];

	if (L.state != L_IDLE || (e = queue_pop()) == NULL)
		return;
	params[0] = e->identity;
	e->sent = true;
	L.inflight = e;
	if (!PQsendQueryParams(L.conn, L.query, 1, NULL, params, NULL, NULL, 0)) {
		lost(PQerrorMessage(L.conn));
		return;
	}
	L.inflight_since = pgw_now();
	L.state = L_BUSY;
	tenant_counters.lookups++;
	flush();
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

/* One result of the lookup: every non-NULL first column must be a UUID. */
static void collect(PGresult *r)
{
	if (L.error[0] != '\0')
		return;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		copy_error(L.error, sizeof(L.error), PQresultErrorMessage(r));
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

static void read_results(void)
{
	while (L.state == L_SETUP || L.state == L_BUSY) {
		PGresult *r;

		if (PQisBusy(L.conn))
			return;
		r = PQgetResult(L.conn);
		if (r == NULL) {
			if (L.state == L_SETUP) {
				L.state = L_IDLE;
				L.listening = L.error[0] == '\0';
				if (!L.listening)
					pgw_warn(0, "tenant_listen_failed", "channel=%s",
						 L.channel);
				reset_answer();
			} else {
				lookup_finished();
			}
			send_next();
			continue;
		}
		if (L.state == L_SETUP) {
			if (PQresultStatus(r) != PGRES_COMMAND_OK)
				copy_error(L.error, sizeof(L.error), PQresultErrorMessage(r));
		} else {
			collect(r);
		}
		PQclear(r);
	}
}

static void read_notifications(void)
{
	PGnotify *n;

	while (L.conn != NULL && (n = PQnotifies(L.conn)) != NULL) {
		if (n->extra == NULL || n->extra[0] == '\0' || strcmp(n->extra, "*") == 0)
			tenant_cache_clear(true);
		else
			tenant_cache_invalidate(n->extra);
		pgw_debug(0, "tenant_invalidated", "all=%s",
			  n->extra && n->extra[0] && strcmp(n->extra, "*") ? "no" : "yes");
		PQfreemem(n);
	}
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
	if (L.inflight != NULL && now - L.inflight_since > L.timeout) {
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
