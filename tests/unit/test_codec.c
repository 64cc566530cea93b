/*
 * codec.c: framing (pgw_frame_peek, on a stream cut after every byte), the bounded
 * reader, and the message builders byte for byte against what PostgreSQL sends.
 * Memory and evbuffers only; no network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#include "pgward/codec.h"

#define MAX_1GB 0x3fffffffu /* PostgreSQL's MaxAllocSize - 1: the largest message it takes */

/* <lit> is a string literal with embedded NULs; its implicit final NUL is not counted. */
#define LIT(lit) (const uint8_t *)(lit), sizeof(lit) - 1

static void assert_evbuffer_equal(struct evbuffer *buf, const uint8_t *want, size_t want_len)
{
	size_t len = evbuffer_get_length(buf);

	assert_int_equal(len, want_len);
	if (len > 0)
		assert_memory_equal(evbuffer_pullup(buf, -1), want, want_len);
}

/* ---- pgw_frame_peek ---- */

static const struct {
	const char *name;
	uint8_t bytes[8];
	size_t n;
	uint32_t max_len;
	enum pgw_frame_status want;
	char type;
	uint32_t len;
} peek_cases[] = {
	{"empty", {0}, 0, MAX_1GB, PGW_FRAME_NEED_MORE, 0, 0},
	{"type only", {'Q'}, 1, MAX_1GB, PGW_FRAME_NEED_MORE, 0, 0},
	{"4 of 5 header bytes", {'Q', 0, 0, 0}, 4, MAX_1GB, PGW_FRAME_NEED_MORE, 0, 0},
	{"Sync, empty body", {'S', 0, 0, 0, 4}, 5, MAX_1GB, PGW_FRAME_OK, 'S', 4},
	{"Query, body not yet here", {'Q', 0, 0, 0, 13}, 5, MAX_1GB, PGW_FRAME_OK, 'Q', 13},
	{"header plus some body", {'Q', 0, 0, 1, 0, 'S', 'E'}, 7, MAX_1GB, PGW_FRAME_OK, 'Q', 256},
	{"all four length bytes",
	 {'d', 0x01, 0x02, 0x03, 0x04},
	 5,
	 MAX_1GB,
	 PGW_FRAME_OK,
	 'd',
	 0x01020304},
	{"type byte 0xff passes through",
	 {0xff, 0, 0, 0, 4},
	 5,
	 MAX_1GB,
	 PGW_FRAME_OK,
	 (char)0xff,
	 4},
	{"len 0", {'Q', 0, 0, 0, 0}, 5, MAX_1GB, PGW_FRAME_BAD_LENGTH, 'Q', 0},
	{"len 3", {'Q', 0, 0, 0, 3}, 5, MAX_1GB, PGW_FRAME_BAD_LENGTH, 'Q', 3},
	{"len 0x7fffffff",
	 {'Q', 0x7f, 0xff, 0xff, 0xff},
	 5,
	 MAX_1GB,
	 PGW_FRAME_BAD_LENGTH,
	 'Q',
	 0x7fffffff},
	{"len 0xffffffff (negative int32)",
	 {'Q', 0xff, 0xff, 0xff, 0xff},
	 5,
	 MAX_1GB,
	 PGW_FRAME_BAD_LENGTH,
	 'Q',
	 0xffffffff},
	{"len = max", {'Q', 0x3f, 0xff, 0xff, 0xff}, 5, MAX_1GB, PGW_FRAME_OK, 'Q', MAX_1GB},
	{"len = max + 1", {'Q', 0x40, 0, 0, 0}, 5, MAX_1GB, PGW_FRAME_BAD_LENGTH, 'Q', MAX_1GB + 1},
	{"small max, len = max", {'P', 0, 0, 0x20, 0}, 5, 8192, PGW_FRAME_OK, 'P', 8192},
	{"small max, len = max + 1",
	 {'P', 0, 0, 0x20, 1},
	 5,
	 8192,
	 PGW_FRAME_BAD_LENGTH,
	 'P',
	 8193},
};

