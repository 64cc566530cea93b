/*
 * The metrics HTTP listener ([metrics] listen_addr/listen_port), served by libevent's
 * evhttp on the proxy's own event loop: GET /metrics (Prometheus text 0.0.4), /healthz
 * (200 when PostgreSQL answers the periodic probe, 503 with a one-line reason otherwise),
 * /statements (JSON); anything else 404. A request never waits on PostgreSQL: /healthz
 * reports the last probe's result.
 */
#ifndef PGWARD_HTTP_H
#define PGWARD_HTTP_H

#include "pgward/common.h"

struct event_base;

/* Binds and starts serving; 0 without doing anything when listen_port is 0. */
int pgw_http_start(struct event_base *base, char *err, size_t errlen) PGW_MUSTCHECK;
void pgw_http_stop(void);

/* health.c: the reachability probe behind /healthz */
void pgw_health_start(struct event_base *base);
void pgw_health_stop(void);
/* True when the last probe reached PostgreSQL; <reason> gets one line either way. */
bool pgw_health_ok(char *reason, size_t len);

#endif
