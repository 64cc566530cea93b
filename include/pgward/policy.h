/*
 * The policy pipeline: an ordered list of small, independent policies that each look at
 * a client message and say pass or refuse. A policy never sees a socket; it gets the
 * message and a context, so it is tested without mocks. Adding a policy is one file and
 * one line in pipeline.c.
 */
#ifndef PGWARD_POLICY_H
#define PGWARD_POLICY_H

#include "pgward/common.h"
#include "pgward/config.h"
#include "pgward/text_form.h"

enum pgw_verdict {
	PGW_PASS = 0,
	PGW_REFUSE,
};

/* Why a message was refused: what the client's ErrorResponse says. */
struct pgw_refusal {
	const char *rule;     /* stable rule name, e.g. "query_size" */
	const char *sqlstate; /* e.g. "54000" */
	char message[512];
	char hint[256];
};

/* One client message; body is NULL at the header stage. */
struct pgw_msg_view {
	char type;
	uint32_t len; /* body length, without the 5-byte header */
	const uint8_t *body;
};

struct pgw_sql_info;
struct pgw_sql_cache_stats;

/* A session's prepared statements (statements.c); zero-initialised is empty. */
struct pgw_stmt_map {
	struct pgw_stmt *head;
	struct pgw_stmt *by_gen; /* the same, by the number of their Parse */
	uint64_t last_gen;	 /* the number of the last Parse recorded */
	size_t prepared_bytes;	 /* of the statements servers know them as (prepared.h) */
};
struct pgw_prepared;

struct pgw_policy_ctx {
	const struct pgw_config *cfg;
	const char *user;		  /* the login role */
	uint64_t sid;			  /* the session, for log lines */
	const struct pgw_stmt_map *stmts; /* the session's prepared statements; may be NULL */
	bool tenant_context;		  /* the session runs with a tenant context ([tenant]) */
	bool pinnable; /* pooled per transaction: the text's one pass also asks PGW_SQL_MAY_PIN
			  (src/session/pin.c) */
	const struct pgw_sql_info *info; /* this message's classification, once inspected */
	struct pgw_refusal refusal;	 /* filled by the policy that refuses */
	/* for the relay, from ddl_lock.c: a Query or Bind that runs DDL, and whether the
	 * client writes lock_timeout itself (then pgward leaves it alone) */
	bool runs_ddl;
	bool sets_lock_timeout;
	uint8_t prefilter_asked; /* pgw_policy_prefilter's memo: the questions answered */
	uint8_t prefilter_found; /* and those answered true */
	/* how the server reads the session's text (NULL: pgw_text_form_default), and the text
	 * of this Query or Parse read that way, once (pgw_policy_sql_text) */
	const struct pgw_text_forms *forms;
	bool text_read;
	int text_status;  /* pgw_text_forms_read's result */
	const char *text; /* the message's own bytes, or text_buf */
	size_t text_len;
	char *text_buf;			 /* owned; freed by pgw_policy_ctx_release */
	struct pgw_enc_error text_error; /* written only when text_status says so */
};

/*
 * Sets up <ctx> for one message, field by field: the refusal's text is written only by the
 * policy that refuses, and clearing its 768 bytes for every message cost more than running
 * the policies (a fifth of the relay's instructions under pgbench -M prepared).
 */
static inline void pgw_policy_ctx_init(struct pgw_policy_ctx *ctx, const struct pgw_config *cfg,
				       const char *user, uint64_t sid,
				       const struct pgw_stmt_map *stmts)
{
	ctx->cfg = cfg;
	ctx->user = user;
	ctx->sid = sid;
	ctx->stmts = stmts;
	ctx->tenant_context = false; /* the relay sets it from the session */
	ctx->pinnable = false;
	ctx->info = NULL;
	ctx->refusal.rule = NULL;
	ctx->refusal.sqlstate = NULL;
	ctx->refusal.message[0] = '\0';
	ctx->refusal.hint[0] = '\0';
	ctx->runs_ddl = false;
	ctx->sets_lock_timeout = false;
	ctx->prefilter_asked = 0;
	ctx->prefilter_found = 0;
	ctx->forms = NULL; /* the relay sets the session's */
	ctx->text_read = false;
	ctx->text_buf = NULL;
}

/* What a policy needs to have anything to do (pgw_policy.needs). */
enum {
	PGW_POLICY_NEEDS_TENANT_MODE = 1,      /* [tenant] mode = on */
	PGW_POLICY_NEEDS_TENANT_CONTEXT = 2,   /* the session runs with a tenant context */
	PGW_POLICY_NEEDS_COLUMN_LIMITS = 4,    /* [limits] column_limits */
	PGW_POLICY_NEEDS_DDL_LOCK_TIMEOUT = 8, /* [guard] ddl_lock_timeout */
};

