/*
 * pool_mode = transaction: a client's named prepared statements follow it from server to
 * server. A named Parse is recorded in the client's map and sent under pgward's name for its
 * statement (prepared.h); a Bind or Describe of it is sent under that name, after pgward's
 * own Parse on a server that does not hold it yet. So twenty clients may each have their
 * "S_1" on one server, and a client's statement is there on every server it gets.
 *
 * What the client sees stays what PostgreSQL would show it: a client's Parse is always sent
 * (the name closed first), so it fails exactly when the client's would and makes a fresh
 * plan; a Parse of a name the client has is refused with 42P05; a Parse the server refuses
 * or skips is forgotten (the tracker's undo), and so is a statement whose Bind or Describe
 * fails (a plan a table change made stale is prepared again). Statements are shared within
 * one database, user and tenant only (prepared.h), and one client's weigh at most
 * PGW_RENAMED_BYTES_MAX. Names the client does not have go to the server as they are (a
 * statement PREPAREd in SQL by a pinned client), except pgward's own, which no client
 * reaches: "does not exist" for Bind and Describe, nothing to close for Close.
 * Never sends a client's name that starts with pgward's prefix.
 */
#include "session-int.h"

#include "pgward/codec.h"
#include "pgward/log.h"
#include "pgward/prepared.h"
#include "pgward/proxy.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <event2/buffer.h>

/* A name of pgward's no statement has: what a client's Close of a name of pgward's closes. */
static const char none_name[] = PGW_PREPARED_PREFIX ".none";
/* The statement and portal of pgward's PREPARE inside a client's batch (prepare_in_batch). */
static const char in_batch_name[] = PGW_PREPARED_PREFIX ".prepare";

static bool reserved(const char *name)
{
	return strncmp(name, PGW_PREPARED_PREFIX, sizeof(PGW_PREPARED_PREFIX) - 1) == 0;
}

/* The tracker's undo: the server did not run a Parse under pgward's name. */
/* Not a Parse's undo: the server still holds the statement, which is closed later (a Close
 * of pgward's it skipped, a Bind or Describe that failed: a plan a table change made stale). */
#define UNDO_CLOSE UINT64_MAX

static void undo(void *arg, uint64_t server_id, uint64_t client_gen)
{
	struct pgw_session *s = arg;
	struct pgw_held_stmts *h = s->srv != NULL ? &s->srv->held : NULL;

	if (client_gen == UNDO_CLOSE) {
		if (h == NULL)
			return;
		pgw_held_forget(h, server_id);
		for (uint8_t i = 0; i < h->nlost; i++)
			if (h->lost[i] == server_id)
				return;
		if (h->nlost < PGW_ARRAY_LEN(h->lost))
			h->lost[h->nlost++] = server_id;
		else
			s->srv->gone = true; /* closed when its client lets go, never reused */
		return;
	}
	if (server_id != 0 && h != NULL)
		pgw_held_forget(h, server_id);
	if (client_gen != 0)
		pgw_stmt_map_forget_gen(&s->stmts, client_gen);
}

static bool own(struct pgw_session *s, const struct pgw_own_msg *m, const struct pgw_own_answer *a)
{
	return pgw_server_own(s->srv, m, a) == 0;
}

/* The newest request's undo (tracker.h), told to this session. */
static void on_undo(struct pgw_session *s, uint64_t server_id, uint64_t client_gen)
{
	pgw_sess_rename_undo(s, server_id, client_gen);
}

void pgw_sess_rename_undo(struct pgw_session *s, uint64_t server_id, uint64_t client_gen)
{
	pgw_tracker_set_undo(&s->srv->tracker, server_id, client_gen);
	s->srv->tracker.undo = undo;
	s->srv->tracker.undo_arg = s;
}

/* Closes statement <id> of pgward's on the server; should the server skip it, it is closed
 * again later (UNDO_CLOSE). */
static bool close_stmt(struct pgw_session *s, uint64_t id, const char *name)
{
	if (!own(s, &(struct pgw_own_msg){.type = 'C', .kind = 'S', .name = name}, NULL))
		return false;
	on_undo(s, id, UNDO_CLOSE);
	return true;
}

