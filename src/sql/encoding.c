/*
 * A client's SQL text read as PostgreSQL 15 reads it: the server's names for encodings, its
 * rules for where a character ends (src/common/wchar.c), and the text in UTF-8 for the parser.
 * It must never change the text's ASCII: every byte the server reads as an ASCII character is
 * copied, and every other character becomes non-ASCII UTF-8 (U+FFFD when nothing better is
 * known), except the two SHIFT_JIS_2004 characters the server itself converts to ASCII.
 */
#include "sql-int.h"
#include "pgward/encoding.h"

#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIGH(c)	     ((c) >= 0x80)
#define EUC_BYTE(c)  ((c) >= 0xa1 && (c) <= 0xfe)
#define SJIS_HEAD(c) (((c) >= 0x81 && (c) <= 0x9f) || ((c) >= 0xe0 && (c) <= 0xfc))
#define SJIS_TAIL(c) (((c) >= 0x40 && (c) <= 0x7e) || ((c) >= 0x80 && (c) <= 0xfc))
#define SS2	     0x8e
#define SS3	     0x8f
#define NAME_MAX_LEN 64 /* NAMEDATALEN: a longer name is "certainly not in the table" */
#define CHAR_OUT_MAX 16 /* UTF-8 bytes one character may become (JIS X 0213: two code points) */

static const unsigned char replacement[] = {0xef, 0xbf, 0xbd}; /* U+FFFD */

/* ---- names: pg_encname_tbl of src/common/encnames.c, sorted for bsearch ---- */

struct alias {
	const char *name; /* lower case, alphanumerics only */
	int enc;
};

/* clang-format off */
static const struct alias aliases[] = {
	{"abc", PGW_ENC_WIN1258}, {"alt", PGW_ENC_WIN866}, {"big5", PGW_ENC_BIG5},
	{"euccn", PGW_ENC_EUC_CN}, {"eucjis2004", PGW_ENC_EUC_JIS_2004},
	{"eucjp", PGW_ENC_EUC_JP}, {"euckr", PGW_ENC_EUC_KR}, {"euctw", PGW_ENC_EUC_TW},
	{"gb18030", PGW_ENC_GB18030}, {"gbk", PGW_ENC_GBK}, {"iso88591", PGW_ENC_LATIN1},
	{"iso885910", PGW_ENC_LATIN6}, {"iso885913", PGW_ENC_LATIN7},
	{"iso885914", PGW_ENC_LATIN8}, {"iso885915", PGW_ENC_LATIN9},
	{"iso885916", PGW_ENC_LATIN10}, {"iso88592", PGW_ENC_LATIN2},
	{"iso88593", PGW_ENC_LATIN3}, {"iso88594", PGW_ENC_LATIN4},
	{"iso88595", PGW_ENC_ISO_8859_5}, {"iso88596", PGW_ENC_ISO_8859_6},
	{"iso88597", PGW_ENC_ISO_8859_7}, {"iso88598", PGW_ENC_ISO_8859_8},
	{"iso88599", PGW_ENC_LATIN5}, {"johab", PGW_ENC_JOHAB}, {"koi8", PGW_ENC_KOI8R},
	{"koi8r", PGW_ENC_KOI8R}, {"koi8u", PGW_ENC_KOI8U}, {"latin1", PGW_ENC_LATIN1},
	{"latin10", PGW_ENC_LATIN10}, {"latin2", PGW_ENC_LATIN2}, {"latin3", PGW_ENC_LATIN3},
	{"latin4", PGW_ENC_LATIN4}, {"latin5", PGW_ENC_LATIN5}, {"latin6", PGW_ENC_LATIN6},
	{"latin7", PGW_ENC_LATIN7}, {"latin8", PGW_ENC_LATIN8}, {"latin9", PGW_ENC_LATIN9},
	{"mskanji", PGW_ENC_SJIS}, {"muleinternal", PGW_ENC_MULE_INTERNAL},
	{"shiftjis", PGW_ENC_SJIS}, {"shiftjis2004", PGW_ENC_SHIFT_JIS_2004},
	{"sjis", PGW_ENC_SJIS}, {"sqlascii", PGW_ENC_SQL_ASCII}, {"tcvn", PGW_ENC_WIN1258},
	{"tcvn5712", PGW_ENC_WIN1258}, {"uhc", PGW_ENC_UHC}, {"unicode", PGW_ENC_UTF8},
	{"utf8", PGW_ENC_UTF8}, {"vscii", PGW_ENC_WIN1258}, {"win", PGW_ENC_WIN1251},
	{"win1250", PGW_ENC_WIN1250}, {"win1251", PGW_ENC_WIN1251},
	{"win1252", PGW_ENC_WIN1252}, {"win1253", PGW_ENC_WIN1253},
	{"win1254", PGW_ENC_WIN1254}, {"win1255", PGW_ENC_WIN1255},
	{"win1256", PGW_ENC_WIN1256}, {"win1257", PGW_ENC_WIN1257},
	{"win1258", PGW_ENC_WIN1258}, {"win866", PGW_ENC_WIN866}, {"win874", PGW_ENC_WIN874},
	{"win932", PGW_ENC_SJIS}, {"win936", PGW_ENC_GBK}, {"win949", PGW_ENC_UHC},
	{"win950", PGW_ENC_BIG5}, {"windows1250", PGW_ENC_WIN1250},
	{"windows1251", PGW_ENC_WIN1251}, {"windows1252", PGW_ENC_WIN1252},
	{"windows1253", PGW_ENC_WIN1253}, {"windows1254", PGW_ENC_WIN1254},
	{"windows1255", PGW_ENC_WIN1255}, {"windows1256", PGW_ENC_WIN1256},
	{"windows1257", PGW_ENC_WIN1257}, {"windows1258", PGW_ENC_WIN1258},
	{"windows866", PGW_ENC_WIN866}, {"windows874", PGW_ENC_WIN874},
	{"windows932", PGW_ENC_SJIS}, {"windows936", PGW_ENC_GBK},
	{"windows949", PGW_ENC_UHC}, {"windows950", PGW_ENC_BIG5},
};
/* clang-format on */

