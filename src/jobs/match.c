/*
 * Which INSERTs the job serializer takes: one-statement texts inserting into a configured
 * job table with every key column's value known (a literal, NULL or $n, a cast around
 * one is fine). Also the counters per table and the once-per-fingerprint log of inserts
 * pgward cannot key. Never guesses: what it cannot read exactly is uncovered.
 */
#include "pgward/jobs.h"
#include "pgward/metrics.h"
#include "pgward/log.h"
#include "pgward/sql.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define MAX_SLOTS	    64
#define LOGGED_FINGERPRINTS 1024

static struct pgw_job_stats stats[MAX_SLOTS];
static char slot_names[MAX_SLOTS][128];
static unsigned nslots;

unsigned pgw_jobs_slot(const char *table)
{
	for (unsigned i = 0; i < nslots; i++)
		if (strcmp(slot_names[i], table) == 0)
			return i;
	if (nslots == MAX_SLOTS)
		return MAX_SLOTS - 1; /* more tables than a configuration may name: share */
	snprintf(slot_names[nslots], sizeof(slot_names[nslots]), "%s", table);
	stats[nslots].table = slot_names[nslots];
	return nslots++;
}

void pgw_jobs_count(unsigned slot, uint64_t serialized, uint64_t conflicts, uint64_t uncovered)
{
	if (slot >= nslots)
		return;
	stats[slot].serialized += serialized;
	stats[slot].conflicts += conflicts;
	stats[slot].uncovered += uncovered;
}

void pgw_jobs_lock_waited(unsigned slot, double seconds)
{
	if (slot >= nslots)
		return;
	stats[slot].lock_waits++;
	stats[slot].lock_wait_seconds += seconds > 0 ? seconds : 0;
	pgw_metrics_job_lock_wait(stats[slot].table, seconds > 0 ? seconds : 0);
}

size_t pgw_jobs_stats(struct pgw_job_stats *out, size_t max)
{
	for (size_t i = 0; i < nslots && i < max; i++)
		out[i] = stats[i];
	return nslots;
}

/* Case-insensitive search for <needle> (lower-case) in <hay>. */
static bool contains(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; n > 0 && i + n <= len; i++) {
		if (tolower((unsigned char)hay[i]) != needle[0])
			continue;
		size_t k = 1;

		while (k < n && tolower((unsigned char)hay[i + k]) == needle[k])
			k++;
		if (k == n)
			return true;
	}
	return false;
}

bool pgw_jobs_may_match(const struct pgw_config *cfg, const char *sql, size_t len)
{
	if (cfg->njobs == 0 || !contains(sql, len, "insert"))
		return false;
	for (size_t i = 0; i < cfg->njobs; i++) {
		char lower[128];
		size_t n = strlen(cfg->jobs[i].name);

		/* A quoted name with capitals is still found: compare folded. */
		if (n >= sizeof(lower))
			return true;
		for (size_t k = 0; k <= n; k++)
			lower[k] = (char)tolower((unsigned char)cfg->jobs[i].name[k]);
		if (contains(sql, len, lower))
			return true;
	}
	return false;
}

static const struct pgw_job_table *find_job(const struct pgw_config *cfg,
					    const struct pgw_sql_rel *rel)
{
	for (size_t i = 0; i < cfg->njobs; i++) {
		const struct pgw_job_table *j = &cfg->jobs[i];

		/* Unqualified names are resolved by search_path, which pgward cannot see:
		 * serializing an insert into a same-named table elsewhere costs only a lock. */
		if (strcmp(j->name, rel->name) != 0)
			continue;
		if (j->schema == NULL || rel->schema == NULL || strcmp(j->schema, rel->schema) == 0)
			return j;
	}
	return NULL;
}

static enum pgw_job_verdict uncovered(struct pgw_job_plan *plan, const char *why)
{
	plan->why = why;
	return PGW_JOB_UNCOVERED;
}

static enum pgw_job_verdict match_keys(struct pgw_job_plan *plan)
{
	const struct pgw_job_table *j = plan->job;
	const struct pgw_sql_insert *ins = plan->ins;

	if (!ins->values_known)
		return uncovered(plan, ins->default_values ? "default_values" : "not_values");
	if (ins->ncols == 0)
		return uncovered(plan, "no_column_list");
	if (j->ncols > PGW_JOB_MAX_KEYS)
		return uncovered(plan, "too_many_keys");
	for (size_t k = 0; k < j->ncols; k++) {
		size_t c = 0;

		while (c < ins->ncols && strcmp(ins->cols[c], j->cols[k]) != 0)
			c++;
		if (c == ins->ncols)
			return uncovered(plan, "key_column_missing");
		plan->keypos[k] = c;
		for (size_t r = 0; r < ins->nrows; r++) {
			const struct pgw_sql_value *v = &ins->values[r * ins->rowlen + c];

			if (v->type == PGW_SQL_VAL_DEFAULT)
				return uncovered(plan, "key_default");
			if (v->type == PGW_SQL_VAL_UNKNOWN)
				return uncovered(plan, "key_expression");
		}
	}
	return PGW_JOB_SERIALIZE;
}

enum pgw_job_verdict pgw_jobs_match(const struct pgw_config *cfg, const struct pgw_sql_info *info,
				    struct pgw_job_plan *plan)
{
	const struct pgw_job_table *j = NULL;
	const struct pgw_sql_insert *ins = NULL;

	memset(plan, 0, sizeof(*plan));
	if (cfg->njobs == 0 || info == NULL || info->status != PGW_SQL_OK)
		return PGW_JOB_NONE;
	for (size_t i = 0; i < info->ninserts && j == NULL; i++) {
		ins = &info->inserts[i];
		j = find_job(cfg, &ins->rel);
	}
	if (j == NULL)
		return PGW_JOB_NONE;
	plan->job = j;
	plan->slot = pgw_jobs_slot(j->table);
	plan->ins = ins;
	if (info->ninserts != 1 || info->nstmts != 1)
		return uncovered(plan,
				 info->nstmts != 1 ? "several_statements" : "several_inserts");
	if (ins->where != PGW_SQL_INS_TOP || info->stmts[0].kind != PGW_SQL_KIND_INSERT)
		return uncovered(plan, "nested_insert");
	return match_keys(plan);
}

void pgw_jobs_log_uncovered(uint64_t sid, const struct pgw_job_plan *plan,
			    const struct pgw_sql_info *info)
{
	static uint64_t logged[LOGGED_FINGERPRINTS];
	uint64_t fp = info->fingerprint | 1; /* 0 marks a free slot */
	size_t i = fp % LOGGED_FINGERPRINTS;

	/* A direct-mapped table: a collision logs again, which is harmless. */
	if (logged[i] == fp)
		return;
	logged[i] = fp;
	pgw_warn(sid, "job_uncovered", "table=%s reason=%s fingerprint=%016llx", plan->job->table,
		 plan->why ? plan->why : "?", (unsigned long long)info->fingerprint);
}
