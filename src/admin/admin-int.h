/* What the admin console's files share. Not for use outside src/admin/. */
#ifndef PGWARD_ADMIN_INT_H
#define PGWARD_ADMIN_INT_H

#include "pgward/admin.h"

#include <stdio.h>

struct pgw_rs {
	struct evbuffer *out;
	int ncols;
	int nrows;
};

/* resultset.c: RowDescription, DataRows (NULL value = SQL NULL), CommandComplete "<tag> n" */
void pgw_rs_begin(struct pgw_rs *rs, struct evbuffer *out, const char *const *cols, int ncols);
/* ...with column types in PgBouncer's letters, one per column: 's' text, 'i' int4, 'q' int8,
 * 'N' numeric (PgBouncer's 64-bit counters), 'T' a timestamp as text. NULL: all text. */
void pgw_rs_begin_typed(struct pgw_rs *rs, struct evbuffer *out, const char *const *cols,
			const char *types, int ncols);
void pgw_rs_row(struct pgw_rs *rs, const char *const *values);
void pgw_rs_end(struct pgw_rs *rs, const char *tag);
void pgw_admin_complete(struct evbuffer *out, const char *tag);
/* PgBouncer's console error: ERROR, SQLSTATE 08P01, its message. */
void pgw_admin_error(struct evbuffer *out, const char *fmt, ...) PGW_PRINTF(2, 3);

/* command.c: one command as PgBouncer's console reads it */
struct pgw_admin_cmd {
	char verb[32];		    /* upper case; "" for an empty query */
	char arg[PGW_NAME_MAX + 1]; /* as written, unquoted; "" when none */
	bool has_arg;
};
/* 0, or -1 with what is wrong in <err>. */
int pgw_admin_parse(const char *sql, size_t len, struct pgw_admin_cmd *cmd, char *err,
		    size_t errlen);

/* control.c: PAUSE, RESUME, RECONNECT, KILL and WAIT_CLOSE for console session <sid>; false
 * when the answer comes later (pgw_session_admin_answer) */
bool pgw_admin_control(uint64_t sid, const struct pgw_admin_cmd *cmd, struct evbuffer *out);
void pgw_admin_show_state(struct evbuffer *out);

/* show.c: one function per SHOW */
void pgw_admin_show_sessions(struct evbuffer *out);
void pgw_admin_show_tenants(struct evbuffer *out);
void pgw_admin_show_rules(struct evbuffer *out);
void pgw_admin_show_counters(struct evbuffer *out);
void pgw_admin_show_shapes(struct evbuffer *out);
void pgw_admin_show_auth(struct evbuffer *out);
void pgw_admin_show_config(struct evbuffer *out);

/* show_pools.c: PgBouncer's commands, with its columns */
void pgw_admin_show_pools(struct evbuffer *out);
void pgw_admin_show_clients(struct evbuffer *out);
void pgw_admin_show_servers(struct evbuffer *out);
void pgw_admin_show_databases(struct evbuffer *out);
void pgw_admin_show_users(struct evbuffer *out);
void pgw_admin_show_lists(struct evbuffer *out);
void pgw_admin_show_version(struct evbuffer *out);

/* show_stats.c: PgBouncer's per-database counters */
void pgw_admin_show_stats(struct evbuffer *out);
void pgw_admin_show_stats_totals(struct evbuffer *out);
void pgw_admin_show_stats_averages(struct evbuffer *out);
void pgw_admin_show_totals(struct evbuffer *out);

#endif