static int alias_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct alias *)elem)->name);
}

int pgw_enc_from_name(const char *name)
{
	char key[NAME_MAX_LEN];
	const struct alias *a;
	size_t n = 0;

	if (name == NULL || *name == '\0' || strlen(name) >= NAME_MAX_LEN)
		return -1;
	/* clean_encoding_name(): isalnum() in the C locale, so ASCII only */
	for (const char *p = name; *p; p++) {
		char c = *p;

		if (c >= 'A' && c <= 'Z')
			key[n++] = (char)(c - 'A' + 'a');
		else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			key[n++] = c;
	}
	key[n] = '\0';
	a = bsearch(key, aliases, PGW_ARRAY_LEN(aliases), sizeof(aliases[0]), alias_cmp);
	return a ? a->enc : -1;
}

/* ---- one character: PostgreSQL's verifychar rules, for a first byte >= 0x80 ---- */

/* The length of the valid character at <s> (<len> bytes left, s[0] >= 0x80), or -1. */
typedef int verify_fn(const unsigned char *s, size_t len);

static int verify_eucjp(const unsigned char *s, size_t len)
{
	switch (s[0]) {
	case SS2: /* JIS X 0201 kana */
		return len >= 2 && s[1] >= 0xa1 && s[1] <= 0xdf ? 2 : -1;
	case SS3: /* JIS X 0212 */
		return len >= 3 && EUC_BYTE(s[1]) && EUC_BYTE(s[2]) ? 3 : -1;
	default: /* JIS X 0208 */
		return len >= 2 && EUC_BYTE(s[0]) && EUC_BYTE(s[1]) ? 2 : -1;
	}
}

/* EUC_KR and EUC_CN */
static int verify_euckr(const unsigned char *s, size_t len)
{
	return len >= 2 && EUC_BYTE(s[0]) && EUC_BYTE(s[1]) ? 2 : -1;
}

static int verify_euctw(const unsigned char *s, size_t len)
{
	switch (s[0]) {
	case SS2: /* CNS 11643 planes 1-7 */
		return len >= 4 && s[1] >= 0xa1 && s[1] <= 0xa7 && EUC_BYTE(s[2]) && EUC_BYTE(s[3])
			       ? 4
			       : -1;
	case SS3:
		return -1;
	default: /* plane 1: no range check on the first byte, as in the server */
		return len >= 2 && EUC_BYTE(s[1]) ? 2 : -1;
	}
}

/* pg_euc_mblen() */
static size_t euc_len(unsigned char c)
{
	return c == SS2 ? 2 : c == SS3 ? 3 : 2;
}