static void test_peek_table(void **state)
{
	for (size_t i = 0; i < PGW_ARRAY_LEN(peek_cases); i++) {
		struct pgw_msg_hdr hdr = {.type = 'x', .len = 12345};
		enum pgw_frame_status st;

		print_message("case: %s\n", peek_cases[i].name);
		st = pgw_frame_peek(peek_cases[i].bytes, peek_cases[i].n, peek_cases[i].max_len,
				    &hdr);
		assert_int_equal(st, peek_cases[i].want);
		if (st != PGW_FRAME_NEED_MORE) {
			assert_int_equal(hdr.type, peek_cases[i].type);
			assert_int_equal(hdr.len, peek_cases[i].len);
		}
	}
}

/*
 * Sync, then Query "SELECT 1", then Terminate, framed the way the relay frames its input
 * (header after header, at growing offsets) when only the first <arrived> bytes are there.
 */
static const uint8_t stream[] = "S\0\0\0\x04"
				"Q\0\0\0\x0dSELECT 1\0"
				"X\0\0\0\x04";
#define STREAM_LEN (sizeof(stream) - 1)

static void test_peek_walk_every_cut(void **state)
{
	static const struct {
		size_t offset;
		char type;
		uint32_t len;
	} want[] = {{0, 'S', 4}, {5, 'Q', 13}, {19, 'X', 4}};

	for (size_t arrived = 0; arrived <= STREAM_LEN; arrived++) {
		struct pgw_msg_hdr hdr;
		size_t off = 0, seen = 0, whole_headers = 0;

		for (size_t i = 0; i < PGW_ARRAY_LEN(want); i++)
			whole_headers += want[i].offset + PGW_HDR_LEN <= arrived;
		while (pgw_frame_peek(stream + off, arrived - PGW_MIN(off, arrived), MAX_1GB,
				      &hdr) == PGW_FRAME_OK) {
			assert_int_equal(off, want[seen].offset);
			assert_int_equal(hdr.type, want[seen].type);
			assert_int_equal(hdr.len, want[seen].len);
			off += (size_t)hdr.len + 1;
			seen++;
		}
		/* A header is read exactly when all five of its bytes have arrived. */
		assert_int_equal(seen, whole_headers);
	}
}

static void test_peek_bad_length_at_offset(void **state)
{
	static const uint8_t bytes[] = "S\0\0\0\x04"
				       "Q\0\0\0\x02";
	struct pgw_msg_hdr hdr;

	assert_int_equal(pgw_frame_peek(bytes, sizeof(bytes) - 1, MAX_1GB, &hdr), PGW_FRAME_OK);
	assert_int_equal(pgw_frame_peek(bytes + 5, sizeof(bytes) - 1 - 5, MAX_1GB, &hdr),
			 PGW_FRAME_BAD_LENGTH);
	assert_int_equal(hdr.type, 'Q');
	assert_int_equal(hdr.len, 2);
}

/* ---- pgw_frontend_type_valid ---- */

static void test_frontend_types(void **state)
{
	/* Every message a 3.0 client may send after startup, and nothing else. */
	static const char valid[] = "BCdcfDEHFPpQSX";

	for (int c = 0; c < 256; c++) {
		bool want = c != 0 && memchr(valid, c, sizeof(valid) - 1) != NULL;

		if (pgw_frontend_type_valid((char)c) != want)
			fail_msg("type 0x%02x: want %s", c, want ? "valid" : "invalid");
	}
	/* Backend-only types and obvious junk, spelled out. */
	assert_false(pgw_frontend_type_valid('Z'));
	assert_false(pgw_frontend_type_valid('T'));
	assert_false(pgw_frontend_type_valid('R'));
	assert_false(pgw_frontend_type_valid('K'));
	assert_false(pgw_frontend_type_valid(0));
	assert_false(pgw_frontend_type_valid((char)0xff));
	assert_false(pgw_frontend_type_valid((char)('Q' | 0x80)));
}

/* ---- pgw_reader ---- */

