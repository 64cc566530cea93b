/*
 * PgBouncer's SHOW POOLS, CLIENTS, SERVERS, DATABASES, USERS, LISTS and VERSION, with the
 * column names, order and types of PgBouncer 1.25, so that its users and their tools read
 * pgward. A column holds pgward's own value where pgward has the concept, and 0, "" or NULL
 * where it has none (cancel queues, reserve pools, load balancing, DNS, DISABLE). Reads only.
 */
#include "admin-int.h"

#include "pgward/pool.h"
#include "pgward/pool_db.h"
#include "pgward/proxy.h"
#include "pgward/server.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>

#define NUM(buf, fmt, v) (snprintf(buf, sizeof(buf), fmt, v), buf)

/* ---- one pass over sessions and pools, shared by the commands ---- */

/* Clients and servers counted under one key: a database, a user, or a (database, user). */
struct tally {
	char key[2 * (PGW_NAME_MAX + 1)];
	size_t keylen;
	unsigned clients, servers;
	UT_hash_handle hh;
};

/* A session that holds a server: the server's link back to its client. */
struct holder {
	const struct pgw_server *srv; /* the hash key */
	uint64_t sid;
	double last_activity;
	const char *user, *database, *application_name;
	enum pgw_replication replication;
	bool logged_in;
	UT_hash_handle hh;
};

struct snapshot {
	struct tally *pools, *databases, *users;
	struct holder *holders;
	unsigned sessions, login_clients, servers, npools;
};

/* The tally for <a> (and <b>, when not NULL), created at zero; NULL when out of memory,
 * and then that count is missing from the answer, nothing worse. */
static struct tally *tally_get(struct tally **t, const char *a, const char *b)
{
	struct tally *r = NULL, key = {0};
	size_t alen = strnlen(a, PGW_NAME_MAX), blen = b ? strnlen(b, PGW_NAME_MAX) : 0;

	memcpy(key.key, a, alen);
	if (b != NULL)
		memcpy(key.key + alen + 1, b, blen);
	key.keylen = alen + (b ? 1 + blen : 0);
	HASH_FIND(hh, *t, key.key, key.keylen, r);
	if (r != NULL || (r = calloc(1, sizeof(*r))) == NULL)
		return r;
	*r = key;
	HASH_ADD(hh, *t, key, r->keylen, r);
	return r;
}

static void tally_add(struct tally **t, const char *a, const char *b, unsigned clients,
		      unsigned servers)
{
	struct tally *r = tally_get(t, a, b);

	if (r != NULL)
		r->clients += clients, r->servers += servers;
}

static int by_key(const struct tally *a, const struct tally *b)
{
	return strcmp(a->key, b->key);
}

static void tally_free(struct tally **t)
{
	struct tally *r, *tmp;

	HASH_ITER (hh, *t, r, tmp) {
		HASH_DEL(*t, r);
		free(r);
	}
}

/*
 * What SHOW CLIENTS calls a client, PgBouncer's words, or NULL for a session it does not
 * list (still logging in, or closing): "active" holds a server (its own, or its pool's
 * while that one logs in) or is logged in without one until its first message (as
 * PgBouncer's idle clients are), "waiting" is queued for a server of its pool, and the
 * console, which never holds one, is "idle" as PgBouncer shows its own console's clients.
 */
static const char *client_state(const struct pgw_session_view *v)
{
	if (strcmp(v->state, "startup") == 0 || strcmp(v->state, "closing") == 0)
		return NULL;
	if (v->admin)
		return strcmp(v->state, "admin") == 0 ? "idle" : NULL;
	if (v->waiting)
		return "waiting";
	if (v->server != NULL && (v->logged_in || v->server->pool != NULL))
		return "active";
	if (v->server == NULL && v->logged_in && strcmp(v->state, "idle") == 0)
		return "active";
	return NULL;
}

