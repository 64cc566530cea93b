/*
 * log.c: level names, pgw_log_quote (escaping, truncation, never writing past outlen),
 * and the shape of a pgw_log_write line, captured from stderr through a pipe.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgward/log.h"

/* ---- levels ---- */

static void test_level_parse(void **state)
{
	static const struct {
		const char *name;
		int want;
	} cases[] = {
		{"debug", PGW_LOG_DEBUG},
		{"info", PGW_LOG_INFO},
		{"warning", PGW_LOG_WARNING},
		{"error", PGW_LOG_ERROR},
		{"DEBUG", PGW_LOG_DEBUG},
		{"Info", PGW_LOG_INFO},
		{"WaRnInG", PGW_LOG_WARNING},
		{"ERROR", PGW_LOG_ERROR},
		{"", -1},
		{"warn", -1},
		{"err", -1},
		{"fatal", -1},
		{"notice", -1},
		{"debug1", -1},
		{"info ", -1},
		{" info", -1},
		{"errorr", -1},
		{"in\0fo", -1},
	};

	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		print_message("name: \"%s\"\n", cases[i].name);
		assert_int_equal(pgw_log_level_parse(cases[i].name), cases[i].want);
	}
}

static void test_level_name(void **state)
{
	for (int l = PGW_LOG_DEBUG; l <= PGW_LOG_ERROR; l++)
		assert_int_equal(pgw_log_level_parse(pgw_log_level_name((enum pgw_log_level)l)), l);
	assert_string_equal(pgw_log_level_name(PGW_LOG_WARNING), "warning");
	assert_string_equal(pgw_log_level_name((enum pgw_log_level)4), "?");
	assert_string_equal(pgw_log_level_name((enum pgw_log_level) - 1), "?");
}

/* ---- pgw_log_quote ---- */

/* The escaped form of one input byte, as log.h describes it. */
static void escape_byte(unsigned char c, char unit[5])
{
	if (c == '"' || c == '\\')
		snprintf(unit, 5, "\\%c", c);
	else if (c < 0x20 || c == 0x7f)
		snprintf(unit, 5, "\\x%02x", c);
	else
		snprintf(unit, 5, "%c", c);
}

/* The full, untruncated quoted form of <in>: the oracle. */
static void full_quote(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	out[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		char unit[5];

		escape_byte(*p, unit);
		assert_true(o + strlen(unit) + 2 <= outlen);
		memcpy(out + o, unit, strlen(unit));
		o += strlen(unit);
	}
	out[o++] = '"';
	out[o] = '\0';
}

static void test_quote_escapes(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"", "\"\""},
		{"abc", "\"abc\""},
		{"two words", "\"two words\""},
		{"say \"hi\"", "\"say \\\"hi\\\"\""},
		{"C:\\dir\\", "\"C:\\\\dir\\\\\""},
		{"\\\"", "\"\\\\\\\"\""},
		{"a\nb", "\"a\\x0ab\""},
		{"\t\r\n", "\"\\x09\\x0d\\x0a\""},
		{"\x01\x1f\x7f", "\"\\x01\\x1f\\x7f\""},
		{"\x1b[31mred", "\"\\x1b[31mred\""},
		{" ~", "\" ~\""},		    /* the printable edges stay as they are */
		{"caf\xc3\xa9", "\"caf\xc3\xa9\""}, /* UTF-8 passes through */
		{"key=value x=y", "\"key=value x=y\""},
	};
	char out[256];

	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		memset(out, 'Z', sizeof(out));
		assert_ptr_equal(pgw_log_quote(cases[i].in, out, sizeof(out)), out);
		assert_string_equal(out, cases[i].want);
	}
	assert_string_equal(pgw_log_quote(NULL, out, sizeof(out)), "\"\"");
}

static const char *const quote_inputs[] = {
	"",
	"a",
	"abc",
	"hello world",
	"say \"hi\" to \\me\\",
	"\x01\x02\x03\x04\x05\x06\x07\x08",
	"line1\nline2\r\n",
	"a\x7f\x1b\"\\z",
	"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789",
};

