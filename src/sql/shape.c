/*
 * Statement shapes: UPDATE t SET a = 1 WHERE id = 2 and UPDATE t SET a = 3 WHERE id = 4 are one
 * shape, parsed once. A shape's classification serves another text only when the parse
 * proved that no literal's value mattered: every literal is a constant of the tree (not an
 * option value, a file name or a number the grammar keeps for itself), no rule decided
 * anything on one (a WHERE folded to true, a setting's name, a channel), and each value the
 * info reports (INSERT and UPDATE values) can be read back from the new text exactly as the
 * parser reads it. Anything else is parsed per text, as before.
 */
#include "sql-int.h"

#include <stdlib.h>
#include <string.h>
#include <cJSON.h>

#include "pgward/sql_lex.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

static bool reserve(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return true;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * elem);
	if (!q)
		return false;
	*p = q;
	*cap = n;
	return true;
}

void sql_slots_free(struct sql_slots *s)
{
	free(s->v);
	free(s->key);
	memset(s, 0, sizeof(*s));
}

/*
 * A '...' or N'...' token (continuations included) that the scanner closes, and whether it
 * is one piece. An unterminated one runs to the end of the text; the server refuses that.
 * False also for a -- comment between pieces (below).
 */
static bool string_closed(const char *s, const struct pgw_lex_tok *t, bool *one_piece)
{
	size_t at = t->start + (t->prefix ? 2 : 1), end = t->start + t->len;

	*one_piece = true;
	for (;;) {
		const char *q = memchr(s + at, '\'', end - at);

		if (!q)
			return false;
		at = (size_t)(q - s) + 1;
		if (at < end && s[at] == '\'') {
			at++;
			continue;
		}
		if (at == end)
			return true;
		/* a continuation: whitespace with a newline, then the next piece's quote. A --
		 * comment there is whitespace to the server but a token to libpg_query, which
		 * then reads another text: no shape (pgward inspects such texts with comments
		 * blanked) */
		*one_piece = false;
		q = memchr(s + at, '\'', end - at);
		if (!q || memchr(s + at, '-', (size_t)(q - s) - at))
			return false;
		at = (size_t)(q - s) + 1;
	}
}

/* $tag$...$tag$ closed by its own tag. */
static bool dollar_closed(const char *s, const struct pgw_lex_tok *t)
{
	const char *p = s + t->start, *tag_end = memchr(p + 1, '$', t->len - 1);
	size_t dlen = tag_end ? (size_t)(tag_end - p) + 1 : t->len;

	return t->len >= 2 * dlen && memcmp(p, p + t->len - dlen, dlen) == 0;
}

/* scan.l's process_integer_literal: digits that fit 32 bits are an Integer, else a Float. */
static int number_class(const char *s, size_t len)
{
	unsigned long long v = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return SQL_SLOT_NUMERIC;
		if (v <= INT32_MAX)
			v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > INT32_MAX)
		return SQL_SLOT_NUMERIC;
	return len <= 10 ? SQL_SLOT_INT : SQL_SLOT_LONG_INT;
}

/*
 * The slot class of a token pgw_lex_next_literal found, -1 if the text gets no shape: the
 * scanner itself judges the value of E'...' (its escapes), B'...' and X'...' (their digits)
 * and U&'...', so two such texts of one shape may not both be valid; an unterminated
 * constant is refused whatever it holds.
 */
static int token_class(const char *s, const struct pgw_lex_tok *t)
{
	bool one_piece;

	switch (t->kind) {
	case PGW_TOK_NUMBER:
		return number_class(s + t->start, t->len);
	case PGW_TOK_STRING:
		if ((t->prefix != 0 && t->prefix != 'N') || !string_closed(s, t, &one_piece))
			return -1;
		if (t->prefix == 'N')
			return SQL_SLOT_STRING_N;
		return one_piece ? SQL_SLOT_STRING : SQL_SLOT_STRING_CONT;
	case PGW_TOK_BITSTRING:
		return -1;
	case PGW_TOK_DOLLAR:
		return dollar_closed(s, t) ? SQL_SLOT_DOLLAR : -1;
	default: /* U&"..." */
		return -1;
	}
}

