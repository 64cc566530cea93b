/*
 * A pooled server handed to a client is brought to that client's state before the client's
 * first message on it: its startup settings and its tenant context, written as pgward's own
 * statements in one batch whose Sync's ReadyForQuery the client waits for (tenant_hook.c).
 * A server records whose state it holds (server.h: settings_of, context_of):
 *   - nothing: it is fresh from its login or from session pooling's reset; the client's
 *     settings and context are written;
 *   - this client's kind (pool_mode = transaction: the same database, user and startup
 *     settings, the same tenant identity and organizations): nothing is written, but the
 *     unnamed statement a client before may have left is closed, and a signed context is
 *     written again (its signature binds one checkout);
 *   - anything else (another client's settings or tenant, or unknown): DISCARD ALL and a
 *     new random seed first, the reset between two clients of session pooling, then
 *     everything. Temporary objects, sequences' last values, cursors, locks and settings
 *     of one kind of client never reach another.
 */
#include "session-int.h"

#include "pgward/random.h"
#include "pgward/server_own.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One set_config(<name>, <value>) of write_settings: a Bind and an Execute (<value> NULL:
 * back to the default, as RESET). */
static bool write_setting(struct pgw_server *srv, const char *name, const char *value)
{
	const struct pgw_own_param params[] = {
		{.value = name, .len = (int32_t)strlen(name)},
		{.value = value, .len = value != NULL ? (int32_t)strlen(value) : -1},
	};

	return pgw_server_own(srv,
			      &(struct pgw_own_msg){.type = 'B', .params = params, .nparams = 2},
			      NULL) == 0 &&
	       pgw_server_own(srv, &(struct pgw_own_msg){.type = 'E'}, NULL) == 0;
}

/* <sql> as the unnamed statement, run with <nparams> text parameters. */
static bool write_statement(struct pgw_server *srv, const char *sql,
			    const struct pgw_own_param *params, uint16_t nparams)
{
	return pgw_server_own(srv, &(struct pgw_own_msg){.type = 'P', .text = sql}, NULL) == 0 &&
	       pgw_server_own(
		       srv,
		       &(struct pgw_own_msg){.type = 'B', .params = params, .nparams = nparams},
		       NULL) == 0 &&
	       pgw_server_own(srv, &(struct pgw_own_msg){.type = 'E'}, NULL) == 0;
}

/*
 * DISCARD ALL (not RESET ALL, which keeps role and session_authorization; the first Execute
 * of the batch, so not in a pipeline), then a seed of pgward's: DISCARD ALL keeps the one a
 * client chose, which would make the next client's random() predictable.
 */
static bool write_reset(struct pgw_server *srv)
{
	uint32_t r;
	char seed[16];
	struct pgw_own_param param = {.value = seed};

	if (pgw_random_bytes(&r, sizeof(r)) < 0)
		r = (uint32_t)random();
	param.len = snprintf(seed, sizeof(seed), "%u", r);
	return write_statement(srv, "DISCARD ALL", NULL, 0) &&
	       write_statement(srv, "SELECT pg_catalog.setseed($1::int8 / 4294967295.0 * 2 - 1)",
			       &param, 1);
}

/*
 * A pooled server logged in with none of the client's startup settings but
 * application_name, that of the client it was opened for (handshake.c): the client's are
 * applied as the set_config() calls check_settings (handshake.c) passed, with bound
 * parameters, and the unnamed statement is closed again. application_name only when the
 * server's differs (<after_reset>: always, the reset gave the login's back); a client
 * without one gets the empty string, the server's default. 1 if anything was written, 0 if
 * nothing needed to be, -1 out of memory.
 */
