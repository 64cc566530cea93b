/*
 * The statements the SQL tests run over: the classifier's tables (tests/data/sql/<name>.tsv,
 * a name, a tab, the statement) and PostgreSQL 15.18's regression SQL
 * (tests/data/regress/<name>.sql, split at the semicolons the scanner sees). For
 * test_sql_shape and test_sql_json. Header-only (static inline), as each test is built from
 * one file.
 */
#ifndef PGWARD_TEST_SQL_CORPUS_H
#define PGWARD_TEST_SQL_CORPUS_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgward/sql_lex.h"

typedef void (*sql_corpus_fn)(const char *sql, size_t len, void *arg);

static inline const char *sql_corpus_dir(void)
{
	const char *dir = getenv("PGWARD_TEST_DATA");

	return dir ? dir : "tests/data";
}

/* Each statement of the classifier's tables; aborts the test if one cannot be read. */
static inline void sql_corpus_tables(sql_corpus_fn fn, void *arg)
{
	static const char *const files[] = {"flags.tsv",       "gucs.tsv",	 "kinds.tsv",
					    "inserts.tsv",     "updates.tsv",	 "notifies.tsv",
					    "deallocates.tsv", "fingerprint.tsv"};
	char path[1024], line[8192];

	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		FILE *fp;

		snprintf(path, sizeof(path), "%s/sql/%s", sql_corpus_dir(), files[f]);
		fp = fopen(path, "r");
		if (!fp)
			fail_msg("cannot open %s", path);
		while (fgets(line, sizeof(line), fp)) {
			char *sql = strchr(line, '\t');

			if (line[0] != '#' && sql)
				fn(sql + 1, strcspn(sql + 1, "\n"), arg);
		}
		fclose(fp);
	}
}

/* Each statement of one SQL file, split at the semicolons the scanner sees. */
static inline void sql_corpus_file(const char *path, sql_corpus_fn fn, void *arg)
{
	FILE *fp = fopen(path, "r");
	struct pgw_lexer lx;
	struct pgw_lex_tok t;
	size_t len, from = 0;
	char *text;
	long size = 0;

	if (!fp)
		fail_msg("cannot open %s", path);
	if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0)
		fail_msg("cannot read %s", path);
	rewind(fp);
	text = malloc((size_t)size + 1);
	if (!text)
		fail_msg("out of memory");
	len = fread(text, 1, (size_t)size, fp);
	fclose(fp);
	text[len] = '\0';
	pgw_lex_init(&lx, text, len, true);
	while (pgw_lex_next(&lx, &t)) {
		if (t.kind != PGW_TOK_OTHER || text[t.start] != ';')
			continue;
		fn(text + from, t.start + 1 - from, arg);
		from = t.start + 1;
	}
	free(text);
}

/* Each statement of the regression SQL; returns the number of files. */
static inline size_t sql_corpus_regress(sql_corpus_fn fn, void *arg)
{
	char dir[1024], path[2048];
	struct dirent *de;
	size_t files = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/regress", sql_corpus_dir());
	d = opendir(dir);
	if (!d)
		fail_msg("cannot open %s", dir);
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n < 5 || strcmp(de->d_name + n - 4, ".sql") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		sql_corpus_file(path, fn, arg);
		files++;
	}
	closedir(d);
	return files;
}

#endif
