/*
 * The process-wide runtime shared by every session, and the server address lookup.
 */
#include "pgward/proxy.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct pgw_proxy pgw;

int pgw_proxy_resolve_server(const struct pgw_config *cfg, struct sockaddr_storage *addr,
			     socklen_t *addrlen, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char port[16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", cfg->server_port);
	rc = getaddrinfo(cfg->server_host, port, &hints, &res);
	if (rc != 0 || res == NULL) {
		snprintf(err, errlen, "cannot resolve server_host %s: %s", cfg->server_host,
			 gai_strerror(rc));
		return -1;
	}
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

double pgw_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
