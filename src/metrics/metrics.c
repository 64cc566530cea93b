/*
 * The metrics module's process-wide state: on/off, the tenant registry, server connect
 * times, and the counters other modules feed (tenant-context cache, job lock waits).
 */
#include "metrics-int.h"

#include "pgward/tenant.h"

#include "pgward/log.h"
#include "pgward/proxy.h"

#include <stdio.h>
#include <string.h>

#define JOB_TABLES_MAX 32 /* job tables with their own series; more share table="_other" */

struct job_table {
	char name[64]; /* clean (label.c) */
	char label[sizeof("table=\"\"") + 2 * 63];
	struct pgw_hist wait;
};

struct pgw_mglobal pgw_mg;
static struct job_table job_tables[JOB_TABLES_MAX + 1];
static unsigned njob_tables;

bool pgw_metrics_enabled(void)
{
	return pgw_mg.on;
}

void pgw_metrics_init(void)
{
	if (pgw.cfg.metrics_listen_port == 0 || pgw_mg.on)
		return;
	if (pgw_mreg_init(&pgw_mg.reg) < 0) {
		pgw_error(0, "metrics_off", "msg=\"out of memory\"");
		return;
	}
	pgw_mg.on = true;
}

void pgw_metrics_tick(void)
{
	if (pgw_mg.on)
		pgw_mreg_expire(&pgw_mg.reg, pgw_now(), pgw.cfg.metrics_tenant_idle_expiry);
}

void pgw_metrics_shutdown(void)
{
	if (!pgw_mg.on)
		return;
	pgw_mstmt_free();
	pgw_mreg_free(&pgw_mg.reg);
	memset(&pgw_mg, 0, sizeof(pgw_mg));
	memset(job_tables, 0, sizeof(job_tables));
	njob_tables = 0;
}

void pgw_metrics_job_lock_wait(const char *table, double seconds)
{
	struct job_table *j = NULL;
	char key[sizeof(j->name)];

	pgw_mtext_clean(table, key, sizeof(key));
	for (unsigned i = 0; i < njob_tables && j == NULL; i++)
		if (strcmp(job_tables[i].name, key) == 0)
			j = &job_tables[i];
	if (j == NULL && njob_tables < JOB_TABLES_MAX) {
		j = &job_tables[njob_tables++];
		memcpy(j->name, key, sizeof(j->name));
	} else if (j == NULL) {
		j = &job_tables[JOB_TABLES_MAX];
		snprintf(j->name, sizeof(j->name), "%s", PGW_MT_OTHER);
	}
	if (j->label[0] == '\0') {
		char esc[sizeof(j->label) - sizeof("table=\"\"") + 1];

		pgw_mlabel_escape(j->name, esc, sizeof(esc));
		snprintf(j->label, sizeof(j->label), "table=\"%s\"", esc);
	}
	pgw_hist_observe(&j->wait, seconds > 0 ? (uint64_t)(seconds * 1e9) : 0);
}

void pgw_mjob_render(struct pgw_mbuf *b)
{
	static const char *const cache_names[] = {
		"pgward_tenant_cache_hits_total",
		"pgward_tenant_cache_misses_total",
		"pgward_tenant_cache_invalidations_total",
		"pgward_tenant_notify_ignored_total",
	};
	static const char *const cache_help[] = {
		"Tenant-context lookups answered from the cache.",
		"Tenant-context lookups that had to ask PostgreSQL.",
		"Tenant-context cache entries invalidated (NOTIFY or TTL).",
		"Invalidation NOTIFYs ignored (bad payload, sender not allowed or gone).",
	};
	struct pgw_tenant_stats ts;
	uint64_t cache[4];

	pgw_mbuf_family(b, "pgward_job_lock_wait_seconds", "histogram",
			"Time job inserts waited for their serializing advisory lock, by table.");
	for (unsigned i = 0; i <= JOB_TABLES_MAX; i++)
		if (job_tables[i].label[0] != '\0')
			pgw_mbuf_hist(b, "pgward_job_lock_wait_seconds", job_tables[i].label,
				      &job_tables[i].wait);
	/* The tenant module keeps its own counters; they are read at scrape time. */
	pgw_tenant_stats(&ts);
	cache[0] = ts.cache_hits;
	cache[1] = ts.cache_misses;
	cache[2] = ts.invalidations;
	cache[3] = ts.notify_ignored;
	for (unsigned i = 0; i < PGW_ARRAY_LEN(cache); i++)
		pgw_mbuf_scalar(b, cache_names[i], "counter", cache_help[i], cache[i]);
}