/* The server gives JOHAB EUC's lengths and wants EUC bytes after the first. */
static int verify_johab(const unsigned char *s, size_t len)
{
	size_t l = euc_len(s[0]);

	if (len < l)
		return -1;
	for (size_t i = 1; i < l; i++)
		if (!EUC_BYTE(s[i]))
			return -1;
	return (int)l;
}

/* pg_mule_mblen(): LC1 (0x81-0x8d) 2, LCPRV1 (0x9a-0x9b) 3, LC2 (0x90-0x99) 3, LCPRV2 4 */
static size_t mule_len(unsigned char c)
{
	if (c >= 0x81 && c <= 0x8d)
		return 2;
	if (c == 0x9a || c == 0x9b || (c >= 0x90 && c <= 0x99))
		return 3;
	if (c == 0x9c || c == 0x9d)
		return 4;
	return 1;
}

static int verify_mule(const unsigned char *s, size_t len)
{
	size_t l = mule_len(s[0]);

	if (len < l)
		return -1;
	for (size_t i = 1; i < l; i++)
		if (!HIGH(s[i]))
			return -1;
	return (int)l;
}

/* SJIS and SHIFT_JIS_2004: 0xa1-0xdf are one-byte kana */
static int verify_sjis(const unsigned char *s, size_t len)
{
	if (s[0] >= 0xa1 && s[0] <= 0xdf)
		return 1;
	return len >= 2 && SJIS_HEAD(s[0]) && SJIS_TAIL(s[1]) ? 2 : -1;
}

/* BIG5, GBK and UHC: any second byte but NUL; 0x8d 0x20 is refused since 15.11
 * (NONUTF8_INVALID_BYTE0/1, the pair libpq writes for an invalid character). */
static int verify_two_any(const unsigned char *s, size_t len)
{
	if (len < 2 || s[1] == 0 || (s[0] == 0x8d && s[1] == ' '))
		return -1;
	return 2;
}

static int verify_gb18030(const unsigned char *s, size_t len)
{
	if (len >= 4 && s[1] >= 0x30 && s[1] <= 0x39)
		return s[0] >= 0x81 && s[0] <= 0xfe && s[2] >= 0x81 && s[2] <= 0xfe &&
				       s[3] >= 0x30 && s[3] <= 0x39
			       ? 4
			       : -1;
	if (len >= 2 && s[0] >= 0x81 && s[0] <= 0xfe &&
	    ((s[1] >= 0x40 && s[1] <= 0x7e) || (s[1] >= 0x80 && s[1] <= 0xfe)))
		return 2;
	return -1;
}

/* ---- where glibc's maps are not the server's ---- */

/*
 * Characters the server converts other than glibc does (PostgreSQL 15's conversion maps,
 * src/backend/utils/mb/Unicode), as tests/integration/test_encoding_tables.py finds them by
 * comparing every one- and two-byte character and samples of the longer ones with the
 * server's convert_from(). A range maps in order: <first> to <ucs>, <first> + 1 to
 * <ucs> + 1, ... Sorted by <first>.
 */
struct remap {
	uint32_t first, last; /* the character's bytes, big-endian */
	uint32_t ucs;
};

/* The server's BIG5 is Unicode's BIG5.TXT plus the ETEN rows 0xc6a1-0xc7fc (kana,
 * Cyrillic, circled numbers), which glibc puts in the private use area; BIG5.TXT's
 * undefined codes become U+FFFD in the server, as here. */
static const struct remap big5_remap[] = {
	{0xa145, 0xa145, 0x2022}, {0xa14e, 0xa14e, 0xff64}, {0xa15a, 0xa15a, 0xfffd},
	{0xa1c2, 0xa1c2, 0x203e}, {0xa1c3, 0xa1c3, 0xfffd}, {0xa1c5, 0xa1c5, 0xfffd},
	{0xa1e3, 0xa1e3, 0x223c}, {0xa1f2, 0xa1f2, 0x2641}, {0xa1f3, 0xa1f3, 0x2609},
	{0xa1fe, 0xa1fe, 0xfffd}, {0xa240, 0xa240, 0xfffd}, {0xa241, 0xa241, 0xff0f},
	{0xa242, 0xa242, 0xff3c}, {0xa244, 0xa244, 0x00a5}, {0xa246, 0xa247, 0x00a2},
	{0xa2cc, 0xa2cc, 0xfffd}, {0xa2ce, 0xa2ce, 0xfffd}, {0xc6a1, 0xc6a1, 0x30fe},
	{0xc6a2, 0xc6a3, 0x309d}, {0xc6a4, 0xc6a4, 0x3005}, {0xc6a5, 0xc6f7, 0x3041},
	{0xc6f8, 0xc6fe, 0x30a1}, {0xc740, 0xc77e, 0x30a8}, {0xc7a1, 0xc7b0, 0x30e7},
	{0xc7b1, 0xc7b2, 0x0414}, {0xc7b3, 0xc7b3, 0x0401}, {0xc7b4, 0xc7ba, 0x0416},
	{0xc7bb, 0xc7cd, 0x0423}, {0xc7ce, 0xc7ce, 0x0451}, {0xc7cf, 0xc7e8, 0x0436},
	{0xc7e9, 0xc7f2, 0x2460}, {0xc7f3, 0xc7fc, 0x2474},
};

