/*
 * Follows how the server reads the session's text (text_form.h), so every Query and Parse
 * is inspected as the server will parse it. The server's ParameterStatus is the truth, but
 * it comes at the next ReadyForQuery, after messages the client may already have
 * pipelined: from a message that may change the form until the server has answered
 * everything sent, each form it may have left counts, and a text is inspected only if all
 * of them read it alike (text_reader.c refuses the others).
 *
 * What may change it: SET/RESET/set_config of client_encoding or
 * standard_conforming_strings, RESET ALL, DISCARD ALL, and, once a transaction has held
 * another form, any statement (it may be the ROLLBACK that undoes the change); a DO block
 * counts as a change to anything. A function that changes either setting from inside is
 * seen only when the server reports it.
 */
#include "session-int.h"

#include "pgward/log.h"
#include "pgward/sql.h"

#include <string.h>

void pgw_sess_text_init(struct pgw_session *s)
{
	s->text.now = pgw_text_form_default;
	s->text.login = pgw_text_form_default;
	pgw_text_forms_set(&s->text.maybe, &s->text.now);
	pgw_text_forms_set(&s->text.tx, &s->text.now);
}

static bool may_be(const struct pgw_text_forms *fs, const struct pgw_text_form *f)
{
	return (fs->encs & (UINT64_C(1) << f->client_enc)) && (fs->scs & PGW_TEXT_SCS_BIT(f->scs));
}

enum text_param { OTHER_PARAM, CLIENT_ENCODING, SERVER_ENCODING, SCS };

/* Which of the parameters that decide how text is read <name> is; a login reports a dozen,
 * so the first letter rules most out. */
static enum text_param text_param(const char *name)
{
	switch (name[0]) {
	case 'c':
		return strcmp(name, "client_encoding") == 0 ? CLIENT_ENCODING : OTHER_PARAM;
	case 's':
		if (strcmp(name, "server_encoding") == 0)
			return SERVER_ENCODING;
		return strcmp(name, "standard_conforming_strings") == 0 ? SCS : OTHER_PARAM;
	default:
		return OTHER_PARAM;
	}
}

void pgw_sess_text_param(struct pgw_session *s, const char *name, const char *value)
{
	struct pgw_text_state *t = &s->text;
	enum text_param which = text_param(name);
	int enc;

	if (which == CLIENT_ENCODING || which == SERVER_ENCODING) {
		enc = pgw_enc_from_name(value);
		if (enc < 0) {
			pgw_warn(s->id, "text_form",
				 "msg=\"unknown encoding from the server\" %s=\"%s\"", name, value);
			return;
		}
		if (which == CLIENT_ENCODING)
			t->now.client_enc = (uint8_t)enc;
		else
			t->now.server_enc = (uint8_t)enc;
	} else if (which == SCS) {
		t->now.scs = pgw_sql_parse_bool(value) == 1;
	} else {
		return;
	}
	if (s->state != PGW_SS_READY) {
		if (!t->login_fixed)
			t->login =
				t->now; /* the login's settings: startup packet, role, database */
		pgw_text_forms_set(&t->maybe, &t->now);
		pgw_text_forms_set(&t->tx, &t->now);
		return;
	}
	if (!may_be(&t->maybe, &t->now))
		/* changed by something pgward could not see (a function, a reload): what was
		 * forwarded since may have been read otherwise than inspected */
		pgw_warn(s->id, "text_form_unforeseen", "%s=\"%s\"", name, value);
	t->maybe.server_enc = t->now.server_enc;
	pgw_text_forms_add(&t->maybe, &t->now);
	pgw_text_forms_add(&t->tx, &t->now);
	t->unsettled = true;
}

void pgw_sess_text_settle(struct pgw_session *s, char status)
{
	struct pgw_text_state *t = &s->text;

	if (pgw_tracker_pending(&s->srv->tracker) == 0)
		pgw_text_forms_set(&t->maybe, &t->now);
	if (status == 'I') {
		pgw_text_forms_set(&t->tx, &t->now);
		t->portal_changer = false; /* portals end with their transaction */
	}
	t->unsettled = !pgw_text_forms_single(&t->maybe) || !pgw_text_forms_single(&t->tx);
}

/* Every form of <fs> with client_encoding <enc> (or any, if -1) also possible. */
static void add_encoding(struct pgw_text_forms *fs, int enc)
{
	fs->encs |= enc < 0 ? PGW_TEXT_ENCS_ALL : UINT64_C(1) << enc;
}

