/*
 * The classification cache: exact text -> info, bounded LRU by entry count and bytes.
 * A hit costs one XXH3 of the text (seeded at random, so nobody can aim texts at one
 * bucket), a bucket walk and a memcmp; a hash match alone is never trusted. Texts over
 * max_cached_text are inspected but not kept: they are almost always one-off bulk
 * INSERTs that would only evict useful entries.
 */
#include "sql-int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define HASH_NONFATAL_OOM	 1
#define uthash_nonfatal_oom(obj) (add_failed = true)
#include <uthash.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

struct entry {
	UT_hash_handle hh;
	struct entry *older, *newer; /* LRU list, oldest at table->oldest */
	/* a text's info; for a shape, the info of the text it was learnt from, or NULL when
	 * the shape cannot serve (why says why, parses counts its texts parsed since) */
	const struct pgw_sql_info *info;
	const struct sql_slot *slots; /* a shape's: those of the text it was learnt from */
	size_t nslots;
	const char *why;
	uint64_t parses;
	size_t bytes; /* everything this entry holds, info included */
	size_t len;
	char text[]; /* NUL-terminated: also what the parser reads; for a shape, its key */
};

/* One LRU hash table: texts, or shapes. */
struct table {
	struct entry *hash; /* uthash head */
	struct entry *oldest, *newest;
	size_t entries, bytes;
	uint64_t evictions;
};

struct pgw_sql_cache {
	struct table texts, shapes;
	struct pgw_sql_limits lim;
	uint64_t seed;
	struct pgw_sql_cache_stats st;
	struct sql_slots slots; /* the literals of the text being inspected */
	struct sql_stack stack; /* mapped on the first miss */
	size_t stack_for;	/* the longest text the stack is sized for */
};

static uint64_t random_seed(const void *salt)
{
	uint64_t seed;
	struct timespec ts;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
		return seed;
	/* no entropy yet (early boot): still differs per process and per run */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return XXH3_64bits_withSeed(&ts, sizeof(ts), (uint64_t)(uintptr_t)salt);
}

struct pgw_sql_cache *pgw_sql_cache_new(size_t max_entries, size_t max_bytes)
{
	struct pgw_sql_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->lim.max_entries = max_entries;
	c->lim.max_bytes = max_bytes;
	c->lim.max_cached_text = PGW_SQL_MAX_CACHED_TEXT;
	c->lim.max_parse_bytes = PGW_SQL_MAX_PARSE_BYTES;
	c->seed = random_seed(c);
	return c;
}

static void unlink_lru(struct table *t, struct entry *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	e->older = e->newer = NULL;
}

static void push_newest(struct table *t, struct entry *e)
{
	e->older = t->newest;
	e->newer = NULL;
	if (t->newest)
		t->newest->newer = e;
	else
		t->oldest = e;
	t->newest = e;
}

static void evict(struct table *t, struct entry *e)
{
	HASH_DELETE(hh, t->hash, e);
	unlink_lru(t, e);
	t->entries--;
	t->bytes -= e->bytes;
	pgw_sql_info_unref(e->info); /* a session holding it keeps it alive */
	free(e);
}

/* Evicts the oldest entries until <need> more bytes and one more entry fit, or until the
 * limits hold (need = 0, one = false). */
static void make_room(struct table *t, const struct pgw_sql_limits *lim, size_t need, bool one)
{
	while (t->oldest &&
	       (t->entries + one > lim->max_entries || t->bytes + need > lim->max_bytes)) {
		evict(t, t->oldest);
		t->evictions++;
	}
}

static void table_clear(struct table *t)
{
	while (t->oldest)
		evict(t, t->oldest);
	HASH_CLEAR(hh, t->hash);
}

int pgw_sql_cache_set_limits(struct pgw_sql_cache *c, const struct pgw_sql_limits *lim)
{
	if (lim->max_parse_bytes == 0 || lim->max_parse_bytes > PGW_SQL_PARSE_BYTES_CAP)
		return -1;
	c->lim = *lim;
	make_room(&c->texts, &c->lim, 0, false);
	make_room(&c->shapes, &c->lim, 0, false);
	return 0;
}

void pgw_sql_cache_get_limits(const struct pgw_sql_cache *c, struct pgw_sql_limits *out)
{
	*out = c->lim;
}