/* Whether a word holds a zero byte (exact: no false positive). */
static inline bool has_zero(uint64_t w)
{
	return ((w - UINT64_C(0x0101010101010101)) & ~w & UINT64_C(0x8080808080808080)) != 0;
}

/*
 * Appends the text between two literals to the key. A byte the key uses for a class there
 * (0x10-0x1f are kept for them) or a NUL would let two different texts make one key.
 */
static bool add_segment(struct sql_slots *s, const char *p, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if (has_zero(w) ||
		    has_zero((w & UINT64_C(0xf0f0f0f0f0f0f0f0)) ^ UINT64_C(0x1010101010101010)))
			break;
	}
	for (; i < n; i++)
		if (p[i] == '\0' || ((unsigned char)p[i] & 0xf0) == 0x10)
			return false;
	memcpy(s->key + s->key_len, p, n);
	s->key_len += n;
	return true;
}

bool sql_shape_scan(struct sql_slots *s, const char *text, size_t len)
{
	struct pgw_lexer lx;
	struct pgw_lex_tok t;
	size_t copied = 0;

	s->n = 0;
	s->key_len = 0;
	if (!reserve((void **)&s->key, &s->key_cap, len + 1, 1))
		return false;
	pgw_lex_init(&lx, text, len, true); /* the inspected text reads with standard strings */
	while (pgw_lex_next_literal(&lx, &t)) {
		int cls = token_class(text, &t);
		struct sql_slot *slot;

		if (cls <= 0)
			return false;
		if (s->n == SQL_MAX_SLOTS ||
		    !reserve((void **)&s->v, &s->cap, s->n + 1, sizeof(*slot)))
			return false;
		if (!add_segment(s, text + copied, t.start - copied))
			return false;
		s->key[s->key_len++] = (char)cls;
		slot = &s->v[s->n++];
		*slot = (struct sql_slot){
			.start = (uint32_t)t.start, .len = (uint32_t)t.len, .cls = (uint8_t)cls};
		copied = t.start + t.len;
	}
	if (!add_segment(s, text + copied, len - copied))
		return false;
	s->key[s->key_len] = '\0';
	return s->n > 0;
}

uint64_t pgw_sql_shape_hash(const char *sql, size_t len)
{
	XXH3_state_t st;
	struct pgw_lexer lx;
	struct pgw_lex_tok t;
	size_t copied = 0;

	XXH3_64bits_reset(&st);
	pgw_lex_init(&lx, sql, len, true);
	while (pgw_lex_next_literal(&lx, &t)) {
		int cls = token_class(sql, &t);
		char c = (char)cls;

		if (cls < 0)
			return XXH3_64bits(sql, len);
		XXH3_64bits_update(&st, sql + copied, t.start - copied);
		XXH3_64bits_update(&st, &c, 1);
		copied = t.start + t.len;
	}
	XXH3_64bits_update(&st, sql + copied, len - copied);
	return XXH3_64bits_digest(&st);
}

/* The slot that starts at byte <at>, or NULL. */
static struct sql_slot *slot_at(struct sql_slots *s, size_t at)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->v[mid].start < at)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n && s->v[lo].start == at ? &s->v[lo] : NULL;
}

/*
 * The slot an A_Const comes from. The grammar puts a negated number's constant at its minus
 * sign ("- 5" is the constant -5); int_from_text reads it back with the same spacing. A
 * constant not found here has no slot: a keyword made it (TRUE, NULL, an interval field),
 * or it is read in a way this does not follow, and then its literal stays unseen.
 */
static struct sql_slot *slot_of(struct sql_builder *b, const cJSON *ac, bool *negated)
{
	int loc = sql_json_int(ac, "location");
	size_t at;

