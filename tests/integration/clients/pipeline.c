/*
 * libpq pipeline mode against pgward: sends every statement given on the command line with
 * PQsendQueryParams (extended protocol), a PQpipelineSync wherever an argument is "SYNC",
 * then reads every result and prints one line per result in order:
 *   <n> <status> [<sqlstate> <message>]     n: 1-based index of the statement
 *   SYNC                                     the PGRES_PIPELINE_SYNC of a segment
 * Exit status 0 if the conversation ended as libpq expects, 1 otherwise.
 * Usage: pipeline CONNINFO SQL|SYNC ...
 */
#include <stdio.h>
#include <string.h>
#include <libpq-fe.h>

static int fail(PGconn *conn, const char *what)
{
	fprintf(stderr, "%s: %s", what, PQerrorMessage(conn));
	PQfinish(conn);
	return 1;
}

int main(int argc, char **argv)
{
	PGconn *conn;
	int stmt = 0, syncs = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: %s CONNINFO SQL|SYNC ...\n", argv[0]);
		return 2;
	}
	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
		return fail(conn, "connect");
	if (!PQenterPipelineMode(conn))
		return fail(conn, "pipeline mode");
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "SYNC") == 0) {
			if (!PQpipelineSync(conn))
				return fail(conn, "sync");
			syncs++;
		} else if (!PQsendQueryParams(conn, argv[i], 0, NULL, NULL, NULL, NULL, 0)) {
			return fail(conn, "send");
		}
	}
	/* Results: one per statement, each followed by a NULL; a SYNC result ends a segment. */
	for (int i = 2; i < argc; i++) {
		PGresult *res;

		if (strcmp(argv[i], "SYNC") == 0) {
			res = PQgetResult(conn);
			if (res == NULL || PQresultStatus(res) != PGRES_PIPELINE_SYNC)
				return fail(conn, "expected PGRES_PIPELINE_SYNC");
			printf("SYNC\n");
			PQclear(res);
			continue;
		}
		stmt++;
		res = PQgetResult(conn);
		if (res == NULL)
			return fail(conn, "missing result");
		printf("%d %s", stmt, PQresStatus(PQresultStatus(res)));
		if (PQresultStatus(res) == PGRES_FATAL_ERROR)
			printf(" %s %s", PQresultErrorField(res, PG_DIAG_SQLSTATE),
			       PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
		else if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
			printf(" %s", PQgetvalue(res, 0, 0));
		printf("\n");
		PQclear(res);
		res = PQgetResult(conn);
		if (res != NULL)
			return fail(conn, "more than one result for a statement");
	}
	if (!PQexitPipelineMode(conn))
		return fail(conn, "exit pipeline mode");
	PQfinish(conn);
	return syncs > 0 ? 0 : 1;
}
