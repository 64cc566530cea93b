/*
 * Pools of servers per (database, user): checkout, release and reset, the wait queue and
 * the timeouts of idle servers. A pool's servers are counted from the moment a client is
 * promised one (NEW) until the server is closed, so a pool never exceeds default_pool_size.
 * While no client holds a server, the pool reads it: the answers to server_reset_query,
 * ParameterStatus, notices, and anything that means the server is no longer fit (an
 * error, a close, a message nobody asked for) closes it.
 */
#include "pool-int.h"

#include "pgward/codec.h"
#include "pgward/log.h"
#include "pgward/pool_db.h"
#include "pgward/proxy.h"
#include "pgward/random.h"
#include "pgward/startup_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <uthash.h>
#include <utlist.h>

/* A server whose reset (or check) has not finished in this time is closed. */
#define RESET_TIMEOUT_SECONDS 10
/* What an idle server may send (notices, a FATAL before a shutdown) is small. */
#define IDLE_MSG_MAX (64 * 1024)

static struct pgw_pool *pools;
/* Bumped by a reload: servers opened under an older configuration are not reused. */
static unsigned generation;
/* Closed servers wait here to be freed outside their own connection's callbacks. */
static struct pgw_server *graveyard;
static struct event *bury_ev;

static void bury_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgw_server *srv, *next;

	for (srv = graveyard; srv != NULL; srv = next) {
		next = srv->next;
		pgw_server_free(srv);
	}
	graveyard = NULL;
}

static void bury(struct pgw_server *srv)
{
	pgw_server_close(srv);
	srv->next = graveyard;
	graveyard = srv;
	if (bury_ev == NULL)
		bury_ev = event_new(pgw.base, -1, 0, bury_cb, NULL);
	if (bury_ev != NULL)
		event_active(bury_ev, EV_TIMEOUT, 1);
}

/* Closes <srv> and takes it out of its pool, without serving anyone the place. */
static void forget(struct pgw_server *srv)
{
	struct pgw_pool *p = srv->pool;

	if (p != NULL) {
		if (srv->state == PGW_SRV_IDLE)
			DL_DELETE(p->idle, srv);
		else if (srv->state == PGW_SRV_RESETTING)
			DL_DELETE(p->resetting, srv);
		else if (srv->warm_login != NULL)
			DL_DELETE(p->warming, srv);
		p->count[srv->state]--;
		p->nservers--;
		DL_DELETE2(p->all, srv, pool_prev, pool_next);
		srv->pool = NULL;
		pgw_debug(srv->id, "server_closed", "server_pid=%u", srv->pid);
	}
	bury(srv);
}

static void set_state(struct pgw_server *srv, enum pgw_server_state to)
{
	struct pgw_pool *p = srv->pool;

	if (p != NULL) {
		p->count[srv->state]--;
		p->count[to]++;
	}
	srv->state = to;
}

struct pgw_pool *pgw_pool_of(const char *database, const char *user, bool create)
{
	char key[sizeof(((struct pgw_pool *)NULL)->key)];
	size_t dlen = strnlen(database, PGW_NAME_MAX), ulen = strnlen(user, PGW_NAME_MAX);
	size_t keylen = dlen + 1 + ulen;
	struct pgw_pool *p = NULL;

	memcpy(key, database, dlen);
	key[dlen] = '\0';
	memcpy(key + dlen + 1, user, ulen);
	HASH_FIND(hh, pools, key, keylen, p);
	if (p != NULL || !create)
		return p;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	memcpy(p->key, key, keylen);
	p->key[keylen] = '\0';
	p->keylen = keylen;
	p->database = p->key;
	p->user = p->key + dlen + 1;
	HASH_ADD(hh, pools, key, keylen, p);
	return p;
}

/* Servers of every pool of <database>, or of every pool of <user>. */
static unsigned servers_of(const char *database, const char *user)
{
	const struct pgw_pool *p, *ptmp;
	unsigned n = 0;

	HASH_ITER (hh, pools, p, ptmp) {
		if ((database != NULL && strcmp(p->database, database) == 0) ||
		    (user != NULL && strcmp(p->user, user) == 0))
			n += p->nservers;
	}
	return n;
}

/* Servers <p> may have now: default_pool_size, and its reserve once a client has waited
 * reserve_pool_timeout. */
