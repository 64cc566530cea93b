/*
 * Where a session meets the tenant context. The server's first ReadyForQuery is held back;
 * once the organization ids are known, pgward's Parse/Bind/Execute/Close/Sync sets the context
 * (and a pooled server's settings: handover.c), its answers are swallowed (tracker.h) and
 * the Sync's ReadyForQuery becomes the client's first. Until then nothing the client sends
 * after authentication reaches the server, so no statement of the client ever runs without
 * its context. A failed lookup or a failed injection ends the session: it never runs with
 * a missing or stale context.
 */
#include "session-int.h"

#include "pgward/codec.h"
#include "pgward/log.h"
#include "pgward/metrics.h"
#include "pgward/proxy.h"

#include <stdio.h>
#include <string.h>
#include <event2/buffer.h>

static bool proceed(struct pgw_session *s);

static void ready_cb(void *arg)
{
	struct pgw_session *s = arg;

	if (s->state < PGW_SS_CLOSING && s->tenant.held)
		proceed(s);
}

bool pgw_sess_tenant_begin(struct pgw_session *s)
{
	struct pgw_tenant_refusal r;

	if (pgw_tenant_begin(&s->tenant, &s->view, &r) < 0) {
		pgw_sess_fail(s, r.sqlstate, "%s", r.message);
		return false;
	}
	return true;
}

void pgw_sess_tenant_authenticated(struct pgw_session *s)
{
	pgw_tenant_resolve(&s->tenant, ready_cb, s);
}

/* [metrics] tenant_label = organization: the first of "{id,id}", "none" for "{}". */
static void label_by_organization(struct pgw_session *s)
{
	const char *ids = s->tenant.org_ids ? s->tenant.org_ids : "{}";
	char first[64];
	size_t n = strcspn(ids + 1, ",}");

	if (ids[0] != '{' || n == 0 || n >= sizeof(first)) {
		pgw_metrics_relabel(&s->metrics, "none");
		return;
	}
	memcpy(first, ids + 1, n);
	first[n] = '\0';
	pgw_metrics_relabel(&s->metrics, first);
}

/*
 * The server is logged in and the ids are known (or the lookup failed): bring the server
 * to the client's state (handover.c), or refuse the session. The Sync's ReadyForQuery is
 * the client's first; with nothing to write, pgward's own is.
 */
static bool proceed(struct pgw_session *s)
{
	struct pgw_tenant_sess *t = &s->tenant;
	int wrote;

	if (t->status == PGW_TENANT_PENDING)
		return true;
	if (t->status == PGW_TENANT_IDENTIFIED) {
		pgw_sess_fail(s, "08P01", "pgward: the server was ready before authentication");
		return false;
	}
	if (t->status == PGW_TENANT_FAILED && !pgw_tenant_use_fallback(t)) {
		pgw_sess_fail(s, "58000", "pgward: cannot resolve the tenant context: %s",
			      t->error);
		return false;
	}
	if (s->srv == NULL) {
		/* welcomed without a server (checkout.c): the context waits for one */
		pgw_sess_welcome_done(s);
		return true;
	}
	wrote = pgw_sess_bring_server(s, &t->injected);
	if (wrote < 0)
		goto oom;
	if (t->injected)
		pgw_debug(s->id, "tenant_inject", "server_pid=%u", s->srv->pid);
	if (t->status != PGW_TENANT_OFF &&
	    pgw.cfg.metrics_tenant_label == PGW_MLABEL_ORGANIZATION && !s->txn_released)
		label_by_organization(s);
	if (wrote == 0) {
		/* nothing to set: the server is idle after its login or reset (or holds this
		 * client's state already), and the client's first ReadyForQuery needs no round
		 * trip to it (a welcomed client has had it) */
		if (!s->welcomed)
			pgw_msg_ready(s->client.out, 'I');
		pgw_sess_text_ready(s, 'I');
		pgw_sess_on_ready(s, 'I');
		return true;
	}
	/* a welcomed client has had its ReadyForQuery: the relay ends the setup at this one */
	if (pgw_server_own(s->srv, &(struct pgw_own_msg){.type = 'S'},
			   &(struct pgw_own_answer){.action = s->welcomed ? PGW_RESP_SWALLOW
									  : PGW_RESP_PASS}) < 0)
		goto oom;
	if (pgw_conn_flush(&s->srv->conn) < 0) {
		s->srv->gone = true;
		pgw_sess_fail(s, "08006", "pgward: lost the server connection: %s",
			      s->srv->conn.err);
		return false;
	}
	return true;
oom:
	pgw_sess_fail(s, "53200", "pgward: out of memory");
	return false;
}

bool pgw_sess_tenant_server_msg(struct pgw_session *s, const struct pgw_msg_hdr *h)
{
	size_t total = (size_t)h->len + 1;
	const uint8_t *msg = pgw_rbuf_data(&s->srv->conn.in);
	const char *code, *text = "";
	struct pgw_error_fields f;

	if (h->type == 'Z') {
		pgw_rbuf_drain(&s->srv->conn.in, total);
		s->tenant.held = true;
		return proceed(s);
	}
	pgw_read_error_fields(msg + PGW_HDR_LEN, total - PGW_HDR_LEN, &f);
	code = f.code;
	if (f.message != NULL)
		text = f.message;
	{
		char why[300];

		snprintf(why, sizeof(why), "%s (SQLSTATE %s)", text, code);
		pgw_rbuf_drain(&s->srv->conn.in, total);
		if (s->settings_sent && strlen(code) == 5)
			/* the settings go first: the server refused one, as it would at login */
			pgw_sess_fail(s, code, "pgward: startup parameters: %s", text);
		else
			pgw_sess_fail(s, "58000", "pgward: could not set the tenant context: %s",
				      why);
	}
	return false;
}

bool pgw_sess_tenant_blocks_client(const struct pgw_session *s, char type)
{
	return s->state == PGW_SS_AUTH && (s->tenant.status != PGW_TENANT_OFF || s->pooled) &&
	       type != 'p';
}

bool pgw_sess_tenant_release(struct pgw_session *s)
{
	if (!s->tenant.held || s->tenant.released || s->state != PGW_SS_READY)
		return true;
	s->tenant.released = true;
	pgw_conn_set_reading(&s->client, true);
	if (pgw_rbuf_len(&s->client.in) > 0)
		return pgw_relay_client(s);
	return true;
}

void pgw_sess_tenant_server_ready(struct pgw_session *s)
{
	s->tenant.held = true;
	if (!proceed(s) || s->state != PGW_SS_READY || s->srv == NULL)
		return;
	/* Nothing had to be applied: the client is told it is ready now. This may run inside
	 * the client's last authentication message (checkout.c), so what it sent next is read
	 * from the event loop. */
	if (pgw_conn_flush(&s->client) < 0) {
		pgw_sess_end(s, s->client.err);
		return;
	}
	s->tenant.released = true;
	pgw_conn_set_reading(&s->client, true);
	pgw_conn_kick_read(&s->client);
}
