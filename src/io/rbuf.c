/*
 * Flat input blocks. pgward runs one event loop in one thread, so the pool needs no lock.
 */
#include "pgward/rbuf.h"

#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

/* A connection left with at most this much (the start of a message) parks it in an
 * allocation of its own size, so 1 byte sent cannot pin a 64 kB block. */
#define PARK_MAX 4096

struct pgw_rbuf_pool pgw_rbuf_pool;

/* A block of <cap> bytes: a pooled one when <cap> is the standard size. */
static uint8_t *block_get(size_t cap)
{
	if (cap != PGW_RBUF_BLOCK)
		return malloc(cap);
	return pgw_rbuf_pool.len > 0 ? pgw_rbuf_pool.blocks[--pgw_rbuf_pool.len]
				     : malloc(PGW_RBUF_BLOCK);
}

static void block_put(uint8_t *block, size_t cap)
{
	if (cap == PGW_RBUF_BLOCK && pgw_rbuf_pool.len < PGW_RBUF_POOL_MAX)
		pgw_rbuf_pool.blocks[pgw_rbuf_pool.len++] = block;
	else
		free(block);
}

static void reset(struct pgw_rbuf *b)
{
	b->data = NULL;
	b->head = b->tail = b->cap = 0;
}

uint8_t *pgw_rbuf_grow(struct pgw_rbuf *b, size_t min, size_t *room)
{
	size_t len = pgw_rbuf_len(b);

	if (b->data == NULL) {
		size_t cap = PGW_MAX(min, (size_t)PGW_RBUF_BLOCK);

		b->data = block_get(cap);
		if (b->data == NULL)
			return NULL;
		b->cap = cap;
	} else if (b->cap - b->tail < min) {
		if (b->cap - len >= min) {
			/* what is left is the start of a message: move it to the front */
			memmove(b->data, b->data + b->head, len);
		} else {
			/* a parked start of a message goes back to a standard block first */
			size_t cap =
				PGW_MAX(PGW_MAX(b->cap * 2, len + min), (size_t)PGW_RBUF_BLOCK);
			uint8_t *grown = block_get(cap);

			if (grown == NULL)
				return NULL;
			memcpy(grown, b->data + b->head, len);
			block_put(b->data, b->cap);
			b->data = grown;
			b->cap = cap;
		}
		b->head = 0;
		b->tail = len;
	}
	*room = b->cap - b->tail;
	return b->data + b->tail;
}

int pgw_rbuf_add(struct pgw_rbuf *b, const void *p, size_t len)
{
	size_t room;
	uint8_t *at = pgw_rbuf_space(b, len, &room);

	if (at == NULL)
		return -1;
	memcpy(at, p, len);
	pgw_rbuf_commit(b, len);
	return 0;
}

static void free_given(const void *data, size_t len, void *block)
{
	(void)data;
	(void)len;
	free(block);
}

int pgw_rbuf_give(struct pgw_rbuf *b, size_t n, struct evbuffer *out)
{
	uint8_t *block = b->data;
	size_t start = b->head, rest = pgw_rbuf_len(b) - n, cap = 0;
	uint8_t *next = NULL;

	if (n == 0)
		return 0;
	if (n < PGW_RBUF_GIVE_MIN)
		goto copy;
	if (rest > 0) {
		cap = PGW_MAX(rest, (size_t)PGW_RBUF_BLOCK);
		next = block_get(cap);
		if (next == NULL)
			goto copy;
	}
	if (evbuffer_add_reference(out, block + start, n, free_given, block) < 0) {
		block_put(next, cap);
		goto copy;
	}
	if (next != NULL) {
		memcpy(next, block + start + n, rest);
		b->data = next;
		b->head = 0;
		b->tail = rest;
		b->cap = cap;
	} else {
		reset(b);
	}
	return 0;
copy:
	if (evbuffer_add(out, block + start, n) < 0)
		return -1;
	pgw_rbuf_drain(b, n);
	return 0;
}

void pgw_rbuf_park(struct pgw_rbuf *b)
{
	size_t len = pgw_rbuf_len(b);
	uint8_t *parked;

	if (len == 0) {
		block_put(b->data, b->cap);
		reset(b);
		return;
	}
	if (len > PARK_MAX || (parked = malloc(len)) == NULL)
		return;
	memcpy(parked, b->data + b->head, len);
	block_put(b->data, b->cap);
	b->data = parked;
	b->head = 0;
	b->tail = b->cap = len;
}

void pgw_rbuf_free(struct pgw_rbuf *b)
{
	free(b->data);
	reset(b);
}

void pgw_rbuf_pool_free(void)
{
	while (pgw_rbuf_pool.len > 0)
		free(pgw_rbuf_pool.blocks[--pgw_rbuf_pool.len]);
}
