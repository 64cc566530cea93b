/*
 * The inspection result: its memory (a chunk list the info owns, so freeing an info is
 * one short loop), the builder the walk fills, reference counting and the names tables.
 * An info never changes after sql_builder_finish returns it.
 */
#include "sql-int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_MIN 1024

static const char *const flag_names[PGW_SQL_NFLAGS] = {
	[PGW_SQL_DROP_TABLE] = "drop_table",
	[PGW_SQL_DROP_SCHEMA] = "drop_schema",
	[PGW_SQL_DROP_DATABASE] = "drop_database",
	[PGW_SQL_TRUNCATE] = "truncate",
	[PGW_SQL_DELETE_WITHOUT_WHERE] = "delete_without_where",
	[PGW_SQL_UPDATE_WITHOUT_WHERE] = "update_without_where",
	[PGW_SQL_ALTER_DROP_COLUMN] = "alter_drop_column",
	[PGW_SQL_ALTER_DROP_CONSTRAINT] = "alter_drop_constraint",
	[PGW_SQL_ALTER_COLUMN_TYPE] = "alter_column_type",
	[PGW_SQL_CREATE_INDEX_BLOCKING] = "create_index_blocking",
	[PGW_SQL_DROP_INDEX_BLOCKING] = "drop_index_blocking",
	[PGW_SQL_SET_ROLE] = "set_role",
	[PGW_SQL_ROW_SECURITY_OFF] = "row_security_off",
	[PGW_SQL_CASCADE] = "cascade",
	[PGW_SQL_GRANT_REVOKE] = "grant_revoke",
	[PGW_SQL_ALTER_SYSTEM] = "alter_system",
	[PGW_SQL_DO_BLOCK] = "do_block",
	[PGW_SQL_RLS_WEAKENING] = "rls_weakening",
	[PGW_SQL_DROP_VIEW] = "drop_view",
	[PGW_SQL_DETACH_PARTITION] = "detach_partition",
	[PGW_SQL_RENAME_TABLE] = "rename_table",
	[PGW_SQL_RENAME_COLUMN] = "rename_column",
	[PGW_SQL_VACUUM_FULL] = "vacuum_full",
	[PGW_SQL_CLUSTER] = "cluster",
	[PGW_SQL_REINDEX_BLOCKING] = "reindex_blocking",
	[PGW_SQL_LOCK_EXCLUSIVE] = "lock_exclusive",
	[PGW_SQL_ADD_UNIQUE_CONSTRAINT] = "add_unique_constraint",
	[PGW_SQL_ADD_FOREIGN_KEY] = "add_foreign_key",
	[PGW_SQL_ADD_CHECK_CONSTRAINT] = "add_check_constraint",
	[PGW_SQL_ADD_COLUMN_DEFAULT_VOLATILE] = "add_column_default_volatile",
	[PGW_SQL_ADD_REQUIRED_COLUMN] = "add_required_column",
	[PGW_SQL_SET_NOT_NULL] = "set_not_null",
	[PGW_SQL_SET_UNLOGGED] = "set_unlogged",
	[PGW_SQL_DROP_NOT_NULL] = "drop_not_null",
	[PGW_SQL_DOMAIN_CONSTRAINT] = "domain_constraint",
	[PGW_SQL_DDL] = "ddl",
	[PGW_SQL_RESET_ALL] = "reset_all",
	[PGW_SQL_DISCARD_ALL] = "discard_all",
	[PGW_SQL_SET_CONFIG_DYNAMIC] = "set_config_dynamic",
	[PGW_SQL_ALTER_ROLE_SET] = "alter_role_set",
	[PGW_SQL_TEXT_FORM_UNSEEN] = "text_form_unseen",
	[PGW_SQL_SQL_FROM_STRING] = "sql_from_string",
	[PGW_SQL_CREATE_FUNCTION] = "create_function",
	[PGW_SQL_NOTIFY_DYNAMIC] = "notify_dynamic",
	[PGW_SQL_CONCURRENTLY] = "concurrently",
	[PGW_SQL_SESSION_STATE] = "session_state",
	[PGW_SQL_SESSION_SET] = "session_set",
	[PGW_SQL_SESSION_HOLD] = "session_hold",
	[PGW_SQL_PREPARE] = "prepare",
	[PGW_SQL_OUTLIVES_RESET] = "outlives_reset",
};

_Static_assert(PGW_SQL_NFLAGS <= 64, "flags must fit in a uint64_t");

const char *pgw_sql_flag_name(enum pgw_sql_flag flag)
{
	return (unsigned)flag < PGW_SQL_NFLAGS ? flag_names[flag] : "?";
}

