/*
 * /metrics: every family in the Prometheus text format 0.0.4, each family's samples
 * together. Series with nothing to say (a kind a tenant never ran) are left out, which
 * keeps a scrape of 1,000 tenants small; a tenant's labels were escaped once, when it was
 * created. Every label value a peer could influence comes from pgw_mlabel_escape.
 */
#include "metrics-int.h"

#include "pgward/auth.h"
#include "pgward/policy.h"
#include "pgward/pool.h"
#include "pgward/sql.h"

#include <stdio.h>
#include <stdlib.h>

#define LABELS_MAX (PGW_MT_LABEL_MAX + 128)

/* Named tenants in creation order, then _other. */
static struct pgw_mtenant *next_tenant(struct pgw_mtenant *t)
{
	if (t == NULL)
		return pgw_mg.reg.by_name != NULL ? pgw_mg.reg.by_name : pgw_mg.reg.other;
	if (t == pgw_mg.reg.other)
		return NULL;
	return t->hh.next != NULL ? t->hh.next : pgw_mg.reg.other;
}

#define FOR_TENANTS(t)                                                                             \
	for (struct pgw_mtenant *t = next_tenant(NULL); t != NULL; t = next_tenant(t))

static void query_families(struct pgw_mbuf *b)
{
	char labels[LABELS_MAX];

	pgw_mbuf_family(b, "pgward_query_duration_seconds", "histogram",
			"Time from a client's query (or first extended-protocol message) to "
			"ReadyForQuery, by tenant and statement kind.");
	FOR_TENANTS(t)
	{
		for (unsigned k = 0; k < PGW_MK__COUNT; k++) {
			if (pgw_hist_count(&t->query[k]) == 0)
				continue;
			snprintf(labels, sizeof(labels), "tenant=\"%s\",kind=\"%s\"", t->label,
				 pgw_mkind_names[k]);
			pgw_mbuf_hist(b, "pgward_query_duration_seconds", labels, &t->query[k]);
		}
	}
	pgw_mbuf_family(b, "pgward_queries_total", "counter",
			"Queries completed, by tenant, statement kind and outcome.");
	FOR_TENANTS(t)
	{
		for (unsigned k = 0; k < PGW_MK__COUNT; k++) {
			for (unsigned o = 0; o < PGW_MO__COUNT; o++) {
				if (t->queries[k][o] == 0)
					continue;
				snprintf(labels, sizeof(labels),
					 "tenant=\"%s\",kind=\"%s\",outcome=\"%s\"", t->label,
					 pgw_mkind_names[k], pgw_moutcome_names[o]);
				pgw_mbuf_sample(b, "pgward_queries_total", labels,
						t->queries[k][o]);
			}
		}
	}
	pgw_mbuf_family(b, "pgward_transaction_duration_seconds", "histogram",
			"Duration of transaction blocks (BEGIN to COMMIT/ROLLBACK), by tenant.");
	FOR_TENANTS(t)
	{
		if (pgw_hist_count(&t->tx) == 0)
			continue;
		snprintf(labels, sizeof(labels), "tenant=\"%s\"", t->label);
		pgw_mbuf_hist(b, "pgward_transaction_duration_seconds", labels, &t->tx);
	}
	pgw_mbuf_family(b, "pgward_pool_wait_seconds", "histogram",
			"Time pooled clients waited for a server of their pool, by tenant; 0 for "
			"a client whose server was free at once.");
	FOR_TENANTS(t)
	{
		if (pgw_hist_count(&t->pool_wait) == 0)
			continue;
		snprintf(labels, sizeof(labels), "tenant=\"%s\"", t->label);
		pgw_mbuf_hist(b, "pgward_pool_wait_seconds", labels, &t->pool_wait);
	}
}

