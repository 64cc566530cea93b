/*
 * What pgward writes to a server on its own account: the client's startup settings and
 * tenant context on every checkout, the DDL lock_timeout, the job serializer's statements,
 * the stand-ins for refused messages. One call writes a message to the server's output and
 * registers, with the server's tracker, what becomes of its answer, so that no message of
 * pgward's can reach a server without the relay knowing what to do with the reply.
 */
#ifndef PGWARD_SERVER_OWN_H
#define PGWARD_SERVER_OWN_H

#include "pgward/common.h"
#include "pgward/server.h"
#include "pgward/tracker.h"

/* A parameter of one of pgward's Binds: <len> bytes at <value> (-1: NULL) in <format>. */
struct pgw_own_param {
	const void *value;
	int32_t len;
	int16_t format; /* 0 text, 1 binary */
};

/* One message; the fields its type does not use are ignored. */
struct pgw_own_msg {
	char type; /* Q, P, B, E, C, D, F (a call of function OID 0), f (CopyFail), S, H (Flush) */
	char kind; /* C, D: 'S' a statement or 'P' a portal */
	const char
		*name; /* P: the statement; B, E: the portal; C, D: what is closed or described */
	const char *stmt;		    /* B: the statement */
	const char *text;		    /* Q, P: the SQL; f: the reason */
	const struct pgw_own_param *params; /* B */
	uint16_t nparams;
};

/* What becomes of the answer. NULL: swallowed (PGW_RESP_SWALLOW). */
struct pgw_own_answer {
	enum pgw_resp_action action; /* PASS, SWALLOW, REPLACE or HIDE */
	/* REPLACE: the ErrorResponse the client gets instead (taken, also on failure); for a
	 * CopyFail it belongs to the request that started the COPY */
	uint8_t *error;
	uint32_t error_len;
	/* HIDE: errors to swap (taken, may be NULL) and a note reported with its completion;
	 * for a Query, pgward's are its first <hide> statements, the rest the client's; a
	 * Query of pgward's alone (hide 0) passes only its errors */
	struct pgw_swap *swap;
	uint8_t note;
	uint8_t hide;
};

/* Writes <m> to <srv> and registers its answer <a>. -1 out of memory (the server's stream
 * is then unusable: the caller ends the session). */
int pgw_server_own(struct pgw_server *srv, const struct pgw_own_msg *m,
		   const struct pgw_own_answer *a) PGW_MUSTCHECK;

#endif
