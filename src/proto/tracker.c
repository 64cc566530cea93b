/*
 * Which server message answers which client request, by the rules of the v3 protocol:
 *   Parse → ParseComplete '1'   Bind → BindComplete '2'   Close → CloseComplete '3'
 *   Describe → ['t'] then 'T' or 'n'   Execute → rows, then 'C', 'I' or 's'
 *   Query, FunctionCall, Sync → everything up to ReadyForQuery 'Z'
 * An ErrorResponse ends an extended-protocol request and makes the server skip every
 * message up to the next Sync, so those requests are dropped here too.
 */
#include "pgward/tracker.h"

#include <stdlib.h>
#include <string.h>

bool pgw_tracker_expects_answer(char type)
{
	switch (type) {
	case 'Q':
	case 'F':
	case 'S':
	case 'P':
	case 'B':
	case 'C':
	case 'D':
	case 'E':
		return true;
	default:
		return false;
	}
}

static int grow(struct pgw_tracker *t)
{
	uint32_t cap = t->cap ? t->cap * 2 : 16;
	struct pgw_expect *ring = malloc(cap * sizeof(*ring));

	if (ring == NULL)
		return -1;
	for (uint32_t i = 0; i < t->count; i++)
		ring[i] = t->ring[(t->head + i) & (t->cap - 1)];
	free(t->ring);
	t->ring = ring;
	t->cap = cap;
	t->head = 0;
	return 0;
}

int pgw_tracker_make_room(struct pgw_tracker *t, uint8_t *error)
{
	if (grow(t) == 0)
		return 0;
	free(error);
	return -1;
}

void pgw_swap_free(struct pgw_swap *swap)
{
	if (swap == NULL)
		return;
	for (uint8_t i = 0; i < swap->n; i++)
		free(swap->alt[i].error);
	free(swap);
}

int pgw_tracker_push_own(struct pgw_tracker *t, char type, uint8_t hide, struct pgw_swap *swap,
			 uint8_t note, double now)
{
	struct pgw_expect *e;

	if (pgw_tracker_push(t, type, type == 'Q' ? PGW_RESP_PASS : PGW_RESP_HIDE, NULL, 0) < 0) {
		pgw_swap_free(swap);
		return -1;
	}
	e = &t->ring[(t->head + t->count - 1) & (t->cap - 1)];
	e->hide = hide;
	e->swap = swap;
	e->note = note;
	e->sent_at = now;
	return 0;
}

void pgw_tracker_replace_newest(struct pgw_tracker *t, uint8_t *error, uint32_t error_len)
{
	struct pgw_expect *e;

	if (t->count == 0) {
		free(error);
		return;
	}
	e = &t->ring[(t->head + t->count - 1) & (t->cap - 1)];
	free(e->error);
	e->action = PGW_RESP_REPLACE;
	e->error = error;
	e->len = error_len;
}

static struct pgw_expect *head(struct pgw_tracker *t)
{
	return t->count ? &t->ring[t->head] : NULL;
}

static void pop(struct pgw_tracker *t)
{
	struct pgw_expect *e = &t->ring[t->head];

	if (e->error != NULL || e->swap != NULL) { /* only refusals and pgward's own statements */
		free(e->error);
		e->error = NULL;
		pgw_swap_free(e->swap);
		e->swap = NULL;
	}
	t->head = (t->head + 1) & (t->cap - 1);
	t->count--;
}

/* The request at the head ends without the server running it: what it recorded is undone. */
static void drop(struct pgw_tracker *t)
{
	struct pgw_expect *e = &t->ring[t->head];

	if ((e->undo_server != 0 || e->undo_client != 0) && t->undo != NULL)
		t->undo(t->undo_arg, e->undo_server, e->undo_client);
	pop(t);
}

/* After an error in the extended protocol the server ignores everything up to Sync. */
static void skip_to_sync(struct pgw_tracker *t)
{
	struct pgw_expect *e;

	while ((e = head(t)) != NULL && e->type != 'S')
		drop(t);
}

static bool completes(char head_type, char msg)
{
	switch (msg) {
	case 'Z':
		return head_type == 'Q' || head_type == 'F' || head_type == 'S';
	case '1':
		return head_type == 'P';
	case '2':
		return head_type == 'B';
	case '3':
		return head_type == 'C';
	case 'T':
	case 'n':
		return head_type == 'D';
	case 'C':
	case 'I':
	case 's':
		return head_type == 'E';
	default:
		return false;
	}
}

bool pgw_tracker_wants_sqlstate(const struct pgw_tracker *t)
{
	const struct pgw_expect *e = t->count ? &t->ring[t->head] : NULL;

	return e != NULL && e->swap != NULL && (e->type != 'Q' || e->hide > 0);
}

