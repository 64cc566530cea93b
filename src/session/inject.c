/*
 * The job serializer on the wire: puts pgward's lock and check statements in front of a
 * job INSERT, in the same implicit or explicit transaction and in the same flight of
 * messages (no extra round trip), and tells the tracker to hide their answers.
 *   Query: one new Query text "lock; [check;] insert", its first statements hidden.
 *   Parse: in skip mode the INSERT's VALUES become a SELECT that skips active keys.
 *   Bind:  Close/Parse/Bind/Execute of the lock [and check] before the client's Bind,
 *          with the client's own parameter values; the client's Parse went ahead, which
 *          is fine: its statement's snapshot is taken at its Bind/Execute, after the lock.
 * Never changes what the client sees besides a conflict's 23505.
 */
#include "session-int.h"

#include "pgward/codec.h"
#include "pgward/jobs.h"
#include "pgward/log.h"
#include "pgward/proxy.h"
#include "pgward/sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

/* An ErrorResponse with a DETAIL, as bytes the tracker can hold. */
static uint8_t *error_bytes(const char *sqlstate, const char *message, const char *detail,
			    const char *hint, uint32_t *len)
{
	const char *vals[] = {"ERROR", "ERROR", sqlstate, message, detail, hint};
	const char codes[] = {'S', 'V', 'C', 'M', 'D', 'H'};
	uint32_t body = 1;
	uint8_t *bytes, *p;

	for (size_t i = 0; i < PGW_ARRAY_LEN(vals); i++)
		if (vals[i] != NULL && vals[i][0] != '\0')
			body += 1 + (uint32_t)strlen(vals[i]) + 1;
	*len = PGW_HDR_LEN + body - 1 + 1;
	bytes = p = malloc(*len);
	if (bytes == NULL)
		return NULL;
	*p++ = 'E';
	p[0] = (uint8_t)((body + 4) >> 24);
	p[1] = (uint8_t)((body + 4) >> 16);
	p[2] = (uint8_t)((body + 4) >> 8);
	p[3] = (uint8_t)(body + 4);
	p += 4;
	for (size_t i = 0; i < PGW_ARRAY_LEN(vals); i++) {
		if (vals[i] == NULL || vals[i][0] == '\0')
			continue;
		*p++ = (uint8_t)codes[i];
		memcpy(p, vals[i], strlen(vals[i]) + 1);
		p += strlen(vals[i]) + 1;
	}
	*p = 0;
	*len = (uint32_t)(p + 1 - bytes);
	return bytes;
}

static bool add_alt(struct pgw_swap *sw, const char *when, uint8_t note, const char *sqlstate,
		    const char *message, const char *detail, const char *hint)
{
	uint8_t i = sw->n;

	sw->alt[i].error = error_bytes(sqlstate, message, detail, hint, &sw->alt[i].len);
	if (sw->alt[i].error == NULL)
		return false;
	snprintf(sw->alt[i].sqlstate, sizeof(sw->alt[i].sqlstate), "%s", when);
	sw->alt[i].note = note;
	sw->n++;
	return true;
}

/* The errors the client gets instead of the sentinels of pgward's statements. */
static struct pgw_swap *swap_rr(const struct pgw_job_plan *plan)
{
	struct pgw_swap *sw = calloc(1, sizeof(*sw));
	char msg[256];

	if (sw == NULL)
		return NULL;
	snprintf(msg, sizeof(msg),
		 "pgward: inserts into job table %s need READ COMMITTED or SERIALIZABLE "
		 "isolation (rule job_isolation)",
		 plan->job->table);
	if (!add_alt(sw, PGW_JOB_SQLSTATE_RR, 0, "0A000", msg,
		     "Under REPEATABLE READ the duplicate check cannot see a job committed "
		     "while the insert waited for its lock.",
		     "Run the insert in a READ COMMITTED transaction.")) {
		pgw_swap_free(sw);
		return NULL;
	}
	return sw;
}

static bool add_conflict(struct pgw_swap *sw, const struct pgw_job_plan *plan,
			 const struct pgw_job_param *params, size_t nparams)
{
	char msg[256], detail[512];

	snprintf(msg, sizeof(msg),
		 "pgward: an active job with this key already exists in %s (rule job_conflict)",
		 plan->job->table);
	pgw_jobs_detail(plan, params, nparams, detail, sizeof(detail));
	return add_alt(sw, PGW_JOB_SQLSTATE_CONFLICT, (uint8_t)(plan->slot + 1), "23505", msg,
		       detail, NULL);
}

