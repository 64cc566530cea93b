/*
 * A bump allocator for cJSON while it reads libpg_query's output: the tree is built, walked
 * and dropped whole, so its hundreds of nodes and strings need no malloc and free each.
 * cJSON's hooks are process-wide, so they are installed around one parse only (pgward is one
 * thread, and nothing else uses cJSON during a parse) and the default ones put back after.
 */
#include "sql-int.h"

#include <stdlib.h>
#include <cJSON.h>

struct arena_chunk {
	struct arena_chunk *prev;
	size_t size, used;
	max_align_t data[];
};

#define ARENA_FIRST (64 * 1024)

static struct arena_chunk *top;	  /* the chunk being filled; older ones behind it */
static struct arena_chunk *first; /* kept between parses */

static void *arena_alloc(size_t n)
{
	size_t align = _Alignof(max_align_t), need = (n + align - 1) & ~(align - 1);
	struct arena_chunk *c = top;

	if (!c || c->size - c->used < need) {
		size_t size = PGW_MAX(need, c ? c->size * 2 : (size_t)ARENA_FIRST);

		c = malloc(sizeof(*c) + size);
		if (!c)
			return NULL; /* cJSON_Parse fails: the text is reported too complex */
		c->prev = top;
		c->size = size;
		c->used = 0;
		top = c;
	}
	c->used += need;
	return (char *)c->data + c->used - need;
}

static void arena_free(void *p)
{
	(void)p; /* all at once, in sql_json_arena_end */
}

void sql_json_arena_begin(void)
{
	cJSON_Hooks hooks = {.malloc_fn = arena_alloc, .free_fn = arena_free};

	if (first) {
		first->used = 0;
		top = first;
	}
	cJSON_InitHooks(&hooks);
}

void sql_json_arena_end(void)
{
	cJSON_InitHooks(NULL);
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
