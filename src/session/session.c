/*
 * Session lifecycle: creation, the one state-changing function, the one close path,
 * timeouts, and the sweep that frees sessions outside their own callbacks.
 */
#include "session-int.h"

#include "pgward/admin.h"

#include "pgward/codec.h"
#include "pgward/log.h"
#include "pgward/pool.h"
#include "pgward/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/event.h>

#define CLOSE_FLUSH_SECONDS 5 /* how long a closing client gets to take its last bytes */

static struct pgw_session *sessions; /* all not yet freed, newest first */
static unsigned nsessions;
static unsigned nclients; /* sessions counted against max_client_conn */
static uint64_t next_id = 1;
static struct event *sweep_ev;

static const char *const state_names[PGW_SS__COUNT] = {
	"startup", "tls", "client_auth", "connecting", "auth", "ready", "closing", "dead",
};

/* Legal edges; CLOSING and DEAD are reachable from anywhere through the close path. */
static bool edge_ok(const struct pgw_session *s, enum pgw_sess_state from, enum pgw_sess_state to)
{
	switch (to) {
	case PGW_SS_STARTUP:
		return from == PGW_SS_TLS;
	case PGW_SS_TLS:
	case PGW_SS_CLIENT_AUTH:
		return from == PGW_SS_STARTUP;
	case PGW_SS_CONNECTING:
		/* READY: a welcomed client's first message fetches its server (checkout.c) */
		return from == PGW_SS_STARTUP || from == PGW_SS_CLIENT_AUTH ||
		       (from == PGW_SS_READY && s->welcomed && s->srv == NULL);
	case PGW_SS_AUTH:
		return from == PGW_SS_CONNECTING;
	case PGW_SS_READY:
		return from == PGW_SS_AUTH;
	case PGW_SS_CLOSING:
		return from < PGW_SS_CLOSING;
	case PGW_SS_DEAD:
		return from < PGW_SS_DEAD;
	default:
		return false;
	}
}

void pgw_sess_set_state(struct pgw_session *s, enum pgw_sess_state to)
{
	if (!edge_ok(s, s->state, to)) {
		pgw_error(s->id, "bug", "msg=\"illegal state change\" from=%s to=%s",
			  state_names[s->state], state_names[to]);
		abort();
	}
	pgw_debug(s->id, "state", "from=%s to=%s", state_names[s->state], state_names[to]);
	s->state = to;
}

unsigned pgw_session_count(void)
{
	return nsessions;
}

bool pgw_sess_busy(const struct pgw_session *s)
{
	return s->srv != NULL && pgw_server_busy(s->srv);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgw_session *s = arg;

	if (s->state == PGW_SS_CLOSING)
		pgw_sess_end(s, "client did not take its last bytes in time");
	else if (s->state < PGW_SS_READY && s->welcomed && s->srv != NULL)
		pgw_sess_fail(s, "08006",
			      "pgward: the server was not ready for the client's first message "
			      "within client_login_timeout=%gs",
			      pgw.cfg.client_login_timeout);
	else if (s->state < PGW_SS_READY)
		pgw_sess_fail(s, "08006", "pgward: client login timeout (client_login_timeout=%gs)",
			      pgw.cfg.client_login_timeout);
}

void pgw_sess_arm_timer(struct pgw_session *s, double seconds)
{
	struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (time_t)seconds) * 1e6)};

	evtimer_add(&s->timer, &tv);
}

/* <n> in decimal at <p>; the end. */
static char *put_decimal(char *p, unsigned n)
{
	char digits[10];
	int k = 0;

	do
		digits[k++] = (char)('0' + n % 10);
	while ((n /= 10) != 0);
	while (k > 0)
		*p++ = digits[--k];
	return p;
}

/* a.b.c.d:port, written out by hand: every connection pays this, and inet_ntop and
 * snprintf cost more than the rest of an accept. */
static void format_ipv4_peer(const struct sockaddr_in *in, char *out, size_t outlen)
{
	const uint8_t *a = (const uint8_t *)&in->sin_addr;
	char text[sizeof("255.255.255.255:65535")], *p = text;
	size_t len;

	for (int i = 0; i < 4; i++) {
		p = put_decimal(p, a[i]);
		*p++ = i < 3 ? '.' : ':';
	}
	p = put_decimal(p, ntohs(in->sin_port));
	len = PGW_MIN((size_t)(p - text), outlen - 1);
	memcpy(out, text, len);
	out[len] = '\0';
}

