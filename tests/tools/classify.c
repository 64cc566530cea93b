/*
 * classify: prints, for each statement of a SQL file (or stdin), the guard rules pgward's
 * classifier raises with "rules = all", one JSON object per line, for the differential tests
 * (tests/integration/test_squawk_differential.py). Uses only the public API of the SQL module;
 * the whole text is inspected at once, as pgward does with a Query, so a statement is judged
 * with what came before it in the file (an index on a table created earlier is fine).
 *
 *   classify [file]   {"stmt":0,"line":3,"end_line":4,"tag":"CREATE INDEX","rules":["..."]}
 *
 * Lines are 0-based, as squawk's JSON reporter counts them. A text the parser refuses gives a
 * single {"status":"parse_error","error":"...","cursor":N} line and exit status 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgward/sql.h"

static char *read_all(FILE *f, size_t *len)
{
	size_t cap = 1 << 16, n = 0, got;
	char *buf = malloc(cap), *bigger;

	if (!buf)
		return NULL;
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			bigger = realloc(buf, cap * 2);
			if (!bigger) {
				free(buf);
				return NULL;
			}
			buf = bigger;
			cap *= 2;
		}
	}
	if (ferror(f)) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

static void put_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* 0-based line of byte <off>. */
static unsigned line_of(const char *sql, size_t off)
{
	unsigned line = 0;

	for (size_t i = 0; i < off; i++)
		line += sql[i] == '\n';
	return line;
}

int main(int argc, char **argv)
{
	const struct pgw_sql_limits limits = {
		.max_entries = 0,
		.max_bytes = 0,
		.max_cached_text = PGW_SQL_MAX_CACHED_TEXT,
		.max_parse_bytes = PGW_SQL_PARSE_BYTES_CAP,
	};
	const struct pgw_sql_info *info;
	struct pgw_sql_cache *cache;
	uint64_t all;
	char bad[64];
	size_t len;
	char *sql;
	FILE *in = stdin;
	int rc = 0;

	if (argc > 2 || (argc == 2 && !strcmp(argv[1], "--help"))) {
		fprintf(stderr, "usage: %s [file.sql]\n", argv[0]);
		return 2;
	}
	if (argc == 2 && !(in = fopen(argv[1], "rb"))) {
		perror(argv[1]);
		return 2;
	}
	sql = read_all(in, &len);
	if (in != stdin)
		fclose(in);
	if (!sql) {
		fprintf(stderr, "classify: cannot read the input\n");
		return 2;
	}
	if (pgw_sql_rule_list_parse("all", &all, bad, sizeof(bad)) < 0 ||
	    !(cache = pgw_sql_cache_new(0, 0)) || pgw_sql_cache_set_limits(cache, &limits) < 0) {
		fprintf(stderr, "classify: cannot set up the SQL module\n");
		free(sql);
		return 2;
	}

	info = pgw_sql_inspect(cache, sql, len);
	if (info->status != PGW_SQL_OK) {
		printf("{\"status\":");
		put_json_string(pgw_sql_status_name(info->status));
		printf(",\"error\":");
		put_json_string(info->error ? info->error : "");
		printf(",\"cursor\":%d}\n", info->error_cursor);
		rc = 1;
	}
	for (size_t i = 0; i < info->nstmts; i++) {
		const struct pgw_sql_stmt *st = &info->stmts[i];
		size_t start = st->offset, end = (size_t)st->offset + st->len;
		const char *sep = "";

		/* The range starts after the previous ';': skip to the statement's first byte. */
		while (start < end && strchr(" \t\r\n", sql[start]))
			start++;
		printf("{\"stmt\":%zu,\"line\":%u,\"end_line\":%u,\"tag\":", i, line_of(sql, start),
		       line_of(sql, end));
		put_json_string(st->tag);
		printf(",\"rules\":[");
		for (int f = 0; f < PGW_SQL_NFLAGS; f++) {
			if (!(st->flags & all & PGW_SQL_BIT(f)))
				continue;
			printf("%s", sep);
			put_json_string(pgw_sql_flag_name((enum pgw_sql_flag)f));
			sep = ",";
		}
		printf("]}\n");
	}

	pgw_sql_info_unref(info);
	pgw_sql_cache_free(cache);
	free(sql);
	return rc;
}
