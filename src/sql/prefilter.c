/*
 * A lexical pre-filter that lets the policies skip the parser for statements that cannot
 * concern them. Every guard rule and every protected setting needs one of a few keywords
 * (DROP, DELETE, SET, NOTIFY, ...) or the name of a function that matters (set_config,
 * pg_notify, the built-ins that run SQL from text: calls.c) in the text. Keywords can be
 * neither quoted nor split by comments, and a quoted name is still a word between its
 * quotes; so a text without any of them, as a whole word, needs no parse. The words of the
 * statements that change the session count only where a statement starts, so that
 * UPDATE ... SET is not parsed for them. It must only ever err towards parsing:
 * Unicode-escaped identifiers (U&"...") and anything it cannot read plainly send the text
 * to the parser.
 */
#include "sql-int.h"

#include "pgward/sql_lex.h"

#include <string.h>
#ifdef __SSE2__
#include <immintrin.h>
#endif

/* Questions a keyword answers beyond the three of sql.h: a statement's first word that
 * changes the session (SET, RESET, ALTER, ...: SESSION only there, so UPDATE ... SET needs no
 * parse), and "u", which matters only as the U& of an escaped name. */
#define STMT_SESSION 8u
#define U_AMP	     16u
#define RULES	     PGW_SQL_MAY_BREAK_RULES
#define DDL	     PGW_SQL_MAY_RUN_DDL
#define SESSION	     PGW_SQL_MAY_CHANGE_SESSION
#define PIN	     PGW_SQL_MAY_PIN
#define ALL	     PGW_SQL_MAY_ALL

/* A keyword, its length (most words are ruled out without a string compare: this scan runs
 * on every simple-protocol Query) and the questions it answers yes to. */
struct trigger {
	const char *word;
	uint8_t len;
	uint8_t asks;
};
/* clang-format off */
#define T(w, asks) {w, sizeof(w) - 1, asks}
/* clang-format on */

/*
 * RULES: the guard rules' keywords and function names (POLICY and RENAME come after ALTER,
 * CREATE or DROP), and from query_to_xml on calls.c's built-ins that run SQL given as text.
 * DDL: the words that may start a DDL statement (kind DDL but SELECT INTO), or name
 * lock_timeout in a write to it (set_config can spell it any way). SESSION (sql.h): the
 * statements that write a setting, a function's or a role's settings, or a type that
 * shadows text, forget settings or prepared statements, or run a DO block, all begin with
 * one of the STMT_SESSION words; set_config, pg_settings and the built-ins that run SQL may
 * stand anywhere. Each of those has a '_' within its first six bytes or begins with "cr" or
 * "co": that is how the scan for SESSION alone finds them (scan_session). PIN: what
 * session_state.c looks for beyond the answers of SESSION and DDL, anywhere (not only
 * first: SELECT ... INTO TEMP, SELECT pg_advisory_lock(...)), and what takes a pin's cause
 * back (UNLISTEN, CLOSE, pg_advisory_unlock_all; DISCARD is a SESSION word), and EXECUTE of a
 * prepared statement, renamed on servers (src/session/sql_prepared.c).
 */
/* clang-format off */
static const struct trigger triggers[] = {
	T("drop", RULES | DDL), T("truncate", RULES), T("delete", RULES), T("update", RULES),
	T("alter", RULES | DDL | STMT_SESSION), T("create", RULES | DDL | STMT_SESSION),
	T("set", RULES | STMT_SESSION), T("reset", RULES | STMT_SESSION),
	T("grant", RULES | DDL), T("revoke", RULES | DDL), T("do", RULES | STMT_SESSION),
	T("merge", RULES), T("set_config", ALL), T("discard", RULES | STMT_SESSION),
	T("copy", RULES), T("call", RULES), T("security", RULES | DDL), T("role", RULES),
	T("system", RULES), T("explain", RULES), T("prepare", RULES | PIN), T("notify", RULES),
	T("pg_notify", RULES), T("vacuum", RULES), T("cluster", RULES), T("reindex", RULES),
	T("lock", RULES), T("query_to_xml", RULES | SESSION), T("query_to_xmlschema", RULES | SESSION),
	T("query_to_xml_and_xmlschema", RULES | SESSION), T("ts_stat", RULES | SESSION), T("ts_rewrite", RULES | SESSION),
	T("crosstab", RULES | SESSION), T("crosstab2", RULES | SESSION), T("crosstab3", RULES | SESSION),
	T("crosstab4", RULES | SESSION), T("connectby", RULES | SESSION), T("xpath_table", RULES | SESSION),
	T("comment", DDL), T("import", DDL), T("reassign", DDL), T("lock_timeout", DDL),
	T("deallocate", STMT_SESSION), T("pg_settings", SESSION), T("u", U_AMP),
	T("listen", PIN), T("declare", PIN), T("load", PIN), T("temp", PIN), T("temporary", PIN),
	T("pg_temp", PIN), T("pg_advisory_lock", PIN), T("pg_advisory_lock_shared", PIN),
	T("pg_try_advisory_lock", PIN), T("pg_try_advisory_lock_shared", PIN),
	T("dblink_connect", PIN), T("dblink_connect_u", PIN), T("setseed", PIN),
	T("unlisten", PIN), T("close", PIN), T("pg_advisory_unlock_all", PIN), T("execute", PIN),
};
/* clang-format on */
#undef T

