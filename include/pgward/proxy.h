/*
 * The process-wide runtime: event loop, live configuration, TLS contexts and the
 * resolved server address. One instance, owned by main.c; sessions read it.
 */
#ifndef PGWARD_PROXY_H
#define PGWARD_PROXY_H

#include "pgward/auth.h"
#include "pgward/common.h"
#include "pgward/config.h"

#include <sys/socket.h>
#include <openssl/ssl.h>

struct event_base;
struct pgw_session;

struct pgw_proxy {
	struct event_base *base;
	struct pgw_config cfg;
	SSL_CTX *client_tls;	    /* NULL: client TLS off */
	SSL_CTX *server_tls;	    /* NULL: server TLS off */
	struct pgw_auth_files auth; /* auth_file, auth_hba_file, auth_ident_file as loaded */
	struct sockaddr_storage server_addr;
	socklen_t server_addrlen;
	bool draining; /* SIGTERM received: no new sessions */
	/* Called when the last session is gone while draining. */
	void (*on_drained)(void);
};

extern struct pgw_proxy pgw;

/*
 * First address of <host>:<port> (<passive>: for listening, "*" meaning every address).
 * -1 with "cannot resolve <key> <host>: ..." in <err> on failure.
 */
int pgw_proxy_resolve(const char *key, const char *host, int port, bool passive,
		      struct sockaddr_storage *addr, socklen_t *addrlen, char *err,
		      size_t errlen) PGW_MUSTCHECK;

/*
 * Resolves cfg.server_host/port into pgw.server_addr. Done at start and on reload only,
 * so no session waits on DNS. -1 with <err> filled on failure.
 */
int pgw_proxy_resolve_server(const struct pgw_config *cfg, struct sockaddr_storage *addr,
			     socklen_t *addrlen, char *err, size_t errlen) PGW_MUSTCHECK;

/* Monotonic seconds, cheap enough for every read. */
double pgw_now(void);

#endif
