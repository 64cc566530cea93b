/*
 * A connection's input: the bytes read from its socket and not consumed yet, in one flat
 * block. Every message in it is contiguous (read in place, never pulled up), consuming a
 * prefix moves an offset, and passed messages are sent to the peer straight from the
 * block (pgw_conn_relay). Blocks of the standard size are kept in a small pool: a busy
 * connection reuses one without allocating, an idle one holds none (pgw_rbuf_trim).
 */
#ifndef PGWARD_RBUF_H
#define PGWARD_RBUF_H

#include "pgward/common.h"

struct evbuffer;

/* The standard block: one read of a bulk transfer fills it. */
#define PGW_RBUF_BLOCK (64 * 1024)
/* Queued runs of at least this size go to an evbuffer by reference, not by copy. */
#define PGW_RBUF_GIVE_MIN (16 * 1024)

struct pgw_rbuf {
	uint8_t *data; /* NULL until the first read, and again once trimmed */
	size_t head;   /* first unconsumed byte */
	size_t tail;   /* end of the bytes read */
	size_t cap;
};

static inline size_t pgw_rbuf_len(const struct pgw_rbuf *b)
{
	return b->tail - b->head;
}

/* The unconsumed bytes; only valid while pgw_rbuf_len() > 0, until the next change. */
static inline const uint8_t *pgw_rbuf_data(const struct pgw_rbuf *b)
{
	return b->data + b->head;
}

/*
 * Emptied standard blocks kept for the next read (rbuf.c): 2 MB at most, reused newest
 * first so that a busy proxy keeps touching the same, cached memory. Declared here only
 * for the inline paths below, which run at every read and every pass over the input.
 */
#define PGW_RBUF_POOL_MAX 32
struct pgw_rbuf_pool {
	uint8_t *blocks[PGW_RBUF_POOL_MAX];
	int len;
};
extern struct pgw_rbuf_pool pgw_rbuf_pool;

/* pgw_rbuf_space when the block must be taken, compacted or grown. */
uint8_t *pgw_rbuf_grow(struct pgw_rbuf *b, size_t min, size_t *room) PGW_MUSTCHECK;
/*
 * Room for at least <min> more bytes after the tail (compacting or growing the block);
 * sets *room to all the room there is. NULL if out of memory.
 */
PGW_MUSTCHECK static inline uint8_t *pgw_rbuf_space(struct pgw_rbuf *b, size_t min, size_t *room)
{
	if (b->data == NULL && min <= PGW_RBUF_BLOCK && pgw_rbuf_pool.len > 0) {
		b->data = pgw_rbuf_pool.blocks[--pgw_rbuf_pool.len];
		b->cap = PGW_RBUF_BLOCK; /* head and tail are 0 without a block */
	} else if (b->data == NULL || b->cap - b->tail < min) {
		return pgw_rbuf_grow(b, min, room);
	}
	*room = b->cap - b->tail;
	return b->data + b->tail;
}
/* <n> bytes were written into the space pgw_rbuf_space returned. */
static inline void pgw_rbuf_commit(struct pgw_rbuf *b, size_t n)
{
	b->tail += n;
}
/* Appends a copy of <len> bytes. -1 if out of memory. */
int pgw_rbuf_add(struct pgw_rbuf *b, const void *p, size_t len) PGW_MUSTCHECK;

/* Consumes the first <n> bytes (n <= length). */
static inline void pgw_rbuf_drain(struct pgw_rbuf *b, size_t n)
{
	b->head += n;
	if (b->head == b->tail)
		b->head = b->tail = 0; /* the next read starts at the front again */
}

/*
 * Moves the first <n> bytes to the end of <out> and consumes them: a large run hands the
 * block itself over (evbuffer reference, freed when <out> is done with it; the bytes
 * after the run move to a new block), a small one is copied. -1 if out of memory.
 */
int pgw_rbuf_give(struct pgw_rbuf *b, size_t n, struct evbuffer *out) PGW_MUSTCHECK;

/* pgw_rbuf_trim when something is left, or the pool is full. */
void pgw_rbuf_park(struct pgw_rbuf *b);
/* After a pass over the input: returns the block to the pool if nothing is buffered, so an
 * idle connection holds none, and moves a small remainder (the start of a message) out of
 * it into an allocation of its own size. */
static inline void pgw_rbuf_trim(struct pgw_rbuf *b)
{
	if (b->data == NULL || b->cap < PGW_RBUF_BLOCK)
		return;
	if (b->head == b->tail && b->cap == PGW_RBUF_BLOCK &&
	    pgw_rbuf_pool.len < PGW_RBUF_POOL_MAX) {
		pgw_rbuf_pool.blocks[pgw_rbuf_pool.len++] = b->data;
		b->data = NULL;
		b->head = b->tail = b->cap = 0;
		return;
	}
	pgw_rbuf_park(b);
}
/* Frees the block whatever it holds. */
void pgw_rbuf_free(struct pgw_rbuf *b);

/* Frees the pooled blocks (at exit, so leak checkers see a clean heap). */
void pgw_rbuf_pool_free(void);

#endif
