/*
 * auth_query on pgward's own connections, one per database it runs in, through libpq's
 * asynchronous API on the event loop: a slow or absent server delays only the logins that
 * wait for it, each bounded by auth_query_timeout. One query in flight per connection; the
 * logins waiting for the same role share its answer. Answers are cached for auth_cache_ttl
 * (absent roles too, so a burst of logins for made-up names costs one query per name).
 */
#include "pgward/auth_query.h"

#include "pgward/auth_file.h"
#include "pgward/log.h"
#include "pgward/proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <uthash.h>

#define MAX_CONNS    16	   /* databases with a connection of their own */
#define CACHE_MAX    10000 /* cached answers; beyond, the cache starts over */
#define NAME_MAX_LEN 63
#define ERR_LEN	     256

enum aq_state { AQ_DOWN = 0, AQ_CONNECTING, AQ_IDLE, AQ_BUSY };

struct aq_conn {
	struct aq_conn *next;
	char dbname[NAME_MAX_LEN + 1];
	PGconn *pg;
	struct event *io;
	short io_what;
	enum aq_state state;
	char inflight[NAME_MAX_LEN + 1]; /* the role the query in flight is for */
	double busy_since;
	bool found, failed;
	char *secret; /* the answer being read */
	char error[ERR_LEN];
	struct pgw_aq_wait *head, *tail;
};

struct aq_entry {
	char key[2 * (NAME_MAX_LEN + 1)]; /* dbname NUL user */
	size_t keylen;
	char *secret; /* NULL: no such role */
	double expires;
	UT_hash_handle hh;
};

static struct aq_conn *conns;
static struct aq_entry *cache;

static size_t make_key(char *key, const char *dbname, const char *user)
{
	size_t d = strlen(dbname), u = strlen(user);

	memcpy(key, dbname, d + 1);
	memcpy(key + d + 1, user, u);
	return d + 1 + u;
}

static void entry_free(struct aq_entry *e)
{
	if (e->secret != NULL) {
		OPENSSL_cleanse(e->secret, strlen(e->secret));
		free(e->secret);
	}
	free(e);
}

static void cache_clear(void)
{
	struct aq_entry *e, *tmp;

	HASH_ITER (hh, cache, e, tmp) {
		HASH_DEL(cache, e);
		entry_free(e);
	}
}

static struct aq_entry *cache_find(const char *dbname, const char *user)
{
	char key[2 * (NAME_MAX_LEN + 1)];
	size_t len = make_key(key, dbname, user);
	struct aq_entry *e;

	HASH_FIND(hh, cache, key, len, e);
	if (e != NULL && pgw_now() >= e->expires) {
		HASH_DEL(cache, e);
		entry_free(e);
		e = NULL;
	}
	return e;
}

static void cache_put(const char *dbname, const char *user, const char *secret)
{
	struct aq_entry *e = cache_find(dbname, user);

	if (pgw.cfg.auth_cache_ttl <= 0)
		return;
	if (e != NULL) {
		HASH_DEL(cache, e);
		entry_free(e);
	}
	if (HASH_COUNT(cache) >= CACHE_MAX)
		cache_clear();
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return;
	if (secret != NULL && (e->secret = strdup(secret)) == NULL) {
		free(e);
		return;
	}
	e->keylen = make_key(e->key, dbname, user);
	e->expires = pgw_now() + pgw.cfg.auth_cache_ttl;
	HASH_ADD(hh, cache, key, e->keylen, e);
}

static void unlink_wait(struct pgw_aq_wait *w)
{
	struct aq_conn *c = w->conn;
	struct pgw_aq_wait **pp = &c->head, *prev = NULL;

	for (; *pp != NULL && *pp != w; prev = *pp, pp = &(*pp)->next)
		;
	if (*pp == w) {
		*pp = w->next;
		if (c->tail == w)
			c->tail = prev;
	}
	w->next = NULL;
	w->active = false;
	evtimer_del(&w->timer);
}

/* Answers every login waiting for <user> on <c> (all of them when <user> is NULL). The
 * waiters are taken off first: a callback may start another lookup. */
static void answer(struct aq_conn *c, const char *user, enum pgw_aq_status st, const char *secret,
		   const char *why)
{
	struct pgw_aq_wait *done = NULL, **tail = &done, *w, *next;

	for (w = c->head; w != NULL; w = next) {
		next = w->next;
		if (user != NULL && strcmp(w->user, user) != 0)
			continue;
		unlink_wait(w);
		*tail = w;
		tail = &w->next;
	}
	for (w = done; w != NULL; w = next) {
		next = w->next;
		w->next = NULL;
		w->done(w->arg, st, secret, why);
	}
}

