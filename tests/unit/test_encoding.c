/*
 * Client encodings: the server's names, its rules for where a character ends, and the UTF-8
 * the parser reads, whose ASCII must be exactly the ASCII the server reads. The random test
 * checks that against a second, table-driven reading of PostgreSQL 15's verifiers
 * (src/common/wchar.c); tests/integration/test_encoding_tables.py compares with the server.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pgward/encoding.h"
#include "pgward/sql.h"

struct conv {
	enum pgw_enc_result r;
	char *out;
	size_t len;
	struct pgw_enc_error err;
};

static struct conv conv(int client, int server, const char *in, size_t len)
{
	struct conv c;

	memset(&c, 0, sizeof(c));
	c.r = pgw_enc_to_utf8(client, server, in, len, &c.out, &c.len, &c.err);
	return c;
}

/* The text the parser reads: <in> itself for SAME. */
static const char *text_of(const struct conv *c, const char *in)
{
	return c->r == PGW_ENC_CONVERTED ? c->out : in;
}

static void test_names(void **state)
{
	static const struct {
		const char *name;
		int enc;
	} cases[] = {
		{"UTF8", PGW_ENC_UTF8},
		{"utf-8", PGW_ENC_UTF8},
		{"Unicode", PGW_ENC_UTF8},
		{"u t f 8 !", PGW_ENC_UTF8},
		{"utf8\xc3\xa9", PGW_ENC_UTF8}, /* non-ASCII is not alphanumeric to the server */
		{"ISO-8859-1", PGW_ENC_LATIN1},
		{"iso_8859_9", PGW_ENC_LATIN5},
		{"ISO8859-10", PGW_ENC_LATIN6},
		{"iso-8859-13", PGW_ENC_LATIN7},
		{"ISO_8859-14", PGW_ENC_LATIN8},
		{"iso8859_15", PGW_ENC_LATIN9},
		{"ISO-8859-16", PGW_ENC_LATIN10},
		{"ISO-8859-5", PGW_ENC_ISO_8859_5},
		{"latin10", PGW_ENC_LATIN10},
		{"ShiftJIS", PGW_ENC_SJIS},
		{"Shift_JIS", PGW_ENC_SJIS},
		{"MS_Kanji", PGW_ENC_SJIS},
		{"win932", PGW_ENC_SJIS},
		{"Windows-932", PGW_ENC_SJIS},
		{"SHIFT_JIS_2004", PGW_ENC_SHIFT_JIS_2004},
		{"euc-jis-2004", PGW_ENC_EUC_JIS_2004},
		{"EUC-JP", PGW_ENC_EUC_JP},
		{"euc_tw", PGW_ENC_EUC_TW},
		{"WIN", PGW_ENC_WIN1251},
		{"ALT", PGW_ENC_WIN866},
		{"windows-866", PGW_ENC_WIN866},
		{"win1252", PGW_ENC_WIN1252},
		{"Windows-1252", PGW_ENC_WIN1252},
		{"ABC", PGW_ENC_WIN1258},
		{"TCVN5712", PGW_ENC_WIN1258},
		{"tcvn", PGW_ENC_WIN1258},
		{"VSCII", PGW_ENC_WIN1258},
		{"KOI8", PGW_ENC_KOI8R},
		{"koi8-u", PGW_ENC_KOI8U},
		{"SQL_ASCII", PGW_ENC_SQL_ASCII},
		{"mule_internal", PGW_ENC_MULE_INTERNAL},
		{"win936", PGW_ENC_GBK},
		{"windows949", PGW_ENC_UHC},
		{"WIN950", PGW_ENC_BIG5},
		{"gb-18030", PGW_ENC_GB18030},
		{"Johab", PGW_ENC_JOHAB},
		/* unknown to the server */
		{"", -1},
		{"utf16", -1},
		{"latin11", -1},
		{"iso88511", -1},
		{"ascii", -1},
		{"cp1252", -1},
		{"euc-jp-ms", -1},
		{"utf8x", -1},
		{"---", -1},
	};
	char longname[80];

	(void)state;
	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++)
		if (pgw_enc_from_name(cases[i].name) != cases[i].enc)
			fail_msg("%s: %d, want %d", cases[i].name, pgw_enc_from_name(cases[i].name),
				 cases[i].enc);
	assert_int_equal(pgw_enc_from_name(NULL), -1);
	/* NAMEDATALEN: a name of 64 bytes or more is never looked up */
	memset(longname, '-', sizeof(longname));
	memcpy(longname, "utf8", 4);
	longname[63] = '\0';
	assert_int_equal(pgw_enc_from_name(longname), PGW_ENC_UTF8);
	longname[63] = '-';
	longname[64] = '\0';
	assert_int_equal(pgw_enc_from_name(longname), -1);

	for (int e = 0; e < PGW_ENC__COUNT; e++)
		assert_int_equal(pgw_enc_from_name(pgw_enc_name(e)), e);
	assert_string_equal(pgw_enc_name(PGW_ENC_UTF8), "UTF8");
	assert_string_equal(pgw_enc_name(PGW_ENC_SHIFT_JIS_2004), "SHIFT_JIS_2004");
	assert_string_equal(pgw_enc_name(PGW_ENC_ISO_8859_5), "ISO_8859_5");
	assert_string_equal(pgw_enc_name(-1), "");
	assert_string_equal(pgw_enc_name(PGW_ENC__COUNT), "");

	assert_true(pgw_enc_is_server_encoding(PGW_ENC_SQL_ASCII));
	assert_true(pgw_enc_is_server_encoding(PGW_ENC_UTF8));
	assert_true(pgw_enc_is_server_encoding(PGW_ENC_MULE_INTERNAL));
	assert_true(pgw_enc_is_server_encoding(PGW_ENC_KOI8U));
	assert_false(pgw_enc_is_server_encoding(PGW_ENC_SJIS));
	assert_false(pgw_enc_is_server_encoding(PGW_ENC_SHIFT_JIS_2004));
	assert_false(pgw_enc_is_server_encoding(-1));
	assert_false(pgw_enc_is_server_encoding(PGW_ENC__COUNT));
}