/* The note of an own statement, reported once. */
static void take_note(struct pgw_expect *e, struct pgw_resp_verdict *v)
{
	v->note = e->note;
	v->sent_at = e->sent_at;
	e->note = 0;
}

/* An ErrorResponse for pgward's own statement whose code it chose: send its own instead. */
static void swap_error(struct pgw_expect *e, const char *sqlstate, struct pgw_resp_verdict *v)
{
	struct pgw_swap *sw = e->swap;

	take_note(e, v);
	for (uint8_t i = 0; sw != NULL && sqlstate != NULL && i < sw->n; i++) {
		if (strcmp(sw->alt[i].sqlstate, sqlstate) == 0) {
			v->error = sw->alt[i].error;
			v->error_len = sw->alt[i].len;
			v->swap_note = sw->alt[i].note;
			sw->alt[i].error = NULL;
			return;
		}
	}
}

/* A Query that starts with pgward's own statements: their results are not the client's. */
static bool own_result(struct pgw_expect *e, char type, struct pgw_resp_verdict *v)
{
	if (e->type != 'Q' || e->hide == 0 || !(type == 'T' || type == 'D' || type == 'C'))
		return false;
	v->action = PGW_RESP_SWALLOW;
	if (type == 'C') {
		e->hide--;
		take_note(e, v);
	}
	return true;
}

static struct pgw_resp_verdict on_answer(struct pgw_tracker *t, char type, const char *sqlstate)
{
	struct pgw_resp_verdict v = {PGW_RESP_PASS, false, NULL, 0, 0, 0, 0};
	struct pgw_expect *e = head(t);
	bool ends_at_z;

	/* Notifications and parameter changes are the session's, not any request's. */
	if (e == NULL || type == 'A' || type == 'S')
		return v;
	v.action = e->action;
	ends_at_z = e->type == 'Q' || e->type == 'F' || e->type == 'S';
	if (type == 'E') {
		if (e->action == PGW_RESP_HIDE) {
			v.action = PGW_RESP_PASS;
			t->own_failed = true;
		} else if (e->mute_after_own_error && t->own_failed) {
			v.action = PGW_RESP_SWALLOW;
		}
		if (e->action == PGW_RESP_REPLACE && e->error != NULL) {
			v.error = e->error;
			v.error_len = e->len;
			e->error = NULL;
		} else if (e->type != 'Q' || e->hide > 0) {
			swap_error(e, sqlstate, &v);
		}
		if (!ends_at_z) {
			drop(t);
			v.completes = true;
			skip_to_sync(t);
		} else if (e->type == 'Q' && (e->undo_server != 0 || e->undo_client != 0) &&
			   t->undo != NULL) {
			/* a Query with an undo is one statement (a PREPARE): it did not run */
			t->undo(t->undo_arg, e->undo_server, e->undo_client);
			e->undo_server = e->undo_client = 0;
		}
		return v;
	}
	if (type == 'Z' && !ends_at_z) {
		/* Out of step with the server (should not happen): resynchronise on its Z. */
		while ((e = head(t)) != NULL &&
		       !(e->type == 'Q' || e->type == 'F' || e->type == 'S'))
			drop(t);
		if (e == NULL)
			return (struct pgw_resp_verdict){PGW_RESP_PASS, false, NULL, 0, 0, 0, 0};
		v.action = e->action;
	}
	if (own_result(e, type, &v))
		return v;
	if (completes(e->type, type)) {
		if (e->action == PGW_RESP_HIDE)
			take_note(e, &v);
		else if (e->action != PGW_RESP_SWALLOW)
			t->own_failed = false; /* the client's request it concerned is done */
		pop(t);
		v.completes = true;
	}
	if (v.action == PGW_RESP_HIDE)
		v.action = PGW_RESP_SWALLOW;
	return v;
}

struct pgw_resp_verdict pgw_tracker_on_backend(struct pgw_tracker *t, char type)
{
	return on_answer(t, type, NULL);
}

struct pgw_resp_verdict pgw_tracker_on_error(struct pgw_tracker *t, const char *sqlstate)
{
	return on_answer(t, 'E', sqlstate);
}

bool pgw_tracker_only_swallowed(const struct pgw_tracker *t)
{
	for (uint32_t i = 0; i < t->count; i++)
		if (t->ring[(t->head + i) & (t->cap - 1)].action != PGW_RESP_SWALLOW)
			return false;
	return true;
}

void pgw_tracker_free(struct pgw_tracker *t)
{
	while (t->count)
		pop(t);
	free(t->ring);
	memset(t, 0, sizeof(*t));
}
