/*
 * pool_mode = transaction: the statements a client prepares in SQL follow it, as its Parses
 * do (renamed.c). PREPARE, EXECUTE (also under EXPLAIN and CREATE TABLE AS) and DEALLOCATE
 * name a statement in the text itself, so the text is rewritten: each name the client
 * prepared becomes pgward's name for the statement (prepared.h), and a statement the
 * server does not hold yet is prepared first, by pgward's own PREPARE (or Parse, for a
 * statement the client made with one: SQL and the protocol share one namespace). The
 * rewritten text is parsed again and must name exactly the statements planned, or nothing is
 * rewritten.
 *
 * What follows the client: a Query of one PREPARE, and EXECUTE and DEALLOCATE in any Query.
 * A PREPARE elsewhere (next to other statements, in the extended protocol, in a text pgward
 * reads only through a conversion, with a name it cannot find in the text) pins the client
 * as before (pin.c). What the client is told is what PostgreSQL would tell it: 42P05 for a
 * PREPARE of a name it has, 26000 for an EXECUTE or DEALLOCATE of one of pgward's names it
 * has not prepared; other errors name pgward's name where they name the statement.
 */
#include "session-int.h"

#include "pgward/codec.h"
#include "pgward/prepared.h"
#include "pgward/sql.h"
#include "pgward/sql_lex.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* PostgreSQL's NAMEDATALEN - 1: a longer name is truncated by the server. */
#define NAME_MAX_BYTES 63

/* Where the text names a statement: the name's token. */
struct name_at {
	enum pgw_sql_stmt_op op;
	size_t at, len;
	bool quoted;
};

static bool word_is(const char *text, const struct pgw_lex_tok *t, const char *word)
{
	return t->kind == PGW_TOK_WORD && t->len == strlen(word) &&
	       strncasecmp(text + t->start, word, t->len) == 0;
}

/* The statement names of <text> in order, at most <max>; -1 if there are more. */
static int find_names(const char *text, size_t len, struct name_at *out, int max)
{
	static const char *const keywords[] = {"prepare", "execute", "deallocate"};
	struct pgw_lexer lx;
	struct pgw_lex_tok t, prev = {0}, prev2 = {0};
	int n = 0;

	pgw_lex_init(&lx, text, len, true);
	while (pgw_lex_next(&lx, &t)) {
		if (t.kind == PGW_TOK_SPACE)
			continue;
		if ((t.kind == PGW_TOK_WORD || t.kind == PGW_TOK_QIDENT) &&
		    word_is(text, &prev, "prepare") && word_is(text, &prev2, "deallocate") &&
		    n > 0 && out[n - 1].at == prev.start) {
			/* DEALLOCATE PREPARE name: the name is this one */
			out[n - 1] = (struct name_at){PGW_SQL_STMT_DEALLOCATE, t.start, t.len,
						      t.kind == PGW_TOK_QIDENT};
		} else if (t.kind == PGW_TOK_WORD || t.kind == PGW_TOK_QIDENT) {
			for (int k = 0; k < 3; k++)
				if (word_is(text, &prev, keywords[k])) {
					if (n == max)
						return -1;
					out[n++] =
						(struct name_at){(enum pgw_sql_stmt_op)k, t.start,
								 t.len, t.kind == PGW_TOK_QIDENT};
				}
		}
		prev2 = prev;
		prev = t;
	}
	return n;
}

/* The name the token at <a> gives, as the parser folds it, into <out>; false if pgward
 * cannot tell (escapes, a name the server would truncate). */