static void tenant_families(struct pgw_mbuf *b)
{
	char labels[LABELS_MAX], rule[96];

	pgw_mbuf_family(b, "pgward_refused_total", "counter",
			"Client messages refused by pgward, by tenant and rule.");
	FOR_TENANTS(t)
	{
		for (unsigned i = 0; i < PGW_MT_RULES && t->refused[i].rule[0] != '\0'; i++) {
			pgw_mlabel_escape(t->refused[i].rule, rule, sizeof(rule));
			snprintf(labels, sizeof(labels), "tenant=\"%s\",rule=\"%s\"", t->label,
				 rule);
			pgw_mbuf_sample(b, "pgward_refused_total", labels, t->refused[i].n);
		}
		if (t->refused_other > 0) {
			snprintf(labels, sizeof(labels), "tenant=\"%s\",rule=\"_other\"", t->label);
			pgw_mbuf_sample(b, "pgward_refused_total", labels, t->refused_other);
		}
	}
	pgw_mbuf_family(b, "pgward_client_connections", "gauge",
			"Client connections logged in, by tenant.");
	FOR_TENANTS(t)
	{
		snprintf(labels, sizeof(labels), "tenant=\"%s\"", t->label);
		pgw_mbuf_sample(b, "pgward_client_connections", labels, t->conns);
	}
	pgw_mbuf_family(b, "pgward_bytes_total", "counter",
			"Protocol bytes relayed, by tenant and direction.");
	FOR_TENANTS(t)
	{
		snprintf(labels, sizeof(labels), "tenant=\"%s\",direction=\"from_client\"",
			 t->label);
		pgw_mbuf_sample(b, "pgward_bytes_total", labels, t->bytes[0]);
		snprintf(labels, sizeof(labels), "tenant=\"%s\",direction=\"from_server\"",
			 t->label);
		pgw_mbuf_sample(b, "pgward_bytes_total", labels, t->bytes[1]);
	}
	pgw_mbuf_scalar(b, "pgward_metrics_tenants", "gauge",
			"Tenants tracked by name (at most [metrics] max_tenants).",
			pgw_mg.reg.count);
	pgw_mbuf_scalar(b, "pgward_metrics_tenants_expired_total", "counter",
			"Tenants dropped after tenant_idle_expiry without sessions.",
			pgw_mg.reg.expired);
	pgw_mbuf_scalar(b, "pgward_metrics_tenant_overflow_total", "counter",
			"Logins counted under tenant=\"_other\" because max_tenants were tracked.",
			pgw_mg.reg.overflow);
}

/* The guard's SQL classification cache (src/sql/cache.c). */
static void sql_cache_families(struct pgw_mbuf *b)
{
	struct pgw_sql_cache_stats st = {0};

	pgw_policy_sql_stats(&st);
	pgw_mbuf_scalar(b, "pgward_sql_cache_hits_total", "counter",
			"SQL classifications answered from the cache.", st.hits);
	pgw_mbuf_scalar(b, "pgward_sql_cache_misses_total", "counter",
			"SQL texts that had to be inspected.", st.misses);
	pgw_mbuf_scalar(b, "pgward_sql_cache_evictions_total", "counter",
			"SQL classification cache entries evicted.", st.evictions);
	pgw_mbuf_scalar(b, "pgward_sql_parses_total", "counter",
			"Times libpg_query parsed a text for the guard.", st.parses);
	pgw_mbuf_scalar(b, "pgward_sql_shape_hits_total", "counter",
			"SQL texts not cached answered from their statement shape, unparsed.",
			st.shape_hits);
	pgw_mbuf_scalar(b, "pgward_sql_shape_misses_total", "counter",
			"SQL texts with literals parsed: a new shape or one that cannot serve.",
			st.shape_misses);
	pgw_mbuf_scalar(b, "pgward_sql_shape_entries", "gauge",
			"Statement shapes in the SQL classification cache.", st.shape_entries);
	pgw_mbuf_scalar(b, "pgward_sql_cache_entries", "gauge",
			"Entries in the SQL classification cache.", st.entries);
	pgw_mbuf_scalar(b, "pgward_sql_cache_bytes", "gauge",
			"Memory held by the SQL classification cache.", st.bytes);
}

