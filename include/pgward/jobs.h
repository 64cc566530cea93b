/*
 * The job serializer (report 1.3.1, 3.1.1): an INSERT into a configured job table first
 * takes a transaction-scoped PostgreSQL advisory lock per key, then, in a new statement
 * (so READ COMMITTED sees rows committed while it waited), fails or inserts nothing when
 * an active job with that key exists. This module decides and writes the SQL; it never
 * sees a socket (src/session/inject.c sends what it builds).
 *
 * The lock key is computed by the server from the values typed as the table's columns
 * (hashtextextended over 'table:' || row::text), so every pgward instance, and every
 * spelling of a value (literal, text or binary parameter), takes the same lock.
 */
#ifndef PGWARD_JOBS_H
#define PGWARD_JOBS_H

#include "pgward/common.h"
#include "pgward/config.h"

struct pgw_sql_info;
struct pgw_sql_insert;

#define PGW_JOB_MAX_KEYS 8
/* Statement, portal and SQLSTATE names pgward's own statements use. */
#define PGW_JOB_LOCK_STMT	  "pgward.job_lock"
#define PGW_JOB_CHECK_STMT	  "pgward.job_check"
#define PGW_JOB_PORTAL		  "pgward.job"
#define PGW_JOB_SQLSTATE_RR	  "22012" /* the lock statement under REPEATABLE READ */
#define PGW_JOB_SQLSTATE_CONFLICT "22P02" /* the check statement found an active job */

enum pgw_job_verdict {
	PGW_JOB_NONE = 0,  /* not an INSERT into a job table */
	PGW_JOB_SERIALIZE, /* the plan is filled */
	PGW_JOB_UNCOVERED, /* into a job table, but its keys cannot be known: forwarded as is */
};

struct pgw_job_plan {
	const struct pgw_job_table *job;
	unsigned slot; /* counters: pgw_jobs_stats()[slot] */
	const struct pgw_sql_insert *ins;
	size_t keypos[PGW_JOB_MAX_KEYS]; /* the INSERT's column of each key column */
	const char *why;		 /* UNCOVERED: the reason, for the log */
};

/*
 * Whether <info> is one INSERT into a job table of <cfg>, and if so with which keys.
 * Only a text of one statement qualifies; a job INSERT inside a multi-statement text, a
 * CTE, or with a key that is DEFAULT, an expression or missing is UNCOVERED.
 */
enum pgw_job_verdict pgw_jobs_match(const struct pgw_config *cfg, const struct pgw_sql_info *info,
				    struct pgw_job_plan *plan);

/* Cheap test before any parse: false when <sql> cannot be an INSERT into a job table. */
bool pgw_jobs_may_match(const struct pgw_config *cfg, const char *sql, size_t len);

/* pgward's statements for one job INSERT; the texts are malloc'd. */
struct pgw_job_sql {
	char *lock;  /* takes the advisory locks, sorted; fails with 22012 under RR */
	char *check; /* error mode: fails with 22P02 when an active job exists; else NULL */
	uint16_t nparams;
	int params[PGW_JOB_MAX_KEYS * 64]; /* our $i+1 is the client's $params[i] */
};

/* -1 when memory runs out or the INSERT has too many parameters in its keys. */
int pgw_jobs_build(const struct pgw_job_plan *plan, struct pgw_job_sql *out) PGW_MUSTCHECK;
void pgw_jobs_sql_free(struct pgw_job_sql *sql);

/*
 * Skip mode: the client's INSERT text with its VALUES list turned into a SELECT that
 * inserts only rows without an active job (the list keeps its text, so $n and expressions
 * stay as written). NULL when the text cannot be rewritten (a DEFAULT among the values,
 * no column list): the caller then treats the INSERT as uncovered.
 */
char *pgw_jobs_rewrite(const struct pgw_job_plan *plan, const char *sql, size_t len,
		       size_t *out_len);

/* A client's Bind parameter, borrowed from the message. len -1 is NULL. */
struct pgw_job_param {
	const uint8_t *value;
	int32_t len;
	int16_t format; /* 0 text, 1 binary */
};

/* "Key (domain, job_type)=(example.com, full)": the DETAIL of a conflict. */
void pgw_jobs_detail(const struct pgw_job_plan *plan, const struct pgw_job_param *params,
		     size_t nparams, char *out, size_t outlen);

/* The text inside one row's parentheses. */
struct pgw_jobs_row {
	size_t start, end;
};

/*
 * Finds the VALUES list of a one-statement INSERT text, [*start, *end), and the inside of
 * its rows, which must be exactly <nrows>. False if the text does not read that way.
 */
bool pgw_jobs_values_range(const char *sql, size_t len, size_t *start, size_t *end,
			   struct pgw_jobs_row *rows, size_t nrows);
/* Splits a row's inside at its top-level commas; the number of items, 0 if more than <max>
 * or unreadable. */
size_t pgw_jobs_split_items(const char *sql, struct pgw_jobs_row row, struct pgw_jobs_row *items,
			    size_t max);

/* ---- counters, per configured table (name kept across reloads) ---- */

struct pgw_job_stats {
	const char *table;
	uint64_t serialized; /* INSERTs that went through the lock and check */
	uint64_t conflicts;  /* of which found an active job (error or skip) */
	uint64_t uncovered;  /* INSERTs into the table pgward could not key */
	uint64_t lock_waits; /* lock statements completed, and their summed time */
	double lock_wait_seconds;
};

unsigned pgw_jobs_slot(const char *table);
void pgw_jobs_count(unsigned slot, uint64_t serialized, uint64_t conflicts, uint64_t uncovered);
void pgw_jobs_lock_waited(unsigned slot, double seconds);
/* Copies up to <max> tables' counters; returns how many tables have counters. */
size_t pgw_jobs_stats(struct pgw_job_stats *out, size_t max);

/* Logs an uncovered INSERT once per statement fingerprint (bounded memory). */
void pgw_jobs_log_uncovered(uint64_t sid, const struct pgw_job_plan *plan,
			    const struct pgw_sql_info *info);

#endif
