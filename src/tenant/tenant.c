/*
 * The tenant context, per session: identity from the login role or from a trusted role's
 * startup option (consumed, never forwarded), organization ids from the map or the cached
 * lookup, and the Parse/Bind/Execute/Sync that sets them with bound parameters. Every value
 * that reaches the server was checked here first: identities given in the startup packet
 * and organization ids are UUIDs.
 */
#include "tenant-int.h"

#include "pgward/codec.h"
#include "pgward/log.h"
#include "pgward/proxy.h"
#include "pgward/sql.h"
#include "pgward/startup_view.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/buffer.h>

static struct {
	struct event_base *base;
	const struct pgw_config *cfg;
	struct pgw_orgmap *map;
} T;

static bool on(const struct pgw_config *cfg)
{
	return cfg != NULL && cfg->tenant_mode == PGW_TENANT_MODE_ON;
}

static int start_lookup(const struct pgw_config *cfg)
{
	struct tenant_lookup_cfg lc = {
		.conninfo = cfg->tenant_conninfo,
		.query = cfg->tenant_query,
		.channel = cfg->tenant_listen_channel,
		.timeout = cfg->tenant_lookup_timeout,
	};

	return tenant_lookup_start(T.base, &lc);
}

int pgw_tenant_start(struct event_base *base, const struct pgw_config *cfg, char *err,
		     size_t errlen)
{
	T.base = base;
	T.cfg = cfg;
	if (!on(cfg))
		return 0;
	if (cfg->tenant_source == PGW_TENANT_SRC_MAP &&
	    pgw_orgmap_load(cfg->tenant_map_file, &T.map, err, errlen) < 0)
		return -1;
	if (cfg->tenant_source == PGW_TENANT_SRC_QUERY && start_lookup(cfg) < 0) {
		snprintf(err, errlen, "tenant: cannot start the lookup connection");
		return -1;
	}
	pgw_info(0, "tenant_started", "source=%s identities=%zu signing=%s",
		 cfg->tenant_source == PGW_TENANT_SRC_MAP ? "map" : "query",
		 pgw_orgmap_count(T.map), cfg->tenant_signing_secret ? "on" : "off");
	return 0;
}

void pgw_tenant_reload(void)
{
	const struct pgw_config *cfg = T.cfg;
	struct pgw_orgmap *fresh = NULL;
	char err[512], quoted[600];

	if (!on(cfg) || cfg->tenant_source != PGW_TENANT_SRC_QUERY) {
		tenant_lookup_stop();
		tenant_cache_clear(true);
	}
	if (!on(cfg) || cfg->tenant_source != PGW_TENANT_SRC_MAP) {
		pgw_orgmap_free(T.map);
		T.map = NULL;
	}
	if (!on(cfg))
		return;
	if (cfg->tenant_source == PGW_TENANT_SRC_QUERY) {
		if (start_lookup(cfg) < 0)
			pgw_error(0, "tenant_reload_failed", "msg=\"cannot start the lookup\"");
		return;
	}
	if (pgw_orgmap_load(cfg->tenant_map_file, &fresh, err, sizeof(err)) < 0) {
		pgw_error(0, "tenant_map_reload_failed", "error=%s msg=\"keeping the old map\"",
			  pgw_log_quote(err, quoted, sizeof(quoted)));
		return;
	}
	pgw_orgmap_free(T.map);
	T.map = fresh;
	pgw_info(0, "tenant_map_reloaded", "identities=%zu", pgw_orgmap_count(fresh));
}

void pgw_tenant_shutdown(void)
{
	tenant_lookup_stop();
	tenant_cache_free_all();
	pgw_orgmap_free(T.map);
	memset(&T, 0, sizeof(T));
}

void pgw_tenant_stats(struct pgw_tenant_stats *out)
{
	*out = tenant_counters;
	out->cache_entries = tenant_cache_count();
	out->listening = tenant_lookup_listening();
}

