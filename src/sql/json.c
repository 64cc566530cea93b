/*
 * A reader for libpg_query's JSON output into cJSON's node struct, so the walk reads it with
 * cJSON's accessors, allocated from an arena emptied after each parse: the tree is built,
 * walked and dropped whole, so its hundreds of nodes and strings need no malloc and free
 * each. It reads what cJSON_Parse reads, to the same tree (test_sql_json and fuzz_json
 * compare the two on every parse tree they meet): nesting beyond CJSON_NESTING_LIMIT,
 * malformed input or no memory give NULL, which the caller reports as too complex. What it
 * spares is cJSON's generic work per byte and a strtod per integer; libpg_query writes the
 * same few forms every time.
 */
#include "sql-int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>

/* ---- the arena: one parse at a time (pgward is one thread) ---- */

struct arena_chunk {
	struct arena_chunk *prev;
	size_t size, used;
	max_align_t data[];
};

#define ARENA_FIRST (64 * 1024)

static struct arena_chunk *top;	  /* the chunk being filled; older ones behind it */
static struct arena_chunk *first; /* kept between parses */

/* Inline: a parse tree makes one allocation per node and per string. */
static inline void *arena_alloc(size_t n)
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

/* ---- the reader ---- */

struct reader {
	const char *p;
	int depth;
};

static cJSON *new_item(int type)
{
	cJSON *it = arena_alloc(sizeof(*it));

	if (it) {
		memset(it, 0, sizeof(*it));
		it->type = type;
	}
	return it;
}

static void skip_blank(struct reader *r)
{
	while (*r->p != '\0' && (unsigned char)*r->p <= 32)
		r->p++;
}

static int hex4(const char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* A \u escape (and its low surrogate) at <p> as UTF-8 into <out>; bytes read, 0 if invalid. */
static size_t utf16_escape(const char *p, char *out, size_t *written)
{
	long cp = hex4(p + 2);
	size_t used = 6;
	unsigned char *o = (unsigned char *)out;

	if (cp < 0 || (cp >= 0xdc00 && cp <= 0xdfff))
		return 0;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		long lo;

		if (p[6] != '\\' || p[7] != 'u' || (lo = hex4(p + 8)) < 0xdc00 || lo > 0xdfff)
			return 0;
		cp = 0x10000 + (((cp & 0x3ff) << 10) | (lo & 0x3ff));
		used = 12;
	}
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		*written = 1;
	} else if (cp < 0x800) {
		o[0] = (unsigned char)(0xc0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3f));
		*written = 2;
	} else if (cp < 0x10000) {
		o[0] = (unsigned char)(0xe0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (unsigned char)(0x80 | (cp & 0x3f));
		*written = 3;
	} else {
		o[0] = (unsigned char)(0xf0 | (cp >> 18));
		o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		o[3] = (unsigned char)(0x80 | (cp & 0x3f));
		*written = 4;
	}
	return used;
}

/* A string at the opening quote: its unescaped bytes, NUL-terminated, or NULL. */
static char *read_string(struct reader *r)
{
	const char *start = r->p + 1, *p = start;
	char *out, *o;

	/* most strings hold no escape: one pass finds the end, one copy takes them */
	while (*p != '"' && *p != '\\' && *p != '\0')
		p++;
	if (*p == '"') {
		out = arena_alloc((size_t)(p - start) + 1);
		if (!out)
			return NULL;
		memcpy(out, start, (size_t)(p - start));
		out[p - start] = '\0';
		r->p = p + 1;
		return out;
	}
	/* where it ends; the escaped form is never shorter than what it spells */
	while (*p != '"') {
		if (*p == '\0')
			return NULL;
		if (*p == '\\' && p[1] != '\0')
			p++;
		p++;
	}
	out = arena_alloc((size_t)(p - start) + 1);
	if (!out)
		return NULL;
	for (o = out, p = start; *p != '"';) {
		if (*p != '\\') {
			*o++ = *p++;
			continue;
		}
		switch (p[1]) {
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case '"':
		case '\\':
		case '/':
			*o++ = p[1];
			break;
		case 'u': {
			size_t written, used = utf16_escape(p, o, &written);

			if (used == 0)
				return NULL;
			o += written;
			p += used;
			continue;
		}
		default:
			return NULL;
		}
		p += 2;
	}
	*o = '\0';
	r->p = p + 1;
	return out;
}

