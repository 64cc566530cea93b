/*
 * How the server reads a session's SQL text: in which encoding the client writes it, the
 * database's encoding, and whether plain '...' constants take backslash escapes
 * (standard_conforming_strings off). pgward inspects the UTF-8, standard-strings text
 * whose parse is the server's parse of what the client sent (pgw_text_form_read), so a
 * statement cannot hide behind a multibyte character or a backslash. Pure.
 */
#ifndef PGWARD_TEXT_FORM_H
#define PGWARD_TEXT_FORM_H

#include "pgward/common.h"
#include "pgward/encoding.h"

struct pgw_text_form {
	uint8_t client_enc; /* enum pgw_enc */
	uint8_t server_enc;
	bool scs; /* standard_conforming_strings */
};

/*
 * The forms the server may read the next message in: every combination of these client
 * encodings (a bit per enum pgw_enc) and settings of standard_conforming_strings (bit 0:
 * off, bit 1: on). More than one while a change pgward saw is not confirmed yet by the
 * server, or a ROLLBACK may undo one.
 */
struct pgw_text_forms {
	uint64_t encs;
	uint8_t scs;
	uint8_t server_enc;
};

#define PGW_TEXT_SCS_BIT(on) ((uint8_t)(1u << ((on) ? 1 : 0)))
#define PGW_TEXT_ENCS_ALL    ((UINT64_C(1) << PGW_ENC__COUNT) - 1)

/* What the server reads when nothing says otherwise: UTF8 both sides, standard strings. */
extern const struct pgw_text_form pgw_text_form_default;

void pgw_text_forms_set(struct pgw_text_forms *fs, const struct pgw_text_form *f);
void pgw_text_forms_add(struct pgw_text_forms *fs, const struct pgw_text_form *f);
static inline bool pgw_text_forms_single(const struct pgw_text_forms *fs)
{
	return (fs->encs & (fs->encs - 1)) == 0 && (fs->scs == 1 || fs->scs == 2);
}

/* pgw_enc_to_utf8's results, and one more for several forms. */
#define PGW_TEXT_AMBIGUOUS (-3) /* the forms read <in> differently: cannot know which */

/*
 * The text to inspect for <in> read in <f> (see pgw_enc_to_utf8 for the results): SAME
 * when <in> itself is it, which is the case for UTF-8 and ASCII text with standard
 * strings, or with no backslash in a plain constant.
 */
int pgw_text_form_read(const struct pgw_text_form *f, const char *in, size_t len, char **out,
		       size_t *out_len, struct pgw_enc_error *err);

/* The same over every form of <fs>: their common reading, or PGW_TEXT_AMBIGUOUS. */
int pgw_text_forms_read(const struct pgw_text_forms *fs, const char *in, size_t len, char **out,
			size_t *out_len, struct pgw_enc_error *err);

#endif
