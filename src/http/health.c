/*
 * "Can pgward reach PostgreSQL?", answered ahead of time: every health_check_interval a
 * non-blocking connect to server_host:server_port sends an SSLRequest, and a postmaster
 * answers it ('S' or 'N') before any authentication, so the probe needs no credentials
 * and leaves no failed login in the server's log. /healthz reports the last result and
 * never waits.
 */
#include "pgward/http.h"

#include "pgward/proxy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <event2/event.h>
#include <sys/socket.h>

static struct event *timer_ev, *probe_ev;
static int probe_fd = -1;
static bool probe_sent;
static bool healthy;
static char reason[200] = "no reachability check has finished yet";

/* "host:port: <what>[: <detail>]" */
static void set_result(bool ok, const char *what, const char *detail)
{
	healthy = ok;
	snprintf(reason, sizeof(reason), "%s:%d: %s%s%s", pgw.cfg.server_host, pgw.cfg.server_port,
		 what, detail ? ": " : "", detail ? detail : "");
}

static void probe_end(void)
{
	if (probe_ev != NULL)
		event_free(probe_ev);
	probe_ev = NULL;
	if (probe_fd >= 0)
		close(probe_fd);
	probe_fd = -1;
}

static double probe_timeout(void)
{
	double t = pgw.cfg.server_connect_timeout;

	return t > 0 ? PGW_MIN(t, 10.0) : 10.0;
}

static void arm(struct event *ev, double seconds)
{
	struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (time_t)seconds) * 1e6)};

	event_add(ev, &tv);
}

static void probe_cb(evutil_socket_t fd, short what, void *arg)
{
	static const unsigned char ssl_request[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	char answer;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		set_result(false, "no answer within the probe timeout", NULL);
	} else if (!probe_sent) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			soerr = errno;
		if (soerr != 0) {
			set_result(false, "cannot connect", strerror(soerr));
		} else if (send(fd, ssl_request, sizeof(ssl_request), MSG_NOSIGNAL) !=
			   (ssize_t)sizeof(ssl_request)) {
			set_result(false, "cannot send", strerror(errno));
		} else {
			probe_sent = true;
			event_free(probe_ev);
			probe_ev = event_new(event_get_base(timer_ev), fd, EV_READ, probe_cb, NULL);
			if (probe_ev != NULL) {
				arm(probe_ev, probe_timeout());
				return;
			}
			set_result(false, "out of memory", NULL);
		}
	} else {
		n = recv(fd, &answer, 1, 0);
		if (n == 1 && (answer == 'S' || answer == 'N'))
			set_result(true, "PostgreSQL answers", NULL);
		else if (n == 1)
			set_result(false, "the answer is not PostgreSQL's", NULL);
		else
			set_result(false, "the server closed the connection",
				   n < 0 ? strerror(errno) : NULL);
	}
	probe_end();
}

static void start_probe(void)
{
	const struct sockaddr *sa = (const struct sockaddr *)&pgw.server_addr;

	probe_end();
	probe_sent = false;
	probe_fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (probe_fd < 0) {
		set_result(false, "cannot create a socket", strerror(errno));
		return;
	}
	if (connect(probe_fd, sa, pgw.server_addrlen) < 0 && errno != EINPROGRESS) {
		set_result(false, "cannot connect", strerror(errno));
		probe_end();
		return;
	}
	probe_ev = event_new(event_get_base(timer_ev), probe_fd, EV_WRITE, probe_cb, NULL);
	if (probe_ev == NULL) {
		set_result(false, "out of memory", NULL);
		probe_end();
		return;
	}
	arm(probe_ev, probe_timeout());
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	double interval = pgw.cfg.metrics_health_check_interval;

	if (interval > 0) {
		if (probe_fd < 0) /* the previous probe still runs: let it finish */
			start_probe();
	} else {
		healthy = true;
		snprintf(reason, sizeof(reason), "reachability checks are off");
	}
	arm(timer_ev, interval > 0 ? interval : 1.0);
}

void pgw_health_start(struct event_base *base)
{
	timer_ev = evtimer_new(base, timer_cb, NULL);
	if (timer_ev != NULL)
		timer_cb(-1, EV_TIMEOUT, NULL);
}

void pgw_health_stop(void)
{
	probe_end();
	if (timer_ev != NULL)
		event_free(timer_ev);
	timer_ev = NULL;
}

bool pgw_health_ok(char *out, size_t len)
{
	snprintf(out, len, "%s", reason);
	return healthy;
}
