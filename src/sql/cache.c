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
	struct entry *older, *newer; /* LRU list, oldest at cache->oldest */
	const struct pgw_sql_info *info;
	size_t bytes; /* everything this entry holds, info included */
	size_t len;
	char text[]; /* NUL-terminated: also what the parser reads */
};

struct pgw_sql_cache {
	struct entry *table; /* uthash head */
	struct entry *oldest, *newest;
	struct pgw_sql_limits lim;
	uint64_t seed;
	struct pgw_sql_cache_stats st;
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

static void unlink_lru(struct pgw_sql_cache *c, struct entry *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	e->older = e->newer = NULL;
}

static void push_newest(struct pgw_sql_cache *c, struct entry *e)
{
	e->older = c->newest;
	e->newer = NULL;
	if (c->newest)
		c->newest->newer = e;
	else
		c->oldest = e;
	c->newest = e;
}

static void evict(struct pgw_sql_cache *c, struct entry *e)
{
	HASH_DELETE(hh, c->table, e);
	unlink_lru(c, e);
	c->st.entries--;
	c->st.bytes -= e->bytes;
	pgw_sql_info_unref(e->info); /* a session holding it keeps it alive */
	free(e);
}

/* Evicts the oldest entries until <need> more bytes and one more entry fit. */
static void make_room(struct pgw_sql_cache *c, size_t need)
{
	while (c->oldest &&
	       (c->st.entries + 1 > c->lim.max_entries || c->st.bytes + need > c->lim.max_bytes)) {
		evict(c, c->oldest);
		c->st.evictions++;
	}
}

int pgw_sql_cache_set_limits(struct pgw_sql_cache *c, const struct pgw_sql_limits *lim)
{
	if (lim->max_parse_bytes == 0 || lim->max_parse_bytes > PGW_SQL_PARSE_BYTES_CAP)
		return -1;
	c->lim = *lim;
	while (c->oldest &&
	       (c->st.entries > c->lim.max_entries || c->st.bytes > c->lim.max_bytes)) {
		evict(c, c->oldest);
		c->st.evictions++;
	}
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
	while (c->oldest)
		evict(c, c->oldest);
	HASH_CLEAR(hh, c->table);
	sql_stack_free(&c->stack);
	free(c);
}

void pgw_sql_cache_stats(const struct pgw_sql_cache *c, struct pgw_sql_cache_stats *out)
{
	*out = c->st;
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

static const struct pgw_sql_info *analyze(struct pgw_sql_cache *c, const char *text, size_t len)
{
	const struct pgw_sql_info *info;

	if (!stack_ready(c, len))
		return sql_info_static(PGW_SQL_NO_MEMORY);
	c->st.parses++;
	info = sql_analyze(&c->stack, text, len);
	/* a deep parse leaves up to 64 B/byte of stack resident: give it back */
	if (len > SQL_TRIM_ABOVE)
		sql_stack_trim(&c->stack);
	return info;
}

static bool cacheable(const struct pgw_sql_cache *c, size_t len)
{
	return len <= c->lim.max_cached_text && c->lim.max_entries > 0;
}

const struct pgw_sql_info *pgw_sql_inspect(struct pgw_sql_cache *c, const char *sql, size_t len)
{
	const struct pgw_sql_info *info;
	struct entry *e = NULL;
	unsigned hv = 0;
	bool add_failed = false;
	char *copy;

	if (!sql) { /* (NULL, n) is taken as an empty text */
		sql = "";
		len = 0;
	}
	if (len > c->lim.max_parse_bytes) {
		c->st.too_large++;
		return sql_info_static(PGW_SQL_TOO_LARGE);
	}
	if (cacheable(c, len)) {
		/* uthash buckets by 32 bits; the full compare makes a collision a mere miss */
		hv = (unsigned)XXH3_64bits_withSeed(sql, len, c->seed);
		HASH_FIND_BYHASHVALUE(hh, c->table, sql, len, hv, e);
		if (e) {
			c->st.hits++;
			unlink_lru(c, e);
			push_newest(c, e);
			return pgw_sql_info_ref(e->info);
		}
	}
	c->st.misses++;
	if (!cacheable(c, len)) {
		copy = malloc(len + 1);
		if (!copy)
			return sql_info_static(PGW_SQL_NO_MEMORY);
		memcpy(copy, sql, len);
		copy[len] = '\0';
		info = analyze(c, copy, len);
		free(copy);
		return info;
	}
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return sql_info_static(PGW_SQL_NO_MEMORY);
	memcpy(e->text, sql, len);
	e->text[len] = '\0';
	e->len = len;
	info = analyze(c, e->text, len);
	e->info = info;
	e->bytes = sizeof(*e) + len + 1 + info->bytes;
	if (info->status == PGW_SQL_NO_MEMORY || e->bytes > c->lim.max_bytes) {
		free(e);
		return info;
	}
	make_room(c, e->bytes);
	HASH_ADD_KEYPTR_BYHASHVALUE(hh, c->table, e->text, len, hv, e);
	if (add_failed) {
		free(e);
		return info;
	}
	push_newest(c, e);
	c->st.entries++;
	c->st.bytes += e->bytes;
	/* the cache keeps one reference, the caller gets the one analyze() made */
	return pgw_sql_info_ref(info);
}
