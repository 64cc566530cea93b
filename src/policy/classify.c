/*
 * The SQL classification every policy shares: one cache for the whole process (owned
 * here, not by any one policy), and at most one inspection per message however many
 * policies ask. A policy that needs the classification calls pgw_policy_inspect; the
 * relay releases it with pgw_policy_ctx_release once the pipeline is done, or keeps it
 * for a Parse in the session's statement map (statements.c), so a later Bind finds it.
 */
#include "pgward/log.h"
#include "pgward/policy.h"
#include "pgward/sql.h"

#include <stdlib.h>
#include <string.h>

static struct pgw_sql_cache *cache;

static struct pgw_sql_cache *sql_cache(const struct pgw_config *cfg)
{
	struct pgw_sql_limits limits;
	size_t want = PGW_MIN(cfg->max_query_size, PGW_SQL_PARSE_BYTES_CAP);

	if (cache == NULL)
		cache = pgw_sql_cache_new((size_t)cfg->sql_cache_entries, cfg->sql_cache_size);
	if (cache != NULL) {
		/* Anything within max_query_size is parsed, up to the module's hard cap; the
		 * bounds follow [guard] on reload. */
		pgw_sql_cache_get_limits(cache, &limits);
		if (limits.max_parse_bytes != want ||
		    limits.max_entries != (size_t)cfg->sql_cache_entries ||
		    limits.max_bytes != cfg->sql_cache_size) {
			limits.max_parse_bytes = want;
			limits.max_entries = (size_t)cfg->sql_cache_entries;
			limits.max_bytes = cfg->sql_cache_size;
			if (pgw_sql_cache_set_limits(cache, &limits) < 0)
				pgw_warn(0, "sql_cache", "msg=\"cannot apply limits\"");
		}
	}
	return cache;
}

bool pgw_policy_raw_sql_text(const struct pgw_msg_view *m, const char **text, size_t *len)
{
	const char *p = (const char *)m->body, *end = p + m->len, *nul;

	if (m->type != 'Q' && m->type != 'P')
		return false;
	if (m->type == 'P') {
		nul = memchr(p, '\0', m->len);
		if (nul == NULL)
			return false;
		p = nul + 1;
	}
	nul = memchr(p, '\0', (size_t)(end - p));
	if (nul == NULL)
		return false; /* malformed: the server reports it */
	*text = p;
	*len = (size_t)(nul - p);
	return true;
}

/* UTF8 on both sides with standard strings: the text is its own reading if it is valid. */
static bool plain_utf8(const struct pgw_text_forms *fs)
{
	return fs == NULL || (fs->encs == UINT64_C(1) << PGW_ENC_UTF8 &&
			      fs->scs == PGW_TEXT_SCS_BIT(true) && fs->server_enc == PGW_ENC_UTF8);
}

/* The text of a Query whose one NUL ends it, else pgw_policy_raw_sql_text's. */
static bool raw_text(const struct pgw_msg_view *m, const char **text, size_t *len)
{
	if (m->type == 'Q' && m->len > 0 && m->body[m->len - 1] == '\0') {
		*text = (const char *)m->body;
		*len = m->len - 1; /* a NUL before the end is found by the scan */
		return true;
	}
	return pgw_policy_raw_sql_text(m, text, len);
}

void pgw_policy_read_text(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *m)
{
	struct pgw_text_forms dflt;
	struct pgw_sql_scan scan;
	const char *raw;
	size_t raw_len, len;
	char *buf = NULL;

	ctx->text_read = true;
	ctx->text = NULL;
	if (!raw_text(m, &raw, &raw_len)) {
		ctx->text_status = PGW_ENC_SAME;
		return;
	}
	/* Every simple-protocol Query comes here. In the usual session one pass over the bytes
	 * checks them as the server will and answers the question every role asks, the guard's
	 * when the role has rules, and transaction pooling's (each would ask next, in a pass of
	 * its own). */
	if (plain_utf8(ctx->forms)) {
		unsigned want = PGW_SQL_MAY_CHANGE_SESSION;

		if (pgw_config_guard_rules(ctx->cfg, ctx->user) != 0 ||
		    ctx->cfg->on_parse_error == PGW_PARSE_ERROR_REFUSE)
			want |= PGW_SQL_MAY_BREAK_RULES;
		if (ctx->pinnable)
			want |= PGW_SQL_MAY_PIN;
		pgw_sql_scan(raw, raw_len, want, &scan);
		if (scan.valid == raw_len && !scan.comment) {
			ctx->text_status = PGW_ENC_SAME;
			ctx->text = raw;
			ctx->text_len = raw_len;
			ctx->prefilter_asked = (uint8_t)want;
			ctx->prefilter_found = (uint8_t)scan.may;
			return;
		}
		if (scan.valid < raw_len && raw[scan.valid] == '\0')
			pgw_policy_raw_sql_text(m, &raw, &raw_len); /* the server reads up to it */
	}
	if (ctx->forms == NULL)
		pgw_text_forms_set(&dflt, &pgw_text_form_default);
	len = raw_len;
	ctx->text_status = pgw_text_forms_read(ctx->forms ? ctx->forms : &dflt, raw, raw_len, &buf,
					       &len, &ctx->text_error);
	if (ctx->text_status == PGW_ENC_SAME) {
		ctx->text = raw;
		ctx->text_len = raw_len;
	} else if (ctx->text_status == PGW_ENC_CONVERTED) {
		ctx->text = buf;
		ctx->text_len = len;
		ctx->text_buf = buf;
	}
}