/*
 * <got> must be <full>, or '"' + the escapes of a prefix of the input (never half of
 * one) + '..."'; tiny buffers (< 8, too small for '"..."' and a character) may be "".
 * Returns true when <got> is truncated.
 */
static bool check_quote_shape(const char *in, const char *full, const char *got, size_t outlen)
{
	size_t glen = strlen(got), kept, o = 0;

	if (strcmp(got, full) == 0)
		return false;
	if (glen == 0 && outlen < 8)
		return true;
	if (glen < 5 || got[0] != '"' || strcmp(got + glen - 4, "...\"") != 0)
		fail_msg("outlen %zu: \"%s\" is neither whole nor ends in ...\"", outlen, got);
	kept = glen - 5;
	for (const unsigned char *p = (const unsigned char *)in; *p && o < kept; p++) {
		char unit[5];

		escape_byte(*p, unit);
		if (strncmp(got + 1 + o, unit, strlen(unit)) != 0)
			fail_msg("outlen %zu: \"%s\" differs from \"%s\" at %zu", outlen, got, full,
				 o);
		o += strlen(unit);
	}
	if (o != kept)
		fail_msg("outlen %zu: \"%s\" cuts an escape or adds bytes", outlen, got);
	return true;
}

static void test_quote_small_buffers(void **state)
{
	for (size_t i = 0; i < PGW_ARRAY_LEN(quote_inputs); i++) {
		const char *in = quote_inputs[i];
		char full[512];

		full_quote(in, full, sizeof(full));
		for (size_t outlen = 0; outlen <= strlen(full) + 4; outlen++) {
			char out[600];
			bool truncated;

			memset(out, '#', sizeof(out));
			assert_ptr_equal(pgw_log_quote(in, out, outlen), out);
			/* Not one byte written at or past out[outlen]. */
			for (size_t j = outlen; j < sizeof(out); j++)
				if (out[j] != '#')
					fail_msg("outlen %zu: byte %zu written", outlen, j);
			if (outlen == 0)
				continue;
			/* NUL-terminated inside the buffer. */
			assert_non_null(memchr(out, '\0', outlen));
			truncated = check_quote_shape(in, full, out, outlen);
			if (!truncated)
				continue;
			assert_true(strlen(full) >= 2);
			/* Truncation keeps a reasonable part of what was asked for. */
			if (outlen >= 16)
				assert_true(strlen(out) + 12 >= outlen);
		}
	}
}

/*
 * A value whose whole quoted form fits must come out whole, without "...": otherwise a
 * log line claims text was cut when it was not, and the text is lost for nothing.
 */
static void test_quote_no_needless_truncation(void **state)
{
	static const struct {
		const char *in;
		size_t outlen;
		const char *want;
	} cases[] = {
		{"hello world", 16, "\"hello world\""}, /* 14 bytes with the NUL */
		{"0123456789", 13, "\"0123456789\""},	/* exactly fits */
		{"ab", 10, "\"ab\""},
		{"abc", 8, "\"abc\""},
		{"\n", 8, "\"\\x0a\""},
		{"x", 96, "\"x\""},
	};
	int failures = 0;

	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		char out[128];

		pgw_log_quote(cases[i].in, out, cases[i].outlen);
		if (strcmp(out, cases[i].want) != 0) {
			print_error("outlen %zu: want %s, got %s\n", cases[i].outlen, cases[i].want,
				    out);
			failures++;
		}
	}
	/* And for every input: whenever the whole form fits (outlen >= 8), it is returned. */
	for (size_t i = 0; i < PGW_ARRAY_LEN(quote_inputs); i++) {
		char full[512], out[600];

		full_quote(quote_inputs[i], full, sizeof(full));
		for (size_t outlen = PGW_MAX(strlen(full) + 1, 8); outlen < strlen(full) + 16;
		     outlen++) {
			pgw_log_quote(quote_inputs[i], out, outlen);
			if (strcmp(out, full) != 0) {
				print_error("outlen %zu: want %s, got %s\n", outlen, full, out);
				failures++;
				break;
			}
		}
	}
	assert_int_equal(failures, 0);
}

/* ---- pgw_log_write ---- */

