/*
 * The console's SHOW commands: each reads live state (sessions, configuration, counters)
 * and renders one result set.
 */
#include "admin-int.h"

#include "pgward/jobs.h"
#include "pgward/policy.h"
#include "pgward/proxy.h"
#include "pgward/session.h"
#include "pgward/sql.h"
#include "pgward/tenant.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define NUM(buf, fmt, v) (snprintf(buf, sizeof(buf), fmt, v), buf)

/* ---- SHOW SESSIONS ---- */

static void session_row(const struct pgw_session_view *v, void *arg)
{
	struct pgw_rs *rs = arg;
	char id[24], pid[16], age[32], idle[32], refused[24];
	double now = pgw_now();
	const char *row[] = {
		NUM(id, "%" PRIu64, v->id),
		v->user,
		v->database,
		v->tenant,
		v->peer,
		v->state,
		v->tls ? "yes" : "no",
		v->server_pid ? NUM(pid, "%u", v->server_pid) : NULL,
		NUM(age, "%.1f", now - v->connected_at),
		NUM(idle, "%.1f", now - v->last_activity),
		NUM(refused, "%" PRIu64, v->refused),
		v->pinned_by,
	};

	pgw_rs_row(rs, row);
}

void pgw_admin_show_sessions(struct evbuffer *out)
{
	static const char *const cols[] = {
		"id",  "user",	     "database",    "tenant",	       "peer",	  "state",
		"tls", "server_pid", "connected_s", "last_activity_s", "refused", "pinned"};
	struct pgw_rs rs;

	pgw_rs_begin(&rs, out, cols, (int)PGW_ARRAY_LEN(cols));
	pgw_session_foreach(session_row, &rs);
	pgw_rs_end(&rs, "SHOW");
}

/* ---- SHOW TENANTS: sessions grouped by tenant ---- */

struct tenant_row {
	char *tenant;
	unsigned sessions, active;
	uint64_t refused;
	UT_hash_handle hh;
};

static void tenant_add(const struct pgw_session_view *v, void *arg)
{
	struct tenant_row **rows = arg, *r = NULL;
	const char *name = v->tenant;

	if (v->admin || name == NULL) /* the console, or a client not yet authenticated */
		return;
	HASH_FIND_STR(*rows, name, r);
	if (r == NULL) {
		r = calloc(1, sizeof(*r));
		if (r == NULL || (r->tenant = strdup(name)) == NULL) {
			free(r);
			return; /* out of memory: the row is missing, nothing worse */
		}
		HASH_ADD_KEYPTR(hh, *rows, r->tenant, strlen(r->tenant), r);
	}
	r->sessions++;
	r->active += strcmp(v->state, "active") == 0;
	r->refused += v->refused;
}

static int by_name(const struct tenant_row *a, const struct tenant_row *b)
{
	return strcmp(a->tenant, b->tenant);
}

void pgw_admin_show_tenants(struct evbuffer *out)
{
	static const char *const cols[] = {"tenant", "sessions", "active", "refused"};
	struct tenant_row *rows = NULL, *r, *tmp;
	struct pgw_rs rs;

	pgw_session_foreach(tenant_add, &rows);
	HASH_SORT(rows, by_name);
	pgw_rs_begin(&rs, out, cols, (int)PGW_ARRAY_LEN(cols));
	HASH_ITER (hh, rows, r, tmp) {
		char n[16], a[16], f[24];
		const char *row[] = {r->tenant, NUM(n, "%u", r->sessions), NUM(a, "%u", r->active),
				     NUM(f, "%" PRIu64, r->refused)};

		pgw_rs_row(&rs, row);
		HASH_DEL(rows, r);
		free(r->tenant);
		free(r);
	}
	pgw_rs_end(&rs, "SHOW");
}

/* ---- SHOW RULES: every guard rule and payload limit, for whom it applies ---- */

static void roles_with(const struct pgw_config *cfg, uint64_t bit, bool on, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < cfg->nguard_roles; i++) {
		const struct pgw_guard_role *r = &cfg->guard_roles[i];

		if (((r->rules & bit) != 0) != on)
			continue;
		n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", n ? ", " : "",
				      r->role);
		if (n >= cap)
			break;
	}
}