static unsigned own_limit(const struct pgw_pool *p, double now)
{
	const struct pgw_config *c = &pgw.cfg;

	if (p->waiters != NULL && now - p->waiters->since >= c->reserve_pool_timeout)
		return (unsigned)(c->default_pool_size + c->reserve_pool_size);
	return (unsigned)c->default_pool_size;
}

bool pgw_pool_room_for_new(const struct pgw_pool *p, double now)
{
	const struct pgw_config *c = &pgw.cfg;

	if (now < p->retry_after || p->nservers >= own_limit(p, now))
		return false;
	if (c->max_db_connections > 0 &&
	    servers_of(p->database, NULL) >= (unsigned)c->max_db_connections)
		return false;
	return c->max_user_connections == 0 ||
	       servers_of(NULL, p->user) < (unsigned)c->max_user_connections;
}

/* (a server nobody uses should not keep a client waiting) */
bool pgw_pool_make_room(struct pgw_pool *p, double now)
{
	const struct pgw_config *c = &pgw.cfg;
	struct pgw_pool *q, *qtmp;

	if (pgw_pool_room_for_new(p, now))
		return true;
	/* only the shared limits give way: a pool at its own size, or waiting out
	 * server_login_retry, closes nothing of others' */
	if ((c->max_db_connections == 0 && c->max_user_connections == 0) || now < p->retry_after ||
	    p->nservers >= own_limit(p, now))
		return false;
	HASH_ITER (hh, pools, q, qtmp) {
		if (q == p || q->idle == NULL ||
		    (strcmp(q->database, p->database) != 0 && strcmp(q->user, p->user) != 0))
			continue;
		forget(q->idle->prev); /* the least recently used */
		if (pgw_pool_room_for_new(p, now))
			return true;
	}
	return false;
}

bool pgw_pool_sibling_waits(const struct pgw_pool *p)
{
	const struct pgw_config *c = &pgw.cfg;
	const struct pgw_pool *q, *qtmp;
	double now = pgw_now();

	if (c->max_db_connections == 0 && c->max_user_connections == 0)
		return false;
	HASH_ITER (hh, pools, q, qtmp) {
		/* a client that waits for its own pool's size could not use the place */
		if (q == p || q->waiters == NULL || q->nservers >= own_limit(q, now))
			continue;
		if ((c->max_db_connections > 0 && strcmp(q->database, p->database) == 0 &&
		     servers_of(p->database, NULL) >= (unsigned)c->max_db_connections) ||
		    (c->max_user_connections > 0 && strcmp(q->user, p->user) == 0 &&
		     servers_of(NULL, p->user) >= (unsigned)c->max_user_connections))
			return true;
	}
	return false;
}

struct pgw_server *pgw_pool_open_new(struct pgw_pool *p, uint64_t id)
{
	struct pgw_server *srv = pgw_server_new(id);

	if (srv == NULL)
		return NULL;
	srv->generation = generation;
	srv->pool = p;
	pgw_pool_db_handed(&srv->stats, false, p->database, pgw_now());
	p->nservers++;
	p->count[PGW_SRV_NEW]++;
	DL_APPEND2(p->all, srv, pool_prev, pool_next);
	return srv;
}

/* Hands the first waiting client a server: <srv> (IDLE), or a NEW one if there is room. */
static bool serve_waiter(struct pgw_pool *p, struct pgw_server *srv)
{
	struct pgw_pool_wait *w = p->waiters;

	if (w == NULL || pgw_pool_db_held(p->database))
		return false;
	if (srv == NULL) {
		if (!pgw_pool_make_room(p, pgw_now()) || (srv = pgw_pool_open_new(p, 0)) == NULL)
			return false;
	} else {
		set_state(srv, PGW_SRV_ACTIVE);
	}
	DL_DELETE(p->waiters, w);
	w->pool = NULL;
	pgw_pool_db_handed(&srv->stats, srv->state != PGW_SRV_NEW, p->database, w->since);
	w->ready(w->arg, srv);
	return true;
}

/* Every pool's waiting clients get what room there is now (a server closed, a limit or a
 * retry delay passed). */
static void serve_all_waiters(void)
{
	struct pgw_pool *p, *ptmp;

	HASH_ITER (hh, pools, p, ptmp) {
		while (serve_waiter(p, NULL))
			;
	}
}

