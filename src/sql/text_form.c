/*
 * The text pgward inspects for what a client sent (text_form.h): converted to UTF-8 as the
 * server converts it to its own encoding, then, with standard_conforming_strings off,
 * with each plain constant that holds a backslash marked E'...', which is how the server
 * reads it, and with the -- comments inside a constant continued over lines made spaces
 * (libpg_query would not continue it: pgw_sql_server_form). While several forms are possible, a
 * text is inspected only if they all read it alike, which holds for every text of ASCII characters
 * without such a constant.
 */
#include "pgward/sql_lex.h"
#include "pgward/text_form.h"

#include <stdlib.h>
#include <string.h>

const struct pgw_text_form pgw_text_form_default = {
	.client_enc = PGW_ENC_UTF8,
	.server_enc = PGW_ENC_UTF8,
	.scs = true,
};

/* More forms than this: ambiguous unless the text is plain ASCII. */
#define FORMS_COMPARED 8

void pgw_text_forms_set(struct pgw_text_forms *fs, const struct pgw_text_form *f)
{
	fs->encs = UINT64_C(1) << f->client_enc;
	fs->scs = PGW_TEXT_SCS_BIT(f->scs);
	fs->server_enc = f->server_enc;
}

void pgw_text_forms_add(struct pgw_text_forms *fs, const struct pgw_text_form *f)
{
	fs->encs |= UINT64_C(1) << f->client_enc;
	fs->scs |= PGW_TEXT_SCS_BIT(f->scs);
}

int pgw_text_form_read(const struct pgw_text_form *f, const char *in, size_t len, char **out,
		       size_t *out_len, struct pgw_enc_error *err)
{
	char *conv = NULL, *form;
	size_t conv_len = len, form_len;
	const char *text = in;
	int r;

	r = pgw_enc_to_utf8(f->client_enc, f->server_enc, in, len, &conv, &conv_len, err);
	if (r < 0)
		return r;
	if (r == PGW_ENC_CONVERTED)
		text = conv;
	else
		conv_len = len;
	/* cheap tests first: most texts hold no backslash and no comment */
	if ((!f->scs && memchr(text, '\\', conv_len) != NULL) ||
	    pgw_sql_has_comment_start(text, conv_len)) {
		int w = pgw_sql_server_form(text, conv_len, f->scs, &form, &form_len);

		if (w < 0) {
			free(conv);
			return PGW_ENC_NO_MEMORY;
		}
		if (w == 1) {
			free(conv);
			conv = form;
			conv_len = form_len;
			r = PGW_ENC_CONVERTED;
		}
	}
	if (r == PGW_ENC_CONVERTED) {
		*out = conv;
		*out_len = conv_len;
	}
	return r;
}

static bool ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

static bool same_reading(int r1, const char *t1, size_t l1, int r2, const char *t2, size_t l2)
{
	if (r1 < 0 || r2 < 0)
		return r1 < 0 && r2 < 0; /* invalid either way: the server refuses it */
	return l1 == l2 && memcmp(t1, t2, l1) == 0;
}

int pgw_text_forms_read(const struct pgw_text_forms *fs, const char *in, size_t len, char **out,
			size_t *out_len, struct pgw_enc_error *err)
{
	struct pgw_text_form f = {.server_enc = fs->server_enc};
	char *first = NULL;
	size_t first_len = 0;
	int first_r = 0, n = 0;

	f.client_enc = (uint8_t)__builtin_ctzll(fs->encs);
	f.scs = (fs->scs & PGW_TEXT_SCS_BIT(true)) != 0;
	/* ASCII reads alike in every encoding; without a backslash, with either setting */
	if (pgw_text_forms_single(fs) ||
	    (ascii(in, len) && (fs->scs != 3 || memchr(in, '\\', len) == NULL)))
		return pgw_text_form_read(&f, in, len, out, out_len, err);
	if (__builtin_popcountll(fs->encs) * (fs->scs == 3 ? 2 : 1) > FORMS_COMPARED)
		return PGW_TEXT_AMBIGUOUS;
	for (int e = 0; e < PGW_ENC__COUNT; e++) {
		if (!(fs->encs & (UINT64_C(1) << e)))
			continue;
		for (int on = 0; on <= 1; on++) {
			char *t = NULL;
			size_t tl = len;
			int r;

			if (!(fs->scs & PGW_TEXT_SCS_BIT(on)))
				continue;
			f.client_enc = (uint8_t)e;
			f.scs = on;
			r = pgw_text_form_read(&f, in, len, &t, &tl, err);
			if (r == PGW_ENC_NO_MEMORY) {
				free(first);
				return r;
			}
			if (n++ == 0) {
				first_r = r;
				first = t;
				first_len = tl;
				continue;
			}
			if (!same_reading(first_r, first_r == PGW_ENC_CONVERTED ? first : in,
					  first_len, r, r == PGW_ENC_CONVERTED ? t : in, tl)) {
				free(t);
				free(first);
				return PGW_TEXT_AMBIGUOUS;
			}
			free(t);
		}
	}
	if (first_r == PGW_ENC_CONVERTED) {
		*out = first;
		*out_len = first_len;
	}
	return first_r;
}