static void test_reader_integers(void **state)
{
	static const uint8_t body[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0xff, 0xfe, 0x80,
				       0x00, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x80};
	struct pgw_reader r;

	pgw_reader_init(&r, body, sizeof(body));
	assert_int_equal(pgw_read_u8(&r), 0x01);
	assert_int_equal(pgw_read_u16(&r), 0x0203);
	assert_int_equal(pgw_read_u32(&r), 0x04050607);
	assert_int_equal(pgw_read_u16(&r), 0xfffe); /* no sign extension */
	assert_int_equal(pgw_read_u32(&r), 0x80000001u);
	assert_int_equal(pgw_read_u32(&r), 0xffffffffu);
	assert_int_equal(r.left, 3);
	assert_int_equal(pgw_read_u8(&r), 0x00);
	assert_int_equal(pgw_read_u16(&r), 0x0080);
	assert_int_equal(r.left, 0);
	assert_false(r.bad);
}

static void test_reader_cstr_and_bytes(void **state)
{
	static const uint8_t body[] = "user\0alice\0\0tail";
	struct pgw_reader r;
	const uint8_t *b;

	pgw_reader_init(&r, body, sizeof(body) - 1);
	/* Strings are borrowed: they point into the body. */
	assert_ptr_equal(pgw_read_cstr(&r), body);
	assert_string_equal((const char *)body, "user");
	assert_ptr_equal(pgw_read_cstr(&r), body + 5);
	assert_string_equal(body + 5, "alice");
	assert_string_equal(pgw_read_cstr(&r), "");
	assert_int_equal(r.left, 4);
	b = pgw_read_bytes(&r, 4);
	assert_ptr_equal(b, body + 12);
	assert_memory_equal(b, "tail", 4);
	assert_int_equal(r.left, 0);
	/* Zero bytes at the very end is not an error. */
	assert_non_null(pgw_read_bytes(&r, 0));
	assert_false(r.bad);
}

enum reader_op { OP_U8, OP_U16, OP_U32, OP_CSTR, OP_BYTES3 };

/* Runs <op>; returns true when it produced a value (non-zero or non-NULL). */
static bool run_op(struct pgw_reader *r, enum reader_op op)
{
	switch (op) {
	case OP_U8:
		return pgw_read_u8(r) != 0;
	case OP_U16:
		return pgw_read_u16(r) != 0;
	case OP_U32:
		return pgw_read_u32(r) != 0;
	case OP_CSTR:
		return pgw_read_cstr(r) != NULL;
	case OP_BYTES3:
		return pgw_read_bytes(r, 3) != NULL;
	}
	return true;
}

static void test_reader_past_end(void **state)
{
	/* Non-zero bytes, so a getter that read them would return non-zero. */
	static const uint8_t ones[] = {0x11, 0x22, 0x33, 0x44, 0x55};
	static const uint8_t unterminated[] = "abc";
	static const struct {
		const char *name;
		const uint8_t *body;
		size_t len;
		enum reader_op op;
	} cases[] = {
		{"u8 of 0", ones, 0, OP_U8},
		{"u16 of 1", ones, 1, OP_U16},
		{"u32 of 3", ones, 3, OP_U32},
		{"u32 of 0", ones, 0, OP_U32},
		{"bytes(3) of 2", ones, 2, OP_BYTES3},
		{"cstr of 0", ones, 0, OP_CSTR},
		{"cstr unterminated", unterminated, 3, OP_CSTR},
		{"cstr, no NUL anywhere", ones, 5, OP_CSTR},
	};

	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		struct pgw_reader r;

		print_message("case: %s\n", cases[i].name);
		pgw_reader_init(&r, cases[i].body, cases[i].len);
		assert_false(run_op(&r, cases[i].op));
		assert_true(r.bad);
		/* Stays bad: even reads that would fit now fail, and nothing is consumed. */
		assert_int_equal(pgw_read_u8(&r), 0);
		assert_null(pgw_read_bytes(&r, 0));
		assert_null(pgw_read_cstr(&r));
		for (int op = OP_U8; op <= OP_BYTES3; op++)
			assert_false(run_op(&r, (enum reader_op)op));
		assert_true(r.bad);
		assert_int_equal(r.left, cases[i].len);
	}
}

static void test_reader_huge_n(void **state)
{
	static const uint8_t body[4] = {1, 2, 3, 4};
	struct pgw_reader r;

	pgw_reader_init(&r, body, sizeof(body));
	assert_int_equal(pgw_read_u8(&r), 1);
	assert_null(pgw_read_bytes(&r, SIZE_MAX));
	assert_true(r.bad);
	assert_int_equal(r.left, 3);
}