bool pgw_policy_text_is_raw(const struct pgw_policy_ctx *ctx)
{
	return ctx->text_read && ctx->text_status == PGW_ENC_SAME;
}

unsigned pgw_policy_prefilter(struct pgw_policy_ctx *ctx, const char *text, size_t len,
			      unsigned want)
{
	unsigned todo = want & ~ctx->prefilter_asked;

	if (todo != 0) {
		ctx->prefilter_found |= (uint8_t)pgw_sql_prefilter(text, len, todo);
		ctx->prefilter_asked |= (uint8_t)todo;
	}
	return ctx->prefilter_found & want;
}

const struct pgw_sql_info *pgw_policy_inspect(struct pgw_policy_ctx *ctx, const char *text,
					      size_t len)
{
	struct pgw_sql_cache *c;

	if (ctx->info != NULL)
		return ctx->info;
	c = sql_cache(ctx->cfg);
	if (c == NULL)
		return NULL;
	ctx->info = pgw_sql_inspect(c, text, len);
	return ctx->info;
}

enum pgw_verdict pgw_policy_judge_sql(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *m,
				      const char *rule, pgw_policy_check_fn check)
{
	const struct pgw_sql_info *info;
	const char *text;
	size_t len;

	if (!pgw_policy_sql_text(ctx, m, &text, &len) ||
	    !pgw_policy_prefilter(ctx, text, len, PGW_SQL_MAY_BREAK_RULES))
		return PGW_PASS;
	info = pgw_policy_inspect(ctx, text, len);
	if (info == NULL)
		return pgw_refuse(ctx, rule, "53200", NULL, "pgward: out of memory");
	if (info->status != PGW_SQL_OK)
		return PGW_PASS; /* the guard refuses what cannot be inspected; syntax errors
				    are the server's */
	return check(ctx, info);
}

const struct pgw_sql_info *pgw_policy_inspect_text(const struct pgw_policy_ctx *ctx,
						   const char *text, size_t len)
{
	struct pgw_sql_cache *c = sql_cache(ctx->cfg);

	return c != NULL ? pgw_sql_inspect(c, text, len) : NULL;
}

enum pgw_verdict pgw_policy_parse_error(struct pgw_policy_ctx *ctx, const struct pgw_sql_info *info)
{
	if (ctx->cfg->on_parse_error != PGW_PARSE_ERROR_REFUSE)
		return PGW_PASS;
	return pgw_refuse(ctx, "parse_error", "42601",
			  "pgward only forwards statements it can inspect (on_parse_error = refuse "
			  "in [guard]).",
			  "pgward: cannot parse the statement: %s (rule parse_error)",
			  info->error ? info->error : "syntax error");
}

void pgw_policy_ctx_release(struct pgw_policy_ctx *ctx)
{
	pgw_sql_info_unref(ctx->info);
	ctx->info = NULL;
	free(ctx->text_buf);
	ctx->text_buf = NULL;
	ctx->text = NULL;
	ctx->text_read = false;
	ctx->prefilter_asked = 0; /* the memo is of this message's text */
	ctx->prefilter_found = 0;
}

void pgw_policy_sql_stats(struct pgw_sql_cache_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (cache != NULL)
		pgw_sql_cache_stats(cache, out);
}

void pgw_policy_sql_uncached(size_t top,
			     void (*fn)(const char *shape, size_t len, uint64_t parses,
					const char *why, void *arg),
			     void *arg)
{
	if (cache != NULL)
		pgw_sql_cache_uncached(cache, top, fn, arg);
}

void pgw_policy_shutdown(void)
{
	pgw_sql_cache_free(cache);
	cache = NULL;
}