/* What a byte is to the scan. */
enum {
	WORD = 1,    /* a letter, digit, '_', '$' or any byte of a multibyte character */
	HIGH = 2,    /* >= 0x80: checked as UTF-8 */
	MARK = 4,    /* NUL, '-', '/', ';': the scan looks closer */
	JOIN = 8,    /* '_', '&': where SESSION's other words (set_config, pg_settings, U&) show */
	CUE_C = 16,  /* 'c' or 'C', which "crosstab" and "connectby" begin with */
	CUE_RO = 32, /* 'r', 'o', either case: the byte after that 'c' */
};

/*
 * The scan's tables, built once on the first scan: the class of each byte; for each letter,
 * which word lengths some keyword starting with it has (bit n of lens[c - 'a']; stmt_lens
 * for the STMT_SESSION ones), and its keywords (by_letter[first[c - 'a'] .. first[c - 'a' +
 * 1]]).
 */
static uint8_t byte_class[256];
static uint32_t lens[26], stmt_lens[26];
/* bit k: some SESSION word that stands anywhere has its first '_' k bytes from its start */
static uint32_t underscore_at;
static uint8_t first[27];
static struct trigger by_letter[PGW_ARRAY_LEN(triggers)];
static bool tables_ready;

static void scan_block_choose(void);

static void tables_build(void)
{
	size_t n = 0;

	for (unsigned c = 0; c < 256; c++) {
		bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '_' || c == '$' || c >= 0x80;

		byte_class[c] = (uint8_t)((word ? WORD : 0) | (c >= 0x80 ? HIGH : 0));
	}
	byte_class['\0'] = byte_class['-'] = byte_class['/'] = byte_class[';'] = MARK;
	byte_class['_'] |= JOIN;
	byte_class['&'] = JOIN;
	byte_class['c'] |= CUE_C;
	byte_class['C'] |= CUE_C;
	byte_class['r'] |= CUE_RO;
	byte_class['R'] |= CUE_RO;
	byte_class['o'] |= CUE_RO;
	byte_class['O'] |= CUE_RO;
	for (unsigned l = 0; l < 26; l++) {
		first[l] = (uint8_t)n;
		for (size_t i = 0; i < PGW_ARRAY_LEN(triggers); i++)
			if (triggers[i].word[0] == (char)('a' + l)) {
				by_letter[n++] = triggers[i];
				lens[l] |= 1u << triggers[i].len;
				if (triggers[i].asks & STMT_SESSION)
					stmt_lens[l] |= 1u << triggers[i].len;
				if ((triggers[i].asks & SESSION) && strchr(triggers[i].word, '_'))
					underscore_at |= 1u << (strchr(triggers[i].word, '_') -
								triggers[i].word);
			}
	}
	first[26] = (uint8_t)n;
	scan_block_choose();
	tables_ready = true;
}

/* <w> (any case) is <word> (lower case letters, digits and '_'). */
static bool same_word(const unsigned char *w, const char *word, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = w[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c != (unsigned char)word[i])
			return false;
	}
	return true;
}

/* The questions the word <w> of <n> bytes answers yes to (0 for most words). */
static unsigned word_asks(const unsigned char *w, size_t n)
{
	unsigned l = (w[0] | 0x20u) - 'a';

	if (l >= 26 || n >= 32 || !(lens[l] & (1u << n)))
		return 0;
	for (unsigned i = first[l]; i < first[l + 1]; i++)
		if (by_letter[i].len == n && same_word(w, by_letter[i].word, n))
			return by_letter[i].asks;
	return 0;
}