static void format_peer(const struct sockaddr *sa, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (sa->sa_family == AF_INET) {
		format_ipv4_peer((const struct sockaddr_in *)sa, out, outlen);
		return;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	snprintf(out, outlen, "%s:%d", host, port);
}

/*
 * An IPv4 client of an IPv6 listener arrives as ::ffff:a.b.c.d. PostgreSQL listens on
 * separate sockets and sees such a client as IPv4; so does pgward, so that IPv4 hba rules,
 * messages and the failure count read it the same way.
 */
static void unmap_ipv4(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 in6;
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	if (ss->ss_family != AF_INET6)
		return;
	memcpy(&in6, ss, sizeof(in6));
	if (!IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr))
		return;
	memset(ss, 0, sizeof(*ss));
	in->sin_family = AF_INET;
	in->sin_port = in6.sin6_port;
	memcpy(&in->sin_addr, &in6.sin6_addr.s6_addr[12], 4);
}

void pgw_session_accept(int fd, const struct sockaddr *peer, socklen_t peerlen)
{
	struct pgw_session *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		pgw_error(0, "accept_failed", "msg=\"out of memory\"");
		close(fd);
		return;
	}
	s->id = next_id++;
	s->state = PGW_SS_STARTUP;
	pgw_sess_text_init(s);
	s->connected_at = pgw_now();
	s->last_client_activity = s->connected_at;
	if (peerlen <= sizeof(s->peer_addr))
		memcpy(&s->peer_addr, peer, peerlen);
	unmap_ipv4(&s->peer_addr);
	format_peer((const struct sockaddr *)&s->peer_addr, s->peer, sizeof(s->peer));
	pgw_conn_init(&s->client, pgw.base, fd, pgw_sess_startup_cb, s);
	evtimer_assign(&s->timer, pgw.base, timer_cb, s);
	if (pgw.cfg.client_login_timeout > 0)
		pgw_sess_arm_timer(s, pgw.cfg.client_login_timeout);
	s->next = sessions;
	if (sessions)
		sessions->prev = s;
	sessions = s;
	nsessions++;
	pgw_debug(s->id, "accept", "peer=%s", s->peer);
	pgw_conn_set_reading(&s->client, true);
}

static void free_session(struct pgw_session *s)
{
	evtimer_del(&s->timer);
	pgw_sess_auth_free(s);
	pgw_cancel_unregister(s);
	pgw_pool_unwait(&s->pool_wait);
	pgw_conn_release(&s->client);
	pgw_server_free(s->srv);
	pgw_startup_view_free(&s->view);
	pgw_startup_free(&s->startup);
	pgw_stmt_map_clear(&s->stmts);
	free(s->welcome_key);
	pgw_sess_sets_free(&s->sets);
	pgw_sess_holds_free(&s->holds);
	pgw_sess_sql_rename_clear(s);
	pgw_sql_info_unref(s->forget_after_bind);
	pgw_metrics_session_end(&s->metrics);
	pgw_tenant_end(&s->tenant);
	if (s->prev)
		s->prev->next = s->next;
	else
		sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	nsessions--;
	free(s->admin_database);
	free(s);
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgw_session *s = sessions, *next;

	for (; s != NULL; s = next) {
		next = s->next;
		if (s->state == PGW_SS_DEAD)
			free_session(s);
	}
	if (pgw.draining && nsessions == 0 && pgw.on_drained)
		pgw.on_drained();
}

/* Final step: both sockets closed now, memory freed by the sweep. */
static void make_dead(struct pgw_session *s)
{
	pgw_conn_close(&s->client);
	if (s->srv != NULL)
		pgw_server_close(s->srv);
	evtimer_del(&s->timer);
	pgw_sess_set_state(s, PGW_SS_DEAD);
	if (sweep_ev == NULL)
		sweep_ev = event_new(pgw.base, -1, 0, sweep_cb, NULL);
	event_active(sweep_ev, EV_TIMEOUT, 1);
}

