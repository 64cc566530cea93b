/*
 * startup.c: the untyped first packets (StartupMessage, SSLRequest, GSSENCRequest,
 * CancelRequest) parsed from memory and read from an input buffer fed piecemeal. The
 * canonical view and the rebuilt packet are test_startup_view.c's. No network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#include "pgward/rbuf.h"
#include "pgward/startup.h"

#define V30 0x00030000u
#define V32 0x00030002u

/* A packet: big-endian length and code, then <body_len> bytes of body. Caller frees. */
struct pkt {
	uint8_t *p;
	size_t len;
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#define REAL_LEN (-1) /* make_pkt: declare the packet's real length */

/* Builds a packet whose length word is <declared>, or its real length for REAL_LEN. */
static struct pkt make_pkt(uint32_t code, const void *body, size_t body_len, int64_t declared)
{
	struct pkt k = {.len = 8 + body_len};

	k.p = malloc(k.len);
	assert_non_null(k.p);
	put32(k.p, declared == REAL_LEN ? (uint32_t)k.len : (uint32_t)declared);
	put32(k.p + 4, code);
	if (body_len > 0)
		memcpy(k.p + 8, body, body_len);
	return k;
}

/* <lit>: parameter area as a string literal with embedded NULs (implicit NUL not counted). */
#define STARTUP(version, lit) make_pkt((version), (lit), sizeof(lit) - 1, REAL_LEN)

/* What psql 16 sends with "psql -d shop -U alice -c ..." plus PGOPTIONS. */
#define PSQL_PARAMS                                                                                \
	"user\0alice\0"                                                                            \
	"database\0shop\0"                                                                         \
	"options\0-c search_path=app\0"                                                            \
	"application_name\0psql\0"                                                                 \
	"\0"

static enum pgw_initial_kind parse(struct pkt k, struct pgw_startup *st)
{
	return pgw_startup_parse(k.p, k.len, st);
}

/* ---- pgw_startup_parse ---- */

static void test_parse_startup_v30(void **state)
{
	static const char *const names[] = {"user", "database", "options", "application_name"};
	static const char *const values[] = {"alice", "shop", "-c search_path=app", "psql"};
	struct pkt k = STARTUP(V30, PSQL_PARAMS);
	struct pgw_startup st;

	assert_int_equal(parse(k, &st), PGW_INIT_STARTUP);
	/* The packet may be freed: the parse keeps its own copy (ASan checks). */
	memset(k.p, 'x', k.len);
	free(k.p);
	assert_int_equal(st.version, V30);
	assert_int_equal(st.nparams, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(st.params[i].name, names[i]);
		assert_string_equal(st.params[i].value, values[i]);
		assert_string_equal(pgw_startup_get(&st, names[i]), values[i]);
	}
	assert_null(pgw_startup_get(&st, "client_encoding"));
	assert_null(pgw_startup_get(&st, "alice")); /* values are not names */
	assert_null(pgw_startup_get(&st, "USER"));  /* names are case-sensitive */
	assert_null(pgw_startup_get(&st, "use"));
	pgw_startup_free(&st);
	assert_null(st.buf);
	assert_int_equal(st.nparams, 0);
}

static void test_parse_startup_edge_params(void **state)
{
	struct pgw_startup st;
	struct pkt k;

	/* No parameters at all: just the terminator. */
	k = STARTUP(V30, "\0");
	assert_int_equal(parse(k, &st), PGW_INIT_STARTUP);
	assert_int_equal(st.nparams, 0);
	assert_null(pgw_startup_get(&st, "user"));
	pgw_startup_free(&st);
	free(k.p);

	/* Empty values are legal (PostgreSQL accepts them). */
	k = STARTUP(V30, "user\0alice\0options\0\0\0");
	assert_int_equal(parse(k, &st), PGW_INIT_STARTUP);
	assert_int_equal(st.nparams, 2);
	assert_string_equal(pgw_startup_get(&st, "options"), "");
	pgw_startup_free(&st);
	free(k.p);

	/* A duplicated name: both kept in order, the first one wins for get. */
	k = STARTUP(V30, "user\0alice\0user\0bob\0\0");
	assert_int_equal(parse(k, &st), PGW_INIT_STARTUP);
	assert_int_equal(st.nparams, 2);
	assert_string_equal(st.params[1].value, "bob");
	assert_string_equal(pgw_startup_get(&st, "user"), "alice");
	pgw_startup_free(&st);
	free(k.p);
}

static void test_parse_special_codes(void **state)
{
	static const uint8_t cancel_body[] = {0x00, 0x00, 0x30, 0x39, 0xde, 0xad, 0xbe, 0xef};
	struct pgw_startup st;
	struct pkt k;

	k = make_pkt(PGW_CODE_SSL, NULL, 0, REAL_LEN);
	assert_int_equal(parse(k, &st), PGW_INIT_SSL);
	assert_null(st.buf);
	assert_int_equal(st.nparams, 0);
	free(k.p);

	k = make_pkt(PGW_CODE_GSSENC, NULL, 0, REAL_LEN);
	assert_int_equal(parse(k, &st), PGW_INIT_GSSENC);
	assert_null(st.buf);
	free(k.p);

	k = make_pkt(PGW_CODE_CANCEL, cancel_body, sizeof(cancel_body), REAL_LEN);
	assert_int_equal(k.len, 16);
	assert_int_equal(parse(k, &st), PGW_INIT_CANCEL);
	assert_int_equal(st.cancel_pid, 12345);
	assert_int_equal(st.cancel_key, 0xdeadbeef);
	assert_null(st.buf);
	free(k.p);
}

static void test_parse_bad_lengths(void **state)
{
	static const uint8_t zeros[16] = {0};
	static const struct {
		const char *name;
		uint32_t code;
		size_t body_len;  /* real bytes after the code word */
		int64_t declared; /* or REAL_LEN */
	} cases[] = {
		{"SSLRequest, 12 bytes", PGW_CODE_SSL, 4, REAL_LEN},
		{"GSSENCRequest, 12 bytes", PGW_CODE_GSSENC, 4, REAL_LEN},
		{"CancelRequest, 8 bytes", PGW_CODE_CANCEL, 0, REAL_LEN},
		{"CancelRequest, 12 bytes", PGW_CODE_CANCEL, 4, REAL_LEN},
		{"CancelRequest, 20 bytes", PGW_CODE_CANCEL, 12, REAL_LEN},
		{"SSLRequest declares 16, is 8", PGW_CODE_SSL, 0, 16},
		{"CancelRequest declares 16, is 20", PGW_CODE_CANCEL, 12, 16},
		{"CancelRequest declares 20, is 16", PGW_CODE_CANCEL, 8, 20},
		{"SSLRequest declares 0", PGW_CODE_SSL, 0, 0},
		{"SSLRequest declares 7", PGW_CODE_SSL, 0, 7},
		{"declares 2^32-1", PGW_CODE_CANCEL, 8, 0xffffffffu},
	};

	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		struct pgw_startup st;
		struct pkt k = make_pkt(cases[i].code, zeros, cases[i].body_len, cases[i].declared);

		print_message("case: %s\n", cases[i].name);
		assert_int_equal(parse(k, &st), PGW_INIT_BAD_LENGTH);
		assert_null(st.buf);
		free(k.p);
	}
}

