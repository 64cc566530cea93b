/*
 * Fingerprint and normalized text of a statement, for metrics. Runs libpg_query on the
 * same kind of large private stack as inspection, so a deeply nested text is an error,
 * never a crash; everything libpg_query allocates is freed here.
 */
#include "pgward/sql_fingerprint.h"
#include "sql-int.h"

#include <pg_query.h>
#include <stdlib.h>
#include <string.h>

static struct sql_stack stack;

struct fp_job {
	const char *text;
	uint64_t fp;
	char *normalized;
	int rc;
};

static void fp_run(void *arg)
{
	struct fp_job *j = arg;
	PgQueryFingerprintResult f = pg_query_fingerprint(j->text);
	PgQueryNormalizeResult n;

	j->rc = -1;
	if (f.error == NULL) {
		n = pg_query_normalize(j->text);
		if (n.error == NULL && n.normalized_query != NULL) {
			j->normalized = strdup(n.normalized_query);
			j->fp = f.fingerprint != 0 ? f.fingerprint : 1;
			j->rc = j->normalized != NULL ? 0 : -1;
		}
		pg_query_free_normalize_result(n);
	}
	pg_query_free_fingerprint_result(f);
}

int pgw_sql_fingerprint(const char *text, size_t len, uint64_t *fp, char **normalized)
{
	struct fp_job j = {.text = text};

	*normalized = NULL;
	if (len > PGW_SQL_FINGERPRINT_MAX_TEXT || sql_utf8_check(text, len) < len)
		return -1;
	if (stack.map == NULL &&
	    sql_stack_init(&stack, sql_stack_size_for(PGW_SQL_FINGERPRINT_MAX_TEXT)) < 0)
		return -1;
	sql_stack_run(&stack, fp_run, &j);
	if (j.rc == 0) {
		*fp = j.fp;
		*normalized = j.normalized;
	}
	return j.rc;
}

void pgw_sql_fingerprint_shutdown(void)
{
	sql_stack_free(&stack);
	memset(&stack, 0, sizeof(stack));
}
