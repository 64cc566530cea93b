/*
 * The session's prepared statements, as far as pgward knows them: name → the
 * classification of its text (or NULL when no policy inspected it). A Bind carries only
 * the statement's name and the parameter values; policies that check bound values (per
 * column limits, job keys) find here what the values will be used for. The map follows
 * Parse and Close; it may hold a statement the server refused to prepare, which is
 * harmless: the server then refuses the Bind too.
 */
#include "pgward/policy.h"
#include "pgward/sql.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

struct pgw_stmt {
	char *name;
	const struct pgw_sql_info *info;
	UT_hash_handle hh;
};

static void stmt_free(struct pgw_stmt *st)
{
	pgw_sql_info_unref(st->info);
	free(st->name);
	free(st);
}

static struct pgw_stmt *find(const struct pgw_stmt_map *m, const char *name)
{
	struct pgw_stmt *st = NULL;

	HASH_FIND_STR(m->head, name, st);
	return st;
}

int pgw_stmt_map_put(struct pgw_stmt_map *m, const char *name, const struct pgw_sql_info *info)
{
	struct pgw_stmt *st = find(m, name);

	if (st != NULL) {
		/* Only the unnamed statement is replaced by a new Parse; for a named one the
		 * server refuses the second Parse, but the newer text is the safer guess. */
		pgw_sql_info_unref(st->info);
		st->info = pgw_sql_info_ref(info);
		return 0;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL || (st->name = strdup(name)) == NULL) {
		free(st);
		return -1;
	}
	st->info = info != NULL ? pgw_sql_info_ref(info) : NULL;
	HASH_ADD_KEYPTR(hh, m->head, st->name, strlen(st->name), st);
	return 0;
}

const struct pgw_sql_info *pgw_stmt_map_get(const struct pgw_stmt_map *m, const char *name)
{
	struct pgw_stmt *st = find(m, name);

	return st != NULL ? st->info : NULL;
}

void pgw_stmt_map_remove(struct pgw_stmt_map *m, const char *name)
{
	struct pgw_stmt *st = find(m, name);

	if (st != NULL) {
		HASH_DEL(m->head, st);
		stmt_free(st);
	}
}

void pgw_stmt_map_clear(struct pgw_stmt_map *m)
{
	struct pgw_stmt *st, *tmp;

	HASH_ITER (hh, m->head, st, tmp) {
		HASH_DEL(m->head, st);
		stmt_free(st);
	}
}

size_t pgw_stmt_map_count(const struct pgw_stmt_map *m)
{
	return HASH_COUNT(m->head);
}
