/*
 * The databases pgward has served: PgBouncer's per-database counters and averages, and the
 * administrator's pauses. Entries live until exit (a database is entered only once a server
 * accepted a login to it), so a server may keep a pointer to its counters. Never called per
 * message: the relay adds bytes through the inline functions of the header, everything else
 * runs once per ReadyForQuery, per assignment, or when the console asks.
 */
#include "pgward/pool_db.h"

#include "pgward/proxy.h"

#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <uthash.h>

struct db {
	char *name;
	struct pgw_db_counters total;	     /* servers point here */
	struct pgw_db_counters newer, older; /* total at the last two ends of a stats period */
	bool paused;
	UT_hash_handle hh;
};

static struct db *dbs;
static bool all_paused;
/* The last two ends of a stats period; averages run from the older one to now. */
static double old_stamp, new_stamp;
static struct event period_ev;
static bool period_on;

static void period_cb(evutil_socket_t fd, short what, void *arg)
{
	pgw_pool_db_rotate(pgw_now());
}

/* The stats clock starts with the first database, as PgBouncer's does with the process: its
 * first averages run over a second more than the time since. */
static void start_clock(void)
{
	struct timeval tv = {PGW_STATS_PERIOD, 0};

	new_stamp = pgw_now();
	old_stamp = new_stamp - 1;
	if (period_on || pgw.base == NULL)
		return;
	event_assign(&period_ev, pgw.base, -1, EV_PERSIST, period_cb, NULL);
	period_on = event_add(&period_ev, &tv) == 0;
}

static struct db *find(const char *name)
{
	struct db *d = NULL;

	HASH_FIND_STR(dbs, name, d);
	return d;
}

static int by_name(const struct db *a, const struct db *b)
{
	return strcmp(a->name, b->name);
}

/* The entry of <name>, created at zero; NULL when out of memory (nothing is counted). */
static struct db *get(const char *name)
{
	struct db *d = find(name);

	if (d != NULL)
		return d;
	if (dbs == NULL && old_stamp == 0)
		start_clock();
	if ((d = calloc(1, sizeof(*d))) == NULL || (d->name = strdup(name)) == NULL) {
		free(d);
		return NULL;
	}
	HASH_ADD_KEYPTR(hh, dbs, d->name, strlen(d->name), d);
	HASH_SORT(dbs, by_name);
	return d;
}

/* The client of <st> has its server from <now>: nothing of an earlier client's carries over. */
static void count_assignment(struct pgw_server_stats *st, struct pgw_db_counters *c, double now)
{
	c->server_assignment_count++;
	c->wait_time += pgw_usec(now - st->since);
	st->status = 'I';
	st->last_ready = now;
}

void pgw_pool_db_handed(struct pgw_server_stats *st, bool logged_in, const char *database,
			double since)
{
	st->since = since;
	if (!logged_in)
		return;
	if (st->db == NULL) {
		struct db *d = get(database);

		if (d == NULL)
			return;
		st->db = &d->total;
	}
	count_assignment(st, st->db, pgw_now());
}

void pgw_pool_db_logged_in(struct pgw_server_stats *st, const char *database)
{
	struct db *d;

	if (database == NULL || (d = get(database)) == NULL)
		return;
	st->db = &d->total;
	count_assignment(st, st->db, pgw_now());
}

struct pgw_db_counters *pgw_pool_db_attach(struct pgw_server_stats *st, const char *database)
{
	struct db *d = get(database);

	return d != NULL ? (st->db = &d->total) : NULL;
}

/* ---- averages, as PgBouncer 1.25 computes them (stats.c: calc_average) ---- */

static void add(struct pgw_db_counters *to, const struct pgw_db_counters *c)
{
	to->server_assignment_count += c->server_assignment_count;
	to->xact_count += c->xact_count;
	to->query_count += c->query_count;
	to->received += c->received;
	to->sent += c->sent;
	to->xact_time += c->xact_time;
	to->query_time += c->query_time;
	to->wait_time += c->wait_time;
}