void pgw_sql_cache_free(struct pgw_sql_cache *c)
{
	if (!c)
		return;
	table_clear(&c->texts);
	table_clear(&c->shapes);
	sql_slots_free(&c->slots);
	sql_stack_free(&c->stack);
	free(c);
}

void pgw_sql_cache_stats(const struct pgw_sql_cache *c, struct pgw_sql_cache_stats *out)
{
	*out = c->st;
	out->evictions = c->texts.evictions;
	out->entries = c->texts.entries;
	out->bytes = c->texts.bytes;
	out->shape_evictions = c->shapes.evictions;
	out->shape_entries = c->shapes.entries;
	out->shape_bytes = c->shapes.bytes;
}

/*
 * The parser's stack, big enough for a text of <len> bytes; false if it cannot be had. Sized
 * by the texts that come (at least PGW_SQL_MAX_PARSE_BYTES' worth), not by max_parse_bytes:
 * that may be PostgreSQL's 1 GB, whose worst case would be a 128 GB mapping for every
 * statement. It grows for a longer text and stays; its untouched pages cost nothing.
 */
static bool stack_ready(struct pgw_sql_cache *c, size_t len)
{
	size_t need = PGW_MAX(len, (size_t)PGW_SQL_MAX_PARSE_BYTES);

	if (c->stack.map && c->stack_for >= need)
		return true;
	sql_stack_free(&c->stack);
	c->stack_for = 0;
	if (sql_stack_init(&c->stack, sql_stack_size_for(need)) < 0)
		return false;
	c->stack_for = need;
	return true;
}

static const struct pgw_sql_info *analyze(struct pgw_sql_cache *c, const char *text, size_t len,
					  struct sql_slots *slots)
{
	const struct pgw_sql_info *info;

	if (!stack_ready(c, len))
		return sql_info_static(PGW_SQL_NO_MEMORY);
	c->st.parses++;
	info = sql_analyze(&c->stack, text, len, slots);
	/* a deep parse leaves up to 64 B/byte of stack resident: give it back */
	if (len > SQL_TRIM_ABOVE)
		sql_stack_trim(&c->stack);
	return info;
}

static bool cacheable(const struct pgw_sql_cache *c, size_t len)
{
	return len <= c->lim.max_cached_text && c->lim.max_entries > 0;
}

static struct entry *find(struct table *t, const char *key, size_t len, unsigned hv)
{
	struct entry *e = NULL;

	HASH_FIND_BYHASHVALUE(hh, t->hash, key, len, hv, e);
	if (e) {
		unlink_lru(t, e);
		push_newest(t, e);
	}
	return e;
}

/* Adds <e> (its bytes set) unless it cannot fit; false if it was not added (then freed). */
static bool add(struct pgw_sql_cache *c, struct table *t, struct entry *e, unsigned hv)
{
	bool add_failed = false;

	if (e->bytes > c->lim.max_bytes) {
		free(e);
		return false;
	}
	make_room(t, &c->lim, e->bytes, true);
	HASH_ADD_KEYPTR_BYHASHVALUE(hh, t->hash, e->text, e->len, hv, e);
	if (add_failed) {
		free(e);
		return false;
	}
	push_newest(t, e);
	t->entries++;
	t->bytes += e->bytes;
	return true;
}

/* ---- shapes ---- */

/* The info of a text whose shape is known and serves, or NULL (then it is parsed). */
static const struct pgw_sql_info *from_shape(struct pgw_sql_cache *c, const char *sql, size_t len,
					     unsigned hv)
{
	struct entry *e = find(&c->shapes, c->slots.key, c->slots.key_len, hv);
	const struct pgw_sql_info *info;

	if (!e)
		return NULL;
	/* the literals may hold what the server refuses: the parse reports it */
	if (!e->info || sql_utf8_check(sql, len) < len) {
		e->parses++;
		return NULL;
	}
	info = sql_shape_info(e->info, e->slots, sql, c->slots.v, e->nslots);
	if (info)
		c->st.shape_hits++;
	return info;
}

/* After a parse of a text with a shape: remember whether the shape serves. A text that does
 * not parse teaches nothing about its shape. */
