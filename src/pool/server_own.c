/*
 * pgward's own messages to a server (server_own.h): the wire format of each, and its
 * registration with the tracker in the same call.
 */
#include "pgward/server_own.h"

#include "pgward/codec.h"
#include "pgward/proxy.h"

#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

static uint32_t cstr_len(const char *s)
{
	return (uint32_t)strlen(s != NULL ? s : "") + 1;
}

static void put_cstr(struct evbuffer *out, const char *s)
{
	pgw_put_cstr(out, s != NULL ? s : "");
}

static void write_bind(struct evbuffer *out, const struct pgw_own_msg *m)
{
	uint32_t len = cstr_len(m->name) + cstr_len(m->stmt) + 2 + 2 + 2;
	bool binary = false;

	for (uint16_t i = 0; i < m->nparams; i++) {
		len += 4 + (m->params[i].len > 0 ? (uint32_t)m->params[i].len : 0);
		binary |= m->params[i].format != 0;
	}
	if (binary)
		len += 2u * m->nparams;
	pgw_msg_header(out, 'B', len);
	put_cstr(out, m->name);
	put_cstr(out, m->stmt);
	/* all text: no format codes, which means text for every parameter */
	pgw_put_u16(out, binary ? m->nparams : 0);
	for (uint16_t i = 0; binary && i < m->nparams; i++)
		pgw_put_u16(out, (uint16_t)m->params[i].format);
	pgw_put_u16(out, m->nparams);
	for (uint16_t i = 0; i < m->nparams; i++) {
		const struct pgw_own_param *p = &m->params[i];

		pgw_put_u32(out, p->len >= 0 ? (uint32_t)p->len : 0xffffffffu);
		if (p->len > 0)
			evbuffer_add(out, p->value, (size_t)p->len);
	}
	pgw_put_u16(out, 0); /* results in text */
}

static void write_msg(struct evbuffer *out, const struct pgw_own_msg *m)
{
	static const uint8_t zeros[10] = {0};

	switch (m->type) {
	case 'Q':
	case 'f':
		pgw_msg_header(out, m->type, cstr_len(m->text));
		put_cstr(out, m->text);
		return;
	case 'P':
		pgw_msg_header(out, 'P', cstr_len(m->name) + cstr_len(m->text) + 2);
		put_cstr(out, m->name);
		put_cstr(out, m->text);
		pgw_put_u16(out, 0); /* no parameter types given */
		return;
	case 'B':
		write_bind(out, m);
		return;
	case 'E':
		pgw_msg_header(out, 'E', cstr_len(m->name) + 4);
		put_cstr(out, m->name);
		pgw_put_u32(out, 0); /* every row */
		return;
	case 'C':
	case 'D':
		pgw_msg_header(out, m->type, 1 + cstr_len(m->name));
		evbuffer_add(out, &m->kind, 1);
		put_cstr(out, m->name);
		return;
	case 'F': /* function OID 0, no arguments: it does not exist */
		pgw_msg_header(out, 'F', sizeof(zeros));
		evbuffer_add(out, zeros, sizeof(zeros));
		return;
	default: /* 'S' */
		pgw_msg_header(out, m->type, 0);
		return;
	}
}

int pgw_server_own(struct pgw_server *srv, const struct pgw_own_msg *m,
		   const struct pgw_own_answer *a)
{
	struct pgw_tracker *tr = &srv->tracker;

	write_msg(srv->conn.out, m);
	if (m->type == 'H')
		return 0; /* a Flush is answered by nothing: it sends what is owed */
	if (m->type == 'f') {
		/* answered as part of the COPY's own request */
		if (a != NULL && a->error != NULL)
			pgw_tracker_replace_newest(tr, a->error, a->error_len);
		return 0;
	}
	if (a == NULL)
		return pgw_tracker_push(tr, m->type, PGW_RESP_SWALLOW, NULL, 0);
	/* a Query of pgward's alone (no statement of the client's in it) hides all but errors */
	if (a->action == PGW_RESP_HIDE && !(m->type == 'Q' && a->hide == 0))
		return pgw_tracker_push_own(tr, m->type, a->hide, a->swap, a->note, pgw_now());
	return pgw_tracker_push(tr, m->type, a->action, a->error, a->error_len);
}