bool sql_statement_changes_session(const char *sql, size_t len)
{
	struct pgw_lexer lx;
	struct pgw_lex_tok t;
	bool at_start = true;

	if (!tables_ready)
		tables_build();
	pgw_lex_init(&lx, sql, len, true);
	while (pgw_lex_next(&lx, &t)) {
		if (t.kind == PGW_TOK_SPACE)
			continue;
		if (at_start && t.kind == PGW_TOK_WORD &&
		    (word_asks((const unsigned char *)sql + t.start, t.len) & STMT_SESSION))
			return true;
		at_start = t.kind == PGW_TOK_OTHER && sql[t.start] == ';';
	}
	return false;
}

void sql_scan_block_portable(const unsigned char *p, size_t n, size_t before, bool words,
			     struct sql_scan_block *b)
{
	unsigned marks = words ? MARK : MARK | JOIN;

	(void)before;
	b->word = b->high = b->mark = b->c = b->ro = 0;
	for (unsigned i = 0; i < n; i++) {
		unsigned c = byte_class[p[i]];

		if (words) {
			b->word |= (uint64_t)(c & WORD) << i;
		} else {
			b->c |= (uint64_t)((c & CUE_C) != 0) << i;
			b->ro |= (uint64_t)((c & CUE_RO) != 0) << i;
		}
		b->high |= (uint64_t)((c & HIGH) >> 1) << i;
		b->mark |= (uint64_t)((c & marks) != 0) << i;
	}
}

#ifdef __SSE2__
/* Bytes in [lo, lo + span] as 0xff, others 0. */
static __m128i in_range(__m128i v, char lo, char span)
{
	__m128i t = _mm_sub_epi8(v, _mm_set1_epi8(lo)), top = _mm_set1_epi8(span);

	return _mm_cmpeq_epi8(_mm_min_epu8(t, top), t);
}

static __m128i eq(__m128i v, char c)
{
	return _mm_cmpeq_epi8(v, _mm_set1_epi8(c));
}

/* The masks of one chunk of 16 or 32 bytes, in their low bits. */
struct chunk {
	uint32_t word, high, mark, c, ro;
};

/* Adds <c> to <b> at byte <off>, but for its first <drop> bytes (they come before <off>). */
static inline void add_chunk(struct sql_scan_block *b, struct chunk c, unsigned drop, unsigned off)
{
	b->word |= (uint64_t)(c.word >> drop) << off;
	b->high |= (uint64_t)(c.high >> drop) << off;
	b->mark |= (uint64_t)(c.mark >> drop) << off;
	b->c |= (uint64_t)(c.c >> drop) << off;
	b->ro |= (uint64_t)(c.ro >> drop) << off;
}

static inline struct chunk chunk16(__m128i v, bool words)
{
	__m128i m = _mm_or_si128(_mm_or_si128(eq(v, '\0'), eq(v, ';')),
				 _mm_or_si128(eq(v, '-'), eq(v, '/')));
	struct chunk c = {.high = (uint16_t)_mm_movemask_epi8(v)};

	if (words) { /* letters of either case, digits, '_', '$' */
		__m128i w = _mm_or_si128(
			_mm_or_si128(in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 25),
				     in_range(v, '0', 9)),
			_mm_or_si128(eq(v, '_'), eq(v, '$')));

		c.word = (uint16_t)_mm_movemask_epi8(w) | c.high;
	} else {
		__m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));

		m = _mm_or_si128(m, _mm_or_si128(eq(v, '_'), eq(v, '&')));
		c.c = (uint16_t)_mm_movemask_epi8(eq(lower, 'c'));
		c.ro = (uint16_t)_mm_movemask_epi8(_mm_or_si128(eq(lower, 'r'), eq(lower, 'o')));
	}
	c.mark = (uint16_t)_mm_movemask_epi8(m);
	return c;
}

void sql_scan_block_simd(const unsigned char *p, size_t n, size_t before, bool words,
			 struct sql_scan_block *b)
{
	unsigned off = 0;