static void test_sjis_backslash_trail(void **state)
{
	/* 0x95 0x5c is U+8868; the server reads no backslash, so no quote is escaped */
	static const char in[] = "SELECT E'\x95\x5c', 1 -- '";
	struct conv c = conv(PGW_ENC_SJIS, PGW_ENC_UTF8, in, sizeof(in) - 1);

	(void)state;
	assert_int_equal(c.r, PGW_ENC_CONVERTED);
	assert_int_equal(c.len, strlen(c.out));
	assert_string_equal(c.out, "SELECT E'\xe8\xa1\xa8', 1 -- '");
	assert_null(strchr(c.out, '\\'));
	free(c.out);

	/* the same bytes in EUC_JP are invalid, and the server says where */
	c = conv(PGW_ENC_EUC_JP, PGW_ENC_UTF8, in, sizeof(in) - 1);
	assert_int_equal(c.r, PGW_ENC_INVALID);
	assert_null(c.out);
	assert_string_equal(c.err.sqlstate, "22021");
	assert_string_equal(c.err.message,
			    "invalid byte sequence for encoding \"EUC_JP\": 0x95 0x5c");
}

static void test_shift_jis_2004_reads_ascii_where_the_server_does(void **state)
{
	/* PostgreSQL's SHIFT_JIS_2004 map turns 0x815f into a backslash, 0x81b0 into '~' */
	static const char in[] = "SELECT E'\x81\x5f', '\x81\xb0'";
	struct conv c = conv(PGW_ENC_SHIFT_JIS_2004, PGW_ENC_UTF8, in, sizeof(in) - 1);

	(void)state;
	assert_int_equal(c.r, PGW_ENC_CONVERTED);
	assert_string_equal(c.out, "SELECT E'\\', '~'");
	free(c.out);
	/* into an EUC_JIS_2004 database the server converts them by arithmetic: no ASCII */
	c = conv(PGW_ENC_SHIFT_JIS_2004, PGW_ENC_EUC_JIS_2004, in, sizeof(in) - 1);
	assert_int_equal(c.r, PGW_ENC_CONVERTED);
	assert_string_equal(c.out, "SELECT E'\xef\xbc\xbc', '\xef\xbd\x9e'");
	free(c.out);
	/* in SJIS, 0x815f is the fullwidth form; 0x81b0 is unassigned (the server: 22P05) */
	c = conv(PGW_ENC_SJIS, PGW_ENC_UTF8, in, sizeof(in) - 1);
	assert_int_equal(c.r, PGW_ENC_CONVERTED);
	assert_string_equal(c.out, "SELECT E'\xef\xbc\xbc', '\xef\xbf\xbd'");
	free(c.out);
}

