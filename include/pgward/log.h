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
 * Copies a (libpq) error message into <dst> as one line: newlines become spaces, trailing
 * ones go, an empty or NULL message becomes "unknown error".
 */
void pgw_log_one_line(char *dst, size_t len, const char *msg);

/*
 * Copies <in> into <out> as a double-quoted log value: quotes and backslashes escaped,
 * control bytes and bytes that are not part of valid UTF-8 as \xNN, truncated with "..."
 * to fit <outlen> (never inside an escape or a character). Returns <out>.
 */
const char *pgw_log_quote(const char *in, char *out, size_t outlen);

/*
 * The UTF-8 sequence starting at <p>, a NUL-terminated string: returns its length (1-4)
 * with *valid true, or, when it is not valid UTF-8 (lone continuation byte, overlong form,
 * surrogate, above U+10FFFF, cut short), the length of its "maximal subpart" (Unicode
 * 3.9: the bytes one U+FFFD replaces, as Python's and browsers' decoders count them) with
 * *valid false. Never reads past the NUL. Logs and metrics share it so that both agree on
 * what is valid.
 */
size_t pgw_log_utf8_seq(const char *p, bool *valid);

/*
 * A rate limit for an event a peer can trigger in a loop (an accept failure at the
 * descriptor limit, a failed login): at most <burst> lines per <interval> seconds, counted
 * in fixed windows from the first line of each. Lines beyond that are dropped and counted;
 * the next line let through is preceded by "event=<event> suppressed=<count>". One static
 * instance per call site, declared with PGW_LOG_LIMIT; event-loop thread only.
 */
typedef double pgw_log_clock_fn(void);

struct pgw_log_limit {
	enum pgw_log_level level;
	const char *event;
	unsigned burst;
	double interval;	 /* seconds */
	pgw_log_clock_fn *clock; /* NULL: CLOCK_MONOTONIC_COARSE; tests pass their own */
	bool started;
	double window_start;
	unsigned passed;     /* lines let through in this window */
	uint64_t suppressed; /* lines dropped since the last one let through */
};

#define PGW_LOG_LIMIT(lvl, ev, n, seconds)                                                         \
	{                                                                                          \
		.level = (lvl), .event = (ev), .burst = (n), .interval = (seconds)                 \
	}

/*
 * Whether a line may be written at <now> (seconds). When it may, *report is the number of
 * lines dropped before it (0: nothing to report). Pure: the caller supplies the time.
 */
bool pgw_log_limit_pass(struct pgw_log_limit *l, double now, uint64_t *report);

/*
 * pgw_log_limit_pass at the limit's clock; writes the "suppressed=" line itself when a line
 * let through follows dropped ones. Use through pgw_log_limited.
 */
bool pgw_log_limit_take(struct pgw_log_limit *l);

/*
 * Writes "suppressed=<count>" now if lines were dropped since the last one let through:
 * for the moment the trouble is known to be over (accept works again), so a burst's count
 * is not held back until the next failure.
 */
void pgw_log_limit_flush(struct pgw_log_limit *l);

/* pgw_log_write for <lim>'s level and event, within its rate limit. */
#define pgw_log_limited(lim, sid, ...)                                                             \
	do {                                                                                       \
		if ((lim)->level >= pgw_log_min_level && pgw_log_limit_take(lim))                  \
			pgw_log_write((lim)->level, (sid), (lim)->event, __VA_ARGS__);             \
	} while (0)

#endif
