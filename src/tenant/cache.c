/*
 * Organization ids per identity, with a TTL and a bound on entries (least recently used
 * goes first). A lookup in flight is an entry too, so sessions that start together for one
 * identity share one query. An identity invalidated while its lookup runs is looked up
 * again rather than cached from an answer that may predate the change.
 */
#include "tenant-int.h"

#include "pgward/log.h"
#include "pgward/proxy.h"

#include <stdlib.h>
#include <string.h>

struct pgw_tenant_stats tenant_counters;

static struct tenant_entry *entries;
static struct tenant_entry *lru_head, *lru_tail;
static size_t nready;

static void lru_unlink(struct tenant_entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push(struct tenant_entry *e)
{
	e->lru_next = lru_head;
	e->lru_prev = NULL;
	if (lru_head)
		lru_head->lru_prev = e;
	lru_head = e;
	if (lru_tail == NULL)
		lru_tail = e;
}

static void drop(struct tenant_entry *e)
{
	if (e->state == ENTRY_READY) {
		lru_unlink(e);
		nready--;
	}
	HASH_DEL(entries, e);
	free(e->org_ids);
	free(e);
}

const char *tenant_cache_get(const char *identity, double now)
{
	struct tenant_entry *e = NULL;

	HASH_FIND_STR(entries, identity, e);
	if (e != NULL && e->state == ENTRY_READY && now < e->expires) {
		lru_unlink(e);
		lru_push(e);
		tenant_counters.cache_hits++;
		return e->org_ids;
	}
	if (e != NULL && e->state == ENTRY_READY)
		drop(e); /* expired */
	tenant_counters.cache_misses++;
	return NULL;
}

struct tenant_entry *tenant_cache_pending(const char *identity, bool *created)
{
	struct tenant_entry *e = NULL;

	*created = false;
	HASH_FIND_STR(entries, identity, e);
	if (e != NULL && e->state == ENTRY_PENDING)
		return e;
	if (e != NULL)
		drop(e);
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	snprintf(e->identity, sizeof(e->identity), "%s", identity);
	e->state = ENTRY_PENDING;
	HASH_ADD_STR(entries, identity, e);
	*created = true;
	return e;
}

void tenant_cache_wait(struct tenant_entry *e, struct pgw_tenant_sess *t)
{
	t->entry = e;
	t->wprev = NULL;
	t->wnext = e->waiters;
	if (e->waiters)
		e->waiters->wprev = t;
	e->waiters = t;
}

void tenant_cache_unwait(struct pgw_tenant_sess *t)
{
	if (t->entry == NULL)
		return;
	if (t->wprev)
		t->wprev->wnext = t->wnext;
	else
		t->entry->waiters = t->wnext;
	if (t->wnext)
		t->wnext->wprev = t->wprev;
	t->entry = NULL;
	t->wprev = t->wnext = NULL;
}

/* Hands the result to every waiting session; each callback may end its session. */
static void wake(struct tenant_entry *e, const char *org_ids, const char *error)
{
	struct pgw_tenant_sess *t;

	while ((t = e->waiters) != NULL) {
		tenant_cache_unwait(t);
		if (org_ids != NULL)
			t->org_ids = strdup(org_ids);
		if (org_ids != NULL && t->org_ids != NULL) {
			t->status = PGW_TENANT_READY;
		} else {
			t->status = PGW_TENANT_FAILED;
			snprintf(t->error, sizeof(t->error), "%s", error ? error : "out of memory");
		}
		if (t->fn)
			t->fn(t->arg);
	}
}

void tenant_cache_complete(struct tenant_entry *e, char *org_ids, const char *error, double ttl,
			   size_t max_entries)
{
	if (org_ids == NULL) {
		tenant_counters.lookup_failures++;
		HASH_DEL(entries, e);
		wake(e, NULL, error);
		free(e);
		return;
	}
	e->state = ENTRY_READY;
	e->org_ids = org_ids;
	e->expires = pgw_now() + ttl;
	lru_push(e);
	nready++;
	wake(e, org_ids, NULL);
	if (ttl <= 0) {
		drop(e); /* caching off: each session asks */
		return;
	}
	while (nready > max_entries && lru_tail != NULL)
		drop(lru_tail);
}

void tenant_cache_invalidate(const char *identity)
{
	struct tenant_entry *e = NULL;

	HASH_FIND_STR(entries, identity, e);
	if (e == NULL)
		return;
	tenant_counters.invalidations++;
	if (e->state == ENTRY_PENDING)
		e->stale = e->sent;
	else
		drop(e);
}

void tenant_cache_clear(bool in_flight_too)
{
	struct tenant_entry *e, *tmp;

	HASH_ITER (hh, entries, e, tmp) {
		if (e->state == ENTRY_PENDING) {
			e->stale = in_flight_too && e->sent;
		} else {
			tenant_counters.invalidations++;
			drop(e);
		}
	}
}

void tenant_cache_free_all(void)
{
	struct tenant_entry *e, *tmp;

	HASH_ITER (hh, entries, e, tmp) {
		while (e->waiters != NULL)
			tenant_cache_unwait(e->waiters);
		drop(e);
	}
}

size_t tenant_cache_count(void)
{
	return nready;
}