	*negated = false;
	if (!b->slots || loc < 0 || (size_t)loc >= b->len)
		return NULL;
	at = (size_t)loc;
	if (b->text[at] == '-') {
		*negated = true;
		for (at++; at < b->len &&
			   (b->text[at] == ' ' || (b->text[at] >= '\t' && b->text[at] <= '\r'));
		     at++)
			;
	}
	return slot_at(b->slots, at);
}

void sql_slot_seen(struct sql_builder *b, const cJSON *ac)
{
	bool negated;
	struct sql_slot *slot = slot_of(b, ac, &negated);

	if (slot) {
		slot->use |= SQL_SLOT_SEEN;
		slot->negated = negated;
	}
}

uint32_t sql_slot_read(struct sql_builder *b, const cJSON *ac, unsigned use)
{
	bool negated;
	struct sql_slot *slot = slot_of(b, ac, &negated);

	if (!slot)
		return 0;
	slot->use |= (uint8_t)use;
	return (uint32_t)(slot - b->slots->v) + 1;
}

/* The classes whose value this file reads back as the parser does. */
static bool rebuildable(uint8_t cls)
{
	return cls == SQL_SLOT_INT || cls == SQL_SLOT_NUMERIC || cls == SQL_SLOT_STRING;
}

const char *sql_shape_unusable(const struct pgw_sql_info *info, const struct sql_slots *slots)
{
	if (info->status != PGW_SQL_OK)
		return "does not parse";
	for (size_t i = 0; i < slots->n; i++) {
		const struct sql_slot *sl = &slots->v[i];

		if (!(sl->use & SQL_SLOT_SEEN))
			return "a literal that is not a constant of the tree";
		if (sl->use & SQL_SLOT_DECIDES)
			return "a rule decides on a literal's value";
		if ((sl->use & SQL_SLOT_VALUE) && !rebuildable(sl->cls))
			return "a reported value in a form not rebuilt";
	}
	return NULL;
}

/* ---- an info for another text of the shape ---- */

/*
 * A constant's text as sql_const_text gives it: an Integer printed (negated by the grammar
 * when a minus sign came before it), a Float as written, a string with its doubled quotes
 * made one. Returns the bytes written to <out> (room for len + 2).
 */
static size_t rebuild_value(const char *text, const struct sql_slot *now, bool negated, char *out)
{
	const char *p = text + now->start;
	size_t n = 0;

	switch (now->cls) {
	case SQL_SLOT_INT: {
		/* "%lld" of the value: leading zeros dropped, "-0" is "0" */
		size_t i = 0;

		while (i + 1 < now->len && p[i] == '0')
			i++;
		if (negated && !(now->len - i == 1 && p[i] == '0'))
			out[n++] = '-';
		memcpy(out + n, p + i, now->len - i);
		return n + now->len - i;
	}
	case SQL_SLOT_NUMERIC:
		if (negated)
			out[n++] = '-';
		memcpy(out + n, p, now->len);
		return n + now->len;
	default: /* SQL_SLOT_STRING: a minus before a string is an operator, not a negation */
		for (size_t i = 1; i + 1 < now->len; i++) {
			out[n++] = p[i];
			if (p[i] == '\'')
				i++;
		}
		return n;
	}
}

/* Moves a byte offset of the template's text to the same place in the new one: after every
 * slot that starts before it, by the difference of that slot's lengths. */
struct shift {
	const struct sql_slot *then, *now;
	size_t n, i;
	int64_t delta;
};

static uint32_t shift_to(struct shift *sh, uint32_t pos)
{
	while (sh->i < sh->n && sh->then[sh->i].start < pos) {
		sh->delta += (int64_t)sh->now[sh->i].len - (int64_t)sh->then[sh->i].len;
		sh->i++;
	}
	return (uint32_t)((int64_t)pos + sh->delta);
}

