/*
 * pool_mode = transaction: the statements a client prepares in SQL follow it, as its Parses
 * do (renamed.c). PREPARE, EXECUTE (also under EXPLAIN and CREATE TABLE AS) and DEALLOCATE
 * name a statement in the text itself, so the text is rewritten in the message's own bytes:
 * each name the client prepared becomes pgward's name for the statement (prepared.h), and a
 * statement the server does not hold yet is prepared first, by pgward's own PREPARE (or
 * Parse, for a statement the client made with one: SQL and the protocol share one
 * namespace). A DEALLOCATE drops a stand-in of pgward's made in front of the Query, never
 * pgward's statement, which other names or clients may share. The rewritten text is parsed
 * again and must name exactly the statements planned, or nothing is rewritten.
 *
 * What follows the client: a Query of one PREPARE, and EXECUTE and DEALLOCATE in any Query.
 * A PREPARE elsewhere (next to other statements, in the extended protocol, in a text pgward
 * reads through a conversion other than blanked comments, with a name it cannot find in the
 * text) pins the client as before (pin.c); a Query that names one of pgward's statements and
 * cannot be renamed is refused, however the name is spelled. What the client is told is
 * what PostgreSQL would tell it: 42P05 for a PREPARE of a name it has, 26000 for an EXECUTE
 * or DEALLOCATE of a name it has not prepared; other errors name pgward's name where they
 * name the statement.
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

	if (r->text == NULL && !r->refuse && r->nneed == 0 && r->made == NULL && !r->drops &&
	    r->ndummies == 0 && !r->lone_execute)
		return; /* nothing planned: every Query comes here */
	free(r->text);
	for (size_t i = 0; i < r->nneed; i++)
		pgw_prepared_unref(r->need[i]);
	pgw_prepared_unref(r->made);
	memset(r, 0, sizeof(*r));
}

/* What a DEALLOCATE of the client's drops on the server, one per DEALLOCATE of a Query. */
#define DUMMY(n) PGW_PREPARED_PREFIX "_deallocated_" #n
static const char *const dummy_names[PGW_SQL_RENAME_MAX] = {
	DUMMY(1), DUMMY(2),  DUMMY(3),	DUMMY(4),  DUMMY(5),  DUMMY(6),	 DUMMY(7),  DUMMY(8),
	DUMMY(9), DUMMY(10), DUMMY(11), DUMMY(12), DUMMY(13), DUMMY(14), DUMMY(15), DUMMY(16),
};
#undef DUMMY

/* The stand-ins a Query's DEALLOCATEs drop, made in front of it: each name closed, then
 * PREPAREd, pgward's answers swallowed but an error. False out of memory. */
static bool make_dummies(struct pgw_session *s, size_t n)
{
	char sql[PGW_SQL_RENAME_MAX * 48] = "";
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (pgw_server_own(
			    s->srv,
			    &(struct pgw_own_msg){.type = 'C', .kind = 'S', .name = dummy_names[i]},
			    NULL) < 0)
			return false;
		o += (size_t)snprintf(sql + o, sizeof(sql) - o, "%sPREPARE %s AS SELECT",
				      i > 0 ? "; " : "", dummy_names[i]);
	}
	return n == 0 || (pgw_server_own(s->srv, &(struct pgw_own_msg){.type = 'S'}, NULL) == 0 &&
			  pgw_server_own(s->srv, &(struct pgw_own_msg){.type = 'Q', .text = sql},
					 &(struct pgw_own_answer){.action = PGW_RESP_HIDE}) == 0);
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

/* PREPARE <name>, the Query's only statement, its name at <a>: pgward's statement for it,
 * recorded in the client's map. False when the PREPARE cannot follow the client. */