/* The server's UHC has U+327E (KS X 1001:2002) and the user-defined rows 0xc9 and 0xfe in
 * the private use area; glibc's CP949 has neither. */
static const struct remap uhc_remap[] = {
	{0xa2e8, 0xa2e8, 0x327e},
	{0xc9a1, 0xc9fe, 0xe000},
	{0xfea1, 0xfefe, 0xe05e},
};

/* The server follows GB18030-2000, glibc GB18030-2005: the vertical forms U+FE10-U+FE19,
 * U+1E3F and U+9FB4-U+9FBB trade places with the private use area. */
static const struct remap gb18030_remap[] = {
	{0xa6d9, 0xa6df, 0xe78d},	  {0xa6ec, 0xa6ed, 0xe794},
	{0xa6f3, 0xa6f3, 0xe796},	  {0xa8bc, 0xa8bc, 0xe7c7},
	{0xfe51, 0xfe53, 0xe816},	  {0xfe59, 0xfe59, 0xe81e},
	{0xfe61, 0xfe61, 0xe826},	  {0xfe66, 0xfe67, 0xe82b},
	{0xfe6c, 0xfe6d, 0xe831},	  {0xfe76, 0xfe76, 0xe83b},
	{0xfe7e, 0xfe7e, 0xe843},	  {0xfe90, 0xfe91, 0xe854},
	{0xfea0, 0xfea0, 0xe864},	  {0x8135f437, 0x8135f437, 0x1e3f},
	{0x82359037, 0x82359039, 0x9fb4}, {0x82359130, 0x82359134, 0x9fb7},
	{0x84318236, 0x84318239, 0xfe10}, {0x84318330, 0x84318335, 0xfe14},
};

/* OVERLINE and YEN SIGN in the server, their fullwidth forms in glibc. */
static const struct remap euc_jis_2004_remap[] = {
	{0xa1b1, 0xa1b1, 0x203e},
	{0xa1ef, 0xa1ef, 0x00a5},
};

/* ASCII on purpose: the server's SHIFT_JIS_2004 to UTF-8 map reads 0x815f as REVERSE
 * SOLIDUS and 0x81b0 as TILDE (glibc: their fullwidth forms), so a UTF8 database's parser
 * sees a backslash there, and so must ours. Its conversion to EUC_JIS_2004 is arithmetic
 * and keeps them two-byte characters (0xa1c0, 0xa2b2): convert() knows. */
static const struct remap shift_jis_2004_remap[] = {
	{0x815f, 0x815f, 0x005c},
	{0x81b0, 0x81b0, 0x007e},
};

/* ---- the encodings ---- */

enum kind {
	SINGLE, /* every byte is a character: pg_latin1_verifystr */
	MULTI,	/* ASCII, or a character <verify> delimits */
	UTF8,
};

struct enc_def {
	const char *name; /* pg_enc2name_tbl */
	enum kind kind;
	verify_fn *verify;   /* MULTI */
	const char *charset; /* glibc iconv's, chosen to match PostgreSQL's maps; NULL: U+FFFD */
	const struct remap *remap; /* MULTI: consulted before iconv */
	size_t nremap;
};

/* Designated, so that a new field needs no change to the rows that do not use it. */
/* clang-format off */
#define SB(n, cs)    {.name = n, .kind = SINGLE, .charset = cs}
#define MB(n, v, cs) {.name = n, .kind = MULTI, .verify = v, .charset = cs}
#define MB_REMAP(n, v, cs, t) \
	{.name = n, .kind = MULTI, .verify = v, .charset = cs, .remap = t, .nremap = PGW_ARRAY_LEN(t)}