int pgw_sql_flag_by_name(const char *name)
{
	for (int i = 0; i < PGW_SQL_NFLAGS; i++)
		if (strcmp(flag_names[i], name) == 0)
			return i;
	return -1;
}

int pgw_sql_rule_list_parse(const char *list, uint64_t *mask, char *bad, size_t badlen)
{
	const char *p = list ? list : "";

	*mask = 0;
	while (*p != '\0') {
		size_t n;
		char word[64];
		int flag;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n == 0)
			break;
		snprintf(word, sizeof(word), "%.*s", (int)n, p);
		p += n;
		if (strcmp(word, "all") == 0) {
			*mask |= PGW_SQL_GUARD_RULES;
			continue;
		}
		if (strcmp(word, "none") == 0)
			continue;
		flag = pgw_sql_flag_by_name(word);
		if (flag < 0 || !(PGW_SQL_BIT(flag) & PGW_SQL_GUARD_RULES)) {
			snprintf(bad, badlen, "%s", word);
			return -1;
		}
		*mask |= PGW_SQL_BIT(flag);
	}
	return 0;
}

const char *pgw_sql_status_name(enum pgw_sql_status status)
{
	static const char *const names[] = {"ok",	    "parse_error", "too_large",
					    "bad_encoding", "too_complex", "no_memory"};
	return (unsigned)status < PGW_ARRAY_LEN(names) ? names[status] : "?";
}

const char *pgw_sql_kind_name(enum pgw_sql_kind kind)
{
	static const char *const names[] = {"select",	   "insert", "update",	"delete",
					    "merge",	   "ddl",    "utility", "copy",
					    "transaction", "set",    "other"};
	return (unsigned)kind < PGW_ARRAY_LEN(names) ? names[kind] : "?";
}

enum pgw_sql_mkind pgw_sql_kind_metrics(enum pgw_sql_kind kind)
{
	switch (kind) {
	case PGW_SQL_KIND_SELECT:
		return PGW_SQL_MKIND_SELECT;
	case PGW_SQL_KIND_INSERT:
		return PGW_SQL_MKIND_INSERT;
	case PGW_SQL_KIND_UPDATE:
		return PGW_SQL_MKIND_UPDATE;
	case PGW_SQL_KIND_DELETE:
		return PGW_SQL_MKIND_DELETE;
	case PGW_SQL_KIND_DDL:
		return PGW_SQL_MKIND_DDL;
	case PGW_SQL_KIND_UTILITY:
	case PGW_SQL_KIND_TRANSACTION:
	case PGW_SQL_KIND_SET:
		return PGW_SQL_MKIND_UTILITY;
	case PGW_SQL_KIND_COPY:
		return PGW_SQL_MKIND_COPY;
	default:
		return PGW_SQL_MKIND_OTHER;
	}
}

const char *pgw_sql_mkind_name(enum pgw_sql_mkind mkind)
{
	static const char *const names[] = {"select", "insert",	 "update", "delete",
					    "ddl",    "utility", "copy",   "other"};
	return (unsigned)mkind < PGW_ARRAY_LEN(names) ? names[mkind] : "?";
}

const char *pgw_sql_guc_route_name(enum pgw_sql_guc_route route)
{
	static const char *const names[] = {"session",	  "local",	    "set_config",
					    "alter_role", "alter_database", "alter_system",
					    "function"};
	return (unsigned)route < PGW_ARRAY_LEN(names) ? names[route] : "?";
}

/* ---- memory ---- */

/* The first chunk lives in the same allocation as the info: most infos are one malloc. */
struct info_block {
	struct pgw_sql_info info;
	struct sql_chunk first;
};

struct pgw_sql_info *sql_info_new(size_t hint)
{
	size_t cap = hint < 256 ? 256 : hint > 8192 ? 8192 : hint;
	struct info_block *blk = malloc(sizeof(*blk) + cap);

	if (!blk)
		return NULL;
	memset(&blk->info, 0, sizeof(blk->info));
	blk->first.next = NULL;
	blk->first.size = cap;
	blk->first.used = 0;
	blk->info.chunks = &blk->first;
	blk->info.refcnt = 1;
	blk->info.bytes = sizeof(*blk) + cap;
	return &blk->info;
}

static void info_free(struct pgw_sql_info *info)
{
	struct info_block *blk = (struct info_block *)info;
	struct sql_chunk *c = info->chunks, *next;

	pgw_sql_info_unref(info->shape);

	for (; c && c != &blk->first; c = next) {
		next = c->next;
		free(c);
	}
	free(blk);
}