static void test_invalid_messages(void **state)
{
	static const struct {
		int enc;
		const char *in;
		size_t len;
		const char *msg;
	} cases[] = {
		{PGW_ENC_SJIS, "SELECT 1\x95", 9, "\"SJIS\": 0x95"},
		{PGW_ENC_SJIS, "SELECT '\x95 '", 11, "\"SJIS\": 0x95 0x20"},
		{PGW_ENC_SJIS, "\xa0\x41", 2, "\"SJIS\": 0xa0 0x41"},
		{PGW_ENC_SJIS, "\xfd", 1, "\"SJIS\": 0xfd"},
		{PGW_ENC_SJIS, "a\0b", 3, "\"SJIS\": 0x00"},
		{PGW_ENC_BIG5, "\x8d\x20", 2, "\"BIG5\": 0x8d 0x20"},
		{PGW_ENC_GBK, "x\x8d\x20y", 4, "\"GBK\": 0x8d 0x20"},
		{PGW_ENC_UHC, "\x81\0", 2, "\"UHC\": 0x81 0x00"},
		{PGW_ENC_EUC_JP, "\x8e\xe0", 2, "\"EUC_JP\": 0x8e 0xe0"},
		{PGW_ENC_EUC_JP, "\x8f\xa1", 2, "\"EUC_JP\": 0x8f 0xa1"},
		{PGW_ENC_EUC_TW, "\x8e\xa8\xa1\xa1", 4, "\"EUC_TW\": 0x8e 0xa8 0xa1 0xa1"},
		{PGW_ENC_EUC_TW, "\x8f\xa1\xa1", 3, "\"EUC_TW\": 0x8f 0xa1 0xa1"},
		{PGW_ENC_JOHAB, "\x88\x61", 2, "\"JOHAB\": 0x88 0x61"},
		{PGW_ENC_GB18030, "\x81", 1, "\"GB18030\": 0x81"},
		{PGW_ENC_GB18030, "\x81\x30", 2, "\"GB18030\": 0x81 0x30"},
		{PGW_ENC_GB18030, "\x81\x30\x81", 3, "\"GB18030\": 0x81 0x30 0x81"},
		{PGW_ENC_GB18030, "\x81\x30\x20\x30", 4, "\"GB18030\": 0x81 0x30 0x20 0x30"},
		{PGW_ENC_GB18030, "\x80\x40", 2, "\"GB18030\": 0x80 0x40"},
		{PGW_ENC_LATIN1, "\xe9\0", 2, "\"LATIN1\": 0x00"},
		{PGW_ENC_MULE_INTERNAL, "\x92\xa4", 2, "\"MULE_INTERNAL\": 0x92 0xa4"},
		{PGW_ENC_UTF8, "\xc0\xaf", 2, "\"UTF8\": 0xc0 0xaf"},
		{PGW_ENC_UTF8, "ab\xe0\x80\xaf", 5, "\"UTF8\": 0xe0 0x80 0xaf"},
		{PGW_ENC_UTF8, "\xed\xa0\x80", 3, "\"UTF8\": 0xed 0xa0 0x80"},
		{PGW_ENC_UTF8, "\xf4\x90\x80\x80", 4, "\"UTF8\": 0xf4 0x90 0x80 0x80"},
		{PGW_ENC_UTF8, "\xf5\x80", 2, "\"UTF8\": 0xf5 0x80"},
		{PGW_ENC_UTF8, "\x80", 1, "\"UTF8\": 0x80"},
		{PGW_ENC_UTF8, "\xe9t\xc3\xa9", 4, "\"UTF8\": 0xe9 0x74 0xc3"},
	};
	char want[200];

	(void)state;
	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		struct conv c = conv(cases[i].enc, PGW_ENC_UTF8, cases[i].in, cases[i].len);

		snprintf(want, sizeof(want), "invalid byte sequence for encoding %s", cases[i].msg);
		if (c.r != PGW_ENC_INVALID || strcmp(c.err.message, want) != 0)
			fail_msg("case %zu: result %d, \"%s\", want \"%s\"", i, c.r,
				 c.r == PGW_ENC_INVALID ? c.err.message : "", want);
		assert_string_equal(c.err.sqlstate, "22021");
		assert_null(c.out);
		assert_int_equal(c.len, 0);
	}
	/* a NULL error is fine */
	assert_int_equal(pgw_enc_to_utf8(PGW_ENC_SJIS, PGW_ENC_UTF8, "\x95", 1, &(char *){NULL},
					 &(size_t){0}, NULL),
			 PGW_ENC_INVALID);
}