void pgw_pool_logged_in(struct pgw_server *srv)
{
	pgw_pool_adopt_login(srv);
	set_state(srv, PGW_SRV_ACTIVE);
	pgw_pool_db_logged_in(&srv->stats, srv->pool ? srv->pool->database : NULL);
}

void pgw_pool_unreachable(struct pgw_server *srv)
{
	if (srv->pool != NULL)
		srv->pool->retry_after = pgw_now() + pgw.cfg.server_login_retry;
}

void pgw_pool_drop(struct pgw_server *srv)
{
	bool pooled = srv->pool != NULL;

	forget(srv);
	if (pooled)
		serve_all_waiters();
}

/* Idle past server_check_delay: server_check_query runs before a client gets it. */
static bool needs_check(const struct pgw_server *srv, double now)
{
	return pgw.cfg.server_check_query != NULL && pgw.cfg.server_check_delay > 0 &&
	       now - srv->idle_since > pgw.cfg.server_check_delay;
}

static bool too_old(const struct pgw_server *srv, double now)
{
	return srv->generation != generation ||
	       (pgw.cfg.server_lifetime > 0 && now - srv->connected_at > pgw.cfg.server_lifetime);
}

/* The server is reset and fit: the first waiting client gets it, or it waits in the pool. */
void pgw_pool_make_idle(struct pgw_server *srv)
{
	struct pgw_pool *p = srv->pool;

	/* with no client of its own waiting, its place may serve one a limit keeps waiting */
	if (pgw.cfg.pool_mode == PGW_POOL_NONE || too_old(srv, pgw_now()) ||
	    pgw_pool_db_held(p->database) || (p->waiters == NULL && pgw_pool_sibling_waits(p))) {
		pgw_pool_drop(srv);
		return;
	}
	if (srv->state == PGW_SRV_RESETTING)
		DL_DELETE(p->resetting, srv);
	set_state(srv, PGW_SRV_IDLE);
	srv->idle_since = pgw_now();
	pgw_debug(srv->id, "server_idle", "server_pid=%u", srv->pid);
	if (p->waiters != NULL) {
		serve_waiter(p, srv);
		return;
	}
	DL_PREPEND(p->idle, srv);
}

/* A ParameterStatus body: remembered for the next client. False if out of memory. */
static bool note_param(struct pgw_server *srv, const uint8_t *body, size_t len)
{
	struct pgw_reader r;
	const char *name, *value;

	pgw_reader_init(&r, body, len);
	name = pgw_read_cstr(&r);
	value = pgw_read_cstr(&r);
	return name == NULL || value == NULL || pgw_server_param_set(srv, name, value) == 0;
}

/* Reads what a server sends while no client holds it. */
static void pool_read(struct pgw_server *srv)
{
	struct pgw_rbuf *in = &srv->conn.in;

	for (;;) {
		struct pgw_msg_hdr h;
		enum pgw_frame_status st = pgw_frame_whole(in, IDLE_MSG_MAX, &h);
		const uint8_t *data = pgw_rbuf_data(in);
		size_t total;

		if (st == PGW_FRAME_NEED_MORE)
			break;
		if (st == PGW_FRAME_BAD_LENGTH) {
			pgw_pool_drop(srv);
			return;
		}
		total = (size_t)h.len + 1;
		switch (h.type) {
		case 'S':
			if (!note_param(srv, data + PGW_HDR_LEN, h.len - 4)) {
				pgw_pool_drop(srv);
				return;
			}
			break;
		case 'N': /* a notice */
		case 'A': /* a notification sent before the reset's UNLISTEN took effect */
			break;
		case 'Z':
			if (srv->state != PGW_SRV_RESETTING || srv->resets == 0 || h.len != 5 ||
			    data[PGW_HDR_LEN] != 'I') {
				pgw_pool_drop(srv);
				return;
			}
			srv->tx_status = 'I';
			pgw_rbuf_drain(in, total);
			if (--srv->resets > 0)
				continue;
			pgw_rbuf_trim(in);
			pgw_pool_make_idle(srv);
			return;
		case 'E': /* the reset failed, or the server is going away */
			pgw_pool_drop(srv);
			return;
		default:
			if (srv->state != PGW_SRV_RESETTING) {
				pgw_pool_drop(srv);
				return;
			}
			break; /* the reset query's own answers */
		}
		pgw_rbuf_drain(in, total);
	}
	pgw_rbuf_trim(in);
}

