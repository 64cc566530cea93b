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
 * 'T' a timestamp as text. NULL: all text. */
void pgw_rs_begin_typed(struct pgw_rs *rs, struct evbuffer *out, const char *const *cols,
			const char *types, int ncols);
void pgw_rs_row(struct pgw_rs *rs, const char *const *values);
void pgw_rs_end(struct pgw_rs *rs, const char *tag);
void pgw_admin_complete(struct evbuffer *out, const char *tag);

/* show.c: one function per SHOW */
void pgw_admin_show_sessions(struct evbuffer *out);
void pgw_admin_show_tenants(struct evbuffer *out);
void pgw_admin_show_rules(struct evbuffer *out);
void pgw_admin_show_stats(struct evbuffer *out);
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

#endif