static void write_parse(struct pgw_server *srv, const char *name, const struct pgw_prepared *p)
{
	pgw_msg_header(srv->conn.out, 'P', (uint32_t)(strlen(name) + 1 + p->len));
	pgw_put_cstr(srv->conn.out, name);
	evbuffer_add(srv->conn.out, p->body, p->len);
}

/*
 * Room for <p> on the server: what is least recently used goes first when the server holds
 * max_prepared_statements, and the name is closed (pgward may have forgotten a statement
 * the server still holds). False out of memory.
 */
static bool make_room(struct pgw_session *s, const struct pgw_prepared *p)
{
	struct pgw_server *srv = s->srv;
	struct pgw_prepared *old;
	/* a reload to 0 leaves clients that rename: they keep one statement per server */
	size_t max = (size_t)PGW_MAX(pgw.cfg.max_prepared_statements, 1);

	while (srv->held.nlost > 0) {
		uint64_t id = srv->held.lost[--srv->held.nlost];
		char lost[PGW_PREPARED_NAME_MAX];

		pgw_prepared_format_name(id, lost);
		if (!close_stmt(s, id, lost))
			return false;
	}
	while ((old = pgw_held_evict(&srv->held, max - 1)) != NULL) {
		bool ok = close_stmt(s, old->id, old->name);

		pgw_prepared_unref(old);
		if (!ok)
			return false;
	}
	return own(s, &(struct pgw_own_msg){.type = 'C', .kind = 'S', .name = p->name}, NULL);
}

/*
 * A PREPARE of pgward's inside the client's extended-protocol batch, where a Sync of
 * pgward's would end the batch (and a skip after an error in it): parsed, bound and run
 * under a name of pgward's, closed again; its error is the client's, and the server then
 * skips the rest of the batch as for the client's own error (the Execute's undo forgets
 * the statement).
 */
static bool prepare_in_batch(struct pgw_session *s, const struct pgw_prepared *p, const char *text)
{
	static const struct pgw_own_answer hide = {.action = PGW_RESP_HIDE};

	if (!own(s, &(struct pgw_own_msg){.type = 'C', .kind = 'S', .name = in_batch_name},
		 &hide) ||
	    !own(s, &(struct pgw_own_msg){.type = 'P', .name = in_batch_name, .text = text},
		 &hide) ||
	    !own(s,
		 &(struct pgw_own_msg){.type = 'B', .name = in_batch_name, .stmt = in_batch_name},
		 &hide) ||
	    !own(s, &(struct pgw_own_msg){.type = 'C', .kind = 'S', .name = in_batch_name},
		 &hide) ||
	    !own(s, &(struct pgw_own_msg){.type = 'E', .name = in_batch_name}, &hide))
		return false;
	on_undo(s, p->id, 0);
	return own(s, &(struct pgw_own_msg){.type = 'C', .kind = 'P', .name = in_batch_name},
		   &hide);
}

/*
 * Prepares <p> on the server, after make_room. The Parse's answer is the client's
 * (<client_gen>, its Parse) or, hidden, pgward's (its error the client's); a PREPARE's is
 * pgward's, after a Sync that ends the Closes. False out of memory.
 */
static bool prepare(struct pgw_session *s, struct pgw_prepared *p, uint64_t client_gen)
{
	struct pgw_server *srv = s->srv;
	bool in_batch = srv->tracker.batch_open;

	if (!make_room(s, p))
		return false;
	if (p->sql) {
		char *text = pgw_prepared_sql_text(p);
		bool ok = text != NULL;

		if (ok && in_batch) {
			ok = prepare_in_batch(s, p, text);
		} else if (ok) {
			ok = own(s, &(struct pgw_own_msg){.type = 'S'}, NULL) &&
			     own(s, &(struct pgw_own_msg){.type = 'Q', .text = text},
				 &(struct pgw_own_answer){.action = PGW_RESP_HIDE});
			if (ok)
				on_undo(s, p->id, 0);
		}
		free(text);
		return ok && pgw_held_add(&srv->held, p) == 0;
	}
	write_parse(srv, p->name, p);
	if ((client_gen != 0 ? pgw_tracker_push(&srv->tracker, 'P', PGW_RESP_PASS, NULL, 0)
			     : pgw_tracker_push_own(&srv->tracker, 'P', 0, NULL, 0, 0)) < 0)
		return false;
	on_undo(s, p->id, client_gen);
	return pgw_held_add(&srv->held, p) == 0;
}

