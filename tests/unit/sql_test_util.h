/*
 * Shared by the tests/unit/test_sql_*.c files: includes, a big cache's limits and a
 * NUL-terminated inspect(). Header-only (static inline), as CMake builds each test_*.c alone.
 */
#ifndef PGWARD_SQL_TEST_UTIL_H
#define PGWARD_SQL_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgward/sql.h"
#include "../../src/sql/sql-int.h"

#define BIG_CACHE 1000, (64u << 20)

static inline const struct pgw_sql_info *inspect(struct pgw_sql_cache *c, const char *sql)
{
	return pgw_sql_inspect(c, sql, strlen(sql));
}

#endif
