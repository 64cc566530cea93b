/*
 * pgward entry point: command line, configuration, signals and the event loop. Owns the
 * process-wide runtime (pgw) and is the only place that replaces it on reload.
 */
#include "pgward/auth_query.h"
#include "pgward/config.h"
#include "pgward/http.h"
#include "pgward/listener.h"
#include "pgward/log.h"
#include "pgward/pool.h"
#include "pgward/metrics.h"
#include "pgward/policy.h"
#include "pgward/proxy.h"
#include "pgward/session.h"
#include "pgward/sql.h"
#include "pgward/tenant.h"
#include "pgward/tls.h"
#include "pgward/welcome.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#define DEFAULT_CONFIG "/etc/pgward/pgward.ini"
#define TICK_MS	       250
#define EXIT_GRACE_S   2 /* after closing sessions at shutdown, how long to flush them */

static struct event *sig_hup, *sig_term, *sig_int, *tick_ev, *shutdown_ev;
static int exit_code;

static void usage(FILE *out)
{
	fprintf(out, "Usage: pgward [-c FILE] [--check-config]\n"
		     "  -c, --config FILE   configuration file (default " DEFAULT_CONFIG ")\n"
		     "      --check-config  validate the configuration and exit (1 if invalid)\n"
		     "  -V, --version       print the version and exit\n"
		     "  -h, --help          print this help and exit\n"
		     "Signals: SIGHUP reloads the configuration, SIGTERM drains and exits,\n"
		     "SIGINT exits at once.\n");
}

/* Builds everything a configuration implies, without touching the running proxy. */
struct built {
	SSL_CTX *client_tls, *server_tls;
	struct pgw_auth_files auth;
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

static void built_free(struct built *b)
{
	SSL_CTX_free(b->client_tls);
	SSL_CTX_free(b->server_tls);
	b->client_tls = b->server_tls = NULL;
	pgw_auth_files_free(&b->auth);
}

static int build(const struct pgw_config *cfg, struct built *b, char *err, size_t errlen)
{
	memset(b, 0, sizeof(*b));
	if (pgw_tls_client_side(cfg, &b->client_tls, err, errlen) < 0)
		return -1;
	if (pgw_tls_server_side(cfg, &b->server_tls, err, errlen) < 0 ||
	    pgw_proxy_resolve_server(cfg, &b->addr, &b->addrlen, err, errlen) < 0 ||
	    pgw_auth_files_load(cfg, &b->auth, err, errlen) < 0) {
		built_free(b);
		return -1;
	}
	return 0;
}

/*
 * SCRAM exchanges for unknown roles show a salt derived from a key: random per process, a
 * restart would change those salts and not real roles' ones, telling the two apart. pgward's
 * TLS private key is a secret that lasts across restarts; the key is derived from it.
 */
static void seed_mock_salts(SSL_CTX *ctx)
{
	static const char domain[] = "pgward SCRAM mock salts";
	EVP_PKEY *key = ctx != NULL ? SSL_CTX_get0_privatekey(ctx) : NULL;
	unsigned char *der = NULL, *seed;
	int n;

	if (key == NULL || (n = i2d_PrivateKey(key, &der)) <= 0)
		return;
	if ((seed = malloc(sizeof(domain) + (size_t)n)) != NULL) {
		memcpy(seed, domain, sizeof(domain));
		memcpy(seed + sizeof(domain), der, (size_t)n);
		pgw_scram_mock_key_set(seed, sizeof(domain) + (size_t)n);
		OPENSSL_cleanse(seed, sizeof(domain) + (size_t)n);
		free(seed);
	}
	OPENSSL_clear_free(der, (size_t)n);
}

static void install(struct built *b)
{
	SSL_CTX_free(pgw.client_tls);
	SSL_CTX_free(pgw.server_tls);
	pgw.client_tls = b->client_tls;
	pgw.server_tls = b->server_tls;
	seed_mock_salts(b->client_tls);
	/* sessions copy what they need of these during their login: the old set can go */
	pgw_auth_files_free(&pgw.auth);
	pgw.auth = b->auth;
	pgw.server_addr = b->addr;
	pgw.server_addrlen = b->addrlen;
	pgw_log_min_level = pgw.cfg.log_level;
}

static void report_restart_key(const char *key, const char *old_value, const char *new_value,
			       void *arg)
{
	pgw_warn(0, "reload_ignored", "key=%s old=\"%s\" new=\"%s\" msg=\"needs a restart\"", key,
		 old_value, new_value);
}

static void reload(void)
{
	struct pgw_config fresh;
	struct built b;
	char err[512], quoted[600];
	char *keep_addr;

	if (pgw_config_load(pgw.cfg.path, &fresh, err, sizeof(err)) < 0 ||
	    build(&fresh, &b, err, sizeof(err)) < 0) {
		pgw_error(0, "reload_failed", "error=%s msg=\"keeping the running configuration\"",
			  pgw_log_quote(err, quoted, sizeof(quoted)));
		if (fresh.path != NULL)
			pgw_config_free(&fresh);
		return;
	}
	pgw_config_restart_changes(&pgw.cfg, &fresh, report_restart_key, NULL);
	/* The listener keeps running on what it was started with. */
	keep_addr = fresh.listen_addr;
	fresh.listen_addr = pgw.cfg.listen_addr;
	pgw.cfg.listen_addr = keep_addr;
	fresh.listen_port = pgw.cfg.listen_port;
	pgw_config_free(&pgw.cfg);
	pgw.cfg = fresh;
	install(&b);
	pgw_auth_query_reset();
	pgw_tenant_reload();
	pgw_pool_reconfigured();
	pgw_welcome_forget_all();
	pgw_info(0, "reloaded", "path=%s", pgw.cfg.path);
	pgw_policy_log_stats();
}

static void on_drained(void)
{
	pgw_info(0, "drained", "");
	event_base_loopexit(pgw.base, NULL);
}

static void exit_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopexit(pgw.base, NULL);
}

