/*
 * The SQL pgward runs for a job INSERT. Every statement gets the key values typed as the
 * table's columns by a UNION with an empty scan of those columns, so a literal, a text
 * parameter and a binary one all mean what the INSERT itself would store, and the server,
 * not pgward, turns them into a lock key. Values are quoted here, never interpolated raw;
 * only the active predicate, which comes from the trusted configuration, is SQL text.
 */
#include "pgward/jobs.h"
#include "pgward/sql.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct strbuf {
	char *p;
	size_t n, cap;
	bool oom;
};

static void put(struct strbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->n + n + 1) * 2;
		char *p = realloc(b->p, cap);

		if (p == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void puts_(struct strbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void putf(struct strbuf *b, const char *fmt, ...) PGW_PRINTF(2, 3);
static void putf(struct strbuf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(b, tmp, PGW_MIN((size_t)n, sizeof(tmp) - 1));
}

/* <s> between <q>s, each <q> inside doubled: a quoted identifier. */
static void put_quoted(struct strbuf *b, const char *s, char q)
{
	put(b, &q, 1);
	for (const char *p = s; *p; p++) {
		put(b, p, 1);
		if (*p == q)
			put(b, p, 1);
	}
	put(b, &q, 1);
}

/* The code point of the UTF-8 character at <p> (valid: it comes from the parser), and its
 * length in <n>. */
static uint32_t utf8_char(const unsigned char *p, size_t *n)
{
	if (p[0] < 0xE0) {
		*n = 2;
		return ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
	}
	if (p[0] < 0xF0) {
		*n = 3;
		return ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) |
		       (p[2] & 0x3F);
	}
	*n = 4;
	return ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
	       ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
}

/*
 * <s> (UTF-8, as pgward inspected it) as a constant that reads the same in every session:
 * E'...' does not depend on standard_conforming_strings, and non-ASCII characters as
 * Unicode escapes do not depend on client_encoding (the server converts them to its own).
 */
static void put_literal(struct strbuf *b, const char *s)
{
	puts_(b, "E'");
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = 1;

		if (*p == '\\' || *p == '\'')
			put(b, (const char *)p, 1); /* doubled */
		if (*p < 0x80) {
			put(b, (const char *)p, 1);
		} else {
			uint32_t cp = utf8_char(p, &n);

			if (cp <= 0xFFFF)
				putf(b, "\\u%04X", (unsigned)cp);
			else
				putf(b, "\\U%08X", (unsigned)cp);
		}
		p += n;
	}
	put(b, "'", 1);
}

/* The text, now the caller's; NULL if memory ran out on the way. */
static char *finish(struct strbuf *b)
{
	char *text = b->p;

	b->p = NULL;
	if (b->oom) {
		free(text);
		return NULL;
	}
	return text;
}

/* "c1", "c2": the key columns, or with <alias> "a"."c1", ... */
static void put_key_cols(struct strbuf *b, const struct pgw_job_table *j)
{
	for (size_t k = 0; k < j->ncols; k++) {
		if (k > 0)
			puts_(b, ", ");
		put_quoted(b, j->cols[k], '"');
	}
}

/* pgward_j."c1" = pgward_v."c1" AND ... AND (<active>) */
static void put_match(struct strbuf *b, const struct pgw_job_table *j)
{
	for (size_t k = 0; k < j->ncols; k++) {
		puts_(b, k > 0 ? " AND pgward_j." : "pgward_j.");
		put_quoted(b, j->cols[k], '"');
		puts_(b, " = pgward_v.");
		put_quoted(b, j->cols[k], '"');
	}
	if (j->active != NULL) {
		puts_(b, " AND (");
		puts_(b, j->active);
		puts_(b, ")");
	}
}

/* Our number for the client's $n, assigned in order of first use. */
static int param_number(struct pgw_job_sql *out, int n)
{
	for (uint16_t i = 0; i < out->nparams; i++)
		if (out->params[i] == n)
			return i + 1;
	if (out->nparams == PGW_ARRAY_LEN(out->params))
		return -1;
	out->params[out->nparams++] = n;
	return out->nparams;
}

