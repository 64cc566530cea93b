/*
 * A lexical pre-filter that lets the guard skip the parser for statements that cannot
 * break any rule. Every guard rule and every protected setting needs one of a few
 * keywords (DROP, DELETE, SET, NOTIFY, ...) or the name of a function that matters
 * (set_config, pg_notify, the built-ins that run SQL from text: calls.c) in the text.
 * Keywords can be neither quoted nor split by comments, and a quoted name is still a word
 * between its quotes; so a text without any of them, as a whole word, needs no parse. It
 * must only ever err towards parsing: Unicode-escaped identifiers (U&"...") and anything it
 * cannot read plainly send the text to the parser.
 */
#include "sql-int.h"

#include "pgward/sql_lex.h"

#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Questions a keyword answers beyond the three of sql.h: "set" changes the session only
 * where a statement starts, and "u" matters only as the U& of an escaped name. */
#define SET_AT_START 8u
#define U_AMP	     16u
#define RULES	     PGW_SQL_MAY_BREAK_RULES
#define DDL	     PGW_SQL_MAY_RUN_DDL
#define SESSION	     PGW_SQL_MAY_CHANGE_SESSION
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
 * lock_timeout in a write to it (set_config can spell it any way). SESSION: what the checks
 * that hold for every role read (sql.h).
 */
/* clang-format off */
static const struct trigger triggers[] = {
	T("drop", RULES | DDL), T("truncate", RULES), T("delete", RULES), T("update", RULES),
	T("alter", ALL), T("create", ALL), T("set", RULES | SET_AT_START),
	T("reset", RULES | SESSION), T("grant", RULES | DDL), T("revoke", RULES | DDL),
	T("do", RULES | SESSION), T("merge", RULES), T("set_config", ALL),
	T("discard", RULES | SESSION), T("copy", RULES), T("call", RULES),
	T("security", RULES | DDL), T("role", RULES), T("system", RULES), T("explain", RULES),
	T("prepare", RULES), T("notify", RULES), T("pg_notify", RULES), T("vacuum", RULES),
	T("cluster", RULES), T("reindex", RULES), T("lock", RULES),
	T("query_to_xml", RULES), T("query_to_xmlschema", RULES),
	T("query_to_xml_and_xmlschema", RULES), T("ts_stat", RULES), T("ts_rewrite", RULES),
	T("crosstab", RULES), T("crosstab2", RULES), T("crosstab3", RULES),
	T("crosstab4", RULES), T("connectby", RULES), T("xpath_table", RULES),
	T("comment", DDL), T("import", DDL), T("reassign", DDL), T("lock_timeout", DDL),
	T("deallocate", SESSION), T("pg_settings", SESSION), T("u", U_AMP),
};
/* clang-format on */
#undef T

/* What a byte is to the scan. */
enum {
	WORD = 1, /* a letter, digit, '_', '$' or any byte of a multibyte character */
	HIGH = 2, /* >= 0x80: checked as UTF-8 */
	MARK = 4, /* NUL, '-', '/', ';': the scan looks closer */
};

/*
 * The scan's tables, built once on the first scan: the class of each byte; for each letter,
 * which word lengths some keyword starting with it has (bit n of lens[c - 'a']), and its
 * keywords (by_letter[first[c - 'a'] .. first[c - 'a' + 1]]).
 */
static uint8_t byte_class[256];
static uint32_t lens[26];
static uint8_t first[27];
static struct trigger by_letter[PGW_ARRAY_LEN(triggers)];
static bool tables_ready;

static void tables_build(void)
{
	size_t n = 0;

	for (unsigned c = 0; c < 256; c++) {
		bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '_' || c == '$' || c >= 0x80;

		byte_class[c] = (uint8_t)((word ? WORD : 0) | (c >= 0x80 ? HIGH : 0));
	}
	byte_class['\0'] = byte_class['-'] = byte_class['/'] = byte_class[';'] = MARK;
	for (unsigned l = 0; l < 26; l++) {
		first[l] = (uint8_t)n;
		for (size_t i = 0; i < PGW_ARRAY_LEN(triggers); i++)
			if (triggers[i].word[0] == (char)('a' + l)) {
				by_letter[n++] = triggers[i];
				lens[l] |= 1u << triggers[i].len;
			}
	}
	first[26] = (uint8_t)n;
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

bool sql_set_starts_statement(const char *sql, size_t len)
{
	struct pgw_lexer lx;
	struct pgw_lex_tok t;
	bool at_start = true;

	pgw_lex_init(&lx, sql, len, true);
	while (pgw_lex_next(&lx, &t)) {
		if (t.kind == PGW_TOK_SPACE)
			continue;
		if (at_start && t.kind == PGW_TOK_WORD && t.len == 3 &&
		    strncasecmp(sql + t.start, "set", 3) == 0)
			return true;
		at_start = t.kind == PGW_TOK_OTHER && sql[t.start] == ';';
	}
	return false;
}

void sql_scan_block_portable(const unsigned char *p, unsigned chunks, struct sql_scan_block *b)
{
	b->word = b->high = b->mark = 0;
	for (unsigned i = 0; i < 16 * chunks; i++) {
		unsigned c = byte_class[p[i]];

		b->word |= (uint64_t)(c & WORD) << i;
		b->high |= (uint64_t)((c & HIGH) >> 1) << i;
		b->mark |= (uint64_t)((c & MARK) >> 2) << i;
	}
}

#ifdef __SSE2__
/* Bytes in [lo, lo + span] as 0xff, others 0. */
static __m128i in_range(__m128i v, char lo, char span)
{
	__m128i t = _mm_sub_epi8(v, _mm_set1_epi8(lo)), top = _mm_set1_epi8(span);

	return _mm_cmpeq_epi8(_mm_min_epu8(t, top), t);
}

void sql_scan_block_simd(const unsigned char *p, unsigned chunks, struct sql_scan_block *b)
{
	b->word = b->high = b->mark = 0;
	for (unsigned k = 0; k < chunks; k++) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
		/* letters of either case, digits, '_', '$' */
		__m128i word = _mm_or_si128(
			_mm_or_si128(in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 25),
				     in_range(v, '0', 9)),
			_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('_')),
				     _mm_cmpeq_epi8(v, _mm_set1_epi8('$'))));
		__m128i mark = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_setzero_si128()),
							 _mm_cmpeq_epi8(v, _mm_set1_epi8(';'))),
					    _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('-')),
							 _mm_cmpeq_epi8(v, _mm_set1_epi8('/'))));
		uint64_t high = (uint16_t)_mm_movemask_epi8(v);

		b->high |= high << (16 * k);
		b->word |= ((uint16_t)_mm_movemask_epi8(word) | high) << (16 * k);
		b->mark |= (uint64_t)(uint16_t)_mm_movemask_epi8(mark) << (16 * k);
	}
}
#define scan_block sql_scan_block_simd
#else
#define scan_block sql_scan_block_portable
#endif