void *sql_alloc(struct sql_builder *b, size_t size)
{
	struct pgw_sql_info *info = b->info;
	struct sql_chunk *c = info->chunks;
	size_t align = _Alignof(max_align_t);
	size_t need = (size + align - 1) & ~(align - 1);
	void *p;

	if (b->oom)
		return NULL;
	if (c->size - c->used < need) {
		size_t sz = PGW_MAX(need, PGW_MAX(c->size * 2, (size_t)CHUNK_MIN));

		c = malloc(sizeof(*c) + sz);
		if (!c) {
			b->oom = true;
			return NULL;
		}
		c->size = sz;
		c->used = 0;
		c->next = info->chunks;
		info->chunks = c;
		info->bytes += sizeof(*c) + sz;
	}
	p = (char *)c->data + c->used;
	c->used += need;
	return p;
}

const char *sql_strdup(struct sql_builder *b, const char *s, size_t n)
{
	char *p = sql_alloc(b, n + 1);

	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void *sql_vec_push(struct sql_builder *b, struct sql_vec *v, size_t elem)
{
	if (b->oom)
		return NULL;
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 8;
		void *p = realloc(v->p, cap * elem);

		if (!p) {
			b->oom = true;
			return NULL;
		}
		v->p = p;
		v->cap = cap;
	}
	return memset((char *)v->p + v->n++ * elem, 0, elem);
}

/* ---- errors and static results ---- */

static struct pgw_sql_info static_infos[] = {
	{.status = PGW_SQL_TOO_LARGE, .error = "statement too large to inspect"},
	{.status = PGW_SQL_NO_MEMORY, .error = "out of memory while inspecting"},
	{.status = PGW_SQL_TOO_COMPLEX, .error = "statement nested too deeply to inspect"},
};

const struct pgw_sql_info *sql_info_static(enum pgw_sql_status status)
{
	for (size_t i = 0; i < PGW_ARRAY_LEN(static_infos); i++)
		if (static_infos[i].status == status)
			return &static_infos[i];
	return &static_infos[1];
}

struct pgw_sql_info *sql_info_error(enum pgw_sql_status status, const char *msg, int cursor)
{
	size_t n = strlen(msg);
	struct sql_builder b = {0};

	b.info = sql_info_new(n + 1);
	if (!b.info)
		return NULL;
	b.info->status = status;
	b.info->error = sql_strdup(&b, msg, n);
	b.info->error_cursor = cursor;
	if (b.oom) {
		info_free(b.info);
		return NULL;
	}
	return b.info;
}

/* ---- the builder ---- */

void sql_builder_init(struct sql_builder *b, const char *text, size_t len)
{
	memset(b, 0, sizeof(*b));
	b->text = text;
	b->len = len;
	b->guc_route = -1;
	b->info = sql_info_new(192 + len / 2); /* an info is mostly smaller than its text */
	if (!b->info)
		b->oom = true;
}

static void vecs_free(struct sql_builder *b)
{
	struct sql_vec *all[] = {&b->stmts,    &b->rels,     &b->gucs,	      &b->inserts,
				 &b->values,   &b->cols,     &b->hits,	      &b->created,
				 &b->updates,  &b->notifies, &b->deallocates, &b->holds,
				 &b->stmt_refs};

	for (size_t i = 0; i < PGW_ARRAY_LEN(all); i++) {
		free(all[i]->p);
		all[i]->p = NULL;
		all[i]->n = all[i]->cap = 0;
	}
}

void sql_builder_discard(struct sql_builder *b)
{
	vecs_free(b);
	if (b->info)
		info_free(b->info);
	b->info = NULL;
}

/* Copies a vector into the info's memory; NULL when empty. */
static const void *vec_keep(struct sql_builder *b, const struct sql_vec *v, size_t elem)
{
	void *p;

	if (v->n == 0)
		return NULL;
	p = sql_alloc(b, v->n * elem);
	if (p)
		memcpy(p, v->p, v->n * elem);
	return p;
}

struct pgw_sql_info *sql_builder_finish(struct sql_builder *b)
{
	struct pgw_sql_info *info = b->info;
	struct pgw_sql_insert *ins;
	struct pgw_sql_update *upd;
	const char *const *cols;
	const struct pgw_sql_value *vals;

