/*
 * [job <table>] sections: each names a job table, the columns that key a job and the
 * predicate that makes a row an active job. Loading folds the names the way SQL folds
 * identifiers, so "scrape_jobs", "Scrape_Jobs" and "public.scrape_jobs" all match the
 * INSERTs the parser reports, and checks that the predicate is one SQL expression.
 */
#include "config-int.h"

#include "pgward/sql.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Most job tables a configuration may name: their counters live in a fixed table. */
#define PGW_MAX_JOB_TABLES 64

static unsigned line_of(const struct parser *p, const struct config_section *sec, const char *name)
{
	const struct config_key *key = pgw_config_find_key(sec, name);

	return key != NULL ? p->key_lines[pgw_config_key_slot(sec, key)] : 0;
}

/*
 * Reads one identifier at *s: "Quoted" keeps its case, plain is lower-cased. Returns a
 * heap copy and advances *s past it, or NULL if there is none or memory ran out.
 */
static char *read_ident(const char **s)
{
	const char *p = *s;
	char *out = malloc(strlen(p) + 1), *o = out;

	if (out == NULL)
		return NULL;
	if (*p == '"') {
		for (p++; *p != '\0'; p++) {
			if (*p == '"' && p[1] != '"')
				break;
			*o++ = *p;
			p += *p == '"';
		}
		if (*p++ != '"' || o == out)
			goto bad;
	} else {
		while (isalnum((unsigned char)*p) || *p == '_' || *p == '$' ||
		       (unsigned char)*p >= 0x80)
			*o++ = (char)tolower((unsigned char)*p++);
		if (o == out || isdigit((unsigned char)out[0]) || out[0] == '$')
			goto bad;
	}
	*o = '\0';
	*s = p;
	return out;
bad:
	free(out);
	return NULL;
}

static const char *skip_blanks(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

void *pgw_config_job_open(struct parser *p, const char *table)
{
	struct pgw_config *c = p->cfg;
	struct pgw_job_table *jobs, *j;

	for (size_t i = 0; i < c->njobs; i++)
		if (strcmp(c->jobs[i].table, table) == 0) {
			pgw_config_fail(p, p->lineno, "duplicate section [job %s]", table);
			return NULL;
		}
	if (c->njobs == PGW_MAX_JOB_TABLES) {
		pgw_config_fail(p, p->lineno, "too many [job] sections (at most %d)",
				PGW_MAX_JOB_TABLES);
		return NULL;
	}
	jobs = realloc(c->jobs, (c->njobs + 1) * sizeof(*jobs));
	if (jobs == NULL) {
		pgw_config_fail(p, p->lineno, "out of memory");
		return NULL;
	}
	c->jobs = jobs;
	j = &jobs[c->njobs];
	memset(j, 0, sizeof(*j));
	if ((j->table = strdup(table)) == NULL) {
		pgw_config_fail(p, p->lineno, "out of memory");
		return NULL;
	}
	c->njobs++;
	return j;
}

/* "schema.table" or "table" into the folded parts. */
static int split_table(struct pgw_job_table *j)
{
	const char *s = j->table;
	char *first = read_ident(&s);

	if (first == NULL)
		return -1;
	if (*s == '.') {
		s++;
		j->schema = first;
		j->name = read_ident(&s);
	} else {
		j->name = first;
	}
	return j->name != NULL && *skip_blanks(s) == '\0' ? 0 : -1;
}

static int split_columns(struct pgw_job_table *j)
{
	const char *s = j->key_columns;

	for (;;) {
		char **cols, *col;

		s = skip_blanks(s);
		if ((col = read_ident(&s)) == NULL)
			return -1;
		cols = realloc(j->cols, (j->ncols + 1) * sizeof(*cols));
		if (cols == NULL) {
			free(col);
			return -1;
		}
		j->cols = cols;
		j->cols[j->ncols++] = col;
		for (size_t i = 0; i + 1 < j->ncols; i++)
			if (strcmp(j->cols[i], col) == 0)
				return -1;
		s = skip_blanks(s);
		if (*s == '\0')
			return 0;
		if (*s++ != ',')
			return -1;
	}
}

/* The predicate goes into pgward's own statements: it must be one expression, not text
 * that closes a parenthesis and adds a statement. */
static bool predicate_ok(const struct pgw_job_table *j)
{
	struct pgw_sql_cache *cache = pgw_sql_cache_new(0, 0);
	const struct pgw_sql_info *info;
	char *sql;
	size_t len = strlen(j->active) + 64;
	bool ok;

	sql = malloc(len);
	if (cache == NULL || sql == NULL) {
		pgw_sql_cache_free(cache);
		free(sql);
		return false;
	}
	snprintf(sql, len, "SELECT 1 FROM pgward_job WHERE (%s)", j->active);
	info = pgw_sql_inspect(cache, sql, strlen(sql));
	ok = info->status == PGW_SQL_OK && info->nstmts == 1 && info->nrels == 0;
	pgw_sql_info_unref(info);
	pgw_sql_cache_free(cache);
	free(sql);
	return ok;
}

int pgw_config_check_jobs(struct parser *p, const struct config_section *sec)
{
	struct pgw_config *c = p->cfg;

	/* Keys of repeated sections are not remembered per instance: errors point at the
	 * last section's line for the key, which is close enough for a file this small. */
	for (size_t i = 0; i < c->njobs; i++) {
		struct pgw_job_table *j = &c->jobs[i];

		if (split_table(j) != 0)
			return pgw_config_fail(p, 0, "[job %s]: not a table name", j->table);
		if (j->key_columns == NULL)
			return pgw_config_fail(p, 0, "[job %s]: key_columns is required", j->table);
		if (split_columns(j) != 0)
			return pgw_config_fail(p, line_of(p, sec, "key_columns"),
					       "[job %s]: key_columns \"%s\" is not a list of "
					       "distinct column names",
					       j->table, j->key_columns);
		if (j->active != NULL && !predicate_ok(j))
			return pgw_config_fail(p, line_of(p, sec, "active"),
					       "[job %s]: active \"%s\" is not one SQL condition "
					       "over the table's columns",
					       j->table, j->active);
	}
	return 0;
}

void pgw_config_jobs_free(struct pgw_config *cfg)
{
	for (size_t i = 0; i < cfg->njobs; i++) {
		struct pgw_job_table *j = &cfg->jobs[i];

		free(j->table);
		free(j->key_columns);
		free(j->active);
		free(j->schema);
		free(j->name);
		for (size_t k = 0; k < j->ncols; k++)
			free(j->cols[k]);
		free(j->cols);
	}
	free(cfg->jobs);
	cfg->jobs = NULL;
	cfg->njobs = 0;
}
