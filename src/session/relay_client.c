/*
 * Client → server. Checks every message's header (length, type) before its body is
 * buffered and runs the policy pipeline: header-level limits first, then, for the few
 * message types policies read (Query, Parse, Bind, FunctionCall), the whole message,
 * bounded by those limits. Passed messages are recorded in the tracker and sent to the
 * server in runs straight from the input block (pgw_conn_relay); a message larger than
 * what has arrived streams through.
 * A refused message is discarded as it arrives and replaced (refuse.c).
 */
#include "session-int.h"

#include "pgward/codec.h"
#include "pgward/log.h"
#include "pgward/prepared.h"
#include "pgward/proxy.h"
#include "pgward/sql.h"

#include <stdlib.h>
#include <string.h>

/* Checks one header; false (session closed) if the stream cannot be trusted. */
static bool header_ok(struct pgw_session *s, enum pgw_frame_status st, const struct pgw_msg_hdr *h)
{
	if (st == PGW_FRAME_BAD_LENGTH) {
		pgw_sess_fail(s, "08P01",
			      "pgward: invalid message length %u for message type 0x%02x "
			      "(max_packet_size=%u)",
			      h->len, (unsigned char)h->type, pgw.cfg.max_packet_size);
		return false;
	}
	/* With pgward's own authentication the client's login is over: a PasswordMessage now is
	 * what PostgreSQL calls it after a login, and must never reach a server pgward is
	 * logging in to as the client */
	if (!pgw_frontend_type_valid(h->type) || (h->type == 'p' && s->own_auth)) {
		pgw_sess_fail(s, "08P01", "pgward: invalid frontend message type 0x%02x",
			      (unsigned char)h->type);
		return false;
	}
	return true;
}

static void init_ctx(struct pgw_session *s, struct pgw_policy_ctx *ctx)
{
	pgw_policy_ctx_init(ctx, &pgw.cfg, s->user, s->id, &s->stmts);
	ctx->tenant_context = s->tenant.status != PGW_TENANT_OFF;
	ctx->pinnable = s->txn_pooled;
	ctx->forms = &s->text.maybe;
}

/*
 * A message passed the pipeline and goes to the server: keep the prepared-statement map
 * in step (a Parse's classification and metrics tag stay with its name for the Binds that
 * follow). Close, DEALLOCATE and DISCARD ALL forget, as the server does.
 */
static bool track_statements(struct pgw_session *s, const struct pgw_msg_view *m,
			     const struct pgw_sql_info *info, const struct pgw_stmt_tag *tag)
{
	const char *name = (const char *)m->body;

	if (m->type == 'P') {
		if (m->len > 0 && m->body[0] == '\0')
			s->srv->unnamed_stmt = true;
		return pgw_stmt_map_put_parse(&s->stmts, m->body, m->len, info, tag) == 0;
	}
	if (m->type == 'C' && m->len >= 2 && m->body[0] == 'S' &&
	    memchr(m->body + 1, '\0', m->len - 1) != NULL) {
		pgw_stmt_map_remove(&s->stmts, name + 1);
	} else if (m->type == 'Q' && !s->srv->tracker.batch_open) {
		/* a Query drops it first; inside a batch an error before it may make the server
		 * skip it, and the statement stays */
		s->srv->unnamed_stmt = false;
	}
	if (m->type == 'Q' && info != NULL)
		pgw_sess_stmts_forget(s, info);
	return true;
}

void pgw_sess_stmts_forget(struct pgw_session *s, const struct pgw_sql_info *info)
{
	if (info->flags & PGW_SQL_BIT(PGW_SQL_DISCARD_ALL))
		pgw_stmt_map_clear(&s->stmts);
	for (size_t i = 0; i < info->ndeallocates; i++) {
		if (info->deallocates[i] == NULL)
			pgw_stmt_map_clear(&s->stmts);
		else
			pgw_stmt_map_remove(&s->stmts, info->deallocates[i]);
	}
}

/* Queues <run> bytes of passed messages for the server, so what follows can be looked at
 * alone (and what pgward adds goes behind them). <avail> becomes what is left. */
static void forward(struct pgw_session *s, size_t *run, size_t *avail)
{
	pgw_conn_queue(&s->srv->conn, &s->client.in, *run);
	*run = 0;
	*avail = pgw_rbuf_len(&s->client.in);
}