static int put_value(struct strbuf *b, const struct pgw_sql_value *v, struct pgw_job_sql *out)
{
	int n;

	switch (v->type) {
	case PGW_SQL_VAL_LITERAL:
		put_literal(b, v->text);
		break;
	case PGW_SQL_VAL_PARAM:
		if ((n = param_number(out, v->param)) < 0)
			return -1;
		putf(b, "$%d", n);
		break;
	case PGW_SQL_VAL_NULL:
		puts_(b, "NULL");
		break;
	default:
		return -1; /* pgw_jobs_match lets no other kind through */
	}
	if (v->cast != NULL) {
		/* The client's own cast keeps a binary parameter's type what it declared. */
		size_t n2 = strlen(v->cast);
		bool array = n2 > 2 && strcmp(v->cast + n2 - 2, "[]") == 0;
		char name[80];

		snprintf(name, sizeof(name), "%.*s", (int)(array ? n2 - 2 : n2), v->cast);
		puts_(b, "::");
		put_quoted(b, name, '"');
		if (array)
			puts_(b, "[]");
	}
	return 0;
}

/* (SELECT keys FROM t WHERE false UNION ALL VALUES (k1, k2), ...) AS pgward_v */
static int put_keys_typed(struct strbuf *b, const struct pgw_job_plan *plan,
			  struct pgw_job_sql *out)
{
	const struct pgw_sql_insert *ins = plan->ins;

	puts_(b, "(SELECT ");
	put_key_cols(b, plan->job);
	puts_(b, " FROM ");
	puts_(b, ins->rel.qualified);
	puts_(b, " WHERE false");
	/* SELECTs, not VALUES: a VALUES list would type its unknown literals and parameters
	 * as text on its own, before the UNION could give them the columns' types. */
	for (size_t r = 0; r < ins->nrows; r++) {
		puts_(b, " UNION ALL SELECT ");
		for (size_t k = 0; k < plan->job->ncols; k++) {
			if (k > 0)
				puts_(b, ", ");
			if (put_value(b, &ins->values[r * ins->rowlen + plan->keypos[k]], out) < 0)
				return -1;
		}
	}
	puts_(b, ") AS pgward_v");
	return 0;
}

int pgw_jobs_build(const struct pgw_job_plan *plan, struct pgw_job_sql *out)
{
	struct strbuf lock = {0}, check = {0};

	memset(out, 0, sizeof(*out));
	/* Sorted and distinct, so two multi-row inserts never wait on each other in a cycle.
	 * OFFSET 0 keeps the sort below the locking, which then runs in key order. Under
	 * REPEATABLE READ the check could not see a job committed while the lock waited:
	 * 1/0 refuses that before any lock is taken. */
	puts_(&lock, "SELECT pg_catalog.pg_advisory_xact_lock(pgward_k.k) FROM (SELECT DISTINCT "
		     "pg_catalog.hashtextextended(");
	put_literal(&lock, plan->job->table);
	puts_(&lock, " || ':' || pgward_v::text, 0) AS k FROM ");
	if (put_keys_typed(&lock, plan, out) < 0)
		goto fail;
	puts_(&lock, " WHERE 1 / CASE WHEN pg_catalog.current_setting('transaction_isolation') = "
		     "'repeatable read' THEN 0 ELSE 1 END = 1 ORDER BY 1 OFFSET 0) AS pgward_k");
	if (plan->job->on_conflict == PGW_JOB_ERROR) {
		/* Fails, at run time only, with a code pgward swaps for 23505. */
		puts_(&check, "SELECT (CASE WHEN EXISTS (SELECT 1 FROM ");
		if (put_keys_typed(&check, plan, out) < 0)
			goto fail;
		puts_(&check, " WHERE EXISTS (SELECT 1 FROM ");
		puts_(&check, plan->ins->rel.qualified);
		puts_(&check, " AS pgward_j WHERE ");
		put_match(&check, plan->job);
		puts_(&check, ")) THEN 'pgward job conflict' ELSE '1' END)::int");
		if ((out->check = finish(&check)) == NULL)
			goto fail;
	}
	if ((out->lock = finish(&lock)) == NULL)
		goto fail;
	return 0;
fail:
	free(lock.p);
	free(check.p);
	free(out->check);
	memset(out, 0, sizeof(*out));
	return -1;
}

void pgw_jobs_sql_free(struct pgw_job_sql *sql)
{
	free(sql->lock);
	free(sql->check);
	sql->lock = sql->check = NULL;
}

/*
 * One VALUES row as a select list: each item's own text, but an uncast literal quoted, so
 * that like in VALUES it takes its column's type ("123" into a text column stays valid).
 */
static bool put_row(struct strbuf *b, const char *sql, struct pgw_jobs_row row,
		    const struct pgw_sql_value *values, size_t rowlen)
{
	struct pgw_jobs_row *items = calloc(rowlen, sizeof(*items));
	bool ok = items != NULL && pgw_jobs_split_items(sql, row, items, rowlen) == rowlen;

	for (size_t i = 0; ok && i < rowlen; i++) {
		if (i > 0)
			puts_(b, ", ");
		if (values[i].type == PGW_SQL_VAL_LITERAL && values[i].cast == NULL)
			put_literal(b, values[i].text);
		else
			put(b, sql + items[i].start, items[i].end - items[i].start);
	}
	free(items);
	return ok;
}

