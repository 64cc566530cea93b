/*
 * The client-facing TCP listener. Accepts and hands each socket to a new session; on
 * descriptor exhaustion it pauses instead of spinning.
 */
#ifndef PGWARD_LISTENER_H
#define PGWARD_LISTENER_H

#include "pgward/common.h"

/* Binds cfg.listen_addr:listen_port of the running proxy. -1 with <err> on failure. */
int pgw_listener_start(char *err, size_t errlen) PGW_MUSTCHECK;

/* Closes the listening socket: new connections are refused from now on. Idempotent. */
void pgw_listener_stop(void);

#endif
