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
 * Room for at least <min> more bytes after the tail (compacting or growing the block);
 * sets *room to all the room there is. NULL if out of memory.
 */
uint8_t *pgw_rbuf_space(struct pgw_rbuf *b, size_t min, size_t *room) PGW_MUSTCHECK;

/* <n> bytes were written into the space pgw_rbuf_space returned. */
void pgw_rbuf_commit(struct pgw_rbuf *b, size_t n);

/* Appends a copy of <len> bytes. -1 if out of memory. */
int pgw_rbuf_add(struct pgw_rbuf *b, const void *p, size_t len) PGW_MUSTCHECK;

/* Consumes the first <n> bytes (n <= length). */
void pgw_rbuf_drain(struct pgw_rbuf *b, size_t n);

/*
 * Moves the first <n> bytes to the end of <out> and consumes them: a large run hands the
 * block itself over (evbuffer reference, freed when <out> is done with it; the bytes
 * after the run move to a new block), a small one is copied. -1 if out of memory.
 */
int pgw_rbuf_give(struct pgw_rbuf *b, size_t n, struct evbuffer *out) PGW_MUSTCHECK;

/* After a pass over the input: returns the block to the pool if nothing is buffered, so an
 * idle connection holds none, and moves a small remainder (the start of a message) out of
 * it into an allocation of its own size. */
void pgw_rbuf_trim(struct pgw_rbuf *b);

/* Frees the block whatever it holds. */
void pgw_rbuf_free(struct pgw_rbuf *b);

/* Frees the pooled blocks (at exit, so leak checkers see a clean heap). */
void pgw_rbuf_pool_free(void);

#endif