size_t pgw_sess_statement_scope(const struct pgw_session *s, char *out, size_t outsz)
{
	size_t n = (size_t)snprintf(out, outsz, "%s%c%s%c", s->view.database, '\0', s->user, '\0');
	size_t ctx = n < outsz ? pgw_sess_context_key(s, out + n, outsz - n) : 0;

	/* a context too long to key shares with no one */
	if (ctx == 0 && s->tenant.status != PGW_TENANT_OFF)
		ctx = (size_t)snprintf(out + n, outsz - n, "session %" PRIu64, s->id);
	return PGW_MIN(n + ctx, outsz - 1);
}

bool pgw_sess_rename_parse(struct pgw_session *s, const char *name, const uint8_t *rest, size_t len)
{
	char scope[PGW_SCOPE_MAX];
	size_t scope_len = pgw_sess_statement_scope(s, scope, sizeof(scope));
	struct pgw_prepared *p;
	uint64_t gen;
	bool ok;

	p = pgw_prepared_intern(scope, scope_len, rest, len);
	if (p == NULL)
		return false;
	gen = pgw_stmt_map_prepare_take(&s->stmts, name, pgw_prepared_ref(p));
	if (gen == 0) { /* not recorded: nothing to name */
		pgw_prepared_unref(p);
		return false;
	}
	/* prepared again even where the server holds it: the client's Parse is parsed, as
	 * directly, so it fails where the client's would, and a plan a table change made stale
	 * is made anew */
	ok = prepare(s, p, gen);
	pgw_prepared_unref(p);
	return ok;
}

bool pgw_sess_rename_refusal(struct pgw_session *s, const struct pgw_msg_view *m,
			     struct pgw_refusal *r)
{
	const char *name = (const char *)m->body;

	if (!s->renames || m->type != 'P' || m->len == 0 || name[0] == '\0' ||
	    memchr(m->body, '\0', m->len) == NULL)
		return false;
	if (pgw_stmt_map_has(&s->stmts, name)) {
		pgw_sess_statement_refusal(r, "42P05", name);
		return true;
	}
	if (s->stmts.prepared_bytes + m->len > PGW_RENAMED_BYTES_MAX) {
		*r = (struct pgw_refusal){.rule = "prepared_statements_size", .sqlstate = "54000"};
		snprintf(r->message, sizeof(r->message),
			 "pgward: the session's named prepared statements would exceed %u bytes "
			 "(rule prepared_statements_size)",
			 PGW_RENAMED_BYTES_MAX);
		snprintf(r->hint, sizeof(r->hint),
			 "Close the statements the session no longer uses, or use unnamed ones; "
			 "with max_prepared_statements = 0 a named statement pins the client "
			 "instead.");
		return true;
	}
	return false;
}

/* A Bind or Describe naming statement <stmt>, <at> bytes into the message: under pgward's
 * name, prepared first where the server lacks it. */
