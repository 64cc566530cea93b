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
};

struct pgw_expect {
	char type;	/* frontend message type: Q F S P B C D E */
	uint8_t action; /* enum pgw_resp_action */
	uint32_t len;	/* REPLACE: length of <error> */
	uint8_t *error; /* REPLACE: the ErrorResponse to send instead (owned, malloc'd) */
};

struct pgw_tracker {
	struct pgw_expect *ring;
	uint32_t cap; /* a power of two */
	uint32_t head;
	uint32_t count;
};

struct pgw_resp_verdict {
	uint8_t action; /* for this backend message */
	bool completes; /* it finishes the request at the head */
	uint8_t *error; /* REPLACE on an ErrorResponse: ours to send, caller frees */
	uint32_t error_len;
};

/* True for the frontend message types that the server answers. */
bool pgw_tracker_expects_answer(char type);

/*
 * Records that a message of <type> was sent to the server. <error> (taken) is the
 * replacement for REPLACE. -1 only when memory runs out.
 */
int pgw_tracker_push(struct pgw_tracker *t, char type, enum pgw_resp_action action, uint8_t *error,
		     uint32_t error_len) PGW_MUSTCHECK;

/*
 * Makes the newest pending request's ErrorResponse <error> (taken): used when a CopyData
 * is refused, whose error belongs to the request that started the COPY. If nothing is
 * pending, <error> is freed.
 */
void pgw_tracker_replace_newest(struct pgw_tracker *t, uint8_t *error, uint32_t error_len);

/* What to do with one backend message of <type>; updates the queue. */
struct pgw_resp_verdict pgw_tracker_on_backend(struct pgw_tracker *t, char type);

/* Requests sent and not yet completed. */
static inline uint32_t pgw_tracker_pending(const struct pgw_tracker *t)
{
	return t->count;
}

void pgw_tracker_free(struct pgw_tracker *t);

#endif
