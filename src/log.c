/*
 * stderr logger: key=value lines, one write(2) per line, quoted values always valid UTF-8,
 * and rate limits for events a peer can repeat at will. Never logs SQL parameter values or
 * passwords: that is the callers' contract, stated in log.h.
 */
#include "pgward/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum pgw_log_level pgw_log_min_level = PGW_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warning", "error"};

int pgw_log_level_parse(const char *name)
{
	for (size_t i = 0; i < PGW_ARRAY_LEN(level_names); i++)
		if (strcasecmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *pgw_log_level_name(enum pgw_log_level level)
{
	return (unsigned)level < PGW_ARRAY_LEN(level_names) ? level_names[level] : "?";
}

void pgw_log_write(enum pgw_log_level level, uint64_t sid, const char *event, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ level=%s event=%s",
			      ts.tv_nsec / 1000000, pgw_log_level_name(level), event);
	if (sid != 0 && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, " sid=%llu",
				      (unsigned long long)sid);
	if (fmt != NULL && fmt[0] != '\0' && n + 1 < sizeof(line)) {
		line[n++] = ' ';
		va_start(ap, fmt);
		n += (size_t)vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* A short write to stderr loses part of a log line; nothing better to do with it. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

size_t pgw_log_utf8_seq(const char *s, bool *valid)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	*valid = true;
	if (p[0] < 0x80)
		return 1;
	/* The second byte's range is what rules out overlong forms (E0, F0), surrogates (ED)
	 * and code points above U+10FFFF (F4); C0, C1 and F5-FF never start a sequence. */
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		lo = p[0] == 0xe0 ? 0xa0 : 0x80;
		hi = p[0] == 0xed ? 0x9f : 0xbf;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		lo = p[0] == 0xf0 ? 0x90 : 0x80;
		hi = p[0] == 0xf4 ? 0x8f : 0xbf;
	} else {
		*valid = false;
		return 1;
	}
	/* A NUL is outside every range, so a sequence cut by the end of the string stops here. */
	for (size_t k = 1; k < n; k++) {
		if (p[k] < lo || p[k] > hi) {
			*valid = false;
			return k;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return n;
}

/*
 * The next unit of a quoted value at <p>: a whole valid character as it is, or one byte
 * escaped. Returns the bytes it takes once quoted; *in is the input bytes it consumes (an
 * invalid sequence goes a byte at a time: none of its later bytes can start a valid one).
 */
static size_t quoted_unit(const unsigned char *p, size_t *in)
{
	bool valid;

	*in = 1;
	if (*p == '"' || *p == '\\')
		return 2;
	if (*p < 0x20 || *p == 0x7f)
		return 4;
	if (*p < 0x80)
		return 1;
	*in = pgw_log_utf8_seq((const char *)p, &valid);
	if (valid)
		return *in;
	*in = 1;
	return 4;
}

void pgw_log_one_line(char *dst, size_t len, const char *msg)
{
	size_t n;

	snprintf(dst, len, "%s", msg && *msg ? msg : "unknown error");
	n = strlen(dst);
	while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == ' '))
		dst[--n] = '\0';
	for (char *c = dst; *c; c++)
		if (*c == '\n')
			*c = ' ';
}

const char *pgw_log_quote(const char *in, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)(in ? in : "");
	size_t full = 2, o = 0, budget, n, u;

	if (outlen < 8) {
		if (outlen > 0)
			out[0] = '\0';
		return out;
	}
	for (const unsigned char *q = p; *q; q += n)
		full += quoted_unit(q, &n);
	/* Cut only when the whole value cannot fit; then keep room for `..."` and the NUL. */
	budget = full + 1 <= outlen ? full - 1 : outlen - 5;
	out[o++] = '"';
	for (; *p; p += n) {
		u = quoted_unit(p, &n);
		if (o + u > budget) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (u == n) {
			memcpy(out + o, p, u);
		} else if (u == 2) {
			out[o] = '\\';
			out[o + 1] = (char)*p;
		} else {
			snprintf(out + o, outlen - o, "\\x%02x", *p);
		}
		o += u;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

/* ---- rate limits ---- */

static double coarse_now(void)
{
	struct timespec ts;

	/* a tick's resolution is plenty for windows of seconds, and costs no system call */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool pgw_log_limit_pass(struct pgw_log_limit *l, double now, uint64_t *report)
{
	*report = 0;
	/* a clock that went back (only an injected one can) starts a window too */
	if (!l->started || now - l->window_start >= l->interval || now < l->window_start) {
		l->started = true;
		l->window_start = now;
		l->passed = 0;
	}
	if (l->passed >= l->burst) {
		l->suppressed++;
		return false;
	}
	l->passed++;
	*report = l->suppressed;
	l->suppressed = 0;
	return true;
}

static void write_suppressed(const struct pgw_log_limit *l, uint64_t n)
{
	pgw_log_write(l->level, 0, l->event, "suppressed=%llu", (unsigned long long)n);
}

bool pgw_log_limit_take(struct pgw_log_limit *l)
{
	uint64_t dropped;

	if (!pgw_log_limit_pass(l, l->clock != NULL ? l->clock() : coarse_now(), &dropped))
		return false;
	if (dropped > 0)
		write_suppressed(l, dropped);
	return true;
}

void pgw_log_limit_flush(struct pgw_log_limit *l)
{
	uint64_t n = l->suppressed;

	if (n == 0)
		return;
	l->suppressed = 0;
	if (l->level >= pgw_log_min_level)
		write_suppressed(l, n);
}