/* ---- builders ---- */

static void test_msg_error_bytes(void **state)
{
	/* What a PostgreSQL 16 backend sends for this error (without the R/F/L fields). */
	static const uint8_t want[] = "E\0\0\0\x30"
				      "SFATAL\0"
				      "VFATAL\0"
				      "C28000\0"
				      "Mno pg_hba.conf entry\0"
				      "\0";
	struct evbuffer *out = evbuffer_new();

	pgw_msg_error(out, "FATAL", "28000", "no pg_hba.conf entry", NULL);
	assert_evbuffer_equal(out, LIT(want));
	evbuffer_free(out);
}

static void test_msg_error_hint_bytes(void **state)
{
	static const uint8_t want[] = "E\0\0\0\x27"
				      "SERROR\0"
				      "VERROR\0"
				      "C42501\0"
				      "Mdenied\0"
				      "Hask\0"
				      "\0";
	struct evbuffer *out = evbuffer_new();

	evbuffer_add(out, "Z", 1); /* builders append */
	pgw_msg_error(out, "ERROR", "42501", "denied", "ask");
	assert_int_equal(evbuffer_get_length(out), sizeof(want));
	assert_memory_equal(evbuffer_pullup(out, -1), "Z", 1);
	assert_memory_equal(evbuffer_pullup(out, -1) + 1, want, sizeof(want) - 1);
	evbuffer_free(out);
}

static void test_msg_error_decode(void **state)
{
	static const struct {
		const char *severity, *sqlstate, *message, *hint;
	} cases[] = {
		{"FATAL", "08P01", "pgward: invalid frontend message type 0x5a", NULL},
		{"ERROR", "42501", "pgward: statement denied by policy", "see pgward.ini"},
		{"ERROR", "XX000", "", ""},
		{"FATAL", "53300", "sorry, too many clients already", NULL},
	};

	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		struct evbuffer *out = evbuffer_new();
		struct pgw_reader r;
		const char *want[5] = {cases[i].severity, cases[i].severity, cases[i].sqlstate,
				       cases[i].message, cases[i].hint};
		const char codes[] = "SVCMH";
		size_t nfields = cases[i].hint ? 5 : 4, len, f;
		uint32_t declared;
		const uint8_t *msg;

		pgw_msg_error(out, cases[i].severity, cases[i].sqlstate, cases[i].message,
			      cases[i].hint);
		len = evbuffer_get_length(out);
		msg = evbuffer_pullup(out, -1);
		pgw_reader_init(&r, msg, len);
		assert_int_equal(pgw_read_u8(&r), 'E');
		declared = pgw_read_u32(&r);
		assert_int_equal(declared, len - 1);
		for (f = 0;; f++) {
			uint8_t code = pgw_read_u8(&r);

			assert_false(r.bad);
			if (code == 0)
				break;
			assert_true(f < nfields);
			assert_int_equal(code, codes[f]);
			assert_string_equal(pgw_read_cstr(&r), want[f]);
		}
		assert_int_equal(f, nfields);
		/* Consumed exactly what the length word declared. */
		assert_int_equal(r.left, 0);
		assert_false(r.bad);
		evbuffer_free(out);
	}
}

static void test_msg_ready_bytes(void **state)
{
	static const char statuses[] = {'I', 'T', 'E'};

	for (size_t i = 0; i < sizeof(statuses); i++) {
		struct evbuffer *out = evbuffer_new();
		const uint8_t want[] = {'Z', 0, 0, 0, 5, (uint8_t)statuses[i]};

		pgw_msg_ready(out, statuses[i]);
		assert_evbuffer_equal(out, want, sizeof(want));
		evbuffer_free(out);
	}
}

static void test_msg_backend_key_bytes(void **state)
{
	static const uint8_t want[] = {'K',  0,	   0,	 0,    12,   0x00, 0x01,
				       0xe2, 0x40, 0xde, 0xad, 0xbe, 0xef};
	struct evbuffer *out = evbuffer_new();

	pgw_msg_backend_key(out, 123456, 0xdeadbeef);
	assert_evbuffer_equal(out, want, sizeof(want));
	evbuffer_free(out);
}

