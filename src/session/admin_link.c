/*
 * The admin console, session side. A client asking for the console database must be a
 * role listed in [admin] users; its login then goes to PostgreSQL against [admin]
 * auth_database, so the server checks the password as for any session. At the first
 * ReadyForQuery pgward closes that server connection and answers the client itself
 * (src/admin/ renders the results). Only the simple query protocol is served.
 */
#include "session-int.h"

#include "pgward/admin.h"
#include "pgward/codec.h"
#include "pgward/log.h"
#include "pgward/proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#define ADMIN_MAX_MESSAGE (64 * 1024)

bool pgw_sess_admin_startup(struct pgw_session *s)
{
	if (!pgw_admin_user_allowed(&pgw.cfg, s->user)) {
		pgw_sess_fail(
			s, "28000",
			"pgward: role \"%s\" may not use the admin console (see [admin] users)",
			s->user);
		return false;
	}
	s->admin = true;
	s->admin_database = strdup(pgw.cfg.admin_auth_database);
	if (s->admin_database == NULL) {
		pgw_sess_fail(s, "53200", "pgward: out of memory");
		return false;
	}
	/* the login is checked against the real database; the console's name never reaches
	 * the server */
	snprintf(s->view.database, sizeof(s->view.database), "%s", s->admin_database);
	return true;
}

static void answer(struct pgw_session *s, const struct pgw_msg_hdr *h, const uint8_t *body)
{
	size_t len = h->len - 4;
	const char *nul;

	switch (h->type) {
	case 'Q':
		nul = memchr(body, '\0', len);
		if (!pgw_admin_query(s->id, (const char *)body,
				     nul ? (size_t)(nul - (const char *)body) : len,
				     s->client.out)) {
			/* PAUSE, WAIT_CLOSE: the answer and ReadyForQuery come later
			 * (admin_control.c); nothing more is read until then */
			pgw_conn_set_reading(&s->client, false);
			return;
		}
		pgw_msg_ready(s->client.out, 'I');
		return;
	case 'S':
		s->admin_skip = false;
		pgw_msg_ready(s->client.out, 'I');
		return;
	case 'H':
		return;
	default:
		if (!s->admin_skip)
			pgw_msg_error(s->client.out, "ERROR", "0A000",
				      "pgward admin: the console accepts simple queries only",
				      "Use psql, or a driver's simple query mode.");
		s->admin_skip = true;
		return;
	}
}

static void admin_read(struct pgw_session *s)
{
	struct pgw_rbuf *in = &s->client.in;

	s->last_client_activity = pgw_now();
	while (pgw_rbuf_len(in) > 0 && s->client.reading) {
		struct pgw_msg_hdr h;
		enum pgw_frame_status st = pgw_frame_whole(in, ADMIN_MAX_MESSAGE, &h);

		if (st == PGW_FRAME_NEED_MORE)
			break;
		if (st == PGW_FRAME_BAD_LENGTH || !pgw_frontend_type_valid(h.type)) {
			pgw_sess_fail(s, "08P01", "pgward admin: invalid message (type 0x%02x)",
				      (unsigned char)h.type);
			return;
		}
		if (h.type == 'X') {
			pgw_sess_end(s, "client sent Terminate");
			return;
		}
		answer(s, &h, pgw_rbuf_data(in) + PGW_HDR_LEN);
		pgw_rbuf_drain(in, (size_t)h.len + 1);
	}
	pgw_rbuf_trim(in);
	if (pgw_conn_flush(&s->client) < 0)
		pgw_sess_end(s, s->client.err);
}

static void admin_client_cb(struct pgw_conn *c, enum pgw_conn_event ev, void *arg)
{
	struct pgw_session *s = arg;

	switch (ev) {
	case PGW_CONN_READ:
		admin_read(s);
		return;
	case PGW_CONN_EOF:
	case PGW_CONN_ERROR:
		pgw_sess_end(s, ev == PGW_CONN_EOF ? "client closed the connection" : c->err);
		return;
	default:
		return;
	}
}

void pgw_sess_admin_begin(struct pgw_session *s)
{
	s->admin_active = true;
	pgw_cancel_unregister(s); /* nothing of the console runs on the server */
	if (pgw_conn_flush(&s->srv->conn) < 0)
		pgw_debug(s->id, "server_flush_failed", "");
	pgw_server_free(s->srv);
	s->srv = NULL;
	pgw_info(s->id, "admin_console", "user=%s", s->user);
	pgw_conn_set_cb(&s->client, admin_client_cb, s);
	pgw_conn_set_reading(&s->client, true);
	if (pgw_rbuf_len(&s->client.in) > 0)
		admin_read(s);
}