void pgw_pool_server_cb(struct pgw_conn *c, enum pgw_conn_event ev, void *arg)
{
	struct pgw_server *srv = arg;

	switch (ev) {
	case PGW_CONN_READ:
		pool_read(srv);
		return;
	case PGW_CONN_EOF:
	case PGW_CONN_ERROR:
		srv->gone = true;
		pgw_pool_drop(srv);
		return;
	case PGW_CONN_CONNECTED:
	case PGW_CONN_DRAINED:
	case PGW_CONN_HANDSHAKE_DONE:
		return;
	}
}

/* Query <sql>, whose ReadyForQuery the pool waits for. */
static void send_reset(struct pgw_server *srv, const char *sql)
{
	pgw_msg_header(srv->conn.out, 'Q', (uint32_t)strlen(sql) + 1);
	pgw_put_cstr(srv->conn.out, sql);
	if (srv->resets++ == 0)
		srv->reset_since = pgw_now();
}

/*
 * The last statement of every reset. DISCARD ALL leaves the random seed a client chose with
 * setseed(), so the next client's random() would be predictable: it gets one of pgward's.
 * Being a statement, it also takes a cancel the previous client's statement_timeout left
 * pending through the reset's commit, which then fails here (the server is closed) rather
 * than in the next client's first statement.
 */
static void send_reseed(struct pgw_server *srv)
{
	uint32_t r;
	char sql[80];

	if (pgw_random_bytes(&r, sizeof(r)) < 0)
		r = (uint32_t)random();
	/* the server does the division: formatting a double costs more than the rest of a
	 * reset's work in pgward */
	snprintf(sql, sizeof(sql), "SELECT pg_catalog.setseed(%u / 4294967295.0 * 2 - 1)", r);
	send_reset(srv, sql);
}

/* Idle servers looked at for one the client prefers, most recently used first: a handful,
 * so that a checkout stays cheap in a pool of many. */
#define FITTING_LOOKS 8

/* The idle server <w> prefers, if one of the first few is, goes to the front. */
static void prefer_fitting(struct pgw_pool *p, struct pgw_pool_wait *w)
{
	struct pgw_server *srv = p->idle;

	for (int n = 0; srv != NULL && n < FITTING_LOOKS; n++, srv = srv->next)
		if (w->fits(srv, w->arg)) {
			if (srv != p->idle) {
				DL_DELETE(p->idle, srv);
				DL_PREPEND(p->idle, srv);
			}
			return;
		}
}

struct pgw_server *pgw_pool_checkout(const char *database, const char *user, uint64_t id,
				     struct pgw_pool_wait *w)
{
	struct pgw_pool *p = pgw_pool_of(database, user, true);
	struct pgw_server *srv;
	double now = pgw_now();
	struct pgw_pool_wait *w_at;
	unsigned waiting;

	w->pool = NULL;
	if (p == NULL)
		return NULL;
	if (w->fits != NULL)
		prefer_fitting(p, w);
	DL_COUNT(p->waiters, w_at, waiting);
	while (!pgw_pool_db_held(p->database) && (srv = p->idle) != NULL) {
		if (too_old(srv, now)) {
			pgw_pool_drop(srv);
			continue;
		}
		DL_DELETE(p->idle, srv);
		if (needs_check(srv, now)) {
			/* idle for a while: it may have died unseen; the client waits for the
			 * check, which hands the server to the first waiting client once it passes
			 */
			pgw_debug(id, "server_check", "server_pid=%u", srv->pid);
			set_state(srv, PGW_SRV_RESETTING);
			DL_APPEND(p->resetting, srv);
			srv->resets = 0;
			send_reset(srv, pgw.cfg.server_check_query);
			if (pgw_conn_flush(&srv->conn) < 0)
				pgw_pool_drop(srv);
			break;
		}
		set_state(srv, PGW_SRV_ACTIVE);
		srv->id = id;
		pgw_pool_db_handed(&srv->stats, true, p->database, now);
		return srv;
	}
	/* a server whose reset is under way is as good as idle: one round trip away */
	if (!pgw_pool_db_held(p->database) && p->count[PGW_SRV_RESETTING] <= waiting &&
	    pgw_pool_make_room(p, now))
		return pgw_pool_open_new(p, id);
	w->pool = p;
	w->since = now;
	DL_APPEND(p->waiters, w);
	return NULL;
}