void tenant_lookup_done(struct tenant_entry *e, char *org_ids, const char *error)
{
	static struct pgw_log_limit limit =
		PGW_LOG_LIMIT(PGW_LOG_WARNING, "tenant_lookup_failed", 20, 10.0);
	char quoted[PGW_TENANT_ERR_MAX + 20];

	if (org_ids == NULL) /* clients can make lookups fail in a loop */
		pgw_log_limited(&limit, 0, "error=%s",
				pgw_log_quote(error, quoted, sizeof(quoted)));
	tenant_cache_complete(e, org_ids, error, T.cfg->tenant_cache_ttl,
			      (size_t)T.cfg->tenant_cache_size);
}

bool pgw_tenant_protected(const struct pgw_config *cfg, const char *name, const char **canonical)
{
	const char *names[3];

	if (!on(cfg))
		return false;
	names[0] = cfg->tenant_org_ids_setting;
	names[1] = cfg->tenant_user_id_setting;
	names[2] = cfg->tenant_signature_setting;
	for (size_t i = 0; i < PGW_ARRAY_LEN(names); i++)
		if (names[i] != NULL && strcasecmp(name, names[i]) == 0) {
			if (canonical)
				*canonical = names[i];
			return true;
		}
	return false;
}

/* Is <word> an item of the comma-separated <list>? */
static bool listed(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; p != NULL && *p;) {
		const char *end = strchr(p, ','), *a = p, *b;

		b = end ? end : p + strlen(p);
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if ((size_t)(b - a) == n && strncmp(a, word, n) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

static int refuse(struct pgw_tenant_refusal *r, const char *sqlstate, const char *fmt, ...)
	PGW_PRINTF(3, 4);

static int refuse(struct pgw_tenant_refusal *r, const char *sqlstate, const char *fmt, ...)
{
	va_list ap;

	r->sqlstate = sqlstate;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Finds the settings of protected names in the startup view, by any route and spelling
 * (the view has read them as the server will). Only the user id setting, from a trusted
 * role, is accepted: it becomes *user_id and is removed, so the server never sees it.
 */
static int startup_settings(const struct pgw_config *cfg, struct pgw_startup_view *v, char *user_id,
			    struct pgw_tenant_refusal *r)
{
	for (size_t i = 0; i < v->nsettings;) {
		const struct pgw_startup_setting *s = &v->settings[i];
		const char *canon;

		if (!pgw_tenant_protected(cfg, s->name, &canon)) {
			i++;
			continue;
		}
		if (canon != cfg->tenant_user_id_setting)
			return refuse(r, "42501",
				      "pgward: the startup packet may not set %s: pgward sets it "
				      "(rule tenant_context)",
				      canon);
		if (!listed(cfg->tenant_trusted_roles, v->user))
			return refuse(r, "28000",
				      "pgward: role \"%s\" may not pass %s in startup options: it "
				      "is not one of [tenant] trusted_roles",
				      v->user, canon);
		if (!pgw_uuid_valid(s->value))
			return refuse(r, "28000", "pgward: %s in startup options is not a UUID",
				      canon);
		for (int k = 0; k <= PGW_UUID_LEN; k++)
			user_id[k] = (char)tolower((unsigned char)s->value[k]);
		pgw_startup_view_remove(v, i);
	}
	return 0;
}

static void ready(struct pgw_tenant_sess *t, const char *org_ids)
{
	t->org_ids = strdup(org_ids);
	if (t->org_ids != NULL) {
		t->status = PGW_TENANT_READY;
	} else {
		t->status = PGW_TENANT_FAILED;
		snprintf(t->error, sizeof(t->error), "out of memory");
	}
}

/* Starts finding the organization ids of t->identity. */
static void resolve(const struct pgw_config *cfg, struct pgw_tenant_sess *t, pgw_tenant_ready_fn fn,
		    void *arg)
{
	struct tenant_entry *e;
	const char *ids;
	bool created;

	if (cfg->tenant_source == PGW_TENANT_SRC_MAP) {
		ids = pgw_orgmap_get(T.map, t->identity);
		ready(t, ids ? ids : "{}");
		return;
	}
	ids = tenant_cache_get(t->identity, pgw_now());
	if (ids != NULL) {
		ready(t, ids);
		return;
	}
	e = tenant_cache_pending(t->identity, &created);
	if (e == NULL) {
		t->status = PGW_TENANT_FAILED;
		snprintf(t->error, sizeof(t->error), "out of memory");
		return;
	}
	t->status = PGW_TENANT_PENDING;
	t->fn = fn;
	t->arg = arg;
	tenant_cache_wait(e, t);
	if (created)
		tenant_lookup_enqueue(e);
}

int pgw_tenant_begin(struct pgw_tenant_sess *t, struct pgw_startup_view *v,
		     struct pgw_tenant_refusal *r)
{
	const struct pgw_config *cfg = T.cfg;
	char user_id[PGW_UUID_LEN + 1] = "";

	if (!on(cfg))
		return 0;
	if (startup_settings(cfg, v, user_id, r) < 0)
		return -1;
	if (cfg->tenant_databases != NULL && !listed(cfg->tenant_databases, v->database))
		return 0;
	if (v->replication == PGW_REPL_LOGICAL)
		return refuse(r, "0A000",
			      "pgward: logical replication connections cannot carry a tenant "
			      "context; list the databases that need one in [tenant] databases");
	if (v->replication == PGW_REPL_PHYSICAL)
		return 0; /* physical replication runs no SQL */
	if (user_id[0] != '\0')
		snprintf(t->identity, sizeof(t->identity), "%s", user_id);
	else if (cfg->tenant_identity == PGW_TENANT_ID_LOGIN_ROLE)
		snprintf(t->identity, sizeof(t->identity), "%s", v->user);
	if (t->identity[0] == '\0') {
		if (cfg->tenant_no_identity == PGW_TENANT_REFUSE)
			return refuse(r, "28000",
				      "pgward: no tenant identity for role \"%s\": a trusted role "
				      "passes options=-c %s=<uuid>",
				      v->user, cfg->tenant_user_id_setting);
		ready(t, "{}");
		return 0;
	}
	t->status = PGW_TENANT_IDENTIFIED;
	return 0;
}

void pgw_tenant_resolve(struct pgw_tenant_sess *t, pgw_tenant_ready_fn fn, void *arg)
{
	if (t->status == PGW_TENANT_IDENTIFIED)
		resolve(T.cfg, t, fn, arg);
}

bool pgw_tenant_use_fallback(struct pgw_tenant_sess *t)
{
	if (T.cfg == NULL || T.cfg->tenant_on_lookup_failure != PGW_TENANT_EMPTY)
		return false;
	ready(t, "{}");
	return t->status == PGW_TENANT_READY;
}

void pgw_tenant_end(struct pgw_tenant_sess *t)
{
	tenant_cache_unwait(t);
	free(t->org_ids);
	t->org_ids = NULL;
	t->status = PGW_TENANT_OFF;
}

void pgw_tenant_injection(const struct pgw_tenant_sess *t, uint32_t pid, uint64_t checkout,
			  struct pgw_tenant_injection *inj)
{
	/* pg_catalog's set_config() by name: a client's search_path may list a schema of its
	 * own with a set_config() in it before pg_catalog */
	static const char sql2[] = "SELECT pg_catalog.set_config($1,$2,false),"
				   "pg_catalog.set_config($3,$4,false)";
	/* claim() checks the signature itself and records the checkout, whatever the order the
	 * set_config() calls run in */
	static const char sql3[] = "SELECT pg_catalog.set_config($1,$2,false),"
				   "pg_catalog.set_config($3,$4,false),"
				   "pg_catalog.set_config($5,$6,false),pgward.claim($4,$2,$7,$6)";
	const struct pgw_config *cfg = T.cfg;

	inj->sql = sql2;
	inj->params[0] = cfg->tenant_org_ids_setting;
	inj->params[1] = t->org_ids;
	inj->params[2] = cfg->tenant_user_id_setting;
	inj->params[3] = t->identity;
	inj->nparams = 4;
	if (cfg->tenant_signing_secret != NULL) {
		pgw_tenant_sign(cfg->tenant_signing_secret, t->identity, t->org_ids, pid, checkout,
				inj->signature);
		snprintf(inj->checkout, sizeof(inj->checkout), "%llu",
			 (unsigned long long)checkout);
		inj->params[4] = cfg->tenant_signature_setting;
		inj->params[5] = inj->signature;
		inj->params[6] = inj->checkout;
		inj->nparams = 7;
		inj->sql = sql3;
	}
	tenant_counters.injections++;
}
