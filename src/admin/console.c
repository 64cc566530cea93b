/*
 * The admin console's command reader: one command per Query, case-insensitive, an
 * optional trailing semicolon. Anything else gets 42601 naming what was not understood.
 */
#include "admin-int.h"

#include "pgward/codec.h"
#include "pgward/log.h"

#include <ctype.h>
#include <signal.h>
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

struct command {
	const char *words; /* upper case, single spaces */
	void (*run)(struct evbuffer *out);
};

static void reload(struct evbuffer *out)
{
	/* The same path as an operator's SIGHUP, handled by the event loop after this. */
	kill(getpid(), SIGHUP);
	pgw_admin_complete(out, "RELOAD");
}

static void show_help(struct evbuffer *out);

static const struct command commands[] = {
	{"SHOW SESSIONS", pgw_admin_show_sessions},
	{"SHOW TENANTS", pgw_admin_show_tenants},
	{"SHOW RULES", pgw_admin_show_rules},
	{"SHOW STATS", pgw_admin_show_stats},
	{"SHOW AUTH", pgw_admin_show_auth},
	{"SHOW CONFIG", pgw_admin_show_config},
	/* PgBouncer's, with its columns (show_pools.c) */
	{"SHOW POOLS", pgw_admin_show_pools},
	{"SHOW CLIENTS", pgw_admin_show_clients},
	{"SHOW SERVERS", pgw_admin_show_servers},
	{"SHOW DATABASES", pgw_admin_show_databases},
	{"SHOW USERS", pgw_admin_show_users},
	{"SHOW LISTS", pgw_admin_show_lists},
	{"SHOW VERSION", pgw_admin_show_version},
	{"SHOW HELP", show_help},
	{"RELOAD", reload},
};

static void show_help(struct evbuffer *out)
{
	static const char *const cols[] = {"command"};
	struct pgw_rs rs;

	pgw_rs_begin(&rs, out, cols, 1);
	for (size_t i = 0; i < PGW_ARRAY_LEN(commands); i++)
		pgw_rs_row(&rs, &commands[i].words);
	pgw_rs_end(&rs, "SHOW");
}

/* Normalises <sql> into upper-case words separated by single spaces, without a final ';'. */
static void normalise(const char *sql, size_t len, char *buf, size_t cap)
{
	size_t n = 0;
	bool space = false;

	while (len > 0 && (isspace((unsigned char)sql[len - 1]) || sql[len - 1] == ';'))
		len--;
	for (size_t i = 0; i < len && n + 2 < cap; i++) {
		unsigned char c = (unsigned char)sql[i];

		if (isspace(c)) {
			space = n > 0;
			continue;
		}
		if (space)
			buf[n++] = ' ';
		space = false;
		buf[n++] = (char)toupper(c);
	}
	buf[n] = '\0';
}

void pgw_admin_query(const char *sql, size_t len, struct evbuffer *out)
{
	char words[128];

	normalise(sql, len, words, sizeof(words));
	if (words[0] == '\0') {
		pgw_msg_header(out, 'I', 0); /* EmptyQueryResponse, as PostgreSQL answers "" */
		return;
	}
	for (size_t i = 0; i < PGW_ARRAY_LEN(commands); i++)
		if (strcmp(words, commands[i].words) == 0) {
			commands[i].run(out);
			return;
		}
	pgw_msg_error(out, "ERROR", "42601", "pgward admin: unknown command; try SHOW HELP",
		      "The console accepts SHOW SESSIONS, SHOW TENANTS, SHOW RULES, SHOW STATS, "
		      "SHOW AUTH, SHOW CONFIG, PgBouncer's SHOW POOLS, CLIENTS, SERVERS, "
		      "DATABASES, USERS, LISTS and VERSION, and RELOAD.");
}