void pgw_pool_unwait(struct pgw_pool_wait *w)
{
	if (w->pool == NULL)
		return;
	DL_DELETE(w->pool->waiters, w);
	w->pool = NULL;
}

void pgw_pool_release(struct pgw_server *srv, bool reusable)
{
	const char *reset = pgw.cfg.server_reset_query;

	srv->pinned = false;
	if (!reusable || srv->gone || srv->pool == NULL || srv->state != PGW_SRV_ACTIVE ||
	    pgw.cfg.pool_mode == PGW_POOL_NONE || too_old(srv, pgw_now())) {
		pgw_pool_drop(srv);
		return;
	}
	pgw_conn_set_cb(&srv->conn, pgw_pool_server_cb, srv);
	pgw_conn_set_reading(&srv->conn, true);
	srv->resets = 0;
	/* a client that leaves inside a transaction (a driver's implicit BEGIN) leaves it to
	 * be rolled back, as the server would at its disconnect */
	if (srv->tx_status != 'I')
		send_reset(srv, "ROLLBACK");
	if (reset != NULL) {
		send_reset(srv, reset);
		/* only DISCARD ALL leaves nothing of its client's: after a weaker reset, the next
		 * client's handover resets the server itself (handover.c) */
		if (strcasecmp(reset, "DISCARD ALL") == 0)
			pgw_server_forget_session(srv);
		else
			pgw_server_session_unknown(srv);
	}
	send_reseed(srv);
	set_state(srv, PGW_SRV_RESETTING);
	DL_APPEND(srv->pool->resetting, srv);
	if (pgw_conn_flush(&srv->conn) < 0) {
		pgw_pool_drop(srv);
		return;
	}
	/* answers that came before the client left are read now */
	if (pgw_rbuf_len(&srv->conn.in) > 0)
		pool_read(srv);
}

void pgw_pool_checkin(struct pgw_server *srv)
{
	if (srv->gone || srv->pool == NULL || srv->state != PGW_SRV_ACTIVE) {
		pgw_pool_drop(srv);
		return;
	}
	pgw_conn_set_cb(&srv->conn, pgw_pool_server_cb, srv);
	pgw_conn_set_reading(&srv->conn, true);
	pgw_pool_make_idle(srv);
}

void pgw_pool_tick(double now)
{
	struct pgw_pool *p, *ptmp;

	HASH_ITER (hh, pools, p, ptmp) {
		struct pgw_server *srv, *stmp;
		struct pgw_pool_wait *w;

		DL_FOREACH_SAFE (p->resetting, srv, stmp) {
			/* a reset or check that does not finish: the server is stuck, not free */
			if (now - srv->reset_since > RESET_TIMEOUT_SECONDS)
				pgw_pool_drop(srv);
		}
		DL_FOREACH_SAFE (p->idle, srv, stmp) {
			/* server_idle_timeout spares the servers min_pool_size keeps, as
			 * PgBouncer's */
			if (pgw.cfg.pool_mode == PGW_POOL_NONE || too_old(srv, now) ||
			    (pgw.cfg.server_idle_timeout > 0 &&
			     now - srv->idle_since > pgw.cfg.server_idle_timeout &&
			     p->nservers > pgw_pool_min_size()))
				pgw_pool_drop(srv);
		}
		while ((w = p->waiters) != NULL && pgw.cfg.query_wait_timeout > 0 &&
		       now - w->since > pgw.cfg.query_wait_timeout) {
			DL_DELETE(p->waiters, w);
			w->pool = NULL;
			w->ready(w->arg, NULL);
		}
		while (serve_waiter(p, NULL))
			; /* a retry delay passed, the reserve opened */
		pgw_pool_warming_tick(p, now);
		pgw_pool_keep_min(p, now);
		/* an empty pool goes, unless it holds credentials or a server_login_retry delay
		 * (forgotten with it, the next client would knock at once) */
		if (p->nservers == 0 && p->waiters == NULL && p->creds == NULL &&
		    now >= p->retry_after) {
			free(p->application_name);
			HASH_DEL(pools, p);
			free(p);
		}
	}
}

void pgw_pool_reconfigured(void)
{
	struct pgw_pool *p, *ptmp;

	generation++;
	/* the role may be gone from auth_file, or its secret changed: the next login tells */
	HASH_ITER (hh, pools, p, ptmp)
		pgw_pool_forget_creds(p);
	pgw_pool_close_idle();
}