static enum pgw_rename send_renamed(struct pgw_session *s, const uint8_t *msg, size_t total,
				    const char *stmt, size_t at)
{
	struct pgw_prepared *p = pgw_stmt_map_prepared(&s->stmts, stmt);
	struct pgw_server *srv = s->srv;
	size_t after = at + strlen(stmt) + 1, name_len;

	if (p == NULL) {
		struct pgw_refusal r;

		if (!reserved(stmt))
			return PGW_RENAME_FORWARD;
		pgw_sess_statement_refusal(&r, "26000", stmt);
		return pgw_sess_refuse(s, (char)msg[0], NULL, &r) ? PGW_RENAME_SENT
								  : PGW_RENAME_CLOSED;
	}
	if (!pgw_held_use(&srv->held, p) && !prepare(s, p, 0))
		return PGW_RENAME_FAILED;
	name_len = strlen(p->name);
	pgw_msg_header(srv->conn.out, (char)msg[0],
		       (uint32_t)(at - PGW_HDR_LEN + name_len + 1 + (total - after)));
	evbuffer_add(srv->conn.out, msg + PGW_HDR_LEN, at - PGW_HDR_LEN);
	evbuffer_add(srv->conn.out, p->name, name_len + 1);
	evbuffer_add(srv->conn.out, msg + after, total - after);
	if (pgw_tracker_push(&srv->tracker, (char)msg[0], PGW_RESP_PASS, NULL, 0) < 0)
		return PGW_RENAME_FAILED;
	/* should it fail (a plan a table change made stale), prepared again next time */
	on_undo(s, p->id, UNDO_CLOSE);
	return PGW_RENAME_SENT;
}

enum pgw_rename pgw_sess_rename(struct pgw_session *s, const struct pgw_msg_hdr *h)
{
	const uint8_t *msg = pgw_rbuf_data(&s->client.in);
	size_t total = (size_t)h->len + 1;
	struct pgw_reader r;
	const char *name;
	enum pgw_rename sent;

	pgw_reader_init(&r, msg + PGW_HDR_LEN, total - PGW_HDR_LEN);
	switch (h->type) {
	case 'Q':
		return pgw_sess_sql_rename_send(s, h);
	case 'P':
		name = pgw_read_cstr(&r);
		if (name == NULL || name[0] == '\0')
			return PGW_RENAME_FORWARD;
		if (!pgw_sess_rename_parse(s, name, r.p, r.left))
			return PGW_RENAME_FAILED;
		sent = PGW_RENAME_SENT;
		break;
	case 'B': /* portal, then statement */
	case 'D': /* 'S' or 'P', then statement or portal */
	case 'C':
		if (h->type == 'B' ? pgw_read_cstr(&r) == NULL : pgw_read_u8(&r) != 'S')
			return PGW_RENAME_FORWARD; /* malformed, or a portal's */
		name = pgw_read_cstr(&r);
		if (name == NULL || name[0] == '\0')
			return PGW_RENAME_FORWARD;
		if (h->type == 'C') {
			/* A name of pgward's is nothing the client has to close. */
			if (!reserved(name))
				return PGW_RENAME_FORWARD;
			if (!own(s,
				 &(struct pgw_own_msg){.type = 'C', .kind = 'S', .name = none_name},
				 &(struct pgw_own_answer){.action = PGW_RESP_PASS}))
				return PGW_RENAME_FAILED;
			sent = PGW_RENAME_SENT;
			break;
		}
		sent = send_renamed(s, msg, total, name, (size_t)((const uint8_t *)name - msg));
		break;
	default:
		return PGW_RENAME_FORWARD;
	}
	if (sent == PGW_RENAME_SENT)
		pgw_rbuf_drain(&s->client.in, total);
	return sent;
}

bool pgw_sess_prepare_before_query(struct pgw_session *s, struct pgw_prepared *p)
{
	if (pgw_held_use(&s->srv->held, p))
		return true;
	/* a Parse's error would make the server skip the Query: a Sync ends its batch */
	return prepare(s, p, 0) && (p->sql || own(s, &(struct pgw_own_msg){.type = 'S'}, NULL));
}

bool pgw_sess_prepare_by_query(struct pgw_session *s, struct pgw_prepared *p)
{
	return make_room(s, p) && own(s, &(struct pgw_own_msg){.type = 'S'}, NULL) &&
	       pgw_held_add(&s->srv->held, p) == 0;
}

void pgw_sess_statement_refusal(struct pgw_refusal *r, const char *sqlstate, const char *name)
{
	bool exists = strcmp(sqlstate, "42P05") == 0;

	*r = (struct pgw_refusal){.rule = "prepared_statement", .sqlstate = sqlstate};
	snprintf(r->message, sizeof(r->message), "prepared statement \"%s\" %s", name,
		 exists ? "already exists" : "does not exist");
}

bool pgw_sess_reserved_name(const char *name)
{
	return reserved(name);
}
