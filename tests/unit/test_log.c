/*
 * log.c: level names, pgw_log_quote (escaping, invalid UTF-8, truncation, never writing
 * past outlen), the shape of a pgw_log_write line, captured from stderr through a pipe,
 * and the rate limits' counts under an injected clock.
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

/*
 * Length of the valid UTF-8 character at <p>, 0 if there is none; decided apart from the
 * code under test, from the code point: not overlong, not a surrogate, at most U+10FFFF.
 */
static size_t utf8_char(const unsigned char *p)
{
	static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
	uint32_t cp;
	size_t n;

	if (*p < 0x80)
		return 1;
	if ((*p & 0xe0) == 0xc0)
		n = 2, cp = *p & 0x1fu;
	else if ((*p & 0xf0) == 0xe0)
		n = 3, cp = *p & 0x0fu;
	else if ((*p & 0xf8) == 0xf0)
		n = 4, cp = *p & 0x07u;
	else
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[k] & 0x3fu);
	}
	return cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? 0 : n;
}

/*
 * The quoted form of the next unit of <p>, as log.h describes it: a valid multi-byte
 * character as it is, else one byte, escaped when it is a quote, a backslash, a control
 * byte or not part of valid UTF-8. Returns the input bytes it takes.
 */
static size_t escape_unit(const unsigned char *p, char unit[8])
{
	size_t n = utf8_char(p);

	if (n > 1) {
		memcpy(unit, p, n);
		unit[n] = '\0';
		return n;
	}
	if (*p == '"' || *p == '\\')
		snprintf(unit, 8, "\\%c", *p);
	else if (*p < 0x20 || *p == 0x7f || n == 0)
		snprintf(unit, 8, "\\x%02x", *p);
	else
		snprintf(unit, 8, "%c", *p);
	return 1;
}

/* The full, untruncated quoted form of <in>: the oracle. */
static void full_quote(const char *in, char *out, size_t outlen)
{
	size_t o = 0, n;

	out[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)in; *p; p += n) {
		char unit[8];

		n = escape_unit(p, unit);
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
		{"\xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf", "\"\xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\""},
		/* bytes that are not UTF-8 are escaped like control bytes: 0xff, a lone
		 * continuation, an overlong form, a surrogate, above U+10FFFF, cut short */
		{"\xff\xfe", "\"\\xff\\xfe\""},
		{"a\x80z", "\"a\\x80z\""},
		{"\xc0\xaf", "\"\\xc0\\xaf\""},
		{"\xed\xa0\x80", "\"\\xed\\xa0\\x80\""},
		{"\xf4\x90\x80\x80", "\"\\xf4\\x90\\x80\\x80\""},
		{"\xe2\x82", "\"\\xe2\\x82\""},
		{"\xe2\x82\xe2\x82\xac", "\"\\xe2\\x82\xe2\x82\xac\""},
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
	"\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac",
	"x\xf0\x9f\x98\x80y\xff\xc3\xa9\xed\xa0\x80\xf0\x9f\x98\x80\xf0\x9f\x98",
};

/*
 * <got> must be <full>, or '"' + the escapes of a prefix of the input (never half of
 * one, nor half a character) + '..."'; tiny buffers (< 8, too small for '"..."' and a character)
 * may be "". Returns true when <got> is truncated.
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
	for (const unsigned char *p = (const unsigned char *)in; *p && o < kept;) {
		char unit[8];

		p += escape_unit(p, unit);
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

/* ---- rate limits ---- */