static void holder_add(struct snapshot *snap, const struct pgw_session_view *v)
{
	struct holder *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return; /* the server shows no link, nothing worse */
	*h = (struct holder){.srv = v->server,
			     .sid = v->id,
			     .last_activity = v->last_activity,
			     .user = v->user,
			     .database = v->database,
			     .application_name = v->application_name,
			     .replication = v->replication,
			     .logged_in = v->logged_in};
	HASH_ADD_PTR(snap->holders, srv, h);
}

static void snapshot_session(const struct pgw_session_view *v, void *arg)
{
	struct snapshot *snap = arg;
	const char *state = client_state(v);
	bool holds = state != NULL && strcmp(state, "active") == 0 && v->server != NULL;
	bool own_server = holds && v->server->pool == NULL;

	snap->sessions++;
	if (state == NULL && strcmp(v->state, "closing") != 0)
		snap->login_clients++;
	/* a server of its own that logs the client in (passthrough): not yet a client in
	 * PgBouncer's sense, but a server, which SHOW SERVERS lists as "new" (a pool's server
	 * makes its client "active": client_state) */
	if (v->server != NULL && state == NULL && !v->admin && strcmp(v->state, "login") == 0) {
		holder_add(snap, v);
		snap->servers++;
		tally_add(&snap->databases, v->database, NULL, 0, 1);
		tally_add(&snap->users, v->user, NULL, 0, 1);
	}
	if (state == NULL || v->admin)
		return; /* the console has no pool: it shows in SHOW CLIENTS only */
	if (holds)
		holder_add(snap, v);
	snap->servers += own_server;
	tally_add(&snap->databases, v->database, NULL, 1, own_server);
	tally_add(&snap->users, v->user, NULL, 1, own_server);
	if ((holds && !own_server) || (strcmp(state, "active") == 0 && v->server == NULL))
		tally_add(&snap->pools, v->database, v->user, 1, 0);
}

static void snapshot_server(const char *database, const char *user, const struct pgw_server *srv,
			    void *arg)
{
	struct snapshot *snap = arg;

	snap->servers++;
	tally_add(&snap->databases, database, NULL, 0, 1);
	tally_add(&snap->users, user, NULL, 0, 1);
}

static void snapshot_pool(const struct pgw_pool_view *v, void *arg)
{
	struct snapshot *snap = arg;

	snap->npools++;
}

/* A database served since the start, with or without connections now (a paused one). */
static void snapshot_db(const struct pgw_db_view *v, void *arg)
{
	struct snapshot *snap = arg;

	tally_add(&snap->databases, v->name, NULL, 0, 0);
}

static void snapshot_take(struct snapshot *snap)
{
	*snap = (struct snapshot){0};
	pgw_session_foreach(snapshot_session, snap);
	pgw_pool_foreach_server(snapshot_server, snap);
	pgw_pool_foreach(snapshot_pool, snap);
	pgw_pool_db_foreach(snapshot_db, snap);
	HASH_SORT(snap->databases, by_key);
	HASH_SORT(snap->users, by_key);
}

static void snapshot_free(struct snapshot *snap)
{
	struct holder *h, *tmp;

	tally_free(&snap->pools);
	tally_free(&snap->databases);
	tally_free(&snap->users);
	HASH_ITER (hh, snap->holders, h, tmp) {
		HASH_DEL(snap->holders, h);
		free(h);
	}
}

/* ---- how PgBouncer writes addresses and times ---- */

struct endpoint {
	char addr[INET6_ADDRSTRLEN];
	char port[8];
};

/* "unix" for a Unix socket, as PgBouncer; "" and 0 when unknown. */
static void endpoint_of(const struct sockaddr_storage *ss, struct endpoint *e)
{
	int port = 0;

	e->addr[0] = '\0';
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, e->addr, sizeof(e->addr));
		port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, e->addr, sizeof(e->addr));
		port = ntohs(in6->sin6_port);
	} else if (ss->ss_family == AF_UNIX) {
		snprintf(e->addr, sizeof(e->addr), "unix");
	}
	snprintf(e->port, sizeof(e->port), "%d", port);
}

/* A server socket's own ends; before its connect (fd -1) the configured server. */
static void server_endpoints(const struct pgw_server *srv, struct endpoint *remote,
			     struct endpoint *local)
{
	struct sockaddr_storage ss = {0};
	socklen_t len = sizeof(ss);

