/*
 * libFuzzer target for SQL text read with standard_conforming_strings off: the server's
 * reading (libpg_query's own scanner with the setting off, tests/unit/scs_oracle.h) and
 * pgward's (pgw_sql_scs_off_form's form, read with it on) must agree for any text up to its
 * first NUL. The first byte also picks how the lexer is checked on all the bytes after it:
 * bit 0 set, with the setting on (its tokens tile the text, and no form is made), else with
 * it off (they tile it, and the form has the same tokens).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/scs_oracle.h"
#include "pgward/text_form.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	CHECK(scs_oracle_works()); /* or every verdict below would be worthless */
	return 0;
}

static void check_lexer(const char *s, size_t len, bool scs)
{
	struct pgw_text_form f = {PGW_ENC_UTF8, PGW_ENC_UTF8, scs};
	struct pgw_enc_error err;
	char *form = NULL;
	size_t form_len = 0;
	int r;

	CHECK(scs_tiles(s, len, scs));
	if (scs) {
		/* standard strings: the text is inspected as it is (but for comments inside a
		 * continued constant, made spaces), or refused for its bytes */
		r = pgw_text_form_read(&f, s, len, &form, &form_len, &err);
		CHECK(r == PGW_ENC_SAME || r == PGW_ENC_INVALID ||
		      (r == PGW_ENC_CONVERTED && form_len == len));
		free(form);
		return;
	}
	r = pgw_sql_scs_off_form(s, len, &form, &form_len);
	CHECK(r == 0 || r == 1);
	if (r == 1) {
		CHECK(form_len > len && form[form_len] == '\0');
		CHECK(scs_form_tokens_match(s, len, form, form_len));
	}
	free(form);
}

static void report(const struct scs_outcome *o)
{
	fprintf(stderr, "fuzz_scs: the server and pgward read the text differently\n");
	fprintf(stderr, "text:   %s\nform:   %s\nserver: %s\npgward: %s\n", o->server_text, o->form,
		o->server.tree ? o->server.tree : o->server.error,
		o->pgward.tree ? o->pgward.tree : o->pgward.error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scs_outcome o;
	size_t len, text_len;
	char *exact, *text;

	if (size == 0)
		return 0;
	len = size - 1;
	/* exactly the input's bytes, nothing after them: ASan sees a read past the end */
	exact = malloc(len ? len : 1);
	CHECK(exact != NULL);
	memcpy(exact, data + 1, len);
	check_lexer(exact, len, (data[0] & 1) != 0);

	/* the protocol's strings end at a NUL, and so do pg_query_parse's */
	text_len = strnlen(exact, len);
	text = malloc(text_len + 1);
	CHECK(text != NULL);
	memcpy(text, exact, text_len);
	text[text_len] = '\0';
	scs_compare(text, text_len, &o);
	if (o.verdict == SCS_DISAGREE) {
		report(&o);
		__builtin_trap();
	}
	scs_outcome_free(&o);
	free(text);
	free(exact);
	return 0;
}