static void test_limit_counts(void **state)
{
	struct pgw_log_limit l = PGW_LOG_LIMIT(PGW_LOG_WARNING, "x", 3, 10.0);
	static const struct {
		double now;
		bool pass;
		uint64_t report;
	} steps[] = {
		{0.0, true, 0}, /* the first line opens a window of 10 s with 3 lines */
		{1.0, true, 0},
		{2.0, true, 0},
		{3.0, false, 0},
		{5.0, false, 0},
		{9.99, false, 0},
		{10.0, true, 3}, /* a new window: the first line reports the three dropped */
		{10.5, true, 0},
		{11.0, true, 0},
		{12.0, false, 0},
		{25.0, true, 1}, /* windows start at a line, not on a grid */
		{34.9, true, 0},
		{35.0, true, 0}, /* 25 + 10: a new window */
		{20.0, true, 0}, /* an injected clock going back starts a window too */
	};

	for (size_t i = 0; i < PGW_ARRAY_LEN(steps); i++) {
		uint64_t report = 99;

		print_message("step %zu at %.2f\n", i, steps[i].now);
		assert_int_equal(pgw_log_limit_pass(&l, steps[i].now, &report), steps[i].pass);
		assert_int_equal(report, steps[i].report);
	}
	/* a long flood: 3 lines a window, and every dropped line counted once */
	{
		struct pgw_log_limit f = PGW_LOG_LIMIT(PGW_LOG_WARNING, "x", 3, 10.0);
		uint64_t passed = 0, reported = 0, report;

		for (int i = 0; i < 10000; i++) {
			if (pgw_log_limit_pass(&f, i * 0.1, &report))
				passed++;
			reported += report;
		}
		assert_int_equal(passed, 3 * 100);
		assert_int_equal(reported + f.suppressed, 10000 - passed);
		assert_int_equal(f.suppressed, 100 - 3);
	}
}

static double fake_now;

static double fake_clock(void)
{
	return fake_now;
}

/* The lines pgw_log_limited writes, without their timestamps. */
static void strip_ts(const char *text, char *out, size_t outlen)
{
	size_t o = 0;

	for (const char *line = text; *line; line = strchr(line, '\n') + 1) {
		const char *rest = skip_ts(line), *end = strchr(line, '\n');

		assert_non_null(end);
		assert_true(o + (size_t)(end - rest) + 2 < outlen);
		memcpy(out + o, rest, (size_t)(end - rest) + 1);
		o += (size_t)(end - rest) + 1;
	}
	out[o] = '\0';
}

static void test_limited_lines(void **state)
{
	struct pgw_log_limit l = PGW_LOG_LIMIT(PGW_LOG_WARNING, "flood", 2, 10.0);
	enum pgw_log_level saved = pgw_log_min_level;
	struct capture c;
	char got[2048];

	l.clock = fake_clock;
	fake_now = 100.0;
	pgw_log_min_level = PGW_LOG_INFO;
	capture_begin(&c);
	for (int i = 0; i < 5; i++)
		pgw_log_limited(&l, 7, "n=%d", i);
	fake_now = 110.0;
	pgw_log_limited(&l, 7, "n=%d", 5);
	pgw_log_limit_flush(&l); /* nothing dropped since: nothing to say */
	pgw_log_limited(&l, 7, "n=%d", 6);
	pgw_log_limited(&l, 7, "n=%d", 7);
	pgw_log_limit_flush(&l); /* the trouble is over: the count now, not at the next line */
	pgw_log_limit_flush(&l);
	capture_end(&c);
	strip_ts(c.text, got, sizeof(got));
	assert_string_equal(got, "level=warning event=flood sid=7 n=0\n"
				 "level=warning event=flood sid=7 n=1\n"
				 "level=warning event=flood suppressed=3\n"
				 "level=warning event=flood sid=7 n=5\n"
				 "level=warning event=flood sid=7 n=6\n"
				 "level=warning event=flood suppressed=1\n");

	/* below the log level: nothing written, nothing counted against the budget */
	pgw_log_min_level = PGW_LOG_ERROR;
	fake_now = 200.0;
	capture_begin(&c);
	for (int i = 0; i < 5; i++)
		pgw_log_limited(&l, 7, "n=%d", i);
	capture_end(&c);
	assert_int_equal(c.len, 0);
	assert_int_equal(l.suppressed, 0);
	pgw_log_min_level = PGW_LOG_INFO;
	capture_begin(&c);
	pgw_log_limited(&l, 0, "n=%d", 8);
	pgw_log_limited(&l, 0, "n=%d", 9);
	capture_end(&c);
	pgw_log_min_level = saved;
	strip_ts(c.text, got, sizeof(got));
	assert_string_equal(got, "level=warning event=flood n=8\n"
				 "level=warning event=flood n=9\n");
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
		cmocka_unit_test(test_limit_counts),
		cmocka_unit_test(test_limited_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
