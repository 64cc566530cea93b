/*
 * Interned statements and the set each server holds (prepared.h). Two clients of one scope
 * (database, user and tenant) whose Parses carry the same bytes share one statement and one
 * name on servers; bytes that differ in anything (text, a parameter type, the scope) are
 * different statements, whatever their hashes.
 */
#include "pgward/prepared.h"

#include "pgward/random.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utlist.h>

static struct pgw_prepared *interned;
static uint64_t last_id;
/* The ids are a counter through a keyed permutation: unique, and telling nothing of how
 * many statements others prepared in between. */
static uint64_t round_keys[4];
static bool keyed;

static uint32_t round_fn(uint32_t half, uint64_t key)
{
	uint64_t z = half ^ key;

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return (uint32_t)(z ^ (z >> 31));
}

/* A Feistel network: a permutation of the 64-bit numbers whatever its round function. */
static uint64_t next_id(void)
{
	uint64_t n = ++last_id;
	uint32_t l = (uint32_t)(n >> 32), r = (uint32_t)n;

	if (!keyed) {
		if (pgw_random_bytes(round_keys, sizeof(round_keys)) < 0)
			for (size_t i = 0; i < PGW_ARRAY_LEN(round_keys); i++)
				round_keys[i] = (uint64_t)random() << 32 ^ (uint64_t)random();
		keyed = true;
	}
	for (size_t i = 0; i < PGW_ARRAY_LEN(round_keys); i++) {
		uint32_t t = l ^ round_fn(r, round_keys[i]);

		l = r;
		r = t;
	}
	return (uint64_t)l << 32 | r;
}

struct pgw_prepared *pgw_prepared_intern(const char *scope, size_t scope_len, const uint8_t *body,
					 size_t len)
{
	struct pgw_prepared *p, *found = NULL;
	size_t keylen = 4 + scope_len + len;
	uint32_t sl = (uint32_t)scope_len;

	if (len > UINT32_MAX || scope_len > UINT16_MAX || keylen > UINT32_MAX)
		return NULL;
	if ((p = malloc(sizeof(*p) + keylen)) == NULL)
		return NULL;
	memcpy(p->key, &sl, 4);
	if (scope_len > 0)
		memcpy(p->key + 4, scope, scope_len);
	memcpy(p->key + 4 + scope_len, body, len);
	HASH_FIND(hh, interned, p->key, keylen, found);
	if (found != NULL) {
		free(p);
		return pgw_prepared_ref(found);
	}
	p->id = next_id();
	pgw_prepared_format_name(p->id, p->name);
	p->refs = 1;
	p->sql = false;
	p->name_at = 0;
	p->len = (uint32_t)len;
	p->body = p->key + 4 + scope_len;
	p->keylen = (uint32_t)keylen;
	HASH_ADD_KEYPTR(hh, interned, p->key, p->keylen, p);
	return p;
}

/* What sets a PREPARE's statements apart from the Parses' of the same scope: appended to the
 * scope, which is a tenant's identity and organizations (UUIDs), or empty. */
static const char sql_mark[] = "\001PREPARE";

struct pgw_prepared *pgw_prepared_intern_sql(const char *scope, size_t scope_len, const char *text,
					     size_t len, size_t name_at, size_t name_len)
{
	/* the body: where the name goes (4 bytes), then the text without it */
	size_t body_len = 4 + len - name_len, sl = scope_len + sizeof(sql_mark) - 1;
	char *key_scope = malloc(sl + 1);
	uint8_t *body = malloc(body_len + 1);
	struct pgw_prepared *p = NULL;
	uint32_t at = (uint32_t)name_at;

	if (key_scope != NULL && body != NULL && name_at + name_len <= len &&
	    name_at <= UINT32_MAX) {
		memcpy(key_scope, scope, scope_len);
		memcpy(key_scope + scope_len, sql_mark, sizeof(sql_mark) - 1);
		memcpy(body, &at, 4);
		memcpy(body + 4, text, name_at);
		memcpy(body + 4 + name_at, text + name_at + name_len, len - name_at - name_len);
		p = pgw_prepared_intern(key_scope, sl, body, body_len);
	}
	if (p != NULL && !p->sql) {
		p->sql = true;
		p->name_at = at;
	}
	free(key_scope);
	free(body);
	return p;
}

char *pgw_prepared_sql_text(const struct pgw_prepared *p)
{
	size_t name_len = strlen(p->name), text_len = p->len - 4;
	const uint8_t *text = p->body + 4;
	char *t = malloc(text_len + name_len + 1);

	if (t == NULL)
		return NULL;
	memcpy(t, text, p->name_at);
	memcpy(t + p->name_at, p->name, name_len);
	memcpy(t + p->name_at + name_len, text + p->name_at, text_len - p->name_at);
	t[text_len + name_len] = '\0';
	return t;
}

void pgw_prepared_format_name(uint64_t id, char buf[PGW_PREPARED_NAME_MAX])
{
	snprintf(buf, PGW_PREPARED_NAME_MAX, PGW_PREPARED_PREFIX "_%" PRIu64, id);
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
	h->bytes += p->len;
	return 0;
}

/* Takes <e> out of <h>; its reference goes to the caller. */
static struct pgw_prepared *take(struct pgw_held_stmts *h, struct pgw_held_stmt *e)
{
	struct pgw_prepared *p = e->stmt;

	HASH_DEL(h->by_id, e);
	DL_DELETE(h->lru, e);
	h->count--;
	h->bytes -= p->len;
	free(e);
	return p;
}

struct pgw_prepared *pgw_held_evict(struct pgw_held_stmts *h, size_t max)
{
	if ((h->count <= max && h->bytes <= PGW_HELD_BYTES_MAX) || h->lru == NULL)
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