	if (b->oom || b->too_complex) {
		enum pgw_sql_status st = b->oom ? PGW_SQL_NO_MEMORY : PGW_SQL_TOO_COMPLEX;

		sql_builder_discard(b);
		return (struct pgw_sql_info *)sql_info_static(st);
	}
	info->status = PGW_SQL_OK;
	info->flags = b->flags;
	info->fingerprint = b->fp;
	info->stmts = vec_keep(b, &b->stmts, sizeof(struct pgw_sql_stmt));
	info->rels = vec_keep(b, &b->rels, sizeof(struct pgw_sql_rel));
	info->gucs = vec_keep(b, &b->gucs, sizeof(struct pgw_sql_guc));
	info->hits = vec_keep(b, &b->hits, sizeof(struct pgw_sql_hit));
	info->notifies = vec_keep(b, &b->notifies, sizeof(struct pgw_sql_notify));
	info->deallocates = vec_keep(b, &b->deallocates, sizeof(const char *));
	info->holds = vec_keep(b, &b->holds, sizeof(struct pgw_sql_hold));
	info->stmt_refs = vec_keep(b, &b->stmt_refs, sizeof(struct pgw_sql_stmt_ref));
	/* While walking, the cols/values of inserts and updates are indexes into b->cols and
	 * b->values. */
	cols = vec_keep(b, &b->cols, sizeof(const char *));
	vals = vec_keep(b, &b->values, sizeof(struct pgw_sql_value));
	ins = (struct pgw_sql_insert *)vec_keep(b, &b->inserts, sizeof(struct pgw_sql_insert));
	upd = (struct pgw_sql_update *)vec_keep(b, &b->updates, sizeof(struct pgw_sql_update));
	if (b->oom) {
		sql_builder_discard(b);
		return (struct pgw_sql_info *)sql_info_static(PGW_SQL_NO_MEMORY);
	}
	for (size_t i = 0; i < b->inserts.n; i++) {
		ins[i].cols = ins[i].ncols ? cols + (uintptr_t)ins[i].cols : NULL;
		ins[i].values = ins[i].nrows ? vals + (uintptr_t)ins[i].values : NULL;
	}
	for (size_t i = 0; i < b->updates.n; i++) {
		upd[i].cols = upd[i].nsets ? cols + (uintptr_t)upd[i].cols : NULL;
		upd[i].values = upd[i].nsets ? vals + (uintptr_t)upd[i].values : NULL;
	}
	info->inserts = ins;
	info->updates = upd;
	info->nupdates = b->updates.n;
	info->nstmts = b->stmts.n;
	info->nrels = b->rels.n;
	info->ngucs = b->gucs.n;
	info->ninserts = b->inserts.n;
	info->nhits = b->hits.n;
	info->nnotifies = b->notifies.n;
	info->ndeallocates = b->deallocates.n;
	info->nholds = b->holds.n;
	info->nstmt_refs = b->stmt_refs.n;
	vecs_free(b);
	b->info = NULL;
	return info;
}

/* ---- flags ---- */

void sql_flag(struct sql_builder *b, enum pgw_sql_flag flag, const char *desc)
{
	uint64_t bit = PGW_SQL_BIT(flag);
	struct pgw_sql_hit *hit;

	if (b->suppress > 0)
		return;
	b->stmt_flags |= bit;
	if (b->flags & bit)
		return;
	b->flags |= bit;
	hit = sql_vec_push(b, &b->hits, sizeof(*hit));
	if (hit) {
		hit->flag = flag;
		hit->desc = sql_strdup(b, desc, strlen(desc));
	}
}

void sql_flagf(struct sql_builder *b, enum pgw_sql_flag flag, const char *fmt, ...)
{
	char desc[SQL_MAX_DESC];
	va_list ap;
	int n;

	if (b->suppress > 0 || (b->flags & PGW_SQL_BIT(flag))) {
		sql_flag(b, flag, "");
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(desc))
		memcpy(desc + sizeof(desc) - 4, "...", 4);
	sql_flag(b, flag, desc);
}

const char *pgw_sql_info_desc(const struct pgw_sql_info *info, enum pgw_sql_flag flag)
{
	for (size_t i = 0; i < info->nhits; i++)
		if (info->hits[i].flag == flag)
			return info->hits[i].desc;
	return NULL;
}

/* ---- references ---- */

const struct pgw_sql_info *pgw_sql_info_ref(const struct pgw_sql_info *info)
{
	if (info && info->refcnt > 0)
		((struct pgw_sql_info *)info)->refcnt++;
	return info;
}

void pgw_sql_info_unref(const struct pgw_sql_info *info)
{
	struct pgw_sql_info *mut = (struct pgw_sql_info *)info;

	if (!info || info->refcnt == 0)
		return;
	if (--mut->refcnt == 0)
		info_free(mut);
}