/* The refused message is all gone: answer it (or not, for dropped COPY leftovers). */
static bool discarded(struct pgw_session *s)
{
	char type = s->discard_type;

	s->discard_type = 0;
	if (s->discard_refusal.rule == NULL)
		return true;
	return pgw_sess_refuse(s, type, NULL, &s->discard_refusal);
}

/* Drops (the start of) a refused message; the refusal is sent once all of it is gone. */
static bool discard(struct pgw_session *s, const struct pgw_msg_hdr *h, const struct pgw_refusal *r)
{
	size_t total = (size_t)h->len + 1;
	size_t now = PGW_MIN(total, pgw_rbuf_len(&s->client.in));

	pgw_rbuf_drain(&s->client.in, now);
	s->client_left = (uint32_t)(total - now);
	s->discard_type = h->type;
	s->discard_refusal = *r;
	return s->client_left > 0 || discarded(s);
}

static const char *parse_name(const struct pgw_msg_view *m)
{
	const char *name = (const char *)m->body;

	return memchr(m->body, '\0', m->len) != NULL ? name : "";
}

/*
 * The message at the head of the input is whole: run the pipeline on it. Returns the
 * number of bytes to forward (its length), 0 if it was refused, -1 if the session closed.
 */
static ssize_t inspect_whole(struct pgw_session *s, const struct pgw_msg_hdr *h)
{
	size_t total = (size_t)h->len + 1;
	const uint8_t *msg = pgw_rbuf_data(&s->client.in);
	struct pgw_msg_view m = {h->type, h->len - 4, msg + PGW_HDR_LEN};
	struct pgw_policy_ctx ctx;
	struct pgw_stmt_tag tag = {.fp = 0, .kind = UINT8_MAX};
	enum pgw_verdict v;
	bool ok;

	init_ctx(s, &ctx);
	if (pgw_sess_rename_refusal(s, &m, &ctx.refusal)) {
		/* a name no client has: the server's failing Parse touches no statement */
		if (!pgw_sess_refuse(s, h->type, PGW_PREPARED_PREFIX ".refused", &ctx.refusal))
			return -1;
		pgw_rbuf_drain(&s->client.in, total);
		return 0;
	}
	v = pgw_pipeline_message(&ctx, &m);
	if (v == PGW_PASS && h->type == 'P' && pgw_sess_sql_names_refused(s, &ctx, &m))
		v = PGW_REFUSE;
	pgw_metrics_client_msg(&s->metrics, h->type, m.body, m.len, v != PGW_PASS, &s->stmts, &tag);
	if (v == PGW_PASS) {
		enum pgw_inject inj;

		pgw_lt_note(s, &ctx);
		pgw_sess_text_sent(s, &m, ctx.info);
		inj = pgw_sess_jobs(s, &ctx, &m);
		/* before DEALLOCATE drops the client's names from its map */
		if (s->renames && m.type == 'Q' && inj != PGW_INJ_REPLACED)
			pgw_sess_sql_rename_plan(s, &ctx, &m);
		ok = inj != PGW_INJ_FAILED && track_statements(s, &m, ctx.info, &tag);
		if (s->renamed_body != NULL) {
			ok = ok && pgw_sess_rename_parse(s, parse_name(&m), s->renamed_body,
							 s->renamed_body_len);
			free(s->renamed_body);
			s->renamed_body = NULL;
		}
		if (ok && s->txn_pooled)
			pgw_sess_pin_check(s, &ctx, &m);
		pgw_policy_ctx_release(&ctx);
		if (!ok) {
			pgw_sess_fail(s, "53200", "pgward: out of memory");
			return -1;
		}
		if (inj == PGW_INJ_REPLACED) {
			pgw_rbuf_drain(&s->client.in, total);
			return 0;
		}
		return (ssize_t)total;
	}
	pgw_policy_ctx_release(&ctx);
	/* the server's Parse of the unnamed statement drops the one before, even when it fails */
	if (h->type == 'P' && parse_name(&m)[0] == '\0')
		pgw_stmt_map_remove(&s->stmts, "");
	if (!pgw_sess_refuse(s, h->type, h->type == 'P' ? parse_name(&m) : NULL, &ctx.refusal))
		return -1;
	pgw_rbuf_drain(&s->client.in, total);
	return 0;
}