/*
 * Close, Parse, Close portal, Bind, Execute of one of pgward's statements, with the
 * client's parameters in the order <sql> numbers them. Closing first makes it safe
 * whatever happened to the last one (an error skips everything up to Sync). Takes <swap>.
 */
static bool send_own(struct pgw_session *s, const char *name, const char *text,
		     const struct pgw_job_sql *sql, const struct pgw_job_param *params,
		     size_t nparams, struct pgw_swap *swap, uint8_t note)
{
	struct pgw_own_param *bound = calloc(sql->nparams + 1u, sizeof(*bound));
	const struct pgw_own_answer hidden = {.action = PGW_RESP_HIDE};
	bool ok;

	if (bound == NULL) {
		pgw_swap_free(swap);
		return false;
	}
	for (uint16_t i = 0; i < sql->nparams; i++) {
		int n = sql->params[i];
		const struct pgw_job_param *p =
			n >= 1 && (size_t)n <= nparams ? &params[n - 1] : NULL;

		bound[i] = p != NULL ? (struct pgw_own_param){p->value, p->len, p->format}
				     : (struct pgw_own_param){.len = -1};
	}
	ok = pgw_server_own(s->srv, &(struct pgw_own_msg){.type = 'C', .kind = 'S', .name = name},
			    &hidden) == 0 &&
	     pgw_server_own(s->srv, &(struct pgw_own_msg){.type = 'P', .name = name, .text = text},
			    &hidden) == 0 &&
	     pgw_server_own(s->srv,
			    &(struct pgw_own_msg){.type = 'C', .kind = 'P', .name = PGW_JOB_PORTAL},
			    &hidden) == 0 &&
	     pgw_server_own(s->srv,
			    &(struct pgw_own_msg){.type = 'B',
						  .name = PGW_JOB_PORTAL,
						  .stmt = name,
						  .params = bound,
						  .nparams = sql->nparams},
			    &hidden) == 0;
	free(bound);
	if (!ok) {
		pgw_swap_free(swap);
		return false;
	}
	return pgw_server_own(s->srv, &(struct pgw_own_msg){.type = 'E', .name = PGW_JOB_PORTAL},
			      &(struct pgw_own_answer){
				      .action = PGW_RESP_HIDE, .swap = swap, .note = note}) == 0;
}

/* The parameters of a Bind, borrowed from its body; -1 if it is malformed. */
static int bind_params(const struct pgw_msg_view *m, const char **stmt,
		       struct pgw_job_param **params, size_t *nparams)
{
	struct pgw_reader r;
	uint16_t nfmt, n;
	const uint8_t *fmts;

	pgw_reader_init(&r, m->body, m->len);
	pgw_read_cstr(&r);
	*stmt = pgw_read_cstr(&r);
	nfmt = pgw_read_u16(&r);
	fmts = pgw_read_bytes(&r, (size_t)nfmt * 2);
	n = pgw_read_u16(&r);
	if (r.bad || (nfmt > 1 && nfmt != n))
		return -1;
	*params = calloc(n ? n : 1, sizeof(**params));
	if (*params == NULL)
		return -1;
	for (uint16_t i = 0; i < n; i++) {
		struct pgw_job_param *p = &(*params)[i];
		const uint8_t *f = nfmt == 0 ? NULL : fmts + 2 * (nfmt == 1 ? 0 : i);

		p->format = f != NULL ? (int16_t)(f[0] << 8 | f[1]) : 0;
		p->len = (int32_t)pgw_read_u32(&r);
		if (p->len > 0)
			p->value = pgw_read_bytes(&r, (size_t)p->len);
	}
	*nparams = n;
	if (r.bad) {
		free(*params);
		return -1;
	}
	return 0;
}

static void uncovered(struct pgw_session *s, const struct pgw_job_plan *plan,
		      const struct pgw_sql_info *info)
{
	pgw_jobs_count(plan->slot, 0, 0, 1);
	pgw_jobs_log_uncovered(s->id, plan, info);
}