static void io_cb(evutil_socket_t fd, short what, void *arg);

static void want(struct aq_conn *c, short what)
{
	int fd = PQsocket(c->pg);

	if (c->io != NULL && c->io_what == what && event_get_fd(c->io) == fd)
		return;
	if (c->io != NULL)
		event_free(c->io);
	c->io = NULL;
	if (fd < 0)
		return;
	c->io = event_new(pgw.base, fd, (short)(what | EV_PERSIST), io_cb, c);
	c->io_what = what;
	if (c->io != NULL)
		event_add(c->io, NULL);
}

/* Closes <c>'s connection; the struct stays for reuse (by another database, too). */
static void conn_close(struct aq_conn *c)
{
	if (c->io != NULL)
		event_free(c->io);
	c->io = NULL;
	PQfinish(c->pg);
	c->pg = NULL;
	c->state = AQ_DOWN;
}

/* The connection is gone: every login waiting on it is told why. */
static void lost(struct aq_conn *c, const char *why)
{
	char msg[ERR_LEN], quoted[ERR_LEN + 40];

	pgw_log_one_line(msg, sizeof(msg), why);
	pgw_warn(0, "auth_query_down", "database=%s error=%s", c->dbname,
		 pgw_log_quote(msg, quoted, sizeof(quoted)));
	conn_close(c);
	free(c->secret);
	c->secret = NULL;
	answer(c, NULL, PGW_AQ_ERROR, NULL, msg);
}

static void flush(struct aq_conn *c)
{
	int f = PQflush(c->pg);

	if (f < 0)
		lost(c, PQerrorMessage(c->pg));
	else
		want(c, f == 1 ? EV_READ | EV_WRITE : EV_READ);
}

static void send_next(struct aq_conn *c)
{
	const char *params[1];

	if (c->state != AQ_IDLE || c->head == NULL)
		return;
	snprintf(c->inflight, sizeof(c->inflight), "%s", c->head->user);
	params[0] = c->inflight;
	c->found = c->failed = false;
	c->error[0] = '\0';
	if (!PQsendQueryParams(c->pg, pgw.cfg.auth_query, 1, NULL, params, NULL, NULL, 0)) {
		lost(c, PQerrorMessage(c->pg));
		return;
	}
	c->state = AQ_BUSY;
	c->busy_since = pgw_now();
	flush(c);
}

static void no_notices(void *arg, const char *message)
{
}

static const char *const sslmodes[] = {"disable", "allow",     "prefer",
				       "require", "verify-ca", "verify-full"};

/* auth_user's password: only a cleartext one in auth_file can be handed to libpq. */
static const char *auth_user_password(void)
{
	const char *pw = pgw.auth.users != NULL && pgw.cfg.auth_user != NULL
				 ? pgw_auth_file_lookup(pgw.auth.users, pgw.cfg.auth_user)
				 : NULL;

	if (pw == NULL || strncmp(pw, "md5", 3) == 0 || strncmp(pw, "SCRAM-SHA-256$", 14) == 0)
		return NULL;
	return pw;
}

static void connect_start(struct aq_conn *c)
{
	char port[16], timeout[16];
	const char *keys[16], *values[16];
	int n = 0;

#define KV(k, v)                                                                                   \
	do {                                                                                       \
		keys[n] = (k);                                                                     \
		values[n++] = (v);                                                                 \
	} while (0)
	snprintf(port, sizeof(port), "%d", pgw.cfg.server_port);
	snprintf(timeout, sizeof(timeout), "%d", PGW_MAX(2, (int)pgw.cfg.auth_query_timeout));
	KV("host", pgw.cfg.server_host);
	KV("port", port);
	KV("dbname", c->dbname);
	KV("user", pgw.cfg.auth_user);
	if (auth_user_password() != NULL)
		KV("password", auth_user_password());
	KV("sslmode", sslmodes[pgw.cfg.server_tls_sslmode]);
	if (pgw.cfg.server_tls_ca_file != NULL)
		KV("sslrootcert", pgw.cfg.server_tls_ca_file);
	if (pgw.cfg.server_tls_cert_file != NULL) {
		KV("sslcert", pgw.cfg.server_tls_cert_file);
		KV("sslkey", pgw.cfg.server_tls_key_file);
	}
	KV("connect_timeout", timeout);
	KV("application_name", "pgward auth_query");
	KV("client_encoding", "UTF8");
	KV(NULL, NULL);
#undef KV
	c->pg = PQconnectStartParams(keys, values, 0);
	if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
		lost(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		return;
	}
	PQsetNoticeProcessor(c->pg, no_notices, NULL);
	c->state = AQ_CONNECTING;
	want(c, EV_WRITE);
}