static void test_parse_declared_mismatch_startup(void **state)
{
	struct pkt k = STARTUP(V30, PSQL_PARAMS);
	struct pgw_startup st;
	uint8_t *longer;

	/* Declared one short of the buffer, and the buffer one short of the declaration. */
	put32(k.p, (uint32_t)k.len - 1);
	assert_int_equal(pgw_startup_parse(k.p, k.len, &st), PGW_INIT_BAD_LENGTH);
	put32(k.p, (uint32_t)k.len + 1);
	assert_int_equal(pgw_startup_parse(k.p, k.len, &st), PGW_INIT_BAD_LENGTH);
	put32(k.p, (uint32_t)k.len);
	assert_int_equal(pgw_startup_parse(k.p, k.len - 1, &st), PGW_INIT_BAD_LENGTH);
	/* A second packet glued on is not part of this one. */
	longer = malloc(k.len + 8);
	memcpy(longer, k.p, k.len);
	memcpy(longer + k.len, "\0\0\0\x08\x04\xd2\x16\x2f", 8);
	assert_int_equal(pgw_startup_parse(longer, k.len + 8, &st), PGW_INIT_BAD_LENGTH);
	assert_int_equal(pgw_startup_parse(longer, k.len, &st), PGW_INIT_STARTUP);
	pgw_startup_free(&st);
	free(longer);
	free(k.p);
}

static void test_parse_too_short(void **state)
{
	/* Every length below 8, declared honestly: there is no code word to read. */
	static const uint8_t bytes[8] = {0, 0, 0, 0, 0x04, 0xd2, 0x16, 0x2f};

	for (size_t len = 0; len < 8; len++) {
		uint8_t buf[8];
		struct pgw_startup st;

		memcpy(buf, bytes, sizeof(buf));
		if (len >= 4)
			put32(buf, (uint32_t)len);
		assert_int_equal(pgw_startup_parse(buf, len, &st), PGW_INIT_BAD_LENGTH);
		assert_null(st.buf);
	}
}