struct capture {
	int saved, rd;
	char text[8192];
	size_t len;
};

static void capture_begin(struct capture *c)
{
	int fds[2];

	assert_int_equal(pipe(fds), 0);
	fflush(stderr);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
	close(fds[1]);
	c->rd = fds[0];
	c->len = 0;
}

/* Restores stderr before anything is asserted, so cmocka's messages are seen. */
static void capture_end(struct capture *c)
{
	ssize_t n;

	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	fcntl(c->rd, F_SETFL, O_NONBLOCK);
	while ((n = read(c->rd, c->text + c->len, sizeof(c->text) - 1 - c->len)) > 0)
		c->len += (size_t)n;
	c->text[c->len] = '\0';
	close(c->rd);
}

/* "ts=YYYY-MM-DDTHH:MM:SS.mmmZ " then returns what follows. */
static const char *skip_ts(const char *line)
{
	static const char shape[] = "ts=dddd-dd-ddTdd:dd:dd.dddZ ";

	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] == 'd' ? !isdigit((unsigned char)line[i]) : line[i] != shape[i])
			fail_msg("bad timestamp at %zu in: %s", i, line);
	}
	return line + sizeof(shape) - 1;
}

static void test_write_line(void **state)
{
	struct capture c;

	capture_begin(&c);
	pgw_log_write(PGW_LOG_WARNING, 42, "session_end", "reason=%s bytes=%d", "eof", 7);
	capture_end(&c);
	assert_string_equal(skip_ts(c.text),
			    "level=warning event=session_end sid=42 reason=eof bytes=7\n");

	capture_begin(&c);
	pgw_log_write(PGW_LOG_INFO, 0, "listen", "");
	capture_end(&c);
	assert_string_equal(skip_ts(c.text), "level=info event=listen\n");

	capture_begin(&c);
	pgw_log_write(PGW_LOG_ERROR, UINT64_MAX, "x", "%s", "y=1");
	capture_end(&c);
	assert_string_equal(skip_ts(c.text), "level=error event=x sid=18446744073709551615 y=1\n");
}

static void test_write_long_line(void **state)
{
	char *big = malloc(5001);
	struct capture c;

	memset(big, 'v', 5000);
	big[5000] = '\0';
	/* Too long in the fields, then too long in the event name itself. */
	for (int pass = 0; pass < 2; pass++) {
		capture_begin(&c);
		if (pass == 0)
			pgw_log_write(PGW_LOG_INFO, 7, "big", "value=%s", big);
		else
			pgw_log_write(PGW_LOG_INFO, 7, big, "value=%d", 1);
		capture_end(&c);
		/* Cut to one line of the buffer's size, still ending in exactly one newline. */
		assert_int_equal(c.len, 2047);
		assert_int_equal(c.text[c.len - 1], '\n');
		assert_null(memchr(c.text, '\n', c.len - 1));
		assert_null(memchr(c.text, '\0', c.len));
		skip_ts(c.text);
	}
	free(big);
}

static void test_level_filter(void **state)
{
	enum pgw_log_level saved = pgw_log_min_level;
	struct capture c;

	pgw_log_min_level = PGW_LOG_WARNING;
	capture_begin(&c);
	pgw_debug(1, "dropped", "a=%d", 1);
	pgw_info(1, "dropped", "a=%d", 2);
	pgw_warn(1, "kept", "a=%d", 3);
	pgw_error(1, "kept", "a=%d", 4);
	capture_end(&c);
	pgw_log_min_level = saved;
	assert_null(strstr(c.text, "dropped"));
	assert_non_null(strstr(c.text, "level=warning event=kept sid=1 a=3\n"));
	assert_non_null(strstr(c.text, "level=error event=kept sid=1 a=4\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_level_parse),
		cmocka_unit_test(test_level_name),
		cmocka_unit_test(test_quote_escapes),
		cmocka_unit_test(test_quote_small_buffers),
		cmocka_unit_test(test_quote_no_needless_truncation),
		cmocka_unit_test(test_write_line),
		cmocka_unit_test(test_write_long_line),
		cmocka_unit_test(test_level_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