/* Bind of a job INSERT: the lock (and check) go first, with the client's values. */
static enum pgw_inject on_bind(struct pgw_session *s, struct pgw_policy_ctx *ctx,
			       const struct pgw_msg_view *m)
{
	const struct pgw_sql_info *info;
	struct pgw_job_param *params = NULL;
	struct pgw_job_plan plan;
	struct pgw_job_sql sql;
	struct pgw_swap *lock_swap, *check_swap = NULL;
	size_t nparams = 0;
	const char *stmt;
	bool ok;

	stmt = memchr(m->body, '\0', m->len)
		       ? (const char *)m->body + strlen((const char *)m->body) + 1
		       : NULL;
	if (stmt == NULL || stmt >= (const char *)m->body + m->len)
		return PGW_INJ_FORWARD;
	info = pgw_stmt_map_get(ctx->stmts, stmt);
	switch (pgw_jobs_match(ctx->cfg, info, &plan)) {
	case PGW_JOB_NONE:
		return PGW_INJ_FORWARD;
	case PGW_JOB_UNCOVERED:
		uncovered(s, &plan, info);
		return PGW_INJ_FORWARD;
	case PGW_JOB_SERIALIZE:
		break;
	}
	if (bind_params(m, &stmt, &params, &nparams) < 0)
		return PGW_INJ_FORWARD; /* malformed: the server reports it */
	if (pgw_jobs_build(&plan, &sql) < 0) {
		free(params);
		return PGW_INJ_FAILED;
	}
	lock_swap = swap_rr(&plan);
	if (sql.check != NULL && (check_swap = calloc(1, sizeof(*check_swap))) != NULL &&
	    !add_conflict(check_swap, &plan, params, nparams)) {
		pgw_swap_free(check_swap);
		check_swap = NULL;
	}
	ok = lock_swap != NULL && (sql.check == NULL || check_swap != NULL);
	if (ok)
		ok = send_own(s, PGW_JOB_LOCK_STMT, sql.lock, &sql, params, nparams, lock_swap,
			      (uint8_t)(plan.slot + 1));
	else
		pgw_swap_free(lock_swap);
	if (ok && sql.check != NULL)
		ok = send_own(s, PGW_JOB_CHECK_STMT, sql.check, &sql, params, nparams, check_swap,
			      0);
	else
		pgw_swap_free(check_swap);
	pgw_jobs_sql_free(&sql);
	free(params);
	if (!ok)
		return PGW_INJ_FAILED;
	pgw_jobs_count(plan.slot, 1, 0, 0);
	return PGW_INJ_FORWARD;
}

/* Query: "lock; [check;] insert" as one text, one implicit transaction. */
static enum pgw_inject on_query(struct pgw_session *s, const struct pgw_job_plan *plan,
				const char *text, size_t len)
{
	struct pgw_job_sql sql;
	struct pgw_swap *swap;
	char *rewritten = NULL, *combined;
	size_t rlen = len, size;
	const char *insert = text;
	uint8_t hidden;
	bool ok;

	if (pgw_jobs_build(plan, &sql) < 0)
		return PGW_INJ_FAILED;
	if (sql.nparams > 0) {
		/* $n in a Query: the server refuses it; nothing to protect */
		pgw_jobs_sql_free(&sql);
		return PGW_INJ_FORWARD;
	}
	if (plan->job->on_conflict == PGW_JOB_SKIP) {
		rewritten = pgw_jobs_rewrite(plan, text, len, &rlen);
		if (rewritten == NULL) {
			pgw_jobs_sql_free(&sql);
			return PGW_INJ_UNCOVERED;
		}
		insert = rewritten;
	}
	swap = swap_rr(plan);
	if (swap == NULL || (sql.check != NULL && !add_conflict(swap, plan, NULL, 0))) {
		pgw_swap_free(swap);
		pgw_jobs_sql_free(&sql);
		free(rewritten);
		return PGW_INJ_FAILED;
	}
	hidden = sql.check != NULL ? 2 : 1;
	size = strlen(sql.lock) + 2 + (sql.check ? strlen(sql.check) + 2 : 0) + rlen + 1;
	if ((combined = malloc(size)) != NULL)
		snprintf(combined, size, "%s; %s%s%.*s", sql.lock, sql.check ? sql.check : "",
			 sql.check ? "; " : "", (int)rlen, insert);
	free(rewritten);
	pgw_jobs_sql_free(&sql);
	if (combined == NULL) {
		pgw_swap_free(swap);
		return PGW_INJ_FAILED;
	}
	ok = pgw_server_own(s->srv, &(struct pgw_own_msg){.type = 'Q', .text = combined},
			    &(struct pgw_own_answer){.action = PGW_RESP_HIDE,
						     .hide = hidden,
						     .swap = swap,
						     .note = (uint8_t)(plan->slot + 1)}) == 0;
	free(combined);
	if (!ok)
		return PGW_INJ_FAILED;
	pgw_jobs_count(plan->slot, 1, 0, 0);
	return PGW_INJ_REPLACED;
}