void pgw_pool_close_idle(void)
{
	struct pgw_pool *p, *ptmp;

	HASH_ITER (hh, pools, p, ptmp) {
		while (p->idle != NULL)
			pgw_pool_drop(p->idle);
	}
}

void pgw_pool_free_all(void)
{
	struct pgw_pool *p, *ptmp;

	HASH_ITER (hh, pools, p, ptmp) {
		struct pgw_server *srv;

		while ((srv = p->idle) != NULL) {
			DL_DELETE(p->idle, srv);
			pgw_server_free(srv);
		}
		while ((srv = p->resetting) != NULL) {
			DL_DELETE(p->resetting, srv);
			pgw_server_free(srv);
		}
		while ((srv = p->warming) != NULL) {
			DL_DELETE(p->warming, srv);
			pgw_server_free(srv);
		}
		pgw_pool_forget_creds(p);
		free(p->application_name);
		HASH_DEL(pools, p);
		free(p);
	}
	pgw_pool_db_free_all();
	bury_cb(-1, 0, NULL);
	if (bury_ev != NULL) {
		event_free(bury_ev);
		bury_ev = NULL;
	}
}

void pgw_pool_foreach(pgw_pool_view_fn fn, void *arg)
{
	struct pgw_pool *p, *ptmp;
	double now = pgw_now();

	HASH_ITER (hh, pools, p, ptmp) {
		struct pgw_pool_view v = {
			.database = p->database,
			.user = p->user,
			.active = p->count[PGW_SRV_ACTIVE],
			.idle = p->count[PGW_SRV_IDLE],
			.resetting = p->count[PGW_SRV_RESETTING],
			.connecting = p->count[PGW_SRV_NEW],
		};
		struct pgw_pool_wait *w;
		const struct pgw_server *srv;

		DL_COUNT(p->waiters, w, v.waiting);
		DL_FOREACH (p->idle, srv)
			v.unchecked += needs_check(srv, now);
		for (srv = p->all; srv != NULL; srv = srv->pool_next)
			v.pinned += srv->pinned;
		if (p->waiters != NULL)
			v.max_wait = now - p->waiters->since;
		fn(&v, arg);
	}
}

void pgw_pool_foreach_server(pgw_pool_server_fn fn, void *arg)
{
	struct pgw_pool *p, *ptmp;

	HASH_ITER (hh, pools, p, ptmp) {
		for (const struct pgw_server *srv = p->all; srv != NULL; srv = srv->pool_next)
			fn(p->database, p->user, srv, arg);
	}
}

bool pgw_pool_server_stale(const struct pgw_server *srv, double now)
{
	return pgw.cfg.pool_mode == PGW_POOL_NONE || too_old(srv, now);
}

/* ---- the admin console's PAUSE, KILL, RECONNECT and WAIT_CLOSE (src/admin/control.c) ---- */

static bool of_database(const struct pgw_pool *p, const char *database)
{
	return database == NULL || strcmp(p->database, database) == 0;
}

void pgw_pool_close(const char *database, enum pgw_pool_close how)
{
	struct pgw_pool *p, *ptmp;

	HASH_ITER (hh, pools, p, ptmp) {
		struct pgw_server *srv, *stmp;

		if (!of_database(p, database))
			continue;
		/* opened under another generation: too_old, so closed rather than reused */
		if (how != PGW_POOL_CLOSE_IDLE)
			for (srv = p->all; srv != NULL; srv = srv->pool_next)
				srv->generation = generation - 1;
		while (p->idle != NULL)
			pgw_pool_drop(p->idle);
		if (how == PGW_POOL_CLOSE_ALL)
			DL_FOREACH_SAFE (p->resetting, srv, stmp)
				pgw_pool_drop(srv);
	}
}

unsigned pgw_pool_count_servers(const char *database, bool to_close)
{
	const struct pgw_pool *p, *ptmp;
	double now = pgw_now();
	unsigned n = 0;

	HASH_ITER (hh, pools, p, ptmp) {
		if (!of_database(p, database))
			continue;
		if (!to_close) {
			n += p->nservers;
			continue;
		}
		for (const struct pgw_server *srv = p->all; srv != NULL; srv = srv->pool_next)
			n += pgw_pool_server_stale(srv, now);
	}
	return n;
}

void pgw_pool_serve_waiters(void)
{
	serve_all_waiters();
}
