/*
 * Where a session meets the tenant context. The server's first ReadyForQuery is held back;
 * once the organization ids are known, pgward's Parse/Bind/Execute/Close/Sync sets the context,
 * its answers are swallowed (tracker.h) and the Sync's ReadyForQuery becomes the client's
 * first. Until then nothing the client sends after authentication reaches the server, so
 * no statement of the client ever runs without its context. A failed lookup or a failed
 * injection ends the session: it never runs with a missing or stale context.
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

/* One set_config(<name>, <value>) of write_settings: a Bind and an Execute. */
static bool write_setting(struct pgw_server *srv, const char *name, const char *value)
{
	const struct pgw_own_param params[] = {
		{.value = name, .len = (int32_t)strlen(name)},
		{.value = value, .len = (int32_t)strlen(value)},
	};

	return pgw_server_own(srv,
			      &(struct pgw_own_msg){.type = 'B', .params = params, .nparams = 2},
			      NULL) == 0 &&
	       pgw_server_own(srv, &(struct pgw_own_msg){.type = 'E'}, NULL) == 0;
}

/* One statement of pgward's with no parameters, as the unnamed statement. */
static bool write_statement(struct pgw_server *srv, const char *sql)
{
	return pgw_server_own(srv, &(struct pgw_own_msg){.type = 'P', .text = sql}, NULL) == 0 &&
	       pgw_server_own(srv, &(struct pgw_own_msg){.type = 'B'}, NULL) == 0 &&
	       pgw_server_own(srv, &(struct pgw_own_msg){.type = 'E'}, NULL) == 0;
}

/*
 * A pooled server logged in with none of the client's startup settings but
 * application_name, that of the client it was opened for (handshake.c): the client's are
 * applied as the set_config() calls check_settings (handshake.c) passed, with bound
 * parameters, and the unnamed statement is closed again. application_name only when the
 * server's differs; a client without one gets the empty string, the server's default.
 * Under pool_mode = transaction the server may hold the settings of the client before
 * (settings_of): nothing is written when they are this client's, and DISCARD ALL goes
 * first when they are another's (or unknown), or when <clear> says the server holds a
 * context this client must not see. Returns 1 if anything was written, 0 if nothing needed to be,
 * -1 out of memory.
 */
static int write_settings(struct pgw_session *s, bool clear)
{
	static const char sql[] = "SELECT pg_catalog.set_config($1, $2, false)";
	struct pgw_server *srv = s->srv;
	const struct pgw_startup_view *v = &s->view;
	int app;
	const char *app_now, *app_wanted;
	bool app_differs, reset = clear;

	s->text.login_fixed = true; /* RESET restores the server's own, not these */
	if (srv->settings_of != NULL && !reset) {
		if (pgw_server_holds(srv->settings_of, srv->settings_of_len, s->welcome_key,
				     s->welcome_keylen))
			return 0;
		reset = true;
	}
	app = pgw_startup_view_find(v, "application_name");
	app_now = pgw_server_param(srv, "application_name");
	app_wanted = app < 0 ? "" : v->settings[app].value;
	app_differs = app_now == NULL || strcmp(app_now, app_wanted) != 0;
	if (!reset && v->nsettings == (app < 0 ? 0u : 1u) && !app_differs) {
		/* the login's settings are the client's: the next of its kind asks no more */
		if (s->txn_pooled && pgw_server_remember(&srv->settings_of, &srv->settings_of_len,
							 s->welcome_key, s->welcome_keylen) < 0)
			return -1;
		return 0;
	}
	if (reset) {
		/* RESET ALL would leave role and session_authorization: DISCARD ALL (the first
		 * Execute of the batch, so not in a pipeline) resets them too; the tenant context
		 * goes with the rest and is set again (write_context) */
		if (!write_statement(srv, "DISCARD ALL"))
			return -1;
		pgw_server_forget_session(srv);
		app_differs = true; /* back to the server's login value */
	}
	if (pgw_server_own(srv, &(struct pgw_own_msg){.type = 'P', .text = sql}, NULL) < 0)
		return -1;
	for (size_t i = 0; i < v->nsettings; i++)
		if ((int)i != app && !write_setting(srv, v->settings[i].name, v->settings[i].value))
			return -1;
	if (app_differs && !write_setting(srv, "application_name", app_wanted))
		return -1;
	s->settings_sent = true;
	if (s->txn_pooled && pgw_server_remember(&srv->settings_of, &srv->settings_of_len,
						 s->welcome_key, s->welcome_keylen) < 0)
		return -1;
	return pgw_server_own(srv, &(struct pgw_own_msg){.type = 'C', .kind = 'S'}, NULL) == 0 ? 1
											       : -1;
}