/* A valid non-ASCII character in each encoding (single-byte ones: any high byte). */
static const char *sample_char(int enc)
{
	switch (enc) {
	case PGW_ENC_EUC_JP:
	case PGW_ENC_EUC_JIS_2004:
		return "\xa4\xa2";
	case PGW_ENC_EUC_CN:
	case PGW_ENC_EUC_KR:
	case PGW_ENC_GBK:
	case PGW_ENC_UHC:
	case PGW_ENC_GB18030:
		return "\xb0\xa1";
	case PGW_ENC_EUC_TW:
		return "\xc4\xa1";
	case PGW_ENC_UTF8:
		return "\xc3\xa9";
	case PGW_ENC_MULE_INTERNAL:
		return "\x81\xe9";
	case PGW_ENC_SJIS:
	case PGW_ENC_SHIFT_JIS_2004:
		return "\x82\xa0";
	case PGW_ENC_BIG5:
		return "\xa4\x40";
	case PGW_ENC_JOHAB:
		return "\x88\xa1";
	default:
		return "\xe0";
	}
}

static void test_ascii_is_kept_in_every_encoding(void **state)
{
	char ascii[127], in[140];

	(void)state;
	for (int i = 0; i < 127; i++)
		ascii[i] = (char)(i + 1);
	for (int enc = 0; enc < PGW_ENC__COUNT; enc++) {
		const char *ch = sample_char(enc);
		size_t n = strlen(ch);
		/* a SQL_ASCII client's text is read in the database's encoding */
		int server = enc == PGW_ENC_SQL_ASCII ? enc : PGW_ENC_UTF8;
		struct conv c = conv(enc, server, ascii, sizeof(ascii));

		if (c.r != PGW_ENC_SAME || c.len != sizeof(ascii))
			fail_msg("%s: ASCII not passed as it is (%d)", pgw_enc_name(enc), c.r);

		/* after a non-ASCII character, copied byte for byte */
		memcpy(in, ch, n);
		memcpy(in + n, ascii, sizeof(ascii));
		c = conv(enc, server, in, n + sizeof(ascii));
		if (enc == PGW_ENC_UTF8) {
			assert_int_equal(c.r, PGW_ENC_SAME);
			continue;
		}
		if (c.r != PGW_ENC_CONVERTED)
			fail_msg("%s: %d %s", pgw_enc_name(enc), c.r, c.err.message);
		assert_true(c.len > sizeof(ascii));
		assert_int_equal(c.out[c.len], '\0');
		assert_memory_equal(c.out + c.len - sizeof(ascii), ascii, sizeof(ascii));
		for (size_t i = 0; i < c.len - sizeof(ascii); i++)
			assert_true((unsigned char)c.out[i] >= 0x80);
		assert_true(pgw_sql_utf8_valid(c.out, c.len));
		free(c.out);

		/* the server's own encoding, read as such */
		if (pgw_enc_is_server_encoding(enc)) {
			c = conv(enc, enc, in, n + sizeof(ascii));
			assert_true(c.r == PGW_ENC_CONVERTED || enc == PGW_ENC_UTF8);
			free(c.out);
		}
	}
}

