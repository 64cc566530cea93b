/*
 * What hba.c, ident.c and auth_file.c share: PostgreSQL's tokenizer of pg_hba.conf and
 * pg_ident.conf (hba_tokens.c), reading a whole file with a size cap, and the
 * "file:line: message" errors. Internal to src/auth.
 */
#ifndef PGWARD_HBA_INT_H
#define PGWARD_HBA_INT_H

#include "pgward/common.h"

/* Larger files are refused (EFBIG): a mistaken path to a device must not fill memory. */
#define PGW_HBA_FILE_MAX (16u << 20)

/* PostgreSQL's MAX_TOKEN: a token holds at most 255 bytes. */
#define PGW_HBA_TOKEN_MAX 256

/* "@file" nesting, as PostgreSQL 16 limits it (15 recurses until the stack runs out). */
#define PGW_HBA_INCLUDE_DEPTH 10

struct hba_token {
	char *s;
	bool quoted; /* began with a double quote: never a keyword, never "@file" (a quote
			later on, as in al"l", keeps the keyword: PostgreSQL's initial_quote) */
};

/* A field: one column of a line, a comma list, "@file" includes expanded in place. */
struct hba_field {
	struct hba_token *tok;
	size_t n, cap;
};

struct hba_line {
	int line; /* of its first physical line, continuations counted */
	struct hba_field *field;
	size_t n, cap;
};

struct hba_lines {
	struct hba_line *line;
	size_t n, cap;
};

/*
 * Splits <text> into lines of fields as PostgreSQL's tokenize_auth_file does: '#' comments,
 * a backslash at the end of a line continues it, blanks and commas separate tokens, double
 * quotes protect both ("" is a quote), "@file" pulls in every token of that file. -1 with
 * "<name>:<line>: <message>" in <err>; <out> is then empty.
 */
int pgw_hba_tokenize(const char *text, size_t len, const char *name, struct hba_lines *out,
		     char *err, size_t errlen) PGW_MUSTCHECK;
void pgw_hba_lines_free(struct hba_lines *l);

/* Reads all of <path> into a NUL-terminated malloc'd buffer (zeroed on every regrowth, as it
 * may hold secrets). -1 with errno set. */
int pgw_hba_read_file(const char *path, char **text, size_t *len) PGW_MUSTCHECK;

/* Writes "<name>:<line>: <message>" into <err>; always returns -1. */
int pgw_hba_fail(char *err, size_t errlen, const char *name, int line, const char *fmt, ...)
	PGW_PRINTF(5, 6);

/* Skips a UTF-8 byte order mark, which editors on Windows like to start a file with. */
size_t pgw_hba_bom_len(const char *text, size_t len);

/* Frees <p> after zeroing its <len> bytes. */
void pgw_hba_free_secret(void *p, size_t len);

#endif