static void poll_connect(struct aq_conn *c)
{
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		want(c, EV_READ);
		return;
	case PGRES_POLLING_WRITING:
		want(c, EV_WRITE);
		return;
	case PGRES_POLLING_OK:
		if (PQsetnonblocking(c->pg, 1) != 0) {
			lost(c, PQerrorMessage(c->pg));
			return;
		}
		pgw_info(0, "auth_query_up", "database=%s user=%s", c->dbname, pgw.cfg.auth_user);
		c->state = AQ_IDLE;
		want(c, EV_READ);
		send_next(c);
		return;
	default:
		lost(c, PQerrorMessage(c->pg));
		return;
	}
}

/* One result: the secret is the second column (PgBouncer's usename, passwd), or the only
 * one; no row means no such role; a NULL password is a role without one. */
static void collect(struct aq_conn *c, PGresult *r)
{
	int col;

	if (c->failed)
		return;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		c->failed = true;
		pgw_log_one_line(c->error, sizeof(c->error), PQresultErrorMessage(r));
		return;
	}
	if (PQntuples(r) == 0 || c->found)
		return;
	if (PQnfields(r) < 1) {
		c->failed = true;
		snprintf(c->error, sizeof(c->error), "auth_query returned no column");
		return;
	}
	col = PQnfields(r) >= 2 ? 1 : 0;
	c->found = true;
	c->secret = strdup(PQgetisnull(r, 0, col) ? "" : PQgetvalue(r, 0, col));
	if (c->secret == NULL) {
		c->failed = true;
		snprintf(c->error, sizeof(c->error), "out of memory");
	}
}

static void finished(struct aq_conn *c)
{
	char user[NAME_MAX_LEN + 1];
	char *secret = c->secret;

	c->secret = NULL;
	c->state = AQ_IDLE;
	snprintf(user, sizeof(user), "%s", c->inflight);
	if (c->failed) {
		char quoted[ERR_LEN + 40];

		pgw_warn(0, "auth_query_failed", "database=%s error=%s", c->dbname,
			 pgw_log_quote(c->error, quoted, sizeof(quoted)));
		answer(c, user, PGW_AQ_ERROR, NULL, c->error);
	} else {
		cache_put(c->dbname, user, c->found ? secret : NULL);
		answer(c, user, c->found ? PGW_AQ_FOUND : PGW_AQ_NOT_FOUND, secret, NULL);
	}
	if (secret != NULL) {
		OPENSSL_cleanse(secret, strlen(secret));
		free(secret);
	}
	send_next(c);
}

static void io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct aq_conn *c = arg;
	PGresult *r;

	if (c->state == AQ_CONNECTING) {
		poll_connect(c);
		return;
	}
	if (what & EV_WRITE) {
		flush(c);
		if (c->pg == NULL)
			return;
	}
	if (!(what & EV_READ))
		return;
	if (!PQconsumeInput(c->pg)) {
		lost(c, PQerrorMessage(c->pg));
		return;
	}
	while (c->state == AQ_BUSY && !PQisBusy(c->pg)) {
		if ((r = PQgetResult(c->pg)) == NULL) {
			finished(c);
			return;
		}
		collect(c, r);
		PQclear(r);
	}
	if (c->state != AQ_BUSY && PQstatus(c->pg) == CONNECTION_BAD)
		lost(c, PQerrorMessage(c->pg));
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgw_aq_wait *w = arg;
	struct aq_conn *c = w->conn;
	char why[ERR_LEN];

	snprintf(why, sizeof(why), "auth_query did not answer within auth_query_timeout=%gs",
		 pgw.cfg.auth_query_timeout);
	unlink_wait(w);
	/* a connection stuck that long serves nobody: start over */
	if (c->state == AQ_CONNECTING ||
	    (c->state == AQ_BUSY && pgw_now() - c->busy_since >= pgw.cfg.auth_query_timeout))
		lost(c, why);
	w->done(w->arg, PGW_AQ_ERROR, NULL, why);
}