/* Per second for counts and bytes; per transaction, query or assignment for times. */
static void average(struct pgw_db_counters *avg, const struct pgw_db_counters *cur,
		    const struct pgw_db_counters *old, double now)
{
	uint64_t dur = pgw_usec(now - old_stamp);
	uint64_t assignments = cur->server_assignment_count - old->server_assignment_count;
	uint64_t xacts = cur->xact_count - old->xact_count;
	uint64_t queries = cur->query_count - old->query_count;

	memset(avg, 0, sizeof(*avg));
	if (dur == 0)
		return;
	avg->server_assignment_count = 1000000 * assignments / dur;
	avg->xact_count = 1000000 * xacts / dur;
	avg->query_count = 1000000 * queries / dur;
	avg->received = 1000000 * (cur->received - old->received) / dur;
	avg->sent = 1000000 * (cur->sent - old->sent) / dur;
	if (xacts > 0)
		avg->xact_time = (cur->xact_time - old->xact_time) / xacts;
	if (queries > 0)
		avg->query_time = (cur->query_time - old->query_time) / queries;
	if (assignments > 0)
		avg->wait_time = (cur->wait_time - old->wait_time) / assignments;
}

void pgw_pool_db_rotate(double now)
{
	struct db *d, *tmp;

	old_stamp = new_stamp;
	new_stamp = now;
	HASH_ITER (hh, dbs, d, tmp) {
		d->older = d->newer;
		d->newer = d->total;
	}
}

void pgw_pool_db_foreach(pgw_db_view_fn fn, void *arg)
{
	struct db *d, *tmp;
	double now = pgw_now();

	HASH_ITER (hh, dbs, d, tmp) {
		struct pgw_db_view v = {.name = d->name, .total = d->total, .paused = d->paused};

		average(&v.avg, &d->total, &d->older, now);
		fn(&v, arg);
	}
}

void pgw_pool_db_sum(struct pgw_db_view *v)
{
	struct pgw_db_counters older = {0};
	struct db *d, *tmp;

	memset(v, 0, sizeof(*v));
	HASH_ITER (hh, dbs, d, tmp) {
		add(&v->total, &d->total);
		add(&older, &d->older);
	}
	average(&v->avg, &v->total, &older, pgw_now());
}

/* ---- pauses ---- */

bool pgw_pool_db_known(const char *database)
{
	return find(database) != NULL;
}

/* Databases paused by name: none, as a rule, and then no lookup is needed (asked at every
 * checkout and checkin). */
static unsigned npaused;

bool pgw_pool_db_held(const char *database)
{
	const struct db *d;

	return all_paused || (npaused > 0 && (d = find(database)) != NULL && d->paused);
}

static void set_paused(struct db *d, bool paused)
{
	if (d->paused != paused)
		npaused = paused ? npaused + 1 : npaused - 1;
	d->paused = paused;
}

int pgw_pool_db_pause(const char *database, bool paused)
{
	struct db *d, *tmp;

	if (database != NULL) {
		if ((d = find(database)) == NULL)
			return -1;
		set_paused(d, paused);
		return 0;
	}
	HASH_ITER (hh, dbs, d, tmp)
		set_paused(d, paused);
	return 0;
}

bool pgw_pool_db_paused(const char *database)
{
	const struct db *d = find(database);

	return d != NULL && d->paused;
}

void pgw_pool_db_pause_all(bool paused)
{
	all_paused = paused;
}

bool pgw_pool_db_all_paused(void)
{
	return all_paused;
}

void pgw_pool_db_free_all(void)
{
	struct db *d, *tmp;

	HASH_ITER (hh, dbs, d, tmp) {
		HASH_DEL(dbs, d);
		free(d->name);
		free(d);
	}
	npaused = 0;
	if (period_on)
		event_del(&period_ev);
	period_on = false;
	all_paused = false;
	old_stamp = new_stamp = 0;
}