/* A StartupMessage of exactly <total> bytes: user=alice, application_name=aaaa... */
static struct pkt startup_of_size(size_t total)
{
	static const char head[] = "user\0alice\0application_name";
	size_t body_len = total - 8, vlen = body_len - sizeof(head) - 2;
	uint8_t *body = malloc(body_len);
	struct pkt k;

	memcpy(body, head, sizeof(head)); /* with its NUL */
	memset(body + sizeof(head), 'a', vlen);
	body[sizeof(head) + vlen] = '\0';
	body[sizeof(head) + vlen + 1] = '\0';
	k = make_pkt(V30, body, body_len, REAL_LEN);
	free(body);
	return k;
}

static void test_parse_max_len(void **state)
{
	struct pgw_startup st;
	struct pkt k = startup_of_size(PGW_STARTUP_MAX_LEN);

	assert_int_equal(parse(k, &st), PGW_INIT_STARTUP);
	assert_int_equal(strlen(pgw_startup_get(&st, "application_name")),
			 PGW_STARTUP_MAX_LEN - 8 - 28 - 2);
	pgw_startup_free(&st);
	free(k.p);

	k = startup_of_size(PGW_STARTUP_MAX_LEN + 1);
	assert_int_equal(parse(k, &st), PGW_INIT_BAD_LENGTH);
	assert_null(st.buf);
	free(k.p);
}

static void test_parse_versions(void **state)
{
	static const struct {
		uint32_t version;
		enum pgw_initial_kind want;
	} cases[] = {
		{V30, PGW_INIT_STARTUP},
		{0x00030001u, PGW_INIT_STARTUP},
		{V32, PGW_INIT_STARTUP}, /* 3.x accepted: the server negotiates the minor */
		{0x0003ffffu, PGW_INIT_STARTUP},
		{0x00020000u, PGW_INIT_BAD_VERSION},
		{0x00040000u, PGW_INIT_BAD_VERSION},
		{0x00000000u, PGW_INIT_BAD_VERSION},
		{0x00010000u, PGW_INIT_BAD_VERSION},
		{0x04d21631u, PGW_INIT_BAD_VERSION}, /* 80877105: next to the special codes */
		{0x04d2162eu - 1, PGW_INIT_BAD_VERSION},
		{0xffff0003u, PGW_INIT_BAD_VERSION},
	};

	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		struct pkt k = STARTUP(cases[i].version, "user\0alice\0\0");
		struct pgw_startup st;

		print_message("version 0x%08x\n", cases[i].version);
		assert_int_equal(parse(k, &st), cases[i].want);
		/* Recorded either way, for the log line or the error sent back. */
		assert_int_equal(st.version, cases[i].version);
		if (cases[i].want == PGW_INIT_STARTUP)
			assert_string_equal(pgw_startup_get(&st, "user"), "alice");
		else
			assert_null(st.buf);
		pgw_startup_free(&st);
		free(k.p);
	}
}

static void test_parse_malformed(void **state)
{
	static const struct {
		const char *name;
		const char *body;
		size_t len;
	} cases[] = {
#define BAD(name, body) {name, body, sizeof(body) - 1}
		BAD("no parameter area", ""),
		BAD("missing final terminator", "user\0alice\0"),
		BAD("missing terminator, two params", "user\0alice\0database\0shop\0"),
		BAD("name without value", "user\0alice\0database\0"),
		BAD("lone name", "user\0"),
		BAD("unterminated name", "user"),
		BAD("unterminated value", "user\0alice"),
		BAD("trailing byte after terminator", "user\0alice\0\0x"),
		BAD("trailing NUL after terminator", "user\0alice\0\0\0"),
#undef BAD
	};

	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		struct pkt k = make_pkt(V30, cases[i].body, cases[i].len, REAL_LEN);
		struct pgw_startup st;

		print_message("case: %s\n", cases[i].name);
		assert_int_equal(parse(k, &st), PGW_INIT_MALFORMED);
		/* Nothing left allocated (LeakSanitizer would also say so). */
		assert_null(st.buf);
		assert_int_equal(st.nparams, 0);
		free(k.p);
	}
}