/* cJSON's number: the double, and valueint saturated to int's range. */
static void set_number(cJSON *it, double v)
{
	it->valuedouble = v;
	it->valueint = v >= INT_MAX ? INT_MAX : v <= (double)INT_MIN ? INT_MIN : (int)v;
}

static cJSON *read_number(struct reader *r)
{
	const char *p = r->p;
	cJSON *it = new_item(cJSON_Number);
	bool neg = *p == '-';
	long long v = 0;
	int digits = 0;

	if (!it)
		return NULL;
	for (p += neg; *p >= '0' && *p <= '9' && digits < 18; p++, digits++)
		v = v * 10 + (*p - '0');
	if (digits > 0 && !(*p >= '0' && *p <= '9') && *p != '.' && *p != 'e' && *p != 'E') {
		set_number(it, (double)(neg ? -v : v)); /* what libpg_query writes: an integer */
		r->p = p;
		return it;
	}
	{
		/* anything else as cJSON reads it: strtod over the run of number characters */
		size_t n = 0;
		char *buf, *end;

		for (p = r->p; (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == 'e' ||
			       *p == 'E' || *p == '.';
		     p++)
			n++;
		buf = arena_alloc(n + 1);
		if (!buf)
			return NULL;
		memcpy(buf, r->p, n);
		buf[n] = '\0';
		set_number(it, strtod(buf, &end));
		if (end == buf)
			return NULL;
		r->p += end - buf;
		return it;
	}
}

static cJSON *read_value(struct reader *r);

/* An array or object at its opening bracket: members in order, each child's prev the last
 * one's as cJSON links them. */
static cJSON *read_container(struct reader *r, bool object)
{
	cJSON *it = new_item(object ? cJSON_Object : cJSON_Array), *last = NULL;
	char close = object ? '}' : ']';

	if (!it || r->depth >= CJSON_NESTING_LIMIT)
		return NULL;
	r->depth++;
	r->p++;
	skip_blank(r);
	if (*r->p == close) {
		r->p++;
		r->depth--;
		return it;
	}
	for (;;) {
		char *key = NULL;
		cJSON *member;

		skip_blank(r);
		if (object) {
			if (*r->p != '"' || !(key = read_string(r)))
				return NULL;
			skip_blank(r);
			if (*r->p != ':')
				return NULL;
			r->p++;
			skip_blank(r);
		}
		member = read_value(r);
		if (!member)
			return NULL;
		member->string = key;
		if (last) {
			last->next = member;
			member->prev = last;
		} else {
			it->child = member;
		}
		last = member;
		it->child->prev = last;
		skip_blank(r);
		if (*r->p == ',') {
			r->p++;
			continue;
		}
		if (*r->p != close)
			return NULL;
		r->p++;
		r->depth--;
		return it;
	}
}

static cJSON *read_value(struct reader *r)
{
	cJSON *it;

	switch (*r->p) {
	case '{':
		return read_container(r, true);
	case '[':
		return read_container(r, false);
	case '"': {
		char *s = read_string(r);

		if (!s || !(it = new_item(cJSON_String)))
			return NULL;
		it->valuestring = s;
		return it;
	}
	case 't':
		if (strncmp(r->p, "true", 4) != 0 || !(it = new_item(cJSON_True)))
			return NULL;
		it->valueint = 1;
		r->p += 4;
		return it;
	case 'f':
		if (strncmp(r->p, "false", 5) != 0)
			return NULL;
		r->p += 5;
		return new_item(cJSON_False);
	case 'n':
		if (strncmp(r->p, "null", 4) != 0)
			return NULL;
		r->p += 4;
		return new_item(cJSON_NULL);
	default:
		if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))
			return read_number(r);
		return NULL;
	}
}

cJSON *sql_json_parse(const char *json)
{
	struct reader r = {.p = json};

	skip_blank(&r);
	return read_value(&r);
}
