/*
 * Tenant context for row-level security: who a session is (its identity), which
 * organizations that identity belongs to (a map file or a lookup query, cached per identity
 * and invalidated by NOTIFY), and the bytes that set the context on the server session.
 * The session glue (src/session/tenant_hook.c) decides when to send them; this module never
 * touches a session's sockets.
 */
#ifndef PGWARD_TENANT_H
#define PGWARD_TENANT_H

#include "pgward/common.h"
#include "pgward/config.h"

struct event_base;
struct evbuffer;
struct pgw_startup_view;
struct tenant_entry;

#define PGW_UUID_LEN	   36
#define PGW_IDENTITY_MAX   128 /* role names are at most 63 bytes, a UUID 36 */
#define PGW_HMAC_HEX_LEN   64
#define PGW_TENANT_ERR_MAX 256

enum pgw_tenant_status {
	PGW_TENANT_OFF = 0,    /* no tenant context for this session */
	PGW_TENANT_IDENTIFIED, /* identity known; resolved once the client has authenticated */
	PGW_TENANT_PENDING,    /* the organization ids are being looked up */
	PGW_TENANT_READY,      /* org_ids holds the context to set */
	PGW_TENANT_FAILED,     /* the lookup failed: error says why */
};

/* Called once when a PENDING session's lookup finishes (READY or FAILED). */
typedef void (*pgw_tenant_ready_fn)(void *arg);

/* A session's tenant state; zero-initialised is OFF. Owned by the session. */
struct pgw_tenant_sess {
	enum pgw_tenant_status status;
	char identity[PGW_IDENTITY_MAX];
	char *org_ids; /* READY: "{uuid,uuid}" (owned) */
	char error[PGW_TENANT_ERR_MAX];
	/* waiting for a lookup: linked into the cache entry's waiters */
	pgw_tenant_ready_fn fn;
	void *arg;
	struct tenant_entry *entry;
	struct pgw_tenant_sess *wprev, *wnext;
	/* session glue */
	bool held;     /* the first ReadyForQuery was held back */
	bool injected; /* the context was sent; its answers are due */
	bool released; /* the client may be read again */
};

/* Why a session may not start: what its FATAL says. */
struct pgw_tenant_refusal {
	const char *sqlstate;
	char message[PGW_TENANT_ERR_MAX];
};

struct pgw_tenant_stats {
	uint64_t cache_hits;
	uint64_t cache_misses;
	uint64_t invalidations; /* cached identities dropped by NOTIFY (or a reconnect) */
	uint64_t lookups;	/* queries sent */
	uint64_t lookup_failures;
	uint64_t injections; /* sessions whose context was set */
	/* NOTIFYs on listen_channel that changed nothing: a malformed payload, a sender whose
	 * role may not invalidate ([tenant] notify_roles), or one gone before it was checked */
	uint64_t notify_ignored;
	size_t cache_entries;
	bool listening; /* the LISTEN connection is up */
};

/* ---- module lifecycle (tenant.c) ---- */

/* Loads the map file and starts the lookup/LISTEN connection for <cfg> (kept by pointer:
 * the caller replaces the struct in place on reload). -1 with <err> filled. */
int pgw_tenant_start(struct event_base *base, const struct pgw_config *cfg, char *err,
		     size_t errlen) PGW_MUSTCHECK;
/* After a reload: re-reads the map file (a bad file keeps the old map, logged), and
 * restarts the connection when its settings changed. */
void pgw_tenant_reload(void);
void pgw_tenant_shutdown(void);
void pgw_tenant_stats(struct pgw_tenant_stats *out);

/* ---- per session (tenant.c) ---- */

/*
 * At the StartupMessage: finds the identity (login role, or the user id setting of a trusted
 * role, which is removed from <v> so the server never sees it) and refuses startup settings
 * of protected names by any route. <t> becomes OFF (no tenant context for this database),
 * READY (no identity, no_identity = empty) or IDENTIFIED. -1 with <r> filled: the session
 * must be refused. Nothing is looked up or cached before the client has authenticated.
 */
int pgw_tenant_begin(struct pgw_tenant_sess *t, struct pgw_startup_view *v,
		     struct pgw_tenant_refusal *r) PGW_MUSTCHECK;
/* Once the client has authenticated: starts resolving an IDENTIFIED <t>'s organizations.
 * <t> becomes READY, FAILED or PENDING (<fn>(<arg>) is called when the lookup finishes). */
void pgw_tenant_resolve(struct pgw_tenant_sess *t, pgw_tenant_ready_fn fn, void *arg);
/* A FAILED lookup with on_lookup_failure = empty: <t> becomes READY with "{}" (true). */
bool pgw_tenant_use_fallback(struct pgw_tenant_sess *t);
/* Stops waiting and frees what <t> owns. */
void pgw_tenant_end(struct pgw_tenant_sess *t);

/*
 * The statement that sets the context of READY <t> on backend <pid>: SELECT
 * set_config($1,$2,false), ... with every name and value a bound text parameter, to run as
 * the unnamed statement (which must then be closed: nothing of pgward's may outlive the
 * Sync, or a client's Bind of "" would re-run it with values of its own). With
 * signing_secret, the signature binds <checkout>, a number greater than any before on this
 * backend, which pgward.claim() records on the server (conf/tenant/signing.sql): a context
 * signed for an earlier client of the same backend no longer verifies. <inj> holds the
 * parameters that are not <t>'s or the configuration's.
 */
struct pgw_tenant_injection {
	const char *sql;
	const char *params[7];
	uint16_t nparams;
	char signature[PGW_HMAC_HEX_LEN + 1];
	char checkout[24];
};
void pgw_tenant_injection(const struct pgw_tenant_sess *t, uint32_t pid, uint64_t checkout,
			  struct pgw_tenant_injection *inj);

/* True when <name> (as written, any case) is one of the protected settings while tenant
 * context is on; *canonical gets the configured spelling. */
bool pgw_tenant_protected(const struct pgw_config *cfg, const char *name, const char **canonical);

/* ---- pure helpers (ident.c), unit-tested ---- */

/* True for the canonical 8-4-4-4-12 hexadecimal UUID form (any case). */
bool pgw_uuid_valid(const char *s);

/* HMAC-SHA256(secret, user_id || org_ids || pid || ':' || checkout, numbers in decimal) as
 * 64 lower-case hex digits. */
void pgw_tenant_sign(const char *secret, const char *user_id, const char *org_ids, uint32_t pid,
		     uint64_t checkout, char out[PGW_HMAC_HEX_LEN + 1]);

/* ---- the map file (orgmap.c) ---- */

struct pgw_orgmap;

/* Parses "identity = uuid, uuid" lines ('#' and ';' start comments). -1 with
 * "file:line: problem" in <err>. */
int pgw_orgmap_load(const char *path, struct pgw_orgmap **out, char *err,
		    size_t errlen) PGW_MUSTCHECK;
/* The "{uuid,uuid}" of <identity>, or NULL if the map does not name it. */
const char *pgw_orgmap_get(const struct pgw_orgmap *m, const char *identity);
size_t pgw_orgmap_count(const struct pgw_orgmap *m);
void pgw_orgmap_free(struct pgw_orgmap *m);

#endif
