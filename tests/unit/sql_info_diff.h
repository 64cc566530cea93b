/*
 * Two classifications compared field by field (every public field, the detections'
 * descriptions included), for test_sql_shape and fuzz_shape: a text answered from its shape
 * must read exactly as a fresh parse of it. Header-only (static inline), as each test and
 * fuzzer is built from one file.
 */
#ifndef PGWARD_TEST_SQL_INFO_DIFF_H
#define PGWARD_TEST_SQL_INFO_DIFF_H

#include <stdbool.h>
#include <string.h>

#include "pgward/sql.h"

static inline bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static inline bool same_rel(const struct pgw_sql_rel *a, const struct pgw_sql_rel *b)
{
	return same_str(a->schema, b->schema) && same_str(a->name, b->name) &&
	       same_str(a->qualified, b->qualified) && a->action == b->action;
}

static inline bool same_values(const struct pgw_sql_value *a, const struct pgw_sql_value *b,
			       size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].type != b[i].type || a[i].param != b[i].param ||
		    !same_str(a[i].text, b[i].text) || !same_str(a[i].cast, b[i].cast))
			return false;
	return true;
}

static inline bool same_names(const char *const *a, const char *const *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!same_str(a[i], b[i]))
			return false;
	return true;
}

/* The first field in which two infos differ, or NULL. */
static inline const char *info_diff(const struct pgw_sql_info *a, const struct pgw_sql_info *b)
{
	if (a->status != b->status)
		return "status";
	if (!same_str(a->error, b->error) || a->error_cursor != b->error_cursor)
		return "error";
	if (a->flags != b->flags)
		return "flags";
	if (a->fingerprint != b->fingerprint)
		return "fingerprint";
	if (a->nstmts != b->nstmts)
		return "nstmts";
	for (size_t i = 0; i < a->nstmts; i++) {
		const struct pgw_sql_stmt *x = &a->stmts[i], *y = &b->stmts[i];

		if (x->kind != y->kind || !same_str(x->tag, y->tag) || x->flags != y->flags)
			return "statement kind, tag or flags";
		if (x->offset != y->offset || x->len != y->len)
			return "statement offset or length";
	}
	if (a->nrels != b->nrels)
		return "nrels";
	for (size_t i = 0; i < a->nrels; i++)
		if (!same_rel(&a->rels[i], &b->rels[i]))
			return "rels";
	if (a->ngucs != b->ngucs)
		return "ngucs";
	for (size_t i = 0; i < a->ngucs; i++) {
		const struct pgw_sql_guc *x = &a->gucs[i], *y = &b->gucs[i];

		if (!same_str(x->name, y->name) || x->route != y->route || x->reset != y->reset ||
		    !same_str(x->value, y->value))
			return "gucs";
	}
	if (a->ninserts != b->ninserts)
		return "ninserts";
	for (size_t i = 0; i < a->ninserts; i++) {
		const struct pgw_sql_insert *x = &a->inserts[i], *y = &b->inserts[i];

		if (!same_rel(&x->rel, &y->rel) || x->stmt != y->stmt || x->where != y->where ||
		    x->values_known != y->values_known || x->default_values != y->default_values ||
		    x->on_conflict != y->on_conflict || x->returning != y->returning ||
		    x->ncols != y->ncols || x->nrows != y->nrows || x->rowlen != y->rowlen)
			return "insert";
		if (!same_names(x->cols, y->cols, x->ncols))
			return "insert columns";
		if (!same_values(x->values, y->values, x->nrows * x->rowlen))
			return "insert values";
	}
	if (a->nupdates != b->nupdates)
		return "nupdates";
	for (size_t i = 0; i < a->nupdates; i++) {
		const struct pgw_sql_update *x = &a->updates[i], *y = &b->updates[i];

		if (!same_rel(&x->rel, &y->rel) || x->stmt != y->stmt || x->where != y->where ||
		    x->nsets != y->nsets || !same_names(x->cols, y->cols, x->nsets))
			return "update";
		if (!same_values(x->values, y->values, x->nsets))
			return "update values";
	}
	if (a->nnotifies != b->nnotifies)
		return "nnotifies";
	for (size_t i = 0; i < a->nnotifies; i++)
		if (!same_str(a->notifies[i].channel, b->notifies[i].channel) ||
		    a->notifies[i].function != b->notifies[i].function)
			return "notifies";
	if (a->ndeallocates != b->ndeallocates ||
	    !same_names(a->deallocates, b->deallocates, a->ndeallocates))
		return "deallocates";
	for (int f = 0; f < PGW_SQL_NFLAGS; f++)
		if (!same_str(pgw_sql_info_desc(a, (enum pgw_sql_flag)f),
			      pgw_sql_info_desc(b, (enum pgw_sql_flag)f)))
			return "a detection's description";
	return NULL;
}

#endif
