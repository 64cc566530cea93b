/*
 * The process-wide runtime shared by every session, and the server address lookup.
 */
#include "pgward/proxy.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct pgw_proxy pgw;

int pgw_proxy_resolve(const char *key, const char *host, int port, bool passive,
		      struct sockaddr_storage *addr, socklen_t *addrlen, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char service[16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = passive ? AI_PASSIVE : 0;
	snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(passive && host[0] == '*' ? NULL : host, service, &hints, &res);
	if (rc != 0 || res == NULL) {
		snprintf(err, errlen, "cannot resolve %s %s: %s", key, host, gai_strerror(rc));
		return -1;
	}
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int pgw_proxy_resolve_server(const struct pgw_config *cfg, struct sockaddr_storage *addr,
			     socklen_t *addrlen, char *err, size_t errlen)
{
	return pgw_proxy_resolve("server_host", cfg->server_host, cfg->server_port, false, addr,
				 addrlen, err, errlen);
}

double pgw_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