static void test_gb18030_four_bytes(void **state)
{
	static const struct {
		const char *in, *utf8;
	} cases[] = {
		{"\x81\x30\x81\x30", "\xc2\x80"},		      /* U+0080 */
		{"\x84\x31\xa4\x39", "\xef\xbf\xbf"},		      /* U+FFFF */
		{"\x90\x30\x81\x30", "\xf0\x90\x80\x80"},	      /* U+10000 */
		{"\x95\x32\x82\x36", "\xf0\xa0\x80\x80"},	      /* U+20000 */
		{"\xe3\x32\x9a\x35", "\xf4\x8f\xbf\xbf"},	      /* U+10FFFF */
		{"\x84\x31\x82\x36", "\xef\xb8\x90"},		      /* U+FE10, GB18030-2000 */
		{"\xa6\xd9", "\xee\x9e\x8d"},			      /* U+E78D, as the server */
		{"'\x81\x30\x81\x30'\\", "'\xc2\x80'\\"},	      /* quotes stay outside */
		{"\x81\x5c\x81\x30\x81\x30", "\xe4\xb9\x97\xc2\x80"}, /* 0x5c is a trail byte */
	};

	(void)state;
	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		struct conv c =
			conv(PGW_ENC_GB18030, PGW_ENC_UTF8, cases[i].in, strlen(cases[i].in));

		bool ok = c.r == PGW_ENC_CONVERTED && strcmp(c.out, cases[i].utf8) == 0;

		free(c.out);
		if (!ok)
			fail_msg("case %zu: %d", i, c.r);
	}
}

static void test_utf8_source(void **state)
{
	static const char ok[] = "SELECT '\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf'";
	struct conv c = conv(PGW_ENC_UTF8, PGW_ENC_UTF8, ok, sizeof(ok) - 1);

	(void)state;
	assert_int_equal(c.r, PGW_ENC_SAME);
	assert_null(c.out);
	assert_int_equal(c.len, sizeof(ok) - 1);
	/* SQL_ASCII clients are checked in the database's encoding */
	c = conv(PGW_ENC_SQL_ASCII, PGW_ENC_UTF8, ok, sizeof(ok) - 1);
	assert_int_equal(c.r, PGW_ENC_SAME);
	c = conv(PGW_ENC_SQL_ASCII, PGW_ENC_UTF8, "'\xc0\x80'", 4);
	assert_int_equal(c.r, PGW_ENC_INVALID);
	assert_string_equal(c.err.message,
			    "invalid byte sequence for encoding \"UTF8\": 0xc0 0x80");
	c = conv(PGW_ENC_UTF8, PGW_ENC_UTF8, "", 0);
	assert_int_equal(c.r, PGW_ENC_SAME);
	assert_int_equal(c.len, 0);
}

static void test_sql_ascii_database(void **state)
{
	struct conv c;

	(void)state;
	/* client-only encodings: nothing but ASCII passes (pg_any_to_server) */
	c = conv(PGW_ENC_SJIS, PGW_ENC_SQL_ASCII, "SELECT 1", 8);
	assert_int_equal(c.r, PGW_ENC_SAME);
	c = conv(PGW_ENC_SJIS, PGW_ENC_SQL_ASCII, "SELECT '\x95\x5c'", 11);
	assert_int_equal(c.r, PGW_ENC_INVALID);
	assert_string_equal(c.err.sqlstate, "22021");
	assert_string_equal(c.err.message, "invalid byte value for encoding \"SQL_ASCII\": 0x95");
	c = conv(PGW_ENC_GB18030, PGW_ENC_SQL_ASCII, "x\0", 2);
	assert_int_equal(c.r, PGW_ENC_INVALID);
	assert_string_equal(c.err.message, "invalid byte value for encoding \"SQL_ASCII\": 0x00");

	/* server encodings: checked and read in the client's */
	c = conv(PGW_ENC_EUC_JP, PGW_ENC_SQL_ASCII, "'\x95\x5c'", 4);
	assert_int_equal(c.r, PGW_ENC_INVALID);
	assert_string_equal(c.err.message,
			    "invalid byte sequence for encoding \"EUC_JP\": 0x95 0x5c");
	c = conv(PGW_ENC_LATIN1, PGW_ENC_SQL_ASCII, "'\xe9'", 3);
	assert_int_equal(c.r, PGW_ENC_CONVERTED);
	assert_string_equal(c.out, "'\xc3\xa9'");
	free(c.out);
	c = conv(PGW_ENC_UTF8, PGW_ENC_SQL_ASCII, "'\xc3\xa9'", 4);
	assert_int_equal(c.r, PGW_ENC_SAME);
	c = conv(PGW_ENC_UTF8, PGW_ENC_SQL_ASCII, "'\xff'", 3);
	assert_int_equal(c.r, PGW_ENC_INVALID);
	assert_string_equal(c.err.message, "invalid byte sequence for encoding \"UTF8\": 0xff");

	/* SQL_ASCII to SQL_ASCII: any byte but NUL, each high one a distinct non-ASCII char */
	char all[255];
	for (int i = 0; i < 255; i++)
		all[i] = (char)(i + 1);
	c = conv(PGW_ENC_SQL_ASCII, PGW_ENC_SQL_ASCII, all, sizeof(all));
	assert_int_equal(c.r, PGW_ENC_CONVERTED);
	assert_true(pgw_sql_utf8_valid(c.out, c.len));
	assert_int_equal(c.len, 127 + 128 * 2);
	assert_memory_equal(c.out, all, 127);
	for (int i = 0; i < 128; i++) {
		const unsigned char *p = (const unsigned char *)c.out + 127 + 2 * i;

		assert_int_equal(((p[0] & 0x1f) << 6 | (p[1] & 0x3f)), 0x80 + i);
	}
	free(c.out);
	c = conv(PGW_ENC_SQL_ASCII, PGW_ENC_SQL_ASCII, "a\0", 2);
	assert_int_equal(c.r, PGW_ENC_INVALID);
	assert_string_equal(c.err.message,
			    "invalid byte sequence for encoding \"SQL_ASCII\": 0x00");
}