static const struct enc_def encs[PGW_ENC__COUNT] = {
	[PGW_ENC_SQL_ASCII] = SB("SQL_ASCII", NULL),
	/* the server's EUC_JP has the NEC and IBM rows and CP932's choices (0xa1c1 is U+FF5E) */
	[PGW_ENC_EUC_JP] = MB("EUC_JP", verify_eucjp, "EUC-JP-MS"),
	[PGW_ENC_EUC_CN] = MB("EUC_CN", verify_euckr, "EUC-CN"),
	[PGW_ENC_EUC_KR] = MB("EUC_KR", verify_euckr, "EUC-KR"),
	[PGW_ENC_EUC_TW] = MB("EUC_TW", verify_euctw, "EUC-TW"),
	[PGW_ENC_EUC_JIS_2004] = MB_REMAP("EUC_JIS_2004", verify_eucjp, "EUC-JISX0213",
					  euc_jis_2004_remap),
	[PGW_ENC_UTF8] = {.name = "UTF8", .kind = UTF8},
	[PGW_ENC_MULE_INTERNAL] = MB("MULE_INTERNAL", verify_mule, NULL),
	[PGW_ENC_LATIN1] = SB("LATIN1", "ISO-8859-1"),
	[PGW_ENC_LATIN2] = SB("LATIN2", "ISO-8859-2"),
	[PGW_ENC_LATIN3] = SB("LATIN3", "ISO-8859-3"),
	[PGW_ENC_LATIN4] = SB("LATIN4", "ISO-8859-4"),
	[PGW_ENC_LATIN5] = SB("LATIN5", "ISO-8859-9"),
	[PGW_ENC_LATIN6] = SB("LATIN6", "ISO-8859-10"),
	[PGW_ENC_LATIN7] = SB("LATIN7", "ISO-8859-13"),
	[PGW_ENC_LATIN8] = SB("LATIN8", "ISO-8859-14"),
	[PGW_ENC_LATIN9] = SB("LATIN9", "ISO-8859-15"),
	[PGW_ENC_LATIN10] = SB("LATIN10", "ISO-8859-16"),
	[PGW_ENC_WIN1256] = SB("WIN1256", "CP1256"),
	[PGW_ENC_WIN1258] = SB("WIN1258", "CP1258"),
	[PGW_ENC_WIN866] = SB("WIN866", "CP866"),
	[PGW_ENC_WIN874] = SB("WIN874", "CP874"),
	[PGW_ENC_KOI8R] = SB("KOI8R", "KOI8-R"),
	[PGW_ENC_WIN1251] = SB("WIN1251", "CP1251"),
	[PGW_ENC_WIN1252] = SB("WIN1252", "CP1252"),
	[PGW_ENC_ISO_8859_5] = SB("ISO_8859_5", "ISO-8859-5"),
	[PGW_ENC_ISO_8859_6] = SB("ISO_8859_6", "ISO-8859-6"),
	[PGW_ENC_ISO_8859_7] = SB("ISO_8859_7", "ISO-8859-7"),
	[PGW_ENC_ISO_8859_8] = SB("ISO_8859_8", "ISO-8859-8"),
	[PGW_ENC_WIN1250] = SB("WIN1250", "CP1250"),
	[PGW_ENC_WIN1253] = SB("WIN1253", "CP1253"),
	[PGW_ENC_WIN1254] = SB("WIN1254", "CP1254"),
	[PGW_ENC_WIN1255] = SB("WIN1255", "CP1255"),
	[PGW_ENC_WIN1257] = SB("WIN1257", "CP1257"),
	[PGW_ENC_KOI8U] = SB("KOI8U", "KOI8-U"),
	/* glibc's "SJIS" reads 0x5c as YEN SIGN; the server's map has CP932's extensions */
	[PGW_ENC_SJIS] = MB("SJIS", verify_sjis, "CP932"),
	[PGW_ENC_BIG5] = MB_REMAP("BIG5", verify_two_any, "BIG5", big5_remap),
	[PGW_ENC_GBK] = MB("GBK", verify_two_any, "CP936"),
	[PGW_ENC_UHC] = MB_REMAP("UHC", verify_two_any, "CP949", uhc_remap),
	[PGW_ENC_GB18030] = MB_REMAP("GB18030", verify_gb18030, "GB18030", gb18030_remap),
	[PGW_ENC_JOHAB] = MB("JOHAB", verify_johab, "JOHAB"),
	[PGW_ENC_SHIFT_JIS_2004] = MB_REMAP("SHIFT_JIS_2004", verify_sjis, "SHIFT_JISX0213",
					    shift_jis_2004_remap),
};
/* clang-format on */