static void shutdown_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval grace = {EXIT_GRACE_S, 0};

	pgw_info(0, "shutdown_timeout", "sessions=%u", pgw_session_count());
	pgw_session_close_all("57P01", "pgward: shutting down");
	event_base_once(pgw.base, -1, EV_TIMEOUT, exit_cb, NULL, &grace);
}

static void begin_drain(void)
{
	double t = pgw.cfg.shutdown_timeout;
	struct timeval tv = {(time_t)t, (suseconds_t)((t - (time_t)t) * 1e6)};

	if (pgw.draining)
		return;
	pgw.draining = true;
	pgw.on_drained = on_drained;
	pgw_listener_stop();
	pgw_info(0, "draining", "sessions=%u shutdown_timeout=%g", pgw_session_count(), t);
	if (pgw_session_count() == 0) {
		on_drained();
		return;
	}
	shutdown_ev = evtimer_new(pgw.base, shutdown_timeout_cb, NULL);
	evtimer_add(shutdown_ev, &tv);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	switch (sig) {
	case SIGHUP:
		reload();
		break;
	case SIGTERM:
		begin_drain();
		break;
	case SIGINT:
		pgw_info(0, "interrupted", "sessions=%u", pgw_session_count());
		event_base_loopbreak(pgw.base);
		break;
	}
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	pgw_session_tick(pgw_now());
	pgw_pool_tick(pgw_now());
	pgw_auth_query_tick(pgw_now());
	pgw_metrics_tick();
}

static void log_warning(const char *key, const char *message, void *arg)
{
	(void)arg;
	pgw_warn(0, "config_limit", "key=%s msg=\"%s\"", key, message);
}

/*
 * The event loop, with epoll's changelist: interest changes made while callbacks run are
 * applied once per loop turn, so a socket whose reading is switched off and on again (a
 * client's login, a server taken from the pool) costs one epoll_ctl (an EPOLL_CTL_MOD that
 * changes nothing) instead of two; a new connection per transaction made eight epoll_ctl
 * calls without it, four with it, as PgBouncer. The changelist is unsafe only for file
 * descriptors cloned by dup(), which pgward never makes.
 */
static struct event_base *new_base(void)
{
	struct event_config *ec = event_config_new();
	struct event_base *base;