/*
 * The connection for <dbname>. Clients name any database they like, so the slots go to the
 * databases in use: a slot whose connection failed, or that idles with nobody waiting, is
 * taken over by another database; only MAX_CONNS databases with logins waiting at once are
 * one too many.
 */
static struct aq_conn *conn_for(const char *dbname)
{
	struct aq_conn *c, *spare = NULL;
	unsigned n = 0;

	for (c = conns; c != NULL; c = c->next, n++) {
		if (strcmp(c->dbname, dbname) == 0)
			return c;
		if (c->head == NULL && (c->state == AQ_DOWN || c->state == AQ_IDLE) &&
		    (spare == NULL || spare->state == AQ_IDLE))
			spare = c;
	}
	if (n < MAX_CONNS) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return NULL;
		c->next = conns;
		conns = c;
	} else if ((c = spare) != NULL) {
		conn_close(c);
	} else {
		return NULL;
	}
	snprintf(c->dbname, sizeof(c->dbname), "%s", dbname);
	return c;
}

enum pgw_aq_status pgw_auth_query_lookup(struct pgw_aq_wait *w, const char *user,
					 const char *dbname, pgw_aq_done_fn done, void *arg,
					 char **secret, char *why, size_t whylen)
{
	struct aq_entry *e = cache_find(dbname, user);
	struct aq_conn *c;
	double t = pgw.cfg.auth_query_timeout;

	if (e != NULL) {
		if (e->secret == NULL)
			return PGW_AQ_NOT_FOUND;
		if ((*secret = strdup(e->secret)) == NULL) {
			snprintf(why, whylen, "out of memory");
			return PGW_AQ_ERROR;
		}
		return PGW_AQ_FOUND;
	}
	if ((c = conn_for(dbname)) == NULL) {
		snprintf(why, whylen, "no connection for auth_query in database \"%s\"", dbname);
		return PGW_AQ_ERROR;
	}
	memset(w, 0, sizeof(*w));
	snprintf(w->user, sizeof(w->user), "%s", user);
	w->conn = c;
	w->done = done;
	w->arg = arg;
	w->active = true;
	if (c->tail != NULL)
		c->tail->next = w;
	else
		c->head = w;
	c->tail = w;
	evtimer_assign(&w->timer, pgw.base, timeout_cb, w);
	if (t > 0) {
		struct timeval tv = {(time_t)t, (suseconds_t)((t - (time_t)t) * 1e6)};

		evtimer_add(&w->timer, &tv);
	}
	/* a connection that fails at once answers through <done> before this returns */
	if (c->state == AQ_DOWN)
		connect_start(c);
	else
		send_next(c);
	return PGW_AQ_PENDING;
}

void pgw_auth_query_cancel(struct pgw_aq_wait *w)
{
	if (w->active)
		unlink_wait(w);
}

void pgw_auth_query_forget(const char *user, const char *dbname)
{
	char key[2 * (NAME_MAX_LEN + 1)];
	size_t len = make_key(key, dbname, user);
	struct aq_entry *e;

	HASH_FIND(hh, cache, key, len, e);
	if (e != NULL) {
		HASH_DEL(cache, e);
		entry_free(e);
	}
}

static void conn_free(struct aq_conn *c)
{
	conn_close(c);
	free(c->secret);
	free(c);
}

void pgw_auth_query_tick(double now)
{
	struct aq_entry *e, *tmp;

	/* expired answers go now, not at their next use: secrets stay no longer than the TTL */
	HASH_ITER (hh, cache, e, tmp) {
		if (now >= e->expires) {
			HASH_DEL(cache, e);
			entry_free(e);
		}
	}
}

void pgw_auth_query_reset(void)
{
	cache_clear();
	/* connections with logins waiting finish their work; idle ones reconnect as the new
	 * auth_user next time */
	for (struct aq_conn **pp = &conns; *pp != NULL;) {
		struct aq_conn *c = *pp;

		if (c->head == NULL) {
			*pp = c->next;
			conn_free(c);
		} else {
			pp = &c->next;
		}
	}
}

void pgw_auth_query_shutdown(void)
{
	cache_clear();
	while (conns != NULL) {
		struct aq_conn *c = conns;

		conns = c->next;
		answer(c, NULL, PGW_AQ_ERROR, NULL, "pgward is shutting down");
		conn_free(c);
	}
}