static void test_msg_header_bytes(void **state)
{
	static const uint8_t want[] = {'D',  0,	   0,	0,    4,    'd',  0x01, 0x02,
				       0x03, 0x04, 'Q', 0x3f, 0xff, 0xff, 0xff};
	struct evbuffer *out = evbuffer_new();

	pgw_msg_header(out, 'D', 0);
	pgw_msg_header(out, 'd', 0x01020300);
	pgw_msg_header(out, 'Q', MAX_1GB - 4);
	assert_evbuffer_equal(out, want, sizeof(want));
	evbuffer_free(out);
}

/* ---- pgw_msg_sasl_without_plus ---- */

#define SASL_CODE "\0\0\0\x0a"

static const struct {
	const char *name;
	const char *body;
	size_t body_len;
	const char *want; /* the whole 'R' message */
	size_t want_len;
} sasl_cases[] = {
#define SASL_CASE(name, body, want)                                                                \
	{                                                                                          \
		name, body, sizeof(body) - 1, want, sizeof(want) - 1                               \
	}
	SASL_CASE("PLUS first, as PostgreSQL sends it",
		  SASL_CODE "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0",
		  "R\0\0\0\x17" SASL_CODE "SCRAM-SHA-256\0\0"),
	SASL_CASE("PLUS last", SASL_CODE "SCRAM-SHA-256\0SCRAM-SHA-256-PLUS\0\0",
		  "R\0\0\0\x17" SASL_CODE "SCRAM-SHA-256\0\0"),
	SASL_CASE("no PLUS: unchanged", SASL_CODE "SCRAM-SHA-256\0\0",
		  "R\0\0\0\x17" SASL_CODE "SCRAM-SHA-256\0\0"),
	SASL_CASE("others kept in order",
		  SASL_CODE "OAUTHBEARER\0SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0",
		  "R\0\0\0\x23" SASL_CODE "OAUTHBEARER\0SCRAM-SHA-256\0\0"),
	SASL_CASE("only exact name removed", SASL_CODE "SCRAM-SHA-256-PLUSX\0\0",
		  "R\0\0\0\x1d" SASL_CODE "SCRAM-SHA-256-PLUSX\0\0"),
#undef SASL_CASE
};

static void test_sasl_without_plus(void **state)
{
	for (size_t i = 0; i < PGW_ARRAY_LEN(sasl_cases); i++) {
		struct evbuffer *out = evbuffer_new();
		struct pgw_reader r;

		print_message("case: %s\n", sasl_cases[i].name);
		assert_int_equal(pgw_msg_sasl_without_plus(out, (const uint8_t *)sasl_cases[i].body,
							   sasl_cases[i].body_len),
				 0);
		assert_evbuffer_equal(out, (const uint8_t *)sasl_cases[i].want,
				      sasl_cases[i].want_len);
		/* The length word agrees with what was written. */
		pgw_reader_init(&r, evbuffer_pullup(out, -1), evbuffer_get_length(out));
		assert_int_equal(pgw_read_u8(&r), 'R');
		assert_int_equal(pgw_read_u32(&r), evbuffer_get_length(out) - 1);
		evbuffer_free(out);
	}
}

static void test_sasl_without_plus_malformed(void **state)
{
	static const struct {
		const char *name;
		const char *body;
		size_t len;
	} cases[] = {
#define BAD(name, body) {name, body, sizeof(body) - 1}
		BAD("empty", ""),
		BAD("short code", "\0\0\x0a"),
		BAD("code 11 (SASLContinue)", "\0\0\0\x0bSCRAM-SHA-256\0\0"),
		BAD("code 0 (AuthenticationOk)", "\0\0\0\0"),
		BAD("code, no list", SASL_CODE),
		BAD("missing final terminator", SASL_CODE "SCRAM-SHA-256\0"),
		BAD("missing terminator after PLUS", SASL_CODE "SCRAM-SHA-256-PLUS\0"),
		BAD("unterminated name", SASL_CODE "SCRAM-SHA-256"),
		BAD("trailing bytes", SASL_CODE "SCRAM-SHA-256\0\0x"),
		BAD("trailing NUL", SASL_CODE "SCRAM-SHA-256\0\0\0"),
#undef BAD
	};

	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		struct evbuffer *out = evbuffer_new();

		print_message("case: %s\n", cases[i].name);
		assert_int_equal(pgw_msg_sasl_without_plus(out, (const uint8_t *)cases[i].body,
							   cases[i].len),
				 -1);
		/* Nothing half-written for the client. */
		assert_int_equal(evbuffer_get_length(out), 0);
		evbuffer_free(out);
	}
}

