/*
 * Shared by the tests/unit/test_policy_*.c files: loading a configuration from text, building
 * messages, running one through the pipeline as the relay does, and the guard's teardown.
 * Header-only (static inline), as CMake builds each test_*.c alone.
 */
#ifndef PGWARD_POLICY_TEST_UTIL_H
#define PGWARD_POLICY_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgward/config.h"
#include "pgward/log.h"
#include "pgward/policy.h"
#include "pgward/sql.h"

#define ERRLEN 512

/* Writes <text> to a temporary file and loads it into <cfg>; fails the test on error. */
static inline void load_config(const char *text, struct pgw_config *cfg)
{
	char path[] = "/tmp/pgward-test-policy-XXXXXX", err[ERRLEN];
	int fd = mkstemp(path);
	size_t len = strlen(text);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	if (pgw_config_load(path, cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	unlink(path);
}

/* ---- messages ---- */

struct buf {
	uint8_t data[65536];
	size_t n;
};

static inline void put_bytes(struct buf *b, const void *p, size_t len)
{
	assert_true(b->n + len <= sizeof(b->data));
	memcpy(b->data + b->n, p, len);
	b->n += len;
}

static inline void put_cstr(struct buf *b, const char *s)
{
	put_bytes(b, s, strlen(s) + 1);
}

static inline void put_u16(struct buf *b, uint16_t v)
{
	uint8_t be[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	put_bytes(b, be, sizeof(be));
}

static inline void put_u32(struct buf *b, uint32_t v)
{
	uint8_t be[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	put_bytes(b, be, sizeof(be));
}

/* What the relay does: the header stage, then, if it passed, the whole message. */
static inline enum pgw_verdict run(struct pgw_policy_ctx *ctx, char type, const uint8_t *body,
				   size_t len)
{
	struct pgw_msg_view m = {.type = type, .len = (uint32_t)len, .body = NULL};

	enum pgw_verdict v;

	memset(&ctx->refusal, 0, sizeof(ctx->refusal));
	if (pgw_pipeline_header(ctx, &m) != PGW_PASS)
		return PGW_REFUSE;
	assert_true(pgw_policy_needs_body(type));
	m.body = body;
	v = pgw_pipeline_message(ctx, &m);
	pgw_policy_ctx_release(ctx);
	return v;
}

static inline int teardown_guard(void **state)
{
	(void)state;
	pgw_policy_shutdown();
	return 0;
}

/* ---- the policy tables, tests/data/policy/<policy>.tsv ---- */

static inline int tsv_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes a table's SQL column into <out> (<cap> bytes): \\ \n \t \xHH; any other
 * backslash is a mistake in the table at <file>:<lineno>. Returns the length. */
static inline size_t tsv_decode_sql(const char *s, char *out, size_t cap, const char *file,
				    int lineno)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		char c = *s;

		if (c == '\\') {
			s++;
			if (*s == '\\')
				c = '\\';
			else if (*s == 'n')
				c = '\n';
			else if (*s == 't')
				c = '\t';
			else if (*s == 'x' && tsv_hexval(s[1]) >= 0 && tsv_hexval(s[2]) >= 0) {
				c = (char)(tsv_hexval(s[1]) * 16 + tsv_hexval(s[2]));
				s += 2;
			} else
				fail_msg("%s:%d: bad escape \\%c", file, lineno, *s);
		}
		assert_true(n < cap);
		out[n++] = c;
	}
	return n;
}

#endif