static void limit_row(struct pgw_rs *rs, const char *rule, uint64_t value)
{
	char v[32];
	const char *row[] = {rule, "54000", "everyone", NULL, NULL, NUM(v, "%" PRIu64, value),
			     NULL, NULL,    NULL};

	pgw_rs_row(rs, row);
}

void pgw_admin_show_rules(struct evbuffer *out)
{
	static const char *const cols[] = {"rule",  "sqlstate", "default", "roles_on", "roles_off",
					   "limit", "detected", "example", "instead"};
	const struct pgw_config *cfg = &pgw.cfg;
	struct pgw_rs rs;

	pgw_rs_begin(&rs, out, cols, (int)PGW_ARRAY_LEN(cols));
	for (int f = 0; f < PGW_SQL_NFLAGS; f++) {
		uint64_t bit = PGW_SQL_BIT(f);
		char on[256], off[256], det[24];
		const char *row[9];

		if (!(bit & PGW_SQL_GUARD_RULES))
			continue;
		roles_with(cfg, bit, true, on, sizeof(on));
		roles_with(cfg, bit, false, off, sizeof(off));
		row[0] = pgw_sql_flag_name((enum pgw_sql_flag)f);
		row[1] = "42501";
		row[2] = (cfg->guard_default_rules & bit) ? "on" : "off";
		row[3] = on;
		row[4] = off;
		row[5] = NULL;
		row[6] = NUM(det, "%" PRIu64, pgw_guard_detected(f));
		pgw_guard_rule_doc(f, &row[7], &row[8]);
		pgw_rs_row(&rs, row);
	}
	limit_row(&rs, "message_size", cfg->max_message_size);
	limit_row(&rs, "query_size", cfg->max_query_size);
	limit_row(&rs, "bind_param_size", cfg->max_bind_param_size);
	limit_row(&rs, "bind_param_count", (uint64_t)cfg->max_bind_params);
	limit_row(&rs, "copy_data_size", cfg->max_copy_data_size);
	pgw_rs_end(&rs, "SHOW");
}

/* ---- SHOW COUNTERS: pgward's process-wide counters as name/value rows ---- */

static void stat_row(struct pgw_rs *rs, const char *name, uint64_t value)
{
	char v[32];
	const char *row[] = {name, NUM(v, "%" PRIu64, value)};

	pgw_rs_row(rs, row);
}

/* "job_<table>_<what>": one row per counter of each job table */
static void job_row(struct pgw_rs *rs, const char *table, const char *what, uint64_t value)
{
	char name[200];

	snprintf(name, sizeof(name), "job_%s_%s", table, what);
	stat_row(rs, name, value);
}

void pgw_admin_show_counters(struct evbuffer *out)
{
	static const char *const cols[] = {"stat", "value"};
	struct pgw_sql_cache_stats sql;
	struct pgw_tenant_stats tenant;
	struct pgw_job_stats jobs[64];
	size_t njobs;
	struct pgw_rs rs;

	pgw_policy_sql_stats(&sql);
	pgw_rs_begin(&rs, out, cols, (int)PGW_ARRAY_LEN(cols));
	stat_row(&rs, "sessions", pgw_session_count());
	stat_row(&rs, "sql_cache_hits", sql.hits);
	stat_row(&rs, "sql_cache_misses", sql.misses);
	stat_row(&rs, "sql_cache_evictions", sql.evictions);
	stat_row(&rs, "sql_cache_entries", sql.entries);
	stat_row(&rs, "sql_cache_bytes", sql.bytes);
	stat_row(&rs, "sql_parses", sql.parses);
	stat_row(&rs, "sql_shape_hits", sql.shape_hits);
	stat_row(&rs, "sql_shape_misses", sql.shape_misses);
	stat_row(&rs, "sql_shape_evictions", sql.shape_evictions);
	stat_row(&rs, "sql_shape_entries", sql.shape_entries);
	stat_row(&rs, "sql_shape_bytes", sql.shape_bytes);
	/* inspections answered without a parse, in hundredths of a percent */
	stat_row(&rs, "sql_answered_unparsed_bp",
		 sql.hits + sql.misses
			 ? (sql.hits + sql.shape_hits) * 10000 / (sql.hits + sql.misses)
			 : 0);
	pgw_tenant_stats(&tenant);
	stat_row(&rs, "tenant_cache_hits", tenant.cache_hits);
	stat_row(&rs, "tenant_cache_misses", tenant.cache_misses);
	stat_row(&rs, "tenant_cache_invalidations", tenant.invalidations);
	stat_row(&rs, "tenant_notify_ignored", tenant.notify_ignored);
	stat_row(&rs, "tenant_cache_entries", tenant.cache_entries);
	stat_row(&rs, "tenant_lookups", tenant.lookups);
	stat_row(&rs, "tenant_lookup_failures", tenant.lookup_failures);
	stat_row(&rs, "tenant_injections", tenant.injections);
	njobs = pgw_jobs_stats(jobs, PGW_ARRAY_LEN(jobs));
	for (size_t i = 0; i < njobs && i < PGW_ARRAY_LEN(jobs); i++) {
		job_row(&rs, jobs[i].table, "serialized", jobs[i].serialized);
		job_row(&rs, jobs[i].table, "conflicts", jobs[i].conflicts);
		job_row(&rs, jobs[i].table, "uncovered", jobs[i].uncovered);
	}
	pgw_rs_end(&rs, "SHOW");
}

