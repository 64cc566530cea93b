/*
 * libFuzzer target for pgw_sql_inspect: any bytes (NULs, invalid UTF-8, deep nesting,
 * half a dollar quote) must give an info whose promises hold, through a small cache that
 * keeps evicting; asking again must give the same answer from the cache.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pgward/sql.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static struct pgw_sql_cache *cache;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct pgw_sql_limits lim;

	(void)argc;
	(void)argv;
	cache = pgw_sql_cache_new(64, 256 * 1024);
	CHECK(cache != NULL);
	pgw_sql_cache_get_limits(cache, &lim);
	lim.max_cached_text = 2048; /* long inputs take the uncached path */
	CHECK(pgw_sql_cache_set_limits(cache, &lim) == 0);
	return 0;
}

static bool lower_case(const char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			return false;
	return true;
}

static void check_insert(const struct pgw_sql_insert *ins, size_t nstmts)
{
	CHECK(ins->rel.name && ins->rel.qualified);
	CHECK(ins->stmt < nstmts);
	for (size_t c = 0; c < ins->ncols; c++)
		CHECK(ins->cols[c] != NULL);
	CHECK(ins->values_known == (ins->nrows > 0));
	CHECK(!ins->values_known || (ins->rowlen > 0 && !ins->default_values));
	for (size_t i = 0; i < ins->nrows * ins->rowlen; i++) {
		const struct pgw_sql_value *v = &ins->values[i];

		CHECK(v->type <= PGW_SQL_VAL_UNKNOWN);
		CHECK(v->type != PGW_SQL_VAL_LITERAL || v->text != NULL);
		CHECK(v->type != PGW_SQL_VAL_PARAM || v->param > 0);
	}
}

static void check(const struct pgw_sql_info *info, size_t size)
{
	uint64_t stmt_flags = 0;

	CHECK(info->status <= PGW_SQL_NO_MEMORY);
	if (info->status != PGW_SQL_OK) {
		CHECK(info->error != NULL);
		CHECK(info->nstmts == 0 && info->flags == 0 && info->fingerprint == 0);
		CHECK(info->status != PGW_SQL_BAD_ENCODING || (size_t)info->error_cursor < size);
		return;
	}
	CHECK(info->error == NULL);
	for (size_t i = 0; i < info->nstmts; i++) {
		const struct pgw_sql_stmt *st = &info->stmts[i];

		CHECK(st->tag != NULL && st->kind <= PGW_SQL_KIND_OTHER);
		CHECK((size_t)st->offset + st->len <= size);
		stmt_flags |= st->flags;
	}
	CHECK(stmt_flags == info->flags);
	for (int f = 0; f < PGW_SQL_NFLAGS; f++)
		CHECK(!(info->flags & PGW_SQL_BIT(f)) == !pgw_sql_info_desc(info, f));
	CHECK(info->flags < PGW_SQL_BIT(PGW_SQL_NFLAGS));
	for (size_t i = 0; i < info->nrels; i++)
		CHECK(info->rels[i].name && info->rels[i].qualified);
	for (size_t i = 0; i < info->ngucs; i++)
		CHECK(info->gucs[i].name && lower_case(info->gucs[i].name));
	for (size_t i = 0; i < info->ninserts; i++)
		check_insert(&info->inserts[i], info->nstmts);
	/* a NOTIFY channel is an identifier the parser cut to 63 bytes; pg_notify's may be
	 * longer (the server rejects it) but never holds a NUL */
	for (size_t i = 0; i < info->nnotifies; i++)
		CHECK(info->notifies[i].channel &&
		      (info->notifies[i].function || strlen(info->notifies[i].channel) <= 63));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct pgw_sql_info *a = pgw_sql_inspect(cache, (const char *)data, size);
	const struct pgw_sql_info *b;

	check(a, size);
	b = pgw_sql_inspect(cache, (const char *)data, size);
	CHECK(b->status == a->status && b->flags == a->flags);
	CHECK(b->fingerprint == a->fingerprint && b->nstmts == a->nstmts);
	pgw_sql_info_unref(a);
	pgw_sql_info_unref(b);
	return 0;
}