static void test_single_byte_tables(void **state)
{
	struct conv c;

	(void)state;
	c = conv(PGW_ENC_WIN1252, PGW_ENC_UTF8, "\x80\x81\xe9", 3);
	assert_int_equal(c.r, PGW_ENC_CONVERTED);
	/* euro sign; 0x81 is undefined (the server: 22P05), so U+FFFD; e-acute */
	assert_string_equal(c.out, "\xe2\x82\xac\xef\xbf\xbd\xc3\xa9");
	free(c.out);
	c = conv(PGW_ENC_KOI8R, PGW_ENC_UTF8, "\xc1", 1);
	assert_int_equal(c.r, PGW_ENC_CONVERTED);
	assert_string_equal(c.out, "\xd0\xb0"); /* Cyrillic a */
	free(c.out);
	/* WIN1258: no composition across characters, as in the server */
	c = conv(PGW_ENC_WIN1258, PGW_ENC_UTF8, "a\xec", 2);
	assert_int_equal(c.r, PGW_ENC_CONVERTED);
	assert_string_equal(c.out, "a\xcc\x81");
	free(c.out);
	c = conv(PGW_ENC_LATIN5, PGW_ENC_LATIN5, "\xfd", 1);
	assert_int_equal(c.r, PGW_ENC_CONVERTED);
	assert_string_equal(c.out, "\xc4\xb1"); /* dotless i: LATIN5 is ISO-8859-9 */
	free(c.out);
}

static void test_bad_encoding_numbers(void **state)
{
	struct conv c = conv(-1, PGW_ENC_UTF8, "x", 1);

	(void)state;
	assert_int_equal(c.r, PGW_ENC_INVALID);
	assert_string_equal(c.err.sqlstate, "22023");
	c = conv(PGW_ENC_UTF8, PGW_ENC__COUNT, "x", 1);
	assert_int_equal(c.r, PGW_ENC_INVALID);
}

/* ---- the random test: a second reading of the server's rules, as tables ---- */

/* A byte range; lo > hi never matches. */
struct span {
	unsigned char lo, hi;
};

/* A character starting with a byte in <lead>: <len> bytes, each next one in <next>. */
struct shape {
	struct span lead;
	int len;
	struct span next[3];
	struct span next2; /* second range for the second byte (SJIS tails), or {1, 0} */
};

#define ANY                                                                                        \
	{                                                                                          \
		0x01, 0xff                                                                         \
	}
#define EUC                                                                                        \
	{                                                                                          \
		0xa1, 0xfe                                                                         \
	}
#define HIB                                                                                        \
	{                                                                                          \
		0x80, 0xff                                                                         \
	}
#define NONE                                                                                       \
	{                                                                                          \
		1, 0                                                                               \
	}

/* clang-format off */
static const struct shape eucjp[] = {
	{{0x8e, 0x8e}, 2, {{0xa1, 0xdf}}, NONE}, {{0x8f, 0x8f}, 3, {EUC, EUC}, NONE},
	{{0xa1, 0xfe}, 2, {EUC}, NONE}, {NONE, 0, {NONE}, NONE}};