	b->word = b->high = b->mark = b->c = b->ro = 0;
	for (; off + 16 <= n; off += 16)
		add_chunk(b,
			  chunk16(_mm_loadu_si128((const __m128i *)(const void *)(p + off)), words),
			  0, off);
	if (off < n) {
		unsigned have = (unsigned)n - off;
		unsigned char pad[16];

		if (n + before >= 16) { /* the text's last 16 bytes; those before drop */
			add_chunk(b,
				  chunk16(_mm_loadu_si128(
						  (const __m128i *)(const void *)(p + n - 16)),
					  words),
				  16 - have, off);
			return;
		}
		memcpy(pad, p + off, have); /* a text shorter than 16 bytes: spaces after it */
		memset(pad + have, ' ', 16 - have);
		add_chunk(b, chunk16(_mm_loadu_si128((const __m128i *)(const void *)pad), words), 0,
			  off);
	}
}

#if defined(__x86_64__) && defined(__GNUC__)
#define PGW_SCAN_AVX2 1
#define AVX2	      __attribute__((target("avx2")))

AVX2 static __m256i eq32(__m256i v, char c)
{
	return _mm256_cmpeq_epi8(v, _mm256_set1_epi8(c));
}

AVX2 static __m256i in_range32(__m256i v, char lo, char span)
{
	__m256i t = _mm256_sub_epi8(v, _mm256_set1_epi8(lo)), top = _mm256_set1_epi8(span);

	return _mm256_cmpeq_epi8(_mm256_min_epu8(t, top), t);
}

/* chunk16 for 32 bytes. */
AVX2 static inline struct chunk chunk32(__m256i v, bool words)
{
	__m256i m = _mm256_or_si256(_mm256_or_si256(eq32(v, '\0'), eq32(v, ';')),
				    _mm256_or_si256(eq32(v, '-'), eq32(v, '/')));
	struct chunk c = {.high = (uint32_t)_mm256_movemask_epi8(v)};

	if (words) {
		__m256i w = _mm256_or_si256(
			_mm256_or_si256(
				in_range32(_mm256_or_si256(v, _mm256_set1_epi8(0x20)), 'a', 25),
				in_range32(v, '0', 9)),
			_mm256_or_si256(eq32(v, '_'), eq32(v, '$')));

		c.word = (uint32_t)_mm256_movemask_epi8(w) | c.high;
	} else {
		__m256i lower = _mm256_or_si256(v, _mm256_set1_epi8(0x20));

		m = _mm256_or_si256(m, _mm256_or_si256(eq32(v, '_'), eq32(v, '&')));
		c.c = (uint32_t)_mm256_movemask_epi8(eq32(lower, 'c'));
		c.ro = (uint32_t)_mm256_movemask_epi8(
			_mm256_or_si256(eq32(lower, 'r'), eq32(lower, 'o')));
	}
	c.mark = (uint32_t)_mm256_movemask_epi8(m);
	return c;
}

AVX2 void sql_scan_block_avx2(const unsigned char *p, size_t n, size_t before, bool words,
			      struct sql_scan_block *b)
{
	unsigned off = 0;

	if (n + before < 32) { /* a text shorter than one load */
		sql_scan_block_simd(p, n, before, words, b);
		return;
	}
	b->word = b->high = b->mark = b->c = b->ro = 0;
	for (; off + 32 <= n; off += 32)
		add_chunk(b,
			  chunk32(_mm256_loadu_si256((const __m256i *)(const void *)(p + off)),
				  words),
			  0, off);
	if (off < n) /* the text's last 32 bytes; those before drop */
		add_chunk(b,
			  chunk32(_mm256_loadu_si256((const __m256i *)(const void *)(p + n - 32)),
				  words),
			  32 - ((unsigned)n - off), off);
}
#undef AVX2
#endif
#endif

/* The masks of a block: AVX2 where the processor has it, else SSE2, else the portable
 * form (chosen once, with the tables). */
static void (*scan_block)(const unsigned char *p, size_t n, size_t before, bool words,
			  struct sql_scan_block *b);

static void scan_block_choose(void)
{
#ifdef PGW_SCAN_AVX2
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2")) {
		scan_block = sql_scan_block_avx2;
		return;
	}
#endif
#ifdef __SSE2__
	scan_block = sql_scan_block_simd;
#else
	scan_block = sql_scan_block_portable;
#endif
}

/* What the scan has found so far. */
struct scan_state {
	const unsigned char *s;
	size_t len;
	unsigned may;
	bool at_start;	 /* no word since the text's start or the last ';' */
	bool stmt_word;	 /* a STMT_SESSION word somewhere */
	bool stmt_first; /* one as the first word of a statement */
	bool comment, nul;
	bool check_utf8; /* bytes >= 0x80 seen, or not every byte looked at */
};