/* What one write of a setting may leave: the value, or the login's on a reset. */
static void add_write(struct pgw_text_state *t, const struct pgw_sql_guc *g)
{
	bool encoding = strcmp(g->name, "client_encoding") == 0;

	if (g->route != PGW_SQL_GUC_SESSION && g->route != PGW_SQL_GUC_LOCAL &&
	    g->route != PGW_SQL_GUC_SET_CONFIG)
		return;
	if (!encoding && strcmp(g->name, "standard_conforming_strings") != 0)
		return;
	if (g->reset) {
		if (encoding)
			add_encoding(&t->maybe, t->login.client_enc);
		else
			t->maybe.scs |= PGW_TEXT_SCS_BIT(t->login.scs);
	} else if (encoding) {
		/* a name the server does not know fails the statement: nothing changes */
		int enc = g->value ? pgw_enc_from_name(g->value) : -1;

		if (g->value == NULL || enc >= 0)
			add_encoding(&t->maybe, enc);
	} else {
		int on = g->value ? pgw_sql_parse_bool(g->value) : -1;

		t->maybe.scs |= on < 0 ? 3 : PGW_TEXT_SCS_BIT(on);
	}
}

/* Any form may follow: what runs is code or a statement pgward cannot read. */
static void widen_all(struct pgw_text_state *t)
{
	t->maybe.encs = PGW_TEXT_ENCS_ALL;
	t->maybe.scs = 3;
	t->tx.encs |= t->maybe.encs;
	t->tx.scs |= t->maybe.scs;
	t->unsettled = true;
}

/* Whether running <info> may change the form (add_write and the flags below). */
static bool may_change(const struct pgw_sql_info *info)
{
	return info->ngucs > 0 ||
	       (info->flags &
		(PGW_SQL_BIT(PGW_SQL_RESET_ALL) | PGW_SQL_BIT(PGW_SQL_DISCARD_ALL) |
		 PGW_SQL_BIT(PGW_SQL_SET_CONFIG_DYNAMIC) | PGW_SQL_BIT(PGW_SQL_DO_BLOCK) |
		 PGW_SQL_BIT(PGW_SQL_SQL_FROM_STRING)));
}

void pgw_sess_text_sent(struct pgw_session *s, const struct pgw_msg_view *m,
			const struct pgw_sql_info *info)
{
	struct pgw_text_state *t = &s->text;

	switch (m->type) {
	case 'P': /* runs at its Binds; most sessions never prepare one that matters */
		if (info != NULL && may_change(info))
			t->prepared_changer = true;
		return;
	case 'B':
		/* pgward's statement map can drift from the server's (a second Parse of a name the
		 * server refused, a Close it skipped after an error): once a statement that may
		 * change the form was prepared, every Bind and Execute may */
		if (t->prepared_changer) {
			t->portal_changer = true;
			widen_all(t);
		}
		return;
	case 'E':
		if (t->portal_changer) /* a portal bound earlier, run now */
			widen_all(t);
		return;
	case 'Q':
		break;
	default:
		return;
	}
	if (info == NULL && !t->unsettled)
		return; /* nothing it can change, nothing a ROLLBACK can undo */
	if (!pgw_text_forms_single(&t->tx)) {
		t->maybe.encs |= t->tx.encs; /* a ROLLBACK (TO SAVEPOINT) may return to any */
		t->maybe.scs |= t->tx.scs;
	}
	if (info != NULL) {
		if (info->flags &
		    (PGW_SQL_BIT(PGW_SQL_RESET_ALL) | PGW_SQL_BIT(PGW_SQL_DISCARD_ALL)))
			pgw_text_forms_add(&t->maybe, &t->login);
		/* a name pgward cannot read, or code it cannot see (DO, SQL run from a string) */
		if (info->flags &
		    (PGW_SQL_BIT(PGW_SQL_SET_CONFIG_DYNAMIC) | PGW_SQL_BIT(PGW_SQL_DO_BLOCK) |
		     PGW_SQL_BIT(PGW_SQL_SQL_FROM_STRING))) {
			t->maybe.encs = PGW_TEXT_ENCS_ALL;
			t->maybe.scs = 3;
		}
		for (size_t i = 0; i < info->ngucs; i++)
			add_write(t, &info->gucs[i]);
	}
	t->tx.encs |= t->maybe.encs;
	t->tx.scs |= t->maybe.scs;
	t->unsettled = !pgw_text_forms_single(&t->maybe) || !pgw_text_forms_single(&t->tx);
}