static void learn_shape(struct pgw_sql_cache *c, const struct pgw_sql_info *info, unsigned hv)
{
	const struct sql_slots *s = &c->slots;
	const char *why = sql_shape_unusable(info, s);
	size_t slots_bytes = why ? 0 : s->n * sizeof(struct sql_slot);
	size_t at = (sizeof(struct entry) + s->key_len + 1 + _Alignof(struct sql_slot) - 1) &
		    ~(_Alignof(struct sql_slot) - 1);
	struct entry *e, *had = NULL;

	if (info->status != PGW_SQL_OK)
		return;
	HASH_FIND_BYHASHVALUE(hh, c->shapes.hash, s->key, s->key_len, hv, had);
	if (had)
		return;
	e = calloc(1, at + slots_bytes);
	if (!e)
		return;
	memcpy(e->text, s->key, s->key_len + 1);
	e->len = s->key_len;
	e->why = why;
	e->parses = 1;
	e->bytes = at + slots_bytes + (why ? 0 : info->bytes);
	if (!why) {
		memcpy((char *)e + at, s->v, slots_bytes);
		e->slots = (const struct sql_slot *)((char *)e + at);
		e->nslots = s->n;
		e->info = info;
	}
	if (add(c, &c->shapes, e, hv) && e->info)
		pgw_sql_info_ref(info);
}

void pgw_sql_cache_uncached(const struct pgw_sql_cache *c, size_t top, pgw_sql_shape_fn fn,
			    void *arg)
{
	const struct entry *best[64];
	size_t n = 0;

	top = PGW_MIN(top, PGW_ARRAY_LEN(best));
	if (top == 0)
		return;
	/* a partial insertion sort: the table is bounded, the list is short */
	for (const struct entry *e = c->shapes.oldest; e; e = e->newer) {
		size_t i;

		if (e->info || (n == top && e->parses <= best[n - 1]->parses))
			continue;
		if (n < top)
			n++;
		for (i = n - 1; i > 0 && best[i - 1]->parses < e->parses; i--)
			best[i] = best[i - 1];
		best[i] = e;
	}
	for (size_t i = 0; i < n; i++)
		fn(best[i]->text, best[i]->len, best[i]->parses, best[i]->why, arg);
}

/* ---- inspection ---- */

const struct pgw_sql_info *pgw_sql_inspect(struct pgw_sql_cache *c, const char *sql, size_t len)
{
	const struct pgw_sql_info *info;
	struct entry *e;
	unsigned hv, shape_hv = 0;
	bool shaped;
	char *copy;

	if (!sql) { /* (NULL, n) is taken as an empty text */
		sql = "";
		len = 0;
	}
	if (len > c->lim.max_parse_bytes) {
		c->st.too_large++;
		return sql_info_static(PGW_SQL_TOO_LARGE);
	}
	if (!cacheable(c, len)) {
		c->st.misses++;
		copy = malloc(len + 1);
		if (!copy)
			return sql_info_static(PGW_SQL_NO_MEMORY);
		memcpy(copy, sql, len);
		copy[len] = '\0';
		info = analyze(c, copy, len, NULL);
		free(copy);
		return info;
	}
	/* uthash buckets by 32 bits; the full compare makes a collision a mere miss */
	hv = (unsigned)XXH3_64bits_withSeed(sql, len, c->seed);
	e = find(&c->texts, sql, len, hv);
	if (e) {
		c->st.hits++;
		return pgw_sql_info_ref(e->info);
	}
	c->st.misses++;
	shaped = sql_shape_scan(&c->slots, sql, len);
	if (shaped) {
		shape_hv = (unsigned)XXH3_64bits_withSeed(c->slots.key, c->slots.key_len, c->seed);
		if ((info = from_shape(c, sql, len, shape_hv)))
			return info;
		c->st.shape_misses++;
	}
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return sql_info_static(PGW_SQL_NO_MEMORY);
	memset(e, 0, sizeof(*e));
	memcpy(e->text, sql, len);
	e->text[len] = '\0';
	e->len = len;
	info = analyze(c, e->text, len, shaped ? &c->slots : NULL);
	if (shaped)
		learn_shape(c, info, shape_hv);
	e->info = info;
	e->bytes = sizeof(*e) + len + 1 + info->bytes;
	if (info->status == PGW_SQL_NO_MEMORY) {
		free(e);
		return info;
	}
	if (!add(c, &c->texts, e, hv))
		return info;
	/* the cache keeps one reference, the caller gets the one analyze() made */
	return pgw_sql_info_ref(info);
}
