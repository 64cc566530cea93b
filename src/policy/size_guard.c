/*
 * Payload limits (report finding 3.3.2): messages, query texts, CopyData and Bind
 * parameters above the configured maxima are refused with 54000 before they reach the
 * server. Message-level limits are decided from the header, so an oversized message is
 * discarded as it arrives instead of being buffered.
 */
#include "pgward/codec.h"
#include "pgward/policy.h"

static const char *const hint =
	"Send smaller values, or raise the limit in the [limits] section of pgward.ini.";

static enum pgw_verdict too_big(struct pgw_policy_ctx *ctx, const char *rule, const char *what,
				uint64_t seen, uint64_t limit, const char *key)
{
	return pgw_refuse(ctx, rule, "54000", hint,
			  "pgward: %s of %llu bytes exceeds the limit of %llu bytes (rule %s, %s)",
			  what, (unsigned long long)seen, (unsigned long long)limit, rule, key);
}

static enum pgw_verdict on_header(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *m)
{
	const struct pgw_config *c = ctx->cfg;

	if (m->len > c->max_message_size)
		return too_big(ctx, "message_size", "message", m->len, c->max_message_size,
			       "max_message_size");
	if ((m->type == 'Q' || m->type == 'P') && m->len > c->max_query_size)
		return too_big(ctx, "query_size", m->type == 'Q' ? "query" : "Parse message",
			       m->len, c->max_query_size, "max_query_size");
	if (m->type == 'd' && m->len > c->max_copy_data_size)
		return too_big(ctx, "copy_data_size", "CopyData message", m->len,
			       c->max_copy_data_size, "max_copy_data_size");
	return PGW_PASS;
}

/* Bind: portal, statement, format codes, then each parameter as int32 length + bytes. */
static enum pgw_verdict check_bind(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *m)
{
	const struct pgw_config *c = ctx->cfg;
	struct pgw_reader r;
	uint16_t nformats, nparams;

	pgw_reader_init(&r, m->body, m->len);
	pgw_read_cstr(&r);
	pgw_read_cstr(&r);
	nformats = pgw_read_u16(&r);
	pgw_read_bytes(&r, 2u * nformats);
	nparams = pgw_read_u16(&r);
	if (r.bad)
		return PGW_PASS; /* malformed: the server reports it as it would without pgward */
	if (nparams > c->max_bind_params)
		return pgw_refuse(ctx, "bind_param_count", "54000", hint,
				  "pgward: Bind with %u parameters exceeds the limit of %d "
				  "(rule bind_param_count, max_bind_params)",
				  nparams, c->max_bind_params);
	if (m->len <= c->max_bind_param_size)
		return PGW_PASS; /* no parameter can be longer than the whole message */
	for (unsigned i = 0; i < nparams; i++) {
		uint32_t len = pgw_read_u32(&r);

		if (r.bad)
			break;
		if (len == 0xffffffffu) /* NULL */
			continue;
		if (len > 0x7fffffffu)
			return PGW_PASS; /* a negative length: malformed, the server reports it */
		if (len > c->max_bind_param_size)
			return pgw_refuse(
				ctx, "bind_param_size", "54000", hint,
				"pgward: Bind parameter $%u of %u bytes exceeds the limit "
				"of %u bytes (rule bind_param_size, max_bind_param_size)",
				i + 1, len, c->max_bind_param_size);
		pgw_read_bytes(&r, len);
	}
	return PGW_PASS;
}

static enum pgw_verdict on_message(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *m)
{
	return m->type == 'B' ? check_bind(ctx, m) : PGW_PASS;
}

const struct pgw_policy pgw_size_guard = {
	.name = "size_guard",
	.on_header = on_header,
	.on_message = on_message,
	.reads = "B",
};
