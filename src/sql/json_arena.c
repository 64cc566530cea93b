/*
 * A bump allocator for the tree json.c reads from libpg_query's output: the tree is built,
 * walked and dropped whole, so its hundreds of nodes and strings need no malloc and free
 * each. One parse at a time (pgward is one thread).
 */
#include "sql-int.h"

#include <stdlib.h>

struct arena_chunk {
	struct arena_chunk *prev;
	size_t size, used;
	max_align_t data[];
};

#define ARENA_FIRST (64 * 1024)

static struct arena_chunk *top;	  /* the chunk being filled; older ones behind it */
static struct arena_chunk *first; /* kept between parses */

void *sql_json_arena_alloc(size_t n)
{
	size_t align = _Alignof(max_align_t), need = (n + align - 1) & ~(align - 1);
	struct arena_chunk *c = top;

	if (!c || c->size - c->used < need) {
		size_t size = PGW_MAX(need, c ? c->size * 2 : (size_t)ARENA_FIRST);

		c = malloc(sizeof(*c) + size);
		if (!c)
			return NULL; /* the read fails: the text is reported too complex */
		c->prev = top;
		c->size = size;
		c->used = 0;
		top = c;
	}
	c->used += need;
	return (char *)c->data + c->used - need;
}

void sql_json_arena_begin(void)
{
	if (first) {
		first->used = 0;
		top = first;
	}
}

void sql_json_arena_end(void)
{
	/* a big text's chunks go back; the first, of ARENA_FIRST bytes, stays for the next */
	while (top && top->prev) {
		struct arena_chunk *prev = top->prev;

		free(top);
		top = prev;
	}
	if (top && top->size != ARENA_FIRST) {
		free(top);
		top = NULL;
	}
	first = top;
}