	if (ec == NULL)
		return NULL;
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	return base;
}

static int run(void)
{
	struct timeval tick = {0, TICK_MS * 1000};
	struct built b;
	char err[512];

	signal(SIGPIPE, SIG_IGN);
	pgw_sql_tune_malloc();
	pgw.base = new_base();
	if (pgw.base == NULL) {
		fprintf(stderr, "pgward: cannot create the event loop\n");
		return 1;
	}
	if (build(&pgw.cfg, &b, err, sizeof(err)) < 0) {
		fprintf(stderr, "pgward: %s\n", err);
		return 1;
	}
	install(&b);
	if (pgw_tenant_start(pgw.base, &pgw.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "pgward: %s\n", err);
		return 1;
	}
	/* Signals first: one that arrives before its handler would kill the process. */
	sig_hup = evsignal_new(pgw.base, SIGHUP, signal_cb, NULL);
	sig_term = evsignal_new(pgw.base, SIGTERM, signal_cb, NULL);
	sig_int = evsignal_new(pgw.base, SIGINT, signal_cb, NULL);
	tick_ev = event_new(pgw.base, -1, EV_PERSIST, tick_cb, NULL);
	evsignal_add(sig_hup, NULL);
	evsignal_add(sig_term, NULL);
	evsignal_add(sig_int, NULL);
	evtimer_add(tick_ev, &tick);
	/* Metrics first: once the proxy's port listens, /metrics and /healthz answer too. */
	pgw_metrics_init();
	if (pgw_http_start(pgw.base, err, sizeof(err)) < 0 ||
	    pgw_listener_start(err, sizeof(err)) < 0) {
		fprintf(stderr, "pgward: %s\n", err);
		return 1;
	}
	pgw_config_warnings(&pgw.cfg, log_warning, NULL);
	pgw_info(0, "started", "version=%s server=%s:%d", PGWARD_VERSION, pgw.cfg.server_host,
		 pgw.cfg.server_port);
	event_base_dispatch(pgw.base);
	pgw_info(0, "stopped", "");
	return exit_code;
}

static void cleanup(void)
{
	pgw_listener_stop();
	pgw_http_stop();
	pgw_session_free_all();
	pgw_pool_free_all();
	pgw_welcome_forget_all();
	pgw_metrics_shutdown();
	pgw_policy_log_stats();
	pgw_policy_shutdown();
	pgw_tenant_shutdown();
	if (sig_hup)
		event_free(sig_hup);
	if (sig_term)
		event_free(sig_term);
	if (sig_int)
		event_free(sig_int);
	if (tick_ev)
		event_free(tick_ev);
	if (shutdown_ev)
		event_free(shutdown_ev);
	pgw_auth_query_shutdown();
	pgw_auth_throttle_free();
	pgw_auth_files_free(&pgw.auth);
	SSL_CTX_free(pgw.client_tls);
	SSL_CTX_free(pgw.server_tls);
	pgw_config_free(&pgw.cfg);
	if (pgw.base)
		event_base_free(pgw.base);
}

static void check_warning(const char *key, const char *message, void *arg)
{
	(void)key;
	fprintf(stderr, "%s: warning: %s\n", (const char *)arg, message);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", no_argument, NULL, 'k'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = DEFAULT_CONFIG;
	bool check_only = false;
	char err[512];
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'k':
			check_only = true;
			break;
		case 'V':
			printf("pgward %s\n", PGWARD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (pgw_config_load(path, &pgw.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	pgw_log_min_level = pgw.cfg.log_level;
	if (check_only) {
		struct built b;

		rc = build(&pgw.cfg, &b, err, sizeof(err));
		if (rc < 0)
			fprintf(stderr, "%s: %s\n", path, err);
		else if (pgw_config_warnings(&pgw.cfg, check_warning, (void *)path) >= 0)
			printf("%s: configuration is valid\n", path);
		if (rc == 0)
			built_free(&b);
		pgw_config_free(&pgw.cfg);
		return rc < 0 ? 1 : 0;
	}
	rc = run();
	cleanup();
	return rc;
}
