/*
 * The admin console's command table: one command per Query (command.c reads it), SHOW and
 * the others. Anything else gets 42601 naming what was not understood.
 */
#include "admin-int.h"

#include "pgward/codec.h"
#include "pgward/log.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

bool pgw_admin_is_console(const struct pgw_config *cfg, const char *database)
{
	return cfg->admin_users != NULL && cfg->admin_users[0] != '\0' && database != NULL &&
	       cfg->admin_database != NULL && strcmp(database, cfg->admin_database) == 0;
}

bool pgw_admin_user_allowed(const struct pgw_config *cfg, const char *user)
{
	const char *p = cfg->admin_users;
	size_t ulen = strlen(user);

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		while (n > 0 && isspace((unsigned char)*p))
			p++, n--;
		while (n > 0 && isspace((unsigned char)p[n - 1]))
			n--;
		if (n == ulen && memcmp(p, user, n) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* SHOW <what>: pgward's own, then PgBouncer's with its columns. */
struct show {
	const char *what; /* upper case */
	void (*run)(struct evbuffer *out);
};

static void show_help(struct evbuffer *out);

static const struct show shows[] = {
	{"SESSIONS", pgw_admin_show_sessions},
	{"TENANTS", pgw_admin_show_tenants},
	{"RULES", pgw_admin_show_rules},
	{"COUNTERS", pgw_admin_show_counters},
	{"SHAPES", pgw_admin_show_shapes},
	{"AUTH", pgw_admin_show_auth},
	{"CONFIG", pgw_admin_show_config},
	/* PgBouncer's (show_pools.c, show_stats.c, control.c) */
	{"POOLS", pgw_admin_show_pools},
	{"CLIENTS", pgw_admin_show_clients},
	{"SERVERS", pgw_admin_show_servers},
	{"DATABASES", pgw_admin_show_databases},
	{"USERS", pgw_admin_show_users},
	{"LISTS", pgw_admin_show_lists},
	{"STATS", pgw_admin_show_stats},
	{"STATS_TOTALS", pgw_admin_show_stats_totals},
	{"STATS_AVERAGES", pgw_admin_show_stats_averages},
	{"TOTALS", pgw_admin_show_totals},
	{"STATE", pgw_admin_show_state},
	{"VERSION", pgw_admin_show_version},
	{"HELP", show_help},
};

static bool reload(uint64_t sid, const struct pgw_admin_cmd *cmd, struct evbuffer *out)
{
	/* The same path as an operator's SIGHUP, handled by the event loop after this. */
	kill(getpid(), SIGHUP);
	pgw_admin_complete(out, "RELOAD");
	return true;
}

/* The commands that are not SHOW, and whether they take a database; false: the answer waits. */
static const struct {
	const char *verb;
	bool takes_db;
	bool (*run)(uint64_t sid, const struct pgw_admin_cmd *cmd, struct evbuffer *out);
} others[] = {
	{"PAUSE", true, pgw_admin_control},	 {"RESUME", true, pgw_admin_control},
	{"RECONNECT", true, pgw_admin_control},	 {"KILL", true, pgw_admin_control},
	{"WAIT_CLOSE", true, pgw_admin_control}, {"RELOAD", false, reload},
};

static void show_help(struct evbuffer *out)
{
	static const char *const cols[] = {"command"};
	char line[64];
	const char *row[] = {line};
	struct pgw_rs rs;

	pgw_rs_begin(&rs, out, cols, 1);
	for (size_t i = 0; i < PGW_ARRAY_LEN(shows); i++) {
		snprintf(line, sizeof(line), "SHOW %s", shows[i].what);
		pgw_rs_row(&rs, row);
	}
	for (size_t i = 0; i < PGW_ARRAY_LEN(others); i++) {
		snprintf(line, sizeof(line), "%s%s", others[i].verb,
			 others[i].takes_db ? " [db]" : "");
		pgw_rs_row(&rs, row);
	}
	pgw_rs_end(&rs, "SHOW");
}

static void unknown(struct evbuffer *out, const char *what)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "pgward admin: unknown command %s; try SHOW HELP", what);
	pgw_msg_error(
		out, "ERROR", "42601", msg,
		"The console accepts SHOW SESSIONS, TENANTS, RULES, COUNTERS, SHAPES, AUTH and "
		"CONFIG, "
		"PgBouncer's SHOW POOLS, CLIENTS, SERVERS, DATABASES, USERS, LISTS, STATS, "
		"STATS_TOTALS, STATS_AVERAGES, TOTALS, STATE and VERSION, PAUSE, RESUME, "
		"RECONNECT, KILL and WAIT_CLOSE [db], and RELOAD.");
}

static void show(const struct pgw_admin_cmd *cmd, struct evbuffer *out)
{
	char what[sizeof(cmd->arg)], label[sizeof(cmd->arg) + 8];
	size_t i;

	for (i = 0; cmd->arg[i] != '\0'; i++)
		what[i] = (char)toupper((unsigned char)cmd->arg[i]);
	what[i] = '\0';
	for (i = 0; i < PGW_ARRAY_LEN(shows); i++)
		if (strcmp(what, shows[i].what) == 0) {
			shows[i].run(out);
			return;
		}
	snprintf(label, sizeof(label), "SHOW %s", what);
	unknown(out, label);
}

static bool known_verb(const char *verb)
{
	if (strcmp(verb, "SHOW") == 0)
		return true;
	for (size_t i = 0; i < PGW_ARRAY_LEN(others); i++)
		if (strcmp(verb, others[i].verb) == 0)
			return true;
	return false;
}

bool pgw_admin_query(uint64_t sid, const char *sql, size_t len, struct evbuffer *out)
{
	struct pgw_admin_cmd cmd;
	char err[200], msg[240];
	int parsed = pgw_admin_parse(sql, len, &cmd, err, sizeof(err));

	/* SQL, or a typo: name the word rather than what follows it */
	if (cmd.verb[0] != '\0' && !known_verb(cmd.verb)) {
		unknown(out, cmd.verb);
		return true;
	}
	if (parsed < 0) {
		snprintf(msg, sizeof(msg), "pgward admin: syntax error: %s", err);
		pgw_msg_error(out, "ERROR", "42601", msg,
			      "A command is a word and at most one argument, as in SHOW POOLS or "
			      "PAUSE mydb; try SHOW HELP.");
		return true;
	}
	if (cmd.verb[0] == '\0') {
		pgw_msg_header(out, 'I', 0); /* EmptyQueryResponse, as PostgreSQL answers "" */
		return true;
	}
	if (strcmp(cmd.verb, "SHOW") == 0 && cmd.has_arg) {
		show(&cmd, out);
		return true;
	}
	for (size_t i = 0; i < PGW_ARRAY_LEN(others); i++) {
		if (strcmp(cmd.verb, others[i].verb) != 0)
			continue;
		if (cmd.has_arg && !others[i].takes_db) {
			snprintf(msg, sizeof(msg), "pgward admin: %s takes no argument", cmd.verb);
			pgw_msg_error(out, "ERROR", "42601", msg, NULL);
			return true;
		}
		return others[i].run(sid, &cmd, out);
	}
	unknown(out, cmd.verb); /* SHOW alone */
	return true;
}
