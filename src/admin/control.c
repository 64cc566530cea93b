/*
 * The console's PAUSE, RESUME, RECONNECT, KILL and WAIT_CLOSE, with PgBouncer's meaning
 * and error messages, for session pooling. PAUSE and WAIT_CLOSE answer once the pools are
 * as they wait for (no server left; none marked close_needed): the console session stops
 * reading meanwhile and gets its answer later from a timer here. Nothing ever blocks.
 */
#include "admin-int.h"

#include "pgward/codec.h"
#include "pgward/log.h"
#include "pgward/pool.h"
#include "pgward/pool_db.h"
#include "pgward/proxy.h"

#include <stdio.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>

/* Console sessions waiting at once; more is refused (a fixed table: nothing to free). */
#define MAX_WAITING 16
#define POLL_USEC   50000

enum wait_kind {
	WAIT_PAUSE,
	WAIT_CLOSE,
};

struct waiting {
	uint64_t sid; /* 0: a free slot */
	enum wait_kind kind;
	bool all;
	char database[PGW_NAME_MAX + 1];
};

static struct waiting waits[MAX_WAITING];
static struct event poll_ev;
static bool poll_assigned;

static void poll_cb(evutil_socket_t fd, short what, void *arg);

static void arm_poll(void)
{
	struct timeval tv = {0, POLL_USEC};

	if (!poll_assigned) {
		evtimer_assign(&poll_ev, pgw.base, poll_cb, NULL);
		poll_assigned = true;
	}
	evtimer_add(&poll_ev, &tv);
}

enum outcome {
	PENDING,
	DONE,
	RESUMED, /* a PAUSE lifted by RESUME before it completed */
};

static enum outcome outcome(const struct waiting *w)
{
	const char *db = w->all ? NULL : w->database;

	if (w->kind == WAIT_CLOSE)
		return pgw_pool_count_servers(db, true) == 0 ? DONE : PENDING;
	if (w->all ? !pgw_pool_db_all_paused() : !pgw_pool_db_held(db))
		return RESUMED;
	return pgw_pool_count_servers(db, false) == 0 ? DONE : PENDING;
}

static const char *tag_of(enum wait_kind kind)
{
	return kind == WAIT_PAUSE ? "PAUSE" : "WAIT_CLOSE";
}

/* Answers a waiting session whose wait is over; false while it still waits. */
static bool settle(struct waiting *w)
{
	enum outcome o = outcome(w);
	struct evbuffer *answer;

	if (o == PENDING)
		return false;
	if ((answer = evbuffer_new()) == NULL)
		return false; /* out of memory: the next poll tries again */
	if (o == DONE)
		pgw_admin_complete(answer, tag_of(w->kind));
	else
		pgw_admin_error(answer, "PAUSE of %s did not complete: RESUME came first",
				w->all ? "all databases" : w->database);
	pgw_info(w->sid, "admin_done", "command=%s database=%s outcome=%s", tag_of(w->kind),
		 w->all ? "*" : w->database, o == DONE ? "done" : "resumed");
	pgw_session_admin_answer(w->sid, answer);
	evbuffer_free(answer);
	w->sid = 0;
	return true;
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
	bool pending = false;

	for (size_t i = 0; i < MAX_WAITING; i++) {
		struct waiting *w = &waits[i];

		if (w->sid == 0)
			continue;
		if (!pgw_session_admin_alive(w->sid)) {
			w->sid = 0; /* the console session left; its PAUSE stays, as PgBouncer's */
			continue;
		}
		if (!settle(w))
			pending = true;
	}
	if (pending)
		arm_poll();
}

/* A <kind> command completes at once if nothing is left to wait for; otherwise console
 * session <sid> waits (false). */
static bool wait_for(uint64_t sid, enum wait_kind kind, const char *database, struct evbuffer *out)
{
	struct waiting w = {.sid = sid, .kind = kind, .all = database == NULL};

	if (database != NULL)
		snprintf(w.database, sizeof(w.database), "%s", database);
	if (outcome(&w) == DONE) {
		pgw_admin_complete(out, tag_of(kind));
		return true;
	}
	for (size_t i = 0; i < MAX_WAITING; i++) {
		if (waits[i].sid != 0)
			continue;
		waits[i] = w;
		arm_poll();
		return false;
	}
	pgw_msg_error(out, "ERROR", "53000",
		      "pgward admin: too many console sessions are waiting for PAUSE or WAIT_CLOSE",
		      NULL);
	return true;
}

/* The database a command names: known, and not the console. False with the error sent. */
static bool database_ok(const struct pgw_admin_cmd *cmd, const char *verb, struct evbuffer *out)
{
	if (strcmp(cmd->arg, pgw.cfg.admin_database) == 0) {
		pgw_admin_error(out, "cannot %s admin db: %s", verb, cmd->arg);
		return false;
	}
	if (!pgw_pool_db_known(cmd->arg)) {
		pgw_admin_error(out, "no such database: %s", cmd->arg);
		return false;
	}
	return true;
}

/* PAUSE and KILL hold new clients in their pools' queues: without pools there is no queue. */
static bool pooling(const char *verb, struct evbuffer *out)
{
	char msg[96];

	if (pgw.cfg.pool_mode != PGW_POOL_NONE)
		return true;
	snprintf(msg, sizeof(msg), "pgward admin: %s needs pool_mode = session or transaction",
		 verb);
	pgw_msg_error(out, "ERROR", "0A000", msg,
		      "PAUSE and KILL hold new clients in their pool's queue until RESUME; with "
		      "pool_mode = none every client has a server of its own.");
	return false;
}