/*
 * SCRAM with channel binding cannot cross pgward (two TLS sessions), so PLUS is never
 * offered; a client that could bind then says so with the gs2 flag 'y', which a server
 * on TLS must treat as a downgrade attack. The server's answer ("channel binding
 * negotiation error") would not tell the user what to change, so pgward says it here.
 */
static bool sasl_binding_ok(struct pgw_session *s, size_t offset, size_t total)
{
	const uint8_t *msg = pgw_rbuf_data(&s->client.in);
	struct pgw_reader r;
	const char *mech;
	const uint8_t *data;

	pgw_reader_init(&r, msg + offset + PGW_HDR_LEN, total - PGW_HDR_LEN);
	mech = pgw_read_cstr(&r);
	if (mech == NULL || strcmp(mech, "SCRAM-SHA-256") != 0)
		return true;
	pgw_read_u32(&r);
	data = pgw_read_bytes(&r, 1);
	if (data == NULL || data[0] != 'y')
		return true;
	pgw_sess_fail(
		s, "28000",
		"pgward: SCRAM channel binding cannot pass through pgward while its connection "
		"to the server uses TLS; connect with channel_binding=disable, or use md5, or "
		"set server_tls_sslmode=disable");
	return false;
}

/* After a refused CopyData the server has left COPY mode; the rest of the data is dropped. */
static bool drop_refused_copy(struct pgw_session *s, char type)
{
	if (type == 'd' || type == 'c' || type == 'f')
		return s->copy_refused;
	s->copy_refused = false;
	return false;
}

/*
 * Looks at the message whose header is <h>, <run> bytes into the input. Returns false if
 * the session closed; otherwise updates <run> (bytes to forward) and <avail>.
 */
static bool on_message(struct pgw_session *s, const struct pgw_msg_hdr *h, size_t *run,
		       size_t *avail, bool *wait)
{
	struct pgw_msg_view hv = {h->type, h->len - 4, NULL};
	struct pgw_policy_ctx ctx;
	size_t total = (size_t)h->len + 1, take;

	init_ctx(s, &ctx);
	if (h->type == 'p' && s->state == PGW_SS_AUTH && s->srv->conn.ssl != NULL) {
		if (*avail - *run < total) {
			*wait = true; /* authentication messages are small */
			return true;
		}
		if (!sasl_binding_ok(s, *run, total))
			return false;
	}
	if (drop_refused_copy(s, h->type) || pgw_pipeline_header(&ctx, &hv) != PGW_PASS) {
		bool alive;

		forward(s, run, avail);
		if (s->copy_refused && (h->type == 'd' || h->type == 'c' || h->type == 'f'))
			ctx.refusal.rule = NULL; /* dropped silently */
		alive = discard(s, h, &ctx.refusal);
		*avail = pgw_rbuf_len(&s->client.in);
		return alive;
	}
	if (pgw_policy_needs_body(h->type) || pgw_sess_renames(s, h->type)) {
		ssize_t n;

		if (*avail - *run < total) {
			*wait = true; /* bounded: the header passed the size limits */
			return true;
		}
		forward(s, run, avail);
		n = pgw_policy_needs_body(h->type) ? inspect_whole(s, h) : (ssize_t)total;
		if (n < 0)
			return false;
		*avail = pgw_rbuf_len(&s->client.in);
		if (n == 0)
			return true;
	} else if (pgw_lt_after_due(s, h->type) && *avail - *run < total) {
		*wait = true; /* the restore follows the whole Sync */
		return true;
	}
	if (!pgw_lt_before(s, h->type))
		return false;
	if (h->type == 'E') {
		pgw_sess_text_sent(s, &hv, NULL); /* a portal bound earlier may change the form */
		s->sets.unexecuted = false;
	}
	pgw_sess_sets_watch(s, h->type);
	if (pgw_sess_renames(s, h->type)) {
		switch (pgw_sess_rename(s, h)) {
		case PGW_RENAME_FORWARD:
			break;
		case PGW_RENAME_SENT:
			pgw_metrics_sent(&s->metrics, h->type);
			*avail = pgw_rbuf_len(&s->client.in);
			pgw_sess_forget_after_bind(s);
			return true;
		case PGW_RENAME_FAILED:
			pgw_sess_fail(s, "53200", "pgward: out of memory");
			return false;
		case PGW_RENAME_CLOSED:
			return false;
		}
	}
	if (pgw_tracker_expects_answer(h->type)) {
		if (pgw_tracker_push(&s->srv->tracker, h->type, PGW_RESP_PASS, NULL, 0) < 0) {
			pgw_sess_fail(s, "53200", "pgward: out of memory");
			return false;
		}
		pgw_metrics_sent(&s->metrics, h->type);
	}
	pgw_sess_forget_after_bind(s);
	take = PGW_MIN(total, *avail - *run);
	*run += take;
	s->client_left = (uint32_t)(total - take);
	if (pgw_lt_after_due(s, h->type)) {
		forward(s, run, avail);
		return pgw_lt_after(s, h->type);
	}
	return true;
}