/* <n> parameters p0=v0, p1=v1, ... then the terminator. */
static struct pkt startup_with_params(size_t n)
{
	char body[4096];
	size_t len = 0;
	struct pkt k;

	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(body + len, sizeof(body) - len, "p%zu%cv%zu%c", i, 0, i, 0);
	body[len++] = '\0';
	assert_true(len < sizeof(body));
	k = make_pkt(V30, body, len, REAL_LEN);
	return k;
}

static void test_parse_param_count(void **state)
{
	struct pgw_startup st;
	struct pkt k = startup_with_params(PGW_STARTUP_MAX_PARAMS);
	char name[16];

	assert_int_equal(parse(k, &st), PGW_INIT_STARTUP);
	assert_int_equal(st.nparams, PGW_STARTUP_MAX_PARAMS);
	snprintf(name, sizeof(name), "p%d", PGW_STARTUP_MAX_PARAMS - 1);
	assert_non_null(pgw_startup_get(&st, name));
	pgw_startup_free(&st);
	free(k.p);

	k = startup_with_params(PGW_STARTUP_MAX_PARAMS + 1);
	assert_int_equal(parse(k, &st), PGW_INIT_MALFORMED);
	assert_null(st.buf);
	assert_int_equal(st.nparams, 0);
	free(k.p);
}

/* ---- pgw_startup_read ---- */

static void test_read_byte_by_byte(void **state)
{
	static const uint8_t cancel_body[] = {0, 0, 0x30, 0x39, 0xde, 0xad, 0xbe, 0xef};
	struct {
		struct pkt k;
		enum pgw_initial_kind want;
	} cases[] = {
		{STARTUP(V30, PSQL_PARAMS), PGW_INIT_STARTUP},
		{make_pkt(PGW_CODE_SSL, NULL, 0, REAL_LEN), PGW_INIT_SSL},
		{make_pkt(PGW_CODE_GSSENC, NULL, 0, REAL_LEN), PGW_INIT_GSSENC},
		{make_pkt(PGW_CODE_CANCEL, cancel_body, sizeof(cancel_body), REAL_LEN),
		 PGW_INIT_CANCEL},
	};

	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		struct pgw_rbuf in = {0};
		struct pgw_startup st;
		struct pkt k = cases[i].k;

		for (size_t n = 0; n < k.len; n++) {
			assert_int_equal(pgw_startup_read(&in, &st), PGW_INIT_NEED_MORE);
			assert_int_equal(pgw_rbuf_len(&in), n);
			/* One byte per read from the socket. */
			assert_int_equal(pgw_rbuf_add(&in, k.p + n, 1), 0);
		}
		assert_int_equal(pgw_startup_read(&in, &st), cases[i].want);
		assert_int_equal(pgw_rbuf_len(&in), 0);
		if (cases[i].want == PGW_INIT_STARTUP) {
			assert_int_equal(st.nparams, 4);
			assert_string_equal(pgw_startup_get(&st, "database"), "shop");
		} else if (cases[i].want == PGW_INIT_CANCEL) {
			assert_int_equal(st.cancel_pid, 12345);
			assert_int_equal(st.cancel_key, 0xdeadbeef);
		}
		pgw_startup_free(&st);
		pgw_rbuf_free(&in);
		free(k.p);
	}
}

static void test_read_leaves_following_bytes(void **state)
{
	static const uint8_t query[] = "Q\0\0\0\x0dSELECT 1\0";
	static const uint8_t client_hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
	struct pkt ssl = make_pkt(PGW_CODE_SSL, NULL, 0, REAL_LEN);
	struct pkt startup = STARTUP(V30, PSQL_PARAMS);
	struct pgw_rbuf in = {0};
	struct pgw_startup st;

	/* SSLRequest then the TLS ClientHello: only the 8 bytes go. */
	assert_int_equal(pgw_rbuf_add(&in, ssl.p, ssl.len), 0);
	assert_int_equal(pgw_rbuf_add(&in, client_hello, sizeof(client_hello)), 0);
	assert_int_equal(pgw_startup_read(&in, &st), PGW_INIT_SSL);
	assert_int_equal(pgw_rbuf_len(&in), sizeof(client_hello));
	assert_memory_equal(pgw_rbuf_data(&in), client_hello, sizeof(client_hello));
	pgw_rbuf_drain(&in, sizeof(client_hello));

	/* StartupMessage then a pipelined Query. */
	assert_int_equal(pgw_rbuf_add(&in, startup.p, startup.len), 0);
	assert_int_equal(pgw_rbuf_add(&in, query, sizeof(query) - 1), 0);
	assert_int_equal(pgw_startup_read(&in, &st), PGW_INIT_STARTUP);
	assert_string_equal(pgw_startup_get(&st, "user"), "alice");
	assert_int_equal(pgw_rbuf_len(&in), sizeof(query) - 1);
	assert_memory_equal(pgw_rbuf_data(&in), query, sizeof(query) - 1);
	pgw_startup_free(&st);

	/* SSLRequest then StartupMessage back to back (a client that got 'N'). */
	pgw_rbuf_drain(&in, pgw_rbuf_len(&in));
	assert_int_equal(pgw_rbuf_add(&in, ssl.p, ssl.len), 0);
	assert_int_equal(pgw_rbuf_add(&in, startup.p, startup.len), 0);
	assert_int_equal(pgw_startup_read(&in, &st), PGW_INIT_SSL);
	assert_int_equal(pgw_rbuf_len(&in), startup.len);
	assert_int_equal(pgw_startup_read(&in, &st), PGW_INIT_STARTUP);
	assert_int_equal(pgw_rbuf_len(&in), 0);
	pgw_startup_free(&st);

	pgw_rbuf_free(&in);
	free(ssl.p);
	free(startup.p);
}

