/*
 * A server's life apart from any client: created before its connect, closed when it fails
 * or its client leaves, freed by whoever holds it last.
 */
#include "pgward/server.h"

#include "pgward/proxy.h"
#include "pgward/startup.h"
#include "pgward/startup_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pgw_server *pgw_server_new(uint64_t id)
{
	struct pgw_server *srv = calloc(1, sizeof(*srv));

	if (srv == NULL)
		return NULL;
	srv->id = id;
	srv->tx_status = 'I';
	srv->conn.fd = -1; /* no socket until the connect starts */
	srv->conn.closed = true;
	return srv;
}

void pgw_server_close(struct pgw_server *srv)
{
	pgw_server_link_stop(&srv->link);
	pgw_conn_close(&srv->conn);
}

void pgw_server_free(struct pgw_server *srv)
{
	if (srv == NULL)
		return;
	for (size_t i = 0; i < srv->nparams; i++) {
		free(srv->params[i].name);
		free(srv->params[i].value);
	}
	free(srv->params);
	pgw_server_link_stop(&srv->link);
	pgw_conn_release(&srv->conn);
	pgw_tracker_free(&srv->tracker);
	if (srv->login_creds != NULL) {
		pgw_login_creds_clear(srv->login_creds);
		free(srv->login_creds);
	}
	if (srv->warm_login != NULL) {
		pgw_server_auth_clear(srv->warm_login);
		free(srv->warm_login);
	}
	pgw_server_forget_session(srv);
	free(srv);
}

int pgw_server_remember(char **field, size_t *field_len, const char *key, size_t len)
{
	char *copy = NULL;

	if (key != NULL && (copy = malloc(len + 1)) == NULL) {
		free(*field);
		*field = NULL;
		*field_len = 0;
		return -1;
	}
	if (copy != NULL) {
		memcpy(copy, key, len);
		copy[len] = '\0';
	}
	free(*field);
	*field = copy;
	*field_len = copy != NULL ? len : 0;
	return 0;
}

bool pgw_server_holds(const char *field, size_t field_len, const char *key, size_t len)
{
	return field != NULL && key != NULL && field_len == len && memcmp(field, key, len) == 0;
}

void pgw_server_forget_session(struct pgw_server *srv)
{
	(void)pgw_server_remember(&srv->settings_of, &srv->settings_of_len, NULL, 0);
	(void)pgw_server_remember(&srv->context_of, &srv->context_of_len, NULL, 0);
	pgw_held_clear(&srv->held);
}

void pgw_server_session_unknown(struct pgw_server *srv)
{
	pgw_held_clear(&srv->held);
	/* an empty key, which no client's is; out of memory, the server cannot be trusted */
	if (pgw_server_remember(&srv->settings_of, &srv->settings_of_len, "", 0) < 0 ||
	    pgw_server_remember(&srv->context_of, &srv->context_of_len, "", 0) < 0)
		srv->gone = true;
}

bool pgw_server_busy(const struct pgw_server *srv)
{
	return pgw_tracker_pending(&srv->tracker) > 0;
}

const char *pgw_server_param(const struct pgw_server *srv, const char *name)
{
	for (size_t i = 0; i < srv->nparams; i++)
		if (strcmp(srv->params[i].name, name) == 0)
			return srv->params[i].value;
	return NULL;
}

/* FNV-1a over <name>, NUL, <value>: one setting's part in params_hash. */
static uint64_t param_hash(const char *name, const char *value)
{
	uint64_t h = 0xcbf29ce484222325u;

	for (const char *c = name;; c++) {
		h = (h ^ (unsigned char)*c) * 0x100000001b3u;
		if (*c == '\0')
			break;
	}
	for (const char *c = value; *c != '\0'; c++)
		h = (h ^ (unsigned char)*c) * 0x100000001b3u;
	return h;
}

int pgw_server_param_set(struct pgw_server *srv, const char *name, const char *value)
{
	struct pgw_server_param *p, *grown;
	char *copy;

	for (size_t i = 0; i < srv->nparams; i++) {
		p = &srv->params[i];
		if (strcmp(p->name, name) != 0)
			continue;
		if (strcmp(p->value, value) == 0)
			return 0;
		if ((copy = strdup(value)) == NULL)
			return -1;
		srv->params_hash += param_hash(name, copy) - param_hash(name, p->value);
		free(p->value);
		p->value = copy;
		return 0;
	}
	grown = realloc(srv->params, (srv->nparams + 1) * sizeof(*grown));
	if (grown == NULL)
		return -1;
	srv->params = grown;
	p = &grown[srv->nparams];
	p->name = strdup(name);
	p->value = strdup(value);
	if (p->name == NULL || p->value == NULL) {
		free(p->name);
		free(p->value);
		return -1;
	}
	srv->nparams++;
	srv->params_hash += param_hash(name, value);
	return 0;
}

uint64_t pgw_server_next_checkout(struct pgw_server *srv)
{
	uint64_t now = (uint64_t)(pgw_now() * 1e6);

	srv->checkout = now > srv->checkout ? now : srv->checkout + 1;
	return srv->checkout;
}

void pgw_server_write_startup(struct evbuffer *out, const char *user, const char *database,
			      const char *application_name)
{
	struct pgw_startup_setting app = {.name = "application_name", .value = application_name};
	struct pgw_startup_view v = {
		.version = PGW_PROTO_3_0,
		.nsettings = application_name != NULL,
		.settings = &app,
	};

	snprintf(v.user, sizeof(v.user), "%s", user);
	snprintf(v.database, sizeof(v.database), "%s", database);
	pgw_startup_view_write(&v, out);
}

int pgw_server_connect(struct pgw_server *srv, pgw_link_done_fn done, void *arg)
{
	struct pgw_link_target t = {
		.addr = (const struct sockaddr *)&pgw.server_addr,
		.addrlen = pgw.server_addrlen,
		.host = pgw.cfg.server_host,
		.tls = pgw.server_tls,
		.mode = pgw.cfg.server_tls_sslmode,
		.timeout = pgw.cfg.server_connect_timeout,
	};

	srv->connected_at = pgw_now();
	return pgw_server_link_start(&srv->link, &srv->conn, pgw.base, &t, done, arg);
}
