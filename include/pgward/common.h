/*
 * Attributes and small helpers shared by every module. Nothing here may depend on
 * another pgward header.
 */
#ifndef PGWARD_COMMON_H
#define PGWARD_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define PGW_MUSTCHECK	 __attribute__((warn_unused_result))
#define PGW_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define PGW_UNUSED	 __attribute__((unused))
#define PGW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PGW_MIN(a, b)	 ((a) < (b) ? (a) : (b))
#define PGW_MAX(a, b)	 ((a) > (b) ? (a) : (b))

#endif