/* What identifies a context on a server: the identity and its organizations; 0 if it does
 * not fit <out>. */
static size_t context_key(const struct pgw_tenant_sess *t, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "%s%c%s", t->identity, '\0', t->org_ids ? t->org_ids : "");

	return n > 0 && (size_t)n < outsz ? (size_t)n : 0;
}

/*
 * The tenant context (tenant.h) as the unnamed statement, closed again after its run.
 * Under pool_mode = transaction nothing is written when the server holds this context
 * already (unless it is signed: a signature binds one checkout). 1 if it was written, 0 if
 * not, -1 out of memory.
 */
static int write_context(struct pgw_session *s)
{
	struct pgw_tenant_injection inj;
	struct pgw_own_param params[PGW_ARRAY_LEN(inj.params)];
	struct pgw_server *srv = s->srv;
	char key[1024];
	size_t keylen = s->txn_pooled ? context_key(&s->tenant, key, sizeof(key)) : 0;

	if (keylen > 0 && pgw.cfg.tenant_signing_secret == NULL &&
	    pgw_server_holds(srv->context_of, srv->context_of_len, key, keylen))
		return 0;
	/* until the Sync's ReadyForQuery proves it set, the server's context is unknown */
	pgw_server_forget_session(srv);
	pgw_tenant_injection(&s->tenant, srv->pid, pgw_server_next_checkout(srv), &inj);
	for (uint16_t i = 0; i < inj.nparams; i++)
		params[i] = (struct pgw_own_param){.value = inj.params[i],
						   .len = (int32_t)strlen(inj.params[i])};
	if (pgw_server_own(srv, &(struct pgw_own_msg){.type = 'P', .text = inj.sql}, NULL) < 0 ||
	    pgw_server_own(
		    srv,
		    &(struct pgw_own_msg){.type = 'B', .params = params, .nparams = inj.nparams},
		    NULL) < 0 ||
	    pgw_server_own(srv, &(struct pgw_own_msg){.type = 'E'}, NULL) < 0 ||
	    pgw_server_own(srv, &(struct pgw_own_msg){.type = 'C', .kind = 'S'}, NULL) < 0)
		return -1;
	if (keylen > 0 &&
	    pgw_server_remember(&srv->context_of, &srv->context_of_len, key, keylen) < 0)
		return -1;
	return 1;
}

/*
 * The server is logged in and the ids are known (or the lookup failed): apply the client's
 * settings (pooled) and set the context, or refuse the session. The Sync's ReadyForQuery
 * is the client's first; with nothing to write, pgward's own is.
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
	/* a client without a context must not find the one a client before it left */
	wrote = s->pooled ? write_settings(s, t->status == PGW_TENANT_OFF &&
						      s->srv->context_of != NULL)
			  : 0;
	if (wrote < 0)
		goto oom;
	if (t->status != PGW_TENANT_OFF) {
		int context = write_context(s);

		if (context < 0)
			goto oom;
		if (context > 0) {
			t->injected = true;
			pgw_debug(s->id, "tenant_inject", "server_pid=%u", s->srv->pid);
		}
		if (pgw.cfg.metrics_tenant_label == PGW_MLABEL_ORGANIZATION && !s->txn_released)
			label_by_organization(s);
		wrote |= context;
	}
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
