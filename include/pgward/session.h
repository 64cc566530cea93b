/*
 * Client sessions: one per accepted connection, each with its own server connection.
 * This is the public face used by the listener and main; the session's parts live in
 * src/session/.
 */
#ifndef PGWARD_SESSION_H
#define PGWARD_SESSION_H

#include "pgward/common.h"

#include <sys/socket.h>

/* Starts a session for accepted socket <fd> (taken). */
void pgw_session_accept(int fd, const struct sockaddr *peer, socklen_t peerlen);

/* Sessions not yet freed, in any state. */
unsigned pgw_session_count(void);

/* Ends every session, sending each client a FATAL <sqlstate> <message> where possible. */
void pgw_session_close_all(const char *sqlstate, const char *message);

/* Periodic housekeeping: idle timeouts. <now> in seconds (monotonic). */
void pgw_session_tick(double now);

/* At exit: frees every session at once, without notifying anyone. */
void pgw_session_free_all(void);

#endif