static const struct shape euckr[] = {{{0xa1, 0xfe}, 2, {EUC}, NONE}, {NONE, 0, {NONE}, NONE}};
static const struct shape euctw[] = {
	{{0x8e, 0x8e}, 4, {{0xa1, 0xa7}, EUC, EUC}, NONE}, {{0x80, 0x8d}, 2, {EUC}, NONE},
	{{0x90, 0xff}, 2, {EUC}, NONE}, {NONE, 0, {NONE}, NONE}};
static const struct shape johab[] = {
	{{0x8e, 0x8e}, 2, {EUC}, NONE}, {{0x8f, 0x8f}, 3, {EUC, EUC}, NONE},
	{{0x80, 0xff}, 2, {EUC}, NONE}, {NONE, 0, {NONE}, NONE}};
static const struct shape mule[] = {
	{{0x81, 0x8d}, 2, {HIB}, NONE}, {{0x90, 0x9b}, 3, {HIB, HIB}, NONE},
	{{0x9c, 0x9d}, 4, {HIB, HIB, HIB}, NONE}, {{0x80, 0xff}, 1, {NONE}, NONE},
	{NONE, 0, {NONE}, NONE}};
static const struct shape sjis[] = {
	{{0xa1, 0xdf}, 1, {NONE}, NONE}, {{0x81, 0x9f}, 2, {{0x40, 0x7e}}, {0x80, 0xfc}},
	{{0xe0, 0xfc}, 2, {{0x40, 0x7e}}, {0x80, 0xfc}}, {NONE, 0, {NONE}, NONE}};
static const struct shape two_any[] = {{{0x80, 0xff}, 2, {ANY}, NONE}, {NONE, 0, {NONE}, NONE}};
/* clang-format on */

static bool in_span(struct span s, unsigned char c)
{
	return c >= s.lo && c <= s.hi;
}

/* UTF-8 the long way: decode, then refuse what RFC 3629 refuses. */
static int ref_utf8(const unsigned char *s, size_t left)
{
	int n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
	uint32_t cp = s[0] & (0x7f >> n);
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};

	if (n == 0 || s[0] >= 0xf8 || (size_t)n > left)
		return -1;
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	return n;
}

/* Length of the character at <s> (s[0] >= 0x80) per the server's verifier, or -1. */
static int ref_len(int enc, const unsigned char *s, size_t left)
{
	const struct shape *t;

	switch (enc) {
	case PGW_ENC_UTF8:
		return ref_utf8(s, left);
	case PGW_ENC_GB18030:
		if (left >= 4 && s[1] >= 0x30 && s[1] <= 0x39)
			return s[0] >= 0x81 && s[0] <= 0xfe && s[2] >= 0x81 && s[2] <= 0xfe &&
					       s[3] >= 0x30 && s[3] <= 0x39
				       ? 4
				       : -1;
		return left >= 2 && s[0] >= 0x81 && s[0] <= 0xfe &&
				       ((s[1] >= 0x40 && s[1] <= 0x7e) ||
					(s[1] >= 0x80 && s[1] <= 0xfe))
			       ? 2
			       : -1;
	case PGW_ENC_EUC_JP:
	case PGW_ENC_EUC_JIS_2004:
		t = eucjp;
		break;
	case PGW_ENC_EUC_CN:
	case PGW_ENC_EUC_KR:
		t = euckr;
		break;
	case PGW_ENC_EUC_TW:
		t = euctw;
		break;
	case PGW_ENC_JOHAB:
		t = johab;
		break;
	case PGW_ENC_MULE_INTERNAL:
		t = mule;
		break;
	case PGW_ENC_SJIS:
	case PGW_ENC_SHIFT_JIS_2004:
		t = sjis;
		break;
	case PGW_ENC_BIG5:
	case PGW_ENC_GBK:
	case PGW_ENC_UHC:
		if (left >= 2 && s[0] == 0x8d && s[1] == 0x20)
			return -1;
		t = two_any;
		break;
	default:
		return 1;
	}
	for (; t->len; t++) {
		if (!in_span(t->lead, s[0]))
			continue;
		if ((size_t)t->len > left)
			return -1;
		for (int i = 1; i < t->len; i++)
			if (!in_span(t->next[i - 1], s[i]) && !(i == 1 && in_span(t->next2, s[1])))
				return -1;
		return t->len;
	}
	return -1;
}

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static unsigned char random_byte(void)
{
	static const char interesting[] = "'\\\";-/*$ \n0Aa@[`{~";
	uint32_t r = next_random() % 100;

	if (r < 1)
		return 0;
	if (r < 25)
		return (unsigned char)interesting[next_random() % (sizeof(interesting) - 1)];
	if (r < 35)
		return (unsigned char)(0x30 + next_random() % 10);
	if (r < 45)
		return (unsigned char)(0xa1 + next_random() % 94);
	if (r < 50)
		return (unsigned char)(0x80 + next_random() % 64);
	return (unsigned char)(0x80 | next_random());
}