static const struct pgw_sql_value *values_for(struct sql_builder *b,
					      const struct pgw_sql_value *vals, size_t n,
					      const char *text, const struct sql_slot *then,
					      const struct sql_slot *now)
{
	struct pgw_sql_value *out;
	bool any = false;

	for (size_t i = 0; i < n && !any; i++)
		any = vals[i].slot != 0;
	if (!any)
		return vals;
	out = sql_alloc(b, n * sizeof(*out));
	if (!out)
		return NULL;
	memcpy(out, vals, n * sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		const struct sql_slot *sl;
		char *s;

		if (out[i].slot == 0)
			continue;
		sl = &now[out[i].slot - 1];
		s = sql_alloc(b, sl->len + 3);
		if (!s)
			return NULL;
		s[rebuild_value(text, sl, then[out[i].slot - 1].negated, s)] = '\0';
		out[i].text = s;
	}
	return out;
}

struct pgw_sql_info *sql_shape_info(const struct pgw_sql_info *tmpl, const struct sql_slot *then,
				    const char *text, const struct sql_slot *now, size_t nslots)
{
	struct sql_builder b = {0};
	struct pgw_sql_info *info = sql_info_new(256);
	struct pgw_sql_stmt *stmts;
	struct pgw_sql_insert *ins = NULL;
	struct pgw_sql_update *upd = NULL;
	struct shift at = {then, now, nslots, 0, 0}, end = at;
	void *chunks;
	size_t bytes;

	if (!info)
		return NULL;
	chunks = info->chunks;
	bytes = info->bytes;
	*info = *tmpl;
	info->chunks = chunks;
	info->bytes = bytes;
	info->refcnt = 1;
	info->shape = NULL;
	b.info = info;
	stmts = sql_alloc(&b, tmpl->nstmts * sizeof(*stmts));
	if (tmpl->ninserts)
		ins = sql_alloc(&b, tmpl->ninserts * sizeof(*ins));
	if (tmpl->nupdates)
		upd = sql_alloc(&b, tmpl->nupdates * sizeof(*upd));
	if (b.oom)
		goto oom;
	/* statements come in text order, so one pass over the slots moves every offset */
	for (size_t i = 0; i < tmpl->nstmts; i++) {
		const struct pgw_sql_stmt *st = &tmpl->stmts[i];

		stmts[i] = *st;
		stmts[i].offset = shift_to(&at, st->offset);
		stmts[i].len = shift_to(&end, st->offset + st->len) - stmts[i].offset;
	}
	info->stmts = stmts;
	for (size_t i = 0; i < tmpl->ninserts; i++) {
		ins[i] = tmpl->inserts[i];
		if (ins[i].values &&
		    !(ins[i].values = values_for(&b, ins[i].values, ins[i].nrows * ins[i].rowlen,
						 text, then, now)))
			goto oom;
	}
	info->inserts = ins;
	for (size_t i = 0; i < tmpl->nupdates; i++) {
		upd[i] = tmpl->updates[i];
		if (upd[i].values &&
		    !(upd[i].values = values_for(&b, upd[i].values, upd[i].nsets, text, then, now)))
			goto oom;
	}
	info->updates = upd;
	info->shape = pgw_sql_info_ref(tmpl);
	return info;
oom:
	sql_builder_discard(&b);
	return NULL;
}

void pgw_sql_shape_text(const char *shape, size_t len, char *out, size_t outsz)
{
	size_t n = 0, i = 0;

	if (outsz == 0)
		return;
	for (; i < len && n + 1 < outsz; i++) {
		unsigned char c = (unsigned char)shape[i];

		out[n++] = c >= SQL_SLOT_INT && c <= SQL_SLOT_DOLLAR ? '?' : (char)c;
	}
	if (i < len && n >= 3) { /* cut: "..." over the last characters whole, not mid-UTF-8 */
		n -= 3;
		while (n > 0 && ((unsigned char)out[n] & 0xc0) == 0x80)
			n--;
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}
