/*
 * The canonical view of a StartupMessage: who logs in to which database, and every setting
 * the server will apply, read exactly as PostgreSQL reads them (ProcessStartupPacket,
 * pg_split_opts, the -c/-- switches of process_postgres_switches). Every later decision
 * reads this view, and the server gets a packet rebuilt from it, never the client's bytes:
 * options are split here and each setting becomes a parameter of its own, so the server has
 * nothing left to split or read differently.
 */
#ifndef PGWARD_STARTUP_VIEW_H
#define PGWARD_STARTUP_VIEW_H

#include "pgward/common.h"

struct evbuffer;
struct pgw_startup;

#define PGW_NAME_MAX 63 /* PostgreSQL's NAMEDATALEN - 1: longer names are cut to this */

enum pgw_replication {
	PGW_REPL_NONE = 0,
	PGW_REPL_PHYSICAL, /* replication=true: a walsender, no database, no SQL */
	PGW_REPL_LOGICAL,  /* replication=database */
};

/* A setting the server applies at startup: from a packet key or from -c / -- in options. */
struct pgw_startup_setting {
	const char *name; /* as the server looks it up: case kept, '-' made '_' for options */
	const char *value;
	bool from_options;
};

/* A packet key the server reserves for protocol options (_pq_.*): passed on as given. */
struct pgw_startup_proto_opt {
	const char *name;
	const char *value;
};

struct pgw_startup_view {
	uint32_t version;
	char user[PGW_NAME_MAX + 1];	 /* cut to 63 bytes, as the server cuts it */
	char database[PGW_NAME_MAX + 1]; /* defaults to user; "" for physical replication */
	enum pgw_replication replication;
	size_t nsettings;
	struct pgw_startup_setting *settings; /* owned array; strings in buf or the packet */
	size_t nproto;
	struct pgw_startup_proto_opt *proto; /* owned array */
	char *buf;			     /* owned: options split into tokens */
};

/* Why a StartupMessage was refused: what the client's FATAL says. */
struct pgw_startup_error {
	const char *sqlstate;
	char message[256];
};

/*
 * Builds the view of parsed packet <st> (which must outlive it: strings point into it).
 * Refuses, with <err> filled, what the server would refuse (no user, a replication value
 * it cannot read, options switches it rejects) and what pgward cannot read unambiguously:
 * a key given twice, a setting given twice by any route or spelling, options switches
 * other than -c and --. Free with pgw_startup_view_free, also after a failure.
 */
int pgw_startup_view_build(const struct pgw_startup *st, struct pgw_startup_view *v,
			   struct pgw_startup_error *err) PGW_MUSTCHECK;

/* The index of setting <name> (compared as the server compares: ASCII case ignored, an
 * old name such as sort_mem the same as its current one), or -1. */
int pgw_startup_view_find(const struct pgw_startup_view *v, const char *name);
/* Removes setting <i>: the server will not see it. */
void pgw_startup_view_remove(struct pgw_startup_view *v, size_t i);

/* Appends the StartupMessage rebuilt from <v>: user, database, replication, the protocol
 * options, then every setting as a parameter of its own. Never longer than the packet the
 * view was built from. */
void pgw_startup_view_write(const struct pgw_startup_view *v, struct evbuffer *out);

void pgw_startup_view_free(struct pgw_startup_view *v);

#endif
