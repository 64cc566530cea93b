/*
 * What config.c shares with the checks of its sections (checks.c): the key table
 * types and the parser's error reporting. Not for use outside src/config*.c.
 */
#ifndef PGWARD_CONFIG_INT_H
#define PGWARD_CONFIG_INT_H

#include "pgward/config.h"

enum key_type {
	KEY_STRING,   /* char *, NULL when empty; min is the shortest allowed length */
	KEY_INT,      /* int within min..max */
	KEY_ENUM,     /* int-sized enum named by key->enum_type */
	KEY_DURATION, /* double seconds: a number with an optional unit ms, s, min or h */
	KEY_SIZE,     /* uint32_t bytes: an integer with an optional unit B, kB, MB or GB */
};

struct config_enum {
	int nvalues;			/* the values are 0 .. nvalues - 1 */
	int (*parse)(const char *name); /* the value, or -1 */
	const char *(*name)(int value);
};

struct config_key {
	const char *name;
	enum key_type type;
	size_t offset; /* into struct pgw_config */
	const char *def;
	bool reloadable;    /* false: a new value needs a restart */
	long long min, max; /* accepted range; for strings, min is the shortest length */
	const struct config_enum *enum_type; /* KEY_ENUM only */
};

struct parser;
struct config_section {
	const char *name;
	const struct config_key *keys;
	size_t nkeys;
	/* Cross-key rules, run once the whole file is read; may be NULL. */
	int (*check)(struct parser *p, const struct config_section *sec);
	/* A section that repeats as "[name <arg>]" (one per job table): open adds an instance
	 * named <arg> and returns where its keys go (offsets into it, not into pgw_config);
	 * NULL after a failure it reported. NULL for plain sections. */
	void *(*open)(struct parser *p, const char *arg);
};

struct parser {
	struct pgw_config *cfg;
	const char *path;
	unsigned lineno;
	const struct config_section *section; /* the current [section], NULL before the first */
	void *instance; /* a repeated section's instance being read, else NULL */
	unsigned *
		key_lines; /* per pgw_config_key_slot(): the line that set the key, 0 if none did */
	char *err;
	size_t errlen;
};

/* Writes "file:line: message" into the parser's error buffer; returns -1. */
int pgw_config_fail(struct parser *p, unsigned line, const char *fmt, ...) PGW_PRINTF(3, 4);
const struct config_key *pgw_config_find_key(const struct config_section *sec, const char *name);
size_t pgw_config_key_slot(const struct config_section *sec, const struct config_key *key);

/* Cross-key rules of [pgward] and [guard], run once the whole file is read. */
int pgw_config_check_pgward(struct parser *p, const struct config_section *sec);
int pgw_config_check_guard(struct parser *p, const struct config_section *sec);
/* [tenant]: what its source needs, the setting names and the secret. */
int pgw_config_check_tenant(struct parser *p, const struct config_section *sec);

/* [job <table>] sections (jobs.c). */
void *pgw_config_job_open(struct parser *p, const char *table);
int pgw_config_check_jobs(struct parser *p, const struct config_section *sec);
void pgw_config_jobs_free(struct pgw_config *cfg);
/* [limits]: derives col_limits from column_limits (columns.c). */
int pgw_config_check_limits(struct parser *p, const struct config_section *sec);
void pgw_column_limits_free(struct pgw_column_limit *limits, size_t n);

/* keys.c: every section, in file order. */
extern const struct config_section pgw_config_sections[];
extern const size_t pgw_config_nsections;

/* Durations become time_t seconds later on, and time_t may be 32-bit. */
#define PGW_CONFIG_MAX_SECONDS 2147483647LL

#endif
