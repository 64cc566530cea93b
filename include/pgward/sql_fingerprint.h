/*
 * Statement fingerprints for metrics: libpg_query's pg_query_fingerprint (the one
 * pganalyze uses; constants and names of savepoints etc. do not change it) and
 * pg_query_normalize (the text with every constant replaced by $n, safe to log and
 * export). Each call parses the text twice (µs, more for long texts): callers cache.
 */
#ifndef PGWARD_SQL_FINGERPRINT_H
#define PGWARD_SQL_FINGERPRINT_H

#include "pgward/common.h"

/* Longest text fingerprinted; longer ones get none. */
#define PGW_SQL_FINGERPRINT_MAX_TEXT (64 * 1024)

/*
 * <text> must be NUL-terminated at <len>. Fills <fp> (never 0) and <normalized>
 * (malloc'd, caller frees) and returns 0; -1 if the text is too long, not UTF-8, does not
 * parse, or memory runs out.
 */
int pgw_sql_fingerprint(const char *text, size_t len, uint64_t *fp,
			char **normalized) PGW_MUSTCHECK;

/* At exit: releases the parser's stack. */
void pgw_sql_fingerprint_shutdown(void);

#endif
