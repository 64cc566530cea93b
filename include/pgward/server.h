/*
 * A server: one PostgreSQL connection of pgward's, apart from the client that uses it.
 * It owns the socket and its connect, the relay's place in the server's stream, what the
 * server still owes (the tracker), its transaction status and its cancel key.
 */
#ifndef PGWARD_SERVER_H
#define PGWARD_SERVER_H

#include "pgward/common.h"
#include "pgward/conn.h"
#include "pgward/server_link.h"
#include "pgward/tracker.h"

struct pgw_server {
	uint64_t id; /* for logs */
	struct pgw_conn conn;
	struct pgw_server_link link;
	bool gone;		    /* the server closed its side or failed */
	uint32_t pid;		    /* BackendKeyData */
	uint32_t secret;	    /* ...what a CancelRequest for it must carry */
	uint32_t left;		    /* bytes of a server message still to stream through */
	bool discarding;	    /* ...to be dropped, not relayed */
	char tx_status;		    /* from the last ReadyForQuery: 'I', 'T' or 'E' */
	struct pgw_tracker tracker; /* what the server still owes, and what to do with it */
};

/* A server not yet connected (its conn is initialised by pgw_server_link_start); NULL
 * when out of memory. */
struct pgw_server *pgw_server_new(uint64_t id);
/* Closes the socket (a no-op if closed) and stops the connect; the memory stays. */
void pgw_server_close(struct pgw_server *srv);
/* Releases everything. NULL is fine. */
void pgw_server_free(struct pgw_server *srv);
/* True while the server owes answers to what was sent. */
bool pgw_server_busy(const struct pgw_server *srv);

#endif