/* The byte at <at>, 0 past the end. */
static unsigned byte_at(const struct scan_state *st, size_t at)
{
	return at < st->len ? st->s[at] : 0;
}

/* Whether the byte at <at> is outside the text or not part of a word. */
static bool edge_at(const struct scan_state *st, size_t at)
{
	return at >= st->len || !(byte_class[st->s[at]] & WORD);
}

/* The word at <at> of <n> bytes. */
static void scan_word(struct scan_state *st, size_t at, size_t n)
{
	unsigned asks = word_asks(st->s + at, n);

	if (asks != 0) {
		st->may |= asks & ALL;
		if (asks & STMT_SESSION) {
			st->stmt_word = true;
			st->stmt_first |= st->at_start;
		}
		/* U&"..." and U&'...' spell names with escapes the scan cannot read */
		if ((asks & U_AMP) && byte_at(st, at + n) == '&')
			st->may |= ALL;
	}
	st->at_start = false;
}

/* A NUL, ';', '-' or '/' at <at>. */
static void scan_mark(struct scan_state *st, size_t at)
{
	unsigned c = st->s[at], next = byte_at(st, at + 1);

	if (c == ';')
		st->at_start = true;
	else if (c == '\0')
		st->nul = true;
	else if (next == (c == '-' ? '-' : '*'))
		st->comment = true;
}

/* The masks of the text's bytes from <pos> on, up to 64 of them. */
static void load_block(const struct scan_state *st, size_t pos, bool words,
		       struct sql_scan_block *b)
{
	size_t rem = st->len - pos;

	scan_block(st->s + pos, rem < 64 ? rem : 64, pos, words, b);
}

/* Every word: RULES and DDL, and SESSION as the definition says. */
static void scan_words(struct scan_state *st)
{
	size_t pos = 0;

	while (pos < st->len) {
		struct sql_scan_block b;
		uint64_t events;
		size_t next_pos = pos + 64;

		load_block(st, pos, true, &b);
		st->check_utf8 |= b.high != 0;
		events = (b.word & ~(b.word << 1)) | b.mark;
		while (events != 0) {
			unsigned i = (unsigned)__builtin_ctzll(events);
			size_t at = pos + i, n;
			uint64_t rest;

			events &= events - 1;
			if (b.mark & (UINT64_C(1) << i)) {
				scan_mark(st, at);
				continue;
			}
			rest = ~(b.word >> i); /* zeros are the word's bytes */
			n = rest != 0 ? (size_t)__builtin_ctzll(rest) : 64;
			if (at + n == pos + 64 && pos + 64 < st->len) {
				/* the word may go on: the next block starts with it, or a word
				 * longer than a block (never a keyword) is stepped over here */
				if (i > 0) {
					next_pos = at;
					break;
				}
				while (!edge_at(st, at + n))
					n++;
				st->check_utf8 = true; /* its bytes were not all looked at */
				st->at_start = false;
				next_pos = at + n;
				break;
			}
			scan_word(st, at, n);
		}
		pos = next_pos;
	}
}

/* The first word from <at> on (a ';' before it, or the end: none) as a statement's first. */
static void first_word(struct scan_state *st, size_t at)
{
	size_t end;
	unsigned l;

	while (at < st->len && !(byte_class[st->s[at]] & WORD)) {
		if (st->s[at] == ';')
			return; /* that ';' is an event of its own */
		at++;
	}
	for (end = at; !edge_at(st, end); end++)
		;
	if (end == at)
		return; /* the text ends first */
	l = (st->s[at] | 0x20u) - 'a';
	if (end - at < 32 && l < 26 && (stmt_lens[l] & (1u << (end - at))) &&
	    (word_asks(st->s + at, end - at) & STMT_SESSION))
		st->stmt_word = st->stmt_first = true;
}

/* Whether the word that starts at <start> is one of SESSION's words that stand anywhere. */
static bool anywhere_word(const struct scan_state *st, size_t start)
{
	size_t end = start;

	while (!edge_at(st, end))
		if (++end - start >= 32)
			return false; /* longer than any keyword */
	return (word_asks(st->s + start, end - start) & SESSION) != 0;
}

/* Whether the '_' at <at> is the first of one of SESSION's words that stand anywhere: the
 * word starts where one of them would have its first '_' there. */
