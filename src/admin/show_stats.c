/*
 * PgBouncer's SHOW STATS, STATS_TOTALS, STATS_AVERAGES and TOTALS: per-database counters
 * with the column names, order and types of PgBouncer 1.25 (its counters are numeric). The
 * prepared-statement counts are 0: PgBouncer counts them only when it tracks prepared
 * statements itself (max_prepared_statements), which pgward never does. Reads only.
 */
#include "admin-int.h"

#include "pgward/pool_db.h"

#include <inttypes.h>
#include <stdio.h>

#define NCOUNTERS 11 /* PgBouncer's counters, in its order */

/* <c>'s values in PgBouncer's order: server_assignment_count, xact_count, query_count,
 * received, sent, xact_time, query_time, wait_time, client/server parse and bind counts. */
static void counters(const struct pgw_db_counters *c, char buf[NCOUNTERS][24], const char **values)
{
	const uint64_t v[NCOUNTERS] = {
		c->server_assignment_count,
		c->xact_count,
		c->query_count,
		c->received,
		c->sent,
		c->xact_time,
		c->query_time,
		c->wait_time,
		0,
		0,
		0,
	};

	for (int i = 0; i < NCOUNTERS; i++) {
		snprintf(buf[i], sizeof(buf[i]), "%" PRIu64, v[i]);
		values[i] = buf[i];
	}
}

/* ---- SHOW STATS: totals then averages, one row per database ---- */

static void stats_row(const struct pgw_db_view *v, void *arg)
{
	char total[NCOUNTERS][24], avg[NCOUNTERS][24];
	const char *row[1 + 2 * NCOUNTERS] = {v->name};

	counters(&v->total, total, row + 1);
	counters(&v->avg, avg, row + 1 + NCOUNTERS);
	pgw_rs_row(arg, row);
}

void pgw_admin_show_stats(struct evbuffer *out)
{
	static const char *const cols[] = {"database",
					   "total_server_assignment_count",
					   "total_xact_count",
					   "total_query_count",
					   "total_received",
					   "total_sent",
					   "total_xact_time",
					   "total_query_time",
					   "total_wait_time",
					   "total_client_parse_count",
					   "total_server_parse_count",
					   "total_bind_count",
					   "avg_server_assignment_count",
					   "avg_xact_count",
					   "avg_query_count",
					   "avg_recv",
					   "avg_sent",
					   "avg_xact_time",
					   "avg_query_time",
					   "avg_wait_time",
					   "avg_client_parse_count",
					   "avg_server_parse_count",
					   "avg_bind_count"};
	struct pgw_rs rs;

	pgw_rs_begin_typed(&rs, out, cols, "sNNNNNNNNNNNNNNNNNNNNNN", (int)PGW_ARRAY_LEN(cols));
	pgw_pool_db_foreach(stats_row, &rs);
	pgw_rs_end(&rs, "SHOW");
}

/* ---- SHOW STATS_TOTALS, SHOW STATS_AVERAGES: one half of SHOW STATS each ---- */

static void totals_row(const struct pgw_db_view *v, void *arg)
{
	char buf[NCOUNTERS][24];
	const char *row[1 + NCOUNTERS] = {v->name};

	counters(&v->total, buf, row + 1);
	pgw_rs_row(arg, row);
}

static void averages_row(const struct pgw_db_view *v, void *arg)
{
	char buf[NCOUNTERS][24];
	const char *row[1 + NCOUNTERS] = {v->name};

	counters(&v->avg, buf, row + 1);
	pgw_rs_row(arg, row);
}

void pgw_admin_show_stats_totals(struct evbuffer *out)
{
	static const char *const cols[] = {"database",		 "server_assignment_count",
					   "xact_count",	 "query_count",
					   "bytes_received",	 "bytes_sent",
					   "xact_time",		 "query_time",
					   "wait_time",		 "client_parse_count",
					   "server_parse_count", "bind_count"};
	struct pgw_rs rs;

	pgw_rs_begin_typed(&rs, out, cols, "sNNNNNNNNNNN", (int)PGW_ARRAY_LEN(cols));
	pgw_pool_db_foreach(totals_row, &rs);
	pgw_rs_end(&rs, "SHOW");
}

void pgw_admin_show_stats_averages(struct evbuffer *out)
{
	/* PgBouncer's names, "avg_" on the prepared-statement ones only */
	static const char *const cols[] = {"database",
					   "server_assignment_count",
					   "xact_count",
					   "query_count",
					   "bytes_received",
					   "bytes_sent",
					   "xact_time",
					   "query_time",
					   "wait_time",
					   "avg_client_parse_count",
					   "avg_server_parse_count",
					   "avg_bind_count"};
	struct pgw_rs rs;

	pgw_rs_begin_typed(&rs, out, cols, "sNNNNNNNNNNN", (int)PGW_ARRAY_LEN(cols));
	pgw_pool_db_foreach(averages_row, &rs);
	pgw_rs_end(&rs, "SHOW");
}

/* ---- SHOW TOTALS: every database together, as name/value rows ---- */

void pgw_admin_show_totals(struct evbuffer *out)
{
	/* PgBouncer's row names: its PgStats fields behind "total_" and "avg_" */
	static const char *const names[NCOUNTERS] = {"server_assignment_count",
						     "xact_count",
						     "query_count",
						     "client_bytes",
						     "server_bytes",
						     "xact_time",
						     "query_time",
						     "wait_time",
						     "ps_client_parse_count",
						     "ps_server_parse_count",
						     "ps_bind_count"};
	static const char *const cols[] = {"name", "value"};
	char total[NCOUNTERS][24], avg[NCOUNTERS][24], name[64];
	const char *tv[NCOUNTERS], *av[NCOUNTERS];
	struct pgw_db_view all;
	struct pgw_rs rs;

	pgw_pool_db_sum(&all);
	counters(&all.total, total, tv);
	counters(&all.avg, avg, av);
	pgw_rs_begin_typed(&rs, out, cols, "sN", 2);
	for (int half = 0; half < 2; half++) {
		for (int i = 0; i < NCOUNTERS; i++) {
			const char *row[2] = {name, half ? av[i] : tv[i]};

			snprintf(name, sizeof(name), "%s_%s", half ? "avg" : "total", names[i]);
			pgw_rs_row(&rs, row);
		}
	}
	pgw_rs_end(&rs, "SHOW");
}