static bool pause_cmd(uint64_t sid, const struct pgw_admin_cmd *cmd, struct evbuffer *out)
{
	const char *db = cmd->has_arg ? cmd->arg : NULL;

	if (!pooling("PAUSE", out))
		return true;
	if (pgw_pool_db_all_paused()) {
		pgw_admin_error(out, "already suspended/paused");
		return true;
	}
	if (db != NULL && !database_ok(cmd, "pause", out))
		return true;
	if (db != NULL)
		(void)pgw_pool_db_pause(db, true);
	else
		pgw_pool_db_pause_all(true);
	pgw_info(sid, "admin_pause", "database=%s", db ? db : "*");
	/* the others close as their clients leave (pool.c: make_idle) */
	pgw_pool_close(db, PGW_POOL_CLOSE_IDLE);
	return wait_for(sid, WAIT_PAUSE, db, out);
}

static void note_paused(const struct pgw_db_view *v, void *arg)
{
	*(bool *)arg |= v->paused;
}

static bool resume_cmd(uint64_t sid, const struct pgw_admin_cmd *cmd, struct evbuffer *out)
{
	if (!cmd->has_arg) {
		bool any_paused = pgw_pool_db_all_paused();

		pgw_pool_db_foreach(note_paused, &any_paused);
		if (!any_paused) {
			pgw_admin_error(out, "pooler is not paused/suspended");
			return true;
		}
		/* every hold: of all databases, and each database's own (KILL's too) */
		pgw_pool_db_pause_all(false);
		(void)pgw_pool_db_pause(NULL, false);
	} else {
		if (!pgw_pool_db_known(cmd->arg) && strcmp(cmd->arg, pgw.cfg.admin_database) != 0) {
			pgw_admin_error(out, "no such database: %s", cmd->arg);
			return true;
		}
		if (!pgw_pool_db_paused(cmd->arg)) {
			pgw_admin_error(out, "database %s is not paused", cmd->arg);
			return true;
		}
		(void)pgw_pool_db_pause(cmd->arg, false);
	}
	pgw_info(sid, "admin_resume", "database=%s", cmd->has_arg ? cmd->arg : "*");
	pgw_pool_serve_waiters();
	pgw_admin_complete(out, "RESUME");
	return true;
}

static bool reconnect_cmd(uint64_t sid, const struct pgw_admin_cmd *cmd, struct evbuffer *out)
{
	if (cmd->has_arg && !database_ok(cmd, "reconnect", out))
		return true;
	pgw_info(sid, "admin_reconnect", "database=%s", cmd->has_arg ? cmd->arg : "*");
	pgw_pool_close(cmd->has_arg ? cmd->arg : NULL, PGW_POOL_CLOSE_RELEASED);
	pgw_admin_complete(out, "RECONNECT");
	return true;
}

static bool kill_cmd(uint64_t sid, const struct pgw_admin_cmd *cmd, struct evbuffer *out)
{
	const char *db = cmd->has_arg ? cmd->arg : NULL;
	char msg[160];
	unsigned n;

	if (!pooling("KILL", out))
		return true;
	if (pgw_pool_db_all_paused()) {
		pgw_admin_error(out, "already suspended/paused");
		return true;
	}
	if (db != NULL && !database_ok(cmd, "kill", out))
		return true;
	(void)pgw_pool_db_pause(db, true);
	/* servers first: those of the clients closed below then close instead of being reset */
	pgw_pool_close(db, PGW_POOL_CLOSE_ALL);
	if (db != NULL)
		snprintf(msg, sizeof(msg),
			 "pgward: the administrator closed the connections to database \"%s\" "
			 "(KILL)",
			 db);
	else
		snprintf(msg, sizeof(msg),
			 "pgward: the administrator closed the connections to every database "
			 "(KILL)");
	n = pgw_session_kill(db, "57P01", msg);
	pgw_info(sid, "admin_kill", "database=%s clients=%u", db ? db : "*", n);
	pgw_admin_complete(out, "KILL");
	return true;
}

static bool wait_close_cmd(uint64_t sid, const struct pgw_admin_cmd *cmd, struct evbuffer *out)
{
	if (cmd->has_arg && !database_ok(cmd, "wait in", out))
		return true;
	return wait_for(sid, WAIT_CLOSE, cmd->has_arg ? cmd->arg : NULL, out);
}

bool pgw_admin_control(uint64_t sid, const struct pgw_admin_cmd *cmd, struct evbuffer *out)
{
	static const struct {
		const char *verb;
		bool (*run)(uint64_t sid, const struct pgw_admin_cmd *cmd, struct evbuffer *out);
	} verbs[] = {
		{"PAUSE", pause_cmd}, {"RESUME", resume_cmd},	      {"RECONNECT", reconnect_cmd},
		{"KILL", kill_cmd},   {"WAIT_CLOSE", wait_close_cmd},
	};

	for (size_t i = 0; i < PGW_ARRAY_LEN(verbs); i++)
		if (strcmp(cmd->verb, verbs[i].verb) == 0)
			return verbs[i].run(sid, cmd, out);
	return true; /* not a control command: the caller checked */
}

void pgw_admin_show_state(struct evbuffer *out)
{
	static const char *const cols[] = {"key", "value"};
	bool paused = pgw_pool_db_all_paused();
	const char *rows[][2] = {
		{"active", paused ? "no" : "yes"},
		{"paused", paused ? "yes" : "no"},
		{"suspended", "no"},
	};
	struct pgw_rs rs;

	pgw_rs_begin(&rs, out, cols, 2);
	for (size_t i = 0; i < PGW_ARRAY_LEN(rows); i++)
		pgw_rs_row(&rs, rows[i]);
	pgw_rs_end(&rs, "SHOW");
}