static bool anywhere_underscore(const struct scan_state *st, size_t at)
{
	for (uint32_t ks = underscore_at; ks != 0; ks &= ks - 1) {
		size_t k = (size_t)__builtin_ctz(ks);

		if (k <= at && (k == at || edge_at(st, at - k - 1)) && !edge_at(st, at - k) &&
		    anywhere_word(st, at - k))
			return true;
	}
	return false;
}

/* An event of the scan for SESSION alone at <at>: a mark, the '_' or "c[ro]" of a word that
 * may stand anywhere, or the '&' of U&. */
static void session_event(struct scan_state *st, size_t at)
{
	const unsigned char *s = st->s;

	if ((s[at] | 0x20) == 'c') {
		if ((at == 0 || edge_at(st, at - 1)) && anywhere_word(st, at))
			st->may |= SESSION;
	} else if (s[at] == '_') {
		if (anywhere_underscore(st, at))
			st->may |= SESSION;
	} else if (s[at] == '&') {
		if (at >= 1 && (s[at - 1] | 0x20) == 'u' && (at < 2 || edge_at(st, at - 2)))
			st->may |= ALL;
	} else {
		scan_mark(st, at);
		if (s[at] == ';')
			first_word(st, at + 1);
	}
}

/*
 * SESSION alone, without looking at every word: the first word of each statement, and the
 * words that may stand anywhere, from their '_', their "cr" or "co", or U&'s '&'. The masks
 * skip the other bytes, so most texts cost a few looks. False when a comment makes the
 * first words uncertain (the full scan then decides).
 */
static bool scan_session(struct scan_state *st)
{
	first_word(st, 0);
	for (size_t pos = 0; pos < st->len; pos += 64) {
		struct sql_scan_block b;
		size_t n = st->len - pos < 64 ? st->len - pos : 64;
		uint64_t events;

		load_block(st, pos, false, &b);
		st->check_utf8 |= b.high != 0;
		/* a 'c' before 'r' or 'o', or at the block's end, where the next byte is unseen */
		events = b.mark | (b.c & ((b.ro >> 1) | (UINT64_C(1) << (n - 1))));
		while (events != 0) {
			size_t at = pos + (unsigned)__builtin_ctzll(events);

			events &= events - 1;
			session_event(st, at);
		}
	}
	return !st->comment;
}

/*
 * One pass over the bytes, 64 at a time: where words start and end, and where the bytes the
 * scan looks closer at are, come from bit masks (AVX2 or SSE2 where there is one), and only those
 * places cost more. A word is a run of word bytes, as a keyword or a name (quoted or not)
 * is; a keyword can be neither quoted nor split by a comment. A statement's first word is
 * the first word since the text's start or the last ';'. That errs towards parsing (a ';'
 * in a constant starts nothing for the server) unless a comment holds the words around it,
 * which the scan cannot tell: with a comment anywhere, the lexer decides instead.
 */
void pgw_sql_scan(const char *sql, size_t len, unsigned want, struct pgw_sql_scan *out)
{
	struct scan_state st = {.s = (const unsigned char *)sql, .len = len, .at_start = true};

	if (!tables_ready)
		tables_build();
	if ((want & (RULES | DDL | PIN)) || !scan_session(&st)) {
		st = (struct scan_state){.s = st.s, .len = len, .at_start = true};
		scan_words(&st);
	}
	if (st.stmt_word && !(st.may & SESSION) &&
	    (st.comment ? sql_statement_changes_session(sql, len) : st.stmt_first))
		st.may |= SESSION;
	if (st.may & (SESSION | DDL))
		st.may |= PIN; /* a SET, a set_config, a CREATE ..., a DO block */
	/* the exact place of a byte that is not UTF-8 comes from the full check */
	out->valid = st.check_utf8 || st.nul ? sql_utf8_check(sql, len) : len;
	out->comment = st.comment;
	out->may = st.may & want;
}

unsigned pgw_sql_prefilter(const char *sql, size_t len, unsigned want)
{
	struct pgw_sql_scan sc;

	pgw_sql_scan(sql, len, want, &sc);
	return sc.may;
}

bool pgw_sql_may_break_rules(const char *sql, size_t len)
{
	return pgw_sql_prefilter(sql, len, PGW_SQL_MAY_BREAK_RULES) != 0;
}

bool pgw_sql_may_run_ddl(const char *sql, size_t len)
{
	return pgw_sql_prefilter(sql, len, PGW_SQL_MAY_RUN_DDL) != 0;
}

bool pgw_sql_utf8_valid(const char *sql, size_t len)
{
	return sql_utf8_check(sql, len) == len;
}