static void closing_client_cb(struct pgw_conn *c, enum pgw_conn_event ev, void *arg)
{
	struct pgw_session *s = arg;

	if (s->state != PGW_SS_CLOSING)
		return;
	if (ev == PGW_CONN_DRAINED || ev == PGW_CONN_EOF || ev == PGW_CONN_ERROR)
		make_dead(s);
}

/* The one close path: server side now, client side once its output has drained. */
static void begin_close(struct pgw_session *s)
{
	/* a login cut short: its secrets go now, and a pending auth_query answers nobody */
	pgw_sess_auth_free(s);
	if (s->counted) {
		s->counted = false;
		nclients--;
	}
	/* Closing the socket does not stop a running query (pg_sleep, a lock wait): whatever
	 * ends a busy session, its server backend is told to cancel as well. */
	if (s->state == PGW_SS_READY && pgw_sess_busy(s) && !s->srv->gone && !s->client_terminated)
		pgw_cancel_send_leaving(s);
	pgw_cancel_unregister(s);
	pgw_sess_release_server(s);
	evtimer_del(&s->timer);
	if (s->client.closed || pgw_conn_flush(&s->client) < 0 ||
	    evbuffer_get_length(s->client.out) == 0) {
		make_dead(s);
		return;
	}
	pgw_sess_set_state(s, PGW_SS_CLOSING);
	pgw_conn_set_cb(&s->client, closing_client_cb, s);
	pgw_conn_set_reading(&s->client, false);
	s->client.notify_empty = true;
	pgw_sess_arm_timer(s, CLOSE_FLUSH_SECONDS);
}

/* Any peer can open and drop unauthenticated sessions in a loop: their close lines are
 * rate-limited, an authenticated session's never. */
static struct pgw_log_limit unauthenticated_close = PGW_LOG_LIMIT(PGW_LOG_INFO, "close", 20, 10.0);

void pgw_sess_fail(struct pgw_session *s, const char *sqlstate, const char *fmt, ...)
{
	char msg[512], quoted[600];
	va_list ap;

	if (s->state >= PGW_SS_CLOSING)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->authenticated)
		pgw_info(s->id, "close", "sqlstate=%s reason=%s", sqlstate,
			 pgw_log_quote(msg, quoted, sizeof(quoted)));
	else
		pgw_log_limited(&unauthenticated_close, s->id, "sqlstate=%s reason=%s", sqlstate,
				pgw_log_quote(msg, quoted, sizeof(quoted)));
	/* An error may only be inserted between two server messages, never inside one. */
	if (!s->client.closed && (s->srv == NULL || s->srv->left == 0) && s->state != PGW_SS_TLS)
		pgw_msg_error(s->client.out, "FATAL", sqlstate, msg, NULL);
	begin_close(s);
}

void pgw_sess_end(struct pgw_session *s, const char *reason)
{
	if (s->state >= PGW_SS_DEAD)
		return;
	if (s->state == PGW_SS_CLOSING) {
		make_dead(s);
		return;
	}
	if (s->authenticated)
		pgw_info(s->id, "close", "reason=\"%s\"", reason);
	else
		pgw_log_limited(&unauthenticated_close, s->id, "reason=\"%s\"", reason);
	begin_close(s);
}

bool pgw_sess_count_client(struct pgw_session *s)
{
	if (nclients >= (unsigned)pgw.cfg.max_client_conn)
		return false;
	nclients++;
	s->counted = true;
	return true;
}

void pgw_session_close_all(const char *sqlstate, const char *message)
{
	for (struct pgw_session *s = sessions, *next; s != NULL; s = next) {
		next = s->next;
		pgw_sess_fail(s, sqlstate, "%s", message);
	}
}