static void test_read_errors_do_not_consume(void **state)
{
	static const uint8_t zeros[16] = {0};
	struct {
		const char *name;
		struct pkt k;
		size_t feed; /* bytes given to the reader; 0: all */
		enum pgw_initial_kind want;
	} cases[] = {
		{"length 4", make_pkt(V30, NULL, 0, 4), 0, PGW_INIT_BAD_LENGTH},
		{"length 7, only 4 bytes there", make_pkt(V30, NULL, 0, 7), 4, PGW_INIT_BAD_LENGTH},
		{"length 0", make_pkt(V30, NULL, 0, 0), 0, PGW_INIT_BAD_LENGTH},
		{"length 2^32-1", make_pkt(V30, NULL, 0, 0xffffffffu), 0, PGW_INIT_BAD_LENGTH},
		{"length max + 1, only the header there",
		 make_pkt(V30, NULL, 0, PGW_STARTUP_MAX_LEN + 1), 0, PGW_INIT_BAD_LENGTH},
		{"TLS ClientHello (direct SSL) as length",
		 make_pkt(0x02000100u, NULL, 0, 0x16030102u), 0, PGW_INIT_BAD_LENGTH},
		{"SSLRequest, 12 bytes", make_pkt(PGW_CODE_SSL, zeros, 4, REAL_LEN), 0,
		 PGW_INIT_BAD_LENGTH},
		{"CancelRequest, 12 bytes", make_pkt(PGW_CODE_CANCEL, zeros, 4, REAL_LEN), 0,
		 PGW_INIT_BAD_LENGTH},
		{"version 2.0", STARTUP(0x00020000u, "user\0alice\0\0"), 0, PGW_INIT_BAD_VERSION},
		{"missing terminator", STARTUP(V30, "user\0alice\0"), 0, PGW_INIT_MALFORMED},
	};

	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		struct pgw_rbuf in = {0};
		struct pgw_startup st = {0};
		size_t feed = cases[i].feed ? cases[i].feed : cases[i].k.len;

		print_message("case: %s\n", cases[i].name);
		assert_int_equal(pgw_rbuf_add(&in, cases[i].k.p, feed), 0);
		assert_int_equal(pgw_startup_read(&in, &st), cases[i].want);
		assert_int_equal(pgw_rbuf_len(&in), feed);
		assert_memory_equal(pgw_rbuf_data(&in), cases[i].k.p, feed);
		assert_null(st.buf);
		/* Asking again gives the same answer: the caller decides what to do. */
		assert_int_equal(pgw_startup_read(&in, &st), cases[i].want);
		assert_int_equal(pgw_rbuf_len(&in), feed);
		pgw_rbuf_free(&in);
		free(cases[i].k.p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_startup_v30),
		cmocka_unit_test(test_parse_startup_edge_params),
		cmocka_unit_test(test_parse_special_codes),
		cmocka_unit_test(test_parse_bad_lengths),
		cmocka_unit_test(test_parse_declared_mismatch_startup),
		cmocka_unit_test(test_parse_too_short),
		cmocka_unit_test(test_parse_max_len),
		cmocka_unit_test(test_parse_versions),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_param_count),
		cmocka_unit_test(test_read_byte_by_byte),
		cmocka_unit_test(test_read_leaves_following_bytes),
		cmocka_unit_test(test_read_errors_do_not_consume),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