/* PasswordMessage: exactly one string. */
static void test_read_password_message(void **state)
{
	assert_string_equal(pgw_read_password_message((const uint8_t *)"pw", 3), "pw");
	assert_null(pgw_read_password_message((const uint8_t *)"pw\0x", 4));
	assert_null(pgw_read_password_message((const uint8_t *)"pw", 2));
	assert_string_equal(pgw_read_password_message((const uint8_t *)"", 1), "");
}

/* ErrorResponse fields: the SQLSTATE only when 5 characters, the message, and what was read
 * before a fault kept while the fault is reported. */
static void test_read_error_fields(void **state)
{
	static const uint8_t whole[] = "SERROR\0C42P01\0Mrelation \"t\" does not exist\0";
	static const uint8_t odd_code[] = "C4201\0Mm\0";
	static const uint8_t cut[] = {'C', '5', '7', 'P', '0', '1', 0, 'M', 'n', 'o'};
	struct pgw_error_fields f;

	(void)state;
	assert_true(pgw_read_error_fields(whole, sizeof(whole), &f));
	assert_string_equal(f.code, "42P01");
	assert_string_equal(f.message, "relation \"t\" does not exist");
	assert_true(pgw_read_error_fields(odd_code, sizeof(odd_code), &f));
	assert_string_equal(f.code, "");
	assert_string_equal(f.message, "m");
	assert_false(pgw_read_error_fields(cut, sizeof(cut), &f));
	assert_string_equal(f.code, "57P01");
	assert_null(f.message);
	assert_false(pgw_read_error_fields(whole, 0, &f));
	assert_string_equal(f.code, "");
}

/* ParameterStatus: 'S', the length, name and value NUL-ended; the same bytes whether the
 * message fits the stack buffer or not (a value of 300 bytes). */
static void test_parameter_status_bytes(void **state)
{
	static const size_t lens[] = {0, 5, 240, 300};
	char value[301];

	(void)state;
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		struct evbuffer *out = evbuffer_new();
		size_t len = 1 + 4 + sizeof("search_path") + lens[k] + 1;
		unsigned char *m;

		memset(value, 'v', lens[k]);
		value[lens[k]] = '\0';
		pgw_msg_parameter_status(out, "search_path", value);
		assert_int_equal(evbuffer_get_length(out), len);
		m = evbuffer_pullup(out, -1);
		assert_int_equal(m[0], 'S');
		assert_int_equal((m[1] << 24 | m[2] << 16 | m[3] << 8 | m[4]), len - 1);
		assert_string_equal((const char *)m + 5, "search_path");
		assert_string_equal((const char *)m + 5 + sizeof("search_path"), value);
		evbuffer_free(out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peek_table),
		cmocka_unit_test(test_parameter_status_bytes),
		cmocka_unit_test(test_peek_walk_every_cut),
		cmocka_unit_test(test_peek_bad_length_at_offset),
		cmocka_unit_test(test_frontend_types),
		cmocka_unit_test(test_reader_integers),
		cmocka_unit_test(test_reader_cstr_and_bytes),
		cmocka_unit_test(test_reader_past_end),
		cmocka_unit_test(test_reader_huge_n),
		cmocka_unit_test(test_msg_error_bytes),
		cmocka_unit_test(test_msg_error_hint_bytes),
		cmocka_unit_test(test_msg_error_decode),
		cmocka_unit_test(test_msg_ready_bytes),
		cmocka_unit_test(test_msg_backend_key_bytes),
		cmocka_unit_test(test_msg_header_bytes),
		cmocka_unit_test(test_sasl_without_plus),
		cmocka_unit_test(test_sasl_without_plus_malformed),
		cmocka_unit_test(test_read_password_message),
		cmocka_unit_test(test_read_error_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
