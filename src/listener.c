/*
 * Accepting clients. Never blocks, never spins: when accept() fails for lack of file
 * descriptors the listener sleeps for a moment and tries again. Never floods the log
 * either: what repeats with every connection attempt is rate-limited.
 */
#include "pgward/listener.h"

#include "pgward/log.h"
#include "pgward/proxy.h"
#include "pgward/session.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <event2/event.h>
#include <event2/listener.h>

#define ACCEPT_PAUSE_MS 100
#define LISTEN_BACKLOG	1024

static struct evconnlistener *listener;
static struct event *resume_ev;

/* Both go on for as long as the descriptor shortage or the flood of clients lasts: a few
 * lines, then one count of the rest every 10 s, and a last count once accepting works. */
static struct pgw_log_limit accept_failed_log =
	PGW_LOG_LIMIT(PGW_LOG_WARNING, "accept_failed", 5, 10);
static struct pgw_log_limit accept_refused_log =
	PGW_LOG_LIMIT(PGW_LOG_WARNING, "accept_refused", 5, 10);

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *addr,
		      int socklen, void *arg)
{
	unsigned cap = (unsigned)pgw.cfg.max_client_conn * 2 + 100;

	pgw_log_limit_flush(&accept_failed_log); /* accept() works again */
	/* Sessions still in startup are not yet counted against max_client_conn (they get
	 * 53300 after their StartupMessage, as from PostgreSQL); this only bounds them. */
	if (pgw_session_count() >= cap) {
		pgw_log_limited(&accept_refused_log, 0,
				"reason=\"connection cap reached\" sessions=%u",
				pgw_session_count());
		close(fd);
		return;
	}
	pgw_log_limit_flush(&accept_refused_log);
	pgw_session_accept(fd, addr, (socklen_t)socklen);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	if (listener != NULL)
		evconnlistener_enable(listener);
}

static void error_cb(struct evconnlistener *l, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};

	pgw_log_limited(&accept_failed_log, 0, "error=\"%s\" pause_ms=%d", strerror(err),
			ACCEPT_PAUSE_MS);
	evconnlistener_disable(l);
	if (resume_ev == NULL)
		resume_ev = evtimer_new(pgw.base, resume_cb, NULL);
	evtimer_add(resume_ev, &tv);
}

int pgw_listener_start(char *err, size_t errlen)
{
	struct sockaddr_storage addr;
	socklen_t addrlen;

	if (pgw_proxy_resolve("listen_addr", pgw.cfg.listen_addr, pgw.cfg.listen_port, true, &addr,
			      &addrlen, err, errlen) < 0)
		return -1;
	listener = evconnlistener_new_bind(pgw.base, accept_cb, NULL,
					   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
						   LEV_OPT_CLOSE_ON_EXEC,
					   LISTEN_BACKLOG, (struct sockaddr *)&addr, (int)addrlen);
	if (listener == NULL) {
		snprintf(err, errlen, "cannot listen on %s:%d: %s", pgw.cfg.listen_addr,
			 pgw.cfg.listen_port, strerror(errno));
		return -1;
	}
	evconnlistener_set_error_cb(listener, error_cb);
	pgw_info(0, "listening", "addr=%s port=%d", pgw.cfg.listen_addr, pgw.cfg.listen_port);
	return 0;
}

void pgw_listener_stop(void)
{
	if (listener != NULL) {
		evconnlistener_free(listener);
		listener = NULL;
	}
	if (resume_ev != NULL) {
		event_free(resume_ev);
		resume_ev = NULL;
	}
}