struct pgw_policy {
	const char *name;
	/* From the header alone, before the body is read; optional. */
	enum pgw_verdict (*on_header)(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *msg);
	/* The whole message; optional. Only for types pgw_policy_needs_body() names. */
	enum pgw_verdict (*on_message)(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *msg);
	/* The message types on_message looks at ("QP": Query and Parse); the pipeline passes
	 * it no other. NULL: every type read whole. */
	const char *reads;
	/* PGW_POLICY_NEEDS_*: what must hold for the policy to have anything to do; the
	 * pipeline does not call it otherwise (it checks again itself). */
	unsigned needs;
};

/* Message types the pipeline reads whole before forwarding: Query, Parse, Bind, FunctionCall
 * and Close (small; it keeps the prepared-statement map in step). */
bool pgw_policy_needs_body(char type);

enum pgw_verdict pgw_pipeline_header(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *msg);
enum pgw_verdict pgw_pipeline_message(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *msg);

/* Fills ctx->refusal; returns PGW_REFUSE so a policy can `return pgw_refuse(...)`. */
enum pgw_verdict pgw_refuse(struct pgw_policy_ctx *ctx, const char *rule, const char *sqlstate,
			    const char *hint, const char *fmt, ...) PGW_PRINTF(5, 6);

/* The policies, in pipeline order. */
extern const struct pgw_policy pgw_size_guard;
extern const struct pgw_policy pgw_text_reader;
extern const struct pgw_policy pgw_function_call;
extern const struct pgw_policy pgw_tenant_guard;
extern const struct pgw_policy pgw_tenant_notify;
extern const struct pgw_policy pgw_tenant_code;
extern const struct pgw_policy pgw_guard;
extern const struct pgw_policy pgw_column_limits;
extern const struct pgw_policy pgw_ddl_lock;

/* ---- the shared SQL classification (classify.c) ---- */

/* The SQL text of a Query or Parse body, up to its NUL: the bytes as the client sent them. */
bool pgw_policy_raw_sql_text(const struct pgw_msg_view *m, const char **text, size_t *len);
/*
 * The text every decision reads: the raw text as the server will read it, in UTF-8 with
 * standard strings (text_form.h), read once per message. False when <m> is no Query or
 * Parse, is malformed (the server reports it), or cannot be read: then ctx->text_status
 * says why (PGW_ENC_INVALID, PGW_TEXT_AMBIGUOUS, PGW_ENC_NO_MEMORY) and the text reader,
 * first in the pipeline, refuses the message.
 */
void pgw_policy_read_text(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *m);
/* Inline: each policy that reads SQL asks, several per message. */
static inline bool pgw_policy_sql_text(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *m,
				       const char **text, size_t *len)
{
	if (m->type != 'Q' && m->type != 'P')
		return false;
	if (!ctx->text_read)
		pgw_policy_read_text(ctx, m);
	if (ctx->text == NULL)
		return false;
	*text = ctx->text;
	*len = ctx->text_len;
	return true;
}
/* Whether the text read is the client's own bytes (nothing was converted or rewritten):
 * only then may pgward splice it into a statement of its own. */
bool pgw_policy_text_is_raw(const struct pgw_policy_ctx *ctx);
/* pgw_sql_prefilter(<text>, <want>), remembered for the message: a question one policy had
 * answered is not scanned for again by the next. */
unsigned pgw_policy_prefilter(struct pgw_policy_ctx *ctx, const char *text, size_t len,
			      unsigned want);

/*
 * The classification of <text>, inspected at most once per message (kept in ctx->info for
 * the next policy). NULL only when memory runs out. The caller does not release it.
 */
const struct pgw_sql_info *pgw_policy_inspect(struct pgw_policy_ctx *ctx, const char *text,
					      size_t len);
/* Another text than the message's, classified with the same cache: a reference the caller
 * drops (pgw_sql_info_unref); NULL out of memory. */
const struct pgw_sql_info *pgw_policy_inspect_text(const struct pgw_policy_ctx *ctx,
						   const char *text, size_t len);
/*
 * The shared path of the policies that judge a Query's or Parse's SQL: pass what the
 * pre-filter says can raise no detection and what cannot be inspected (the guard refuses
 * that), refuse as <rule> with 53200 when memory runs out, else <check>'s verdict.
 */