/* Parse in skip mode: the same message with the rewritten text. */
static enum pgw_inject on_parse(struct pgw_session *s, const struct pgw_job_plan *plan,
				const struct pgw_msg_view *m, const char *text, size_t len)
{
	const char *name = (const char *)m->body;
	const uint8_t *rest = (const uint8_t *)text + len + 1;
	size_t rest_len = (size_t)(m->body + m->len - rest), rlen;
	char *rewritten;

	if (plan->job->on_conflict != PGW_JOB_SKIP)
		return PGW_INJ_FORWARD;
	rewritten = pgw_jobs_rewrite(plan, text, len, &rlen);
	if (rewritten == NULL)
		return PGW_INJ_UNCOVERED;
	if (s->renames && name[0] != '\0') {
		/* sent under pgward's name once the session's map has it (renamed.c) */
		uint8_t *body = malloc(rlen + 1 + rest_len);

		if (body != NULL) {
			memcpy(body, rewritten, rlen);
			body[rlen] = '\0';
			memcpy(body + rlen + 1, rest, rest_len);
			s->renamed_body = body;
			s->renamed_body_len = rlen + 1 + rest_len;
		}
		free(rewritten);
		return body != NULL ? PGW_INJ_REPLACED : PGW_INJ_FAILED;
	}
	pgw_msg_header(s->srv->conn.out, 'P', (uint32_t)(strlen(name) + 1 + rlen + 1 + rest_len));
	pgw_put_cstr(s->srv->conn.out, name);
	evbuffer_add(s->srv->conn.out, rewritten, rlen);
	evbuffer_add(s->srv->conn.out, "", 1);
	evbuffer_add(s->srv->conn.out, rest, rest_len);
	free(rewritten);
	if (pgw_tracker_push(&s->srv->tracker, 'P', PGW_RESP_PASS, NULL, 0) < 0)
		return PGW_INJ_FAILED;
	return PGW_INJ_REPLACED;
}

enum pgw_inject pgw_sess_jobs(struct pgw_session *s, struct pgw_policy_ctx *ctx,
			      const struct pgw_msg_view *m)
{
	const struct pgw_sql_info *info;
	struct pgw_job_plan plan;
	enum pgw_inject r;
	const char *text;
	size_t len;

	if (ctx->cfg->njobs == 0)
		return PGW_INJ_FORWARD;
	if (m->type == 'B')
		return on_bind(s, ctx, m);
	if (!pgw_policy_sql_text(ctx, m, &text, &len))
		return PGW_INJ_FORWARD;
	/* the pre-filter only spares a parse: a classification at hand answers exactly */
	if (!(ctx->info && ctx->info->status == PGW_SQL_OK) &&
	    !pgw_jobs_may_match(ctx->cfg, text, len))
		return PGW_INJ_FORWARD;
	/* Inspected here even when no other policy needed it: a Parse keeps it for its Binds. */
	info = pgw_policy_inspect(ctx, text, len);
	switch (pgw_jobs_match(ctx->cfg, info, &plan)) {
	case PGW_JOB_NONE:
		return PGW_INJ_FORWARD;
	case PGW_JOB_UNCOVERED:
		if (m->type == 'Q')
			uncovered(s, &plan, info);
		return PGW_INJ_FORWARD;
	case PGW_JOB_SERIALIZE:
		break;
	}
	/* The skip mode splices the client's text into its rewrite: only its own bytes will do
	 * (not a conversion to UTF-8 or a reading of its string syntax). */
	if (plan.job->on_conflict == PGW_JOB_SKIP && !pgw_policy_text_is_raw(ctx))
		r = PGW_INJ_UNCOVERED;
	else if (!pgw_policy_raw_sql_text(m, &text, &len))
		return PGW_INJ_FORWARD;
	else
		r = m->type == 'Q' ? on_query(s, &plan, text, len)
				   : on_parse(s, &plan, m, text, len);
	if (r == PGW_INJ_UNCOVERED) {
		plan.why = "not_rewritable";
		uncovered(s, &plan, info);
		r = PGW_INJ_FORWARD;
	}
	return r;
}