static bool plan_prepare(struct pgw_session *s, const char *text, size_t len, const char *name,
			 const struct name_at *a)
{
	struct pgw_sess_sql_rename *r = &s->sql_rename;
	char scope[PGW_SCOPE_MAX];
	size_t scope_len = pgw_sess_statement_scope(s, scope, sizeof(scope));
	struct pgw_prepared *p;

	if (pgw_stmt_map_has(&s->stmts, name)) {
		r->refuse = true;
		pgw_sess_statement_refusal(&r->refusal, "42P05", name);
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

/* <text> with each name at <at> whose <want> differs from the client's in <info> replaced,
 * malloc'd and NUL-terminated into *out (*out_len bytes); false out of memory. */
static bool with_names(const char *text, size_t len, const struct name_at *at, int n,
		       const char *const *want, const struct pgw_sql_info *info, char **out,
		       size_t *out_len)
{
	char *t = malloc(len + (size_t)n * PGW_PREPARED_NAME_MAX + 1);
	size_t o = 0, from = 0;

	if (t == NULL)
		return false;
	for (int i = 0; i < n; i++) {
		if (want[i] == NULL || want[i] == info->stmt_refs[i].name)
			continue;
		memcpy(t + o, text + from, at[i].at - from);
		o += at[i].at - from;
		memcpy(t + o, want[i], strlen(want[i]));
		o += strlen(want[i]);
		from = at[i].at + at[i].len;
	}
	memcpy(t + o, text + from, len - from);
	o += len - from;
	t[o] = '\0';
	*out = t;
	*out_len = o;
	return true;
}

/* A Query that names one of pgward's statements and cannot be renamed: refused, however the
 * name is spelled (the parse tree reads U&"..." escapes), so that it never reaches one. */
static bool reserved_refusal(const struct pgw_sql_info *info, struct pgw_refusal *r)
{
	for (size_t i = 0; i < info->nstmt_refs; i++) {
		const struct pgw_sql_stmt_ref *ref = &info->stmt_refs[i];

		if (ref->name == NULL || !pgw_sess_reserved_name(ref->name))
			continue;
		if (ref->op != PGW_SQL_STMT_PREPARE) {
			pgw_sess_statement_refusal(r, "26000", ref->name);
			return true;
		}
		*r = (struct pgw_refusal){.rule = "prepared_statement", .sqlstate = "42939"};
		snprintf(r->message, sizeof(r->message),
			 "pgward: statement names starting with \"%s\" are pgward's own",
			 PGW_PREPARED_PREFIX);
		return true;
	}
	return false;
}

static bool refuse_reserved(struct pgw_session *s, const struct pgw_sql_info *info)
{
	struct pgw_refusal refusal;

	if (!reserved_refusal(info, &refusal))
		return false;
	pgw_sess_sql_rename_clear(s);
	s->sql_rename.refuse = true;
	s->sql_rename.refusal = refusal;
	return true;
}

bool pgw_sess_sql_names_refused(struct pgw_session *s, struct pgw_policy_ctx *ctx,
				const struct pgw_msg_view *m)
{
	const struct pgw_sql_info *info;
	const char *text;
	size_t len;

	if (!s->renames || m->type != 'P' || !pgw_policy_sql_text(ctx, m, &text, &len))
		return false;
	if (ctx->info == NULL && !pgw_policy_prefilter(ctx, text, len, PGW_SQL_MAY_PIN))
		return false;
	info = pgw_policy_inspect(ctx, text, len);
	return info != NULL && info->status == PGW_SQL_OK && reserved_refusal(info, &ctx->refusal);
}

bool pgw_sess_sql_rename_plan(struct pgw_session *s, struct pgw_policy_ctx *ctx,
			      const struct pgw_msg_view *m)
{
	struct pgw_sess_sql_rename *r = &s->sql_rename;
	const struct pgw_sql_info *info;
	struct name_at at[PGW_SQL_RENAME_MAX];
	const char *want[PGW_SQL_RENAME_MAX];
	const char *text, *raw = (const char *)m->body;
	size_t len, raw_len, check_len;
	char name[NAME_MAX_BYTES + 2], *check = NULL;
	int n;

	pgw_sess_sql_rename_clear(s);
	if (!s->renames || m->type != 'Q' || !pgw_policy_sql_text(ctx, m, &text, &len))
		return false;
	if (ctx->info == NULL && !pgw_policy_prefilter(ctx, text, len, PGW_SQL_MAY_PIN))
		return false;
	info = pgw_policy_inspect(ctx, text, len);
	if (info == NULL || info->status != PGW_SQL_OK || info->nstmt_refs == 0)
		return false;
	/* The names go into the message's own bytes: the text the parser read must be those
	 * bytes, or a copy of the same length that differs in comments only (blanked). Not
	 * behind an extended-protocol batch without its Sync: an error there makes the server
	 * skip the Query, which pgward's own Sync would end. */
	raw_len = strnlen(raw, m->len);
	if ((text != raw && len != raw_len) || info->nstmt_refs > PGW_SQL_RENAME_MAX ||
	    s->srv->tracker.batch_open)
		goto cannot;
	n = find_names(text, len, at, PGW_SQL_RENAME_MAX);
	if (n != (int)info->nstmt_refs)
		goto cannot;
	r->lone_execute =
		info->nstmts == 1 && n == 1 && info->stmt_refs[0].op == PGW_SQL_STMT_EXECUTE;
	for (int i = 0; i < n; i++) {
		const struct pgw_sql_stmt_ref *ref = &info->stmt_refs[i];
		struct pgw_prepared *p;

		want[i] = ref->name;
		if (ref->op != at[i].op || memcmp(text + at[i].at, raw + at[i].at, at[i].len) != 0)
			goto cannot;
		if (ref->name == NULL) { /* DEALLOCATE ALL */
			r->drops = true;
			if (at[i].quoted || at[i].len != 3 ||
			    strncasecmp(text + at[i].at, "all", 3) != 0)
				goto cannot;
			continue;
		}
		if (!token_name(text, &at[i], name, sizeof(name)) || strcmp(name, ref->name) != 0)
			goto cannot;
		if (ref->op == PGW_SQL_STMT_PREPARE) {
			if (info->nstmts != 1 || !plan_prepare(s, raw, raw_len, ref->name, &at[i]))
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
			if (pgw_sess_reserved_name(ref->name))
				goto cannot;
			continue;
		}
		if (ref->op == PGW_SQL_STMT_DEALLOCATE) {
			/* pgward's statement may be another name's of the client's, or another
			 * client's: what is dropped is a stand-in of pgward's, made for it */
			want[i] = dummy_names[r->ndummies++];
			continue;
		}
		want[i] = p->name;
		r->need[r->nneed++] = pgw_prepared_ref(p);
	}
	/* the message's bytes with pgward's names in, and the text pgward reads likewise */
	if (!with_names(raw, raw_len, at, n, want, info, &r->text, &r->len))
		goto cannot;
	if (text != raw && !with_names(text, len, at, n, want, info, &check, &check_len))
		goto cannot;
	if (!rewrite_checks(ctx, check != NULL ? check : r->text,
			    check != NULL ? check_len : r->len, info, want))
		goto cannot;
	free(check);
	return true;
cannot:
	free(check);
	if (r->gen != 0)
		pgw_stmt_map_forget_gen(&s->stmts, r->gen);
	pgw_sess_sql_rename_clear(s);
	if (refuse_reserved(s, info))
		return true;
	/* a PREPARE that pins keeps the client's name on the server: the name is the client's
	 * all the same (a second PREPARE of it gets 42P05; EXECUTE sends it as it is) */
	for (size_t i = 0; i < info->nstmt_refs; i++)
		if (info->stmt_refs[i].op == PGW_SQL_STMT_PREPARE &&
		    !pgw_stmt_map_has(&s->stmts, info->stmt_refs[i].name))
			(void)pgw_stmt_map_put(&s->stmts, info->stmt_refs[i].name, NULL);
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
	if (!make_dummies(s, r->ndummies) ||
	    (r->made != NULL && !pgw_sess_prepare_by_query(s, r->made))) {
		sent = PGW_RENAME_FAILED;
		goto done;
	}
	pgw_msg_header(srv->conn.out, 'Q', (uint32_t)(r->len + 1));
	pgw_put_cstr(srv->conn.out, r->text);
	if (pgw_tracker_push(&srv->tracker, 'Q', PGW_RESP_PASS, NULL, 0) < 0) {
		sent = PGW_RENAME_FAILED;
		goto done;
	}
	/* EXECUTE p, alone: PostgreSQL answers the error that prepares p again (a table gone),
	 * once; pgward's PREPARE in front passed it, and the EXECUTE's own, of a statement
	 * missing under pgward's name, would only repeat it */
	if (r->lone_execute && r->nneed > 0)
		pgw_tracker_mute_newest(&srv->tracker);
	/* a PREPARE the server refuses is forgotten, by the client and on the server */
	if (r->made != NULL)
		pgw_sess_rename_undo(s, r->made->id, r->gen);
	/* what a DEALLOCATE ALL drops, a Bind pipelined behind it prepares again */
	if (r->drops)
		pgw_held_clear(&srv->held);
done:
	if (sent == PGW_RENAME_SENT)
		pgw_rbuf_drain(&s->client.in, (size_t)h->len + 1);
	pgw_sess_sql_rename_clear(s);
	return sent;
}