/* The ASCII the server's parser reads in <s>, or -1 if the server refuses <s>. */
static long ref_ascii(int enc, const unsigned char *s, size_t len, char *ascii)
{
	long n = 0;

	for (size_t i = 0; i < len;) {
		int l;

		if (s[i] == 0)
			return -1;
		if (s[i] < 0x80) {
			ascii[n++] = (char)s[i++];
			continue;
		}
		if ((l = ref_len(enc, s + i, len - i)) < 0)
			return -1;
		/* the server's SHIFT_JIS_2004 map: two characters that become ASCII */
		if (enc == PGW_ENC_SHIFT_JIS_2004 && l == 2 && s[i] == 0x81 &&
		    (s[i + 1] == 0x5f || s[i + 1] == 0xb0))
			ascii[n++] = s[i + 1] == 0x5f ? '\\' : '~';
		i += (size_t)l;
	}
	return n;
}

static void test_random_texts_keep_the_servers_ascii(void **state)
{
	unsigned char in[48];
	char want[48], got[200];

	(void)state;
	for (int enc = 0; enc < PGW_ENC__COUNT; enc++) {
		/* a SQL_ASCII client's text is read in the database's encoding */
		int server = pgw_enc_is_server_encoding(enc) ? enc : PGW_ENC_UTF8;
		unsigned converted = 0, refused = 0;

		for (int round = 0; round < 4000; round++) {
			size_t len = next_random() % (round < 2000 ? 6 : sizeof(in));
			struct conv c;
			long nwant;
			size_t ngot = 0;
			const char *text;

			for (size_t i = 0; i < len; i++)
				in[i] = random_byte();
			nwant = ref_ascii(enc, in, len, want);
			c = conv(enc, round % 2 || enc == PGW_ENC_SQL_ASCII ? server : PGW_ENC_UTF8,
				 (const char *)in, len);
			if (nwant < 0) {
				if (c.r != PGW_ENC_INVALID || strcmp(c.err.sqlstate, "22021") != 0)
					fail_msg("%s round %d: %d, the server refuses it",
						 pgw_enc_name(enc), round, c.r);
				refused++;
				continue;
			}
			if (c.r != PGW_ENC_SAME && c.r != PGW_ENC_CONVERTED)
				fail_msg("%s round %d: %d %s", pgw_enc_name(enc), round, c.r,
					 c.err.message);
			converted += c.r == PGW_ENC_CONVERTED;
			text = text_of(&c, (const char *)in);
			assert_true(pgw_sql_utf8_valid(text, c.len));
			for (size_t i = 0; i < c.len; i++)
				if ((unsigned char)text[i] < 0x80)
					got[ngot++] = text[i];
			if (ngot != (size_t)nwant || memcmp(got, want, ngot) != 0)
				fail_msg("%s round %d: the ASCII is not the server's",
					 pgw_enc_name(enc), round);
			free(c.out);
		}
		/* both sides of the test were exercised */
		if (refused < 100 || (enc != PGW_ENC_UTF8 && converted < 100))
			fail_msg("%s: %u converted, %u refused", pgw_enc_name(enc), converted,
				 refused);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_sjis_backslash_trail),
		cmocka_unit_test(test_shift_jis_2004_reads_ascii_where_the_server_does),
		cmocka_unit_test(test_invalid_messages),
		cmocka_unit_test(test_ascii_is_kept_in_every_encoding),
		cmocka_unit_test(test_gb18030_four_bytes),
		cmocka_unit_test(test_utf8_source),
		cmocka_unit_test(test_sql_ascii_database),
		cmocka_unit_test(test_single_byte_tables),
		cmocka_unit_test(test_bad_encoding_numbers),
		cmocka_unit_test(test_random_texts_keep_the_servers_ascii),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
