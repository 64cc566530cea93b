/*
 * The response tracker: for every client message that will be answered, what the relay
 * must do with the answer. It mirrors the server's own rules (which message completes
 * which request; after an error in the extended protocol everything up to Sync is
 * skipped), so pgward can swallow answers to what it injected and put its own error
 * exactly where the server's would have been. Pure: no sockets, unit-tested alone.
 */
#ifndef PGWARD_TRACKER_H
#define PGWARD_TRACKER_H

#include "pgward/common.h"

enum pgw_resp_action {
	PGW_RESP_PASS = 0, /* relay the server's answer */
	PGW_RESP_SWALLOW,  /* pgward sent this itself: the client must never see the answer */
	PGW_RESP_REPLACE,  /* a refused message was substituted: its ErrorResponse becomes ours */
	PGW_RESP_HIDE,	   /* pgward's own statement ahead of the client's: swallow its answer
			      but relay an error, which is what makes the client's statement fail */
};

/*
 * Errors of pgward's own statements that become other errors, by SQLSTATE: the job
 * serializer's check fails with a code of its choosing, which the client sees as 23505.
 */
#define PGW_SWAP_MAX 2
struct pgw_swap {
	uint8_t n;
	struct {
		char sqlstate[6];
		uint8_t *error; /* the ErrorResponse to send instead (owned, malloc'd) */
		uint32_t len;
		uint8_t note; /* reported when this swap happens; 0: none */
	} alt[PGW_SWAP_MAX];
};

struct pgw_expect {
	char type;	/* frontend message type: Q F S P B C D E */
	uint8_t action; /* enum pgw_resp_action */
	uint8_t hide;	/* Query: results of its first <hide> statements are pgward's own */
	uint8_t note;	/* reported once with the first own statement's completion; 0: none */
	uint32_t len;	/* REPLACE: length of <error> */
	uint8_t *error; /* REPLACE: the ErrorResponse to send instead (owned, malloc'd) */
	struct pgw_swap *swap; /* HIDE, or Query with hide: owned; may be NULL */
	double sent_at;	       /* when a <note> was pushed */
	/* a Parse or a PREPARE under a name of pgward's (prepared.h): what to undo should the
	 * server not run it (an error, or skipped to Sync); 0: nothing */
	uint64_t undo_server; /* the statement's id, in the server's set */
	uint64_t undo_client; /* the client's statement, by its map's number */
	/* a Query whose one statement needs what pgward's own statements ahead of it make: when
	 * one of those failed (its error the client's), this one's error is swallowed */
	bool mute_after_own_error;
};

/* Told of a request whose <undo_*> the server did not run (pgw_tracker_set_undo). */
typedef void (*pgw_tracker_undo_fn)(void *arg, uint64_t undo_server, uint64_t undo_client);

struct pgw_tracker {
	struct pgw_expect *ring;
	uint32_t cap; /* a power of two */
	uint32_t head;
	uint32_t count;
	/* extended-protocol messages went since the last Sync: the server is inside a batch
	 * (and after an error skips to its Sync), whatever is still owed */
	bool batch_open;
	/* an own statement ahead of the client's failed since a request of the client's last
	 * completed (pgw_expect.mute_after_own_error) */
	bool own_failed;
	pgw_tracker_undo_fn undo; /* NULL: nobody to tell */
	void *undo_arg;
};

struct pgw_resp_verdict {
	uint8_t action; /* for this backend message */
	bool completes; /* it finishes the request at the head */
	uint8_t *error; /* REPLACE on an ErrorResponse: ours to send, caller frees */
	uint32_t error_len;
	uint8_t note;	   /* an own statement that carried a note completed (or failed) */
	double sent_at;	   /* ... and when it was sent */
	uint8_t swap_note; /* the note of the swap that produced <error> */
};

/* True for the frontend message types that the server answers. */
bool pgw_tracker_expects_answer(char type);

/* The ring is full: it grows, or <error> is freed and -1 returned. */
int pgw_tracker_make_room(struct pgw_tracker *t, uint8_t *error) PGW_MUSTCHECK;
/*
 * Records that a message of <type> was sent to the server. <error> (taken) is the
 * replacement for REPLACE. -1 only when memory runs out. Inline: a push per client message.
 */
PGW_MUSTCHECK static inline int pgw_tracker_push(struct pgw_tracker *t, char type,
						 enum pgw_resp_action action, uint8_t *error,
						 uint32_t error_len)
{
	struct pgw_expect *e;

	if (t->count == t->cap && pgw_tracker_make_room(t, error) < 0)
		return -1;
	e = &t->ring[(t->head + t->count) & (t->cap - 1)];
	e->type = type;
	e->action = (uint8_t)action;
	e->hide = 0;
	e->note = 0;
	e->len = error_len;
	e->error = error;
	e->swap = NULL;
	e->sent_at = 0;
	e->undo_server = e->undo_client = 0;
	e->mute_after_own_error = false;
	t->count++;
	if (type == 'S')
		t->batch_open = false;
	else if (type != 'Q' && type != 'F')
		t->batch_open = true;
	return 0;
}

/* The newest request (a Query) stays silent about its error if pgward's own statement
 * ahead of it failed: its error would only repeat that one's, under pgward's names. */
static inline void pgw_tracker_mute_newest(struct pgw_tracker *t)
{
	t->ring[(t->head + t->count - 1) & (t->cap - 1)].mute_after_own_error = true;
}

/* What the newest request changed in pgward's records, undone through <t>'s undo if the
 * server does not run it. */
static inline void pgw_tracker_set_undo(struct pgw_tracker *t, uint64_t undo_server,
					uint64_t undo_client)
{
	struct pgw_expect *e = &t->ring[(t->head + t->count - 1) & (t->cap - 1)];

	e->undo_server = undo_server;
	e->undo_client = undo_client;
}

/*
 * Makes the newest pending request's ErrorResponse <error> (taken): used when a CopyData
 * is refused, whose error belongs to the request that started the COPY. If nothing is
 * pending, <error> is freed.
 */
void pgw_tracker_replace_newest(struct pgw_tracker *t, uint8_t *error, uint32_t error_len);

/* What to do with one backend message of <type>; updates the queue. */
struct pgw_resp_verdict pgw_tracker_on_backend(struct pgw_tracker *t, char type);

/*
 * Records pgward's own message <type> (HIDE; or a Query whose first <hide> statements are
 * its own), with the errors to swap (taken; may be NULL) and a <note> for the caller.
 */
int pgw_tracker_push_own(struct pgw_tracker *t, char type, uint8_t hide, struct pgw_swap *swap,
			 uint8_t note, double now) PGW_MUSTCHECK;

/* True when an ErrorResponse arriving now must be read whole: its SQLSTATE decides. */
bool pgw_tracker_wants_sqlstate(const struct pgw_tracker *t);

/* pgw_tracker_on_backend for an ErrorResponse whose SQLSTATE is <sqlstate> (may be NULL). */
struct pgw_resp_verdict pgw_tracker_on_error(struct pgw_tracker *t, const char *sqlstate);

void pgw_swap_free(struct pgw_swap *swap); /* NULL is fine */

/* Requests sent and not yet completed. */
static inline uint32_t pgw_tracker_pending(const struct pgw_tracker *t)
{
	return t->count;
}

/* True when every request in flight is one of pgward's whose answer is swallowed. */
bool pgw_tracker_only_swallowed(const struct pgw_tracker *t);

void pgw_tracker_free(struct pgw_tracker *t);

#endif