/* ---- SHOW SHAPES: the statement shapes parsed for every text, most parsed first ---- */

#define SHAPES_SHOWN 20

static void shape_row(const char *shape, size_t len, uint64_t parses, const char *why, void *arg)
{
	char text[400], n[32];
	const char *row[] = {text, NUM(n, "%" PRIu64, parses), why};

	pgw_sql_shape_text(shape, len, text, sizeof(text));
	pgw_rs_row(arg, row);
}

void pgw_admin_show_shapes(struct evbuffer *out)
{
	static const char *const cols[] = {"shape", "parses", "reason"};
	struct pgw_rs rs;

	pgw_rs_begin(&rs, out, cols, (int)PGW_ARRAY_LEN(cols));
	pgw_policy_sql_uncached(SHAPES_SHOWN, shape_row, &rs);
	pgw_rs_end(&rs, "SHOW");
}

/* ---- SHOW AUTH: logins by method and outcome since the start ---- */

void pgw_admin_show_auth(struct evbuffer *out)
{
	static const char *const cols[] = {"method", "ok", "failed", "throttled", "error"};
	struct pgw_rs rs;

	pgw_rs_begin(&rs, out, cols, (int)PGW_ARRAY_LEN(cols));
	for (int m = 0; m < PGW_LOGIN_METHODS; m++) {
		char v[PGW_LOGIN__COUNT][24];
		const char *row[1 + PGW_LOGIN__COUNT] = {pgw_login_method_name(m)};

		for (int o = 0; o < PGW_LOGIN__COUNT; o++)
			row[1 + o] = NUM(v[o], "%" PRIu64, pgw_login_counts[m][o]);
		pgw_rs_row(&rs, row);
	}
	pgw_rs_end(&rs, "SHOW");
}

/* ---- SHOW CONFIG ---- */

/*
 * Secrets stay in the file: [admin] users need not be allowed to read them. The signing
 * secret would let a session forge its tenant context; a conninfo may hold a password.
 */
static const char *shown_value(const char *key, const char *value, char *buf, size_t cap)
{
	const char *pw;

	if (strcmp(key, "signing_secret") == 0)
		return value[0] ? "(hidden)" : "";
	if (strcmp(key, "conninfo") != 0)
		return value;
	if (strstr(value, "://") != NULL && strchr(value, '@') != NULL)
		return "(hidden)"; /* a URI's user info may hold a password */
	if ((pw = strstr(value, "password")) == NULL)
		return value;
	snprintf(buf, cap, "%.*spassword=(hidden)", (int)(pw - value), value);
	return buf;
}

static void config_row(const char *section, const char *key, const char *value, bool reloadable,
		       void *arg)
{
	char buf[512];
	const char *row[] = {section, key, shown_value(key, value, buf, sizeof(buf)),
			     reloadable ? "yes" : "no"};

	pgw_rs_row(arg, row);
}

void pgw_admin_show_config(struct evbuffer *out)
{
	static const char *const cols[] = {"section", "key", "value", "reload"};
	struct pgw_rs rs;

	pgw_rs_begin(&rs, out, cols, (int)PGW_ARRAY_LEN(cols));
	pgw_config_foreach(&pgw.cfg, config_row, &rs);
	pgw_rs_end(&rs, "SHOW");
}