typedef enum pgw_verdict (*pgw_policy_check_fn)(struct pgw_policy_ctx *ctx,
						const struct pgw_sql_info *info);
enum pgw_verdict pgw_policy_judge_sql(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *m,
				      const char *rule, pgw_policy_check_fn check);
/* A text the parser rejected: PGW_PASS (the server reports its own syntax error) unless
 * [guard] on_parse_error = refuse, which refuses it with 42601 (rule parse_error). */
enum pgw_verdict pgw_policy_parse_error(struct pgw_policy_ctx *ctx,
					const struct pgw_sql_info *info);
/* Drops ctx->info: the relay calls it once the pipeline is done with a message. */
void pgw_policy_ctx_release(struct pgw_policy_ctx *ctx);
/* Hit, miss and size counters of the shared classification cache. */
void pgw_policy_sql_stats(struct pgw_sql_cache_stats *out);
/* The shared cache's shapes that cannot serve, most parsed first (pgw_sql_cache_uncached). */
void pgw_policy_sql_uncached(size_t top,
			     void (*fn)(const char *shape, size_t len, uint64_t parses,
					const char *why, void *arg),
			     void *arg);
/* Logs one "stats" line: cache counters and detect-mode counts per rule (stats.c). */
void pgw_policy_log_stats(void);
/* At exit: frees the shared classification cache. */
void pgw_policy_shutdown(void);

/* ---- prepared statements (statements.c) ---- */

/* Records statement <name> ("" is the unnamed one) with <info> (may be NULL; referenced).
 * -1 when memory runs out. */
int pgw_stmt_map_put(struct pgw_stmt_map *m, const char *name, const struct pgw_sql_info *info);
/* What the metrics count a statement's executions as (metrics.h: its fingerprint and
 * kind), kept with the statement so that one map follows the session's statements. */
struct pgw_stmt_tag {
	uint64_t fp;
	uint8_t kind;
};
/* Records a Parse message's statement: its name, <info>, the parameter types it declares
 * and <tag> (may be NULL). -1 when memory runs out. */
int pgw_stmt_map_put_parse(struct pgw_stmt_map *m, const uint8_t *body, size_t len,
			   const struct pgw_sql_info *info, const struct pgw_stmt_tag *tag);
/* The tag recorded for <name>; NULL if unknown. */
const struct pgw_stmt_tag *pgw_stmt_map_tag(const struct pgw_stmt_map *m, const char *name);
/* The type OID the Parse of <name> declared for $<param>; 0 if none. */
uint32_t pgw_stmt_map_param_type(const struct pgw_stmt_map *m, const char *name, int param);
/* The classification recorded for <name>; NULL if unknown or never inspected. */
const struct pgw_sql_info *pgw_stmt_map_get(const struct pgw_stmt_map *m, const char *name);
void pgw_stmt_map_remove(struct pgw_stmt_map *m, const char *name);
bool pgw_stmt_map_has(const struct pgw_stmt_map *m, const char *name);
/* Gives <name> the classification <info> (referenced) when it was recorded without one. */
void pgw_stmt_map_set_info(struct pgw_stmt_map *m, const char *name,
			   const struct pgw_sql_info *info);
/*
 * pool_mode = transaction (src/session/renamed.c): <name>'s statement as servers know it
 * (taken, also when <name> is unknown). Returns the number the map recorded its Parse
 * under, for pgw_stmt_map_forget_gen; 0 if <name> is unknown.
 */
uint64_t pgw_stmt_map_prepare_take(struct pgw_stmt_map *m, const char *name,
				   struct pgw_prepared *prep);
/* ...and what pgw_stmt_map_prepare_take gave it, or NULL. Borrowed. */
struct pgw_prepared *pgw_stmt_map_prepared(const struct pgw_stmt_map *m, const char *name);
/* Forgets the statement whose Parse was recorded under <gen>, if it is still there: the
 * server refused that Parse. */
void pgw_stmt_map_forget_gen(struct pgw_stmt_map *m, uint64_t gen);
void pgw_stmt_map_clear(struct pgw_stmt_map *m);
size_t pgw_stmt_map_count(const struct pgw_stmt_map *m);
/* Detect mode: how many statements rule <rule> (enum pgw_sql_flag) let through. */
uint64_t pgw_guard_detected(int rule);
/* A statement guard rule <rule> (enum pgw_sql_flag) refuses, and the safe form its hint
 * gives; "" for what has none. Static strings. */
void pgw_guard_rule_doc(int rule, const char **example, const char **instead);

#endif
