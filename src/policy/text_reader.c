/*
 * Reads each Query and Parse text the way the server will (text_form.h) before any other
 * policy looks at it, and refuses what cannot be read so: bytes invalid in the session's
 * client_encoding, with the server's own error, and text that would read differently in
 * the forms a change still in flight may leave the session in.
 */
#include "pgward/policy.h"

static enum pgw_verdict on_message(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *m)
{
	const char *text;
	size_t len;

	if (pgw_policy_sql_text(ctx, m, &text, &len) || !ctx->text_read)
		return PGW_PASS;
	switch (ctx->text_status) {
	case PGW_ENC_INVALID:
		return pgw_refuse(ctx, "encoding", ctx->text_error.sqlstate, NULL,
				  "pgward: %s (rule encoding)", ctx->text_error.message);
	case PGW_TEXT_AMBIGUOUS:
		return pgw_refuse(
			ctx, "text_form_in_flight", "55000",
			"Wait for the result of a SET of client_encoding or "
			"standard_conforming_strings before sending text that depends on it.",
			"pgward: cannot tell how the server will read this statement: a change of "
			"client_encoding or standard_conforming_strings sent before it is not "
			"confirmed yet (rule text_form_in_flight)");
	case PGW_ENC_NO_MEMORY:
		return pgw_refuse(ctx, "too_complex", "53200", NULL, "pgward: out of memory");
	default:
		return PGW_PASS; /* malformed: the server reports it as it would without pgward */
	}
}

const struct pgw_policy pgw_text_reader = {
	.name = "text_reader",
	.on_message = on_message,
	.reads = "QP",
};
