/*
 * stderr logger: key=value lines, one write(2) per line. Never logs SQL parameter
 * values or passwords: that is the callers' contract, stated in log.h.
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

/* Bytes <c> takes once escaped. */
static size_t escaped_len(unsigned char c)
{
	if (c == '"' || c == '\\')
		return 2;
	return c < 0x20 || c == 0x7f ? 4 : 1;
}

const char *pgw_log_quote(const char *in, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)(in ? in : "");
	size_t full = 2, o = 0, budget;

	if (outlen < 8) {
		if (outlen > 0)
			out[0] = '\0';
		return out;
	}
	for (const unsigned char *q = p; *q; q++)
		full += escaped_len(*q);
	/* Cut only when the whole value cannot fit; then keep room for `..."` and the NUL. */
	budget = full + 1 <= outlen ? full - 1 : outlen - 5;
	out[o++] = '"';
	for (; *p; p++) {
		if (o + escaped_len(*p) > budget) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (*p == '"' || *p == '\\') {
			out[o++] = '\\';
			out[o++] = (char)*p;
		} else if (*p < 0x20 || *p == 0x7f) {
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", *p);
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}