/* Every tick (250 ms): ends sessions idle past client_idle_timeout or busy past query_timeout. */
void pgw_session_tick(double now)
{
	double idle_limit = pgw.cfg.client_idle_timeout, busy_limit = pgw.cfg.query_timeout;

	for (struct pgw_session *s = sessions, *next; s != NULL; s = next) {
		next = s->next;
		if (s->state != PGW_SS_READY)
			continue;
		if (!pgw_sess_busy(s)) {
			s->busy_since = 0;
			if (idle_limit > 0 && now - s->last_client_activity > idle_limit)
				pgw_sess_fail(
					s, "57P05",
					"pgward: client idle timeout (client_idle_timeout=%gs)",
					idle_limit);
		} else if (s->busy_since == 0) {
			s->busy_since = now; /* the tick's own granularity is precise enough */
		} else if (busy_limit > 0 && now - s->busy_since > busy_limit) {
			/* Closing a busy session also cancels what its backend runs. */
			pgw_sess_fail(s, "57014",
				      "pgward: query did not finish within query_timeout=%gs",
				      busy_limit);
		}
	}
}

void pgw_session_free_all(void)
{
	while (sessions != NULL)
		free_session(sessions);
	pgw_cancel_free_all();
	pgw_rbuf_pool_free();
	if (sweep_ev != NULL) {
		event_free(sweep_ev);
		sweep_ev = NULL;
	}
}

/* What SHOW SESSIONS calls a session's state; PostgreSQL's words where they fit. */
static const char *view_state(const struct pgw_session *s)
{
	switch (s->state) {
	case PGW_SS_STARTUP:
	case PGW_SS_TLS:
		return "startup";
	case PGW_SS_CLIENT_AUTH:
	case PGW_SS_CONNECTING:
	case PGW_SS_AUTH:
		return "login";
	case PGW_SS_READY:
		if (s->admin)
			return "admin";
		if (pgw_sess_busy(s))
			return "active";
		if (s->srv == NULL) /* welcomed, no message yet */
			return "idle";
		return s->srv->tx_status == 'T'	  ? "idle in transaction"
		       : s->srv->tx_status == 'E' ? "idle in transaction (aborted)"
						  : "idle";
	default:
		return "closing";
	}
}

/*
 * The application_name the client runs with: a pooled server's last ParameterStatus follows
 * a later SET; otherwise (a waiting client, an unpooled server) the startup packet's.
 */
static const char *view_application_name(const struct pgw_session *s)
{
	const char *name;
	int i;

	if (s->srv != NULL && s->srv->pool != NULL && s->authenticated &&
	    (name = pgw_server_param(s->srv, "application_name")) != NULL)
		return name;
	i = pgw_startup_view_find(&s->view, "application_name");
	return i < 0 ? "" : s->view.settings[i].value;
}

void pgw_session_foreach(pgw_session_view_fn fn, void *arg)
{
	for (struct pgw_session *s = sessions; s != NULL; s = s->next) {
		struct pgw_session_view v = {
			.id = s->id,
			.user = s->user ? s->user : "",
			.database = s->view.database,
			/* nobody is a tenant before the server accepted the login */
			.tenant = !s->authenticated	  ? NULL
				  : s->tenant.identity[0] ? s->tenant.identity
							  : s->user,
			.peer = s->peer,
			.state = view_state(s),
			.tls = s->client_tls,
			.admin = s->admin,
			.server_pid = s->admin || s->srv == NULL ? 0 : s->srv->pid,
			.connected_at = s->connected_at,
			.last_activity = s->last_client_activity,
			.refused = s->refused,
			.pinned_by = s->pinned_by[0] != '\0' ? s->pinned_by : NULL,
			.logged_in = s->authenticated,
			.waiting = s->pool_wait.pool != NULL,
			.wait_since = s->pool_wait.since,
			.server = s->admin ? NULL : s->srv,
			.replication = s->view.replication,
			.peer_addr = &s->peer_addr,
			.tls_version = s->client.ssl ? SSL_get_version(s->client.ssl) : NULL,
			.tls_cipher = s->client.ssl ? SSL_get_cipher_name(s->client.ssl) : NULL,
		};
		socklen_t len = sizeof(v.local_addr);

		if (s->state >= PGW_SS_DEAD)
			continue;
		v.application_name = view_application_name(s);
		if (s->client.fd < 0 ||
		    getsockname(s->client.fd, (struct sockaddr *)&v.local_addr, &len) < 0)
			v.local_addr.ss_family = AF_UNSPEC;
		unmap_ipv4(&v.local_addr);
		if (s->admin)
			v.database = pgw.cfg.admin_database;
		fn(&v, arg);
	}
}
