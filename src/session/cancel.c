/*
 * Cancel keys. Each client gets the server's pid (so PQbackendPID() equals
 * pg_backend_pid() and NOTIFY self-detection keeps working) with a secret of pgward's
 * own; a CancelRequest is forwarded with the server's secret only if both match.
 */
#include "session-int.h"

#include "pgward/log.h"
#include "pgward/proxy.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <utlist.h>

#define CANCEL_TIMEOUT_SECONDS 10

static struct pgw_session *registry; /* uthash by cancel_pid */

struct cancel_link {
	struct pgw_conn conn;
	struct event timer;
	uint64_t sid;
	struct cancel_link *prev, *next;
};

static struct cancel_link *links; /* in flight, so that exit can free them */

/*
 * When a busy client leaves, its cancel is sent again later: PostgreSQL ignores a cancel that
 * reaches a backend before it has read the query (it is then waiting for a command), and the
 * closed connection does not stop a query that writes nothing. The backend's connection is
 * closed by then, never pooled again, so a late cancel can only reach the query it was meant
 * for (a reused pid has another secret).
 */
static const unsigned again_ms[] = {200, 1000, 5000};

struct cancel_again {
	struct event timer;
	uint64_t sid;
	uint32_t pid, secret;
	size_t round; /* which delay of again_ms (after the previous send) it waits for */
	struct cancel_again *prev, *next;
};

static struct cancel_again *agains; /* waiting, so that exit can free them */

void pgw_cancel_register(struct pgw_session *s)
{
	struct pgw_session *old = NULL;

	pgw_cancel_unregister(s);
	HASH_FIND(hh, registry, &s->cancel_pid, sizeof(s->cancel_pid), old);
	if (old != NULL) {
		/* Only a session whose backend is gone can still hold this pid. */
		HASH_DELETE(hh, registry, old);
		old->cancel_registered = false;
	}
	HASH_ADD(hh, registry, cancel_pid, sizeof(s->cancel_pid), s);
	s->cancel_registered = true;
}

void pgw_cancel_unregister(struct pgw_session *s)
{
	if (!s->cancel_registered)
		return;
	HASH_DELETE(hh, registry, s);
	s->cancel_registered = false;
}

static void free_link(struct cancel_link *l)
{
	evtimer_del(&l->timer);
	pgw_conn_release(&l->conn);
	DL_DELETE(links, l);
	free(l);
}

static void free_link_cb(evutil_socket_t fd, short what, void *arg)
{
	free_link(arg);
}

static void free_again(struct cancel_again *a)
{
	evtimer_del(&a->timer);
	DL_DELETE(agains, a);
	free(a);
}

void pgw_cancel_free_all(void)
{
	while (links != NULL)
		free_link(links);
	while (agains != NULL)
		free_again(agains);
}

/* Ends a link from inside its own callbacks: close now, free on the next loop turn. */
static void finish_link(struct cancel_link *l)
{
	evtimer_del(&l->timer);
	pgw_conn_close(&l->conn);
	event_base_once(pgw.base, -1, EV_TIMEOUT, free_link_cb, l, NULL);
}

static void link_cb(struct pgw_conn *c, enum pgw_conn_event ev, void *arg)
{
	struct cancel_link *l = arg;

	switch (ev) {
	case PGW_CONN_CONNECTED:
		pgw_conn_set_reading(c, true); /* the server answers by closing */
		if (pgw_conn_flush(c) < 0)
			finish_link(l);
		return;
	case PGW_CONN_READ:
		pgw_rbuf_drain(&c->in, pgw_rbuf_len(&c->in));
		return;
	case PGW_CONN_EOF:
		pgw_debug(l->sid, "cancel_sent", "");
		finish_link(l);
		return;
	case PGW_CONN_ERROR:
		pgw_warn(l->sid, "cancel_failed", "error=\"%s\"", c->err);
		finish_link(l);
		return;
	case PGW_CONN_DRAINED:
	case PGW_CONN_HANDSHAKE_DONE:
		return;
	}
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cancel_link *l = arg;

	pgw_warn(l->sid, "cancel_failed", "error=\"timed out\"");
	finish_link(l);
}

/*
 * A plain connection carrying the CancelRequest: PostgreSQL reads it before any TLS or
 * pg_hba check, which is also what libpq does.
 */
static void send_key(uint64_t sid, uint32_t pid, uint32_t secret)
{
	struct cancel_link *l;
	uint32_t pkt[4];
	struct timeval tv = {CANCEL_TIMEOUT_SECONDS, 0};

	pkt[0] = htonl(16);
	pkt[1] = htonl(80877102u);
	pkt[2] = htonl(pid);
	pkt[3] = htonl(secret);
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return;
	l->sid = sid;
	evtimer_assign(&l->timer, pgw.base, timeout_cb, l);
	if (pgw_conn_connect(&l->conn, pgw.base, (const struct sockaddr *)&pgw.server_addr,
			     pgw.server_addrlen, link_cb, l) < 0) {
		pgw_warn(sid, "cancel_failed", "error=\"%s\"", l->conn.err);
		pgw_conn_release(&l->conn);
		free(l);
		return;
	}
	DL_APPEND(links, l);
	evbuffer_add(l->conn.out, pkt, sizeof(pkt));
	evtimer_add(&l->timer, &tv);
}

void pgw_cancel_send(struct pgw_session *s)
{
	if (s->srv == NULL || s->srv->pid == 0)
		return; /* no server: nothing runs for this client */
	send_key(s->id, s->srv->pid, s->srv->secret);
}

static void arm_again(struct cancel_again *a)
{
	struct timeval tv = {again_ms[a->round] / 1000, (again_ms[a->round] % 1000) * 1000};

	evtimer_add(&a->timer, &tv);
}

static void again_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cancel_again *a = arg;

	pgw_debug(a->sid, "cancel_again", "pid=%u", a->pid);
	send_key(a->sid, a->pid, a->secret);
	if (++a->round < PGW_ARRAY_LEN(again_ms))
		arm_again(a);
	else
		free_again(a);
}

void pgw_cancel_send_leaving(struct pgw_session *s)
{
	struct cancel_again *a;

	if (s->srv == NULL || s->srv->pid == 0)
		return;
	send_key(s->id, s->srv->pid, s->srv->secret);
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return;
	a->sid = s->id;
	a->pid = s->srv->pid;
	a->secret = s->srv->secret;
	evtimer_assign(&a->timer, pgw.base, again_cb, a);
	DL_APPEND(agains, a);
	arm_again(a);
}

static bool secrets_equal(uint32_t a, uint32_t b)
{
	volatile uint32_t diff = a ^ b; /* no early exit on the first differing bit */

	return diff == 0;
}

void pgw_cancel_request(uint64_t sid, uint32_t pid, uint32_t secret)
{
	struct pgw_session *s = NULL;

	HASH_FIND(hh, registry, &pid, sizeof(pid), s);
	if (s == NULL || !secrets_equal(s->client_secret, secret)) {
		/* PostgreSQL also ignores a wrong key silently; a log line is the only trace. */
		static struct pgw_log_limit limit =
			PGW_LOG_LIMIT(PGW_LOG_INFO, "cancel_ignored", 20, 10.0);

		pgw_log_limited(&limit, sid, "pid=%u reason=\"no session with this key\"", pid);
		return;
	}
	pgw_info(sid, "cancel", "target_sid=%llu pid=%u", (unsigned long long)s->id, pid);
	if (s->srv == NULL || s->srv->pid == 0)
		return; /* a client without a server yet (welcomed): nothing runs for it */
	s->cancel_forwarded = true;
	pgw_cancel_send(s);
}
