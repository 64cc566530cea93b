/*
 * PostgreSQL's character encodings, as far as pgward must know them to read a client's SQL
 * text the way the server will: the names the server accepts for client_encoding, which
 * bytes form one character in each encoding (PostgreSQL's own verification rules), and
 * the conversion of a text to UTF-8 for the parser. The parser only ever sees UTF-8; what
 * makes its reading the server's is that every byte below 0x80 that the server reads as an
 * ASCII character is copied as that character, and nothing else becomes ASCII (in SJIS,
 * BIG5, GBK, UHC and GB18030 the second byte of a character may be a backslash, a letter
 * or a digit) but where the server's own conversion makes it so: SHIFT_JIS_2004's 0x815f
 * and 0x81b0 become '\' and '~' in the server too. Pure: no sockets, no state beyond
 * lazily built tables and cached iconv descriptors (per thread).
 */
#ifndef PGWARD_ENCODING_H
#define PGWARD_ENCODING_H

#include "pgward/common.h"

/* PostgreSQL's numbering (pg_enc in mb/pg_wchar.h), so the two never need a mapping. */
enum pgw_enc {
	PGW_ENC_SQL_ASCII = 0,
	PGW_ENC_EUC_JP,
	PGW_ENC_EUC_CN,
	PGW_ENC_EUC_KR,
	PGW_ENC_EUC_TW,
	PGW_ENC_EUC_JIS_2004,
	PGW_ENC_UTF8,
	PGW_ENC_MULE_INTERNAL,
	PGW_ENC_LATIN1,
	PGW_ENC_LATIN2,
	PGW_ENC_LATIN3,
	PGW_ENC_LATIN4,
	PGW_ENC_LATIN5,
	PGW_ENC_LATIN6,
	PGW_ENC_LATIN7,
	PGW_ENC_LATIN8,
	PGW_ENC_LATIN9,
	PGW_ENC_LATIN10,
	PGW_ENC_WIN1256,
	PGW_ENC_WIN1258,
	PGW_ENC_WIN866,
	PGW_ENC_WIN874,
	PGW_ENC_KOI8R,
	PGW_ENC_WIN1251,
	PGW_ENC_WIN1252,
	PGW_ENC_ISO_8859_5,
	PGW_ENC_ISO_8859_6,
	PGW_ENC_ISO_8859_7,
	PGW_ENC_ISO_8859_8,
	PGW_ENC_WIN1250,
	PGW_ENC_WIN1253,
	PGW_ENC_WIN1254,
	PGW_ENC_WIN1255,
	PGW_ENC_WIN1257,
	PGW_ENC_KOI8U,
	/* client-only encodings: never a database's */
	PGW_ENC_SJIS,
	PGW_ENC_BIG5,
	PGW_ENC_GBK,
	PGW_ENC_UHC,
	PGW_ENC_GB18030,
	PGW_ENC_JOHAB,
	PGW_ENC_SHIFT_JIS_2004,
	PGW_ENC__COUNT
};

/* The encoding PostgreSQL's lookup (pg_char_to_encoding) finds for <name>: case and
 * non-alphanumerics ignored, aliases included ("Unicode", "ISO-8859-1", "ShiftJIS",
 * "win1252", "WIN", "ALT", ...). -1 for a name the server does not know. */
int pgw_enc_from_name(const char *name);

/* The canonical name, as the server reports it in ParameterStatus ("UTF8", "LATIN1"). */
const char *pgw_enc_name(int enc);

/* May be a database's encoding (PG_VALID_BE_ENCODING); the others are client-only. */
bool pgw_enc_is_server_encoding(int enc);

/* Why a text cannot be read: the error the server itself gives for it. */
struct pgw_enc_error {
	char sqlstate[6]; /* "22021" (invalid byte sequence or value); never "22P05": a
			   * character without a mapping is read as U+FFFD, not refused */
	char message[160];
};

enum pgw_enc_result {
	PGW_ENC_SAME = 0,	/* <in> is already the UTF-8 to inspect: nothing was copied */
	PGW_ENC_CONVERTED = 1,	/* *out (malloc'd, NUL-terminated) holds the UTF-8 text */
	PGW_ENC_INVALID = -1,	/* the server refuses <in>: *err says what it will say */
	PGW_ENC_NO_MEMORY = -2, /* an allocation failed */
};

/*
 * The UTF-8 text whose parse is the server's parse of <in>, sent by a client whose
 * client_encoding is <client> to a database whose encoding is <server>. Mirrors the
 * server's pg_any_to_server(): no conversion when the two are equal or either is
 * SQL_ASCII (then the bytes are checked in the encoding the server checks them in, and
 * read in it; a SQL_ASCII database takes nothing but ASCII from a client-only encoding);
 * otherwise <in> is checked in <client> and converted. A character that is valid but that
 * pgward cannot map becomes U+FFFD: never ASCII, so the text's structure (quotes,
 * backslashes, keywords) is the server's whatever the character is. Into a database that
 * is not UTF8 the server converts to <server> and parses that; the ASCII is the same.
 *
 * SAME: *out is NULL and *out_len is <len> (pure ASCII, or UTF-8 already). CONVERTED: the
 * caller frees *out. INVALID and NO_MEMORY: *out is NULL, *out_len 0; <err> (may be NULL)
 * holds the server's SQLSTATE and message for INVALID. NUL bytes are invalid, as in the
 * server. An encoding number out of range is INVALID with 22023.
 */
enum pgw_enc_result pgw_enc_to_utf8(int client, int server, const char *in, size_t len, char **out,
				    size_t *out_len, struct pgw_enc_error *err);

#endif