char *pgw_jobs_rewrite(const struct pgw_job_plan *plan, const char *sql, size_t len,
		       size_t *out_len)
{
	const struct pgw_sql_insert *ins = plan->ins;
	struct strbuf b = {0};
	struct pgw_jobs_row *rows;
	size_t start, end;
	char *text;

	for (size_t i = 0; i < ins->nrows * ins->rowlen; i++)
		if (ins->values[i].type == PGW_SQL_VAL_DEFAULT)
			return NULL; /* DEFAULT has no meaning in a VALUES under SELECT */
	rows = calloc(ins->nrows, sizeof(*rows));
	if (rows == NULL || !pgw_jobs_values_range(sql, len, &start, &end, rows, ins->nrows)) {
		free(rows);
		return NULL;
	}
	put(&b, sql, start);
	puts_(&b, "SELECT * FROM (SELECT ");
	for (size_t c = 0; c < ins->ncols; c++) {
		if (c > 0)
			puts_(&b, ", ");
		put_quoted(&b, ins->cols[c], '"');
	}
	puts_(&b, " FROM ");
	puts_(&b, ins->rel.qualified);
	puts_(&b, " WHERE false");
	for (size_t r = 0; r < ins->nrows && !b.oom; r++) {
		puts_(&b, " UNION ALL SELECT ");
		if (!put_row(&b, sql, rows[r], &ins->values[r * ins->rowlen], ins->rowlen)) {
			free(rows);
			free(b.p);
			return NULL;
		}
	}
	free(rows);
	puts_(&b, ") AS pgward_v WHERE NOT EXISTS (SELECT 1 FROM ");
	puts_(&b, ins->rel.qualified);
	puts_(&b, " AS pgward_j WHERE ");
	put_match(&b, plan->job);
	puts_(&b, ")");
	put(&b, sql + end, len - end);
	*out_len = b.n;
	text = finish(&b);
	return text;
}

/* A parameter's value for the DETAIL: text as is (shortened), binary as hex. */
static void put_param(struct strbuf *b, const struct pgw_job_param *p)
{
	static const char hex[] = "0123456789abcdef";
	size_t n;

	if (p == NULL) {
		puts_(b, "?");
		return;
	}
	if (p->len < 0) {
		puts_(b, "null");
		return;
	}
	n = (size_t)p->len;
	if (p->format == 0) {
		put(b, (const char *)p->value, PGW_MIN(n, 64));
	} else {
		puts_(b, "\\x");
		for (size_t i = 0; i < PGW_MIN(n, 16); i++) {
			put(b, &hex[p->value[i] >> 4], 1);
			put(b, &hex[p->value[i] & 15], 1);
		}
	}
	if (n > (p->format == 0 ? 64u : 16u))
		puts_(b, "...");
}

void pgw_jobs_detail(const struct pgw_job_plan *plan, const struct pgw_job_param *params,
		     size_t nparams, char *out, size_t outlen)
{
	const struct pgw_sql_insert *ins = plan->ins;
	struct strbuf b = {0};

	puts_(&b, "Key (");
	for (size_t k = 0; k < plan->job->ncols; k++)
		putf(&b, "%s%s", k > 0 ? ", " : "", plan->job->cols[k]);
	puts_(&b, ")=");
	for (size_t r = 0; r < ins->nrows && b.n < outlen; r++) {
		puts_(&b, r > 0 ? ", (" : "(");
		for (size_t k = 0; k < plan->job->ncols; k++) {
			const struct pgw_sql_value *v =
				&ins->values[r * ins->rowlen + plan->keypos[k]];

			if (k > 0)
				puts_(&b, ", ");
			if (v->type == PGW_SQL_VAL_LITERAL)
				put(&b, v->text, PGW_MIN(strlen(v->text), 64));
			else if (v->type == PGW_SQL_VAL_PARAM)
				put_param(&b, v->param >= 1 && (size_t)v->param <= nparams
						      ? &params[v->param - 1]
						      : NULL);
			else
				puts_(&b, "null");
		}
		puts_(&b, ")");
	}
	puts_(&b, ins->nrows > 1 ? ": one of them already has an active job."
				 : " already has an active job.");
	snprintf(out, outlen, "%s", b.oom || b.p == NULL ? "" : b.p);
	free(b.p);
}
