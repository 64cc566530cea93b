/*
 * FunctionCall (the fast-path protocol) runs a function by OID with no SQL text to inspect.
 * A session with a tenant context may call only the large-object functions libpq and pgJDBC
 * call this way; any other session anything but set_config (which would change role,
 * row_security, client_encoding or standard_conforming_strings unseen) and, while tenant mode
 * is on, pg_notify (whose channel pgward would not see).
 */
#include "pgward/policy.h"

/*
 * The functions pgward knows by OID: PostgreSQL 15's pg_proc (the OIDs of built-ins are fixed
 * in pg_proc.dat and have not changed since they were added). The large-object ones are what
 * libpq's lo_initialize() and pgJDBC's LargeObjectManager look up and call; the others are
 * named in refusals.
 */
static const struct known_function {
	uint32_t oid;
	const char *name;
	bool large_object;
} known[] = {
	{715, "lo_create", true},
	{952, "lo_open", true},
	{953, "lo_close", true},
	{954, "loread", true},
	{955, "lowrite", true},
	{956, "lo_lseek", true},
	{957, "lo_creat", true},
	{958, "lo_tell", true},
	{964, "lo_unlink", true},
	{1004, "lo_truncate", true},
	{2078, "set_config", false},
	{2924, "query_to_xml", false},
	{2927, "query_to_xmlschema", false},
	{2930, "query_to_xml_and_xmlschema", false},
	{3036, "pg_notify", false},
	{3170, "lo_lseek64", true},
	{3171, "lo_tell64", true},
	{3172, "lo_truncate64", true},
	{3685, "ts_rewrite", false},
	{3689, "ts_stat", false},
	{3690, "ts_stat", false},
};

#define SET_CONFIG_OID 2078u
#define PG_NOTIFY_OID  3036u

static const struct known_function *lookup(uint32_t oid)
{
	for (size_t i = 0; i < PGW_ARRAY_LEN(known); i++)
		if (known[i].oid == oid)
			return &known[i];
	return NULL;
}

/* A session with a tenant context: large objects only. */
static enum pgw_verdict tenant_session(struct pgw_policy_ctx *ctx, uint32_t oid)
{
	const struct known_function *f = lookup(oid);
	static const char hint[] = "Only the large-object functions may be called through the "
				   "FunctionCall protocol; call other functions in SQL.";

	if (f != NULL && f->large_object)
		return PGW_PASS;
	if (f != NULL)
		return pgw_refuse(ctx, "function_call", "42501", hint,
				  "pgward: calling %s (OID %u) through the FunctionCall protocol "
				  "is not allowed in a session with a tenant context "
				  "(rule function_call)",
				  f->name, oid);
	return pgw_refuse(ctx, "function_call", "42501", hint,
			  "pgward: calling the function with OID %u through the FunctionCall "
			  "protocol is not allowed in a session with a tenant context "
			  "(rule function_call)",
			  oid);
}

static enum pgw_verdict on_message(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *m)
{
	uint32_t oid;

	if (m->type != 'F' || m->len < 4)
		return PGW_PASS; /* malformed: the server reports it */
	oid = (uint32_t)m->body[0] << 24 | (uint32_t)m->body[1] << 16 | (uint32_t)m->body[2] << 8 |
	      m->body[3];
	if (ctx->tenant_context)
		return tenant_session(ctx, oid);
	if (oid == SET_CONFIG_OID)
		return pgw_refuse(ctx, "function_call", "42501", "Use SET or set_config() in SQL.",
				  "pgward: calling set_config through the FunctionCall protocol is "
				  "not allowed (rule function_call)");
	if (oid == PG_NOTIFY_OID && ctx->cfg->tenant_mode == PGW_TENANT_MODE_ON)
		return pgw_refuse(
			ctx, "function_call", "42501", "Use NOTIFY or pg_notify() in SQL.",
			"pgward: calling pg_notify through the FunctionCall protocol is not "
			"allowed while [tenant] mode is on: pgward could not see its "
			"channel (rule function_call)");
	return PGW_PASS;
}

const struct pgw_policy pgw_function_call = {
	.name = "function_call",
	.on_message = on_message,
	.reads = "F",
};