/* Continues a message that started in an earlier read: stream it on, or keep discarding. */
static bool continue_message(struct pgw_session *s, size_t *run, size_t *avail)
{
	size_t n = PGW_MIN(*avail, s->client_left);

	s->client_left -= (uint32_t)n;
	if (s->discard_type == 0) {
		*run = n;
		return true;
	}
	pgw_rbuf_drain(&s->client.in, n);
	*avail -= n;
	return s->client_left > 0 || discarded(s);
}

bool pgw_relay_client(struct pgw_session *s)
{
	struct pgw_rbuf *in = &s->client.in;
	size_t avail = pgw_rbuf_len(in), run = 0;
	bool terminate = false, wait = false, blocked = false;
	size_t arrived = avail;
	struct pgw_server *srv;

	if (s->own_auth && (!s->authenticated || !s->srv->logged_in)) {
		/* pgward is still logging in as the client (a welcomed client's first message can
		 * come before its server's login is over): nothing of the client's may reach the
		 * server before the server has accepted that login */
		pgw_conn_set_reading(&s->client, false);
		return true;
	}
	srv = s->srv; /* kept in a register: the calls below cannot change which server it is */
	s->last_client_activity = pgw_now();
	if (s->client_left > 0 && !continue_message(s, &run, &avail))
		return false;
	while (s->client_left == 0 && run < avail && !wait) {
		struct pgw_msg_hdr h;
		enum pgw_frame_status st = pgw_frame_peek(pgw_rbuf_data(in) + run, avail - run,
							  pgw.cfg.max_packet_size, &h);

		if (st == PGW_FRAME_NEED_MORE)
			break;
		if (!header_ok(s, st, &h))
			return false;
		if (h.type == 'X') {
			/* What the client sent before runs to its end, as PostgreSQL runs what it
			 * read before a Terminate: the server gets the Terminate too, unless it is
			 * pooled and at rest (then its pool gets it back). */
			s->client_terminated = true;
			if (s->pooled && !pgw_server_busy(srv) && run == 0) {
				pgw_rbuf_drain(in, PGW_MIN((size_t)h.len + 1, avail));
			} else {
				run += PGW_MIN((size_t)h.len + 1, avail - run);
				srv->terminated = true;
			}
			terminate = true;
			break;
		}
		if (pgw_sess_tenant_blocks_client(s, h.type)) {
			blocked = true;
			break;
		}
		if (!on_message(s, &h, &run, &avail, &wait))
			return false;
	}
	pgw_conn_relay(&srv->conn, in, run);
	/* what stays in the input is counted when it is consumed, on a later call */
	pgw_metrics_bytes(&s->metrics, true, arrived - pgw_rbuf_len(in));
	pgw_pool_db_received(&srv->stats, arrived - pgw_rbuf_len(in));
	if (pgw_conn_flush(&srv->conn) < 0) {
		srv->gone = true;
		pgw_sess_fail(s, "08006", "pgward: lost the server connection: %s", srv->conn.err);
		return false;
	}
	if (terminate) {
		pgw_sess_end(s, "client sent Terminate");
		return false;
	}
	pgw_rbuf_trim(in);
	pgw_relay_client_backpressure(s);
	if (blocked)
		pgw_conn_set_reading(&s->client, false); /* until the tenant context is set */
	/* pool_mode = transaction: what the client sent needs no answer (a Flush, COPY
	 * messages outside COPY): the server is at rest, and goes back */
	else if (s->txn_pooled && srv->tx_status == 'I' && !pgw_server_busy(srv))
		pgw_sess_txn_release(s);
	return true;
}
