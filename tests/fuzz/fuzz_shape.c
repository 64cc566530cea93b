/*
 * libFuzzer target for statement shapes: a text, then the same text with its literals' values
 * changed (digits turned, letters in strings turned, a digit or letter added), through one
 * cache that keeps shapes. The second answer, from the first text's shape where it serves,
 * must be what a parse of it by a cache that keeps nothing gives, field by field.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/sql_info_diff.h"
#include "pgward/sql.h"
#include "pgward/sql_lex.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

#define MAX_TEXT 4096

static struct pgw_sql_cache *shaped, *fresh;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	shaped = pgw_sql_cache_new(256, 4u << 20); /* small: it keeps evicting */
	fresh = pgw_sql_cache_new(0, 0);
	CHECK(shaped != NULL && fresh != NULL);
	return 0;
}

/* <text> with the values of its literals changed by <turn> (1..9); returns the length. */
static size_t other_values(const char *text, size_t len, unsigned turn, bool grow, char *out)
{
	struct pgw_lexer lx;
	struct pgw_lex_tok t;
	size_t n = 0, copied = 0;

	pgw_lex_init(&lx, text, len, true);
	while (pgw_lex_next_literal(&lx, &t)) {
		size_t lit;

		memcpy(out + n, text + copied, t.start - copied);
		n += t.start - copied;
		lit = n;
		memcpy(out + n, text + t.start, t.len);
		n += t.len;
		copied = t.start + t.len;
		for (size_t i = lit; i < n; i++) {
			char c = out[i];

			if (t.kind == PGW_TOK_NUMBER && c >= '0' && c <= '9')
				out[i] = (char)('0' + (c - '0' + turn) % 10);
			else if (t.kind == PGW_TOK_STRING && i > lit && c >= 'a' && c <= 'y')
				out[i] = (char)(c + 1);
		}
		if (grow && t.kind == PGW_TOK_NUMBER) {
			out[n++] = (char)('0' + turn);
		} else if (grow && t.kind == PGW_TOK_STRING && out[n - 1] == '\'') {
			out[n - 1] = 'q';
			out[n++] = '\'';
		}
	}
	memcpy(out + n, text + copied, len - copied);
	return n + len - copied;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char variant[2 * MAX_TEXT + 16];
	const char *text = (const char *)data;
	const struct pgw_sql_info *a, *b;
	size_t vlen;

	if (size == 0 || size > MAX_TEXT)
		return 0;
	pgw_sql_info_unref(pgw_sql_inspect(shaped, text, size)); /* learns its shape */
	vlen = other_values(text, size, 1 + data[0] % 9, data[size - 1] & 1, variant);
	a = pgw_sql_inspect(shaped, variant, vlen);
	b = pgw_sql_inspect(fresh, variant, vlen);
	CHECK(info_diff(a, b) == NULL);
	pgw_sql_info_unref(a);
	pgw_sql_info_unref(b);
	return 0;
}