static bool valid_enc(int enc)
{
	return enc >= 0 && enc < PGW_ENC__COUNT;
}

const char *pgw_enc_name(int enc)
{
	return valid_enc(enc) ? encs[enc].name : "";
}

bool pgw_enc_is_server_encoding(int enc)
{
	return enc >= 0 && enc < PGW_ENC_SJIS;
}

/* PostgreSQL 15's pg_encoding_mblen_or_incomplete(): how many bytes an error message shows,
 * before the server caps it at what is left (and at 8). */
static size_t report_len(int enc, const unsigned char *s, size_t left)
{
	unsigned char c = s[0];

	if (!HIGH(c))
		return 1;
	switch (enc) {
	case PGW_ENC_EUC_JP:
	case PGW_ENC_EUC_KR:
	case PGW_ENC_EUC_JIS_2004:
	case PGW_ENC_JOHAB:
		return euc_len(c);
	case PGW_ENC_EUC_TW:
		return c == SS2 ? 4 : c == SS3 ? 3 : 2;
	case PGW_ENC_EUC_CN: /* 15's pg_euccn_mblen(): code sets 2 and 3 are three bytes */
		return c == SS2 || c == SS3 ? 3 : 2;
	case PGW_ENC_BIG5:
	case PGW_ENC_GBK:
	case PGW_ENC_UHC:
		return 2;
	case PGW_ENC_SJIS:
	case PGW_ENC_SHIFT_JIS_2004:
		return c >= 0xa1 && c <= 0xdf ? 1 : 2;
	case PGW_ENC_GB18030:
		if (left < 2)
			return left;
		return s[1] >= 0x30 && s[1] <= 0x39 ? 4 : 2;
	case PGW_ENC_MULE_INTERNAL:
		return mule_len(c);
	case PGW_ENC_UTF8:
		return (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1;
	default:
		return 1;
	}
}

/* report_invalid_encoding(): 'invalid byte sequence for encoding "SJIS": 0x95 0x20' */
static enum pgw_enc_result invalid(struct pgw_enc_error *err, int enc, const unsigned char *s,
				   size_t left)
{
	size_t n = PGW_MIN(PGW_MIN(report_len(enc, s, left), left), 8);
	int off;

	if (!err)
		return PGW_ENC_INVALID;
	memcpy(err->sqlstate, "22021", 6);
	off = snprintf(err->message, sizeof(err->message),
		       "invalid byte sequence for encoding \"%s\":", encs[enc].name);
	for (size_t i = 0; i < n && off > 0 && (size_t)off < sizeof(err->message); i++)
		off += snprintf(err->message + off, sizeof(err->message) - (size_t)off, " 0x%02x",
				s[i]);
	return PGW_ENC_INVALID;
}

/* ---- conversion: glibc iconv, per character, behind a cache per encoding and thread ---- */

/* The UTF-8 of one high byte of a single-byte encoding. */
struct high_char {
	unsigned char len, utf8[3];
};

struct enc_cache {
	iconv_t cd;
	bool opened, failed;
	struct high_char *table; /* single-byte encodings: 0x80 + i, built on first use */
};

/* pgward runs on one thread; thread-local all the same, so no caller ever shares a
 * descriptor. Kept until exit. */
static _Thread_local struct enc_cache caches[PGW_ENC__COUNT];

static iconv_t cache_cd(int enc)
{
	struct enc_cache *c = &caches[enc];

	if (!c->opened && !c->failed) {
		errno = 0;
		c->cd = encs[enc].charset ? iconv_open("UTF-8", encs[enc].charset) : (iconv_t)-1;
		if (c->cd != (iconv_t)-1)
			c->opened = true;
		else if (errno != ENOMEM) /* no such charset here: U+FFFD from now on */
			c->failed = true;
	}
	return c->opened ? c->cd : (iconv_t)-1;
}

/* Non-ASCII, valid UTF-8: what may stand for one non-ASCII character. */
static bool all_high_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!HIGH(s[i]))
			return false;
	return sql_utf8_check((const char *)s, n) == n;
}