/* One pool's gauges (pgw_pool_foreach). */
static void pool_samples(const struct pgw_pool_view *v, void *arg)
{
	static const char *const states[] = {"active", "idle", "resetting", "connecting"};
	struct pgw_mbuf *b = arg;
	unsigned counts[] = {v->active, v->idle, v->resetting, v->connecting};
	char db[160], user[160], labels[400];

	pgw_mlabel_escape(v->database, db, sizeof(db));
	pgw_mlabel_escape(v->user, user, sizeof(user));
	for (size_t i = 0; i < PGW_ARRAY_LEN(states); i++) {
		snprintf(labels, sizeof(labels), "database=\"%s\",user=\"%s\",state=\"%s\"", db,
			 user, states[i]);
		pgw_mbuf_sample(b, "pgward_pool_servers", labels, counts[i]);
	}
}

/* A gauge of one pool labelled with its database and user. */
static void pool_sample(struct pgw_mbuf *b, const char *name, const struct pgw_pool_view *v,
			unsigned value)
{
	char db[160], user[160], labels[400];

	pgw_mlabel_escape(v->database, db, sizeof(db));
	pgw_mlabel_escape(v->user, user, sizeof(user));
	snprintf(labels, sizeof(labels), "database=\"%s\",user=\"%s\"", db, user);
	pgw_mbuf_sample(b, name, labels, value);
}

static void pool_wait_samples(const struct pgw_pool_view *v, void *arg)
{
	pool_sample(arg, "pgward_pool_clients_waiting", v, v->waiting);
}

static void pool_pinned_samples(const struct pgw_pool_view *v, void *arg)
{
	pool_sample(arg, "pgward_pool_clients_pinned", v, v->pinned);
}

/* Server pools (src/pool/): PgBouncer's SHOW POOLS as gauges. */
static void pool_families(struct pgw_mbuf *b)
{
	pgw_mbuf_family(b, "pgward_pool_servers", "gauge",
			"Server connections of each (database, user) pool, by state.");
	pgw_pool_foreach(pool_samples, b);
	pgw_mbuf_family(b, "pgward_pool_clients_waiting", "gauge",
			"Clients waiting for a server of each (database, user) pool.");
	pgw_pool_foreach(pool_wait_samples, b);
	pgw_mbuf_family(b, "pgward_pool_clients_pinned", "gauge",
			"Clients of each (database, user) pool that keep their server past their "
			"transactions (pool_mode = transaction).");
	pgw_pool_foreach(pool_pinned_samples, b);
}

static void login_families(struct pgw_mbuf *b)
{
	pgw_mbuf_family(b, "pgward_logins_total", "counter",
			"Client logins by authentication method and outcome.");
	for (int m = 0; m < PGW_LOGIN_METHODS; m++)
		for (int o = 0; o < PGW_LOGIN__COUNT; o++) {
			char labels[96];

			snprintf(labels, sizeof(labels), "method=\"%s\",outcome=\"%s\"",
				 pgw_login_method_name(m),
				 pgw_login_outcome_name((enum pgw_login_outcome)o));
			pgw_mbuf_sample(b, "pgward_logins_total", labels, pgw_login_counts[m][o]);
		}
}

void pgw_metrics_render(struct pgw_mbuf *b)
{
	/* Scrapes are alike: one allocation the size of the last one, not a doubling chain
	 * whose copies cost more than the rendering at 1,000 tenants. */
	static size_t last_len;

	if (b->cap == 0 && last_len > 0)
		pgw_mbuf_reserve(b, last_len + last_len / 8);
	pgw_mbuf_family(b, "pgward_build_info", "gauge", "pgward's version; always 1.");
	pgw_mbuf_puts(b, "pgward_build_info{version=\"" PGWARD_VERSION "\"} 1\n");
	if (pgw_mg.on) {
		query_families(b);
		tenant_families(b);
	}
	pgw_mbuf_family(b, "pgward_server_connect_seconds", "histogram",
			"Time to open a server connection (TCP and TLS).");
	pgw_mbuf_hist(b, "pgward_server_connect_seconds", "", &pgw_mg.connect);
	pgw_mbuf_scalar(b, "pgward_server_connect_failures_total", "counter",
			"Server connections that could not be opened.", pgw_mg.connect_failed);
	sql_cache_families(b);
	login_families(b);
	pool_families(b);
	pgw_mjob_render(b);
	pgw_mstmt_render(b);
	pgw_mprocess_render(b);
	last_len = b->len;
}

char *pgw_metrics_statements_json(void)
{
	return pgw_mstmt_json();
}
