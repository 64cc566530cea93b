/*
 * A server's life apart from any client: created before its connect, closed when it fails
 * or its client leaves, freed by whoever holds it last.
 */
#include "pgward/server.h"

#include <stdlib.h>

struct pgw_server *pgw_server_new(uint64_t id)
{
	struct pgw_server *srv = calloc(1, sizeof(*srv));

	if (srv == NULL)
		return NULL;
	srv->id = id;
	srv->tx_status = 'I';
	srv->conn.fd = -1; /* no socket until the connect starts */
	srv->conn.closed = true;
	return srv;
}

void pgw_server_close(struct pgw_server *srv)
{
	pgw_server_link_stop(&srv->link);
	pgw_conn_close(&srv->conn);
}

void pgw_server_free(struct pgw_server *srv)
{
	if (srv == NULL)
		return;
	pgw_server_link_stop(&srv->link);
	pgw_conn_release(&srv->conn);
	pgw_tracker_free(&srv->tracker);
	free(srv);
}

bool pgw_server_busy(const struct pgw_server *srv)
{
	return pgw_tracker_pending(&srv->tracker) > 0;
}
