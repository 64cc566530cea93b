/*
 * Logging to stderr: one line per event, key=value fields, level filtered before
 * formatting. Callers must never pass passwords or parameter values.
 */
#ifndef PGWARD_LOG_H
#define PGWARD_LOG_H

#include "pgward/common.h"

enum pgw_log_level {
	PGW_LOG_DEBUG = 0,
	PGW_LOG_INFO,
	PGW_LOG_WARNING,
	PGW_LOG_ERROR,
};

extern enum pgw_log_level pgw_log_min_level;

/* "debug", "info", "warning", "error"; -1 for an unknown name. */
int pgw_log_level_parse(const char *name);
const char *pgw_log_level_name(enum pgw_log_level level);

/*
 * Writes "ts=... level=... event=<event> sid=<sid> <fmt...>\n" as one write(2), so
 * lines from concurrent processes never interleave. sid 0 means "not about a session".
 * <fmt> continues the key=value list; use pgw_log_quote-style values for free text.
 */
void pgw_log_write(enum pgw_log_level level, uint64_t sid, const char *event, const char *fmt, ...)
	PGW_PRINTF(4, 5);

#define pgw_log(level, sid, event, ...)                                                            \
	do {                                                                                       \
		if ((level) >= pgw_log_min_level)                                                  \
			pgw_log_write((level), (sid), (event), __VA_ARGS__);                       \
	} while (0)

#define pgw_debug(sid, event, ...) pgw_log(PGW_LOG_DEBUG, sid, event, __VA_ARGS__)
#define pgw_info(sid, event, ...)  pgw_log(PGW_LOG_INFO, sid, event, __VA_ARGS__)
#define pgw_warn(sid, event, ...)  pgw_log(PGW_LOG_WARNING, sid, event, __VA_ARGS__)
#define pgw_error(sid, event, ...) pgw_log(PGW_LOG_ERROR, sid, event, __VA_ARGS__)

/*
 * Copies <in> into <out> as a double-quoted log value: quotes and backslashes escaped,
 * control bytes as \xNN, truncated with "..." to fit <outlen>. Returns <out>.
 */
const char *pgw_log_quote(const char *in, char *out, size_t outlen);

#endif
