/*
 * The metrics endpoint: evhttp on the proxy's event loop. Rendering a scrape is a pass
 * over the tenant table into one buffer that is handed to libevent without a copy; it
 * touches no socket of any session, so scrapes cannot stall query traffic for longer than
 * that pass.
 */
#include "pgward/http.h"

#include "pgward/log.h"
#include "pgward/metrics.h"
#include "pgward/proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define HTTP_TIMEOUT_S 10

static struct evhttp *http;

static void free_cb(const void *data, size_t len, void *arg)
{
	free((void *)data);
}

/* Hands <p> (malloc'd, <len> bytes) to the reply without copying it. */
static void reply_take(struct evhttp_request *req, int code, const char *reason, const char *type,
		       char *p, size_t len)
{
	struct evbuffer *body = evbuffer_new();

	if (body == NULL || evbuffer_add_reference(body, p, len, free_cb, NULL) < 0) {
		free(p);
		if (body != NULL)
			evbuffer_free(body);
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evhttp_send_reply(req, code, reason, body);
	evbuffer_free(body);
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	char *p = strdup(text);

	if (p == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	reply_take(req, code, reason, "text/plain; charset=utf-8", p, strlen(p));
}

static void serve_metrics(struct evhttp_request *req)
{
	struct pgw_mbuf b = {0};

	pgw_metrics_render(&b);
	if (b.oom) {
		pgw_mbuf_free(&b);
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	reply_take(req, HTTP_OK, "OK", "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
}

static void serve_health(struct evhttp_request *req)
{
	char reason[256], line[300];
	bool ok = pgw_health_ok(reason, sizeof(reason));

	if (pgw.draining) {
		ok = false;
		snprintf(reason, sizeof(reason), "pgward is shutting down");
	}
	snprintf(line, sizeof(line), "%s: %s\n", ok ? "ok" : "unavailable", reason);
	reply_text(req, ok ? HTTP_OK : 503, ok ? "OK" : "Service Unavailable", line);
}

static void serve_statements(struct evhttp_request *req)
{
	char *json = pgw_metrics_statements_json();

	if (json == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	reply_take(req, HTTP_OK, "OK", "application/json", json, strlen(json));
}

static void route_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

	if (path == NULL)
		reply_text(req, HTTP_NOTFOUND, "Not Found", "not found\n");
	else if (strcmp(path, "/metrics") == 0)
		serve_metrics(req);
	else if (strcmp(path, "/healthz") == 0)
		serve_health(req);
	else if (strcmp(path, "/statements") == 0)
		serve_statements(req);
	else
		reply_text(req, HTTP_NOTFOUND, "Not Found",
			   "not found: pgward serves /metrics, /healthz and /statements\n");
}

int pgw_http_start(struct event_base *base, char *err, size_t errlen)
{
	const char *addr = pgw.cfg.metrics_listen_addr;
	int port = pgw.cfg.metrics_listen_port;

	if (port == 0)
		return 0;
	http = evhttp_new(base);
	if (http == NULL) {
		snprintf(err, errlen, "cannot create the metrics HTTP server");
		return -1;
	}
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(http, HTTP_TIMEOUT_S);
	evhttp_set_max_headers_size(http, 16384);
	evhttp_set_max_body_size(http, 0);
	evhttp_set_gencb(http, route_cb, NULL);
	if (evhttp_bind_socket(http, strcmp(addr, "*") == 0 ? "0.0.0.0" : addr, (ev_uint16_t)port) <
	    0) {
		snprintf(err, errlen, "cannot listen for metrics on %s:%d", addr, port);
		evhttp_free(http);
		http = NULL;
		return -1;
	}
	pgw_health_start(base);
	pgw_info(0, "metrics_listening", "addr=%s port=%d", addr, port);
	return 0;
}

void pgw_http_stop(void)
{
	pgw_health_stop();
	if (http != NULL)
		evhttp_free(http);
	http = NULL;
}