static size_t put_utf8(uint32_t c, unsigned char *o)
{
	if (c < 0x80) {
		o[0] = (unsigned char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (unsigned char)(0xc0 | c >> 6);
		o[1] = (unsigned char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (unsigned char)(0xe0 | c >> 12);
		o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		o[2] = (unsigned char)(0x80 | (c & 0x3f));
		return 3;
	}
	o[0] = (unsigned char)(0xf0 | c >> 18);
	o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
	o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
	o[3] = (unsigned char)(0x80 | (c & 0x3f));
	return 4;
}

/* The server's code point for the character <s> (<n> bytes) when it is not glibc's, or 0. */
static uint32_t remapped(const struct enc_def *d, const unsigned char *s, size_t n)
{
	uint32_t code = 0;

	for (size_t i = 0; i < n; i++)
		code = code << 8 | s[i];
	for (size_t i = 0; i < d->nremap && code >= d->remap[i].first; i++)
		if (code <= d->remap[i].last)
			return d->remap[i].ucs + (code - d->remap[i].first);
	return 0;
}

/*
 * One character, as the server delimits it, into <out> (CHAR_OUT_MAX bytes): its UTF-8 from
 * iconv, or U+FFFD when iconv does not take exactly these bytes as characters or gives back
 * anything ASCII. State is reset before and flushed after, so a stateful charset (CP1258
 * composes) never carries anything from one character to the next.
 */
static size_t convert_char(int enc, const unsigned char *s, size_t n, unsigned char *out)
{
	iconv_t cd = cache_cd(enc);
	char *in = (char *)s, *o = (char *)out;
	size_t in_left = n, out_left = CHAR_OUT_MAX, got;

	if (cd == (iconv_t)-1)
		goto fallback;
	iconv(cd, NULL, NULL, NULL, NULL);
	if (iconv(cd, &in, &in_left, &o, &out_left) == (size_t)-1 || in_left != 0)
		goto fallback;
	if (iconv(cd, NULL, NULL, &o, &out_left) == (size_t)-1)
		goto fallback;
	got = CHAR_OUT_MAX - out_left;
	if (got > 0 && all_high_utf8(out, got))
		return got;
fallback:
	memcpy(out, replacement, sizeof(replacement));
	return sizeof(replacement);
}

/* The 128 high bytes of a single-byte encoding; SQL_ASCII's read as Latin-1, which only
 * needs to be injective and non-ASCII. */
static const struct high_char *single_table(int enc)
{
	struct enc_cache *c = &caches[enc];
	unsigned char buf[CHAR_OUT_MAX];

	if (c->table)
		return c->table;
	c->table = malloc(128 * sizeof(*c->table));
	if (!c->table)
		return NULL;
	for (unsigned b = 0x80; b <= 0xff; b++) {
		unsigned char byte = (unsigned char)b;
		struct high_char *e = &c->table[b - 0x80];
		size_t n;

		if (enc == PGW_ENC_SQL_ASCII) {
			buf[0] = (unsigned char)(0xc0 | (b >> 6));
			buf[1] = (unsigned char)(0x80 | (b & 0x3f));
			n = 2;
		} else {
			n = convert_char(enc, &byte, 1, buf);
		}
		if (n > 3) {
			memcpy(buf, replacement, sizeof(replacement));
			n = sizeof(replacement);
		}
		e->len = (unsigned char)n;
		memcpy(e->utf8, buf, n);
	}
	return c->table;
}

/* Offset of the first byte that is not ASCII or is NUL, eight at a time. */
static size_t plain_prefix(const unsigned char *s, size_t len)
{
	size_t i = 0;
	uint64_t w;

	for (; len - i >= 8; i += 8) {
		memcpy(&w, s + i, 8);
		if ((w & UINT64_C(0x8080808080808080)) ||
		    ((w - UINT64_C(0x0101010101010101)) & ~w & UINT64_C(0x8080808080808080)))
			break;
	}
	while (i < len && s[i] != 0 && !HIGH(s[i]))
		i++;
	return i;
}

struct outbuf {
	unsigned char *p;
	size_t len, cap;
};

static bool reserve(struct outbuf *b, size_t more)
{
	unsigned char *bigger;
	size_t cap = b->cap;

	if (b->cap - b->len >= more)
		return true;
	while (cap - b->len < more)
		cap *= 2;
	bigger = realloc(b->p, cap);
	if (!bigger)
		return false;
	b->p = bigger;
	b->cap = cap;
	return true;
}

/* <in>, valid in <enc> (checked on the way), in UTF-8; <start> bytes of plain ASCII first.
 * <server> is the database's encoding, into which the server converts <in>. */
static enum pgw_enc_result convert(int enc, int server, const unsigned char *s, size_t len,
				   size_t start, char **out, size_t *out_len,
				   struct pgw_enc_error *err)
{
	const struct enc_def *d = &encs[enc];
	const struct high_char *table = NULL;
	struct outbuf b = {.len = start, .cap = len + 2 * (len - start) + CHAR_OUT_MAX + 1};
	size_t i = start;

	if (d->kind == SINGLE && !(table = single_table(enc)))
		return PGW_ENC_NO_MEMORY;
	b.p = malloc(b.cap);
	if (!b.p)
		return PGW_ENC_NO_MEMORY;
	memcpy(b.p, s, start);
	while (i < len) {
		unsigned char c = s[i];
		uint32_t ucs;
		int l;

		if (!reserve(&b, CHAR_OUT_MAX + 1))
			goto oom;
		if (!HIGH(c)) {
			if (c == 0)
				goto bad;
			b.p[b.len++] = c;
			i++;
			continue;
		}
		if (table) {
			memcpy(b.p + b.len, table[c - 0x80].utf8, table[c - 0x80].len);
			b.len += table[c - 0x80].len;
			i++;
			continue;
		}
		l = d->verify(s + i, len - i);
		if (l < 0)
			goto bad;
		ucs = d->nremap ? remapped(d, s + i, (size_t)l) : 0;
		if (ucs < 0x80 && server != PGW_ENC_UTF8)
			ucs = 0; /* only the map to UTF-8 makes ASCII of them */
		if (ucs) {
			b.len += put_utf8(ucs, b.p + b.len);
		} else if (d->charset) {
			b.len += convert_char(enc, s + i, (size_t)l, b.p + b.len);
		} else {
			memcpy(b.p + b.len, replacement, sizeof(replacement));
			b.len += sizeof(replacement);
		}
		i += (size_t)l;
	}
	b.p[b.len] = '\0';
	*out = (char *)b.p;
	*out_len = b.len;
	return PGW_ENC_CONVERTED;
bad:
	free(b.p);
	return invalid(err, enc, s + i, len - i);
oom:
	free(b.p);
	return PGW_ENC_NO_MEMORY;
}

static enum pgw_enc_result same(size_t len, size_t *out_len)
{
	*out_len = len;
	return PGW_ENC_SAME;
}

enum pgw_enc_result pgw_enc_to_utf8(int client, int server, const char *in, size_t len, char **out,
				    size_t *out_len, struct pgw_enc_error *err)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t start, bad;
	int enc;

	*out = NULL;
	*out_len = 0;
	if (!valid_enc(client) || !valid_enc(server)) {
		if (err) {
			memcpy(err->sqlstate, "22023", 6);
			snprintf(err->message, sizeof(err->message), "invalid encoding number: %d",
				 valid_enc(client) ? server : client);
		}
		return PGW_ENC_INVALID;
	}
	if (len == 0)
		return same(len, out_len);

	/* pg_any_to_server(): which encoding checks the bytes and reads them */
	if (client == server || client == PGW_ENC_SQL_ASCII) {
		enc = server;
	} else if (server == PGW_ENC_SQL_ASCII && !pgw_enc_is_server_encoding(client)) {
		/* no conversion, no ASCII-unsafe text for the parser: only ASCII passes */
		start = plain_prefix(s, len);
		if (start == len)
			return same(len, out_len);
		if (err) {
			memcpy(err->sqlstate, "22021", 6);
			snprintf(err->message, sizeof(err->message),
				 "invalid byte value for encoding \"SQL_ASCII\": 0x%02x", s[start]);
		}
		return PGW_ENC_INVALID;
	} else {
		enc = client;
	}

	if (enc == PGW_ENC_UTF8) {
		bad = sql_utf8_check(in, len);
		return bad == len ? same(len, out_len) : invalid(err, enc, s + bad, len - bad);
	}
	start = plain_prefix(s, len);
	if (start == len)
		return same(len, out_len);
	return convert(enc, server, s, len, start, out, out_len, err);
}
