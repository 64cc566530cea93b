/*
 * What the tenant module's files share: the per-identity cache (cache.c) and the lookup
 * and LISTEN connection (lookup.c). Not for use outside src/tenant/.
 */
#ifndef PGWARD_TENANT_INT_H
#define PGWARD_TENANT_INT_H

#include "pgward/tenant.h"

#include <uthash.h>

enum entry_state {
	ENTRY_PENDING = 0, /* queued or being looked up; sessions wait on it */
	ENTRY_READY,	   /* org_ids valid until expires */
};

struct tenant_entry {
	char identity[PGW_IDENTITY_MAX];
	enum entry_state state;
	char *org_ids;	/* READY: "{uuid,uuid}" */
	double expires; /* READY: monotonic seconds */
	double queued;	/* PENDING: when the lookup was asked for */
	bool sent;	/* PENDING: the query is on the wire */
	bool stale;	/* sent, then invalidated: the answer may predate the change, ask again */
	struct pgw_tenant_sess *waiters;
	struct tenant_entry *lru_prev, *lru_next; /* READY, most recently used first */
	struct tenant_entry *q_next;		  /* PENDING: the lookup queue */
	UT_hash_handle hh;
};

/* cache.c */
extern struct pgw_tenant_stats tenant_counters;
/* The cached ids of <identity> when fresh (a hit), else NULL (a miss). */
const char *tenant_cache_get(const char *identity, double now);
/* The PENDING entry of <identity>, created if needed (*created then true). NULL: no memory. */
struct tenant_entry *tenant_cache_pending(const char *identity, bool *created);
/* The lookup of <e> finished: <org_ids> (taken) on success, else <error>. Wakes waiters. */
void tenant_cache_complete(struct tenant_entry *e, char *org_ids, const char *error, double ttl,
			   size_t max_entries);
void tenant_cache_invalidate(const char *identity);
/* Drops every cached identity; <in_flight_too>: a lookup on the wire is asked again. */
void tenant_cache_clear(bool in_flight_too);
/* Links <t> as a waiter of <e>. */
void tenant_cache_wait(struct tenant_entry *e, struct pgw_tenant_sess *t);
void tenant_cache_unwait(struct pgw_tenant_sess *t);
size_t tenant_cache_count(void);
/* At exit: frees every entry (sessions must have stopped waiting). */
void tenant_cache_free_all(void);

/* lookup.c */
struct tenant_lookup_cfg {
	const char *conninfo;
	const char *query;
	const char *channel; /* NULL or "": no LISTEN */
	double timeout;
};
int tenant_lookup_start(struct event_base *base, const struct tenant_lookup_cfg *cfg);
void tenant_lookup_stop(void);
/* Queues <e> (PENDING) for a lookup. */
void tenant_lookup_enqueue(struct tenant_entry *e);
bool tenant_lookup_listening(void);

/* lookup.c: which notifications on listen_channel count (pure; unit-tested). */
enum tenant_notice {
	TENANT_NOTICE_MALFORMED = 0, /* neither '*' nor an identity: ignored */
	TENANT_NOTICE_ALL,	     /* '*': every cached identity */
	TENANT_NOTICE_IDENTITY,	     /* one identity */
};
/* What <payload> asks for under identity mode <mode>. An identity is a UUID (any case,
 * copied in lower case, as sessions carry it) or, with login_role, a role name (1 to 63
 * bytes, no control characters); it is copied into <identity>. */
enum tenant_notice tenant_notify_payload(const char *payload, enum pgw_tenant_identity mode,
					 char identity[PGW_IDENTITY_MAX]);
/* May a sender whose login role is <role> invalidate? Superusers and the lookup
 * connection's own role always may; other roles when named in <notify_roles>. */
bool tenant_notify_allowed(const char *notify_roles, const char *role, bool superuser,
			   bool own_role);

/* tenant.c: a lookup finished, <org_ids> (taken) or <error>; caches it as configured. */
void tenant_lookup_done(struct tenant_entry *e, char *org_ids, const char *error);

#endif