static int write_settings(struct pgw_session *s, bool after_reset)
{
	static const char sql[] = "SELECT pg_catalog.set_config($1, $2, false)";
	struct pgw_server *srv = s->srv;
	const struct pgw_startup_view *v = &s->view;
	int app = pgw_startup_view_find(v, "application_name");
	const char *app_now = pgw_server_param(srv, "application_name");
	const char *app_wanted = app < 0 ? "" : v->settings[app].value;
	bool app_differs = after_reset || app_now == NULL || strcmp(app_now, app_wanted) != 0;

	if (v->nsettings == (app < 0 ? 0u : 1u) && !app_differs && s->sets.n == 0)
		return 0;
	if (pgw_server_own(srv, &(struct pgw_own_msg){.type = 'P', .text = sql}, NULL) < 0)
		return -1;
	for (size_t i = 0; i < v->nsettings; i++)
		if ((int)i != app && !write_setting(srv, v->settings[i].name, v->settings[i].value))
			return -1;
	if (app_differs && !write_setting(srv, "application_name", app_wanted))
		return -1;
	/* then what the client SET since (sets.c), in order: a RESET is a NULL value */
	for (size_t i = 0; i < s->sets.n; i++)
		if (!write_setting(srv, s->sets.v[i].name, s->sets.v[i].value))
			return -1;
	s->settings_sent = true;
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

size_t pgw_sess_context_key(const struct pgw_session *s, char *out, size_t outsz)
{
	return s->tenant.status != PGW_TENANT_OFF ? context_key(&s->tenant, out, outsz) : 0;
}

/* The tenant context (tenant.h) as the unnamed statement, closed again after its run. */
static bool write_context(struct pgw_session *s)
{
	struct pgw_tenant_injection inj;
	struct pgw_own_param params[PGW_ARRAY_LEN(inj.params)];
	struct pgw_server *srv = s->srv;

	pgw_tenant_injection(&s->tenant, srv->pid, pgw_server_next_checkout(srv), &inj);
	for (uint16_t i = 0; i < inj.nparams; i++)
		params[i] = (struct pgw_own_param){.value = inj.params[i],
						   .len = (int32_t)strlen(inj.params[i])};
	return write_statement(srv, inj.sql, params, inj.nparams) &&
	       pgw_server_own(srv, &(struct pgw_own_msg){.type = 'C', .kind = 'S'}, NULL) == 0;
}

/* What the server holds from here (pool_mode = transaction): this client's kind. A context
 * too long to key is recorded as unknown, so the next client resets the server. */
static int remember(struct pgw_session *s, const char *key, size_t keylen)
{
	struct pgw_server *srv = s->srv;
	bool context_on = s->tenant.status != PGW_TENANT_OFF;

	size_t kind_len;
	const char *kind = pgw_sess_kind_key(s, &kind_len);

	return pgw_server_remember(&srv->settings_of, &srv->settings_of_len, kind, kind_len) == 0 &&
			       pgw_server_remember(&srv->context_of, &srv->context_of_len,
						   context_on ? key : NULL, keylen) == 0
		       ? 0
		       : -1;
}

/* Whether <srv> holds the startup settings of <s>'s kind and its context, keyed <key>. */
static bool holds_state(const struct pgw_session *s, const struct pgw_server *srv, const char *key,
			size_t keylen)
{
	size_t kind_len;
	const char *kind = pgw_sess_kind_key(s, &kind_len);

	return pgw_server_holds(srv->settings_of, srv->settings_of_len, kind, kind_len) &&
	       (s->tenant.status != PGW_TENANT_OFF
			? keylen > 0 && pgw_server_holds(srv->context_of, srv->context_of_len, key,
							 keylen)
			: srv->context_of == NULL);
}

bool pgw_sess_server_fits(const struct pgw_server *srv, void *arg)
{
	const struct pgw_session *s = arg;
	char key[1024];
	size_t keylen =
		s->tenant.status != PGW_TENANT_OFF ? context_key(&s->tenant, key, sizeof(key)) : 0;

	return holds_state(s, srv, key, keylen);
}

int pgw_sess_bring_server(struct pgw_session *s, bool *context_written)
{
	struct pgw_server *srv = s->srv;
	bool context_on = s->tenant.status != PGW_TENANT_OFF;
	char key[1024];
	size_t keylen = context_on ? context_key(&s->tenant, key, sizeof(key)) : 0;
	bool fresh = srv->settings_of == NULL && srv->context_of == NULL;
	bool same = !fresh && s->txn_pooled && holds_state(s, srv, key, keylen);
	int wrote = 0;

	*context_written = false;
	s->text.login_fixed = true; /* RESET restores the server's own settings, not these */
	if (!fresh && !same) {
		if (!write_reset(srv))
			return -1;
		pgw_server_forget_session(srv);
		wrote = 1;
	}
	if (!same) {
		int settings = s->pooled ? write_settings(s, wrote != 0) : 0;

		if (settings < 0)
			return -1;
		wrote |= settings;
	}
	if (context_on && (!same || pgw.cfg.tenant_signing_secret != NULL)) {
		if (!write_context(s))
			return -1;
		*context_written = true;
		wrote = 1;
	}
	/* pgward's own statements replaced it; otherwise it is closed in front of the client's
	 * first message, its answer swallowed, with no Sync to wait for. That Close opens no
	 * batch: it cannot fail, so the server never skips to a Sync for it. A Flush sends its
	 * answer at once: the client's message may be one nothing answers (a CopyDone outside
	 * COPY), and the server would stay owing it, held by that client. */
	if (wrote == 0 && srv->unnamed_stmt) {
		bool open = srv->tracker.batch_open;

		if (pgw_server_own(srv, &(struct pgw_own_msg){.type = 'C', .kind = 'S'}, NULL) <
			    0 ||
		    pgw_server_own(srv, &(struct pgw_own_msg){.type = 'H'}, NULL) < 0)
			return -1;
		srv->tracker.batch_open = open;
	}
	srv->unnamed_stmt = false;
	if (s->txn_pooled && remember(s, key, keylen) < 0)
		return -1;
	return wrote;
}
