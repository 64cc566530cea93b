/*
 * Interned statements and the set each server holds (prepared.h). Two clients whose Parses
 * carry the same bytes share one statement and one name on servers; bytes that differ in
 * anything (text, a parameter type) are different statements, whatever their hashes.
 */
#include "pgward/prepared.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utlist.h>

static struct pgw_prepared *interned;
static uint64_t last_id;

struct pgw_prepared *pgw_prepared_intern(const uint8_t *body, size_t len)
{
	struct pgw_prepared *p = NULL;

	if (len > UINT32_MAX)
		return NULL;
	HASH_FIND(hh, interned, body, len, p);
	if (p != NULL)
		return pgw_prepared_ref(p);
	p = malloc(sizeof(*p) + len);
	if (p == NULL)
		return NULL;
	p->id = ++last_id;
	snprintf(p->name, sizeof(p->name), PGW_PREPARED_PREFIX "_%" PRIu64, p->id);
	p->refs = 1;
	p->len = (uint32_t)len;
	memcpy(p->body, body, len);
	HASH_ADD_KEYPTR(hh, interned, p->body, p->len, p);
	return p;
}

struct pgw_prepared *pgw_prepared_ref(struct pgw_prepared *p)
{
	p->refs++;
	return p;
}

void pgw_prepared_unref(struct pgw_prepared *p)
{
	if (p == NULL || --p->refs > 0)
		return;
	HASH_DEL(interned, p);
	free(p);
}

size_t pgw_prepared_count(void)
{
	return HASH_COUNT(interned);
}

static struct pgw_held_stmt *find(const struct pgw_held_stmts *h, uint64_t id)
{
	struct pgw_held_stmt *e = NULL;

	HASH_FIND(hh, h->by_id, &id, sizeof(id), e);
	return e;
}

bool pgw_held_use(struct pgw_held_stmts *h, const struct pgw_prepared *p)
{
	struct pgw_held_stmt *e = find(h, p->id);

	if (e == NULL)
		return false;
	if (h->lru != e) {
		DL_DELETE(h->lru, e);
		DL_PREPEND(h->lru, e);
	}
	return true;
}

int pgw_held_add(struct pgw_held_stmts *h, struct pgw_prepared *p)
{
	struct pgw_held_stmt *e;

	if (pgw_held_use(h, p))
		return 0;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	e->stmt = pgw_prepared_ref(p);
	HASH_ADD(hh, h->by_id, stmt->id, sizeof(e->stmt->id), e);
	DL_PREPEND(h->lru, e);
	h->count++;
	return 0;
}

/* Takes <e> out of <h>; its reference goes to the caller. */
static struct pgw_prepared *take(struct pgw_held_stmts *h, struct pgw_held_stmt *e)
{
	struct pgw_prepared *p = e->stmt;

	HASH_DEL(h->by_id, e);
	DL_DELETE(h->lru, e);
	h->count--;
	free(e);
	return p;
}

struct pgw_prepared *pgw_held_evict(struct pgw_held_stmts *h, size_t max)
{
	if (h->count <= max || h->lru == NULL)
		return NULL;
	return take(h, h->lru->prev); /* the list's head keeps its tail in prev */
}

void pgw_held_forget(struct pgw_held_stmts *h, uint64_t id)
{
	struct pgw_held_stmt *e = find(h, id);

	if (e != NULL)
		pgw_prepared_unref(take(h, e));
}

void pgw_held_clear(struct pgw_held_stmts *h)
{
	while (h->lru != NULL)
		pgw_prepared_unref(take(h, h->lru));
}