	if (srv->conn.fd < 0 || getpeername(srv->conn.fd, (struct sockaddr *)&ss, &len) < 0) {
		snprintf(remote->addr, sizeof(remote->addr), "%s", pgw.cfg.server_host);
		snprintf(remote->port, sizeof(remote->port), "%d", pgw.cfg.server_port);
	} else {
		endpoint_of(&ss, remote);
	}
	memset(&ss, 0, sizeof(ss));
	len = sizeof(ss);
	if (srv->conn.fd < 0 || getsockname(srv->conn.fd, (struct sockaddr *)&ss, &len) < 0)
		ss.ss_family = AF_UNSPEC;
	endpoint_of(&ss, local);
}

/* PgBouncer's timestamp, local time with the zone's abbreviation ("2025-06-01 12:00:00
 * CEST"), for <at> on pgw_now()'s monotonic clock; 0 (not yet) is now, as PgBouncer. */
static const char *wall_time(double at, char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	time_t t;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = ts.tv_sec - (at > 0 ? (time_t)(pgw_now() - at) : 0);
	if (localtime_r(&t, &tm) == NULL || strftime(buf, cap, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
		buf[0] = '\0';
	return buf;
}

/* PgBouncer's TLS column: protocol and cipher; "" on a plain connection. */
static const char *tls_info(const char *version, const char *cipher, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (version != NULL)
		snprintf(buf, cap, "%s/%s", version, cipher ? cipher : "");
	return buf;
}

static const char *replication_name(enum pgw_replication r)
{
	return r == PGW_REPL_LOGICAL ? "logical" : r == PGW_REPL_PHYSICAL ? "physical" : "none";
}

/* ---- SHOW CLIENTS, SHOW SERVERS: PgBouncer's socket rows ---- */

static const char *const socket_cols[] = {"type",
					  "user",
					  "database",
					  "replication",
					  "state",
					  "addr",
					  "port",
					  "local_addr",
					  "local_port",
					  "connect_time",
					  "request_time",
					  "wait",
					  "wait_us",
					  "close_needed",
					  "ptr",
					  "link",
					  "remote_pid",
					  "tls",
					  "application_name",
					  "prepared_statements",
					  "id"};
static const char socket_types[] = "ssssssisiTTiiississii";

/*
 * One socket row. ptr and link name the two ends "c<session id>" and "s<server id>" rather
 * than by memory address as PgBouncer does: the console shows no heap address.
 */
struct socket_row {
	const char *type, *user, *database, *replication, *state;
	struct endpoint remote, local;
	double connect_time, request_time, wait;
	bool close_needed;
	char ptr[24], link[24];
	uint32_t remote_pid;
	char tls[96];
	const char *application_name;
	uint64_t id;
};

static void socket_row(struct pgw_rs *rs, const struct socket_row *r)
{
	char ct[64], rt[64], wait[16], wait_us[16], pid[16], id[24];
	const char *row[] = {
		r->type,
		r->user,
		r->database,
		r->replication,
		r->state,
		r->remote.addr,
		r->remote.port,
		r->local.addr,
		r->local.port,
		wall_time(r->connect_time, ct, sizeof(ct)),
		wall_time(r->request_time, rt, sizeof(rt)),
		NUM(wait, "%d", (int)r->wait),
		NUM(wait_us, "%d", (int)((r->wait - (int)r->wait) * 1e6)),
		r->close_needed ? "1" : "0",
		r->ptr,
		r->link,
		NUM(pid, "%" PRIu32, r->remote_pid),
		r->tls,
		r->application_name,
		"0", /* prepared_statements: PgBouncer counts its own tracking; pgward has none */
		NUM(id, "%" PRIu64, r->id),
	};

	pgw_rs_row(rs, row);
}

static void client_row(const struct pgw_session_view *v, void *arg)
{
	const char *state = client_state(v);
	struct socket_row r = {
		.type = "C",
		.user = v->user,
		.database = v->database,
		.replication = replication_name(v->replication),
		.state = state,
		.connect_time = v->connected_at,
		.request_time = v->last_activity,
		.wait = v->waiting ? pgw_now() - v->wait_since : 0,
		.application_name = v->application_name,
		.id = v->id,
	};

	if (state == NULL)
		return;
	endpoint_of(v->peer_addr, &r.remote);
	endpoint_of(&v->local_addr, &r.local);
	snprintf(r.ptr, sizeof(r.ptr), "c%" PRIu64, v->id);
	if (strcmp(state, "active") == 0 && v->server != NULL)
		snprintf(r.link, sizeof(r.link), "s%" PRIu64, v->server->id);
	tls_info(v->tls_version, v->tls_cipher, r.tls, sizeof(r.tls));
	socket_row(arg, &r);
}

void pgw_admin_show_clients(struct evbuffer *out)
{
	struct pgw_rs rs;

	pgw_rs_begin_typed(&rs, out, socket_cols, socket_types, (int)PGW_ARRAY_LEN(socket_cols));
	pgw_session_foreach(client_row, &rs);
	pgw_rs_end(&rs, "SHOW");
}

/* PgBouncer's server states: a server running server_reset_query is "tested". */
static const char *server_state(const struct pgw_server *srv)
{
	switch (srv->state) {
	case PGW_SRV_NEW:
		return "new";
	case PGW_SRV_ACTIVE:
		return "active";
	case PGW_SRV_RESETTING:
		return "tested";
	case PGW_SRV_IDLE:
		return "idle";
	}
	return "new";
}

struct servers_ctx {
	struct pgw_rs *rs;
	struct snapshot *snap;
};

/* <srv> of (<database>, <user>); <h> is the session holding it, NULL if none. */
static void server_row(struct pgw_rs *rs, const char *database, const char *user,
		       const struct pgw_server *srv, const struct holder *h)
{
	double now = pgw_now();
	struct socket_row r = {
		.type = "S",
		.user = user,
		.database = database,
		.replication = replication_name(h ? h->replication : PGW_REPL_NONE),
		.state = srv->pool	     ? server_state(srv)
			 : h && h->logged_in ? "active"
					     : "new",
		.connect_time = srv->connected_at,
		.request_time = h				      ? h->last_activity
				: srv->idle_since > srv->connected_at ? srv->idle_since
								      : srv->connected_at,
		/* closed instead of going back to the pool: too old, opened before a reload, or
		 * pooling is off */
		.close_needed = srv->pool != NULL && pgw_pool_server_stale(srv, now),
		.remote_pid = srv->pid,
		.application_name = h ? h->application_name : "",
		.id = srv->id,
	};

	server_endpoints(srv, &r.remote, &r.local);
	snprintf(r.ptr, sizeof(r.ptr), "s%" PRIu64, srv->id);
	if (h != NULL)
		snprintf(r.link, sizeof(r.link), "c%" PRIu64, h->sid);
	tls_info(srv->conn.ssl ? SSL_get_version(srv->conn.ssl) : NULL,
		 srv->conn.ssl ? SSL_get_cipher_name(srv->conn.ssl) : NULL, r.tls, sizeof(r.tls));
	socket_row(rs, &r);
}

static void pooled_server_row(const char *database, const char *user, const struct pgw_server *srv,
			      void *arg)
{
	struct servers_ctx *ctx = arg;
	struct holder *h = NULL;

	HASH_FIND_PTR(ctx->snap->holders, &srv, h);
	server_row(ctx->rs, database, user, srv, h);
}

void pgw_admin_show_servers(struct evbuffer *out)
{
	struct snapshot snap;
	struct pgw_rs rs;
	struct servers_ctx ctx = {&rs, &snap};
	struct holder *h, *tmp;

	snapshot_take(&snap);
	pgw_rs_begin_typed(&rs, out, socket_cols, socket_types, (int)PGW_ARRAY_LEN(socket_cols));
	pgw_pool_foreach_server(pooled_server_row, &ctx);
	/* a server of a client's own (pool_mode = none, passthrough, replication) */
	HASH_ITER (hh, snap.holders, h, tmp) {
		if (h->srv->pool == NULL)
			server_row(&rs, h->database, h->user, h->srv, h);
	}
	pgw_rs_end(&rs, "SHOW");
	snapshot_free(&snap);
}

/* ---- SHOW POOLS ---- */

struct pools_ctx {
	struct pgw_rs *rs;
	struct snapshot *snap;
};

static void pool_row(const struct pgw_pool_view *v, void *arg)
{
	struct pools_ctx *ctx = arg;
	struct tally *t = tally_get(&ctx->snap->pools, v->database, v->user);
	char n[9][16];
	const char *row[] = {
		v->database,
		v->user,
		NUM(n[0], "%u", t ? t->clients : 0), /* cl_active: clients holding a server */
		NUM(n[1], "%u", v->waiting),
		"0", /* cl_active_cancel_req: a cancel goes straight to the server */
		"0", /* cl_waiting_cancel_req */
		NUM(n[2], "%u", v->active),
		"0", /* sv_active_cancel */
		"0", /* sv_being_canceled */
		NUM(n[3], "%u", v->idle - v->unchecked),
		NUM(n[8], "%u", v->unchecked), /* sv_used: server_check_query due first */
		NUM(n[4], "%u", v->resetting), /* sv_tested: server_reset_query runs */
		NUM(n[5], "%u", v->connecting),
		NUM(n[6], "%d", (int)v->max_wait),
		NUM(n[7], "%d", (int)((v->max_wait - (int)v->max_wait) * 1e6)),
		pgw_pool_mode_name(pgw.cfg.pool_mode),
		NULL, /* load_balance_hosts: one server_host */
	};

	pgw_rs_row(ctx->rs, row);
}

void pgw_admin_show_pools(struct evbuffer *out)
{
	static const char *const cols[] = {"database",
					   "user",
					   "cl_active",
					   "cl_waiting",
					   "cl_active_cancel_req",
					   "cl_waiting_cancel_req",
					   "sv_active",
					   "sv_active_cancel",
					   "sv_being_canceled",
					   "sv_idle",
					   "sv_used",
					   "sv_tested",
					   "sv_login",
					   "maxwait",
					   "maxwait_us",
					   "pool_mode",
					   "load_balance_hosts"};
	struct snapshot snap;
	struct pgw_rs rs;
	struct pools_ctx ctx = {&rs, &snap};

	snapshot_take(&snap);
	pgw_rs_begin_typed(&rs, out, cols, "ssiiiiiiiiiiiiiss", (int)PGW_ARRAY_LEN(cols));
	pgw_pool_foreach(pool_row, &ctx);
	pgw_rs_end(&rs, "SHOW");
	snapshot_free(&snap);
}

/* ---- SHOW DATABASES, SHOW USERS: one row per database / user in use ---- */

/*
 * pgward has no list of databases: every database is PgBouncer's "*" entry, on the one
 * server_host, with the global pool settings, so none overrides pool_mode (NULL) and none
 * is limited apart from default_pool_size per (database, user). Listed: every database
 * served since the start (pool_db.h), and those of the clients connected now.
 */
void pgw_admin_show_databases(struct evbuffer *out)
{
	static const char *const cols[] = {"name",
					   "host",
					   "port",
					   "database",
					   "force_user",
					   "pool_size",
					   "min_pool_size",
					   "reserve_pool_size",
					   "server_lifetime",
					   "pool_mode",
					   "load_balance_hosts",
					   "max_connections",
					   "current_connections",
					   "max_client_connections",
					   "current_client_connections",
					   "paused",
					   "disabled"};
	struct snapshot snap;
	struct pgw_rs rs;
	struct tally *t, *tmp;

	snapshot_take(&snap);
	pgw_rs_begin_typed(&rs, out, cols, "ssissiiiissiiiiii", (int)PGW_ARRAY_LEN(cols));
	HASH_ITER (hh, snap.databases, t, tmp) {
		char port[16], size[16], min[16], reserve[16], life[16], limit[16], servers[16],
			clients[16];
		const char *row[] = {
			t->key,
			pgw.cfg.server_host,
			NUM(port, "%d", pgw.cfg.server_port),
			t->key,
			NULL, /* force_user */
			NUM(size, "%d", pgw.cfg.default_pool_size),
			NUM(min, "%d", pgw.cfg.min_pool_size),
			NUM(reserve, "%d", pgw.cfg.reserve_pool_size),
			NUM(life, "%d", (int)pgw.cfg.server_lifetime),
			NULL, /* pool_mode: no override */
			NULL, /* load_balance_hosts */
			NUM(limit, "%d", pgw.cfg.max_db_connections),
			NUM(servers, "%u", t->servers),
			"0", /* max_client_connections: max_client_conn is not per database */
			NUM(clients, "%u", t->clients),
			pgw_pool_db_paused(t->key) ? "1" : "0", /* its own PAUSE or KILL */
			"0",					/* disabled: no DISABLE */
		};

		pgw_rs_row(&rs, row);
	}
	pgw_rs_end(&rs, "SHOW");
	snapshot_free(&snap);
}

void pgw_admin_show_users(struct evbuffer *out)
{
	static const char *const cols[] = {"name",
					   "pool_size",
					   "reserve_pool_size",
					   "pool_mode",
					   "max_user_connections",
					   "current_connections",
					   "max_user_client_connections",
					   "current_client_connections"};
	struct snapshot snap;
	struct pgw_rs rs;
	struct tally *t, *tmp;

	snapshot_take(&snap);
	pgw_rs_begin_typed(&rs, out, cols, "ssssiiii", (int)PGW_ARRAY_LEN(cols));
	HASH_ITER (hh, snap.users, t, tmp) {
		char limit[16], servers[16], clients[16];
		/* no per-user overrides: PgBouncer's "" and NULL for "not set", 0 for no limit */
		const char *row[] = {t->key,
				     "",
				     "",
				     NULL,
				     NUM(limit, "%d", pgw.cfg.max_user_connections),
				     NUM(servers, "%u", t->servers),
				     "0",
				     NUM(clients, "%u", t->clients)};

		pgw_rs_row(&rs, row);
	}
	pgw_rs_end(&rs, "SHOW");
	snapshot_free(&snap);
}

/* ---- SHOW LISTS, SHOW VERSION ---- */

static void list_row(struct pgw_rs *rs, const char *list, unsigned items)
{
	char n[16];
	const char *row[] = {list, NUM(n, "%u", items)};

	pgw_rs_row(rs, row);
}

void pgw_admin_show_lists(struct evbuffer *out)
{
	static const char *const cols[] = {"list", "items"};
	struct snapshot snap;
	struct pgw_rs rs;

	snapshot_take(&snap);
	pgw_rs_begin_typed(&rs, out, cols, "si", 2);
	list_row(&rs, "databases", HASH_COUNT(snap.databases));
	list_row(&rs, "users", HASH_COUNT(snap.users));
	list_row(&rs, "peers", 0);
	list_row(&rs, "pools", snap.npools);
	list_row(&rs, "peer_pools", 0);
	/* pgward frees a connection's memory instead of caching it: nothing is "free" */
	list_row(&rs, "free_clients", 0);
	list_row(&rs, "used_clients", snap.sessions);
	list_row(&rs, "login_clients", snap.login_clients);
	list_row(&rs, "free_servers", 0);
	list_row(&rs, "used_servers", snap.servers);
	/* no DNS cache: server_host is resolved once, at start and on reload */
	list_row(&rs, "dns_names", 0);
	list_row(&rs, "dns_zones", 0);
	list_row(&rs, "dns_queries", 0);
	list_row(&rs, "dns_pending", 0);
	pgw_rs_end(&rs, "SHOW");
	snapshot_free(&snap);
}

void pgw_admin_show_version(struct evbuffer *out)
{
	static const char *const cols[] = {"version"};
	static const char *const row[] = {"pgward " PGWARD_VERSION};
	struct pgw_rs rs;

	pgw_rs_begin(&rs, out, cols, 1);
	pgw_rs_row(&rs, row);
	pgw_rs_end(&rs, "SHOW");
}