static bool token_name(const char *text, const struct name_at *a, char *out, size_t outsz)
{
	size_t o = 0;

	if (a->quoted) {
		if (text[a->at] != '"' || a->len < 2)
			return false; /* U&"..." */
		for (size_t i = a->at + 1; i < a->at + a->len - 1; i++) {
			if (text[i] == '"')
				i++; /* "" is one quote */
			if (o + 1 >= outsz)
				return false;
			out[o++] = text[i];
		}
	} else {
		for (size_t i = a->at; i < a->at + a->len; i++) {
			char c = text[i];

			if (o + 1 >= outsz || (unsigned char)c >= 0x80)
				return false;
			out[o++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
		}
	}
	out[o] = '\0';
	return o > 0 && o <= NAME_MAX_BYTES;
}

void pgw_sess_sql_rename_clear(struct pgw_session *s)
{
	struct pgw_sess_sql_rename *r = &s->sql_rename;

	if (r->text == NULL && !r->refuse && r->nneed == 0 && r->made == NULL && !r->drops)
		return; /* nothing planned: every Query comes here */
	free(r->text);
	for (size_t i = 0; i < r->nneed; i++)
		pgw_prepared_unref(r->need[i]);
	pgw_prepared_unref(r->made);
	memset(r, 0, sizeof(*r));
}

/* The 26000 PostgreSQL gives for a statement the session does not have. */
static void refuse_missing(struct pgw_session *s, const char *name)
{
	struct pgw_sess_sql_rename *r = &s->sql_rename;

	r->refuse = true;
	r->refusal = (struct pgw_refusal){.rule = "prepared_statement", .sqlstate = "26000"};
	snprintf(r->refusal.message, sizeof(r->refusal.message),
		 "prepared statement \"%s\" does not exist", name);
}

/* The rewritten text names what was planned: <want[i]> for each statement, in order. */
static bool rewrite_checks(struct pgw_policy_ctx *ctx, const char *text, size_t len,
			   const struct pgw_sql_info *info, const char *const *want)
{
	const struct pgw_sql_info *again = pgw_policy_inspect_text(ctx, text, len);
	bool ok = again != NULL && again->status == PGW_SQL_OK &&
		  again->nstmt_refs == info->nstmt_refs && again->nstmts == info->nstmts &&
		  again->flags == info->flags;

	for (size_t i = 0; ok && i < info->nstmt_refs; i++) {
		const char *name = again->stmt_refs[i].name;

		ok = again->stmt_refs[i].op == info->stmt_refs[i].op &&
		     (want[i] == NULL ? name == NULL : name != NULL && strcmp(name, want[i]) == 0);
	}
	pgw_sql_info_unref(again);
	return ok;
}

/* The scope statements are shared in (renamed.c): the tenant context. */
static size_t scope_of(const struct pgw_session *s, char *out, size_t outsz)
{
	size_t n = pgw_sess_context_key(s, out, outsz);

	if (n == 0 && s->tenant.status != PGW_TENANT_OFF)
		n = (size_t)snprintf(out, outsz, "session %" PRIu64, s->id);
	return n;
}

/* PREPARE <name>, the Query's only statement, its name at <a>: pgward's statement for it,
 * recorded in the client's map. False when the PREPARE cannot follow the client. */
static bool plan_prepare(struct pgw_session *s, const char *text, size_t len, const char *name,
			 const struct name_at *a)
{
	struct pgw_sess_sql_rename *r = &s->sql_rename;
	char scope[1024];
	size_t scope_len = scope_of(s, scope, sizeof(scope));
	struct pgw_prepared *p;

	if (pgw_stmt_map_has(&s->stmts, name)) {
		r->refuse = true;
		r->refusal =
			(struct pgw_refusal){.rule = "prepared_statement", .sqlstate = "42P05"};
		snprintf(r->refusal.message, sizeof(r->refusal.message),
			 "prepared statement \"%s\" already exists", name);
		return true;
	}
	if (s->stmts.prepared_bytes + len > PGW_RENAMED_BYTES_MAX)
		return false; /* pins instead */
	p = pgw_prepared_intern_sql(scope, scope_len, text, len, a->at, a->len);
	if (p == NULL || pgw_stmt_map_put(&s->stmts, name, NULL) < 0) {
		pgw_prepared_unref(p);
		return false;
	}
	r->made = pgw_prepared_ref(p);
	r->gen = pgw_stmt_map_prepare_take(&s->stmts, name, p);
	return r->gen != 0;
}

bool pgw_sess_sql_rename_plan(struct pgw_session *s, struct pgw_policy_ctx *ctx,
			      const struct pgw_msg_view *m)
{
	struct pgw_sess_sql_rename *r = &s->sql_rename;
	const struct pgw_sql_info *info;
	struct name_at at[PGW_SQL_RENAME_MAX];
	const char *want[PGW_SQL_RENAME_MAX];
	const char *text;
	size_t len, out = 0, from = 0;
	char name[NAME_MAX_BYTES + 2];
	int n;

	pgw_sess_sql_rename_clear(s);
	if (!s->renames || m->type != 'Q' || !pgw_policy_sql_text(ctx, m, &text, &len))
		return false;
	if (ctx->info == NULL && !pgw_policy_prefilter(ctx, text, len, PGW_SQL_MAY_PIN))
		return false;
	info = pgw_policy_inspect(ctx, text, len);
	if (info == NULL || info->status != PGW_SQL_OK || info->nstmt_refs == 0)
		return false;
	/* the message's own bytes, read as the parser read them */
	if (text != (const char *)m->body || info->nstmt_refs > PGW_SQL_RENAME_MAX)
		return false;
	n = find_names(text, len, at, PGW_SQL_RENAME_MAX);
	if (n != (int)info->nstmt_refs)
		return false;
	for (int i = 0; i < n; i++) {
		const struct pgw_sql_stmt_ref *ref = &info->stmt_refs[i];
		struct pgw_prepared *p;

		want[i] = ref->name;
		if (ref->op != at[i].op)
			goto cannot;
		r->drops |= ref->op == PGW_SQL_STMT_DEALLOCATE;
		if (ref->name == NULL) { /* DEALLOCATE ALL */
			if (at[i].quoted || at[i].len != 3 ||
			    strncasecmp(text + at[i].at, "all", 3) != 0)
				goto cannot;
			continue;
		}
		if (!token_name(text, &at[i], name, sizeof(name)) || strcmp(name, ref->name) != 0)
			goto cannot;
		if (ref->op == PGW_SQL_STMT_PREPARE) {
			if (info->nstmts != 1 || !plan_prepare(s, text, len, ref->name, &at[i]))
				goto cannot;
			if (r->refuse) {
				bool refuse = true;
				struct pgw_refusal refusal = r->refusal;

				pgw_sess_sql_rename_clear(s);
				r->refuse = refuse;
				r->refusal = refusal;
				return true;
			}
			want[i] = r->made->name;
			continue;
		}
		p = pgw_stmt_map_prepared(&s->stmts, ref->name);
		if (p == NULL) {
			/* not the client's: the server says it does not exist, but pgward's
			 * own names are not the client's to reach */
			if (pgw_sess_reserved_name(ref->name)) {
				pgw_sess_sql_rename_clear(s);
				refuse_missing(s, ref->name);
				return true;
			}
			continue;
		}
		want[i] = p->name;
		r->need[r->nneed++] = pgw_prepared_ref(p);
	}
	/* the text with pgward's names in */
	r->text = malloc(len + (size_t)n * PGW_PREPARED_NAME_MAX + 1);
	if (r->text == NULL)
		goto cannot;
	for (int i = 0; i < n; i++) {
		if (want[i] == NULL || want[i] == info->stmt_refs[i].name)
			continue;
		memcpy(r->text + out, text + from, at[i].at - from);
		out += at[i].at - from;
		memcpy(r->text + out, want[i], strlen(want[i]));
		out += strlen(want[i]);
		from = at[i].at + at[i].len;
	}
	memcpy(r->text + out, text + from, len - from);
	r->len = out + len - from;
	r->text[r->len] = '\0';
	if (!rewrite_checks(ctx, r->text, r->len, info, want))
		goto cannot;
	return true;
cannot:
	if (r->gen != 0)
		pgw_stmt_map_forget_gen(&s->stmts, r->gen);
	pgw_sess_sql_rename_clear(s);
	return false;
}

enum pgw_rename pgw_sess_sql_rename_send(struct pgw_session *s, const struct pgw_msg_hdr *h)
{
	struct pgw_sess_sql_rename *r = &s->sql_rename;
	struct pgw_server *srv = s->srv;
	enum pgw_rename sent = PGW_RENAME_SENT;

	if (r->refuse) {
		if (!pgw_sess_refuse(s, 'Q', NULL, &r->refusal))
			sent = PGW_RENAME_CLOSED;
		goto done;
	}
	for (size_t i = 0; i < r->nneed; i++)
		if (!pgw_sess_prepare_before_query(s, r->need[i])) {
			sent = PGW_RENAME_FAILED;
			goto done;
		}
	if (r->made != NULL && !pgw_sess_prepare_by_query(s, r->made)) {
		sent = PGW_RENAME_FAILED;
		goto done;
	}
	pgw_msg_header(srv->conn.out, 'Q', (uint32_t)(r->len + 1));
	pgw_put_cstr(srv->conn.out, r->text);
	if (pgw_tracker_push(&srv->tracker, 'Q', PGW_RESP_PASS, NULL, 0) < 0) {
		sent = PGW_RENAME_FAILED;
		goto done;
	}
	/* a PREPARE the server refuses is forgotten, by the client and on the server */
	if (r->made != NULL)
		pgw_sess_rename_undo(s, r->made->id, r->gen);
	/* what a DEALLOCATE drops, a Bind pipelined behind it prepares again */
	if (r->drops)
		pgw_held_clear(&srv->held);
done:
	if (sent == PGW_RENAME_SENT)
		pgw_rbuf_drain(&s->client.in, (size_t)h->len + 1);
	pgw_sess_sql_rename_clear(s);
	return sent;
}
