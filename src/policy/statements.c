/*
 * The session's prepared statements, as far as pgward knows them: name → the
 * classification of its text (or NULL when no policy inspected it). A Bind carries only
 * the statement's name and the parameter values; policies that check bound values (per
 * column limits, job keys) find here what the values will be used for. The map follows
 * Parse and Close; it may hold a statement the server refused to prepare, which is
 * harmless: the server then refuses the Bind too.
 */
#include "pgward/codec.h"
#include "pgward/policy.h"
#include "pgward/prepared.h"
#include "pgward/sql.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

struct pgw_stmt {
	char *name;
	const struct pgw_sql_info *info;
	uint32_t *types; /* parameter type OIDs the Parse declared (0: unspecified) */
	uint16_t ntypes;
	struct pgw_stmt_tag tag;
	/* pool_mode = transaction: what servers know it as (NULL: not renamed), and the
	 * number its Parse was recorded under */
	struct pgw_prepared *prep;
	uint64_t gen;
	UT_hash_handle hh;
	UT_hash_handle hh_gen; /* by gen: a refused Parse is forgotten in constant time */
};

/* A statement recorded without a tag: a kind no metrics label has (counted as "other"). */
static const struct pgw_stmt_tag UNTAGGED = {.fp = 0, .kind = UINT8_MAX};

/* Lets go of what servers know <st> as. */
static void drop_prep(struct pgw_stmt_map *m, struct pgw_stmt *st)
{
	if (st->prep != NULL)
		m->prepared_bytes -= st->prep->len;
	pgw_prepared_unref(st->prep);
	st->prep = NULL;
}

static void stmt_free(struct pgw_stmt_map *m, struct pgw_stmt *st)
{
	drop_prep(m, st);
	free(st->types);
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
		free(st->types);
		st->types = NULL;
		st->ntypes = 0;
		st->tag = UNTAGGED;
		drop_prep(m, st);
		HASH_DELETE(hh_gen, m->by_gen, st);
		st->gen = ++m->last_gen;
		HASH_ADD(hh_gen, m->by_gen, gen, sizeof(st->gen), st);
		return 0;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL || (st->name = strdup(name)) == NULL) {
		free(st);
		return -1;
	}
	st->info = info != NULL ? pgw_sql_info_ref(info) : NULL;
	st->tag = UNTAGGED;
	st->gen = ++m->last_gen;
	HASH_ADD_KEYPTR(hh, m->head, st->name, strlen(st->name), st);
	HASH_ADD(hh_gen, m->by_gen, gen, sizeof(st->gen), st);
	return 0;
}

int pgw_stmt_map_put_parse(struct pgw_stmt_map *m, const uint8_t *body, size_t len,
			   const struct pgw_sql_info *info, const struct pgw_stmt_tag *tag)
{
	struct pgw_reader r;
	const char *name;
	struct pgw_stmt *st;
	uint16_t n;

	pgw_reader_init(&r, body, len);
	name = pgw_read_cstr(&r);
	pgw_read_cstr(&r);
	n = pgw_read_u16(&r);
	if (name == NULL)
		return 0; /* malformed: the server refuses it */
	if (pgw_stmt_map_put(m, name, info) < 0)
		return -1;
	st = find(m, name);
	if (tag != NULL)
		st->tag = *tag;
	if (r.bad || n == 0)
		return 0;
	st->types = malloc(n * sizeof(*st->types));
	if (st->types == NULL)
		return -1;
	for (uint16_t i = 0; i < n; i++)
		st->types[i] = pgw_read_u32(&r);
	st->ntypes = r.bad ? 0 : n;
	return 0;
}

const struct pgw_sql_info *pgw_stmt_map_get(const struct pgw_stmt_map *m, const char *name)
{
	struct pgw_stmt *st = find(m, name);

	return st != NULL ? st->info : NULL;
}

const struct pgw_stmt_tag *pgw_stmt_map_tag(const struct pgw_stmt_map *m, const char *name)
{
	struct pgw_stmt *st = find(m, name);

	return st != NULL ? &st->tag : NULL;
}

uint32_t pgw_stmt_map_param_type(const struct pgw_stmt_map *m, const char *name, int param)
{
	struct pgw_stmt *st = find(m, name);

	return st != NULL && param >= 1 && param <= st->ntypes ? st->types[param - 1] : 0;
}

void pgw_stmt_map_set_info(struct pgw_stmt_map *m, const char *name,
			   const struct pgw_sql_info *info)
{
	struct pgw_stmt *st = find(m, name);

	if (st != NULL && st->info == NULL && info != NULL)
		st->info = pgw_sql_info_ref(info);
}

bool pgw_stmt_map_has(const struct pgw_stmt_map *m, const char *name)
{
	return find(m, name) != NULL;
}

uint64_t pgw_stmt_map_prepare_take(struct pgw_stmt_map *m, const char *name,
				   struct pgw_prepared *prep)
{
	struct pgw_stmt *st = find(m, name);

	if (st == NULL) {
		pgw_prepared_unref(prep);
		return 0;
	}
	drop_prep(m, st);
	st->prep = prep;
	m->prepared_bytes += prep->len;
	return st->gen;
}

struct pgw_prepared *pgw_stmt_map_prepared(const struct pgw_stmt_map *m, const char *name)
{
	struct pgw_stmt *st = find(m, name);

	return st != NULL ? st->prep : NULL;
}

void pgw_stmt_map_forget_gen(struct pgw_stmt_map *m, uint64_t gen)
{
	struct pgw_stmt *st = NULL;

	HASH_FIND(hh_gen, m->by_gen, &gen, sizeof(gen), st);
	if (st != NULL) {
		HASH_DEL(m->head, st);
		HASH_DELETE(hh_gen, m->by_gen, st);
		stmt_free(m, st);
	}
}

void pgw_stmt_map_remove(struct pgw_stmt_map *m, const char *name)
{
	struct pgw_stmt *st = find(m, name);

	if (st != NULL) {
		HASH_DEL(m->head, st);
		HASH_DELETE(hh_gen, m->by_gen, st);
		stmt_free(m, st);
	}
}

void pgw_stmt_map_clear(struct pgw_stmt_map *m)
{
	struct pgw_stmt *st, *tmp;

	HASH_ITER (hh, m->head, st, tmp) {
		HASH_DEL(m->head, st);
		HASH_DELETE(hh_gen, m->by_gen, st);
		stmt_free(m, st);
	}
}

size_t pgw_stmt_map_count(const struct pgw_stmt_map *m)
{
	return HASH_COUNT(m->head);
}
