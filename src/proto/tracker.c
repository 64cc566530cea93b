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

int pgw_tracker_push(struct pgw_tracker *t, char type, enum pgw_resp_action action, uint8_t *error,
		     uint32_t error_len)
{
	struct pgw_expect *e;

	if (t->count == t->cap && grow(t) < 0) {
		free(error);
		return -1;
	}
	e = &t->ring[(t->head + t->count) & (t->cap - 1)];
	e->type = type;
	e->action = (uint8_t)action;
	e->error = error;
	e->len = error_len;
	t->count++;
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

	free(e->error);
	e->error = NULL;
	t->head = (t->head + 1) & (t->cap - 1);
	t->count--;
}

/* After an error in the extended protocol the server ignores everything up to Sync. */
static void skip_to_sync(struct pgw_tracker *t)
{
	struct pgw_expect *e;

	while ((e = head(t)) != NULL && e->type != 'S')
		pop(t);
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

struct pgw_resp_verdict pgw_tracker_on_backend(struct pgw_tracker *t, char type)
{
	struct pgw_resp_verdict v = {PGW_RESP_PASS, false, NULL, 0};
	struct pgw_expect *e = head(t);
	bool ends_at_z;

	/* Notifications and parameter changes are the session's, not any request's. */
	if (e == NULL || type == 'A' || type == 'S')
		return v;
	v.action = e->action;
	ends_at_z = e->type == 'Q' || e->type == 'F' || e->type == 'S';
	if (type == 'E') {
		if (e->action == PGW_RESP_REPLACE && e->error != NULL) {
			v.error = e->error;
			v.error_len = e->len;
			e->error = NULL;
		}
		if (!ends_at_z) {
			pop(t);
			v.completes = true;
			skip_to_sync(t);
		}
		return v;
	}
	if (type == 'Z' && !ends_at_z) {
		/* Out of step with the server (should not happen): resynchronise on its Z. */
		while ((e = head(t)) != NULL &&
		       !(e->type == 'Q' || e->type == 'F' || e->type == 'S'))
			pop(t);
		if (e == NULL)
			return (struct pgw_resp_verdict){PGW_RESP_PASS, false, NULL, 0};
		v.action = e->action;
	}
	if (completes(head(t)->type, type)) {
		pop(t);
		v.completes = true;
	}
	return v;
}

void pgw_tracker_free(struct pgw_tracker *t)
{
	while (t->count)
		pop(t);
	free(t->ring);
	memset(t, 0, sizeof(*t));
}