/* What the scan has found so far. */
struct scan_state {
	unsigned may;
	bool at_start; /* no word since the text's start or the last ';' */
	bool set_word, set_first, comment, nul;
	bool check_utf8; /* bytes >= 0x80 seen, or not every byte looked at */
};

/* The word of <n> bytes at <w>, <next> the byte after it (0 at the end). */
static void scan_word(struct scan_state *st, const unsigned char *w, size_t n, unsigned next)
{
	unsigned asks = word_asks(w, n);

	if (asks != 0) {
		st->may |= asks & ALL;
		if (asks & SET_AT_START) {
			st->set_word = true;
			st->set_first |= st->at_start;
		}
		/* U&"..." and U&'...' spell names with escapes the scan cannot read */
		if ((asks & U_AMP) && next == '&')
			st->may |= ALL;
	}
	st->at_start = false;
}

/* A NUL, ';', '-' or '/' with <next> the byte after it (0 at the end). */
static void scan_mark(struct scan_state *st, unsigned c, unsigned next)
{
	if (c == ';')
		st->at_start = true;
	else if (c == '\0')
		st->nul = true;
	else if (next == (c == '-' ? '-' : '*'))
		st->comment = true;
}

/*
 * One pass over the bytes, 64 at a time: where words start and end, and where the bytes the
 * scan looks closer at are, come from bit masks (SSE2 where there is one), and only those
 * places cost more. A word is a run of word bytes, as a keyword or a name (quoted or not)
 * is; a keyword can be neither quoted nor split by a comment. SET counts for SESSION where
 * no word came before it since the text's start or the last ';'. That errs towards parsing
 * (a ';' in a constant starts nothing for the server) unless a comment holds the words
 * around it, which the scan cannot tell: with a comment anywhere, the lexer decides instead.
 */
void pgw_sql_scan(const char *sql, size_t len, struct pgw_sql_scan *out)
{
	const unsigned char *s = (const unsigned char *)sql;
	struct scan_state st = {.at_start = true};
	size_t pos = 0;

	if (!tables_ready)
		tables_build();
	while (pos < len) {
		unsigned char pad[64];
		const unsigned char *blk = s + pos;
		struct sql_scan_block b;
		uint64_t events;
		size_t next_pos = pos + 64, rem = len - pos;
		unsigned chunks = 4;

		if (rem < 64) { /* spaces after the end: neither word nor mark */
			chunks = (unsigned)(rem + 15) / 16;
			memcpy(pad, blk, rem);
			memset(pad + rem, ' ', 16 * chunks - rem);
			blk = pad;
		}
		scan_block(blk, chunks, &b);
		st.check_utf8 |= b.high != 0;
		events = (b.word & ~(b.word << 1)) | b.mark;
		while (events != 0) {
			unsigned i = (unsigned)__builtin_ctzll(events);
			size_t at = pos + i, n;
			uint64_t rest;

			events &= events - 1;
			if (b.mark & (UINT64_C(1) << i)) {
				scan_mark(&st, s[at], at + 1 < len ? s[at + 1] : 0);
				continue;
			}
			rest = ~(b.word >> i); /* zeros are the word's bytes */
			n = rest != 0 ? (size_t)__builtin_ctzll(rest) : 64;
			if (at + n == pos + 64 && pos + 64 < len) {
				/* the word may go on: the next block starts with it, or a word
				 * longer than a block (never a keyword) is stepped over here */
				if (i > 0) {
					next_pos = at;
					break;
				}
				while (at + n < len && (byte_class[s[at + n]] & WORD))
					n++;
				st.check_utf8 = true; /* its bytes were not all looked at */
				st.at_start = false;
				next_pos = at + n;
				break;
			}
			scan_word(&st, s + at, n, at + n < len ? s[at + n] : 0);
		}
		pos = next_pos;
	}
	if (st.set_word && !(st.may & SESSION) &&
	    (st.comment ? sql_set_starts_statement(sql, len) : st.set_first))
		st.may |= SESSION;
	/* the exact place of a byte that is not UTF-8 comes from the full check */
	out->valid = st.check_utf8 || st.nul ? sql_utf8_check(sql, len) : len;
	out->comment = st.comment;
	out->may = st.may;
}

unsigned pgw_sql_prefilter(const char *sql, size_t len, unsigned want)
{
	struct pgw_sql_scan sc;

	pgw_sql_scan(sql, len, &sc);
	return sc.may & want;
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
